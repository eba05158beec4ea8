//! The gateway plugs unchanged into axum, tonic and hyper, mounted
//! anywhere, and under tower's middleware in front of its store.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use pushgate::gateway::{GatewayBody, PeerAddr, PushGateway};
use pushgate::model::LabelPair;
use pushgate::store::{MemoryStore, Push, Store, StoreError, StoreService};
use tower::{Service, ServiceBuilder, ServiceExt};

const BODY: &str = "# TYPE jobs_total counter\njobs_total{queue=\"a\"} 3\n";

type Gateway = PushGateway<StoreService<MemoryStore>>;

fn gateway(store: &MemoryStore) -> Gateway {
    PushGateway::builder(store.clone()).build().unwrap()
}

async fn text(
    response: Response<impl http_body::Body<Data = Bytes, Error: std::fmt::Debug>>,
) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

async fn post(app: &axum::Router, path: &str) -> (StatusCode, String) {
    let req = Request::post(path)
        .body(axum::body::Body::from(BODY))
        .unwrap();
    let response = app.clone().oneshot(req).await.unwrap();
    (response.status(), text(response).await)
}

fn key(push: &Push) -> Vec<(&str, &str)> {
    push.grouping
        .iter()
        .map(|l| (l.name(), l.value()))
        .collect()
}

#[tokio::test]
async fn axum_route_service_at_the_root_and_under_a_prefix() {
    let store = MemoryStore::new();
    let app = axum::Router::new()
        .route_service("/metrics/job/{*grouping}", gateway(&store))
        .route_service("/ingest/metrics/job/{*rest}", gateway(&store));
    assert_eq!(
        post(&app, "/metrics/job/batch/instance/h1").await.0,
        StatusCode::ACCEPTED
    );
    // The full path reaches the gateway: it finds the key after /metrics/job/.
    assert_eq!(
        post(&app, "/ingest/metrics/job/nested/zone/eu").await.0,
        StatusCode::ACCEPTED
    );
    let pushes = store.pushes();
    assert_eq!(key(&pushes[0]), [("job", "batch"), ("instance", "h1")]);
    assert_eq!(key(&pushes[1]), [("job", "nested"), ("zone", "eu")]);
    // And stamps the stored metrics with it.
    let labels = &pushes[1].families[0].metric[0].label;
    assert!(labels.contains(&LabelPair::new("zone", "eu")), "{labels:?}");
}

#[tokio::test]
async fn axum_nest_service_refuses_what_is_not_a_push_path_with_404() {
    let store = MemoryStore::new();
    let app = axum::Router::new().nest_service("/ingest", gateway(&store));
    assert_eq!(
        post(&app, "/ingest/metrics/job/nested").await.0,
        StatusCode::ACCEPTED
    );
    let (status, body) = post(&app, "/ingest/other").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.starts_with("not a push path: \"/other\""), "{body}");
    assert_eq!(store.len(), 1);
    assert_eq!(key(&store.pushes()[0]), [("job", "nested")]);
}

#[tokio::test]
async fn a_prefix_of_ones_own() {
    let store = MemoryStore::new();
    let gateway = PushGateway::builder(store.clone())
        .path_prefix("/telemetry")
        .build()
        .unwrap();
    let app = axum::Router::new().route_service("/api/telemetry/job/{*rest}", gateway);
    assert_eq!(
        post(&app, "/api/telemetry/job/j/a/b").await.0,
        StatusCode::ACCEPTED
    );
    assert_eq!(key(&store.pushes()[0]), [("job", "j"), ("a", "b")]);
    // A refusal names the push path this gateway takes.
    let app = axum::Router::new().fallback_service(
        PushGateway::builder(MemoryStore::new())
            .path_prefix("/telemetry")
            .build()
            .unwrap(),
    );
    let (status, body) = post(&app, "/metrics/job/j").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        "not a push path: \"/metrics/job/j\" (push to /telemetry/job/<job>{/<label>/<value>})\n"
    );
}

/// A store that takes `delay` per write and counts the writes begun.
#[derive(Clone)]
struct SlowStore {
    delay: Duration,
    begun: Arc<AtomicUsize>,
    inner: MemoryStore,
}

impl Store for SlowStore {
    async fn write(&self, push: Push) -> Result<(), StoreError> {
        self.begun.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.inner.write(push).await
    }
}

#[tokio::test]
async fn load_shedding_in_front_of_a_slow_store_answers_503_and_stores_every_202() {
    let kept = MemoryStore::new();
    let slow = SlowStore {
        delay: Duration::from_millis(300),
        begun: Arc::new(AtomicUsize::new(0)),
        inner: kept.clone(),
    };
    // Two writes at a time; past that, shed at once.
    let store = ServiceBuilder::new()
        .load_shed()
        .concurrency_limit(2)
        .service(StoreService::new(slow.clone()));
    let gateway = PushGateway::service_builder(store).build().unwrap();
    let app = axum::Router::new().route_service("/metrics/job/{*rest}", gateway);
    let sends: Vec<_> = (0..8)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move { post(&app, &format!("/metrics/job/j{i}")).await })
        })
        .collect();
    let mut accepted = Vec::new();
    let mut shed = 0;
    for (i, send) in sends.into_iter().enumerate() {
        let (status, body) = send.await.unwrap();
        match status {
            StatusCode::ACCEPTED => accepted.push(format!("j{i}")),
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(body, "store overloaded\n");
                shed += 1;
            }
            other => panic!("{other}: {body}"),
        }
    }
    // At most two in the store at once: the rest were shed, not queued.
    assert!(shed >= 1, "nothing shed");
    assert_eq!(accepted.len() + shed, 8);
    assert_eq!(slow.begun.load(Ordering::SeqCst), accepted.len());
    // Each 202 is in the store, and nothing else is.
    let mut stored: Vec<String> = kept
        .pushes()
        .iter()
        .map(|p| p.grouping[0].value().to_owned())
        .collect();
    stored.sort();
    accepted.sort();
    assert_eq!(stored, accepted);
}

/// tonic routes a service by its name: `/metrics/*` for this one.
#[derive(Clone)]
struct Named(Gateway);

impl tonic::server::NamedService for Named {
    const NAME: &'static str = "metrics";
}

impl Service<Request<tonic::body::Body>> for Named {
    type Response = Response<GatewayBody>;
    type Error = Infallible;
    type Future = <Gateway as Service<Request<tonic::body::Body>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Service::<Request<tonic::body::Body>>::poll_ready(&mut self.0, cx)
    }

    fn call(&mut self, req: Request<tonic::body::Body>) -> Self::Future {
        self.0.call(req)
    }
}

#[tokio::test]
async fn tonic_routes() {
    let store = MemoryStore::new();
    // Beside gRPC services, by name ...
    let routes = tonic::service::Routes::new(Named(gateway(&store)));
    let req = Request::post("/metrics/job/grpc_side")
        .body(axum::body::Body::from(BODY))
        .unwrap();
    let response = routes.oneshot(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    // ... or through an axum router.
    let router = axum::Router::new().route_service("/metrics/job/{*grouping}", gateway(&store));
    let routes = tonic::service::Routes::from(router);
    let _server = tonic::transport::Server::builder().add_routes(routes.clone());
    let req = Request::post("/metrics/job/axum_side")
        .body(axum::body::Body::from(BODY))
        .unwrap();
    assert_eq!(
        routes.oneshot(req).await.unwrap().status(),
        StatusCode::ACCEPTED
    );
    let jobs: Vec<_> = store
        .pushes()
        .iter()
        .map(|m| m.grouping[0].value().to_owned())
        .collect();
    assert_eq!(jobs, ["grpc_side", "axum_side"]);
}

#[tokio::test]
async fn hyper_serve_connection() {
    let store = MemoryStore::new();
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let gateway = gateway(&store);
    let peer: std::net::SocketAddr = "192.0.2.1:4000".parse().unwrap();
    let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(PeerAddr(peer));
        gateway.clone().oneshot(req)
    });
    let server = tokio::spawn(async move {
        hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(server_io), service)
            .await
    });
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(client_io))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::post("/metrics/job/hyper")
        .header("content-type", "text/plain; version=0.0.4")
        .body(Full::new(Bytes::from_static(BODY.as_bytes())))
        .unwrap();
    let response = sender.send_request(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(text(response).await, "stored 1 families, 1 series\n");
    let req = Request::patch("/metrics/job/hyper")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = sender.send_request(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "POST, PUT, DELETE");
    drop(sender);
    server.await.unwrap().unwrap();
    assert_eq!(store.len(), 1);
    assert_eq!(store.pushes()[0].peer, Some(peer));
}

#[test]
fn plugs_into_hyper_via_tower_to_hyper_service() {
    fn hyper_service<S: hyper::service::Service<Request<hyper::body::Incoming>>>(_: &S) {}
    let service = TowerToHyperService::new(gateway(&MemoryStore::new()));
    hyper_service(&service);
    fn send_sync_static<T: Send + Sync + Clone + 'static>(_: &T) {}
    send_sync_static(&service);
}
