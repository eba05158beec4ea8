//! [`Gatherer`] for the official `prometheus-client` crate's `Registry`
//! (feature `prometheus-client`).
//!
//! That crate exposes its metrics only through its encoders, so gathering
//! encodes the registry as OpenMetrics text and decodes that with
//! pushgate's own decoder ([`codec::openmetrics`](crate::codec::openmetrics),
//! whose docs say how OpenMetrics types map onto client_model's: a counter
//! family is named with its `_total`, `_created` samples become created
//! timestamps, and so on).

use std::future::Future;
use std::sync::{Mutex, PoisonError, RwLock};

use bytes::Bytes;
use prometheus_client::registry::Registry;

use super::{GatherError, Gatherer};
use crate::codec::openmetrics;
use crate::model::MetricFamily;

/// Encodes the registry as OpenMetrics and decodes it into families (sync:
/// the future is ready at once).
///
/// ```
/// use prometheus_client::metrics::counter::Counter;
/// use prometheus_client::registry::Registry;
/// use pushgate::push::Gatherer;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut registry = Registry::default();
/// let jobs: Counter = Counter::default();
/// registry.register("jobs", "Jobs run", jobs.clone());
/// jobs.inc_by(3);
///
/// let families = registry.gather().await.unwrap();
/// assert_eq!(families[0].name(), "jobs_total");
/// assert_eq!(families[0].metric[0].counter.as_ref().unwrap().value, Some(3.0));
/// # }
/// ```
impl Gatherer for Registry {
    fn gather(&self) -> impl Future<Output = Result<Vec<MetricFamily>, GatherError>> + Send {
        std::future::ready(gather(self))
    }
}

/// Locks the registry while encoding it, not while decoding. A poisoned lock
/// is still gathered: a panic elsewhere does not make the metrics wrong.
impl Gatherer for Mutex<Registry> {
    fn gather(&self) -> impl Future<Output = Result<Vec<MetricFamily>, GatherError>> + Send {
        let text = encode(&self.lock().unwrap_or_else(PoisonError::into_inner));
        std::future::ready(text.and_then(decode))
    }
}

/// As for `Mutex<Registry>`, with a read lock.
impl Gatherer for RwLock<Registry> {
    fn gather(&self) -> impl Future<Output = Result<Vec<MetricFamily>, GatherError>> + Send {
        let text = encode(&self.read().unwrap_or_else(PoisonError::into_inner));
        std::future::ready(text.and_then(decode))
    }
}

fn gather(registry: &Registry) -> Result<Vec<MetricFamily>, GatherError> {
    encode(registry).and_then(decode)
}

fn encode(registry: &Registry) -> Result<String, GatherError> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).map_err(|_| {
        // fmt::Error says nothing more; writing to a String fails only when
        // a metric's own encoding does.
        GatherError::new("prometheus-client could not encode its registry")
    })?;
    Ok(text)
}

fn decode(text: String) -> Result<Vec<MetricFamily>, GatherError> {
    openmetrics::decode(Bytes::from(text)).map_err(GatherError::new)
}
