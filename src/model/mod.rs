//! The Prometheus data model: client_model's `io.prometheus.client` messages.
//!
//! These are `prost::Message` types that follow client_model's proto2
//! `metrics.proto` field for field, tag for tag, so that nothing a client
//! sends is lost on its way through the gateway. Optional scalars are
//! `Option`s (proto2 presence), so a metric with `timestamp_ms: Some(0)` is
//! told apart from one with no timestamp.
//!
//! Strings are [`Str`]s: decoders take them out of the request body without
//! allocating (short ones held in the `Str`, long ones sharing the body's
//! memory). `LabelPair` and `MetricFamily`, the only messages with
//! string fields, implement `prost::Message` by hand for that reason; the rest
//! derive it.
//!
//! Large, rarely present parts (summaries, histograms, exemplars) are boxed so
//! that a `Metric` stays small: a body of many tiny metrics must not
//! allocate far more than its own size.

pub mod name;
// The one module allowed `unsafe`: `Str`'s inline/shared union, and
// `Utf8Body`'s slices of a body checked as UTF-8 once.
#[allow(unsafe_code)]
mod str;

pub use self::str::Str;
pub(crate) use self::str::Utf8Body;

use bytes::{Buf, BufMut};
use prost::encoding::{self, DecodeContext, WireType};
use prost::DecodeError;

/// The type of a metric family (`io.prometheus.client.MetricType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MetricType {
    /// A monotonic counter; metrics carry [`Metric::counter`].
    Counter = 0,
    /// A value that goes up and down; metrics carry [`Metric::gauge`].
    Gauge = 1,
    /// Quantiles, a count and a sum; metrics carry [`Metric::summary`].
    Summary = 2,
    /// A value of unknown kind; metrics carry [`Metric::untyped`].
    Untyped = 3,
    /// Buckets, a count and a sum; metrics carry [`Metric::histogram`].
    Histogram = 4,
    /// A histogram of a gauge; metrics carry [`Metric::histogram`].
    GaugeHistogram = 5,
}

/// A label name and value (`io.prometheus.client.LabelPair`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabelPair {
    /// Tag 1.
    pub name: Option<Str>,
    /// Tag 2.
    pub value: Option<Str>,
}

impl LabelPair {
    /// A pair with both fields set.
    pub fn new(name: impl Into<Str>, value: impl Into<Str>) -> LabelPair {
        LabelPair {
            name: Some(name.into()),
            value: Some(value.into()),
        }
    }

    /// The name, or `""` when absent.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    /// The value, or `""` when absent.
    pub fn value(&self) -> &str {
        self.value.as_deref().unwrap_or("")
    }
}

/// A gauge value (`io.prometheus.client.Gauge`).
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Gauge {
    /// Tag 1.
    #[prost(double, optional, tag = "1")]
    pub value: Option<f64>,
}

/// A counter value (`io.prometheus.client.Counter`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Counter {
    /// Tag 1.
    #[prost(double, optional, tag = "1")]
    pub value: Option<f64>,
    /// Tag 2.
    #[prost(message, optional, boxed, tag = "2")]
    pub exemplar: Option<Box<Exemplar>>,
    /// Tag 3.
    #[prost(message, optional, tag = "3")]
    pub created_timestamp: Option<Timestamp>,
}

/// One quantile of a summary (`io.prometheus.client.Quantile`).
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Quantile {
    /// Tag 1.
    #[prost(double, optional, tag = "1")]
    pub quantile: Option<f64>,
    /// Tag 2.
    #[prost(double, optional, tag = "2")]
    pub value: Option<f64>,
}

/// A summary (`io.prometheus.client.Summary`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Summary {
    /// Tag 1.
    #[prost(uint64, optional, tag = "1")]
    pub sample_count: Option<u64>,
    /// Tag 2.
    #[prost(double, optional, tag = "2")]
    pub sample_sum: Option<f64>,
    /// Tag 3.
    #[prost(message, repeated, tag = "3")]
    pub quantile: Vec<Quantile>,
    /// Tag 4.
    #[prost(message, optional, tag = "4")]
    pub created_timestamp: Option<Timestamp>,
}

/// An untyped value (`io.prometheus.client.Untyped`).
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Untyped {
    /// Tag 1.
    #[prost(double, optional, tag = "1")]
    pub value: Option<f64>,
}

/// A classic and/or native histogram (`io.prometheus.client.Histogram`).
///
/// Repeated scalars are unpacked on the wire, as proto2 declares them and as
/// Go's client writes them; decoding accepts both forms.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Histogram {
    /// Tag 1.
    #[prost(uint64, optional, tag = "1")]
    pub sample_count: Option<u64>,
    /// Tag 4: overrides `sample_count` if > 0.
    #[prost(double, optional, tag = "4")]
    pub sample_count_float: Option<f64>,
    /// Tag 2.
    #[prost(double, optional, tag = "2")]
    pub sample_sum: Option<f64>,
    /// Tag 3: classic buckets, in increasing order of upper bound; the
    /// `+Inf` bucket is optional.
    #[prost(message, repeated, tag = "3")]
    pub bucket: Vec<Bucket>,
    /// Tag 15.
    #[prost(message, optional, tag = "15")]
    pub created_timestamp: Option<Timestamp>,
    /// Tag 5: native histogram schema.
    #[prost(sint32, optional, tag = "5")]
    pub schema: Option<i32>,
    /// Tag 6: breadth of the zero bucket.
    #[prost(double, optional, tag = "6")]
    pub zero_threshold: Option<f64>,
    /// Tag 7: count in the zero bucket.
    #[prost(uint64, optional, tag = "7")]
    pub zero_count: Option<u64>,
    /// Tag 8: overrides `zero_count` if > 0.
    #[prost(double, optional, tag = "8")]
    pub zero_count_float: Option<f64>,
    /// Tag 9.
    #[prost(message, repeated, tag = "9")]
    pub negative_span: Vec<BucketSpan>,
    /// Tag 10: count deltas of each negative bucket.
    #[prost(sint64, repeated, packed = "false", tag = "10")]
    pub negative_delta: Vec<i64>,
    /// Tag 11: absolute counts of each negative bucket (float histograms).
    #[prost(double, repeated, packed = "false", tag = "11")]
    pub negative_count: Vec<f64>,
    /// Tag 12.
    #[prost(message, repeated, tag = "12")]
    pub positive_span: Vec<BucketSpan>,
    /// Tag 13: count deltas of each positive bucket.
    #[prost(sint64, repeated, packed = "false", tag = "13")]
    pub positive_delta: Vec<i64>,
    /// Tag 14: absolute counts of each positive bucket (float histograms).
    #[prost(double, repeated, packed = "false", tag = "14")]
    pub positive_count: Vec<f64>,
    /// Tag 16: exemplars of a native histogram.
    #[prost(message, repeated, tag = "16")]
    pub exemplars: Vec<Exemplar>,
}

/// A classic histogram bucket (`io.prometheus.client.Bucket`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Bucket {
    /// Tag 1: cumulative count.
    #[prost(uint64, optional, tag = "1")]
    pub cumulative_count: Option<u64>,
    /// Tag 4: overrides `cumulative_count` if > 0.
    #[prost(double, optional, tag = "4")]
    pub cumulative_count_float: Option<f64>,
    /// Tag 2: inclusive upper bound.
    #[prost(double, optional, tag = "2")]
    pub upper_bound: Option<f64>,
    /// Tag 3.
    #[prost(message, optional, boxed, tag = "3")]
    pub exemplar: Option<Box<Exemplar>>,
}

/// A run of consecutive native histogram buckets (`io.prometheus.client.BucketSpan`).
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct BucketSpan {
    /// Tag 1: gap to the previous span, or the start of the first.
    #[prost(sint32, optional, tag = "1")]
    pub offset: Option<i32>,
    /// Tag 2: number of consecutive buckets.
    #[prost(uint32, optional, tag = "2")]
    pub length: Option<u32>,
}

/// An exemplar (`io.prometheus.client.Exemplar`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Exemplar {
    /// Tag 1.
    #[prost(message, repeated, tag = "1")]
    pub label: Vec<LabelPair>,
    /// Tag 2.
    #[prost(double, optional, tag = "2")]
    pub value: Option<f64>,
    /// Tag 3.
    #[prost(message, optional, tag = "3")]
    pub timestamp: Option<Timestamp>,
}

/// `google.protobuf.Timestamp` (proto3: zero fields are not written).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Message)]
pub struct Timestamp {
    /// Tag 1: seconds since the Unix epoch.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Tag 2: non-negative fraction of a second, in nanoseconds.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Timestamp {
    /// Milliseconds since the epoch.
    pub fn to_millis(self) -> i64 {
        self.seconds
            .saturating_mul(1000)
            .saturating_add(i64::from(self.nanos) / 1_000_000)
    }

    /// Seconds since the epoch, as a float.
    pub fn to_secs_f64(self) -> f64 {
        self.seconds as f64 + f64::from(self.nanos) / 1e9
    }

    /// The timestamp nearest to `secs` seconds since the epoch.
    pub fn from_secs_f64(secs: f64) -> Timestamp {
        let mut seconds = secs.floor();
        let mut nanos = ((secs - seconds) * 1e9).round();
        if nanos >= 1e9 {
            seconds += 1.0;
            nanos -= 1e9;
        }
        Timestamp {
            seconds: seconds as i64,
            nanos: nanos as i32,
        }
    }
}

/// One series of a family: its labels, its value, an optional timestamp
/// (`io.prometheus.client.Metric`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Metric {
    /// Tag 1.
    #[prost(message, repeated, tag = "1")]
    pub label: Vec<LabelPair>,
    /// Tag 2.
    #[prost(message, optional, tag = "2")]
    pub gauge: Option<Gauge>,
    /// Tag 3.
    #[prost(message, optional, tag = "3")]
    pub counter: Option<Counter>,
    /// Tag 4.
    #[prost(message, optional, boxed, tag = "4")]
    pub summary: Option<Box<Summary>>,
    /// Tag 5.
    #[prost(message, optional, tag = "5")]
    pub untyped: Option<Untyped>,
    /// Tag 7.
    #[prost(message, optional, boxed, tag = "7")]
    pub histogram: Option<Box<Histogram>>,
    /// Tag 6: milliseconds since the epoch.
    #[prost(int64, optional, tag = "6")]
    pub timestamp_ms: Option<i64>,
}

/// A named group of metrics of one type (`io.prometheus.client.MetricFamily`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricFamily {
    /// Tag 1.
    pub name: Option<Str>,
    /// Tag 2.
    pub help: Option<Str>,
    /// Tag 3: a [`MetricType`] as `i32`; unknown values are kept as sent.
    pub r#type: Option<i32>,
    /// Tag 4.
    pub metric: Vec<Metric>,
    /// Tag 5.
    pub unit: Option<Str>,
}

impl MetricFamily {
    /// The name, or `""` when absent.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    /// The help text, or `""` when absent.
    pub fn help(&self) -> &str {
        self.help.as_deref().unwrap_or("")
    }

    /// The unit, or `""` when absent.
    pub fn unit(&self) -> &str {
        self.unit.as_deref().unwrap_or("")
    }

    /// The type; absent or unknown reads as [`MetricType::Counter`], as in Go.
    pub fn metric_type(&self) -> MetricType {
        self.r#type
            .and_then(|t| MetricType::try_from(t).ok())
            .unwrap_or(MetricType::Counter)
    }

    /// Sets the type.
    pub fn set_metric_type(&mut self, t: MetricType) {
        self.r#type = Some(t as i32);
    }
}

/// `prost` field helpers for [`Str`], mirroring `prost::encoding::string`.
mod str_field {
    use super::*;

    pub(super) fn encode(tag: u32, value: &Str, buf: &mut impl BufMut) {
        encoding::encode_key(tag, WireType::LengthDelimited, buf);
        encoding::encode_varint(value.len() as u64, buf);
        buf.put_slice(value.as_bytes());
    }

    pub(super) fn encoded_len(tag: u32, value: &Str) -> usize {
        encoding::key_len(tag) + encoding::encoded_len_varint(value.len() as u64) + value.len()
    }

    /// Slices the string out of `buf` (zero-copy when `buf` is `Bytes`).
    pub(super) fn merge(
        wire_type: WireType,
        value: &mut Option<Str>,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        let mut bytes = bytes::Bytes::new();
        encoding::bytes::merge(wire_type, &mut bytes, buf, ctx)?;
        match Str::from_utf8(bytes) {
            Ok(s) => {
                *value = Some(s);
                Ok(())
            }
            #[allow(deprecated)] // prost offers no other way to raise its error
            Err(_) => Err(DecodeError::new(
                "invalid string value: data is not UTF-8 encoded",
            )),
        }
    }
}

impl prost::Message for LabelPair {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if let Some(v) = &self.name {
            str_field::encode(1, v, buf);
        }
        if let Some(v) = &self.value {
            str_field::encode(2, v, buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        let r = match tag {
            1 => str_field::merge(wire_type, &mut self.name, buf, ctx),
            2 => str_field::merge(wire_type, &mut self.value, buf, ctx),
            _ => return encoding::skip_field(wire_type, tag, buf, ctx),
        };
        r.map_err(|mut e| {
            e.push("LabelPair", if tag == 1 { "name" } else { "value" });
            e
        })
    }

    fn encoded_len(&self) -> usize {
        self.name
            .as_ref()
            .map_or(0, |v| str_field::encoded_len(1, v))
            + self
                .value
                .as_ref()
                .map_or(0, |v| str_field::encoded_len(2, v))
    }

    fn clear(&mut self) {
        *self = LabelPair::default();
    }
}

impl prost::Message for MetricFamily {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if let Some(v) = &self.name {
            str_field::encode(1, v, buf);
        }
        if let Some(v) = &self.help {
            str_field::encode(2, v, buf);
        }
        if let Some(v) = &self.r#type {
            encoding::int32::encode(3, v, buf);
        }
        encoding::message::encode_repeated(4, &self.metric, buf);
        if let Some(v) = &self.unit {
            str_field::encode(5, v, buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        let (r, field) = match tag {
            1 => (
                str_field::merge(wire_type, &mut self.name, buf, ctx),
                "name",
            ),
            2 => (
                str_field::merge(wire_type, &mut self.help, buf, ctx),
                "help",
            ),
            3 => {
                let t = self.r#type.get_or_insert(0);
                (encoding::int32::merge(wire_type, t, buf, ctx), "type")
            }
            4 => (
                encoding::message::merge_repeated(wire_type, &mut self.metric, buf, ctx),
                "metric",
            ),
            5 => (
                str_field::merge(wire_type, &mut self.unit, buf, ctx),
                "unit",
            ),
            _ => return encoding::skip_field(wire_type, tag, buf, ctx),
        };
        r.map_err(|mut e| {
            e.push("MetricFamily", field);
            e
        })
    }

    fn encoded_len(&self) -> usize {
        self.name
            .as_ref()
            .map_or(0, |v| str_field::encoded_len(1, v))
            + self
                .help
                .as_ref()
                .map_or(0, |v| str_field::encoded_len(2, v))
            + self
                .r#type
                .as_ref()
                .map_or(0, |v| encoding::int32::encoded_len(3, v))
            + encoding::message::encoded_len_repeated(4, &self.metric)
            + self
                .unit
                .as_ref()
                .map_or(0, |v| str_field::encoded_len(5, v))
    }

    fn clear(&mut self) {
        *self = MetricFamily::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn metric_stays_small() {
        // Many tiny metrics in a body must not blow up memory; see module docs.
        assert!(
            std::mem::size_of::<Metric>() <= 160,
            "{}",
            std::mem::size_of::<Metric>()
        );
    }

    #[test]
    fn family_round_trips_through_prost() {
        let mf = MetricFamily {
            name: Some("up".into()),
            help: Some("".into()),
            r#type: Some(MetricType::Gauge as i32),
            metric: vec![Metric {
                label: vec![LabelPair::new("job", "a")],
                gauge: Some(Gauge { value: Some(1.0) }),
                timestamp_ms: Some(0),
                ..Default::default()
            }],
            unit: None,
        };
        let bytes = bytes::Bytes::from(mf.encode_to_vec());
        let back = MetricFamily::decode(bytes).unwrap();
        assert_eq!(back, mf);
        // Presence survives: an empty help and a zero timestamp are kept.
        assert_eq!(back.help, Some(Str::new()));
        assert_eq!(back.metric[0].timestamp_ms, Some(0));
    }

    #[test]
    fn invalid_utf8_label_is_an_error() {
        // LabelPair{name: "\xff"} inside Metric inside MetricFamily.
        let lp = [0x0a, 0x01, 0xff];
        let metric = [&[0x0a, lp.len() as u8][..], &lp].concat();
        let mf = [&[0x22, metric.len() as u8][..], &metric].concat();
        let err = MetricFamily::decode(&mf[..]).unwrap_err();
        assert!(err.to_string().contains("UTF-8"), "{err}");
    }

    #[test]
    fn absent_type_reads_as_counter() {
        assert_eq!(MetricFamily::default().metric_type(), MetricType::Counter);
    }
}
