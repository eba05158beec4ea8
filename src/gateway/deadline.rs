//! Layer: a deadline for the whole request, from the first byte of the body
//! to the store's answer.
//!
//! When the deadline passes, the request is dropped, store write included
//! (which by the [`Store`](crate::store::Store) contract leaves nothing
//! stored), and the answer says which side was slow: `408 Request Timeout`
//! if the body had not arrived in full, `504 Gateway Timeout` if it had and
//! the store had not answered.
//!
//! The timer is Tokio's, so the service must be called within a Tokio
//! runtime; tests can pause the clock (`tokio::time::pause`).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use http::Request;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower::{Layer, Service};

use super::GatewayError;
use crate::BoxError;

/// Gives each request `timeout` to arrive and be stored.
#[derive(Clone, Copy, Debug)]
#[must_use]
pub struct DeadlineLayer {
    timeout: Duration,
}

impl DeadlineLayer {
    /// Each request has `timeout`.
    pub fn new(timeout: Duration) -> DeadlineLayer {
        DeadlineLayer { timeout }
    }
}

impl Default for DeadlineLayer {
    /// [`crate::DEFAULT_TIMEOUT`].
    fn default() -> DeadlineLayer {
        DeadlineLayer::new(crate::DEFAULT_TIMEOUT)
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;
    fn layer(&self, inner: S) -> Deadline<S> {
        Deadline {
            inner,
            timeout: self.timeout,
        }
    }
}

/// The service of [`DeadlineLayer`].
#[derive(Clone, Debug)]
pub struct Deadline<S> {
    inner: S,
    timeout: Duration,
}

impl<S> Deadline<S> {
    /// Gives each request to `inner` `timeout` to arrive and be stored.
    pub fn new(inner: S, timeout: Duration) -> Deadline<S> {
        Deadline { inner, timeout }
    }

    /// A layer of this service.
    pub fn layer(timeout: Duration) -> DeadlineLayer {
        DeadlineLayer::new(timeout)
    }

    inner_accessors!();
}

impl<S, B> Service<Request<B>> for Deadline<S>
where
    S: Service<Request<DeadlineBody<B>>, Error = GatewayError>,
    B: Body,
    B::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = GatewayError;
    type Future = DeadlineFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), GatewayError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let arrived = Arc::new(AtomicBool::new(req.body().is_end_stream()));
        let req = req.map(|inner| DeadlineBody {
            inner,
            arrived: arrived.clone(),
        });
        DeadlineFuture {
            inner: self.inner.call(req),
            sleep: tokio::time::sleep(self.timeout),
            arrived,
            timeout: self.timeout,
        }
    }
}

pin_project! {
    /// The future of [`Deadline`].
    pub struct DeadlineFuture<F> {
        #[pin]
        inner: F,
        #[pin]
        sleep: Sleep,
        arrived: Arc<AtomicBool>,
        timeout: Duration,
    }
}

impl<F, T> Future for DeadlineFuture<F>
where
    F: Future<Output = Result<T, GatewayError>>,
{
    type Output = Result<T, GatewayError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(result) = this.inner.poll(cx) {
            return Poll::Ready(result);
        }
        ready!(this.sleep.poll(cx));
        let timeout = *this.timeout;
        Poll::Ready(Err(if this.arrived.load(Ordering::Acquire) {
            GatewayError::StoreTimeout { timeout }
        } else {
            GatewayError::BodyTimeout { timeout }
        }))
    }
}

pin_project! {
    /// A body that notes when it has been read to the end, so that
    /// [`Deadline`] can tell a slow client from a slow store.
    pub struct DeadlineBody<B> {
        #[pin]
        inner: B,
        arrived: Arc<AtomicBool>,
    }
}

impl<B> Body for DeadlineBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = GatewayError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, GatewayError>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        match &frame {
            None => this.arrived.store(true, Ordering::Release),
            Some(Ok(_)) if this.inner.is_end_stream() => {
                this.arrived.store(true, Ordering::Release)
            }
            _ => {}
        }
        Poll::Ready(frame.map(|r| r.map_err(GatewayError::from_body_error)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::Stored;
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use tower::{service_fn, ServiceExt};

    /// Reads the whole body, then "stores" for `store_time`.
    fn reader(
        store_time: Duration,
    ) -> impl Service<
        Request<DeadlineBody<Full<Bytes>>>,
        Response = Stored,
        Error = GatewayError,
        Future = impl Send,
    > + Clone {
        service_fn(move |req: Request<DeadlineBody<Full<Bytes>>>| async move {
            let body = req.into_body().collect().await?.to_bytes();
            tokio::time::sleep(store_time).await;
            Ok(Stored::new(body.len(), 0))
        })
    }

    #[tokio::test(start_paused = true)]
    async fn in_time_passes_the_answer_through() {
        let svc = DeadlineLayer::new(Duration::from_secs(2)).layer(reader(Duration::from_secs(1)));
        let req = Request::new(Full::new(Bytes::from_static(b"abc")));
        assert_eq!(svc.oneshot(req).await.unwrap().families, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn slow_store_after_the_body_is_504() {
        let svc = DeadlineLayer::new(Duration::from_secs(2)).layer(reader(Duration::from_secs(3)));
        let req = Request::new(Full::new(Bytes::from_static(b"abc")));
        let err = svc.oneshot(req).await.unwrap_err();
        assert_eq!(err.status(), http::StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(err.to_string(), "store did not answer within 2s");
    }

    #[tokio::test(start_paused = true)]
    async fn body_not_read_in_time_is_408() {
        // The inner service waits before reading: the body has not arrived.
        let svc = DeadlineLayer::new(Duration::from_millis(500)).layer(service_fn(
            |req: Request<DeadlineBody<Full<Bytes>>>| async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                req.into_body().collect().await?;
                Ok::<_, GatewayError>(Stored::default())
            },
        ));
        let req = Request::new(Full::new(Bytes::from_static(b"abc")));
        let err = svc.oneshot(req).await.unwrap_err();
        assert_eq!(err.status(), http::StatusCode::REQUEST_TIMEOUT);
        assert_eq!(err.to_string(), "request body not received within 0.5s");
    }

    #[tokio::test(start_paused = true)]
    async fn an_empty_body_has_arrived_from_the_start() {
        let svc = DeadlineLayer::new(Duration::from_secs(1)).layer(service_fn(
            |_req: Request<DeadlineBody<Full<Bytes>>>| async move {
                std::future::pending::<()>().await;
                Ok::<_, GatewayError>(Stored::default())
            },
        ));
        let err = svc
            .oneshot(Request::new(Full::new(Bytes::new())))
            .await
            .unwrap_err();
        assert_eq!(err.status(), http::StatusCode::GATEWAY_TIMEOUT);
    }
}
