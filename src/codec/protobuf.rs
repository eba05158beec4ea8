//! Length-delimited protobuf: a varint length, then a `MetricFamily`, repeated.
//!
//! This is what Go's `push` client sends by default
//! ([`PROTOBUF_CONTENT_TYPE`](crate::format::PROTOBUF_CONTENT_TYPE)). Strings
//! in the decoded families are copied into their [`Str`](crate::model::Str)
//! when short and share memory with the body when long: none is allocated.

use bytes::Bytes;
use prost::encoding;

use super::{wire, DecodeError, Limits, Position};
use crate::format::Format;
use crate::model::{Bucket, Counter, Histogram, LabelPair, Metric, MetricFamily, Str, Summary};

/// Decodes every record of a length-delimited body.
///
/// A length prefix that runs past the end of the body, or above
/// `limits.max_bytes`, is an error naming the record and its offset, raised
/// before anything of that length is allocated.
pub fn decode(body: Bytes, limits: &Limits) -> Result<Vec<MetricFamily>, DecodeError> {
    decode_with_room(body, limits, 0)
}

/// [`decode`], each metric's labels with room for `room` more
/// ([`super::decode_with_room`]).
pub(crate) fn decode_with_room(
    body: Bytes,
    limits: &Limits,
    room: usize,
) -> Result<Vec<MetricFamily>, DecodeError> {
    let mut families = Vec::with_capacity(count_records(&body));
    let mut pos = 0;
    while pos < body.len() {
        let index = families.len();
        let offset = pos;
        let err = |message: String| {
            DecodeError::new(
                Format::Protobuf,
                Position::Record { index, offset },
                message,
            )
        };
        let mut rest = &body[pos..];
        let len = prost::encoding::decode_varint(&mut rest)
            .map_err(|_| err("truncated or invalid length prefix".into()))?;
        if len > limits.max_bytes as u64 {
            return Err(err(format!(
                "record length {len} exceeds the limit of {} bytes",
                limits.max_bytes
            )));
        }
        if len > rest.len() as u64 {
            return Err(err(format!(
                "record length {len} runs past the end of the body ({} bytes left)",
                rest.len()
            )));
        }
        let start = body.len() - rest.len();
        let end = start + len as usize;
        // Records are ranges of the one body, not `Bytes` of their own: no
        // reference count to update per record.
        let mf = wire::decode_family(&body, start, end, room)
            .map_err(|e| err(format!("{} at byte {}", e.message, e.offset)))?;
        families.push(mf);
        pos = end;
    }
    Ok(families)
}

/// How many records `body` holds, to size the result once. Stops (without
/// error) at a bad prefix, which the real pass reports. At most one per
/// byte, so the reservation is bounded by the body's size.
fn count_records(body: &[u8]) -> usize {
    let mut rest = body;
    let mut n = 0;
    while !rest.is_empty() {
        match prost::encoding::decode_varint(&mut rest) {
            Ok(len) if len <= rest.len() as u64 => rest = &rest[len as usize..],
            _ => break,
        }
        n += 1;
    }
    n
}

/// One part of `family` ([`super::encode_part`]), without a length prefix.
// Only the Pushgateway mode joins families from parts.
#[cfg_attr(not(feature = "gateway"), allow(dead_code))]
pub(crate) fn encode_part(family: &MetricFamily, part: super::Part, out: &mut Vec<u8>) {
    match part {
        super::Part::Head => {
            str_field(1, family.name.as_ref(), out);
            str_field(2, family.help.as_ref(), out);
            if let Some(t) = &family.r#type {
                encoding::int32::encode(3, t, out);
            }
            str_field(5, family.unit.as_ref(), out);
        }
        super::Part::Metrics => {
            for metric in &family.metric {
                let lens = MetricLens::of(metric);
                nested(out, 4, lens.metric);
                encode_metric(metric, lens, out);
            }
        }
    }
}

/// Appends `families` to `out`, each with its varint length prefix: the
/// bytes `prost` writes, in one pass. `prost` computes a nested message's
/// length at every level above it (a histogram bucket's four times) and
/// writes through `BufMut` a byte at a time; here each metric's,
/// summary's and histogram's length is computed once, and the messages a
/// push is made of (labels, buckets, quantiles, values) are written by
/// hand into the `Vec`. The rare fields (exemplars, native histograms,
/// created timestamps) go through prost's field encoders.
pub fn encode(families: &[MetricFamily], out: &mut Vec<u8>) {
    let mut lens = Vec::new();
    for family in families {
        encode_family(family, &mut lens, out);
    }
}

fn encode_family(family: &MetricFamily, lens: &mut Vec<MetricLens>, out: &mut Vec<u8>) {
    lens.clear();
    let mut len = str_len(1, family.name.as_ref())
        + str_len(2, family.help.as_ref())
        + family
            .r#type
            .as_ref()
            .map_or(0, |t| encoding::int32::encoded_len(3, t))
        + str_len(5, family.unit.as_ref());
    for metric in &family.metric {
        let metric_lens = MetricLens::of(metric);
        len += nested_len(4, metric_lens.metric);
        lens.push(metric_lens);
    }
    out.reserve(len + encoding::encoded_len_varint(len as u64));
    varint(out, len as u64);
    // In tag order, as prost writes them.
    str_field(1, family.name.as_ref(), out);
    str_field(2, family.help.as_ref(), out);
    if let Some(t) = &family.r#type {
        encoding::int32::encode(3, t, out);
    }
    for (metric, lens) in family.metric.iter().zip(lens.iter()) {
        nested(out, 4, lens.metric);
        encode_metric(metric, *lens, out);
    }
    str_field(5, family.unit.as_ref(), out);
}

/// The lengths of a metric's message and of its summary and histogram,
/// computed once.
#[derive(Clone, Copy)]
struct MetricLens {
    metric: usize,
    summary: usize,
    histogram: usize,
}

impl MetricLens {
    fn of(m: &Metric) -> MetricLens {
        let summary = m.summary.as_deref().map_or(0, summary_len);
        let histogram = m.histogram.as_deref().map_or(0, histogram_len);
        let metric = m
            .label
            .iter()
            .map(|l| nested_len(1, label_len(l)))
            .sum::<usize>()
            + m.gauge
                .as_ref()
                .map_or(0, |g| nested_len(2, double_len(g.value)))
            + m.counter
                .as_ref()
                .map_or(0, |c| nested_len(3, counter_len(c)))
            + m.summary.as_ref().map_or(0, |_| nested_len(4, summary))
            + m.untyped
                .as_ref()
                .map_or(0, |u| nested_len(5, double_len(u.value)))
            + m.timestamp_ms
                .as_ref()
                .map_or(0, |t| encoding::int64::encoded_len(6, t))
            + m.histogram.as_ref().map_or(0, |_| nested_len(7, histogram));
        MetricLens {
            metric,
            summary,
            histogram,
        }
    }
}

/// A metric's fields, in tag order (as prost writes them: the timestamp,
/// tag 6, before the histogram, tag 7).
fn encode_metric(m: &Metric, lens: MetricLens, out: &mut Vec<u8>) {
    for l in &m.label {
        nested(out, 1, label_len(l));
        str_field(1, l.name.as_ref(), out);
        str_field(2, l.value.as_ref(), out);
    }
    if let Some(g) = &m.gauge {
        nested(out, 2, double_len(g.value));
        double(out, 1, g.value);
    }
    if let Some(c) = &m.counter {
        nested(out, 3, counter_len(c));
        double(out, 1, c.value);
        if let Some(e) = &c.exemplar {
            encoding::message::encode(2, &**e, out);
        }
        if let Some(t) = &c.created_timestamp {
            encoding::message::encode(3, t, out);
        }
    }
    if let Some(s) = &m.summary {
        nested(out, 4, lens.summary);
        encode_summary(s, out);
    }
    if let Some(u) = &m.untyped {
        nested(out, 5, double_len(u.value));
        double(out, 1, u.value);
    }
    if let Some(t) = &m.timestamp_ms {
        encoding::int64::encode(6, t, out);
    }
    if let Some(h) = &m.histogram {
        nested(out, 7, lens.histogram);
        encode_histogram(h, out);
    }
}

fn label_len(l: &LabelPair) -> usize {
    str_len(1, l.name.as_ref()) + str_len(2, l.value.as_ref())
}

fn counter_len(c: &Counter) -> usize {
    double_len(c.value)
        + c.exemplar
            .as_ref()
            .map_or(0, |e| encoding::message::encoded_len(2, &**e))
        + c.created_timestamp
            .as_ref()
            .map_or(0, |t| encoding::message::encoded_len(3, t))
}

fn summary_len(s: &Summary) -> usize {
    uint64_len(1, s.sample_count)
        + double_len(s.sample_sum)
        + s.quantile
            .iter()
            .map(|q| nested_len(3, double_len(q.quantile) + double_len(q.value)))
            .sum::<usize>()
        + s.created_timestamp
            .as_ref()
            .map_or(0, |t| encoding::message::encoded_len(4, t))
}

fn encode_summary(s: &Summary, out: &mut Vec<u8>) {
    uint64(out, 1, s.sample_count);
    double(out, 2, s.sample_sum);
    for q in &s.quantile {
        nested(out, 3, double_len(q.quantile) + double_len(q.value));
        double(out, 1, q.quantile);
        double(out, 2, q.value);
    }
    if let Some(t) = &s.created_timestamp {
        encoding::message::encode(4, t, out);
    }
}

fn bucket_len(b: &Bucket) -> usize {
    uint64_len(1, b.cumulative_count)
        + double_len(b.upper_bound)
        + b.exemplar
            .as_ref()
            .map_or(0, |e| encoding::message::encoded_len(3, &**e))
        + double_len(b.cumulative_count_float)
}

fn histogram_len(h: &Histogram) -> usize {
    use encoding::{double, message, sint32, sint64, uint64};
    uint64_len(1, h.sample_count)
        + double_len(h.sample_sum)
        + h.bucket
            .iter()
            .map(|b| nested_len(3, bucket_len(b)))
            .sum::<usize>()
        + double_len(h.sample_count_float)
        + h.schema.as_ref().map_or(0, |v| sint32::encoded_len(5, v))
        + double_len(h.zero_threshold)
        + h.zero_count
            .as_ref()
            .map_or(0, |v| uint64::encoded_len(7, v))
        + double_len(h.zero_count_float)
        + message::encoded_len_repeated(9, &h.negative_span)
        + sint64::encoded_len_repeated(10, &h.negative_delta)
        + double::encoded_len_repeated(11, &h.negative_count)
        + message::encoded_len_repeated(12, &h.positive_span)
        + sint64::encoded_len_repeated(13, &h.positive_delta)
        + double::encoded_len_repeated(14, &h.positive_count)
        + h.created_timestamp
            .as_ref()
            .map_or(0, |t| message::encoded_len(15, t))
        + message::encoded_len_repeated(16, &h.exemplars)
}

/// A histogram's fields in tag order; its buckets by hand.
fn encode_histogram(h: &Histogram, out: &mut Vec<u8>) {
    use encoding::{message, sint32, sint64};
    uint64(out, 1, h.sample_count);
    double(out, 2, h.sample_sum);
    for b in &h.bucket {
        nested(out, 3, bucket_len(b));
        uint64(out, 1, b.cumulative_count);
        double(out, 2, b.upper_bound);
        if let Some(e) = &b.exemplar {
            message::encode(3, &**e, out);
        }
        double(out, 4, b.cumulative_count_float);
    }
    double(out, 4, h.sample_count_float);
    if let Some(v) = &h.schema {
        sint32::encode(5, v, out);
    }
    double(out, 6, h.zero_threshold);
    uint64(out, 7, h.zero_count);
    double(out, 8, h.zero_count_float);
    message::encode_repeated(9, &h.negative_span, out);
    sint64::encode_repeated(10, &h.negative_delta, out);
    encoding::double::encode_repeated(11, &h.negative_count, out);
    message::encode_repeated(12, &h.positive_span, out);
    sint64::encode_repeated(13, &h.positive_delta, out);
    encoding::double::encode_repeated(14, &h.positive_count, out);
    if let Some(t) = &h.created_timestamp {
        message::encode(15, t, out);
    }
    message::encode_repeated(16, &h.exemplars, out);
}

/// A varint straight into the `Vec` (prost's goes through `BufMut` a
/// byte at a time, out of line: a third of an encode).
#[inline]
fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// The key and length of a message field of `len` bytes.
#[inline]
fn nested(out: &mut Vec<u8>, tag: u32, len: usize) {
    varint(out, u64::from(tag << 3 | 2));
    varint(out, len as u64);
}

/// The length of a message field of `len` bytes.
fn nested_len(tag: u32, len: usize) -> usize {
    encoding::key_len(tag) + encoding::encoded_len_varint(len as u64) + len
}

/// The length of an optional double field (tags below 16: a one-byte key).
#[inline]
fn double_len(value: Option<f64>) -> usize {
    value.map_or(0, |_| 9)
}

#[inline]
fn double(out: &mut Vec<u8>, tag: u32, value: Option<f64>) {
    if let Some(v) = value {
        varint(out, u64::from(tag << 3 | 1));
        out.extend_from_slice(&v.to_le_bytes());
    }
}

#[inline]
fn uint64_len(tag: u32, value: Option<u64>) -> usize {
    value.map_or(0, |v| {
        encoding::key_len(tag) + encoding::encoded_len_varint(v)
    })
}

#[inline]
fn uint64(out: &mut Vec<u8>, tag: u32, value: Option<u64>) {
    if let Some(v) = value {
        varint(out, u64::from(tag << 3));
        varint(out, v);
    }
}

fn str_len(tag: u32, value: Option<&Str>) -> usize {
    value.map_or(0, |v| nested_len(tag, v.len()))
}

#[inline]
fn str_field(tag: u32, value: Option<&Str>, out: &mut Vec<u8>) {
    if let Some(v) = value {
        nested(out, tag, v.len());
        out.extend_from_slice(v.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Counter, LabelPair, Metric, MetricType};

    fn family(name: &str, value: f64) -> MetricFamily {
        MetricFamily {
            name: Some(name.into()),
            help: Some("help".into()),
            r#type: Some(MetricType::Counter as i32),
            metric: vec![Metric {
                label: vec![LabelPair::new("a", "b")],
                counter: Some(Counter {
                    value: Some(value),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            unit: None,
        }
    }

    fn limits() -> Limits {
        Limits::default()
    }

    #[test]
    fn round_trips_byte_identical() {
        let fams = vec![family("a_total", 1.0), family("b_total", 2.5)];
        let mut out = Vec::new();
        encode(&fams, &mut out);
        let back = decode(Bytes::from(out.clone()), &limits()).unwrap();
        assert_eq!(back, fams);
        let mut again = Vec::new();
        encode(&back, &mut again);
        assert_eq!(again, out);
    }

    #[test]
    fn empty_body_is_no_families() {
        assert_eq!(decode(Bytes::new(), &limits()).unwrap(), vec![]);
    }

    #[test]
    fn long_strings_borrow_from_the_body_short_ones_are_inline() {
        let long = "a_family_name_longer_than_a_str_holds_inline_total";
        let mut out = Vec::new();
        encode(&[family(long, 1.0), family("a_total", 1.0)], &mut out);
        let body = Bytes::from(out);
        let range = body.as_ptr() as usize..body.as_ptr() as usize + body.len();
        let back = decode(body.clone(), &limits()).unwrap();
        let inside = |s: &Option<crate::model::Str>| {
            range.contains(&(s.as_ref().unwrap().as_ptr() as usize))
        };
        assert!(inside(&back[0].name));
        assert!(!inside(&back[1].name));
        assert_eq!(back[1].name(), "a_total");
    }

    #[test]
    fn length_past_the_end_names_record_and_offset() {
        let mut out = Vec::new();
        encode(&[family("a_total", 1.0)], &mut out);
        let first = out.len();
        out.extend_from_slice(&[0x40, 1, 2]); // says 64 bytes, has 2
        let err = decode(Bytes::from(out), &limits()).unwrap_err();
        assert_eq!(
            err.position,
            Position::Record {
                index: 1,
                offset: first
            }
        );
        assert!(err.message.contains("runs past the end"), "{err}");
    }

    #[test]
    fn huge_length_is_refused_before_allocating() {
        // A varint of 2^40: far past any limit.
        let body = Bytes::from_static(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x20]);
        let err = decode(body, &limits()).unwrap_err();
        assert_eq!(
            err.position,
            Position::Record {
                index: 0,
                offset: 0
            }
        );
        assert!(err.message.contains("exceeds the limit"), "{err}");
    }

    #[test]
    fn truncated_prefix_is_an_error() {
        let err = decode(Bytes::from_static(&[0x80]), &limits()).unwrap_err();
        assert!(err.message.contains("length prefix"), "{err}");
    }

    #[test]
    fn garbage_inside_a_record_is_an_error() {
        // One record of 2 bytes holding a field key with an invalid wire type.
        let err = decode(Bytes::from_static(&[0x02, 0x0f, 0x00]), &limits()).unwrap_err();
        assert_eq!(
            err.position,
            Position::Record {
                index: 0,
                offset: 0
            }
        );
        assert_eq!(
            err.to_string(),
            format!("invalid protobuf body, record 0 at byte 0: {}", err.message)
        );
    }
}
