//! The push gateway served by a bare hyper 1 server: an accept loop, one
//! HTTP/1.1 connection per task, the gateway as the only service.
//!
//! ```sh
//! cargo run --example hyper                 # listens on 127.0.0.1:9091
//! cargo run --example hyper -- 127.0.0.1:0  # or LISTEN=127.0.0.1:0: any free port
//! curl --data-binary $'# TYPE jobs_total counter\njobs_total 3\n' http://127.0.0.1:9091/metrics/job/batch
//! ```
//!
//! Pushes are logged (`LogStore`). `pushgate::server::Server` is this loop
//! with HTTP/2, timeouts and graceful shutdown added.

use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use pushgate::gateway::{PeerAddr, PushGateway};
use pushgate::store::{Encoder, LogStore, MessageStore};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // Logs (pushes refused, and for LogStore every push) at info unless
    // RUST_LOG says otherwise.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let addr = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("LISTEN").ok())
        .unwrap_or_else(|| "127.0.0.1:9091".to_owned());

    let gateway = PushGateway::builder(LogStore::new().encoded(Encoder::default()))
        .build()
        .expect("the gateway's own registry takes its metrics");

    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, peer) = listener.accept().await?;
        // The gateway answers any path; tell it who is pushing.
        let service = tower::ServiceBuilder::new()
            .map_request(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(PeerAddr(peer));
                req
            })
            .service(gateway.clone());
        tokio::spawn(async move {
            let served = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                .await;
            if let Err(error) = served {
                eprintln!("connection from {peer}: {error}");
            }
        });
    }
}
