//! Length-delimited protobuf: a varint length, then a `MetricFamily`, repeated.
//!
//! This is what Go's `push` client sends by default
//! ([`PROTOBUF_CONTENT_TYPE`](crate::format::PROTOBUF_CONTENT_TYPE)). Strings
//! in the decoded families are copied into their [`Str`](crate::model::Str)
//! when short and share memory with the body when long: none is allocated.

use bytes::Bytes;
use prost::Message;

use super::{wire, DecodeError, Limits, Position};
use crate::format::Format;
use crate::model::MetricFamily;

/// Decodes every record of a length-delimited body.
///
/// A length prefix that runs past the end of the body, or above
/// `limits.max_bytes`, is an error naming the record and its offset, raised
/// before anything of that length is allocated.
pub fn decode(body: Bytes, limits: &Limits) -> Result<Vec<MetricFamily>, DecodeError> {
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
        let mf = wire::decode_family(&body, start, end)
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
            let head = MetricFamily {
                name: family.name.clone(),
                help: family.help.clone(),
                r#type: family.r#type,
                metric: Vec::new(),
                unit: family.unit.clone(),
            };
            // Cannot fail: `Vec` grows as needed.
            let _ = head.encode(out);
        }
        super::Part::Metrics => {
            for metric in &family.metric {
                prost::encoding::message::encode(4, metric, out);
            }
        }
    }
}

/// Appends `families` to `out`, each with its varint length prefix.
pub fn encode(families: &[MetricFamily], out: &mut Vec<u8>) {
    let len: usize = families
        .iter()
        .map(|mf| {
            let n = mf.encoded_len();
            n + prost::length_delimiter_len(n)
        })
        .sum();
    out.reserve(len);
    for mf in families {
        // Cannot fail: `Vec` grows as needed.
        let _ = mf.encode_length_delimited(out);
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
