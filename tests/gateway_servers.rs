//! The gateway plugs unchanged into axum, tonic and hyper.

use std::convert::Infallible;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use pushgate::gateway::{GatewayBody, PeerAddr, PushGateway};
use pushgate::store::MemoryStore;
use tower::{Service, ServiceExt};

const BODY: &str = "# TYPE jobs_total counter\njobs_total{queue=\"a\"} 3\n";

fn gateway(store: &MemoryStore) -> PushGateway<MemoryStore> {
    PushGateway::builder(store.clone()).build().unwrap()
}

async fn text(
    response: Response<impl http_body::Body<Data = Bytes, Error: std::fmt::Debug>>,
) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn axum_route_service() {
    let store = MemoryStore::new();
    let app = axum::Router::new()
        .route_service("/metrics/job/{*grouping}", gateway(&store))
        .route_service("/push", gateway(&store));
    let req = Request::post("/metrics/job/batch/instance/h1")
        .body(axum::body::Body::from(BODY))
        .unwrap();
    let response = app.clone().oneshot(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let req = Request::put("/push")
        .body(axum::body::Body::from(BODY))
        .unwrap();
    assert_eq!(
        app.oneshot(req).await.unwrap().status(),
        StatusCode::ACCEPTED
    );
    let messages = store.messages();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].grouping.len(), 2);
    assert!(messages[1].grouping.is_empty());
}

/// tonic routes a service by its name: `/metrics/*` for this one.
#[derive(Clone)]
struct Named(PushGateway<MemoryStore>);

impl tonic::server::NamedService for Named {
    const NAME: &'static str = "metrics";
}

impl Service<Request<tonic::body::Body>> for Named {
    type Response = Response<GatewayBody>;
    type Error = Infallible;
    type Future = <PushGateway<MemoryStore> as Service<Request<tonic::body::Body>>>::Future;

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
        .messages()
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
    let req = Request::delete("/metrics/job/hyper")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = sender.send_request(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "POST, PUT");
    drop(sender);
    server.await.unwrap().unwrap();
    assert_eq!(store.len(), 1);
}

#[test]
fn plugs_into_hyper_via_tower_to_hyper_service() {
    fn hyper_service<S: hyper::service::Service<Request<hyper::body::Incoming>>>(_: &S) {}
    let service = TowerToHyperService::new(gateway(&MemoryStore::new()));
    hyper_service(&service);
    fn send_sync_static<T: Send + Sync + Clone + 'static>(_: &T) {}
    send_sync_static(&service);
}
