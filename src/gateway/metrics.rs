//! The gateway's own metrics, in a [`prometheus::Registry`] the binary
//! serves on `GET /metrics`.
//!
//! | metric | type | what |
//! | --- | --- | --- |
//! | `pushgate_pushes_total{outcome}` | counter | pushes answered, by outcome: `stored`, `bad_request`, `too_large`, `unsupported_media_type`, `method_not_allowed`, `body_timeout`, `store_timeout`, `store_unavailable`, `store_failed` |
//! | `pushgate_received_bytes_total` | counter | request body bytes read, as sent (before decompression), over all pushes |
//! | `pushgate_push_duration_seconds` | histogram | time from receiving a push request to answering it |
//!
//! [`RegistryService`] serves a registry (the gateway's, from
//! [`PushGateway::registry_service`](super::PushGateway::registry_service))
//! in the Prometheus text format, to mount on `GET /metrics` beside the
//! gateway.

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry};
use tower::Service;

use super::{GatewayBody, GatewayError};

/// The gateway's metrics; clones share them.
#[derive(Clone, Debug)]
pub struct GatewayMetrics {
    pushes: IntCounterVec,
    /// `pushes` by outcome, resolved once.
    outcomes: Vec<(&'static str, IntCounter)>,
    received_bytes: IntCounter,
    duration: Histogram,
}

/// Buckets of `pushgate_push_duration_seconds`, 100µs to 10s: most pushes
/// take well under a millisecond; the default timeout is 10s.
const DURATION_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

impl GatewayMetrics {
    /// The names of the families these metrics make, which pushes to a
    /// gateway that exposes them beside pushed families must not use.
    pub const NAMES: [&'static str; 3] = [
        "pushgate_pushes_total",
        "pushgate_received_bytes_total",
        "pushgate_push_duration_seconds",
    ];

    /// New metrics, registered nowhere yet; every outcome starts at 0.
    pub fn new() -> GatewayMetrics {
        // Fixed, valid names and help: these constructors cannot fail.
        let pushes = IntCounterVec::new(
            Opts::new(Self::NAMES[0], "Pushes answered, by outcome."),
            &["outcome"],
        )
        .expect("valid counter options");
        let outcomes = GatewayError::OUTCOMES
            .iter()
            .map(|&o| (o, pushes.with_label_values(&[o])))
            .collect();
        let received_bytes = IntCounter::new(
            Self::NAMES[1],
            "Request body bytes read, as sent, over all pushes.",
        )
        .expect("valid counter options");
        let duration = Histogram::with_opts(
            HistogramOpts::new(
                Self::NAMES[2],
                "Time from receiving a push to answering it.",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
        )
        .expect("valid histogram options");
        GatewayMetrics {
            pushes,
            outcomes,
            received_bytes,
            duration,
        }
    }

    /// Registers the metrics with `registry`; fails if metrics of the same
    /// names are registered there already.
    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.pushes.clone()))?;
        registry.register(Box::new(self.received_bytes.clone()))?;
        registry.register(Box::new(self.duration.clone()))
    }

    /// Counts one push answered with `outcome` after reading `bytes` in
    /// `duration`.
    pub fn record(&self, outcome: &str, bytes: u64, duration: Duration) {
        match self.outcomes.iter().find(|(o, _)| *o == outcome) {
            Some((_, counter)) => counter.inc(),
            None => self.pushes.with_label_values(&[outcome]).inc(),
        }
        self.received_bytes.inc_by(bytes);
        self.duration.observe(duration.as_secs_f64());
    }
}

impl Default for GatewayMetrics {
    fn default() -> GatewayMetrics {
        GatewayMetrics::new()
    }
}

/// Serves a [`Registry`] in the Prometheus text format 0.0.4: `GET` and
/// `HEAD` on any path; other methods get 405. Clones share the registry.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use http_body_util::BodyExt;
/// use pushgate::gateway::metrics::RegistryService;
/// use tower::ServiceExt;
///
/// let registry = prometheus::Registry::new();
/// let up = prometheus::IntGauge::new("up", "Up.").unwrap();
/// registry.register(Box::new(up.clone())).unwrap();
/// up.set(1);
/// let response = RegistryService::new(registry)
///     .oneshot(http::Request::get("/metrics").body(()).unwrap())
///     .await
///     .unwrap();
/// let body = response.into_body().collect().await.unwrap().to_bytes();
/// assert!(body.ends_with(b"up 1\n"));
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct RegistryService {
    registry: Registry,
}

impl RegistryService {
    /// Serves `registry`.
    pub fn new(registry: Registry) -> RegistryService {
        RegistryService { registry }
    }

    /// The registry served.
    pub fn get_ref(&self) -> &Registry {
        &self.registry
    }

    /// The exposition of the registry now.
    fn exposition(&self) -> Response<GatewayBody> {
        let mut text = String::new();
        let encoded =
            prometheus::TextEncoder::new().encode_utf8(&self.registry.gather(), &mut text);
        match encoded {
            Ok(()) => {
                let mut response = Response::new(GatewayBody::from(text));
                response.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static(prometheus::TEXT_FORMAT),
                );
                response
            }
            // A collector that cannot be written is a bug in it, not the
            // scraper's fault.
            Err(e) => plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot expose metrics: {e}\n"),
            ),
        }
    }
}

/// A one-line `text/plain` answer.
fn plain(status: StatusCode, text: String) -> Response<GatewayBody> {
    let mut response = Response::new(GatewayBody::from(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

impl<B> Service<Request<B>> for RegistryService {
    type Response = Response<GatewayBody>;
    type Error = Infallible;
    type Future = Ready<Result<Response<GatewayBody>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let response = match *req.method() {
            Method::GET => self.exposition(),
            Method::HEAD => self.exposition().map(|_| GatewayBody::empty()),
            _ => {
                let text = format!("method {} not allowed: scrape with GET\n", req.method());
                let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, text);
                response
                    .headers_mut()
                    .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
                response
            }
        };
        ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::{Encoder, TextEncoder};

    #[test]
    fn registers_and_counts() {
        let registry = Registry::new();
        let m = GatewayMetrics::new();
        m.register(&registry).unwrap();
        m.record("stored", 100, Duration::from_micros(300));
        m.record("bad_request", 7, Duration::from_millis(2));
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&registry.gather(), &mut out)
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("pushgate_pushes_total{outcome=\"stored\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("pushgate_pushes_total{outcome=\"bad_request\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("pushgate_pushes_total{outcome=\"store_failed\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("pushgate_received_bytes_total 107\n"),
            "{text}"
        );
        assert!(
            text.contains("pushgate_push_duration_seconds_count 2\n"),
            "{text}"
        );
        assert!(
            text.contains("pushgate_push_duration_seconds_bucket{le=\"0.0005\"} 1\n"),
            "{text}"
        );
        // Twice in one registry is refused.
        assert!(GatewayMetrics::new().register(&registry).is_err());
    }

    #[tokio::test]
    async fn the_registry_service_serves_text_and_refuses_posts() {
        use http_body_util::BodyExt;
        use tower::ServiceExt;

        let registry = Registry::new();
        GatewayMetrics::new().register(&registry).unwrap();
        let service = RegistryService::new(registry);
        let get = service
            .clone()
            .oneshot(Request::get("/metrics").body(()).unwrap())
            .await
            .unwrap();
        assert_eq!(get.status(), StatusCode::OK);
        assert_eq!(get.headers()[CONTENT_TYPE], prometheus::TEXT_FORMAT);
        let text = get.into_body().collect().await.unwrap().to_bytes();
        let text = std::str::from_utf8(&text).unwrap();
        assert!(
            text.contains("pushgate_pushes_total{outcome=\"stored\"} 0\n"),
            "{text}"
        );

        let head = service
            .clone()
            .oneshot(Request::head("/metrics").body(()).unwrap())
            .await
            .unwrap();
        assert_eq!(head.status(), StatusCode::OK);
        assert!(head
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .is_empty());

        let post = service
            .oneshot(Request::post("/metrics").body(()).unwrap())
            .await
            .unwrap();
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(post.headers()[ALLOW], "GET, HEAD");
    }
}
