//! End to end over TCP: real clients (PyPI's `prometheus-client`, curl, raw
//! sockets) push to a gateway served by `pushgate::server::Server` (the
//! loop `pushgate serve` runs) on a loopback port; the test reads what
//! arrived from the gateway's `MemoryStore`.
//!
//! Python and curl are required in CI (`CI=true`); elsewhere a test that
//! lacks one skips, saying so.

mod support {
    pub mod http;
    pub mod inproc;
    pub mod process;
}

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pushgate::codec::{self, Limits};
use pushgate::grouping::PushMethod;
use pushgate::model::{LabelPair, Metric, MetricFamily, MetricType};
use pushgate::store::Push;
use pushgate::Format;

use support::http;
use support::inproc::Gateway;
use support::process::{require, runs};

const GOOD: &[u8] = b"# TYPE jobs_total counter\njobs_total{queue=\"a\"} 3\n";

const PROTOBUF: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn decode(message: &Push) -> Vec<MetricFamily> {
    assert_eq!(message.format, Format::Text);
    message.families.clone()
}

fn grouping(message: &Push) -> Vec<(&str, &str)> {
    message
        .grouping
        .iter()
        .map(|l| (l.name(), l.value()))
        .collect()
}

fn label<'a>(metric: &'a Metric, name: &str) -> Option<&'a str> {
    metric
        .label
        .iter()
        .find(|l| l.name() == name)
        .map(LabelPair::value)
}

/// Every metric of every family carries the grouping labels and a receive
/// timestamp within `[from, to]`.
fn assert_stamped_and_grouped(message: &Push, families: &[MetricFamily], from: i64, to: i64) {
    for family in families {
        for metric in &family.metric {
            let ts = metric
                .timestamp_ms
                .unwrap_or_else(|| panic!("{} has no timestamp", family.name()));
            assert!(
                (from..=to).contains(&ts),
                "{}: timestamp {ts} not in [{from}, {to}]",
                family.name()
            );
            for (name, value) in grouping(message) {
                assert_eq!(
                    label(metric, name),
                    Some(value),
                    "{}: grouping label {name}",
                    family.name()
                );
            }
        }
    }
}

/// Pushes `GOOD` and expects it stored: the gateway still serves.
fn assert_still_serving(gateway: &Gateway) {
    let r = http::request(gateway.addr, "POST", "/metrics/job/after", &[], GOOD).unwrap();
    assert_eq!(r.status, 202, "{}", r.text());
    let stored = gateway.store.take();
    assert_eq!(stored.len(), 1);
    assert_eq!(grouping(&stored[0]), [("job", "after")]);
}

/// Sends a request that must be refused with `status` and a body
/// containing `message`; then nothing is stored, and the gateway still
/// takes a good push.
fn assert_refused(
    gateway: &Gateway,
    method: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    status: u16,
    message: &str,
) -> http::Response {
    let r = http::request(gateway.addr, method, "/metrics/job/bad", headers, body).unwrap();
    let text = r.text();
    assert_eq!(r.status, status, "{method} {headers:?}: {text}");
    assert!(text.contains(message), "expected {message:?} in {text:?}");
    assert!(
        text.ends_with('\n') && text.lines().count() == 1,
        "{text:?}"
    );
    assert!(gateway.store.is_empty(), "stored after {status}: {text}");
    assert_still_serving(gateway);
    r
}

fn temp_file(name: &str, data: &[u8]) -> PathBuf {
    let path = std::env::temp_dir().join(format!("pushgate-e2e-{}-{name}", std::process::id()));
    std::fs::write(&path, data).unwrap();
    path
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// `curl ARGS... URL`: the status and the body.
fn curl(args: &[&str], url: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--write-out", "\n%{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .expect("running curl");
    assert!(out.status.success(), "curl {args:?}: {out:?}");
    let out = String::from_utf8(out.stdout).unwrap();
    let (body, code) = out.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), body.to_owned())
}

fn curl_or_skip(test: &str) -> bool {
    require(test, runs("curl", &["--version"]), "curl")
}

// ---------------------------------------------------------------------
// Clients

#[test]
fn python_prometheus_client() {
    let test = "python_prometheus_client";
    if !require(
        test,
        runs("python3", &["-c", "import prometheus_client"]),
        "python3 with prometheus-client (pip install prometheus-client)",
    ) {
        return;
    }
    // Snappy needs python-snappy; CI installs it, elsewhere it is optional.
    let snappy = support::process::ci() || runs("python3", &["-c", "import snappy"]);
    let gateway = Gateway::start();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/push.py");
    let from = now_ms();
    let mut command = Command::new("python3");
    command.arg(&script).arg(gateway.url()).arg("gzip");
    if snappy {
        command.arg("snappy");
    } else {
        eprintln!("{test}: python-snappy missing, snappy push not tried");
    }
    let out = command.output().unwrap();
    let to = now_ms();
    assert!(
        out.status.success(),
        "push.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let messages = gateway.store.pushes();
    let mut expected = vec![
        (
            PushMethod::Put,
            vec![("job", "py_batch"), ("instance", "host/1"), ("zone", "eu")],
        ),
        (
            PushMethod::Post,
            vec![("job", "py_batch"), ("instance", "host/1"), ("zone", "eu")],
        ),
        (PushMethod::Post, vec![("job", "py_gzip")]),
    ];
    if snappy {
        expected.push((PushMethod::Post, vec![("job", "py_snappy")]));
    }
    assert_eq!(messages.len(), expected.len() + 1);
    // Last, delete_from_gateway: a DELETE of the py_batch group.
    let (delete, messages) = messages.split_last().unwrap();
    assert_eq!(delete.method, PushMethod::Delete);
    assert_eq!(grouping(delete), expected[0].1);
    assert!(delete.families.is_empty());
    for (message, (method, key)) in messages.iter().zip(&expected) {
        assert_eq!(message.method, *method);
        // instance arrived as instance@base64/aG9zdC8x and was decoded.
        assert_eq!(grouping(message), *key);
        let families = decode(message);
        assert_stamped_and_grouped(message, &families, from, to);
        let family = |name: &str| {
            families
                .iter()
                .find(|f| f.name() == name)
                .unwrap_or_else(|| panic!("no family {name}"))
        };
        let jobs = family("py_jobs_total");
        assert_eq!(jobs.metric_type(), MetricType::Counter);
        assert_eq!(label(&jobs.metric[0], "queue"), Some("a"));
        assert_eq!(jobs.metric[0].counter.as_ref().unwrap().value, Some(3.0));
        let last = family("py_last_success_seconds");
        assert_eq!(last.metric_type(), MetricType::Gauge);
        assert_eq!(last.metric[0].gauge.as_ref().unwrap().value, Some(1.7e9));
        let duration = family("py_duration_seconds");
        assert_eq!(duration.metric_type(), MetricType::Histogram);
        let histogram = duration.metric[0].histogram.as_ref().unwrap();
        assert_eq!(histogram.sample_count, Some(2));
        assert_eq!(histogram.sample_sum, Some(5.5));
        assert_eq!(histogram.bucket.len(), 4);
        let size = family("py_size_bytes");
        assert_eq!(size.metric_type(), MetricType::Summary);
        let summary = size.metric[0].summary.as_ref().unwrap();
        assert_eq!(
            (summary.sample_count, summary.sample_sum),
            (Some(1), Some(100.0))
        );
    }
}

#[test]
fn curl_text_file() {
    if !curl_or_skip("curl_text_file") {
        return;
    }
    let gateway = Gateway::start();
    let text = b"# HELP backup_last_success_seconds Last successful backup.\n\
                 # TYPE backup_last_success_seconds gauge\n\
                 backup_last_success_seconds 1.7e+09\n\
                 # TYPE backup_bytes_total counter\n\
                 backup_bytes_total{disk=\"sda\"} 123456\n\
                 backup_bytes_total{disk=\"sdb\"} 654321\n";
    let file = temp_file("push.txt", text);
    let data = format!("@{}", file.display());
    let from = now_ms();
    let (status, body) = curl(
        &["--data-binary", &data],
        &format!("{}/metrics/job/backup/instance/db1", gateway.url()),
    );
    let to = now_ms();
    assert_eq!(
        (status, body.as_str()),
        (202, "stored 2 families, 3 series\n")
    );
    // The same file over HTTP/2 (prior knowledge), to the PUT method.
    let (status, _) = curl(
        &[
            "--http2-prior-knowledge",
            "-X",
            "PUT",
            "--data-binary",
            &data,
        ],
        &format!("{}/metrics/job/backup", gateway.url()),
    );
    assert_eq!(status, 202);
    std::fs::remove_file(&file).unwrap();

    let messages = gateway.store.pushes();
    assert_eq!(messages.len(), 2);
    assert_eq!(
        grouping(&messages[0]),
        [("job", "backup"), ("instance", "db1")]
    );
    assert_eq!(messages[0].method, PushMethod::Post);
    let families = decode(&messages[0]);
    assert_stamped_and_grouped(&messages[0], &families, from, to);
    let names: Vec<_> = families.iter().map(MetricFamily::name).collect();
    assert_eq!(names, ["backup_last_success_seconds", "backup_bytes_total"]);
    assert_eq!(families[1].metric.len(), 2);
    assert_eq!(messages[1].method, PushMethod::Put);
    assert_eq!(grouping(&messages[1]), [("job", "backup")]);
}

#[test]
fn curl_gzip_file() {
    if !curl_or_skip("curl_gzip_file") {
        return;
    }
    let gateway = Gateway::start();
    let file = temp_file("push.txt.gz", &gzip(GOOD));
    let data = format!("@{}", file.display());
    let (status, body) = curl(
        &["-H", "Content-Encoding: gzip", "--data-binary", &data],
        &format!("{}/metrics/job/zipped", gateway.url()),
    );
    std::fs::remove_file(&file).unwrap();
    assert_eq!(
        (status, body.as_str()),
        (202, "stored 1 families, 1 series\n")
    );
    let messages = gateway.store.pushes();
    assert_eq!(messages.len(), 1);
    let families = decode(&messages[0]);
    assert_eq!(families[0].name(), "jobs_total");
    assert_eq!(label(&families[0].metric[0], "job"), Some("zipped"));
}

// ---------------------------------------------------------------------
// Bad input: each refused with its status and message, nothing stored,
// the gateway serving on.

#[test]
fn oversize_bodies_are_413() {
    let gateway = Gateway::with(|b| b.max_bytes(1000));
    // Declared too large: refused before the body is read. (The body is not
    // sent at all: the answer comes from the headers.)
    let r = raw(
        &gateway,
        b"POST /metrics/job/big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
          Content-Length: 1001\r\n\r\na 1\n",
    );
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(
        r.text(),
        "request body of 1001 bytes (Content-Length) exceeds the limit of 1000 bytes\n"
    );
    assert!(gateway.store.is_empty());
    assert_still_serving(&gateway);

    // Chunked, no length: refused once more than the limit has been read.
    let mut request = b"POST /metrics/job/big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
          Transfer-Encoding: chunked\r\n\r\n"
        .to_vec();
    for _ in 0..3 {
        request.extend_from_slice(format!("{:x}\r\n", 600).as_bytes());
        request.extend_from_slice(&b"#".repeat(599));
        request.extend_from_slice(b"\n\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let r = raw(&gateway, &request);
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(r.text(), "request body exceeds the limit of 1000 bytes\n");
    assert!(gateway.store.is_empty());
    assert_still_serving(&gateway);
}

#[test]
fn compression_bombs_are_413() {
    let gateway = Gateway::start();
    // 16 MiB of comment lines, about 16 KiB compressed.
    let mut text = Vec::with_capacity(16 << 20);
    while text.len() < 16 << 20 {
        text.extend_from_slice(&[b'#'; 1023]);
        text.push(b'\n');
    }
    let bomb = gzip(&text);
    assert!(bomb.len() < 200_000, "{}", bomb.len());
    assert_refused(
        &gateway,
        "POST",
        &[("Content-Encoding", "gzip")],
        &bomb,
        413,
        "gzip-decompressed request body exceeds the limit of 1024000 bytes",
    );
    let bomb = zstd::encode_all(&text[..], 3).unwrap();
    assert_refused(
        &gateway,
        "POST",
        &[("Content-Encoding", "zstd")],
        &bomb,
        413,
        "zstd-decompressed request body exceeds the limit of 1024000 bytes",
    );
    // A corrupt stream is a 400.
    assert_refused(
        &gateway,
        "POST",
        &[("Content-Encoding", "gzip")],
        &gzip(GOOD)[..20],
        400,
        "invalid gzip body",
    );
}

#[test]
fn bad_protobuf_is_400() {
    let gateway = Gateway::start();
    let families = codec::decode(Format::Text, GOOD.into(), &Limits::default()).unwrap();
    let mut body = Vec::new();
    codec::encode(Format::Protobuf, &families, &mut body).unwrap();
    // Sanity: whole, it is stored.
    let r = http::request(
        gateway.addr,
        "POST",
        "/metrics/job/pb",
        &[("Content-Type", PROTOBUF)],
        &body,
    )
    .unwrap();
    assert_eq!(r.status, 202, "{}", r.text());
    gateway.store.take();

    let truncated = &body[..body.len() - 3];
    assert_refused(
        &gateway,
        "POST",
        &[("Content-Type", PROTOBUF)],
        truncated,
        400,
        "invalid protobuf body, record 0 at byte 0: record length",
    );
    // A length prefix of 2^62: refused before anything that size exists.
    let huge = b"\x80\x80\x80\x80\x80\x80\x80\x80\x40\x0a\x01a";
    assert_refused(
        &gateway,
        "POST",
        &[("Content-Type", PROTOBUF)],
        huge,
        400,
        "record length 4611686018427387904 exceeds the limit of 1024000 bytes",
    );
}

#[test]
fn bad_text_is_400_with_the_line() {
    let gateway = Gateway::start();
    let cases: &[(&[u8], &str)] = &[
        (b"a 1\nb{ 2\n", "invalid text body, line 2: "),
        (
            b"# TYPE a counter\na 1\na{x=\"1\" 2\n",
            "invalid text body, line 3: ",
        ),
        (
            b"a 1\n\nb x\n",
            "invalid text body, line 3: expected float as value",
        ),
        (
            b"# TYPE a nonsense\n",
            "invalid text body, line 1: unknown metric type",
        ),
        (
            b"# HELP a x\n# HELP a y\na 1\n",
            "invalid text body, line 2: second HELP line",
        ),
        (b"a 1", "invalid text body, line 1: unexpected end of input"),
    ];
    for (body, message) in cases {
        assert_refused(&gateway, "POST", &[], body, 400, message);
    }
}

#[test]
fn unknown_content_type_and_encoding_are_415() {
    let gateway = Gateway::start();
    assert_refused(
        &gateway,
        "POST",
        &[("Content-Type", "image/png")],
        GOOD,
        415,
        "unsupported content type \"image/png\"",
    );
    assert_refused(
        &gateway,
        "POST",
        &[("Content-Encoding", "br")],
        GOOD,
        415,
        "unsupported content encoding \"br\"",
    );
}

#[test]
fn timestamps_are_400() {
    let gateway = Gateway::start();
    assert_refused(
        &gateway,
        "POST",
        &[],
        b"# TYPE a gauge\na 1 1700000000000\n",
        400,
        "pushed metrics must not have timestamp",
    );
}

#[test]
fn wrong_methods_are_405_with_allow() {
    let gateway = Gateway::start();
    for method in ["GET", "PATCH", "OPTIONS"] {
        let r = assert_refused(
            &gateway,
            method,
            &[],
            b"",
            405,
            &format!("method {method} not allowed: push with POST or PUT, delete with DELETE"),
        );
        assert_eq!(r.header("allow"), Some("POST, PUT, DELETE"));
    }
}

#[test]
fn a_body_stalled_past_the_timeout_is_408() {
    let gateway = Gateway::with(|b| b.timeout(Duration::from_millis(300)));
    let mut stream = TcpStream::connect(gateway.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let start = Instant::now();
    stream
        .write_all(
            b"POST /metrics/job/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n# TYPE a gauge\n",
        )
        .unwrap();
    // ... and nothing more.
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let elapsed = start.elapsed();
    let r = http::parse_response(&raw).unwrap();
    assert_eq!(r.status, 408, "{}", r.text());
    assert_eq!(r.text(), "request body not received within 0.3s\n");
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    assert!(gateway.store.is_empty());
    assert_still_serving(&gateway);
}

/// Sends raw bytes (a request saying `Connection: close`) and reads the
/// answer until the server closes.
fn raw(gateway: &Gateway, request: &[u8]) -> http::Response {
    let mut stream = TcpStream::connect(gateway.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    http::parse_response(&raw).unwrap()
}
