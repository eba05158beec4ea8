//! Scaffold: replaced by the JSON codec.

use super::{DecodeError, EncodeError, Position};
use crate::format::Format;
use crate::model::MetricFamily;

/// Decodes a body.
pub fn decode(_body: &[u8]) -> Result<Vec<MetricFamily>, DecodeError> {
    Err(DecodeError::new(Format::Json, Position::Body, "scaffold"))
}

/// Encodes families.
pub fn encode(_families: &[MetricFamily], _out: &mut Vec<u8>) -> Result<(), EncodeError> {
    Err(EncodeError::new(Format::Json, "scaffold"))
}
