//! JSON: the shape Go's `encoding/json` gives client_model's structs.
//!
//! This is what InfluxDB telemetry's `prometheus.JSON` encoder writes with
//! `json.Marshal([]*dto.MetricFamily)`, and what the gateway hands to its
//! store:
//!
//! ```text
//! [{"name":"mf1","type":0,"metric":[{"label":[{"name":"n1","value":"v1"}],"counter":{"value":1},"timestamp_ms":0}]}]
//! ```
//!
//! Field names are the Go `json` tags (`sample_count`, `timestamp_ms`, …),
//! fields come in the order the Go structs declare them, and the Go
//! `omitempty` rules hold: an absent (`None`) optional is left out, a present
//! one is written even when zero, an empty repeated field is left out. The
//! `type` is a number. `google.protobuf.Timestamp`s (`created_timestamp`, an
//! exemplar's `timestamp`) are `{"seconds":…,"nanos":…}`, each part left out
//! when zero, as Go writes those proto3 fields.
//!
//! Finite floats are written as Go writes them (`1`, `0.25`, `1e-7`,
//! `1e+21`). Go's `encoding/json` cannot write NaN or ±Inf at all
//! (`json.Marshal` fails); pushgate writes them as the strings `"NaN"`,
//! `"+Inf"` and `"-Inf"` instead, so that any family can be encoded. Strings
//! are escaped as Go 1.22+ escapes them: `<`, `>`, `&`, U+2028 and U+2029 as
//! `\u003c`-style escapes, control characters as `\n`, `\t`, … or `\u00XX`.
//!
//! Decoding accepts what encoding writes, and what Go writes:
//!
//! * floats as numbers, or as the strings `"NaN"`, `"+Inf"`, `"-Inf"` (and
//!   the other spellings Go's `strconv.ParseFloat` reads as NaN or ±Inf);
//! * `type` as a number or as its Go enum name (`"GAUGE"`), as the Go type's
//!   `UnmarshalJSON` allows;
//! * `null` wherever Go accepts it (it means absent or empty);
//! * several arrays one after another (`[…][…]`), whose families are
//!   concatenated, as InfluxDB telemetry's `DecodeJSON` reads a stream.
//!
//! Unknown fields are ignored. Unlike Go, keys are matched case-sensitively
//! and a repeated key is an error rather than last-one-wins.

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use self::itoa_like::Int as _;
use super::{float, int, DecodeError, EncodeError, Position};
use crate::format::Format;
use crate::model::{
    Bucket, BucketSpan, Counter, Exemplar, Gauge, Histogram, LabelPair, Metric, MetricFamily,
    MetricType, Quantile, Summary, Timestamp, Untyped,
};

/// Decodes a JSON body: one or more arrays of families, one after another.
///
/// An empty body (or only whitespace) is no families. Bad JSON and values of
/// the wrong type are errors at [`Position::Body`] whose message carries
/// serde_json's line and column.
///
/// ```
/// use pushgate::codec::json;
///
/// let body = br#"[{"name":"up","type":1,"metric":[{"gauge":{"value":"NaN"}}]}]"#;
/// let families = json::decode(body).unwrap();
/// assert_eq!(families[0].name(), "up");
/// assert!(families[0].metric[0].gauge.unwrap().value.unwrap().is_nan());
/// ```
pub fn decode(body: &[u8]) -> Result<Vec<MetricFamily>, DecodeError> {
    let mut families = Vec::new();
    let stream = serde_json::Deserializer::from_slice(body).into_iter::<Nullable<Vec<JFamily>>>();
    for batch in stream {
        let batch =
            batch.map_err(|e| DecodeError::new(Format::Json, Position::Body, e.to_string()))?;
        families.extend(batch.0.into_iter().map(MetricFamily::from));
    }
    Ok(families)
}

/// Appends `families` to `out` as one JSON array, byte for byte as Go's
/// `json.Marshal` writes it (but see the module docs on NaN and ±Inf).
///
/// Never fails: every family can be written.
///
/// ```
/// use pushgate::codec::json;
/// use pushgate::model::{Counter, LabelPair, Metric, MetricFamily, MetricType};
///
/// let mut mf = MetricFamily { name: Some("mf1".into()), ..Default::default() };
/// mf.set_metric_type(MetricType::Counter);
/// mf.metric.push(Metric {
///     label: vec![LabelPair::new("n1", "v1")],
///     counter: Some(Counter { value: Some(1.0), ..Default::default() }),
///     timestamp_ms: Some(0),
///     ..Default::default()
/// });
/// let mut out = Vec::new();
/// json::encode(&[mf], &mut out).unwrap();
/// assert_eq!(
///     String::from_utf8(out).unwrap(),
///     r#"[{"name":"mf1","type":0,"metric":[{"label":[{"name":"n1","value":"v1"}],"counter":{"value":1},"timestamp_ms":0}]}]"#
/// );
/// ```
pub fn encode(families: &[MetricFamily], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    out.push(b'[');
    for (i, mf) in families.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_family(out, mf);
    }
    out.push(b']');
    Ok(())
}

// ---------------------------------------------------------------------------
// Encoding

/// Writes the fields of one JSON object, with the commas between them.
struct Obj<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> Obj<'a> {
    fn open(out: &'a mut Vec<u8>) -> Obj<'a> {
        out.push(b'{');
        Obj { out, empty: true }
    }

    /// Starts a field; the caller writes its value into the returned buffer.
    fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    fn str(&mut self, key: &str, v: &Option<impl AsRef<str>>) {
        if let Some(v) = v {
            write_str(self.key(key), v.as_ref());
        }
    }

    fn f64(&mut self, key: &str, v: Option<f64>) {
        if let Some(v) = v {
            write_f64(self.key(key), v);
        }
    }

    fn int(&mut self, key: &str, v: Option<impl itoa_like::Int>) {
        if let Some(v) = v {
            v.write(self.key(key));
        }
    }

    /// A repeated field: left out when empty, as `omitempty` does.
    fn list<T>(&mut self, key: &str, items: &[T], mut write: impl FnMut(&mut Vec<u8>, &T)) {
        if items.is_empty() {
            return;
        }
        let out = self.key(key);
        out.push(b'[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write(out, item);
        }
        out.push(b']');
    }

    fn timestamp(&mut self, key: &str, v: &Option<Timestamp>) {
        if let Some(ts) = v {
            write_timestamp(self.key(key), ts);
        }
    }

    fn exemplar(&mut self, key: &str, v: &Option<Box<Exemplar>>) {
        if let Some(e) = v {
            write_exemplar(self.key(key), e);
        }
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

/// Integers as JSON numbers, through the one integer writer.
mod itoa_like {
    use super::int;

    pub(super) trait Int: Copy {
        fn write(self, out: &mut Vec<u8>);
    }

    macro_rules! int {
        ($write:ident: $($t:ty),*) => {$(
            impl Int for $t {
                fn write(self, out: &mut Vec<u8>) {
                    int::$write(out, self.into());
                }
            }
        )*};
    }

    int!(write_i64: i32, i64);
    int!(write_u64: u32, u64);
}

fn write_family(out: &mut Vec<u8>, mf: &MetricFamily) {
    let mut o = Obj::open(out);
    o.str("name", &mf.name);
    o.str("help", &mf.help);
    o.int("type", mf.r#type);
    o.list("metric", &mf.metric, write_metric);
    o.str("unit", &mf.unit);
    o.close();
}

fn write_metric(out: &mut Vec<u8>, m: &Metric) {
    let mut o = Obj::open(out);
    o.list("label", &m.label, write_label);
    if let Some(g) = &m.gauge {
        write_value(o.key("gauge"), g.value);
    }
    if let Some(c) = &m.counter {
        let mut co = Obj::open(o.key("counter"));
        co.f64("value", c.value);
        co.exemplar("exemplar", &c.exemplar);
        co.timestamp("created_timestamp", &c.created_timestamp);
        co.close();
    }
    if let Some(s) = &m.summary {
        let mut so = Obj::open(o.key("summary"));
        so.int("sample_count", s.sample_count);
        so.f64("sample_sum", s.sample_sum);
        so.list("quantile", &s.quantile, |out, q| {
            let mut qo = Obj::open(out);
            qo.f64("quantile", q.quantile);
            qo.f64("value", q.value);
            qo.close();
        });
        so.timestamp("created_timestamp", &s.created_timestamp);
        so.close();
    }
    if let Some(u) = &m.untyped {
        write_value(o.key("untyped"), u.value);
    }
    if let Some(h) = &m.histogram {
        write_histogram(o.key("histogram"), h);
    }
    o.int("timestamp_ms", m.timestamp_ms);
    o.close();
}

/// `{"value":…}`: a gauge or an untyped value.
fn write_value(out: &mut Vec<u8>, value: Option<f64>) {
    let mut o = Obj::open(out);
    o.f64("value", value);
    o.close();
}

fn write_label(out: &mut Vec<u8>, l: &LabelPair) {
    let mut o = Obj::open(out);
    o.str("name", &l.name);
    o.str("value", &l.value);
    o.close();
}

fn write_histogram(out: &mut Vec<u8>, h: &Histogram) {
    let mut o = Obj::open(out);
    o.int("sample_count", h.sample_count);
    o.f64("sample_count_float", h.sample_count_float);
    o.f64("sample_sum", h.sample_sum);
    o.list("bucket", &h.bucket, write_bucket);
    o.timestamp("created_timestamp", &h.created_timestamp);
    o.int("schema", h.schema);
    o.f64("zero_threshold", h.zero_threshold);
    o.int("zero_count", h.zero_count);
    o.f64("zero_count_float", h.zero_count_float);
    o.list("negative_span", &h.negative_span, write_span);
    o.list("negative_delta", &h.negative_delta, |out, d| d.write(out));
    o.list("negative_count", &h.negative_count, |out, c| {
        write_f64(out, *c)
    });
    o.list("positive_span", &h.positive_span, write_span);
    o.list("positive_delta", &h.positive_delta, |out, d| d.write(out));
    o.list("positive_count", &h.positive_count, |out, c| {
        write_f64(out, *c)
    });
    o.list("exemplars", &h.exemplars, write_exemplar);
    o.close();
}

fn write_bucket(out: &mut Vec<u8>, b: &Bucket) {
    let mut o = Obj::open(out);
    o.int("cumulative_count", b.cumulative_count);
    o.f64("cumulative_count_float", b.cumulative_count_float);
    o.f64("upper_bound", b.upper_bound);
    o.exemplar("exemplar", &b.exemplar);
    o.close();
}

fn write_span(out: &mut Vec<u8>, s: &BucketSpan) {
    let mut o = Obj::open(out);
    o.int("offset", s.offset);
    o.int("length", s.length);
    o.close();
}

fn write_exemplar(out: &mut Vec<u8>, e: &Exemplar) {
    let mut o = Obj::open(out);
    o.list("label", &e.label, write_label);
    o.f64("value", e.value);
    o.timestamp("timestamp", &e.timestamp);
    o.close();
}

/// A proto3 message: zero fields are not pointers in Go, so `omitempty`
/// leaves them out.
fn write_timestamp(out: &mut Vec<u8>, ts: &Timestamp) {
    let mut o = Obj::open(out);
    o.int("seconds", (ts.seconds != 0).then_some(ts.seconds));
    o.int("nanos", (ts.nanos != 0).then_some(ts.nanos));
    o.close();
}

/// A float as Go's `encoding/json` writes it; the non-finite values, which Go
/// cannot write, as strings.
fn write_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if v == f64::INFINITY {
        out.extend_from_slice(b"\"+Inf\"");
    } else if v == f64::NEG_INFINITY {
        out.extend_from_slice(b"\"-Inf\"");
    } else {
        float::write_json(out, v);
    }
}

/// A string as Go's `encoding/json` (1.22+, HTML-safe) writes it.
fn write_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let short = match b {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b'\n' => Some(b'n'),
            b'\r' => Some(b'r'),
            b'\t' => Some(b't'),
            0x08 => Some(b'b'),
            0x0c => Some(b'f'),
            _ => None,
        };
        if let Some(c) = short {
            out.extend_from_slice(&bytes[start..i]);
            out.extend_from_slice(&[b'\\', c]);
            i += 1;
            start = i;
        } else if b < 0x20 || b == b'<' || b == b'>' || b == b'&' {
            out.extend_from_slice(&bytes[start..i]);
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
            i += 1;
            start = i;
        } else if b == 0xe2
            && bytes.get(i + 1) == Some(&0x80)
            && matches!(bytes.get(i + 2), Some(0xa8 | 0xa9))
        {
            // U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR.
            out.extend_from_slice(&bytes[start..i]);
            out.extend_from_slice(if bytes[i + 2] == 0xa8 {
                b"\\u2028"
            } else {
                b"\\u2029"
            });
            i += 3;
            start = i;
        } else {
            i += 1;
        }
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

// ---------------------------------------------------------------------------
// Decoding: private mirrors of the Go structs, converted to the model.

/// A value that may be `null`, which reads as its default (Go leaves a nil
/// slice).
struct Nullable<T>(T);

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for Nullable<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Nullable(Option::<T>::deserialize(d)?.unwrap_or_default()))
    }
}

fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Nullable::deserialize(d).map(|n| n.0)
}

/// A float: a JSON number, or a string naming NaN or ±Inf.
#[derive(Clone, Copy)]
struct JFloat(f64);

impl<'de> Deserialize<'de> for JFloat {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = JFloat;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(r#"a number or one of "NaN", "+Inf", "-Inf""#)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<JFloat, E> {
                Ok(JFloat(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<JFloat, E> {
                Ok(JFloat(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<JFloat, E> {
                Ok(JFloat(v as f64))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<JFloat, E> {
                match float::parse(s) {
                    Some(v) if !v.is_finite() => Ok(JFloat(v)),
                    _ => Err(E::invalid_value(de::Unexpected::Str(s), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

fn opt_f64(v: Option<JFloat>) -> Option<f64> {
    v.map(|f| f.0)
}

/// A metric type: a number, or a Go enum name such as `"COUNTER"`.
#[derive(Clone, Copy)]
struct JType(i32);

impl<'de> Deserialize<'de> for JType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = JType;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a metric type number or name")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<JType, E> {
                i32::try_from(v)
                    .map(JType)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &"an int32"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<JType, E> {
                i32::try_from(v)
                    .map(JType)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &"an int32"))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<JType, E> {
                let t = match s {
                    "COUNTER" => MetricType::Counter,
                    "GAUGE" => MetricType::Gauge,
                    "SUMMARY" => MetricType::Summary,
                    "UNTYPED" => MetricType::Untyped,
                    "HISTOGRAM" => MetricType::Histogram,
                    "GAUGE_HISTOGRAM" => MetricType::GaugeHistogram,
                    _ => return Err(E::invalid_value(de::Unexpected::Str(s), &self)),
                };
                Ok(JType(t as i32))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct JFamily {
    name: Option<String>,
    help: Option<String>,
    #[serde(rename = "type")]
    kind: Option<JType>,
    #[serde(deserialize_with = "nullable")]
    metric: Vec<JMetric>,
    unit: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct JMetric {
    #[serde(deserialize_with = "nullable")]
    label: Vec<JLabel>,
    gauge: Option<JValue>,
    counter: Option<JCounter>,
    summary: Option<JSummary>,
    untyped: Option<JValue>,
    histogram: Option<JHistogram>,
    timestamp_ms: Option<i64>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct JLabel {
    name: Option<String>,
    value: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct JValue {
    value: Option<JFloat>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct JCounter {
    value: Option<JFloat>,
    exemplar: Option<JExemplar>,
    created_timestamp: Option<JTimestamp>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct JSummary {
    sample_count: Option<u64>,
    sample_sum: Option<JFloat>,
    #[serde(deserialize_with = "nullable")]
    quantile: Vec<JQuantile>,
    created_timestamp: Option<JTimestamp>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct JQuantile {
    quantile: Option<JFloat>,
    value: Option<JFloat>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct JHistogram {
    sample_count: Option<u64>,
    sample_count_float: Option<JFloat>,
    sample_sum: Option<JFloat>,
    #[serde(deserialize_with = "nullable")]
    bucket: Vec<JBucket>,
    created_timestamp: Option<JTimestamp>,
    schema: Option<i32>,
    zero_threshold: Option<JFloat>,
    zero_count: Option<u64>,
    zero_count_float: Option<JFloat>,
    #[serde(deserialize_with = "nullable")]
    negative_span: Vec<JSpan>,
    #[serde(deserialize_with = "nullable")]
    negative_delta: Vec<i64>,
    #[serde(deserialize_with = "nullable")]
    negative_count: Vec<JFloat>,
    #[serde(deserialize_with = "nullable")]
    positive_span: Vec<JSpan>,
    #[serde(deserialize_with = "nullable")]
    positive_delta: Vec<i64>,
    #[serde(deserialize_with = "nullable")]
    positive_count: Vec<JFloat>,
    #[serde(deserialize_with = "nullable")]
    exemplars: Vec<JExemplar>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct JBucket {
    cumulative_count: Option<u64>,
    cumulative_count_float: Option<JFloat>,
    upper_bound: Option<JFloat>,
    exemplar: Option<JExemplar>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct JSpan {
    offset: Option<i32>,
    length: Option<u32>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct JExemplar {
    #[serde(deserialize_with = "nullable")]
    label: Vec<JLabel>,
    value: Option<JFloat>,
    timestamp: Option<JTimestamp>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct JTimestamp {
    #[serde(deserialize_with = "nullable")]
    seconds: i64,
    #[serde(deserialize_with = "nullable")]
    nanos: i32,
}

impl From<JFamily> for MetricFamily {
    fn from(j: JFamily) -> MetricFamily {
        MetricFamily {
            name: j.name.map(Into::into),
            help: j.help.map(Into::into),
            r#type: j.kind.map(|t| t.0),
            metric: j.metric.into_iter().map(Metric::from).collect(),
            unit: j.unit.map(Into::into),
        }
    }
}

impl From<JMetric> for Metric {
    fn from(j: JMetric) -> Metric {
        Metric {
            label: j.label.into_iter().map(LabelPair::from).collect(),
            gauge: j.gauge.map(|g| Gauge {
                value: opt_f64(g.value),
            }),
            counter: j.counter.map(|c| Counter {
                value: opt_f64(c.value),
                exemplar: c.exemplar.map(|e| Box::new(e.into())),
                created_timestamp: c.created_timestamp.map(Into::into),
            }),
            summary: j.summary.map(|s| {
                Box::new(Summary {
                    sample_count: s.sample_count,
                    sample_sum: opt_f64(s.sample_sum),
                    quantile: s
                        .quantile
                        .into_iter()
                        .map(|q| Quantile {
                            quantile: opt_f64(q.quantile),
                            value: opt_f64(q.value),
                        })
                        .collect(),
                    created_timestamp: s.created_timestamp.map(Into::into),
                })
            }),
            untyped: j.untyped.map(|u| Untyped {
                value: opt_f64(u.value),
            }),
            histogram: j.histogram.map(|h| Box::new(h.into())),
            timestamp_ms: j.timestamp_ms,
        }
    }
}

impl From<JLabel> for LabelPair {
    fn from(j: JLabel) -> LabelPair {
        LabelPair {
            name: j.name.map(Into::into),
            value: j.value.map(Into::into),
        }
    }
}

impl From<JHistogram> for Histogram {
    fn from(j: JHistogram) -> Histogram {
        let floats = |v: Vec<JFloat>| v.into_iter().map(|f| f.0).collect();
        Histogram {
            sample_count: j.sample_count,
            sample_count_float: opt_f64(j.sample_count_float),
            sample_sum: opt_f64(j.sample_sum),
            bucket: j
                .bucket
                .into_iter()
                .map(|b| Bucket {
                    cumulative_count: b.cumulative_count,
                    cumulative_count_float: opt_f64(b.cumulative_count_float),
                    upper_bound: opt_f64(b.upper_bound),
                    exemplar: b.exemplar.map(|e| Box::new(e.into())),
                })
                .collect(),
            created_timestamp: j.created_timestamp.map(Into::into),
            schema: j.schema,
            zero_threshold: opt_f64(j.zero_threshold),
            zero_count: j.zero_count,
            zero_count_float: opt_f64(j.zero_count_float),
            negative_span: j.negative_span.into_iter().map(Into::into).collect(),
            negative_delta: j.negative_delta,
            negative_count: floats(j.negative_count),
            positive_span: j.positive_span.into_iter().map(Into::into).collect(),
            positive_delta: j.positive_delta,
            positive_count: floats(j.positive_count),
            exemplars: j.exemplars.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<JSpan> for BucketSpan {
    fn from(j: JSpan) -> BucketSpan {
        BucketSpan {
            offset: j.offset,
            length: j.length,
        }
    }
}

impl From<JExemplar> for Exemplar {
    fn from(j: JExemplar) -> Exemplar {
        Exemplar {
            label: j.label.into_iter().map(Into::into).collect(),
            value: opt_f64(j.value),
            timestamp: j.timestamp.map(Into::into),
        }
    }
}

impl From<JTimestamp> for Timestamp {
    fn from(j: JTimestamp) -> Timestamp {
        Timestamp {
            seconds: j.seconds,
            nanos: j.nanos,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(families: &[MetricFamily]) -> String {
        let mut out = Vec::new();
        encode(families, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn counter(name: &str, v: f64, labels: &[(&str, &str)]) -> MetricFamily {
        MetricFamily {
            name: Some(name.into()),
            r#type: Some(MetricType::Counter as i32),
            metric: vec![Metric {
                label: labels.iter().map(|(n, v)| LabelPair::new(*n, *v)).collect(),
                counter: Some(Counter {
                    value: Some(v),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn round_trip(families: &[MetricFamily]) {
        let json = enc(families);
        let back = decode(json.as_bytes()).unwrap();
        assert_eq!(back, families, "{json}");
        assert_eq!(enc(&back), json);
    }

    /// Every field of the model set, most of them to awkward values.
    fn everything() -> Vec<MetricFamily> {
        let exemplar = Exemplar {
            label: vec![LabelPair::new("trace_id", "abc")],
            value: Some(0.5),
            timestamp: Some(Timestamp {
                seconds: 1,
                nanos: 2,
            }),
        };
        let metric = Metric {
            label: vec![
                LabelPair::new("a", "x\"y\\z\n<&>\u{2028}\u{1}"),
                LabelPair {
                    name: Some("only_name".into()),
                    value: None,
                },
            ],
            gauge: Some(Gauge {
                value: Some(f64::NAN),
            }),
            counter: Some(Counter {
                value: Some(f64::INFINITY),
                exemplar: Some(Box::new(exemplar.clone())),
                created_timestamp: Some(Timestamp::default()),
            }),
            summary: Some(Box::new(Summary {
                sample_count: Some(u64::MAX),
                sample_sum: Some(-0.0),
                quantile: vec![
                    Quantile {
                        quantile: Some(0.5),
                        value: Some(f64::NEG_INFINITY),
                    },
                    Quantile::default(),
                ],
                created_timestamp: Some(Timestamp {
                    seconds: -5,
                    nanos: 0,
                }),
            })),
            untyped: Some(Untyped { value: Some(1e-7) }),
            histogram: Some(Box::new(Histogram {
                sample_count: Some(3),
                sample_count_float: Some(3.5),
                sample_sum: Some(1e21),
                bucket: vec![Bucket {
                    cumulative_count: Some(1),
                    cumulative_count_float: Some(1.5),
                    upper_bound: Some(f64::INFINITY),
                    exemplar: Some(Box::new(exemplar.clone())),
                }],
                created_timestamp: Some(Timestamp {
                    seconds: 7,
                    nanos: 8,
                }),
                schema: Some(-4),
                zero_threshold: Some(1e-128),
                zero_count: Some(0),
                zero_count_float: Some(0.0),
                negative_span: vec![BucketSpan {
                    offset: Some(-1),
                    length: Some(2),
                }],
                negative_delta: vec![i64::MIN, 1],
                negative_count: vec![1.0, f64::NAN],
                positive_span: vec![BucketSpan::default()],
                positive_delta: vec![i64::MAX],
                positive_count: vec![2.25],
                exemplars: vec![exemplar],
            })),
            timestamp_ms: Some(-1),
        };
        vec![
            MetricFamily {
                name: Some("everything".into()),
                help: Some("".into()),
                r#type: Some(42),
                metric: vec![metric, Metric::default()],
                unit: Some("seconds".into()),
            },
            MetricFamily::default(),
        ]
    }

    #[test]
    fn store_test_golden() {
        // telemetry's handler test: what the gateway stores for a pushed
        // counter mf1{n1="v1"} 1, stamped at the epoch.
        let mut mf = counter("mf1", 1.0, &[("n1", "v1")]);
        mf.metric[0].timestamp_ms = Some(0);
        assert_eq!(
            enc(&[mf]),
            r#"[{"name":"mf1","type":0,"metric":[{"label":[{"name":"n1","value":"v1"}],"counter":{"value":1},"timestamp_ms":0}]}]"#
        );
    }

    #[test]
    fn writes_every_field_in_go_struct_order() {
        let json = enc(&everything());
        let want = concat!(
            r#"[{"name":"everything","help":"","type":42,"metric":[{"#,
            r#""label":[{"name":"a","value":"x\"y\\z\n\u003c\u0026\u003e\u2028\u0001"},{"name":"only_name"}],"#,
            r#""gauge":{"value":"NaN"},"#,
            r#""counter":{"value":"+Inf","exemplar":{"label":[{"name":"trace_id","value":"abc"}],"value":0.5,"timestamp":{"seconds":1,"nanos":2}},"created_timestamp":{}},"#,
            r#""summary":{"sample_count":18446744073709551615,"sample_sum":-0,"quantile":[{"quantile":0.5,"value":"-Inf"},{}],"created_timestamp":{"seconds":-5}},"#,
            r#""untyped":{"value":1e-7},"#,
            r#""histogram":{"sample_count":3,"sample_count_float":3.5,"sample_sum":1e+21,"#,
            r#""bucket":[{"cumulative_count":1,"cumulative_count_float":1.5,"upper_bound":"+Inf","exemplar":{"label":[{"name":"trace_id","value":"abc"}],"value":0.5,"timestamp":{"seconds":1,"nanos":2}}}],"#,
            r#""created_timestamp":{"seconds":7,"nanos":8},"schema":-4,"zero_threshold":1e-128,"zero_count":0,"zero_count_float":0,"#,
            r#""negative_span":[{"offset":-1,"length":2}],"negative_delta":[-9223372036854775808,1],"negative_count":[1,"NaN"],"#,
            r#""positive_span":[{}],"positive_delta":[9223372036854775807],"positive_count":[2.25],"#,
            r#""exemplars":[{"label":[{"name":"trace_id","value":"abc"}],"value":0.5,"timestamp":{"seconds":1,"nanos":2}}]},"#,
            r#""timestamp_ms":-1},{}],"unit":"seconds"},{}]"#,
        );
        assert_eq!(json, want);
    }

    #[test]
    fn round_trips_every_field() {
        // NaN != NaN, so compare through the encoding as well as structurally
        // on a copy without NaNs.
        let all = everything();
        let json = enc(&all);
        assert_eq!(enc(&decode(json.as_bytes()).unwrap()), json);

        let mut no_nan = all;
        let m = &mut no_nan[0].metric[0];
        m.gauge = Some(Gauge { value: Some(2.0) });
        m.histogram.as_mut().unwrap().negative_count = vec![1.0];
        round_trip(&no_nan);
    }

    #[test]
    fn round_trips_simple_families() {
        round_trip(&[]);
        round_trip(&[counter("a", 1.0, &[]), counter("b", 0.1, &[("k", "v")])]);
    }

    #[test]
    fn empty_input_is_no_families() {
        assert_eq!(decode(b"").unwrap(), vec![]);
        assert_eq!(decode(b"  \n").unwrap(), vec![]);
        assert_eq!(decode(b"[]").unwrap(), vec![]);
        assert_eq!(decode(b"null").unwrap(), vec![]);
    }

    #[test]
    fn concatenated_arrays_are_one_stream() {
        // InfluxDB telemetry's codec test: b2 + b1 + b2 decodes to all four
        // families.
        let mf1 = [
            counter("mf1", 1.0, &[("n1", "v1")]),
            counter("mf1", 1.0, &[("n1", "v1")]),
        ];
        let mf2 = [counter("mf2", 1.0, &[("n2", "v2")])];
        let body = format!("{}{}\n{}", enc(&mf2), enc(&mf1), enc(&mf2));
        let got = decode(body.as_bytes()).unwrap();
        let want: Vec<_> = mf2.iter().chain(&mf1).chain(&mf2).cloned().collect();
        assert_eq!(got, want);
    }

    #[test]
    fn accepts_go_spellings() {
        let body = br#"[{"name":"x","type":"GAUGE","extra":{"nested":[1,2]},"metric":[
            {"label":null,"gauge":{"value":"Inf"},"timestamp_ms":null},
            {"untyped":{"value":-1e3}},
            {"histogram":{"bucket":[{"upper_bound":"-inf","cumulative_count":2}],"negative_delta":null}}
        ]}]"#;
        let got = decode(body).unwrap();
        let mf = &got[0];
        assert_eq!(mf.metric_type(), MetricType::Gauge);
        assert_eq!(mf.metric[0].gauge.unwrap().value, Some(f64::INFINITY));
        assert_eq!(mf.metric[0].label, vec![]);
        assert_eq!(mf.metric[0].timestamp_ms, None);
        assert_eq!(mf.metric[1].untyped.unwrap().value, Some(-1000.0));
        let h = mf.metric[2].histogram.as_ref().unwrap();
        assert_eq!(h.bucket[0].upper_bound, Some(f64::NEG_INFINITY));
        assert_eq!(h.bucket[0].cumulative_count, Some(2));
    }

    #[test]
    fn errors_carry_serde_positions() {
        let err = decode(b"[{\"name\":\n 5}]").unwrap_err();
        assert_eq!(err.format, Format::Json);
        assert_eq!(err.position, Position::Body);
        assert!(err.message.contains("line 2 column"), "{err}");

        for bad in [
            &br#"[{"name":"x"}"#[..],
            br#"{"name":"x"}"#,
            br#"[{"metric":[{"gauge":{"value":"1.5"}}]}]"#,
            br#"[{"metric":[{"gauge":{"value":"nope"}}]}]"#,
            br#"[{"metric":[{"timestamp_ms":1.5}]}]"#,
            br#"[{"type":"NOPE"}]"#,
            br#"[{"type":4294967296}]"#,
            br#"[{"metric":[{"summary":{"sample_count":-1}}]}]"#,
            br#"[] x"#,
        ] {
            let err = decode(bad).unwrap_err();
            assert!(err.message.contains("line 1 column"), "{err}");
        }
    }

    #[test]
    fn string_escapes_match_go() {
        let mut out = Vec::new();
        write_str(&mut out, "\u{8}\u{c}\t\u{1f}\u{7f}é\u{2029}😀");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"\\b\\f\\t\\u001f\u{7f}é\\u2029😀\""
        );
    }
}
