//! [`Pusher`]: gathers, encodes and sends families to a push gateway.

use std::fmt;
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{
    HeaderName, HeaderValue, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER, USER_AGENT,
};
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use http_body::Body;
use http_body_util::Full;
use tokio::time::Instant;
use tower::{Service, ServiceExt};

use super::error::{BuildError, PushError, BODY_PREFIX_LEN};
use super::Gatherer;
use crate::client::HttpClient;
use crate::client::{parse_retry_after, read_prefix, Retry};
use crate::codec;
use crate::format::Format;
use crate::grouping;
use crate::model::name::is_label_name;
use crate::model::{LabelPair, MetricFamily};
use crate::BoxError;

/// The most of a 2xx answer's body read (and dropped) so that its
/// connection can carry the next push; a longer one closes it.
const SUCCESS_BODY_LIMIT: usize = 64 * 1024;

/// Where tracing events go.
const TARGET: &str = "pushgate::push";

/// Sends the families of a [`Gatherer`] to a push gateway (InfluxDB telemetry's
/// `Pusher`, Go's `push.Pusher`).
///
/// Built with [`Pusher::builder`]. Each call gathers, checks, encodes and
/// sends; nothing is kept between calls, so one pusher can push again and
/// again, from many tasks at once. Cloning is cheap (the configuration is
/// shared, the client cloned), and so is every call: the client is cloned
/// for each, as tower services are.
///
/// | method | HTTP | the gateway |
/// | --- | --- | --- |
/// | [`push`](Pusher::push) | `POST` | replaces the families pushed, in the group (Go's `Add`, InfluxDB telemetry's `Push`) |
/// | [`put`](Pusher::put) | `PUT` | replaces the whole group (Go's `Push`) |
/// | [`delete`](Pusher::delete) | `DELETE` | deletes the group |
///
/// A push of no families sends nothing (as InfluxDB telemetry does). Any 2xx is success.
/// The [timeout](PusherBuilder::timeout) bounds the whole call (gathering,
/// encoding, every attempt and the waits between them); dropping the future
/// cancels it. See the [`push`](super) module for an example.
///
/// Each attempt and retry is a `tracing` event (target `pushgate::push`):
/// debug for each send and success, warn for each failure retried, a
/// retry given up for lack of time, and a timeout. The error returned is
/// not logged: that is for the caller.
pub struct Pusher<G, C = HttpClient> {
    shared: Arc<Shared<G>>,
    client: C,
}

struct Shared<G> {
    gatherer: G,
    url: Uri,
    url_text: String,
    grouping: Vec<LabelPair>,
    format: Format,
    timeout: Duration,
    retry: Retry,
    gzip: bool,
    headers: HeaderMap,
}

impl<G, C: Clone> Clone for Pusher<G, C> {
    fn clone(&self) -> Pusher<G, C> {
        Pusher {
            shared: self.shared.clone(),
            client: self.client.clone(),
        }
    }
}

impl<G, C> fmt::Debug for Pusher<G, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the headers: they may hold credentials.
        let s = &self.shared;
        f.debug_struct("Pusher")
            .field("url", &s.url_text)
            .field("format", &s.format)
            .field("timeout", &s.timeout)
            .field("retry", &s.retry)
            .field("gzip", &s.gzip)
            .finish_non_exhaustive()
    }
}

/// What a [`push`](Pusher::push) or [`put`](Pusher::put) did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pushed {
    /// The gateway's 2xx status; `None` when there were no families, so
    /// nothing was sent.
    pub status: Option<StatusCode>,
    /// How many families were sent.
    pub families: usize,
    /// The size of the request body, as sent (compressed, with gzip).
    pub bytes: usize,
    /// How many sends it took (0 when nothing was sent).
    pub attempts: u32,
}

/// What a [`delete`](Pusher::delete) did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Deleted {
    /// The gateway's 2xx status.
    pub status: StatusCode,
    /// How many sends it took.
    pub attempts: u32,
}

impl<G: Gatherer> Pusher<G> {
    /// A builder of a pusher to the gateway at `url`, sending what
    /// `gatherer` returns.
    ///
    /// `url` is the gateway's base URL (`http://host:9091`; without a
    /// scheme, `http://` is assumed, as Go's client does) when a
    /// [job](PusherBuilder::job) is set, and the path
    /// `/metrics/job/<job>…` is added to it. Without a job, `url` is used
    /// as it is (InfluxDB telemetry's style), and the grouping key is whatever its
    /// path says.
    pub fn builder(url: impl Into<String>, gatherer: G) -> PusherBuilder<G> {
        PusherBuilder {
            url: url.into(),
            gatherer,
            client: HttpClient::new(),
            job: None,
            grouping: Vec::new(),
            format: Format::Protobuf,
            timeout: crate::DEFAULT_TIMEOUT,
            retry: Retry::default(),
            gzip: false,
            headers: Vec::new(),
            error: None,
        }
    }
}

impl<G, C> Pusher<G, C> {
    /// The URL pushed to, grouping key included.
    pub fn url(&self) -> &Uri {
        &self.shared.url
    }

    /// The grouping key (`job` first), empty for a URL that has none.
    pub fn grouping_key(&self) -> &[LabelPair] {
        &self.shared.grouping
    }

    /// The format families are sent in.
    pub fn format(&self) -> Format {
        self.shared.format
    }

    /// The bound on each call.
    pub fn timeout(&self) -> Duration {
        self.shared.timeout
    }

    /// The gatherer.
    pub fn gatherer(&self) -> &G {
        &self.shared.gatherer
    }

    /// The client service.
    pub fn client(&self) -> &C {
        &self.client
    }
}

impl<G, C, B> Pusher<G, C>
where
    G: Gatherer,
    C: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone,
    C::Error: Into<BoxError>,
    B: Body,
    B::Error: Into<BoxError>,
{
    /// Gathers and `POST`s the families: the gateway replaces, within the
    /// group, the families of the same names (InfluxDB telemetry's `Push`, Go's
    /// `Add`).
    pub async fn push(&self) -> Result<Pushed, PushError> {
        self.push_with(Method::POST).await
    }

    /// Gathers and `PUT`s the families: the gateway replaces the whole
    /// group with them (Go's `Push`).
    pub async fn put(&self) -> Result<Pushed, PushError> {
        self.push_with(Method::PUT).await
    }

    /// Deletes the group (`DELETE`, Go's `Delete`). The gatherer is not
    /// asked.
    pub async fn delete(&self) -> Result<Deleted, PushError> {
        let deadline = Instant::now() + self.shared.timeout;
        let (status, attempts) = self.send(Method::DELETE, None, deadline).await?;
        Ok(Deleted { status, attempts })
    }

    async fn push_with(&self, method: Method) -> Result<Pushed, PushError> {
        let s = &*self.shared;
        let deadline = Instant::now() + s.timeout;
        let timeout = || PushError::Timeout {
            timeout: s.timeout,
            attempts: 0,
        };
        let families = tokio::time::timeout_at(deadline, s.gatherer.gather())
            .await
            .map_err(|_| timeout())?
            .map_err(PushError::Gather)?;
        if families.is_empty() {
            tracing::debug!(target: TARGET, url = %s.url_text, "no families to push");
            return Ok(Pushed {
                status: None,
                families: 0,
                bytes: 0,
                attempts: 0,
            });
        }
        self.check_labels(&families)?;
        let body = self.encode(&families)?;
        // Encoding runs to its end: say so if it ate the time left.
        if Instant::now() >= deadline {
            return Err(timeout());
        }
        let bytes = body.len();
        let (status, attempts) = self.send(method, Some(body), deadline).await?;
        Ok(Pushed {
            status: Some(status),
            families: families.len(),
            bytes,
            attempts,
        })
    }

    /// Refuses metrics that carry a label of the grouping key.
    fn check_labels(&self, families: &[MetricFamily]) -> Result<(), PushError> {
        let key = &self.shared.grouping;
        if key.is_empty() {
            return Ok(());
        }
        for family in families {
            for metric in &family.metric {
                if let Some(label) = metric
                    .label
                    .iter()
                    .find(|l| key.iter().any(|k| k.name() == l.name()))
                {
                    return Err(PushError::LabelCollision {
                        family: family.name().to_owned(),
                        label: label.name().to_owned(),
                    });
                }
            }
        }
        Ok(())
    }

    fn encode(&self, families: &[MetricFamily]) -> Result<Bytes, PushError> {
        let mut body = Vec::new();
        codec::encode(self.shared.format, families, &mut body).map_err(PushError::Encode)?;
        if !self.shared.gzip {
            return Ok(body.into());
        }
        let mut gz = flate2::write::GzEncoder::new(
            Vec::with_capacity(body.len() / 4),
            flate2::Compression::default(),
        );
        gz.write_all(&body)
            .expect("compressing into a Vec cannot fail");
        Ok(gz
            .finish()
            .expect("compressing into a Vec cannot fail")
            .into())
    }

    /// Sends until a 2xx, an error not worth retrying, the last attempt,
    /// or the deadline; returns the status and the attempts made.
    async fn send(
        &self,
        method: Method,
        body: Option<Bytes>,
        deadline: Instant,
    ) -> Result<(StatusCode, u32), PushError> {
        let s = &*self.shared;
        let mut attempt = 0;
        loop {
            attempt += 1;
            tracing::debug!(
                target: TARGET,
                %method,
                url = %s.url_text,
                attempt,
                bytes = body.as_ref().map_or(0, Bytes::len),
                "sending"
            );
            let sent = tokio::time::timeout_at(deadline, self.attempt(&method, body.clone()));
            let error = match sent.await {
                Err(_) => {
                    tracing::warn!(target: TARGET, %method, url = %s.url_text, attempt, "push timed out");
                    return Err(PushError::Timeout {
                        timeout: s.timeout,
                        attempts: attempt,
                    });
                }
                Ok(Ok(status)) => {
                    tracing::debug!(target: TARGET, %method, url = %s.url_text, attempt, %status, "pushed");
                    return Ok((status, attempt));
                }
                Ok(Err(error)) => error.with_attempts(attempt),
            };
            if !error.is_retryable() {
                return Err(error);
            }
            let retry_after = match &error {
                PushError::Status { retry_after, .. } => *retry_after,
                _ => None,
            };
            let Some(delay) = s.retry.delay(attempt, retry_after, fastrand::f64()) else {
                return Err(error);
            };
            if Instant::now() + delay >= deadline {
                tracing::warn!(target: TARGET, %error, ?delay, "push failed; no time left to retry");
                return Err(error);
            }
            tracing::warn!(target: TARGET, %error, ?delay, attempt, "push failed; retrying");
            tokio::time::sleep(delay).await;
        }
    }

    /// One send: `Ok` with a 2xx status, or the error it came to.
    async fn attempt(&self, method: &Method, body: Option<Bytes>) -> Result<StatusCode, PushError> {
        let s = &*self.shared;
        let request = self.request(method.clone(), body);
        let transport = |error: C::Error| PushError::Transport {
            method: method.clone(),
            url: s.url_text.clone(),
            source: error.into(),
            attempts: 0,
        };
        let mut client = self.client.clone();
        let response = client
            .ready()
            .await
            .map_err(transport)?
            .call(request)
            .await
            .map_err(transport)?;
        let status = response.status();
        if status.is_success() {
            read_prefix(response.into_body(), SUCCESS_BODY_LIMIT).await;
            return Ok(status);
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let body = read_prefix(response.into_body(), BODY_PREFIX_LEN).await;
        Err(PushError::Status {
            method: method.clone(),
            url: s.url_text.clone(),
            status,
            body: text_prefix(&body, BODY_PREFIX_LEN),
            retry_after,
            attempts: 0,
        })
    }

    fn request(&self, method: Method, body: Option<Bytes>) -> Request<Full<Bytes>> {
        let s = &*self.shared;
        let mut request = Request::new(Full::new(body.clone().unwrap_or_default()));
        *request.method_mut() = method;
        *request.uri_mut() = s.url.clone();
        *request.headers_mut() = s.headers.clone();
        if body.is_some() {
            let headers = request.headers_mut();
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static(s.format.content_type()),
            );
            if s.gzip {
                headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
        }
        request
    }
}

/// At most `limit` bytes of `body` as text: a character cut at the end is
/// dropped, other invalid UTF-8 replaced, trailing whitespace trimmed.
fn text_prefix(body: &[u8], limit: usize) -> String {
    let mut body = &body[..body.len().min(limit)];
    if let Err(e) = std::str::from_utf8(body) {
        if e.error_len().is_none() {
            body = &body[..e.valid_up_to()];
        }
    }
    String::from_utf8_lossy(body).trim_end().to_owned()
}

/// Configures a [`Pusher`]; from [`Pusher::builder`].
///
/// Settings are checked by [`build`](PusherBuilder::build), which reports
/// the first that is wrong.
#[must_use]
pub struct PusherBuilder<G, C = HttpClient> {
    url: String,
    gatherer: G,
    client: C,
    job: Option<String>,
    grouping: Vec<(String, String)>,
    format: Format,
    timeout: Duration,
    retry: Retry,
    gzip: bool,
    headers: Vec<(HeaderName, HeaderValue)>,
    error: Option<BuildError>,
}

impl<G, C> fmt::Debug for PusherBuilder<G, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PusherBuilder")
            .field("url", &self.url)
            .field("job", &self.job)
            .field("grouping", &self.grouping)
            .field("format", &self.format)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("gzip", &self.gzip)
            .finish_non_exhaustive()
    }
}

impl<G, C> PusherBuilder<G, C> {
    /// The job: the pusher sends to `<url>/metrics/job/<job>`, and refuses
    /// metrics that have a `job` label of their own.
    pub fn job(mut self, job: impl Into<String>) -> Self {
        self.job = Some(job.into());
        self
    }

    /// Adds a label to the grouping key (after the job, in the order
    /// added; a name given again replaces its value, as in Go). Metrics
    /// that have this label are refused.
    pub fn grouping(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let (name, value) = (name.into(), value.into());
        match self.grouping.iter_mut().find(|(n, _)| *n == name) {
            Some(pair) => pair.1 = value,
            None => self.grouping.push((name, value)),
        }
        self
    }

    /// The format to send: [`Format::Protobuf`] (length-delimited, as Go's
    /// client and InfluxDB telemetry) by default; [`Format::Text`] and
    /// [`Format::OpenMetrics`] are what other gateways may want. Not
    /// OpenMetrics to the Prometheus Pushgateway (1.5): it reads every body
    /// but protobuf as Prometheus text, where a counter's OpenMetrics
    /// `# TYPE` line (named without `_total`) matches no sample, so
    /// counters arrive untyped and without help.
    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// The bound on each call, from gathering to the last answer;
    /// [`crate::DEFAULT_TIMEOUT`] (10 s, as InfluxDB telemetry) by default.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How failed sends are retried; [`Retry::default`] by default,
    /// [`Retry::never`] for one attempt.
    pub fn retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// Whether to gzip request bodies (`Content-Encoding: gzip`); off by
    /// default. The Prometheus Pushgateway and pushgate's gateway read it.
    pub fn gzip(mut self, gzip: bool) -> Self {
        self.gzip = gzip;
        self
    }

    /// Sends `Authorization: Basic …` with `user` and `password`.
    pub fn basic_auth(self, user: &str, password: &str) -> Self {
        self.authorization(crate::client::basic_authorization(user, password))
    }

    /// Sends `Authorization: Bearer <token>`.
    pub fn bearer_token(self, token: &str) -> Self {
        self.authorization(crate::client::authorization("Bearer", token))
    }

    fn authorization(mut self, value: Option<HeaderValue>) -> Self {
        match value {
            Some(value) => self.headers.push((AUTHORIZATION, value)),
            None => self.fail(BuildError::Header {
                name: AUTHORIZATION.to_string(),
            }),
        }
        self
    }

    /// Asks a gateway that keeps groups (pushgate's Pushgateway mode) to
    /// drop this group `ttl` after each push unless pushed again: the
    /// [`TTL_HEADER`](crate::grouping::TTL_HEADER), in milliseconds. Other
    /// gateways ignore it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use pushgate::push::Pusher;
    ///
    /// let gatherer = prometheus::Registry::new();
    /// let pusher = Pusher::builder("http://127.0.0.1:9091", gatherer)
    ///     .job("nightly")
    ///     .ttl(Duration::from_secs(26 * 3600))
    ///     .build()
    ///     .unwrap();
    /// # let _ = pusher;
    /// ```
    pub fn ttl(self, ttl: Duration) -> Self {
        let millis = ttl.as_millis().max(1);
        self.header(crate::grouping::TTL_HEADER, format!("{millis}ms"))
    }

    /// Sends a header with every request, replacing one set before under
    /// the same name (an `Authorization` replaces the auth helpers').
    pub fn header(mut self, name: impl AsRef<str>, value: impl AsRef<[u8]>) -> Self {
        let name_text = name.as_ref();
        match (
            HeaderName::from_bytes(name_text.as_bytes()),
            HeaderValue::from_bytes(value.as_ref()),
        ) {
            (Ok(name), Ok(value)) => self.headers.push((name, value)),
            _ => self.fail(BuildError::Header {
                name: name_text.to_owned(),
            }),
        }
        self
    }

    /// Sends with `client` instead of the default [`HttpClient`]: any
    /// `tower::Service<http::Request<Full<Bytes>>>` answering
    /// `http::Response<B>` for a body `B`, for example the default client
    /// wrapped in layers of your own (auth, tracing, rate limits). It is
    /// cloned for each call: share state through the service itself (as
    /// `tower::buffer::Buffer` does).
    ///
    /// ```
    /// use std::time::Duration;
    /// use bytes::Bytes;
    /// use http_body_util::Full;
    /// use pushgate::model::MetricFamily;
    /// use pushgate::push::{HttpClient, Pusher};
    /// use tower::ServiceBuilder;
    ///
    /// let client = ServiceBuilder::new()
    ///     // At most two pushes in flight, each attempt at most 3 s.
    ///     .concurrency_limit(2)
    ///     .timeout(Duration::from_secs(3))
    ///     .map_request(|mut request: http::Request<Full<Bytes>>| {
    ///         request.headers_mut().insert("x-tenant", http::HeaderValue::from_static("team-a"));
    ///         request
    ///     })
    ///     .service(HttpClient::new());
    /// let gatherer = || Ok::<_, std::io::Error>(Vec::<MetricFamily>::new());
    /// let pusher = Pusher::builder("http://gateway:9091", gatherer)
    ///     .job("backup")
    ///     .client(client)
    ///     .build()
    ///     .unwrap();
    /// # let _ = pusher;
    /// ```
    pub fn client<S>(self, client: S) -> PusherBuilder<G, S> {
        PusherBuilder {
            url: self.url,
            gatherer: self.gatherer,
            client,
            job: self.job,
            grouping: self.grouping,
            format: self.format,
            timeout: self.timeout,
            retry: self.retry,
            gzip: self.gzip,
            headers: self.headers,
            error: self.error,
        }
    }

    fn fail(&mut self, error: BuildError) {
        self.error.get_or_insert(error);
    }

    /// The pusher, or the first setting that is wrong: a URL that does
    /// not parse, is not `http`/`https` or has credentials in it; an empty
    /// job; grouping labels without a job or with an invalid name (or
    /// `job`, or `__`-prefixed); a job on a URL that has a grouping key;
    /// an invalid header.
    pub fn build(self) -> Result<Pusher<G, C>, BuildError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let given = self.url.trim();
        let with_scheme = if given.contains("://") {
            given.to_owned()
        } else {
            format!("http://{given}")
        };
        let bad_url = |reason: String| BuildError::Url {
            url: self.url.clone(),
            reason,
        };
        let base: Uri = with_scheme
            .parse()
            .map_err(|e: http::uri::InvalidUri| bad_url(e.to_string()))?;
        let scheme_ok = base
            .scheme_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https"));
        if !scheme_ok {
            return Err(BuildError::Scheme {
                url: self.url.clone(),
            });
        }
        let authority = base.authority().ok_or_else(|| bad_url("no host".into()))?;
        if authority.as_str().contains('@') {
            return Err(BuildError::Credentials);
        }
        // `http::Uri` takes any text after the host's `:` as a port.
        let after_host = &authority.as_str()[authority.host().len()..];
        if after_host.len() > 1 && authority.port_u16().is_none() {
            return Err(bad_url(format!("invalid port {:?}", &after_host[1..])));
        }
        let url_key = grouping::parse(base.path())
            .map_err(|e| BuildError::UrlGrouping {
                url: self.url.clone(),
                reason: e.to_string(),
            })?
            .unwrap_or_default();
        let (path, key) = match &self.job {
            Some(job) => {
                if !url_key.is_empty() {
                    return Err(BuildError::GroupingInUrl {
                        url: self.url.clone(),
                    });
                }
                if job.is_empty() {
                    return Err(BuildError::EmptyJob);
                }
                for (name, _) in &self.grouping {
                    if !is_label_name(name) || name.starts_with("__") || name == "job" {
                        return Err(BuildError::LabelName { name: name.clone() });
                    }
                }
                let labels = self.grouping.iter().map(|(n, v)| (n.as_str(), v.as_str()));
                let path = format!(
                    "{}{}",
                    base.path().trim_end_matches('/'),
                    grouping::path(job, labels)
                );
                let mut key = vec![LabelPair::new("job", job.as_str())];
                key.extend(
                    self.grouping
                        .iter()
                        .map(|(n, v)| LabelPair::new(n.as_str(), v.as_str())),
                );
                (path, key)
            }
            None => {
                if let Some((name, _)) = self.grouping.first() {
                    return Err(BuildError::GroupingWithoutJob { name: name.clone() });
                }
                (base.path().to_owned(), url_key)
            }
        };
        let path_and_query = match base.query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        let mut parts = base.into_parts();
        parts.path_and_query = Some(
            path_and_query
                .parse()
                .map_err(|e: http::uri::InvalidUri| bad_url(e.to_string()))?,
        );
        let url = Uri::from_parts(parts).map_err(|e| bad_url(e.to_string()))?;

        let mut headers = HeaderMap::new();
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("pushgate/", env!("CARGO_PKG_VERSION"))),
        );
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        Ok(Pusher {
            shared: Arc::new(Shared {
                gatherer: self.gatherer,
                url_text: url.to_string(),
                url,
                grouping: key,
                format: self.format,
                timeout: self.timeout,
                retry: self.retry,
                gzip: self.gzip,
                headers,
            }),
            client: self.client,
        })
    }
}

#[cfg(test)]
mod tests;
