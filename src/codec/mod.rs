//! Decoding and encoding metric families in every push format.
//!
//! Each format has its own module; [`decode`] and [`encode`] pick one by
//! [`Format`]. Decoders take the whole body as [`Bytes`] and slice strings out
//! of it rather than copy them. Errors say where: a line number for the text
//! formats, a record index and byte offset for protobuf.

pub mod json;
pub mod line_protocol;
pub mod openmetrics;
pub mod protobuf;
pub mod text;

mod exposition;
pub(crate) mod float;
pub(crate) mod id_hasher;
mod int;
mod wire;

use std::fmt;

use bytes::Bytes;

use crate::format::Format;
use crate::model::MetricFamily;

/// Where in a body a decode error was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    /// A 1-based line of a text body.
    Line(usize),
    /// A 0-based record of a length-delimited body, starting at a byte offset.
    Record {
        /// Index of the record.
        index: usize,
        /// Byte offset of the record's length prefix.
        offset: usize,
    },
    /// The body as a whole (for example, JSON with its own error position).
    Body,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Line(n) => write!(f, "line {n}"),
            Position::Record { index, offset } => write!(f, "record {index} at byte {offset}"),
            Position::Body => f.write_str("body"),
        }
    }
}

/// A body that is not valid in its format.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {format} body, {position}: {message}")]
pub struct DecodeError {
    /// The format the body was decoded as.
    pub format: Format,
    /// Where the problem is.
    pub position: Position,
    /// What is wrong, in a few words.
    pub message: String,
}

impl DecodeError {
    /// An error at `position` of a `format` body.
    pub fn new(format: Format, position: Position, message: impl Into<String>) -> DecodeError {
        DecodeError {
            format,
            position,
            message: message.into(),
        }
    }

    /// The line number, for errors in text bodies.
    pub fn line(&self) -> Option<usize> {
        match self.position {
            Position::Line(n) => Some(n),
            _ => None,
        }
    }
}

/// Families that cannot be written in a format (for example, a counter
/// family whose metric has no counter value).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode as {format}: {message}")]
pub struct EncodeError {
    /// The format being written.
    pub format: Format,
    /// What is wrong.
    pub message: String,
}

impl EncodeError {
    /// An error writing `format`.
    pub fn new(format: Format, message: impl Into<String>) -> EncodeError {
        EncodeError {
            format,
            message: message.into(),
        }
    }
}

/// Bounds on what a decoder accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest record (protobuf) a body may hold, in bytes. A length
    /// prefix above it is an error before anything of that size is allocated.
    pub max_bytes: usize,
}

impl Default for Limits {
    /// InfluxDB telemetry's `DefaultMaxBytes`, 1024000.
    fn default() -> Limits {
        Limits {
            max_bytes: crate::DEFAULT_MAX_BYTES,
        }
    }
}

/// Decodes a whole body of `format`.
///
/// ```
/// use bytes::Bytes;
/// use pushgate::{codec, Format};
///
/// let body = Bytes::from_static(b"# TYPE up gauge\nup{job=\"a\"} 1\n");
/// let families = codec::decode(Format::Text, body, &codec::Limits::default()).unwrap();
/// assert_eq!(families[0].name(), "up");
/// ```
pub fn decode(
    format: Format,
    body: Bytes,
    limits: &Limits,
) -> Result<Vec<MetricFamily>, DecodeError> {
    decode_with_room(format, body, limits, 0)
}

/// [`decode`], each metric's labels with room for `room` more: the
/// grouping labels the gateway adds next, which would otherwise reallocate
/// the labels of every metric (a tenth of a push's time, in malloc, copy
/// and free).
#[cfg_attr(not(feature = "gateway"), allow(dead_code))]
pub(crate) fn decode_with_room(
    format: Format,
    body: Bytes,
    limits: &Limits,
    room: usize,
) -> Result<Vec<MetricFamily>, DecodeError> {
    match format {
        Format::Protobuf => protobuf::decode_with_room(body, limits, room),
        Format::Text => text::decode_with_room(body, room),
        Format::OpenMetrics => openmetrics::decode(body),
        Format::Json => json::decode(&body),
        Format::LineProtocol => Err(DecodeError::new(
            format,
            Position::Body,
            "line protocol can be written, not read",
        )),
    }
}

/// Which part of a family [`encode_part`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
// Only the Pushgateway mode joins families from parts.
#[cfg_attr(not(feature = "gateway"), allow(dead_code))]
pub(crate) enum Part {
    /// Everything but the metrics: the text formats' `# HELP` and
    /// `# TYPE` (and `# UNIT`) lines; protobuf's fields but `metric`.
    Head,
    /// The metrics alone, each as [`encode`] writes it.
    Metrics,
}

/// One part of `family` in `format` (text, OpenMetrics or protobuf), for an
/// exposition that joins the metrics of one family from many sources (the
/// Pushgateway mode's groups, each encoded once per change): a family is
/// its head, then the metrics of every source; in protobuf, behind the
/// varint length of the two ([`encode_joined`]).
// Only the Pushgateway mode joins families from parts.
#[cfg_attr(not(feature = "gateway"), allow(dead_code))]
pub(crate) fn encode_part(
    format: Format,
    family: &MetricFamily,
    part: Part,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let start = out.len();
    let result = match format {
        Format::Protobuf => {
            protobuf::encode_part(family, part, out);
            Ok(())
        }
        Format::Text => text::encode_part(family, part, out),
        Format::OpenMetrics => openmetrics::encode_part(family, part, out),
        other => Err(EncodeError::new(
            other,
            "only text, OpenMetrics and protobuf are encoded in parts",
        )),
    };
    // Nothing of a family that cannot be encoded stays behind.
    result.inspect_err(|_| out.truncate(start))
}

/// Appends one family made of `head` and the `metrics` parts
/// ([`encode_part`]) to `out`: as they are for the text formats, with
/// the length prefix of the whole for protobuf.
// Only the Pushgateway mode joins families from parts.
#[cfg_attr(not(feature = "gateway"), allow(dead_code))]
pub(crate) fn encode_joined<'a>(
    format: Format,
    head: &[u8],
    metrics: impl Iterator<Item = &'a [u8]> + Clone,
    out: &mut Vec<u8>,
) {
    if format == Format::Protobuf {
        let len = head.len() + metrics.clone().map(<[u8]>::len).sum::<usize>();
        prost::encoding::encode_varint(len as u64, out);
    }
    out.extend_from_slice(head);
    for part in metrics {
        out.extend_from_slice(part);
    }
}

/// Appends `families` to `out` in `format`.
///
/// ```
/// use pushgate::model::{Gauge, LabelPair, Metric, MetricFamily, MetricType};
/// use pushgate::{codec, Format};
///
/// let mut mf = MetricFamily { name: Some("up".into()), ..Default::default() };
/// mf.set_metric_type(MetricType::Gauge);
/// mf.metric.push(Metric {
///     label: vec![LabelPair::new("job", "a")],
///     gauge: Some(Gauge { value: Some(1.0) }),
///     ..Default::default()
/// });
/// let mut out = Vec::new();
/// codec::encode(Format::Text, &[mf], &mut out).unwrap();
/// assert_eq!(out, b"# TYPE up gauge\nup{job=\"a\"} 1\n");
/// ```
pub fn encode(
    format: Format,
    families: &[MetricFamily],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    match format {
        Format::Protobuf => {
            protobuf::encode(families, out);
            Ok(())
        }
        Format::Text => text::encode(families, out),
        Format::OpenMetrics => openmetrics::encode(families, out),
        Format::Json => json::encode(families, out),
        Format::LineProtocol => line_protocol::encode(families, out),
    }
}
