//! Replays every committed fuzz corpus file (`fuzz/corpus/<target>/*`)
//! through the fuzz targets' checks (`fuzz/check.rs`), allocation bound
//! included, so CI guards the decoders without a fuzzer.

#[path = "../fuzz/check.rs"]
mod check;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

#[global_allocator]
static ALLOC: check::CountingAlloc = check::CountingAlloc;

#[test]
fn fuzz_corpora_pass_the_fuzz_checks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut failures = Vec::new();
    let mut replayed = 0;
    for target in check::TARGETS {
        let format = check::target_format(target).unwrap();
        let dir = root.join(target);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "empty corpus {}", dir.display());
        for file in files {
            let data = std::fs::read(&file).unwrap();
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check::run(format, &data))) {
                let msg = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("(non-string panic)");
                failures.push(format!("{}: {msg}", file.display()));
            }
            replayed += 1;
        }
    }
    // Only the four targets: a new corpus directory needs a target here too.
    for entry in std::fs::read_dir(&root).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            check::target_format(&name).is_some(),
            "fuzz/corpus/{name} belongs to no known target"
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {replayed} corpus inputs fail the fuzz checks:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The bound catches what it is meant to: a decoder allocating from a length
/// read in the input rather than from the input's size.
#[test]
fn allocation_bound_is_enforced() {
    let (v, peak) = check::measure(|| vec![0u8; 1 << 20]);
    assert!(peak >= 1 << 20, "measured {peak}");
    drop(v);
    assert!(check::alloc_bound(16) < 1 << 20);
    let (_, peak) = check::measure(|| {
        let mut v = Vec::new();
        for i in 0..1000u32 {
            v.push(i);
        }
        v.len()
    });
    assert!(peak >= 4000, "growth is counted: {peak}");
}

fn record(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut n = body.len();
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(body);
    out
}

/// The protobuf shapes that allocate the most per input byte (the reasoning
/// behind `check::BYTES_PER_INPUT_BYTE`) pass the checks at a large size.
#[test]
fn densest_protobuf_shapes_fit_the_bound() {
    let family = std::mem::size_of::<pushgate::model::MetricFamily>();
    assert!(
        3 * family <= check::BYTES_PER_INPUT_BYTE,
        "MetricFamily grew to {family} bytes: revisit check::BYTES_PER_INPUT_BYTE"
    );
    let shapes: Vec<(&str, Vec<u8>)> = vec![
        // Counts just past a power of two: a Vec that just doubled is at its
        // emptiest, with the old buffer counted as live during the copy.
        ("empty records", vec![0u8; (1 << 16) + 1]),
        (
            "families of one empty metric",
            [0x02, 0x22, 0x00].repeat((1 << 14) + 1),
        ),
        (
            "one family of empty metrics",
            record(&[0x22, 0x00].repeat(100_000)),
        ),
        ("one metric of empty labels", {
            let labels = [0x0a, 0x00].repeat(50_000);
            let mut family = vec![0x22];
            family.extend(record(&labels));
            record(&family)
        }),
        ("histograms of one empty bucket", {
            // metric { histogram { bucket {} } }
            record(&[0x22, 0x04, 0x3a, 0x02, 0x1a, 0x00].repeat(20_000))
        }),
        ("metrics with every value message", {
            // metric { gauge{} counter{} summary{} untyped{} histogram{} }
            record(
                &[
                    0x22, 0x0a, 0x12, 0x00, 0x1a, 0x00, 0x22, 0x00, 0x2a, 0x00, 0x3a, 0x00,
                ]
                .repeat(10_000),
            )
        }),
    ];
    for (what, data) in shapes {
        let (_, peak) = check::measure(|| {
            pushgate::codec::decode(
                pushgate::Format::Protobuf,
                bytes::Bytes::copy_from_slice(&data),
                &pushgate::codec::Limits::default(),
            )
            .map(|f| f.len())
        });
        eprintln!(
            "{what}: {} bytes in, {peak} bytes at peak, {:.0} per input byte",
            data.len(),
            peak as f64 / data.len() as f64
        );
        check::run(pushgate::Format::Protobuf, &data);
    }
}
