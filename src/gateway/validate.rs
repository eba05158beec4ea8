//! Layer: refuse pushes that break the [rules of pushed
//! metrics](crate::validate) (HTTP 400).

use std::collections::hash_map::RandomState;
use std::task::{Context, Poll};

use tower::{Layer, Service};

use super::future::StageFuture;
use super::{GatewayError, Push};
use crate::validate::check;

/// Checks every push against the [rules](crate::validate) before passing
/// it on.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use pushgate::gateway::validate::ValidateLayer;
/// use pushgate::gateway::GatewayError;
/// use pushgate::store::Push;
/// use pushgate::{codec, Format};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// let ok = service_fn(|_push: Push| async { Ok::<_, GatewayError>(()) });
/// let body = "up{job=\"a\"} 1 1700000000000\n".into();
/// let families = codec::decode(Format::Text, body, &Default::default()).unwrap();
/// let err = ValidateLayer::new().layer(ok).oneshot(Push::new(families, Format::Text)).await.unwrap_err();
/// assert_eq!(err.to_string(), "pushed metrics must not have timestamp");
/// # });
/// ```
#[derive(Clone, Copy, Debug, Default)]
#[must_use]
pub struct ValidateLayer {
    _private: (),
}

impl ValidateLayer {
    /// The layer.
    pub fn new() -> ValidateLayer {
        ValidateLayer::default()
    }
}

impl<S> Layer<S> for ValidateLayer {
    type Service = Validate<S>;
    fn layer(&self, inner: S) -> Validate<S> {
        Validate::new(inner)
    }
}

/// The service of [`ValidateLayer`].
#[derive(Clone, Debug)]
pub struct Validate<S> {
    inner: S,
    hasher: RandomState,
}

impl<S> Validate<S> {
    /// Validates pushes before `inner` sees them.
    pub fn new(inner: S) -> Validate<S> {
        Validate {
            inner,
            hasher: RandomState::new(),
        }
    }

    /// A layer of this service.
    pub fn layer() -> ValidateLayer {
        ValidateLayer::new()
    }

    inner_accessors!();
}

impl<S> Service<Push> for Validate<S>
where
    S: Service<Push, Error = GatewayError>,
{
    type Response = S::Response;
    type Error = GatewayError;
    type Future = StageFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), GatewayError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, push: Push) -> Self::Future {
        match check(&push.families, &push.grouping, &self.hasher) {
            Ok(()) => StageFuture::inner(self.inner.call(push)),
            Err(e) => StageFuture::error(GatewayError::Invalid(e)),
        }
    }
}
