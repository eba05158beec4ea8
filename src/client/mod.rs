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

mod http;
mod retry;

pub use self::http::{ClientBuildError, HttpClient, HttpClientBuilder};
pub use self::retry::Retry;
#[allow(unused_imports)] // Not every feature set sends.
pub(crate) use self::retry::{is_retryable_status, parse_retry_after};

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
