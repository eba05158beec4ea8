//! One remote write request, sent until accepted, refused, or out of time.

use std::fmt;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::Full;
use tokio::time::Instant;
use tower::{Service, ServiceExt};

use super::proto::TimeSeries;
use crate::client::{is_retryable_status, parse_retry_after, read_prefix, HttpClient, Retry};
use crate::store::StoreError;

/// How much of a refusal's body is kept for the error.
pub(super) const BODY_PREFIX_LEN: usize = 256;

/// How much of a success's body is read (so the connection can be reused).
const SUCCESS_BODY_LIMIT: usize = 4096;

/// The `Retry-After` given to the gateway's client when the remote named
/// none.
pub(super) const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Why a request was not accepted.
#[derive(Debug)]
pub(super) enum SendError {
    /// Not reached, no answer in time, 5xx or 429, until the retry budget
    /// ran out: may pass.
    Unavailable {
        /// One line: what the last attempt came to.
        what: String,
        /// What the remote asked for, if it did.
        retry_after: Option<Duration>,
    },
    /// Another status: the remote will refuse this request again.
    Refused {
        /// The status.
        status: StatusCode,
        /// The first line of its body, bounded.
        body: String,
    },
}

impl SendError {
    /// Whether the refusal concerns the request's content (so sending
    /// each write of a batch alone can help), rather than the store's
    /// configuration (auth, URL), which fails every write alike.
    pub(super) fn is_content_refusal(&self) -> bool {
        match self {
            SendError::Refused { status, .. } => {
                status.is_client_error()
                    && !matches!(
                        *status,
                        StatusCode::UNAUTHORIZED
                            | StatusCode::FORBIDDEN
                            | StatusCode::NOT_FOUND
                            | StatusCode::METHOD_NOT_ALLOWED
                            | StatusCode::PROXY_AUTHENTICATION_REQUIRED
                    )
            }
            SendError::Unavailable { .. } => false,
        }
    }

    /// The store error one write of the request gets.
    pub(super) fn to_store_error(&self, url: &str) -> StoreError {
        match self {
            SendError::Unavailable { what, retry_after } => StoreError::Unavailable {
                reason: format!("remote write to {url}: {what}").into(),
                retry_after: Some(retry_after.unwrap_or(DEFAULT_RETRY_AFTER)),
            },
            refused if refused.is_content_refusal() => {
                StoreError::invalid(format!("remote write to {url}: {refused}"))
            }
            // Misconfiguration (401, 403, 404, a redirect): the push is
            // not at fault, the store is.
            refused => StoreError::failed(format!("remote write to {url}: {refused}")),
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Unavailable { what, .. } => f.write_str(what),
            SendError::Refused { status, body } if body.is_empty() => write!(f, "{status}"),
            SendError::Refused { status, body } => write!(f, "{status}: {body}"),
        }
    }
}

/// Sends bodies to one remote write URL.
#[derive(Debug)]
pub(super) struct Sender {
    pub(super) client: HttpClient,
    pub(super) uri: Uri,
    /// `url` as given, for messages.
    pub(super) url: String,
    /// The protocol's headers, the user's and auth.
    pub(super) headers: HeaderMap,
    pub(super) timeout: Duration,
    pub(super) retry: Retry,
    pub(super) retry_for: Duration,
}

impl Sender {
    /// The protocol's headers, then `extra` (which may replace them).
    pub(super) fn headers(extra: &[(HeaderName, HeaderValue)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("snappy"));
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        headers.insert(
            HeaderName::from_static("x-prometheus-remote-write-version"),
            HeaderValue::from_static("0.1.0"),
        );
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("pushgate/", env!("CARGO_PKG_VERSION"))),
        );
        for (name, value) in extra {
            headers.insert(name.clone(), value.clone());
        }
        headers
    }

    /// Sends `body` until a 2xx, a status not worth retrying, or a retry
    /// that would start after `deadline`. The first attempt is always
    /// made, and each is bounded by the request timeout.
    pub(super) async fn send(&self, body: Bytes, deadline: Instant) -> Result<(), SendError> {
        let mut failed = 0;
        loop {
            let limit = if failed == 0 {
                self.timeout
            } else {
                self.timeout
                    .min(deadline.saturating_duration_since(Instant::now()))
            };
            let error = match tokio::time::timeout(limit, self.attempt(body.clone())).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(error)) => error,
                Err(_) => SendError::Unavailable {
                    what: if limit < self.timeout {
                        format!("no answer within the retry budget ({:?})", self.retry_for)
                    } else {
                        format!("no answer within {limit:?}")
                    },
                    retry_after: None,
                },
            };
            let SendError::Unavailable { retry_after, .. } = &error else {
                return Err(error);
            };
            failed += 1;
            let delay = self.retry.delay(failed, *retry_after, fastrand::f64());
            match delay {
                Some(delay) if Instant::now() + delay < deadline => {
                    tracing::warn!(url = %self.url, %error, ?delay, attempt = failed, "remote write failed; retrying");
                    tokio::time::sleep(delay).await;
                }
                _ => return Err(error),
            }
        }
    }

    /// One request.
    async fn attempt(&self, body: Bytes) -> Result<(), SendError> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        let unreachable = |e: &(dyn std::error::Error + 'static)| SendError::Unavailable {
            what: one_line(e),
            retry_after: None,
        };
        let mut client = self.client.clone();
        let ready = client.ready().await.map_err(|e| unreachable(&e))?;
        let response = ready.call(request).await.map_err(|e| unreachable(&e))?;
        let status = response.status();
        if status.is_success() {
            read_prefix(response.into_body(), SUCCESS_BODY_LIMIT).await;
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let body = first_line(&read_prefix(response.into_body(), BODY_PREFIX_LEN).await);
        if is_retryable_status(status) {
            let what = if body.is_empty() {
                status.to_string()
            } else {
                format!("{status}: {body}")
            };
            return Err(SendError::Unavailable { what, retry_after });
        }
        Err(SendError::Refused { status, body })
    }
}

/// The snappy-compressed (block format) `WriteRequest` of `series`.
pub(super) fn encode<'a>(series: impl Iterator<Item = &'a TimeSeries>) -> Bytes {
    let mut raw = Vec::new();
    for s in series {
        // `WriteRequest.timeseries`, tag 1: written one by one rather than
        // collected into a `WriteRequest`, which would clone every series.
        prost::encoding::message::encode(1, s, &mut raw);
    }
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .expect("a batch is far below snappy's 4 GiB block limit")
        .into()
}

/// An error and its sources on one line, repeats left out (hyper-util's
/// errors repeat their source in their own message at times).
fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(e) = next {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ").replace(['\r', '\n'], " ")
}

/// The first line of `body`, trimmed, at most [`BODY_PREFIX_LEN`] bytes
/// (a character cut at the end dropped, invalid UTF-8 replaced).
fn first_line(body: &[u8]) -> String {
    let body = &body[..body.len().min(BODY_PREFIX_LEN)];
    let line = body.split(|&b| b == b'\n').next().unwrap_or_default();
    let text = match std::str::from_utf8(line) {
        Ok(text) => text.to_owned(),
        Err(e) if e.error_len().is_none() => {
            String::from_utf8_lossy(&line[..e.valid_up_to()]).into_owned()
        }
        Err(_) => String::from_utf8_lossy(line).into_owned(),
    };
    text.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_bodies_are_cut_to_one_bounded_line() {
        assert_eq!(
            first_line(b"out of order sample\nmore\n"),
            "out of order sample"
        );
        assert_eq!(first_line("é".repeat(200).as_bytes()).len(), 256);
        assert_eq!(first_line(b"  \r\n"), "");
    }

    #[test]
    fn auth_and_url_refusals_are_not_the_pushs_fault() {
        let refused = |status| SendError::Refused {
            status,
            body: "no".into(),
        };
        let bad = refused(StatusCode::BAD_REQUEST).to_store_error("http://r");
        assert!(matches!(bad, StoreError::Invalid(_)), "{bad}");
        assert_eq!(
            bad.to_string(),
            "pushed metrics cannot be stored: remote write to http://r: 400 Bad Request: no"
        );
        let auth = refused(StatusCode::UNAUTHORIZED).to_store_error("http://r");
        assert!(matches!(auth, StoreError::Failed(_)), "{auth}");
    }
}
