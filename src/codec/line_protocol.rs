//! Scaffold: replaced by the line protocol encoder.

use super::EncodeError;
use crate::format::Format;
use crate::model::MetricFamily;

/// Encodes families.
pub fn encode(_families: &[MetricFamily], _out: &mut Vec<u8>) -> Result<(), EncodeError> {
    Err(EncodeError::new(Format::LineProtocol, "scaffold"))
}
