//! Layer: refuse pushes that break the [rules of pushed
//! metrics](crate::validate) (HTTP 400).

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower::{Layer, Service};

use super::future::StageFuture;
use super::{GatewayError, Push};
use crate::validate::{check, InvalidPush, SeriesHasher};

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
#[derive(Clone, Default)]
#[must_use]
pub struct ValidateLayer {
    on_invalid: Option<OnInvalid>,
}

/// What [`ValidateLayer::on_invalid`] calls.
type OnInvalid = Arc<dyn Fn(&Push, &InvalidPush) + Send + Sync>;

impl fmt::Debug for ValidateLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidateLayer")
            .field("on_invalid", &self.on_invalid.is_some())
            .finish()
    }
}

impl ValidateLayer {
    /// The layer.
    pub fn new() -> ValidateLayer {
        ValidateLayer::default()
    }

    /// Calls `f` with each push refused and why, before the refusal goes
    /// back (as tower-http's `on_failure` hooks): a
    /// [`GroupStore`](crate::store::GroupStore) notes the failure on the
    /// push's group this way, as the Pushgateway does.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use pushgate::gateway::validate::ValidateLayer;
    /// use pushgate::gateway::GatewayError;
    /// use pushgate::store::Push;
    /// use pushgate::{codec, Format};
    /// use tower::{service_fn, Layer, ServiceExt};
    ///
    /// let refused = Arc::new(AtomicUsize::new(0));
    /// let count = refused.clone();
    /// let layer = ValidateLayer::new().on_invalid(move |_push, _why| {
    ///     count.fetch_add(1, Ordering::Relaxed);
    /// });
    /// let ok = service_fn(|_push: Push| async { Ok::<_, GatewayError>(()) });
    /// let families = codec::decode(Format::Text, "up 1 17\n".into(), &Default::default()).unwrap();
    /// let result = layer.layer(ok).oneshot(Push::new(families, Format::Text)).await;
    /// assert!(result.is_err());
    /// assert_eq!(refused.load(Ordering::Relaxed), 1);
    /// # });
    /// ```
    pub fn on_invalid(
        mut self,
        f: impl Fn(&Push, &InvalidPush) + Send + Sync + 'static,
    ) -> ValidateLayer {
        self.on_invalid = Some(Arc::new(f));
        self
    }
}

impl<S> Layer<S> for ValidateLayer {
    type Service = Validate<S>;
    fn layer(&self, inner: S) -> Validate<S> {
        Validate {
            inner,
            hasher: SeriesHasher::default(),
            on_invalid: self.on_invalid.clone(),
        }
    }
}

/// The service of [`ValidateLayer`].
#[derive(Clone)]
pub struct Validate<S> {
    inner: S,
    hasher: SeriesHasher,
    on_invalid: Option<OnInvalid>,
}

impl<S: fmt::Debug> fmt::Debug for Validate<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validate")
            .field("inner", &self.inner)
            .field("on_invalid", &self.on_invalid.is_some())
            .finish_non_exhaustive()
    }
}

impl<S> Validate<S> {
    /// Validates pushes before `inner` sees them.
    pub fn new(inner: S) -> Validate<S> {
        ValidateLayer::new().layer(inner)
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
            Err(e) => {
                if let Some(f) = &self.on_invalid {
                    f(&push, &e);
                }
                StageFuture::error(GatewayError::Invalid(e))
            }
        }
    }
}
