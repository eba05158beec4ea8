//! A hand-written protobuf decoder for client_model's messages.
//!
//! It does what `prost::Message::merge` does for these types (same fields,
//! same wire-type checks, packed and unpacked repeated scalars, repeated
//! singular messages merged, unknown fields and groups skipped, varint and
//! recursion limits) but works on one `Bytes` with an index: strings come
//! straight out of the body ([`Str::from_utf8_slice`]), `Vec`s are sized
//! from the family's previous metric, no generic `Buf` machinery sits
//! between the bytes and the fields, and the small messages every client
//! writes the same way (a label pair, a bucket, a quantile, a lone value)
//! are read straight off the bytes, anything else through the general
//! path. Property tests check that it agrees with prost on arbitrary input.

use std::ops::Range;

use bytes::Bytes;

use crate::model::{
    Bucket, BucketSpan, Counter, Exemplar, Gauge, Histogram, LabelPair, Metric, MetricFamily,
    Quantile, Str, Summary, Timestamp, Untyped,
};

/// Why a record did not decode, and the absolute byte offset where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WireError {
    /// Offset in the record (saturating; records are bounded by `Limits`).
    pub(crate) offset: u32,
    pub(crate) message: &'static str,
}

type Result<T> = std::result::Result<T, WireError>;

// prost's recursion limit, so that both decoders accept the same inputs.
const RECURSION_LIMIT: u32 = 100;

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const START_GROUP: u8 = 3;
const END_GROUP: u8 = 4;
const FIXED32: u8 = 5;

/// A cursor over `body[pos..end]`.
struct Reader<'a> {
    body: &'a Bytes,
    pos: usize,
    end: usize,
    depth: u32,
}

impl<'a> Reader<'a> {
    fn err<T>(&self, message: &'static str) -> Result<T> {
        Err(WireError {
            offset: u32::try_from(self.pos).unwrap_or(u32::MAX),
            message,
        })
    }

    fn has_more(&self) -> bool {
        self.pos < self.end
    }

    #[inline(always)]
    fn varint(&mut self) -> Result<u64> {
        // Most varints in these messages (keys, short lengths) are one byte.
        if let Some(&b) = self.body[..self.end].get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        self.varint_slow()
    }

    #[inline(never)]
    fn varint_slow(&mut self) -> Result<u64> {
        let buf = &self.body[..self.end];
        let mut value = 0u64;
        for i in 0..10 {
            let Some(&b) = buf.get(self.pos + i) else {
                return self.err("truncated varint");
            };
            if i == 9 && b > 1 {
                return self.err("varint overflows 64 bits");
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                self.pos += i + 1;
                return Ok(value);
            }
        }
        self.err("varint overflows 64 bits")
    }

    #[inline]
    fn key(&mut self) -> Result<(u32, u8)> {
        let start = self.pos;
        let key = self.varint()?;
        if key > u64::from(u32::MAX) {
            self.pos = start;
            return self.err("invalid field key");
        }
        let wire = (key & 7) as u8;
        if wire > 5 {
            self.pos = start;
            return self.err("invalid wire type");
        }
        let tag = (key as u32) >> 3;
        if tag == 0 {
            self.pos = start;
            return self.err("invalid field tag 0");
        }
        Ok((tag, wire))
    }

    fn expect(&self, wire: u8, want: u8) -> Result<()> {
        if wire == want {
            Ok(())
        } else {
            self.err("wrong wire type for field")
        }
    }

    /// A length-delimited field's extent, checked against the enclosing one.
    #[inline]
    fn len_delimited(&mut self) -> Result<(usize, usize)> {
        let len = self.varint()?;
        if len > (self.end - self.pos) as u64 {
            return self.err("length runs past the end of its message");
        }
        let start = self.pos;
        self.pos += len as usize;
        Ok((start, self.pos))
    }

    fn fixed64(&mut self) -> Result<u64> {
        if self.end - self.pos < 8 {
            return self.err("truncated fixed64");
        }
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.body[self.pos..self.pos + 8]);
        self.pos += 8;
        Ok(u64::from_le_bytes(b))
    }

    fn f64(&mut self, wire: u8) -> Result<f64> {
        self.expect(wire, FIXED64)?;
        self.fixed64().map(f64::from_bits)
    }

    fn u64(&mut self, wire: u8) -> Result<u64> {
        self.expect(wire, VARINT)?;
        self.varint()
    }

    fn i64(&mut self, wire: u8) -> Result<i64> {
        self.u64(wire).map(|v| v as i64)
    }

    fn i32(&mut self, wire: u8) -> Result<i32> {
        self.u64(wire).map(|v| v as i32)
    }

    fn u32(&mut self, wire: u8) -> Result<u32> {
        self.u64(wire).map(|v| v as u32)
    }

    fn sint32(&mut self, wire: u8) -> Result<i32> {
        self.u64(wire).map(|v| {
            let v = v as u32;
            ((v >> 1) as i32) ^ (-((v & 1) as i32))
        })
    }

    fn str(&mut self, wire: u8) -> Result<Str> {
        self.expect(wire, LEN)?;
        let (start, end) = self.len_delimited()?;
        Str::from_utf8_slice(self.body, start..end).map_err(|_| WireError {
            offset: start as u32,
            message: "string is not valid UTF-8",
        })
    }

    /// Runs `f` on a nested message's reader.
    fn nested<T>(
        &mut self,
        wire: u8,
        value: &mut T,
        f: impl FnOnce(&mut Reader<'a>, &mut T) -> Result<()>,
    ) -> Result<()> {
        self.nested_plain(wire, value, |_, _, _| false, f)
    }

    /// As [`Reader::nested`], but `plain` first gets the message's bytes,
    /// `body[range]`: the small messages every client lays out the same way
    /// (see `plain_*`) are read straight off them, and `f` reads only those
    /// that `plain` does not recognise (it returns false, `value` untouched).
    #[inline]
    fn nested_plain<T>(
        &mut self,
        wire: u8,
        value: &mut T,
        plain: impl FnOnce(&'a Bytes, Range<usize>, &mut T) -> bool,
        f: impl FnOnce(&mut Reader<'a>, &mut T) -> Result<()>,
    ) -> Result<()> {
        self.expect(wire, LEN)?;
        if self.depth == 0 {
            return self.err("messages nested too deeply");
        }
        let (start, end) = self.len_delimited()?;
        if plain(self.body, start..end, value) {
            return Ok(());
        }
        let mut inner = Reader {
            body: self.body,
            pos: start,
            end,
            depth: self.depth - 1,
        };
        f(&mut inner, value)
    }

    /// `hint`, capped by how many 2-byte fields (the smallest a repeated
    /// message can be) fit in what is left: a size hint must never let a
    /// small body reserve much memory.
    fn at_most(&self, hint: usize) -> usize {
        hint.min((self.end - self.pos) / 2)
    }

    /// Number of fields numbered `tag` left in this message; used to size
    /// `Vec`s once. Stops counting (without error) at malformed input, which
    /// the real pass then reports.
    fn count(&self, tag: u32) -> usize {
        let mut r = Reader {
            body: self.body,
            pos: self.pos,
            end: self.end,
            depth: self.depth,
        };
        let mut n = 0;
        while r.has_more() {
            let Ok((t, wire)) = r.key() else { break };
            n += usize::from(t == tag);
            if r.skip(t, wire).is_err() {
                break;
            }
        }
        n
    }

    fn skip(&mut self, tag: u32, wire: u8) -> Result<()> {
        // prost refuses to skip anything once its recursion budget is spent.
        if self.depth == 0 {
            return self.err("groups nested too deeply");
        }
        match wire {
            VARINT => self.varint().map(drop),
            FIXED64 => self.fixed64().map(drop),
            LEN => self.len_delimited().map(drop),
            FIXED32 => {
                if self.end - self.pos < 4 {
                    return self.err("truncated fixed32");
                }
                self.pos += 4;
                Ok(())
            }
            START_GROUP => {
                self.depth -= 1;
                let r = loop {
                    if !self.has_more() {
                        break self.err("unterminated group");
                    }
                    let (t, w) = self.key()?;
                    if w == END_GROUP {
                        break if t == tag {
                            Ok(())
                        } else {
                            self.err("mismatched end of group")
                        };
                    }
                    self.skip(t, w)?;
                };
                self.depth += 1;
                r
            }
            _ => self.err("unexpected end of group"),
        }
    }

    /// Decodes fields until the end of this message, handing each to `field`,
    /// which returns false for fields it does not know (they are skipped).
    fn fields(&mut self, mut field: impl FnMut(&mut Self, u32, u8) -> Result<bool>) -> Result<()> {
        while self.has_more() {
            let (tag, wire) = self.key()?;
            if !field(self, tag, wire)? {
                self.skip(tag, wire)?;
            }
        }
        Ok(())
    }

    /// A repeated scalar field, packed (one LEN field) or not (one per value).
    fn repeated<T>(
        &mut self,
        wire: u8,
        values: &mut Vec<T>,
        scalar: u8,
        read: impl Fn(&mut Self, u8) -> Result<T>,
    ) -> Result<()> {
        if wire == LEN {
            let (start, end) = self.len_delimited()?;
            let mut inner = Reader {
                body: self.body,
                pos: start,
                end,
                depth: self.depth,
            };
            if scalar == FIXED64 {
                values.reserve((end - start) / 8);
            }
            while inner.has_more() {
                values.push(read(&mut inner, scalar)?);
            }
            Ok(())
        } else {
            values.push(read(self, wire)?);
            Ok(())
        }
    }
}

/// Decodes one `MetricFamily` record, `body[start..end]`. Error offsets
/// are offsets in `body`.
/// Each metric's labels get room for `room` more.
pub(crate) fn decode_family(
    body: &Bytes,
    start: usize,
    end: usize,
    room: usize,
) -> Result<MetricFamily> {
    let mut r = Reader {
        body,
        pos: start,
        end,
        depth: RECURSION_LIMIT,
    };
    let mut mf = MetricFamily::default();
    mf.metric.reserve_exact(r.count(4));
    let mut shape = Shape {
        room,
        ..Shape::default()
    };
    r.fields(|r, tag, wire| {
        match tag {
            1 => mf.name = Some(r.str(wire)?),
            2 => mf.help = Some(r.str(wire)?),
            3 => mf.r#type = Some(r.i32(wire)?),
            4 => {
                // Filled in place: a `Metric` is too big to build and move.
                mf.metric.push(Metric::default());
                let m = mf.metric.last_mut().expect("just pushed");
                r.nested(wire, m, |r, m| metric(r, m, &mut shape))?;
            }
            5 => mf.unit = Some(r.str(wire)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(mf)
}

/// How big the previous metric of a family was. Metrics of one family nearly
/// always share a shape, so this sizes each `Vec` once without a pre-scan;
/// an odd one out just grows.
#[derive(Default)]
struct Shape {
    labels: usize,
    /// Labels to leave room for in each metric (the grouping labels).
    room: usize,
    buckets: usize,
    quantiles: usize,
}

fn metric(r: &mut Reader, m: &mut Metric, shape: &mut Shape) -> Result<()> {
    m.label.reserve_exact(r.at_most(shape.labels) + shape.room);
    r.fields(|r, tag, wire| {
        match tag {
            1 => {
                let mut l = LabelPair::default();
                r.nested_plain(wire, &mut l, plain_label, label)?;
                m.label.push(l);
            }
            2 => r.nested_plain(
                wire,
                m.gauge.get_or_insert_with(Default::default),
                |body, range, g| plain_value(&body[range], &mut g.value),
                gauge,
            )?,
            3 => r.nested_plain(
                wire,
                m.counter.get_or_insert_with(Default::default),
                |body, range, c| plain_value(&body[range], &mut c.value),
                counter,
            )?,
            4 => r.nested(
                wire,
                &mut **m.summary.get_or_insert_with(Default::default),
                |r, s| summary(r, s, shape.quantiles),
            )?,
            5 => r.nested_plain(
                wire,
                m.untyped.get_or_insert_with(Default::default),
                |body, range, u| plain_value(&body[range], &mut u.value),
                untyped,
            )?,
            6 => m.timestamp_ms = Some(r.i64(wire)?),
            7 => r.nested(
                wire,
                &mut **m.histogram.get_or_insert_with(Default::default),
                |r, h| histogram(r, h, shape.buckets),
            )?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    shape.labels = m.label.len();
    if let Some(s) = &m.summary {
        shape.quantiles = s.quantile.len();
    }
    if let Some(h) = &m.histogram {
        shape.buckets = h.bucket.len();
    }
    Ok(())
}

fn label(r: &mut Reader, l: &mut LabelPair) -> Result<()> {
    r.fields(|r, tag, wire| {
        match tag {
            1 => l.name = Some(r.str(wire)?),
            2 => l.value = Some(r.str(wire)?),
            _ => return Ok(false),
        }
        Ok(true)
    })
}

fn gauge(r: &mut Reader, g: &mut Gauge) -> Result<()> {
    r.fields(|r, tag, wire| {
        if tag != 1 {
            return Ok(false);
        }
        g.value = Some(r.f64(wire)?);
        Ok(true)
    })
}

fn untyped(r: &mut Reader, u: &mut Untyped) -> Result<()> {
    r.fields(|r, tag, wire| {
        if tag != 1 {
            return Ok(false);
        }
        u.value = Some(r.f64(wire)?);
        Ok(true)
    })
}

fn counter(r: &mut Reader, c: &mut Counter) -> Result<()> {
    r.fields(|r, tag, wire| {
        match tag {
            1 => c.value = Some(r.f64(wire)?),
            2 => r.nested(
                wire,
                &mut **c.exemplar.get_or_insert_with(Default::default),
                exemplar,
            )?,
            3 => r.nested(
                wire,
                c.created_timestamp.get_or_insert_with(Default::default),
                timestamp,
            )?,
            _ => return Ok(false),
        }
        Ok(true)
    })
}

fn quantile(r: &mut Reader, q: &mut Quantile) -> Result<()> {
    r.fields(|r, tag, wire| {
        match tag {
            1 => q.quantile = Some(r.f64(wire)?),
            2 => q.value = Some(r.f64(wire)?),
            _ => return Ok(false),
        }
        Ok(true)
    })
}

fn summary(r: &mut Reader, s: &mut Summary, hint: usize) -> Result<()> {
    s.quantile.reserve_exact(r.at_most(hint));
    r.fields(|r, tag, wire| {
        match tag {
            1 => s.sample_count = Some(r.u64(wire)?),
            2 => s.sample_sum = Some(r.f64(wire)?),
            3 => {
                let mut q = Quantile::default();
                r.nested_plain(wire, &mut q, plain_quantile, quantile)?;
                s.quantile.push(q);
            }
            4 => r.nested(
                wire,
                s.created_timestamp.get_or_insert_with(Default::default),
                timestamp,
            )?,
            _ => return Ok(false),
        }
        Ok(true)
    })
}

fn histogram(r: &mut Reader, h: &mut Histogram, hint: usize) -> Result<()> {
    h.bucket.reserve_exact(r.at_most(hint));
    r.fields(|r, tag, wire| {
        match tag {
            1 => h.sample_count = Some(r.u64(wire)?),
            2 => h.sample_sum = Some(r.f64(wire)?),
            3 => {
                let mut b = Bucket::default();
                r.nested_plain(wire, &mut b, plain_bucket, bucket)?;
                h.bucket.push(b);
            }
            4 => h.sample_count_float = Some(r.f64(wire)?),
            5 => h.schema = Some(r.sint32(wire)?),
            6 => h.zero_threshold = Some(r.f64(wire)?),
            7 => h.zero_count = Some(r.u64(wire)?),
            8 => h.zero_count_float = Some(r.f64(wire)?),
            9 | 12 => {
                let spans = if tag == 9 {
                    &mut h.negative_span
                } else {
                    &mut h.positive_span
                };
                let mut s = BucketSpan::default();
                r.nested(wire, &mut s, span)?;
                spans.push(s);
            }
            10 | 13 => {
                let deltas = if tag == 10 {
                    &mut h.negative_delta
                } else {
                    &mut h.positive_delta
                };
                r.repeated(wire, deltas, VARINT, |r, w| {
                    r.u64(w).map(|v| ((v >> 1) as i64) ^ (-((v & 1) as i64)))
                })?
            }
            11 | 14 => {
                let counts = if tag == 11 {
                    &mut h.negative_count
                } else {
                    &mut h.positive_count
                };
                r.repeated(wire, counts, FIXED64, |r, w| r.f64(w))?
            }
            15 => r.nested(
                wire,
                h.created_timestamp.get_or_insert_with(Default::default),
                timestamp,
            )?,
            16 => {
                let mut e = Exemplar::default();
                r.nested(wire, &mut e, exemplar)?;
                h.exemplars.push(e);
            }
            _ => return Ok(false),
        }
        Ok(true)
    })
}

fn bucket(r: &mut Reader, b: &mut Bucket) -> Result<()> {
    r.fields(|r, tag, wire| {
        match tag {
            1 => b.cumulative_count = Some(r.u64(wire)?),
            2 => b.upper_bound = Some(r.f64(wire)?),
            3 => r.nested(
                wire,
                &mut **b.exemplar.get_or_insert_with(Default::default),
                exemplar,
            )?,
            4 => b.cumulative_count_float = Some(r.f64(wire)?),
            _ => return Ok(false),
        }
        Ok(true)
    })
}

fn span(r: &mut Reader, s: &mut BucketSpan) -> Result<()> {
    r.fields(|r, tag, wire| {
        match tag {
            1 => s.offset = Some(r.sint32(wire)?),
            2 => s.length = Some(r.u32(wire)?),
            _ => return Ok(false),
        }
        Ok(true)
    })
}

fn exemplar(r: &mut Reader, e: &mut Exemplar) -> Result<()> {
    r.fields(|r, tag, wire| {
        match tag {
            1 => {
                let mut l = LabelPair::default();
                r.nested(wire, &mut l, label)?;
                e.label.push(l);
            }
            2 => e.value = Some(r.f64(wire)?),
            3 => r.nested(
                wire,
                e.timestamp.get_or_insert_with(Default::default),
                timestamp,
            )?,
            _ => return Ok(false),
        }
        Ok(true)
    })
}

fn timestamp(r: &mut Reader, t: &mut Timestamp) -> Result<()> {
    r.fields(|r, tag, wire| {
        match tag {
            1 => t.seconds = r.i64(wire)?,
            2 => t.nanos = r.i32(wire)?,
            _ => return Ok(false),
        }
        Ok(true)
    })
}

// The `plain_*` readers of `Reader::nested_plain`: each recognises the one
// layout clients write for its message and fills the message from it, or
// returns false (leaving it untouched) for anything else.

/// A `LabelPair`: `name` then `value`, each shorter than 128 bytes and
/// valid UTF-8.
#[inline]
fn plain_label(body: &Bytes, range: Range<usize>, l: &mut LabelPair) -> bool {
    let start = range.start;
    let [0x0a, n, rest @ ..] = &body[range] else {
        return false;
    };
    let n = usize::from(*n);
    let Some([0x12, m, value @ ..]) = rest.get(n..) else {
        return false;
    };
    let m = usize::from(*m);
    if n >= 0x80 || m != value.len() || m >= 0x80 {
        return false;
    }
    let name = start + 2..start + 2 + n;
    let value = start + 4 + n..start + 4 + n + m;
    match (
        Str::from_utf8_slice(body, name),
        Str::from_utf8_slice(body, value),
    ) {
        (Ok(name), Ok(value)) => {
            l.name = Some(name);
            l.value = Some(value);
            true
        }
        _ => false,
    }
}

/// A gauge's, counter's or untyped value: one double, field 1.
#[inline]
fn plain_value(b: &[u8], value: &mut Option<f64>) -> bool {
    match b {
        [0x09, v @ ..] if v.len() == 8 => {
            *value = Some(le_f64(v));
            true
        }
        _ => false,
    }
}

/// A `Bucket`: `cumulative_count` (a varint of at most 9 bytes), then
/// `upper_bound`.
#[inline]
fn plain_bucket(body: &Bytes, range: Range<usize>, b: &mut Bucket) -> bool {
    let [0x08, rest @ ..] = &body[range] else {
        return false;
    };
    let mut count = 0u64;
    for (i, &byte) in rest.iter().take(9).enumerate() {
        count |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            let [0x11, v @ ..] = &rest[i + 1..] else {
                return false;
            };
            if v.len() != 8 {
                return false;
            }
            b.cumulative_count = Some(count);
            b.upper_bound = Some(le_f64(v));
            return true;
        }
    }
    false
}

/// A `Quantile`: `quantile`, then `value`.
#[inline]
fn plain_quantile(body: &Bytes, range: Range<usize>, q: &mut Quantile) -> bool {
    let b = &body[range];
    match b {
        [0x09, a @ .., 0x11, _, _, _, _, _, _, _, _] if a.len() == 8 => {
            q.quantile = Some(le_f64(a));
            q.value = Some(le_f64(&b[10..]));
            true
        }
        _ => false,
    }
}

fn le_f64(b: &[u8]) -> f64 {
    f64::from_bits(u64::from_le_bytes(b.try_into().expect("8 bytes")))
}
