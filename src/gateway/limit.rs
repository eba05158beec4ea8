//! Layer: refuse bodies larger than a limit (HTTP 413).
//!
//! A `Content-Length` (or a body's exact size hint) over the limit is
//! refused before anything is read; otherwise the body is counted as it is
//! read and fails with [`GatewayError::PayloadTooLarge`] as soon as it grows
//! past the limit. Nothing is truncated: the push is refused whole.
//!
//! Placed before [`Decompress`](super::decompress::Decompress), this limits
//! the body as sent; the decompressor limits what it produces itself.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Buf;
use http::header::CONTENT_LENGTH;
use http::Request;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::error::TooLarge;
use super::future::ResponseFuture;
use super::GatewayError;
use crate::store::BoxError;

/// Limits request bodies to `max_bytes`.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use http_body_util::{BodyExt, Full};
/// use pushgate::gateway::limit::{LimitBody, LimitLayer};
/// use pushgate::gateway::GatewayError;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// let read_all = service_fn(|req: http::Request<LimitBody<Full<bytes::Bytes>>>| async move {
///     let body = req.into_body().collect().await.map_err(GatewayError::from_body_error)?;
///     Ok::<_, GatewayError>(body.to_bytes().len())
/// });
/// let limited = LimitLayer::new(4).layer(read_all);
/// let req = http::Request::new(Full::new(bytes::Bytes::from_static(b"12345")));
/// let err = limited.oneshot(req).await.unwrap_err();
/// assert_eq!(err.status(), http::StatusCode::PAYLOAD_TOO_LARGE);
/// # });
/// ```
#[derive(Clone, Copy, Debug)]
pub struct LimitLayer {
    max_bytes: usize,
}

impl LimitLayer {
    /// Bodies of up to `max_bytes` pass.
    pub fn new(max_bytes: usize) -> LimitLayer {
        LimitLayer { max_bytes }
    }
}

impl Default for LimitLayer {
    /// [`crate::DEFAULT_MAX_BYTES`].
    fn default() -> LimitLayer {
        LimitLayer::new(crate::DEFAULT_MAX_BYTES)
    }
}

impl<S> Layer<S> for LimitLayer {
    type Service = Limit<S>;
    fn layer(&self, inner: S) -> Limit<S> {
        Limit {
            inner,
            max_bytes: self.max_bytes,
        }
    }
}

/// The service of [`LimitLayer`].
#[derive(Clone, Debug)]
pub struct Limit<S> {
    inner: S,
    max_bytes: usize,
}

impl<S, B> Service<Request<B>> for Limit<S>
where
    S: Service<Request<LimitBody<B>>, Error = GatewayError>,
    B: Body,
    B::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = GatewayError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), GatewayError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let limit = self.max_bytes;
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .or_else(|| req.body().size_hint().exact());
        if let Some(n) = declared.filter(|&n| n > limit as u64) {
            return ResponseFuture::error(GatewayError::PayloadTooLarge {
                limit,
                what: TooLarge::ContentLength(n),
            });
        }
        ResponseFuture::inner(self.inner.call(req.map(|body| LimitBody::new(body, limit))))
    }
}

pin_project! {
    /// A body that fails with [`GatewayError::PayloadTooLarge`] once more
    /// than its limit has been read.
    pub struct LimitBody<B> {
        #[pin]
        inner: B,
        remaining: usize,
        limit: usize,
    }
}

impl<B> LimitBody<B> {
    /// `inner`, limited to `limit` bytes.
    pub fn new(inner: B, limit: usize) -> LimitBody<B> {
        LimitBody {
            inner,
            remaining: limit,
            limit,
        }
    }
}

impl<B> Body for LimitBody<B>
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
        let this = self.project();
        match ready!(this.inner.poll_frame(cx)) {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    let n = data.remaining();
                    if n > *this.remaining {
                        *this.remaining = 0;
                        return Poll::Ready(Some(Err(GatewayError::PayloadTooLarge {
                            limit: *this.limit,
                            what: TooLarge::Body,
                        })));
                    }
                    *this.remaining -= n;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(e)) => Poll::Ready(Some(Err(GatewayError::from_body_error(e)))),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
