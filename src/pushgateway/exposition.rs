//! `GET /metrics` of a [`GroupStore`]: every group in one exposition, in
//! the format the scraper asks for, cached between changes.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
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
use crate::codec::{self, EncodeError, Part};
use crate::gateway::GatewayBody;
use crate::model::{Gauge, Metric, MetricFamily, MetricType};
use crate::store::{GroupId, GroupStore};
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
/// `Accept-Encoding` allows. Each group's families are encoded once per
/// change to the group and kept, per format scraped (so the store's
/// memory grows by about its encoded size per format in use): a scrape
/// after a push re-encodes only the group pushed to and joins the rest.
/// The whole body is kept too, per change to the store
/// ([`GroupStore::generation`]): scrapes of a store that has not changed
/// cost a copy. Metrics of a family come in group order.
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
    /// Each group's encoding per format, for the next change.
    parts: Arc<Mutex<HashMap<(Format, GroupId), Parts>>>,
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
            parts: Arc::default(),
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
        self.encode_groups(format, &mut out)?;
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

    /// Every group's families, merged by name (in name order; a family's
    /// metrics in group order), with the push times, without OpenMetrics'
    /// `# EOF`. Each group's families are encoded once per change to the
    /// group and kept ([`Parts`]), so a scrape after a push re-encodes only
    /// the group pushed to.
    fn encode_groups(&self, format: Format, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut cache = self.parts.lock().unwrap_or_else(|p| p.into_inner());
        let mut joined: BTreeMap<String, (Bytes, Vec<Bytes>)> = BTreeMap::new();
        let mut seen = HashSet::new();
        let mut failed = None;
        let times = self.store.visit(|group| {
            if failed.is_some() {
                return;
            }
            seen.insert(group.id);
            let parts = match cache.entry((format, group.id)) {
                Entry::Occupied(e) if e.get().version == group.version => e.into_mut(),
                entry => match Parts::encode(
                    format,
                    group.version,
                    group.families.values().map(|s| &s.family),
                ) {
                    Ok(parts) => match entry {
                        Entry::Occupied(mut e) => {
                            e.insert(parts);
                            e.into_mut()
                        }
                        Entry::Vacant(e) => e.insert(parts),
                    },
                    Err(error) => {
                        failed = Some(error);
                        return;
                    }
                },
            };
            join(&mut joined, parts);
        });
        if let Some(error) = failed {
            return Err(error);
        }
        // Groups deleted or expired since: their encodings go.
        cache.retain(|(f, id), _| *f != format || seen.contains(id));
        drop(cache);
        join(&mut joined, &Parts::encode(format, 0, times.iter())?);
        // One allocation: a large store's exposition is tens of MB, and
        // growing into it copied it over and over.
        let size: usize = joined
            .values()
            .map(|(head, metrics)| 10 + head.len() + metrics.iter().map(Bytes::len).sum::<usize>())
            .sum();
        out.reserve(size + OWN_RESERVE);
        for (head, metrics) in joined.values() {
            codec::encode_joined(format, head, metrics.iter().map(|b| &b[..]), out);
        }
        Ok(())
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

/// Room left after the groups for the gateway's own families.
const OWN_RESERVE: usize = 16 * 1024;

/// A group's families in one format, each as head and metrics
/// ([`codec::encode_part`]).
#[derive(Debug)]
struct Parts {
    /// The group's version they were encoded at.
    version: u64,
    families: Vec<(String, Bytes, Bytes)>,
}

impl Parts {
    fn encode<'a>(
        format: Format,
        version: u64,
        families: impl Iterator<Item = &'a MetricFamily>,
    ) -> Result<Parts, EncodeError> {
        let mut out = Vec::new();
        for family in families.filter(|f| !f.metric.is_empty()) {
            let mut head = Vec::new();
            codec::encode_part(format, family, Part::Head, &mut head)?;
            let mut metrics = Vec::new();
            codec::encode_part(format, family, Part::Metrics, &mut metrics)?;
            out.push((family.name().to_owned(), head.into(), metrics.into()));
        }
        Ok(Parts {
            version,
            families: out,
        })
    }
}

/// Adds a group's `parts` to the families `joined` so far: the first
/// group with a family gives its head (help and type), every group its
/// metrics.
fn join(joined: &mut BTreeMap<String, (Bytes, Vec<Bytes>)>, parts: &Parts) {
    for (name, head, metrics) in &parts.families {
        match joined.get_mut(name) {
            Some((_, all)) => all.push(metrics.clone()),
            None => {
                joined.insert(name.clone(), (head.clone(), vec![metrics.clone()]));
            }
        }
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
