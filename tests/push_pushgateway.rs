//! Interop of the pusher with the real Prometheus Pushgateway (Debian's
//! `prometheus-pushgateway`, started on a free loopback port without
//! persistence): families of a `prometheus::Registry` (counters, gauges,
//! histograms, vecs, and a summary from a custom collector) pushed with
//! `POST`, `PUT` and `DELETE` under a grouping key with a `/` and an empty
//! value, then scraped back as delimited protobuf and compared with what
//! the registry gathered, sample by sample, label by label, help by help.
//! Also `pushgate push` against it once.
//!
//! Outside CI a missing gateway skips the tests; with `CI=true` it fails.
//! `PUSHGATEWAY_BIN` names another binary.
//!
//! What the gateway changes, and so what is normalised before comparing:
//! - It exposes families of its own (`push_time_seconds`,
//!   `push_failure_time_seconds`, `go_*`, `process_*`, `pushgateway_*`):
//!   dropped.
//! - It adds the grouping labels to every metric, and `instance=""` when
//!   the key has no `instance`: checked to be exactly the key, then
//!   removed.
//! - It sorts labels by name and metrics by their labels: both sides are
//!   sorted so.
//!
//! Pushed as protobuf, everything else comes back as it was gathered:
//! values bitwise (NaN equals NaN, `-0` stays `-0`), help, type, and every
//! optional field; a histogram gets no `+Inf` bucket. Pushed as text, what
//! the text format writes comes back: a histogram's `+Inf` bucket (which
//! the registry's protobuf leaves implicit, as client_golang's does), and
//! `-0` as `0` (as Go's `expfmt` writes it).
//!
//! Where the Pushgateway differs from pushgate's gateway, the tests here
//! pin it down: a metric that carries a grouping label is taken (the
//! key's value wins; the pusher refuses it before sending, as Go's client
//! does), a push whose types clash with another group's is refused (400),
//! another help is taken but one of them is lost, and an OpenMetrics push
//! is read as Prometheus text (counters lose their type).

mod support {
    pub mod http;
    pub mod pushgateway;
}

use std::collections::{BTreeMap, HashMap};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use prometheus::core::{Collector, Desc};
use prometheus::proto;
use pushgate::codec::{self, Limits};
use pushgate::model::{Bucket, MetricFamily};
use pushgate::push::{Gatherer, PushError, Pusher};
use pushgate::Format;

use support::pushgateway::{self, Pushgateway};

/// The grouping key pushed to: a `/` (base64 in the URL), a space, and an
/// empty value.
const KEY: [(&str, &str); 4] = [
    ("job", "interop"),
    ("path", "/var/tmp"),
    ("instance", "db 1"),
    ("empty", ""),
];

/// Families of the gateway itself, never from a push.
fn is_gateway_family(name: &str) -> bool {
    name == "push_time_seconds"
        || name == "push_failure_time_seconds"
        || ["go_", "process_", "pushgateway_"]
            .iter()
            .any(|p| name.starts_with(p))
}

// ---- What is pushed -------------------------------------------------------

/// A collector that returns one fixed family: how a summary gets into a
/// registry (the crate has no summary type).
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

fn summary_collector() -> Box<Fixed> {
    let quantile = |q: f64, v: f64| {
        let mut out = proto::Quantile::default();
        out.set_quantile(q);
        out.set_value(v);
        out
    };
    let metric = |service: &str, count: u64, sum: f64, quantiles: Vec<proto::Quantile>| {
        let mut label = proto::LabelPair::default();
        label.set_name("service".to_string());
        label.set_value(service.to_string());
        let mut s = proto::Summary::default();
        s.set_sample_count(count);
        s.set_sample_sum(sum);
        s.set_quantile(quantiles);
        let mut m = proto::Metric::default();
        m.set_label(vec![label]);
        m.set_summary(s);
        m
    };
    let mut family = proto::MetricFamily::default();
    family.set_name("rpc_duration_seconds".to_string());
    family.set_help("RPC latency, by \\service\\.\nSecond line.".to_string());
    family.set_field_type(proto::MetricType::SUMMARY);
    family.set_metric(vec![
        metric(
            "api",
            10,
            4.5,
            vec![
                quantile(0.5, 0.25),
                quantile(0.9, 0.75),
                quantile(0.99, 1.25),
            ],
        ),
        metric("db/primary", 3, 0.1 + 0.2, vec![quantile(0.5, f64::NAN)]),
    ]);
    let desc = Desc::new(
        family.name().to_string(),
        family.help().to_string(),
        vec![],
        HashMap::new(),
    )
    .unwrap();
    Box::new(Fixed { desc, family })
}

/// A registry with every kind the crate makes, label values and help that
/// need escaping in text, edge values, and a summary.
fn registry() -> prometheus::Registry {
    let r = prometheus::Registry::new();

    let jobs = prometheus::IntCounterVec::new(
        prometheus::Opts::new("jobs_total", "Jobs run, by queue."),
        &["queue"],
    )
    .unwrap();
    r.register(Box::new(jobs.clone())).unwrap();
    jobs.with_label_values(&["a"]).inc_by(3);
    jobs.with_label_values(&["b \"quoted\" C:\\dir\nnext"])
        .inc_by(5);
    jobs.with_label_values(&["Προμηθεύς/ünï✓"]).inc_by(7);

    let bytes = prometheus::Counter::new("processed_bytes_total", "Bytes processed.").unwrap();
    r.register(Box::new(bytes.clone())).unwrap();
    bytes.inc_by(1234.5);

    let queue = prometheus::IntGauge::new("queue_length", "Jobs waiting.").unwrap();
    r.register(Box::new(queue.clone())).unwrap();
    queue.set(-3);

    let edges = prometheus::GaugeVec::new(
        prometheus::Opts::new("edge_values", "Values text must carry exactly."),
        &["kind"],
    )
    .unwrap();
    r.register(Box::new(edges.clone())).unwrap();
    for (kind, value) in [
        ("nan", f64::NAN),
        ("inf", f64::INFINITY),
        ("neg_inf", f64::NEG_INFINITY),
        ("neg_zero", -0.0),
        ("tiny", f64::MIN_POSITIVE),
        ("subnormal", 5e-324),
        ("huge", f64::MAX),
        ("sum", 0.1 + 0.2),
    ] {
        edges.with_label_values(&[kind]).set(value);
    }

    let latency = prometheus::Histogram::with_opts(
        prometheus::HistogramOpts::new("request_duration_seconds", "Request latency.")
            .buckets(vec![0.1, 0.5, 1.0, 2.5]),
    )
    .unwrap();
    r.register(Box::new(latency.clone())).unwrap();
    for v in [0.05, 0.3, 0.5, 0.7, 2.0, 7.5] {
        latency.observe(v);
    }

    let sizes = prometheus::HistogramVec::new(
        prometheus::HistogramOpts::new("response_size_bytes", "Response sizes.")
            .buckets(prometheus::exponential_buckets(100.0, 10.0, 3).unwrap()),
        &["method"],
    )
    .unwrap();
    r.register(Box::new(sizes.clone())).unwrap();
    for (method, v) in [("GET", 150.0), ("GET", 99.0), ("POST", 20_000.0)] {
        sizes.with_label_values(&[method]).observe(v);
    }

    r.register(summary_collector()).unwrap();
    r
}

/// A registry of one counter, for a second push to the same group.
fn second_registry() -> prometheus::Registry {
    let r = prometheus::Registry::new();
    let runs = prometheus::IntCounter::new("second_push_total", "Pushed second.").unwrap();
    r.register(Box::new(runs.clone())).unwrap();
    runs.inc_by(2);
    r
}

fn pusher<G: Gatherer>(gw: &Pushgateway, gatherer: G, format: Format) -> Pusher<G> {
    let mut builder = Pusher::builder(format!("http://{}", gw.addr), gatherer).format(format);
    for (name, value) in KEY {
        builder = match name {
            "job" => builder.job(value),
            _ => builder.grouping(name, value),
        };
    }
    builder.build().unwrap()
}

// ---- Comparing -------------------------------------------------------------

/// Families by name, each rendered for comparison: `Debug` prints every
/// `f64` in its shortest round-tripping form, so equal text means bitwise
/// equal values (`-0.0` and `0.0` differ), except that all NaNs print as
/// `NaN` (Go's NaN has another payload).
type Families = BTreeMap<String, String>;

fn sort_family(family: &mut MetricFamily) {
    for m in &mut family.metric {
        m.label.sort();
    }
    family.metric.sort_by_cached_key(|m| {
        m.label
            .iter()
            .map(|l| (l.name().to_owned(), l.value().to_owned()))
            .collect::<Vec<_>>()
    });
}

fn comparable(families: impl IntoIterator<Item = MetricFamily>) -> Families {
    let mut out = Families::new();
    for mut family in families {
        sort_family(&mut family);
        let name = family.name().to_owned();
        assert!(
            out.insert(name.clone(), format!("{family:#?}")).is_none(),
            "{name} twice"
        );
    }
    out
}

/// What `gatherer` gathers, in comparable form.
async fn gathered(gatherer: &impl Gatherer) -> Families {
    comparable(gatherer.gather().await.unwrap())
}

/// What `gatherer` gathers as the text format carries it: with the `+Inf`
/// bucket it writes (the registry's protobuf leaves it implicit, as
/// client_golang's does), and `-0` written as `0` (as Go's `expfmt` writes
/// it).
async fn gathered_as_text(gatherer: &impl Gatherer) -> Families {
    let mut families = gatherer.gather().await.unwrap();
    for m in families.iter_mut().flat_map(|f| f.metric.iter_mut()) {
        if let Some(h) = m.histogram.as_mut() {
            if h.bucket.last().and_then(|b| b.upper_bound) != Some(f64::INFINITY) {
                h.bucket.push(Bucket {
                    upper_bound: Some(f64::INFINITY),
                    cumulative_count: h.sample_count,
                    ..Default::default()
                });
            }
        }
        if let Some(g) = m.gauge.as_mut() {
            if g.value == Some(-0.0) {
                g.value = Some(0.0);
            }
        }
    }
    comparable(families)
}

/// The grouping labels every metric of the group must carry, as the
/// gateway exposes them: the key, and `instance=""` if it has none.
fn exposed_key(key: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut labels: Vec<(String, String)> = key
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    if !key.iter().any(|(n, _)| *n == "instance") {
        labels.push(("instance".into(), String::new()));
    }
    labels.sort();
    labels
}

/// The scraped families of the group `key` (the metrics whose `job` and
/// `path` are the key's), each metric's grouping labels checked to be
/// exactly the key and removed, in comparable form.
fn scraped(gw: &Pushgateway, key: &[(&str, &str)]) -> Families {
    let key = exposed_key(key);
    let value_of = |labels: &[(String, String)], name: &str| {
        labels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let mut families = Vec::new();
    for mut family in gw.scrape().unwrap() {
        if is_gateway_family(family.name()) {
            continue;
        }
        let name = family.name().to_owned();
        family.metric.retain_mut(|m| {
            let (grouping, labels): (Vec<_>, Vec<_>) = m
                .label
                .drain(..)
                .partition(|l| key.iter().any(|(n, _)| n == l.name()) || l.name() == "instance");
            m.label = labels;
            let mut grouping: Vec<(String, String)> = grouping
                .iter()
                .map(|l| (l.name().to_owned(), l.value().to_owned()))
                .collect();
            grouping.sort();
            let ours = ["job", "path"]
                .iter()
                .all(|n| value_of(&grouping, n) == value_of(&key, n));
            if ours {
                assert_eq!(grouping, key, "the grouping labels of a metric of {name}");
            }
            ours
        });
        if !family.metric.is_empty() {
            families.push(family);
        }
    }
    comparable(families)
}

/// Asserts the two sides are the same families, showing the first that
/// differs.
fn assert_same(ours: &Families, theirs: &Families, context: &str) {
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>(),
        "{context}: the families, ours then the Pushgateway's"
    );
    for (name, family) in ours {
        assert_eq!(
            family, &theirs[name],
            "{context}: family {name}, ours then the Pushgateway's"
        );
    }
}

/// Scrapes until the group has no families left, or 10 s passed: a
/// `DELETE` is answered when queued, and applied after.
fn scrape_until_gone(gw: &Pushgateway, key: &[(&str, &str)]) -> Families {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let families = scraped(gw, key);
        if families.is_empty() || Instant::now() > deadline {
            return families;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---- Tests -----------------------------------------------------------------

#[tokio::test]
async fn post_put_and_delete_round_trip_exactly() {
    let Some(bin) = pushgateway::binary_or_skip("post_put_and_delete_round_trip_exactly") else {
        return;
    };
    let gw = Pushgateway::start(&bin);
    let first = pusher(&gw, registry(), Format::Protobuf);
    assert_eq!(
        first.url().path(),
        "/metrics/job/interop/path@base64/L3Zhci90bXA/instance@base64/ZGIgMQ/empty@base64/="
    );

    // POST: every family arrives exactly (histograms without a `+Inf`
    // bucket added), under exactly the key.
    let pushed = first.push().await.unwrap();
    assert_eq!(pushed.status, Some(StatusCode::OK));
    assert_eq!(pushed.families, 7);
    let ours = gathered(first.gatherer()).await;
    assert_same(&ours, &scraped(&gw, &KEY), "after POST");

    // Another group beside it, to see that PUT and DELETE keep to theirs.
    let other_key = [("job", "interop"), ("path", "/var/other")];
    let other = Pusher::builder(format!("http://{}", gw.addr), second_registry())
        .job("interop")
        .grouping("path", "/var/other")
        .build()
        .unwrap();
    other.push().await.unwrap();
    let other_families = gathered(other.gatherer()).await;
    assert_same(&other_families, &scraped(&gw, &other_key), "other group");

    // POST of other families to the group: the first push's stay.
    let second = pusher(&gw, second_registry(), Format::Protobuf);
    second.push().await.unwrap();
    let mut both = ours.clone();
    both.extend(gathered(second.gatherer()).await);
    assert_eq!(both.len(), 8);
    assert_same(&both, &scraped(&gw, &KEY), "after a second POST");

    // PUT: the group is replaced, the first push's families are gone.
    let put = second.put().await.unwrap();
    assert_eq!(put.status, Some(StatusCode::OK));
    assert_same(
        &gathered(second.gatherer()).await,
        &scraped(&gw, &KEY),
        "after PUT",
    );
    assert_same(&other_families, &scraped(&gw, &other_key), "other group");

    // DELETE: the group is gone, the other group is not.
    let deleted = second.delete().await.unwrap();
    assert_eq!(deleted.status, StatusCode::ACCEPTED);
    let left = scrape_until_gone(&gw, &KEY);
    assert!(left.is_empty(), "left after DELETE: {:?}", left.keys());
    assert_same(&other_families, &scraped(&gw, &other_key), "other group");
    // The gateway's own record of the group went with it.
    let groups: Vec<String> = gw
        .scrape()
        .unwrap()
        .into_iter()
        .filter(|f| f.name() == "push_time_seconds")
        .flat_map(|f| f.metric)
        .filter_map(|m| {
            let path = m.label.iter().find(|l| l.name() == "path")?;
            Some(path.value().to_owned())
        })
        .collect();
    assert_eq!(groups, ["/var/other"]);
}

#[tokio::test]
async fn text_and_gzip_pushes_round_trip_exactly() {
    let Some(bin) = pushgateway::binary_or_skip("text_and_gzip_pushes_round_trip_exactly") else {
        return;
    };
    let gw = Pushgateway::start(&bin);
    let registry = registry();
    let keyed_url = pusher(&gw, registry.clone(), Format::Protobuf)
        .url()
        .to_string();
    for (format, gzip) in [
        (Format::Text, false),
        (Format::Text, true),
        (Format::Protobuf, true),
    ] {
        // The key in the URL rather than from job() and grouping(): the
        // pusher reads it from there, and checks metrics against it.
        let pusher = Pusher::builder(keyed_url.as_str(), registry.clone())
            .format(format)
            .gzip(gzip)
            .build()
            .unwrap();
        assert_eq!(pusher.grouping_key().len(), KEY.len());
        pusher.put().await.unwrap();
        let ours = if format == Format::Text {
            gathered_as_text(&registry).await
        } else {
            gathered(&registry).await
        };
        assert_same(&ours, &scraped(&gw, &KEY), &format!("{format} gzip={gzip}"));
    }
}

#[tokio::test]
async fn a_metric_with_a_grouping_label_is_refused_before_sending() {
    let Some(bin) = pushgateway::binary_or_skip("a_metric_with_a_grouping_label_is_refused") else {
        return;
    };
    let gw = Pushgateway::start(&bin);
    let registry = prometheus::Registry::new();
    let up = prometheus::GaugeVec::new(prometheus::Opts::new("up", "Up."), &["job"]).unwrap();
    registry.register(Box::new(up.clone())).unwrap();
    up.with_label_values(&["other"]).set(1.0);

    let pusher = pusher(&gw, registry.clone(), Format::Text);
    let error = pusher.push().await.unwrap_err();
    assert!(
        matches!(&error, PushError::LabelCollision { family, label } if family == "up" && label == "job"),
        "{error:?}"
    );
    assert!(scraped(&gw, &KEY).is_empty());

    // The same body sent anyway: the Pushgateway takes it, and the
    // grouping key's job silently replaces the metric's own.
    let body = b"# HELP up Up.\n# TYPE up gauge\nup{job=\"other\"} 1\n";
    let r = support::http::request(gw.addr, "PUT", pusher.url().path(), &[], body).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let mut expected = Gatherer::gather(&registry).await.unwrap();
    expected[0].metric[0].label.clear();
    assert_same(
        &comparable(expected),
        &scraped(&gw, &KEY),
        "job overwritten",
    );
}

#[test]
fn the_push_command_pushes_a_file_and_deletes_the_group() {
    let Some(bin) = pushgateway::binary_or_skip("the_push_command_pushes_a_file") else {
        return;
    };
    let gw = Pushgateway::start(&bin);
    let text = "\
# HELP backup_files Files backed up, by kind.
# TYPE backup_files gauge
backup_files{kind=\"db\"} 12
backup_files{kind=\"logs \\\"rotated\\\"\"} 340
# HELP backup_duration_seconds How long backups take.
# TYPE backup_duration_seconds histogram
backup_duration_seconds_bucket{le=\"60\"} 1
backup_duration_seconds_bucket{le=\"600\"} 3
backup_duration_seconds_bucket{le=\"+Inf\"} 4
backup_duration_seconds_sum 2001.5
backup_duration_seconds_count 4
";
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "push_pushgateway-{}-backup.txt",
        std::process::id()
    ));
    std::fs::write(&path, text).unwrap();
    let url = format!("http://{}", gw.addr);
    let key = [("job", "cron/backup"), ("path", "/var/tmp"), ("empty", "")];
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_pushgate"))
            .args(["push", "--url", &url, "--job", "cron/backup"])
            .args(["--label", "path=/var/tmp", "--label", "empty="])
            .args(extra)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        stderr
    };

    let stderr = run(&[path.to_str().unwrap()]);
    assert!(
        stderr.starts_with("pushed 2 families (")
            && stderr.ends_with(&format!(
                "{url}/metrics/job@base64/Y3Jvbi9iYWNrdXA/path@base64/L3Zhci90bXA/empty@base64/=: 200 OK\n"
            )),
        "{stderr}"
    );
    let ours = codec::decode(Format::Text, Bytes::from(text), &Limits::default()).unwrap();
    assert_same(&comparable(ours), &scraped(&gw, &key), "pushgate push");

    let stderr = run(&["--method", "delete"]);
    assert!(
        stderr.starts_with("deleted ") && stderr.ends_with(": 202 Accepted\n"),
        "{stderr}"
    );
    let left = scrape_until_gone(&gw, &key);
    assert!(left.is_empty(), "left after DELETE: {:?}", left.keys());
}

/// A registry of one family `k` of `kind` with `help`, value 1.
fn one_family(kind: &str, help: &str) -> prometheus::Registry {
    let r = prometheus::Registry::new();
    match kind {
        "gauge" => {
            let g = prometheus::Gauge::new("k", help).unwrap();
            g.set(1.0);
            r.register(Box::new(g)).unwrap();
        }
        _ => {
            let c = prometheus::Counter::new("k", help).unwrap();
            c.inc();
            r.register(Box::new(c)).unwrap();
        }
    }
    r
}

#[tokio::test]
async fn a_push_inconsistent_with_another_group_is_refused_by_the_pushgateway() {
    let Some(bin) = pushgateway::binary_or_skip("a_push_inconsistent_with_another_group") else {
        return;
    };
    let gw = Pushgateway::start(&bin);
    let url = format!("http://{}", gw.addr);
    let to = |group: &str, registry: prometheus::Registry| {
        Pusher::builder(url.as_str(), registry)
            .job("consistency")
            .grouping("path", group)
            .build()
            .unwrap()
    };
    let a = to("/a", one_family("gauge", "Help one."));
    a.push().await.unwrap();

    // Another help for the same name is taken, but one family has one
    // help: each scrape exposes both groups' metrics under one of the two
    // (whichever group Go's map iteration meets first), and logs that
    // "this is bad".
    let b = to("/b", one_family("gauge", "Help two."));
    b.push().await.unwrap();
    let exposed = scraped(&gw, &[("job", "consistency"), ("path", "/b")]);
    let help = ["Help one.", "Help two."]
        .into_iter()
        .find(|h| exposed["k"].contains(&format!("help: Some(\n        {h:?},")))
        .unwrap_or_else(|| panic!("neither help: {}", exposed["k"]));
    let mut as_exposed = Gatherer::gather(b.gatherer()).await.unwrap();
    as_exposed[0].help = Some(help.into());
    assert_same(&comparable(as_exposed), &exposed, "another help");
    assert!(
        gw.log_text().contains("inconsistent help strings"),
        "{}",
        gw.log_text()
    );

    // Another type is refused; a 400 is not retried. Which type the
    // gateway takes for the right one depends on the order it meets the
    // groups in, and its reason may take several lines: the error's
    // message is one line all the same.
    let c = to("/c", one_family("counter", "Help one."));
    let error = c.push().await.unwrap_err();
    let PushError::Status {
        status,
        body,
        attempts,
        ..
    } = &error
    else {
        panic!("{error:?}")
    };
    assert_eq!((*status, *attempts), (StatusCode::BAD_REQUEST, 1));
    assert!(
        body.starts_with("pushed metrics are invalid or inconsistent with existing metrics: ")
            && body.contains("collected metric \"k\"")
            && (body.contains("is not a GAUGE") || body.contains("is not a COUNTER")),
        "{body}"
    );
    assert_eq!(error.to_string().lines().count(), 1, "{error}");
    assert!(scraped(&gw, &[("job", "consistency"), ("path", "/c")]).is_empty());
}

#[tokio::test]
async fn the_pushgateway_reads_an_openmetrics_push_as_prometheus_text() {
    let Some(bin) = pushgateway::binary_or_skip("the_pushgateway_reads_openmetrics_as_text") else {
        return;
    };
    let gw = Pushgateway::start(&bin);
    let registry = prometheus::Registry::new();
    let jobs = prometheus::IntCounter::new("jobs_total", "Jobs run.").unwrap();
    jobs.inc_by(3);
    registry.register(Box::new(jobs)).unwrap();
    let queue = prometheus::IntGauge::new("queue_length", "Jobs waiting.").unwrap();
    queue.set(4);
    registry.register(Box::new(queue)).unwrap();

    // Pushgateway 1.5 parses any body but delimited protobuf as Prometheus
    // text. OpenMetrics names a counter's family without `_total`
    // (`# TYPE jobs counter`), so the Go parser finds no family for the
    // `jobs_total` sample: the counter arrives untyped and without help.
    // A gauge is written alike in both formats and arrives as it was.
    // Hence protobuf (or text) for the Pushgateway.
    let pusher = pusher(&gw, registry.clone(), Format::OpenMetrics);
    pusher.push().await.unwrap();
    let mut expected = Gatherer::gather(&registry).await.unwrap();
    let counter = &mut expected[0];
    assert_eq!(counter.name(), "jobs_total");
    counter.help = None;
    counter.set_metric_type(pushgate::model::MetricType::Untyped);
    let metric = &mut counter.metric[0];
    metric.untyped = Some(pushgate::model::Untyped {
        value: metric.counter.take().unwrap().value,
    });
    assert_same(
        &comparable(expected),
        &scraped(&gw, &KEY),
        "OpenMetrics to the Pushgateway",
    );
}
