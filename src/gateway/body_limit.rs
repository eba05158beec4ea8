//! Layer: refuse bodies larger than a limit (HTTP 413).
//!
//! A `Content-Length` (or a body's exact size hint) over the limit is
//! refused before anything is read; otherwise the body is read through
//! `http_body_util::Limited`, which fails as soon as it grows past the
//! limit, and that failure becomes [`GatewayError::PayloadTooLarge`].
//! Nothing is truncated: the push is refused whole.
//!
//! Placed before [`Decompress`](super::decompress::Decompress), this limits
//! the body as sent; the decompressor limits what it produces itself.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::header::CONTENT_LENGTH;
use http::Request;
use http_body::{Body, Frame, SizeHint};
use http_body_util::{LengthLimitError, Limited};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::error::TooLarge;
use super::future::StageFuture;
use super::GatewayError;
use crate::BoxError;

/// Limits request bodies to `max_bytes`.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use http_body_util::{BodyExt, Full};
/// use pushgate::gateway::body_limit::{BodyLimitLayer, LimitedBody};
/// use pushgate::gateway::GatewayError;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// let read_all = service_fn(|req: http::Request<LimitedBody<Full<bytes::Bytes>>>| async move {
///     let body = req.into_body().collect().await.map_err(GatewayError::from_body_error)?;
///     Ok::<_, GatewayError>(body.to_bytes().len())
/// });
/// let limited = BodyLimitLayer::new(4).layer(read_all);
/// let req = http::Request::new(Full::new(bytes::Bytes::from_static(b"12345")));
/// let err = limited.oneshot(req).await.unwrap_err();
/// assert_eq!(err.status(), http::StatusCode::PAYLOAD_TOO_LARGE);
/// # });
/// ```
#[derive(Clone, Copy, Debug)]
#[must_use]
pub struct BodyLimitLayer {
    max_bytes: usize,
}

impl BodyLimitLayer {
    /// Bodies of up to `max_bytes` pass.
    pub fn new(max_bytes: usize) -> BodyLimitLayer {
        BodyLimitLayer { max_bytes }
    }
}

impl Default for BodyLimitLayer {
    /// [`crate::DEFAULT_MAX_BYTES`].
    fn default() -> BodyLimitLayer {
        BodyLimitLayer::new(crate::DEFAULT_MAX_BYTES)
    }
}

impl<S> Layer<S> for BodyLimitLayer {
    type Service = BodyLimit<S>;
    fn layer(&self, inner: S) -> BodyLimit<S> {
        BodyLimit::new(inner, self.max_bytes)
    }
}

/// The service of [`BodyLimitLayer`].
#[derive(Clone, Debug)]
pub struct BodyLimit<S> {
    inner: S,
    max_bytes: usize,
}

impl<S> BodyLimit<S> {
    /// Limits the bodies of requests to `inner` to `max_bytes`.
    pub fn new(inner: S, max_bytes: usize) -> BodyLimit<S> {
        BodyLimit { inner, max_bytes }
    }

    /// A layer of this service.
    pub fn layer(max_bytes: usize) -> BodyLimitLayer {
        BodyLimitLayer::new(max_bytes)
    }

    inner_accessors!();
}

impl<S, B> Service<Request<B>> for BodyLimit<S>
where
    S: Service<Request<LimitedBody<B>>, Error = GatewayError>,
    B: Body,
    B::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = GatewayError;
    type Future = StageFuture<S::Future>;

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
            return StageFuture::error(GatewayError::PayloadTooLarge {
                limit,
                what: TooLarge::ContentLength(n),
            });
        }
        StageFuture::inner(
            self.inner
                .call(req.map(|body| LimitedBody::new(body, limit))),
        )
    }
}

pin_project! {
    /// `http_body_util::Limited`, failing with
    /// [`GatewayError::PayloadTooLarge`] (and its limit) once more than the
    /// limit has been read.
    pub struct LimitedBody<B> {
        #[pin]
        inner: Limited<B>,
        limit: usize,
    }
}

impl<B> LimitedBody<B> {
    /// `inner`, limited to `limit` bytes.
    pub fn new(inner: B, limit: usize) -> LimitedBody<B> {
        LimitedBody {
            inner: Limited::new(inner, limit),
            limit,
        }
    }
}

impl<B> Body for LimitedBody<B>
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
        let limit = *this.limit;
        let frame = ready!(this.inner.poll_frame(cx));
        Poll::Ready(frame.map(|r| {
            r.map_err(|e| {
                if e.is::<LengthLimitError>() {
                    GatewayError::PayloadTooLarge {
                        limit,
                        what: TooLarge::Body,
                    }
                } else {
                    GatewayError::from_body_error(e)
                }
            })
        }))
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
    use bytes::Bytes;
    use http_body_util::BodyExt;
    use std::collections::VecDeque;

    /// A body sent as these frames, with no size known ahead.
    struct Chunks(VecDeque<Result<&'static [u8], &'static str>>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = BoxError;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            Poll::Ready(self.0.pop_front().map(|c| {
                c.map(|data| Frame::data(Bytes::from_static(data)))
                    .map_err(Into::into)
            }))
        }
    }

    fn chunks(frames: &[Result<&'static [u8], &'static str>]) -> Chunks {
        Chunks(frames.iter().copied().collect())
    }

    #[tokio::test]
    async fn a_body_up_to_the_limit_passes_and_one_byte_more_is_413() {
        let whole = LimitedBody::new(chunks(&[Ok(b"ab"), Ok(b"cd")]), 4);
        assert_eq!(whole.collect().await.unwrap().to_bytes(), "abcd");
        let over = LimitedBody::new(chunks(&[Ok(b"ab"), Ok(b"cde")]), 4);
        let err = over.collect().await.unwrap_err();
        assert_eq!(err.to_string(), "request body exceeds the limit of 4 bytes");
        assert_eq!(err.status(), http::StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn other_body_errors_are_read_errors() {
        let failing = chunks(&[Ok(b"a"), Err("connection reset")]);
        let err = LimitedBody::new(failing, 4).collect().await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "error reading request body: connection reset"
        );
    }
}
