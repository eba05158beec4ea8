//! [`InfluxStore`]: pushes written to InfluxDB, 1.x or 2.x, in line
//! protocol, as InfluxDB telemetry's pushes ended up in InfluxDB. Its
//! documentation is on the type (this module is private).

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::Full;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;
use tower::{Service, ServiceExt};

use super::{Push, Store, StoreError};
use crate::client::{is_retryable_status, parse_retry_after, read_prefix, HttpClient, Retry};
use crate::codec::line_protocol;
use crate::grouping::PushMethod;

const TARGET: &str = "pushgate::store::influxdb";

/// The longest InfluxDB message kept in an error, in bytes.
const MESSAGE_LIMIT: usize = 256;
/// How much of an error body is read to find the message.
const ERROR_BODY_LIMIT: usize = 4096;
/// How much of a success body is read (to reuse the connection); InfluxDB
/// answers 204 with none.
const SUCCESS_BODY_LIMIT: usize = 4096;
/// The `Retry-After` given with [`StoreError::Overloaded`].
const OVERLOADED_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Writes pushes to InfluxDB 1.x or 2.x. Cloning shares the store: its
/// client, its limit on requests in flight.
///
/// # What is sent
///
/// Each push is one `POST`: its families as
/// [line protocol](crate::codec::line_protocol) (one point per metric,
/// measurement = family name, tags = labels including the grouping labels,
/// fields by type), at nanosecond precision, gzipped by default. A metric
/// without a timestamp is written at the push's
/// [`received`](Push::received) time, so that InfluxDB never stamps it
/// with its own, later, clock. To InfluxDB 1.x it goes to
/// `/write?db=&rp=&precision=ns` (basic auth when credentials are given),
/// to 2.x to `/api/v2/write?org=&bucket=&precision=ns` with
/// `Authorization: Token …`.
///
/// # Answers
///
/// The write resolves `Ok` only once InfluxDB answered 2xx. Otherwise:
///
/// | InfluxDB | store error | gateway |
/// | --- | --- | --- |
/// | no connection, no answer within the [timeout](InfluxStoreBuilder::timeout), `429`, `5xx`, retried until the [`retry_for`](InfluxStoreBuilder::retry_for) budget is spent | [`StoreError::Unavailable`] (reason, `Retry-After`) | 503 |
/// | `401`, `403`, `404` (credentials, database or bucket) | [`StoreError::Failed`] | 500 |
/// | other `4xx` (`400` bad points, `413` too large) | [`StoreError::Invalid`] | 400 |
/// | more writes in flight and waiting than [allowed](InfluxStoreBuilder::max_concurrent_requests) | [`StoreError::Overloaded`] | 503 |
///
/// A missing database, bucket or a refused credential is the gateway's
/// configuration at fault, not the pusher's metrics: it is a 500, not a
/// 400 that would tell the pusher its push is wrong. Each error's reason is
/// one line: `influxdb write to URL: STATUS: MESSAGE`, the message being
/// InfluxDB's own (the `error` or `message` of its JSON body), at most 256
/// bytes.
///
/// # Limits of the contract
///
/// [`Store`]'s contract is that an error stores nothing. A store that
/// forwards to a remote database can keep it only so far:
///
/// * **Deletes** are acknowledged and nothing is sent: InfluxDB's write
///   API cannot delete a group (a `DELETE FROM` query would need query
///   rights and delete history, which a push gateway's delete does not
///   mean).
///   Likewise a `PUT` writes its points as a `POST` does: InfluxDB keeps
///   history, and the group's metrics not in the push are not removed.
/// * **Partial writes.** InfluxDB writes the points of a request it can
///   take and answers `400 partial write: … dropped=N` for the rest. The store
///   makes that unlikely: the line protocol encoder skips points InfluxDB
///   refuses (non-finite values, over-long keys, timestamps out of range)
///   and every field it writes is a float, and the store refuses, before
///   sending anything, a push with a label InfluxDB refuses as a tag key
///   (`time`, and with 2.x `_measurement` and `_field`). What remains
///   can only come from the database's state: a field already stored with
///   another type by another writer, a series or tag-value limit reached.
///   Then the push is refused with InfluxDB's message, and the points
///   InfluxDB took stay.
/// * **A request that was sent** may have been stored even when its answer
///   never came (a timeout, a dropped connection, the gateway's deadline
///   dropping the write). Retries send the same body, whose points carry
///   their timestamps, so InfluxDB overwrites rather than duplicates. A
///   write dropped before its request is sent sends nothing.
///
/// A client that pushes again after such an error has its metrics written
/// again at the new receive time: a second point, not an overwrite.
///
/// Metrics that the encoder skips (an infinite gauge, a NaN sum) are not
/// refused: the rest of the push is stored, as InfluxDB telemetry's
/// encoder skipped them.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use pushgate::gateway::PushGateway;
/// use pushgate::store::InfluxStore;
///
/// // InfluxDB 1.x, database `telemetry`, retention policy `week`.
/// let v1 = InfluxStore::v1("http://127.0.0.1:8086", "telemetry")
///     .retention_policy("week")
///     .credentials("pushgate", "secret")
///     .build()
///     .unwrap();
/// assert_eq!(
///     v1.write_url(),
///     "http://127.0.0.1:8086/write?db=telemetry&rp=week&precision=ns"
/// );
///
/// // InfluxDB 2.x, org `acme`, bucket `telemetry`.
/// let v2 = InfluxStore::v2("http://influx.example:8086", "acme", "telemetry", "my-token")
///     .retry_for(Duration::from_secs(3))
///     .max_concurrent_requests(4)
///     .build()
///     .unwrap();
/// assert_eq!(
///     v2.write_url(),
///     "http://influx.example:8086/api/v2/write?org=acme&bucket=telemetry&precision=ns"
/// );
///
/// let gateway = PushGateway::builder(v2).build().unwrap();
/// # let _ = gateway;
/// ```
#[derive(Clone)]
pub struct InfluxStore {
    shared: Arc<Shared>,
}

struct Shared {
    /// The base URL as given, for messages (never holds a secret: the
    /// builder refuses credentials in the URL).
    base: String,
    uri: Uri,
    headers: HeaderMap,
    reserved_tags: &'static [&'static str],
    client: HttpClient,
    timeout: Duration,
    retry: Retry,
    retry_for: Duration,
    gzip: bool,
    permits: Semaphore,
    max_waiting: usize,
    waiting: AtomicUsize,
}

impl fmt::Debug for InfluxStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &*self.shared;
        // Not the headers: they hold the credentials.
        f.debug_struct("InfluxStore")
            .field("url", &s.uri.to_string())
            .field("timeout", &s.timeout)
            .field("retry", &s.retry)
            .field("retry_for", &s.retry_for)
            .field("gzip", &s.gzip)
            .finish_non_exhaustive()
    }
}

impl InfluxStore {
    /// Writes to InfluxDB 1.x at `url` (e.g. `http://127.0.0.1:8086`, or
    /// with a path prefix when behind a proxy), into `database`.
    pub fn v1(url: impl Into<String>, database: impl Into<String>) -> InfluxStoreBuilder {
        InfluxStoreBuilder::new(
            url.into(),
            Api::V1 {
                database: database.into(),
                retention_policy: None,
                credentials: None,
            },
        )
    }

    /// Writes to InfluxDB 2.x (or anything serving its write API) at
    /// `url`, into `bucket` of `org`, authorized by `token`.
    pub fn v2(
        url: impl Into<String>,
        org: impl Into<String>,
        bucket: impl Into<String>,
        token: impl Into<String>,
    ) -> InfluxStoreBuilder {
        InfluxStoreBuilder::new(
            url.into(),
            Api::V2 {
                org: org.into(),
                bucket: bucket.into(),
                token: token.into(),
            },
        )
    }

    /// The URL each write is sent to.
    pub fn write_url(&self) -> String {
        self.shared.uri.to_string()
    }
}

impl Store for InfluxStore {
    fn write(&self, push: Push) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.shared.write(push)
    }
}

/// Which write API, with what it needs.
#[derive(Clone)]
enum Api {
    V1 {
        database: String,
        retention_policy: Option<String>,
        credentials: Option<(String, String)>,
    },
    V2 {
        org: String,
        bucket: String,
        token: String,
    },
}

/// Configures an [`InfluxStore`]; from [`InfluxStore::v1`] or
/// [`InfluxStore::v2`]. Settings are checked by
/// [`build`](InfluxStoreBuilder::build).
#[must_use]
#[derive(Clone)]
pub struct InfluxStoreBuilder {
    url: String,
    api: Api,
    client: Option<HttpClient>,
    headers: Vec<(String, String)>,
    timeout: Duration,
    retry: Retry,
    retry_for: Duration,
    gzip: bool,
    max_concurrent: usize,
    max_waiting: usize,
    misuse: Option<&'static str>,
}

impl fmt::Debug for InfluxStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the password, token or header values.
        f.debug_struct("InfluxStoreBuilder")
            .field("url", &self.url)
            .field(
                "api",
                &match self.api {
                    Api::V1 { .. } => "1.x",
                    Api::V2 { .. } => "2.x",
                },
            )
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("retry_for", &self.retry_for)
            .field("gzip", &self.gzip)
            .field("max_concurrent", &self.max_concurrent)
            .field("max_waiting", &self.max_waiting)
            .finish_non_exhaustive()
    }
}

/// Why [`InfluxStoreBuilder::build`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InfluxBuildError {
    /// The URL is not an absolute `http` or `https` URL without query,
    /// fragment or credentials.
    #[error("invalid InfluxDB URL {url:?}: {reason}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A database, bucket or organization is empty.
    #[error("missing InfluxDB {0}")]
    Missing(&'static str),
    /// A header name or value (custom, or made from the credentials) is
    /// not valid in HTTP.
    #[error("invalid header {0}")]
    Header(String),
    /// An option that the chosen API does not have.
    #[error("{0}")]
    Option(&'static str),
}

impl InfluxStoreBuilder {
    fn new(url: String, api: Api) -> InfluxStoreBuilder {
        InfluxStoreBuilder {
            url,
            api,
            client: None,
            headers: Vec::new(),
            timeout: Duration::from_secs(3),
            // Many quick tries: the budget, not the count, ends them.
            retry: Retry::attempts(u32::MAX)
                .base_delay(Duration::from_millis(100))
                .max_delay(Duration::from_secs(1)),
            retry_for: Duration::from_secs(5),
            gzip: true,
            max_concurrent: 16,
            max_waiting: 64,
            misuse: None,
        }
    }

    /// The retention policy to write into (1.x; the database's default
    /// otherwise).
    pub fn retention_policy(mut self, rp: impl Into<String>) -> InfluxStoreBuilder {
        match &mut self.api {
            Api::V1 {
                retention_policy, ..
            } => *retention_policy = Some(rp.into()),
            Api::V2 { .. } => {
                self.misuse = Some("a retention policy is for InfluxDB 1.x; 2.x has buckets")
            }
        }
        self
    }

    /// A user and password, sent with basic auth (1.x; 2.x takes a
    /// token). InfluxDB 1.x also reads them from `u` and `p` in the query;
    /// the header keeps them out of URLs and their logs.
    pub fn credentials(
        mut self,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> InfluxStoreBuilder {
        match &mut self.api {
            Api::V1 { credentials, .. } => *credentials = Some((username.into(), password.into())),
            Api::V2 { .. } => {
                self.misuse = Some("credentials are for InfluxDB 1.x; 2.x takes a token")
            }
        }
        self
    }

    /// The HTTP client (for TLS roots and client certificates, connect
    /// timeouts); [`HttpClient::new`] by default.
    pub fn client(mut self, client: HttpClient) -> InfluxStoreBuilder {
        self.client = Some(client);
        self
    }

    /// Adds a header to every write (a proxy's auth, say); it replaces a
    /// header of the same name that the store would set.
    pub fn header(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> InfluxStoreBuilder {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// How long one request may take, answer included (3 s by default).
    /// A request that takes longer is abandoned and sent again, within
    /// the budget.
    pub fn timeout(mut self, timeout: Duration) -> InfluxStoreBuilder {
        self.timeout = timeout;
        self
    }

    /// The backoff between attempts; 100 ms doubling up to 1 s, with
    /// jitter, by default, as many attempts as the budget allows.
    pub fn retry(mut self, retry: Retry) -> InfluxStoreBuilder {
        self.retry = retry;
        self
    }

    /// The retry budget (5 s by default): no wait for another attempt
    /// starts that would end later than this after the write began, nor
    /// does waiting for a free request slot go past it. A write takes at
    /// most this plus one [timeout](Self::timeout), 8 s by default, under
    /// the gateway's default 10 s deadline.
    pub fn retry_for(mut self, budget: Duration) -> InfluxStoreBuilder {
        self.retry_for = budget;
        self
    }

    /// Whether to gzip bodies (`Content-Encoding: gzip`, yes by default;
    /// InfluxDB 1.x and 2.x both take it).
    pub fn gzip(mut self, gzip: bool) -> InfluxStoreBuilder {
        self.gzip = gzip;
        self
    }

    /// How many requests may be in flight at once (16 by default, at
    /// least 1). A write holds its slot through its retries.
    pub fn max_concurrent_requests(mut self, max: usize) -> InfluxStoreBuilder {
        self.max_concurrent = max.clamp(1, Semaphore::MAX_PERMITS);
        self
    }

    /// How many writes may wait for a slot (64 by default); one more is
    /// refused at once with [`StoreError::Overloaded`].
    pub fn max_waiting(mut self, max: usize) -> InfluxStoreBuilder {
        self.max_waiting = max;
        self
    }

    /// The store, or the first setting that is wrong.
    pub fn build(self) -> Result<InfluxStore, InfluxBuildError> {
        if let Some(misuse) = self.misuse {
            return Err(InfluxBuildError::Option(misuse));
        }
        let base = self.url.trim_end_matches('/').to_owned();
        let url_error = |reason: &str| InfluxBuildError::Url {
            url: self.url.clone(),
            reason: reason.to_owned(),
        };
        let parsed: Uri = base
            .parse()
            .map_err(|e: http::uri::InvalidUri| url_error(&e.to_string()))?;
        match parsed.scheme_str() {
            Some("http" | "https") => {}
            _ => return Err(url_error("the scheme must be http or https")),
        }
        // Refused here, not by every write: the client has no TLS.
        #[cfg(not(feature = "rustls"))]
        if parsed.scheme_str() == Some("https") {
            return Err(url_error("https needs pushgate's rustls feature"));
        }
        let Some(authority) = parsed.authority() else {
            return Err(url_error("no host"));
        };
        if authority.as_str().contains('@') {
            return Err(url_error(
                "credentials go in credentials() or the token, not the URL",
            ));
        }
        if parsed.query().is_some() || base.contains('#') {
            return Err(url_error("a query or fragment is not allowed"));
        }

        let mut uri = base.clone();
        let mut headers = HeaderMap::new();
        // The tag keys each InfluxDB refuses (a partial write).
        let reserved_tags: &'static [&'static str] = match &self.api {
            Api::V1 {
                database,
                retention_policy,
                credentials,
            } => {
                if database.is_empty() {
                    return Err(InfluxBuildError::Missing("database"));
                }
                uri.push_str("/write?db=");
                percent_encode(&mut uri, database);
                if let Some(rp) = retention_policy.as_deref().filter(|rp| !rp.is_empty()) {
                    uri.push_str("&rp=");
                    percent_encode(&mut uri, rp);
                }
                if let Some((user, password)) = credentials {
                    let basic =
                        crate::client::basic_authorization(user, password).ok_or_else(|| {
                            InfluxBuildError::Header("Authorization: invalid value".into())
                        })?;
                    headers.insert(AUTHORIZATION, basic);
                }
                &["time"]
            }
            Api::V2 { org, bucket, token } => {
                if org.is_empty() {
                    return Err(InfluxBuildError::Missing("organization"));
                }
                if bucket.is_empty() {
                    return Err(InfluxBuildError::Missing("bucket"));
                }
                uri.push_str("/api/v2/write?org=");
                percent_encode(&mut uri, org);
                uri.push_str("&bucket=");
                percent_encode(&mut uri, bucket);
                headers.insert(
                    AUTHORIZATION,
                    secret(&format!("Token {token}"), "Authorization")?,
                );
                &["time", "_measurement", "_field"]
            }
        };
        uri.push_str("&precision=ns");
        let uri: Uri = uri
            .parse()
            .map_err(|e: http::uri::InvalidUri| url_error(&e.to_string()))?;

        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if self.gzip {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        for (name, value) in &self.headers {
            let name = HeaderName::try_from(name.as_str())
                .map_err(|_| InfluxBuildError::Header(format!("name {name:?}")))?;
            // Values are not echoed: they may be secrets.
            let value = secret(value, name.as_str())?;
            headers.insert(name, value);
        }

        Ok(InfluxStore {
            shared: Arc::new(Shared {
                base,
                uri,
                headers,
                reserved_tags,
                client: self.client.unwrap_or_default(),
                timeout: self.timeout,
                retry: self.retry,
                retry_for: self.retry_for,
                gzip: self.gzip,
                permits: Semaphore::new(self.max_concurrent),
                max_waiting: self.max_waiting,
                waiting: AtomicUsize::new(0),
            }),
        })
    }
}

/// A header value not to be logged.
fn secret(value: &str, name: &str) -> Result<HeaderValue, InfluxBuildError> {
    let mut value = HeaderValue::from_str(value)
        .map_err(|_| InfluxBuildError::Header(format!("{name}: invalid value")))?;
    value.set_sensitive(true);
    Ok(value)
}

/// Appends `value` percent-encoded for a query: all but the unreserved
/// characters of RFC 3986.
fn percent_encode(out: &mut String, value: &str) {
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// Why one attempt failed.
enum Failure {
    /// Worth another attempt: the reason, and the server's `Retry-After`.
    Retry(String, Option<Duration>),
    /// Final.
    Done(StoreError),
}

impl Shared {
    async fn write(&self, push: Push) -> Result<(), StoreError> {
        if push.method == PushMethod::Delete {
            // The write API has no delete; see `InfluxStore`'s docs.
            tracing::debug!(target: TARGET, grouping = ?push.grouping, "delete acknowledged; nothing sent to InfluxDB");
            return Ok(());
        }
        self.check_tags(&push)?;
        let Some(body) = self.encode(&push) else {
            return Ok(());
        };
        let now = Instant::now();
        // A budget too long for the clock is as good as none.
        let deadline = now
            .checked_add(self.retry_for)
            .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400));
        let _permit = self.acquire(deadline).await?;
        self.send(body, deadline).await
    }

    /// Refuses a push with a label InfluxDB would refuse as a tag key, so
    /// that it is never partly written.
    fn check_tags(&self, push: &Push) -> Result<(), StoreError> {
        for mf in &push.families {
            for m in &mf.metric {
                // The encoder leaves out empty values (backslashes trimmed).
                if let Some(l) = m.label.iter().find(|l| {
                    self.reserved_tags.contains(&l.name())
                        && !l.value().trim_end_matches('\\').is_empty()
                }) {
                    return Err(StoreError::invalid(format!(
                        "label {:?} of {} cannot be written to InfluxDB, which refuses it as a tag key",
                        l.name(),
                        mf.name()
                    )));
                }
            }
        }
        Ok(())
    }

    /// The request body; `None` when there is no point to write.
    fn encode(&self, push: &Push) -> Option<Bytes> {
        let received = push
            .received
            .duration_since(UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_nanos()).ok());
        let mut lines = Vec::with_capacity(push.body.len() + push.body.len() / 2);
        let points = line_protocol::encode_at(&push.families, received, &mut lines);
        let series = push.series();
        if points < series {
            tracing::debug!(target: TARGET, skipped = series - points, "metrics InfluxDB would refuse are not written");
        }
        if points == 0 {
            return None;
        }
        if !self.gzip {
            return Some(lines.into());
        }
        // Fast: the link to InfluxDB is usually local; CPU is the cost.
        let mut gz = flate2::write::GzEncoder::new(
            Vec::with_capacity(lines.len() / 4),
            flate2::Compression::fast(),
        );
        gz.write_all(&lines)
            .expect("compressing into a Vec cannot fail");
        Some(
            gz.finish()
                .expect("compressing into a Vec cannot fail")
                .into(),
        )
    }

    /// A slot for one request, waiting (if few others wait) until the
    /// deadline.
    async fn acquire(&self, deadline: Instant) -> Result<SemaphorePermit<'_>, StoreError> {
        if let Ok(permit) = self.permits.try_acquire() {
            return Ok(permit);
        }
        let overloaded = || StoreError::Overloaded {
            retry_after: Some(OVERLOADED_RETRY_AFTER),
        };
        let waiting = Waiting::enter(&self.waiting);
        if waiting.count > self.max_waiting {
            tracing::debug!(target: TARGET, "all request slots busy and too many waiting");
            return Err(overloaded());
        }
        match tokio::time::timeout_at(deadline, self.permits.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(StoreError::Closed),
            Err(_) => Err(overloaded()),
        }
    }

    /// Sends until a 2xx, a final answer, or the budget's end.
    async fn send(&self, body: Bytes, deadline: Instant) -> Result<(), StoreError> {
        let mut failed = 0;
        loop {
            let (reason, retry_after) = match tokio::time::timeout(
                self.timeout,
                self.attempt(body.clone()),
            )
            .await
            {
                Ok(Ok(())) => {
                    tracing::debug!(target: TARGET, url = %self.base, attempts = failed + 1, "written");
                    return Ok(());
                }
                Ok(Err(Failure::Done(error))) => {
                    tracing::warn!(target: TARGET, %error, "InfluxDB refused a write");
                    return Err(error);
                }
                Ok(Err(Failure::Retry(reason, retry_after))) => (reason, retry_after),
                Err(_) => (
                    format!(
                        "influxdb write to {}: no answer within {:?}",
                        self.base, self.timeout
                    ),
                    None,
                ),
            };
            failed += 1;
            let delay = self
                .retry
                .delay(failed, retry_after, fastrand::f64())
                // Checked: a `Retry-After` may be absurdly long.
                .filter(|d| {
                    Instant::now()
                        .checked_add(*d)
                        .is_some_and(|end| end < deadline)
                });
            let Some(delay) = delay else {
                tracing::warn!(target: TARGET, %reason, attempts = failed, "InfluxDB write failed; giving up");
                return Err(StoreError::Unavailable {
                    reason: reason.into(),
                    // The server's word, else the next backoff.
                    retry_after: Some(retry_after.unwrap_or_else(|| self.retry.backoff(failed))),
                });
            };
            tracing::debug!(target: TARGET, %reason, ?delay, attempt = failed, "InfluxDB write failed; retrying");
            tokio::time::sleep(delay).await;
        }
    }

    /// One request.
    async fn attempt(&self, body: Bytes) -> Result<(), Failure> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        let mut client = self.client.clone();
        let sent = match client.ready().await {
            Ok(client) => client.call(request).await,
            Err(e) => Err(e),
        };
        let response = sent.map_err(|e| {
            Failure::Retry(
                format!("influxdb write to {}: {}", self.base, chain(&e)),
                None,
            )
        })?;
        let status = response.status();
        if status.is_success() {
            read_prefix(response.into_body(), SUCCESS_BODY_LIMIT).await;
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let header = response.headers().get("x-influxdb-error").cloned();
        let body = read_prefix(response.into_body(), ERROR_BODY_LIMIT).await;
        let message = error_message(&body, header.as_ref());
        let reason = if message.is_empty() {
            format!("influxdb write to {}: {status}", self.base)
        } else {
            format!("influxdb write to {}: {status}: {message}", self.base)
        };
        Err(classify(status, reason, retry_after))
    }
}

/// What an answer other than 2xx means (see the table in `InfluxStore`'s docs).
fn classify(status: StatusCode, reason: String, retry_after: Option<Duration>) -> Failure {
    if is_retryable_status(status) {
        return Failure::Retry(reason, retry_after);
    }
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => {
            Failure::Done(StoreError::failed(reason))
        }
        s if s.is_client_error() => Failure::Done(StoreError::invalid(reason)),
        // 1xx and 3xx: not an answer a write should get.
        _ => Failure::Done(StoreError::failed(reason)),
    }
}

/// Counts a writer waiting for a slot while it lives.
struct Waiting<'a> {
    waiting: &'a AtomicUsize,
    /// How many wait, this one included.
    count: usize,
}

impl<'a> Waiting<'a> {
    fn enter(waiting: &'a AtomicUsize) -> Waiting<'a> {
        let count = waiting.fetch_add(1, Ordering::AcqRel) + 1;
        Waiting { waiting, count }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An error and its sources, `: `-separated (hyper-util's own message is
/// only `client error (Connect)`).
fn chain(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let next = e.to_string();
        // Some errors repeat their source's text in their own.
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = e.source();
    }
    text
}

/// InfluxDB's message from an error answer: the `error` (1.x) or `message`
/// (2.x) of a JSON body, else the `X-Influxdb-Error` header, else the
/// body's first line; one line, at most [`MESSAGE_LIMIT`] bytes.
fn error_message(body: &[u8], header: Option<&HeaderValue>) -> String {
    #[derive(serde::Deserialize)]
    struct Answer {
        error: Option<String>,
        message: Option<String>,
    }
    let from_json = serde_json::from_slice::<Answer>(body)
        .ok()
        .and_then(|a| a.error.or(a.message))
        .filter(|m| !m.trim().is_empty());
    let text = match from_json {
        Some(m) => m,
        None => match header
            .and_then(|h| h.to_str().ok())
            .filter(|h| !h.trim().is_empty())
        {
            Some(h) => h.to_owned(),
            None => String::from_utf8_lossy(body)
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("")
                .to_owned(),
        },
    };
    one_line(&text, MESSAGE_LIMIT)
}

/// `text` with control characters as spaces, trimmed, cut to at most
/// `limit` bytes on a character boundary (`…` marks the cut).
fn one_line(text: &str, limit: usize) -> String {
    let text: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.len() <= limit {
        return text;
    }
    let mut end = limit - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::collections::VecDeque;
    use std::io::Read as _;
    use std::net::SocketAddr;
    use std::sync::Mutex;

    use hyper::body::Incoming;
    use hyper_util::rt::TokioIo;

    use crate::model::LabelPair;
    use crate::{codec, Format};

    /// An answer: status, headers, body.
    type Answer = (u16, &'static [(&'static str, &'static str)], &'static str);

    /// One request as the fake server saw it, body decompressed.
    #[derive(Debug)]
    struct Seen {
        uri: String,
        headers: HeaderMap,
        body: String,
    }

    /// An in-process stand-in for InfluxDB's write endpoint: answers from
    /// a list (then 204), each after a permit of `gate` when given.
    #[derive(Clone, Default)]
    struct Fake {
        answers: Arc<Mutex<VecDeque<Answer>>>,
        seen: Arc<Mutex<Vec<Seen>>>,
        gate: Option<Arc<Semaphore>>,
    }

    impl Fake {
        fn answering(answers: &[Answer]) -> Fake {
            let fake = Fake::default();
            fake.answers.lock().unwrap().extend(answers.iter().copied());
            fake
        }

        /// Serves on a free loopback port; the base URL.
        async fn serve(&self) -> String {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let fake = self.clone();
            tokio::spawn(async move {
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    let fake = fake.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |r| {
                            let fake = fake.clone();
                            async move { Ok::<_, std::convert::Infallible>(fake.answer(r).await) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
            format!("http://{addr}")
        }

        async fn answer(&self, request: Request<Incoming>) -> http::Response<Full<Bytes>> {
            let (parts, body) = request.into_parts();
            let raw = body.collect().await.unwrap().to_bytes();
            let body = if parts.headers.get(CONTENT_ENCODING).is_some() {
                let mut text = String::new();
                flate2::read::GzDecoder::new(&raw[..])
                    .read_to_string(&mut text)
                    .unwrap();
                text
            } else {
                String::from_utf8(raw.to_vec()).unwrap()
            };
            self.seen.lock().unwrap().push(Seen {
                uri: parts.uri.to_string(),
                headers: parts.headers,
                body,
            });
            if let Some(gate) = &self.gate {
                gate.acquire().await.unwrap().forget();
            }
            let (status, headers, body) =
                self.answers
                    .lock()
                    .unwrap()
                    .pop_front()
                    .unwrap_or((204, &[], ""));
            let mut response = http::Response::new(Full::new(Bytes::from_static(body.as_bytes())));
            *response.status_mut() = StatusCode::from_u16(status).unwrap();
            for (name, value) in headers {
                response
                    .headers_mut()
                    .insert(*name, HeaderValue::from_static(value));
            }
            response
        }

        fn seen(&self) -> usize {
            self.seen.lock().unwrap().len()
        }
    }

    /// A push of `text` from job `j`, received at 1.5 s past the epoch,
    /// without timestamps (as with the gateway's receive timestamps off).
    fn push(text: &str) -> Push {
        let families =
            codec::decode(Format::Text, text.to_owned().into(), &Default::default()).unwrap();
        Push::new(families, Format::Text)
            .with_grouping(vec![LabelPair::new("job", "j")])
            .with_received(UNIX_EPOCH + Duration::from_nanos(1_500_000_001))
    }

    /// Quick retries for tests.
    fn quick() -> Retry {
        Retry::attempts(u32::MAX)
            .base_delay(Duration::from_millis(1))
            .max_delay(Duration::from_millis(5))
            .jitter(0.0)
    }

    #[tokio::test]
    async fn v1_sends_line_protocol_with_the_receive_time_and_basic_auth() {
        let fake = Fake::default();
        let url = fake.serve().await;
        let store = InfluxStore::v1(format!("{url}/prefix/"), "my db&x")
            .retention_policy("one week")
            .credentials("u", "p:w")
            .build()
            .unwrap();
        assert_eq!(
            store.write_url(),
            format!("{url}/prefix/write?db=my%20db%26x&rp=one%20week&precision=ns")
        );
        store
            .write(push(
                "# TYPE c counter\nc{a=\"1\"} 2\n# TYPE g gauge\ng 3 1000\n",
            ))
            .await
            .unwrap();
        let seen = fake.seen.lock().unwrap();
        let [request] = &seen[..] else {
            panic!("{seen:?}")
        };
        assert_eq!(
            request.uri,
            "/prefix/write?db=my%20db%26x&rp=one%20week&precision=ns"
        );
        // base64("u:p:w")
        assert_eq!(request.headers[AUTHORIZATION], "Basic dTpwOnc=");
        assert_eq!(request.headers[CONTENT_ENCODING], "gzip");
        assert_eq!(request.headers[CONTENT_TYPE], "text/plain; charset=utf-8");
        // The metric without a timestamp takes the receive time, in ns.
        assert_eq!(
            request.body,
            "c,a=1 counter=2 1500000001\ng gauge=3 1000000000\n"
        );
    }

    #[tokio::test]
    async fn v2_sends_to_api_v2_write_with_a_token_and_custom_headers() {
        let fake = Fake::default();
        let url = fake.serve().await;
        let store = InfluxStore::v2(&url, "my org", "b/1", "s3cret")
            .gzip(false)
            .header("x-scope", "team a")
            .build()
            .unwrap();
        store.write(push("up 1\n")).await.unwrap();
        let seen = fake.seen.lock().unwrap();
        assert_eq!(
            seen[0].uri,
            "/api/v2/write?org=my%20org&bucket=b%2F1&precision=ns"
        );
        assert_eq!(seen[0].headers[AUTHORIZATION], "Token s3cret");
        assert_eq!(seen[0].headers["x-scope"], "team a");
        assert!(seen[0].headers.get(CONTENT_ENCODING).is_none());
        assert_eq!(seen[0].body, "up value=1 1500000001\n");
        // Secrets stay out of Debug.
        let debug = format!("{store:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
    }

    #[test]
    fn build_refuses_what_cannot_work() {
        let url_error = |url: &str| match InfluxStore::v1(url, "db").build() {
            Err(InfluxBuildError::Url { reason, .. }) => reason,
            other => panic!("{url}: {other:?}"),
        };
        assert_eq!(
            url_error("ftp://h:8086"),
            "the scheme must be http or https"
        );
        assert_eq!(
            url_error("127.0.0.1:8086"),
            "the scheme must be http or https"
        );
        assert!(url_error("http://u:p@h:8086").starts_with("credentials go in"));
        assert_eq!(
            url_error("http://h:8086/?db=x"),
            "a query or fragment is not allowed"
        );
        #[cfg(not(feature = "rustls"))]
        assert_eq!(
            url_error("https://h:8086"),
            "https needs pushgate's rustls feature"
        );
        let err = |b: InfluxStoreBuilder| b.build().unwrap_err();
        assert_eq!(
            err(InfluxStore::v1("http://h", "")),
            InfluxBuildError::Missing("database")
        );
        assert_eq!(
            err(InfluxStore::v2("http://h", "o", "", "t")),
            InfluxBuildError::Missing("bucket")
        );
        assert_eq!(
            err(InfluxStore::v2("http://h", "o", "b", "t").credentials("u", "p")).to_string(),
            "credentials are for InfluxDB 1.x; 2.x takes a token"
        );
        assert_eq!(
            err(InfluxStore::v2("http://h", "o", "b", "t").retention_policy("rp")).to_string(),
            "a retention policy is for InfluxDB 1.x; 2.x has buckets"
        );
        assert_eq!(
            err(InfluxStore::v2("http://h", "o", "b", "a\nb")).to_string(),
            "invalid header Authorization: invalid value"
        );
        assert_eq!(
            err(InfluxStore::v1("http://h", "d").header("bad name", "v")).to_string(),
            "invalid header name \"bad name\""
        );
    }

    #[test]
    fn error_messages_are_influxdbs_own_on_one_bounded_line() {
        let none = None;
        assert_eq!(
            error_message(br#"{"error":"database not found: \"x\""}"#, none),
            "database not found: \"x\""
        );
        assert_eq!(
            error_message(
                br#"{"code":"not found","message":"bucket \"b\" not found"}"#,
                none
            ),
            "bucket \"b\" not found"
        );
        let header = HeaderValue::from_static("timeout");
        assert_eq!(error_message(b"", Some(&header)), "timeout");
        assert_eq!(
            error_message(b"\n  upstream down\r\nsecond line\n", none),
            "upstream down"
        );
        assert_eq!(error_message(br#"{"error":"a\nb\tc"}"#, none), "a b c");
        assert_eq!(error_message(b"", none), "");
        let long = format!(r#"{{"error":"{}"}}"#, "é".repeat(300));
        let message = error_message(long.as_bytes(), none);
        assert!(message.len() <= MESSAGE_LIMIT, "{}", message.len());
        assert!(message.ends_with("é…"), "{message}");
    }

    #[tokio::test]
    async fn server_errors_and_429_are_retried_until_written() {
        let fake = Fake::answering(&[
            (503, &[], r#"{"error":"busy"}"#),
            (429, &[("retry-after", "0")], ""),
            (500, &[], "timeout"),
        ]);
        let url = fake.serve().await;
        let store = InfluxStore::v1(url, "db").retry(quick()).build().unwrap();
        store.write(push("up 1\n")).await.unwrap();
        assert_eq!(fake.seen(), 4);
        // The same body each time: the points keep their timestamps.
        let seen = fake.seen.lock().unwrap();
        assert!(seen.iter().all(|s| s.body == seen[0].body));
    }

    #[tokio::test]
    async fn a_spent_budget_is_unavailable_with_influxdbs_reason() {
        // A Retry-After past the budget ends the write after one attempt.
        let fake =
            Fake::answering(&[(503, &[("retry-after", "7")], "{\"error\":\"overloaded\"}\n")]);
        let url = fake.serve().await;
        let store = InfluxStore::v1(&url, "db").retry(quick()).build().unwrap();
        let err = store.write(push("up 1\n")).await.unwrap_err();
        assert_eq!(fake.seen(), 1);
        let StoreError::Unavailable {
            reason,
            retry_after,
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(
            reason.to_string(),
            format!("influxdb write to {url}: 503 Service Unavailable: overloaded")
        );
        assert_eq!(*retry_after, Some(Duration::from_secs(7)));

        // However long it is.
        let fake = Fake::answering(&[(429, &[("retry-after", "99999999999999999999")], "")]);
        let url = fake.serve().await;
        let store = InfluxStore::v1(&url, "db")
            .retry_for(Duration::MAX)
            .build()
            .unwrap();
        let err = store.write(push("up 1\n")).await.unwrap_err();
        assert_eq!(err.retry_after(), Some(Duration::from_secs(u64::MAX)));
        assert_eq!(
            err.to_string(),
            format!("store unavailable: influxdb write to {url}: 429 Too Many Requests")
        );

        // Without one, retries go on until the budget, then the last reason.
        let fake = Fake::answering(&[(502, &[][..], ""); 1000]);
        let url = fake.serve().await;
        let store = InfluxStore::v2(&url, "o", "b", "t")
            .retry(quick())
            .retry_for(Duration::from_millis(50))
            .build()
            .unwrap();
        let err = store.write(push("up 1\n")).await.unwrap_err();
        assert!(fake.seen() > 1, "{}", fake.seen());
        assert_eq!(
            err.to_string(),
            format!("store unavailable: influxdb write to {url}: 502 Bad Gateway")
        );
        assert!(err.retry_after().is_some());
    }

    #[tokio::test]
    async fn an_unreachable_server_is_unavailable() {
        // A port just freed: connections are refused.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        drop(listener);
        let store = InfluxStore::v1(format!("http://{addr}"), "db")
            .retry(quick())
            .retry_for(Duration::from_millis(30))
            .build()
            .unwrap();
        let err = store.write(push("up 1\n")).await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!(
                "store unavailable: influxdb write to http://{addr}: client error (Connect)"
            )),
            "{text}"
        );
        assert!(!text.contains('\n'), "{text}");
    }

    #[tokio::test]
    async fn client_errors_are_final_and_not_retried() {
        type Check = fn(&StoreError) -> bool;
        let cases: [(u16, &str, Check); 5] = [
            (400, r#"{"error":"unable to parse 'x': bad"}"#, |e| {
                matches!(e, StoreError::Invalid(_))
            }),
            (
                413,
                r#"{"code":"request too large","message":"too big"}"#,
                |e| matches!(e, StoreError::Invalid(_)),
            ),
            (404, r#"{"error":"database not found: \"db\""}"#, |e| {
                matches!(e, StoreError::Failed(_))
            }),
            (401, r#"{"error":"authorization failed"}"#, |e| {
                matches!(e, StoreError::Failed(_))
            }),
            (
                403,
                r#"{"code":"forbidden","message":"no write permission"}"#,
                |e| matches!(e, StoreError::Failed(_)),
            ),
        ];
        for (status, body, expected) in cases {
            let fake = Fake::answering(&[(status, &[], body)]);
            let url = fake.serve().await;
            let store = InfluxStore::v1(&url, "db").retry(quick()).build().unwrap();
            let err = store.write(push("up 1\n")).await.unwrap_err();
            assert!(expected(&err), "{status}: {err:?}");
            assert_eq!(fake.seen(), 1, "{status}");
            let reason = std::error::Error::source(&err).unwrap().to_string();
            assert!(
                reason.starts_with(&format!("influxdb write to {url}: {status} ")),
                "{reason}"
            );
        }
        let fake = Fake::answering(&[(404, &[], r#"{"error":"database not found: \"db\""}"#)]);
        let url = fake.serve().await;
        let store = InfluxStore::v1(&url, "db").build().unwrap();
        assert_eq!(
            store.write(push("up 1\n")).await.unwrap_err().to_string(),
            format!(
                "store failed: influxdb write to {url}: 404 Not Found: database not found: \"db\""
            )
        );
    }

    #[tokio::test]
    async fn deletes_empty_pushes_and_reserved_labels_send_nothing() {
        let fake = Fake::default();
        let url = fake.serve().await;
        let v1 = InfluxStore::v1(&url, "db").build().unwrap();
        let v2 = InfluxStore::v2(&url, "o", "b", "t").build().unwrap();
        v1.write(Push::delete(vec![LabelPair::new("job", "j")]))
            .await
            .unwrap();
        v1.write(push("")).await.unwrap();
        // Only points InfluxDB refuses: nothing to send.
        v1.write(push("# TYPE g gauge\ng +Inf\n")).await.unwrap();
        let err = v1.write(push("c{time=\"x\"} 1\n")).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "pushed metrics cannot be stored: label \"time\" of c cannot be written to InfluxDB, which refuses it as a tag key"
        );
        // `_field` is a tag like any other to 1.x, reserved in 2.x.
        v1.write(push("c{_field=\"x\"} 1\n")).await.unwrap();
        assert!(matches!(
            v2.write(push("c{_field=\"x\"} 1\n")).await,
            Err(StoreError::Invalid(_))
        ));
        assert_eq!(fake.seen(), 1);
    }

    #[tokio::test]
    async fn too_many_writes_are_overloaded_at_once_and_dropped_ones_send_nothing() {
        let gate = Arc::new(Semaphore::new(0));
        let fake = Fake {
            gate: Some(gate.clone()),
            ..Fake::default()
        };
        let url = fake.serve().await;
        let store = InfluxStore::v1(&url, "db")
            .max_concurrent_requests(1)
            .max_waiting(1)
            .retry_for(Duration::from_secs(30))
            .build()
            .unwrap();
        // One in flight, held at the server.
        let first = tokio::spawn({
            let store = store.clone();
            async move { store.write(push("a 1\n")).await }
        });
        while fake.seen() == 0 {
            tokio::task::yield_now().await;
        }
        // One waiting for the slot.
        let second = tokio::spawn({
            let store = store.clone();
            async move { store.write(push("b 1\n")).await }
        });
        while store.shared.waiting.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        // A third is refused without waiting.
        let err = store.write(push("c 1\n")).await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Overloaded {
                    retry_after: Some(_)
                }
            ),
            "{err:?}"
        );
        // The waiting one is dropped before it was sent: it never is.
        second.abort();
        assert!(second.await.unwrap_err().is_cancelled());
        assert_eq!(store.shared.waiting.load(Ordering::Acquire), 0);
        // A write never polled sends nothing either.
        drop(store.write(push("d 1\n")));
        gate.add_permits(10);
        first.await.unwrap().unwrap();
        store.write(push("e 1\n")).await.unwrap();
        let seen = fake.seen.lock().unwrap();
        let bodies: Vec<_> = seen.iter().map(|s| &s.body[..1]).collect();
        assert_eq!(bodies, ["a", "e"]);
    }

    #[tokio::test]
    async fn a_slow_answer_is_retried_after_the_timeout() {
        let gate = Arc::new(Semaphore::new(0));
        let fake = Fake {
            gate: Some(gate.clone()),
            ..Fake::default()
        };
        let url = fake.serve().await;
        let store = InfluxStore::v1(&url, "db")
            .timeout(Duration::from_millis(20))
            .retry(quick())
            .retry_for(Duration::from_secs(30))
            .build()
            .unwrap();
        let write = tokio::spawn({
            let store = store.clone();
            async move { store.write(push("a 1\n")).await }
        });
        // Answer once the first attempt was abandoned and another sent.
        while fake.seen() < 2 {
            tokio::task::yield_now().await;
        }
        gate.add_permits(100);
        write.await.unwrap().unwrap();
    }
}
