//! Layer: turn an HTTP request into a [`Push`].
//!
//! In order: the method must be `POST`, `PUT` or `DELETE` (else 405); the
//! path must be a push path, `<prefix>/job/<job>{/<label>/<value>}` after
//! whatever the gateway is mounted under ([`grouping::parse_with_prefix`];
//! else 404, and 400 for a push path that is not a valid grouping key); the
//! `Content-Type` must name a format ([`Format::from_content_type`]: none or
//! `application/x-www-form-urlencoded` means text, as the Pushgateway; else
//! 415). Then the body is read whole (one `Bytes`, not copied when it
//! arrives in one chunk) and decoded ([`codec::decode`]); a body that is not
//! valid is 400, with the decoder's line number or record offset.
//!
//! A `DELETE` has no body to read (one sent is ignored, as the Pushgateway
//! ignores it): it becomes a push of no families with
//! [`PushMethod::Delete`], for the store to remove or record the group.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::SystemTime;

use http::header::CONTENT_TYPE;
use http::Request;
use http_body::Body;
use http_body_util::combinators::Collect;
use http_body_util::BodyExt;
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::{GatewayError, PeerAddr};
use crate::codec::{self, Limits};
use crate::format::{Format, UnsupportedMediaType};
use crate::grouping::{self, PushMethod};
use crate::model::LabelPair;
use crate::store::Push;
use crate::BoxError;

/// Decodes requests into [`Push`]es for the inner stages.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use http_body_util::Full;
/// use pushgate::gateway::decode::DecodeLayer;
/// use pushgate::gateway::GatewayError;
/// use pushgate::store::Push;
/// use tower::{service_fn, Layer, ServiceExt};
///
/// let families = service_fn(|push: Push| async move { Ok::<_, GatewayError>(push) });
/// // Mounted under a prefix of the app's own, the key is found all the same.
/// let req = http::Request::post("/ingest/metrics/job/batch")
///     .body(Full::new(bytes::Bytes::from_static(b"up 1\n")))
///     .unwrap();
/// let push = DecodeLayer::new(1024).layer(families).oneshot(req).await.unwrap();
/// assert_eq!(push.families[0].name(), "up");
/// assert_eq!(push.grouping[0].value(), "batch");
/// # });
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct DecodeLayer {
    limits: Limits,
    prefix: Arc<str>,
}

impl DecodeLayer {
    /// Decodes with [`Limits`] of `max_bytes` (the largest protobuf
    /// record), finding grouping keys after [`grouping::DEFAULT_PREFIX`].
    pub fn new(max_bytes: usize) -> DecodeLayer {
        DecodeLayer {
            limits: Limits { max_bytes },
            prefix: Arc::from(grouping::DEFAULT_PREFIX),
        }
    }

    /// Push paths are `<prefix>/job/<job>...` (after whatever the gateway
    /// is mounted under); `/metrics` by default, as the Pushgateway's.
    pub fn prefix(mut self, prefix: &str) -> DecodeLayer {
        self.prefix = Arc::from(prefix);
        self
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
            layer: self.clone(),
        }
    }
}

/// The service of [`DecodeLayer`].
#[derive(Clone, Debug)]
pub struct Decode<S> {
    inner: S,
    layer: DecodeLayer,
}

impl<S> Decode<S> {
    /// Decodes requests for `inner` with [`Limits`] of `max_bytes`.
    pub fn new(inner: S, max_bytes: usize) -> Decode<S> {
        DecodeLayer::new(max_bytes).layer(inner)
    }

    /// A layer of this service.
    pub fn layer(max_bytes: usize) -> DecodeLayer {
        DecodeLayer::new(max_bytes)
    }

    inner_accessors!();
}

/// The methods a push path answers, for `Allow`.
pub(crate) const ALLOW: &str = "POST, PUT, DELETE";

/// What is known of a push before its body is read.
#[derive(Debug)]
struct Head {
    format: Format,
    grouping: Vec<LabelPair>,
    method: PushMethod,
    received: SystemTime,
    peer: Option<std::net::SocketAddr>,
    ttl: Option<std::time::Duration>,
}

impl Head {
    fn push(self, families: Vec<crate::model::MetricFamily>, body: bytes::Bytes) -> Push {
        Push::new(families, self.format)
            .with_body(body)
            .with_grouping(self.grouping)
            .with_method(self.method)
            .with_received(self.received)
            .with_peer(self.peer)
            .with_ttl(self.ttl)
    }
}

fn head<B>(req: &Request<B>, prefix: &str) -> Result<Head, GatewayError> {
    let Some(method) = PushMethod::from_http(req.method()) else {
        return Err(GatewayError::MethodNotAllowed {
            method: req.method().clone(),
            allow: ALLOW,
        });
    };
    let path = req.uri().path();
    let Some(grouping) = grouping::parse_with_prefix(path, prefix)? else {
        return Err(GatewayError::NotFound {
            path: path.into(),
            prefix: prefix.into(),
        });
    };
    let format = match (method, content_type(req)) {
        // A delete has no body: its Content-Type does not matter.
        (PushMethod::Delete, _) => Format::Text,
        (_, content_type) => Format::from_content_type(content_type?)?,
    };
    let ttl = req
        .headers()
        .get(grouping::TTL_HEADER)
        .map(|v| {
            v.to_str()
                .map_err(|_| "not visible ASCII".to_owned())
                .and_then(grouping::parse_ttl)
                .map_err(|reason| GatewayError::BadHeader {
                    name: grouping::TTL_HEADER,
                    reason,
                })
        })
        .transpose()?;
    Ok(Head {
        format,
        grouping,
        method,
        received: SystemTime::now(),
        peer: req.extensions().get::<PeerAddr>().map(|p| p.0),
        ttl,
    })
}

fn content_type<B>(req: &Request<B>) -> Result<Option<&str>, UnsupportedMediaType> {
    req.headers()
        .get(CONTENT_TYPE)
        .map(|v| {
            v.to_str().map_err(|_| {
                UnsupportedMediaType(String::from_utf8_lossy(v.as_bytes()).into_owned())
            })
        })
        .transpose()
}

impl<S, B> Service<Request<B>> for Decode<S>
where
    S: Service<Push, Error = GatewayError> + Clone,
    B: Body,
    B::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = GatewayError;
    type Future = DecodeFuture<B, S>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), GatewayError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let state = match head(&req, &self.layer.prefix) {
            Ok(head) => {
                // The service made ready goes with the future; a clone stays.
                let ready = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, ready);
                if head.method == PushMethod::Delete {
                    State::Calling {
                        future: inner.call(head.push(Vec::new(), bytes::Bytes::new())),
                    }
                } else {
                    State::Reading {
                        collect: req.into_body().collect(),
                        rest: Some((head, inner, self.layer.limits)),
                    }
                }
            }
            Err(error) => State::Failed { error: Some(error) },
        };
        DecodeFuture { state }
    }
}

pin_project! {
    /// The future of [`Decode`]: reads the body, decodes it, then calls the
    /// inner stage.
    pub struct DecodeFuture<B, S>
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

impl<B, S> Future for DecodeFuture<B, S>
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
                        panic!("DecodeFuture polled after completion");
                    };
                    let next = collected
                        .map_err(GatewayError::from_body_error)
                        .and_then(|c| {
                            let body = c.to_bytes();
                            // Room for the grouping labels the transform
                            // stage adds to every metric, and for the
                            // `instance=""` a group store adds.
                            let room = head.grouping.len() + 1;
                            let families =
                                codec::decode_with_room(head.format, body.clone(), &limits, room)?;
                            Ok(head.push(families, body))
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
                        None => panic!("DecodeFuture polled after completion"),
                    }
                }
            }
        }
    }
}

impl<B: Body, S: Service<Push>> std::fmt::Debug for DecodeFuture<B, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodeFuture").finish_non_exhaustive()
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
        assert_eq!(push.body, body);
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
                "method GET not allowed: push with POST or PUT, delete with DELETE",
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
        let req = Request::post("/metrics/job/j")
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

    #[tokio::test]
    async fn a_path_that_is_not_a_push_path_is_404_before_the_body() {
        for path in ["/", "/push", "/metrics", "/metrics/jobs/x"] {
            let req = Request::post(path)
                .header(CONTENT_TYPE, "text/html")
                .body(Full::new(Bytes::from_static(b"up 1\n")))
                .unwrap();
            let err = decode(req).await.unwrap_err();
            assert_eq!(err.status(), StatusCode::NOT_FOUND, "{path}");
            assert!(
                err.to_string()
                    .starts_with(&format!("not a push path: {path:?}")),
                "{err}"
            );
        }
    }

    #[tokio::test]
    async fn the_key_is_found_under_a_mount_prefix_and_another_push_prefix() {
        let req = Request::put("/ingest/metrics/job/j/a/b")
            .body(Full::default())
            .unwrap();
        let push = decode(req).await.unwrap();
        let key: Vec<_> = push
            .grouping
            .iter()
            .map(|l| (l.name(), l.value()))
            .collect();
        assert_eq!(key, [("job", "j"), ("a", "b")]);

        let echo = service_fn(|push: Push| async move { Ok::<_, GatewayError>(push) });
        let layer = DecodeLayer::default().prefix("/push");
        let req = Request::put("/push/job/j")
            .body(Full::<Bytes>::default())
            .unwrap();
        let push = layer.layer(echo).oneshot(req).await.unwrap();
        assert_eq!(push.grouping[0].value(), "j");
    }

    #[tokio::test]
    async fn a_delete_is_a_push_of_nothing_whatever_its_body() {
        let req = Request::delete("/metrics/job/j/a/b")
            .header(CONTENT_TYPE, "text/html")
            .body(Full::new(Bytes::from_static(b"not metrics")))
            .unwrap();
        let push = decode(req).await.unwrap();
        assert_eq!(push.method, PushMethod::Delete);
        assert!(push.families.is_empty());
        assert!(push.body.is_empty());
        assert_eq!(push.grouping.len(), 2);
    }
}
