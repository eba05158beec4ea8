//! What the two text exposition formats share: Prometheus text 0.0.4
//! ([`super::text`]) and OpenMetrics 1.0 ([`super::openmetrics`]).
//!
//! Reading: the body checked as UTF-8 once, names, quoted strings and their
//! escapes. Writing: escapes, names (quoted when not legacy), the
//! `name{labels}` of a sample line and of error messages, and sample values
//! as each format spells them. And one order-independent hash of label sets,
//! for grouping a body's lines into metrics.
//!
//! Both formats have the same three escapes, `\\`, `\"` and `\n`, in label
//! values, quoted names and help text. They differ in little: OpenMetrics
//! escapes `"` in help text where Prometheus text leaves it, keeps an
//! unknown escape as it is where Prometheus text rejects it, and writes
//! integral floats with `.0`.

use std::hash::BuildHasher;

use bytes::Bytes;
use foldhash::fast::RandomState;

use super::{float, int, DecodeError, Position};
use crate::format::Format;
use crate::model::{name, LabelPair, Utf8Body};

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

/// The body as UTF-8, or an error naming the 1-based line of the first
/// byte that is not.
pub(crate) fn utf8_body(body: Bytes, format: Format) -> Result<Utf8Body, DecodeError> {
    Utf8Body::new(body).map_err(|(body, e)| {
        let valid = &body[..e.valid_up_to()];
        let line = 1 + valid.iter().filter(|&&b| b == b'\n').count();
        DecodeError::new(format, Position::Line(line), "invalid UTF-8")
    })
}

/// The end of the metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`) that starts at
/// `i`, or `i` if none does.
#[inline(always)]
pub(crate) fn metric_name_end(buf: &[u8], i: usize) -> usize {
    name_end(
        buf,
        i,
        name::is_metric_name_start,
        name::is_metric_name_char,
    )
}

/// The end of the label name (`[a-zA-Z_][a-zA-Z0-9_]*`) that starts at `i`,
/// or `i` if none does.
#[inline(always)]
pub(crate) fn label_name_end(buf: &[u8], i: usize) -> usize {
    name_end(buf, i, name::is_label_name_start, name::is_label_name_char)
}

#[inline(always)]
fn name_end(buf: &[u8], i: usize, start: impl Fn(u8) -> bool, cont: impl Fn(u8) -> bool) -> usize {
    match buf.get(i) {
        Some(&b) if start(b) => {}
        _ => return i,
    }
    let rest = &buf[i + 1..];
    i + 1 + rest.iter().position(|&b| !cont(b)).unwrap_or(rest.len())
}

/// The position of the first `"`, `\\` or line feed in `buf` from `i` on, or
/// `buf.len()`. Eight bytes at a time: quoted strings are mostly short runs
/// of plain bytes.
#[inline]
pub(crate) fn find_quote_stop(buf: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A byte of `x` is zero, and below it none is: the lowest set bit marks
    // the first zero byte exactly (higher ones may be false positives).
    fn zero_bytes(x: u64) -> u64 {
        x.wrapping_sub(ONES) & !x & HIGH
    }
    while let Some(chunk) = buf.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let hits = zero_bytes(w ^ (ONES * u64::from(b'"')))
            | zero_bytes(w ^ (ONES * u64::from(b'\\')))
            | zero_bytes(w ^ (ONES * u64::from(b'\n')));
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&b) = buf.get(i) {
        if matches!(b, b'"' | b'\\' | b'\n') {
            break;
        }
        i += 1;
    }
    i
}

/// Where the quoted string whose text starts at `i` (just after its opening
/// quote) stops: at the first `"` or line feed that no backslash escapes, or
/// at `buf.len()`. A backslash escapes the byte after it, whichever it is.
/// Also whether the text holds a backslash.
#[inline]
pub(crate) fn quoted_end(buf: &[u8], mut i: usize) -> (usize, bool) {
    let mut escaped = false;
    loop {
        i = find_quote_stop(buf, i);
        if buf.get(i) != Some(&b'\\') {
            return (i, escaped);
        }
        escaped = true;
        i = (i + 2).min(buf.len());
    }
}

/// What a backslash before anything other than `\`, `"` or `n` means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OtherEscapes {
    /// An error (Prometheus text, as Go's parser).
    Reject,
    /// The backslash and the byte stay as they are (OpenMetrics, as
    /// Python's `prometheus_client`).
    Keep,
}

/// The byte the escape `\c` stands for.
#[inline]
fn unescaped(c: u8) -> Option<u8> {
    match c {
        b'\\' => Some(b'\\'),
        b'"' => Some(b'"'),
        b'n' => Some(b'\n'),
        _ => None,
    }
}

/// Appends `raw` to `out` with its escapes undone. With
/// [`OtherEscapes::Reject`], a backslash before anything else (or at the
/// end) stops it: the error is the index in `raw` of the byte after that
/// backslash (`raw.len()` at the end).
pub(crate) fn unescape_into(
    raw: &str,
    out: &mut String,
    others: OtherEscapes,
) -> Result<(), usize> {
    let bytes = raw.as_bytes();
    let mut run = 0;
    let mut i = 0;
    while let Some(n) = bytes[i..].iter().position(|&b| b == b'\\') {
        let at = i + n;
        let Some(c) = bytes.get(at + 1).copied().and_then(unescaped) else {
            if others == OtherEscapes::Reject {
                return Err(at + 1);
            }
            i = at + 1;
            continue;
        };
        // `at` and `at + 2` are next to ASCII bytes: character boundaries.
        out.push_str(&raw[run..at]);
        out.push(char::from(c));
        run = at + 2;
        i = run;
    }
    out.push_str(&raw[run..]);
    Ok(())
}

/// Whether `raw` with its escapes undone (others kept) is `value`, without
/// copying.
pub(crate) fn unescaped_eq(raw: &[u8], value: &[u8]) -> bool {
    let mut j = 0;
    let mut i = 0;
    while i < raw.len() {
        let mut c = raw[i];
        i += 1;
        if c == b'\\' {
            if let Some(u) = raw.get(i).copied().and_then(unescaped) {
                c = u;
                i += 1;
            }
        }
        if value.get(j) != Some(&c) {
            return false;
        }
        j += 1;
    }
    j == value.len()
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

/// The format being written, where the two differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// Prometheus text 0.0.4.
    Text,
    /// OpenMetrics 1.0.
    OpenMetrics,
}

impl Dialect {
    /// Whether help text escapes `"`: in OpenMetrics, not in Prometheus text.
    pub(crate) fn help_escapes_quotes(self) -> bool {
        self == Dialect::OpenMetrics
    }

    /// A sample value or `le`/`quantile` label: Go's `strconv.FormatFloat(v,
    /// 'g', -1, 64)`, both zeros as `0`, as `expfmt`'s `writeFloat`; in
    /// OpenMetrics with `.0` added to integral values, as its
    /// `writeOpenMetricsFloat`.
    #[inline(always)]
    pub(crate) fn write_float(self, out: &mut Vec<u8>, v: f64) {
        let point = self == Dialect::OpenMetrics;
        if v == 0.0 {
            out.extend_from_slice(if point { b"0.0" } else { b"0" });
        } else if v.fract() == 0.0 && v.abs() < 1e6 {
            // Integers below 1e6 are their plain digits under 'g' (counts,
            // counters): skip the shortest-digits search.
            int::write_i64(out, v as i64);
            if point {
                out.extend_from_slice(b".0");
            }
        } else {
            let start = out.len();
            float::write_g(out, v);
            if point && v.is_finite() && !out[start..].iter().any(|&c| c == b'.' || c == b'e') {
                out.extend_from_slice(b".0");
            }
        }
    }
}

/// Escapes `\` and line feeds, and `"` if `quote` (in label values and
/// quoted names always, in help text as [`Dialect::help_escapes_quotes`]).
/// Runs of plain bytes are found eight at a time.
pub(crate) fn write_escaped(out: &mut Vec<u8>, s: &str, quote: bool) {
    let bytes = s.as_bytes();
    let mut run = 0;
    let mut i = find_quote_stop(bytes, 0);
    while let Some(&b) = bytes.get(i) {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            _ if quote => b"\\\"",
            _ => {
                i = find_quote_stop(bytes, i + 1);
                continue;
            }
        };
        out.extend_from_slice(&bytes[run..i]);
        out.extend_from_slice(escaped);
        run = i + 1;
        i = find_quote_stop(bytes, run);
    }
    out.extend_from_slice(&bytes[run..]);
}

/// A metric or label name: as is if it is a legacy metric name (Go's
/// encoder applies that test to label names too), else quoted.
pub(crate) fn write_name(out: &mut Vec<u8>, name: &str) {
    if name::is_metric_name(name) {
        out.extend_from_slice(name.as_bytes());
    } else {
        out.push(b'"');
        write_escaped(out, name, true);
        out.push(b'"');
    }
}

/// `name="value"` pairs, the first after `separator`, the others after
/// commas; then the `extra` label (`le`, `quantile`) with its float value.
/// Returns the separator the next pair would have: `,` if any was written.
#[inline(always)]
pub(crate) fn write_labels<'l>(
    out: &mut Vec<u8>,
    dialect: Dialect,
    labels: impl IntoIterator<Item = &'l LabelPair>,
    extra: Option<(&str, f64)>,
    mut separator: u8,
) -> u8 {
    for label in labels {
        out.push(separator);
        write_name(out, label.name());
        out.extend_from_slice(b"=\"");
        write_escaped(out, label.value(), true);
        out.push(b'"');
        separator = b',';
    }
    if let Some((name, value)) = extra {
        out.push(separator);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"=\"");
        dialect.write_float(out, value);
        out.push(b'"');
        separator = b',';
    }
    separator
}

/// The name a family's sample lines start with.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SampleName<'a> {
    name: &'a str,
    /// Not a legacy metric name: it goes quoted inside the braces.
    quoted: bool,
}

impl<'a> SampleName<'a> {
    pub(crate) fn new(name: &'a str) -> SampleName<'a> {
        SampleName {
            name,
            quoted: !name::is_metric_name(name),
        }
    }

    /// `name{labels}`, with `suffix` (`_sum`, ...) after the name and the
    /// `extra` label last: `name_suffix{a="b",le="1"}`, or
    /// `{"name_suffix",a="b",le="1"}` for a name that is not legacy. No
    /// braces for a legacy name without labels.
    #[inline]
    pub(crate) fn write<'l>(
        &self,
        out: &mut Vec<u8>,
        dialect: Dialect,
        suffix: &str,
        labels: impl IntoIterator<Item = &'l LabelPair>,
        extra: Option<(&str, f64)>,
    ) {
        if self.quoted {
            out.extend_from_slice(b"{\"");
            write_escaped(out, self.name, true);
            write_escaped(out, suffix, true);
            out.push(b'"');
            write_labels(out, dialect, labels, extra, b',');
            out.push(b'}');
        } else {
            out.extend_from_slice(self.name.as_bytes());
            out.extend_from_slice(suffix.as_bytes());
            if write_labels(out, dialect, labels, extra, b'{') == b',' {
                out.push(b'}');
            }
        }
    }
}

/// A metric for error messages: `name{labels}` as its sample line starts,
/// or `{labels}` (braces even when there are none) without a name.
pub(crate) fn describe<'l>(
    name: Option<&str>,
    labels: impl IntoIterator<Item = &'l LabelPair>,
) -> String {
    let mut out = Vec::new();
    match name {
        Some(name) => SampleName::new(name).write(&mut out, Dialect::Text, "", labels, None),
        None => {
            if write_labels(&mut out, Dialect::Text, labels, None, b'{') == b'{' {
                out.push(b'{');
            }
            out.push(b'}');
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---------------------------------------------------------------------------
// Grouping
// ---------------------------------------------------------------------------

/// An order-independent hash of label sets, keyed at random per decode so
/// that a body cannot be made of colliding sets.
#[derive(Default)]
pub(crate) struct LabelSetHasher(RandomState);

impl LabelSetHasher {
    /// The hash of a set of `(name, value)` pairs, in any order: the sum of
    /// the pairs' hashes.
    #[inline]
    pub(crate) fn hash<'a>(&self, labels: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> u64 {
        labels
            .into_iter()
            .fold(0u64, |acc, pair| acc.wrapping_add(self.0.hash_one(pair)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_stops_are_found_word_by_word() {
        let naive = |buf: &[u8], i: usize| {
            (i..buf.len())
                .find(|&j| matches!(buf[j], b'"' | b'\\' | b'\n'))
                .unwrap_or(buf.len())
        };
        let mut buf = Vec::new();
        for n in 0..40u8 {
            // Plain, high (UTF-8) and stop bytes, in every alignment.
            buf.push(match n % 7 {
                0 => b'"',
                1 | 4 => 0xc3,
                2 if n > 20 => b'\n',
                3 if n % 2 == 1 => b'\\',
                _ => b'a' + n % 26,
            });
            for i in 0..=buf.len() {
                assert_eq!(find_quote_stop(&buf, i), naive(&buf, i), "{buf:?} from {i}");
            }
        }
        let plain = vec![b'x'; 37];
        assert_eq!(find_quote_stop(&plain, 3), 37);
    }

    #[test]
    fn escapes_are_written_word_by_word() {
        let naive = |s: &str, quote: bool| {
            let mut out = String::new();
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '"' if quote => out.push_str("\\\""),
                    c => out.push(c),
                }
            }
            out
        };
        let mut text = String::new();
        for n in 0..40u32 {
            text.push(match n % 7 {
                0 => '"',
                1 | 4 => 'é',
                2 if n > 20 => '\n',
                3 if n % 2 == 1 => '\\',
                _ => 'x',
            });
            for (start, _) in text.char_indices() {
                for quote in [false, true] {
                    let mut out = Vec::new();
                    write_escaped(&mut out, &text[start..], quote);
                    assert_eq!(out, naive(&text[start..], quote).as_bytes(), "{text:?}");
                }
            }
        }
    }

    #[test]
    fn quoted_strings_end_at_an_unescaped_quote_or_line_feed() {
        let cases: [(&[u8], (usize, bool)); 7] = [
            (b"abc\" x", (3, false)),
            (b"a\\\"b\" x", (4, true)),
            (b"a\\\\\" x", (3, true)),
            (b"ab\ncd\"", (2, false)),
            (b"a\\\ncd\"", (5, true)),
            (b"abc", (3, false)),
            (b"ab\\", (3, true)),
        ];
        for (buf, end) in cases {
            assert_eq!(
                quoted_end(buf, 0),
                end,
                "{:?}",
                String::from_utf8_lossy(buf)
            );
        }
    }

    #[test]
    fn escapes_are_undone_and_others_kept_or_rejected() {
        let run = |raw: &str, others| {
            let mut out = String::new();
            unescape_into(raw, &mut out, others).map(|()| out)
        };
        for others in [OtherEscapes::Keep, OtherEscapes::Reject] {
            assert_eq!(run("plain é", others), Ok("plain é".to_owned()));
            assert_eq!(run(r#"a\\b\"c\nd"#, others), Ok("a\\b\"c\nd".to_owned()));
        }
        assert_eq!(
            run(r"a\tb\é\", OtherEscapes::Keep),
            Ok(r"a\tb\é\".to_owned())
        );
        assert_eq!(run(r"ab\tc", OtherEscapes::Reject), Err(3));
        assert_eq!(run(r"\\\é", OtherEscapes::Reject), Err(3));
        assert_eq!(run(r"ab\", OtherEscapes::Reject), Err(3));
    }

    #[test]
    fn unescaped_comparison_agrees_with_unescaping() {
        let raws = [
            r"", r"a", r"a\\b", r#"\"q\""#, r"x\ny", r"\t", r"é\", r#"\\\""#, r"a\b\\",
        ];
        let values = [
            "", "a", "a\\b", "\"q\"", "x\ny", "\\t", "é\\", "\\\"", "a\\b\\", "ab",
        ];
        for raw in raws {
            let mut out = String::new();
            unescape_into(raw, &mut out, OtherEscapes::Keep).unwrap();
            for value in values {
                let eq = unescaped_eq(raw.as_bytes(), value.as_bytes());
                assert_eq!(eq, out == value, "{raw:?} vs {value:?}");
            }
        }
    }

    #[test]
    fn names_end_where_their_characters_do() {
        assert_eq!(metric_name_end(b"job:up_1{", 0), 8);
        assert_eq!(metric_name_end(b"1up", 0), 0);
        assert_eq!(metric_name_end(b"a up", 2), 4);
        assert_eq!(label_name_end(b"a:b", 0), 1);
        assert_eq!(label_name_end(b":b", 0), 0);
        assert_eq!(label_name_end(b"x", 1), 1);
    }

    #[test]
    fn integer_fast_path_matches_write_g() {
        let mut values: Vec<f64> = (-2000..2000).map(f64::from).collect();
        values.extend([
            999_999.0,
            -999_999.0,
            1e6,
            -1e6,
            123_456.0,
            1e6 - 0.5,
            0.5,
            -0.0,
            1e15,
            f64::INFINITY,
            f64::NAN,
        ]);
        for v in values {
            let (mut fast, mut slow) = (Vec::new(), Vec::new());
            Dialect::Text.write_float(&mut fast, v);
            float::write_g(&mut slow, if v == 0.0 { 0.0 } else { v });
            assert_eq!(fast, slow, "{v}");
            // OpenMetrics: the same, with `.0` on integral values.
            fast.clear();
            Dialect::OpenMetrics.write_float(&mut fast, v);
            if v.is_finite() && !slow.iter().any(|&c| c == b'.' || c == b'e') {
                slow.extend_from_slice(b".0");
            }
            assert_eq!(fast, slow, "{v}");
        }
    }

    #[test]
    fn names_and_labels_are_written_and_described_alike() {
        let labels = [LabelPair::new("a", "x\"y"), LabelPair::new("b.c", "\\")];
        let write = |name: &str, labels: &[LabelPair], extra| {
            let mut out = Vec::new();
            SampleName::new(name).write(&mut out, Dialect::OpenMetrics, "_sum", labels, extra);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(write("up", &[], None), "up_sum");
        assert_eq!(write("up", &[], Some(("le", 1.0))), r#"up_sum{le="1.0"}"#);
        assert_eq!(write("up", &labels, None), r#"up_sum{a="x\"y","b.c"="\\"}"#);
        assert_eq!(write("u.p", &[], None), r#"{"u.p_sum"}"#);
        assert_eq!(describe(Some("up"), &labels[..1]), r#"up{a="x\"y"}"#);
        assert_eq!(describe(Some("u\np"), []), r#"{"u\np"}"#);
        assert_eq!(describe(None, []), "{}");
        assert_eq!(describe(None, &labels[..1]), r#"{a="x\"y"}"#);
        let mut help = Vec::new();
        write_escaped(&mut help, "a \"b\"\\\n", false);
        assert_eq!(help, br#"a "b"\\\n"#);
    }

    #[test]
    fn label_set_hashes_ignore_order() {
        let hasher = LabelSetHasher::default();
        let ab = [(&b"a"[..], &b"1"[..]), (b"b", b"2")];
        let ba = [(&b"b"[..], &b"2"[..]), (b"a", b"1")];
        assert_eq!(hasher.hash(ab), hasher.hash(ba));
        assert_ne!(hasher.hash(ab), hasher.hash([(&b"a"[..], &b"12"[..])]));
        assert_ne!(
            hasher.hash(ab),
            hasher.hash([(&b"a"[..], &b"2"[..]), (b"b", b"1")])
        );
    }
}
