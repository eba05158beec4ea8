//! The sending side: gather families, keep a chosen subset, push them to a
//! gateway (InfluxDB telemetry's `Pusher` and `Reporter`).
//!
//! * [`Gatherer`]: where the families come from, returning them or a
//!   [`GatherError`]. Implemented for a `prometheus::Registry` (and
//!   `&Registry`, so `prometheus::default_registry()` works as it is), for
//!   `Fn() -> Result<Vec<MetricFamily>, E>` closures, for async closures
//!   through [`gather_fn`], for `prometheus_client`'s `Registry` with the
//!   `prometheus-client` feature, for `Arc<G>`, and for a
//!   [`Filter`](crate::matcher::Filter) over any of them, which keeps only
//!   the families (and metrics) its [`Matcher`](crate::matcher::Matcher)
//!   names.
//! * [`Pusher`]: gathers, encodes and sends them to a gateway (pushgate's
//!   or the Prometheus Pushgateway), with `POST`, `PUT` or `DELETE`, a
//!   timeout, [`Retry`]s, gzip and auth; errors are [`PushError`]s.
//! * [`Reporter`]: runs a pusher on a schedule (at start, then every
//!   interval, 24 h by default, with optional jitter) until a shutdown
//!   signal, logging failures and going on; it can push once more on
//!   shutdown.
//! * [`HttpClient`]: the pusher's default client (hyper-util, rustls), from
//!   [`client`](crate::client); any `tower::Service` of
//!   `http::Request<Full<Bytes>>` will do instead.
//! * [`grouping`](crate::grouping): how a job and grouping labels are
//!   written into the URL.
//!
//! Pushing to a gateway:
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
//! let stored = &store.pushes()[0];
//! assert_eq!(stored.grouping[1].value(), "/var/tmp");
//! # Ok(())
//! # }
//! ```
//!
//! Gathering a chosen subset of a `prometheus::Registry`:
//!
//! ```
//! use pushgate::matcher::{Filter, Matcher};
//! use pushgate::push::Gatherer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let registry = prometheus::Registry::new();
//! let jobs = prometheus::IntCounter::new("jobs_total", "Jobs run.").unwrap();
//! let queue = prometheus::IntGauge::new("queue_length", "Jobs waiting.").unwrap();
//! registry.register(Box::new(jobs.clone())).unwrap();
//! registry.register(Box::new(queue.clone())).unwrap();
//!
//! // Push only the job count.
//! let gatherer = Filter::new(registry, Matcher::new().family("jobs_total"));
//! let families = gatherer.gather().await.unwrap();
//! assert_eq!(families.len(), 1);
//! assert_eq!(families[0].name(), "jobs_total");
//! # }
//! ```

mod error;
mod gatherer;
mod pusher;
mod reporter;

pub use crate::client::Retry;
pub use crate::client::{ClientBuildError, HttpClient, HttpClientBuilder};
pub use error::{BuildError, PushError, BODY_PREFIX_LEN};
pub use gatherer::{gather_fn, GatherError, GatherFn, Gatherer};
pub use pusher::{Deleted, Pushed, Pusher, PusherBuilder};
pub use reporter::{InFlight, Reported, Reporter, DEFAULT_INTERVAL};
