//! `GET /metrics` of a [`GroupStore`]: every group in one exposition, in
//! the format the scraper asks for, cached between changes.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::{ready, Ready};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{
    HeaderValue, ACCEPT, ACCEPT_ENCODING, ALLOW, CONTENT_ENCODING, CONTENT_TYPE, VARY,
};
use http::{Method, Request, Response, StatusCode};
use prometheus::Registry;
use tower::Service;

use super::plain;
use crate::codec::{self, EncodeError};
use crate::gateway::GatewayBody;
use crate::model::{Gauge, Metric, MetricFamily, MetricType};
use crate::store::GroupStore;
use crate::Format;

/// The families the exposition adds about the store itself.
pub(super) const GROUPS: &str = "pushgate_groups";
pub(super) const SERIES: &str = "pushgate_series";

/// Serves a [`GroupStore`] for scrapes, as the Pushgateway serves
/// `/metrics`: every group's families with `push_time_seconds` and
/// `push_failure_time_seconds`, then the gateway's own metrics (from a
/// [registry](Exposition::registry), and `pushgate_groups` and
/// `pushgate_series`).
///
/// The format follows the `Accept` header ([`Format::negotiate`]: text,
/// delimited protobuf or OpenMetrics) and the body is gzipped when
/// `Accept-Encoding` allows. The groups' part is encoded once per change
/// to the store ([`GroupStore::generation`]) and format: scrapes of a
/// store that has not changed cost a copy.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use http_body_util::BodyExt;
/// use pushgate::pushgateway::Exposition;
/// use pushgate::store::GroupStore;
/// use tower::ServiceExt;
///
/// let exposition = Exposition::new(GroupStore::new());
/// let response = exposition
///     .oneshot(http::Request::get("/metrics").body(()).unwrap())
///     .await
///     .unwrap();
/// assert_eq!(response.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
/// let body = response.into_body().collect().await.unwrap().to_bytes();
/// assert!(body.ends_with(b"pushgate_series 0\n"));
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct Exposition {
    store: GroupStore,
    registry: Option<Registry>,
    cache: Arc<Mutex<HashMap<(Format, bool), Cached>>>,
}

#[derive(Debug)]
struct Cached {
    generation: u64,
    own: Vec<u8>,
    body: Bytes,
}

impl Exposition {
    /// Serves `store`, with no registry.
    pub fn new(store: GroupStore) -> Exposition {
        Exposition {
            store,
            registry: None,
            cache: Arc::default(),
        }
    }

    /// Adds the metrics of `registry` (the gateway's own) after the groups.
    /// Their names must not be pushed: reserve them in the store
    /// ([`GroupStoreBuilder::reserve`](crate::store::GroupStoreBuilder::reserve)).
    #[must_use]
    pub fn registry(mut self, registry: Registry) -> Exposition {
        self.registry = Some(registry);
        self
    }

    /// The store served.
    pub fn get_ref(&self) -> &GroupStore {
        &self.store
    }

    /// The answer to a scrape request.
    pub fn respond<B>(&self, req: &Request<B>) -> Response<GatewayBody> {
        let head = req.method() == Method::HEAD;
        if req.method() != Method::GET && !head {
            let mut response = plain(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("method {} not allowed: scrape with GET\n", req.method()),
            );
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        let header = |name| {
            req.headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
        };
        let format = Format::negotiate(header(ACCEPT));
        let gzip = accepts_gzip(header(ACCEPT_ENCODING));
        match self.body(format, gzip) {
            Ok(body) => {
                let mut response = Response::new(if head {
                    GatewayBody::empty()
                } else {
                    GatewayBody::from(body)
                });
                let headers = response.headers_mut();
                headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static(format.content_type()),
                );
                headers.insert(VARY, HeaderValue::from_static("Accept, Accept-Encoding"));
                if gzip {
                    headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                }
                response
            }
            // A family the format cannot carry (a native histogram in
            // text, say): the scraper can ask for protobuf.
            Err(error) => plain(
                StatusCode::NOT_ACCEPTABLE,
                format!("cannot expose the groups as {format}: {error}; ask for protobuf\n"),
            ),
        }
    }

    /// The whole body in `format`, gzipped or not.
    fn body(&self, format: Format, gzip: bool) -> Result<Bytes, EncodeError> {
        let generation = self.store.generation();
        let own = self.own(format)?;
        let key = (format, gzip);
        if let Some(cached) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            if cached.generation == generation && cached.own == own {
                return Ok(cached.body.clone());
            }
        }
        let mut out = Vec::new();
        codec::encode(format, &self.store.families(), &mut out)?;
        if format == Format::OpenMetrics {
            // One `# EOF`, after the gateway's own families.
            strip_eof(&mut out);
        }
        out.extend_from_slice(&own);
        if format == Format::OpenMetrics {
            out.extend_from_slice(b"# EOF\n");
        }
        let body = if gzip {
            let mut encoder = flate2::write::GzEncoder::new(
                Vec::with_capacity(out.len() / 4),
                flate2::Compression::fast(),
            );
            encoder
                .write_all(&out)
                .and_then(|()| encoder.finish())
                .map(Bytes::from)
                .expect("gzip into memory cannot fail")
        } else {
            Bytes::from(out)
        };
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).insert(
            key,
            Cached {
                generation,
                own,
                body: body.clone(),
            },
        );
        Ok(body)
    }

    /// The gateway's own families in `format`, without OpenMetrics' `# EOF`.
    fn own(&self, format: Format) -> Result<Vec<u8>, EncodeError> {
        let mut families = Vec::new();
        if let Some(registry) = &self.registry {
            let mut text = String::new();
            // The registry's own text encoder, read back into the model: one
            // path for every format.
            if prometheus::TextEncoder::new()
                .encode_utf8(&registry.gather(), &mut text)
                .is_ok()
            {
                if let Ok(decoded) = codec::decode(Format::Text, text.into(), &Default::default()) {
                    families = decoded;
                }
            }
        }
        families.push(gauge(
            GROUPS,
            "Groups the gateway holds.",
            self.store.len() as f64,
        ));
        families.push(gauge(
            SERIES,
            "Series the gateway holds, over all groups.",
            self.store.series() as f64,
        ));
        let mut out = Vec::new();
        codec::encode(format, &families, &mut out)?;
        if format == Format::OpenMetrics {
            strip_eof(&mut out);
        }
        Ok(out)
    }
}

fn strip_eof(out: &mut Vec<u8>) {
    if out.ends_with(b"# EOF\n") {
        out.truncate(out.len() - b"# EOF\n".len());
    }
}

fn gauge(name: &str, help: &str, value: f64) -> MetricFamily {
    let mut family = MetricFamily {
        name: Some(name.into()),
        help: Some(help.into()),
        metric: vec![Metric {
            gauge: Some(Gauge { value: Some(value) }),
            ..Default::default()
        }],
        ..Default::default()
    };
    family.set_metric_type(MetricType::Gauge);
    family
}

/// Whether `Accept-Encoding` takes gzip (`gzip` or `*` with `q` above 0).
fn accepts_gzip(header: Option<&str>) -> bool {
    header.is_some_and(|h| {
        h.split(',').any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let q = parts
                .find_map(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|q| q.parse::<f64>().ok())
                })
                .unwrap_or(1.0);
            (name.eq_ignore_ascii_case("gzip") || name == "*") && q > 0.0
        })
    })
}

impl<B> Service<Request<B>> for Exposition {
    type Response = Response<GatewayBody>;
    type Error = Infallible;
    type Future = Ready<Result<Response<GatewayBody>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        ready(Ok(self.respond(&req)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_taken_when_allowed() {
        assert!(accepts_gzip(Some("gzip")));
        assert!(accepts_gzip(Some("deflate, gzip;q=0.5")));
        assert!(accepts_gzip(Some("*")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("identity")));
        assert!(!accepts_gzip(None));
    }
}
