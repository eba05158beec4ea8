//! The push gateway mounted in an axum app beside the app's own routes.
//!
//! ```sh
//! cargo run --example axum                 # listens on 127.0.0.1:3000
//! cargo run --example axum -- 127.0.0.1:0  # or LISTEN=127.0.0.1:0: any free port
//! curl --data-binary $'# TYPE jobs_total counter\njobs_total 3\n' http://127.0.0.1:3000/metrics/job/batch
//! curl http://127.0.0.1:3000/   # says how many pushes are stored
//! ```

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::routing::get;
use axum::Router;
use pushgate::gateway::{PeerAddr, PushGateway};
use pushgate::store::MemoryStore;

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
        .unwrap_or_else(|| "127.0.0.1:3000".to_owned());

    // Keep the last 100 pushes in memory; `/` reports on them.
    let store = MemoryStore::with_capacity_limit(100);
    let gateway = PushGateway::builder(store.clone())
        .build()
        .expect("the gateway's own registry takes its metrics");

    let app = Router::new()
        .route("/", get(index))
        .route("/hello", get(|| async { "hello\n" }))
        // The Pushgateway's push path: /metrics/job/<job>{/<label>/<value>}.
        .route_service("/metrics/job/{*grouping}", gateway)
        .with_state(store)
        // The client's address, for the gateway's logs.
        .layer(axum::middleware::map_request(peer_addr));

    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

async fn index(State(store): State<MemoryStore>) -> String {
    let pushes = store.messages();
    let mut page = format!("{} pushes stored\n", pushes.len());
    if let Some(last) = pushes.last() {
        page.push_str("last:\n");
        page.push_str(&String::from_utf8_lossy(&last.data));
    }
    page
}

async fn peer_addr(ConnectInfo(peer): ConnectInfo<SocketAddr>, mut req: Request) -> Request {
    req.extensions_mut().insert(PeerAddr(peer));
    req
}
