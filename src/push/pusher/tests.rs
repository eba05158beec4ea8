//! The pusher against a scripted tower client: what it sends, when it
//! retries, and how it fails. Time is tokio's paused clock, so waits and
//! timeouts are exact and instant.

use std::collections::VecDeque;
use std::io::Read as _;
use std::sync::{Arc, Mutex};

use http::HeaderMap;
use http_body_util::BodyExt;

use super::*;
use crate::codec::Limits;
use crate::format::{OPENMETRICS_CONTENT_TYPE, PROTOBUF_CONTENT_TYPE, TEXT_CONTENT_TYPE};
use crate::model::{Counter, Gauge, Metric, MetricType};
use crate::push::GatherError;

/// What the scripted client does with one request.
#[derive(Clone, Debug)]
enum Reply {
    /// Answers this status and body.
    Status(u16, &'static str),
    /// Answers this status with `Retry-After: <value>`.
    RetryAfter(u16, String),
    /// Fails as a refused connection would.
    Refused,
    /// Answers 202 after this long.
    Slow(Duration),
}

/// One request the client received.
#[derive(Debug)]
struct Seen {
    at: Instant,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// What [`scripted`] returns: a client service, as a pusher takes it.
trait Scripted:
    Service<Request<Full<Bytes>>, Response = Response<Full<Bytes>>, Error = std::io::Error>
    + Clone
    + Send
    + Sync
{
}

impl<T> Scripted for T where
    T: Service<Request<Full<Bytes>>, Response = Response<Full<Bytes>>, Error = std::io::Error>
        + Clone
        + Send
        + Sync
{
}

/// A client that plays `script` (its last reply again once it runs out)
/// and logs every request.
fn scripted(script: Vec<Reply>) -> (impl Scripted, Log) {
    let log = Log::default();
    let script = Arc::new(Mutex::new(VecDeque::from(script)));
    let seen = log.clone();
    let client = tower::service_fn(move |request: Request<Full<Bytes>>| {
        let (log, script) = (seen.clone(), script.clone());
        async move {
            let (parts, body) = request.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            log.lock().unwrap().push(Seen {
                at: Instant::now(),
                method: parts.method,
                uri: parts.uri,
                headers: parts.headers,
                body,
            });
            let reply = {
                let mut script = script.lock().unwrap();
                if script.len() > 1 {
                    script.pop_front().unwrap()
                } else {
                    script.front().cloned().expect("an empty script")
                }
            };
            let respond = |status: u16, body: &'static str| {
                Response::builder()
                    .status(status)
                    .body(Full::new(Bytes::from_static(body.as_bytes())))
                    .unwrap()
            };
            match reply {
                Reply::Status(status, body) => Ok(respond(status, body)),
                Reply::RetryAfter(status, after) => {
                    let mut response = respond(status, "busy\n");
                    response
                        .headers_mut()
                        .insert(RETRY_AFTER, after.parse().unwrap());
                    Ok(response)
                }
                Reply::Refused => Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionRefused,
                    "connection refused",
                )),
                Reply::Slow(delay) => {
                    tokio::time::sleep(delay).await;
                    Ok(respond(202, ""))
                }
            }
        }
    });
    (client, log)
}

fn families() -> Vec<MetricFamily> {
    let mut jobs = MetricFamily {
        name: Some("jobs_total".into()),
        help: Some("Jobs run.".into()),
        ..Default::default()
    };
    jobs.set_metric_type(MetricType::Counter);
    jobs.metric.push(Metric {
        label: vec![LabelPair::new("queue", "a")],
        counter: Some(Counter {
            value: Some(3.0),
            ..Default::default()
        }),
        ..Default::default()
    });
    let mut up = MetricFamily {
        name: Some("up".into()),
        help: Some("Up.".into()),
        ..Default::default()
    };
    up.set_metric_type(MetricType::Gauge);
    up.metric.push(Metric {
        gauge: Some(Gauge { value: Some(1.0) }),
        ..Default::default()
    });
    vec![jobs, up]
}

fn gatherer(
    families: Vec<MetricFamily>,
) -> impl Fn() -> Result<Vec<MetricFamily>, std::io::Error> + Send + Sync {
    move || Ok(families.clone())
}

/// No jitter, so that the waits are exact.
fn exact_retry(attempts: u32) -> Retry {
    Retry::attempts(attempts)
        .base_delay(Duration::from_millis(100))
        .max_delay(Duration::from_secs(2))
        .jitter(0.0)
}

fn pusher_with<G: Gatherer>(
    gatherer: G,
    script: Vec<Reply>,
    configure: impl FnOnce(PusherBuilder<G>) -> PusherBuilder<G>,
) -> (Pusher<G, impl Scripted>, Log) {
    let (client, log) = scripted(script);
    let builder = configure(Pusher::builder("http://gw:9091", gatherer).job("batch"));
    (builder.client(client).build().unwrap(), log)
}

fn seen(log: &Log) -> std::sync::MutexGuard<'_, Vec<Seen>> {
    log.lock().unwrap()
}

// InfluxDB telemetry's pusher tests.

#[tokio::test(start_paused = true)]
async fn no_families_means_no_request() {
    let (pusher, log) = pusher_with(gatherer(vec![]), vec![Reply::Status(202, "")], |b| b);
    let pushed = pusher.push().await.unwrap();
    assert_eq!(
        pushed,
        Pushed {
            status: None,
            families: 0,
            bytes: 0,
            attempts: 0
        }
    );
    assert!(seen(&log).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_gather_error_is_an_error_and_sends_nothing() {
    let failing = || -> Result<Vec<MetricFamily>, std::io::Error> {
        Err(std::io::Error::other("registry broken"))
    };
    let (pusher, log) = pusher_with(failing, vec![Reply::Status(202, "")], |b| b);
    let error = pusher.push().await.unwrap_err();
    assert!(matches!(error, PushError::Gather(_)), "{error:?}");
    assert_eq!(
        error.to_string(),
        "gathering metrics failed: registry broken"
    );
    assert!(seen(&log).is_empty());
}

/// A gatherer that takes a minute.
struct Slow;

impl Gatherer for Slow {
    async fn gather(&self) -> Result<Vec<MetricFamily>, GatherError> {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok(families())
    }
}

#[tokio::test(start_paused = true)]
async fn the_timeout_bounds_gathering() {
    let (pusher, log) = pusher_with(Slow, vec![Reply::Status(202, "")], |b| b);
    let start = Instant::now();
    let error = pusher.push().await.unwrap_err();
    assert_eq!(start.elapsed(), crate::DEFAULT_TIMEOUT);
    assert!(
        matches!(error, PushError::Timeout { timeout, attempts: 0 } if timeout == crate::DEFAULT_TIMEOUT),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "push timed out after 10s while gathering metrics"
    );
    assert!(seen(&log).is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_timeout_bounds_a_slow_server() {
    let (pusher, log) = pusher_with(
        gatherer(families()),
        vec![Reply::Slow(Duration::from_secs(30))],
        |b| b.timeout(Duration::from_secs(2)),
    );
    let start = Instant::now();
    let error = pusher.push().await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    assert!(
        matches!(error, PushError::Timeout { attempts: 1, .. }),
        "{error:?}"
    );
    assert_eq!(seen(&log).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_future_cancels_the_push() {
    let (pusher, log) = pusher_with(
        gatherer(families()),
        vec![Reply::Slow(Duration::from_secs(5))],
        |b| b,
    );
    let cut = tokio::time::timeout(Duration::from_secs(1), pusher.push()).await;
    assert!(cut.is_err());
    // The request had gone out; nothing waits for its answer any more.
    assert_eq!(seen(&log).len(), 1);
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(seen(&log).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_refusal_carries_the_status_and_the_start_of_the_body() {
    let long: &'static str = Box::leak(format!("{}\n", "é".repeat(400)).into_boxed_str());
    let (pusher, _) = pusher_with(gatherer(families()), vec![Reply::Status(400, long)], |b| b);
    let error = pusher.push().await.unwrap_err();
    let PushError::Status {
        method,
        url,
        status,
        body,
        attempts,
        ..
    } = &error
    else {
        panic!("{error:?}")
    };
    assert_eq!(
        (method, url.as_str(), *status, *attempts),
        (
            &Method::POST,
            "http://gw:9091/metrics/job/batch",
            StatusCode::BAD_REQUEST,
            1
        )
    );
    // 512 bytes are 256 two-byte characters: none is cut in half.
    assert_eq!(body, &"é".repeat(256));
    assert_eq!(error.status(), Some(StatusCode::BAD_REQUEST));

    let (pusher, _) = pusher_with(
        gatherer(families()),
        vec![Reply::Status(
            400,
            "pushed metrics must not have timestamp\n",
        )],
        |b| b,
    );
    assert_eq!(
        pusher.put().await.unwrap_err().to_string(),
        "PUT http://gw:9091/metrics/job/batch answered 400 Bad Request: pushed metrics must not have timestamp"
    );
}

#[tokio::test(start_paused = true)]
async fn any_2xx_is_success() {
    for status in [200, 201, 202, 204] {
        let (pusher, _) = pusher_with(
            gatherer(families()),
            vec![Reply::Status(status, "ok")],
            |b| b,
        );
        let pushed = pusher.push().await.unwrap();
        assert_eq!(pushed.status.map(|s| s.as_u16()), Some(status));
        assert_eq!((pushed.families, pushed.attempts), (2, 1));
    }
}

#[tokio::test(start_paused = true)]
async fn the_body_is_the_delimited_protobuf_of_the_families() {
    let (pusher, log) = pusher_with(gatherer(families()), vec![Reply::Status(202, "")], |b| b);
    let pushed = pusher.push().await.unwrap();
    let log = seen(&log);
    let request = &log[0];
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.uri, "http://gw:9091/metrics/job/batch");
    assert_eq!(request.headers[CONTENT_TYPE], PROTOBUF_CONTENT_TYPE);
    assert_eq!(
        request.headers[USER_AGENT],
        concat!("pushgate/", env!("CARGO_PKG_VERSION"))
    );
    assert!(request.headers.get(CONTENT_ENCODING).is_none());
    assert_eq!(pushed.bytes, request.body.len());
    let decoded =
        codec::decode(Format::Protobuf, request.body.clone(), &Limits::default()).unwrap();
    assert_eq!(decoded, families());
}

#[tokio::test(start_paused = true)]
async fn text_and_openmetrics_can_be_chosen() {
    for (format, content_type) in [
        (Format::Text, TEXT_CONTENT_TYPE),
        (Format::OpenMetrics, OPENMETRICS_CONTENT_TYPE),
    ] {
        let (pusher, log) = pusher_with(gatherer(families()), vec![Reply::Status(202, "")], |b| {
            b.format(format)
        });
        pusher.push().await.unwrap();
        let log = seen(&log);
        assert_eq!(log[0].headers[CONTENT_TYPE], content_type);
        let decoded = codec::decode(format, log[0].body.clone(), &Limits::default()).unwrap();
        let names: Vec<&str> = decoded.iter().map(|f| f.name()).collect();
        assert_eq!(names, ["jobs_total", "up"], "{format}");
        assert_eq!(
            decoded[0].metric[0].counter.as_ref().unwrap().value,
            Some(3.0)
        );
    }
}

#[tokio::test(start_paused = true)]
async fn put_and_delete_use_their_methods_on_the_group_url() {
    let (pusher, log) = pusher_with(gatherer(families()), vec![Reply::Status(200, "")], |b| {
        b.grouping("instance", "db 1").grouping("path", "/var/tmp")
    });
    let url = "http://gw:9091/metrics/job/batch/instance@base64/ZGIgMQ/path@base64/L3Zhci90bXA";
    assert_eq!(pusher.url(), url);
    pusher.put().await.unwrap();
    let deleted = pusher.delete().await.unwrap();
    assert_eq!(
        deleted,
        Deleted {
            status: StatusCode::OK,
            attempts: 1
        }
    );
    let log = seen(&log);
    assert_eq!(log[0].method, Method::PUT);
    assert_eq!(log[0].uri, url);
    assert!(!log[0].body.is_empty());
    assert_eq!(log[1].method, Method::DELETE);
    assert_eq!(log[1].uri, url);
    assert!(log[1].body.is_empty());
    assert!(log[1].headers.get(CONTENT_TYPE).is_none());
}

#[tokio::test(start_paused = true)]
async fn delete_does_not_gather() {
    let (pusher, log) = pusher_with(Slow, vec![Reply::Status(202, "")], |b| b);
    let start = Instant::now();
    pusher.delete().await.unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(seen(&log).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn gzip_compresses_the_body() {
    let (pusher, log) = pusher_with(gatherer(families()), vec![Reply::Status(202, "")], |b| {
        b.gzip(true)
    });
    let pushed = pusher.push().await.unwrap();
    let log = seen(&log);
    assert_eq!(log[0].headers[CONTENT_ENCODING], "gzip");
    assert_eq!(log[0].headers[CONTENT_TYPE], PROTOBUF_CONTENT_TYPE);
    assert_eq!(pushed.bytes, log[0].body.len());
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&log[0].body[..])
        .read_to_end(&mut plain)
        .unwrap();
    let mut want = Vec::new();
    codec::encode(Format::Protobuf, &families(), &mut want).unwrap();
    assert_eq!(plain, want);
}

#[tokio::test(start_paused = true)]
async fn auth_helpers_and_headers() {
    let (pusher, log) = pusher_with(gatherer(families()), vec![Reply::Status(202, "")], |b| {
        b.basic_auth("user", "pa:ss").header("X-Tenant", "team-a")
    });
    pusher.push().await.unwrap();
    {
        let log = seen(&log);
        let auth = &log[0].headers[AUTHORIZATION];
        // base64("user:pa:ss")
        assert_eq!(auth, "Basic dXNlcjpwYTpzcw==");
        assert!(auth.is_sensitive());
        assert_eq!(log[0].headers["x-tenant"], "team-a");
    }

    let (pusher, log) = pusher_with(gatherer(families()), vec![Reply::Status(202, "")], |b| {
        b.bearer_token("t0k3n").header("user-agent", "nightly/2")
    });
    pusher.delete().await.unwrap();
    let log = seen(&log);
    assert_eq!(log[0].headers[AUTHORIZATION], "Bearer t0k3n");
    assert_eq!(log[0].headers[USER_AGENT], "nightly/2");
    // The credentials stay out of Debug output.
    assert!(!format!("{pusher:?}").contains("t0k3n"));
}

#[tokio::test(start_paused = true)]
async fn a_header_set_later_replaces_the_auth_helper() {
    let (pusher, log) = pusher_with(gatherer(families()), vec![Reply::Status(202, "")], |b| {
        b.basic_auth("a", "b").header("authorization", "Custom x")
    });
    pusher.push().await.unwrap();
    let log = seen(&log);
    assert_eq!(
        log[0]
            .headers
            .get_all(AUTHORIZATION)
            .iter()
            .collect::<Vec<_>>(),
        ["Custom x"]
    );
}

#[tokio::test(start_paused = true)]
async fn metrics_with_a_grouping_label_are_refused() {
    let mut with_job = families();
    with_job[1].metric[0]
        .label
        .push(LabelPair::new("job", "other"));
    let (pusher, log) = pusher_with(gatherer(with_job), vec![Reply::Status(202, "")], |b| b);
    let error = pusher.push().await.unwrap_err();
    assert!(
        matches!(&error, PushError::LabelCollision { family, label } if family == "up" && label == "job"),
        "{error:?}"
    );
    assert!(seen(&log).is_empty());

    let (pusher, log) = pusher_with(gatherer(families()), vec![Reply::Status(202, "")], |b| {
        b.grouping("queue", "a")
    });
    let error = pusher.put().await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "pushed metric jobs_total already has grouping label queue: leave it to the grouping key"
    );
    assert!(seen(&log).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_url_used_as_it_is_brings_its_own_grouping_key() {
    let mut with_job = families();
    with_job[1].metric[0]
        .label
        .push(LabelPair::new("job", "other"));
    // InfluxDB telemetry's style: the whole push URL, no job() call.
    let (client, log) = scripted(vec![Reply::Status(202, "")]);
    let pusher = Pusher::builder(
        "https://gw/metrics/job/batch/instance/db1",
        gatherer(with_job.clone()),
    )
    .client(client)
    .build()
    .unwrap();
    let key: Vec<_> = pusher
        .grouping_key()
        .iter()
        .map(|l| (l.name(), l.value()))
        .collect();
    assert_eq!(key, [("job", "batch"), ("instance", "db1")]);
    assert!(matches!(
        pusher.push().await.unwrap_err(),
        PushError::LabelCollision { .. }
    ));
    // A URL that is no push path has no grouping key: nothing is refused.
    let (client, log2) = scripted(vec![Reply::Status(202, "")]);
    let pusher = Pusher::builder("http://gw/api/v2/telemetry?org=a", gatherer(with_job))
        .client(client)
        .build()
        .unwrap();
    assert!(pusher.grouping_key().is_empty());
    pusher.push().await.unwrap();
    assert_eq!(seen(&log2)[0].uri, "http://gw/api/v2/telemetry?org=a");
    assert!(seen(&log).is_empty());
}

#[tokio::test(start_paused = true)]
async fn unencodable_families_are_an_error() {
    let mut bad = families();
    // A counter family whose metric has no counter value.
    bad[0].metric[0].counter = None;
    let (pusher, log) = pusher_with(gatherer(bad), vec![Reply::Status(202, "")], |b| {
        b.format(Format::Text)
    });
    let error = pusher.push().await.unwrap_err();
    assert!(matches!(error, PushError::Encode(_)), "{error:?}");
    assert!(
        error
            .to_string()
            .starts_with("encoding metrics failed: cannot encode as text"),
        "{error}"
    );
    assert!(seen(&log).is_empty());
}

// Retries.

fn gaps(log: &Log) -> Vec<Duration> {
    let log = seen(log);
    log.windows(2).map(|w| w[1].at - w[0].at).collect()
}

#[tokio::test(start_paused = true)]
async fn server_errors_are_retried_with_exponential_backoff() {
    let (pusher, log) = pusher_with(
        gatherer(families()),
        vec![
            Reply::Status(503, "store closed"),
            Reply::Status(500, ""),
            Reply::Status(502, ""),
            Reply::Status(202, ""),
        ],
        |b| b.retry(exact_retry(5)),
    );
    let pushed = pusher.push().await.unwrap();
    assert_eq!(pushed.attempts, 4);
    let ms: Vec<u128> = gaps(&log).iter().map(Duration::as_millis).collect();
    assert_eq!(ms, [100, 200, 400]);
    // The same body each time.
    let log = seen(&log);
    assert!(log.iter().all(|r| r.body == log[0].body));
}

#[tokio::test(start_paused = true)]
async fn jittered_waits_stay_within_their_bounds() {
    let (pusher, log) = pusher_with(gatherer(families()), vec![Reply::Status(503, ""); 6], |b| {
        b.retry(exact_retry(6).jitter(0.5))
    });
    pusher.push().await.unwrap_err();
    for (i, gap) in gaps(&log).into_iter().enumerate() {
        let backoff = exact_retry(6).backoff(i as u32 + 1);
        assert!(
            gap <= backoff && gap >= backoff / 2,
            "{i}: {gap:?} of {backoff:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn other_client_errors_are_not_retried() {
    for status in [400, 401, 403, 404, 405, 408, 413, 415] {
        let (pusher, log) = pusher_with(
            gatherer(families()),
            vec![Reply::Status(status, "no"), Reply::Status(202, "")],
            |b| b.retry(exact_retry(5)),
        );
        let error = pusher.push().await.unwrap_err();
        assert_eq!(error.status().map(|s| s.as_u16()), Some(status));
        assert!(!error.is_retryable());
        assert_eq!(seen(&log).len(), 1, "{status}");
    }
}

#[tokio::test(start_paused = true)]
async fn too_many_requests_is_retried_after_retry_after() {
    let (pusher, log) = pusher_with(
        gatherer(families()),
        vec![Reply::RetryAfter(429, "3".into()), Reply::Status(202, "")],
        |b| b.retry(exact_retry(3)),
    );
    let pushed = pusher.push().await.unwrap();
    assert_eq!(pushed.attempts, 2);
    assert_eq!(gaps(&log), [Duration::from_secs(3)]);
}

#[tokio::test(start_paused = true)]
async fn retry_after_may_be_an_http_date() {
    let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(5));
    let (pusher, log) = pusher_with(
        gatherer(families()),
        vec![Reply::RetryAfter(503, date), Reply::Status(202, "")],
        |b| b.retry(exact_retry(3)),
    );
    pusher.push().await.unwrap();
    // HTTP dates are whole seconds: the wait is 4 to 5 s.
    let gap = gaps(&log)[0];
    assert!(
        gap > Duration::from_secs(4) && gap <= Duration::from_secs(5),
        "{gap:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_wait_past_the_deadline_is_not_started() {
    let (pusher, log) = pusher_with(
        gatherer(families()),
        vec![Reply::RetryAfter(503, "60".into()), Reply::Status(202, "")],
        |b| b.retry(exact_retry(3)),
    );
    let start = Instant::now();
    let error = pusher.push().await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert!(
        matches!(error, PushError::Status { retry_after: Some(d), attempts: 1, .. } if d == Duration::from_secs(60)),
        "{error:?}"
    );
    assert_eq!(seen(&log).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn attempts_are_bounded() {
    let (pusher, log) = pusher_with(
        gatherer(families()),
        vec![Reply::Status(503, "down")],
        |b| b.retry(exact_retry(4)),
    );
    let error = pusher.push().await.unwrap_err();
    assert_eq!(seen(&log).len(), 4);
    assert_eq!(
        error.to_string(),
        "POST http://gw:9091/metrics/job/batch answered 503 Service Unavailable (4 attempts): down"
    );

    let (pusher, log) = pusher_with(
        gatherer(families()),
        vec![Reply::Status(503, "down")],
        |b| b.retry(Retry::never()),
    );
    pusher.push().await.unwrap_err();
    assert_eq!(seen(&log).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn connection_errors_are_retried() {
    let (pusher, log) = pusher_with(
        gatherer(families()),
        vec![Reply::Refused, Reply::Refused, Reply::Status(202, "")],
        |b| b.retry(exact_retry(3)),
    );
    assert_eq!(pusher.push().await.unwrap().attempts, 3);
    assert_eq!(seen(&log).len(), 3);

    let (pusher, _) = pusher_with(gatherer(families()), vec![Reply::Refused], |b| {
        b.retry(exact_retry(2))
    });
    let error = pusher.push().await.unwrap_err();
    assert!(
        matches!(error, PushError::Transport { attempts: 2, .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "POST http://gw:9091/metrics/job/batch failed (2 attempts): connection refused"
    );
}

#[tokio::test(start_paused = true)]
async fn the_timeout_bounds_all_attempts() {
    let (pusher, log) = pusher_with(
        gatherer(families()),
        vec![Reply::Slow(Duration::from_secs(4))],
        |b| b.timeout(Duration::from_secs(3)).retry(exact_retry(5)),
    );
    let start = Instant::now();
    let error = pusher.push().await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    assert!(
        matches!(error, PushError::Timeout { attempts: 1, .. }),
        "{error:?}"
    );
    assert_eq!(seen(&log).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn clones_share_the_configuration() {
    let (pusher, log) = pusher_with(gatherer(families()), vec![Reply::Status(202, "")], |b| b);
    let clone = pusher.clone();
    let (a, b) = tokio::join!(pusher.push(), clone.put());
    assert!(a.is_ok() && b.is_ok());
    let mut methods: Vec<Method> = seen(&log).iter().map(|r| r.method.clone()).collect();
    methods.sort_by_key(|m| m.to_string());
    assert_eq!(methods, [Method::POST, Method::PUT]);
}

// Building.

/// A gatherer of nothing, named.
type Nothing = fn() -> Result<Vec<MetricFamily>, std::io::Error>;

/// The URL a pusher configured by `configure` pushes to.
fn build(
    url: &str,
    configure: impl FnOnce(PusherBuilder<Nothing>) -> PusherBuilder<Nothing>,
) -> Result<String, BuildError> {
    let none: Nothing = || Ok(Vec::new());
    configure(Pusher::builder(url, none))
        .build()
        .map(|p| p.url().to_string())
}

#[test]
fn urls_as_go_builds_them() {
    let job = |b: PusherBuilder<_>| b.job("j");
    assert_eq!(
        build("gw:9091", job).unwrap(),
        "http://gw:9091/metrics/job/j"
    );
    assert_eq!(
        build("http://gw:9091/", job).unwrap(),
        "http://gw:9091/metrics/job/j"
    );
    assert_eq!(
        build("http://[::1]:9091", job).unwrap(),
        "http://[::1]:9091/metrics/job/j"
    );
    assert_eq!(
        build("https://gw/prefix/", job).unwrap(),
        "https://gw/prefix/metrics/job/j"
    );
    assert_eq!(
        build(" HTTPS://gw/?tenant=a ", job).unwrap(),
        "https://gw/metrics/job/j?tenant=a"
    );
    // Grouping labels in the order set; setting one again replaces it.
    assert_eq!(
        build("gw", |b| b
            .job("j")
            .grouping("b", "1")
            .grouping("a", "2")
            .grouping("b", "3"))
        .unwrap(),
        "http://gw/metrics/job/j/b/3/a/2"
    );
}

#[test]
fn wrong_settings_are_refused() {
    let job = |b: PusherBuilder<_>| b.job("j");
    assert!(matches!(build("http://", job), Err(BuildError::Url { .. })));
    assert_eq!(
        build("http://gw:port", job).unwrap_err().to_string(),
        "invalid gateway URL \"http://gw:port\": invalid port \"port\""
    );
    assert!(matches!(
        build("gw:99999", job),
        Err(BuildError::Url { .. })
    ));
    assert_eq!(
        build("ftp://gw", job),
        Err(BuildError::Scheme {
            url: "ftp://gw".into()
        })
    );
    assert_eq!(build("http://u:p@gw", job), Err(BuildError::Credentials));
    assert_eq!(build("gw", |b| b.job("")), Err(BuildError::EmptyJob));
    assert_eq!(
        build("gw", |b| b.grouping("a", "1")),
        Err(BuildError::GroupingWithoutJob { name: "a".into() })
    );
    for name in ["job", "__name__", "1a", "a-b", ""] {
        assert_eq!(
            build("gw", |b| b.job("j").grouping(name, "v")),
            Err(BuildError::LabelName { name: name.into() }),
            "{name}"
        );
    }
    assert_eq!(
        build("http://gw/metrics/job/x", job),
        Err(BuildError::GroupingInUrl {
            url: "http://gw/metrics/job/x".into()
        })
    );
    assert!(matches!(
        build("http://gw/metrics/job/x/instance", |b| b),
        Err(BuildError::UrlGrouping { .. })
    ));
    assert_eq!(
        build("gw", |b| b.job("j").header("bad header", "v")),
        Err(BuildError::Header {
            name: "bad header".into()
        })
    );
    assert_eq!(
        build("gw", |b| b.job("j").bearer_token("a\nb")),
        Err(BuildError::Header {
            name: "authorization".into()
        })
    );
    assert_eq!(
        build("ftp://gw", |b| b.job("j").header("x", "\n"))
            .unwrap_err()
            .to_string(),
        "invalid header \"x\"",
        "the first wrong setting is reported"
    );
}

#[test]
fn calls_are_send_for_spawning() {
    // A reporter spawns pushes: with the default client and an async
    // gatherer, the futures must be Send (and the pusher shareable).
    fn spawnable<T: Send + 'static>(_: T) {}
    fn shareable<T: Send + Sync + Clone>(_: &T) {}
    let pusher = Pusher::builder("http://gw", Slow).job("j").build().unwrap();
    shareable(&pusher);
    let p = pusher.clone();
    spawnable(async move { p.push().await });
    let p = pusher.clone();
    spawnable(async move { p.put().await });
    spawnable(async move { pusher.delete().await });
}
