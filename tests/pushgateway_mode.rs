//! `pushgate serve --mode pushgateway` against the real Prometheus
//! Pushgateway (Debian's `prometheus-pushgateway`), with real clients, a
//! real Prometheus scraping it and its status page in headless Chromium.
//!
//! The differential tests send the same requests to both gateways and,
//! after each, compare the status class of the answers and what both
//! expose at `/metrics` (scraped as delimited protobuf). Before comparing,
//! each side's own families are dropped (the Go runtime's `go_*` and
//! `process_*` of the Pushgateway, `pushgateway_*`, `pushgate_*`: what an
//! empty gateway exposes, and its prefix), and the values of
//! `push_time_seconds` and `push_failure_time_seconds` are reduced to
//! whether they are zero (the two gateways' clocks differ; whether a group
//! has had a failure does not). Everything else must agree: family names,
//! types, help, every metric's labels and values.
//!
//! The Pushgateway queues a `DELETE` and answers 202 before applying it, so
//! after one the comparison waits (a bounded while) for it to have
//! happened. pushgate has applied it when it answers.
//!
//! Outside CI, a missing program skips the test that needs it, saying why;
//! with `CI=true` that is a failure.

mod support {
    pub mod browser;
    pub mod go_client;
    pub mod http;
    pub mod process;
    pub mod pushgateway;
}

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use pushgate::codec::{self, Limits};
use pushgate::model::{Metric, MetricFamily};
use pushgate::Format;
use serde_json::Value;

use support::browser::{wait_until, Browser};
use support::http;
use support::process::{require, runs, Server};
use support::pushgateway::{self, Pushgateway};

const PUSHGATE: &str = env!("CARGO_BIN_EXE_pushgate");

/// Any bounded wait: a server's start, a queued delete, a scrape.
const WAIT: Duration = Duration::from_secs(20);

const PROTOBUF_ACCEPT: &str =
    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited";

/// `pushgate serve --mode pushgateway` on a free port, its snapshot in
/// `dir`, with `args` after.
fn pushgate(dir: &Path, args: &[&str]) -> Server {
    let mut command = Command::new(PUSHGATE);
    command
        .args(["serve", "--mode", "pushgateway", "--listen", "127.0.0.1:0"])
        .arg("--persistence-file")
        .arg(dir.join("groups.snapshot"))
        .args(args)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    Server::start(command)
}

fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> http::Response {
    http::request(addr, method, path, headers, body)
        .unwrap_or_else(|e| panic!("{method} {path} to {addr}: {e}"))
}

/// Everything a gateway exposes, scraped as delimited protobuf.
fn scrape(addr: SocketAddr) -> Vec<MetricFamily> {
    let r = request(addr, "GET", "/metrics", &[("Accept", PROTOBUF_ACCEPT)], &[]);
    assert_eq!(r.status, 200, "scraping {addr}: {}", r.text());
    codec::decode(Format::Protobuf, r.body.into(), &Limits::default())
        .unwrap_or_else(|e| panic!("the scrape of {addr} does not decode: {e}"))
}

/// Both gateways, and what to leave out of their scrapes.
struct Pair {
    real: Pushgateway,
    ours: Server,
    /// Families an empty gateway already exposes: its own.
    real_own: BTreeSet<String>,
    ours_own: BTreeSet<String>,
    _dir: tempfile::TempDir,
    /// The requests so far, for failure messages.
    steps: Vec<String>,
}

impl Pair {
    /// Both gateways, or `None` when the Pushgateway is missing (outside CI).
    fn start(test: &str) -> Option<Pair> {
        let bin = pushgateway::binary_or_skip(test)?;
        let real = Pushgateway::start(&bin);
        let dir = tempfile::tempdir().unwrap();
        let ours = pushgate(dir.path(), &[]);
        let names = |addr| scrape(addr).iter().map(|f| f.name().to_owned()).collect();
        Some(Pair {
            real_own: names(real.addr),
            ours_own: names(ours.addr),
            real,
            ours,
            _dir: dir,
            steps: Vec::new(),
        })
    }

    fn real_url(&self) -> String {
        format!("http://{}", self.real.addr)
    }

    /// Sends one request to both; asserts the same status class, then the
    /// same exposition. Returns both answers, the Pushgateway's first.
    fn step(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (http::Response, http::Response) {
        let real = request(self.real.addr, method, path, headers, body);
        let ours = request(self.ours.addr, method, path, headers, body);
        self.steps.push(format!(
            "{method} {path} -> Pushgateway {} {:?}, pushgate {} {:?}",
            real.status,
            real.text().trim(),
            ours.status,
            ours.text().trim()
        ));
        assert_eq!(
            real.status / 100,
            ours.status / 100,
            "status classes differ; steps so far:\n{}",
            self.steps.join("\n")
        );
        self.compare();
        (real, ours)
    }

    /// Sends a request both answer differently, by design: asserts their
    /// statuses (the Pushgateway's first), and leaves the comparison to
    /// the next step.
    fn diverge(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        statuses: (u16, u16),
    ) {
        let real = request(self.real.addr, method, path, headers, body);
        let ours = request(self.ours.addr, method, path, headers, body);
        self.steps.push(format!(
            "{method} {path} -> Pushgateway {}, pushgate {} {:?} (by design)",
            real.status,
            ours.status,
            ours.text().trim()
        ));
        assert_eq!(
            (real.status, ours.status),
            statuses,
            "steps so far:\n{}",
            self.steps.join("\n")
        );
    }

    /// Asserts that both expose the same samples, waiting a bounded while
    /// for the Pushgateway's queued writes.
    fn compare(&self) {
        let deadline = Instant::now() + WAIT;
        loop {
            let ours = normalise(scrape(self.ours.addr), &self.ours_own, "pushgate_");
            let real = normalise(scrape(self.real.addr), &self.real_own, "pushgateway_");
            if ours == real {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "the expositions differ after:\n{}\n\n{}",
                    self.steps.join("\n"),
                    diff(&real, &ours)
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Asserts that both list the same groups at `/api/v1/metrics` in the
    /// same JSON shape (every key, every value's JSON type; the values
    /// themselves are the exposition's, compared already), and that
    /// `/api/v1/status` has every key the Pushgateway's has. Returns the
    /// groups' labels.
    fn compare_api(&self) -> BTreeSet<String> {
        let api = |addr, path| {
            let r = request(addr, "GET", path, &[], &[]);
            assert_eq!(r.status, 200, "{path}: {}", r.text());
            let json: Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(json["status"], "success", "{path}: {json}");
            json
        };
        let (real, ours) = (
            api(self.real.addr, "/api/v1/metrics"),
            api(self.ours.addr, "/api/v1/metrics"),
        );
        assert_eq!(
            shape(&ours),
            shape(&real),
            "/api/v1/metrics differs in shape:\n--- pushgate's:\n{ours:#}\n--- the Pushgateway's:\n{real:#}"
        );
        let labels = |json: &Value| -> BTreeSet<String> {
            json["data"]
                .as_array()
                .unwrap_or_else(|| panic!("no groups listed: {json}"))
                .iter()
                .map(|g| g["labels"].to_string())
                .collect()
        };
        assert_eq!(
            labels(&ours),
            labels(&real),
            "/api/v1/metrics lists other groups"
        );
        let groups = labels(&ours);

        let (real, ours) = (
            api(self.real.addr, "/api/v1/status"),
            api(self.ours.addr, "/api/v1/status"),
        );
        for path in ["/data", "/data/build_information"] {
            let keys = |json: &Value| -> BTreeSet<String> {
                json.pointer(path)
                    .and_then(Value::as_object)
                    .unwrap()
                    .keys()
                    .cloned()
                    .collect()
            };
            let missing: Vec<_> = keys(&real).difference(&keys(&ours)).cloned().collect();
            assert!(
                missing.is_empty(),
                "/api/v1/status lacks {path} keys {missing:?}: {ours}"
            );
        }
        groups
    }
}

/// A JSON value with every leaf replaced by its type and arrays sorted:
/// what two answers of the same API share whatever their values.
fn shape(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect())
        }
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(shape).collect();
            items.sort_by_key(Value::to_string);
            Value::Array(items)
        }
        Value::String(_) => "string".into(),
        Value::Number(_) => "number".into(),
        Value::Bool(_) => "bool".into(),
        Value::Null => Value::Null,
    }
}

/// A scrape in comparable form, by family name: `own` families and those
/// named with `own_prefix` dropped, labels and metrics sorted, push times
/// reduced to zero or one.
fn normalise(
    families: Vec<MetricFamily>,
    own: &BTreeSet<String>,
    own_prefix: &str,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for mut family in families {
        let name = family.name().to_owned();
        if own.contains(&name) || name.starts_with(own_prefix) {
            continue;
        }
        let push_time = name == "push_time_seconds" || name == "push_failure_time_seconds";
        for metric in &mut family.metric {
            metric.label.sort_by(|a, b| a.name().cmp(b.name()));
            if push_time {
                let gauge = metric.gauge.as_mut().expect("push times are gauges");
                gauge.value = Some(if gauge.value.unwrap_or(0.0) == 0.0 {
                    0.0
                } else {
                    1.0
                });
            }
        }
        family.metric.sort_by_cached_key(labels_of);
        assert!(
            out.insert(name.clone(), render(&family)).is_none(),
            "family {name:?} exposed twice"
        );
    }
    out
}

/// A family as text 0.0.4, with help and type: what Prometheus reads of it.
fn render(family: &MetricFamily) -> String {
    let mut out = Vec::new();
    codec::encode(Format::Text, std::slice::from_ref(family), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn labels_of(metric: &Metric) -> Vec<(String, String)> {
    metric
        .label
        .iter()
        .map(|l| (l.name().to_owned(), l.value().to_owned()))
        .collect()
}

fn diff(real: &BTreeMap<String, String>, ours: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for name in real.keys().chain(ours.keys()).collect::<BTreeSet<_>>() {
        match (real.get(name), ours.get(name)) {
            (Some(a), Some(b)) if a == b => {}
            (a, b) => out.push_str(&format!(
                "family {name:?}\n--- the Pushgateway's:\n{}\n--- pushgate's:\n{}\n",
                a.map_or("(none)", String::as_str),
                b.map_or("(none)", String::as_str)
            )),
        }
    }
    out
}

const TEXT: (&str, &str) = ("Content-Type", "text/plain; version=0.0.4");

const EVERY_TYPE: &str = "\
# HELP jobs_total Jobs done.
# TYPE jobs_total counter
jobs_total{queue=\"a\"} 3
jobs_total{queue=\"b\"} 1.5
# HELP last_run_seconds When the last run ended.
# TYPE last_run_seconds gauge
last_run_seconds 1.7e+09
# TYPE duration_seconds histogram
duration_seconds_bucket{le=\"0.1\"} 1
duration_seconds_bucket{le=\"1\"} 2
duration_seconds_bucket{le=\"+Inf\"} 3
duration_seconds_sum 4.5
duration_seconds_count 3
# HELP size_bytes Payload sizes.
# TYPE size_bytes summary
size_bytes{quantile=\"0.5\"} 100
size_bytes{quantile=\"0.9\"} 250
size_bytes_sum 1000
size_bytes_count 7
plain_untyped{kind=\"x\"} 42
";

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn protobuf(text: &str) -> Vec<u8> {
    let families = codec::decode(
        Format::Text,
        text.as_bytes().to_vec().into(),
        &Limits::default(),
    )
    .unwrap();
    let mut out = Vec::new();
    codec::protobuf::encode(&families, &mut out);
    out
}

/// The scripted sequence: every method, every grouping-key form,
/// and the pushes both must refuse, compared step by step.
#[test]
fn the_same_requests_get_the_same_answers_and_expositions_as_the_pushgateway() {
    let Some(mut pair) = Pair::start("the_same_requests_get_the_same_answers") else {
        return;
    };
    let a = "/metrics/job/batch/instance/db1";
    // PUT creates the group: every type, instance from the path.
    pair.step("PUT", a, &[TEXT], EVERY_TYPE.as_bytes());
    // POST replaces only the families pushed, and adds new ones.
    pair.step(
        "POST",
        a,
        &[TEXT],
        b"# TYPE last_run_seconds gauge\nlast_run_seconds 1.8e+09\n# TYPE extra gauge\nextra 1\n",
    );
    // The same as delimited protobuf, and gzipped.
    pair.step(
        "POST",
        a,
        &[("Content-Type", Format::Protobuf.content_type())],
        &protobuf("# TYPE extra gauge\nextra 2\n"),
    );
    pair.step(
        "POST",
        "/metrics/job/zipped",
        &[TEXT, ("Content-Encoding", "gzip")],
        &gzip(b"# TYPE extra gauge\nextra{z=\"1\"} 3\n"),
    );
    // A group without instance gets instance=""; grouping labels override
    // the body's.
    pair.step(
        "PUT",
        "/metrics/job/other",
        &[TEXT],
        b"# TYPE jobs_total counter\njobs_total{queue=\"c\",job=\"spoofed\"} 9\n",
    );
    // Base64 values, padded, unpadded, the empty value, and job@base64.
    pair.step(
        "PUT",
        "/metrics/job/b64/path@base64/L3Zhci90bXA=",
        &[TEXT],
        b"b64_value 4\n",
    );
    pair.step(
        "PUT",
        "/metrics/job/b64/path@base64/L3Zhci90bXA",
        &[TEXT],
        b"b64_value 5\n",
    );
    pair.step(
        "PUT",
        "/metrics/job/b64/path@base64/L3Zhci90bXA/empty@base64/=",
        &[TEXT],
        b"b64_value 6\n",
    );
    pair.step(
        "PUT",
        "/metrics/job@base64/c2xhc2gvam9i",
        &[TEXT],
        b"b64_value 7\n",
    );

    // Refusals: nothing changes but the group's failure time.
    // A type clash with another group's family.
    let (real, ours) = pair.step(
        "POST",
        "/metrics/job/other",
        &[TEXT],
        b"# TYPE last_run_seconds counter\nlast_run_seconds 1\n",
    );
    assert_eq!((real.status, ours.status), (400, 400), "{}", ours.text());
    // A series another group already has.
    pair.step(
        "PUT",
        "/metrics/job/batch",
        &[TEXT],
        b"# TYPE extra gauge\nextra{instance=\"db1\"} 1\n",
    );
    // Pushed timestamps.
    pair.step("POST", a, &[TEXT], b"extra 3 1700000000000\n");
    // Text that does not parse, and a body that is not gzip.
    pair.step("POST", a, &[TEXT], b"extra{ 3\n");
    pair.step(
        "POST",
        a,
        &[TEXT, ("Content-Encoding", "gzip")],
        b"not gzip",
    );
    // A label value that is not UTF-8, a bad name, a bad base64 value.
    pair.step("POST", a, &[TEXT], b"extra{v=\"\xff\"} 1\n");
    pair.step(
        "POST",
        "/metrics/job/batch/1nstance/x",
        &[TEXT],
        b"extra 1\n",
    );
    pair.step(
        "POST",
        "/metrics/job/batch/path@base64/!!!",
        &[TEXT],
        b"extra 1\n",
    );
    // A push path needs a value for every label name.
    pair.step("POST", "/metrics/job/batch/instance", &[TEXT], b"extra 1\n");

    // An empty PUT clears the group's families but keeps the group.
    pair.step("PUT", "/metrics/job/other", &[TEXT], b"");
    // The gateways' own families: the Pushgateway takes the push and
    // drops the family (its own push time replaces it); pushgate refuses
    // what it would not keep. The group's failure time then differs,
    // until the delete below.
    pair.diverge("POST", a, &[TEXT], b"push_time_seconds 1\n", (200, 400));
    // DELETE removes a group; deleting a missing group is fine too.
    pair.step("DELETE", a, &[], b"");
    pair.step("DELETE", "/metrics/job/never/instance/pushed", &[], b"");
    // A group may be pushed again after its delete, with other types.
    pair.step(
        "PUT",
        a,
        &[TEXT],
        b"# TYPE jobs_total counter\njobs_total{queue=\"a\"} 4\n",
    );

    let groups = pair.compare_api();
    assert!(groups.len() >= 6, "{groups:?}");
}

/// Python's prometheus-client, client_golang's push package and `pushgate
/// push`, each pushing to both gateways, with grouping keys that need
/// base64; the expositions must agree after each.
#[test]
fn real_clients_push_the_same_groups_into_both() {
    let test = "real_clients_push_the_same_groups_into_both";
    let Some(mut pair) = Pair::start(test) else {
        return;
    };
    let ours_url = pair.ours.url();
    let real_url = pair.real_url();

    if require(
        test,
        runs("python3", &["-c", "import prometheus_client"]),
        "python3 with prometheus-client",
    ) {
        // push.py: push_to_gateway and pushadd_to_gateway with instance
        // "host/1" (instance@base64), a gzipped pushadd, then
        // delete_from_gateway of the first group. Not snappy: Pushgateway
        // 1.5 reads a snappy body as text (e2e_serve tests pushgate's).
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/push.py");
        for url in [&real_url, &ours_url] {
            let out = Command::new("python3")
                // The `_created` gauges are each process's clock.
                .env("PROMETHEUS_DISABLE_CREATED_SERIES", "True")
                .arg(&script)
                .arg(url)
                .arg("gzip")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "push.py to {url}: {}\npushgate's log:\n{}\nthe Pushgateway's log:\n{}",
                String::from_utf8_lossy(&out.stderr),
                pair.ours.output(),
                pair.real.log_text()
            );
        }
        pair.steps.push("push.py".into());
        pair.compare();
        let families = scrape(pair.ours.addr);
        let jobs = families
            .iter()
            .find(|f| f.name() == "py_jobs_total")
            .expect("py_jobs_total exposed");
        // Only the gzipped group is left: py_batch was deleted.
        assert!(
            !jobs.metric.is_empty()
                && jobs
                    .metric
                    .iter()
                    .all(|m| labels_of(m).contains(&("job".into(), "py_gzip".into()))),
            "{:?}",
            jobs.metric
        );
    }

    if require(
        test,
        support::go_client::available(),
        support::go_client::WHAT,
    ) {
        for url in [&real_url, &ours_url] {
            support::go_client::push_ok(url, "go/job", &[("instance", "a/b")], "push", "protobuf");
            support::go_client::push_ok(url, "go_text", &[("zone", "")], "add", "text");
        }
        pair.steps.push("Go: Push (protobuf) and Add (text)".into());
        pair.compare();
        let ours = scrape(pair.ours.addr);
        let requests = ours
            .iter()
            .find(|f| f.name() == "go_client_requests_total")
            .expect("the Go client's counter");
        assert!(
            requests.metric.iter().any(|m| {
                let labels = labels_of(m);
                labels.contains(&("job".into(), "go/job".into()))
                    && labels.contains(&("instance".into(), "a/b".into()))
            }),
            "{:?}",
            requests.metric.iter().map(labels_of).collect::<Vec<_>>()
        );
        for url in [&real_url, &ours_url] {
            support::go_client::push_ok(
                url,
                "go/job",
                &[("instance", "a/b")],
                "delete",
                "protobuf",
            );
        }
        pair.steps.push("Go: Delete".into());
        pair.compare();
    }

    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), EVERY_TYPE).unwrap();
    for url in [&real_url, &ours_url] {
        for (method, format) in [("put", "protobuf"), ("post", "text")] {
            let out = Command::new(PUSHGATE)
                .args([
                    "push",
                    "--url",
                    url,
                    "--job",
                    "pushgate/cli",
                    "--label",
                    "instance=",
                    "--label",
                    "path=/x y",
                ])
                .args(["--method", method, "--format", format])
                .arg(file.path())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "pushgate push to {url}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    pair.steps
        .push("pushgate push: PUT protobuf, POST text".into());
    pair.compare();
    pair.compare_api();
}

/// A Prometheus process scraping pushgate every second, killed on drop.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(test: &str, target: SocketAddr) -> Option<Prometheus> {
        let bin = "/usr/bin/prometheus";
        if !require(test, Path::new(bin).is_file(), bin) {
            return None;
        }
        for _ in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let addr = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .unwrap();
            let config = dir.path().join("prometheus.yml");
            std::fs::write(
                &config,
                format!(
                    "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
                     scrape_configs:\n  - job_name: pushgate\n    honor_labels: true\n    \
                     static_configs:\n      - targets: ['{target}']\n"
                ),
            )
            .unwrap();
            let log = std::fs::File::create(dir.path().join("log")).unwrap();
            let child = Command::new(bin)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address={addr}"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap();
            let mut prometheus = Prometheus { child, addr, dir };
            if wait_until(WAIT, || {
                prometheus.child.try_wait().ok().flatten().is_some()
                    || matches!(http::request(addr, "GET", "/-/ready", &[], &[]), Ok(r) if r.status == 200)
            }) && prometheus.child.try_wait().ok().flatten().is_none()
            {
                return Some(prometheus);
            }
            eprintln!("Prometheus did not start:\n{}", prometheus.log());
        }
        panic!("could not start Prometheus");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// An instant query's result vector.
    fn query(&self, query: &str) -> Vec<Value> {
        let mut encoded = String::new();
        for b in query.bytes() {
            if b.is_ascii_alphanumeric() || b == b'_' {
                encoded.push(b as char);
            } else {
                encoded.push_str(&format!("%{b:02X}"));
            }
        }
        let r = request(
            self.addr,
            "GET",
            &format!("/api/v1/query?query={encoded}"),
            &[],
            &[],
        );
        assert_eq!(r.status, 200, "query {query}: {}", r.text());
        let json: Value = serde_json::from_slice(&r.body).unwrap();
        json["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn prometheus_scrapes_the_groups_and_a_deleted_group_disappears() {
    let test = "prometheus_scrapes_the_groups_and_a_deleted_group_disappears";
    let dir = tempfile::tempdir().unwrap();
    let gateway = pushgate(dir.path(), &[]);
    let Some(prometheus) = Prometheus::start(test, gateway.addr) else {
        return;
    };
    for (path, value) in [
        ("/metrics/job/backup/instance/db1", 1),
        ("/metrics/job/backup/instance/db2", 2),
    ] {
        let body = format!("# TYPE backup_files gauge\nbackup_files {value}\n");
        let r = request(gateway.addr, "PUT", path, &[TEXT], body.as_bytes());
        assert_eq!(r.status, 202, "{}", r.text());
    }
    let series = |prometheus: &Prometheus| {
        prometheus
            .query("backup_files")
            .iter()
            .map(|s| {
                let m = &s["metric"];
                // honor_labels: job is the group's, not the scrape job's.
                assert_eq!(m["job"], "backup", "{s}");
                (
                    m["instance"].as_str().unwrap().to_owned(),
                    s["value"][1].as_str().unwrap().to_owned(),
                )
            })
            .collect::<BTreeMap<_, _>>()
    };
    let both = BTreeMap::from([
        ("db1".to_owned(), "1".to_owned()),
        ("db2".to_owned(), "2".to_owned()),
    ]);
    assert!(
        wait_until(WAIT, || series(&prometheus) == both),
        "Prometheus has {:?}, not both groups:\n{}",
        series(&prometheus),
        prometheus.log()
    );
    // push_time_seconds comes with every group.
    assert_eq!(
        prometheus.query("push_time_seconds{job=\"backup\"}").len(),
        2
    );

    let r = request(
        gateway.addr,
        "DELETE",
        "/metrics/job/backup/instance/db1",
        &[],
        &[],
    );
    assert_eq!(r.status, 202);
    // The next scrape lacks the series: Prometheus marks it stale.
    let one = BTreeMap::from([("db2".to_owned(), "2".to_owned())]);
    assert!(
        wait_until(WAIT, || series(&prometheus) == one),
        "after the delete Prometheus has {:?}",
        series(&prometheus)
    );
    let up = prometheus.query("up{job=\"pushgate\"}");
    assert_eq!(up.len(), 1);
    assert_eq!(
        up[0]["value"][1],
        "1",
        "pushgate's scrape failed: {}",
        prometheus.log()
    );
}

#[test]
fn the_status_page_shows_every_group_and_deletes_one_in_chromium() {
    let test = "the_status_page_shows_every_group_and_deletes_one_in_chromium";
    let available =
        Path::new("/usr/bin/chromium").is_file() && Path::new("/usr/bin/chromedriver").is_file();
    if !require(test, available, "Debian's chromium and chromium-driver") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let gateway = pushgate(dir.path(), &[]);
    let groups = [
        ("/metrics/job/backup/instance/db1", "backup_files 1\n"),
        ("/metrics/job/backup/instance/db2", "backup_files 2\n"),
        // A value that needs base64 in the path, and one that is HTML.
        (
            "/metrics/job/nightly/path@base64/L3Zhci9sb2c",
            "# TYPE cleaned_bytes counter\ncleaned_bytes{note=\"<b>x</b>\"} 9\n",
        ),
    ];
    for (path, body) in groups {
        let r = request(gateway.addr, "PUT", path, &[TEXT], body.as_bytes());
        assert_eq!(r.status, 202, "{}", r.text());
    }
    // A refused push marks its group's failure time.
    let r = request(
        gateway.addr,
        "POST",
        groups[0].0,
        &[TEXT],
        b"# TYPE backup_files counter\nbackup_files 1\n",
    );
    assert_eq!(r.status, 400);

    let Some(browser) = Browser::start() else {
        require(test, false, support::browser::MISSING);
        return;
    };
    browser.goto(&format!("{}/", gateway.url()));
    let page = browser.page_source();
    for text in [
        "backup",
        "db1",
        "db2",
        "nightly",
        "/var/log",
        "backup_files",
        "cleaned_bytes",
        "&lt;b&gt;x&lt;/b&gt;",
    ] {
        assert!(page.contains(text), "the page lacks {text:?}:\n{page}");
    }
    // The markup in the label value is text, not an element.
    assert!(
        browser.find_all("b").is_empty(),
        "a label value became markup:\n{page}"
    );
    let buttons = browser.find_all("button[data-path]");
    let paths: BTreeSet<String> = buttons
        .iter()
        .filter_map(|b| b.attribute("data-path"))
        .collect();
    assert_eq!(
        paths,
        groups
            .iter()
            .map(|(p, _)| p.to_string())
            .collect::<BTreeSet<_>>(),
        "one delete button per group"
    );

    // Cancelling the confirmation deletes nothing.
    let target = groups[2].0;
    let button = |browser: &Browser| {
        browser
            .find_all("button[data-path]")
            .into_iter()
            .find(|b| b.attribute("data-path").as_deref() == Some(target))
            .map(|b| b.click())
    };
    button(&browser).expect("the group's delete button");
    let question = browser
        .dismiss_alert()
        .expect("a confirmation before deleting");
    assert!(question.contains("/var/log"), "{question}");
    thread::sleep(Duration::from_millis(300));
    assert!(names_exposed(gateway.addr).contains("cleaned_bytes"));

    button(&browser).expect("the group's delete button");
    assert!(
        browser.accept_alert().is_some(),
        "no confirmation before deleting"
    );
    assert!(
        wait_until(WAIT, || !names_exposed(gateway.addr)
            .contains("cleaned_bytes")),
        "the group is still exposed after its delete button"
    );
    // The page reloads without it.
    assert!(
        wait_until(WAIT, || !browser.page_source().contains("cleaned_bytes")),
        "the page still shows the deleted group"
    );
    assert!(browser.page_source().contains("db2"));
}

fn names_exposed(addr: SocketAddr) -> BTreeSet<String> {
    scrape(addr).iter().map(|f| f.name().to_owned()).collect()
}

/// The groups come back after a restart, from the snapshot written on
/// shutdown, and after a kill, from the one written on the interval.
#[test]
fn groups_survive_a_restart_and_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let body = |value: u32| format!("# HELP done Done.\n# TYPE done counter\ndone {value}\n");
    let mut gateway = pushgate(dir.path(), &[]);
    let r = request(
        gateway.addr,
        "PUT",
        "/metrics/job/a/instance@base64/eC95",
        &[TEXT],
        body(1).as_bytes(),
    );
    assert_eq!(r.status, 202);
    let before = groups_exposed(gateway.addr);
    #[cfg(unix)]
    {
        stop(&mut gateway);
        assert!(
            gateway.output().contains("saved 1 groups"),
            "{}",
            gateway.output()
        );
    }
    drop(gateway);

    let gateway = pushgate(dir.path(), &["--persistence-interval", "100ms"]);
    assert!(
        gateway.output().contains("loaded 1 group"),
        "{}",
        gateway.output()
    );
    // Push time included: the group is as it was.
    assert_eq!(groups_exposed(gateway.addr), before);

    let r = request(
        gateway.addr,
        "PUT",
        "/metrics/job/b",
        &[TEXT],
        body(2).as_bytes(),
    );
    assert_eq!(r.status, 202);
    let snapshot = dir.path().join("groups.snapshot");
    let saved = std::fs::metadata(&snapshot).unwrap().modified().unwrap();
    assert!(
        wait_until(WAIT, || std::fs::metadata(&snapshot)
            .unwrap()
            .modified()
            .unwrap()
            > saved),
        "no snapshot within the interval"
    );
    let expected = groups_exposed(gateway.addr);
    drop(gateway); // SIGKILL: nothing saved on the way out

    let gateway = pushgate(dir.path(), &[]);
    assert!(
        gateway.output().contains("loaded 2 groups"),
        "{}",
        gateway.output()
    );
    assert_eq!(groups_exposed(gateway.addr), expected);
}

/// What a gateway exposes of its groups, exactly (its own families left
/// out).
fn groups_exposed(addr: SocketAddr) -> String {
    let families: Vec<_> = scrape(addr)
        .into_iter()
        .filter(|f| !f.name().starts_with("pushgate_"))
        .collect();
    assert!(
        families.iter().any(|f| f.name() == "push_time_seconds"),
        "no group exposed"
    );
    format!("{families:#?}")
}

/// What the Pushgateway lacks, through `pushgate serve`'s flags and
/// `pushgate push --ttl`: aggregation, expiry, partial delete, a group
/// limit, wipe.
#[test]
fn the_extras_work_through_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = pushgate(
        dir.path(),
        &[
            "--aggregate",
            "/metrics/job/frontend",
            "--enable-partial-delete",
            "--enable-admin-api",
            "--max-groups",
            "4",
        ],
    );
    let value = |family: &str, job: &str| {
        scrape(gateway.addr)
            .into_iter()
            .find(|f| f.name() == family)
            .and_then(|f| {
                f.metric
                    .into_iter()
                    .find(|m| labels_of(m).contains(&("job".into(), job.into())))
            })
            .map(|m| {
                m.counter
                    .map_or_else(|| m.gauge.unwrap().value(), |c| c.value())
            })
    };
    let put = |method: &str, path: &str, body: &str| {
        request(gateway.addr, method, path, &[TEXT], body.as_bytes())
    };

    // Aggregation: counters add up, gauges keep the last push.
    for (count, temperature) in [(1, 20), (2, 25)] {
        let body = format!(
            "# TYPE served_total counter\nserved_total {count}\n# TYPE temperature gauge\ntemperature {temperature}\n"
        );
        assert_eq!(
            put("POST", "/metrics/job/frontend/instance/web1", &body).status,
            202
        );
    }
    assert_eq!(value("served_total", "frontend"), Some(3.0));
    assert_eq!(value("temperature", "frontend"), Some(25.0));
    // Outside the prefix, a push replaces.
    for count in [1, 2] {
        let body = format!("# TYPE served_total counter\nserved_total {count}\n");
        assert_eq!(put("POST", "/metrics/job/backend", &body).status, 202);
    }
    assert_eq!(value("served_total", "backend"), Some(2.0));

    // Expiry: a group pushed with a TTL is gone once it passes.
    let file = dir.path().join("short.prom");
    std::fs::write(&file, "# TYPE short_lived gauge\nshort_lived 1\n").unwrap();
    let out = Command::new(PUSHGATE)
        .args([
            "push",
            "--url",
            &gateway.url(),
            "--job",
            "short",
            "--ttl",
            "1s",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(value("short_lived", "short"), Some(1.0));
    assert!(
        wait_until(WAIT, || value("short_lived", "short").is_none()),
        "the group outlived its TTL"
    );

    // The group limit: 413, saying why.
    assert_eq!(
        put("PUT", "/metrics/job/batch/instance/1", "batch_done 1\n").status,
        202
    );
    assert_eq!(
        put("PUT", "/metrics/job/batch/instance/2", "batch_done 1\n").status,
        202
    );
    let refused = put("PUT", "/metrics/job/one/too/many", "batch_done 1\n");
    assert_eq!(refused.status, 413, "{}", refused.text());
    assert!(
        refused.text().contains("4 groups, its limit"),
        "{}",
        refused.text()
    );

    // Partial delete: every group of job batch.
    let deleted = request(gateway.addr, "DELETE", "/api/v1/groups?job=batch", &[], &[]);
    assert_eq!(deleted.status, 202, "{}", deleted.text());
    let json: Value = serde_json::from_slice(&deleted.body).unwrap();
    assert_eq!(json["data"]["deleted"], 2);
    assert_eq!(value("batch_done", "batch"), None);
    assert!(value("served_total", "frontend").is_some());

    // Wipe: nothing left.
    assert_eq!(
        request(gateway.addr, "PUT", "/api/v1/admin/wipe", &[], &[]).status,
        202
    );
    assert!(!names_exposed(gateway.addr).contains("push_time_seconds"));
}

/// `--persistence-file ""` turns persistence off, as the Pushgateway's
/// `--persistence.file=""` does: nothing is written, nothing loaded.
#[test]
fn an_empty_persistence_file_means_none() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(PUSHGATE);
    command
        .current_dir(dir.path())
        .args([
            "serve",
            "--mode",
            "pushgateway",
            "--listen",
            "127.0.0.1:0",
            "--persistence-file",
            "",
        ])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    let mut gateway = Server::start(command);
    assert!(
        gateway.output().contains("persistence off"),
        "{}",
        gateway.output()
    );
    assert_eq!(
        request(gateway.addr, "PUT", "/metrics/job/a", &[TEXT], b"up 1\n").status,
        202
    );
    #[cfg(unix)]
    {
        stop(&mut gateway);
    }
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "files written: {left:?}");
}

/// Stops `gateway` with SIGTERM and asserts that it exited cleanly.
#[cfg(unix)]
fn stop(gateway: &mut Server) {
    let status = Command::new("kill")
        .args(["-TERM", &gateway.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        gateway.wait_timeout(WAIT).is_some_and(|s| s.success()),
        "{}",
        gateway.output()
    );
}
