//! [`Gatherer`]: the source of the families a pusher sends.
//!
//! Implemented here for closures, [`GatherFn`] (async closures) and
//! `Arc<G>` and [`Filter`] (a gatherer of the families that a
//! [`Matcher`](crate::matcher::Matcher) keeps); in submodules for the
//! `prometheus` crate's `Registry` and, with the `prometheus-client`
//! feature, for the official client's.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use crate::matcher::Filter;
use crate::model::MetricFamily;

#[cfg(feature = "prometheus-client")]
mod client_rust;
mod rust_prometheus;
#[cfg(test)]
mod tests;

/// Why a [`Gatherer`] could not return its families.
///
/// Wraps whatever error the source had; the pusher reports it as a failed
/// push without sending anything.
#[derive(Debug)]
pub struct GatherError(Box<dyn StdError + Send + Sync>);

impl GatherError {
    /// Wraps `error`.
    pub fn new(error: impl Into<Box<dyn StdError + Send + Sync>>) -> GatherError {
        GatherError(error.into())
    }

    /// The wrapped error.
    pub fn into_inner(self) -> Box<dyn StdError + Send + Sync> {
        self.0
    }
}

impl fmt::Display for GatherError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl StdError for GatherError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source()
    }
}

/// Returns the families to push (InfluxDB telemetry's `prometheus.Gatherer`).
///
/// Gathering is async so that a slow source can be bounded by the pusher's
/// timeout and cancelled by dropping the push.
///
/// Implemented for:
///
/// * any `Fn() -> Result<Vec<MetricFamily>, E>` closure (sync; for a source
///   that must await, wrap an async closure with [`gather_fn`]);
/// * `prometheus::Registry` and `&prometheus::Registry` (so
///   `prometheus::default_registry()` is a gatherer as it is), converting
///   every family field by field;
/// * with the `prometheus-client` feature, `prometheus_client`'s `Registry`,
///   alone or in a `Mutex`/`RwLock`;
/// * [`Filter`](crate::matcher::Filter), which keeps a chosen subset of
///   another gatherer's families;
/// * `Arc<G>` for any gatherer `G`.
///
/// There is no impl for `&G` or `Box<G>` in general: a reference to a
/// closure, and a box of one, are closures themselves, so those impls would
/// overlap the closure impl. Wrap such a gatherer in an `Arc` instead.
///
/// A closure:
///
/// ```
/// use pushgate::model::MetricFamily;
/// use pushgate::push::Gatherer;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let gatherer = || -> Result<Vec<MetricFamily>, std::io::Error> {
///     Ok(vec![MetricFamily { name: Some("up".into()), ..Default::default() }])
/// };
/// let families = gatherer.gather().await.unwrap();
/// assert_eq!(families[0].name(), "up");
/// # }
/// ```
pub trait Gatherer: Send + Sync {
    /// Gathers the families, in any order.
    fn gather(&self) -> impl Future<Output = Result<Vec<MetricFamily>, GatherError>> + Send;
}

impl<F, E> Gatherer for F
where
    F: Fn() -> Result<Vec<MetricFamily>, E> + Send + Sync,
    E: Into<Box<dyn StdError + Send + Sync>>,
{
    fn gather(&self) -> impl Future<Output = Result<Vec<MetricFamily>, GatherError>> + Send {
        std::future::ready(self().map_err(GatherError::new))
    }
}

impl<G> Gatherer for Arc<G>
where
    G: Gatherer + ?Sized,
{
    fn gather(&self) -> impl Future<Output = Result<Vec<MetricFamily>, GatherError>> + Send {
        G::gather(self)
    }
}

/// A gatherer that calls an async closure: what [`gather_fn`] returns.
#[derive(Clone, Copy)]
pub struct GatherFn<F>(F);

impl<F> fmt::Debug for GatherFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Closures have no Debug of their own.
        f.write_str("GatherFn")
    }
}

/// A [`Gatherer`] from a closure that returns a future, for sources that
/// must await (another service, a lock held across I/O). The plain closure
/// impl of `Gatherer` covers only closures that return their families
/// directly.
///
/// The future must be `Send`; its error is any error type.
///
/// ```
/// use std::sync::Arc;
/// use pushgate::model::MetricFamily;
/// use pushgate::push::{gather_fn, Gatherer};
/// use tokio::sync::Mutex;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let shared = Arc::new(Mutex::new(vec![MetricFamily {
///     name: Some("up".into()),
///     ..Default::default()
/// }]));
/// let gatherer = gather_fn(move || {
///     let shared = shared.clone();
///     async move { Ok::<_, std::io::Error>(shared.lock().await.clone()) }
/// });
/// let families = gatherer.gather().await.unwrap();
/// assert_eq!(families[0].name(), "up");
/// # }
/// ```
pub fn gather_fn<F, Fut, E>(f: F) -> GatherFn<F>
where
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = Result<Vec<MetricFamily>, E>> + Send,
    E: Into<Box<dyn StdError + Send + Sync>>,
{
    GatherFn(f)
}

impl<F> GatherFn<F> {
    /// Gives up the closure.
    pub fn into_inner(self) -> F {
        self.0
    }
}

impl<F, Fut, E> Gatherer for GatherFn<F>
where
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = Result<Vec<MetricFamily>, E>> + Send,
    E: Into<Box<dyn StdError + Send + Sync>>,
{
    fn gather(&self) -> impl Future<Output = Result<Vec<MetricFamily>, GatherError>> + Send {
        let future = (self.0)();
        async move { future.await.map_err(GatherError::new) }
    }
}

/// The families of the inner gatherer that the matcher keeps.
///
/// ```
/// use pushgate::matcher::{Filter, Matcher};
/// use pushgate::model::{Metric, MetricFamily};
/// use pushgate::push::Gatherer;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let gather = || -> Result<Vec<MetricFamily>, std::io::Error> {
///     Ok(vec![
///         MetricFamily { name: Some("b_total".into()), metric: vec![Metric::default()], ..Default::default() },
///         MetricFamily { name: Some("secret".into()), metric: vec![Metric::default()], ..Default::default() },
///         MetricFamily { name: Some("a_total".into()), metric: vec![Metric::default()], ..Default::default() },
///     ])
/// };
/// let filter = Filter::new(gather, Matcher::new().family("a_total").family("b_total"));
///
/// let families = filter.gather().await.unwrap();
/// let names: Vec<_> = families.iter().map(|mf| mf.name()).collect();
/// assert_eq!(names, ["a_total", "b_total"]);
/// # }
/// ```
impl<G: Gatherer> Gatherer for Filter<G> {
    async fn gather(&self) -> Result<Vec<MetricFamily>, GatherError> {
        let mut families = self.gatherer().gather().await?;
        self.matcher().retain(&mut families);
        Ok(families)
    }
}
