//! OpenMetrics text 1.0.0 (`application/openmetrics-text; version=1.0.0`).
//!
//! This is what the official Rust `prometheus-client` crate, Python's
//! `prometheus_client` and other newer clients emit.
//!
//! # Decoding
//!
//! [`decode`] accepts exactly the OpenMetrics 1.0 text format: the ABNF of the
//! specification (single spaces, no blank lines, no other `#` lines, no
//! trailing commas in label sets, a final `# EOF` and nothing after it) and its
//! rules on families and metrics: at most one `# HELP`, `# TYPE` and `# UNIT`
//! per family, before its samples; a unit that is the suffix of the name;
//! families, metrics and metric points that are contiguous (no interleaving,
//! no duplicate samples, increasing timestamps); sample names that do not
//! clash with an earlier family's; exemplars only on counter totals and
//! buckets. Like Python's `prometheus_client` parser it also rejects the
//! values the specification forbids: NaN or negative totals, counts and
//! sums (but a gauge histogram with negative buckets may have a negative
//! sum), counts that are not integers, buckets out of `le` order or with
//! decreasing counts, histograms without a `+Inf` bucket or whose `_count`
//! differs from it, quantiles outside 0..1 and negative quantile values,
//! info values other than 1 and stateset values other than 0 and 1.
//!
//! Every error names the 1-based line and what was expected there (problems
//! of a whole metric point, such as a missing `+Inf` bucket, name the point's
//! last line). The whole body is one exposition: any error rejects it all,
//! as the specification requires. Metric names in quotes, from drafts after
//! 1.0, are not accepted.
//!
//! OpenMetrics has types that client_model lacks. They map as follows, the
//! way Python's `prometheus_client` maps them when it writes Prometheus text,
//! so that the same metrics pushed as OpenMetrics or as Prometheus text end up
//! as the same families:
//!
//! | OpenMetrics `# TYPE foo …` | [`MetricType`] | family name | samples |
//! |---|---|---|---|
//! | `counter` | `Counter` | `foo_total` | `foo_total` → value (+ exemplar), `foo_created` → `created_timestamp` |
//! | `gauge` | `Gauge` | `foo` | `foo` |
//! | `histogram` | `Histogram` | `foo` | `foo_bucket{le}` → buckets (+ exemplars), `foo_count`, `foo_sum`, `foo_created` |
//! | `gaugehistogram` | `GaugeHistogram` | `foo` | `foo_bucket{le}`, `foo_gcount` → `sample_count`, `foo_gsum` → `sample_sum` |
//! | `summary` | `Summary` | `foo` | `foo{quantile}`, `foo_count`, `foo_sum`, `foo_created` |
//! | `info` | `Gauge` | `foo_info` | one metric of value 1 per sample, with all its labels |
//! | `stateset` | `Gauge` | `foo` | one metric per state, its labels include `foo="state"`, value 0 or 1 |
//! | `unknown`, or no `# TYPE` | `Untyped` | `foo` | `foo` |
//!
//! A counter's family is named with `_total`, as client_golang names counters
//! and as the samples are named; [`encode`] takes the suffix off again for
//! the `# TYPE` line, as Go's `expfmt` does. Timestamps are seconds in the
//! text and are read exactly (no float rounding): a sample's becomes
//! `timestamp_ms` (rounded down to the millisecond), `_created` values and
//! exemplar timestamps become [`Timestamp`]s. A histogram without `_count`
//! gets its `sample_count` from the `+Inf` bucket. An empty `# HELP` or
//! `# UNIT` counts as absent, as the specification says. Families with
//! metadata but no samples are dropped, as Go's text parser drops them.
//!
//! Several points of one metric (samples with the same labels and increasing
//! timestamps) become several [`Metric`]s with the same labels.
//!
//! Names, label names and label values without escapes share memory with the
//! body; only escaped values and help texts are copied.
//!
//! # Encoding
//!
//! [`encode`] writes what Go's `expfmt.MetricFamilyToOpenMetrics` writes with
//! its `WithUnit` and `WithCreatedLines` options, followed by one `# EOF`,
//! except where Go's output would not be valid OpenMetrics or would lose
//! data:
//!
//! - gauge histograms get `_gcount` and `_gsum` (Go writes `_count`/`_sum`);
//! - a `_created` line carries the metric's timestamp when it has one;
//! - a counter without `_total` is written as `unknown` (as Go does) but
//!   without `_created` line or exemplar, which `unknown` cannot have;
//! - an absent `sample_sum`/`sample_count` is not written as 0: a summary
//!   writes each only when present, a histogram writes `_sum` and `_count`
//!   only when it has a sum (OpenMetrics requires both or neither);
//! - an empty unit is no unit;
//! - timestamps are written from their exact seconds and nanoseconds, not
//!   through a float64: the same bytes as Go wherever Go's float is exact
//!   (always for millisecond timestamps before the year 141,000), every
//!   digit where Go would round them away.
//!
//! As in Go, names that are not legacy Prometheus names are written quoted
//! (`{"my.metric",...}`), which Prometheus reads but OpenMetrics 1.0 (and so
//! [`decode`]) does not; float histograms and unknown types are errors.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;

use bytes::Bytes;

use super::exposition::{self, Dialect, LabelSetHasher, OtherEscapes, SampleName};
use super::id_hasher::IdHasher;
use super::{float, int, DecodeError, EncodeError, Position};
use crate::format::Format;
use crate::model::{
    name, Bucket, Counter, Exemplar, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType,
    Quantile, Str, Summary, Timestamp, Untyped, Utf8Body,
};

/// Decodes an OpenMetrics text exposition.
///
/// ```
/// use bytes::Bytes;
/// use pushgate::codec::openmetrics;
/// use pushgate::model::MetricType;
///
/// let body = Bytes::from_static(
///     b"# TYPE jobs counter\njobs_total{queue=\"a\"} 3 # {trace_id=\"7\"} 1\n# EOF\n",
/// );
/// let families = openmetrics::decode(body).unwrap();
/// assert_eq!(families[0].name(), "jobs_total");
/// assert_eq!(families[0].metric_type(), MetricType::Counter);
/// let counter = families[0].metric[0].counter.as_ref().unwrap();
/// assert_eq!(counter.value, Some(3.0));
/// assert_eq!(counter.exemplar.as_ref().unwrap().label[0].value(), "7");
/// ```
pub fn decode(body: Bytes) -> Result<Vec<MetricFamily>, DecodeError> {
    let body = exposition::utf8_body(body, Format::OpenMetrics)?;
    Decoder::new(&body).run()
}

/// Appends `families` to `out` as OpenMetrics text, then `# EOF`.
///
/// On error nothing is appended.
///
/// ```
/// use pushgate::codec::openmetrics;
/// use pushgate::model::{Counter, Metric, MetricFamily, MetricType};
///
/// let mut mf = MetricFamily { name: Some("jobs_total".into()), ..Default::default() };
/// mf.set_metric_type(MetricType::Counter);
/// mf.metric.push(Metric {
///     counter: Some(Counter { value: Some(3.0), ..Default::default() }),
///     ..Default::default()
/// });
/// let mut out = Vec::new();
/// openmetrics::encode(&[mf], &mut out).unwrap();
/// assert_eq!(out, b"# TYPE jobs counter\njobs_total 3.0\n# EOF\n");
/// ```
pub fn encode(families: &[MetricFamily], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let start = out.len();
    for mf in families {
        if let Err(e) = encode_family(mf, out) {
            out.truncate(start);
            return Err(e);
        }
    }
    out.extend_from_slice(b"# EOF\n");
    Ok(())
}

fn error(line: usize, message: impl Into<String>) -> DecodeError {
    DecodeError::new(Format::OpenMetrics, Position::Line(line), message)
}

/// An OpenMetrics family type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    Unknown,
}

/// Every suffix a sample name can have, for clash checks.
const ALL_SUFFIXES: [&str; 9] = [
    "", "_total", "_created", "_count", "_sum", "_bucket", "_gcount", "_gsum", "_info",
];

impl Kind {
    fn parse(word: &[u8]) -> Option<Kind> {
        Some(match word {
            b"counter" => Kind::Counter,
            b"gauge" => Kind::Gauge,
            b"histogram" => Kind::Histogram,
            b"gaugehistogram" => Kind::GaugeHistogram,
            b"summary" => Kind::Summary,
            b"info" => Kind::Info,
            b"stateset" => Kind::StateSet,
            b"unknown" => Kind::Unknown,
            _ => return None,
        })
    }

    fn word(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::GaugeHistogram => "gaugehistogram",
            Kind::Summary => "summary",
            Kind::Info => "info",
            Kind::StateSet => "stateset",
            Kind::Unknown => "unknown",
        }
    }

    /// The names a family of this kind claims: its own and its samples'.
    fn suffixes(self) -> &'static [&'static str] {
        match self {
            Kind::Counter => &["", "_total", "_created"],
            Kind::Summary => &["", "_count", "_sum", "_created"],
            Kind::Histogram => &["", "_count", "_sum", "_bucket", "_created"],
            Kind::GaugeHistogram => &["", "_gcount", "_gsum", "_bucket"],
            Kind::Info => &["", "_info"],
            Kind::Gauge | Kind::StateSet | Kind::Unknown => &[""],
        }
    }

    fn metric_type(self) -> MetricType {
        match self {
            Kind::Counter => MetricType::Counter,
            Kind::Gauge | Kind::Info | Kind::StateSet => MetricType::Gauge,
            Kind::Histogram => MetricType::Histogram,
            Kind::GaugeHistogram => MetricType::GaugeHistogram,
            Kind::Summary => MetricType::Summary,
            Kind::Unknown => MetricType::Untyped,
        }
    }

    /// What a sample named family name + `suffix` is, if it belongs.
    fn role(self, suffix: &[u8]) -> Option<Role> {
        Some(match (self, suffix) {
            (Kind::Counter, b"_total") => Role::Total,
            (Kind::Counter | Kind::Histogram | Kind::Summary, b"_created") => Role::Created,
            (Kind::Gauge | Kind::Unknown, b"") => Role::Value,
            (Kind::StateSet, b"") => Role::State,
            (Kind::Info, b"_info") => Role::Info,
            (Kind::Summary, b"") => Role::Quantile,
            (Kind::Summary | Kind::Histogram, b"_count") | (Kind::GaugeHistogram, b"_gcount") => {
                Role::Count
            }
            (Kind::Summary | Kind::Histogram, b"_sum") | (Kind::GaugeHistogram, b"_gsum") => {
                Role::Sum
            }
            (Kind::Histogram | Kind::GaugeHistogram, b"_bucket") => Role::Bucket,
            _ => return None,
        })
    }
}

/// What a sample line contributes to its metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Value,
    Total,
    Created,
    Count,
    Sum,
    Bucket,
    Quantile,
    Info,
    State,
}

/// A label as it appears in the body: byte ranges of its name and raw value.
#[derive(Clone, Copy, Debug)]
struct RawLabel {
    ns: usize,
    ne: usize,
    vs: usize,
    ve: usize,
    /// The value holds a backslash.
    escaped: bool,
}

/// The MetricPoint being read: the samples of one metric with one timestamp.
#[derive(Debug, Default)]
struct Point {
    /// The points' timestamp, in nanoseconds.
    ts: Option<i128>,
    /// Index in `Family::metrics` of the point's first metric.
    start: usize,
    /// Stateset only: index of the state label in the last metric's labels.
    skip: Option<usize>,
    /// The line of its last sample.
    line: usize,
    value: bool,
    created: bool,
    count: bool,
    sum: bool,
    /// Bound and count of the last bucket.
    le: Option<f64>,
    bucket: u64,
    negative_bucket: bool,
    negative_gsum: bool,
}

/// A sample line as its syntax reads: byte ranges of the body, and the
/// parsed value and exemplar.
struct SampleLine {
    /// The sample's name, which starts the line.
    name: (usize, usize),
    value: f64,
    /// The value as written.
    value_text: (usize, usize),
    /// The timestamp, parsed once the family is known.
    ts: Option<(usize, usize)>,
    /// The exemplar's value and timestamp (its labels are in
    /// `Decoder::exemplar_labels`).
    exemplar: Option<(f64, Option<i128>)>,
}

impl SampleLine {
    fn name<'a>(&self, d: &Decoder<'a>) -> &'a str {
        d.str(self.name.0, self.name.1)
    }

    fn value_text<'a>(&self, d: &Decoder<'a>) -> &'a str {
        d.str(self.value_text.0, self.value_text.1)
    }
}

/// A family being read.
struct Family {
    /// Byte range of its OpenMetrics name.
    name: (usize, usize),
    kind: Kind,
    typed: bool,
    help_seen: bool,
    unit_seen: bool,
    help: Option<Str>,
    unit: Option<Str>,
    /// The model's name when it is not the OpenMetrics one (`foo_total`, `foo_info`).
    model_name: Option<Str>,
    metrics: Vec<Metric>,
    /// It has samples, so no more metadata.
    has_samples: bool,
    /// Its type is final and its sample names are claimed in `Decoder::seen`.
    claimed: bool,
    point: Option<Point>,
    /// Hashes of the label sets of its metrics, to catch interleaving.
    groups: HashSet<u64, BuildHasherDefault<IdHasher>>,
    /// The last line that belongs to it.
    line: usize,
}

impl Family {
    fn new(name: (usize, usize), line: usize) -> Family {
        Family {
            name,
            kind: Kind::Unknown,
            typed: false,
            help_seen: false,
            unit_seen: false,
            help: None,
            unit: None,
            model_name: None,
            metrics: Vec::new(),
            has_samples: false,
            claimed: false,
            point: None,
            groups: HashSet::default(),
            line,
        }
    }
}

struct Decoder<'a> {
    body: &'a Utf8Body,
    /// The body, as text and as bytes.
    text: &'a str,
    b: &'a [u8],
    /// The current 1-based line.
    line: usize,
    eof: bool,
    fam: Option<Family>,
    families: Vec<MetricFamily>,
    /// Every family so far, by OpenMetrics name.
    seen: HashMap<&'a [u8], Kind>,
    /// Scratch space, reused from line to line.
    labels: Vec<RawLabel>,
    exemplar_labels: Vec<RawLabel>,
    scratch: Vec<u8>,
    hasher: LabelSetHasher,
}

impl<'a> Decoder<'a> {
    fn new(body: &'a Utf8Body) -> Decoder<'a> {
        Decoder {
            body,
            text: body.as_str(),
            b: body.as_str().as_bytes(),
            line: 0,
            eof: false,
            fam: None,
            families: Vec::new(),
            seen: HashMap::new(),
            labels: Vec::new(),
            exemplar_labels: Vec::new(),
            scratch: Vec::new(),
            hasher: LabelSetHasher::default(),
        }
    }

    fn run(mut self) -> Result<Vec<MetricFamily>, DecodeError> {
        let b = self.b;
        let mut pos = 0;
        while pos < b.len() {
            self.line += 1;
            if self.eof {
                return Err(self.err("unexpected content after # EOF"));
            }
            let end = b[pos..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |n| pos + n);
            self.read_line(pos, end)?;
            pos = end + 1;
        }
        if !self.eof {
            return Err(error(
                self.line + 1,
                "expected # EOF: the body must end with an # EOF line",
            ));
        }
        Ok(self.families)
    }

    fn err(&self, message: impl Into<String>) -> DecodeError {
        error(self.line, message)
    }

    /// Describes what is at `i` for an error message.
    fn found(&self, i: usize, end: usize) -> String {
        if i >= end {
            return "the end of the line".into();
        }
        match self.text.get(i..).and_then(|s| s.chars().next()) {
            Some(c) => format!("{c:?}"),
            None => "a broken character".into(),
        }
    }

    /// `start..end` of the body.
    fn str(&self, start: usize, end: usize) -> &'a str {
        self.body.get(start..end)
    }

    /// A zero-copy string of the body. Every range the decoder slices
    /// starts and ends next to ASCII delimiters, so on character boundaries.
    fn slice(&self, start: usize, end: usize) -> Str {
        self.body.slice(start..end)
    }

    /// A label value or help text: zero-copy unless it holds escapes.
    fn string(&self, start: usize, end: usize, escaped: bool) -> Str {
        if escaped {
            Str::from(unescape(self.str(start, end)))
        } else {
            self.slice(start, end)
        }
    }

    fn label_pair(&self, l: &RawLabel) -> LabelPair {
        LabelPair {
            name: Some(self.slice(l.ns, l.ne)),
            value: Some(self.string(l.vs, l.ve, l.escaped)),
        }
    }

    fn read_line(&mut self, start: usize, end: usize) -> Result<(), DecodeError> {
        let b = self.b;
        if start == end {
            return Err(self.err("empty line: blank lines are not allowed"));
        }
        if b[end - 1] == b'\r' {
            return Err(
                self.err("carriage return at the end of the line: lines must end with \\n alone")
            );
        }
        if b[start] == b'#' {
            self.comment(start, end)
        } else {
            let mut labels = std::mem::take(&mut self.labels);
            labels.clear();
            self.sample(start, end, &mut labels)?;
            self.labels = labels;
            Ok(())
        }
    }

    // ---- metadata -------------------------------------------------------

    fn comment(&mut self, start: usize, end: usize) -> Result<(), DecodeError> {
        let b = self.b;
        let line = &b[start..end];
        if line == b"# EOF" {
            self.end_family()?;
            self.eof = true;
            return Ok(());
        }
        let (keyword, what) = if line.starts_with(b"# HELP ") {
            (Meta::Help, "help text")
        } else if line.starts_with(b"# TYPE ") {
            (Meta::Type, "type")
        } else if line.starts_with(b"# UNIT ") {
            (Meta::Unit, "unit")
        } else {
            return Err(self.err(
                "expected # HELP, # TYPE, # UNIT or # EOF: no other lines may start with '#'",
            ));
        };
        let ns = start + 7;
        let ne = exposition::metric_name_end(b, ns);
        if ne == ns {
            return Err(self.err(format!(
                "expected a metric name after # {}, found {}",
                self.str(start + 2, start + 6),
                self.found(ns, end)
            )));
        }
        if ne == end {
            return Err(self.err(format!(
                "expected a space and the {what} after the metric name"
            )));
        }
        if b[ne] != b' ' {
            return Err(self.err(format!(
                "expected a space after the metric name, found {}",
                self.found(ne, end)
            )));
        }
        self.metadata(keyword, (ns, ne), (ne + 1, end))
    }

    fn metadata(
        &mut self,
        keyword: Meta,
        name: (usize, usize),
        arg: (usize, usize),
    ) -> Result<(), DecodeError> {
        let b = self.b;
        let n = &b[name.0..name.1];
        let same = matches!(&self.fam, Some(f) if &b[f.name.0..f.name.1] == n);
        if same {
            if self.fam.as_ref().is_some_and(|f| f.has_samples) {
                return Err(self.err(format!(
                    "metadata for `{}` after its samples: # HELP, # TYPE and # UNIT must come first",
                    self.str(name.0, name.1)
                )));
            }
        } else {
            self.end_family()?;
            if self.seen.contains_key(n) {
                return Err(self.err(format!(
                    "family `{}` appears a second time: a family's lines must not be interleaved with other families'",
                    self.str(name.0, name.1)
                )));
            }
            self.fam = Some(Family::new(name, self.line));
        }
        let line = self.line;
        let Some(mut fam) = self.fam.take() else {
            return Ok(());
        };
        fam.line = line;
        let text = self.str(arg.0, arg.1);
        let arg_bytes = &b[arg.0..arg.1];
        let fname = self.str(name.0, name.1);
        match keyword {
            Meta::Type => {
                if fam.typed {
                    return Err(self.err(format!("a second # TYPE line for `{fname}`")));
                }
                let kind = Kind::parse(arg_bytes).ok_or_else(|| {
                    self.err(format!(
                        "unknown type `{text}`: expected counter, gauge, histogram, gaugehistogram, summary, info, stateset or unknown"
                    ))
                })?;
                if matches!(kind, Kind::Info | Kind::StateSet) && fam.unit.is_some() {
                    return Err(self.err(format!(
                        "`{fname}` has a unit, which a family of type {} must not have",
                        kind.word()
                    )));
                }
                fam.kind = kind;
                fam.typed = true;
                self.claim(fam.name, kind)?;
                fam.claimed = true;
            }
            Meta::Help => {
                if fam.help_seen {
                    return Err(self.err(format!("a second # HELP line for `{fname}`")));
                }
                fam.help_seen = true;
                if !text.is_empty() {
                    fam.help = Some(self.string(arg.0, arg.1, arg_bytes.contains(&b'\\')));
                }
            }
            Meta::Unit => {
                if fam.unit_seen {
                    return Err(self.err(format!("a second # UNIT line for `{fname}`")));
                }
                fam.unit_seen = true;
                if let Some(c) = arg_bytes.iter().find(|&&c| !name::is_metric_name_char(c)) {
                    return Err(self.err(format!(
                        "invalid character {:?} in unit: a unit consists of letters, digits, '_' and ':'",
                        char::from(*c)
                    )));
                }
                if !text.is_empty() {
                    let suffix_ok = fname.len() > text.len()
                        && fname.ends_with(text)
                        && fname.as_bytes()[fname.len() - text.len() - 1] == b'_';
                    if !suffix_ok {
                        return Err(self.err(format!(
                            "unit `{text}` must be the suffix of the family name: expected `{fname}` to end in `_{text}`"
                        )));
                    }
                    if matches!(fam.kind, Kind::Info | Kind::StateSet) {
                        return Err(self.err(format!(
                            "a family of type {} must not have a unit",
                            fam.kind.word()
                        )));
                    }
                    fam.unit = Some(self.slice(arg.0, arg.1));
                }
            }
        }
        self.fam = Some(fam);
        Ok(())
    }

    /// Claims the names of a family's samples, failing if an earlier family
    /// claimed any of them.
    fn claim(&mut self, name: (usize, usize), kind: Kind) -> Result<(), DecodeError> {
        let b = self.b;
        let n = &b[name.0..name.1];
        for s in kind.suffixes() {
            self.scratch.clear();
            self.scratch.extend_from_slice(n);
            self.scratch.extend_from_slice(s.as_bytes());
            for t in ALL_SUFFIXES {
                let Some(other) = self.scratch.strip_suffix(t.as_bytes()) else {
                    continue;
                };
                let Some(&u) = self.seen.get(other) else {
                    continue;
                };
                if !u.suffixes().contains(&t) {
                    continue;
                }
                let fname = self.str(name.0, name.1);
                let other = String::from_utf8_lossy(other);
                return Err(if other == fname {
                    self.err(format!(
                        "family `{fname}` appears a second time: a family's lines must not be interleaved with other families'"
                    ))
                } else {
                    self.err(format!(
                        "`{}` of {} family `{fname}` clashes with the samples of the earlier {} family `{other}`",
                        String::from_utf8_lossy(&self.scratch),
                        kind.word(),
                        u.word()
                    ))
                });
            }
        }
        self.seen.insert(n, kind);
        Ok(())
    }

    fn end_family(&mut self) -> Result<(), DecodeError> {
        let Some(mut fam) = self.fam.take() else {
            return Ok(());
        };
        if let Some(p) = fam.point.take() {
            let name = self.str(fam.name.0, fam.name.1);
            finish_point(&mut fam, &p, name).map_err(|m| error(p.line, m))?;
        }
        if !fam.claimed {
            let line = std::mem::replace(&mut self.line, fam.line);
            self.claim(fam.name, fam.kind)?;
            self.line = line;
        }
        if !fam.metrics.is_empty() {
            let name = match fam.model_name {
                Some(name) => name,
                None => self.slice(fam.name.0, fam.name.1),
            };
            self.families.push(MetricFamily {
                name: Some(name),
                help: fam.help,
                r#type: Some(fam.kind.metric_type() as i32),
                metric: fam.metrics,
                unit: fam.unit,
            });
        }
        Ok(())
    }

    // ---- samples --------------------------------------------------------

    /// Reads `{name="value",...}` from `i` (at the `{`) into `out`; returns
    /// the index after the `}`.
    fn read_labels(
        &self,
        mut i: usize,
        end: usize,
        out: &mut Vec<RawLabel>,
    ) -> Result<usize, DecodeError> {
        let b = self.b;
        i += 1;
        if i < end && b[i] == b'}' {
            return Ok(i + 1);
        }
        loop {
            let ns = i;
            // No name runs past `end`, a line feed.
            i = exposition::label_name_end(b, i);
            if i == ns {
                return Err(self.err(if i < end && b[i] == b'}' {
                    "expected a label name after ',': a trailing comma is not allowed".to_string()
                } else {
                    format!("expected a label name, found {}", self.found(i, end))
                }));
            }
            let ne = i;
            if i >= end || b[i] != b'=' {
                return Err(self.err(format!(
                    "expected '=' after label name `{}`, found {}",
                    self.str(ns, ne),
                    self.found(i, end)
                )));
            }
            i += 1;
            if i >= end || b[i] != b'"' {
                return Err(self.err(format!(
                    "expected '\"' to open the value of label `{}`, found {}",
                    self.str(ns, ne),
                    self.found(i, end)
                )));
            }
            let vs = i + 1;
            let escaped;
            (i, escaped) = exposition::quoted_end(b, vs);
            if i >= end {
                return Err(self.err(format!(
                    "the value of label `{}` has no closing '\"'",
                    self.str(ns, ne)
                )));
            }
            out.push(RawLabel {
                ns,
                ne,
                vs,
                ve: i,
                escaped,
            });
            i += 1;
            if i < end && b[i] == b',' {
                i += 1;
            } else if i < end && b[i] == b'}' {
                return Ok(i + 1);
            } else {
                return Err(self.err(format!(
                    "expected ',' or '}}' after a label, found {}",
                    self.found(i, end)
                )));
            }
        }
    }

    fn check_duplicates(&self, labels: &[RawLabel]) -> Result<(), DecodeError> {
        let b = self.b;
        for (i, l) in labels.iter().enumerate() {
            let name = &b[l.ns..l.ne];
            if labels[..i].iter().any(|k| &b[k.ns..k.ne] == name) {
                return Err(self.err(format!("duplicate label name `{}`", self.str(l.ns, l.ne))));
            }
        }
        Ok(())
    }

    /// Parses a timestamp token (seconds) exactly, as nanoseconds.
    fn timestamp(&self, start: usize, end: usize, what: &str) -> Result<i128, DecodeError> {
        parse_nanos(&self.b[start..end])
            .map_err(|why| self.err(format!("invalid {what} `{}`: {why}", self.str(start, end))))
    }

    /// Reads ` # {labels} value [timestamp]` from `i` (at the `#`) to the end
    /// of the line; the labels go to `self.exemplar_labels`.
    fn read_exemplar(&mut self, i: usize, end: usize) -> Result<(f64, Option<i128>), DecodeError> {
        let b = self.b;
        if !(i + 2 < end && b[i + 1] == b' ' && b[i + 2] == b'{') {
            return Err(self.err("expected an exemplar after '#': `# {labels} value [timestamp]`"));
        }
        let mut labels = std::mem::take(&mut self.exemplar_labels);
        labels.clear();
        let j = self.read_labels(i + 2, end, &mut labels)?;
        self.exemplar_labels = labels;
        if j >= end || b[j] != b' ' {
            return Err(self.err(format!(
                "expected a space and a value after the exemplar's labels, found {}",
                self.found(j, end)
            )));
        }
        let vs = j + 1;
        let ve = token_end(b, vs, end);
        if vs == ve {
            return Err(self.err("expected the exemplar's value after one space"));
        }
        let value = self.number(vs, ve, "exemplar value")?;
        if ve == end {
            return Ok((value, None));
        }
        let ts = ve + 1;
        let te = token_end(b, ts, end);
        if ts == te {
            return Err(self.err("expected the exemplar's timestamp after one space"));
        }
        if te != end {
            return Err(self.err("unexpected content after the exemplar's timestamp"));
        }
        Ok((value, Some(self.timestamp(ts, te, "exemplar timestamp")?)))
    }

    fn number(&self, start: usize, end: usize, what: &str) -> Result<f64, DecodeError> {
        let text = self.str(start, end);
        float::parse(text).ok_or_else(|| {
            self.err(format!(
                "invalid {what} `{text}`: expected a number, NaN, +Inf or -Inf"
            ))
        })
    }

    /// A sample line: its syntax, the family and the metric point it
    /// belongs to, then its value.
    fn sample(
        &mut self,
        start: usize,
        end: usize,
        labels: &mut Vec<RawLabel>,
    ) -> Result<(), DecodeError> {
        let line = self.sample_syntax(start, end, labels)?;
        let (mut fam, role) = self.family_of(line.name)?;
        if line.exemplar.is_some() && !matches!(role, Role::Total | Role::Bucket) {
            return Err(self.err(
                "exemplars are only allowed on counters' _total and histograms' _bucket samples",
            ));
        }
        let special = self.special_label(&fam, role, line.name, labels)?;
        let ts = match line.ts {
            Some((s, e)) => Some(self.timestamp(s, e, "timestamp")?),
            None => None,
        };
        self.join_point(&mut fam, labels, special, role, ts)?;
        self.record(&mut fam, role, &line, special.map(|i| labels[i]))?;
        self.fam = Some(fam);
        Ok(())
    }

    /// Reads the syntax of a sample line, `name [labels] SP value [SP
    /// timestamp] [SP # SP exemplar]`, its labels into `labels` and its
    /// exemplar's into `self.exemplar_labels`.
    fn sample_syntax(
        &mut self,
        start: usize,
        end: usize,
        labels: &mut Vec<RawLabel>,
    ) -> Result<SampleLine, DecodeError> {
        let b = self.b;
        let name_end = exposition::metric_name_end(b, start);
        if name_end == start {
            return Err(self.err(format!(
                "expected a metric name or a line starting with '#', found {}",
                self.found(start, end)
            )));
        }
        let mut i = name_end;
        if i < end && b[i] == b'{' {
            i = self.read_labels(i, end, labels)?;
        }
        if i >= end {
            return Err(self.err("expected a space and a value after the metric"));
        }
        if b[i] != b' ' {
            return Err(self.err(if i == name_end {
                format!(
                    "unexpected {} in metric name: expected '{{' or a space",
                    self.found(i, end)
                )
            } else {
                format!(
                    "expected a space after the labels, found {}",
                    self.found(i, end)
                )
            }));
        }
        let vs = i + 1;
        let ve = token_end(b, vs, end);
        if vs == ve {
            return Err(self.err(if vs >= end {
                "expected a value after the space"
            } else {
                "expected a value: fields are separated by exactly one space"
            }));
        }
        let mut line = SampleLine {
            name: (start, name_end),
            value: self.number(vs, ve, "value")?,
            value_text: (vs, ve),
            ts: None,
            exemplar: None,
        };
        if ve == end {
            return Ok(line);
        }
        let i = ve + 1;
        if i < end && b[i] == b'#' {
            line.exemplar = Some(self.read_exemplar(i, end)?);
            return Ok(line);
        }
        let te = token_end(b, i, end);
        if te == i {
            return Err(self.err(
                "expected a timestamp or an exemplar after the value: fields are separated by exactly one space",
            ));
        }
        line.ts = Some((i, te));
        if te < end {
            let i = te + 1;
            if i < end && b[i] == b'#' {
                line.exemplar = Some(self.read_exemplar(i, end)?);
            } else {
                return Err(self.err(format!(
                    "expected an exemplar (` # {{labels}} value`) after the timestamp, found {}",
                    self.found(i, end)
                )));
            }
        }
        Ok(line)
    }

    /// The family a sample named `name` belongs to, taken out of
    /// `self.fam`: the current one if the name is one of its samples', else
    /// a new one (the current one ends); and what the sample is in it.
    fn family_of(&mut self, name: (usize, usize)) -> Result<(Family, Role), DecodeError> {
        let b = self.b;
        let sample = &b[name.0..name.1];
        let (mut fam, role) = match self.fam.take() {
            Some(f) => {
                let role = sample
                    .strip_prefix(&b[f.name.0..f.name.1])
                    .and_then(|suffix| f.kind.role(suffix));
                match role {
                    Some(role) => (f, role),
                    None => {
                        self.fam = Some(f);
                        self.end_family()?;
                        (Family::new(name, self.line), Role::Value)
                    }
                }
            }
            None => (Family::new(name, self.line), Role::Value),
        };
        if !fam.claimed {
            self.claim(fam.name, fam.kind)?;
            fam.claimed = true;
        }
        fam.has_samples = true;
        fam.line = self.line;
        Ok((fam, role))
    }

    /// The index in `labels` of the label that is not one of the metric's
    /// (a bucket's `le`, a quantile's `quantile`, a stateset's state), which
    /// the sample's role requires; no other sample may have `le` or
    /// `quantile`.
    fn special_label(
        &self,
        fam: &Family,
        role: Role,
        name: (usize, usize),
        labels: &[RawLabel],
    ) -> Result<Option<usize>, DecodeError> {
        let b = self.b;
        let sample_name = self.str(name.0, name.1);
        let find = |n: &[u8]| labels.iter().position(|l| &b[l.ns..l.ne] == n);
        let special = match role {
            Role::Bucket => Some(find(b"le").ok_or_else(|| {
                self.err(format!("`{sample_name}` needs an `le` label"))
            })?),
            Role::Quantile => Some(find(b"quantile").ok_or_else(|| {
                self.err(format!(
                    "`{sample_name}` of summary `{}` needs a `quantile` label",
                    self.str(fam.name.0, fam.name.1)
                ))
            })?),
            Role::State => Some(find(&b[fam.name.0..fam.name.1]).ok_or_else(|| {
                self.err(format!(
                    "stateset sample `{sample_name}` needs a label named `{sample_name}` holding its state"
                ))
            })?),
            _ => None,
        };
        match fam.kind {
            Kind::Histogram | Kind::GaugeHistogram
                if role != Role::Bucket && find(b"le").is_some() =>
            {
                Err(self.err(format!(
                    "`{sample_name}` must not have an `le` label: only _bucket samples have one"
                )))
            }
            Kind::Summary if role != Role::Quantile && find(b"quantile").is_some() => {
                Err(self.err(format!(
                    "`{sample_name}` must not have a `quantile` label: only quantile samples have one"
                )))
            }
            _ => Ok(special),
        }
    }

    /// Finds the sample's metric point: the current one if the labels (but
    /// `special`) and timestamp are its, else a new one, after the current
    /// one is checked; or, for another state of a stateset point, a new
    /// metric in the current point.
    fn join_point(
        &self,
        fam: &mut Family,
        labels: &[RawLabel],
        special: Option<usize>,
        role: Role,
        ts: Option<i128>,
    ) -> Result<(), DecodeError> {
        let b = self.b;
        let same_group = match (&fam.point, fam.metrics.last()) {
            (Some(p), Some(m)) => {
                if same_in_order(b, labels, special, &m.label, p.skip) {
                    true
                } else {
                    self.check_duplicates(labels)?;
                    same_any_order(b, labels, special, &m.label, p.skip)
                }
            }
            _ => {
                self.check_duplicates(labels)?;
                false
            }
        };
        let mut new_point = !same_group;
        if let (true, Some(p)) = (same_group, &fam.point) {
            match (p.ts, ts) {
                (None, None) => {}
                (Some(a), Some(c)) if a == c => {}
                (Some(a), Some(c)) if c > a => new_point = true,
                (Some(_), Some(_)) => {
                    return Err(self.err(
                        "timestamp is older than the previous sample of the same metric: a metric's points must have increasing timestamps",
                    ))
                }
                _ => {
                    return Err(self.err(
                        "some samples of this metric have a timestamp and some do not",
                    ))
                }
            }
        }
        if new_point {
            if let Some(p) = fam.point.take() {
                let name = self.str(fam.name.0, fam.name.1);
                finish_point(fam, &p, name).map_err(|m| error(p.line, m))?;
            }
            self.start_point(fam, labels, special, role, ts, !same_group)?;
        } else if role == Role::State {
            self.add_state(fam, labels, special)?;
        }
        Ok(())
    }

    /// Checks the sample's value as its role requires and puts it in the
    /// point's (last) metric. `special` is the `le`, `quantile` or state
    /// label.
    fn record(
        &self,
        fam: &mut Family,
        role: Role,
        line: &SampleLine,
        special: Option<RawLabel>,
    ) -> Result<(), DecodeError> {
        let kind = fam.kind;
        let (Some(p), Some(m)) = (fam.point.as_mut(), fam.metrics.last_mut()) else {
            return Err(self.err("internal error: no metric for the sample"));
        };
        p.line = self.line;
        let value = line.value;
        match role {
            Role::Value => {
                self.first(&mut p.value, line)?;
                if kind == Kind::Gauge {
                    m.gauge = Some(Gauge { value: Some(value) });
                } else {
                    m.untyped = Some(Untyped { value: Some(value) });
                }
            }
            Role::Info => {
                if value != 1.0 {
                    return Err(self.err(format!(
                        "the value of info sample `{}` must be 1, not `{}`",
                        line.name(self),
                        line.value_text(self)
                    )));
                }
                self.first(&mut p.value, line)?;
                m.gauge = Some(Gauge { value: Some(1.0) });
            }
            Role::State => {
                if value != 0.0 && value != 1.0 {
                    return Err(self.err(format!(
                        "the value of stateset sample `{}` must be 0 or 1, not `{}`",
                        line.name(self),
                        line.value_text(self)
                    )));
                }
                m.gauge = Some(Gauge { value: Some(value) });
            }
            Role::Total => self.record_total(p, m, line)?,
            Role::Created => self.record_created(p, m, kind, line)?,
            Role::Count => self.record_count(p, m, kind, line)?,
            Role::Sum => self.record_sum(p, m, kind, line)?,
            Role::Quantile => self.record_quantile(m, line, special)?,
            Role::Bucket => self.record_bucket(p, m, line, special)?,
        }
        // The family is named as its first counter or info sample.
        if matches!(role, Role::Total | Role::Info) && fam.model_name.is_none() {
            fam.model_name = Some(self.slice(line.name.0, line.name.1));
        }
        Ok(())
    }

    /// Sets a point's flag for a sample it may have once; an error if it
    /// had it already.
    fn first(&self, seen: &mut bool, line: &SampleLine) -> Result<(), DecodeError> {
        if std::mem::replace(seen, true) {
            return Err(self.duplicate(line));
        }
        Ok(())
    }

    fn duplicate(&self, line: &SampleLine) -> DecodeError {
        self.err(format!(
            "duplicate sample `{}`: this metric already has one (a new point needs a newer timestamp)",
            line.name(self)
        ))
    }

    /// A counter's `_total`: a non-negative number, with its exemplar.
    fn record_total(
        &self,
        p: &mut Point,
        m: &mut Metric,
        line: &SampleLine,
    ) -> Result<(), DecodeError> {
        let value = line.value;
        if value.is_nan() || value < 0.0 {
            return Err(self.err(format!(
                "`{}` must be a non-negative number, not `{}`",
                line.name(self),
                line.value_text(self)
            )));
        }
        self.first(&mut p.value, line)?;
        let exemplar = match line.exemplar {
            Some((v, t)) => Some(Box::new(self.exemplar(v, t)?)),
            None => None,
        };
        let c = m.counter.get_or_insert_with(Counter::default);
        c.value = Some(value);
        c.exemplar = exemplar;
        Ok(())
    }

    /// A `_created` sample: its value is a timestamp.
    fn record_created(
        &self,
        p: &mut Point,
        m: &mut Metric,
        kind: Kind,
        line: &SampleLine,
    ) -> Result<(), DecodeError> {
        let (vs, ve) = line.value_text;
        let ns = self.timestamp(vs, ve, "created timestamp")?;
        let created = to_timestamp(ns).ok_or_else(|| {
            self.err(format!(
                "created timestamp `{}` is out of range",
                line.value_text(self)
            ))
        })?;
        self.first(&mut p.created, line)?;
        match kind {
            Kind::Counter => {
                m.counter
                    .get_or_insert_with(Counter::default)
                    .created_timestamp = Some(created);
            }
            Kind::Summary => {
                if let Some(s) = m.summary.as_mut() {
                    s.created_timestamp = Some(created);
                }
            }
            _ => {
                if let Some(h) = m.histogram.as_mut() {
                    h.created_timestamp = Some(created);
                }
            }
        }
        Ok(())
    }

    /// A summary's or histogram's `_count` (or `_gcount`).
    fn record_count(
        &self,
        p: &mut Point,
        m: &mut Metric,
        kind: Kind,
        line: &SampleLine,
    ) -> Result<(), DecodeError> {
        let count = self.count(line)?;
        self.first(&mut p.count, line)?;
        if kind == Kind::Summary {
            if let Some(s) = m.summary.as_mut() {
                s.sample_count = Some(count);
            }
        } else if let Some(h) = m.histogram.as_mut() {
            h.sample_count = Some(count);
        }
        Ok(())
    }

    /// A summary's or histogram's `_sum` (or `_gsum`): not NaN, and not
    /// negative but in a gauge histogram.
    fn record_sum(
        &self,
        p: &mut Point,
        m: &mut Metric,
        kind: Kind,
        line: &SampleLine,
    ) -> Result<(), DecodeError> {
        let value = line.value;
        if value.is_nan() {
            return Err(self.err(format!("`{}` must not be NaN", line.name(self))));
        }
        if value < 0.0 {
            if kind == Kind::GaugeHistogram {
                p.negative_gsum = true;
            } else {
                return Err(self.err(format!(
                    "`{}` must not be negative, not `{}`",
                    line.name(self),
                    line.value_text(self)
                )));
            }
        }
        self.first(&mut p.sum, line)?;
        if kind == Kind::Summary {
            if let Some(s) = m.summary.as_mut() {
                s.sample_sum = Some(value);
            }
        } else if let Some(h) = m.histogram.as_mut() {
            h.sample_sum = Some(value);
        }
        Ok(())
    }

    /// A summary's quantile sample: a `quantile` label from 0 to 1, not
    /// seen before in the point, and a value that is not negative.
    fn record_quantile(
        &self,
        m: &mut Metric,
        line: &SampleLine,
        label: Option<RawLabel>,
    ) -> Result<(), DecodeError> {
        let q = label
            .and_then(|l| float::parse(&raw_text(self.str(l.vs, l.ve), l.escaped)))
            .filter(|q| (0.0..=1.0).contains(q))
            .ok_or_else(|| self.err("invalid `quantile` label: expected a number from 0 to 1"))?;
        let value = line.value;
        if value < 0.0 {
            return Err(self.err(format!(
                "quantile values must not be negative, not `{}`",
                line.value_text(self)
            )));
        }
        if let Some(s) = m.summary.as_mut() {
            if s.quantile.iter().any(|x| x.quantile == Some(q)) {
                return Err(self.duplicate(line));
            }
            s.quantile.push(Quantile {
                quantile: Some(q),
                value: Some(value),
            });
        }
        Ok(())
    }

    /// A histogram's `_bucket`: an `le` above the last bucket's, a count not
    /// below its, and the exemplar.
    fn record_bucket(
        &self,
        p: &mut Point,
        m: &mut Metric,
        line: &SampleLine,
        label: Option<RawLabel>,
    ) -> Result<(), DecodeError> {
        let le_text = label.map_or(Cow::Borrowed(""), |l| {
            raw_text(self.str(l.vs, l.ve), l.escaped)
        });
        let le = float::parse(&le_text)
            .filter(|le| !le.is_nan())
            .filter(|&le| le != f64::INFINITY || le_text == "+Inf")
            .ok_or_else(|| {
                self.err(format!(
                    "invalid `le` label `{le_text}`: expected a number, or +Inf written as `+Inf`"
                ))
            })?;
        if let Some(prev) = p.le {
            if le <= prev {
                return Err(self.err(format!(
                    "buckets must be in increasing order of `le`: `{le_text}` comes after a bucket with `le` {prev}"
                )));
            }
        }
        let count = self.count(line)?;
        if p.le.is_some() && count < p.bucket {
            return Err(self.err(format!(
                "bucket counts must not decrease: {count} after {}",
                p.bucket
            )));
        }
        p.le = Some(le);
        p.bucket = count;
        if le < 0.0 {
            p.negative_bucket = true;
        }
        let exemplar = match line.exemplar {
            Some((v, t)) => Some(Box::new(self.exemplar(v, t)?)),
            None => None,
        };
        if let Some(h) = m.histogram.as_mut() {
            h.bucket.push(Bucket {
                cumulative_count: Some(count),
                upper_bound: Some(le),
                exemplar,
                ..Default::default()
            });
        }
        Ok(())
    }

    /// The sample's value as a count.
    fn count(&self, line: &SampleLine) -> Result<u64, DecodeError> {
        let text = line.value_text(self);
        parse_count(text).ok_or_else(|| {
            self.err(format!(
                "`{}` must be a non-negative integer, not `{text}`",
                line.name(self)
            ))
        })
    }

    /// Starts a point (and its metric) for the sample with `labels`.
    fn start_point(
        &self,
        fam: &mut Family,
        labels: &[RawLabel],
        special: Option<usize>,
        role: Role,
        ts: Option<i128>,
        new_group: bool,
    ) -> Result<(), DecodeError> {
        let keep = role == Role::State;
        let pairs: Vec<LabelPair> = labels
            .iter()
            .enumerate()
            .filter(|&(i, _)| keep || Some(i) != special)
            .map(|(_, l)| self.label_pair(l))
            .collect();
        let skip = if keep { special } else { None };
        if new_group && !fam.groups.insert(self.group_hash(&pairs, skip)) {
            let fname = self.str(fam.name.0, fam.name.1);
            let stateset = fam.kind == Kind::StateSet;
            let earlier = fam.metrics.iter().any(|m| {
                let m_skip = if stateset {
                    m.label.iter().position(|l| l.name() == fname)
                } else {
                    None
                };
                same_set(&m.label, m_skip, &pairs, skip)
            });
            if earlier {
                return Err(self.err(format!(
                    "metric {} of family `{fname}` appeared earlier: a metric's samples must be contiguous",
                    exposition::describe(None, without(&pairs, skip))
                )));
            }
        }
        let timestamp_ms = match ts {
            Some(ns) => Some(to_millis(ns).ok_or_else(|| self.err("timestamp out of range"))?),
            None => None,
        };
        let mut m = Metric {
            label: pairs,
            timestamp_ms,
            ..Default::default()
        };
        match fam.kind {
            Kind::Counter => m.counter = Some(Counter::default()),
            Kind::Gauge | Kind::Info | Kind::StateSet => m.gauge = Some(Gauge::default()),
            Kind::Unknown => m.untyped = Some(Untyped::default()),
            // Metrics of a family mostly share their quantiles and buckets:
            // size for the previous metric's.
            Kind::Summary => {
                let n = fam
                    .metrics
                    .last()
                    .and_then(|m| m.summary.as_ref())
                    .map_or(0, |s| s.quantile.len());
                m.summary = Some(Box::new(Summary {
                    quantile: Vec::with_capacity(n),
                    ..Default::default()
                }));
            }
            Kind::Histogram | Kind::GaugeHistogram => {
                let n = fam
                    .metrics
                    .last()
                    .and_then(|m| m.histogram.as_ref())
                    .map_or(0, |h| h.bucket.len());
                m.histogram = Some(Box::new(Histogram {
                    bucket: Vec::with_capacity(n),
                    ..Default::default()
                }));
            }
        }
        fam.metrics.push(m);
        fam.point = Some(Point {
            ts,
            start: fam.metrics.len() - 1,
            skip,
            line: self.line,
            ..Default::default()
        });
        Ok(())
    }

    /// Adds another state to the current point of a stateset.
    fn add_state(
        &self,
        fam: &mut Family,
        labels: &[RawLabel],
        special: Option<usize>,
    ) -> Result<(), DecodeError> {
        let fname = self.str(fam.name.0, fam.name.1);
        let (Some(p), Some(state)) = (fam.point.as_mut(), special.map(|i| labels[i])) else {
            return Err(self.err("internal error: no stateset point"));
        };
        let raw = self.str(state.vs, state.ve);
        for m in &fam.metrics[p.start..] {
            if let Some(l) = m.label.iter().find(|l| l.name() == fname) {
                if raw_eq(raw.as_bytes(), state.escaped, l.value()) {
                    return Err(self.err(format!(
                        "duplicate state `{}` in stateset `{fname}`",
                        raw_text(raw, state.escaped)
                    )));
                }
            }
        }
        let timestamp_ms = fam.metrics.last().and_then(|m| m.timestamp_ms);
        fam.metrics.push(Metric {
            label: labels.iter().map(|l| self.label_pair(l)).collect(),
            gauge: Some(Gauge::default()),
            timestamp_ms,
            ..Default::default()
        });
        p.skip = special;
        Ok(())
    }

    /// The hash of a metric's label set, without the one at `skip`, in any
    /// order.
    fn group_hash(&self, labels: &[LabelPair], skip: Option<usize>) -> u64 {
        self.hasher
            .hash(without(labels, skip).map(|l| (l.name().as_bytes(), l.value().as_bytes())))
    }

    fn exemplar(&self, value: f64, ts: Option<i128>) -> Result<Exemplar, DecodeError> {
        let raw = &self.exemplar_labels;
        self.check_duplicates(raw)?;
        let label: Vec<LabelPair> = raw.iter().map(|l| self.label_pair(l)).collect();
        let len: usize = label
            .iter()
            .map(|l| l.name().chars().count() + l.value().chars().count())
            .sum();
        if len > 128 {
            return Err(self.err(format!(
                "the exemplar's labels are {len} characters long: at most 128 are allowed"
            )));
        }
        let timestamp = match ts {
            Some(ns) => {
                Some(to_timestamp(ns).ok_or_else(|| self.err("exemplar timestamp out of range"))?)
            }
            None => None,
        };
        Ok(Exemplar {
            label,
            value: Some(value),
            timestamp,
        })
    }
}

#[derive(Clone, Copy)]
enum Meta {
    Help,
    Type,
    Unit,
}

/// Checks a point once all its samples are read.
fn finish_point(fam: &mut Family, p: &Point, name: &str) -> Result<(), String> {
    match fam.kind {
        Kind::Counter if !p.value => Err(format!("counter metric has no `{name}_total` sample")),
        Kind::Histogram | Kind::GaugeHistogram => {
            let gauge = fam.kind == Kind::GaugeHistogram;
            let (count, sum) = if gauge {
                ("_gcount", "_gsum")
            } else {
                ("_count", "_sum")
            };
            if p.le != Some(f64::INFINITY) {
                return Err(format!(
                    "histogram metric has no `{name}_bucket{{le=\"+Inf\"}}` sample"
                ));
            }
            if let Some(h) = fam
                .metrics
                .get_mut(p.start)
                .and_then(|m| m.histogram.as_deref_mut())
            {
                if !p.count {
                    h.sample_count = Some(p.bucket);
                } else if h.sample_count != Some(p.bucket) {
                    return Err(format!(
                        "`{name}{count}` is {} but the +Inf bucket is {}",
                        h.sample_count.unwrap_or(0),
                        p.bucket
                    ));
                }
            }
            if p.sum && !p.count {
                return Err(format!("`{name}{sum}` needs a `{name}{count}` sample"));
            }
            if p.count && !p.sum {
                return Err(format!("`{name}{count}` needs a `{name}{sum}` sample"));
            }
            if !gauge && p.negative_bucket && p.sum {
                return Err(format!(
                    "histogram with negative bucket bounds must not have `{name}_sum`"
                ));
            }
            if gauge && p.negative_gsum && !p.negative_bucket {
                return Err(format!(
                    "`{name}_gsum` is negative, which needs a negative bucket bound"
                ));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The end of the space-delimited token at `i`.
fn token_end(b: &[u8], i: usize, end: usize) -> usize {
    b[i.min(end)..end]
        .iter()
        .position(|&c| c == b' ')
        .map_or(end, |n| i + n)
}

/// Undoes `\\`, `\n` and `\"`; other backslashes stay as they are.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    // Keeping other escapes, it cannot fail.
    let _ = exposition::unescape_into(raw, &mut out, OtherEscapes::Keep);
    out
}

fn raw_text(raw: &str, escaped: bool) -> Cow<'_, str> {
    if escaped {
        Cow::Owned(unescape(raw))
    } else {
        Cow::Borrowed(raw)
    }
}

/// Whether the raw (escaped) `raw` reads as `value`, without allocating.
fn raw_eq(raw: &[u8], escaped: bool, value: &str) -> bool {
    if escaped {
        exposition::unescaped_eq(raw, value.as_bytes())
    } else {
        raw == value.as_bytes()
    }
}

fn raw_label_eq(b: &[u8], r: &RawLabel, l: &LabelPair) -> bool {
    &b[r.ns..r.ne] == l.name().as_bytes() && raw_eq(&b[r.vs..r.ve], r.escaped, l.value())
}

/// Whether `raw` without `raw_skip` equals `labels` without `skip`, in order.
fn same_in_order(
    b: &[u8],
    raw: &[RawLabel],
    raw_skip: Option<usize>,
    labels: &[LabelPair],
    skip: Option<usize>,
) -> bool {
    let mut it = labels
        .iter()
        .enumerate()
        .filter(|&(i, _)| Some(i) != skip)
        .map(|(_, l)| l);
    for (i, r) in raw.iter().enumerate() {
        if Some(i) == raw_skip {
            continue;
        }
        match it.next() {
            Some(l) if raw_label_eq(b, r, l) => {}
            _ => return false,
        }
    }
    it.next().is_none()
}

/// Like [`same_in_order`] in any order; `raw` has no duplicate names.
fn same_any_order(
    b: &[u8],
    raw: &[RawLabel],
    raw_skip: Option<usize>,
    labels: &[LabelPair],
    skip: Option<usize>,
) -> bool {
    let raw_len = raw.len() - usize::from(raw_skip.is_some());
    let len = labels.len() - usize::from(skip.is_some());
    raw_len == len
        && raw.iter().enumerate().all(|(i, r)| {
            Some(i) == raw_skip
                || labels
                    .iter()
                    .enumerate()
                    .any(|(j, l)| Some(j) != skip && raw_label_eq(b, r, l))
        })
}

/// Whether two label sets are equal in any order, each without its skip.
fn same_set(
    a: &[LabelPair],
    a_skip: Option<usize>,
    b: &[LabelPair],
    b_skip: Option<usize>,
) -> bool {
    let a_len = a.len() - usize::from(a_skip.is_some());
    let b_len = b.len() - usize::from(b_skip.is_some());
    a_len == b_len
        && a.iter().enumerate().all(|(i, x)| {
            Some(i) == a_skip
                || b.iter().enumerate().any(|(j, y)| {
                    Some(j) != b_skip && x.name() == y.name() && x.value() == y.value()
                })
        })
}

/// `labels` without the one at `skip`.
fn without(labels: &[LabelPair], skip: Option<usize>) -> impl Iterator<Item = &LabelPair> {
    labels
        .iter()
        .enumerate()
        .filter(move |&(i, _)| Some(i) != skip)
        .map(|(_, l)| l)
}

/// A count: a non-negative integer, written as one or as an integral float.
fn parse_count(text: &str) -> Option<u64> {
    if !text.is_empty() && text.bytes().all(|c| c.is_ascii_digit()) {
        if let Ok(n) = text.parse() {
            return Some(n);
        }
    }
    let v = float::parse(text)?;
    // 2^64: the first integer a u64 cannot hold.
    (v >= 0.0 && v.fract() == 0.0 && v < 18_446_744_073_709_551_616.0).then_some(v as u64)
}

/// Parses an OpenMetrics timestamp, `[sign] digits [. digits] [e [sign]
/// digits]` seconds, exactly, as nanoseconds rounded half away from zero.
fn parse_nanos(s: &[u8]) -> Result<i128, &'static str> {
    const NOT_A_NUMBER: &str = "expected seconds as a decimal number";
    const OUT_OF_RANGE: &str = "out of range";
    // Digits kept: 10^36 < 2^127 / 10.
    const MANTISSA_LIMIT: i128 = 1_000_000_000_000_000_000_000_000_000_000_000_000;
    let mut i = 0;
    let negative = match s.first() {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut mantissa: i128 = 0;
    let mut exp: i64 = 0;
    let mut digits = 0;
    while let Some(&c) = s.get(i).filter(|c| c.is_ascii_digit()) {
        if mantissa < MANTISSA_LIMIT {
            mantissa = mantissa * 10 + i128::from(c - b'0');
        } else {
            exp += 1;
        }
        digits += 1;
        i += 1;
    }
    if s.get(i) == Some(&b'.') {
        i += 1;
        while let Some(&c) = s.get(i).filter(|c| c.is_ascii_digit()) {
            if mantissa < MANTISSA_LIMIT {
                mantissa = mantissa * 10 + i128::from(c - b'0');
                exp -= 1;
            }
            digits += 1;
            i += 1;
        }
    }
    if digits == 0 {
        return Err(NOT_A_NUMBER);
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        i += 1;
        let negative_exp = match s.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let mut e: i64 = 0;
        let start = i;
        while let Some(&c) = s.get(i).filter(|c| c.is_ascii_digit()) {
            e = (e * 10 + i64::from(c - b'0')).min(1_000_000);
            i += 1;
        }
        if i == start {
            return Err(NOT_A_NUMBER);
        }
        exp += if negative_exp { -e } else { e };
    }
    if i != s.len() {
        return Err(NOT_A_NUMBER);
    }
    let shift = exp + 9;
    let nanos = if mantissa == 0 {
        0
    } else if shift >= 0 {
        let factor = u32::try_from(shift)
            .ok()
            .and_then(|s| 10i128.checked_pow(s))
            .ok_or(OUT_OF_RANGE)?;
        mantissa.checked_mul(factor).ok_or(OUT_OF_RANGE)?
    } else if shift < -38 {
        0
    } else {
        let divisor = 10i128.pow(shift.unsigned_abs() as u32);
        let (q, r) = (mantissa / divisor, mantissa % divisor);
        if r * 2 >= divisor {
            q + 1
        } else {
            q
        }
    };
    Ok(if negative { -nanos } else { nanos })
}

fn to_timestamp(nanos: i128) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: i64::try_from(nanos.div_euclid(1_000_000_000)).ok()?,
        nanos: nanos.rem_euclid(1_000_000_000) as i32,
    })
}

fn to_millis(nanos: i128) -> Option<i64> {
    i64::try_from(nanos.div_euclid(1_000_000)).ok()
}

// ---- encoding -----------------------------------------------------------

fn encode_error(message: impl Into<String>) -> EncodeError {
    EncodeError::new(Format::OpenMetrics, message)
}

/// A sample's value: a float, or an integer count.
#[derive(Clone, Copy)]
enum Value {
    Float(f64),
    Int(u64),
}

/// One part of `family` ([`super::encode_part`]).
// Only the Pushgateway mode joins families from parts.
#[cfg_attr(not(feature = "gateway"), allow(dead_code))]
pub(crate) fn encode_part(
    family: &MetricFamily,
    part: super::Part,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    encode_family_part(family, Some(part), out)
}

fn encode_family(mf: &MetricFamily, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    encode_family_part(mf, None, out)
}

/// `mf`, or only its head or its metrics.
fn encode_family_part(
    mf: &MetricFamily,
    part: Option<super::Part>,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let name = mf.name();
    if name.is_empty() {
        return Err(encode_error("a metric family has no name"));
    }
    let ty = match mf.r#type {
        None => MetricType::Counter,
        Some(t) => MetricType::try_from(t).map_err(|_| {
            encode_error(format!("family `{name}` has the unknown metric type {t}"))
        })?,
    };
    let total = ty == MetricType::Counter && name.ends_with("_total");
    // The family name of the metadata lines: without `_total`, with the unit.
    let mut family: Cow<'_, str> = Cow::Borrowed(if total {
        &name[..name.len() - "_total".len()]
    } else {
        name
    });
    let unit = mf.unit.as_deref().filter(|u| !u.is_empty());
    if let Some(unit) = unit {
        let has_suffix = family.len() > unit.len()
            && family.ends_with(unit)
            && family.as_bytes()[family.len() - unit.len() - 1] == b'_';
        if !has_suffix {
            family = Cow::Owned(format!("{family}_{unit}"));
        }
    }
    if part != Some(super::Part::Metrics) {
        write_metadata(out, &family, mf.help.as_deref(), ty, total, unit);
    }
    if part == Some(super::Part::Head) {
        return Ok(());
    }

    let w = Writer {
        name: SampleName::new(&family),
        family: name,
        ty,
    };
    for m in &mf.metric {
        match ty {
            MetricType::Counter => w.counter(out, m, total)?,
            MetricType::Gauge => {
                let g = m.gauge.as_ref().ok_or_else(|| w.expected("a gauge"))?;
                let value = Value::Float(g.value.unwrap_or(0.0));
                w.sample(out, "", m, None, value, None)?;
            }
            MetricType::Untyped => {
                let u = m
                    .untyped
                    .as_ref()
                    .ok_or_else(|| w.expected("an untyped value"))?;
                let value = Value::Float(u.value.unwrap_or(0.0));
                w.sample(out, "", m, None, value, None)?;
            }
            MetricType::Summary => w.summary(out, m)?,
            MetricType::Histogram | MetricType::GaugeHistogram => w.histogram(out, m)?,
        }
    }
    Ok(())
}

/// The `# HELP`, `# TYPE` and `# UNIT` lines of a family named `family`
/// (without `_total`, with the unit).
fn write_metadata(
    out: &mut Vec<u8>,
    family: &str,
    help: Option<&str>,
    ty: MetricType,
    total: bool,
    unit: Option<&str>,
) {
    let quote = Dialect::OpenMetrics.help_escapes_quotes();
    if let Some(help) = help {
        out.extend_from_slice(b"# HELP ");
        exposition::write_name(out, family);
        out.push(b' ');
        exposition::write_escaped(out, help, quote);
        out.push(b'\n');
    }
    out.extend_from_slice(b"# TYPE ");
    exposition::write_name(out, family);
    out.extend_from_slice(match ty {
        MetricType::Counter if total => b" counter\n",
        MetricType::Counter | MetricType::Untyped => b" unknown\n",
        MetricType::Gauge => b" gauge\n",
        MetricType::Summary => b" summary\n",
        MetricType::Histogram => b" histogram\n",
        MetricType::GaugeHistogram => b" gaugehistogram\n",
    });
    if let Some(unit) = unit {
        out.extend_from_slice(b"# UNIT ");
        exposition::write_name(out, family);
        out.push(b' ');
        exposition::write_escaped(out, unit, true);
        out.push(b'\n');
    }
}

/// Writes the sample lines of one family's metrics.
struct Writer<'a> {
    /// What samples are named, before their suffix.
    name: SampleName<'a>,
    /// The family's name, for errors.
    family: &'a str,
    ty: MetricType,
}

impl Writer<'_> {
    fn expected(&self, what: &str) -> EncodeError {
        encode_error(format!(
            "expected {what} in a metric of family `{}`",
            self.family
        ))
    }

    /// A counter's `_total` (+ exemplar) and `_created` lines; or, for a
    /// family not named `..._total`, its plain sample, typed unknown.
    fn counter(&self, out: &mut Vec<u8>, m: &Metric, total: bool) -> Result<(), EncodeError> {
        let c = m
            .counter
            .as_ref()
            .ok_or_else(|| self.expected("a counter"))?;
        let (suffix, exemplar) = if total {
            ("_total", c.exemplar.as_deref())
        } else {
            ("", None)
        };
        let value = Value::Float(c.value.unwrap_or(0.0));
        self.sample(out, suffix, m, None, value, exemplar)?;
        if let (true, Some(created)) = (total, c.created_timestamp) {
            self.created(out, m, created);
        }
        Ok(())
    }

    /// A summary's quantile lines, then `_sum`, `_count` and `_created`
    /// where present.
    fn summary(&self, out: &mut Vec<u8>, m: &Metric) -> Result<(), EncodeError> {
        let s = m
            .summary
            .as_deref()
            .ok_or_else(|| self.expected("a summary"))?;
        for q in &s.quantile {
            let label = ("quantile", q.quantile.unwrap_or(0.0));
            let value = Value::Float(q.value.unwrap_or(0.0));
            self.sample(out, "", m, Some(label), value, None)?;
        }
        if let Some(sum) = s.sample_sum {
            self.sample(out, "_sum", m, None, Value::Float(sum), None)?;
        }
        if let Some(count) = s.sample_count {
            self.sample(out, "_count", m, None, Value::Int(count), None)?;
        }
        if let Some(created) = s.created_timestamp {
            self.created(out, m, created);
        }
        Ok(())
    }

    /// A histogram's or gauge histogram's bucket lines (+ exemplars), with
    /// a `+Inf` bucket added when missing, then `_sum` and `_count` (or
    /// `_gsum` and `_gcount`) if it has a sum, and `_created`.
    fn histogram(&self, out: &mut Vec<u8>, m: &Metric) -> Result<(), EncodeError> {
        let h = m
            .histogram
            .as_deref()
            .ok_or_else(|| self.expected("a histogram"))?;
        let float = h.sample_count_float.is_some_and(|c| c > 0.0)
            || h.bucket
                .iter()
                .any(|b| b.cumulative_count_float.is_some_and(|c| c > 0.0));
        if float {
            return Err(encode_error(format!(
                "OpenMetrics 1.0 cannot carry float histogram `{}`",
                self.family
            )));
        }
        let mut inf = false;
        for bucket in &h.bucket {
            let le = bucket.upper_bound.unwrap_or(0.0);
            inf |= le == f64::INFINITY;
            let count = Value::Int(bucket.cumulative_count.unwrap_or(0));
            let exemplar = bucket.exemplar.as_deref();
            self.sample(out, "_bucket", m, Some(("le", le)), count, exemplar)?;
        }
        let count = h.sample_count.unwrap_or(0);
        if !inf {
            let le = ("le", f64::INFINITY);
            self.sample(out, "_bucket", m, Some(le), Value::Int(count), None)?;
        }
        let gauge = self.ty == MetricType::GaugeHistogram;
        if let Some(sum) = h.sample_sum {
            let (sum_suffix, count_suffix) = if gauge {
                ("_gsum", "_gcount")
            } else {
                ("_sum", "_count")
            };
            self.sample(out, sum_suffix, m, None, Value::Float(sum), None)?;
            self.sample(out, count_suffix, m, None, Value::Int(count), None)?;
        }
        if let (false, Some(created)) = (gauge, h.created_timestamp) {
            self.created(out, m, created);
        }
        Ok(())
    }

    /// Writes one sample line: name and labels, value, timestamp, exemplar.
    fn sample(
        &self,
        out: &mut Vec<u8>,
        suffix: &str,
        m: &Metric,
        extra: Option<(&str, f64)>,
        value: Value,
        exemplar: Option<&Exemplar>,
    ) -> Result<(), EncodeError> {
        self.name
            .write(out, Dialect::OpenMetrics, suffix, &m.label, extra);
        out.push(b' ');
        match value {
            Value::Float(v) => Dialect::OpenMetrics.write_float(out, v),
            Value::Int(n) => int::write_u64(out, n),
        }
        if let Some(ms) = m.timestamp_ms {
            out.push(b' ');
            write_seconds(out, i128::from(ms) * 1_000_000);
        }
        if let Some(e) = exemplar.filter(|e| !e.label.is_empty()) {
            write_exemplar(out, e)?;
        }
        out.push(b'\n');
        Ok(())
    }

    /// Writes a `_created` line, with the metric's labels and timestamp.
    fn created(&self, out: &mut Vec<u8>, m: &Metric, created: Timestamp) {
        self.name
            .write(out, Dialect::OpenMetrics, "_created", &m.label, None);
        out.push(b' ');
        write_seconds(out, unix_nanos(created));
        if let Some(ms) = m.timestamp_ms {
            out.push(b' ');
            write_seconds(out, i128::from(ms) * 1_000_000);
        }
        out.push(b'\n');
    }
}

/// ` # {labels} value [timestamp]`.
fn write_exemplar(out: &mut Vec<u8>, e: &Exemplar) -> Result<(), EncodeError> {
    out.extend_from_slice(b" # ");
    exposition::write_labels(out, Dialect::OpenMetrics, &e.label, None, b'{');
    out.push(b'}');
    out.push(b' ');
    Dialect::OpenMetrics.write_float(out, e.value.unwrap_or(0.0));
    if let Some(ts) = e.timestamp {
        // As Go's `timestamppb.CheckValid`: 0001-01-01 to 9999-12-31.
        let valid = (-62_135_596_800..=253_402_300_799).contains(&ts.seconds)
            && (0..1_000_000_000).contains(&ts.nanos);
        if !valid {
            return Err(encode_error(format!(
                "invalid exemplar timestamp {}s {}ns",
                ts.seconds, ts.nanos
            )));
        }
        out.push(b' ');
        write_seconds(out, unix_nanos(ts));
    }
    Ok(())
}

/// Nanoseconds since the epoch.
fn unix_nanos(t: Timestamp) -> i128 {
    i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos)
}

/// Writes `nanos` as seconds the way Go's `writeOpenMetricsFloat` writes
/// `float64(nanos) / 1e9` (`%g`, `.0` added), but from the exact decimal
/// digits rather than through a float. The bytes are Go's whenever Go's
/// float is exact (milliseconds, and nanoseconds of moderate timestamps);
/// otherwise Go rounds (see the TODO in its `writeExemplar`) and this keeps
/// every digit, so that timestamps survive a round trip.
fn write_seconds(out: &mut Vec<u8>, nanos: i128) {
    if nanos == 0 {
        out.extend_from_slice(b"0.0");
        return;
    }
    if nanos < 0 {
        out.push(b'-');
    }
    // Decimal digits of |nanos|, most significant first.
    let mut buf = [0u8; 39];
    let all = int::digits(nanos.unsigned_abs(), &mut buf);
    // The value is 0.DIGITS * 10^point.
    let point = all.len() as i64 - 9;
    let end = all.iter().rposition(|&c| c != b'0').map_or(1, |i| i + 1);
    let digits = &all[..end];
    let exp = point - 1;
    if !(-4..6).contains(&exp) {
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        if exp.unsigned_abs() < 10 {
            out.push(b'0');
        }
        int::write_u64(out, exp.unsigned_abs());
    } else if point <= 0 {
        out.extend_from_slice(b"0.");
        out.resize(out.len() + point.unsigned_abs() as usize, b'0');
        out.extend_from_slice(digits);
    } else {
        let point = point as usize;
        if digits.len() <= point {
            out.extend_from_slice(digits);
            out.resize(out.len() + point - digits.len(), b'0');
            out.extend_from_slice(b".0");
        } else {
            out.extend_from_slice(&digits[..point]);
            out.push(b'.');
            out.extend_from_slice(&digits[point..]);
        }
    }
}

#[cfg(test)]
mod tests;
