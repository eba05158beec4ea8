//! Writing a grouping key into a push path: `/metrics/job/<job>{/<label>/<value>}`,
//! the inverse of [`gateway::grouping::from_path`](crate::gateway::grouping::from_path).
//!
//! Each value goes into one path segment, written as Go's and Python's
//! clients write it:
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
//! use pushgate::push::grouping;
//!
//! assert_eq!(
//!     grouping::path("backup", [("path", "/var/tmp"), ("zone", "eu 1"), ("empty", ""), ("host", "db:1")]),
//!     "/metrics/job/backup/path@base64/L3Zhci90bXA/zone@base64/ZXUgMQ/empty@base64/=/host/db%3A1"
//! );
//! ```

use crate::b64;
use crate::gateway::grouping::BASE64_SUFFIX;

/// The push path of the grouping key `job` plus `labels`, in the order
/// given. Label names are written as they are: the
/// [`PusherBuilder`](super::PusherBuilder) checks them.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::grouping::from_path;
    use proptest::prelude::*;

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
