//! The Prometheus text exposition format, version 0.0.4.
//!
//! What `curl --data-binary @file` pushes: `# HELP` and `# TYPE` comments,
//! then one line per sample, `name{label="value",...} value [timestamp]`.
//!
//! [`decode`] accepts and rejects what Go's `expfmt.TextParser` (with UTF-8
//! names allowed) does, with the same 1-based line numbers:
//!
//! * the last line must end in a line feed; blanks and tabs may surround
//!   tokens, but nothing may follow the value except one timestamp;
//! * `_count`, `_sum` and `_bucket` samples join the summary or histogram
//!   family that a `# TYPE` line declared for the base name; without one they
//!   are families of their own, typed untyped like every sample before (or
//!   without) its `# TYPE` line;
//! * the lines of one summary or histogram series (its label set without
//!   `quantile` or `le`) become one [`Metric`], wherever they are in the body;
//! * families are returned in order of first appearance, and families that
//!   have a `# HELP` or `# TYPE` line but no samples are dropped, as Go drops
//!   them.
//!
//! Where Go's parser misbehaves, this one does not: a sample of a family
//! typed `gauge_histogram` is an error (Go returns metrics without values),
//! a negative or NaN `_count` or bucket count becomes 0 (Go's conversion is
//! platform-defined), and the whole body must be UTF-8 (Go checks label
//! values only).
//!
//! Names, label values and help text without escapes are slices of the body;
//! only escaped strings are copied.
//!
//! [`encode`] writes what Go's `expfmt.MetricFamilyToText` writes, byte for
//! byte, and raises its errors (a family without metrics or name, a metric
//! without the value its family's type needs, an unknown type).

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use foldhash::fast::RandomState;

use bytes::Bytes;

use super::exposition::{self, Dialect, LabelSetHasher, OtherEscapes, SampleName};
use super::id_hasher::IdHasher;
use super::{float, int, DecodeError, EncodeError, Position};
use crate::format::Format;
use crate::model::{
    name, Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType, Quantile,
    Str, Summary, Untyped, Utf8Body,
};

// ---------------------------------------------------------------------------
// Decoding: reading tokens
// ---------------------------------------------------------------------------

/// A string read from the body: a range of the body itself, or (when it
/// had escapes) a range of the line's scratch buffer.
#[derive(Clone, Copy, Debug)]
struct Span {
    scratch: bool,
    start: usize,
    end: usize,
}

impl Span {
    fn body(start: usize, end: usize) -> Span {
        Span {
            scratch: false,
            start,
            end,
        }
    }

    fn is_empty(self) -> bool {
        self.start == self.end
    }
}

/// A label as read from a sample line, before it becomes a [`LabelPair`].
#[derive(Clone, Copy, Debug)]
struct RawLabel {
    name: Span,
    value: Span,
    /// Where the label starts in the body (its name, or the name's quote).
    from: usize,
    /// Just after the value's closing quote.
    to: usize,
}

/// The read position in a body known to be UTF-8.
struct Cursor<'a> {
    body: &'a Utf8Body,
    /// The body, as text and as bytes.
    text: &'a str,
    buf: &'a [u8],
    pos: usize,
    /// The 1-based number of the line being read.
    line: usize,
    /// Unescaped strings of the current line.
    scratch: String,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    fn at_eol(&self) -> bool {
        matches!(self.peek(), None | Some(b'\n'))
    }

    fn skip_blanks(&mut self) {
        while let Some(b' ' | b'\t') = self.peek() {
            self.pos += 1;
        }
    }

    fn err(&self, message: impl Into<String>) -> DecodeError {
        DecodeError::new(Format::Text, Position::Line(self.line), message)
    }

    /// The body ended inside a line.
    fn eof(&self) -> DecodeError {
        self.err("unexpected end of input (the last line must end with a line feed)")
    }

    /// The character at `pos`, for messages.
    fn found(&self, pos: usize) -> String {
        match self.buf.get(pos) {
            None => "end of input".to_owned(),
            Some(b'\n') => "end of line".to_owned(),
            Some(_) => format!("{:?}", self.char_at(pos)),
        }
    }

    /// Callers pass positions of ASCII delimiters or the byte after one,
    /// which start a character.
    fn char_at(&self, pos: usize) -> char {
        let rest = self.text.get(pos..).unwrap_or_default();
        rest.chars().next().unwrap_or('\u{fffd}')
    }

    fn bytes(&self, s: Span) -> &[u8] {
        if s.scratch {
            &self.scratch.as_bytes()[s.start..s.end]
        } else {
            &self.buf[s.start..s.end]
        }
    }

    /// Body spans start and end next to ASCII delimiters, so on character
    /// boundaries; scratch spans are whole unescaped strings.
    #[inline(always)]
    fn text(&self, s: Span) -> &str {
        if s.scratch {
            &self.scratch[s.start..s.end]
        } else {
            self.body.get(s.start..s.end)
        }
    }

    /// The string as a [`Str`]: from the body, or from scratch if unescaped.
    #[inline]
    fn to_str(&self, s: Span) -> Str {
        if s.scratch {
            Str::from(self.text(s))
        } else {
            self.body.slice(s.start..s.end)
        }
    }

    /// Reads up to the next blank, tab, line feed or the end of the body.
    fn token(&mut self) -> Span {
        let start = self.pos;
        let end = self.buf[start..]
            .iter()
            .position(|&b| matches!(b, b' ' | b'\t' | b'\n'))
            .map_or(self.buf.len(), |n| start + n);
        self.pos = end;
        Span::body(start, end)
    }

    /// Reads up to the line feed or the end of the body.
    fn rest_of_line(&mut self) -> Span {
        let start = self.pos;
        let end = self.buf[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(self.buf.len(), |n| start + n);
        self.pos = end;
        Span::body(start, end)
    }

    /// An unquoted name ending at `end` (from [`exposition::metric_name_end`]
    /// or [`exposition::label_name_end`]), or `None` if none starts here.
    fn bare_name(&mut self, end: usize) -> Option<Span> {
        let start = self.pos;
        if end == start {
            return None;
        }
        self.pos = end;
        Some(Span::body(start, end))
    }

    /// A metric name, bare or quoted; `None` if none starts here.
    fn metric_name(&mut self) -> Result<Option<Span>, DecodeError> {
        if self.peek() == Some(b'"') {
            return self.quoted("metric name").map(Some);
        }
        Ok(self.bare_name(exposition::metric_name_end(self.buf, self.pos)))
    }

    /// A label name, bare or quoted; `None` if none starts here.
    fn label_name(&mut self) -> Result<Option<Span>, DecodeError> {
        if self.peek() == Some(b'"') {
            return self.quoted("label name").map(Some);
        }
        Ok(self.bare_name(exposition::label_name_end(self.buf, self.pos)))
    }

    /// A double-quoted string starting at `pos`, with the escapes `\\`, `\"`
    /// and `\n`. `what` names it in errors.
    #[inline]
    fn quoted(&mut self, what: &str) -> Result<Span, DecodeError> {
        let start = self.pos + 1;
        let i = exposition::find_quote_stop(self.buf, start);
        // Fast path: no escapes, the string is a slice of the body.
        if self.buf.get(i) == Some(&b'"') {
            self.pos = i + 1;
            return Ok(Span::body(start, i));
        }
        self.quoted_slow(what, start, i)
    }

    /// [`Cursor::quoted`] from the first escape, line feed or end of input
    /// at `i`: the string unescaped into scratch, or the first error in it.
    #[cold]
    #[inline(never)]
    fn quoted_slow(&mut self, what: &str, start: usize, i: usize) -> Result<Span, DecodeError> {
        let (stop, _) = exposition::quoted_end(self.buf, i);
        let from = self.scratch.len();
        self.unescape(start, stop)?;
        let span = Span {
            scratch: true,
            start: from,
            end: self.scratch.len(),
        };
        match self.buf.get(stop) {
            Some(b'"') => {
                self.pos = stop + 1;
                Ok(span)
            }
            Some(_) => {
                self.pos = stop;
                let so_far = self.text(span);
                Err(self.err(format!("{what} {so_far:?} contains unescaped new-line")))
            }
            None => {
                self.pos = stop;
                Err(self.eof())
            }
        }
    }

    /// Appends `start..end` of the body to scratch with its escapes undone:
    /// `\\`, `\"` and `\n` are the only ones, in label values and help text
    /// alike.
    fn unescape(&mut self, start: usize, end: usize) -> Result<(), DecodeError> {
        let raw = &self.text[start..end];
        exposition::unescape_into(raw, &mut self.scratch, OtherEscapes::Reject).map_err(|n| {
            // The byte after a backslash that starts no escape.
            let pos = start + n;
            self.pos = pos;
            if pos < self.buf.len() {
                let c = self.char_at(pos).escape_debug().to_string();
                self.err(format!("invalid escape sequence '\\{c}'"))
            } else {
                self.eof()
            }
        })
    }

    /// Help text: the rest of the line, with the escapes `\\`, `\n` and `\"`.
    fn help_text(&mut self) -> Result<Span, DecodeError> {
        let buf = self.buf;
        let start = self.pos;
        let Some(first) = buf[start..]
            .iter()
            .position(|&b| matches!(b, b'\\' | b'\n'))
            .map(|n| start + n)
            .filter(|&i| buf[i] == b'\\')
        else {
            return Ok(self.rest_of_line());
        };
        let end = buf[first..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(buf.len(), |n| first + n);
        let from = self.scratch.len();
        self.unescape(start, end)?;
        self.pos = end;
        Ok(Span {
            scratch: true,
            start: from,
            end: self.scratch.len(),
        })
    }

    /// The sample value, at `pos`.
    fn value(&mut self) -> Result<f64, DecodeError> {
        // Most values are short decimals, read without finding the token's
        // end first.
        let rest = &self.buf[self.pos..];
        if let Some((v, n)) = float::parse_short_prefix(rest) {
            if matches!(rest.get(n), None | Some(b' ' | b'\t' | b'\n')) {
                self.pos += n;
                return Ok(v);
            }
        }
        if self.peek().is_none() {
            return Err(self.eof());
        }
        let token = self.token();
        let text = self.text(token);
        float::parse(text).ok_or_else(|| self.err(format!("expected float as value, got {text:?}")))
    }

    /// The optional timestamp after the value; then the line must end.
    fn timestamp(&mut self) -> Result<Option<i64>, DecodeError> {
        if self.at_eol() {
            return Ok(None);
        }
        self.skip_blanks();
        if self.peek().is_none() {
            return Err(self.eof());
        }
        let token = self.token();
        let Some(ts) = parse_i64(self.bytes(token)) else {
            let text = self.text(token);
            return Err(self.err(format!("expected integer as timestamp, got {text:?}")));
        };
        if !self.at_eol() {
            let rest = self.rest_of_line();
            let text = self.text(rest);
            return Err(self.err(format!("spurious string after timestamp: {text:?}")));
        }
        Ok(Some(ts))
    }
}

/// How many leading bytes `a` and `b` share. Eight at a time.
#[inline]
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut i = 0;
    while let (Some(x), Some(y)) = (a.get(i..i + 8), b.get(i..i + 8)) {
        let mut words = ([0u8; 8], [0u8; 8]);
        words.0.copy_from_slice(x);
        words.1.copy_from_slice(y);
        let diff = u64::from_le_bytes(words.0) ^ u64::from_le_bytes(words.1);
        if diff != 0 {
            return i + (diff.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

/// Go's `strconv.ParseInt(s, 10, 64)`: an optional sign and decimal digits.
fn parse_i64(s: &[u8]) -> Option<i64> {
    let (negative, digits) = match s.first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        // -2^63 is the one magnitude beyond i64::MAX that still fits.
        (n <= 1 << 63).then(|| (n as i64).wrapping_neg())
    } else {
        i64::try_from(n).ok()
    }
}

/// A `# TYPE` value, case-insensitively as Go's parser takes it.
fn parse_type(s: &[u8]) -> Option<MetricType> {
    const TYPES: [(&str, MetricType); 6] = [
        ("counter", MetricType::Counter),
        ("gauge", MetricType::Gauge),
        ("summary", MetricType::Summary),
        ("untyped", MetricType::Untyped),
        ("histogram", MetricType::Histogram),
        ("gauge_histogram", MetricType::GaugeHistogram),
    ];
    TYPES
        .iter()
        .find(|(name, _)| s.eq_ignore_ascii_case(name.as_bytes()))
        .map(|&(_, t)| t)
}

// ---------------------------------------------------------------------------
// Decoding: families and grouping
// ---------------------------------------------------------------------------

/// How a sample name relates to the family it joins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// The name is the family's own name.
    Own,
    /// `<base>_bucket` of a histogram: a plain sample of the base family.
    Bucket,
    /// `<base>_count` of a summary or histogram.
    Count,
    /// `<base>_sum` of a summary or histogram.
    Sum,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    family: usize,
    role: Role,
}

/// Beyond this many labels, label sets are compared by sorting.
const SMALL_SET: usize = 16;

const NONE: u32 = u32::MAX;

/// The summary and histogram series of every family by hash of family and
/// label set: a head per hash and a chain through the series that share it.
#[derive(Default)]
struct SeriesIndex {
    heads: HashMap<u64, u32, BuildHasherDefault<IdHasher>>,
    /// Family, metric, and the next series with the same hash.
    chain: Vec<(usize, usize, u32)>,
}

impl SeriesIndex {
    fn insert(&mut self, hash: u64, family: usize, metric: usize) {
        let prev = self.heads.insert(hash, self.chain.len() as u32);
        self.chain.push((family, metric, prev.unwrap_or(NONE)));
    }
}

/// The metric a summary or histogram line goes to.
enum SeriesOf {
    /// The family's current metric, by index.
    Current(usize),
    /// Another, to find (or create) by the line's labels; the line's series
    /// key (see [`Decoder::split_labels`]).
    Key((usize, usize)),
}

struct Family {
    mf: MetricFamily,
    /// The summary or histogram metric the last sample went to.
    current: Option<usize>,
    /// The series key (see [`Decoder::split_labels`]) of a line that went
    /// to `current`.
    current_key: (usize, usize),
}

/// Remembers where recent names (as body ranges) resolved, so that runs of
/// `_bucket` lines resolve without scanning or hashing.
#[derive(Default)]
struct NameCache {
    slots: [CachedName; 4],
    next: usize,
    /// The slot [`NameCache::at`] found last.
    last: usize,
}

#[derive(Clone, Copy, Default)]
struct CachedName {
    start: usize,
    end: usize,
    entry: Option<Entry>,
    /// The name was read unquoted, so it is a legacy metric name.
    bare: bool,
}

impl NameCache {
    fn get(&self, buf: &[u8], name: &[u8]) -> Option<Entry> {
        self.slots.iter().find_map(|s| {
            let entry = s.entry?;
            (s.end - s.start == name.len() && &buf[s.start..s.end] == name).then_some(entry)
        })
    }

    fn put(&mut self, span: Span, entry: Entry, bare: bool) {
        self.slots[self.next] = CachedName {
            start: span.start,
            end: span.end,
            entry: Some(entry),
            bare,
        };
        self.next = (self.next + 1) % self.slots.len();
    }

    /// A cached unquoted name that starts at `pos`, as far as
    /// [`Cursor::bare_name`] would read it there, and where it resolved.
    #[inline]
    fn at(&mut self, buf: &[u8], pos: usize) -> Option<(Span, Entry)> {
        let rest = &buf[pos..];
        let n = self.slots.len();
        for k in 0..n {
            let i = (self.last + k) % n;
            let s = self.slots[i];
            let Some(entry) = s.entry.filter(|_| s.bare) else {
                continue;
            };
            let len = s.end - s.start;
            if rest.get(..len) == Some(&buf[s.start..s.end])
                && rest.get(len).is_none_or(|&b| !name::is_metric_name_char(b))
            {
                self.last = i;
                return Some((Span::body(pos, pos + len), entry));
            }
        }
        None
    }
}

struct Decoder<'a> {
    cur: Cursor<'a>,
    labels: Vec<RawLabel>,
    families: Vec<Family>,
    /// Every name seen, with where it resolved. Resolution never changes
    /// once made: an existing family of the exact name always wins, and a
    /// base family's type never changes once set.
    names: HashMap<Str, Entry, RandomState>,
    cache: NameCache,
    series: SeriesIndex,
    /// The family that last had a metric added.
    last_family: usize,
    /// The last label set [`Decoder::plain_label_set`] read: where it
    /// started (after `{`), its length up to and including `}`, and its
    /// labels. The next line's labels up to where the two differ are these.
    template: (usize, usize),
    template_labels: Vec<RawLabel>,
    /// Room for more labels in each metric's ([`decode_with_room`]).
    room: usize,
    hasher: LabelSetHasher,
}

/// Decodes a text-format body into metric families, in order of first
/// appearance.
///
/// A body that is not UTF-8, or not valid text format, is an error naming the
/// 1-based line and what was expected there.
///
/// ```
/// use bytes::Bytes;
/// use pushgate::codec::text;
///
/// let body = Bytes::from_static(b"# TYPE rpc summary\nrpc{quantile=\"0.5\"} 3\nrpc_count 7\nrpc_sum 21\n");
/// let families = text::decode(body).unwrap();
/// let summary = families[0].metric[0].summary.as_ref().unwrap();
/// assert_eq!((summary.sample_count, summary.quantile.len()), (Some(7), 1));
///
/// let err = text::decode(Bytes::from_static(b"up 1\nup{job=\"a} 1\n")).unwrap_err();
/// assert_eq!(err.line(), Some(2));
/// ```
pub fn decode(body: Bytes) -> Result<Vec<MetricFamily>, DecodeError> {
    decode_with_room(body, 0)
}

/// [`decode`], each metric's labels with room for `room` more
/// ([`super::decode_with_room`]).
pub(crate) fn decode_with_room(body: Bytes, room: usize) -> Result<Vec<MetricFamily>, DecodeError> {
    let body = exposition::utf8_body(body, Format::Text)?;
    let mut d = Decoder {
        cur: Cursor {
            body: &body,
            text: body.as_str(),
            buf: body.as_str().as_bytes(),
            pos: 0,
            line: 0,
            scratch: String::new(),
        },
        labels: Vec::new(),
        families: Vec::new(),
        names: HashMap::default(),
        cache: NameCache::default(),
        series: SeriesIndex::default(),
        last_family: 0,
        template: (0, 0),
        template_labels: Vec::new(),
        hasher: LabelSetHasher::default(),
        room,
    };
    d.run()?;
    Ok(d.families
        .into_iter()
        .filter(|f| !f.mf.metric.is_empty())
        .map(|mut f| {
            // Room made for more metrics than came goes back.
            f.mf.metric.shrink_to_fit();
            f.mf
        })
        .collect())
}

impl Decoder<'_> {
    fn run(&mut self) -> Result<(), DecodeError> {
        loop {
            self.cur.line += 1;
            self.cur.skip_blanks();
            match self.cur.peek() {
                None => return Ok(()),
                Some(b'\n') => {
                    self.cur.pos += 1;
                    continue;
                }
                Some(b'#') => self.comment()?,
                Some(_) => self.sample()?,
            }
            if self.cur.peek().is_none() {
                return Err(self.cur.eof());
            }
            self.cur.pos += 1;
        }
    }

    /// A `#` line: `# HELP name text`, `# TYPE name type`, or anything else.
    fn comment(&mut self) -> Result<(), DecodeError> {
        self.cur.pos += 1;
        self.cur.skip_blanks();
        let keyword = self.cur.token();
        let keyword = self.cur.bytes(keyword);
        let help = keyword == b"HELP";
        if !(help || keyword == b"TYPE") || self.cur.at_eol() {
            self.cur.rest_of_line();
            return Ok(());
        }
        self.cur.skip_blanks();
        self.cur.scratch.clear();
        let bare = self.cur.peek() != Some(b'"');
        let name = self.cur.metric_name()?;
        if self.cur.at_eol() {
            return Ok(());
        }
        let name = match name {
            Some(name) if !name.is_empty() && matches!(self.cur.peek(), Some(b' ' | b'\t')) => name,
            _ => return Err(self.cur.err("invalid metric name in comment")),
        };
        let family = self.resolve(name, bare).family;
        self.cur.skip_blanks();
        if self.cur.at_eol() {
            return Ok(());
        }
        let mf = &self.families[family].mf;
        if help {
            if mf.help.is_some() {
                let msg = format!("second HELP line for metric name {:?}", mf.name());
                return Err(self.cur.err(msg));
            }
            let text = self.cur.help_text()?;
            self.families[family].mf.help = Some(self.cur.to_str(text));
        } else {
            if mf.r#type.is_some() {
                let msg = format!(
                    "second TYPE line for metric name {:?}, or TYPE reported after samples",
                    mf.name()
                );
                return Err(self.cur.err(msg));
            }
            let token = self.cur.rest_of_line();
            let Some(t) = parse_type(self.cur.bytes(token)) else {
                let msg = format!("unknown metric type {:?}", self.cur.text(token));
                return Err(self.cur.err(msg));
            };
            self.families[family].mf.set_metric_type(t);
        }
        Ok(())
    }

    /// Finds the family a name belongs to, creating it if there is none, as
    /// Go's parser does: the family of that exact name; else, for
    /// `_count`/`_sum`, a summary of the base name; else, for
    /// `_count`/`_sum`/`_bucket`, a histogram of the base name.
    fn resolve(&mut self, name: Span, bare: bool) -> Entry {
        let bytes = self.cur.bytes(name);
        if !name.scratch {
            if let Some(entry) = self.cache.get(self.cur.buf, bytes) {
                return entry;
            }
        }
        let text = self.cur.text(name);
        let entry = match self.names.get(text) {
            Some(&entry) => entry,
            None => {
                let entry = self.member_of(text).unwrap_or_else(|| {
                    self.families.push(Family {
                        mf: MetricFamily {
                            name: Some(self.cur.to_str(name)),
                            ..Default::default()
                        },
                        current: None,
                        current_key: (0, 0),
                    });
                    Entry {
                        family: self.families.len() - 1,
                        role: Role::Own,
                    }
                });
                self.names.insert(self.cur.to_str(name), entry);
                entry
            }
        };
        if !name.scratch {
            self.cache.put(name, entry, bare);
        }
        entry
    }

    /// The summary or histogram family a suffixed name belongs to, if any.
    fn member_of(&self, name: &str) -> Option<Entry> {
        let strip = |suffix: &str| name.strip_suffix(suffix).filter(|base| !base.is_empty());
        let (base, role) = if let Some(base) = strip("_count") {
            (base, Role::Count)
        } else if let Some(base) = strip("_sum") {
            (base, Role::Sum)
        } else if let Some(base) = strip("_bucket") {
            (base, Role::Bucket)
        } else {
            return None;
        };
        let entry = self.names.get(base).filter(|e| e.role == Role::Own)?;
        let wanted = match self.families[entry.family].mf.r#type {
            Some(t) if t == MetricType::Summary as i32 => role != Role::Bucket,
            Some(t) => t == MetricType::Histogram as i32,
            None => false,
        };
        wanted.then_some(Entry {
            family: entry.family,
            role,
        })
    }

    /// A sample line: `name{labels} value [timestamp]`, where the name may
    /// instead be a quoted string inside the braces.
    fn sample(&mut self) -> Result<(), DecodeError> {
        self.cur.scratch.clear();
        self.labels.clear();
        let braced = self.cur.peek() == Some(b'{');
        let mut name = None;
        let mut entry = None;
        let mut bare = false;
        if !braced {
            if let Some((span, found)) = self.cache.at(self.cur.buf, self.cur.pos) {
                self.cur.pos = span.end;
                name = Some(span);
                entry = Some(found);
            } else {
                bare = self.cur.peek() != Some(b'"');
                name = self.cur.metric_name()?.filter(|n| !n.is_empty());
                if name.is_none() {
                    return Err(self.cur.err("invalid metric name"));
                }
            }
            self.cur.skip_blanks();
        }
        if self.cur.peek() == Some(b'{') {
            self.cur.pos += 1;
            if braced || !self.plain_label_set() {
                self.label_set(braced, &mut name)?;
            }
            self.cur.skip_blanks();
        }
        let Some(name) = name else {
            return Err(self.cur.err("invalid metric name"));
        };
        let entry = match entry {
            Some(entry) => entry,
            None => self.resolve(name, bare),
        };
        let family = &mut self.families[entry.family];
        let raw_type = *family.mf.r#type.get_or_insert(MetricType::Untyped as i32);
        let ty = MetricType::try_from(raw_type).unwrap_or(MetricType::Untyped);
        let (special, series) = match ty {
            MetricType::Summary | MetricType::Histogram => {
                self.split_labels(ty, name, entry.family)?
            }
            _ => {
                self.check_duplicates(name)?;
                (None, SeriesOf::Key((0, 0)))
            }
        };
        let value = self.cur.value()?;
        let timestamp = self.cur.timestamp()?;
        match ty {
            MetricType::Counter | MetricType::Gauge | MetricType::Untyped => {
                let mut metric = Metric {
                    label: self.make_labels(),
                    timestamp_ms: timestamp,
                    ..Default::default()
                };
                match ty {
                    MetricType::Counter => {
                        metric.counter = Some(Counter {
                            value: Some(value),
                            ..Default::default()
                        })
                    }
                    MetricType::Gauge => metric.gauge = Some(Gauge { value: Some(value) }),
                    _ => metric.untyped = Some(Untyped { value: Some(value) }),
                }
                self.push_metric(entry.family, metric);
            }
            MetricType::Summary | MetricType::Histogram => {
                let index = match series {
                    SeriesOf::Current(index) => index,
                    SeriesOf::Key(key) => self.series(entry.family, ty, key),
                };
                let metric = &mut self.families[entry.family].mf.metric[index];
                // Go converts counts with uint64(v); Rust's `as` saturates
                // where Go's result is platform-defined.
                if ty == MetricType::Summary {
                    let s = metric.summary.get_or_insert_with(Default::default);
                    match (entry.role, special) {
                        (Role::Count, _) => s.sample_count = Some(value as u64),
                        (Role::Sum, _) => s.sample_sum = Some(value),
                        (_, Some(q)) => s.quantile.push(Quantile {
                            quantile: Some(q),
                            value: Some(value),
                        }),
                        _ => {}
                    }
                } else {
                    let h = metric.histogram.get_or_insert_with(Default::default);
                    match (entry.role, special) {
                        (Role::Count, _) => h.sample_count = Some(value as u64),
                        (Role::Sum, _) => h.sample_sum = Some(value),
                        (_, Some(le)) => h.bucket.push(Bucket {
                            upper_bound: Some(le),
                            cumulative_count: Some(value as u64),
                            ..Default::default()
                        }),
                        _ => {}
                    }
                }
                if timestamp.is_some() {
                    metric.timestamp_ms = timestamp;
                }
            }
            MetricType::GaugeHistogram => {
                let msg = format!(
                    "metric type gauge_histogram of {:?} cannot be read from the text format",
                    self.cur.text(name)
                );
                return Err(self.cur.err(msg));
            }
        }
        Ok(())
    }

    /// [`Decoder::label_set`] for the usual shape, `name="value",...}` with
    /// bare names, no blanks and no escapes: reads it and returns true, or
    /// returns false where it reads anything else, with the position and
    /// labels as they were.
    #[inline]
    fn plain_label_set(&mut self) -> bool {
        let buf = self.cur.buf;
        let open = self.cur.pos;
        let mut pos = open;
        // The labels this line shares with the template: the same bytes,
        // from the brace to the comma or brace after a label, read the same.
        let (t_open, t_len) = self.template;
        if t_len != 0 {
            let same = common_prefix(&buf[open..], &buf[t_open..t_open + t_len]);
            for l in &self.template_labels {
                let to = l.to - t_open;
                if to >= same {
                    break;
                }
                let shift = |s: Span| Span::body(s.start - t_open + open, s.end - t_open + open);
                self.labels.push(RawLabel {
                    name: shift(l.name),
                    value: shift(l.value),
                    from: l.from - t_open + open,
                    to: open + to,
                });
                pos = open + to + 1;
                if buf[open + to] == b'}' {
                    self.cur.pos = pos;
                    return true;
                }
            }
        }
        loop {
            if buf.get(pos) == Some(&b'}') {
                pos += 1;
                break;
            }
            // Leaving before the scan when no label name starts here is
            // measurably quicker than testing for an empty name after it.
            let from = pos;
            match buf.get(pos) {
                Some(&b) if name::is_label_name_start(b) => {}
                _ => return self.not_plain(open),
            }
            pos = exposition::label_name_end(buf, from);
            let name = Span::body(from, pos);
            if buf.get(pos..pos + 2) != Some(b"=\"") || &buf[from..pos] == b"__name__" {
                return self.not_plain(open);
            }
            let start = pos + 2;
            let end = exposition::find_quote_stop(buf, start);
            if buf.get(end) != Some(&b'"') {
                return self.not_plain(open);
            }
            pos = end + 1;
            self.labels.push(RawLabel {
                name,
                value: Span::body(start, end),
                from,
                to: pos,
            });
            match buf.get(pos) {
                Some(b',') => pos += 1,
                Some(b'}') => {}
                _ => return self.not_plain(open),
            }
        }
        self.cur.pos = pos;
        self.template = (open, pos - open);
        self.template_labels.clear();
        self.template_labels.extend_from_slice(&self.labels);
        true
    }

    /// Gives up on [`Decoder::plain_label_set`].
    #[cold]
    fn not_plain(&mut self, open: usize) -> bool {
        self.labels.clear();
        self.cur.pos = open;
        false
    }

    /// The labels after `{`, up to and including `}`. In a line that starts
    /// with `{`, one item may be the metric name (usually quoted) instead of
    /// a label.
    fn label_set(&mut self, braced: bool, name: &mut Option<Span>) -> Result<(), DecodeError> {
        loop {
            self.cur.skip_blanks();
            if self.cur.peek() == Some(b'}') {
                self.cur.pos += 1;
                return Ok(());
            }
            let from = self.cur.pos;
            let token = self.cur.label_name()?.filter(|n| !n.is_empty());
            let Some(label) = token else {
                let msg = match name {
                    Some(n) => format!("invalid label name for metric {:?}", self.cur.text(*n)),
                    None => "invalid label name".to_owned(),
                };
                return Err(self.cur.err(msg));
            };
            self.cur.skip_blanks();
            match self.cur.peek() {
                Some(b'=') => self.cur.pos += 1,
                Some(c @ (b',' | b'}')) if braced => {
                    if name.is_some() {
                        return Err(self.cur.err("multiple metric names"));
                    }
                    *name = Some(label);
                    self.cur.pos += 1;
                    if c == b'}' {
                        return Ok(());
                    }
                    continue;
                }
                _ if braced => {
                    let msg = format!(
                        "unexpected end of metric name {:?}, found {}",
                        self.cur.text(label),
                        self.cur.found(self.cur.pos)
                    );
                    return Err(self.cur.err(msg));
                }
                _ => {
                    let msg = format!(
                        "expected '=' after label name, found {}",
                        self.cur.found(self.cur.pos)
                    );
                    return Err(self.cur.err(msg));
                }
            }
            if self.cur.bytes(label) == b"__name__" {
                return Err(self.cur.err("label name \"__name__\" is reserved"));
            }
            self.cur.skip_blanks();
            if self.cur.peek() != Some(b'"') {
                let msg = format!(
                    "expected '\"' at start of label value, found {}",
                    self.cur.found(self.cur.pos)
                );
                return Err(self.cur.err(msg));
            }
            let value = self.cur.quoted("label value")?;
            self.labels.push(RawLabel {
                name: label,
                value,
                from,
                to: self.cur.pos,
            });
            self.cur.skip_blanks();
            match self.cur.peek() {
                Some(b',') => self.cur.pos += 1,
                Some(b'}') => {
                    self.cur.pos += 1;
                    return Ok(());
                }
                _ => {
                    let msg = format!(
                        "unexpected end of label value {:?}, expected ',' or '}}'",
                        self.cur.text(value)
                    );
                    return Err(self.cur.err(msg));
                }
            }
        }
    }

    /// Parses a summary's `quantile` or a histogram's `le` label (`None` if
    /// absent or NaN, which Go ignores) and finds the line's series: the
    /// family's current metric, or else the series key to look it up by, once
    /// the special label is taken out of the labels and the rest are checked
    /// for duplicate names.
    ///
    /// The series key is the body range from the first label that is not
    /// special to the end of the last: the same bytes there read as the same
    /// labels, and no other label that is not special is outside it. So a
    /// line whose key has the bytes of the current metric's key belongs to
    /// it, and its labels passed the duplicate check already; bucket lines
    /// that differ only in a trailing `le` and the `_sum` and `_count` lines
    /// after them share a key.
    fn split_labels(
        &mut self,
        ty: MetricType,
        name: Span,
        family: usize,
    ) -> Result<(Option<f64>, SeriesOf), DecodeError> {
        let special: &[u8] = if ty == MetricType::Summary {
            b"quantile"
        } else {
            b"le"
        };
        let mut value = None;
        let mut found = false;
        let mut key_start = None;
        let mut key_end = 0;
        for label in &self.labels {
            let n = label.name;
            if n.end - n.start != special.len() || self.cur.bytes(n) != special {
                key_start.get_or_insert(label.from);
                key_end = label.to;
                continue;
            }
            let text = self.cur.text(label.value);
            let Some(v) = float::parse(text) else {
                let msg = format!(
                    "expected float as value for '{}' label, got {text:?}",
                    self.cur.text(label.name)
                );
                return Err(self.cur.err(msg));
            };
            // The last one wins, and NaN means none, as in Go.
            value = Some(v).filter(|v| !v.is_nan());
            found = true;
        }
        let key = key_start.map_or((0, 0), |start| (start, key_end));
        let f = &self.families[family];
        if let Some(i) = f.current {
            let buf = self.cur.buf;
            if buf[f.current_key.0..f.current_key.1] == buf[key.0..key.1] {
                return Ok((value, SeriesOf::Current(i)));
            }
        }
        if found {
            let cur = &self.cur;
            self.labels.retain(|l| cur.bytes(l.name) != special);
        }
        self.check_duplicates(name)?;
        Ok((value, SeriesOf::Key(key)))
    }

    fn check_duplicates(&self, name: Span) -> Result<(), DecodeError> {
        if self.has_duplicate_names() {
            let msg = format!("duplicate label names for metric {:?}", self.cur.text(name));
            return Err(self.cur.err(msg));
        }
        Ok(())
    }

    fn has_duplicate_names(&self) -> bool {
        let labels = &self.labels;
        if labels.len() <= SMALL_SET {
            return (1..labels.len()).any(|i| {
                let name = self.cur.bytes(labels[i].name);
                labels[..i].iter().any(|l| self.cur.bytes(l.name) == name)
            });
        }
        let mut names: Vec<&[u8]> = labels.iter().map(|l| self.cur.bytes(l.name)).collect();
        names.sort_unstable();
        names.windows(2).any(|w| w[0] == w[1])
    }

    fn make_labels(&self) -> Vec<LabelPair> {
        let mut labels = Vec::with_capacity(self.labels.len() + self.room);
        labels.extend(self.labels.iter().map(|l| LabelPair {
            name: Some(self.cur.to_str(l.name)),
            value: Some(self.cur.to_str(l.value)),
        }));
        labels
    }

    /// Adds a metric to a family, returning its index. A family's first
    /// metric makes room for as many as the family that last had one new
    /// has: families tend to have alike numbers of series.
    fn push_metric(&mut self, family: usize, metric: Metric) -> usize {
        let last = self.last_family;
        self.last_family = family;
        let hint = self.families[last].mf.metric.len();
        let metrics = &mut self.families[family].mf.metric;
        if metrics.capacity() == 0 {
            metrics.reserve_exact(hint.max(1));
        }
        metrics.push(metric);
        metrics.len() - 1
    }

    /// The index of the summary or histogram metric with the current label
    /// set, created if the family has none yet; it becomes the family's
    /// current metric, under the line's series `key`.
    fn series(&mut self, family: usize, ty: MetricType, key: (usize, usize)) -> usize {
        let cur = &self.cur;
        let labels = &self.labels;
        let f = &mut self.families[family];
        let hash = self
            .hasher
            .hash(
                labels
                    .iter()
                    .map(|l| (cur.bytes(l.name), cur.bytes(l.value))),
            )
            .wrapping_add((family as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let index = &self.series;
        let mut j = index.heads.get(&hash).copied().unwrap_or(NONE);
        let found = loop {
            let Some(&(fam, m, next)) = index.chain.get(j as usize) else {
                break None;
            };
            if fam == family && same_set(cur, &f.mf.metric[m].label, labels) {
                break Some(m);
            }
            j = next;
        };
        let i = match found {
            Some(i) => i,
            None => {
                // As many buckets or quantiles as the last series had.
                let hint = f.current.map_or(0, |i| {
                    let m = &f.mf.metric[i];
                    match (&m.summary, &m.histogram) {
                        (Some(s), _) => s.quantile.len(),
                        (_, Some(h)) => h.bucket.len(),
                        _ => 0,
                    }
                });
                let mut metric = Metric {
                    label: self.make_labels(),
                    ..Default::default()
                };
                if ty == MetricType::Summary {
                    metric.summary = Some(Box::new(Summary {
                        quantile: Vec::with_capacity(hint),
                        ..Default::default()
                    }));
                } else {
                    metric.histogram = Some(Box::new(Histogram {
                        bucket: Vec::with_capacity(hint),
                        ..Default::default()
                    }));
                }
                let i = self.push_metric(family, metric);
                self.series.insert(hash, family, i);
                i
            }
        };
        let f = &mut self.families[family];
        f.current = Some(i);
        f.current_key = key;
        i
    }
}

/// Whether a metric's labels are the same set as the line's, in any order.
/// Both sides have unique names.
fn same_set(cur: &Cursor<'_>, have: &[LabelPair], want: &[RawLabel]) -> bool {
    if have.len() != want.len() {
        return false;
    }
    fn pair(h: &LabelPair) -> (&[u8], &[u8]) {
        (h.name().as_bytes(), h.value().as_bytes())
    }
    let raw = |w: &RawLabel| (cur.bytes(w.name), cur.bytes(w.value));
    if have.iter().zip(want).all(|(h, w)| pair(h) == raw(w)) {
        return true;
    }
    if want.len() <= SMALL_SET {
        return want.iter().all(|w| have.iter().any(|h| pair(h) == raw(w)));
    }
    let mut a: Vec<_> = have.iter().map(pair).collect();
    let mut b: Vec<_> = want.iter().map(raw).collect();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

/// Appends `families` to `out` as Go's `expfmt.MetricFamilyToText` writes
/// them, one after the other.
///
/// Help is written only when present; names that are not legacy metric names
/// are quoted (a quoted metric name goes inside the braces); summaries and
/// histograms are written as their `quantile`/`le`, `_sum` and `_count`
/// lines, with a `+Inf` bucket added when missing; gauge histograms are
/// written as histograms. Float counts (`sample_count_float`,
/// `cumulative_count_float`) are used when above zero.
///
/// On error `out` is left as it was: nothing of any family is appended.
pub fn encode(families: &[MetricFamily], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let start = out.len();
    for mf in families {
        if let Err(e) = write_family(mf, out) {
            out.truncate(start);
            return Err(e);
        }
    }
    Ok(())
}

fn encode_error(message: impl Into<String>) -> EncodeError {
    EncodeError::new(Format::Text, message)
}

/// One part of `family` ([`super::encode_part`]).
// Only the Pushgateway mode joins families from parts.
#[cfg_attr(not(feature = "gateway"), allow(dead_code))]
pub(crate) fn encode_part(
    family: &MetricFamily,
    part: super::Part,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    write_family_part(family, Some(part), out)
}

fn write_family(mf: &MetricFamily, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    write_family_part(mf, None, out)
}

/// `mf`, or only its head or its metrics.
fn write_family_part(
    mf: &MetricFamily,
    part: Option<super::Part>,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let head = part != Some(super::Part::Metrics);
    let name = mf.name();
    if mf.metric.is_empty() {
        return Err(encode_error(format!(
            "metric family {name:?} has no metrics"
        )));
    }
    if name.is_empty() {
        return Err(encode_error("metric family has no name"));
    }
    let raw_type = mf.r#type.unwrap_or(MetricType::Counter as i32);
    let Ok(ty) = MetricType::try_from(raw_type) else {
        return Err(encode_error(format!(
            "unknown metric type {raw_type} of metric family {name:?}"
        )));
    };
    if head {
        if let Some(help) = &mf.help {
            out.extend_from_slice(b"# HELP ");
            exposition::write_name(out, name);
            out.push(b' ');
            exposition::write_escaped(out, help, Dialect::Text.help_escapes_quotes());
            out.push(b'\n');
        }
        out.extend_from_slice(b"# TYPE ");
        exposition::write_name(out, name);
        out.extend_from_slice(match ty {
            MetricType::Counter => b" counter\n".as_slice(),
            MetricType::Gauge => b" gauge\n",
            MetricType::Summary => b" summary\n",
            MetricType::Untyped => b" untyped\n",
            MetricType::Histogram | MetricType::GaugeHistogram => b" histogram\n",
        });
    }
    if part == Some(super::Part::Head) {
        return Ok(());
    }

    let w = SampleWriter {
        name: SampleName::new(name),
    };
    let missing = |kind: &str, m: &Metric| {
        encode_error(format!(
            "expected {kind} in metric {}",
            exposition::describe(Some(name), &m.label)
        ))
    };
    for m in &mf.metric {
        match ty {
            MetricType::Counter => {
                let c = m.counter.as_ref().ok_or_else(|| missing("counter", m))?;
                w.write(out, "", m, None, c.value.unwrap_or(0.0));
            }
            MetricType::Gauge => {
                let g = m.gauge.as_ref().ok_or_else(|| missing("gauge", m))?;
                w.write(out, "", m, None, g.value.unwrap_or(0.0));
            }
            MetricType::Untyped => {
                let u = m.untyped.as_ref().ok_or_else(|| missing("untyped", m))?;
                w.write(out, "", m, None, u.value.unwrap_or(0.0));
            }
            MetricType::Summary => {
                let s = m.summary.as_deref().ok_or_else(|| missing("summary", m))?;
                for q in &s.quantile {
                    let extra = Some(("quantile", q.quantile.unwrap_or(0.0)));
                    w.write(out, "", m, extra, q.value.unwrap_or(0.0));
                }
                w.write(out, "_sum", m, None, s.sample_sum.unwrap_or(0.0));
                let count = s.sample_count.unwrap_or(0) as f64;
                w.write(out, "_count", m, None, count);
            }
            MetricType::Histogram | MetricType::GaugeHistogram => {
                let h = m
                    .histogram
                    .as_deref()
                    .ok_or_else(|| missing("histogram", m))?;
                let count = prefer_float(h.sample_count_float, h.sample_count);
                let mut inf_seen = false;
                for b in &h.bucket {
                    let le = b.upper_bound.unwrap_or(0.0);
                    let n = prefer_float(b.cumulative_count_float, b.cumulative_count);
                    w.write(out, "_bucket", m, Some(("le", le)), n);
                    inf_seen |= le == f64::INFINITY;
                }
                if !inf_seen {
                    w.write(out, "_bucket", m, Some(("le", f64::INFINITY)), count);
                }
                w.write(out, "_sum", m, None, h.sample_sum.unwrap_or(0.0));
                w.write(out, "_count", m, None, count);
            }
        }
    }
    Ok(())
}

/// A float count if it is above zero, else the integer count.
fn prefer_float(float: Option<f64>, int: Option<u64>) -> f64 {
    match float {
        Some(f) if f > 0.0 => f,
        _ => int.unwrap_or(0) as f64,
    }
}

/// Writes a family's sample lines.
struct SampleWriter<'a> {
    name: SampleName<'a>,
}

impl SampleWriter<'_> {
    /// One sample line: name and labels, value, timestamp.
    fn write(
        &self,
        out: &mut Vec<u8>,
        suffix: &str,
        m: &Metric,
        extra: Option<(&str, f64)>,
        value: f64,
    ) {
        self.name.write(out, Dialect::Text, suffix, &m.label, extra);
        out.push(b' ');
        Dialect::Text.write_float(out, value);
        if let Some(ts) = m.timestamp_ms {
            out.push(b' ');
            int::write_i64(out, ts);
        }
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(body: &str) -> Vec<MetricFamily> {
        match decode(Bytes::copy_from_slice(body.as_bytes())) {
            Ok(f) => f,
            Err(e) => panic!("{e}\nbody:\n{body}"),
        }
    }

    /// The line and message of the error `body` must produce.
    fn fail(body: &[u8]) -> (usize, String) {
        match decode(Bytes::copy_from_slice(body)) {
            Ok(f) => panic!(
                "expected an error, got {f:?}\nbody: {:?}",
                String::from_utf8_lossy(body)
            ),
            Err(e) => {
                assert_eq!(e.format, Format::Text);
                (e.line().expect("a line number"), e.message)
            }
        }
    }

    fn enc(families: &[MetricFamily]) -> String {
        let mut out = Vec::new();
        encode(families, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn names(families: &[MetricFamily]) -> Vec<&str> {
        families.iter().map(|f| f.name()).collect()
    }

    fn labels(m: &Metric) -> Vec<(&str, &str)> {
        m.label.iter().map(|l| (l.name(), l.value())).collect()
    }

    fn family(name: &str, t: MetricType, metric: Vec<Metric>) -> MetricFamily {
        MetricFamily {
            name: Some(name.into()),
            r#type: Some(t as i32),
            metric,
            ..Default::default()
        }
    }

    fn untyped_value(m: &Metric) -> f64 {
        m.untyped.unwrap().value.unwrap()
    }

    #[test]
    fn empty_and_blank_bodies_have_no_families() {
        for body in ["", "\n", "\n\n\n", "  \t\n \n", "\n   ", "\t"] {
            assert_eq!(dec(body), vec![], "{body:?}");
        }
    }

    #[test]
    fn untyped_samples_without_type_lines() {
        let body =
            "\nfirst_metric 1.5\nsecond_metric -2e3 1700000000000\n# just a remark\nthird{} 7\n";
        let f = dec(body);
        assert_eq!(names(&f), ["first_metric", "second_metric", "third"]);
        for family in &f {
            assert_eq!(family.metric_type(), MetricType::Untyped);
            assert_eq!(family.help, None);
            assert_eq!(family.metric.len(), 1);
            assert!(family.metric[0].label.is_empty());
        }
        assert_eq!(untyped_value(&f[0].metric[0]), 1.5);
        assert_eq!(f[0].metric[0].timestamp_ms, None);
        assert_eq!(untyped_value(&f[1].metric[0]), -2000.0);
        assert_eq!(f[1].metric[0].timestamp_ms, Some(1_700_000_000_000));
        assert_eq!(untyped_value(&f[2].metric[0]), 7.0);
    }

    #[test]
    fn counters_gauges_comments_whitespace_and_escapes() {
        let body = concat!(
            "# Comment lines are ignored, as is this one.\n",
            "#\n",
            "#\tTYPE-less remark\n",
            "#HELP\n",
            "# TYPE http_requests_total counter\n",
            "http_requests_total{method=\"get\",code=\"200\"} 1027 1395066363000\n",
            "http_requests_total {method=\"post\", code=\"400\"}   3\n",
            "# HELP http_requests_total Requests\\\\served,\\nby \"code\" \\\"quoted\\\". \n",
            "\n",
            "  # HELP  temp_celsius \t Room temperature.\n",
            " #   TYPE   temp_celsius   gauge\n",
            "temp_celsius{room=\"a\\\"b\\\\c\\nd\"\t,floor =  \"1\"\t} -Inf\n",
            "temp_celsius{ room = \"x\" , }+Inf\n",
            "\t temp_celsius\t{}\t0.25\t-5\n",
        );
        let f = dec(body);
        assert_eq!(names(&f), ["http_requests_total", "temp_celsius"]);

        let c = &f[0];
        assert_eq!(c.metric_type(), MetricType::Counter);
        assert_eq!(c.help(), "Requests\\served,\nby \"code\" \"quoted\". ");
        assert_eq!(labels(&c.metric[0]), [("method", "get"), ("code", "200")]);
        assert_eq!(c.metric[0].counter.as_ref().unwrap().value, Some(1027.0));
        assert_eq!(c.metric[0].timestamp_ms, Some(1_395_066_363_000));
        assert_eq!(labels(&c.metric[1]), [("method", "post"), ("code", "400")]);
        assert_eq!(c.metric[1].counter.as_ref().unwrap().value, Some(3.0));
        assert_eq!(c.metric[1].timestamp_ms, None);

        let g = &f[1];
        assert_eq!(g.metric_type(), MetricType::Gauge);
        assert_eq!(g.help(), "Room temperature.");
        assert_eq!(g.metric.len(), 3);
        assert_eq!(
            labels(&g.metric[0]),
            [("room", "a\"b\\c\nd"), ("floor", "1")]
        );
        assert_eq!(g.metric[0].gauge.unwrap().value, Some(f64::NEG_INFINITY));
        assert_eq!(labels(&g.metric[1]), [("room", "x")]);
        assert_eq!(g.metric[1].gauge.unwrap().value, Some(f64::INFINITY));
        assert!(g.metric[2].label.is_empty());
        assert_eq!(g.metric[2].gauge.unwrap().value, Some(0.25));
        assert_eq!(g.metric[2].timestamp_ms, Some(-5));
    }

    #[test]
    fn special_float_spellings() {
        let cases = [
            ("NaN", f64::NAN),
            ("nan", f64::NAN),
            ("+Inf", f64::INFINITY),
            ("Inf", f64::INFINITY),
            ("inf", f64::INFINITY),
            ("+inf", f64::INFINITY),
            ("Infinity", f64::INFINITY),
            ("-Inf", f64::NEG_INFINITY),
            ("-infinity", f64::NEG_INFINITY),
            ("1e3", 1000.0),
            ("-0", -0.0),
            (".5", 0.5),
            ("5.", 5.0),
            ("+7", 7.0),
            ("0010", 10.0),
        ];
        for (text, want) in cases {
            let f = dec(&format!("m {text}\n"));
            let got = untyped_value(&f[0].metric[0]);
            assert!(
                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                "{text}: {got}"
            );
        }
        for text in [
            "+NaN", "-nan", "0x1p-3", "0x10", "1_000", "in", "1e", "--1", "1,5",
        ] {
            let (line, msg) = fail(format!("ok 1\nm {text}\n").as_bytes());
            assert_eq!(line, 2, "{text}");
            assert_eq!(msg, format!("expected float as value, got {text:?}"));
        }
    }

    #[test]
    fn timestamps_are_int64_milliseconds() {
        let cases = [
            ("0", 0),
            ("-1", -1),
            ("+5", 5),
            ("0007", 7),
            ("9223372036854775807", i64::MAX),
            ("-9223372036854775808", i64::MIN),
        ];
        for (text, want) in cases {
            let f = dec(&format!("m{{a=\"b\"}} 1 {text}\n"));
            assert_eq!(f[0].metric[0].timestamp_ms, Some(want), "{text}");
        }
        for text in [
            "9223372036854775808",
            "-9223372036854775809",
            "1.5",
            "1e3",
            "12a",
            "-",
            "+",
            "0x10",
            "1_0",
            "NaN",
        ] {
            let (line, msg) = fail(format!("\nm 1 {text}\n").as_bytes());
            assert_eq!(line, 2, "{text}");
            assert_eq!(msg, format!("expected integer as timestamp, got {text:?}"));
        }
    }

    #[test]
    fn summary_lines_group_into_one_metric_per_label_set() {
        let body = concat!(
            "# TYPE rpc_seconds summary\n",
            "rpc_seconds{service=\"a\",quantile=\"0.5\"} 0.05\n",
            "other_total 1 10\n",
            "rpc_seconds{quantile=\"0.99\",service=\"a\"} 0.3 100\n",
            "rpc_seconds_count{service=\"a\"} 12.9\n",
            "rpc_seconds_sum{service=\"a\"} 1.5 200\n",
            "rpc_seconds_sum_extra{service=\"a\"} 7\n",
            "# TYPE queue_seconds summary\n",
            "queue_seconds_count{zone=\"z\",service=\"b\"} 4\n",
            "rpc_seconds_count{service=\"b\",zone=\"z\"} 9 300\n",
            "queue_seconds{service=\"b\",zone=\"z\",quantile=\"1e-1\"} -2.5\n",
            "# A NaN quantile is dropped, as Go drops it.\n",
            "rpc_seconds{service=\"a\",quantile=\"NaN\"} 123\n",
            "rpc_seconds_sum{service=\"c\"} 010\n",
            "rpc_seconds{service=\"c\",quantile=\"0.9\"} 1\n",
            "rpc_seconds{zone=\"z\",service=\"b\",quantile=\"-1.5\",} NaN\n",
            "# HELP rpc_seconds_count Help for the summary, via its _count name.\n",
        );
        let f = dec(body);
        assert_eq!(
            names(&f),
            [
                "rpc_seconds",
                "other_total",
                "rpc_seconds_sum_extra",
                "queue_seconds"
            ]
        );

        let rpc = &f[0];
        assert_eq!(rpc.metric_type(), MetricType::Summary);
        assert_eq!(rpc.help(), "Help for the summary, via its _count name.");
        assert_eq!(rpc.metric.len(), 3);

        let a = &rpc.metric[0];
        assert_eq!(labels(a), [("service", "a")]);
        let s = a.summary.as_deref().unwrap();
        let q: Vec<_> = s
            .quantile
            .iter()
            .map(|q| (q.quantile.unwrap(), q.value.unwrap()))
            .collect();
        assert_eq!(q, [(0.5, 0.05), (0.99, 0.3)]);
        assert_eq!(s.sample_count, Some(12));
        assert_eq!(s.sample_sum, Some(1.5));
        assert_eq!(a.timestamp_ms, Some(200), "the latest timestamp wins");

        let b = &rpc.metric[1];
        assert_eq!(labels(b), [("service", "b"), ("zone", "z")]);
        let s = b.summary.as_deref().unwrap();
        assert_eq!(s.sample_count, Some(9));
        assert_eq!(s.sample_sum, None);
        assert_eq!(s.quantile.len(), 1);
        assert_eq!(s.quantile[0].quantile, Some(-1.5));
        assert!(s.quantile[0].value.unwrap().is_nan());
        assert_eq!(b.timestamp_ms, Some(300));

        let c = &rpc.metric[2];
        assert_eq!(labels(c), [("service", "c")]);
        let s = c.summary.as_deref().unwrap();
        assert_eq!((s.sample_count, s.sample_sum), (None, Some(10.0)));
        assert_eq!(
            s.quantile,
            [Quantile {
                quantile: Some(0.9),
                value: Some(1.0)
            }]
        );
        assert_eq!(c.timestamp_ms, None);

        assert_eq!(f[1].metric_type(), MetricType::Untyped);
        assert_eq!(f[1].metric[0].timestamp_ms, Some(10));
        assert_eq!(f[2].metric_type(), MetricType::Untyped);
        assert_eq!(labels(&f[2].metric[0]), [("service", "a")]);

        let queue = &f[3];
        assert_eq!(queue.metric.len(), 1);
        assert_eq!(labels(&queue.metric[0]), [("zone", "z"), ("service", "b")]);
        let s = queue.metric[0].summary.as_deref().unwrap();
        assert_eq!(s.sample_count, Some(4));
        assert_eq!(
            s.quantile,
            [Quantile {
                quantile: Some(0.1),
                value: Some(-2.5)
            }]
        );
    }

    #[test]
    fn histogram_lines_group_and_keep_the_inf_bucket() {
        let body = concat!(
            "# HELP latency_seconds Latency.\n",
            "# TYPE latency_seconds histogram\n",
            "latency_seconds_bucket{path=\"/\",le=\"0.1\"} 1\n",
            "latency_seconds_bucket{path=\"/x\",le=\"0.1\"} 0\n",
            "latency_seconds_bucket{le=\"0.5\",path=\"/\"} 3\n",
            "latency_seconds_bucket{path=\"/\",le=\"+Inf\"} 4\n",
            "latency_seconds_sum{path=\"/\"} 1.25\n",
            "latency_seconds_count{path=\"/\"} 4\n",
            "latency_seconds_bucket{path=\"/x\",le=\"Inf\"} 2 5\n",
            "latency_seconds_count{path=\"/x\"} 2\n",
            "latency_seconds_sum{path=\"/x\"} 0.5\n",
            "# No TYPE line: these are three untyped families.\n",
            "plain_bucket{le=\"1\"} 2\n",
            "plain_sum 3\n",
            "plain_count 2\n",
        );
        let f = dec(body);
        assert_eq!(
            names(&f),
            [
                "latency_seconds",
                "plain_bucket",
                "plain_sum",
                "plain_count"
            ]
        );
        let h = &f[0];
        assert_eq!(h.metric_type(), MetricType::Histogram);
        assert_eq!(h.help(), "Latency.");
        assert_eq!(h.metric.len(), 2);
        let buckets = |m: &Metric| -> Vec<(f64, u64)> {
            let h = m.histogram.as_deref().unwrap();
            h.bucket
                .iter()
                .map(|b| (b.upper_bound.unwrap(), b.cumulative_count.unwrap()))
                .collect()
        };
        assert_eq!(labels(&h.metric[0]), [("path", "/")]);
        assert_eq!(
            buckets(&h.metric[0]),
            [(0.1, 1), (0.5, 3), (f64::INFINITY, 4)]
        );
        let hist = h.metric[0].histogram.as_deref().unwrap();
        assert_eq!((hist.sample_count, hist.sample_sum), (Some(4), Some(1.25)));
        assert_eq!(labels(&h.metric[1]), [("path", "/x")]);
        assert_eq!(buckets(&h.metric[1]), [(0.1, 0), (f64::INFINITY, 2)]);
        let hist = h.metric[1].histogram.as_deref().unwrap();
        assert_eq!((hist.sample_count, hist.sample_sum), (Some(2), Some(0.5)));
        assert_eq!(h.metric[1].timestamp_ms, Some(5));

        for family in &f[1..] {
            assert_eq!(family.metric_type(), MetricType::Untyped);
        }
        assert_eq!(labels(&f[1].metric[0]), [("le", "1")]);
        assert_eq!(untyped_value(&f[3].metric[0]), 2.0);
    }

    #[test]
    fn suffixed_names_join_only_a_typed_base_family() {
        let body = concat!(
            "x_sum 1\n",
            "# TYPE x summary\n",
            "x_sum 2\n",
            "x_count 3\n",
            "# TYPE gh gauge_histogram\n",
            "gh_bucket{le=\"1\"} 1\n",
            "# TYPE s summary\n",
            "s_bucket{le=\"1\"} 1\n",
            "# TYPE h histogram\n",
            "h{le=\"2\"} 5\n",
            "h_bucket 6\n",
        );
        let f = dec(body);
        assert_eq!(names(&f), ["x_sum", "x", "gh_bucket", "s_bucket", "h"]);
        // An existing family of the exact name wins over the summary.
        assert_eq!(f[0].metric.len(), 2);
        assert_eq!(untyped_value(&f[0].metric[1]), 2.0);
        let x = f[1].metric[0].summary.as_deref().unwrap();
        assert_eq!((x.sample_count, x.sample_sum), (Some(3), None));
        assert_eq!(f[2].metric_type(), MetricType::Untyped);
        assert_eq!(f[3].metric_type(), MetricType::Untyped);
        // A histogram takes an `le` on any of its names; a sample without
        // one only creates the series.
        let h = f[4].metric[0].histogram.as_deref().unwrap();
        assert_eq!(h.bucket.len(), 1);
        assert_eq!(h.bucket[0].upper_bound, Some(2.0));
        assert_eq!(h.bucket[0].cumulative_count, Some(5));
        assert_eq!(f[4].metric.len(), 1);
    }

    #[test]
    fn help_and_type_only_families_are_dropped() {
        let body = concat!(
            "# HELP only_help Nobody samples this.\n",
            "# TYPE only_type gauge\n",
            "# HELP later Later.\n",
            "# HELP no_text\n",
            "# HELP blank_text   \n",
            "# HELP blank_text Set after a blank one.\n",
            "first 1\n",
            "# TYPE later counter\n",
            "later 2\n",
            "blank_text 3\n",
            "no_text 4\n",
        );
        let f = dec(body);
        assert_eq!(names(&f), ["later", "blank_text", "first", "no_text"]);
        assert_eq!(f[0].help(), "Later.");
        assert_eq!(f[0].metric_type(), MetricType::Counter);
        assert_eq!(f[1].help(), "Set after a blank one.");
        assert_eq!(f[3].help, None);
    }

    #[test]
    fn quoted_utf8_names() {
        let body = concat!(
            "# HELP \"my.metric\" Dots.\n",
            "# TYPE \"my.metric\" counter\n",
            "{\"my.metric\",\"label.name\"=\"v\",plain=\"w\"} 1\n",
            "{\"my.metric\"} 2\n",
            "{plain=\"z\", \"my.metric\"} 3\n",
            "\"my.metric\"{a=\"b\"} 4\n",
            "{\"esc\\\"aped\\\\name\\n\"} 5\n",
            "metric_name{\"quoted\"=\"x\", \"dotted.label\"=\"y\"} 6\n",
            "{ bare } 7\n",
            "# TYPE \"h.x\" histogram\n",
            "{\"h.x_bucket\",le=\"1\"} 1\n",
            "{\"h.x_count\"} 1\n",
        );
        let f = dec(body);
        assert_eq!(
            names(&f),
            [
                "my.metric",
                "esc\"aped\\name\n",
                "metric_name",
                "bare",
                "h.x"
            ]
        );
        let m = &f[0];
        assert_eq!(m.help(), "Dots.");
        assert_eq!(m.metric_type(), MetricType::Counter);
        let got: Vec<_> = m.metric.iter().map(labels).collect();
        assert_eq!(
            got,
            [
                vec![("label.name", "v"), ("plain", "w")],
                vec![],
                vec![("plain", "z")],
                vec![("a", "b")],
            ]
        );
        assert_eq!(f[1].metric_type(), MetricType::Untyped);
        assert_eq!(
            labels(&f[2].metric[0]),
            [("quoted", "x"), ("dotted.label", "y")]
        );
        assert_eq!(untyped_value(&f[3].metric[0]), 7.0);
        let h = f[4].metric[0].histogram.as_deref().unwrap();
        assert_eq!((h.bucket.len(), h.sample_count), (1, Some(1)));
    }

    #[test]
    fn long_unescaped_strings_share_the_body() {
        // Longer than `Str::INLINE_CAPACITY`: shared with the body.
        let body = Bytes::from_static(
            b"# HELP up_and_serving_requests_from_the_frontend Whether it is up.\n\
              up_and_serving_requests_from_the_frontend{job=\"api-gateway-frontend-eu-west-1-canary-blue\",note=\"a\\\"b\"} 1\n",
        );
        let range = body.as_ptr() as usize..body.as_ptr() as usize + body.len();
        let inside = |s: &Str| range.contains(&(s.as_ptr() as usize));
        let f = decode(body.clone()).unwrap();
        assert!(inside(f[0].name.as_ref().unwrap()));
        assert!(!inside(f[0].help.as_ref().unwrap()), "short: held inline");
        assert_eq!(f[0].help(), "Whether it is up.");
        let l = &f[0].metric[0].label;
        assert!(inside(l[0].value.as_ref().unwrap()));
        assert!(!inside(l[0].name.as_ref().unwrap()), "short: held inline");
        assert!(
            !inside(l[1].value.as_ref().unwrap()),
            "an escaped value is a copy"
        );
        assert_eq!(l[1].value(), "a\"b");
    }

    #[test]
    fn many_interleaved_series_group_by_hash() {
        // Many series of one family, visited out of order.
        let mut body = String::from("# TYPE big histogram\n");
        for i in 0..40 {
            body += &format!("big_bucket{{i=\"{i}\",k=\"x\",le=\"1\"}} {i}\n");
        }
        for i in (0..40).rev() {
            body += &format!("big_bucket{{k=\"x\",le=\"+Inf\",i=\"{i}\"}} {}\n", i + 1);
            body += &format!("big_count{{le=\"ignored\",i=\"{i}\",k=\"x\"}} {}\n", i + 1);
        }
        // `le` is not a float: but `big_count` is a histogram line, so it is parsed.
        let (line, msg) = fail(body.as_bytes());
        assert_eq!(line, 43);
        assert_eq!(
            msg,
            "expected float as value for 'le' label, got \"ignored\""
        );

        let body = body.replace("le=\"ignored\",", "");
        let f = dec(&body);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].metric.len(), 40);
        for (i, m) in f[0].metric.iter().enumerate() {
            let v = i.to_string();
            assert_eq!(labels(m), [("i", v.as_str()), ("k", "x")]);
            let h = m.histogram.as_deref().unwrap();
            assert_eq!(h.bucket.len(), 2);
            assert_eq!(h.bucket[0].cumulative_count, Some(i as u64));
            assert_eq!(h.bucket[1].upper_bound, Some(f64::INFINITY));
            assert_eq!(h.sample_count, Some(i as u64 + 1));
        }
    }

    #[test]
    fn large_label_sets_compare_as_sets() {
        let pairs: Vec<String> = (0..20).map(|i| format!("l{i:02}=\"v{i}\"")).collect();
        let forward = pairs.join(",");
        let backward = pairs.iter().rev().cloned().collect::<Vec<_>>().join(",");
        let body = format!(
            "# TYPE s summary\ns{{{forward},quantile=\"0.5\"}} 1\ns_count{{{backward}}} 2\ns_sum{{{forward}}} 3\n"
        );
        let f = dec(&body);
        assert_eq!(f[0].metric.len(), 1);
        assert_eq!(f[0].metric[0].label.len(), 20);
        let s = f[0].metric[0].summary.as_deref().unwrap();
        assert_eq!(
            (s.sample_count, s.sample_sum, s.quantile.len()),
            (Some(2), Some(3.0), 1)
        );

        let dup = format!("m{{{forward},l07=\"again\"}} 1\n");
        let (line, msg) = fail(dup.as_bytes());
        assert_eq!(
            (line, msg.as_str()),
            (1, "duplicate label names for metric \"m\"")
        );
    }

    #[test]
    fn huge_label_sets_stay_near_linear() {
        let n = 50_000;
        let les = vec!["le=\"1\""; n].join(",");
        let distinct: Vec<String> = (0..n).map(|i| format!("l{i}=\"v\"")).collect();
        let forward = distinct.join(",");
        let backward = distinct.iter().rev().cloned().collect::<Vec<_>>().join(",");
        let body = format!(
            "# TYPE h histogram\nh_bucket{{{les},a=\"b\"}} 3\n# TYPE s summary\ns_sum{{{forward}}} 1\ns_count{{{backward}}} 2\n"
        );
        let started = std::time::Instant::now();
        let f = dec(&body);
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        let h = f[0].metric[0].histogram.as_deref().unwrap();
        assert_eq!(labels(&f[0].metric[0]), [("a", "b")]);
        assert_eq!(h.bucket.len(), 1);
        assert_eq!(f[1].metric.len(), 1);
        assert_eq!(f[1].metric[0].label.len(), n);
        let dup = format!("m{{{forward},l{}=\"x\"}} 1\n", n / 2);
        assert_eq!(fail(dup.as_bytes()).0, 1);
    }

    #[test]
    fn errors_name_the_line() {
        #[rustfmt::skip]
        let cases: &[(&[u8], usize, &str)] = &[
            // The last line must end with a line feed.
            (b"a 1\nb 2", 2, "unexpected end of input"),
            (b"a 1\n# comment", 2, "unexpected end of input"),
            (b"#", 1, "unexpected end of input"),
            (b"# HELP a text", 1, "unexpected end of input"),
            (b"a{b=\"c", 1, "unexpected end of input"),
            (b"a 1 2", 1, "unexpected end of input"),
            // UTF-8.
            (b"a 1\nb{l=\"\xff\"} 2\n", 2, "invalid UTF-8"),
            (b"# HELP a \xc3\n", 1, "invalid UTF-8"),
            // HELP and TYPE.
            (b"\n# HELP m one\n# HELP m two\n", 3, "second HELP line for metric name \"m\""),
            (b"# TYPE s summary\n# HELP s x\n# HELP s_count y\n", 3, "second HELP line for metric name \"s\""),
            (b"# TYPE m counter\n# TYPE m untyped\n", 2, "second TYPE line for metric name \"m\", or TYPE reported after samples"),
            (b"m 4.12\n# TYPE m counter\n", 2, "second TYPE line for metric name \"m\", or TYPE reported after samples"),
            (b"# TYPE s summary\n# TYPE s_sum gauge\n", 2, "second TYPE line for metric name \"s\""),
            (b"\n# TYPE m bogus\n", 2, "unknown metric type \"bogus\""),
            (b"# TYPE m counter \n", 1, "unknown metric type \"counter \""),
            (b"# TYPE met-ric counter\n", 1, "invalid metric name in comment"),
            (b"# HELP 1m x\n", 1, "invalid metric name in comment"),
            (b"# HELP \"\" x\n", 1, "invalid metric name in comment"),
            (b"# HELP m a\\tb\n", 1, "invalid escape sequence '\\t'"),
            (b"# HELP m ends in \\\n", 1, "invalid escape sequence '\\\\n'"),
            (b"# TYPE \"m.x\\t\" counter\n", 1, "invalid escape sequence '\\t'"),
            (b"# TYPE \"m\nx\" counter\n", 1, "metric name \"m\" contains unescaped new-line"),
            // Metric names.
            (b"ok 1\n1m 1\n", 2, "invalid metric name"),
            (b"ok 1\n{a=\"b\"} 1\n", 2, "invalid metric name"),
            (b"@m{a=\"b\"} 1\n", 1, "invalid metric name"),
            (b"\"\" 1\n", 1, "invalid metric name"),
            (b"{\"a.b\",\"c.d\"} 1\n", 1, "multiple metric names"),
            (b"{\"a.b\".x=\"y\"} 1\n", 1, "unexpected end of metric name \"a.b\", found '.'"),
            (b"{\"a\\xb\"} 1\n", 1, "invalid escape sequence '\\x'"),
            (b"\n{\"a\",\"new\nline\"=\"b\"} 1\n", 2, "label name \"new\" contains unescaped new-line"),
            // Labels.
            (b"m{1a=\"b\"} 1\n", 1, "invalid label name for metric \"m\""),
            (b"m{,} 1\n", 1, "invalid label name for metric \"m\""),
            (b"m{@=\"b\"} 1\n", 1, "invalid label name for metric \"m\""),
            (b"m{a+=\"b\"} 1\n", 1, "expected '=' after label name, found '+'"),
            (b"m{a:b=\"c\"} 1\n", 1, "expected '=' after label name, found ':'"),
            (b"m{a} 1\n", 1, "expected '=' after label name, found '}'"),
            (b"m{__name__=\"x\"} 1\n", 1, "label name \"__name__\" is reserved"),
            (b"m{a=b} 1\n", 1, "expected '\"' at start of label value, found 'b'"),
            (b"m{a=\"\\t\"} 1\n", 1, "invalid escape sequence '\\t'"),
            (b"m{a=\"caf\\\xc3\xa9\"} 1\n", 1, "invalid escape sequence '\\é'"),
            (b"\nm{a=\"new\nline\"} 1\n", 2, "label value \"new\" contains unescaped new-line"),
            (b"m{a=\"x\\\\y\nz\"} 1\n", 1, "label value \"x\\\\y\" contains unescaped new-line"),
            (b"m{a=\"b\"+} 1\n", 1, "unexpected end of label value \"b\""),
            (b"m{a=\"b\" c=\"d\"} 1\n", 1, "unexpected end of label value \"b\""),
            (b"m{a=\"1\",a=\"2\"} 1\n", 1, "duplicate label names for metric \"m\""),
            (b"\n# TYPE m summary\nm{quantile=\"bla\"} 1\n", 3, "expected float as value for 'quantile' label, got \"bla\""),
            (b"# TYPE m histogram\nm_bucket{le=\"0x1p-3\"} 1\n", 2, "expected float as value for 'le' label, got \"0x1p-3\""),
            (b"# TYPE m histogram\nm_sum{le=\"\"} 1\n", 2, "expected float as value for 'le' label, got \"\""),
            // Values and timestamps.
            (b"m{a=\"b\"} blubb\n", 1, "expected float as value, got \"blubb\""),
            (b"m\n", 1, "expected float as value, got \"\""),
            (b"m{} \n", 1, "expected float as value, got \"\""),
            (b"m 1\r\n", 1, "expected float as value, got \"1\\r\""),
            (b"m 1 \n", 1, "expected integer as timestamp, got \"\""),
            (b"m 3.14 2.72\n", 1, "expected integer as timestamp, got \"2.72\""),
            (b"m 3.14 2 3\n", 1, "spurious string after timestamp: \" 3\""),
            (b"m 3.14 2 \n", 1, "spurious string after timestamp: \" \""),
            // Types the text format cannot carry.
            (b"# TYPE gh gauge_histogram\ngh 1\n", 2, "metric type gauge_histogram of \"gh\" cannot be read"),
        ];
        for &(body, line, message) in cases {
            let (got_line, got) = fail(body);
            assert_eq!(got_line, line, "{:?}: {got}", String::from_utf8_lossy(body));
            assert!(
                got.starts_with(message),
                "{:?}: {got:?} does not start with {message:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn error_display_names_format_and_line() {
        let err = decode(Bytes::from_static(b"ok 1\nbad{ 1\n")).unwrap_err();
        assert_eq!(err.position, Position::Line(2));
        assert_eq!(
            err.to_string(),
            format!("invalid {} body, line 2: {}", Format::Text, err.message)
        );
    }

    /// A body pushed to Go's Pushgateway (v1.5.1) ...
    const PUSHED: &str = r#"# HELP esc_total Backslash \\ and\nnewline and "quotes".
# TYPE esc_total counter
esc_total{path="C:\\dir",msg="say \"hi\"\nbye",uni="Björn 佖"} 1
esc_total{path="",msg="",uni=""} 0
# TYPE floats gauge
floats{k="a"} NaN
floats{k="b"} +Inf
floats{k="c"} -Inf
floats{k="d"} -0
floats{k="e"} -1
floats{k="f"} 1e6
floats{k="g"} 123456
floats{k="h"} 1234567
floats{k="i"} 0.0001
floats{k="j"} 0.00001
floats{k="k"} 1e-7
floats{k="l"} 5e-324
floats{k="m"} 1.7976931348623157e308
floats{k="n"} 0.30000000000000004
floats{k="o"} -2.5e-10
# HELP rpc_seconds RPC latency.
# TYPE rpc_seconds summary
rpc_seconds{svc="a",quantile="0.5"} 0.05
rpc_seconds{svc="a",quantile="0.99"} 0.3
rpc_seconds_sum{svc="a"} 1.5
rpc_seconds_count{svc="a"} 12345678
rpc_seconds_count{svc="b"} 3
# TYPE lat histogram
lat_bucket{p="/",le="0.1"} 1
lat_bucket{p="/",le="2.5e-05"} 2
lat_bucket{p="/",le="1e+06"} 3
lat_sum{p="/"} 1.25
lat_count{p="/"} 100000000
lat_bucket{p="/x",le="1"} 1
lat_bucket{p="/x",le="+Inf"} 7
lat_sum{p="/x"} 0
lat_count{p="/x"} 7
# TYPE untyped_thing untyped
untyped_thing 42
# HELP empty_help 
# TYPE nolabels gauge
nolabels 3.5
"#;

    /// ... and what the Pushgateway's `/metrics` wrote for it with
    /// `expfmt.MetricFamilyToText`, after adding `instance` and `job`
    /// labels and sorting labels, metrics and families (its own families
    /// left out).
    const GO_WROTE: &str = r#"# HELP esc_total Backslash \\ and\nnewline and "quotes".
# TYPE esc_total counter
esc_total{instance="",job="g",msg="",path="",uni=""} 0
esc_total{instance="",job="g",msg="say \"hi\"\nbye",path="C:\\dir",uni="Björn 佖"} 1
# TYPE floats gauge
floats{instance="",job="g",k="a"} NaN
floats{instance="",job="g",k="b"} +Inf
floats{instance="",job="g",k="c"} -Inf
floats{instance="",job="g",k="d"} 0
floats{instance="",job="g",k="e"} -1
floats{instance="",job="g",k="f"} 1e+06
floats{instance="",job="g",k="g"} 123456
floats{instance="",job="g",k="h"} 1.234567e+06
floats{instance="",job="g",k="i"} 0.0001
floats{instance="",job="g",k="j"} 1e-05
floats{instance="",job="g",k="k"} 1e-07
floats{instance="",job="g",k="l"} 5e-324
floats{instance="",job="g",k="m"} 1.7976931348623157e+308
floats{instance="",job="g",k="n"} 0.30000000000000004
floats{instance="",job="g",k="o"} -2.5e-10
# TYPE lat histogram
lat_bucket{instance="",job="g",p="/",le="0.1"} 1
lat_bucket{instance="",job="g",p="/",le="2.5e-05"} 2
lat_bucket{instance="",job="g",p="/",le="1e+06"} 3
lat_bucket{instance="",job="g",p="/",le="+Inf"} 1e+08
lat_sum{instance="",job="g",p="/"} 1.25
lat_count{instance="",job="g",p="/"} 1e+08
lat_bucket{instance="",job="g",p="/x",le="1"} 1
lat_bucket{instance="",job="g",p="/x",le="+Inf"} 7
lat_sum{instance="",job="g",p="/x"} 0
lat_count{instance="",job="g",p="/x"} 7
# TYPE nolabels gauge
nolabels{instance="",job="g"} 3.5
# HELP rpc_seconds RPC latency.
# TYPE rpc_seconds summary
rpc_seconds{instance="",job="g",svc="a",quantile="0.5"} 0.05
rpc_seconds{instance="",job="g",svc="a",quantile="0.99"} 0.3
rpc_seconds_sum{instance="",job="g",svc="a"} 1.5
rpc_seconds_count{instance="",job="g",svc="a"} 1.2345678e+07
rpc_seconds_sum{instance="",job="g",svc="b"} 0
rpc_seconds_count{instance="",job="g",svc="b"} 3
# TYPE untyped_thing untyped
untyped_thing{instance="",job="g"} 42
"#;

    /// What the Pushgateway does to a pushed family before writing it.
    fn as_the_pushgateway_stores(mut families: Vec<MetricFamily>) -> Vec<MetricFamily> {
        for f in &mut families {
            for m in &mut f.metric {
                m.label.push(LabelPair::new("instance", ""));
                m.label.push(LabelPair::new("job", "g"));
                m.label.sort_by(|a, b| a.name().cmp(b.name()));
            }
            f.metric.sort_by(|a, b| {
                let values = |m: &Metric| {
                    m.label
                        .iter()
                        .map(|l| l.value().to_owned())
                        .collect::<Vec<_>>()
                };
                values(a).cmp(&values(b))
            });
        }
        families.sort_by(|a, b| a.name().cmp(b.name()));
        families
    }

    #[test]
    fn encodes_what_go_wrote() {
        let pushed = dec(PUSHED);
        assert_eq!(enc(&as_the_pushgateway_stores(pushed)), GO_WROTE);
    }

    #[test]
    fn go_output_round_trips_byte_for_byte() {
        let families = dec(GO_WROTE);
        assert_eq!(families.len(), 6);
        assert_eq!(enc(&families), GO_WROTE);
    }

    fn counter(labels: &[(&str, &str)], value: f64, timestamp_ms: Option<i64>) -> Metric {
        Metric {
            label: labels.iter().map(|&(n, v)| LabelPair::new(n, v)).collect(),
            counter: Some(Counter {
                value: Some(value),
                ..Default::default()
            }),
            timestamp_ms,
            ..Default::default()
        }
    }

    fn histogram_metric(h: Histogram) -> Metric {
        Metric {
            histogram: Some(Box::new(h)),
            ..Default::default()
        }
    }

    fn bucket(le: f64, count: u64) -> Bucket {
        Bucket {
            upper_bound: Some(le),
            cumulative_count: Some(count),
            ..Default::default()
        }
    }

    #[test]
    fn encodes_timestamps_help_and_missing_values() {
        let mut c = family(
            "jobs_total",
            MetricType::Counter,
            vec![
                counter(&[("q", "a")], 1.0, Some(-5)),
                counter(&[], 2.5, Some(0)),
                counter(&[], -0.0, Some(i64::MIN)),
                Metric {
                    counter: Some(Counter::default()),
                    ..Default::default()
                },
            ],
        );
        c.help = Some("".into());
        let mut untyped = family("u", MetricType::Untyped, vec![]);
        untyped.r#type = None; // absent reads as counter, as in Go
        untyped.metric.push(counter(&[], 1e21, None));
        assert_eq!(
            enc(&[c, untyped]),
            concat!(
                "# HELP jobs_total \n",
                "# TYPE jobs_total counter\n",
                "jobs_total{q=\"a\"} 1 -5\n",
                "jobs_total 2.5 0\n",
                "jobs_total 0 -9223372036854775808\n",
                "jobs_total 0\n",
                "# TYPE u counter\n",
                "u 1e+21\n",
            )
        );
    }

    #[test]
    fn encodes_histograms_as_go_does() {
        // Float counts win when above zero; a missing +Inf bucket takes the
        // count; a native-only histogram is its count, sum and +Inf bucket;
        // a gauge histogram is written as a histogram.
        let float = Histogram {
            sample_count: Some(9),
            sample_count_float: Some(2.5),
            sample_sum: Some(0.75),
            bucket: vec![
                Bucket {
                    upper_bound: Some(0.5),
                    cumulative_count_float: Some(1.5),
                    ..Default::default()
                },
                Bucket {
                    upper_bound: Some(1.0),
                    cumulative_count: Some(2),
                    cumulative_count_float: Some(0.0),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let native = Histogram {
            sample_count: Some(5),
            sample_sum: Some(-2.0),
            schema: Some(3),
            zero_threshold: Some(1e-128),
            zero_count: Some(1),
            positive_span: vec![crate::model::BucketSpan {
                offset: Some(0),
                length: Some(2),
            }],
            positive_delta: vec![2, 0],
            ..Default::default()
        };
        let classic = Histogram {
            sample_count: Some(12345678),
            sample_sum: Some(3.0),
            bucket: vec![bucket(1e-5, 1), bucket(f64::INFINITY, 12345678)],
            ..Default::default()
        };
        let mut gauge = family(
            "queue_size",
            MetricType::GaugeHistogram,
            vec![histogram_metric(classic)],
        );
        gauge.help = Some("Gauge\\histogram".into());
        let mut h = family(
            "h",
            MetricType::Histogram,
            vec![histogram_metric(float), histogram_metric(native)],
        );
        h.metric[1].label.push(LabelPair::new("kind", "native"));
        h.metric[1].timestamp_ms = Some(7);
        assert_eq!(
            enc(&[h, gauge]),
            concat!(
                "# TYPE h histogram\n",
                "h_bucket{le=\"0.5\"} 1.5\n",
                "h_bucket{le=\"1\"} 2\n",
                "h_bucket{le=\"+Inf\"} 2.5\n",
                "h_sum 0.75\n",
                "h_count 2.5\n",
                "h_bucket{kind=\"native\",le=\"+Inf\"} 5 7\n",
                "h_sum{kind=\"native\"} -2 7\n",
                "h_count{kind=\"native\"} 5 7\n",
                "# HELP queue_size Gauge\\\\histogram\n",
                "# TYPE queue_size histogram\n",
                "queue_size_bucket{le=\"1e-05\"} 1\n",
                "queue_size_bucket{le=\"+Inf\"} 1.2345678e+07\n",
                "queue_size_sum 3\n",
                "queue_size_count 1.2345678e+07\n",
            )
        );
    }

    #[test]
    fn encodes_utf8_names_quoted() {
        let mut m = family(
            "my.metric",
            MetricType::Gauge,
            vec![
                Metric {
                    label: vec![
                        LabelPair::new("label.name", "v\"1\""),
                        LabelPair::new("ok", "w"),
                        LabelPair::new("a:b", "colon"),
                        LabelPair::new("", "empty"),
                    ],
                    gauge: Some(Gauge { value: Some(1.0) }),
                    ..Default::default()
                },
                Metric {
                    gauge: Some(Gauge { value: Some(2.0) }),
                    ..Default::default()
                },
            ],
        );
        m.help = Some("Help with \"quotes\"\nand lines.".into());
        let s = family(
            "s\"x",
            MetricType::Summary,
            vec![Metric {
                summary: Some(Box::new(Summary {
                    sample_count: Some(3),
                    sample_sum: Some(4.5),
                    quantile: vec![Quantile {
                        quantile: Some(0.5),
                        value: Some(1.0),
                    }],
                    ..Default::default()
                })),
                ..Default::default()
            }],
        );
        let text = enc(&[m, s]);
        assert_eq!(
            text,
            concat!(
                "# HELP \"my.metric\" Help with \"quotes\"\\nand lines.\n",
                "# TYPE \"my.metric\" gauge\n",
                "{\"my.metric\",\"label.name\"=\"v\\\"1\\\"\",ok=\"w\",a:b=\"colon\",\"\"=\"empty\"} 1\n",
                "{\"my.metric\"} 2\n",
                "# TYPE \"s\\\"x\" summary\n",
                "{\"s\\\"x\",quantile=\"0.5\"} 1\n",
                "{\"s\\\"x_sum\"} 4.5\n",
                "{\"s\\\"x_count\"} 3\n",
            )
        );
        // Quoted names read back (Go writes `a:b` bare, which no parser reads).
        let readable = text.replace("a:b=\"colon\",\"\"=\"empty\"", "x=\"y\"");
        let back = dec(&readable);
        assert_eq!(names(&back), ["my.metric", "s\"x"]);
        assert_eq!(labels(&back[0].metric[0])[0], ("label.name", "v\"1\""));
        assert_eq!(enc(&back), readable);
    }

    #[test]
    fn encode_errors_leave_the_output_untouched() {
        let ok = family("ok", MetricType::Gauge, vec![]);
        let mut good = ok.clone();
        good.metric.push(Metric {
            gauge: Some(Gauge { value: Some(1.0) }),
            ..Default::default()
        });
        let untyped_metric = Metric {
            untyped: Some(Untyped { value: Some(1.0) }),
            ..Default::default()
        };
        let mut unknown = family("t", MetricType::Gauge, vec![untyped_metric.clone()]);
        unknown.r#type = Some(9);
        let mut nameless = family("", MetricType::Untyped, vec![untyped_metric.clone()]);
        nameless.name = None;
        let cases = [
            (ok, "metric family \"ok\" has no metrics"),
            (nameless, "metric family has no name"),
            (unknown, "unknown metric type 9 of metric family \"t\""),
            (
                family("c", MetricType::Counter, vec![untyped_metric.clone()]),
                "expected counter in metric c",
            ),
            (
                family("g", MetricType::Gauge, vec![untyped_metric.clone()]),
                "expected gauge in metric g",
            ),
            (
                family(
                    "u",
                    MetricType::Untyped,
                    vec![counter(&[("a", "b")], 1.0, None)],
                ),
                "expected untyped in metric u{a=\"b\"}",
            ),
            (
                family("s", MetricType::Summary, vec![untyped_metric.clone()]),
                "expected summary in metric s",
            ),
            (
                family("h", MetricType::Histogram, vec![untyped_metric.clone()]),
                "expected histogram in metric h",
            ),
            (
                family("gh", MetricType::GaugeHistogram, vec![untyped_metric]),
                "expected histogram in metric gh",
            ),
        ];
        for (bad, message) in cases {
            let mut out = b"kept\n".to_vec();
            let err = encode(&[good.clone(), bad], &mut out).unwrap_err();
            assert_eq!(err.format, Format::Text);
            assert_eq!(err.message, message);
            assert_eq!(out, b"kept\n");
        }
    }

    #[test]
    fn decode_encode_decode_round_trips() {
        let bodies = [
            PUSHED,
            concat!(
                "# TYPE rpc summary\n",
                "rpc{s=\"a\",quantile=\"0.5\"} NaN 5\n",
                "rpc_count{s=\"a\"} 2\n",
                "rpc_sum{s=\"a\"} 0.5\n",
                "# HELP h A \\\\ histogram\\nwith help.\n",
                "# TYPE h histogram\n",
                "h_bucket{le=\"0.25\",x=\"new\\nline\"} 1 -3\n",
                "h_bucket{le=\"+Inf\",x=\"new\\nline\"} 2\n",
                "h_count{x=\"new\\nline\"} 2\n",
                "h_sum{x=\"new\\nline\"} -Inf\n",
                "{\"dotted.name\",\"dotted.label\"=\"\\\\\"} 1\n",
                "c_total{a=\"\"} 1e-300 9223372036854775807\n",
            ),
        ];
        for body in bodies {
            let once = enc(&dec(body));
            let back = dec(&once);
            assert_eq!(enc(&back), once);
            // NaN aside, the families themselves survive.
            if !once.contains("NaN") {
                assert_eq!(back, dec(body));
            }
        }
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn metric_name() -> impl Strategy<Value = String> {
            prop_oneof!["[a-zA-Z_:][a-zA-Z0-9_:]{0,12}", "\\PC{1,12}"]
        }

        fn label_name() -> impl Strategy<Value = String> {
            prop_oneof!["[a-zA-Z_][a-zA-Z0-9_]{0,8}", "[^:]{1,8}"]
                .prop_filter("reserved", |n| n != "__name__")
        }

        fn metric() -> impl Strategy<Value = Metric> {
            (
                proptest::collection::btree_map(label_name(), "\\PC{0,8}|[\\\\\"\n]{0,4}", 0..4),
                any::<f64>().prop_filter("NaN", |v| !v.is_nan()),
                proptest::option::of(any::<i64>()),
            )
                .prop_map(|(labels, value, timestamp_ms)| Metric {
                    label: labels
                        .into_iter()
                        .map(|(n, v)| LabelPair::new(n, v))
                        .collect(),
                    untyped: Some(Untyped { value: Some(value) }),
                    timestamp_ms,
                    ..Default::default()
                })
        }

        proptest! {
            #[test]
            fn untyped_families_round_trip(
                name in metric_name(),
                help in proptest::option::of("\\PC{0,16}|[\\\\\n\"]{0,4}"),
                metrics in proptest::collection::vec(metric(), 1..4),
            ) {
                let mf = MetricFamily {
                    name: Some(name.into()),
                    help: help.map(Str::from),
                    r#type: Some(MetricType::Untyped as i32),
                    metric: metrics,
                    unit: None,
                };
                let mut out = Vec::new();
                encode(std::slice::from_ref(&mf), &mut out).unwrap();
                let back = decode(Bytes::from(out.clone())).unwrap();
                // -0 is written as 0, as Go writes it; help loses its
                // leading blanks, and an empty help is no help.
                let mut want = mf.clone();
                want.help = mf
                    .help
                    .as_deref()
                    .map(|h| h.trim_start_matches([' ', '\t']))
                    .filter(|h| !h.is_empty())
                    .map(Str::from);
                for m in &mut want.metric {
                    if let Some(u) = &mut m.untyped {
                        u.value = u.value.map(|v| if v == 0.0 { 0.0 } else { v });
                    }
                }
                prop_assert_eq!(back, vec![want], "{}", String::from_utf8_lossy(&out));
            }

            #[test]
            fn decode_never_panics(body in proptest::collection::vec(
                prop_oneof![
                    Just(b'\n'), Just(b' '), Just(b'{'), Just(b'}'), Just(b'"'), Just(b'\\'),
                    Just(b'='), Just(b','), Just(b'#'), Just(b'a'), Just(b'1'), Just(b'_'),
                    any::<u8>(),
                ],
                0..64,
            )) {
                let _ = decode(Bytes::from(body));
            }
        }
    }
}
