//! The store against in-process fake receivers: batching, the queue
//! bound, retries, refusals, dropped writes, headers, closing.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use prost::Message;
use tokio::sync::Semaphore;

use super::proto::WriteRequest;
use super::*;
use crate::codec::{self, Limits};
use crate::Format;

/// What the fake answers to its `n`-th request (from 0).
type Reply = dyn Fn(usize, &WriteRequest) -> Response + Send + Sync;

/// A remote write receiver that records every request and answers as
/// told, each answer held until `gate` gives a permit.
struct Fake {
    requests: Mutex<Vec<(HeaderMap, WriteRequest)>>,
    reply: Box<Reply>,
    gate: Semaphore,
}

impl Fake {
    /// Series names per request, in order.
    fn names(&self) -> Vec<Vec<String>> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|(_, r)| {
                r.timeseries
                    .iter()
                    .map(|s| s.labels[0].value.clone())
                    .collect()
            })
            .collect()
    }

    fn headers(&self, n: usize) -> HeaderMap {
        self.requests.lock().unwrap()[n].0.clone()
    }
}

async fn receive(State(fake): State<Arc<Fake>>, headers: HeaderMap, body: Bytes) -> Response {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(&body)
        .expect("a snappy block");
    let request = WriteRequest::decode(&raw[..]).expect("a WriteRequest");
    let n = {
        let mut requests = fake.requests.lock().unwrap();
        requests.push((headers, request.clone()));
        requests.len() - 1
    };
    fake.gate.acquire().await.unwrap().forget();
    (fake.reply)(n, &request)
}

/// Serves a fake on `listener`.
fn serve(listener: tokio::net::TcpListener, reply: Box<Reply>, permits: usize) -> Arc<Fake> {
    let fake = Arc::new(Fake {
        requests: Mutex::new(Vec::new()),
        reply,
        gate: Semaphore::new(permits),
    });
    let app = axum::Router::new()
        .route("/api/v1/write", axum::routing::post(receive))
        .with_state(fake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    fake
}

async fn fake(reply: Box<Reply>) -> (Arc<Fake>, String) {
    fake_gated(reply, Semaphore::MAX_PERMITS).await
}

async fn fake_gated(reply: Box<Reply>, permits: usize) -> (Arc<Fake>, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = write_url(listener.local_addr().unwrap());
    (serve(listener, reply, permits), url)
}

fn write_url(addr: SocketAddr) -> String {
    format!("http://{addr}/api/v1/write")
}

fn ok() -> Box<Reply> {
    Box::new(|_, _| StatusCode::NO_CONTENT.into_response())
}

fn push(text: &str) -> Push {
    let families = codec::decode(Format::Text, text.to_owned().into(), &Limits::default());
    Push::new(families.unwrap(), Format::Text)
}

/// Lets the batcher and the fake run until `done` holds (bounded).
async fn until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what}: not within 5 s");
}

#[tokio::test]
async fn concurrent_writes_share_one_request() {
    let (fake, url) = fake(ok()).await;
    // The batch leaves when all ten are in, however slowly they come.
    let store = RemoteWriteStore::builder(url)
        .max_samples_per_send(10)
        .batch_delay(Duration::from_secs(3600))
        .build()
        .unwrap();
    let writes: Vec<_> = (0..10)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.write(push(&format!("m{i} {i}\n"))).await })
        })
        .collect();
    for w in writes {
        w.await.unwrap().unwrap();
    }
    let names = fake.names();
    assert_eq!(names.len(), 1, "{names:?}");
    let mut got = names[0].clone();
    got.sort();
    let mut want: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(store.queued_samples(), 0);
}

#[tokio::test]
async fn a_full_batch_goes_at_once_and_a_write_is_never_split() {
    let (fake, url) = fake(ok()).await;
    let store = RemoteWriteStore::builder(url)
        .max_samples_per_send(2)
        // Only full batches can leave before the test ends.
        .batch_delay(Duration::from_secs(3600))
        .build()
        .unwrap();
    // Three samples in one write: more than a batch, sent whole.
    store.write(push("a 1\nb 2\nc 3\n")).await.unwrap();
    assert_eq!(fake.names(), [["a", "b", "c"]]);
}

#[tokio::test]
async fn a_full_queue_refuses_at_once_and_queues_nothing() {
    let (fake, url) = fake_gated(ok(), 0).await;
    let store = RemoteWriteStore::builder(url)
        .max_queued_samples(3)
        .batch_delay(Duration::ZERO)
        .build()
        .unwrap();
    let first = tokio::spawn({
        let store = store.clone();
        async move { store.write(push("a 1\nb 2\n")).await }
    });
    until("the first write is in flight", || fake.names().len() == 1).await;
    let err = store.write(push("c 1\nd 2\n")).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Overloaded { retry_after: Some(d) } if d == Duration::from_secs(1)),
        "{err:?}"
    );
    assert_eq!(store.queued_samples(), 2);
    fake.gate.add_permits(10);
    first.await.unwrap().unwrap();
    // Room again.
    store.write(push("c 1\nd 2\n")).await.unwrap();
    assert_eq!(fake.names(), [vec!["a", "b"], vec!["c", "d"]]);
}

#[tokio::test]
async fn writes_given_up_make_room_in_a_full_queue() {
    let (fake, url) = fake_gated(ok(), 0).await;
    let store = RemoteWriteStore::builder(url)
        .max_queued_samples(2)
        .max_in_flight(1)
        .batch_delay(Duration::ZERO)
        .build()
        .unwrap();
    let first = tokio::spawn({
        let store = store.clone();
        async move { store.write(push("a 1\n")).await }
    });
    until("the first write is in flight", || fake.names().len() == 1).await;
    // Queued behind it, then given up.
    let given_up = tokio::time::timeout(Duration::from_millis(50), store.write(push("b 1\n")));
    assert!(given_up.await.is_err());
    assert_eq!(store.queued_samples(), 2);
    // Full, but for a write nobody waits for: it goes, this one comes in
    // (and waits for the gate) rather than being refused at once.
    let mut last = std::pin::pin!(store.write(push("c 1\n")));
    let polled = tokio::time::timeout(Duration::from_millis(20), &mut last).await;
    assert!(polled.is_err(), "{polled:?}");
    assert_eq!(store.queued_samples(), 2);
    fake.gate.add_permits(10);
    first.await.unwrap().unwrap();
    last.await.unwrap();
    assert_eq!(fake.names(), [["a"], ["c"]]);
}

#[tokio::test]
async fn retries_5xx_and_429_honouring_retry_after_then_succeeds() {
    let reply: Box<Reply> = Box::new(|n, _| match n {
        0 => (StatusCode::SERVICE_UNAVAILABLE, "busy\n").into_response(),
        1 => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "0")],
            "slow down",
        )
            .into_response(),
        _ => StatusCode::NO_CONTENT.into_response(),
    });
    let (fake, url) = fake(reply).await;
    let store = RemoteWriteStore::builder(url)
        .retry_for(Duration::from_secs(10))
        .build()
        .unwrap();
    store.write(push("a 1\n")).await.unwrap();
    assert_eq!(fake.names(), [["a"], ["a"], ["a"]]);
}

#[tokio::test]
async fn retries_a_refused_connection_until_the_remote_is_up() {
    let addr = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let store = RemoteWriteStore::builder(write_url(addr))
        .retry_for(Duration::from_secs(10))
        .build()
        .unwrap();
    let write = tokio::spawn({
        let store = store.clone();
        async move { store.write(push("a 1\n")).await }
    });
    // Let a few attempts be refused, then listen.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!write.is_finished());
    let fake = serve(
        tokio::net::TcpListener::bind(addr).await.unwrap(),
        ok(),
        100,
    );
    write.await.unwrap().unwrap();
    assert_eq!(fake.names(), [["a"]]);
}

#[tokio::test]
async fn out_of_retry_budget_the_write_is_unavailable_with_the_reason() {
    let reply: Box<Reply> =
        Box::new(|_, _| (StatusCode::BAD_GATEWAY, "upstream down\nstack...").into_response());
    let (fake, url) = fake(reply).await;
    let store = RemoteWriteStore::builder(url.clone())
        .retry_for(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = store.write(push("a 1\n")).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("store unavailable: remote write to {url}: 502 Bad Gateway: upstream down")
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(1)));
    assert!(fake.names().len() >= 2, "retried: {:?}", fake.names());

    // And an unreachable remote says why, on one line.
    let addr = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let store = RemoteWriteStore::builder(write_url(addr))
        .retry_for(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = store.write(push("a 1\n")).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert!(
        text.starts_with(&format!(
            "store unavailable: remote write to {}: ",
            write_url(addr)
        )),
        "{text}"
    );
    assert!(text.to_lowercase().contains("connection refused"), "{text}");
    assert!(!text.contains('\n'), "{text}");
}

#[tokio::test]
async fn a_remote_that_does_not_answer_times_out_as_unavailable() {
    // Never answers.
    let (fake, url) = fake_gated(ok(), 0).await;
    let store = RemoteWriteStore::builder(url.clone())
        .timeout(Duration::from_millis(100))
        .retry_for(Duration::from_millis(250))
        .build()
        .unwrap();
    let err = store.write(push("a 1\n")).await.unwrap_err();
    // "within 100ms", or "within the retry budget (250ms)" when a retry
    // had only what was left of it.
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "store unavailable: remote write to {url}: no answer within "
        )),
        "{text}"
    );
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert!(!fake.names().is_empty());
    assert_eq!(store.queued_samples(), 0);
}

#[tokio::test]
async fn a_4xx_on_a_mixed_batch_fails_only_the_bad_write() {
    // Refuses any request holding `bad`, as Prometheus refuses (and rolls
    // back) a whole request with one out-of-order sample.
    let reply: Box<Reply> = Box::new(|_, request| {
        if request
            .timeseries
            .iter()
            .any(|s| s.labels[0].value == "bad")
        {
            (StatusCode::BAD_REQUEST, "out of order sample\nsecond line").into_response()
        } else {
            StatusCode::NO_CONTENT.into_response()
        }
    });
    let (fake, url) = fake(reply).await;
    let store = RemoteWriteStore::builder(url.clone())
        .max_samples_per_send(3)
        .batch_delay(Duration::from_secs(3600))
        .build()
        .unwrap();
    let writes: Vec<_> = ["good1 1\n", "bad 1\n", "good2 1\n"]
        .into_iter()
        .map(|body| {
            let store = store.clone();
            tokio::spawn(async move { store.write(push(body)).await })
        })
        .collect();
    let mut results = Vec::new();
    for w in writes {
        results.push(w.await.unwrap());
    }
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    let err = results[1].as_ref().unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "pushed metrics cannot be stored: remote write to {url}: 400 Bad Request: out of order sample"
        )
    );
    // One request of three, then each alone.
    let names = fake.names();
    assert_eq!(names.len(), 4, "{names:?}");
    assert_eq!(names[0].len(), 3);
    assert!(names[1..].iter().all(|n| n.len() == 1), "{names:?}");
}

#[tokio::test]
async fn a_dropped_write_is_not_sent() {
    let (fake, url) = fake_gated(ok(), 0).await;
    let store = RemoteWriteStore::builder(url)
        .max_in_flight(1)
        .batch_delay(Duration::ZERO)
        .build()
        .unwrap();
    // Holds the only request slot until the gate opens.
    let first = tokio::spawn({
        let store = store.clone();
        async move { store.write(push("first 1\n")).await }
    });
    until("the first write is in flight", || fake.names().len() == 1).await;
    // Queued behind it, then given up by its caller (a gateway deadline).
    let dropped = tokio::time::timeout(Duration::from_millis(50), store.write(push("dropped 1\n")));
    assert!(dropped.await.is_err());
    let last = tokio::spawn({
        let store = store.clone();
        async move { store.write(push("last 1\n")).await }
    });
    fake.gate.add_permits(10);
    first.await.unwrap().unwrap();
    last.await.unwrap().unwrap();
    assert_eq!(fake.names(), [["first"], ["last"]]);
    assert_eq!(store.queued_samples(), 0);
}

#[tokio::test]
async fn sends_the_protocol_auth_and_custom_headers() {
    let (fake, url) = fake(ok()).await;
    let store = RemoteWriteStore::builder(url.clone())
        .basic_auth("user", "pass")
        .header("X-Scope-OrgID", "team-a")
        .build()
        .unwrap();
    store.write(push("a 1\n")).await.unwrap();
    let h = fake.headers(0);
    let get = |name: &str| h.get(name).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(get("content-encoding").as_deref(), Some("snappy"));
    assert_eq!(
        get("content-type").as_deref(),
        Some("application/x-protobuf")
    );
    assert_eq!(
        get("x-prometheus-remote-write-version").as_deref(),
        Some("0.1.0")
    );
    assert_eq!(
        get("user-agent"),
        Some(format!("pushgate/{}", env!("CARGO_PKG_VERSION")))
    );
    // base64("user:pass")
    assert_eq!(get("authorization").as_deref(), Some("Basic dXNlcjpwYXNz"));
    assert_eq!(get("x-scope-orgid").as_deref(), Some("team-a"));

    let bearer = RemoteWriteStore::builder(url)
        .bearer_token("t0ken")
        .build()
        .unwrap();
    bearer.write(push("a 1\n")).await.unwrap();
    assert_eq!(
        fake.headers(1).get("authorization").unwrap(),
        "Bearer t0ken"
    );
}

#[tokio::test]
async fn deletes_and_empty_pushes_are_acknowledged_with_nothing_sent() {
    let (fake, url) = fake(ok()).await;
    let store = RemoteWriteStore::builder(url).build().unwrap();
    store
        .write(Push::delete(vec![crate::model::LabelPair::new("job", "j")]))
        .await
        .unwrap();
    store.write(push("")).await.unwrap();
    store.close().await;
    assert!(fake.names().is_empty());
}

#[tokio::test]
async fn close_sends_what_is_queued_then_refuses() {
    let (fake, url) = fake(ok()).await;
    let store = RemoteWriteStore::builder(url)
        .batch_delay(Duration::from_secs(3600))
        .build()
        .unwrap();
    let queued = tokio::spawn({
        let store = store.clone();
        async move { store.write(push("a 1\n")).await }
    });
    until("the write is queued", || store.queued_samples() == 1).await;
    store.close().await;
    queued.await.unwrap().unwrap();
    assert_eq!(fake.names(), [["a"]]);
    let err = store.write(push("b 1\n")).await.unwrap_err();
    assert!(matches!(err, StoreError::Closed), "{err:?}");
}

#[tokio::test]
async fn a_refusal_of_the_stores_configuration_is_a_failure() {
    let reply: Box<Reply> = Box::new(|_, _| (StatusCode::UNAUTHORIZED, "who?").into_response());
    let (fake, url) = fake(reply).await;
    let store = RemoteWriteStore::builder(url.clone())
        .max_samples_per_send(2)
        .batch_delay(Duration::from_secs(3600))
        .build()
        .unwrap();
    let a = tokio::spawn({
        let store = store.clone();
        async move { store.write(push("a 1\n")).await }
    });
    let err = store.write(push("b 1\n")).await.unwrap_err();
    assert!(matches!(err, StoreError::Failed(_)), "{err:?}");
    assert!(matches!(a.await.unwrap(), Err(StoreError::Failed(_))));
    // Not split: every write would get the same.
    assert_eq!(fake.names().len(), 1);
}

#[test]
fn bad_settings_are_refused() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    for (url, reason) in [
        ("ftp://h/w", "the scheme must be http or https"),
        ("/api/v1/write", "the scheme must be http or https"),
        (
            "http://u:p@h/w",
            "credentials in the URL: use basic_auth or bearer_token",
        ),
    ] {
        let err = RemoteWriteStore::builder(url).build().unwrap_err();
        assert_eq!(
            err,
            RemoteWriteBuildError::Url {
                url: url.into(),
                reason: reason.into()
            }
        );
    }
    let err = RemoteWriteStore::builder("http://h/w")
        .header("bad name", "v")
        .build()
        .unwrap_err();
    assert_eq!(
        err,
        RemoteWriteBuildError::Header {
            name: "bad name".into()
        }
    );
    drop(_guard);
    let err = RemoteWriteStore::builder("http://h/w").build().unwrap_err();
    assert_eq!(err, RemoteWriteBuildError::NoRuntime);
}
