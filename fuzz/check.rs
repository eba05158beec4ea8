//! The checks every fuzz target runs on its input, shared by the cargo-fuzz
//! targets (`fuzz/fuzz_targets/*.rs`) and the corpus replay test
//! (`tests/fuzz_corpus.rs`), which both include this file with `#[path]`.
//!
//! A binary that uses [`run`] must install [`CountingAlloc`] as its global
//! allocator, or the allocation bound cannot be measured (and [`run`] panics).
//!
//! For one input of a format:
//! 1. decoding must not panic, and the bytes live at its peak (counted from
//!    just before the call, so including what it returns) must stay within
//!    [`alloc_bound`];
//! 2. if it decodes, encoding the families back to the same format must not
//!    panic (an encode error is fine: not every model value has a text form);
//! 3. if it decodes, the families must survive a protobuf round trip: encode,
//!    decode, encode again gives the same bytes (so bitwise-equal values, NaN
//!    payloads included) and equal families. For the protobuf target this is
//!    the re-encoding of the input itself.

// Each includer uses a different part.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::Bytes;
use pushgate::codec::{self, Limits};
use pushgate::model::MetricFamily;
use pushgate::Format;

/// Bytes of allocation allowed per byte of input.
///
/// From the model: the densest input is a body of empty protobuf records,
/// each one byte and one whole `MetricFamily` (152 bytes today). The
/// protobuf decoder sizes the families `Vec` once, but a `Vec` that grows
/// by doubling is half full just after it doubled, with the old buffer live
/// during the copy (counted, see [`CountingAlloc`]): 3 × 152 = 456 bytes
/// per input byte is the most a decoder that grows its families could
/// reach (measured, in `tests/fuzz_corpus.rs`: 153 for the protobuf
/// decoder; a family with one metric ~100, buckets ~90, labels ~80). Text
/// needs more input per family or metric ("a 1\n" is 4 bytes), leaving room
/// for a decoder's name index. 512 covers that with a margin, and still
/// catches any allocation sized by a length or count read from the input
/// rather than by the input's size.
pub const BYTES_PER_INPUT_BYTE: usize = 512;

/// Bytes of allocation allowed whatever the input's size: error messages,
/// first allocations of small maps and vectors.
pub const FIXED_BYTES: usize = 64 * 1024;

/// The most bytes decoding `len` input bytes may have live at once.
pub fn alloc_bound(len: usize) -> usize {
    BYTES_PER_INPUT_BYTE * len + FIXED_BYTES
}

/// The format a fuzz target (and its corpus directory) decodes.
pub fn target_format(target: &str) -> Option<Format> {
    match target {
        "decode_protobuf" => Some(Format::Protobuf),
        "decode_text" => Some(Format::Text),
        "decode_openmetrics" => Some(Format::OpenMetrics),
        "decode_json" => Some(Format::Json),
        _ => None,
    }
}

/// Every fuzz target, by name.
pub const TARGETS: [&str; 4] = [
    "decode_protobuf",
    "decode_text",
    "decode_openmetrics",
    "decode_json",
];

/// Runs every check on one input; panics on a violation.
pub fn run(format: Format, data: &[u8]) {
    assert!(
        counting_is_installed(),
        "install fuzz/check.rs's CountingAlloc as the #[global_allocator]"
    );
    let body = Bytes::copy_from_slice(data);
    let limits = Limits::default();
    let (decoded, peak) = measure(|| codec::decode(format, body, &limits));
    assert!(
        peak <= alloc_bound(data.len()),
        "decoding {} input bytes as {format} had {peak} bytes live at its peak, above the \
         bound of {} ({BYTES_PER_INPUT_BYTE} per input byte + {FIXED_BYTES})",
        data.len(),
        alloc_bound(data.len()),
    );
    let Ok(families) = decoded else {
        return;
    };

    let mut same_format = Vec::new();
    let _ = codec::encode(format, &families, &mut same_format);

    protobuf_round_trip(&families);
}

/// Encode, decode, encode: the bytes and the families must come back equal.
fn protobuf_round_trip(families: &[MetricFamily]) {
    let mut first = Vec::new();
    codec::encode(Format::Protobuf, families, &mut first).expect("protobuf encoding cannot fail");
    // No record limit: a record re-encoded can outgrow the one it came from
    // (packed repeated fields are written unpacked).
    let unlimited = Limits {
        max_bytes: usize::MAX,
    };
    let back = codec::decode(Format::Protobuf, Bytes::from(first.clone()), &unlimited)
        .unwrap_or_else(|e| panic!("our own protobuf encoding does not decode: {e}"));
    let mut second = Vec::new();
    codec::encode(Format::Protobuf, &back, &mut second).expect("protobuf encoding cannot fail");
    assert!(
        first == second,
        "protobuf round trip changed the bytes:\n first: {first:02x?}\nsecond: {second:02x?}"
    );
    // `Debug` compares NaN with NaN as equal, where `PartialEq` would not.
    assert_eq!(
        format!("{families:?}"),
        format!("{back:?}"),
        "protobuf round trip changed the families"
    );
}

/// A global allocator that counts, per thread, the bytes live and their peak
/// (so tests running in parallel threads do not disturb each other). Counts
/// are signed: a thread may free what another allocated.
///
/// A `realloc` counts the old and new sizes as live at the same moment: the
/// system may have to copy, with both buffers allocated.
pub struct CountingAlloc;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
    static SEEN: Cell<bool> = const { Cell::new(false) };
}

// Nothing here may panic or allocate: `try_with`, and cells without
// destructors, so they stay reachable until the thread ends.
fn on_alloc(size: usize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get().wrapping_add(size as isize);
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
    let _ = SEEN.try_with(|seen| seen.set(true));
}

fn on_dealloc(size: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().wrapping_sub(size as isize)));
}

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            on_alloc(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            on_alloc(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        on_dealloc(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // New buffer first, while the old one still counts, then the old
            // one goes: the peak sees both.
            on_alloc(new_size);
            on_dealloc(layout.size());
        }
        p
    }
}

fn counting_is_installed() -> bool {
    SEEN.with(|seen| seen.set(false));
    drop(std::hint::black_box(Box::new(0u64)));
    SEEN.with(Cell::get)
}

/// Runs `f` and returns its result with the most bytes that were live at
/// once during the call, counted from the bytes live when it began; what `f`
/// returns is still live at its end and so is counted.
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(base));
    let r = f();
    let peak = PEAK.with(Cell::get);
    (r, peak.saturating_sub(base).max(0) as usize)
}
