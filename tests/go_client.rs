//! The Go pusher of `support::go_client` (client_golang's `push` package,
//! as Debian packages it) against the real Prometheus Pushgateway
//! (Debian's `prometheus-pushgateway`): what it pushes arrives as the
//! program says, with `PUT`, `POST` and `DELETE`, as protobuf and as text,
//! under a grouping key whose `/` makes client_golang base64 it. This pins
//! the harness down before tests use it against pushgate.
//!
//! Outside CI a missing gateway or Go skips the tests; with `CI=true` they
//! fail.

mod support {
    pub mod go_client;
    pub mod http;
    pub mod process;
    pub mod pushgateway;
}

use std::time::{Duration, Instant};

use pushgate::model::MetricFamily;
use support::go_client;
use support::process::require;
use support::pushgateway::{self, Pushgateway};

/// The gateway and the Go pusher, or `None` when the test skips.
fn setup(test: &str) -> Option<Pushgateway> {
    let bin = pushgateway::binary_or_skip(test)?;
    if !require(test, go_client::available(), go_client::WHAT) {
        return None;
    }
    // Built before the gateway starts, so a cold build does not count
    // against anything of the gateway's.
    go_client::binary();
    Some(Pushgateway::start(&bin))
}

/// The scraped `go_client_*` families of job `job`, as text: labels sorted
/// by name (the gateway sorts them), grouping labels included.
fn scraped(gw: &Pushgateway, job: &str) -> String {
    let families: Vec<MetricFamily> = gw
        .scrape()
        .unwrap()
        .into_iter()
        .filter(|f| f.name().starts_with("go_client_"))
        .filter_map(|mut f| {
            f.metric.retain(|m| {
                m.label
                    .iter()
                    .any(|l| l.name() == "job" && l.value() == job)
            });
            (!f.metric.is_empty()).then_some(f)
        })
        .collect();
    let mut text = Vec::new();
    pushgate::codec::text::encode(&families, &mut text).unwrap();
    String::from_utf8(text).unwrap()
}

/// What the Go program pushes, as the gateway exposes it with the grouping
/// labels `labels` (written as in the text format, sorted by name; they
/// sort after the counter's `code`, and the text format writes `le` and
/// `quantile` last).
fn expected(labels: &str) -> String {
    let l = labels;
    format!(
        "# HELP go_client_duration_seconds How long a run took.
# TYPE go_client_duration_seconds histogram
go_client_duration_seconds_bucket{{{l},le=\"0.1\"}} 1
go_client_duration_seconds_bucket{{{l},le=\"0.5\"}} 2
go_client_duration_seconds_bucket{{{l},le=\"1\"}} 3
go_client_duration_seconds_bucket{{{l},le=\"+Inf\"}} 4
go_client_duration_seconds_sum{{{l}}} 3
go_client_duration_seconds_count{{{l}}} 4
# HELP go_client_last_run_seconds When the last run finished.
# TYPE go_client_last_run_seconds gauge
go_client_last_run_seconds{{{l}}} 1.7000000005e+09
# HELP go_client_latency_seconds Latency of a request.
# TYPE go_client_latency_seconds summary
go_client_latency_seconds{{{l},quantile=\"0.5\"}} 2
go_client_latency_seconds{{{l},quantile=\"0.9\"}} 3
go_client_latency_seconds_sum{{{l}}} 6
go_client_latency_seconds_count{{{l}}} 3
# HELP go_client_requests_total Requests handled, by status code.
# TYPE go_client_requests_total counter
go_client_requests_total{{code=\"200\",{l}}} 3
go_client_requests_total{{code=\"500\",{l}}} 1
"
    )
}

/// Scrapes until job `job` has nothing left, or 10 s passed: the
/// Pushgateway answers a `DELETE` when it is queued and applies it after.
fn scrape_until_gone(gw: &Pushgateway, job: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = scraped(gw, job);
        if text.is_empty() || Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn push_add_delete_as_protobuf_and_text() {
    let Some(gw) = setup("push_add_delete_as_protobuf_and_text") else {
        return;
    };
    let url = format!("http://{}", gw.addr);
    // `/` in a value: client_golang sends `path@base64/L3Zhci90bXA`. A
    // space: it sends `db+1` (url.QueryEscape), which the Pushgateway
    // takes as it is, a `+`, not a space.
    let key = [("path", "/var/tmp"), ("instance", "db 1")];
    let labels = "instance=\"db+1\",job=\"go_put\",path=\"/var/tmp\"";

    // PUT, delimited protobuf (client_golang's default).
    go_client::push_ok(&url, "go_put", &key, "push", "protobuf");
    assert_eq!(scraped(&gw, "go_put"), expected(labels), "after PUT");

    // POST as text, to another job: the same values arrive, and the
    // gateway adds `instance=""` to a key without one.
    go_client::push_ok(&url, "go_post", &[("path", "/var/tmp")], "add", "text");
    let post_labels = "instance=\"\",job=\"go_post\",path=\"/var/tmp\"";
    assert_eq!(scraped(&gw, "go_post"), expected(post_labels), "after POST");

    // DELETE of the first group; the second stays.
    go_client::push_ok(&url, "go_put", &key, "delete", "protobuf");
    assert_eq!(scrape_until_gone(&gw, "go_put"), "", "after DELETE");
    assert_eq!(
        scraped(&gw, "go_post"),
        expected(post_labels),
        "the other group"
    );
}

#[test]
fn refused_push_exits_1_with_status_and_body() {
    let Some(gw) = setup("refused_push_exits_1_with_status_and_body") else {
        return;
    };
    // No such route on the Pushgateway: 404 with a body of its own.
    let url = format!("http://{}/nope", gw.addr);
    let out = go_client::push(&url, "go_refused", &[], "push", "protobuf");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("unexpected status code 404") && stderr.contains("404 page not found"),
        "client_golang's error names the status and the body: {stderr}"
    );
}
