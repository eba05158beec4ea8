//! The HTTP client side shared by everything that sends: the pusher
//! ([`push`](crate::push)) and the stores that forward to a remote
//! (remote write, InfluxDB).
//!
//! * [`HttpClient`]: hyper-util's pooled client, HTTP/1.1 and HTTP/2, and
//!   with the `rustls` feature HTTPS with custom roots and client
//!   certificates.
//! * [`Retry`]: when and how long to wait before sending again (backoff
//!   with jitter, `Retry-After` honoured, 429 and 5xx retried, other 4xx
//!   never).
//!
//! It sits below both `push` and `gateway`, which never import each other.

// With `client` alone nothing in the crate sends: its helpers wait unused.
#![cfg_attr(
    not(any(feature = "push", feature = "remote-write", feature = "influxdb")),
    allow(dead_code, unused_imports)
)]

mod http;
mod retry;

pub use self::http::{ClientBuildError, HttpClient, HttpClientBuilder};
pub use self::retry::Retry;
pub(crate) use self::retry::{is_retryable_status, parse_retry_after};

/// An `Authorization` value, marked sensitive (kept out of HTTP/2 header
/// compression tables and `Debug` output); `None` if not a header value.
pub(crate) fn authorization(scheme: &str, credentials: &str) -> Option<::http::HeaderValue> {
    let mut value = ::http::HeaderValue::try_from(format!("{scheme} {credentials}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// `Authorization: Basic` for `user` and `password`.
pub(crate) fn basic_authorization(user: &str, password: &str) -> Option<::http::HeaderValue> {
    let token = crate::b64::encode_standard(format!("{user}:{password}").as_bytes());
    authorization("Basic", &token)
}

/// Reads `body` until its end or `limit` bytes, whichever is first; an
/// error ends it. For the start of an answer's body, to quote in a message
/// and to let the connection be reused, never for data.
pub(crate) async fn read_prefix<B: http_body::Body>(body: B, limit: usize) -> Vec<u8> {
    use bytes::Buf;
    use http_body_util::BodyExt;

    let mut body = std::pin::pin!(body);
    let mut out = Vec::new();
    while out.len() < limit {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(mut data) = frame.into_data() {
                    while data.has_remaining() && out.len() < limit {
                        let chunk = data.chunk();
                        let n = chunk.len().min(limit - out.len());
                        out.extend_from_slice(&chunk[..n]);
                        data.advance(n);
                    }
                }
            }
            _ => break,
        }
    }
    out
}
