//! Layer: turn an HTTP request into a [`Push`].
//!
//! In order: the method must be `POST` or `PUT` (else 405); the
//! `Content-Type` must name a format ([`Format::from_content_type`]: none or
//! `application/x-www-form-urlencoded` means text, as the Pushgateway; else
//! 415); the path must be a valid grouping key ([`grouping::from_path`], else
//! 400). Then the body is read whole (one `Bytes`, not copied when it arrives
//! in one chunk) and decoded ([`codec::decode`]); a body that is not valid
//! is 400, with the decoder's line number or record offset.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::SystemTime;

use http::header::CONTENT_TYPE;
use http::Request;
use http_body::Body;
use http_body_util::combinators::Collect;
use http_body_util::BodyExt;
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::{grouping, GatewayError, PeerAddr, Push};
use crate::codec::{self, Limits};
use crate::format::{Format, UnsupportedMediaType};
use crate::store::{BoxError, PushMethod};

/// Decodes requests into [`Push`]es for the inner stages.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use http_body_util::Full;
/// use pushgate::gateway::decode::DecodeLayer;
/// use pushgate::gateway::{GatewayError, Push};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// let families = service_fn(|push: Push| async move { Ok::<_, GatewayError>(push) });
/// let req = http::Request::post("/metrics/job/batch")
///     .body(Full::new(bytes::Bytes::from_static(b"up 1\n")))
///     .unwrap();
/// let push = DecodeLayer::new(1024).layer(families).oneshot(req).await.unwrap();
/// assert_eq!(push.families[0].name(), "up");
/// assert_eq!(push.grouping[0].value(), "batch");
/// # });
/// ```
#[derive(Clone, Copy, Debug)]
pub struct DecodeLayer {
    max_bytes: usize,
}

impl DecodeLayer {
    /// Decodes with [`Limits`] of `max_bytes` (the largest protobuf record).
    pub fn new(max_bytes: usize) -> DecodeLayer {
        DecodeLayer { max_bytes }
    }
}

impl Default for DecodeLayer {
    /// [`crate::DEFAULT_MAX_BYTES`].
    fn default() -> DecodeLayer {
        DecodeLayer::new(crate::DEFAULT_MAX_BYTES)
    }
}

impl<S> Layer<S> for DecodeLayer {
    type Service = Decode<S>;
    fn layer(&self, inner: S) -> Decode<S> {
        Decode {
            inner,
            limits: Limits {
                max_bytes: self.max_bytes,
            },
        }
    }
}

/// The service of [`DecodeLayer`].
#[derive(Clone, Debug)]
pub struct Decode<S> {
    inner: S,
    limits: Limits,
}

/// What is known of a push before its body is read.
struct Head {
    format: Format,
    grouping: Vec<crate::model::LabelPair>,
    method: PushMethod,
    received: SystemTime,
    peer: Option<std::net::SocketAddr>,
}

fn head<B>(req: &Request<B>) -> Result<Head, GatewayError> {
    let Some(method) = PushMethod::from_http(req.method()) else {
        return Err(GatewayError::MethodNotAllowed {
            method: req.method().clone(),
            allow: "POST, PUT",
        });
    };
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| {
            v.to_str().map_err(|_| {
                UnsupportedMediaType(String::from_utf8_lossy(v.as_bytes()).into_owned())
            })
        })
        .transpose()?;
    let format = Format::from_content_type(content_type)?;
    let grouping = grouping::from_path(req.uri().path())?;
    Ok(Head {
        format,
        grouping,
        method,
        received: SystemTime::now(),
        peer: req.extensions().get::<PeerAddr>().map(|p| p.0),
    })
}

impl<S, B> Service<Request<B>> for Decode<S>
where
    S: Service<Push, Error = GatewayError> + Clone,
    B: Body,
    B::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = GatewayError;
    type Future = ResponseFuture<B, S>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), GatewayError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let state = match head(&req) {
            Ok(head) => {
                // The service made ready goes with the future; a clone stays.
                let ready = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, ready);
                State::Reading {
                    collect: req.into_body().collect(),
                    rest: Some((head, inner, self.limits)),
                }
            }
            Err(error) => State::Failed { error: Some(error) },
        };
        ResponseFuture { state }
    }
}

pin_project! {
    /// The future of [`Decode`]: reads the body, decodes it, then calls the
    /// inner stage.
    pub struct ResponseFuture<B, S>
    where
        B: Body,
        S: Service<Push>,
    {
        #[pin]
        state: State<B, S>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<B, S>
    where
        B: Body,
        S: Service<Push>,
    {
        Reading {
            #[pin]
            collect: Collect<B>,
            rest: Option<(Head, S, Limits)>,
        },
        Calling {
            #[pin]
            future: S::Future,
        },
        Failed {
            error: Option<GatewayError>,
        },
    }
}

impl<B, S> Future for ResponseFuture<B, S>
where
    B: Body,
    B::Error: Into<BoxError>,
    S: Service<Push, Error = GatewayError>,
{
    type Output = Result<S::Response, GatewayError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Reading { collect, rest } => {
                    let collected = ready!(collect.poll(cx));
                    let Some((head, mut inner, limits)) = rest.take() else {
                        panic!("decode::ResponseFuture polled after completion");
                    };
                    let next = collected
                        .map_err(GatewayError::from_body_error)
                        .and_then(|c| {
                            let body = c.to_bytes();
                            let body_bytes = body.len();
                            let families = codec::decode(head.format, body, &limits)?;
                            Ok(Push {
                                families,
                                format: head.format,
                                grouping: head.grouping,
                                method: head.method,
                                received: head.received,
                                body_bytes,
                                peer: head.peer,
                            })
                        });
                    match next {
                        Ok(push) => state.set(State::Calling {
                            future: inner.call(push),
                        }),
                        Err(error) => state.set(State::Failed { error: Some(error) }),
                    }
                }
                StateProj::Calling { future } => return future.poll(cx),
                StateProj::Failed { error } => {
                    return match error.take() {
                        Some(e) => Poll::Ready(Err(e)),
                        None => panic!("decode::ResponseFuture polled after completion"),
                    }
                }
            }
        }
    }
}

impl<B: Body, S: Service<Push>> std::fmt::Debug for ResponseFuture<B, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("decode::ResponseFuture")
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::StatusCode;
    use http_body_util::Full;
    use tower::{service_fn, ServiceExt};

    async fn decode(req: Request<Full<Bytes>>) -> Result<Push, GatewayError> {
        let echo = service_fn(|push: Push| async move { Ok::<_, GatewayError>(push) });
        DecodeLayer::default().layer(echo).oneshot(req).await
    }

    #[tokio::test]
    async fn builds_the_push_from_the_request_without_copying_the_body() {
        // A label value longer than a `Str` holds inline.
        let body = Bytes::from(
            b"# TYPE up gauge\nup{zone=\"eu-west-1-availability-zone-c-rack-42-row-7\"} 1\n"
                .to_vec(),
        );
        let peer: std::net::SocketAddr = "192.0.2.9:1234".parse().unwrap();
        let mut req = Request::put("/metrics/job/j/a/b")
            .body(Full::new(body.clone()))
            .unwrap();
        req.extensions_mut().insert(PeerAddr(peer));
        let push = decode(req).await.unwrap();
        assert_eq!(push.format, Format::Text);
        assert_eq!(push.method, PushMethod::Put);
        assert_eq!(push.peer, Some(peer));
        assert_eq!(push.body_bytes, body.len());
        assert_eq!(push.grouping.len(), 2);
        // The label value is a slice of the body as received.
        let value = push.families[0].metric[0].label[0].value.clone().unwrap();
        let range = body.as_ptr_range();
        assert!(
            range.contains(&value.as_bytes().as_ptr()),
            "label value was copied"
        );
    }

    #[tokio::test]
    async fn refusals_before_reading_the_body() {
        let cases = [
            (
                Request::get("/metrics/job/j").body(Full::default()).unwrap(),
                StatusCode::METHOD_NOT_ALLOWED,
                "method GET not allowed: push with POST or PUT",
            ),
            (
                Request::post("/metrics/job/j")
                    .header(CONTENT_TYPE, "text/html")
                    .body(Full::default())
                    .unwrap(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported content type \"text/html\": push Prometheus text, OpenMetrics text, JSON or delimited protobuf",
            ),
            (
                Request::post("/metrics/job/j")
                    .header(CONTENT_TYPE, http::HeaderValue::from_bytes(b"text/\xff").unwrap())
                    .body(Full::default())
                    .unwrap(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported content type \"text/\u{fffd}\": push Prometheus text, OpenMetrics text, JSON or delimited protobuf",
            ),
            (
                Request::post("/metrics/job/j/k").body(Full::default()).unwrap(),
                StatusCode::BAD_REQUEST,
                "missing value for label \"k\" in path (use k@base64/= for an empty value)",
            ),
        ];
        for (req, status, message) in cases {
            let err = decode(req).await.unwrap_err();
            assert_eq!((err.status(), err.to_string().as_str()), (status, message));
        }
    }

    #[tokio::test]
    async fn decode_errors_carry_the_line() {
        let req = Request::post("/")
            .body(Full::new(Bytes::from_static(b"a 1\nb 2\nc{ 3\n")))
            .unwrap();
        let err = decode(req).await.unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert!(
            err.to_string().starts_with("invalid text body, line 3: "),
            "{err}"
        );
    }

    #[tokio::test]
    async fn an_empty_body_is_an_empty_push() {
        let push = decode(
            Request::post("/metrics/job/j")
                .body(Full::default())
                .unwrap(),
        )
        .await
        .unwrap();
        assert!(push.families.is_empty());
    }
}
