//! The push gateway: a tower service that receives pushed metrics and
//! stores them, built from layers that each do one thing.
//!
//! [`PushGateway`] is the assembled service, InfluxDB telemetry's
//! `PushGateway` as tower middleware. It answers `POST`, `PUT` and `DELETE`
//! on push paths by running the request through these stages, outermost
//! first:
//!
//! | stage | module | refuses with |
//! | --- | --- | --- |
//! | answer, log, count | [`respond`] | — |
//! | whole-request deadline | [`deadline`] | 408 body not in, 504 store too slow |
//! | body size limit | [`body_limit`] | 413 |
//! | `Content-Encoding` | [`decompress`] | 415 unknown, 413 too large decompressed, 400 corrupt |
//! | method, path, `Content-Type`, body → [`Push`] | [`decode`] | 405, 404 not a push path, 400 bad grouping key, 415, 400 |
//! | [rules of pushed metrics](crate::validate) | [`validate`] | 400 |
//! | grouping labels, transformers | [`transform`] | — |
//! | hand to the store | [`handoff`] | 400/500/503 from the store |
//!
//! and answers `202 Accepted` once the store has the push. A push path is
//! `/metrics/job/<job>{/<label>/<value>}` after whatever the gateway is
//! mounted under (see [`grouping`](crate::grouping)); any other path is
//! 404 and never reaches the store. `DELETE` reaches the store as a push of
//! no families with [`PushMethod::Delete`](crate::grouping::PushMethod), and
//! is answered 202 as the Pushgateway answers it. `GET` and `HEAD` are
//! redirected (`303 See Other`) to the configured info URL (InfluxDB
//! telemetry's gateway redirects to a page that says what is collected), or
//! refused with 405 when there is none; other methods get 405 with `Allow`.
//!
//! A 2xx means stored; anything else means nothing was stored: no push is
//! truncated or stored in part. Every refusal is one [`GatewayError`],
//! answered with its status and a one-line `text/plain` body saying what
//! was wrong and where, logged through `tracing` (reason, peer, bytes) and
//! counted in the gateway's [registry](PushGateway::registry) (see
//! [`metrics`]).
//!
//! Every layer is public and usable on its own; the HTTP-level ones take
//! any `http_body::Body`, the inner ones are `tower::Service<Push>`. The
//! store is any `tower::Service<Push>` ([`PushGateway::service_builder`]),
//! so tower's `ConcurrencyLimit`, `LoadShed`, `Buffer` and `Retry` can sit
//! in front of it: the gateway asks the whole stack for readiness.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
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
//! // Stored decoded, with the grouping labels and a receive timestamp.
//! let push = &store.pushes()[0];
//! let metric = &push.families[0].metric[0];
//! assert_eq!(push.grouping[0].value(), "backup");
//! assert_eq!(metric.label[0].value(), "db1");
//! assert_eq!(metric.label[1].value(), "backup");
//! assert!(metric.timestamp_ms.is_some());
//! # });
//! ```
//!
//! With a server: pushgate's [`Server`](crate::server::Server), hyper's
//! `serve_connection` through
//! `hyper_util::service::TowerToHyperService::new(gateway)`, or axum's
//! `Router::route_service("/metrics/job/{*grouping}", gateway)` or
//! `nest_service("/ingest", gateway)` (tonic: the same axum router, as
//! `tonic::service::Routes::from(router)`). [`PeerAddrLayer`] fills in the
//! client's address from axum's `ConnectInfo`.

/// `get_ref`, `get_mut` and `into_inner` for a stage whose inner service
/// is its `inner` field, as tower-http's services have them.
macro_rules! inner_accessors {
    () => {
        /// The inner service.
        pub fn get_ref(&self) -> &S {
            &self.inner
        }

        /// The inner service, mutably.
        pub fn get_mut(&mut self) -> &mut S {
            &mut self.inner
        }

        /// The inner service, taken out.
        pub fn into_inner(self) -> S {
            self.inner
        }
    };
}

pub mod body_limit;
pub mod deadline;
pub mod decode;
pub mod decompress;
mod error;
pub mod future;
pub mod handoff;
pub mod metrics;
mod peer;
pub mod respond;
pub mod transform;
pub mod validate;

use std::convert::Infallible;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE, LOCATION};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use prometheus::Registry;
use tower::{Service, ServiceBuilder};

pub use self::error::{GatewayError, TooLarge};
pub use self::handoff::Stored;
pub use self::peer::{PeerAddr, PeerAddrLayer, SetPeerAddr};
pub use crate::store::Push;

use self::body_limit::{BodyLimit, BodyLimitLayer};
use self::deadline::{Deadline, DeadlineLayer};
use self::decode::{Decode, DecodeLayer};
use self::decompress::{Decompress, DecompressLayer};
use self::handoff::Handoff;
use self::metrics::{GatewayMetrics, RegistryService};
use self::respond::{Counted, Respond, RespondFuture, RespondLayer};
use self::transform::{Transform, TransformLayer};
use self::validate::{Validate, ValidateLayer};
use crate::grouping::PushMethod;
use crate::store::{Store, StoreService};
use crate::transform::{AddTimestamps, Transformer};
use crate::validate::InvalidPush;
use crate::BoxError;

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

/// The stages behind [`PushGateway`], outermost first, around the store
/// service `S`.
type Stack<S> = Deadline<BodyLimit<Decompress<Decode<Validate<Transform<Handoff<S>>>>>>>;

/// The push gateway: every stage of this module behind one `Clone`,
/// infallible service of `http::Request<B>` for any body type `B`.
///
/// Build one with [`PushGateway::builder`] (a [`Store`]) or
/// [`PushGateway::service_builder`] (any `tower::Service<Push>`); see the
/// [module](self) docs.
pub struct PushGateway<S> {
    inner: Respond<Stack<S>>,
    shared: Arc<Shared>,
}

struct Shared {
    registry: Registry,
    info_url: Option<HeaderValue>,
    allow: &'static str,
}

impl<S: Clone> Clone for PushGateway<S> {
    fn clone(&self) -> PushGateway<S> {
        PushGateway {
            inner: self.inner.clone(),
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

impl<S: Store> PushGateway<StoreService<S>> {
    /// A builder of a gateway that stores into `store` (InfluxDB
    /// telemetry's `NewPushGateway(log, store, xforms...)`; logging goes
    /// through `tracing`).
    pub fn builder(store: S) -> Builder<StoreService<S>> {
        PushGateway::service_builder(StoreService::new(store))
    }
}

impl<S> PushGateway<S> {
    /// A builder of a gateway that hands each push to `service`: a store
    /// behind tower's middleware, or any `tower::Service<Push>` whose
    /// errors are [`StoreError`](crate::store::StoreError)s or convert as
    /// [`GatewayError::from_service_error`] says.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use pushgate::gateway::{GatewayBody, PushGateway};
    /// use pushgate::store::{MemoryStore, StoreService};
    /// use tower::{ServiceBuilder, ServiceExt};
    ///
    /// // At most 4 writes at once; past that, 503 rather than a queue.
    /// let store = ServiceBuilder::new()
    ///     .load_shed()
    ///     .concurrency_limit(4)
    ///     .service(StoreService::new(MemoryStore::new()));
    /// let gateway = PushGateway::service_builder(store).build().unwrap();
    /// let push = http::Request::post("/metrics/job/j").body(GatewayBody::from("up 1\n")).unwrap();
    /// assert_eq!(gateway.oneshot(push).await.unwrap().status(), http::StatusCode::ACCEPTED);
    /// # });
    /// ```
    pub fn service_builder(service: S) -> Builder<S> {
        Builder {
            service,
            transformers: Vec::new(),
            receive_timestamps: true,
            timeout: crate::DEFAULT_TIMEOUT,
            max_bytes: crate::DEFAULT_MAX_BYTES,
            prefix: crate::grouping::DEFAULT_PREFIX.into(),
            info_url: None,
            registry: None,
            validate: ValidateLayer::new(),
        }
    }

    /// The registry holding the gateway's own metrics (see [`metrics`]).
    pub fn registry(&self) -> &Registry {
        &self.shared.registry
    }

    /// A service that serves the gateway's own metrics in the Prometheus
    /// text format, for `GET /metrics` beside the gateway.
    ///
    /// ```
    /// use pushgate::gateway::PushGateway;
    /// use pushgate::store::MemoryStore;
    ///
    /// let gateway = PushGateway::builder(MemoryStore::new()).build().unwrap();
    /// let app: axum::Router = axum::Router::new()
    ///     .route_service("/metrics", gateway.registry_service())
    ///     .route_service("/metrics/job/{*key}", gateway);
    /// # let _ = app;
    /// ```
    pub fn registry_service(&self) -> RegistryService {
        RegistryService::new(self.shared.registry.clone())
    }

    /// The service pushes are handed to.
    pub fn get_ref(&self) -> &S {
        self.inner
            .get_ref()
            .get_ref()
            .get_ref()
            .get_ref()
            .get_ref()
            .get_ref()
            .get_ref()
            .get_ref()
    }

    /// The service pushes are handed to, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        self.inner
            .get_mut()
            .get_mut()
            .get_mut()
            .get_mut()
            .get_mut()
            .get_mut()
            .get_mut()
            .get_mut()
    }
}

/// Configures a [`PushGateway`]; from [`PushGateway::builder`] or
/// [`PushGateway::service_builder`].
#[must_use]
pub struct Builder<S> {
    service: S,
    transformers: Vec<Box<dyn Transformer>>,
    receive_timestamps: bool,
    timeout: Duration,
    max_bytes: usize,
    prefix: String,
    info_url: Option<Uri>,
    registry: Option<Registry>,
    validate: ValidateLayer,
}

impl<S> fmt::Debug for Builder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("transformers", &self.transformers.len())
            .field("receive_timestamps", &self.receive_timestamps)
            .field("timeout", &self.timeout)
            .field("max_bytes", &self.max_bytes)
            .field("prefix", &self.prefix)
            .field("info_url", &self.info_url)
            .finish_non_exhaustive()
    }
}

/// Why [`Builder::build`] failed.
#[derive(Debug, thiserror::Error)]
#[error("registering the gateway's metrics: {0}")]
pub struct BuildError(#[from] prometheus::Error);

impl<S> Builder<S> {
    /// Adds a transformer, run after those added before and before the
    /// receive timestamps.
    pub fn transformer(mut self, transformer: impl Transformer + 'static) -> Builder<S> {
        self.transformers.push(Box::new(transformer));
        self
    }

    /// Adds a transformer already boxed.
    pub(crate) fn boxed_transformer(mut self, transformer: Box<dyn Transformer>) -> Builder<S> {
        self.transformers.push(transformer);
        self
    }

    /// Whether every metric is stamped with the time of receipt
    /// ([`AddTimestamps`], InfluxDB telemetry's default), after the
    /// transformers; on by default.
    pub fn receive_timestamps(mut self, on: bool) -> Builder<S> {
        self.receive_timestamps = on;
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

    /// What comes before `/job/<job>` in push paths: `/metrics` by
    /// default, as the Pushgateway's (see
    /// [`grouping::parse_with_prefix`](crate::grouping::parse_with_prefix)).
    pub fn path_prefix(mut self, prefix: impl Into<String>) -> Builder<S> {
        self.prefix = prefix.into();
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

    /// Calls `f` with each push the validate stage refuses, and why
    /// ([`ValidateLayer::on_invalid`]).
    pub fn on_invalid(
        mut self,
        f: impl Fn(&Push, &InvalidPush) + Send + Sync + 'static,
    ) -> Builder<S> {
        self.validate = self.validate.on_invalid(f);
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
            "POST, PUT, DELETE, GET, HEAD"
        } else {
            decode::ALLOW
        };
        let mut transformers = self.transformers;
        if self.receive_timestamps {
            transformers.push(Box::new(AddTimestamps::new()));
        }
        let inner = ServiceBuilder::new()
            .layer(RespondLayer::new().metrics(metrics))
            .layer(DeadlineLayer::new(self.timeout))
            .layer(BodyLimitLayer::new(self.max_bytes))
            .layer(DecompressLayer::new(self.max_bytes))
            .layer(DecodeLayer::new(self.max_bytes).prefix(&self.prefix))
            .layer(self.validate)
            .layer(TransformLayer::new(transformers))
            .service(Handoff::new(self.service));
        Ok(PushGateway {
            inner,
            shared: Arc::new(Shared {
                registry,
                info_url,
                allow,
            }),
        })
    }
}

impl<S, B> Service<Request<B>> for PushGateway<S>
where
    S: Service<Push> + Clone,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<GatewayBody>;
    type Error = Infallible;
    type Future = RespondFuture<<Stack<S> as Service<Request<Counted<B>>>>::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Down the whole stack to the store: backpressure and load
        // shedding in front of a store work through here.
        Service::<Request<B>>::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let method = req.method();
        if PushMethod::from_http(method).is_some() {
            return self.inner.call(req);
        }
        if method == Method::GET || method == Method::HEAD {
            if let Some(url) = &self.shared.info_url {
                return RespondFuture::ready(see_other(url, method == Method::HEAD));
            }
        }
        let error = GatewayError::MethodNotAllowed {
            method: method.clone(),
            allow: self.shared.allow,
        };
        let peer = req.extensions().get::<PeerAddr>().map(|p| p.0);
        RespondFuture::ready(self.inner.refuse(error, peer))
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
