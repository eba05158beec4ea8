//! [`Gatherer`]: the source of the families a pusher sends.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;

use crate::model::MetricFamily;

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

/// Returns the families to push (the seed's `prometheus.Gatherer`).
///
/// Gathering is async so that a slow source can be bounded by the pusher's
/// timeout and cancelled by dropping the push.
///
/// Any `Fn() -> Result<Vec<MetricFamily>, E>` closure is a gatherer:
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
