//! A tonic gRPC server (the standard health service) and the push gateway
//! on one port: gRPC over HTTP/2, pushes over HTTP/1.1 or HTTP/2.
//!
//! ```sh
//! cargo run --example tonic                 # listens on 127.0.0.1:50051
//! cargo run --example tonic -- 127.0.0.1:0  # or LISTEN=127.0.0.1:0: any free port
//! curl --data-binary $'# TYPE jobs_total counter\njobs_total 3\n' http://127.0.0.1:50051/metrics/job/batch
//! grpc_health_probe -addr 127.0.0.1:50051   # SERVING
//! ```
//!
//! tonic routes gRPC calls by path (`/grpc.health.v1.Health/Check`), and
//! takes an axum router as its routes: the gateway is mounted on the
//! router with `route_service`, and the gRPC services are added beside it.

use pushgate::gateway::PushGateway;
use pushgate::store::{Encoder, LogStore, MessageStore};
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Logs (pushes refused, and for LogStore every push) at info unless
    // RUST_LOG says otherwise.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let addr = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("LISTEN").ok())
        .unwrap_or_else(|| "127.0.0.1:50051".to_owned());

    let gateway = PushGateway::builder(LogStore::new().encoded(Encoder::default())).build()?;
    // The whole server ("") reports SERVING from the start.
    let (_health_reporter, health_service) = tonic_health::server::health_reporter();

    let router = axum::Router::new().route_service("/metrics/job/{*grouping}", gateway);
    let routes = Routes::from(router).add_service(health_service);

    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    Server::builder()
        // curl and most push clients speak HTTP/1.1.
        .accept_http1(true)
        .add_routes(routes)
        .serve_with_incoming(TcpIncoming::from(listener))
        .await?;
    Ok(())
}
