//! [`RemoteWriteStore`]: forwards pushes to a Prometheus remote write 1.0
//! receiver (Prometheus with `--web.enable-remote-write-receiver`, Mimir,
//! Cortex, Thanos Receive, VictoriaMetrics, ...). What it sends and when it
//! answers is documented on the type.

mod convert;
mod proto;
mod queue;
mod send;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::header::AUTHORIZATION;
use http::{HeaderName, HeaderValue, Uri};
use tokio::task::JoinHandle;

use self::queue::{Limits, Queue};
use self::send::Sender;
use super::{Push, Store, StoreError};
use crate::client::{HttpClient, Retry};
use crate::grouping::PushMethod;

/// Forwards pushes to a Prometheus remote write receiver, acknowledging a
/// write only once the receiver accepted it. Cloning shares the store: its
/// queue, batcher and client.
///
/// # What is sent
///
/// Each push becomes the series Prometheus would have ingested had it
/// scraped the push: counters, gauges and untyped metrics one series each;
/// classic histograms (and gauge histograms) `<name>_bucket{le="..."}`
/// (`le` written as Prometheus writes it: `0.5`, `1`, `1e+06`, `+Inf`, the
/// `+Inf` bucket added when the push left it out), `<name>_sum` and
/// `<name>_count`; summaries `<name>{quantile="..."}`, `<name>_sum` and
/// `<name>_count`; native histograms (a schema, spans or a zero bucket set)
/// one remote write `Histogram`, with their classic buckets too when they
/// carry some. Labels are `__name__` and the metric's labels (the grouping
/// labels among them), sorted by name, those with an empty value left out.
/// Each sample is stamped with its metric's timestamp, which the gateway
/// sets to the time of receipt by default, or else with the push's
/// receive time.
///
/// Remote write only appends. A `PUT` adds its samples as a `POST` does,
/// and a `DELETE` is acknowledged with nothing sent: a remote write
/// receiver has no groups to replace or delete, and its series simply go
/// stale.
///
/// Requests are snappy-compressed (block format) protobuf `WriteRequest`s
/// with `Content-Type: application/x-protobuf`, `Content-Encoding: snappy`,
/// `X-Prometheus-Remote-Write-Version: 0.1.0` and `User-Agent:
/// pushgate/<version>`, plus any auth and headers set on the builder.
///
/// # When a write is acknowledged
///
/// [`Store::write`] resolves `Ok` only once the remote answered `2xx` to a
/// request holding every series of the push. Writes wait in a queue; a
/// batcher task sends them together when they reach
/// [`max_samples_per_send`](RemoteWriteBuilder::max_samples_per_send) or
/// the oldest has waited [`batch_delay`](RemoteWriteBuilder::batch_delay),
/// with at most [`max_in_flight`](RemoteWriteBuilder::max_in_flight)
/// requests at once. A write is never split between requests.
///
/// | the remote | the write | the gateway answers |
/// | --- | --- | --- |
/// | `2xx` | `Ok` | `202` |
/// | unreachable, no answer, `5xx`, `429`, until [`retry_for`](RemoteWriteBuilder::retry_for) ran out | [`StoreError::Unavailable`] `remote write to <url>: <what>` | `503` with `Retry-After` |
/// | another `4xx` | [`StoreError::Invalid`] with the status and the first line of the remote's answer | `400` |
/// | `401`, `403`, `404`, `405`, `407`, `3xx` (the store's configuration, not the push) | [`StoreError::Failed`] | `500` |
/// | — the queue holds [`max_queued_samples`](RemoteWriteBuilder::max_queued_samples) | [`StoreError::Overloaded`], at once, nothing queued | `503`, `Retry-After: 1` |
/// | — the store is closed | [`StoreError::Closed`] | `503` |
///
/// Failures that may pass are retried with backoff ([`Retry`], honouring
/// `Retry-After`), each attempt bounded by
/// [`timeout`](RemoteWriteBuilder::timeout). When a request of several
/// writes is refused with a `4xx`, each write is sent again alone, so that
/// one bad push does not fail the others: receivers such as Prometheus
/// roll back the whole request on an error (an out-of-order or duplicate
/// sample).
///
/// A write whose future is dropped (the gateway's deadline, a client gone)
/// before its request is sent is left out of it: nothing is stored. Once
/// its request is in flight, it may still be stored though never
/// acknowledged; a client that pushes again then adds its samples at the
/// new receive time (a second sample, not a duplicate). The store's own
/// retries resend the same samples, which receivers take as duplicates of
/// equal value.
///
/// Requests are sent one at a time by default
/// ([`max_in_flight`](RemoteWriteBuilder::max_in_flight) 1), so that they
/// arrive in the order of the writes: receivers refuse a sample older than
/// the newest of its series as out of order, and two requests in flight
/// together (one of them retrying) could arrive the wrong way round. Raise
/// it only for a receiver that accepts out-of-order samples.
///
/// [`RemoteWriteStore::close`] (or dropping the last handle) stops taking
/// writes ([`StoreError::Closed`]) and sends what is queued.
///
/// # Building
///
/// Built with [`RemoteWriteStore::builder`], within a Tokio runtime (the
/// batcher is a task of it).
///
/// ```
/// use http::{Request, StatusCode};
/// use pushgate::gateway::PushGateway;
/// use pushgate::store::RemoteWriteStore;
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # // A receiver that takes everything, standing in for Prometheus.
/// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// # let url = format!("http://{}/api/v1/write", listener.local_addr()?);
/// # let receiver = axum::Router::new().route(
/// #     "/api/v1/write",
/// #     axum::routing::post(|| async { StatusCode::NO_CONTENT }),
/// # );
/// # tokio::spawn(async move { axum::serve(listener, receiver).await });
/// // url: e.g. "http://prometheus:9090/api/v1/write"
/// let store = RemoteWriteStore::builder(url)
///     .bearer_token("s3cr3t")
///     .header("X-Scope-OrgID", "team-a")
///     .build()?;
/// let gateway = PushGateway::builder(store.clone()).build()?;
///
/// let push = Request::post("/metrics/job/nightly")
///     .body(http_body_util::Full::new(bytes::Bytes::from("jobs_total 3\n")))?;
/// let response = gateway.oneshot(push).await?;
/// // Accepted: the receiver has the sample.
/// assert_eq!(response.status(), StatusCode::ACCEPTED);
///
/// store.close().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RemoteWriteStore {
    handle: Arc<Handle>,
}

/// Owned by the store's clones only, not the batcher: its drop closes the
/// queue.
struct Handle {
    queue: Arc<Queue>,
    url: String,
    batcher: tokio::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        // The batcher sends what is queued, then ends.
        self.queue.close();
    }
}

impl fmt::Debug for RemoteWriteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteWriteStore")
            .field("url", &self.handle.url)
            .field("held_samples", &self.handle.queue.held())
            .finish_non_exhaustive()
    }
}

impl RemoteWriteStore {
    /// A builder for a store that writes to `url`, the receiver's remote
    /// write endpoint (`http://prometheus:9090/api/v1/write`,
    /// `https://mimir/api/v1/push`, ...).
    pub fn builder(url: impl Into<String>) -> RemoteWriteBuilder {
        RemoteWriteBuilder::new(url.into())
    }

    /// The remote write URL, as given.
    pub fn url(&self) -> &str {
        &self.handle.url
    }

    /// Samples queued or in flight, not yet answered.
    pub fn queued_samples(&self) -> usize {
        self.handle.queue.held()
    }

    /// Stops taking writes (they fail with [`StoreError::Closed`]), sends
    /// what is queued and waits until every queued write is answered.
    pub async fn close(&self) {
        self.handle.queue.close();
        let mut batcher = self.handle.batcher.lock().await;
        if let Some(task) = batcher.take() {
            // A panic in the batcher is already reported by the runtime.
            let _ = task.await;
        }
    }
}

impl Store for RemoteWriteStore {
    async fn write(&self, push: Push) -> Result<(), StoreError> {
        let queue = &self.handle.queue;
        if push.method == PushMethod::Delete {
            // Nothing to send: remote write cannot delete.
            return if queue.is_closed() {
                Err(StoreError::Closed)
            } else {
                Ok(())
            };
        }
        // Every metric is at least one series: a queue without room for
        // that many refuses before the conversion, which costs more.
        if queue.surely_full(push.series()) {
            return Err(StoreError::Overloaded {
                retry_after: Some(queue::OVERLOADED_RETRY_AFTER),
            });
        }
        let series = convert::convert(&push.families, push.received);
        if series.is_empty() {
            return if queue.is_closed() {
                Err(StoreError::Closed)
            } else {
                Ok(())
            };
        }
        queue.write(series).await
    }
}

/// Why [`RemoteWriteBuilder::build`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteWriteBuildError {
    /// The URL does not parse, is not `http` or `https`, or has no host.
    #[error("invalid remote write URL {url:?}: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A header name or value is not valid in HTTP.
    #[error("invalid header {name:?}")]
    Header {
        /// The header's name as given.
        name: String,
    },
    /// `build` was called outside a Tokio runtime, where the batcher
    /// cannot be spawned.
    #[error("a remote write store must be built within a Tokio runtime")]
    NoRuntime,
}

/// Configures a [`RemoteWriteStore`]; from [`RemoteWriteStore::builder`].
///
/// ```
/// use std::time::Duration;
/// use pushgate::client::HttpClient;
/// use pushgate::store::RemoteWriteStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = RemoteWriteStore::builder("https://mimir.example/api/v1/push")
///     .basic_auth("tenant", "password")
///     .header("X-Scope-OrgID", "tenant")
///     .client(HttpClient::new()) // e.g. with a private CA's roots
///     .max_samples_per_send(5_000)
///     .batch_delay(Duration::from_millis(20))
///     .max_queued_samples(200_000)
///     .max_in_flight(8)
///     .retry_for(Duration::from_secs(4))
///     .timeout(Duration::from_secs(2))
///     .build()?;
/// assert_eq!(store.url(), "https://mimir.example/api/v1/push");
/// # Ok(())
/// # }
/// ```
#[must_use]
pub struct RemoteWriteBuilder {
    url: String,
    client: Option<HttpClient>,
    headers: Vec<(HeaderName, HeaderValue)>,
    limits: Limits,
    retry: Retry,
    retry_for: Duration,
    timeout: Duration,
    error: Option<RemoteWriteBuildError>,
}

impl fmt::Debug for RemoteWriteBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("RemoteWriteBuilder")
            .field("url", &self.url)
            // Names only: values may be secrets.
            .field("headers", &headers)
            .field("limits", &self.limits)
            .field("retry", &self.retry)
            .field("retry_for", &self.retry_for)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RemoteWriteBuilder {
    fn new(url: String) -> RemoteWriteBuilder {
        RemoteWriteBuilder {
            url,
            client: None,
            headers: Vec::new(),
            limits: Limits {
                max_samples_per_send: 2_000,
                batch_delay: Duration::from_millis(5),
                max_queued_samples: 100_000,
                max_in_flight: 1,
            },
            retry: Retry::attempts(u32::MAX)
                .base_delay(Duration::from_millis(100))
                .max_delay(Duration::from_secs(1)),
            retry_for: Duration::from_secs(5),
            timeout: Duration::from_secs(5),
            error: None,
        }
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
            None => self.fail(RemoteWriteBuildError::Header {
                name: AUTHORIZATION.to_string(),
            }),
        }
        self
    }

    /// Sends a header with every request (`X-Scope-OrgID` for Mimir's and
    /// Cortex's tenants, ...), replacing one set before under the same
    /// name, the protocol's own included.
    pub fn header(mut self, name: impl AsRef<str>, value: impl AsRef<[u8]>) -> Self {
        let name_text = name.as_ref();
        match (
            HeaderName::from_bytes(name_text.as_bytes()),
            HeaderValue::from_bytes(value.as_ref()),
        ) {
            (Ok(name), Ok(value)) => self.headers.push((name, value)),
            _ => self.fail(RemoteWriteBuildError::Header {
                name: name_text.to_owned(),
            }),
        }
        self
    }

    /// Sends with `client` (its roots, client certificate and timeouts)
    /// instead of a default [`HttpClient`].
    pub fn client(mut self, client: HttpClient) -> Self {
        self.client = Some(client);
        self
    }

    /// The most samples (a native histogram counts as one) a request
    /// carries, unless one write alone holds more: 2000 by default, as
    /// Prometheus' `max_samples_per_send`.
    pub fn max_samples_per_send(mut self, samples: usize) -> Self {
        self.limits.max_samples_per_send = samples.max(1);
        self
    }

    /// How long the oldest queued write waits for others to share its
    /// request: 5 ms by default.
    pub fn batch_delay(mut self, delay: Duration) -> Self {
        self.limits.batch_delay = delay;
        self
    }

    /// The most samples queued or in flight; a write that would go past it
    /// fails at once with [`StoreError::Overloaded`]. 100 000 by default.
    pub fn max_queued_samples(mut self, samples: usize) -> Self {
        self.limits.max_queued_samples = samples.max(1);
        self
    }

    /// The most requests in flight at once: 1 by default (at least 1), so
    /// that samples of a series arrive in order (see the type's docs).
    pub fn max_in_flight(mut self, requests: usize) -> Self {
        self.limits.max_in_flight = requests.max(1);
        self
    }

    /// How long a request may be retried: no retry starts after this
    /// long since its first attempt. 5 s by default, below the gateway's
    /// 10 s deadline, so that the client hears `503` rather than `504`.
    pub fn retry_for(mut self, budget: Duration) -> Self {
        self.retry_for = budget;
        self
    }

    /// The backoff between attempts: by default from 100 ms doubling up to
    /// 1 s, less up to half of it (jitter), for as many attempts as
    /// [`retry_for`](Self::retry_for) allows. [`Retry::never`] sends once.
    pub fn retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// How long one attempt may take, connecting included: 5 s by default.
    /// A retry gets at most what is left of [`retry_for`](Self::retry_for).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn fail(&mut self, error: RemoteWriteBuildError) {
        self.error.get_or_insert(error);
    }

    /// The store, its batcher spawned on the current Tokio runtime; or the
    /// first setting that is wrong.
    pub fn build(self) -> Result<RemoteWriteStore, RemoteWriteBuildError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let bad_url = |reason: &str| RemoteWriteBuildError::Url {
            url: self.url.clone(),
            reason: reason.to_owned(),
        };
        let uri: Uri = self
            .url
            .trim()
            .parse()
            .map_err(|e: http::uri::InvalidUri| bad_url(&e.to_string()))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(bad_url("the scheme must be http or https"));
        }
        let Some(authority) = uri.authority() else {
            return Err(bad_url("no host"));
        };
        if authority.as_str().contains('@') {
            return Err(bad_url(
                "credentials in the URL: use basic_auth or bearer_token",
            ));
        }
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| RemoteWriteBuildError::NoRuntime)?;
        let sender = Arc::new(Sender {
            client: self.client.unwrap_or_default(),
            uri,
            url: self.url.clone(),
            headers: Sender::headers(&self.headers),
            timeout: self.timeout,
            retry: self.retry,
            retry_for: self.retry_for,
        });
        let queue = Arc::new(Queue::new(self.limits));
        let batcher = runtime.spawn(queue::run(queue.clone(), sender));
        Ok(RemoteWriteStore {
            handle: Arc::new(Handle {
                queue,
                url: self.url,
                batcher: tokio::sync::Mutex::new(Some(batcher)),
            }),
        })
    }
}
