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
