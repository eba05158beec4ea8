//! The file store on real files in temporary directories.

use std::collections::HashSet;
use std::fs;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::grouping::PushMethod;
use crate::model::LabelPair;

fn push(job: &str, value: u32) -> Push {
    let text = format!("# TYPE jobs_total counter\njobs_total{{queue=\"q\"}} {value}\n");
    let families = codec::decode(Format::Text, text.into(), &Default::default()).unwrap();
    Push::new(families, Format::Text)
        .with_grouping(vec![
            LabelPair::new("job", job),
            LabelPair::new("path", "/var/ü"),
        ])
        .with_method(PushMethod::Put)
        .with_received(UNIX_EPOCH + Duration::new(1_700_000_000, value))
}

fn job(record: &Record) -> String {
    record.grouping[0].value().to_owned()
}

fn read_all(dir: &Path) -> Vec<Record> {
    Reader::open(dir)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

fn segments(dir: &Path) -> Vec<(u64, PathBuf)> {
    segment::list(dir).unwrap()
}

#[tokio::test]
async fn every_field_round_trips_through_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    let p = push("a", 7);
    assert_eq!(store.append(p.clone()).await.unwrap(), Position::START);
    let delete = Push::delete(vec![LabelPair::new("job", "a")]).with_received(UNIX_EPOCH);
    store.write(delete).await.unwrap();

    let records = read_all(dir.path());
    assert_eq!(records.len(), 2);
    let r = &records[0];
    assert_eq!(r.position, Position::new(0));
    assert_eq!(r.received, p.received);
    assert_eq!(r.method, PushMethod::Put);
    assert_eq!(r.grouping, p.grouping);
    assert_eq!(r.format, Format::Protobuf);
    assert_eq!(r.families().unwrap(), p.families);
    let d = &records[1];
    assert_eq!(
        (d.position, d.method),
        (Position::new(1), PushMethod::Delete)
    );
    assert_eq!((d.received, d.payload.len()), (UNIX_EPOCH, 0));
    assert_eq!(store.end(), Position::new(2));
    store.close().await;
}

#[tokio::test]
async fn the_encoder_picks_the_payload_format() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::builder(dir.path())
        .encoder(Encoder::Format(Format::Text))
        .open()
        .unwrap();
    let p = push("a", 1);
    store.write(p.clone()).await.unwrap();
    let r = store.reader().next().unwrap().unwrap();
    assert_eq!(r.format, Format::Text);
    assert!(r.payload.starts_with(b"# TYPE jobs_total counter\n"));
    assert_eq!(r.families().unwrap(), p.families);
}

#[tokio::test]
async fn segments_rotate_at_the_size_and_reading_crosses_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::builder(dir.path())
        .segment_size(300)
        .open()
        .unwrap();
    for i in 0..20 {
        store.write(push(&format!("j{i}"), i)).await.unwrap();
    }
    let segs = segments(dir.path());
    assert!(segs.len() > 3, "{segs:?}");
    for (first, path) in &segs[..segs.len() - 1] {
        let size = fs::metadata(path).unwrap().len();
        assert!(size <= 300, "{} is {size} bytes", path.display());
        assert!(size > 0, "{first}");
    }
    let records = read_all(dir.path());
    let jobs: Vec<_> = records.iter().map(job).collect();
    let want: Vec<_> = (0..20).map(|i| format!("j{i}")).collect();
    assert_eq!(jobs, want);
    // Each segment is named after its first record.
    for (first, path) in &segs {
        let mut reader = Reader::open(dir.path())
            .unwrap()
            .seek(Position::new(*first));
        if let Some(r) = reader.next() {
            assert_eq!(r.unwrap().position.get(), *first, "{}", path.display());
        }
    }
    // Seeking into the middle of a segment.
    let mut reader = store.reader().seek(Position::new(13));
    assert_eq!(job(&reader.next().unwrap().unwrap()), "j13");
}

#[tokio::test]
async fn a_record_larger_than_a_segment_gets_one_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::builder(dir.path())
        .segment_size(10)
        .open()
        .unwrap();
    for i in 0..3 {
        store.write(push("a", i)).await.unwrap();
    }
    assert_eq!(segments(dir.path()).len(), 3);
    assert_eq!(read_all(dir.path()).len(), 3);
}

#[tokio::test]
async fn retention_by_size_deletes_the_oldest_segments() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::builder(dir.path())
        .segment_size(300)
        .retention_size(1000)
        .open()
        .unwrap();
    for i in 0..40 {
        store.write(push("a", i)).await.unwrap();
    }
    let segs = segments(dir.path());
    let total: u64 = segs.iter().map(|s| fs::metadata(&s.1).unwrap().len()).sum();
    // Over the limit by at most the open segment.
    assert!(total <= 1000 + 300, "{total}");
    assert!(segs[0].0 > 0, "nothing deleted: {segs:?}");
    // What is kept is a contiguous tail of the log, ending at the last.
    let records = read_all(dir.path());
    assert_eq!(records[0].position.get(), segs[0].0);
    assert_eq!(records.last().unwrap().position, Position::new(39));
    for pair in records.windows(2) {
        assert_eq!(pair[0].position.next(), pair[1].position);
    }
    // A reader asked for a deleted record starts at the oldest kept.
    let first = store
        .reader()
        .seek(Position::START)
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(first.position.get(), segs[0].0);
}

#[tokio::test]
async fn retention_keeps_what_a_hold_holds() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::builder(dir.path())
        .segment_size(300)
        .retention_size(1000)
        .open()
        .unwrap();
    let hold = store.hold(Position::new(5));
    for i in 0..40 {
        store.write(push("a", i)).await.unwrap();
    }
    // Over the size, but record 5 on is held.
    let records = read_all(dir.path());
    assert!(
        records[0].position <= Position::new(5),
        "{:?}",
        records[0].position
    );
    assert!(records.len() >= 35);
    // Moved on: the next rotation deletes what is no longer held.
    hold.release_to(Position::new(30));
    assert_eq!(hold.position(), Position::new(30));
    hold.release_to(Position::new(2)); // never back
    assert_eq!(hold.position(), Position::new(30));
    for i in 40..50 {
        store.write(push("a", i)).await.unwrap();
    }
    let first = read_all(dir.path())[0].position;
    assert!(
        first > Position::new(5) && first <= Position::new(30),
        "{first:?}"
    );
    // Dropped: only the size limit counts.
    drop(hold);
    for i in 50..60 {
        store.write(push("a", i)).await.unwrap();
    }
    let segs = segments(dir.path());
    let total: u64 = segs.iter().map(|s| fs::metadata(&s.1).unwrap().len()).sum();
    assert!(total <= 1000 + 300, "{total}");
}

#[tokio::test]
async fn retention_by_age_deletes_old_segments_but_never_the_open_one() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = FileStore::builder(dir.path())
            .segment_size(300)
            .open()
            .unwrap();
        for i in 0..10 {
            store.write(push("a", i)).await.unwrap();
        }
        store.close().await;
    }
    let segs = segments(dir.path());
    assert!(segs.len() >= 3);
    // Age every segment by a day, the newest (open) one too.
    let day_ago = SystemTime::now() - Duration::from_secs(86_400);
    for (_, path) in &segs {
        let file = fs::OpenOptions::new().write(true).open(path).unwrap();
        file.set_modified(day_ago).unwrap();
    }
    let store = FileStore::builder(dir.path())
        .segment_size(300)
        .retention_age(Duration::from_secs(3600))
        .open()
        .unwrap();
    assert_eq!(segments(dir.path()), segs[segs.len() - 1..]);
    // And on rotation.
    for i in 10..20 {
        store.write(push("a", i)).await.unwrap();
    }
    let now = segments(dir.path());
    assert_eq!(now[0], segs[segs.len() - 1], "fresh segments are kept");
}

/// Three records, the log cut at every byte: every whole record before
/// the cut is recovered, none invented, and the store appends after them.
#[tokio::test]
async fn recovery_keeps_every_whole_record_before_a_cut_at_any_byte() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    let mut ends = Vec::new();
    for i in 0..3 {
        store.write(push(&format!("j{i}"), i)).await.unwrap();
        ends.push(fs::metadata(&segments(dir.path())[0].1).unwrap().len());
    }
    store.close().await;
    drop(store);
    let path = segments(dir.path())[0].1.clone();
    let whole = fs::read(&path).unwrap();
    assert_eq!(whole.len() as u64, ends[2]);

    for cut in 0..=whole.len() {
        let cut_dir = tempfile::tempdir().unwrap();
        fs::write(cut_dir.path().join(segment::name(0)), &whole[..cut]).unwrap();
        let kept = ends.iter().filter(|&&end| end <= cut as u64).count();

        let store = FileStore::open(cut_dir.path()).unwrap();
        assert_eq!(store.end(), Position::new(kept as u64), "cut at {cut}");
        let seg = cut_dir.path().join(segment::name(0));
        let expected_len = if kept == 0 { 0 } else { ends[kept - 1] };
        assert_eq!(
            fs::metadata(&seg).unwrap().len(),
            expected_len,
            "cut at {cut}"
        );
        // The store goes on after the records it kept.
        store.write(push("after", 9)).await.unwrap();
        store.close().await;
        let jobs: Vec<_> = read_all(cut_dir.path()).iter().map(job).collect();
        let mut want: Vec<_> = (0..kept).map(|i| format!("j{i}")).collect();
        want.push("after".into());
        assert_eq!(jobs, want, "cut at {cut}");
    }
}

#[tokio::test]
async fn a_torn_tail_of_garbage_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    store.write(push("a", 1)).await.unwrap();
    store.close().await;
    let path = segments(dir.path())[0].1.clone();
    let good = fs::metadata(&path).unwrap().len();
    // Zeroes, as a file extended but not written before a crash leaves.
    let mut bytes = fs::read(&path).unwrap();
    bytes.extend_from_slice(&[0; 4096]);
    fs::write(&path, bytes).unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    assert_eq!(store.end(), Position::new(1));
    assert_eq!(fs::metadata(&path).unwrap().len(), good);
}

#[tokio::test]
async fn a_flipped_byte_in_a_middle_record_is_reported_with_segment_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    let mut ends = vec![0];
    for i in 0..3 {
        store.write(push("a", i)).await.unwrap();
        ends.push(fs::metadata(&segments(dir.path())[0].1).unwrap().len());
    }
    store.close().await;
    drop(store);
    let path = segments(dir.path())[0].1.clone();
    let whole = fs::read(&path).unwrap();
    // Any byte of the middle record (ends[1]..ends[2]).
    for at in ends[1]..ends[2] {
        let mut bytes = whole.clone();
        bytes[at as usize] ^= 0x40;
        fs::write(&path, &bytes).unwrap();

        let err = FileStore::open(dir.path()).unwrap_err();
        let FileStoreError::Corrupt {
            segment, offset, ..
        } = &err
        else {
            panic!("byte {at}: {err}");
        };
        assert_eq!((segment, *offset), (&path, ends[1]), "byte {at}: {err}");
        assert!(
            err.to_string().starts_with(&format!(
                "corrupt record in segment {} at byte {}: ",
                path.display(),
                ends[1]
            )),
            "{err}"
        );
        // Left as it was, for an operator to look at.
        assert_eq!(fs::read(&path).unwrap(), bytes);

        // The reader gives the first record, then the same error.
        let mut reader = Reader::open(dir.path()).unwrap();
        assert_eq!(reader.next().unwrap().unwrap().position, Position::START);
        for _ in 0..2 {
            let err = reader.next().unwrap().unwrap_err();
            assert!(
                matches!(err, FileStoreError::Corrupt { offset, .. } if offset == ends[1]),
                "{err}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_are_each_stored_once_in_order_with_fewer_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    let writers = 32;
    let each = 20;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut positions = Vec::new();
            for i in 0..each {
                positions.push(store.append(push(&format!("w{w}-{i}"), i)).await.unwrap());
            }
            positions
        }));
    }
    let mut acked = HashSet::new();
    for (w, task) in tasks.into_iter().enumerate() {
        let positions = task.await.unwrap();
        // One writer's records are in the order it wrote them.
        assert!(positions.windows(2).all(|p| p[0] < p[1]), "writer {w}");
        for (i, p) in positions.into_iter().enumerate() {
            assert!(acked.insert((p, format!("w{w}-{i}"))));
        }
    }
    let total = writers * each as usize;
    let records = read_all(dir.path());
    assert_eq!(records.len(), total);
    let read: HashSet<_> = records.iter().map(|r| (r.position, job(r))).collect();
    assert_eq!(
        read, acked,
        "each acknowledged record exactly once, where acknowledged"
    );
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.position, Position::new(i as u64));
    }
    // Group commit: concurrent writers shared syncs.
    let stats = store.stats();
    let syncs = stats.syncs.load(Ordering::Relaxed);
    assert_eq!(stats.records.load(Ordering::Relaxed), total as u64);
    assert!(syncs < total as u64, "{syncs} syncs for {total} writes");
    assert_eq!(syncs, stats.batches.load(Ordering::Relaxed));
}

#[tokio::test]
async fn group_commit_batches_writes_queued_together() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    // The writer waits at its gate (having taken at most the first
    // record) while 64 writes queue; then it takes the rest at once.
    let gate = store.hold_writer();
    let mut writes: Vec<_> = (0..64)
        .map(|i| Box::pin(store.append(push("a", i))))
        .collect();
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    for w in &mut writes {
        assert!(w.as_mut().poll(&mut cx).is_pending());
    }
    drop(gate);
    for w in writes {
        w.await.unwrap();
    }
    let syncs = store.stats().syncs.load(Ordering::Relaxed);
    assert!(syncs <= 2, "{syncs} syncs for 64 writes");
    assert_eq!(read_all(dir.path()).len(), 64);
}

#[tokio::test]
async fn reopening_appends_after_the_existing_records() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3u32 {
        let store = FileStore::builder(dir.path())
            .segment_size(500)
            .open()
            .unwrap();
        assert_eq!(store.end(), Position::new(u64::from(round) * 4));
        for i in 0..4 {
            store
                .write(push(&format!("r{round}-{i}"), i))
                .await
                .unwrap();
        }
        store.close().await;
        assert!(matches!(
            store.write(push("late", 0)).await,
            Err(StoreError::Closed)
        ));
    }
    let jobs: Vec<_> = read_all(dir.path()).iter().map(job).collect();
    let want: Vec<_> = (0..3)
        .flat_map(|r| (0..4).map(move |i| format!("r{r}-{i}")))
        .collect();
    assert_eq!(jobs, want);
}

#[tokio::test]
async fn a_failed_write_acknowledges_nothing_and_the_store_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    store.write(push("before", 1)).await.unwrap();
    store.fail_next_write();
    let err = store.write(push("failed", 2)).await.unwrap_err();
    assert!(matches!(err, StoreError::InsufficientStorage(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "store out of space: no space left on device writing segment 00000000000000000000.seg"
    );
    assert_eq!(store.end(), Position::new(1));
    store.write(push("after", 3)).await.unwrap();
    let jobs: Vec<_> = read_all(dir.path()).iter().map(job).collect();
    assert_eq!(jobs, ["before", "after"]);
    store.close().await;
    // And the file holds nothing of the failed write.
    let store = FileStore::open(dir.path()).unwrap();
    assert_eq!(store.end(), Position::new(2));
}

#[tokio::test]
async fn a_write_dropped_before_it_is_polled_or_taken_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    drop(store.write(push("unpolled", 1)));
    store.write(push("kept", 2)).await.unwrap();
    let jobs: Vec<_> = read_all(dir.path()).iter().map(job).collect();
    assert_eq!(jobs, ["kept"]);
}

#[tokio::test]
async fn a_write_dropped_while_queued_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    let gate = store.hold_writer();
    let mut dropped = Box::pin(store.write(push("dropped", 1)));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(dropped.as_mut().poll(&mut cx).is_pending()); // queued
    drop(dropped);
    drop(gate);
    store.write(push("kept", 2)).await.unwrap();
    let jobs: Vec<_> = read_all(dir.path()).iter().map(job).collect();
    assert_eq!(jobs, ["kept"]);
    assert_eq!(store.stats().records.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_write_dropped_while_being_written_is_taken_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    store.write(push("before", 1)).await.unwrap();
    let segment = segments(dir.path())[0].1.clone();
    let written = fs::metadata(&segment).unwrap().len();
    let replies = store.hold_replies();
    let mut dropped = Box::pin(store.write(push("dropped", 2)));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(dropped.as_mut().poll(&mut cx).is_pending());
    // Wait until the writer has written it (and waits to answer).
    while fs::metadata(&segment).unwrap().len() == written {
        std::thread::sleep(Duration::from_millis(1));
    }
    // As the gateway's deadline does: the client is told 504.
    drop(dropped);
    drop(replies);
    store.write(push("after", 3)).await.unwrap();

    let want = ["before", "after"];
    // Beside the store, from the files, and after reopening.
    let mut beside = store.reader();
    let jobs: Vec<_> = beside.by_ref().map(|r| job(&r.unwrap())).collect();
    assert_eq!(jobs, want);
    let records = read_all(dir.path());
    assert_eq!(records.iter().map(job).collect::<Vec<_>>(), want);
    // Positions: before 0, dropped 1, its abort 2, after 3.
    assert_eq!(records[1].position, Position::new(3));
    assert_eq!(store.stats().records.load(Ordering::Relaxed), 2);
    store.close().await;
    let store = FileStore::open(dir.path()).unwrap();
    assert_eq!(store.end(), Position::new(4));
    let jobs: Vec<_> = read_all(dir.path()).iter().map(job).collect();
    assert_eq!(jobs, want);
    // Seeking to the dropped record skips it too.
    let from_dropped = Reader::open(dir.path()).unwrap().seek(Position::new(1));
    let jobs: Vec<_> = from_dropped.map(|r| job(&r.unwrap())).collect();
    assert_eq!(jobs, ["after"]);
}

#[tokio::test]
async fn sync_policies_acknowledge_and_keep_records() {
    for sync in [
        SyncPolicy::Every(Duration::from_millis(5)),
        SyncPolicy::Never,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::builder(dir.path()).sync(sync).open().unwrap();
        for i in 0..5 {
            store.write(push("a", i)).await.unwrap();
        }
        store.close().await;
        assert_eq!(read_all(dir.path()).len(), 5, "{sync:?}");
        // Closing synced what was written.
        assert!(store.stats().syncs.load(Ordering::Relaxed) >= 1, "{sync:?}");
    }
}

#[tokio::test]
async fn a_reader_beside_the_store_follows_new_records() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    let mut reader = store.reader();
    assert!(reader.next_record().unwrap().is_none());
    let follower = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while seen.len() < 10 {
                assert!(store.wait_for(reader.position()).await);
                while let Some(r) = reader.next_record().unwrap() {
                    seen.push(r.position.get());
                }
            }
            seen
        })
    };
    for i in 0..10 {
        store.write(push("a", i)).await.unwrap();
    }
    assert_eq!(follower.await.unwrap(), (0..10).collect::<Vec<_>>());
    store.close().await;
    assert!(!store.wait_for(Position::new(100)).await);
}

#[tokio::test]
async fn the_gateway_stores_a_push_in_the_file_store() {
    use http::{Request, StatusCode};
    use http_body_util::Full;
    use tower::ServiceExt;

    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    let gateway = crate::gateway::PushGateway::builder(store.clone())
        .build()
        .unwrap();
    let request = Request::post("/metrics/job/nightly/zone/eu")
        .body(Full::new(bytes::Bytes::from_static(
            b"# TYPE jobs_total counter\njobs_total 3\n",
        )))
        .unwrap();
    let response = gateway.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);

    let record = store.reader().next().unwrap().unwrap();
    assert_eq!(
        record.grouping,
        [
            LabelPair::new("job", "nightly"),
            LabelPair::new("zone", "eu")
        ]
    );
    assert_eq!(record.method, PushMethod::Post);
    let families = record.families().unwrap();
    assert_eq!(families[0].name(), "jobs_total");
    let metric = &families[0].metric[0];
    assert_eq!(metric.counter.as_ref().unwrap().value, Some(3.0));
    assert!(metric
        .label
        .iter()
        .any(|l| l.name() == "job" && l.value() == "nightly"));
}

#[tokio::test]
async fn one_store_per_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    store.write(push("a", 1)).await.unwrap();
    let err = FileStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, FileStoreError::Locked { .. }), "{err:?}");
    assert!(
        err.to_string()
            .ends_with("is in use by another file store (its LOCK file is locked)"),
        "{err}"
    );
    // Readers need no lock.
    assert_eq!(read_all(dir.path()).len(), 1);
    // Closing releases it.
    store.close().await;
    let again = FileStore::open(dir.path()).unwrap();
    assert_eq!(again.end(), Position::new(1));
}
