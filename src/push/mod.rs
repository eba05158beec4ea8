//! The sending side: gather families, keep a chosen subset, push them to a
//! gateway (the seed's `Pusher` and `Reporter`).
//!
//! * [`Gatherer`]: where the families come from (a `prometheus::Registry`,
//!   a closure, a [`Filter`](crate::matcher::Filter) over either).
//! * [`Pusher`]: gathers, encodes and sends them to a gateway (pushgate's
//!   or the Prometheus Pushgateway), with `POST`, `PUT` or `DELETE`, a
//!   timeout, [`Retry`]s, gzip and auth; errors are [`PushError`]s.
//! * [`HttpClient`]: the pusher's default client (hyper-util, rustls);
//!   any `tower::Service` of `http::Request<Full<Bytes>>` will do instead.
//! * [`grouping`]: how a job and grouping labels are written into the URL.
//!
//! ```
//! use pushgate::gateway::PushGateway;
//! use pushgate::model::{Gauge, Metric, MetricFamily, MetricType};
//! use pushgate::push::Pusher;
//! use pushgate::store::MemoryStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A gateway on a free port of this machine, to push to.
//! let store = MemoryStore::new();
//! let gateway = PushGateway::builder(store.clone()).build()?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! tokio::spawn(pushgate::server::serve(listener, gateway, std::future::pending()));
//!
//! // What to push: any Fn() -> Result<Vec<MetricFamily>, E> is a gatherer.
//! let gatherer = || -> Result<Vec<MetricFamily>, std::io::Error> {
//!     let mut family = MetricFamily { name: Some("backup_files".into()), ..Default::default() };
//!     family.set_metric_type(MetricType::Gauge);
//!     family.metric.push(Metric { gauge: Some(Gauge { value: Some(42.0) }), ..Default::default() });
//!     Ok(vec![family])
//! };
//! let pusher = Pusher::builder(format!("http://{addr}"), gatherer)
//!     .job("backup")
//!     .grouping("path", "/var/tmp")
//!     .build()?;
//! assert_eq!(pusher.url().path(), "/metrics/job/backup/path@base64/L3Zhci90bXA");
//!
//! let pushed = pusher.push().await?;
//! assert_eq!(pushed.status, Some(http::StatusCode::ACCEPTED));
//! let stored = &store.messages()[0];
//! assert_eq!(stored.grouping[1].value(), "/var/tmp");
//! # Ok(())
//! # }
//! ```

mod client;
mod error;
mod gatherer;
pub mod grouping;
mod pusher;
mod retry;

pub use client::{ClientBuildError, HttpClient, HttpClientBuilder};
pub use error::{BuildError, PushError, BODY_PREFIX_LEN};
pub use gatherer::{GatherError, Gatherer};
pub use pusher::{Deleted, Pushed, Pusher, PusherBuilder};
pub use retry::Retry;
