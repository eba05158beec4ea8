//! The grouping key in a push path: `/metrics/job/<job>{/<label>/<value>}`.
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
//! Where the Pushgateway is lax, this is strict and says why: a repeated
//! label name (the Pushgateway keeps the last, and silently lets the job win
//! over a `job` label), an empty plain value (`a//b`, which its router
//! collapses) and values that are not UTF-8 are errors. A single trailing
//! `/` is allowed. A path that does not start with `/metrics/job` has no
//! grouping key.
//!
//! ```
//! use pushgate::gateway::grouping;
//! use pushgate::model::LabelPair;
//!
//! let key = grouping::from_path("/metrics/job/backup/path@base64/L3Zhci90bXA/empty@base64/=").unwrap();
//! assert_eq!(key, [
//!     LabelPair::new("job", "backup"),
//!     LabelPair::new("path", "/var/tmp"),
//!     LabelPair::new("empty", ""),
//! ]);
//! assert!(grouping::from_path("/metrics/job/backup/instance").is_err());
//! assert!(grouping::from_path("/push").unwrap().is_empty());
//! ```

use std::borrow::Cow;

use crate::model::{LabelPair, Str};

/// The suffix that marks a base64 value.
pub const BASE64_SUFFIX: &str = "@base64";

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
/// the query): `job` first, then the labels in path order. Empty for a path
/// that does not start with `/metrics/job`.
pub fn from_path(path: &str) -> Result<Vec<LabelPair>, GroupingError> {
    let decoded = percent_decode(path)?;
    let Some(rest) = decoded.strip_prefix("/metrics/job") else {
        return Ok(Vec::new());
    };
    let (job_base64, rest) = match rest.strip_prefix(BASE64_SUFFIX) {
        Some(rest) => (true, rest),
        None => (false, rest),
    };
    let rest = match rest.strip_prefix('/') {
        Some(rest) => rest,
        None if rest.is_empty() => return Err(GroupingError::MissingJob),
        // `/metrics/jobs`, `/metrics/job@base64x`: not a push path.
        None => return Ok(Vec::new()),
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
        if labels.iter().any(|l| l.name() == name) {
            return Err(GroupingError::RepeatedLabel { name: name.into() });
        }
        labels.push(LabelPair {
            name: Some(Str::from(name)),
            value: Some(value),
        });
    }
    Ok(labels)
}

/// Whether `name` is a Prometheus label name, `[a-zA-Z_][a-zA-Z0-9_]*`.
pub(crate) fn is_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_'))
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Percent-decodes `path`, borrowing when there is nothing to decode.
fn percent_decode(path: &str) -> Result<Cow<'_, str>, GroupingError> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn other_paths_have_no_grouping() {
        for p in [
            "/",
            "/push",
            "/metrics",
            "/metrics/jobs/x",
            "/api/v1/metrics/job/x",
        ] {
            assert!(from_path(p).unwrap().is_empty(), "{p}");
        }
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
}
