//! pushgate's `RemoteWriteStore` against real remote write receivers:
//! Debian's Prometheus (`/usr/bin/prometheus`, with the remote write
//! receiver and native histograms on) and VictoriaMetrics
//! (`/usr/bin/victoria-metrics`), each started on a free loopback port with
//! a temporary data directory and killed on drop.
//!
//! A gateway in the test process forwards pushes of every metric type; the
//! receiver's HTTP API must then hold every series, label, value and
//! receive timestamp. The receiver is then stopped while a client keeps
//! pushing (pushes get `503` saying why), restarted on the same port and
//! data, and must hold every sample that was answered `202`.

mod support {
    pub mod http;
    pub mod process;
}

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use pushgate::gateway::PushGateway;
use pushgate::model::{self, LabelPair, Metric, MetricFamily, MetricType};
use pushgate::store::{Push, RemoteWriteStore, Store, StoreError};
use serde_json::Value;
use support::http;

/// How long a receiver may take to start, and any other bounded wait.
const WAIT: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Prometheus,
    Victoria,
}

impl Kind {
    fn binary(self) -> &'static str {
        match self {
            Kind::Prometheus => "/usr/bin/prometheus",
            Kind::Victoria => "/usr/bin/victoria-metrics",
        }
    }

    fn ready_path(self) -> &'static str {
        match self {
            Kind::Prometheus => "/-/ready",
            Kind::Victoria => "/health",
        }
    }
}

/// A receiver process on a fixed port and data directory, killed on drop.
struct Remote {
    kind: Kind,
    dir: tempfile::TempDir,
    addr: SocketAddr,
    child: Option<Child>,
    starts: usize,
}

impl Remote {
    /// Starts a receiver of `kind`, or `None` when it is not installed
    /// (outside CI; in CI that fails the test).
    fn start(test: &str, kind: Kind) -> Option<Remote> {
        let available = Path::new(kind.binary()).is_file();
        if !support::process::require(test, available, kind.binary()) {
            return None;
        }
        let mut failures = Vec::new();
        // The free port may be taken before the receiver binds it.
        for _ in 0..3 {
            let addr = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .unwrap();
            let mut remote = Remote {
                kind,
                dir: tempfile::tempdir().unwrap(),
                addr,
                child: None,
                starts: 0,
            };
            match remote.spawn() {
                Ok(()) => return Some(remote),
                Err(e) => failures.push(e),
            }
        }
        panic!("could not start {kind:?}:\n{}", failures.join("\n---\n"));
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join(format!("log{}", self.starts))
    }

    /// Starts the process on `addr` with the data in `dir` and waits until
    /// it is ready.
    fn spawn(&mut self) -> Result<(), String> {
        self.starts += 1;
        let data = self.dir.path().join("data");
        let mut command = Command::new(self.kind.binary());
        match self.kind {
            Kind::Prometheus => {
                let config = self.dir.path().join("prometheus.yml");
                // No scrape configs: only what is written remotely.
                std::fs::write(&config, "global:\n  scrape_interval: 1h\n").unwrap();
                command.args([
                    format!("--config.file={}", config.display()),
                    format!("--storage.tsdb.path={}", data.display()),
                    format!("--web.listen-address={}", self.addr),
                    "--web.enable-remote-write-receiver".into(),
                    "--enable-feature=native-histograms".into(),
                ]);
            }
            Kind::Victoria => {
                command.args([
                    format!("-storageDataPath={}", data.display()),
                    format!("-httpListenAddr={}", self.addr),
                    // Fresh samples visible at once, no cached answers.
                    "-search.latencyOffset=0s".into(),
                    "-search.disableCache".into(),
                ]);
            }
        }
        let log = std::fs::File::create(self.log()).unwrap();
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("spawning {}: {e}", self.kind.binary()))?;
        self.child = Some(child);
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(Some(status)) = self.child.as_mut().unwrap().try_wait() {
                self.child = None;
                return Err(format!("exited with {status}:\n{}", self.log_text()));
            }
            if matches!(self.get(self.kind.ready_path()), Ok(r) if r.status == 200) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("not ready in {WAIT:?}:\n{}", self.log_text()));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }

    /// Stops the process: Prometheus is killed outright (its WAL keeps what
    /// it acknowledged); VictoriaMetrics, which buffers accepted samples in
    /// memory for a second or so, is asked to stop and flush.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if self.kind == Kind::Victoria {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + WAIT;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    fn restart(&mut self) {
        self.stop();
        let started = self.spawn();
        started.unwrap_or_else(|e| panic!("restarting {:?} on {}: {e}", self.kind, self.addr));
    }

    fn write_url(&self) -> String {
        // Both take remote write 1.0 here.
        format!("http://{}/api/v1/write", self.addr)
    }

    fn get(&self, path: &str) -> std::io::Result<http::Response> {
        http::request(self.addr, "GET", path, &[], &[])
    }

    /// Every sample of the series `selector` selects, as (labels, ms,
    /// value), and the native histograms as (labels, ms, histogram JSON).
    fn samples(&self, selector: &str) -> (Vec<FloatSample>, Vec<HistogramSample>) {
        match self.kind {
            Kind::Prometheus => self.prometheus_samples(selector),
            Kind::Victoria => (self.victoria_samples(selector), Vec::new()),
        }
    }

    fn prometheus_samples(&self, selector: &str) -> (Vec<FloatSample>, Vec<HistogramSample>) {
        // A range vector as of a little after now returns raw samples with
        // their own timestamps.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 60;
        let query = format!("{selector}[1h]");
        let path = format!("/api/v1/query?query={}&time={now}", encode(&query));
        let data = self.api(&path);
        assert_eq!(data["resultType"], "matrix", "{data}");
        let mut floats = Vec::new();
        let mut histograms = Vec::new();
        for series in data["result"].as_array().unwrap() {
            let labels = labels(&series["metric"]);
            for v in series["values"].as_array().into_iter().flatten() {
                let value: f64 = parse_value(v[1].as_str().unwrap());
                floats.push((labels.clone(), millis(&v[0]), value));
            }
            for h in series["histograms"].as_array().into_iter().flatten() {
                histograms.push((labels.clone(), millis(&h[0]), h[1].clone()));
            }
        }
        floats.sort_by(|a, b| a.partial_cmp(b).unwrap());
        histograms.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        (floats, histograms)
    }

    fn victoria_samples(&self, selector: &str) -> Vec<FloatSample> {
        // Make what was just written searchable.
        let flushed = self.get("/internal/force_flush").unwrap();
        assert_eq!(flushed.status, 200, "{}", flushed.text());
        let path = format!("/api/v1/export?match[]={}", encode(selector));
        let r = self.get(&path).unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        let mut floats = Vec::new();
        for line in r.text().lines().filter(|l| !l.trim().is_empty()) {
            let series: Value = serde_json::from_str(line).unwrap();
            let labels = labels(&series["metric"]);
            let values = series["values"].as_array().unwrap();
            let times = series["timestamps"].as_array().unwrap();
            for (v, t) in values.iter().zip(times) {
                let value = v
                    .as_f64()
                    .unwrap_or_else(|| parse_value(v.as_str().unwrap()));
                floats.push((labels.clone(), t.as_i64().unwrap(), value));
            }
        }
        floats.sort_by(|a, b| a.partial_cmp(b).unwrap());
        floats
    }

    /// The float samples of `selector` once `done` holds of them, or
    /// the last seen after a bounded wait: VictoriaMetrics makes new
    /// series searchable a moment after it acknowledged them.
    fn floats_until(
        &self,
        selector: &str,
        done: impl Fn(&Vec<FloatSample>) -> bool,
    ) -> Vec<FloatSample> {
        let deadline = Instant::now() + WAIT;
        loop {
            let (floats, _) = self.samples(selector);
            if done(&floats) || Instant::now() > deadline {
                return floats;
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// A Prometheus API call's `data`.
    fn api(&self, path: &str) -> Value {
        let r = self.get(path).unwrap();
        let body: Value =
            serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{path}: {e}: {}", r.text()));
        assert_eq!(body["status"], "success", "{path}: {body}");
        body["data"].clone()
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if thread::panicking() {
            eprintln!("{:?} log:\n{}", self.kind, self.log_text());
        }
    }
}

type Labels = BTreeMap<String, String>;
/// A client's push: its number, the status and body of the answer.
type Outcome = (u64, u16, String);
type FloatSample = (Labels, i64, f64);
type HistogramSample = (Labels, i64, Value);

fn labels(metric: &Value) -> Labels {
    metric
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

fn millis(seconds: &Value) -> i64 {
    (seconds.as_f64().unwrap() * 1000.0).round() as i64
}

fn parse_value(text: &str) -> f64 {
    match text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        _ => text.parse().unwrap(),
    }
}

/// Percent-encodes a query parameter.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The receive timestamps the gateway stamped on each acknowledged push,
/// by the push's job, recorded on the way to the remote write store.
#[derive(Clone)]
struct Recording {
    inner: RemoteWriteStore,
    stamps: Arc<Mutex<Vec<(String, i64)>>>,
}

impl Store for Recording {
    async fn write(&self, push: Push) -> Result<(), StoreError> {
        let job = push
            .grouping
            .first()
            .map(|l| l.value().to_owned())
            .unwrap_or_default();
        let stamp = push
            .families
            .first()
            .and_then(|f| f.metric.first())
            .and_then(|m| m.timestamp_ms);
        let result = self.inner.write(push).await;
        if let (Ok(()), Some(stamp)) = (&result, stamp) {
            self.stamps.lock().unwrap().push((job, stamp));
        }
        result
    }
}

/// A pushgate gateway over a remote write store, on a runtime of its own.
struct Gateway {
    addr: SocketAddr,
    stamps: Arc<Mutex<Vec<(String, i64)>>>,
    _runtime: tokio::runtime::Runtime,
}

impl Gateway {
    fn start(remote: &Remote) -> Gateway {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let stamps = Arc::new(Mutex::new(Vec::new()));
        let addr = runtime.block_on(async {
            let store = RemoteWriteStore::builder(remote.write_url())
                // Short, so that an outage is answered quickly.
                .retry_for(Duration::from_millis(500))
                .timeout(Duration::from_secs(2))
                .build()
                .unwrap();
            let recording = Recording {
                inner: store,
                stamps: stamps.clone(),
            };
            let gateway = PushGateway::builder(recording).build().unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(pushgate::server::serve(
                listener,
                gateway,
                std::future::pending(),
            ));
            addr
        });
        Gateway {
            addr,
            stamps,
            _runtime: runtime,
        }
    }

    fn push(&self, path: &str, content_type: &str, body: &[u8]) -> http::Response {
        http::request(
            self.addr,
            "POST",
            path,
            &[("Content-Type", content_type)],
            body,
        )
        .unwrap()
    }

    fn push_text(&self, path: &str, body: &str) -> http::Response {
        self.push(path, "text/plain; version=0.0.4", body.as_bytes())
    }

    /// The stamp of the one acknowledged push of `job`.
    fn stamp(&self, job: &str) -> i64 {
        let stamps = self.stamps.lock().unwrap();
        let of_job: Vec<i64> = stamps
            .iter()
            .filter(|(j, _)| j == job)
            .map(|(_, s)| *s)
            .collect();
        assert_eq!(of_job.len(), 1, "{job}: {stamps:?}");
        of_job[0]
    }
}

const EVERY_TYPE: &str = "\
# TYPE rw_jobs_total counter
rw_jobs_total{queue=\"a\"} 3
# TYPE rw_temperature gauge
rw_temperature{Room=\"hall\",empty=\"\"} -1.5
rw_untyped 42
# TYPE rw_latency_seconds histogram
rw_latency_seconds_bucket{le=\"0.1\"} 1
rw_latency_seconds_bucket{le=\"1\"} 3
rw_latency_seconds_bucket{le=\"1e+06\"} 4
rw_latency_seconds_bucket{le=\"+Inf\"} 5
rw_latency_seconds_sum 2.5
rw_latency_seconds_count 5
# TYPE rw_size_bytes summary
rw_size_bytes{quantile=\"0.5\"} 100
rw_size_bytes{quantile=\"0.99\"} 1000
rw_size_bytes_sum 5000
rw_size_bytes_count 20
";

/// What `EVERY_TYPE`, pushed with job `types` and instance `i1`, must
/// become, every sample stamped `at`.
fn every_type_expected(at: i64) -> Vec<FloatSample> {
    let series = |name: &str, extra: &[(&str, &str)], value: f64| {
        let mut labels: Labels = [("__name__", name), ("job", "types"), ("instance", "i1")]
            .into_iter()
            .chain(extra.iter().copied())
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        labels.retain(|_, v| !v.is_empty());
        (labels, at, value)
    };
    let mut expected = vec![
        series("rw_jobs_total", &[("queue", "a")], 3.0),
        // The empty label is no label.
        series("rw_temperature", &[("Room", "hall")], -1.5),
        series("rw_untyped", &[], 42.0),
        series("rw_latency_seconds_bucket", &[("le", "0.1")], 1.0),
        series("rw_latency_seconds_bucket", &[("le", "1")], 3.0),
        series("rw_latency_seconds_bucket", &[("le", "1e+06")], 4.0),
        series("rw_latency_seconds_bucket", &[("le", "+Inf")], 5.0),
        series("rw_latency_seconds_sum", &[], 2.5),
        series("rw_latency_seconds_count", &[], 5.0),
        series("rw_size_bytes", &[("quantile", "0.5")], 100.0),
        series("rw_size_bytes", &[("quantile", "0.99")], 1000.0),
        series("rw_size_bytes_sum", &[], 5000.0),
        series("rw_size_bytes_count", &[], 20.0),
    ];
    expected.sort_by(|a, b| a.partial_cmp(b).unwrap());
    expected
}

/// A native histogram of schema 0 (bucket `i` is `(2^(i-1), 2^i]`):
/// 1 in the zero bucket, 2 in `(0.5, 1]`, 1 in `(1, 2]`, 1 in `[-1, -0.5)`.
fn native_histogram() -> MetricFamily {
    let mut family = MetricFamily {
        name: Some("rw_native_seconds".into()),
        help: Some("A native histogram.".into()),
        ..MetricFamily::default()
    };
    family.set_metric_type(MetricType::Histogram);
    family.metric.push(Metric {
        label: vec![LabelPair::new("path", "/x")],
        histogram: Some(Box::new(model::Histogram {
            sample_count: Some(5),
            sample_sum: Some(3.0),
            schema: Some(0),
            zero_threshold: Some(0.001),
            zero_count: Some(1),
            negative_span: vec![model::BucketSpan {
                offset: Some(0),
                length: Some(1),
            }],
            negative_delta: vec![1],
            positive_span: vec![model::BucketSpan {
                offset: Some(0),
                length: Some(2),
            }],
            positive_delta: vec![2, -1],
            ..model::Histogram::default()
        })),
        ..Metric::default()
    });
    family
}

const PROTOBUF: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// Pushes every type through the gateway and finds it all in `remote`.
fn every_type_arrives(remote: &Remote, gateway: &Gateway) {
    let r = gateway.push_text("/metrics/job/types/instance/i1", EVERY_TYPE);
    assert_eq!(r.status, 202, "{}", r.text());
    let at = gateway.stamp("types");
    let expected = every_type_expected(at);
    let floats = remote.floats_until("{job=\"types\"}", |f| *f == expected);
    assert_eq!(floats, expected);
}

/// Stops `remote` while a client keeps pushing, restarts it, and finds
/// every sample that was answered 202.
fn acknowledged_samples_survive_an_outage(remote: &mut Remote, gateway: &Arc<Gateway>) {
    let stop = Arc::new(AtomicBool::new(false));
    let results: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    // Four clients, so that some pushes are in flight when it stops.
    let pushers: Vec<_> = (0..4u64)
        .map(|client| {
            let (gateway, stop, results) = (gateway.clone(), stop.clone(), results.clone());
            thread::spawn(move || {
                let mut i = client * 1_000_000;
                while !stop.load(Ordering::SeqCst) {
                    let r = gateway
                        .push_text(&format!("/metrics/job/seq/n/{i}"), &format!("rw_seq {i}\n"));
                    results.lock().unwrap().push((i, r.status, r.text()));
                    i += 1;
                    thread::sleep(Duration::from_millis(10));
                }
            })
        })
        .collect();
    let wait_for = |what: &str, done: &dyn Fn(&[Outcome]) -> bool| {
        let deadline = Instant::now() + WAIT;
        while !done(&results.lock().unwrap()) {
            assert!(Instant::now() < deadline, "{what}: not within {WAIT:?}");
            thread::sleep(Duration::from_millis(10));
        }
    };
    let accepted = |r: &[Outcome]| r.iter().filter(|(_, s, _)| *s == 202).count();
    wait_for("pushes accepted before the outage", &|r| accepted(r) >= 20);

    remote.stop();
    // Once stopped, a push is answered 503 with the reason.
    let r = gateway.push_text("/metrics/job/outage", "rw_outage 1\n");
    assert_eq!(r.status, 503, "{}", r.text());
    let prefix = format!(
        "store unavailable: remote write to {}: ",
        remote.write_url()
    );
    assert!(r.text().starts_with(&prefix), "{}", r.text());
    assert_eq!(r.text().lines().count(), 1, "{}", r.text());
    assert!(r.header("retry-after").is_some());
    wait_for("the client's pushes refused in the outage", &|r| {
        r.iter().any(|(_, s, _)| *s == 503)
    });

    remote.restart();
    let before = accepted(&results.lock().unwrap());
    wait_for("pushes accepted after the restart", &|r| {
        accepted(r) >= before + 20
    });
    stop.store(true, Ordering::SeqCst);
    for pusher in pushers {
        pusher.join().unwrap();
    }

    let results = results.lock().unwrap();
    eprintln!(
        "{:?}: {} pushes, {} answered 202, {} answered 503",
        remote.kind,
        results.len(),
        accepted(&results),
        results.iter().filter(|(_, s, _)| *s == 503).count()
    );
    for (i, status, body) in results.iter() {
        assert!(
            *status == 202 || (*status == 503 && body.starts_with(&prefix)),
            "push {i}: {status} {body}"
        );
    }
    let acknowledged: Vec<(String, i64)> = results
        .iter()
        .filter(|(_, s, _)| *s == 202)
        .map(|(i, _, _)| (i.to_string(), *i as i64))
        .collect();
    let stored = |floats: &Vec<FloatSample>| -> BTreeSet<(String, i64)> {
        floats
            .iter()
            .map(|(labels, _, value)| (labels["n"].clone(), *value as i64))
            .collect()
    };
    let floats = remote.floats_until("{__name__=\"rw_seq\"}", |f| {
        let stored = stored(f);
        acknowledged.iter().all(|a| stored.contains(a))
    });
    let stored = stored(&floats);
    for (i, _) in &acknowledged {
        assert!(
            stored.contains(&(i.clone(), i.parse::<i64>().unwrap())),
            "push {i} was answered 202 but is not in {:?}",
            remote.kind
        );
    }
    // What was stored before the outage is still there.
    let expected = every_type_expected(gateway.stamp("types"));
    let floats = remote.floats_until("{job=\"types\"}", |f| *f == expected);
    assert_eq!(floats, expected);
}

#[test]
fn prometheus_receives_every_type_and_keeps_what_was_acknowledged() {
    let Some(mut remote) = Remote::start("prometheus", Kind::Prometheus) else {
        return;
    };
    let gateway = Arc::new(Gateway::start(&remote));
    every_type_arrives(&remote, &gateway);

    // A native histogram, pushed as protobuf.
    let mut body = Vec::new();
    pushgate::codec::protobuf::encode(&[native_histogram()], &mut body);
    let r = gateway.push("/metrics/job/native", PROTOBUF, &body);
    assert_eq!(r.status, 202, "{}", r.text());
    let at = gateway.stamp("native");
    let (floats, histograms) = remote.samples("{job=\"native\"}");
    assert_eq!(floats, []);
    let labels: Labels = [
        ("__name__", "rw_native_seconds"),
        ("job", "native"),
        ("path", "/x"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(histograms.len(), 1, "{histograms:?}");
    assert_eq!((&histograms[0].0, histograms[0].1), (&labels, at));
    // Boundary rules: 0 open left `(a, b]`, 1 open right `[a, b)`, 3
    // closed `[a, b]`; buckets in order.
    assert_eq!(
        histograms[0].2,
        serde_json::json!({
            "count": "5",
            "sum": "3",
            "buckets": [
                [1, "-1", "-0.5", "1"],
                [3, "-0.001", "0.001", "1"],
                [0, "0.5", "1", "2"],
                [0, "1", "2", "1"],
            ],
        })
    );

    acknowledged_samples_survive_an_outage(&mut remote, &gateway);
}

#[test]
fn victoria_metrics_receives_every_type_and_keeps_what_was_acknowledged() {
    let Some(mut remote) = Remote::start("victoria_metrics", Kind::Victoria) else {
        return;
    };
    let gateway = Arc::new(Gateway::start(&remote));
    every_type_arrives(&remote, &gateway);
    acknowledged_samples_survive_an_outage(&mut remote, &gateway);
}

/// `pushgate serve --store remote-write:URL`, as an operator runs it: a
/// push is in Prometheus once answered 202. Then behind `--wal`: with
/// Prometheus down, pushes are still answered 202 from the log, and reach
/// Prometheus once it is back, each once.
#[test]
fn pushgate_serve_remote_write_directly_and_through_a_wal_across_an_outage() {
    let Some(mut remote) = Remote::start("pushgate_serve_remote_write", Kind::Prometheus) else {
        return;
    };
    let store = format!("remote-write:{}", remote.write_url());
    let serve = |extra: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pushgate"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--store", &store])
            .args(extra)
            .env("RUST_LOG", "info");
        support::process::Server::start(command)
    };
    let push = |server: &support::process::Server, job: &str, value: u32| {
        let path = format!("/metrics/job/{job}");
        let body = format!("# TYPE cli_jobs_total counter\ncli_jobs_total {value}\n");
        http::request(server.addr, "POST", &path, &[], body.as_bytes()).unwrap()
    };
    let values = |remote: &Remote, job: &str, want: usize| -> Vec<f64> {
        let selector = format!("cli_jobs_total{{job=\"{job}\"}}");
        remote
            .floats_until(&selector, |f| f.len() >= want)
            .into_iter()
            .map(|(_, _, v)| v)
            .collect()
    };

    let server = serve(&[]);
    let r = push(&server, "direct", 1);
    assert_eq!(r.status, 202, "{}", r.text());
    // Acknowledged means there: no waiting needed but the query's.
    let (floats, _) = remote.samples("cli_jobs_total{job=\"direct\"}");
    assert_eq!(floats.len(), 1, "{floats:?}");
    assert_eq!(floats[0].2, 1.0);
    drop(server);

    let wal = tempfile::tempdir().unwrap();
    let server = serve(&["--wal", wal.path().to_str().unwrap()]);
    let r = push(&server, "wal", 1);
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(values(&remote, "wal", 1), [1.0]);
    remote.stop();
    for value in 2..=4 {
        // The remote is down, and the push is acknowledged from the log.
        let r = push(&server, "wal", value);
        assert_eq!(r.status, 202, "{}", r.text());
        std::thread::sleep(Duration::from_millis(5));
    }
    remote.restart();
    assert_eq!(values(&remote, "wal", 4), [1.0, 2.0, 3.0, 4.0]);
    drop(server);
}
