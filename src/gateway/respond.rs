//! Layer: answer each request, logging and counting it: `202 Accepted` with
//! what was stored, or the [`GatewayError`]'s status and one-line body.
//!
//! The outermost stage of a gateway, and what a stack of the gateway's
//! layers around a service of one's own puts on top to become an HTTP
//! service (`Response<GatewayBody>`, never an error) that axum, hyper or
//! tonic can serve. It honours readiness: it asks the stack below, so that
//! tower's `ConcurrencyLimit` or `LoadShed` in front of a store work; a
//! stack that fails to get ready has the next request answered with that
//! failure.
//!
//! Each answer is logged through `tracing` (target `pushgate::gateway`:
//! refusals at info, 5xx at warn, stored pushes at debug, with the peer and
//! the bytes read) and, when given [`GatewayMetrics`], counted.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use bytes::Buf;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::metrics::GatewayMetrics;
use super::{GatewayBody, GatewayError, PeerAddr, Stored};

/// Answers requests; see the [module](self) docs.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use pushgate::gateway::decode::DecodeLayer;
/// use pushgate::gateway::handoff::HandoffLayer;
/// use pushgate::gateway::respond::RespondLayer;
/// use pushgate::store::{Push, StoreError};
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// // A store of one's own, as a plain service, refusing everything.
/// let full = service_fn(|_push: Push| async { Err::<(), _>(StoreError::Overloaded { retry_after: None }) });
/// let gateway = ServiceBuilder::new()
///     .layer(RespondLayer::new())
///     .layer(DecodeLayer::default())
///     .layer(HandoffLayer::new())
///     .service(full);
/// let body = http_body_util::Full::new(bytes::Bytes::from("up 1\n"));
/// let request = http::Request::post("/metrics/job/j").body(body).unwrap();
/// let response = gateway.oneshot(request).await.unwrap();
/// assert_eq!(response.status(), http::StatusCode::SERVICE_UNAVAILABLE);
/// # });
/// ```
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct RespondLayer {
    metrics: Option<GatewayMetrics>,
}

impl RespondLayer {
    /// Answers, logs, and counts nothing.
    pub fn new() -> RespondLayer {
        RespondLayer::default()
    }

    /// Counts each answer in `metrics`.
    pub fn metrics(mut self, metrics: GatewayMetrics) -> RespondLayer {
        self.metrics = Some(metrics);
        self
    }
}

impl<S> Layer<S> for RespondLayer {
    type Service = Respond<S>;
    fn layer(&self, inner: S) -> Respond<S> {
        Respond {
            inner,
            metrics: self.metrics.clone(),
            not_ready: None,
        }
    }
}

/// The service of [`RespondLayer`].
#[derive(Debug)]
pub struct Respond<S> {
    inner: S,
    metrics: Option<GatewayMetrics>,
    /// Why the stack failed to get ready, for the next request.
    not_ready: Option<GatewayError>,
}

impl<S: Clone> Clone for Respond<S> {
    fn clone(&self) -> Respond<S> {
        Respond {
            inner: self.inner.clone(),
            metrics: self.metrics.clone(),
            not_ready: None,
        }
    }
}

impl<S> Respond<S> {
    /// Answers requests to `inner`.
    pub fn new(inner: S) -> Respond<S> {
        RespondLayer::new().layer(inner)
    }

    /// A layer of this service.
    pub fn layer() -> RespondLayer {
        RespondLayer::new()
    }

    inner_accessors!();

    /// The answer to a request refused before it reached the stack, logged
    /// and counted as the others.
    pub(crate) fn refuse(
        &self,
        error: GatewayError,
        peer: Option<SocketAddr>,
    ) -> Response<GatewayBody> {
        Record::new(self.metrics.clone(), peer, None).finish(Err(error))
    }
}

impl<S, B> Service<Request<B>> for Respond<S>
where
    S: Service<Request<Counted<B>>, Response = Stored, Error = GatewayError>,
{
    type Response = Response<GatewayBody>;
    type Error = Infallible;
    type Future = RespondFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        if self.not_ready.is_none() {
            if let Err(e) = ready!(self.inner.poll_ready(cx)) {
                self.not_ready = Some(e);
            }
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let peer = req.extensions().get::<PeerAddr>().map(|p| p.0);
        if let Some(error) = self.not_ready.take() {
            return RespondFuture::ready(self.refuse(error, peer));
        }
        let read = Arc::new(AtomicU64::new(0));
        let req = req.map(|inner| Counted {
            inner,
            read: read.clone(),
        });
        RespondFuture {
            kind: Kind::Inner {
                future: self.inner.call(req),
                record: Some(Record::new(self.metrics.clone(), peer, Some(read))),
            },
        }
    }
}

/// What is needed to log and count a request once it is answered.
struct Record {
    start: Instant,
    peer: Option<SocketAddr>,
    read: Option<Arc<AtomicU64>>,
    metrics: Option<GatewayMetrics>,
}

impl Record {
    fn new(
        metrics: Option<GatewayMetrics>,
        peer: Option<SocketAddr>,
        read: Option<Arc<AtomicU64>>,
    ) -> Record {
        Record {
            start: Instant::now(),
            peer,
            read,
            metrics,
        }
    }

    fn finish(self, result: Result<Stored, GatewayError>) -> Response<GatewayBody> {
        let elapsed = self.start.elapsed();
        let bytes = self.read.map_or(0, |r| r.load(Ordering::Relaxed));
        let peer = self.peer.map(tracing::field::display);
        let outcome = result
            .as_ref()
            .map_or_else(GatewayError::outcome, |_| "stored");
        if let Some(metrics) = &self.metrics {
            metrics.record(outcome, bytes, elapsed);
        }
        match result {
            Ok(stored) => {
                tracing::debug!(
                    target: "pushgate::gateway",
                    peer,
                    bytes,
                    families = stored.families,
                    series = stored.series,
                    "push stored"
                );
                let body = format!(
                    "stored {} families, {} series\n",
                    stored.families, stored.series
                );
                let mut response = Response::new(GatewayBody::from(body));
                *response.status_mut() = StatusCode::ACCEPTED;
                response.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                );
                response
            }
            Err(error) => {
                let status = error.status().as_u16();
                if status >= 500 {
                    tracing::warn!(target: "pushgate::gateway", peer, bytes, status, reason = %error, "push refused");
                } else {
                    tracing::info!(target: "pushgate::gateway", peer, bytes, status, reason = %error, "push refused");
                }
                error.into_response()
            }
        }
    }
}

pin_project! {
    /// The future of [`Respond`].
    pub struct RespondFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Inner {
            #[pin]
            future: F,
            record: Option<Record>,
        },
        Ready {
            response: Option<Response<GatewayBody>>,
        },
    }
}

impl<F> RespondFuture<F> {
    /// A future that answers `response` at once: for a service that
    /// answers some requests itself and routes the rest through the stages.
    pub fn ready(response: Response<GatewayBody>) -> RespondFuture<F> {
        RespondFuture {
            kind: Kind::Ready {
                response: Some(response),
            },
        }
    }
}

impl<F> Future for RespondFuture<F>
where
    F: Future<Output = Result<Stored, GatewayError>>,
{
    type Output = Result<Response<GatewayBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let response = match self.project().kind.project() {
            KindProj::Inner { future, record } => {
                let result = ready!(future.poll(cx));
                record
                    .take()
                    .expect("RespondFuture polled after completion")
                    .finish(result)
            }
            KindProj::Ready { response } => response
                .take()
                .expect("RespondFuture polled after completion"),
        };
        Poll::Ready(Ok(response))
    }
}

impl<F> std::fmt::Debug for RespondFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RespondFuture").finish_non_exhaustive()
    }
}

pin_project! {
    /// A request body that counts the bytes read from it, for
    /// `pushgate_received_bytes_total` and the logs.
    pub struct Counted<B> {
        #[pin]
        inner: B,
        read: Arc<AtomicU64>,
    }
}

impl<B: Body> Body for Counted<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if let Some(Ok(f)) = &frame {
            if let Some(data) = f.data_ref() {
                this.read
                    .fetch_add(data.remaining() as u64, Ordering::Relaxed);
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
