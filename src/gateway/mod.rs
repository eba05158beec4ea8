//! The push gateway: a tower service that receives pushed metrics and
//! stores them, built from layers that each do one thing.
//!
//! [`PushGateway`] is the assembled service, the seed's
//! `telemetry.PushGateway` as tower middleware. It answers `POST` and `PUT`
//! by running the request through these stages, outermost first:
//!
//! | stage | module | refuses with |
//! | --- | --- | --- |
//! | whole-request deadline | [`timeout`] | 408 body not in, 504 store too slow |
//! | body size limit | [`limit`] | 413 |
//! | `Content-Encoding` | [`decompress`] | 415 unknown, 413 too large decompressed, 400 corrupt |
//! | `Content-Type`, path, body → [`Push`] | [`decode`] (with [`grouping`]) | 405, 415, 400 |
//! | rules of pushed metrics | [`validate`] | 400 |
//! | grouping labels, transformers | [`transform`] | — |
//! | encode, [`Store::write_message`] | [`sink`] | 400 unencodable, 500/503 from the store |
//!
//! and answers `202 Accepted` once the store has the message. `GET` and
//! `HEAD` are redirected (`303 See Other`) to the configured info URL (the
//! seed redirects to a page that says what is collected), or refused with
//! 405 when there is none; other methods get 405 with `Allow`.
//!
//! A 2xx means stored; anything else means nothing was stored: no push is
//! truncated or stored in part. Every refusal is one [`GatewayError`],
//! answered with its status and a one-line `text/plain` body saying what
//! was wrong and where, logged through `tracing` (reason, peer, bytes) and
//! counted in the gateway's [registry](PushGateway::registry) (see
//! [`metrics`]).
//!
//! Every layer is public and usable on its own; the HTTP-level ones take
//! any `http_body::Body`, the inner ones are `tower::Service<Push>`.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use http_body_util::BodyExt;
//! use pushgate::gateway::{GatewayBody, PushGateway};
//! use pushgate::store::MemoryStore;
//! use tower::ServiceExt;
//!
//! let store = MemoryStore::new();
//! let gateway = PushGateway::builder(store.clone()).build().unwrap();
//!
//! let request = http::Request::post("/metrics/job/backup/instance/db1")
//!     .body(GatewayBody::from("# TYPE backup_last_success_seconds gauge\nbackup_last_success_seconds 1.7e9\n"))
//!     .unwrap();
//! let response = gateway.oneshot(request).await.unwrap();
//! assert_eq!(response.status(), http::StatusCode::ACCEPTED);
//!
//! // Stored as Prometheus text, with the grouping labels and a timestamp.
//! let message = &store.messages()[0];
//! let text = std::str::from_utf8(&message.data).unwrap();
//! assert!(text.starts_with("# TYPE backup_last_success_seconds gauge\n\
//!                           backup_last_success_seconds{instance=\"db1\",job=\"backup\"} 1.7e+09 "));
//! assert_eq!(message.grouping[0].value(), "backup");
//! # });
//! ```
//!
//! With a server: hyper's `serve_connection` through
//! `hyper_util::service::TowerToHyperService::new(gateway)`, or axum's
//! `Router::route_service("/metrics/job/{*grouping}", gateway)` (tonic: the
//! same axum router, as `tonic::service::Routes::from(router)`). Insert a
//! [`PeerAddr`] into each request for the peer to show in logs.

pub mod decode;
pub mod decompress;
mod error;
pub mod future;
pub mod grouping;
pub mod limit;
pub mod metrics;
mod push;
pub mod sink;
pub mod timeout;
pub mod transform;
pub mod validate;

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use http::header::{HeaderValue, CONTENT_TYPE, LOCATION};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use pin_project_lite::pin_project;
use prometheus::Registry;
use tower::{Service, ServiceBuilder};

pub use self::error::{GatewayError, TooLarge};
pub use self::push::{PeerAddr, Push, Stored};
pub use self::sink::Encoder;

use self::decode::{Decode, DecodeLayer};
use self::decompress::{Decompress, DecompressLayer};
use self::limit::{Limit, LimitLayer};
use self::metrics::GatewayMetrics;
use self::sink::Sink;
use self::timeout::{Timeout, TimeoutLayer};
use self::transform::{Transform, TransformLayer};
use self::validate::{Validate, ValidateLayer};
use crate::store::{BoxError, PushMethod, Store};
use crate::transform::Transformer;

/// The body of every gateway response: a few bytes of text, all at once.
#[derive(Clone, Debug, Default)]
pub struct GatewayBody(Full<Bytes>);

impl GatewayBody {
    /// An empty body.
    pub fn empty() -> GatewayBody {
        GatewayBody::default()
    }
}

impl From<Bytes> for GatewayBody {
    fn from(data: Bytes) -> GatewayBody {
        GatewayBody(Full::new(data))
    }
}

impl From<String> for GatewayBody {
    fn from(text: String) -> GatewayBody {
        GatewayBody::from(Bytes::from(text))
    }
}

impl From<&'static str> for GatewayBody {
    fn from(text: &'static str) -> GatewayBody {
        GatewayBody::from(Bytes::from_static(text.as_bytes()))
    }
}

impl From<Vec<u8>> for GatewayBody {
    fn from(data: Vec<u8>) -> GatewayBody {
        GatewayBody::from(Bytes::from(data))
    }
}

impl Body for GatewayBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Pin::new(&mut self.0).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0.size_hint()
    }
}

/// The stages behind [`PushGateway`], outermost first.
type Stack<S> = Timeout<Limit<Decompress<Decode<Validate<Transform<Sink<S>>>>>>>;

/// The push gateway: every stage of this module behind one `Clone`,
/// infallible service of `http::Request<B>` for any body type `B`.
///
/// Build one with [`PushGateway::builder`]; see the [module](self) docs.
pub struct PushGateway<S> {
    stack: Stack<S>,
    shared: Arc<Shared>,
}

struct Shared {
    metrics: GatewayMetrics,
    registry: Registry,
    info_url: Option<HeaderValue>,
    allow: &'static str,
}

impl<S> Clone for PushGateway<S> {
    fn clone(&self) -> PushGateway<S> {
        PushGateway {
            stack: self.stack.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S> fmt::Debug for PushGateway<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushGateway")
            .field("info_url", &self.shared.info_url)
            .finish_non_exhaustive()
    }
}

impl<S: Store> PushGateway<S> {
    /// A builder of a gateway that stores into `store` (the seed's
    /// `NewPushGateway(log, store, xforms...)`; logging goes through
    /// `tracing`).
    pub fn builder(store: S) -> Builder<S> {
        Builder {
            store,
            transformers: Vec::new(),
            encoder: Encoder::default(),
            timeout: crate::DEFAULT_TIMEOUT,
            max_bytes: crate::DEFAULT_MAX_BYTES,
            info_url: None,
            registry: None,
        }
    }
}

impl<S> PushGateway<S> {
    /// The registry holding the gateway's own metrics (see [`metrics`]), for
    /// serving on `GET /metrics`.
    pub fn registry(&self) -> &Registry {
        &self.shared.registry
    }
}

/// Configures a [`PushGateway`]; from [`PushGateway::builder`].
pub struct Builder<S> {
    store: S,
    transformers: Vec<Box<dyn Transformer>>,
    encoder: Encoder,
    timeout: Duration,
    max_bytes: usize,
    info_url: Option<Uri>,
    registry: Option<Registry>,
}

impl<S> fmt::Debug for Builder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("transformers", &self.transformers.len())
            .field("encoder", &self.encoder)
            .field("timeout", &self.timeout)
            .field("max_bytes", &self.max_bytes)
            .field("info_url", &self.info_url)
            .finish_non_exhaustive()
    }
}

/// Why [`Builder::build`] failed.
#[derive(Debug, thiserror::Error)]
#[error("registering the gateway's metrics: {0}")]
pub struct BuildError(#[from] prometheus::Error);

impl<S: Store> Builder<S> {
    /// Adds a transformer, run after those added before. With none,
    /// [`AddTimestamps`](crate::transform::AddTimestamps) runs, as in the
    /// seed.
    pub fn transformer(mut self, transformer: impl Transformer + 'static) -> Builder<S> {
        self.transformers.push(Box::new(transformer));
        self
    }

    /// The format messages are stored in; Prometheus text by default.
    pub fn encoder(mut self, encoder: Encoder) -> Builder<S> {
        self.encoder = encoder;
        self
    }

    /// How long a request may take, body and store write included;
    /// [`crate::DEFAULT_TIMEOUT`] by default.
    pub fn timeout(mut self, timeout: Duration) -> Builder<S> {
        self.timeout = timeout;
        self
    }

    /// The largest body accepted, as sent and decompressed;
    /// [`crate::DEFAULT_MAX_BYTES`] by default.
    pub fn max_bytes(mut self, max_bytes: usize) -> Builder<S> {
        self.max_bytes = max_bytes;
        self
    }

    /// Where `GET` and `HEAD` are redirected (`303 See Other`); without
    /// one they get 405.
    pub fn info_url(mut self, url: Uri) -> Builder<S> {
        self.info_url = Some(url);
        self
    }

    /// Registers the gateway's metrics in `registry` instead of a registry
    /// of its own.
    pub fn registry(mut self, registry: Registry) -> Builder<S> {
        self.registry = Some(registry);
        self
    }

    /// The gateway. Fails only if the metrics cannot be registered (a
    /// registry given with [`registry`](Builder::registry) that has them
    /// already).
    pub fn build(self) -> Result<PushGateway<S>, BuildError> {
        let registry = self.registry.unwrap_or_default();
        let metrics = GatewayMetrics::new();
        metrics.register(&registry)?;
        let info_url = self.info_url.map(|u| {
            HeaderValue::from_str(&u.to_string())
                .expect("a URI is a valid header value (visible ASCII)")
        });
        let allow = if info_url.is_some() {
            "POST, PUT, GET, HEAD"
        } else {
            "POST, PUT"
        };
        let stack = ServiceBuilder::new()
            .layer(TimeoutLayer::new(self.timeout))
            .layer(LimitLayer::new(self.max_bytes))
            .layer(DecompressLayer::new(self.max_bytes))
            .layer(DecodeLayer::new(self.max_bytes))
            .layer(ValidateLayer::new())
            .layer(TransformLayer::new(self.transformers))
            .service(Sink::new(self.store, self.encoder));
        Ok(PushGateway {
            stack,
            shared: Arc::new(Shared {
                metrics,
                registry,
                info_url,
                allow,
            }),
        })
    }
}

impl<S, B> Service<Request<B>> for PushGateway<S>
where
    S: Store,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<GatewayBody>;
    type Error = Infallible;
    type Future = ResponseFuture<<Stack<S> as Service<Request<Counted<B>>>>::Future>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Every stage is always ready: the sink is, the others ask it.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let shared = self.shared.clone();
        let peer = req.extensions().get::<PeerAddr>().map(|p| p.0);
        let method = req.method();
        if PushMethod::from_http(method).is_none() {
            if method == Method::GET || method == Method::HEAD {
                if let Some(url) = &shared.info_url {
                    return ResponseFuture::ready(see_other(url, method == Method::HEAD));
                }
            }
            let error = GatewayError::MethodNotAllowed {
                method: method.clone(),
                allow: shared.allow,
            };
            let record = Record {
                start: Instant::now(),
                peer,
                read: None,
                shared,
            };
            return ResponseFuture::ready(record.finish(Err(error)));
        }
        let read = Arc::new(AtomicU64::new(0));
        let req = req.map(|inner| Counted {
            inner,
            read: read.clone(),
        });
        ResponseFuture {
            kind: Kind::Push {
                future: self.stack.call(req),
                record: Some(Record {
                    start: Instant::now(),
                    peer,
                    read: Some(read),
                    shared,
                }),
            },
        }
    }
}

fn see_other(url: &HeaderValue, head: bool) -> Response<GatewayBody> {
    let body = if head {
        GatewayBody::empty()
    } else {
        let mut text = b"see ".to_vec();
        text.extend_from_slice(url.as_bytes());
        text.push(b'\n');
        GatewayBody::from(text)
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::SEE_OTHER;
    response.headers_mut().insert(LOCATION, url.clone());
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// What is needed to log and count a push once it is answered.
struct Record {
    start: Instant,
    peer: Option<std::net::SocketAddr>,
    read: Option<Arc<AtomicU64>>,
    shared: Arc<Shared>,
}

impl Record {
    fn finish(self, result: Result<Stored, GatewayError>) -> Response<GatewayBody> {
        let elapsed = self.start.elapsed();
        let bytes = self.read.map_or(0, |r| r.load(Ordering::Relaxed));
        let peer = self.peer.map(tracing::field::display);
        match result {
            Ok(stored) => {
                self.shared.metrics.record("stored", bytes, elapsed);
                tracing::debug!(
                    target: "pushgate::gateway",
                    peer,
                    bytes,
                    families = stored.families,
                    series = stored.series,
                    stored_bytes = stored.bytes,
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
                self.shared.metrics.record(error.outcome(), bytes, elapsed);
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
    /// The future of [`PushGateway`].
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Push {
            #[pin]
            future: F,
            record: Option<Record>,
        },
        Ready {
            response: Option<Response<GatewayBody>>,
        },
    }
}

impl<F> ResponseFuture<F> {
    fn ready(response: Response<GatewayBody>) -> ResponseFuture<F> {
        ResponseFuture {
            kind: Kind::Ready {
                response: Some(response),
            },
        }
    }
}

impl<F> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Stored, GatewayError>>,
{
    type Output = Result<Response<GatewayBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let response = match self.project().kind.project() {
            KindProj::Push { future, record } => {
                let result = ready!(future.poll(cx));
                record
                    .take()
                    .expect("gateway ResponseFuture polled after completion")
                    .finish(result)
            }
            KindProj::Ready { response } => response
                .take()
                .expect("gateway ResponseFuture polled after completion"),
        };
        Poll::Ready(Ok(response))
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("gateway::ResponseFuture")
            .finish_non_exhaustive()
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
