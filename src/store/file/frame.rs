//! One record on disk: its frame (magic, version, length, CRC-32C) and its
//! fields. All integers little-endian.
//!
//! ```text
//! offset size field
//!  0      1   magic 0xA7
//!  1      1   version 1
//!  2      4   length: bytes after the CRC (sequence .. end of payload)
//!  6      4   CRC-32C over bytes 0..6, then the `length` bytes after the CRC
//! 10      8   sequence number (the record's position)
//! 18      8   received, ns since the Unix epoch (i64, negative before it)
//! 26      1   method: 0 POST, 1 PUT, 2 DELETE, 3 abort (see below)
//! 27      1   payload format: 0 protobuf, 1 text, 2 OpenMetrics, 3 JSON, 4 line protocol
//! 28      2   number of grouping labels, then for each: name length (u16),
//!             name, value length (u32), value (UTF-8)
//!  ..     ..  payload: the families in that format (empty for a DELETE)
//! ```
//!
//! An *abort* record takes back an earlier record of the same segment
//! whose write was dropped (the gateway answered 504) while its batch was
//! being written: it has no grouping labels and its payload is the
//! aborted record's sequence number (8 bytes). Readers give neither.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Buf, Bytes};

use crate::format::Format;
use crate::grouping::PushMethod;
use crate::model::{LabelPair, Str};

pub(super) const MAGIC: u8 = 0xA7;
pub(super) const VERSION: u8 = 1;
/// Magic, version, length, CRC.
pub(super) const HEADER: usize = 10;
/// Sequence, received, method, format, label count.
const FIXED: usize = 20;
/// A length above this is corruption, not a record: the gateway's bodies
/// are far smaller, and it keeps a bad length from asking for gigabytes.
pub(super) const MAX_BODY: usize = 1 << 30;

/// The method code of an abort record.
const ABORT: u8 = 3;

/// A finished abort record of `target` (seal it like any frame).
pub(super) fn abort(received: SystemTime, target: u64) -> Vec<u8> {
    let mut out = start(received, PushMethod::Post, Format::Protobuf, &[], 8)
        .expect("no grouping labels to be too long");
    out[HEADER + 16] = ABORT;
    out.extend_from_slice(&target.to_le_bytes());
    finish(&mut out).expect("an abort record is small");
    out
}

/// The record a good frame takes back, if it is an abort record.
pub(super) fn aborted(frame: &[u8]) -> Option<u64> {
    if frame.get(HEADER + 16) != Some(&ABORT) || frame.len() != HEADER + FIXED + 8 {
        return None;
    }
    Some(u64::from_le_bytes(
        frame[HEADER + FIXED..].try_into().expect("8 bytes"),
    ))
}

/// The sequence number of a good frame.
pub(super) fn sequence(frame: &[u8]) -> u64 {
    u64::from_le_bytes(frame[HEADER..HEADER + 8].try_into().expect("8 bytes"))
}

/// A record's frame with its fields written and its payload appended by
/// the caller; [`seal`] sets the sequence number and the CRC.
pub(super) fn start(
    received: SystemTime,
    method: PushMethod,
    format: Format,
    grouping: &[LabelPair],
    payload_hint: usize,
) -> Result<Vec<u8>, &'static str> {
    let labels: usize = grouping
        .iter()
        .map(|l| 6 + l.name().len() + l.value().len())
        .sum();
    let mut out = Vec::with_capacity(HEADER + FIXED + labels + payload_hint);
    out.extend_from_slice(&[MAGIC, VERSION, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&0u64.to_le_bytes());
    out.extend_from_slice(&nanos(received).to_le_bytes());
    out.push(method_code(method));
    out.push(format_code(format));
    let count = u16::try_from(grouping.len()).map_err(|_| "more than 65535 grouping labels")?;
    out.extend_from_slice(&count.to_le_bytes());
    for label in grouping {
        let name = u16::try_from(label.name().len()).map_err(|_| "grouping label name too long")?;
        let value =
            u32::try_from(label.value().len()).map_err(|_| "grouping label value too long")?;
        out.extend_from_slice(&name.to_le_bytes());
        out.extend_from_slice(label.name().as_bytes());
        out.extend_from_slice(&value.to_le_bytes());
        out.extend_from_slice(label.value().as_bytes());
    }
    Ok(out)
}

/// Checks the size of a frame from [`start`] plus payload, and writes its
/// length.
pub(super) fn finish(frame: &mut [u8]) -> Result<(), &'static str> {
    let body = frame.len() - HEADER;
    if body > MAX_BODY {
        return Err("record larger than 1 GiB");
    }
    frame[2..6].copy_from_slice(&(body as u32).to_le_bytes());
    Ok(())
}

/// Sets the sequence number and the CRC of a finished frame.
pub(super) fn seal(frame: &mut [u8], seq: u64) {
    frame[HEADER..HEADER + 8].copy_from_slice(&seq.to_le_bytes());
    let crc = checksum(frame);
    frame[6..10].copy_from_slice(&crc.to_le_bytes());
}

fn checksum(frame: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&frame[..6]), &frame[HEADER..])
}

/// What the bytes at the start of a buffer hold.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Parsed {
    /// A whole record with a good CRC, this many bytes long.
    Record(usize),
    /// The start of a record, cut short.
    Incomplete,
    /// Not a record.
    Bad(&'static str),
}

/// Reads the frame at the start of `buf`.
pub(super) fn parse(buf: &[u8]) -> Parsed {
    if buf.is_empty() {
        return Parsed::Incomplete;
    }
    if buf[0] != MAGIC {
        return Parsed::Bad("bad magic byte");
    }
    if buf.len() < HEADER {
        return Parsed::Incomplete;
    }
    if buf[1] != VERSION {
        return Parsed::Bad("unknown record version");
    }
    let body = u32::from_le_bytes(buf[2..6].try_into().expect("4 bytes")) as usize;
    if !(FIXED..=MAX_BODY).contains(&body) {
        return Parsed::Bad("impossible record length");
    }
    if buf.len() < HEADER + body {
        return Parsed::Incomplete;
    }
    let frame = &buf[..HEADER + body];
    let crc = u32::from_le_bytes(frame[6..10].try_into().expect("4 bytes"));
    if checksum(frame) != crc {
        return Parsed::Bad("CRC mismatch");
    }
    Parsed::Record(HEADER + body)
}

/// Whether a good record starts anywhere in `buf` after its first byte:
/// what tells a corrupt record followed by data (an error) from a torn
/// tail (cut off by a crash, and dropped).
pub(super) fn good_record_after(buf: &[u8]) -> bool {
    (1..buf.len()).any(|i| buf[i] == MAGIC && matches!(parse(&buf[i..]), Parsed::Record(_)))
}

/// A record's fields, from a frame that [`parse`] found good.
#[derive(Debug)]
pub(super) struct Fields {
    pub(super) seq: u64,
    pub(super) received: SystemTime,
    pub(super) method: PushMethod,
    pub(super) format: Format,
    pub(super) grouping: Vec<LabelPair>,
    pub(super) payload: Bytes,
}

/// Decodes a good frame. An error here, under a good CRC, means a writer
/// that wrote something this reader does not understand.
pub(super) fn fields(frame: Bytes) -> Result<Fields, &'static str> {
    let mut b = frame.slice(HEADER..);
    let seq = b.get_u64_le();
    let received = time(b.get_i64_le());
    let method = method_from(b.get_u8()).ok_or("unknown method code")?;
    let format = format_from(b.get_u8()).ok_or("unknown format code")?;
    let count = b.get_u16_le();
    let mut grouping = Vec::with_capacity(count.into());
    for _ in 0..count {
        let name = take(&mut b, 2)?;
        let value = take(&mut b, 4)?;
        grouping.push(LabelPair::new(name, value));
    }
    Ok(Fields {
        seq,
        received,
        method,
        format,
        grouping,
        payload: b,
    })
}

/// A string with a length prefix of `width` bytes.
fn take(b: &mut Bytes, width: usize) -> Result<Str, &'static str> {
    if b.remaining() < width {
        return Err("grouping label cut short");
    }
    let len = if width == 2 {
        b.get_u16_le() as usize
    } else {
        b.get_u32_le() as usize
    };
    if b.remaining() < len {
        return Err("grouping label cut short");
    }
    Str::from_utf8(b.split_to(len)).map_err(|_| "grouping label is not UTF-8")
}

fn nanos(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

fn time(nanos: i64) -> SystemTime {
    if nanos >= 0 {
        UNIX_EPOCH + Duration::from_nanos(nanos as u64)
    } else {
        UNIX_EPOCH - Duration::from_nanos(nanos.unsigned_abs())
    }
}

fn method_code(m: PushMethod) -> u8 {
    match m {
        PushMethod::Post => 0,
        PushMethod::Put => 1,
        PushMethod::Delete => 2,
    }
}

fn method_from(code: u8) -> Option<PushMethod> {
    Some(match code {
        0 => PushMethod::Post,
        1 => PushMethod::Put,
        2 => PushMethod::Delete,
        _ => return None,
    })
}

fn format_code(f: Format) -> u8 {
    match f {
        Format::Protobuf => 0,
        Format::Text => 1,
        Format::OpenMetrics => 2,
        Format::Json => 3,
        Format::LineProtocol => 4,
    }
}

fn format_from(code: u8) -> Option<Format> {
    Format::ALL.get(usize::from(code)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(seq: u64, payload: &[u8]) -> Vec<u8> {
        let grouping = [LabelPair::new("job", "j"), LabelPair::new("path", "/ü")];
        let received = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        let mut f = start(received, PushMethod::Put, Format::Json, &grouping, 0).unwrap();
        f.extend_from_slice(payload);
        finish(&mut f).unwrap();
        seal(&mut f, seq);
        f
    }

    #[test]
    fn every_field_round_trips() {
        let f = frame(42, b"[]");
        assert_eq!(parse(&f), Parsed::Record(f.len()));
        let got = fields(f.into()).unwrap();
        assert_eq!(got.seq, 42);
        assert_eq!(
            got.received,
            UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789)
        );
        assert_eq!((got.method, got.format), (PushMethod::Put, Format::Json));
        assert_eq!(
            got.grouping,
            [LabelPair::new("job", "j"), LabelPair::new("path", "/ü")]
        );
        assert_eq!(&got.payload[..], b"[]");
    }

    #[test]
    fn codes_and_times_round_trip() {
        for m in [PushMethod::Post, PushMethod::Put, PushMethod::Delete] {
            assert_eq!(method_from(method_code(m)), Some(m));
        }
        for f in Format::ALL {
            assert_eq!(format_from(format_code(f)), Some(f));
        }
        for t in [
            UNIX_EPOCH,
            UNIX_EPOCH - Duration::from_nanos(5),
            SystemTime::now(),
        ] {
            assert_eq!(time(nanos(t)), t);
        }
    }

    #[test]
    fn cut_frames_are_incomplete_and_changed_ones_bad() {
        let f = frame(1, b"payload");
        for cut in 0..f.len() {
            assert_eq!(parse(&f[..cut]), Parsed::Incomplete, "cut at {cut}");
        }
        for i in 0..f.len() {
            let mut g = f.clone();
            g[i] ^= 0x01;
            // A longer length reads as a cut frame, anything else as bad.
            assert!(!matches!(parse(&g), Parsed::Record(_)), "flip at {i}");
        }
        let mut two = f.clone();
        two.extend_from_slice(&frame(2, b"x"));
        assert!(good_record_after(&two));
        assert!(!good_record_after(&f));
    }

    #[test]
    fn abort_records_name_their_target() {
        let mut a = abort(SystemTime::now(), 41);
        seal(&mut a, 43);
        assert_eq!(parse(&a), Parsed::Record(a.len()));
        assert_eq!(aborted(&a), Some(41));
        // A record whose payload happens to be 8 bytes is not one.
        assert_eq!(aborted(&frame(1, b"12345678")), None);
        assert_eq!(aborted(&frame(1, b"")), None);
        // Readers that do not know aborts refuse them, not misread them.
        assert_eq!(fields(a.into()).unwrap_err(), "unknown method code");
    }
}
