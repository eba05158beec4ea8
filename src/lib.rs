//! # pushgate
//!
//! Prometheus *push* telemetry as tower middleware: a gateway that receives
//! pushed metrics, a pusher that sends them, and the codecs between.
//!
//! Here so far: the metric [`model`], every push [`codec`] (protobuf,
//! Prometheus text, OpenMetrics, JSON, InfluxDB line protocol), [`Format`]
//! negotiation, the [`matcher`] and [`transform`] stages that select and
//! enrich families, the [`gateway`] (a tower service built from one layer per
//! stage) and the [`store`]s it writes to (a durable file log, Prometheus
//! remote write, InfluxDB, fan-out, and forwarding from the log to any of
//! them), the [`server`] loop that
//! serves it over TCP (what `pushgate serve` runs), and the sending side,
//! [`push`]: a [`Pusher`](push::Pusher) that gathers families and sends
//! them to a gateway over any tower client (by default hyper-util with
//! rustls), with grouping keys, retries, gzip, auth and mutual TLS, and a
//! [`Reporter`](push::Reporter) that runs a pusher every interval until
//! shutdown. The [`grouping`] key protocol and the [`validate`] rules are
//! shared by both sides.
//!
//! The design follows InfluxDB v2's Go `telemetry` package (its
//! `PushGateway`, `Store`, `Encoder`, `Pusher`, `Reporter`, `Matcher` and
//! transformers); on the wire, pushgate behaves as the Prometheus
//! Pushgateway does.
//!
//! ## Features
//!
//! `cli` (the default) builds the `pushgate` command and everything it
//! uses. A library user picks what they need: `gateway` (the [`gateway`],
//! [`store`] and [`server`] modules), `remote-write` and `influxdb` (the
//! stores that send to those), `push` (the [`push`] module), `client` (the
//! HTTP [`client`] both of those send with; taken by either), `rustls`
//! (HTTPS for that client), `zstd` and `snappy` (those `Content-Encoding`s
//! on the gateway), `prometheus-client` (a gatherer for that crate). The model, codecs, [`grouping`], [`matcher`],
//! [`transform`] and [`validate`] are always built.
//!
//! ## Mounting the gateway in an axum app
//!
//! The gateway is a plain `tower::Service`: mount it beside your own routes.
//!
//! ```
//! use axum::{body::Body, routing::get, Router};
//! use http::{Request, StatusCode};
//! use pushgate::gateway::PushGateway;
//! use pushgate::store::MemoryStore;
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let store = MemoryStore::new();
//! let gateway = PushGateway::builder(store.clone()).build().unwrap();
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "my app" }))
//!     .route_service("/metrics/job/{*grouping}", gateway);
//!
//! // What `curl --data-binary @metrics.txt .../metrics/job/nightly` sends.
//! let push = Request::post("/metrics/job/nightly")
//!     .body(Body::from("# TYPE jobs_total counter\njobs_total 3\n"))
//!     .unwrap();
//! let response = app.oneshot(push).await.unwrap();
//! assert_eq!(response.status(), StatusCode::ACCEPTED);
//!
//! // Stored decoded, with the grouping label and a receive timestamp.
//! let stored = &store.pushes()[0];
//! let metric = &stored.families[0].metric[0];
//! assert_eq!(stored.families[0].name(), "jobs_total");
//! assert_eq!(metric.label[0].value(), "nightly");
//! assert!(metric.timestamp_ms.is_some());
//! # }
//! ```
//!
//! ## Pushing from a `prometheus::Registry`
//!
//! A [`Pusher`](push::Pusher) sends a chosen subset of a registry's families
//! to a gateway (here pushgate's own, served on a free local port; the
//! Prometheus Pushgateway takes the same pushes).
//!
//! ```
//! use pushgate::gateway::PushGateway;
//! use pushgate::matcher::{Filter, Matcher};
//! use pushgate::push::Pusher;
//! use pushgate::store::MemoryStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let store = MemoryStore::new();
//! # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! # let url = format!("http://{}", listener.local_addr()?);
//! # let gateway = PushGateway::builder(store.clone()).build()?;
//! # tokio::spawn(pushgate::server::serve(listener, gateway, std::future::pending()));
//! let registry = prometheus::Registry::new();
//! let jobs = prometheus::IntCounter::new("jobs_total", "Jobs run.")?;
//! let cache = prometheus::IntGauge::new("cache_entries", "Not for pushing.")?;
//! registry.register(Box::new(jobs.clone()))?;
//! registry.register(Box::new(cache.clone()))?;
//! jobs.inc_by(3);
//!
//! // Only jobs_total leaves the process.
//! let gatherer = Filter::new(registry, Matcher::new().family("jobs_total"));
//! let pusher = Pusher::builder(url, gatherer).job("nightly").build()?;
//! let pushed = pusher.push().await?;
//! assert_eq!(pushed.families, 1);
//!
//! let stored = &store.pushes()[0];
//! let names: Vec<&str> = stored.families.iter().map(|f| f.name()).collect();
//! assert_eq!(names, ["jobs_total"]);
//! # Ok(())
//! # }
//! ```
//!
//! A [`Reporter`](push::Reporter) runs such a pusher every interval until a
//! shutdown future fires; `examples/reporter.rs` is a whole app doing so.
//!
//! ## Decoding and encoding pushes
//!
//! ```
//! use bytes::Bytes;
//! use pushgate::{codec, Format};
//!
//! // A push as curl sends it: no Content-Type means Prometheus text.
//! let format = Format::from_content_type(None).unwrap();
//! let body = Bytes::from_static(b"# TYPE jobs_total counter\njobs_total{queue=\"a\"} 3\n");
//! let families = codec::decode(format, body, &codec::Limits::default()).unwrap();
//!
//! // Re-encode as length-delimited protobuf, as Go's push client sends it.
//! let mut out = Vec::new();
//! codec::encode(Format::Protobuf, &families, &mut out).unwrap();
//! let back = codec::decode(Format::Protobuf, out.into(), &codec::Limits::default()).unwrap();
//! assert_eq!(back, families);
//! ```

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![deny(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod b64;
#[cfg(feature = "client")]
pub mod client;
pub mod codec;
pub mod format;
#[cfg(feature = "gateway")]
pub mod gateway;
pub mod grouping;
pub mod matcher;
pub mod model;
#[cfg(feature = "push")]
pub mod push;
#[cfg(feature = "gateway")]
pub mod pushgateway;
#[cfg(feature = "gateway")]
pub mod server;
#[cfg(feature = "gateway")]
pub mod store;
pub mod time;
pub mod transform;
pub mod validate;

pub use format::Format;

/// A boxed error, as stores, bodies and tower's middleware report them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The largest request body read, in bytes (InfluxDB telemetry's
/// `DefaultMaxBytes`).
pub const DEFAULT_MAX_BYTES: usize = 1_024_000;

/// How long servicing a push may take (InfluxDB telemetry's
/// `DefaultTimeout`).
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
