//! The InfluxDB store behind a gateway served on a real socket, against
//! real servers: Debian's InfluxDB 1.x (`influxd`) for the 1.x write API,
//! and VictoriaMetrics, which serves InfluxDB 2.x's `/api/v2/write`, for
//! the 2.x one (no InfluxDB 2 is packaged in Debian).
//!
//! Each test starts its own server on free loopback ports in a temporary
//! directory and kills it on drop. Every wait is bounded; nothing asserts
//! a duration.

mod support {
    pub mod process;
}

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use pushgate::client::HttpClient;
use pushgate::gateway::PushGateway;
use pushgate::store::{InfluxStore, Push, Store, StoreError};
use serde_json::Value;
use support::process::{require, runs};
use tower::ServiceExt;

const INFLUXD: &str = "/usr/bin/influxd";
const PUSHGATE: &str = env!("CARGO_BIN_EXE_pushgate");
const VICTORIA_METRICS: &str = "/usr/bin/victoria-metrics";

/// A counter, a gauge, a histogram and a summary.
const BODY: &str = "\
# TYPE jobs_total counter
jobs_total{queue=\"a\"} 3
# TYPE temperature_celsius gauge
temperature_celsius{room=\"lab\"} 21.5
# TYPE latency_seconds histogram
latency_seconds_bucket{le=\"0.1\"} 2
latency_seconds_bucket{le=\"1\"} 5
latency_seconds_bucket{le=\"+Inf\"} 6
latency_seconds_sum 3.5
latency_seconds_count 6
# TYPE rpc_seconds summary
rpc_seconds{quantile=\"0.5\"} 0.2
rpc_seconds{quantile=\"0.99\"} 0.9
rpc_seconds_sum 12
rpc_seconds_count 40
";

/// How long a server may take to come up.
const STARTUP: Duration = Duration::from_secs(30);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed (and reaped) on drop, its output in a file.
struct Process {
    child: Option<Child>,
    log: std::path::PathBuf,
}

impl Process {
    fn spawn(mut command: Command, log: &Path) -> Process {
        let out = std::fs::File::create(log).unwrap();
        let child = command
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {command:?}: {e}"));
        Process {
            child: Some(child),
            log: log.to_owned(),
        }
    }

    /// Panics with the output if the process has exited.
    fn check_running(&mut self, what: &str) {
        if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
            panic!(
                "{what} exited ({status}):\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One HTTP exchange: status, `Retry-After`, body.
async fn exchange(
    method: Method,
    url: &str,
    body: impl Into<Bytes>,
) -> Result<(StatusCode, Option<String>, String), Box<dyn std::error::Error + Send + Sync>> {
    let request = Request::builder()
        .method(method)
        .uri(url)
        .body(Full::new(body.into()))
        .unwrap();
    let response = HttpClient::new().oneshot(request).await?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(http::header::RETRY_AFTER)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.into_body().collect().await?.to_bytes();
    Ok((
        status,
        retry_after,
        String::from_utf8_lossy(&body).into_owned(),
    ))
}

/// Waits until `GET url` answers 2xx, while `process` runs.
async fn wait_until_up(process: &mut Process, url: &str, what: &str) {
    let deadline = Instant::now() + STARTUP;
    loop {
        if let Ok((status, ..)) = exchange(Method::GET, url, Bytes::new()).await {
            if status.is_success() {
                return;
            }
        }
        process.check_running(what);
        assert!(
            Instant::now() < deadline,
            "{what} not up within {STARTUP:?}:\n{}",
            std::fs::read_to_string(&process.log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A query value, percent-encoded.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Debian's InfluxDB 1.x in a temporary directory.
struct Influx {
    // Fields drop in order: the process is killed before its directory
    // is removed.
    process: Option<Process>,
    dir: tempfile::TempDir,
    http: SocketAddr,
}

impl Influx {
    /// Starts influxd with only its HTTP service, on free ports, and
    /// waits for `/ping`.
    async fn start() -> Influx {
        let dir = tempfile::tempdir().unwrap();
        let http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let d = dir.path().display();
        let config = format!(
            "reporting-disabled = true\n\
             bind-address = \"127.0.0.1:{rpc}\"\n\
             [meta]\n  dir = \"{d}/meta\"\n\
             [data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  query-log-enabled = false\n\
             [http]\n  bind-address = \"{http}\"\n  log-enabled = false\n\
             [monitor]\n  store-enabled = false\n\
             [subscriber]\n  enabled = false\n\
             [continuous_queries]\n  enabled = false\n\
             [[graphite]]\n  enabled = false\n\
             [[collectd]]\n  enabled = false\n\
             [[opentsdb]]\n  enabled = false\n\
             [[udp]]\n  enabled = false\n",
            rpc = free_port(),
        );
        std::fs::write(dir.path().join("influxdb.conf"), config).unwrap();
        let mut influx = Influx {
            dir,
            http,
            process: None,
        };
        influx.run().await;
        influx
    }

    /// (Re)starts influxd on the same ports and data.
    async fn run(&mut self) {
        let mut command = Command::new(INFLUXD);
        command
            .arg("-config")
            .arg(self.dir.path().join("influxdb.conf"));
        let log = self.dir.path().join(format!(
            "influxd-{}.log",
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let mut process = Process::spawn(command, &log);
        wait_until_up(&mut process, &format!("{}/ping", self.url()), "influxd").await;
        self.process = Some(process);
    }

    fn stop(&mut self) {
        self.process.take();
    }

    fn url(&self) -> String {
        format!("http://{}", self.http)
    }

    /// Runs `q` (against `db` if given), epoch nanoseconds.
    async fn query(&self, db: Option<&str>, q: &str) -> Value {
        let mut url = format!("{}/query?epoch=ns&q={}", self.url(), encode(q));
        if let Some(db) = db {
            url.push_str(&format!("&db={}", encode(db)));
        }
        let (status, _, body) = exchange(Method::POST, &url, Bytes::new()).await.unwrap();
        assert_eq!(status, StatusCode::OK, "{q}: {body}");
        let value: Value = serde_json::from_str(&body).unwrap();
        assert!(value["results"][0].get("error").is_none(), "{q}: {body}");
        value
    }

    /// Every series of `SELECT * FROM measurement` in `db`: a map of
    /// column to value per row.
    async fn rows(&self, db: &str, measurement: &str) -> Vec<BTreeMap<String, Value>> {
        let result = self
            .query(Some(db), &format!("SELECT * FROM \"{measurement}\""))
            .await;
        let Some(series) = result["results"][0]["series"].as_array() else {
            return Vec::new();
        };
        let mut rows = Vec::new();
        for s in series {
            let columns: Vec<String> = s["columns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_owned())
                .collect();
            for values in s["values"].as_array().unwrap() {
                let row = columns
                    .iter()
                    .cloned()
                    .zip(values.as_array().unwrap().iter().cloned())
                    .filter(|(_, v)| !v.is_null())
                    .collect();
                rows.push(row);
            }
        }
        rows
    }
}

/// Serves `gateway` on a free loopback port; the push URL of job `batch`,
/// instance `h1`.
async fn serve<S: Store>(gateway: PushGateway<pushgate::store::StoreService<S>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(pushgate::server::serve(
        listener,
        gateway,
        std::future::pending(),
    ));
    format!("http://{addr}/metrics/job/batch/instance/h1")
}

/// Keeps the receive time of each push it forwards.
struct Received<S> {
    inner: S,
    received: Arc<Mutex<Vec<SystemTime>>>,
}

impl<S: Store> Store for Received<S> {
    async fn write(&self, push: Push) -> Result<(), StoreError> {
        self.received.lock().unwrap().push(push.received);
        self.inner.write(push).await
    }
}

fn ns(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64
}

/// A row as expected: tags as strings, fields as numbers.
fn row(time: i64, tags: &[(&str, &str)], fields: &[(&str, f64)]) -> BTreeMap<String, Value> {
    let mut row = BTreeMap::new();
    row.insert("time".to_owned(), Value::from(time));
    for (k, v) in tags {
        row.insert((*k).to_owned(), Value::from(*v));
    }
    for (k, v) in fields {
        row.insert((*k).to_owned(), Value::from(*v));
    }
    row
}

/// Numbers as f64, so that `3` and `3.0` compare equal.
fn normalized(rows: Vec<BTreeMap<String, Value>>) -> Vec<BTreeMap<String, Value>> {
    rows.into_iter()
        .map(|r| {
            r.into_iter()
                .map(|(k, v)| match (&k[..], v.as_f64()) {
                    ("time", _) | (_, None) => (k, v),
                    (_, Some(f)) => (k, Value::from(f)),
                })
                .collect()
        })
        .collect()
}

fn influxd_here(test: &str) -> bool {
    require(
        test,
        Path::new(INFLUXD).exists(),
        "influxd (Debian's influxdb)",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn influxdb_1x_stores_every_type_with_its_labels_at_the_receive_time() {
    if !influxd_here("influxdb_1x_stores_every_type_with_its_labels_at_the_receive_time") {
        return;
    }
    let influx = Influx::start().await;
    influx.query(None, "CREATE DATABASE pushgate").await;
    let store = InfluxStore::v1(influx.url(), "pushgate").build().unwrap();

    // The gateway's defaults: each metric stamped at receipt (ms).
    let url = serve(PushGateway::builder(store.clone()).build().unwrap()).await;
    let before = ns(SystemTime::now()) / 1_000_000 * 1_000_000;
    let (status, _, body) = exchange(Method::POST, &url, BODY).await.unwrap();
    let after = ns(SystemTime::now());
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    let jobs = influx.rows("pushgate", "jobs_total").await;
    let time = jobs[0]["time"].as_i64().unwrap();
    assert!(
        (before..=after).contains(&time),
        "{before} <= {time} <= {after}"
    );
    assert_eq!(time % 1_000_000, 0, "receive timestamps are in ms: {time}");
    let key = [("instance", "h1"), ("job", "batch")];
    let with = |extra: (&'static str, &'static str)| {
        let mut tags = key.to_vec();
        tags.push(extra);
        tags
    };
    assert_eq!(
        normalized(jobs),
        [row(time, &with(("queue", "a")), &[("counter", 3.0)])]
    );
    assert_eq!(
        normalized(influx.rows("pushgate", "temperature_celsius").await),
        [row(time, &with(("room", "lab")), &[("gauge", 21.5)])]
    );
    assert_eq!(
        normalized(influx.rows("pushgate", "latency_seconds").await),
        [row(
            time,
            &key,
            &[
                ("0.1", 2.0),
                ("1", 5.0),
                ("+Inf", 6.0),
                ("count", 6.0),
                ("sum", 3.5)
            ]
        )]
    );
    assert_eq!(
        normalized(influx.rows("pushgate", "rpc_seconds").await),
        [row(
            time,
            &key,
            &[("0.5", 0.2), ("0.99", 0.9), ("count", 40.0), ("sum", 12.0)]
        )]
    );

    // Without the gateway's stamps, points are written at the push's
    // receive time, to the nanosecond: not at InfluxDB's clock.
    let received = Arc::new(Mutex::new(Vec::new()));
    let store = Received {
        inner: store,
        received: received.clone(),
    };
    let gateway = PushGateway::builder(store)
        .receive_timestamps(false)
        .build()
        .unwrap();
    let url = serve(gateway).await;
    let (status, _, body) = exchange(Method::POST, &url, "# TYPE late gauge\nlate 1\n")
        .await
        .unwrap();
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let received = ns(received.lock().unwrap()[0]);
    assert_eq!(
        normalized(influx.rows("pushgate", "late").await),
        [row(received, &key, &[("gauge", 1.0)])]
    );

    // A delete is acknowledged; what was written stays.
    let (status, _, body) = exchange(Method::DELETE, &url, Bytes::new()).await.unwrap();
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(influx.rows("pushgate", "late").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn influxdb_1x_refusals_reach_the_pusher_with_influxdbs_message() {
    if !influxd_here("influxdb_1x_refusals_reach_the_pusher_with_influxdbs_message") {
        return;
    }
    let influx = Influx::start().await;

    // No such database: the gateway's configuration is wrong, not the
    // push, so a 500 carrying InfluxDB's own words.
    let store = InfluxStore::v1(influx.url(), "missing").build().unwrap();
    let url = serve(PushGateway::builder(store).build().unwrap()).await;
    let (status, _, body) = exchange(Method::POST, &url, BODY).await.unwrap();
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(
        body,
        format!(
            "store failed: influxdb write to {}: 404 Not Found: database not found: \"missing\"\n",
            influx.url()
        )
    );

    // A field stored with another type by another writer: InfluxDB
    // refuses the point (and would keep any others of the batch).
    influx.query(None, "CREATE DATABASE pushgate").await;
    let (status, _, body) = exchange(
        Method::POST,
        &format!("{}/write?db=pushgate", influx.url()),
        "jobs_total counter=\"three\"",
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let store = InfluxStore::v1(influx.url(), "pushgate").build().unwrap();
    let url = serve(PushGateway::builder(store).build().unwrap()).await;
    let (status, _, body) = exchange(
        Method::POST,
        &url,
        "# TYPE jobs_total counter\njobs_total 3\n",
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.starts_with(&format!(
            "pushed metrics cannot be stored: influxdb write to {}: 400 Bad Request: partial write: field type conflict",
        influx.url()
        )),
        "{body}"
    );

    // A label InfluxDB refuses as a tag: refused before InfluxDB sees it,
    // so that no other point of the push is written.
    let (status, _, body) = exchange(
        Method::POST,
        &url,
        "# TYPE ok gauge\nok 1\n# TYPE t gauge\nt{time=\"noon\"} 1\n",
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body,
        "pushed metrics cannot be stored: label \"time\" of t cannot be written to InfluxDB, which refuses it as a tag key\n"
    );
    assert!(influx.rows("pushgate", "ok").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn influxdb_1x_down_is_503_with_the_reason_and_back_up_is_written_again() {
    if !influxd_here("influxdb_1x_down_is_503_with_the_reason_and_back_up_is_written_again") {
        return;
    }
    let mut influx = Influx::start().await;
    influx.query(None, "CREATE DATABASE pushgate").await;
    let store = InfluxStore::v1(influx.url(), "pushgate")
        .retry_for(Duration::from_millis(500))
        .build()
        .unwrap();
    let url = serve(PushGateway::builder(store).build().unwrap()).await;
    let push = |n: u32| format!("# TYPE n gauge\nn {n}\n");

    let (status, _, body) = exchange(Method::POST, &url, push(1)).await.unwrap();
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    influx.stop();
    let (status, retry_after, body) = exchange(Method::POST, &url, push(2)).await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let prefix = format!("store unavailable: influxdb write to {}: ", influx.url());
    assert!(body.starts_with(&prefix), "{body}");
    assert!(body.contains("Connect"), "{body}");
    assert!(retry_after.is_some(), "{body}");

    influx.run().await;
    let (status, _, body) = exchange(Method::POST, &url, push(3)).await.unwrap();
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let values: Vec<f64> = influx
        .rows("pushgate", "n")
        .await
        .iter()
        .map(|r| r["gauge"].as_f64().unwrap())
        .collect();
    assert_eq!(values, [1.0, 3.0]);
}

/// One series as VictoriaMetrics exports it.
#[derive(Debug, PartialEq)]
struct Exported {
    labels: BTreeMap<String, String>,
    values: Vec<f64>,
    /// Milliseconds.
    times: Vec<i64>,
}

/// VictoriaMetrics in a temporary directory.
struct Victoria {
    // Killed before its directory is removed.
    _process: Process,
    _dir: tempfile::TempDir,
    addr: SocketAddr,
}

impl Victoria {
    async fn start() -> Victoria {
        let dir = tempfile::tempdir().unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut command = Command::new(VICTORIA_METRICS);
        command
            .arg(format!(
                "-storageDataPath={}",
                dir.path().join("data").display()
            ))
            .arg(format!("-httpListenAddr={addr}"));
        let mut process = Process::spawn(command, &dir.path().join("vm.log"));
        wait_until_up(
            &mut process,
            &format!("http://{addr}/health"),
            "victoria-metrics",
        )
        .await;
        Victoria {
            _dir: dir,
            addr,
            _process: process,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The series matching `selector` as `(labels, values, timestamps in
    /// ms)`, sorted, once there are `want` of them (VictoriaMetrics makes
    /// rows searchable shortly after taking them).
    async fn export(&self, selector: &str, want: usize) -> Vec<Exported> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            exchange(
                Method::GET,
                &format!("{}/internal/force_flush", self.url()),
                Bytes::new(),
            )
            .await
            .unwrap();
            let url = format!("{}/api/v1/export?match[]={}", self.url(), encode(selector));
            let (status, _, body) = exchange(Method::GET, &url, Bytes::new()).await.unwrap();
            assert_eq!(status, StatusCode::OK, "{body}");
            let mut series: Vec<_> = body
                .lines()
                .map(|line| {
                    let v: Value = serde_json::from_str(line).unwrap();
                    let labels: BTreeMap<String, String> = v["metric"]
                        .as_object()
                        .unwrap()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                        .collect();
                    let values = v["values"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_f64().unwrap())
                        .collect();
                    let times = v["timestamps"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|t| t.as_i64().unwrap())
                        .collect();
                    Exported {
                        labels,
                        values,
                        times,
                    }
                })
                .collect();
            if series.len() >= want {
                series.sort_by(|a, b| a.labels.cmp(&b.labels));
                return series;
            }
            assert!(
                Instant::now() < deadline,
                "{want} series of {selector} not exported within 20s: {body}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn influxdb_2x_write_api_as_victoria_metrics_serves_it() {
    let test = "influxdb_2x_write_api_as_victoria_metrics_serves_it";
    if !require(
        test,
        runs(VICTORIA_METRICS, &["-version"]),
        "victoria-metrics (Debian's victoria-metrics)",
    ) {
        return;
    }
    let vm = Victoria::start().await;
    let store = InfluxStore::v2(vm.url(), "acme", "telemetry", "token")
        .build()
        .unwrap();
    let url = serve(PushGateway::builder(store).build().unwrap()).await;
    let before = ns(SystemTime::now()) / 1_000_000;
    let (status, _, body) = exchange(Method::POST, &url, BODY).await.unwrap();
    let after = ns(SystemTime::now()) / 1_000_000;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    // VictoriaMetrics names each field `<measurement>_<field>`.
    let series = vm.export("{job=\"batch\"}", 11).await;
    let time = series[0].times[0];
    assert!(
        (before..=after).contains(&time),
        "{before} <= {time} <= {after}"
    );
    let mut want: Vec<Exported> = [
        ("jobs_total_counter", Some(("queue", "a")), 3.0),
        ("temperature_celsius_gauge", Some(("room", "lab")), 21.5),
        ("latency_seconds_0.1", None, 2.0),
        ("latency_seconds_1", None, 5.0),
        ("latency_seconds_+Inf", None, 6.0),
        ("latency_seconds_count", None, 6.0),
        ("latency_seconds_sum", None, 3.5),
        ("rpc_seconds_0.5", None, 0.2),
        ("rpc_seconds_0.99", None, 0.9),
        ("rpc_seconds_count", None, 40.0),
        ("rpc_seconds_sum", None, 12.0),
    ]
    .into_iter()
    .map(|(name, label, value)| {
        let labels: BTreeMap<String, String> =
            [("__name__", name), ("job", "batch"), ("instance", "h1")]
                .into_iter()
                .chain(label)
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
        Exported {
            labels,
            values: vec![value],
            times: vec![time],
        }
    })
    .collect();
    want.sort_by(|a, b| a.labels.cmp(&b.labels));
    assert_eq!(series, want);
}

/// `pushgate serve --store influxdb:URL?db=DB`, as an operator runs it,
/// directly and behind a write-ahead log (`--wal`): each push is in
/// InfluxDB, stamped with its receive time and grouping labels.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushgate_serve_writes_to_influxdb_directly_and_through_a_wal() {
    if !influxd_here("pushgate_serve_writes_to_influxdb_directly_and_through_a_wal") {
        return;
    }
    let influx = Influx::start().await;
    influx.query(None, "CREATE DATABASE cli").await;
    let store = format!("influxdb:{}?db=cli", influx.url());
    let wal = tempfile::tempdir().unwrap();
    let runs: [&[&str]; 2] = [&[], &["--wal", wal.path().to_str().unwrap()]];
    for (i, extra) in runs.into_iter().enumerate() {
        let mut command = Command::new(PUSHGATE);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--store", &store])
            .args(extra)
            .env("RUST_LOG", "info");
        let server = support::process::Server::start(command);
        assert!(
            server.output().contains(&format!("store {store}"))
                || server.output().contains(&format!("forwarding to {store}")),
            "{}",
            server.output()
        );
        let url = format!("http://{}/metrics/job/cli/run/{i}", server.addr);
        let (status, _, body) = exchange(Method::POST, &url, "up 1\n").await.unwrap();
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        // Directly, it is there once acknowledged; through the WAL, soon.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let rows = influx.rows("cli", "up").await;
            let run = i.to_string();
            let ours =
                |r: &&BTreeMap<String, Value>| r.get("run") == Some(&Value::from(run.as_str()));
            if let Some(row) = rows.iter().find(ours) {
                assert_eq!(row.get("job"), Some(&Value::from("cli")), "{row:?}");
                assert_eq!(row.get("value"), Some(&Value::from(1)), "{row:?}");
                break;
            }
            assert!(i == 1, "not written before the 202: {rows:?}");
            assert!(Instant::now() < deadline, "not forwarded in 10 s: {rows:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(server);
    }
    // A 2.x store without its token is refused at start.
    let out = Command::new(PUSHGATE)
        .args(["serve", "--listen", "127.0.0.1:0", "--store"])
        .arg(format!("influxdb:{}?org=o&bucket=b", influx.url()))
        .env_remove("PUSHGATE_INFLUX_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("(2.x) needs --influx-token"),
        "{out:?}"
    );
}
