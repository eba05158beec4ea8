//! InfluxDB line protocol, as InfluxDB telemetry's `prometheus.LineProtocol`
//! encoder writes it (encode only).
//!
//! Every metric becomes one point, one line:
//!
//! ```text
//! http_requests_total,code=200,method=get counter=1027 1395066363000000000
//! ```
//!
//! * The measurement is the family name.
//! * The tags are the labels, sorted by name (byte order, as influx's `Tags`
//!   sort; InfluxDB telemetry keeps label order, which Prometheus clients
//!   keep sorted anyway). A label with an empty value is left out, as influx leaves out
//!   empty tag values; so is one with an empty name, which no parser accepts.
//! * The fields depend on the family type: `counter`, `gauge` or `value`
//!   (untyped) for the single-value types; for a summary, one field per
//!   quantile keyed by the quantile, plus `count` and `sum`; for a histogram
//!   (and a gauge histogram), one field per classic bucket keyed by its upper
//!   bound with its cumulative count, plus `count` and `sum`. Keys are
//!   formatted as Go's `strconv.FormatFloat(v, 'f', -1, 64)` (`0.5`, `+Inf`).
//!   Fields are sorted by key; if two share a key, the last wins.
//! * Values are floats written as Go's `strconv.FormatFloat(v, 'f', -1, 64)`:
//!   never an exponent, no `i` suffix (`1`, `0.25`, `1000000000000000000000`).
//! * The timestamp is `timestamp_ms` in nanoseconds, left out when absent,
//!   zero or negative, as Go leaves it out.
//!
//! Points that influx would refuse are skipped, as Go's `models.NewPoint`
//! refuses them and InfluxDB telemetry skips them:
//!
//! * a NaN counter, gauge or untyped value, and a NaN quantile value, are
//!   dropped as fields first (so such a counter has no field left);
//! * a point with no fields is skipped;
//! * a point with any other non-finite field (NaN or ±Inf: an infinite
//!   gauge, a NaN sum, an infinite quantile value…) is skipped whole;
//! * a point whose key (measurement and tags, escaped) plus 4 plus a field
//!   key's length exceeds 65535 bytes is skipped;
//! * a point whose timestamp in nanoseconds would overflow an `i64` (beyond
//!   the year 2262) is skipped, where Go would silently wrap it.
//!
//! A missing value message reads as its zero value, as Go's getters read it:
//! a counter family's metric without a counter is written as `counter=0`, a
//! summary without a summary as `count=0,sum=0` (where InfluxDB telemetry's
//! encoder would panic on the nil summary or histogram). Unknown types are skipped.
//!
//! # Escaping
//!
//! As influx's `models` package escapes: in the measurement `,` and space;
//! in tag keys and values `,`, space and `=`; in field keys `,`, space, `=`
//! and `"`, each with a backslash. Other backslashes are written as they are,
//! as Go writes them; influx's parser reads them back exactly (it takes a
//! delimiter right after a backslash as escaped, and unescapes only the
//! characters above). Two things would still break a line, and Go writes
//! them anyway; pushgate does not:
//!
//! * a line feed or carriage return, which ends the line and has no escape
//!   in line protocol, is written as the two characters `\n` or `\r`;
//! * trailing backslashes would escape the delimiter after them, and no
//!   escape can prevent it, so they are trimmed: a label value `C:\Temp\`
//!   is written `C:\Temp`. A tag left empty by this is dropped like an empty
//!   one; a point whose measurement is left empty is skipped.
//!
//! Go's encoder also unescapes `\,` and `\ ` in the family name before
//! escaping it, so that a name `a\,b` comes back as `a,b`; pushgate escapes
//! the name as it is, and it comes back as `a\,b`.
//!
//! Families are written in the order given, metrics in their order.
//! Histograms' float counts (`cumulative_count_float`, `sample_count_float`)
//! are used when positive, as client_model says they override the integer
//! counts; InfluxDB telemetry predates them. Native histogram buckets are not written.

use std::ops::Range;

use super::{float, int, EncodeError};
use crate::model::{LabelPair, Metric, MetricFamily, MetricType};

/// Influx's `MaxKeyLength`: the largest series key (measurement, tags,
/// separator and field key).
const MAX_KEY_LENGTH: usize = 65535;

/// Influx's `MaxNanoTime`, the last representable nanosecond timestamp.
const MAX_NANO_TIME: i64 = i64::MAX - 1;

/// Bytes escaped in a measurement.
const MEASUREMENT_SPECIAL: &[u8] = b", ";
/// Bytes escaped in tag keys and values.
const TAG_SPECIAL: &[u8] = b", =";
/// Bytes escaped in field keys.
const FIELD_KEY_SPECIAL: &[u8] = b", =\"";

/// Appends one line per metric of `families` to `out`.
///
/// Never fails: points influx would refuse are skipped, as the module docs
/// describe.
///
/// ```
/// use pushgate::codec::line_protocol;
/// use pushgate::model::{Counter, LabelPair, Metric, MetricFamily, MetricType};
///
/// let mut mf = MetricFamily { name: Some("http_requests_total".into()), ..Default::default() };
/// mf.set_metric_type(MetricType::Counter);
/// mf.metric.push(Metric {
///     label: vec![LabelPair::new("method", "get"), LabelPair::new("code", "200")],
///     counter: Some(Counter { value: Some(1027.0), ..Default::default() }),
///     timestamp_ms: Some(1395066363000),
///     ..Default::default()
/// });
/// let mut out = Vec::new();
/// line_protocol::encode(&[mf], &mut out).unwrap();
/// assert_eq!(
///     out,
///     b"http_requests_total,code=200,method=get counter=1027 1395066363000000000\n"
/// );
/// ```
pub fn encode(families: &[MetricFamily], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    encode_at(families, None, out);
    Ok(())
}

/// As [`encode`], but a metric without a timestamp (or with one that is
/// zero or negative) is written at `default_ns` when given, rather than
/// with none: a store that knows when a push arrived (the InfluxDB store)
/// must not let the server stamp it with its own later time. Returns the
/// number of points written.
pub(crate) fn encode_at(
    families: &[MetricFamily],
    default_ns: Option<i64>,
    out: &mut Vec<u8>,
) -> usize {
    let mut points = 0;
    let mut fields = Fields::default();
    let mut tags: Vec<&LabelPair> = Vec::new();
    for mf in families {
        if trim(mf.name()).is_empty() {
            // ` counter=1` has no measurement: no parser accepts it.
            continue;
        }
        for m in &mf.metric {
            fields.clear();
            if !fields.collect(mf, m) {
                continue;
            }
            let start = out.len();
            if write_point(out, mf.name(), m, &mut tags, &fields, default_ns) {
                points += 1;
            } else {
                out.truncate(start);
            }
        }
    }
    points
}

/// Writes one point; false if it must be skipped (the caller truncates).
fn write_point<'m>(
    out: &mut Vec<u8>,
    name: &str,
    m: &'m Metric,
    tags: &mut Vec<&'m LabelPair>,
    fields: &Fields,
    default_ns: Option<i64>,
) -> bool {
    let Some(timestamp) = timestamp_ns(m) else {
        return false;
    };
    let timestamp = timestamp.or(default_ns);

    let start = out.len();
    escape(out, name.as_bytes(), MEASUREMENT_SPECIAL);
    tags.clear();
    tags.extend(
        m.label
            .iter()
            .filter(|l| !trim(l.name()).is_empty() && !trim(l.value()).is_empty()),
    );
    tags.sort_by(|a, b| a.name().cmp(b.name()));
    for l in tags.iter() {
        out.push(b',');
        escape(out, l.name().as_bytes(), TAG_SPECIAL);
        out.push(b'=');
        escape(out, l.value().as_bytes(), TAG_SPECIAL);
    }
    let key_len = out.len() - start;
    if fields
        .iter()
        .any(|(k, _)| key_len + 4 + k.len() > MAX_KEY_LENGTH)
    {
        return false;
    }

    for (i, (key, value)) in fields.iter().enumerate() {
        out.push(if i == 0 { b' ' } else { b',' });
        escape(out, key, FIELD_KEY_SPECIAL);
        out.push(b'=');
        float::write_f_shortest(out, value);
    }
    if let Some(ns) = timestamp {
        out.push(b' ');
        int::write_i64(out, ns);
    }
    out.push(b'\n');
    true
}

/// The point's timestamp: `Some(None)` for none, `None` if out of range.
fn timestamp_ns(m: &Metric) -> Option<Option<i64>> {
    match m.timestamp_ms {
        Some(ms) if ms > 0 => ms
            .checked_mul(1_000_000)
            .filter(|ns| *ns <= MAX_NANO_TIME)
            .map(Some),
        _ => Some(None),
    }
}

/// A point's fields: keys in one buffer, sorted and deduplicated.
#[derive(Default)]
struct Fields {
    keys: Vec<u8>,
    fields: Vec<(Range<usize>, f64)>,
}

impl Fields {
    fn clear(&mut self) {
        self.keys.clear();
        self.fields.clear();
    }

    fn push(&mut self, key: &[u8], value: f64) {
        let start = self.keys.len();
        self.keys.extend_from_slice(key);
        self.fields.push((start..self.keys.len(), value));
    }

    fn push_float_key(&mut self, key: f64, value: f64) {
        let start = self.keys.len();
        float::write_f_shortest(&mut self.keys, key);
        self.fields.push((start..self.keys.len(), value));
    }

    /// A single value field, left out if NaN.
    fn push_value(&mut self, key: &[u8], value: Option<f64>) {
        let v = value.unwrap_or(0.0);
        if !v.is_nan() {
            self.push(key, v);
        }
    }

    /// Collects the fields of `m` as a metric of `mf`'s type, sorted by key.
    /// False if the point must be skipped: no fields, or a field influx
    /// refuses.
    fn collect(&mut self, mf: &MetricFamily, m: &Metric) -> bool {
        let Some(kind) = mf
            .r#type
            .map_or(Some(MetricType::Counter), |t| MetricType::try_from(t).ok())
        else {
            return false;
        };
        match kind {
            MetricType::Counter => {
                self.push_value(b"counter", m.counter.as_ref().and_then(|c| c.value))
            }
            MetricType::Gauge => self.push_value(b"gauge", m.gauge.and_then(|g| g.value)),
            MetricType::Untyped => self.push_value(b"value", m.untyped.and_then(|u| u.value)),
            MetricType::Summary => {
                let s = m.summary.as_deref();
                for q in s.map_or(&[][..], |s| &s.quantile) {
                    let v = q.value.unwrap_or(0.0);
                    if !v.is_nan() {
                        self.push_float_key(q.quantile.unwrap_or(0.0), v);
                    }
                }
                let count = s.and_then(|s| s.sample_count).unwrap_or(0);
                self.push(b"count", count as f64);
                self.push(b"sum", s.and_then(|s| s.sample_sum).unwrap_or(0.0));
            }
            MetricType::Histogram | MetricType::GaugeHistogram => {
                let h = m.histogram.as_deref();
                for b in h.map_or(&[][..], |h| &h.bucket) {
                    let count = overridden(b.cumulative_count, b.cumulative_count_float);
                    self.push_float_key(b.upper_bound.unwrap_or(0.0), count);
                }
                let count = h.map_or(0.0, |h| overridden(h.sample_count, h.sample_count_float));
                self.push(b"count", count);
                self.push(b"sum", h.and_then(|h| h.sample_sum).unwrap_or(0.0));
            }
        }
        self.finish()
    }

    /// Sorts by key, keeps the last of equal keys, and checks what influx
    /// checks.
    fn finish(&mut self) -> bool {
        let keys = &self.keys;
        self.fields
            .sort_by(|(a, _), (b, _)| keys[a.clone()].cmp(&keys[b.clone()]));
        // Keep the last of each run of equal keys, as a Go map assignment
        // does: `dedup_by` drops the later one, so move its value back first.
        self.fields.dedup_by(|later, kept| {
            let same = keys[later.0.clone()] == keys[kept.0.clone()];
            if same {
                kept.1 = later.1;
            }
            same
        });
        !self.fields.is_empty() && self.fields.iter().all(|(_, v)| v.is_finite())
    }

    fn iter(&self) -> impl Iterator<Item = (&[u8], f64)> {
        self.fields.iter().map(|(k, v)| (&self.keys[k.clone()], *v))
    }
}

/// A count, overridden by its float variant when that is positive.
fn overridden(count: Option<u64>, float: Option<f64>) -> f64 {
    match float {
        Some(f) if f > 0.0 => f,
        _ => count.unwrap_or(0) as f64,
    }
}

/// `s` without its trailing backslashes, which would escape the delimiter
/// written after it.
fn trim(s: &str) -> &str {
    s.trim_end_matches('\\')
}

/// Writes `s` with each byte of `special` escaped with a backslash, line
/// breaks as `\n` and `\r`, and trailing backslashes trimmed (see the module
/// docs).
fn escape(out: &mut Vec<u8>, s: &[u8], special: &[u8]) {
    let end = s.iter().rposition(|&b| b != b'\\').map_or(0, |i| i + 1);
    for &b in &s[..end] {
        match b {
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ if special.contains(&b) => out.extend_from_slice(&[b'\\', b]),
            _ => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Bucket, Counter, Gauge, Histogram, Quantile, Summary, Untyped};

    fn lp(families: &[MetricFamily]) -> String {
        let mut out = Vec::new();
        encode(families, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn family(name: &str, kind: MetricType, metrics: Vec<Metric>) -> MetricFamily {
        MetricFamily {
            name: Some(name.into()),
            r#type: Some(kind as i32),
            metric: metrics,
            ..Default::default()
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> Vec<LabelPair> {
        pairs.iter().map(|(n, v)| LabelPair::new(*n, *v)).collect()
    }

    fn gauge(v: f64) -> Metric {
        Metric {
            gauge: Some(Gauge { value: Some(v) }),
            ..Default::default()
        }
    }

    fn summary(quantiles: &[(f64, f64)], count: u64, sum: f64) -> Metric {
        Metric {
            summary: Some(Box::new(Summary {
                sample_count: Some(count),
                sample_sum: Some(sum),
                quantile: quantiles
                    .iter()
                    .map(|&(q, v)| Quantile {
                        quantile: Some(q),
                        value: Some(v),
                    })
                    .collect(),
                created_timestamp: None,
            })),
            ..Default::default()
        }
    }

    #[test]
    fn a_default_timestamp_stamps_only_metrics_without_one() {
        let mut stamped = gauge(2.0);
        stamped.timestamp_ms = Some(1_000);
        let mut zero = gauge(3.0);
        zero.timestamp_ms = Some(0);
        let mut inf = gauge(f64::INFINITY);
        inf.timestamp_ms = None;
        let families = [family(
            "g",
            MetricType::Gauge,
            vec![gauge(1.0), stamped, zero, inf],
        )];
        let mut out = Vec::new();
        let points = encode_at(&families, Some(1_700_000_000_123_456_789), &mut out);
        assert_eq!(points, 3);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "g gauge=1 1700000000123456789\n\
             g gauge=2 1000000000\n\
             g gauge=3 1700000000123456789\n"
        );
        // Without one, as `encode`.
        let mut out = Vec::new();
        assert_eq!(encode_at(&families, None, &mut out), 3);
        assert_eq!(String::from_utf8(out).unwrap(), lp(&families));
    }

    #[test]
    fn single_value_types() {
        let counter = Metric {
            label: labels(&[("n1", "v1")]),
            counter: Some(Counter {
                value: Some(1.0),
                ..Default::default()
            }),
            ..Default::default()
        };
        let untyped = Metric {
            untyped: Some(Untyped { value: Some(-0.25) }),
            timestamp_ms: Some(1),
            ..Default::default()
        };
        let got = lp(&[
            family("mf1", MetricType::Counter, vec![counter]),
            family("g", MetricType::Gauge, vec![gauge(2.5), gauge(1e21)]),
            family("u", MetricType::Untyped, vec![untyped]),
        ]);
        assert_eq!(
            got,
            "mf1,n1=v1 counter=1\n\
             g gauge=2.5\n\
             g gauge=1000000000000000000000\n\
             u value=-0.25 1000000\n"
        );
    }

    #[test]
    fn summary_fields_sorted_nan_quantiles_dropped() {
        let mut m = summary(&[(0.99, 7.0), (0.5, f64::NAN), (0.9, 3.0)], 10, 12.5);
        m.label = labels(&[("job", "a")]);
        m.timestamp_ms = Some(1_600_000_000_000);
        assert_eq!(
            lp(&[family("rpc_seconds", MetricType::Summary, vec![m])]),
            "rpc_seconds,job=a 0.9=3,0.99=7,count=10,sum=12.5 1600000000000000000\n"
        );
    }

    #[test]
    fn histogram_fields_keyed_by_upper_bound() {
        let bucket = |le: f64, n: u64| Bucket {
            cumulative_count: Some(n),
            upper_bound: Some(le),
            ..Default::default()
        };
        let m = Metric {
            histogram: Some(Box::new(Histogram {
                sample_count: Some(4),
                sample_sum: Some(2.75),
                bucket: vec![
                    bucket(0.1, 1),
                    bucket(1.0, 3),
                    bucket(1e-7, 0),
                    bucket(f64::INFINITY, 4),
                ],
                ..Default::default()
            })),
            ..Default::default()
        };
        assert_eq!(
            lp(&[family("h", MetricType::Histogram, vec![m.clone()])]),
            "h +Inf=4,0.0000001=0,0.1=1,1=3,count=4,sum=2.75\n"
        );
        // A gauge histogram is written the same way.
        assert_eq!(
            lp(&[family("h", MetricType::GaugeHistogram, vec![m])]),
            "h +Inf=4,0.0000001=0,0.1=1,1=3,count=4,sum=2.75\n"
        );
    }

    #[test]
    fn float_histogram_counts_override() {
        let m = Metric {
            histogram: Some(Box::new(Histogram {
                sample_count: Some(0),
                sample_count_float: Some(2.5),
                sample_sum: Some(1.0),
                bucket: vec![Bucket {
                    cumulative_count: Some(0),
                    cumulative_count_float: Some(1.5),
                    upper_bound: Some(1.0),
                    exemplar: None,
                }],
                ..Default::default()
            })),
            ..Default::default()
        };
        assert_eq!(
            lp(&[family("h", MetricType::Histogram, vec![m])]),
            "h 1=1.5,count=2.5,sum=1\n"
        );
    }

    #[test]
    fn duplicate_field_keys_keep_the_last() {
        let m = summary(&[(0.5, 1.0), (0.5, 2.0)], 1, 1.0);
        assert_eq!(
            lp(&[family("s", MetricType::Summary, vec![m])]),
            "s 0.5=2,count=1,sum=1\n"
        );
    }

    #[test]
    fn refused_points_are_skipped() {
        let infinite_quantile = summary(&[(0.5, f64::INFINITY)], 1, 1.0);
        let nan_sum = summary(&[(0.5, 1.0)], 1, f64::NAN);
        let fine = summary(&[(0.5, 1.0)], 1, 1.0);
        let got = lp(&[
            family(
                "g",
                MetricType::Gauge,
                vec![
                    gauge(f64::NAN),
                    gauge(f64::INFINITY),
                    gauge(f64::NEG_INFINITY),
                    gauge(1.0),
                ],
            ),
            family(
                "s",
                MetricType::Summary,
                vec![infinite_quantile, nan_sum, fine],
            ),
        ]);
        assert_eq!(got, "g gauge=1\ns 0.5=1,count=1,sum=1\n");

        let mut unknown = family("x", MetricType::Gauge, vec![gauge(1.0)]);
        unknown.r#type = Some(99);
        let nameless = family("", MetricType::Gauge, vec![gauge(1.0)]);
        assert_eq!(lp(&[unknown, nameless]), "");
    }

    #[test]
    fn missing_values_read_as_zero_as_go_getters_do() {
        let empty = Metric::default();
        let mut untyped_family = family("c", MetricType::Counter, vec![empty.clone()]);
        untyped_family.r#type = None; // absent type reads as counter
        assert_eq!(
            lp(&[
                untyped_family,
                family("s", MetricType::Summary, vec![empty.clone()]),
                family("h", MetricType::Histogram, vec![empty]),
            ]),
            "c counter=0\ns count=0,sum=0\nh count=0,sum=0\n"
        );
    }

    #[test]
    fn timestamps() {
        let at = |ms: Option<i64>| Metric {
            timestamp_ms: ms,
            ..gauge(1.0)
        };
        let got = lp(&[family(
            "t",
            MetricType::Gauge,
            vec![
                at(None),
                at(Some(0)),
                at(Some(-5)),
                at(Some(1)),
                at(Some(9_223_372_036_854)),
                at(Some(9_223_372_036_855)), // past 2262: overflows
                at(Some(i64::MAX)),
            ],
        )]);
        assert_eq!(
            got,
            "t gauge=1\nt gauge=1\nt gauge=1\nt gauge=1 1000000\nt gauge=1 9223372036854000000\n"
        );
    }

    #[test]
    fn tags_sorted_and_empty_values_dropped() {
        let mut m = gauge(1.0);
        m.label = labels(&[("zone", "b"), ("empty", ""), ("", "x"), ("az", "a")]);
        assert_eq!(
            lp(&[family("m", MetricType::Gauge, vec![m])]),
            "m,az=a,zone=b gauge=1\n"
        );
    }

    #[test]
    fn escaping_as_influx_models() {
        let mut m = gauge(1.0);
        m.label = labels(&[("k=,", "a b,c=d\"")]);
        assert_eq!(
            lp(&[family("my metric,x=\"y\"", MetricType::Gauge, vec![m])]),
            "my\\ metric\\,x=\"y\",k\\=\\,=a\\ b\\,c\\=d\" gauge=1\n"
        );
    }

    #[test]
    fn line_breaks_and_backslashes_cannot_break_a_line() {
        let mut m = gauge(1.0);
        m.label = labels(&[
            ("a", "C:\\Program Files\\"),
            ("b", "x\\,y"),
            ("c", "multi\nline\r"),
            ("d", "a\\b\\\\c"),
            ("e", "\\\n"),
            ("f", "\\\\"),
            ("g\\", "v"),
        ]);
        assert_eq!(
            lp(&[family("m\\", MetricType::Gauge, vec![m])]),
            concat!(
                "m",
                ",a=C:\\Program\\ Files",
                ",b=x\\\\,y",
                ",c=multi\\nline\\r",
                ",d=a\\b\\\\c",
                ",e=\\\\n",
                ",g=v",
                " gauge=1\n"
            )
        );
        let only_backslashes = family("\\\\", MetricType::Gauge, vec![gauge(1.0)]);
        assert_eq!(lp(&[only_backslashes]), "");
    }

    #[test]
    fn escape_cases() {
        let esc = |s: &str| {
            let mut out = Vec::new();
            escape(&mut out, s.as_bytes(), TAG_SPECIAL);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(esc(""), "");
        assert_eq!(esc("plain"), "plain");
        assert_eq!(esc("\\"), "");
        assert_eq!(esc("a\\b"), "a\\b");
        assert_eq!(esc("a\\ b"), "a\\\\ b");
        assert_eq!(esc("a \\"), "a\\ ");
        assert_eq!(esc("é ü"), "é\\ ü");
    }

    type Tag = (Vec<u8>, Vec<u8>);

    /// Reads a line's measurement and tags back as influx's `models` parser
    /// does: a delimiter right after a backslash is escaped, and only the
    /// escaped special characters are unescaped.
    fn parse_key(line: &[u8]) -> Option<(Vec<u8>, Vec<Tag>, &[u8])> {
        let delimiter = |i: usize, set: &[u8]| set.contains(&line[i]) && line[i - 1] != b'\\';
        let unescape = |token: &[u8], set: &[u8]| {
            let mut s = token.to_vec();
            for &c in set {
                let (esc, mut out, mut i) = ([b'\\', c], Vec::new(), 0);
                while i < s.len() {
                    if s[i..].starts_with(&esc) {
                        out.push(c);
                        i += 2;
                    } else {
                        out.push(s[i]);
                        i += 1;
                    }
                }
                s = out;
            }
            s
        };
        if matches!(line.first(), None | Some(b',' | b' ')) {
            return None;
        }
        let mut i = 1;
        while !delimiter(i, b", ") {
            i += 1;
        }
        let measurement = unescape(&line[..i], MEASUREMENT_SPECIAL);
        let mut tags = Vec::new();
        while line[i] == b',' {
            let start = i + 1;
            i = start + 1;
            while !delimiter(i, b"=") {
                if delimiter(i, b", ") {
                    return None;
                }
                i += 1;
            }
            let key = unescape(&line[start..i], TAG_SPECIAL);
            let start = i + 1;
            if delimiter(start, b", ") {
                return None;
            }
            i = start + 1;
            while !delimiter(i, b", ") {
                if delimiter(i, b"=") {
                    return None;
                }
                i += 1;
            }
            tags.push((key, unescape(&line[start..i], TAG_SPECIAL)));
        }
        Some((measurement, tags, &line[i..]))
    }

    proptest::proptest! {
        #[test]
        fn any_names_and_labels_parse_back(
            name in "[a\\\\, =\"\n\ré]{1,6}",
            pairs in proptest::collection::vec(("[k\\\\, =\"\n]{1,4}", "[v\\\\, =\"\r]{0,4}"), 0..4),
        ) {
            // What influx's parser should read back: line breaks spelled out,
            // trailing backslashes trimmed, empty tags dropped.
            let expect = |s: &str| trim(s).replace('\n', "\\n").replace('\r', "\\r").into_bytes();
            let mut m = gauge(1.0);
            m.label = pairs.iter().map(|(k, v)| LabelPair::new(k.as_str(), v.as_str())).collect();
            let out = lp(&[family(&name, MetricType::Gauge, vec![m])]);
            if trim(&name).is_empty() {
                proptest::prop_assert_eq!(out, "");
                return Ok(());
            }
            proptest::prop_assert_eq!(out.matches('\n').count(), 1);
            let (measurement, tags, rest) = parse_key(out.as_bytes()).expect("key parses");
            proptest::prop_assert_eq!(measurement, expect(&name));
            // Tags sorted by unescaped name, equal names kept in label order.
            let mut sorted_pairs = pairs.clone();
            sorted_pairs.sort_by(|a, b| a.0.cmp(&b.0));
            let want_sorted: Vec<_> = sorted_pairs
                .iter()
                .filter(|(k, v)| !trim(k).is_empty() && !trim(v).is_empty())
                .map(|(k, v)| (expect(k), expect(v)))
                .collect();
            proptest::prop_assert_eq!(&tags, &want_sorted);
            proptest::prop_assert_eq!(rest, &b" gauge=1\n"[..]);
        }
    }

    #[test]
    fn oversized_keys_are_skipped() {
        let long = "v".repeat(MAX_KEY_LENGTH);
        let mut big = gauge(1.0);
        big.label = labels(&[("k", &long)]);
        // "m,k=" + value + 4 + "gauge" is just over; one byte less fits.
        let fits_len = MAX_KEY_LENGTH - 4 - "gauge".len() - "m,k=".len();
        let mut fits = gauge(2.0);
        fits.label = labels(&[("k", &long[..fits_len])]);
        let got = lp(&[family("m", MetricType::Gauge, vec![big, fits])]);
        assert_eq!(got, format!("m,k={} gauge=2\n", &long[..fits_len]));
    }

    #[test]
    fn empty_input_writes_nothing() {
        assert_eq!(lp(&[]), "");
        assert_eq!(lp(&[family("e", MetricType::Gauge, vec![])]), "");
    }
}
