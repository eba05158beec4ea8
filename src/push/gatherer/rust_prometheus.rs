//! [`Gatherer`] for the `prometheus` crate's `Registry` (tikv's
//! rust-prometheus).
//!
//! `prometheus::proto` is one of two models, depending on whether that
//! crate's `protobuf` feature is on: its plain model (private fields,
//! getters) or rust-protobuf generated messages (public `Option` fields).
//! Any crate in a build can turn the feature on, so this conversion compiles
//! against both. It uses the getters both share; where their names differ
//! (a counter's value is `get_value()` in one and `value()` in the other),
//! a private trait supplies the missing name by calling the present one
//! (see [`PlainValue`]). Values are read by the family's type, as the
//! crate's own `TextEncoder` reads them.
//!
//! The one thing the generated model offers no getter for at all is an
//! untyped metric's value (only the public field `untyped`). Pushgate's
//! `prometheus-protobuf` feature turns that model on and reads the field;
//! with the generated model on but that feature off, an untyped family is a
//! [`GatherError`] rather than values made up. No metric type of the crate
//! is untyped: only custom collectors make such families.

use std::future::Future;

use prometheus::proto;

use super::{GatherError, Gatherer};
use crate::model::{
    Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType, Quantile, Str,
    Summary, Untyped,
};

/// Gathers the registry (sync and cheap: the future is ready at once) and
/// converts every family field by field: name, help, type, each metric's
/// labels in their order, its value (counter, gauge, untyped, summary with
/// quantiles, or histogram with buckets) and its timestamp.
///
/// The families come sorted by name, as the registry returns them. An empty
/// help (the plain model cannot tell it from none) becomes `None`. Histograms
/// keep the buckets the registry reports, which do not include `+Inf`: like
/// client_golang's, its protobuf leaves that bucket implicit, and the text
/// format writes it from the sample count.
///
/// ```
/// use pushgate::push::Gatherer;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let registry = prometheus::Registry::new();
/// let jobs = prometheus::IntCounter::new("jobs_total", "Jobs run.").unwrap();
/// registry.register(Box::new(jobs.clone())).unwrap();
/// jobs.inc_by(3);
///
/// let families = Gatherer::gather(&registry).await.unwrap();
/// assert_eq!(families[0].name(), "jobs_total");
/// assert_eq!(families[0].metric[0].counter.as_ref().unwrap().value, Some(3.0));
///
/// // The default registry is a gatherer as it is.
/// let _ = Gatherer::gather(&prometheus::default_registry()).await.unwrap();
/// # }
/// ```
impl Gatherer for prometheus::Registry {
    fn gather(&self) -> impl Future<Output = Result<Vec<MetricFamily>, GatherError>> + Send {
        std::future::ready(convert(&prometheus::Registry::gather(self)))
    }
}

/// As for `Registry`; a `&'static Registry` is what
/// `prometheus::default_registry()` returns.
impl Gatherer for &prometheus::Registry {
    fn gather(&self) -> impl Future<Output = Result<Vec<MetricFamily>, GatherError>> + Send {
        std::future::ready(convert(&prometheus::Registry::gather(self)))
    }
}

/// Converts gathered `prometheus` families into pushgate's model.
pub(crate) fn convert(families: &[proto::MetricFamily]) -> Result<Vec<MetricFamily>, GatherError> {
    families.iter().map(family).collect()
}

fn family(mf: &proto::MetricFamily) -> Result<MetricFamily, GatherError> {
    let kind = mf.get_field_type();
    let metric = mf
        .get_metric()
        .iter()
        .map(|m| metric(m, kind, mf.name()))
        .collect::<Result<_, _>>()?;
    let help = mf.help();
    Ok(MetricFamily {
        name: Some(Str::from(mf.name())),
        help: (!help.is_empty()).then(|| Str::from(help)),
        r#type: Some(metric_type(kind) as i32),
        metric,
        unit: None,
    })
}

fn metric_type(kind: proto::MetricType) -> MetricType {
    // Both models have exactly these five variants.
    match kind {
        proto::MetricType::COUNTER => MetricType::Counter,
        proto::MetricType::GAUGE => MetricType::Gauge,
        proto::MetricType::SUMMARY => MetricType::Summary,
        proto::MetricType::UNTYPED => MetricType::Untyped,
        proto::MetricType::HISTOGRAM => MetricType::Histogram,
    }
}

fn metric(m: &proto::Metric, kind: proto::MetricType, family: &str) -> Result<Metric, GatherError> {
    let mut out = Metric {
        label: m
            .get_label()
            .iter()
            .map(|l| LabelPair::new(l.name(), l.value()))
            .collect(),
        timestamp_ms: m.has_timestamp_ms().then(|| m.timestamp_ms()),
        ..Default::default()
    };
    // The getters return `&T` in the plain model and `&MessageField<T>` in
    // the generated one; the annotations deref both to `&T`.
    match kind {
        proto::MetricType::COUNTER => {
            let c: &proto::Counter = m.get_counter();
            out.counter = Some(Counter {
                value: Some(c.get_value()),
                ..Default::default()
            });
        }
        proto::MetricType::GAUGE => {
            let g: &proto::Gauge = m.get_gauge();
            out.gauge = Some(Gauge {
                value: Some(g.get_value()),
            });
        }
        proto::MetricType::UNTYPED => {
            let value = untyped_value(m).ok_or_else(|| {
                GatherError::new(format!(
                    "family {family} is untyped, and the prometheus crate's protobuf model \
                     has no getter for untyped values; enable pushgate's \
                     `prometheus-protobuf` feature to read them"
                ))
            })?;
            out.untyped = Some(Untyped { value: Some(value) });
        }
        proto::MetricType::SUMMARY => {
            let s: &proto::Summary = m.get_summary();
            out.summary = Some(Box::new(Summary {
                sample_count: Some(s.sample_count()),
                sample_sum: Some(s.sample_sum()),
                quantile: s
                    .get_quantile()
                    .iter()
                    .map(|q| Quantile {
                        quantile: Some(q.quantile()),
                        value: Some(q.value()),
                    })
                    .collect(),
                created_timestamp: None,
            }));
        }
        proto::MetricType::HISTOGRAM => {
            let h: &proto::Histogram = m.get_histogram();
            out.histogram = Some(Box::new(Histogram {
                sample_count: Some(h.get_sample_count()),
                sample_sum: Some(h.get_sample_sum()),
                bucket: h
                    .get_bucket()
                    .iter()
                    .map(|b| Bucket {
                        cumulative_count: Some(b.cumulative_count()),
                        upper_bound: Some(b.upper_bound()),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }));
        }
    }
    Ok(out)
}

/// The value of an untyped metric, if the model in use lets it be read.
#[allow(deprecated)] // The plain model's untyped getters are deprecated, and its only ones.
#[allow(clippy::useless_conversion)] // Useless in the generated model only.
fn untyped_value(m: &proto::Metric) -> Option<f64> {
    // Plain model: the inherent `get_untyped()`, `&Untyped`. Generated model:
    // `UntypedField::get_untyped`, an `Option<&Untyped>`.
    let untyped: Option<&proto::Untyped> = m.get_untyped().into();
    untyped.map(|u| u.get_value())
}

// The traits below give each model the getter names it lacks. A method call
// takes an inherent method over a trait method of the same name, so where a
// model has the getter these impls are never called, and each impl calls the
// other name, which that model does have: no call reaches both impls, and
// none recurses. They are dead code in one model or the other.

/// `get_value()`, which the plain model has for counters, gauges and untyped
/// values, for the generated model, which calls it `value()`.
#[allow(dead_code)]
trait PlainValue {
    fn get_value(&self) -> f64;
}

/// `value()`, for the plain model, which calls it `get_value()`.
#[allow(dead_code)]
trait GeneratedValue {
    fn value(&self) -> f64;
}

macro_rules! value_getters {
    ($($t:ty),*) => {$(
        impl PlainValue for $t {
            fn get_value(&self) -> f64 {
                self.value()
            }
        }

        #[allow(deprecated)] // The plain model's `Untyped::get_value`.
        impl GeneratedValue for $t {
            fn value(&self) -> f64 {
                self.get_value()
            }
        }
    )*};
}

value_getters!(proto::Counter, proto::Gauge, proto::Untyped);

/// `has_timestamp_ms()`, which the generated model has, for the plain model,
/// where 0 is no timestamp (as its `TextEncoder` reads it).
#[allow(dead_code)]
trait TimestampPresence {
    fn has_timestamp_ms(&self) -> bool;
}

impl TimestampPresence for proto::Metric {
    fn has_timestamp_ms(&self) -> bool {
        self.timestamp_ms() != 0
    }
}

/// `get_untyped()`, which the plain model has, for the generated model.
#[allow(dead_code)]
trait UntypedField {
    fn get_untyped(&self) -> Option<&proto::Untyped>;
}

impl UntypedField for proto::Metric {
    /// With this feature on, the generated model is the one in use.
    #[cfg(feature = "prometheus-protobuf")]
    fn get_untyped(&self) -> Option<&proto::Untyped> {
        Some(&self.untyped)
    }

    /// The generated model, turned on by another crate: its field cannot be
    /// named here, since in the plain model it is private.
    #[cfg(not(feature = "prometheus-protobuf"))]
    fn get_untyped(&self) -> Option<&proto::Untyped> {
        None
    }
}

/// Whether `prometheus::proto` is the generated model: only it tells a zero
/// timestamp from none.
#[cfg(test)]
pub(super) fn generated_model() -> bool {
    let mut m = proto::Metric::default();
    m.set_timestamp_ms(0);
    m.has_timestamp_ms()
}
