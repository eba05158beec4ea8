//! Length-delimited protobuf: a varint length, then a `MetricFamily`, repeated.
//!
//! This is what Go's `push` client sends by default
//! ([`PROTOBUF_CONTENT_TYPE`](crate::format::PROTOBUF_CONTENT_TYPE)). Strings
//! in the decoded families are copied into their [`Str`](crate::model::Str)
//! when short and share memory with the body when long: none is allocated.

use bytes::Bytes;
use prost::encoding::{self, WireType};
use prost::Message;

use super::{wire, DecodeError, Limits, Position};
use crate::format::Format;
use crate::model::{Metric, MetricFamily, Str};

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
                encoding::encode_key(4, WireType::LengthDelimited, out);
                encoding::encode_varint(lens.metric as u64, out);
                encode_metric(metric, lens, out);
            }
        }
    }
}

/// Appends `families` to `out`, each with its varint length prefix: the
/// bytes `prost` writes, in one pass. (`prost` computes a nested message's
/// length at every level above it: a histogram bucket's four times; here
/// a metric's, its histogram's and its summary's length once.)
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
    encoding::encode_varint(len as u64, out);
    // In tag order, as prost writes them.
    str_field(1, family.name.as_ref(), out);
    str_field(2, family.help.as_ref(), out);
    if let Some(t) = &family.r#type {
        encoding::int32::encode(3, t, out);
    }
    for (metric, lens) in family.metric.iter().zip(lens.iter()) {
        encoding::encode_key(4, WireType::LengthDelimited, out);
        encoding::encode_varint(lens.metric as u64, out);
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
        use encoding::message;
        let summary = m.summary.as_deref().map_or(0, Message::encoded_len);
        let histogram = m.histogram.as_deref().map_or(0, Message::encoded_len);
        let metric = message::encoded_len_repeated(1, &m.label)
            + m.gauge.as_ref().map_or(0, |g| message::encoded_len(2, g))
            + m.counter.as_ref().map_or(0, |c| message::encoded_len(3, c))
            + m.summary.as_ref().map_or(0, |_| nested_len(4, summary))
            + m.untyped.as_ref().map_or(0, |u| message::encoded_len(5, u))
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
    use encoding::message;
    message::encode_repeated(1, &m.label, out);
    if let Some(g) = &m.gauge {
        message::encode(2, g, out);
    }
    if let Some(c) = &m.counter {
        message::encode(3, c, out);
    }
    if let Some(s) = &m.summary {
        encoding::encode_key(4, WireType::LengthDelimited, out);
        encoding::encode_varint(lens.summary as u64, out);
        s.encode_raw(out);
    }
    if let Some(u) = &m.untyped {
        message::encode(5, u, out);
    }
    if let Some(t) = &m.timestamp_ms {
        encoding::int64::encode(6, t, out);
    }
    if let Some(h) = &m.histogram {
        encoding::encode_key(7, WireType::LengthDelimited, out);
        encoding::encode_varint(lens.histogram as u64, out);
        h.encode_raw(out);
    }
}

/// The length of a message field of `len` bytes.
fn nested_len(tag: u32, len: usize) -> usize {
    encoding::key_len(tag) + encoding::encoded_len_varint(len as u64) + len
}

fn str_len(tag: u32, value: Option<&Str>) -> usize {
    value.map_or(0, |v| nested_len(tag, v.len()))
}

fn str_field(tag: u32, value: Option<&Str>, out: &mut Vec<u8>) {
    if let Some(v) = value {
        encoding::encode_key(tag, WireType::LengthDelimited, out);
        encoding::encode_varint(v.len() as u64, out);
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
