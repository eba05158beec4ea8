//! The sending side: gather families, keep a chosen subset, push them to a
//! gateway (the seed's `Pusher` and `Reporter`).
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

mod gatherer;

pub use gatherer::{gather_fn, GatherError, GatherFn, Gatherer};
