//! Scaffold: replaced by the openmetrics codec.

use bytes::Bytes;

use super::{DecodeError, EncodeError, Position};
use crate::format::Format;
use crate::model::MetricFamily;

/// Decodes a body.
pub fn decode(_body: Bytes) -> Result<Vec<MetricFamily>, DecodeError> {
    Err(DecodeError::new(Format::Text, Position::Body, "scaffold"))
}

/// Encodes families.
pub fn encode(_families: &[MetricFamily], _out: &mut Vec<u8>) -> Result<(), EncodeError> {
    Err(EncodeError::new(Format::Text, "scaffold"))
}
