//! The grouping key of a push: the labels in its path,
//! `/metrics/job/<job>{/<label>/<value>}`, and the [`PushMethod`] that says
//! what to do with the group. Both sides use it: the gateway
//! [parses](parse) the key out of a request's path, the pusher
//! [writes](path) it into a URL.
//!
//! # Reading a key
//!
//! As the Prometheus Pushgateway reads it:
//!
//! * the path is percent-decoded first, then split at `/` (so `%2F` is a
//!   separator too, as in the Pushgateway: a value with a `/` needs base64);
//! * `<label>@base64/<value>` (and `job@base64/<job>`) means the value is
//!   URL-safe base64 (RFC 4648 §5), padding optional; a lone `=` is the
//!   empty value;
//! * label names follow Prometheus rules and may not start with `__`;
//! * the job may not be empty.
//!
//! The key starts at the first `/metrics/job` in the path, wherever that
//! is: a gateway mounted under `/ingest` (axum's `nest_service` strips the
//! prefix, `route_service` does not) reads `/ingest/metrics/job/a` as job
//! `a`. Another prefix than `/metrics` can be given to
//! [`parse_with_prefix`]. A path without the prefix and `/job` is not a push
//! path at all: [`parse`] answers `Ok(None)`, and the gateway 404.
//!
//! Where the Pushgateway is lax, this is strict and says why: a repeated
//! label name (the Pushgateway keeps the last, and silently lets the job win
//! over a `job` label), an empty plain value (`a//b`, which its router
//! collapses) and values that are not UTF-8 are errors. A single trailing
//! `/` is allowed.
//!
//! ```
//! use pushgate::grouping;
//! use pushgate::model::LabelPair;
//!
//! let key = grouping::parse("/metrics/job/backup/path@base64/L3Zhci90bXA/empty@base64/=").unwrap();
//! assert_eq!(key.unwrap(), [
//!     LabelPair::new("job", "backup"),
//!     LabelPair::new("path", "/var/tmp"),
//!     LabelPair::new("empty", ""),
//! ]);
//! assert!(grouping::parse("/metrics/job/backup/instance").is_err());
//! assert_eq!(grouping::parse("/push"), Ok(None));
//! // Mounted under a prefix of the app's own:
//! let key = grouping::parse("/ingest/metrics/job/backup").unwrap().unwrap();
//! assert_eq!(key[0].value(), "backup");
//! ```
//!
//! # Writing a key
//!
//! [`path`] puts each value into one path segment, written as Go's and
//! Python's clients write it:
//!
//! * an empty value is `<label>@base64/=` (a path cannot hold an empty
//!   segment);
//! * a value with a `/` is `<label>@base64/<value in URL-safe base64>`
//!   (the Pushgateway splits the path *after* percent-decoding, so `%2F`
//!   would not do);
//! * so is a value with a space: Go's `url.QueryEscape` and Python's
//!   `quote_plus` write it as `+`, which a path does not decode back to a
//!   space (the Pushgateway stores `value+with+spaces`);
//! * so are `.` and `..`, which URL normalisation (and Go's `ServeMux`)
//!   would remove from the path;
//! * any other value is percent-encoded byte by byte, keeping RFC 3986's
//!   unreserved characters (`A-Z a-z 0-9 - . _ ~`), so what is readable in
//!   the value stays readable in the URL.
//!
//! ```
//! use pushgate::grouping;
//!
//! assert_eq!(
//!     grouping::path("backup", [("path", "/var/tmp"), ("zone", "eu 1"), ("empty", ""), ("host", "db:1")]),
//!     "/metrics/job/backup/path@base64/L3Zhci90bXA/zone@base64/ZXUgMQ/empty@base64/=/host/db%3A1"
//! );
//! ```

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use crate::b64;
use crate::model::name::is_label_name;
use crate::model::{LabelPair, Str};

/// The suffix that marks a base64 value.
pub const BASE64_SUFFIX: &str = "@base64";

/// What comes before `/job/<job>` in a push path, as the Pushgateway has it.
pub const DEFAULT_PREFIX: &str = "/metrics";

/// What a request asks of its group: the Pushgateway's `POST` (replace the
/// families pushed), `PUT` (replace the whole group) or `DELETE` (remove the
/// group).
///
/// Stores that keep groups act on it; append-only stores record it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PushMethod {
    /// `POST`: replace the pushed families within the grouping key.
    Post,
    /// `PUT`: replace everything within the grouping key.
    Put,
    /// `DELETE`: remove everything within the grouping key. Carries no
    /// families.
    Delete,
}

impl PushMethod {
    /// The push method of an HTTP method, if it is one.
    ///
    /// ```
    /// use pushgate::grouping::PushMethod;
    ///
    /// assert_eq!(PushMethod::from_http(&http::Method::DELETE), Some(PushMethod::Delete));
    /// assert_eq!(PushMethod::from_http(&http::Method::GET), None);
    /// ```
    pub fn from_http(method: &http::Method) -> Option<PushMethod> {
        match *method {
            http::Method::POST => Some(PushMethod::Post),
            http::Method::PUT => Some(PushMethod::Put),
            http::Method::DELETE => Some(PushMethod::Delete),
            _ => None,
        }
    }

    /// The HTTP method.
    pub fn to_http(self) -> http::Method {
        match self {
            PushMethod::Post => http::Method::POST,
            PushMethod::Put => http::Method::PUT,
            PushMethod::Delete => http::Method::DELETE,
        }
    }

    /// `"POST"`, `"PUT"` or `"DELETE"`.
    pub fn as_str(self) -> &'static str {
        match self {
            PushMethod::Post => "POST",
            PushMethod::Put => "PUT",
            PushMethod::Delete => "DELETE",
        }
    }
}

impl fmt::Display for PushMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A grouping key written as `{job="a",instance="b"}`, for logs and
/// messages.
///
/// ```
/// use pushgate::grouping::Display;
/// use pushgate::model::LabelPair;
///
/// let key = [LabelPair::new("job", "a"), LabelPair::new("path", "/x")];
/// assert_eq!(Display(&key).to_string(), "{job=\"a\",path=\"/x\"}");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Display<'a>(pub &'a [LabelPair]);

impl fmt::Display for Display<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, l) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}={:?}", l.name(), l.value())?;
        }
        f.write_str("}")
    }
}

/// A push path that is not a valid grouping key (HTTP 400).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupingError {
    /// A `%` not followed by two hex digits.
    #[error("invalid percent-encoding in path at byte {offset}")]
    PercentEncoding {
        /// Byte offset of the `%` in the path.
        offset: usize,
    },
    /// The percent-decoded path is not UTF-8.
    #[error("path is not UTF-8 after percent-decoding")]
    NotUtf8,
    /// `/metrics/job` without a job, or an empty job.
    #[error("job name is required: push to /metrics/job/<job>")]
    MissingJob,
    /// A label name without a value.
    #[error("missing value for label {name:?} in path (use {name}@base64/= for an empty value)")]
    MissingValue {
        /// The label name.
        name: String,
    },
    /// A plain empty value (`a//b`).
    #[error("empty value for label {name:?} in path (use {name}@base64/= for an empty value)")]
    EmptyValue {
        /// The label name.
        name: String,
    },
    /// A label name that is not `[a-zA-Z_][a-zA-Z0-9_]*` or starts with `__`.
    #[error("improper label name {name:?} in path")]
    LabelName {
        /// The label name.
        name: String,
    },
    /// A label name given twice (or `job` again).
    #[error("label {name:?} given twice in path")]
    RepeatedLabel {
        /// The label name.
        name: String,
    },
    /// A `@base64` value that is not URL-safe base64.
    #[error("invalid base64 encoding for label {name}={value:?} in path")]
    Base64 {
        /// The label name (`job` for the job).
        name: String,
        /// The encoded value.
        value: String,
    },
    /// A `@base64` value that does not decode to UTF-8.
    #[error("base64 value of label {name} in path is not UTF-8")]
    Base64NotUtf8 {
        /// The label name.
        name: String,
    },
}

/// The grouping key of a push to `path` (the request URI's path, without
/// the query): `job` first, then the labels in path order. `Ok(None)` when
/// the path holds no `/metrics/job`: it is not a push path.
pub fn parse(path: &str) -> Result<Option<Vec<LabelPair>>, GroupingError> {
    parse_with_prefix(path, DEFAULT_PREFIX)
}

/// As [`parse`], for push paths of the form `<prefix>/job/<job>...`
/// (`prefix` is [`DEFAULT_PREFIX`] for the Pushgateway's paths; it may be
/// empty, for `/job/<job>...`).
pub fn parse_with_prefix(
    path: &str,
    prefix: &str,
) -> Result<Option<Vec<LabelPair>>, GroupingError> {
    let decoded = percent_decode(path)?;
    let Some(rest) = after_marker(&decoded, prefix) else {
        return Ok(None);
    };
    let (job_base64, rest) = match rest.strip_prefix(BASE64_SUFFIX) {
        Some(rest) => (true, rest),
        None => (false, rest),
    };
    let rest = match rest.strip_prefix('/') {
        Some(rest) => rest,
        None => return Err(GroupingError::MissingJob),
    };
    let mut segments = rest.split('/');
    let job = segments.next().unwrap_or("");
    let job = if job_base64 {
        decode_base64_value("job", job)?
    } else {
        Str::from(job)
    };
    if job.is_empty() {
        return Err(GroupingError::MissingJob);
    }
    let mut labels = vec![LabelPair {
        name: Some(Str::from_static("job")),
        value: Some(job),
    }];
    let segments: Vec<&str> = segments.collect();
    // One trailing `/` is allowed: `/metrics/job/a/` and `/metrics/job/a/b/c/`.
    let segments = match segments.split_last() {
        Some((&"", init)) => init,
        _ => &segments[..],
    };
    for pair in segments.chunks(2) {
        labels.push(label(pair, &labels)?);
    }
    Ok(Some(labels))
}

/// What follows the first `<prefix>/job` in `path` that ends a segment
/// (followed by `/`, `@base64` and a `/`, or nothing).
fn after_marker<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let mut from = 0;
    loop {
        let at = from + path[from..].find(prefix)?;
        let rest = path[at + prefix.len()..].strip_prefix("/job");
        // The prefix must start a segment: at the start, or after a `/`
        // (an empty one is followed by `/job`, which starts one).
        let starts_segment =
            prefix.is_empty() || prefix.starts_with('/') || at == 0 || path[..at].ends_with('/');
        if let (Some(rest), true) = (rest, starts_segment) {
            let base64 = rest.strip_prefix(BASE64_SUFFIX);
            let ends_segment = |r: &str| r.is_empty() || r.starts_with('/');
            if ends_segment(rest) || base64.is_some_and(ends_segment) {
                return Some(rest);
            }
        }
        from = at + prefix.len().max(1);
        if from > path.len() {
            return None;
        }
        // Step to a character boundary: `find` matches only on them.
        while !path.is_char_boundary(from) {
            from += 1;
        }
    }
}

/// One `<name>/<value>` or `<name>@base64/<value>` pair of segments.
fn label(pair: &[&str], seen: &[LabelPair]) -> Result<LabelPair, GroupingError> {
    let raw_name = pair[0];
    let (name, base64) = match raw_name.strip_suffix(BASE64_SUFFIX) {
        Some(name) => (name, true),
        None => (raw_name, false),
    };
    if !is_label_name(name) || name.starts_with("__") {
        return Err(GroupingError::LabelName { name: name.into() });
    }
    let Some(&value) = pair.get(1) else {
        return Err(GroupingError::MissingValue { name: name.into() });
    };
    let value = if base64 {
        decode_base64_value(name, value)?
    } else if value.is_empty() {
        return Err(GroupingError::EmptyValue { name: name.into() });
    } else {
        Str::from(value)
    };
    if seen.iter().any(|l| l.name() == name) {
        return Err(GroupingError::RepeatedLabel { name: name.into() });
    }
    Ok(LabelPair {
        name: Some(Str::from(name)),
        value: Some(value),
    })
}

/// Percent-decodes `path`, borrowing when there is nothing to decode.
pub(crate) fn percent_decode(path: &str) -> Result<Cow<'_, str>, GroupingError> {
    if !path.contains('%') {
        return Ok(Cow::Borrowed(path));
    }
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = |j: usize| bytes.get(j).and_then(|&b| (b as char).to_digit(16));
            match (hex(i + 1), hex(i + 2)) {
                (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                _ => return Err(GroupingError::PercentEncoding { offset: i }),
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| GroupingError::NotUtf8)
}

/// Decodes a `@base64` value of label `name`.
fn decode_base64_value(name: &str, value: &str) -> Result<Str, GroupingError> {
    let bytes = crate::b64::decode_url(value).ok_or_else(|| GroupingError::Base64 {
        name: name.into(),
        value: value.into(),
    })?;
    String::from_utf8(bytes)
        .map(Str::from)
        .map_err(|_| GroupingError::Base64NotUtf8 { name: name.into() })
}

/// The push path of the grouping key `job` plus `labels`, in the order
/// given. Label names are written as they are: the
/// pusher's builder checks them.
pub fn path<'a>(job: &str, labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::from("/metrics");
    push_pair(&mut out, "job", job);
    for (name, value) in labels {
        push_pair(&mut out, name, value);
    }
    out
}

/// Appends `/<name>/<value>` or `/<name>@base64/<value in base64>`.
fn push_pair(out: &mut String, name: &str, value: &str) {
    out.push('/');
    out.push_str(name);
    if value.is_empty() {
        // The Pushgateway's spelling of the empty value: padding alone.
        out.push_str(BASE64_SUFFIX);
        out.push_str("/=");
    } else if needs_base64(value) {
        out.push_str(BASE64_SUFFIX);
        out.push('/');
        out.push_str(&b64::encode_url(value.as_bytes()));
    } else {
        out.push('/');
        percent_encode(out, value);
    }
}

/// Whether `value` cannot travel percent-encoded (see the module docs).
fn needs_base64(value: &str) -> bool {
    value.contains(['/', ' ']) || value == "." || value == ".."
}

/// Appends `value` with every byte but RFC 3986's unreserved ones as `%XX`.
fn percent_encode(out: &mut String, value: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in value.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}

/// The request header by which a push asks a gateway that keeps groups to
/// drop its group this long after the push, unless pushed again: seconds
/// (`300`) or a number with a unit, `ms`, `s`, `m`, `h` or `d` (`5m`,
/// `1.5h`). See [`parse_ttl`].
pub const TTL_HEADER: &str = "pushgate-ttl";

/// Reads a [`TTL_HEADER`] value.
///
/// ```
/// use std::time::Duration;
/// use pushgate::grouping::parse_ttl;
///
/// assert_eq!(parse_ttl("300"), Ok(Duration::from_secs(300)));
/// assert_eq!(parse_ttl("1.5h"), Ok(Duration::from_secs(5400)));
/// assert!(parse_ttl("0s").is_err());
/// assert!(parse_ttl("soon").is_err());
/// ```
pub fn parse_ttl(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    let ttl = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        let seconds: u64 = value
            .parse()
            .map_err(|_| format!("{value:?} is out of range"))?;
        Duration::from_secs(seconds)
    } else {
        crate::time::parse_duration(value)?
    };
    // At least a millisecond, at most ten years: anything else is a typo.
    if !(Duration::from_millis(1)..=Duration::from_secs(315_360_000)).contains(&ttl) {
        return Err(format!("{value:?} is not between 1ms and 10 years"));
    }
    Ok(ttl)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The key of a path that must be a push path.
    fn from_path(path: &str) -> Result<Vec<LabelPair>, GroupingError> {
        parse(path).map(|key| key.unwrap_or_else(|| panic!("{path} is not a push path")))
    }

    fn key(path: &str) -> Vec<(String, String)> {
        from_path(path)
            .unwrap()
            .into_iter()
            .map(|l| (l.name().to_owned(), l.value().to_owned()))
            .collect()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn job_and_labels_in_path_order() {
        assert_eq!(key("/metrics/job/batch"), pairs(&[("job", "batch")]));
        assert_eq!(
            key("/metrics/job/batch/instance/host1/zone/a"),
            pairs(&[("job", "batch"), ("instance", "host1"), ("zone", "a")])
        );
    }

    #[test]
    fn one_trailing_slash_is_allowed() {
        assert_eq!(key("/metrics/job/batch/"), pairs(&[("job", "batch")]));
        assert_eq!(
            key("/metrics/job/batch/a/1/"),
            pairs(&[("job", "batch"), ("a", "1")])
        );
    }

    #[test]
    fn other_paths_are_not_push_paths() {
        for p in [
            "/",
            "/push",
            "/metrics",
            "/metrics/jobs/x",
            "/metrics/job@base64x/y",
            "/xmetrics/job/a",
            "/metrics/jobx",
        ] {
            assert_eq!(parse(p), Ok(None), "{p}");
        }
    }

    #[test]
    fn the_key_is_found_wherever_the_gateway_is_mounted() {
        for p in [
            "/metrics/job/batch/a/1",
            "/ingest/metrics/job/batch/a/1",
            "/api/v1/metrics/job/batch/a/1/",
            "/jobs/metrics/jobs/metrics/job/batch/a/1",
        ] {
            assert_eq!(key(p), pairs(&[("job", "batch"), ("a", "1")]), "{p}");
        }
        // The first `/metrics/job` starts the key.
        assert_eq!(
            from_path("/metrics/job/metrics/job/x"),
            Err(GroupingError::RepeatedLabel { name: "job".into() })
        );
    }

    #[test]
    fn another_prefix() {
        let key = |p: &str, prefix: &str| {
            parse_with_prefix(p, prefix).map(|k| {
                k.map(|k| {
                    k.iter()
                        .map(|l| (l.name().to_owned(), l.value().to_owned()))
                        .collect::<Vec<_>>()
                })
            })
        };
        assert_eq!(
            key("/push/job/a/b/c", "/push"),
            Ok(Some(pairs(&[("job", "a"), ("b", "c")])))
        );
        assert_eq!(
            key("/x/push/job@base64/YQ", "/push"),
            Ok(Some(pairs(&[("job", "a")])))
        );
        assert_eq!(key("/metrics/job/a", "/push"), Ok(None));
        assert_eq!(key("/push/job", "/push"), Err(GroupingError::MissingJob));
        // An empty prefix: `/job/<job>` anywhere.
        assert_eq!(key("/job/a", ""), Ok(Some(pairs(&[("job", "a")]))));
        assert_eq!(key("/x/job/a", ""), Ok(Some(pairs(&[("job", "a")]))));
        assert_eq!(key("/xjob/a", ""), Ok(None));
        // A prefix without a leading `/` must still start a segment.
        assert_eq!(key("/api/job/a", "api"), Ok(Some(pairs(&[("job", "a")]))));
        assert_eq!(key("/xapi/job/a", "api"), Ok(None));
        assert_eq!(key("/ü/api/job/a", "api"), Ok(Some(pairs(&[("job", "a")]))));
    }

    #[test]
    fn push_methods() {
        for (http, method) in [
            (http::Method::POST, PushMethod::Post),
            (http::Method::PUT, PushMethod::Put),
            (http::Method::DELETE, PushMethod::Delete),
        ] {
            assert_eq!(PushMethod::from_http(&http), Some(method));
            assert_eq!(method.to_http(), http);
            assert_eq!(method.to_string(), http.as_str());
        }
        assert_eq!(PushMethod::from_http(&http::Method::GET), None);
    }

    #[test]
    fn base64_values_as_the_pushgateway_documents() {
        // The README's examples.
        assert_eq!(
            key("/metrics/job/directory_cleaner/path@base64/L3Zhci90bXA"),
            pairs(&[("job", "directory_cleaner"), ("path", "/var/tmp")])
        );
        assert_eq!(
            key("/metrics/job/example/first_label@base64/=/second_label/foobar"),
            pairs(&[
                ("job", "example"),
                ("first_label", ""),
                ("second_label", "foobar")
            ])
        );
        assert_eq!(
            key("/metrics/job/titan/name@base64/zqDPgc6_zrzOt864zrXPjc-C"),
            pairs(&[("job", "titan"), ("name", "Προμηθεύς")])
        );
        // Padding is optional; `==` is fine too.
        assert_eq!(
            key("/metrics/job/j/a@base64/YQ"),
            pairs(&[("job", "j"), ("a", "a")])
        );
        assert_eq!(
            key("/metrics/job/j/a@base64/YQ=="),
            pairs(&[("job", "j"), ("a", "a")])
        );
        assert_eq!(
            key("/metrics/job/j/a@base64/YWI"),
            pairs(&[("job", "j"), ("a", "ab")])
        );
        assert_eq!(
            key("/metrics/job/j/a@base64/YWJj"),
            pairs(&[("job", "j"), ("a", "abc")])
        );
    }

    #[test]
    fn job_may_be_base64() {
        assert_eq!(
            key("/metrics/job@base64/L2pvYi94"),
            pairs(&[("job", "/job/x")])
        );
        assert_eq!(
            from_path("/metrics/job@base64/="),
            Err(GroupingError::MissingJob)
        );
    }

    #[test]
    fn percent_encoding_is_decoded() {
        // The README's example, URI-encoded.
        assert_eq!(
            key("/metrics/job/titan/name/%CE%A0%CF%81%CE%BF%CE%BC%CE%B7%CE%B8%CE%B5%CF%8D%CF%82"),
            pairs(&[("job", "titan"), ("name", "Προμηθεύς")])
        );
        assert_eq!(key("/metrics/job/a%20b"), pairs(&[("job", "a b")]));
        // `+` is not a space in a path.
        assert_eq!(key("/metrics/job/a+b"), pairs(&[("job", "a+b")]));
        // As in the Pushgateway, an encoded `/` separates too.
        assert_eq!(
            key("/metrics/job/a%2Fx/y"),
            pairs(&[("job", "a"), ("x", "y")])
        );
        assert_eq!(
            from_path("/metrics/job/a%2"),
            Err(GroupingError::PercentEncoding { offset: 14 })
        );
        assert_eq!(
            from_path("/metrics/job/a%zz"),
            Err(GroupingError::PercentEncoding { offset: 14 })
        );
        assert_eq!(from_path("/metrics/job/%ff"), Err(GroupingError::NotUtf8));
    }

    #[test]
    fn missing_job_or_value() {
        for p in [
            "/metrics/job",
            "/metrics/job/",
            "/metrics/job@base64",
            "/metrics/job//a/b",
        ] {
            assert_eq!(from_path(p), Err(GroupingError::MissingJob), "{p}");
        }
        let e = from_path("/metrics/job/batch/instance").unwrap_err();
        assert_eq!(
            e,
            GroupingError::MissingValue {
                name: "instance".into()
            }
        );
        assert_eq!(
            e.to_string(),
            "missing value for label \"instance\" in path (use instance@base64/= for an empty value)"
        );
        assert_eq!(
            from_path("/metrics/job/batch/a@base64"),
            Err(GroupingError::MissingValue { name: "a".into() })
        );
        assert_eq!(
            from_path("/metrics/job/batch/a//b/c"),
            Err(GroupingError::EmptyValue { name: "a".into() })
        );
    }

    #[test]
    fn bad_label_names() {
        for (p, name) in [
            ("/metrics/job/j/1a/x", "1a"),
            ("/metrics/job/j/a-b/x", "a-b"),
            ("/metrics/job/j/__name__/x", "__name__"),
            ("/metrics/job/j//x", ""),
            ("/metrics/job/j/@base64/x", ""),
        ] {
            assert_eq!(
                from_path(p),
                Err(GroupingError::LabelName { name: name.into() }),
                "{p}"
            );
        }
        assert_eq!(
            from_path("/metrics/job/j/a/1/a/2"),
            Err(GroupingError::RepeatedLabel { name: "a".into() })
        );
        assert_eq!(
            from_path("/metrics/job/j/job/k"),
            Err(GroupingError::RepeatedLabel { name: "job".into() })
        );
    }

    #[test]
    fn bad_base64() {
        for v in ["a", "a$", "YQ.", "Y Q", "YQ+A"] {
            let p = format!("/metrics/job/j/l@base64/{v}");
            assert_eq!(
                from_path(&p),
                Err(GroupingError::Base64 {
                    name: "l".into(),
                    value: v.into()
                }),
                "{v}"
            );
        }
        assert_eq!(
            from_path("/metrics/job@base64/!").unwrap_err().to_string(),
            "invalid base64 encoding for label job=\"!\" in path"
        );
        // 0xff is no UTF-8.
        assert_eq!(
            from_path("/metrics/job/j/l@base64/_w"),
            Err(GroupingError::Base64NotUtf8 { name: "l".into() })
        );
    }

    // Writing keys.

    #[test]
    fn encodings_as_go_and_python_clients_write_them() {
        // (job, labels, path): the cases of Go's push_test.go and Python's
        // test_exposition.py, and where this differs from both (spaces).
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            ("testjob", &[], "/metrics/job/testjob"),
            (
                "testjob",
                &[("a", "x"), ("b", "y")],
                "/metrics/job/testjob/a/x/b/y",
            ),
            // A `/` anywhere, in the job too: base64 without padding.
            ("test/job", &[], "/metrics/job@base64/dGVzdC9qb2I"),
            (
                "testjob",
                &[("a", "x/y")],
                "/metrics/job/testjob/a@base64/eC95",
            ),
            (
                "directory_cleaner",
                &[("path", "/var/tmp")],
                "/metrics/job/directory_cleaner/path@base64/L3Zhci90bXA",
            ),
            // Empty values: `=` alone.
            (
                "example",
                &[("first_label", ""), ("second_label", "foobar")],
                "/metrics/job/example/first_label@base64/=/second_label/foobar",
            ),
            ("", &[], "/metrics/job@base64/="),
            // URL-safe alphabet: `-` and `_`, never `+` and `/`.
            ("j", &[("a", "/?>")], "/metrics/job/j/a@base64/Lz8-"),
            ("j", &[("a", "/\u{fff}")], "/metrics/job/j/a@base64/L-C_vw"),
            // Spaces: base64 where Go writes `+` and Python `+`.
            ("j", &[("a", "b c")], "/metrics/job/j/a@base64/YiBj"),
            ("my job", &[], "/metrics/job@base64/bXkgam9i"),
            // Dot segments would be normalised away.
            (
                "j",
                &[("a", "."), ("b", "..")],
                "/metrics/job/j/a@base64/Lg/b@base64/Li4",
            ),
            ("j", &[("a", "...")], "/metrics/job/j/a/..."),
            // Everything else: percent-encoding, unreserved kept.
            ("j", &[("a", "b+c")], "/metrics/job/j/a/b%2Bc"),
            ("j", &[("a", "x?y#z%")], "/metrics/job/j/a/x%3Fy%23z%25"),
            (
                "j",
                &[("instance", "host:9100")],
                "/metrics/job/j/instance/host%3A9100",
            ),
            ("j", &[("a", "A-z_0.9~")], "/metrics/job/j/a/A-z_0.9~"),
            (
                "titan",
                &[("name", "Προμηθεύς")],
                "/metrics/job/titan/name/%CE%A0%CF%81%CE%BF%CE%BC%CE%B7%CE%B8%CE%B5%CF%8D%CF%82",
            ),
            ("j", &[("a", "x@base64")], "/metrics/job/j/a/x%40base64"),
        ];
        for (job, labels, want) in cases {
            assert_eq!(
                &path(job, labels.iter().copied()),
                want,
                "{job:?} {labels:?}"
            );
        }
    }

    #[test]
    fn what_is_written_is_what_the_gateway_reads() {
        let p = path("a/b", [("c", ""), ("d", "e f"), ("g", "ü%")]);
        let key = from_path(&p).unwrap();
        let key: Vec<(&str, &str)> = key.iter().map(|l| (l.name(), l.value())).collect();
        assert_eq!(key, [("job", "a/b"), ("c", ""), ("d", "e f"), ("g", "ü%")]);
    }

    fn label_name() -> impl Strategy<Value = String> {
        "[a-zA-Z][a-zA-Z0-9_]{0,8}".prop_filter("job is the job", |n| n != "job")
    }

    proptest! {
        /// Whatever the job and values (any Unicode), the gateway's parser
        /// reads back the key the pusher wrote.
        #[test]
        fn round_trips_through_the_gateway_parser(
            job in "\\PC{1,12}|[ ./]{1,3}",
            labels in proptest::collection::vec((label_name(), "\\PC{0,12}|[ ./%+]{0,3}"), 0..5),
        ) {
            let mut labels = labels;
            // Names must be distinct, as the builder ensures.
            let mut seen = std::collections::HashSet::new();
            labels.retain(|(n, _)| seen.insert(n.clone()));
            let p = path(&job, labels.iter().map(|(n, v)| (n.as_str(), v.as_str())));
            let key = from_path(&p).map_err(|e| TestCaseError::fail(format!("{p}: {e}")))?;
            let got: Vec<(String, String)> =
                key.iter().map(|l| (l.name().to_owned(), l.value().to_owned())).collect();
            let mut want = vec![("job".to_owned(), job.clone())];
            want.extend(labels);
            prop_assert_eq!(got, want, "{}", p);
        }
    }
}
