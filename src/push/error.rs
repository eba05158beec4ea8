//! [`PushError`], every way a push can fail, and [`BuildError`], every way
//! a pusher's configuration can be wrong.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use http::{Method, StatusCode};

use super::GatherError;
use crate::codec::EncodeError;
use crate::BoxError;

/// How many bytes of a refusal's body a [`PushError::Status`] keeps.
pub const BODY_PREFIX_LEN: usize = 512;

/// Why a push, put or delete failed. Its `Display` is one line.
///
/// [`Status`](PushError::Status), [`Transport`](PushError::Transport) and
/// [`Timeout`](PushError::Timeout) come from sending, and say how many
/// attempts were made; the others happen before anything is sent.
#[derive(Debug)]
#[non_exhaustive]
pub enum PushError {
    /// The gatherer failed; nothing was sent.
    Gather(GatherError),
    /// The families cannot be written in the pusher's format; nothing was
    /// sent.
    Encode(EncodeError),
    /// A metric carries a label of the grouping key (the gateway would
    /// overwrite it, so Go's client refuses too); nothing was sent.
    LabelCollision {
        /// The family of the metric.
        family: String,
        /// The label name (`job`, or another of the grouping key).
        label: String,
    },
    /// The timeout passed while gathering (`attempts == 0`) or sending.
    Timeout {
        /// The pusher's timeout.
        timeout: Duration,
        /// How many sends were started.
        attempts: u32,
    },
    /// The client service failed: no connection, TLS refused, connection
    /// lost, or whatever error a custom client's layers return.
    Transport {
        /// The request's method.
        method: Method,
        /// The request's URL.
        url: String,
        /// The client's error.
        source: BoxError,
        /// How many sends were made.
        attempts: u32,
    },
    /// The gateway answered with a status other than 2xx.
    Status {
        /// The request's method.
        method: Method,
        /// The request's URL.
        url: String,
        /// The status of the last answer.
        status: StatusCode,
        /// The first [`BODY_PREFIX_LEN`] bytes of its body, as (lossy)
        /// UTF-8, trailing whitespace trimmed: the gateway's reason.
        body: String,
        /// Its `Retry-After`, if it had one that could be read.
        retry_after: Option<Duration>,
        /// How many sends were made.
        attempts: u32,
    },
}

impl PushError {
    /// The gateway's status, for [`PushError::Status`].
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            PushError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether sending again might succeed: transport errors, timeouts,
    /// 429 and 5xx.
    pub fn is_retryable(&self) -> bool {
        match self {
            PushError::Transport { .. } | PushError::Timeout { .. } => true,
            PushError::Status { status, .. } => crate::client::is_retryable_status(*status),
            _ => false,
        }
    }

    /// Sets the attempt count of a sending error.
    pub(crate) fn with_attempts(mut self, n: u32) -> PushError {
        match &mut self {
            PushError::Transport { attempts, .. }
            | PushError::Status { attempts, .. }
            | PushError::Timeout { attempts, .. } => *attempts = n,
            _ => {}
        }
        self
    }
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::Gather(e) => write!(f, "gathering metrics failed: {e}"),
            PushError::Encode(e) => write!(f, "encoding metrics failed: {e}"),
            PushError::LabelCollision { family, label } => write!(
                f,
                "pushed metric {family} already has grouping label {label}: leave it to the grouping key"
            ),
            PushError::Timeout {
                timeout,
                attempts: 0,
            } => write!(
                f,
                "push timed out after {}s while gathering metrics",
                timeout.as_secs_f64()
            ),
            PushError::Timeout { timeout, attempts } => write!(
                f,
                "push timed out after {}s ({})",
                timeout.as_secs_f64(),
                Attempts(*attempts)
            ),
            PushError::Transport {
                method,
                url,
                source,
                attempts,
            } => {
                write!(f, "{method} {url} failed ({}): ", Attempts(*attempts))?;
                write_chain(f, source.as_ref())
            }
            PushError::Status {
                method,
                url,
                status,
                body,
                attempts,
                ..
            } => {
                write!(f, "{method} {url} answered {status}")?;
                if *attempts > 1 {
                    write!(f, " ({})", Attempts(*attempts))?;
                }
                if !body.is_empty() {
                    // One line, whatever the body.
                    f.write_str(": ")?;
                    for c in body.chars() {
                        let c = if c.is_control() { ' ' } else { c };
                        fmt::Write::write_char(f, c)?;
                    }
                }
                Ok(())
            }
        }
    }
}

impl StdError for PushError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            PushError::Gather(e) => Some(e),
            PushError::Encode(e) => Some(e),
            // A transport error's chain is in the message already; the
            // error itself is in its `source` field.
            _ => None,
        }
    }
}

struct Attempts(u32);

impl fmt::Display for Attempts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            1 => f.write_str("1 attempt"),
            n => write!(f, "{n} attempts"),
        }
    }
}

/// Writes `error` and its sources, `: `-separated, skipping a source whose
/// text its parent already ends with (hyper's errors repeat theirs).
fn write_chain(f: &mut fmt::Formatter<'_>, error: &(dyn StdError + 'static)) -> fmt::Result {
    let mut last = error.to_string();
    f.write_str(&last)?;
    let mut next = error.source();
    while let Some(e) = next {
        let text = e.to_string();
        if !last.ends_with(&text) {
            write!(f, ": {text}")?;
        }
        last = text;
        next = e.source();
    }
    Ok(())
}

/// Why a [`PusherBuilder`](super::PusherBuilder) could not build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The gateway URL does not parse.
    #[error("invalid gateway URL {url:?}: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The gateway URL is neither `http` nor `https`.
    #[error("unsupported scheme in gateway URL {url:?}: use http or https")]
    Scheme {
        /// The URL as given.
        url: String,
    },
    /// The gateway URL has a `user:password@` part.
    #[error("credentials in gateway URL: use basic_auth instead")]
    Credentials,
    /// A job was set on a URL whose path has a grouping key already.
    #[error("gateway URL {url:?} has a grouping key already: give the base URL with job()")]
    GroupingInUrl {
        /// The URL as given.
        url: String,
    },
    /// The URL's own grouping key does not parse.
    #[error("gateway URL {url:?}: {reason}")]
    UrlGrouping {
        /// The URL as given.
        url: String,
        /// What the gateway's parser said.
        reason: String,
    },
    /// The job is empty.
    #[error("job name is empty")]
    EmptyJob,
    /// Grouping labels without a job.
    #[error("grouping label {name:?} set without a job")]
    GroupingWithoutJob {
        /// The first label set.
        name: String,
    },
    /// A grouping label name is not `[a-zA-Z_][a-zA-Z0-9_]*`, starts with
    /// `__`, or is `job`.
    #[error("grouping label has invalid name {name:?}")]
    LabelName {
        /// The name.
        name: String,
    },
    /// A header name or value is invalid.
    #[error("invalid header {name:?}")]
    Header {
        /// The name as given (or as much of it as is text).
        name: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_is_one_line() {
        let status = PushError::Status {
            method: Method::PUT,
            url: "http://gw/metrics/job/j".into(),
            status: StatusCode::BAD_REQUEST,
            body: "line one\nline two".into(),
            retry_after: None,
            attempts: 1,
        };
        assert_eq!(
            status.to_string(),
            "PUT http://gw/metrics/job/j answered 400 Bad Request: line one line two"
        );
        let status = PushError::Status {
            method: Method::POST,
            url: "http://gw/".into(),
            status: StatusCode::SERVICE_UNAVAILABLE,
            body: String::new(),
            retry_after: None,
            attempts: 3,
        };
        assert_eq!(
            status.to_string(),
            "POST http://gw/ answered 503 Service Unavailable (3 attempts)"
        );
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let transport = PushError::Transport {
            method: Method::POST,
            url: "http://gw/".into(),
            source: Box::new(Outer(io)),
            attempts: 2,
        };
        assert_eq!(
            transport.to_string(),
            "POST http://gw/ failed (2 attempts): connect: refused"
        );
        let timeout = PushError::Timeout {
            timeout: Duration::from_millis(1500),
            attempts: 0,
        };
        assert_eq!(
            timeout.to_string(),
            "push timed out after 1.5s while gathering metrics"
        );
        assert_eq!(
            timeout.with_attempts(1).to_string(),
            "push timed out after 1.5s (1 attempt)"
        );
        let collision = PushError::LabelCollision {
            family: "up".into(),
            label: "job".into(),
        };
        assert_eq!(
            collision.to_string(),
            "pushed metric up already has grouping label job: leave it to the grouping key"
        );
        assert!(!collision.is_retryable());
    }

    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("connect")
        }
    }
    impl StdError for Outer {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }
}
