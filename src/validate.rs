//! The rules of pushed metrics, checked before a push is stored (the
//! gateway's [`Validate`](crate::gateway::validate::Validate) stage refuses
//! a push that breaks one with HTTP 400).
//!
//! A push is refused, whole, when
//!
//! * any metric has a timestamp (`pushed metrics must not have timestamp`,
//!   InfluxDB telemetry's `ErrMetricsTimestampPresent`, as the Pushgateway);
//! * a family name is not a metric name, `[a-zA-Z_:][a-zA-Z0-9_:]*`;
//! * a label name is not `[a-zA-Z_][a-zA-Z0-9_]*`, or starts with `__`, or
//!   is `le` on a histogram or `quantile` on a summary (those are the
//!   bucket and quantile labels of the exposition);
//! * a label name appears twice in one metric;
//! * a metric lacks the value its family's type calls for (a counter
//!   family's metrics must carry a counter, a histogram family's a
//!   histogram, and so on), as Prometheus' registry checks what it gathers;
//! * the same family name appears twice, or the same series (family name
//!   and label set) twice in one family. Label names that are in the
//!   grouping key are left out of the comparison, since the
//!   gateway's [`Transform`](crate::gateway::transform::Transform) stage overwrites them with
//!   the same value on every metric.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::hash::{BuildHasher, BuildHasherDefault};

use crate::codec::id_hasher::IdHasher;
use crate::model::name::{is_label_name, is_metric_name};
use crate::model::{LabelPair, Metric, MetricFamily, MetricType};

/// A rule of pushed metrics that a push breaks.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidPush {
    /// A metric has a timestamp.
    #[error("pushed metrics must not have timestamp")]
    Timestamp,
    /// A family name is not a metric name.
    #[error("invalid metric name {name:?}")]
    MetricName {
        /// The family name.
        name: String,
    },
    /// A label name is not a label name, or is reserved.
    #[error("invalid label name {label:?} in metric {metric}")]
    LabelName {
        /// The metric, as `name{labels}`.
        metric: String,
        /// The label name.
        label: String,
    },
    /// A label name appears twice in one metric.
    #[error("label {label:?} repeated in metric {metric}")]
    RepeatedLabel {
        /// The metric, as `name{labels}`.
        metric: String,
        /// The label name.
        label: String,
    },
    /// A metric lacks the value its family's type calls for.
    #[error("metric {metric} has no {kind} value, as its family's type requires")]
    WrongValue {
        /// The metric, as `name{labels}`.
        metric: String,
        /// The value the family's type calls for: `counter`, `gauge`,
        /// `summary`, `untyped` or `histogram`.
        kind: &'static str,
    },
    /// Two families have the same name.
    #[error("metric family {name:?} pushed twice")]
    DuplicateFamily {
        /// The family name.
        name: String,
    },
    /// Two metrics of a family have the same labels.
    #[error("series {series} pushed twice")]
    DuplicateSeries {
        /// The series, as `name{labels}`.
        series: String,
    },
}

/// Checks `families`, pushed with `grouping`, against the rules of the
/// module documentation.
pub fn validate(families: &[MetricFamily], grouping: &[LabelPair]) -> Result<(), InvalidPush> {
    check(families, grouping, &SeriesHasher::default())
}

/// What hashes label pairs (and family names) in [`check`]: foldhash,
/// randomly seeded per gateway so that no pusher can aim at collisions
/// (SipHash, std's, was over half of a validation's instructions).
pub(crate) type SeriesHasher = foldhash::quality::RandomState;

pub(crate) fn check(
    families: &[MetricFamily],
    grouping: &[LabelPair],
    hasher: &SeriesHasher,
) -> Result<(), InvalidPush> {
    // Timestamps first: the message InfluxDB telemetry and the Pushgateway give.
    if families
        .iter()
        .flat_map(|mf| &mf.metric)
        .any(|m| m.timestamp_ms.is_some())
    {
        return Err(InvalidPush::Timestamp);
    }
    let mut names = HashSet::with_capacity_and_hasher(families.len(), hasher.clone());
    // Reused across families: series hash -> index of its first metric.
    let mut series: HashMap<u64, usize, _> =
        HashMap::with_hasher(BuildHasherDefault::<IdHasher>::default());
    let mut sorted: Vec<&str> = Vec::new();
    for mf in families {
        let name = mf.name();
        if !is_metric_name(name) {
            return Err(InvalidPush::MetricName { name: name.into() });
        }
        if !names.insert(name) {
            return Err(InvalidPush::DuplicateFamily { name: name.into() });
        }
        let reserved = match mf.metric_type() {
            MetricType::Histogram | MetricType::GaugeHistogram => Some("le"),
            MetricType::Summary => Some("quantile"),
            _ => None,
        };
        let kind = value_kind(mf.metric_type());
        series.clear();
        for (i, m) in mf.metric.iter().enumerate() {
            // The sum of the labels' hashes does not depend on their order.
            let mut hash = 0u64;
            for l in &m.label {
                let label = l.name();
                if !is_label_name(label) || label.starts_with("__") || Some(label) == reserved {
                    return Err(InvalidPush::LabelName {
                        metric: describe(name, m),
                        label: label.into(),
                    });
                }
                if !grouping.iter().any(|g| g.name() == label) {
                    hash = hash.wrapping_add(hasher.hash_one((label, l.value())));
                }
            }
            if let Some(label) = repeated_name(&m.label, &mut sorted) {
                return Err(InvalidPush::RepeatedLabel {
                    metric: describe(name, m),
                    label: label.into(),
                });
            }
            if !has_value(m, kind) {
                return Err(InvalidPush::WrongValue {
                    metric: describe(name, m),
                    kind,
                });
            }
            if let Some(&first) = series.get(&hash) {
                if same_series(&mf.metric[first], m, grouping) {
                    return Err(InvalidPush::DuplicateSeries {
                        series: describe(name, m),
                    });
                }
                // A hash collision of different series: compare against
                // every earlier metric, which is rare enough to be slow.
                if mf.metric[..i]
                    .iter()
                    .any(|earlier| same_series(earlier, m, grouping))
                {
                    return Err(InvalidPush::DuplicateSeries {
                        series: describe(name, m),
                    });
                }
            } else {
                series.insert(hash, i);
            }
        }
    }
    Ok(())
}

/// The name of the value a family of type `t` carries in each metric.
fn value_kind(t: MetricType) -> &'static str {
    match t {
        MetricType::Counter => "counter",
        MetricType::Gauge => "gauge",
        MetricType::Summary => "summary",
        MetricType::Untyped => "untyped",
        MetricType::Histogram | MetricType::GaugeHistogram => "histogram",
    }
}

fn has_value(m: &Metric, kind: &str) -> bool {
    match kind {
        "counter" => m.counter.is_some(),
        "gauge" => m.gauge.is_some(),
        "summary" => m.summary.is_some(),
        "untyped" => m.untyped.is_some(),
        _ => m.histogram.is_some(),
    }
}

/// A label name that appears twice in `labels`, if any: pairwise for a
/// few labels, by sorting (in `scratch`) for many.
fn repeated_name<'a>(labels: &'a [LabelPair], scratch: &mut Vec<&'a str>) -> Option<&'a str> {
    if labels.len() <= 8 {
        return labels.iter().enumerate().find_map(|(j, l)| {
            labels[..j]
                .iter()
                .any(|earlier| earlier.name() == l.name())
                .then(|| l.name())
        });
    }
    scratch.clear();
    scratch.extend(labels.iter().map(LabelPair::name));
    scratch.sort_unstable();
    scratch.windows(2).find(|w| w[0] == w[1]).map(|w| w[0])
}

/// Whether two metrics (each with distinct label names) have the same
/// labels, leaving out those in the grouping key.
fn same_series(a: &Metric, b: &Metric, grouping: &[LabelPair]) -> bool {
    let kept = |l: &&LabelPair| !grouping.iter().any(|g| g.name() == l.name());
    a.label.iter().filter(kept).count() == b.label.iter().filter(kept).count()
        && a.label.iter().filter(kept).all(|la| {
            b.label
                .iter()
                .any(|lb| lb.name() == la.name() && lb.value() == la.value())
        })
}

/// `name{a="1",b="2"}`, for messages.
fn describe(name: &str, m: &Metric) -> String {
    let mut s = String::with_capacity(name.len() + 2);
    s.push_str(name);
    if m.label.is_empty() {
        return s;
    }
    s.push('{');
    for (i, l) in m.label.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{}={:?}", l.name(), l.value());
    }
    s.push('}');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{codec, Format};
    use bytes::Bytes;

    fn text(body: &str) -> Vec<MetricFamily> {
        codec::decode(
            Format::Text,
            Bytes::from(body.to_owned()),
            &Default::default(),
        )
        .unwrap()
    }

    fn err(families: &[MetricFamily]) -> String {
        validate(families, &[]).unwrap_err().to_string()
    }

    fn family(name: &str, metrics: Vec<Metric>) -> MetricFamily {
        let mut mf = MetricFamily {
            name: Some(name.into()),
            metric: metrics,
            ..Default::default()
        };
        mf.set_metric_type(MetricType::Untyped);
        mf
    }

    fn metric(labels: &[(&str, &str)]) -> Metric {
        Metric {
            label: labels.iter().map(|(n, v)| LabelPair::new(*n, *v)).collect(),
            untyped: Some(crate::model::Untyped { value: Some(1.0) }),
            ..Default::default()
        }
    }

    #[test]
    fn accepts_a_plain_push() {
        let families = text(
            "# TYPE a counter\na{x=\"1\"} 1\na{x=\"2\"} 2\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 1\n",
        );
        assert_eq!(validate(&families, &[]), Ok(()));
    }

    #[test]
    fn timestamps_are_refused_with_the_pushgateways_message() {
        assert_eq!(
            err(&text("a 1 1000\n")),
            "pushed metrics must not have timestamp"
        );
    }

    #[test]
    fn bad_metric_names() {
        for name in ["", "1a", "a-b", "a.b", "é"] {
            assert_eq!(
                validate(&[family(name, vec![metric(&[])])], &[]),
                Err(InvalidPush::MetricName { name: name.into() }),
                "{name}"
            );
        }
        assert_eq!(
            validate(&[family("a:b_c9", vec![metric(&[])])], &[]),
            Ok(())
        );
    }

    #[test]
    fn bad_label_names() {
        for label in ["", "1a", "a:b", "__reserved"] {
            let f = family("m", vec![metric(&[("ok", "1"), (label, "v")])]);
            assert_eq!(
                validate(&[f], &[]),
                Err(InvalidPush::LabelName {
                    metric: format!("m{{ok=\"1\",{label}=\"v\"}}"),
                    label: label.into()
                }),
                "{label}"
            );
        }
        let mut h = family("h", vec![metric(&[("le", "1")])]);
        h.set_metric_type(MetricType::Histogram);
        assert_eq!(err(&[h]), "invalid label name \"le\" in metric h{le=\"1\"}");
        let mut s = family("s", vec![metric(&[("quantile", "1")])]);
        s.set_metric_type(MetricType::Summary);
        assert!(validate(&[s], &[]).is_err());
    }

    #[test]
    fn repeated_label_among_many() {
        let mut labels: Vec<(String, String)> =
            (0..20).map(|i| (format!("l{i}"), "v".into())).collect();
        labels.push(("l7".into(), "w".into()));
        let refs: Vec<(&str, &str)> = labels
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let e = validate(&[family("m", vec![metric(&refs)])], &[]).unwrap_err();
        assert!(matches!(e, InvalidPush::RepeatedLabel { label, .. } if label == "l7"));
        let distinct = &refs[..refs.len() - 1];
        assert_eq!(
            validate(&[family("m", vec![metric(distinct)])], &[]),
            Ok(())
        );
    }

    #[test]
    fn repeated_label() {
        let f = family("m", vec![metric(&[("a", "1"), ("b", "2"), ("a", "3")])]);
        assert_eq!(
            err(&[f]),
            "label \"a\" repeated in metric m{a=\"1\",b=\"2\",a=\"3\"}"
        );
    }

    #[test]
    fn duplicate_series_in_any_label_order() {
        let f = family(
            "m",
            vec![
                metric(&[("a", "1"), ("b", "2")]),
                metric(&[("b", "2"), ("a", "1")]),
            ],
        );
        assert_eq!(err(&[f]), "series m{b=\"2\",a=\"1\"} pushed twice");
        let f = family("m", vec![metric(&[]), metric(&[])]);
        assert_eq!(err(&[f]), "series m pushed twice");
        let f = family("m", vec![metric(&[("a", "1")]), metric(&[("a", "2")])]);
        assert_eq!(validate(&[f], &[]), Ok(()));
    }

    #[test]
    fn series_that_differ_only_in_grouping_labels_are_duplicates() {
        let f = family("m", vec![metric(&[("job", "x")]), metric(&[("job", "y")])]);
        assert_eq!(validate(std::slice::from_ref(&f), &[]), Ok(()));
        let grouping = [LabelPair::new("job", "batch")];
        assert_eq!(
            validate(&[f], &grouping).unwrap_err().to_string(),
            "series m{job=\"y\"} pushed twice"
        );
    }

    #[test]
    fn duplicate_family() {
        let families = [
            family("m", vec![metric(&[("a", "1")])]),
            family("m", vec![metric(&[("a", "2")])]),
        ];
        assert_eq!(err(&families), "metric family \"m\" pushed twice");
    }

    #[test]
    fn many_distinct_series_pass() {
        let metrics: Vec<_> = (0..2000)
            .map(|i| metric(&[("i", &i.to_string())]))
            .collect();
        assert_eq!(validate(&[family("m", metrics)], &[]), Ok(()));
    }

    #[test]
    fn a_metric_without_its_familys_value_is_refused() {
        let mut mf = family("c", vec![metric(&[("a", "1")])]);
        mf.set_metric_type(MetricType::Counter);
        assert_eq!(
            err(&[mf.clone()]),
            "metric c{a=\"1\"} has no counter value, as its family's type requires"
        );
        mf.set_metric_type(MetricType::GaugeHistogram);
        assert_eq!(
            validate(&[mf], &[]),
            Err(InvalidPush::WrongValue {
                metric: "c{a=\"1\"}".into(),
                kind: "histogram"
            })
        );
    }
}
