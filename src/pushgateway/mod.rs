//! A drop-in Prometheus Pushgateway: the push gateway in front of a
//! [`GroupStore`], with the Pushgateway's scrape endpoint, JSON API,
//! health checks and status page.
//!
//! [`GroupGateway`] answers what a Pushgateway 1.x answers:
//!
//! | request | answer |
//! | --- | --- |
//! | `PUT`, `POST`, `DELETE` `/metrics/job/<job>{/<label>/<value>}` | the push, through every stage of [`gateway`](crate::gateway) into the store (`202`; `PUT` replaces the group, `POST` the families pushed, `DELETE` removes it); pushed timestamps are refused |
//! | `GET` `/metrics` | every group, for Prometheus ([`Exposition`]: text, protobuf or OpenMetrics by `Accept`, gzip) |
//! | `GET` `/api/v1/metrics`, `/api/v1/status` | the Pushgateway's JSON |
//! | `PUT` `/api/v1/admin/wipe` | removes every group, when [enabled](Builder::admin_api) |
//! | `GET` `/-/healthy`, `/-/ready` | `200 OK` |
//! | `GET` `/` | the status page: every group with its times and families, and a delete button |
//!
//! and, beyond it: `DELETE /api/v1/groups?<label>=<value>&...` removes
//! every group whose grouping key has those labels, when
//! [enabled](Builder::partial_delete); a push's `Pushgate-TTL` header
//! ([`grouping::TTL_HEADER`](crate::grouping::TTL_HEADER)) or the store's
//! [TTL](crate::store::GroupStoreBuilder::ttl) drop a group that is not
//! pushed again in time; [limits](crate::store::GroupStoreBuilder::max_series)
//! answer `413`; [aggregating](crate::store::GroupStoreBuilder::aggregate)
//! groups add up. Anything else is `404`, or `405` on a push path.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use http_body_util::BodyExt;
//! use pushgate::gateway::GatewayBody;
//! use pushgate::pushgateway::GroupGateway;
//! use pushgate::store::GroupStore;
//! use tower::ServiceExt;
//!
//! let gateway = GroupGateway::builder(GroupStore::builder()).build().unwrap();
//! let push = http::Request::put("/metrics/job/backup/instance/db1")
//!     .body(GatewayBody::from("# TYPE backup_last_success_seconds gauge\nbackup_last_success_seconds 1.7e9\n"))
//!     .unwrap();
//! assert_eq!(gateway.clone().oneshot(push).await.unwrap().status(), 202);
//!
//! let scrape = http::Request::get("/metrics").body(GatewayBody::empty()).unwrap();
//! let body = gateway.oneshot(scrape).await.unwrap().into_body().collect().await.unwrap().to_bytes();
//! let text = String::from_utf8(body.to_vec()).unwrap();
//! assert!(text.contains("backup_last_success_seconds{instance=\"db1\",job=\"backup\"} 1.7e+09\n"));
//! # });
//! ```

mod api;
mod exposition;
mod page;

pub use self::exposition::Exposition;

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use http::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use prometheus::Registry;
use tower::Service;

use crate::gateway::metrics::GatewayMetrics;
use crate::gateway::{BuildError, GatewayBody, PushGateway};
use crate::grouping::PushMethod;
use crate::model::LabelPair;
use crate::store::{GroupStore, GroupStoreBuilder, StoreService};
use crate::transform::Transformer;
use crate::BoxError;

/// The push pipeline of a [`GroupGateway`].
type Pushes = PushGateway<StoreService<GroupStore>>;

/// The Pushgateway's endpoints over a [`GroupStore`]; see the
/// [module](self) docs. Clones share the store.
#[derive(Clone)]
pub struct GroupGateway {
    pushes: Pushes,
    shared: Arc<Shared>,
}

struct Shared {
    store: GroupStore,
    exposition: Exposition,
    admin_api: bool,
    partial_delete: bool,
    started: SystemTime,
    flags: Vec<(String, String)>,
}

impl fmt::Debug for GroupGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupGateway")
            .field("store", &self.shared.store)
            .field("admin_api", &self.shared.admin_api)
            .field("partial_delete", &self.shared.partial_delete)
            .finish_non_exhaustive()
    }
}

impl GroupGateway {
    /// A builder of a gateway over the store `store` builds.
    pub fn builder(store: GroupStoreBuilder) -> Builder {
        Builder {
            store,
            admin_api: false,
            partial_delete: false,
            flags: Vec::new(),
            max_bytes: crate::DEFAULT_MAX_BYTES,
            timeout: crate::DEFAULT_TIMEOUT,
            transformers: Vec::new(),
            registry: None,
        }
    }

    /// The store.
    pub fn store(&self) -> &GroupStore {
        &self.shared.store
    }

    /// The registry of the gateway's own metrics, which `/metrics` exposes
    /// after the groups.
    pub fn registry(&self) -> &Registry {
        self.pushes.registry()
    }
}

/// Configures a [`GroupGateway`]; from [`GroupGateway::builder`].
#[must_use]
pub struct Builder {
    store: GroupStoreBuilder,
    admin_api: bool,
    partial_delete: bool,
    flags: Vec<(String, String)>,
    max_bytes: usize,
    timeout: Duration,
    transformers: Vec<Box<dyn Transformer>>,
    registry: Option<Registry>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("store", &self.store)
            .field("admin_api", &self.admin_api)
            .field("partial_delete", &self.partial_delete)
            .field("max_bytes", &self.max_bytes)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// Answers `PUT /api/v1/admin/wipe` (the Pushgateway's
    /// `--web.enable-admin-api`); off by default, and `404` then.
    pub fn admin_api(mut self, on: bool) -> Builder {
        self.admin_api = on;
        self
    }

    /// Answers `DELETE /api/v1/groups?<label>=<value>&...`, which removes
    /// every group whose grouping key has all those labels; off by
    /// default, and `404` then.
    pub fn partial_delete(mut self, on: bool) -> Builder {
        self.partial_delete = on;
        self
    }

    /// The flags `/api/v1/status` shows, as the command line had them.
    pub fn flags(mut self, flags: impl IntoIterator<Item = (String, String)>) -> Builder {
        self.flags = flags.into_iter().collect();
        self
    }

    /// The largest push body, as sent and decompressed;
    /// [`crate::DEFAULT_MAX_BYTES`] by default.
    pub fn max_bytes(mut self, max_bytes: usize) -> Builder {
        self.max_bytes = max_bytes;
        self
    }

    /// How long a push may take; [`crate::DEFAULT_TIMEOUT`] by default.
    pub fn timeout(mut self, timeout: Duration) -> Builder {
        self.timeout = timeout;
        self
    }

    /// Adds a transformer of pushes, as
    /// [`gateway::Builder::transformer`](crate::gateway::Builder::transformer).
    pub fn transformer(mut self, transformer: impl Transformer + 'static) -> Builder {
        self.transformers.push(Box::new(transformer));
        self
    }

    /// Registers the gateway's metrics in `registry`, whose families
    /// `/metrics` then exposes, instead of a registry of its own.
    pub fn registry(mut self, registry: Registry) -> Builder {
        self.registry = Some(registry);
        self
    }

    /// The gateway. Fails only if the metrics cannot be registered.
    pub fn build(self) -> Result<GroupGateway, BuildError> {
        let registry = self.registry.unwrap_or_default();
        // What /metrics exposes beside the groups may not be pushed.
        let mut store = self.store;
        let own = registry
            .gather()
            .into_iter()
            .map(|f| f.name().to_owned())
            .chain(GatewayMetrics::NAMES.iter().map(|&n| n.to_owned()))
            .chain([exposition::GROUPS.to_owned(), exposition::SERIES.to_owned()]);
        for name in own {
            store = store.reserve(name);
        }
        let store = store.build();
        let mut pushes = PushGateway::builder(store.clone())
            // The Pushgateway keeps samples without timestamps: the
            // scrape time is theirs.
            .receive_timestamps(false)
            // The Pushgateway counts a push refused for its timestamps or
            // its metrics' consistency as a failed push of the group.
            .on_invalid({
                let store = store.clone();
                move |push, _| store.note_refusal(push)
            })
            .max_bytes(self.max_bytes)
            .timeout(self.timeout)
            .registry(registry.clone());
        for transformer in self.transformers {
            pushes = pushes.boxed_transformer(transformer);
        }
        let pushes = pushes.build()?;
        Ok(GroupGateway {
            pushes,
            shared: Arc::new(Shared {
                exposition: Exposition::new(store.clone()).registry(registry),
                store,
                admin_api: self.admin_api,
                partial_delete: self.partial_delete,
                started: SystemTime::now(),
                flags: self.flags,
            }),
        })
    }
}

impl<B> Service<Request<B>> for GroupGateway
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<GatewayBody>;
    type Error = Infallible;
    type Future = <Pushes as Service<Request<B>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Service::<Request<B>>::poll_ready(&mut self.pushes, cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let shared = &self.shared;
        let method = req.method().clone();
        let read = method == Method::GET || method == Method::HEAD;
        let response = match req.uri().path() {
            "/metrics" => shared.exposition.respond(&req),
            "/api/v1/metrics" if read => json(&api::metrics(&shared.store.groups())),
            "/api/v1/status" if read => json(&api::status(&shared.flags, shared.started)),
            "/api/v1/admin/wipe" if shared.admin_api => {
                if method == Method::PUT {
                    shared.store.wipe();
                    tracing::info!(target: "pushgate::pushgateway", "every group wiped");
                    status_only(StatusCode::ACCEPTED)
                } else {
                    not_allowed(&method, "PUT")
                }
            }
            "/api/v1/groups" if shared.partial_delete => {
                if method == Method::DELETE {
                    delete_matching(&shared.store, req.uri().query().unwrap_or(""))
                } else {
                    not_allowed(&method, "DELETE")
                }
            }
            "/-/healthy" | "/-/ready" if read => plain(StatusCode::OK, "OK".into()),
            "/" if read => html(page::render(
                &shared.store.groups(),
                shared.store.series(),
                shared.started,
            )),
            path if PushMethod::from_http(&method).is_some() || path.contains("/metrics/job") => {
                // The push stages answer 404 and 405 themselves.
                return self.pushes.call(req);
            }
            path => not_found(path, &shared.store),
        };
        let response = if method == Method::HEAD {
            response.map(|_| GatewayBody::empty())
        } else {
            response
        };
        crate::gateway::respond::RespondFuture::ready(response)
    }
}

/// `DELETE /api/v1/groups?<label>=<value>&...`.
fn delete_matching(store: &GroupStore, query: &str) -> Response<GatewayBody> {
    let mut labels = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode =
            |s: &str| crate::grouping::percent_decode(&s.replace('+', " ")).map(|c| c.into_owned());
        let (Ok(name), Ok(value)) = (decode(name), decode(value)) else {
            return plain(
                StatusCode::BAD_REQUEST,
                format!("invalid percent-encoding in query parameter {pair:?}\n"),
            );
        };
        if !crate::model::name::is_label_name(&name) {
            return plain(
                StatusCode::BAD_REQUEST,
                format!("query parameter {name:?} is not a label name\n"),
            );
        }
        labels.push(LabelPair::new(name, value));
    }
    if labels.is_empty() {
        return plain(
            StatusCode::BAD_REQUEST,
            "name the groups to delete by their labels, as ?job=backup \
             (to delete every group, use PUT /api/v1/admin/wipe)\n"
                .into(),
        );
    }
    let deleted = store.delete_matching(&labels);
    tracing::info!(
        target: "pushgate::pushgateway",
        matching = %crate::grouping::Display(&labels),
        deleted,
        "groups deleted"
    );
    let mut response = json(&serde_json::json!({
        "status": "success",
        "data": { "deleted": deleted },
    }));
    *response.status_mut() = StatusCode::ACCEPTED;
    response
}

fn not_found(path: &str, _store: &GroupStore) -> Response<GatewayBody> {
    plain(
        StatusCode::NOT_FOUND,
        format!(
            "no such page {path:?}: push to /metrics/job/<job>, scrape /metrics, \
             or see / for the groups\n"
        ),
    )
}

fn not_allowed(method: &Method, allow: &'static str) -> Response<GatewayBody> {
    let mut response = plain(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method {method} not allowed here: use {allow}\n"),
    );
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

fn status_only(status: StatusCode) -> Response<GatewayBody> {
    let mut response = Response::new(GatewayBody::empty());
    *response.status_mut() = status;
    response
}

/// A `text/plain` answer.
pub(crate) fn plain(status: StatusCode, text: String) -> Response<GatewayBody> {
    let mut response = Response::new(GatewayBody::from(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn json(value: &serde_json::Value) -> Response<GatewayBody> {
    let mut response = Response::new(GatewayBody::from(
        serde_json::to_vec(value).expect("JSON values serialise"),
    ));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn html(page: String) -> Response<GatewayBody> {
    let mut response = Response::new(GatewayBody::from(page));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MetricFamily;
    use crate::store::GroupStore;
    use crate::Format;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    fn gateway(store: GroupStoreBuilder) -> GroupGateway {
        GroupGateway::builder(store)
            .admin_api(true)
            .partial_delete(true)
            .build()
            .unwrap()
    }

    async fn call(
        gateway: &GroupGateway,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (StatusCode, http::HeaderMap, Vec<u8>) {
        let mut request = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(GatewayBody::from(body.to_owned())).unwrap();
        let response = gateway.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = body.collect().await.unwrap().to_bytes().to_vec();
        (parts.status, parts.headers, body)
    }

    async fn put(gateway: &GroupGateway, path: &str, body: &str) -> StatusCode {
        call(gateway, Method::PUT, path, &[], body).await.0
    }

    #[tokio::test]
    async fn scrapes_negotiate_the_format_and_gzip_and_are_cached() {
        let gateway = gateway(GroupStore::builder());
        assert_eq!(
            put(&gateway, "/metrics/job/a", "# TYPE x counter\nx 1\n").await,
            202
        );
        let (status, headers, text) = call(&gateway, Method::GET, "/metrics", &[], "").await;
        assert_eq!(status, 200);
        assert_eq!(headers[CONTENT_TYPE], Format::Text.content_type());
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.contains("# TYPE x counter\nx{instance=\"\",job=\"a\"} 1\n"),
            "{text}"
        );

        let accept = [("accept", "application/openmetrics-text; version=1.0.0")];
        let (_, headers, om) = call(&gateway, Method::GET, "/metrics", &accept, "").await;
        assert_eq!(headers[CONTENT_TYPE], Format::OpenMetrics.content_type());
        let om = String::from_utf8(om).unwrap();
        assert!(
            om.ends_with("# EOF\n") && om.matches("# EOF").count() == 1,
            "{om}"
        );
        // A counter not named `_total` is `unknown` in OpenMetrics, as Go
        // writes it.
        assert!(om.contains("x{instance=\"\",job=\"a\"} 1.0\n"), "{om}");

        let accept = [
            ("accept", Format::Protobuf.content_type()),
            ("accept-encoding", "gzip"),
        ];
        let (_, headers, gz) = call(&gateway, Method::GET, "/metrics", &accept, "").await;
        assert_eq!(headers[CONTENT_TYPE], Format::Protobuf.content_type());
        assert_eq!(headers["content-encoding"], "gzip");
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut raw).unwrap();
        let families =
            crate::codec::decode(Format::Protobuf, raw.into(), &Default::default()).unwrap();
        assert!(families.iter().any(|f| f.name() == "x"));
        assert!(families.iter().any(|f| f.name() == exposition::SERIES));

        // Unchanged store, same bytes; a push changes them.
        let again = call(&gateway, Method::GET, "/metrics", &accept, "").await.2;
        assert_eq!(again, gz);
        assert_eq!(
            put(&gateway, "/metrics/job/a", "# TYPE x counter\nx 2\n").await,
            202
        );
        let after = call(&gateway, Method::GET, "/metrics", &[], "").await.2;
        assert!(String::from_utf8(after)
            .unwrap()
            .contains("x{instance=\"\",job=\"a\"} 2\n"));

        let (status, headers, body) = call(&gateway, Method::HEAD, "/metrics", &[], "").await;
        assert_eq!((status, body.len()), (StatusCode::OK, 0));
        assert_eq!(headers[CONTENT_TYPE], Format::Text.content_type());
    }

    /// The exposition, decoded, with metrics sorted by labels: what
    /// `GroupStore::families` gives, whichever groups were re-encoded.
    async fn exposed_families(gateway: &GroupGateway, format: Format) -> Vec<MetricFamily> {
        let accept = [("accept", format.content_type())];
        let (_, _, body) = call(gateway, Method::GET, "/metrics", &accept, "").await;
        let mut families = crate::codec::decode(format, body.into(), &Default::default()).unwrap();
        families.retain(|f| !f.name().starts_with("pushgate_"));
        for family in &mut families {
            family.metric.sort_by_cached_key(|m| {
                m.label
                    .iter()
                    .map(|l| (l.name().to_owned(), l.value().to_owned()))
                    .collect::<Vec<_>>()
            });
        }
        families
    }

    #[tokio::test]
    async fn a_scrape_after_changes_is_the_whole_store_in_every_format() {
        let gateway = gateway(GroupStore::builder());
        let steps: [(Method, &str, &str); 6] = [
            (Method::PUT, "/metrics/job/a", "# HELP x An x.\n# TYPE x counter\nx{q=\"1\"} 1\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n"),
            (Method::PUT, "/metrics/job/b", "# HELP x Another help.\n# TYPE x counter\nx{q=\"2\"} 2\n# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 1\ns_count 1\n"),
            (Method::POST, "/metrics/job/a", "# TYPE y gauge\ny 5\n"),
            (Method::PUT, "/metrics/job/b", "# TYPE x counter\nx{q=\"3\"} 3\n"),
            (Method::DELETE, "/metrics/job/a", ""),
            (Method::PUT, "/metrics/job/c/instance/i", ""),
        ];
        for (method, path, body) in steps {
            let (status, _, _) = call(&gateway, method.clone(), path, &[], body).await;
            assert_eq!(status, 202, "{method} {path}");
            // Metrics sorted by labels already.
            let whole = gateway.store().families();
            for format in [Format::Text, Format::Protobuf, Format::OpenMetrics] {
                // The whole store through the same format and back.
                let mut bytes = Vec::new();
                crate::codec::encode(format, &whole, &mut bytes).unwrap();
                let expected =
                    crate::codec::decode(format, bytes.into(), &Default::default()).unwrap();
                let exposed = exposed_families(&gateway, format).await;
                let text = |families: &[MetricFamily]| {
                    let mut out = Vec::new();
                    crate::codec::encode(Format::Text, families, &mut out).unwrap();
                    String::from_utf8(out).unwrap()
                };
                assert_eq!(
                    text(&exposed),
                    text(&expected),
                    "{format} after {method} {path}"
                );
            }
        }
    }

    #[tokio::test]
    async fn the_api_answers_in_the_pushgateways_shapes() {
        let gateway = gateway(GroupStore::builder());
        let body =
            "# HELP s A summary.\n# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 2\ns_count 3\n";
        assert_eq!(put(&gateway, "/metrics/job/a/instance/i", body).await, 202);
        // A refused push marks the group.
        let conflict = "# TYPE s gauge\ns{instance=\"i\"} 1\n";
        assert_eq!(
            call(&gateway, Method::POST, "/metrics/job/b", &[], conflict)
                .await
                .0,
            400
        );
        assert_eq!(
            call(
                &gateway,
                Method::POST,
                "/metrics/job/a/instance/i",
                &[],
                "# TYPE push_time_seconds gauge\npush_time_seconds 1\n"
            )
            .await
            .0,
            400
        );
        let (status, headers, body) = call(&gateway, Method::GET, "/api/v1/metrics", &[], "").await;
        assert_eq!(status, 200);
        assert_eq!(headers[CONTENT_TYPE], "application/json");
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["status"], "success");
        let group = &json["data"][0];
        assert_eq!(
            group["labels"],
            serde_json::json!({"job": "a", "instance": "i"})
        );
        assert_eq!(group["last_push_successful"], false);
        let s = &group["s"];
        assert_eq!(s["type"], "SUMMARY");
        assert_eq!(s["help"], "A summary.");
        assert!(s["time_stamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(
            s["metrics"][0],
            serde_json::json!({
                "labels": {"instance": "i", "job": "a"},
                "quantiles": {"0.5": "1"},
                "count": "3",
                "sum": "2",
            })
        );
        assert_eq!(group["push_time_seconds"]["type"], "GAUGE");
        let failed = group["push_failure_time_seconds"]["metrics"][0]["value"]
            .as_str()
            .unwrap();
        assert!(failed.parse::<f64>().unwrap() > 1.7e9, "{failed}");

        let (status, _, body) = call(&gateway, Method::GET, "/api/v1/status", &[], "").await;
        assert_eq!(status, 200);
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            json["data"]["build_information"]["version"],
            env!("CARGO_PKG_VERSION")
        );
        assert!(json["data"]["start_time"].as_str().unwrap().ends_with('Z'));
        for path in ["/-/healthy", "/-/ready"] {
            assert_eq!(call(&gateway, Method::GET, path, &[], "").await.2, b"OK");
        }
    }

    #[tokio::test]
    async fn wipe_and_partial_delete_only_when_enabled() {
        let off = GroupGateway::builder(GroupStore::builder())
            .build()
            .unwrap();
        assert_eq!(
            call(&off, Method::PUT, "/api/v1/admin/wipe", &[], "")
                .await
                .0,
            404
        );
        assert_eq!(
            call(&off, Method::DELETE, "/api/v1/groups?job=a", &[], "")
                .await
                .0,
            404
        );

        let on = gateway(GroupStore::builder());
        for path in [
            "/metrics/job/a/instance/1",
            "/metrics/job/a/instance/2",
            "/metrics/job/b/instance/1",
        ] {
            let body = format!("# TYPE up gauge\nup{{p=\"{path}\"}} 1\n");
            assert_eq!(put(&on, path, &body).await, 202);
        }
        let (status, _, body) = call(&on, Method::DELETE, "/api/v1/groups?job=a", &[], "").await;
        assert_eq!(status, 202);
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&body).unwrap()["data"]["deleted"],
            2
        );
        assert_eq!(on.store().len(), 1);
        let (status, _, body) = call(&on, Method::DELETE, "/api/v1/groups", &[], "").await;
        assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
        assert_eq!(
            call(&on, Method::DELETE, "/api/v1/groups?1x=1", &[], "")
                .await
                .0,
            400
        );
        assert_eq!(
            call(&on, Method::GET, "/api/v1/admin/wipe", &[], "")
                .await
                .0,
            405
        );
        assert_eq!(
            call(&on, Method::PUT, "/api/v1/admin/wipe", &[], "")
                .await
                .0,
            202
        );
        assert!(on.store().is_empty());
    }

    #[tokio::test]
    async fn ttl_header_limits_and_reserved_names() {
        let gateway = gateway(GroupStore::builder().max_groups(1));
        let ttl = [("pushgate-ttl", "5m")];
        assert_eq!(
            call(&gateway, Method::PUT, "/metrics/job/a", &ttl, "up 1\n")
                .await
                .0,
            202
        );
        assert!(gateway.store().groups()[0].expires.is_some());
        let (status, _, body) = call(
            &gateway,
            Method::PUT,
            "/metrics/job/a",
            &[("pushgate-ttl", "later")],
            "up 1\n",
        )
        .await;
        assert_eq!(status, 400);
        assert!(String::from_utf8_lossy(&body).starts_with("invalid pushgate-ttl header:"));
        let (status, _, body) = call(&gateway, Method::PUT, "/metrics/job/b", &[], "up 1\n").await;
        assert_eq!(status, 413, "{}", String::from_utf8_lossy(&body));
        let (status, _, body) = call(
            &gateway,
            Method::PUT,
            "/metrics/job/a",
            &[],
            "pushgate_series 1\n",
        )
        .await;
        assert_eq!(status, 400);
        assert!(String::from_utf8_lossy(&body).contains("gateway's own family"));
        // Pushed timestamps are refused, as by the Pushgateway.
        assert_eq!(
            put(&gateway, "/metrics/job/a", "up 1 1700000000000\n").await,
            400
        );
    }

    #[tokio::test]
    async fn pages_and_unknown_paths() {
        let gateway = gateway(GroupStore::builder());
        assert_eq!(
            put(
                &gateway,
                "/metrics/job/a/path@base64/L3g",
                "# TYPE up gauge\nup{v=\"<b>\"} 1\n"
            )
            .await,
            202
        );
        let (status, headers, page) = call(&gateway, Method::GET, "/", &[], "").await;
        assert_eq!(status, 200);
        assert_eq!(headers[CONTENT_TYPE], "text/html; charset=utf-8");
        let page = String::from_utf8(page).unwrap();
        assert!(
            page.contains("data-path=\"/metrics/job/a/path@base64/L3g\""),
            "{page}"
        );
        assert!(page.contains("v=&quot;&lt;b&gt;&quot;"), "{page}");
        assert!(!page.contains("<b>"));
        assert_eq!(call(&gateway, Method::GET, "/nope", &[], "").await.0, 404);
        assert_eq!(
            call(&gateway, Method::GET, "/metrics/job/a", &[], "")
                .await
                .0,
            405
        );
        assert_eq!(
            call(&gateway, Method::POST, "/nope", &[], "up 1\n").await.0,
            404
        );
        assert_eq!(
            call(&gateway, Method::POST, "/metrics", &[], "").await.0,
            405
        );
    }
}
