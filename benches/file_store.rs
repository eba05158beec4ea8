//! `FileStore` throughput under `SyncPolicy::Always`: medium pushes from 1
//! and from 32 concurrent writers (group commit shares each fsync), next to
//! the fsyncs per second the disk gives a plain write+fdatasync loop.
//!
//! Run: `cargo bench --bench file_store --features gateway`. The log goes to
//! a temporary directory (`TMPDIR` picks the disk).

use std::io::Write;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pushgate::store::{FileStore, Push};
use pushgate::Format;

#[path = "support/payload.rs"]
mod payload;

/// Write+fdatasync of 4 KiB in a loop for a second: the disk's own rate.
fn fsyncs_per_second(dir: &std::path::Path) -> f64 {
    let mut file = std::fs::File::create(dir.join("fsync-probe")).unwrap();
    let block = [0u8; 4096];
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < Duration::from_secs(1) {
        file.write_all(&block).unwrap();
        file.sync_data().unwrap();
        n += 1;
    }
    f64::from(n) / start.elapsed().as_secs_f64()
}

fn writers(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    eprintln!(
        "file_store: the disk under {} gives {:.0} write+fdatasync/s",
        dir.path().display(),
        fsyncs_per_second(dir.path())
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let families = payload::families(payload::MEDIUM);
    let push = Push::new(families, Format::Protobuf);
    let store = FileStore::builder(dir.path().join("log"))
        .retention_size(512 << 20)
        .open()
        .unwrap();

    let mut group = c.benchmark_group("file_store/medium/always");
    for writers in [1usize, 32] {
        group.throughput(Throughput::Elements(writers as u64));
        group.bench_with_input(BenchmarkId::new("writers", writers), &writers, |b, &n| {
            b.iter(|| {
                rt.block_on(async {
                    let mut tasks = tokio::task::JoinSet::new();
                    for _ in 0..n {
                        let store = store.clone();
                        let push = push.clone();
                        tasks.spawn(async move { store.append(push).await.unwrap() });
                    }
                    while let Some(done) = tasks.join_next().await {
                        done.unwrap();
                    }
                })
            })
        });
    }
    group.finish();
    rt.block_on(store.close());
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = writers
}
criterion_main!(benches);
