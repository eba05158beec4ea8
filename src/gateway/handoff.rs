//! Stage: hand each push to the service that stores it, and say what was
//! stored.
//!
//! The innermost stage of every gateway. Inside it can be any
//! `tower::Service<Push>`: a [`Store`](crate::store::Store) through
//! [`StoreService`](crate::store::StoreService), or that wrapped in tower's
//! middleware. Its errors become [`GatewayError`]s by
//! [`GatewayError::from_service_error`]: a [`StoreError`](crate::store::StoreError)
//! keeps its meaning, tower's `LoadShed` refusal is a 503, and so on.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::GatewayError;
use crate::store::Push;
use crate::BoxError;

/// What a push stored: the answer of every stage on success.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stored {
    /// Number of metric families stored.
    pub families: usize,
    /// Number of metrics (series, one per `Metric`) stored.
    pub series: usize,
}

impl Stored {
    /// What was stored.
    pub fn new(families: usize, series: usize) -> Stored {
        Stored { families, series }
    }
}

/// Hands pushes to the service inside; see the [module](self) docs.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use pushgate::gateway::handoff::HandoffLayer;
/// use pushgate::store::{MemoryStore, Push, StoreService};
/// use pushgate::{codec, Format};
/// use tower::{Layer, ServiceExt};
///
/// let store = MemoryStore::new();
/// let handoff = HandoffLayer::new().layer(StoreService::new(store.clone()));
/// let families = codec::decode(Format::Text, "up 1\n".into(), &Default::default()).unwrap();
/// let stored = handoff.oneshot(Push::new(families, Format::Text)).await.unwrap();
/// assert_eq!((stored.families, stored.series), (1, 1));
/// assert_eq!(store.len(), 1);
/// # });
/// ```
#[derive(Clone, Copy, Debug, Default)]
#[must_use]
pub struct HandoffLayer {
    _private: (),
}

impl HandoffLayer {
    /// The layer.
    pub fn new() -> HandoffLayer {
        HandoffLayer::default()
    }
}

impl<S> Layer<S> for HandoffLayer {
    type Service = Handoff<S>;
    fn layer(&self, inner: S) -> Handoff<S> {
        Handoff::new(inner)
    }
}

/// The service of [`HandoffLayer`].
#[derive(Clone, Debug)]
pub struct Handoff<S> {
    inner: S,
}

impl<S> Handoff<S> {
    /// Hands pushes to `inner`.
    pub fn new(inner: S) -> Handoff<S> {
        Handoff { inner }
    }

    /// A layer of this service.
    pub fn layer() -> HandoffLayer {
        HandoffLayer::new()
    }

    inner_accessors!();
}

impl<S> Service<Push> for Handoff<S>
where
    S: Service<Push>,
    S::Error: Into<BoxError>,
{
    type Response = Stored;
    type Error = GatewayError;
    type Future = HandoffFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), GatewayError>> {
        self.inner
            .poll_ready(cx)
            .map_err(GatewayError::from_service_error)
    }

    fn call(&mut self, push: Push) -> Self::Future {
        // Counted now: the store takes the families.
        let stored = Stored::new(push.families.len(), push.series());
        HandoffFuture {
            inner: self.inner.call(push),
            stored,
        }
    }
}

pin_project! {
    /// The future of [`Handoff`].
    pub struct HandoffFuture<F> {
        #[pin]
        inner: F,
        stored: Stored,
    }
}

impl<F, T, E> Future for HandoffFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Stored, GatewayError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        Poll::Ready(match result {
            Ok(_) => Ok(*this.stored),
            Err(e) => Err(GatewayError::from_service_error(e)),
        })
    }
}

impl<F> std::fmt::Debug for HandoffFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandoffFuture")
            .field("stored", &self.stored)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;
    use http::StatusCode;
    use tower::{service_fn, ServiceExt};

    #[tokio::test]
    async fn store_errors_keep_their_status() {
        let refusing = service_fn(|_push: Push| async {
            Err::<(), _>(StoreError::Overloaded { retry_after: None })
        });
        let err = Handoff::new(refusing)
            .oneshot(Push::delete(Vec::new()))
            .await
            .unwrap_err();
        assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test]
    async fn a_service_that_fails_to_get_ready_is_a_gateway_error() {
        #[derive(Clone)]
        struct Broken;
        impl Service<Push> for Broken {
            type Response = ();
            type Error = BoxError;
            type Future = std::future::Ready<Result<(), BoxError>>;
            fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
                Poll::Ready(Err("backend gone".into()))
            }
            fn call(&mut self, _: Push) -> Self::Future {
                unreachable!("never ready")
            }
        }
        let err = Handoff::new(Broken)
            .oneshot(Push::delete(Vec::new()))
            .await
            .unwrap_err();
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(err.to_string(), "store service failed: backend gone");
    }
}
