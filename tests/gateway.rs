//! The gateway end to end through `tower::ServiceExt::oneshot`: every status
//! it answers, what reaches the store, and that nothing does on a refusal.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io::Write;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use prometheus::{Encoder as _, TextEncoder};
use pushgate::gateway::{GatewayBody, PushGateway};
use pushgate::grouping::PushMethod;
use pushgate::model::{Gauge, LabelPair, Metric, MetricFamily, MetricType};
use pushgate::store::{
    BoxStore, Encoder, MemoryStore, Message, MessageStore, Push, Store, StoreError, StoreService,
};
use pushgate::transform::{AddLabels, RemoveLabels};
use pushgate::{codec, Format};
use tower::{Service, ServiceExt};

const TEXT: &str = "# HELP jobs_total Jobs done.\n# TYPE jobs_total counter\njobs_total{queue=\"a\"} 3\njobs_total{queue=\"b\"} 4\n";

type Gateway = PushGateway<StoreService<MemoryStore>>;

fn gateway(store: &MemoryStore) -> Gateway {
    PushGateway::builder(store.clone()).build().unwrap()
}

fn post(path: &str, body: impl Into<Bytes>) -> Request<Full<Bytes>> {
    Request::post(path).body(Full::new(body.into())).unwrap()
}

/// Sends `req` through a clone of `gw`: the gateway, or a stack in front
/// of it.
async fn send<G, B>(gw: &G, req: Request<B>) -> (StatusCode, http::HeaderMap, String)
where
    G: Service<Request<B>, Response = Response<GatewayBody>, Error = Infallible> + Clone,
{
    let response: Response<GatewayBody> = gw.clone().oneshot(req).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8(bytes.to_vec()).unwrap(),
    )
}

/// Sends `req` and expects `status` with exactly `body` (plus the newline)
/// and nothing stored.
async fn refused<B>(
    gw: &Gateway,
    store: &MemoryStore,
    req: Request<B>,
    status: StatusCode,
    body: &str,
) where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (got, headers, text) = send(gw, req).await;
    assert_eq!((got, text.as_str()), (status, &*format!("{body}\n")));
    assert_eq!(headers[CONTENT_TYPE], "text/plain; charset=utf-8");
    assert!(store.is_empty(), "stored on {status}: {:?}", store.pushes());
}

/// The stored pushes' families, in Prometheus text.
fn stored_text(store: &MemoryStore) -> Vec<String> {
    store
        .pushes()
        .iter()
        .map(|push| {
            let mut text = Vec::new();
            codec::encode(Format::Text, &push.families, &mut text).unwrap();
            String::from_utf8(text).unwrap()
        })
        .collect()
}

/// Removes the ` <timestamp>` AddTimestamps appends to each sample line.
fn without_timestamps(text: &str) -> String {
    text.lines()
        .map(|l| match l.starts_with('#') {
            true => l.to_owned(),
            false => {
                let (rest, ts) = l.rsplit_once(' ').unwrap();
                assert!(ts.parse::<i64>().unwrap() > 1_600_000_000_000, "{l}");
                rest.to_owned()
            }
        })
        .map(|l| l + "\n")
        .collect()
}

fn protobuf(families: &[MetricFamily]) -> Request<Full<Bytes>> {
    let mut out = Vec::new();
    codec::encode(Format::Protobuf, families, &mut out).unwrap();
    Request::post("/metrics/job/j")
        .header(CONTENT_TYPE, Format::Protobuf.content_type())
        .body(Full::new(out.into()))
        .unwrap()
}

fn family(name: &str, labels: &[&[(&str, &str)]]) -> MetricFamily {
    let mut mf = MetricFamily {
        name: Some(name.into()),
        metric: labels
            .iter()
            .map(|ls| Metric {
                label: ls.iter().map(|(n, v)| LabelPair::new(*n, *v)).collect(),
                gauge: Some(Gauge { value: Some(1.0) }),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    mf.set_metric_type(MetricType::Gauge);
    mf
}

// ---------------------------------------------------------------------------
// Test bodies and stores
// ---------------------------------------------------------------------------

/// Chunks one after another, with no size hint (as a chunked request).
struct Chunks(VecDeque<Bytes>);

impl Chunks {
    fn new(chunks: &[&[u8]]) -> Chunks {
        Chunks(chunks.iter().map(|c| Bytes::copy_from_slice(c)).collect())
    }
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.pop_front().map(|c| Ok(Frame::data(c))))
    }
    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// A body that sends `first` and then nothing, ever.
struct Stalled(Option<Bytes>);

impl Body for Stalled {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.0.take() {
            Some(b) => Poll::Ready(Some(Ok(Frame::data(b)))),
            None => Poll::Pending,
        }
    }
}

/// A body whose connection breaks after `first`.
struct Broken(Option<Bytes>);

impl Body for Broken {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(Some(match self.0.take() {
            Some(b) => Ok(Frame::data(b)),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "connection reset",
            )),
        }))
    }
}

/// A store that fails every write, with a new error each time.
struct Failing(fn() -> StoreError, Arc<AtomicUsize>);

impl Store for Failing {
    async fn write(&self, _: Push) -> Result<(), StoreError> {
        self.1.fetch_add(1, Ordering::SeqCst);
        Err((self.0)())
    }
}

/// A store that takes an hour, then stores into `inner`.
struct Slow(MemoryStore);

impl Store for Slow {
    async fn write(&self, push: Push) -> Result<(), StoreError> {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        self.0.write(push).await
    }
}

/// Keeps the encoded messages written to it, behind `Encoded`.
#[derive(Clone, Default)]
struct Messages(Arc<Mutex<Vec<Message>>>);

impl MessageStore for Messages {
    async fn write_message(&self, message: Message) -> Result<(), StoreError> {
        self.0.lock().unwrap().push(message);
        Ok(())
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn encoded(encoding: &str, data: &[u8]) -> Vec<u8> {
    match encoding {
        "gzip" => gzip(data),
        "deflate" => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        #[cfg(feature = "zstd")]
        "zstd" => zstd::encode_all(data, 3).unwrap(),
        #[cfg(feature = "snappy")]
        "snappy" => {
            let mut e = snap::write::FrameEncoder::new(Vec::new());
            e.write_all(data).unwrap();
            e.into_inner().unwrap()
        }
        other => panic!("{other}"),
    }
}

// ---------------------------------------------------------------------------
// 202
// ---------------------------------------------------------------------------

#[tokio::test]
async fn accepted_text_push_is_stored_with_grouping_and_timestamps() {
    let store = MemoryStore::new();
    let gw = gateway(&store);
    let (status, headers, body) = send(&gw, post("/metrics/job/batch/instance/db1", TEXT)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(headers[CONTENT_TYPE], "text/plain; charset=utf-8");
    assert_eq!(body, "stored 1 families, 2 series\n");
    let pushes = store.pushes();
    assert_eq!(pushes.len(), 1);
    let m = &pushes[0];
    assert_eq!(m.format, Format::Text);
    assert_eq!(m.body, TEXT.as_bytes());
    assert_eq!(m.method, PushMethod::Post);
    assert_eq!(
        m.grouping,
        [
            LabelPair::new("job", "batch"),
            LabelPair::new("instance", "db1")
        ]
    );
    assert_eq!(
        without_timestamps(&stored_text(&store)[0]),
        "# HELP jobs_total Jobs done.\n# TYPE jobs_total counter\n\
         jobs_total{instance=\"db1\",job=\"batch\",queue=\"a\"} 3\n\
         jobs_total{instance=\"db1\",job=\"batch\",queue=\"b\"} 4\n"
    );
}

#[tokio::test]
async fn put_is_stored_as_put() {
    let store = MemoryStore::new();
    let gw = gateway(&store);
    let req = Request::put("/metrics/job/j")
        .body(Full::new(Bytes::from(TEXT)))
        .unwrap();
    assert_eq!(send(&gw, req).await.0, StatusCode::ACCEPTED);
    let m = &store.pushes()[0];
    assert_eq!(m.method, PushMethod::Put);
    assert_eq!(m.grouping, [LabelPair::new("job", "j")]);
    assert!(stored_text(&store)[0].contains("jobs_total{job=\"j\",queue=\"a\"} 3 "));
}

#[tokio::test]
async fn a_path_that_is_not_a_push_path_is_404_and_stores_nothing() {
    let store = MemoryStore::new();
    let gw = gateway(&store);
    for path in [
        "/",
        "/anywhere",
        "/metrics",
        "/metrics/jobs/x",
        "/api/metrics/job_x",
    ] {
        let body =
            format!("not a push path: {path:?} (push to /metrics/job/<job>{{/<label>/<value>}})");
        refused(&gw, &store, post(path, TEXT), StatusCode::NOT_FOUND, &body).await;
    }
}

#[tokio::test]
async fn delete_reaches_the_store_as_a_delete_of_the_grouping_key() {
    let store = MemoryStore::new();
    let gw = gateway(&store);
    // Whatever the body and Content-Type, a delete has no families.
    let req = Request::delete("/metrics/job/batch/instance/db1")
        .header(CONTENT_TYPE, "image/png")
        .body(Full::new(Bytes::from_static(b"ignored")))
        .unwrap();
    let (status, _, body) = send(&gw, req).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::ACCEPTED, "stored 0 families, 0 series\n")
    );
    let pushes = store.pushes();
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0].method, PushMethod::Delete);
    assert!(pushes[0].families.is_empty());
    assert_eq!(
        pushes[0].grouping,
        [
            LabelPair::new("job", "batch"),
            LabelPair::new("instance", "db1")
        ]
    );
    // A delete needs a grouping key as much as a push does.
    let req = Request::delete("/metrics/job/")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(send(&gw, req).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn grouping_labels_overwrite_pushed_labels() {
    let store = MemoryStore::new();
    let gw = gateway(&store);
    let body = "up{job=\"pushed\",zone=\"x\"} 1\n";
    assert_eq!(
        send(&gw, post("/metrics/job/from_path/zone@base64/eS96", body))
            .await
            .0,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        without_timestamps(&stored_text(&store)[0]),
        "# TYPE up untyped\nup{job=\"from_path\",zone=\"y/z\"} 1\n"
    );
}

#[tokio::test]
async fn every_push_format_is_accepted() {
    let families = codec::decode(Format::Text, Bytes::from(TEXT), &Default::default()).unwrap();
    for format in [
        Format::Protobuf,
        Format::OpenMetrics,
        Format::Json,
        Format::Text,
    ] {
        let store = MemoryStore::new();
        let gw = gateway(&store);
        let mut body = Vec::new();
        codec::encode(format, &families, &mut body).unwrap();
        let req = Request::post("/metrics/job/j")
            .header(CONTENT_TYPE, format.content_type())
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let (status, _, text) = send(&gw, req).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{format}: {text}");
        // Decoded, and with the body as it came, in the format it came in.
        let m = &store.pushes()[0];
        assert_eq!(m.format, format);
        assert_eq!(m.families.len(), 1, "{format}");
        assert_eq!(m.families[0].metric.len(), 2, "{format}");
        let back = codec::decode(format, m.body.clone(), &Default::default()).unwrap();
        assert_eq!(back.len(), 1, "{format}");
        assert_eq!(back[0].metric.len(), 2, "{format}");
    }
}

#[tokio::test]
async fn a_byte_store_gets_pushes_encoded_as_its_encoder_says() {
    let messages = Messages::default();
    let store = messages
        .clone()
        .encoded(Encoder::Format(Format::LineProtocol));
    let gw = PushGateway::builder(store).build().unwrap();
    assert_eq!(
        send(&gw, post("/metrics/job/j", "up 1\n")).await.0,
        StatusCode::ACCEPTED
    );
    let m = &messages.0.lock().unwrap()[0];
    assert_eq!(m.format, Format::LineProtocol);
    assert_eq!(m.grouping, [LabelPair::new("job", "j")]);
    assert!(
        std::str::from_utf8(&m.data)
            .unwrap()
            .starts_with("up,job=j "),
        "{:?}",
        m.data
    );
}

#[tokio::test]
async fn a_push_a_byte_store_cannot_encode_is_400_and_not_stored() {
    let messages = Messages::default();
    let store = messages.clone().encoded(Encoder::Format(Format::Text));
    let gw = PushGateway::builder(store).build().unwrap();
    // A family without metrics has no text 0.0.4 form.
    let mf = family("empty", &[]);
    let (status, _, body) = send(&gw, protobuf(&[mf])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.starts_with("pushed metrics cannot be stored: "),
        "{body}"
    );
    assert!(messages.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn transformers_run_in_order_then_timestamps_unless_turned_off() {
    for stamped in [true, false] {
        let store = MemoryStore::new();
        let gw = PushGateway::builder(store.clone())
            .transformer(AddLabels::new([("env", "prod"), ("secret", "x")]))
            .transformer(RemoveLabels::new(["secret"]))
            .receive_timestamps(stamped)
            .build()
            .unwrap();
        assert_eq!(
            send(&gw, post("/metrics/job/j", "up 1\n")).await.0,
            StatusCode::ACCEPTED
        );
        let text = &stored_text(&store)[0];
        let want = "# TYPE up untyped\nup{env=\"prod\",job=\"j\"} 1\n";
        if stamped {
            assert_eq!(without_timestamps(text), want);
        } else {
            assert_eq!(text, want);
        }
    }
}

#[tokio::test]
async fn compressed_bodies_are_accepted() {
    let mut encodings = vec!["gzip", "deflate"];
    if cfg!(feature = "zstd") {
        encodings.push("zstd");
    }
    if cfg!(feature = "snappy") {
        encodings.push("snappy");
    }
    for encoding in encodings {
        let store = MemoryStore::new();
        let gw = gateway(&store);
        let req = Request::post("/metrics/job/j")
            .header(CONTENT_ENCODING, encoding)
            .body(Full::new(Bytes::from(encoded(encoding, TEXT.as_bytes()))))
            .unwrap();
        let (status, _, text) = send(&gw, req).await;
        assert_eq!(
            (status, text.as_str()),
            (StatusCode::ACCEPTED, "stored 1 families, 2 series\n"),
            "{encoding}"
        );
        assert_eq!(store.len(), 1);
    }
}

#[tokio::test]
async fn body_of_exactly_max_bytes_is_accepted_in_chunks() {
    let store = MemoryStore::new();
    let gw = PushGateway::builder(store.clone())
        .max_bytes(TEXT.len())
        .build()
        .unwrap();
    let (a, b) = TEXT.as_bytes().split_at(10);
    let req = Request::post("/metrics/job/j")
        .body(Chunks::new(&[a, b]))
        .unwrap();
    assert_eq!(send(&gw, req).await.0, StatusCode::ACCEPTED);
}

// ---------------------------------------------------------------------------
// 303 and 405
// ---------------------------------------------------------------------------

#[tokio::test]
async fn get_and_head_see_the_info_url() {
    let store = MemoryStore::new();
    let gw = PushGateway::builder(store.clone())
        .info_url("https://example.com/telemetry".parse().unwrap())
        .build()
        .unwrap();
    let (status, headers, body) = send(
        &gw,
        Request::get("/metrics/job/x")
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[LOCATION], "https://example.com/telemetry");
    assert_eq!(body, "see https://example.com/telemetry\n");
    let (status, headers, body) = send(
        &gw,
        Request::head("/").body(Full::new(Bytes::new())).unwrap(),
    )
    .await;
    assert_eq!((status, body.as_str()), (StatusCode::SEE_OTHER, ""));
    assert_eq!(headers[LOCATION], "https://example.com/telemetry");
    // Other methods: 405, and Allow names GET and HEAD too.
    let req = Request::patch("/metrics/job/x")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (status, headers, body) = send(&gw, req).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers[ALLOW], "POST, PUT, DELETE, GET, HEAD");
    assert_eq!(
        body,
        "method PATCH not allowed: push with POST or PUT, delete with DELETE\n"
    );
    assert!(store.is_empty());
}

#[tokio::test]
async fn get_without_info_url_is_405_with_allow() {
    let store = MemoryStore::new();
    let gw = gateway(&store);
    for method in ["GET", "HEAD", "PATCH", "OPTIONS"] {
        let req = Request::builder()
            .method(method)
            .uri("/")
            .body(Full::new(Bytes::from(TEXT)))
            .unwrap();
        let (status, headers, _) = send(&gw, req).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(headers[ALLOW], "POST, PUT, DELETE", "{method}");
    }
    assert!(store.is_empty());
}

// ---------------------------------------------------------------------------
// 400
// ---------------------------------------------------------------------------

#[tokio::test]
async fn bad_requests_say_what_and_where() {
    let store = MemoryStore::new();
    let gw = gateway(&store);
    let cases: Vec<(Request<Full<Bytes>>, &str)> = vec![
        (
            post("/metrics/job/j", "up 1\nup{job=\"a} 1\n"),
            "invalid text body, line 2: ",
        ),
        (post("/metrics/job/j", "up 1 1700000000000\n"), "pushed metrics must not have timestamp"),
        (post("/metrics/job/j", "up{a=\"1\"} 1\nup{a=\"1\"} 2\n"), "series up{a=\"1\"} pushed twice"),
        // Different as pushed, the same once the grouping key overwrites `job`.
        (post("/metrics/job/j", "up{job=\"a\"} 1\nup{job=\"b\"} 2\n"), "series up{job=\"b\"} pushed twice"),
        (post("/metrics/job/j/l@base64/!!", "up 1\n"), "invalid base64 encoding for label l=\"!!\" in path"),
        (
            post("/metrics/job/j/instance", "up 1\n"),
            "missing value for label \"instance\" in path (use instance@base64/= for an empty value)",
        ),
        (post("/metrics/job/", "up 1\n"), "job name is required: push to /metrics/job/<job>"),
        (post("/metrics/job/j/__x/1", "up 1\n"), "improper label name \"__x\" in path"),
        (post("/metrics/job/a%zz", "up 1\n"), "invalid percent-encoding in path at byte 14"),
        (protobuf(&[family("bad-name", &[&[]])]), "invalid metric name \"bad-name\""),
        (
            protobuf(&[family("m", &[&[("0x", "v")]])]),
            "invalid label name \"0x\" in metric m{0x=\"v\"}",
        ),
        (
            protobuf(&[family("m", &[&[("__reserved", "v")]])]),
            "invalid label name \"__reserved\" in metric m{__reserved=\"v\"}",
        ),
        (
            protobuf(&[family("m", &[&[("a", "1"), ("a", "2")]])]),
            "label \"a\" repeated in metric m{a=\"1\",a=\"2\"}",
        ),
        (
            protobuf(&[family("m", &[&[("a", "1")]]), family("m", &[&[("a", "2")]])]),
            "metric family \"m\" pushed twice",
        ),
        (
            {
                let mut req = protobuf(&[]);
                *req.body_mut() = Full::new(Bytes::from_static(b"\x05\x0a"));
                req
            },
            "invalid protobuf body, record 0 at byte 0: ",
        ),
        (
            // A counter family whose metric carries a gauge.
            {
                let mut mf = family("c", &[&[]]);
                mf.set_metric_type(MetricType::Counter);
                protobuf(&[mf])
            },
            "metric c has no counter value, as its family's type requires",
        ),
        (
            Request::post("/metrics/job/j")
                .header(CONTENT_ENCODING, "gzip")
                .body(Full::new(Bytes::from_static(b"not gzip")))
                .unwrap(),
            "invalid gzip body: ",
        ),
    ];
    for (req, want) in cases {
        let (status, headers, body) = send(&gw, req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{want}: {body}");
        assert_eq!(headers[CONTENT_TYPE], "text/plain; charset=utf-8");
        assert!(body.starts_with(want), "want {want:?}, got {body:?}");
        assert!(
            body.ends_with('\n') && body.matches('\n').count() == 1,
            "{body:?}"
        );
        assert!(store.is_empty(), "{want}");
    }
}

#[tokio::test]
async fn timestamp_message_is_exactly_the_pushgateways() {
    let store = MemoryStore::new();
    let gw = gateway(&store);
    refused(
        &gw,
        &store,
        post("/metrics/job/j", "up 1 1\n"),
        StatusCode::BAD_REQUEST,
        "pushed metrics must not have timestamp",
    )
    .await;
}

#[tokio::test]
async fn a_broken_body_is_400() {
    let store = MemoryStore::new();
    let gw = gateway(&store);
    let req = Request::post("/metrics/job/j")
        .body(Broken(Some(Bytes::from_static(b"up 1\n"))))
        .unwrap();
    refused(
        &gw,
        &store,
        req,
        StatusCode::BAD_REQUEST,
        "error reading request body: connection reset",
    )
    .await;
}

// ---------------------------------------------------------------------------
// 408 and 504, on a paused clock
// ---------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_body_that_does_not_arrive_is_408() {
    let store = MemoryStore::new();
    let gw = PushGateway::builder(store.clone())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let start = tokio::time::Instant::now();
    let req = Request::post("/metrics/job/j")
        .body(Stalled(Some(Bytes::from_static(b"up 1\n"))))
        .unwrap();
    refused(
        &gw,
        &store,
        req,
        StatusCode::REQUEST_TIMEOUT,
        "request body not received within 5s",
    )
    .await;
    assert_eq!(start.elapsed(), Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn a_store_that_does_not_answer_is_504_and_stores_nothing() {
    let inner = MemoryStore::new();
    let gw = PushGateway::builder(Slow(inner.clone())).build().unwrap();
    let start = tokio::time::Instant::now();
    let (status, _, body) = send(&gw, post("/metrics/job/j", "up 1\n")).await;
    assert_eq!(
        (status, body.as_str()),
        (
            StatusCode::GATEWAY_TIMEOUT,
            "store did not answer within 10s\n"
        )
    );
    assert_eq!(start.elapsed(), crate_default_timeout());
    // The write was dropped: it never completes, however long we wait.
    tokio::time::sleep(Duration::from_secs(7200)).await;
    assert!(inner.is_empty());
}

fn crate_default_timeout() -> Duration {
    pushgate::DEFAULT_TIMEOUT
}

#[tokio::test(start_paused = true)]
async fn a_store_that_answers_in_time_is_202() {
    let inner = MemoryStore::new();
    let gw = PushGateway::builder(Slow(inner.clone()))
        .timeout(Duration::from_secs(3601))
        .build()
        .unwrap();
    assert_eq!(
        send(&gw, post("/metrics/job/j", "up 1\n")).await.0,
        StatusCode::ACCEPTED
    );
    assert_eq!(inner.len(), 1);
}

// ---------------------------------------------------------------------------
// 413
// ---------------------------------------------------------------------------

#[tokio::test]
async fn too_large_by_content_length() {
    let store = MemoryStore::new();
    let gw = PushGateway::builder(store.clone())
        .max_bytes(100)
        .build()
        .unwrap();
    // Refused on the header alone: the body is never read.
    let req = Request::post("/metrics/job/j")
        .header(CONTENT_LENGTH, "101")
        .body(Stalled(None))
        .unwrap();
    refused(
        &gw,
        &store,
        req,
        StatusCode::PAYLOAD_TOO_LARGE,
        "request body of 101 bytes (Content-Length) exceeds the limit of 100 bytes",
    )
    .await;
}

#[tokio::test]
async fn too_large_while_streaming() {
    let store = MemoryStore::new();
    let gw = PushGateway::builder(store.clone())
        .max_bytes(TEXT.len() - 1)
        .build()
        .unwrap();
    let (a, b) = TEXT.as_bytes().split_at(20);
    let req = Request::post("/metrics/job/j")
        .body(Chunks::new(&[a, b]))
        .unwrap();
    refused(
        &gw,
        &store,
        req,
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("request body exceeds the limit of {} bytes", TEXT.len() - 1),
    )
    .await;
}

#[tokio::test]
async fn too_large_compression_bomb() {
    let store = MemoryStore::new();
    let gw = gateway(&store);
    // 8 MiB of a repeated sample line, some KiB compressed.
    let line = b"bomb_total{x=\"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\"} 1\n";
    let bomb = gzip(&line.repeat((8 << 20) / line.len()));
    assert!(bomb.len() < pushgate::DEFAULT_MAX_BYTES, "{}", bomb.len());
    let req = Request::post("/metrics/job/j")
        .header(CONTENT_ENCODING, "gzip")
        .body(Full::new(Bytes::from(bomb)))
        .unwrap();
    refused(
        &gw,
        &store,
        req,
        StatusCode::PAYLOAD_TOO_LARGE,
        "gzip-decompressed request body exceeds the limit of 1024000 bytes",
    )
    .await;
}

#[tokio::test]
async fn too_large_compressed_body_as_sent() {
    let store = MemoryStore::new();
    let gw = PushGateway::builder(store.clone())
        .max_bytes(10)
        .build()
        .unwrap();
    let gz = gzip(b"up 1\n");
    assert!(gz.len() > 10);
    let req = Request::post("/metrics/job/j")
        .header(CONTENT_ENCODING, "gzip")
        .body(Chunks::new(&[&gz]))
        .unwrap();
    refused(
        &gw,
        &store,
        req,
        StatusCode::PAYLOAD_TOO_LARGE,
        "request body exceeds the limit of 10 bytes",
    )
    .await;
}

// ---------------------------------------------------------------------------
// 415
// ---------------------------------------------------------------------------

#[tokio::test]
async fn unsupported_content_type_and_encoding() {
    let store = MemoryStore::new();
    let gw = gateway(&store);
    let req = Request::post("/metrics/job/j")
        .header(CONTENT_TYPE, "image/png")
        .body(Full::new(Bytes::from(TEXT)))
        .unwrap();
    refused(
        &gw,
        &store,
        req,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported content type \"image/png\": push Prometheus text, OpenMetrics text, JSON or delimited protobuf",
    )
    .await;
    let req = Request::post("/metrics/job/j")
        .header(CONTENT_ENCODING, "br")
        .body(Full::new(Bytes::from(TEXT)))
        .unwrap();
    refused(
        &gw,
        &store,
        req,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        match (cfg!(feature = "zstd"), cfg!(feature = "snappy")) {
            (true, true) => {
                "unsupported content encoding \"br\": use gzip, deflate, zstd or snappy"
            }
            (true, false) => "unsupported content encoding \"br\": use gzip, deflate or zstd",
            (false, true) => "unsupported content encoding \"br\": use gzip, deflate or snappy",
            (false, false) => "unsupported content encoding \"br\": use gzip or deflate",
        },
    )
    .await;
    // curl's default is text, as in the Pushgateway.
    let req = Request::post("/metrics/job/j")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(TEXT)))
        .unwrap();
    assert_eq!(send(&gw, req).await.0, StatusCode::ACCEPTED);
}

// ---------------------------------------------------------------------------
// 500 and 503
// ---------------------------------------------------------------------------

#[tokio::test]
async fn store_errors() {
    /// A store error, and the status, `Retry-After` and body it gets.
    type Case = (
        fn() -> StoreError,
        StatusCode,
        Option<&'static str>,
        &'static str,
    );
    let cases: [Case; 4] = [
        (
            || StoreError::Overloaded {
                retry_after: Some(Duration::from_secs(30)),
            },
            StatusCode::SERVICE_UNAVAILABLE,
            Some("30"),
            "store overloaded\n",
        ),
        (
            || StoreError::Overloaded { retry_after: None },
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            "store overloaded\n",
        ),
        (
            || StoreError::Closed,
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            "store closed\n",
        ),
        (
            || StoreError::failed("disk full"),
            StatusCode::INTERNAL_SERVER_ERROR,
            None,
            "store failed: disk full\n",
        ),
    ];
    for (error, status, retry_after, body) in cases {
        let calls = Arc::new(AtomicUsize::new(0));
        let gw = PushGateway::builder(BoxStore::new(Failing(error, calls.clone())))
            .build()
            .unwrap();
        let (got, headers, text) = send(&gw, post("/metrics/job/j", TEXT)).await;
        assert_eq!((got, text.as_str()), (status, body));
        assert_eq!(
            headers.get(RETRY_AFTER).map(|v| v.to_str().unwrap()),
            retry_after
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}

// ---------------------------------------------------------------------------
// Metrics and builder
// ---------------------------------------------------------------------------

#[tokio::test]
async fn outcomes_are_counted_in_the_registry() {
    let store = MemoryStore::new();
    let registry = prometheus::Registry::new();
    let gw = PushGateway::builder(store.clone())
        .registry(registry.clone())
        .build()
        .unwrap();
    send(&gw, post("/metrics/job/j", TEXT)).await;
    send(&gw, post("/metrics/job/j", "up 1 1\n")).await;
    send(&gw, post("/metrics/job/j", "up{\n")).await;
    send(
        &gw,
        Request::patch("/").body(Full::new(Bytes::new())).unwrap(),
    )
    .await;
    send(&gw, post("/nowhere", TEXT)).await;
    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&gw.registry().gather(), &mut out)
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    for line in [
        "pushgate_pushes_total{outcome=\"stored\"} 1\n",
        "pushgate_pushes_total{outcome=\"bad_request\"} 2\n",
        "pushgate_pushes_total{outcome=\"method_not_allowed\"} 1\n",
        "pushgate_pushes_total{outcome=\"not_found\"} 1\n",
        "pushgate_pushes_total{outcome=\"too_large\"} 0\n",
        "pushgate_push_duration_seconds_count 5\n",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
    // The 404's body is not read.
    let bytes = TEXT.len() + "up 1 1\n".len() + "up{\n".len();
    assert!(
        text.contains(&format!("pushgate_received_bytes_total {bytes}\n")),
        "{text}"
    );
    // The same registry, given again, already has the metrics.
    let err = PushGateway::builder(store)
        .registry(registry)
        .build()
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("registering the gateway's metrics: "),
        "{err}"
    );
}

#[tokio::test]
async fn clones_share_store_and_metrics() {
    let store = MemoryStore::new();
    let gw = gateway(&store);
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let gw = gw.clone();
            tokio::spawn(async move {
                gw.oneshot(post(&format!("/metrics/job/j{i}"), TEXT))
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.await.unwrap(), StatusCode::ACCEPTED);
    }
    assert_eq!(store.len(), 8);
    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&gw.registry().gather(), &mut out)
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("pushgate_pushes_total{outcome=\"stored\"} 8\n"),
        "{text}"
    );
}
