//! Refusals are logged with reason, peer and bytes. In a test binary of its
//! own: a thread's default `tracing` subscriber is only reliable when no
//! other test emits events concurrently.

mod support {
    pub mod logs;
}

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use pushgate::gateway::{PeerAddr, PushGateway};
use pushgate::store::{BoxStore, MemoryStore, Push, Store, StoreError, StoreService};
use support::logs::Captured;
use tower::ServiceExt;

/// A store that is shut down.
struct Closed;

impl Store for Closed {
    async fn write(&self, _: Push) -> Result<(), StoreError> {
        Err(StoreError::Closed)
    }
}

async fn status<S: Store>(
    gw: &PushGateway<StoreService<S>>,
    req: Request<Full<Bytes>>,
) -> StatusCode {
    gw.clone().oneshot(req).await.unwrap().status()
}

fn post(path: &str, body: &'static str) -> Request<Full<Bytes>> {
    Request::post(path)
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn refusals_are_logged_with_reason_peer_and_bytes() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let store = MemoryStore::new();
    let gw = PushGateway::builder(store.clone()).build().unwrap();
    let mut req = post("/metrics/job/j", "up 1 1\n");
    let peer: std::net::SocketAddr = "198.51.100.4:40000".parse().unwrap();
    req.extensions_mut().insert(PeerAddr(peer));
    assert_eq!(status(&gw, req).await, StatusCode::BAD_REQUEST);
    assert!(store.is_empty());
    let failing = PushGateway::builder(BoxStore::new(Closed)).build().unwrap();
    assert_eq!(
        status(&failing, post("/metrics/job/j", "up 1\n")).await,
        StatusCode::SERVICE_UNAVAILABLE
    );

    let log = captured.text();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(lines[0].contains(" INFO "), "{log}");
    for part in [
        "push refused",
        "peer=198.51.100.4:40000",
        "bytes=7",
        "status=400",
        "reason=pushed metrics must not have timestamp",
    ] {
        assert!(lines[0].contains(part), "{part} in {log}");
    }
    assert!(lines[1].contains(" WARN "), "{log}");
    assert!(
        lines[1].contains("status=503") && lines[1].contains("reason=store closed"),
        "{log}"
    );
}
