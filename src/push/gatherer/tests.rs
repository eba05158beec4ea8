//! Gatherer tests: the `prometheus::Registry` conversion (every metric kind,
//! checked field by field and against the crate's own text output), filters
//! over it, closures, `gather_fn`, `Arc`, errors, and `prometheus-client`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use prometheus::core::{Collector, Desc};
use prometheus::proto;

use super::rust_prometheus::generated_model;
use super::*;
use crate::codec;
use crate::matcher::{Filter, Matcher};
use crate::model::{
    Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricType, Quantile, Summary, Untyped,
};

// ---- Building a registry ------------------------------------------------

/// A collector that returns one fixed family: how a summary, an untyped
/// family and timestamps get into a registry (the crate's own metric types
/// make none of them).
struct Fixed {
    desc: Desc,
    family: proto::MetricFamily,
}

impl Collector for Fixed {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.desc]
    }

    fn collect(&self) -> Vec<proto::MetricFamily> {
        vec![self.family.clone()]
    }
}

fn fixed(family: proto::MetricFamily) -> Box<Fixed> {
    let desc = Desc::new(
        family.name().to_string(),
        "fixed".to_string(),
        vec![],
        HashMap::new(),
    )
    .unwrap();
    Box::new(Fixed { desc, family })
}

// Built with the setters both `prometheus::proto` models have.

fn proto_label(name: &str, value: &str) -> proto::LabelPair {
    let mut l = proto::LabelPair::default();
    l.set_name(name.to_string());
    l.set_value(value.to_string());
    l
}

fn proto_family(
    name: &str,
    help: &str,
    kind: proto::MetricType,
    metric: proto::Metric,
) -> proto::MetricFamily {
    let mut mf = proto::MetricFamily::default();
    mf.set_name(name.to_string());
    mf.set_help(help.to_string());
    mf.set_field_type(kind);
    mf.set_metric(vec![metric]);
    mf
}

fn summary_family() -> proto::MetricFamily {
    let quantile = |q: f64, v: f64| {
        let mut out = proto::Quantile::default();
        out.set_quantile(q);
        out.set_value(v);
        out
    };
    let mut s = proto::Summary::default();
    s.set_sample_count(10);
    s.set_sample_sum(4.5);
    s.set_quantile(vec![
        quantile(0.5, 0.25),
        quantile(0.9, 0.75),
        quantile(0.99, 1.25),
    ]);
    let mut m = proto::Metric::default();
    m.set_label(vec![proto_label("service", "api")]);
    m.set_summary(s);
    m.set_timestamp_ms(1_700_000_000_123);
    proto_family(
        "rpc_duration_seconds",
        "RPC latency.",
        proto::MetricType::SUMMARY,
        m,
    )
}

/// Sets an untyped value where the model in use lets it be set: the plain
/// model has a (deprecated) setter that wins over this trait; the generated
/// model has only its public field, which can be named here only when
/// pushgate's `prometheus-protobuf` feature says that model is in use.
#[allow(dead_code)] // Unused where the plain model's setter wins.
trait SetUntyped {
    fn set_untyped(&mut self, u: proto::Untyped);
}

impl SetUntyped for proto::Metric {
    #[cfg(feature = "prometheus-protobuf")]
    fn set_untyped(&mut self, u: proto::Untyped) {
        self.untyped = Some(u).into();
    }

    // The generated model without the feature: the value cannot be set, nor
    // read, and the test expects an error.
    #[cfg(not(feature = "prometheus-protobuf"))]
    fn set_untyped(&mut self, _: proto::Untyped) {}
}

#[allow(deprecated)] // The plain model's untyped setters.
fn untyped_family() -> proto::MetricFamily {
    let mut u = proto::Untyped::default();
    u.set_value(42.0);
    let mut m = proto::Metric::default();
    m.set_untyped(u);
    m.set_timestamp_ms(1_700_000_000_000);
    // An empty help, which the conversion reads as none.
    proto_family("legacy_value", "", proto::MetricType::UNTYPED, m)
}

const OBSERVATIONS: [f64; 5] = [0.05, 0.3, 0.5, 0.7, 2.0];

/// A registry with every kind the crate makes, label values that need
/// escaping in text, and (from custom collectors) a summary with a
/// timestamp and, if `untyped`, an untyped family.
fn registry(untyped: bool) -> prometheus::Registry {
    let r = prometheus::Registry::new();

    let requests = prometheus::Counter::new("requests_total", "Requests.").unwrap();
    r.register(Box::new(requests.clone())).unwrap();
    requests.inc_by(2.5);

    let temperature = prometheus::Gauge::new("temperature_celsius", "Temperature.").unwrap();
    r.register(Box::new(temperature.clone())).unwrap();
    temperature.set(-3.25);

    let jobs = prometheus::IntCounter::new("jobs_total", "Jobs run.").unwrap();
    r.register(Box::new(jobs.clone())).unwrap();
    jobs.inc_by(7);

    let http = prometheus::CounterVec::new(
        prometheus::Opts::new("http_requests_total", "HTTP requests."),
        &["code", "method", "path"],
    )
    .unwrap();
    r.register(Box::new(http.clone())).unwrap();
    http.with_label_values(&["500", "POST", "C:\\dir\nnext"])
        .inc();
    http.with_label_values(&["200", "GET", "ünï✓"]).inc_by(2.0);
    http.with_label_values(&["200", "GET", "/a\"b"]).inc_by(3.0);

    let queue = prometheus::GaugeVec::new(
        prometheus::Opts::new("queue_depth", "Queued jobs."),
        &["queue", "region"],
    )
    .unwrap();
    r.register(Box::new(queue.clone())).unwrap();
    queue.with_label_values(&["b\\\"", "\n"]).set(-2.0);
    queue.with_label_values(&["a", "eu"]).set(1.5);

    let latency = prometheus::Histogram::with_opts(
        prometheus::HistogramOpts::new("latency_seconds", "Request latency.")
            .buckets(vec![0.1, 0.5, 1.0]),
    )
    .unwrap();
    r.register(Box::new(latency.clone())).unwrap();
    for v in OBSERVATIONS {
        latency.observe(v);
    }

    r.register(fixed(summary_family())).unwrap();
    if untyped {
        r.register(fixed(untyped_family())).unwrap();
    }
    r
}

// ---- What it must convert to ---------------------------------------------

fn family(name: &str, help: Option<&str>, kind: MetricType, metric: Vec<Metric>) -> MetricFamily {
    MetricFamily {
        name: Some(name.into()),
        help: help.map(Into::into),
        r#type: Some(kind as i32),
        metric,
        unit: None,
    }
}

fn labels(pairs: &[(&str, &str)]) -> Vec<LabelPair> {
    pairs.iter().map(|(n, v)| LabelPair::new(*n, *v)).collect()
}

fn counter(pairs: &[(&str, &str)], v: f64) -> Metric {
    Metric {
        label: labels(pairs),
        counter: Some(Counter {
            value: Some(v),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn gauge(pairs: &[(&str, &str)], v: f64) -> Metric {
    Metric {
        label: labels(pairs),
        gauge: Some(Gauge { value: Some(v) }),
        ..Default::default()
    }
}

fn bucket(upper_bound: f64, cumulative_count: u64) -> Bucket {
    Bucket {
        cumulative_count: Some(cumulative_count),
        upper_bound: Some(upper_bound),
        ..Default::default()
    }
}

/// The families of [`registry`], sorted by name as the registry sorts them,
/// each family's metrics sorted by label values.
fn expected(untyped: bool) -> Vec<MetricFamily> {
    let http = |code, method, path| [("code", code), ("method", method), ("path", path)];
    let mut families = vec![
        family(
            "http_requests_total",
            Some("HTTP requests."),
            MetricType::Counter,
            vec![
                counter(&http("200", "GET", "/a\"b"), 3.0),
                counter(&http("200", "GET", "ünï✓"), 2.0),
                counter(&http("500", "POST", "C:\\dir\nnext"), 1.0),
            ],
        ),
        family(
            "jobs_total",
            Some("Jobs run."),
            MetricType::Counter,
            vec![counter(&[], 7.0)],
        ),
        family(
            "latency_seconds",
            Some("Request latency."),
            MetricType::Histogram,
            vec![Metric {
                histogram: Some(Box::new(Histogram {
                    sample_count: Some(5),
                    // Summed in observation order, as the histogram sums.
                    sample_sum: Some(OBSERVATIONS.iter().fold(0.0, |a, b| a + b)),
                    // Upper bounds are inclusive: 0.5 counts in le="0.5".
                    bucket: vec![bucket(0.1, 1), bucket(0.5, 3), bucket(1.0, 4)],
                    ..Default::default()
                })),
                ..Default::default()
            }],
        ),
        family(
            "queue_depth",
            Some("Queued jobs."),
            MetricType::Gauge,
            vec![
                gauge(&[("queue", "a"), ("region", "eu")], 1.5),
                gauge(&[("queue", "b\\\""), ("region", "\n")], -2.0),
            ],
        ),
        family(
            "requests_total",
            Some("Requests."),
            MetricType::Counter,
            vec![counter(&[], 2.5)],
        ),
        family(
            "rpc_duration_seconds",
            Some("RPC latency."),
            MetricType::Summary,
            vec![Metric {
                label: labels(&[("service", "api")]),
                summary: Some(Box::new(Summary {
                    sample_count: Some(10),
                    sample_sum: Some(4.5),
                    quantile: [(0.5, 0.25), (0.9, 0.75), (0.99, 1.25)]
                        .into_iter()
                        .map(|(q, v)| Quantile {
                            quantile: Some(q),
                            value: Some(v),
                        })
                        .collect(),
                    created_timestamp: None,
                })),
                timestamp_ms: Some(1_700_000_000_123),
                ..Default::default()
            }],
        ),
        family(
            "temperature_celsius",
            Some("Temperature."),
            MetricType::Gauge,
            vec![gauge(&[], -3.25)],
        ),
    ];
    if untyped {
        let legacy = family(
            "legacy_value",
            None,
            MetricType::Untyped,
            vec![Metric {
                untyped: Some(Untyped { value: Some(42.0) }),
                timestamp_ms: Some(1_700_000_000_000),
                ..Default::default()
            }],
        );
        families.insert(3, legacy);
    }
    families
}

// ---- prometheus::Registry -------------------------------------------------

#[tokio::test]
async fn registry_converts_every_kind_exactly() {
    let got = Gatherer::gather(&registry(false)).await.unwrap();
    assert_eq!(got, expected(false));
}

#[tokio::test]
async fn untyped_families_convert_where_the_model_allows() {
    let result = Gatherer::gather(&registry(true)).await;
    if generated_model() && cfg!(not(feature = "prometheus-protobuf")) {
        // The generated model turned on by another crate: no getter.
        let err = result.unwrap_err().to_string();
        assert!(err.contains("family legacy_value is untyped"), "{err}");
        assert!(err.contains("`prometheus-protobuf` feature"), "{err}");
    } else {
        assert_eq!(result.unwrap(), expected(true));
    }
}

#[test]
fn model_in_use_matches_the_features() {
    // The protobuf feature forces the generated model; without it, the model
    // is whichever the build's other crates chose.
    if cfg!(feature = "prometheus-protobuf") {
        assert!(generated_model());
    }
}

/// The crate's `TextEncoder` output, decoded by pushgate's text decoder,
/// is the same families, except that the text has a `+Inf` bucket the
/// registry's histograms leave implicit. The conversion keeps them implicit
/// (as client_golang's protobuf does); the text format writes the bucket
/// from the sample count, and the decoder keeps it.
#[tokio::test]
async fn registry_conversion_agrees_with_its_text_encoder() {
    // No untyped family here: the crate's TextEncoder cannot write one.
    let r = registry(false);
    let mut text = Vec::new();
    prometheus::Encoder::encode(&prometheus::TextEncoder::new(), &r.gather(), &mut text).unwrap();
    let decoded = codec::text::decode(Bytes::from(text)).unwrap();

    let mut converted = Gatherer::gather(&r).await.unwrap();
    for mf in &mut converted {
        for m in &mut mf.metric {
            if let Some(h) = &mut m.histogram {
                let count = h.sample_count.unwrap();
                h.bucket.push(bucket(f64::INFINITY, count));
            }
        }
    }
    assert_eq!(decoded, converted);
}

#[tokio::test]
async fn registry_prefix_and_common_labels_are_carried_over() {
    let common = HashMap::from([("instance".to_string(), "i-1".to_string())]);
    let r = prometheus::Registry::new_custom(Some("app".into()), Some(common)).unwrap();
    let up = prometheus::IntGaugeVec::new(prometheus::Opts::new("up", "Up."), &["kind"]).unwrap();
    r.register(Box::new(up.clone())).unwrap();
    up.with_label_values(&["web"]).set(1);

    let got = Gatherer::gather(&r).await.unwrap();
    // The registry appends its common labels after the metric's own.
    let want = vec![family(
        "app_up",
        Some("Up."),
        MetricType::Gauge,
        vec![gauge(&[("kind", "web"), ("instance", "i-1")], 1.0)],
    )];
    assert_eq!(got, want);
}

#[tokio::test]
async fn empty_registry_gathers_nothing() {
    let r = prometheus::Registry::new();
    // A vec with no children yet has no metrics; the registry prunes it.
    let idle =
        prometheus::CounterVec::new(prometheus::Opts::new("idle_total", "Idle."), &["k"]).unwrap();
    r.register(Box::new(idle)).unwrap();
    assert_eq!(Gatherer::gather(&r).await.unwrap(), vec![]);
}

#[tokio::test]
async fn default_registry_is_a_gatherer_as_it_is() {
    let c = prometheus::IntCounter::new("pushgate_gatherer_test_total", "A test counter.").unwrap();
    prometheus::register(Box::new(c.clone())).unwrap();
    c.inc_by(4);

    // `&'static Registry` as `default_registry()` returns it, in a filter so
    // that other tests' use of the global registry cannot matter.
    let filter = Filter::new(
        prometheus::default_registry(),
        Matcher::new().family("pushgate_gatherer_test_total"),
    );
    let want = vec![family(
        "pushgate_gatherer_test_total",
        Some("A test counter."),
        MetricType::Counter,
        vec![counter(&[], 4.0)],
    )];
    assert_eq!(filter.gather().await.unwrap(), want);
}

// ---- Filter ---------------------------------------------------------------

#[tokio::test]
async fn filter_over_a_registry_keeps_the_chosen_families_sorted() {
    let matcher = Matcher::new()
        .family("temperature_celsius")
        .family_with(
            "http_requests_total",
            [
                ("path", "C:\\dir\nnext"),
                ("code", "500"),
                ("method", "POST"),
            ],
        )
        // Matches no metric (no such queue): the family is dropped.
        .family_with("queue_depth", [("queue", "nope"), ("region", "eu")])
        // A subset of a metric's labels is no match: Go's exact-set rule.
        .family_with("rpc_duration_seconds", [("service", "api"), ("extra", "x")])
        .family("jobs_total")
        .family("not_registered_total");
    let got = Filter::new(registry(false), matcher)
        .gather()
        .await
        .unwrap();

    let all = expected(false);
    let by_name = |name: &str| all.iter().find(|mf| mf.name() == name).unwrap().clone();
    let mut http = by_name("http_requests_total");
    http.metric.retain(|m| m.label[0].value() == "500");
    assert_eq!(http.metric.len(), 1);
    assert_eq!(
        got,
        vec![http, by_name("jobs_total"), by_name("temperature_celsius")]
    );
}

#[tokio::test]
async fn filter_sorts_what_an_unsorted_gatherer_returns() {
    let named = |name: &str| MetricFamily {
        name: Some(name.into()),
        metric: vec![counter(&[], 1.0)],
        ..Default::default()
    };
    let unsorted = move || Ok::<_, Infallible>(vec![named("c"), named("a"), named("b")]);
    let filter = Filter::new(unsorted, Matcher::new().family("c").family("a"));
    let got = filter.gather().await.unwrap();
    let names: Vec<_> = got.iter().map(|mf| mf.name()).collect();
    assert_eq!(names, ["a", "c"]);
}

// ---- Closures, gather_fn, Arc, errors ----------------------------------------

#[tokio::test]
async fn gather_errors_propagate() {
    let failing = || -> Result<Vec<MetricFamily>, std::io::Error> {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "disk gone",
        ))
    };
    let err = failing.gather().await.unwrap_err();
    assert_eq!(err.to_string(), "disk gone");
    // The source's own error is kept, not just its message.
    let inner = err.into_inner().downcast::<std::io::Error>().unwrap();
    assert_eq!(inner.kind(), std::io::ErrorKind::NotFound);

    // Through a filter, and an Arc of one, unchanged.
    let filter = Arc::new(Filter::new(failing, Matcher::new().family("x")));
    assert_eq!(filter.gather().await.unwrap_err().to_string(), "disk gone");

    let async_failing =
        gather_fn(|| async { Err::<Vec<MetricFamily>, _>("timed out".to_string()) });
    assert_eq!(
        async_failing.gather().await.unwrap_err().to_string(),
        "timed out"
    );
    let filtered = Filter::new(async_failing, Matcher::new().family("x"));
    assert_eq!(
        filtered.gather().await.unwrap_err().to_string(),
        "timed out"
    );
}

#[tokio::test]
async fn gather_fn_awaits_its_closure_on_every_gather() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let gatherer = gather_fn(move || {
        let calls = counted.clone();
        async move {
            tokio::task::yield_now().await;
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            Ok::<_, Infallible>(vec![family(
                "gathers_total",
                None,
                MetricType::Counter,
                vec![counter(&[], n as f64)],
            )])
        }
    });
    // Building the gatherer calls nothing.
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    let shared = Arc::new(Filter::new(
        gatherer,
        Matcher::new().family("gathers_total"),
    ));
    let value = |families: Vec<MetricFamily>| families[0].metric[0].counter.as_ref().unwrap().value;
    assert_eq!(value(shared.gather().await.unwrap()), Some(1.0));
    assert_eq!(value(shared.gather().await.unwrap()), Some(2.0));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn gatherers_run_on_a_spawned_task() {
    // The futures are Send: a pusher can drive them from any task.
    let gatherer = Arc::new(Filter::new(
        registry(false),
        Matcher::new().family("jobs_total"),
    ));
    let task = tokio::spawn({
        let gatherer = gatherer.clone();
        async move { gatherer.gather().await }
    });
    let got = task.await.unwrap().unwrap();
    assert_eq!(got, vec![expected(false)[1].clone()]);
}

// ---- prometheus-client ------------------------------------------------------

#[cfg(feature = "prometheus-client")]
mod client_rust {
    use std::sync::{Mutex, RwLock};

    use prometheus_client::metrics::counter::Counter as ClientCounter;
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::gauge::Gauge as ClientGauge;
    use prometheus_client::metrics::histogram::Histogram as ClientHistogram;
    use prometheus_client::registry::{Registry, Unit};

    use super::*;

    type Labels = Vec<(String, String)>;

    fn registry() -> Registry {
        let mut registry = Registry::default();

        let requests = Family::<Labels, ClientCounter>::default();
        registry.register("http_requests", "HTTP requests", requests.clone());
        let labels = |code: &str, path: &str| -> Labels {
            vec![("code".into(), code.into()), ("path".into(), path.into())]
        };
        requests
            .get_or_create(&labels("200", "/a\"b\\c\nd ü"))
            .inc_by(3);
        requests.get_or_create(&labels("500", "/")).inc();

        let queue: ClientGauge = ClientGauge::default();
        registry.register("queue_depth", "Queued jobs", queue.clone());
        queue.set(-4);

        let latency = ClientHistogram::new([0.1, 0.5, 1.0]);
        registry.register_with_unit("latency", "Request latency", Unit::Seconds, latency.clone());
        for v in OBSERVATIONS {
            latency.observe(v);
        }
        registry
    }

    /// What [`registry`] converts to: the client adds a period to each help
    /// text and the unit to the name, and names counters with `_total`
    /// (see the OpenMetrics decoder's docs).
    fn expected() -> Vec<MetricFamily> {
        let http = |code, path| [("code", code), ("path", path)];
        let mut latency = family(
            "latency_seconds",
            Some("Request latency."),
            MetricType::Histogram,
            vec![Metric {
                histogram: Some(Box::new(Histogram {
                    sample_count: Some(5),
                    sample_sum: Some(OBSERVATIONS.iter().fold(0.0, |a, b| a + b)),
                    bucket: vec![
                        bucket(0.1, 1),
                        bucket(0.5, 3),
                        bucket(1.0, 4),
                        // OpenMetrics requires the +Inf bucket; the client
                        // writes it.
                        bucket(f64::INFINITY, 5),
                    ],
                    ..Default::default()
                })),
                ..Default::default()
            }],
        );
        latency.unit = Some("seconds".into());
        vec![
            family(
                "http_requests_total",
                Some("HTTP requests."),
                MetricType::Counter,
                vec![
                    counter(&http("200", "/a\"b\\c\nd ü"), 3.0),
                    counter(&http("500", "/"), 1.0),
                ],
            ),
            family(
                "queue_depth",
                Some("Queued jobs."),
                MetricType::Gauge,
                vec![gauge(&[], -4.0)],
            ),
            latency,
        ]
    }

    /// A family's metrics come from a hash map, in no set order.
    fn sorted(mut families: Vec<MetricFamily>) -> Vec<MetricFamily> {
        for mf in &mut families {
            mf.metric.sort_by(|a, b| a.label.cmp(&b.label));
        }
        families
    }

    #[tokio::test]
    async fn registry_converts_exactly() {
        let got = registry().gather().await.unwrap();
        assert_eq!(sorted(got), expected());
    }

    #[tokio::test]
    async fn locked_registries_convert_the_same() {
        let mutex = Arc::new(Mutex::new(registry()));
        assert_eq!(sorted(mutex.gather().await.unwrap()), expected());
        let rwlock = RwLock::new(registry());
        assert_eq!(sorted(rwlock.gather().await.unwrap()), expected());
    }

    #[tokio::test]
    async fn filter_over_a_client_registry() {
        let matcher = Matcher::new()
            .family("queue_depth")
            .family_with("http_requests_total", [("code", "500"), ("path", "/")]);
        let got = Filter::new(registry(), matcher).gather().await.unwrap();
        let all = expected();
        let mut http = all[0].clone();
        http.metric.remove(0);
        assert_eq!(got, vec![http, all[1].clone()]);
    }

    #[tokio::test]
    async fn empty_client_registry_gathers_nothing() {
        assert_eq!(Registry::default().gather().await.unwrap(), vec![]);
    }
}
