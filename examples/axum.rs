//! The push gateway mounted in an axum app beside the app's own routes.
//!
//! ```sh
//! cargo run --example axum                 # listens on 127.0.0.1:3000
//! cargo run --example axum -- 127.0.0.1:0  # or LISTEN=127.0.0.1:0: any free port
//! curl --data-binary $'# TYPE jobs_total counter\njobs_total 3\n' http://127.0.0.1:3000/metrics/job/batch
//! curl http://127.0.0.1:3000/          # how many pushes are stored, the last in text
//! curl http://127.0.0.1:3000/metrics   # the gateway's own metrics
//! ```

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::routing::get;
use axum::Router;
use pushgate::gateway::{PeerAddrLayer, PushGateway};
use pushgate::store::MemoryStore;
use pushgate::{codec, Format};
use tower::Layer;

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

    // The client's address, for the gateway's logs and the store, from
    // the `ConnectInfo` that `into_make_service_with_connect_info` adds.
    let peer = PeerAddrLayer::from_extension(|info: &ConnectInfo<SocketAddr>| info.0);
    let app = Router::new()
        .route("/", get(index))
        .route("/hello", get(|| async { "hello\n" }))
        .route_service("/metrics", gateway.registry_service())
        // The Pushgateway's push path: /metrics/job/<job>{/<label>/<value>}.
        .route_service("/metrics/job/{*grouping}", peer.layer(gateway))
        .with_state(store);

    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

async fn index(State(store): State<MemoryStore>) -> String {
    let pushes = store.pushes();
    let mut page = format!("{} pushes stored\n", pushes.len());
    if let Some(last) = pushes.last() {
        let from = last.peer.map_or("unknown".to_owned(), |p| p.to_string());
        page.push_str(&format!("last, from {from}:\n"));
        let mut text = Vec::new();
        match codec::encode(Format::Text, &last.families, &mut text) {
            Ok(()) => page.push_str(&String::from_utf8_lossy(&text)),
            Err(error) => page.push_str(&format!("(not writable as text: {error})\n")),
        }
    }
    page
}
