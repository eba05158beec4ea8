//! [`GatewayError`]: every way a push can fail, and the one place each is
//! turned into an HTTP status, headers and a one-line text body.

use std::time::Duration;

use http::header::{HeaderValue, ALLOW, CONTENT_TYPE, RETRY_AFTER};
use http::{Method, Response, StatusCode};

use super::GatewayBody;
use crate::codec::DecodeError;
use crate::format::{ContentCoding, UnsupportedMediaType};
use crate::grouping::GroupingError;
use crate::store::StoreError;
use crate::validate::InvalidPush;
use crate::BoxError;

/// Why a push was refused. Whatever the variant, nothing was stored.
///
/// [`status`](GatewayError::status) and
/// [`into_response`](GatewayError::into_response) map each variant to its
/// answer; the `Display` text is the body, one line saying what was wrong
/// and where.
///
/// | variant | status |
/// | --- | --- |
/// | [`NotFound`](GatewayError::NotFound) | 404 |
/// | [`MethodNotAllowed`](GatewayError::MethodNotAllowed) | 405, with `Allow` |
/// | [`PayloadTooLarge`](GatewayError::PayloadTooLarge) | 413 |
/// | [`UnsupportedMediaType`](GatewayError::UnsupportedMediaType), [`UnsupportedEncoding`](GatewayError::UnsupportedEncoding) | 415 |
/// | [`Grouping`](GatewayError::Grouping), [`Decompress`](GatewayError::Decompress), [`Decode`](GatewayError::Decode), [`Invalid`](GatewayError::Invalid), [`BodyRead`](GatewayError::BodyRead) | 400 |
/// | [`BodyTimeout`](GatewayError::BodyTimeout) | 408 |
/// | [`StoreTimeout`](GatewayError::StoreTimeout) | 504 |
/// | [`Store`](GatewayError::Store) | 400 for [`StoreError::Invalid`], 503 (with `Retry-After` when the store gave one) for overloaded, closed or unavailable, 507 for out of space, 413 for a store limit, else 500 |
/// | [`Service`](GatewayError::Service) | 500 |
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The path is not a push path (`.../metrics/job/<job>...`).
    #[error("not a push path: {path:?} (push to {prefix}/job/<job>{{/<label>/<value>}})")]
    NotFound {
        /// The request's path.
        path: String,
        /// What comes before `/job/<job>` in a push path (`/metrics`).
        prefix: String,
    },
    /// The method is not one the gateway answers.
    #[error("method {method} not allowed: push with POST or PUT, delete with DELETE")]
    MethodNotAllowed {
        /// The method of the request.
        method: Method,
        /// The methods that are allowed, for the `Allow` header.
        allow: &'static str,
    },
    /// The body, as sent or decompressed, is larger than the limit.
    #[error("{what} exceeds the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit, in bytes.
        limit: usize,
        /// Which size was over.
        what: TooLarge,
    },
    /// The `Content-Type` names no format the gateway decodes.
    #[error(transparent)]
    UnsupportedMediaType(#[from] UnsupportedMediaType),
    /// The `Content-Encoding` is not one the gateway decompresses.
    #[error("unsupported content encoding {encoding:?}: use {CODINGS}")]
    UnsupportedEncoding {
        /// The header's value.
        encoding: String,
    },
    /// The push path is not a valid grouping key.
    #[error(transparent)]
    Grouping(#[from] GroupingError),
    /// A request header the gateway reads has a value it cannot use.
    #[error("invalid {name} header: {reason}")]
    BadHeader {
        /// The header's name.
        name: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
    /// The body is not valid in its `Content-Encoding`.
    #[error("invalid {coding} body: {source}")]
    Decompress {
        /// The coding the body was decompressed with.
        coding: ContentCoding,
        /// What the decompressor said.
        source: std::io::Error,
    },
    /// The body is not valid in its format.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The families break a rule of pushed metrics.
    #[error(transparent)]
    Invalid(#[from] InvalidPush),
    /// Reading the body failed.
    #[error("error reading request body: {0}")]
    BodyRead(#[source] BoxError),
    /// The body had not arrived in full within the timeout.
    #[error("request body not received within {}", Secs(*timeout))]
    BodyTimeout {
        /// The timeout.
        timeout: Duration,
    },
    /// The store had not answered within the timeout.
    #[error("store did not answer within {}", Secs(*timeout))]
    StoreTimeout {
        /// The timeout.
        timeout: Duration,
    },
    /// The store refused the push.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The service in front of the store failed in a way that is not a
    /// [`StoreError`] (see [`from_service_error`](GatewayError::from_service_error)).
    #[error("store service failed: {0}")]
    Service(#[source] BoxError),
}

/// The codings this build decompresses, for the 415 message.
const CODINGS: &str = match (cfg!(feature = "zstd"), cfg!(feature = "snappy")) {
    (true, true) => "gzip, deflate, zstd or snappy",
    (true, false) => "gzip, deflate or zstd",
    (false, true) => "gzip, deflate or snappy",
    (false, false) => "gzip or deflate",
};

/// Which size of a request was over the limit
/// ([`GatewayError::PayloadTooLarge`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TooLarge {
    /// The `Content-Length` header declared this many bytes.
    ContentLength(u64),
    /// The body as read grew past the limit.
    Body,
    /// The body decompressed with this coding grew past the limit.
    Decompressed(ContentCoding),
}

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TooLarge::ContentLength(n) => write!(f, "request body of {n} bytes (Content-Length)"),
            TooLarge::Body => f.write_str("request body"),
            TooLarge::Decompressed(c) => write!(f, "{c}-decompressed request body"),
        }
    }
}

/// A duration as `10s` or `1.5s`.
struct Secs(Duration);

impl std::fmt::Display for Secs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}s", self.0.as_secs_f64())
    }
}

impl GatewayError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::NotFound { .. } => StatusCode::NOT_FOUND,
            GatewayError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            GatewayError::PayloadTooLarge { .. }
            | GatewayError::Store(StoreError::LimitExceeded(_)) => StatusCode::PAYLOAD_TOO_LARGE,
            GatewayError::UnsupportedMediaType(_) | GatewayError::UnsupportedEncoding { .. } => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            GatewayError::Grouping(_)
            | GatewayError::BadHeader { .. }
            | GatewayError::Decompress { .. }
            | GatewayError::Decode(_)
            | GatewayError::Invalid(_)
            | GatewayError::Store(StoreError::Invalid(_))
            | GatewayError::BodyRead(_) => StatusCode::BAD_REQUEST,
            GatewayError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            GatewayError::StoreTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            GatewayError::Store(
                StoreError::Overloaded { .. } | StoreError::Closed | StoreError::Unavailable { .. },
            ) => StatusCode::SERVICE_UNAVAILABLE,
            GatewayError::Store(StoreError::InsufficientStorage(_)) => {
                StatusCode::INSUFFICIENT_STORAGE
            }
            GatewayError::Store(_) | GatewayError::Service(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `outcome` label of `pushgate_pushes_total` for this error.
    pub fn outcome(&self) -> &'static str {
        match self {
            GatewayError::NotFound { .. } => "not_found",
            GatewayError::MethodNotAllowed { .. } => "method_not_allowed",
            GatewayError::PayloadTooLarge { .. } => "too_large",
            GatewayError::UnsupportedMediaType(_) | GatewayError::UnsupportedEncoding { .. } => {
                "unsupported_media_type"
            }
            GatewayError::Grouping(_)
            | GatewayError::BadHeader { .. }
            | GatewayError::Decompress { .. }
            | GatewayError::Decode(_)
            | GatewayError::Invalid(_)
            | GatewayError::Store(StoreError::Invalid(_))
            | GatewayError::BodyRead(_) => "bad_request",
            GatewayError::BodyTimeout { .. } => "body_timeout",
            GatewayError::StoreTimeout { .. } => "store_timeout",
            GatewayError::Store(
                StoreError::Overloaded { .. } | StoreError::Closed | StoreError::Unavailable { .. },
            ) => "store_unavailable",
            GatewayError::Store(StoreError::InsufficientStorage(_)) => "store_full",
            GatewayError::Store(StoreError::LimitExceeded(_)) => "store_limit",
            GatewayError::Store(_) | GatewayError::Service(_) => "store_failed",
        }
    }

    /// Every value [`outcome`](GatewayError::outcome) can return, and
    /// `stored`.
    pub const OUTCOMES: [&'static str; 12] = [
        "not_found",
        "method_not_allowed",
        "too_large",
        "unsupported_media_type",
        "bad_request",
        "body_timeout",
        "store_timeout",
        "store_unavailable",
        "store_full",
        "store_limit",
        "store_failed",
        "stored",
    ];

    /// The answer to the client: [`status`](GatewayError::status), `Allow`
    /// on 405, `Retry-After` (whole seconds, rounded up) when the store
    /// gave one, and the error's text on one line as a `text/plain` body.
    ///
    /// This is the function a stack of the gateway's layers around a
    /// service of one's own needs at its top (or use
    /// [`Respond`](super::respond::Respond), which calls it).
    pub fn into_response(self) -> Response<GatewayBody> {
        let mut line = self.to_string();
        // One line, whatever a store or decoder put in its message.
        if line.contains(['\n', '\r']) {
            line = line.replace(['\n', '\r'], " ");
        }
        line.push('\n');
        let mut response = Response::new(GatewayBody::from(line));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        match &self {
            GatewayError::MethodNotAllowed { allow, .. } => {
                headers.insert(ALLOW, HeaderValue::from_static(allow));
            }
            GatewayError::Store(store) if store.retry_after().is_some() => {
                let after = store.retry_after().unwrap_or_default();
                let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
                headers.insert(RETRY_AFTER, HeaderValue::from(secs));
            }
            _ => {}
        }
        response
    }

    /// The error of the service a push is handed to, as tower's middleware
    /// leaves it: a [`StoreError`] or `GatewayError` is taken back as it
    /// was; tower's `LoadShed` refusal and a closed `Buffer` are an
    /// unavailable store (503), tower's `Timeout` a slow one (504, with the
    /// duration unknown: zero); anything else is
    /// [`Service`](GatewayError::Service) (500).
    ///
    /// ```
    /// use pushgate::gateway::GatewayError;
    /// use pushgate::BoxError;
    ///
    /// let shed: BoxError = tower::load_shed::error::Overloaded::new().into();
    /// assert_eq!(GatewayError::from_service_error(shed).status(), http::StatusCode::SERVICE_UNAVAILABLE);
    /// ```
    pub fn from_service_error(error: impl Into<BoxError>) -> GatewayError {
        let error = error.into();
        let error = match error.downcast::<StoreError>() {
            Ok(store) => return GatewayError::Store(*store),
            Err(other) => other,
        };
        let error = match error.downcast::<GatewayError>() {
            Ok(own) => return *own,
            Err(other) => other,
        };
        if error.is::<tower::load_shed::error::Overloaded>() {
            GatewayError::Store(StoreError::Overloaded { retry_after: None })
        } else if error.is::<tower::buffer::error::Closed>() {
            GatewayError::Store(StoreError::Closed)
        } else if error.is::<tower::timeout::error::Elapsed>() {
            GatewayError::StoreTimeout {
                timeout: Duration::ZERO,
            }
        } else {
            GatewayError::Service(error)
        }
    }

    /// The error an HTTP body failed with: a `GatewayError` from one of the
    /// gateway's own body wrappers (a size limit, a decompressor) is taken
    /// back as it was; anything else is a [`BodyRead`](GatewayError::BodyRead).
    pub fn from_body_error(error: impl Into<BoxError>) -> GatewayError {
        match error.into().downcast::<GatewayError>() {
            Ok(own) => *own,
            Err(other) => GatewayError::BodyRead(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_text(r: Response<GatewayBody>) -> String {
        let bytes = r.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn overloaded_store_says_when_to_retry() {
        let e = GatewayError::Store(StoreError::Overloaded {
            retry_after: Some(Duration::from_millis(1500)),
        });
        assert_eq!(e.outcome(), "store_unavailable");
        let r = e.into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[RETRY_AFTER], "2");
        assert_eq!(body_text(r).await, "store overloaded\n");
    }

    #[tokio::test]
    async fn unavailable_and_full_stores_say_why() {
        let e = GatewayError::Store(StoreError::Unavailable {
            reason: "remote write to http://127.0.0.1:9090: connection refused".into(),
            retry_after: Some(Duration::from_secs(5)),
        });
        let r = e.into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[RETRY_AFTER], "5");
        assert_eq!(
            body_text(r).await,
            "store unavailable: remote write to http://127.0.0.1:9090: connection refused\n"
        );
        let e = GatewayError::Store(StoreError::InsufficientStorage(
            "segment 00000001.log: No space left on device".into(),
        ));
        assert_eq!(e.outcome(), "store_full");
        let r = e.into_response();
        assert_eq!(r.status(), StatusCode::INSUFFICIENT_STORAGE);
        assert!(r.headers().get(RETRY_AFTER).is_none());
        assert_eq!(
            body_text(r).await,
            "store out of space: segment 00000001.log: No space left on device\n"
        );
    }

    #[tokio::test]
    async fn bodies_are_one_line() {
        let e = GatewayError::Store(StoreError::failed("line one\nline two\r\n"));
        let r = e.into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(r.headers()[CONTENT_TYPE], "text/plain; charset=utf-8");
        let text = body_text(r).await;
        assert_eq!(text, "store failed: line one line two  \n");
    }

    #[test]
    fn timeouts_say_how_long() {
        let e = GatewayError::BodyTimeout {
            timeout: Duration::from_secs(10),
        };
        assert_eq!(e.to_string(), "request body not received within 10s");
        let e = GatewayError::StoreTimeout {
            timeout: Duration::from_millis(1500),
        };
        assert_eq!(e.to_string(), "store did not answer within 1.5s");
    }

    #[test]
    fn body_errors_keep_the_gateways_own() {
        let own = GatewayError::PayloadTooLarge {
            limit: 3,
            what: TooLarge::Body,
        };
        let back = GatewayError::from_body_error(own);
        assert!(matches!(
            back,
            GatewayError::PayloadTooLarge { limit: 3, .. }
        ));
        let other = GatewayError::from_body_error(std::io::Error::other("reset"));
        assert_eq!(other.to_string(), "error reading request body: reset");
        assert_eq!(other.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn service_errors_map_to_what_they_mean() {
        use tower::load_shed::error::Overloaded;
        let cases: Vec<(BoxError, StatusCode)> = vec![
            (
                Box::new(StoreError::Closed),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                Box::new(StoreError::invalid("clash")),
                StatusCode::BAD_REQUEST,
            ),
            (
                Box::new(StoreError::unavailable("remote down")),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                Box::new(StoreError::InsufficientStorage("disk full".into())),
                StatusCode::INSUFFICIENT_STORAGE,
            ),
            (Box::new(Overloaded::new()), StatusCode::SERVICE_UNAVAILABLE),
            (
                Box::new(tower::timeout::error::Elapsed::new()),
                StatusCode::GATEWAY_TIMEOUT,
            ),
            (
                Box::new(GatewayError::NotFound {
                    path: "/x".into(),
                    prefix: "/metrics".into(),
                }),
                StatusCode::NOT_FOUND,
            ),
            ("disk on fire".into(), StatusCode::INTERNAL_SERVER_ERROR),
        ];
        for (error, status) in cases {
            let text = error.to_string();
            assert_eq!(
                GatewayError::from_service_error(error).status(),
                status,
                "{text}"
            );
        }
        assert_eq!(
            GatewayError::from_service_error("disk on fire").to_string(),
            "store service failed: disk on fire"
        );
    }

    #[test]
    fn every_outcome_is_listed() {
        let errors = [
            GatewayError::NotFound {
                path: "/".into(),
                prefix: "/metrics".into(),
            },
            GatewayError::MethodNotAllowed {
                method: Method::PATCH,
                allow: "POST, PUT, DELETE",
            },
            GatewayError::PayloadTooLarge {
                limit: 1,
                what: TooLarge::Body,
            },
            GatewayError::UnsupportedEncoding {
                encoding: "br".into(),
            },
            GatewayError::BodyRead("x".into()),
            GatewayError::BodyTimeout {
                timeout: Duration::ZERO,
            },
            GatewayError::StoreTimeout {
                timeout: Duration::ZERO,
            },
            GatewayError::Store(StoreError::Closed),
            GatewayError::Store(StoreError::unavailable("x")),
            GatewayError::Store(StoreError::InsufficientStorage("x".into())),
            GatewayError::Store(StoreError::limit_exceeded("x")),
            GatewayError::Store(StoreError::failed("x")),
            GatewayError::Store(StoreError::invalid("x")),
            GatewayError::Service("x".into()),
        ];
        for e in errors {
            assert!(GatewayError::OUTCOMES.contains(&e.outcome()), "{e}");
        }
    }
}
