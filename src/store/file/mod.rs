//! [`FileStore`]: a durable, append-only log of accepted pushes, in
//! segment files in one directory.
//!
//! # On disk
//!
//! The directory holds segments named by the position (sequence number) of
//! their first record, `00000000000000000000.seg`, `00000000000000001234.seg`,
//! ... Only the newest is written to; it is closed (synced) and a new one
//! started when the next record would take it past the segment size. Each
//! record is one frame, integers little-endian:
//!
//! | bytes | field |
//! | --- | --- |
//! | 1 | magic `0xA7` |
//! | 1 | version, `1` |
//! | 4 | length of what follows the CRC |
//! | 4 | CRC-32C of the 6 bytes before it and the `length` bytes after it |
//! | 8 | position (sequence number) |
//! | 8 | received, nanoseconds since the Unix epoch (signed) |
//! | 1 | method: 0 `POST`, 1 `PUT`, 2 `DELETE`, 3 abort (see below) |
//! | 1 | payload format: 0 protobuf, 1 text, 2 OpenMetrics, 3 JSON, 4 line protocol |
//! | 2 | number of grouping labels; then each: name length (2), name, value length (4), value |
//! | rest | payload: the families in that format (empty for a `DELETE`) |
//!
//! # Durability and the `Store` contract
//!
//! [`FileStore::write`](crate::store::Store::write) encodes the push and
//! queues it for a writer thread, which takes every queued record at
//! once, writes them with one `write`, syncs once (with
//! [`SyncPolicy::Always`]: group commit) and only then answers each
//! writer `Ok`. A failed write or sync answers every record of the batch
//! with an error and the writer cuts the segment back to its last good
//! length before writing again: nothing that was refused stays in the log.
//!
//! A write future that is dropped (the gateway's deadline, a client gone):
//!
//! * before its first poll: nothing is encoded or queued;
//! * while queued: the writer sees the abandoned answer channel and skips
//!   the record; nothing is stored;
//! * while the writer is writing its batch (one `write` and one
//!   `fdatasync`): the record is on disk, so the writer appends an *abort*
//!   record naming it (same segment, synced per the policy) before anyone
//!   is told of the batch. Readers skip both: a client that saw its `504`
//!   and pushes again has its push once in the log.
//!
//! What remains is the instant between the writer's last look at a
//! write's answer channel and the answer: a write dropped exactly then is
//! kept, with a warning naming its position. A [`Reader`] of another
//! process that reads a record in the instant before its abort record is
//! written gives it (the reader of [`FileStore::reader`] never does).
//!
//! # One store per directory
//!
//! [`FileStoreBuilder::open`] takes an exclusive lock (`flock`) on the file
//! `LOCK` in the directory, held until the store's writer stops; a second
//! store on the same directory, in this process or another, fails with
//! [`FileStoreError::Locked`]. Readers take no lock: `pushgate dump` reads
//! while `pushgate serve` writes.
//!
//! # Recovery
//!
//! [`FileStoreBuilder::open`] scans the newest segment. A torn tail (an
//! incomplete record, or a corrupt one that no good record follows, as a
//! crash mid-write leaves) is cut off with a warning; every whole record
//! before it is kept. A corrupt record that good records follow is not a
//! crash but damage: `open` fails with [`FileStoreError::Corrupt`], naming
//! the segment and byte offset, rather than skip data silently. A
//! [`Reader`] reports damage in any segment the same way.
//!
//! # Reading
//!
//! [`Reader`] goes over the records in order from any [`Position`];
//! [`FileStore::reader`] gives one that stops at the last acknowledged
//! record, and [`FileStore::wait_for`] waits for more (see [`Reader`] on
//! following a log).

mod frame;
mod reader;
mod segment;
mod writer;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::fmt;
use std::fs::OpenOptions;
use std::io::{self, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Encoder, Push, Store, StoreError};
use crate::codec;
use crate::format::Format;

pub use self::reader::{Reader, Record};
use self::writer::{Shared, Writer};

/// The default segment size: 64 MiB.
const DEFAULT_SEGMENT_SIZE: u64 = 64 << 20;

/// How many bytes of records may wait for the writer before writes are
/// refused as [`StoreError::Overloaded`].
const MAX_QUEUED: usize = 64 << 20;

/// When a write is on disk before it is acknowledged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncPolicy {
    /// `fdatasync` before acknowledging (the default). Writes that arrive
    /// together share one sync (group commit). An acknowledged push
    /// survives a crash or a power loss.
    #[default]
    Always,
    /// Acknowledge once written to the OS; `fdatasync` at most this long
    /// after a write. A process crash loses nothing acknowledged; a power
    /// loss or kernel crash loses up to the interval's acknowledged pushes.
    Every(Duration),
    /// Acknowledge once written to the OS and leave syncing to it (segments
    /// are still synced when they are closed and when the store closes). A
    /// process crash loses nothing acknowledged; a power loss loses what the
    /// OS had not yet written back (on Linux, typically the last 5–30 s).
    Never,
}

/// Why a file store could not be opened or a log read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileStoreError {
    /// A file system call failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS's error.
        #[source]
        source: io::Error,
    },
    /// Another store (in this process or another) has the directory open.
    #[error("{} is in use by another file store (its LOCK file is locked)", dir.display())]
    Locked {
        /// The directory.
        dir: PathBuf,
    },
    /// A damaged record that good records follow: not a torn tail from a
    /// crash, and not skipped.
    #[error("corrupt record in segment {} at byte {offset}: {reason}", segment.display())]
    Corrupt {
        /// The segment file.
        segment: PathBuf,
        /// Where in it the damaged record starts.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
}

impl FileStoreError {
    fn io(action: &'static str, path: &Path, source: io::Error) -> FileStoreError {
        FileStoreError::Io {
            action,
            path: path.to_owned(),
            source,
        }
    }

    fn corrupt(segment: &Path, offset: u64, reason: impl Into<String>) -> FileStoreError {
        FileStoreError::Corrupt {
            segment: segment.to_owned(),
            offset,
            reason: reason.into(),
        }
    }
}

/// Where a record is in the log: its sequence number, from 0, one more for
/// each record ever appended (retention deletes old records, it does not
/// renumber).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position(u64);

impl Position {
    /// The first record ever written.
    pub const START: Position = Position(0);

    /// The position of record number `seq`.
    pub const fn new(seq: u64) -> Position {
        Position(seq)
    }

    /// The sequence number.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The position after this one.
    #[must_use]
    pub const fn next(self) -> Position {
        Position(self.0 + 1)
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Configures and opens a [`FileStore`]; from [`FileStore::builder`].
#[derive(Clone, Debug)]
#[must_use]
pub struct FileStoreBuilder {
    dir: PathBuf,
    sync: SyncPolicy,
    segment_size: u64,
    retention_size: Option<u64>,
    retention_age: Option<Duration>,
    encoder: Encoder,
}

impl FileStoreBuilder {
    /// When a write is on disk before it is acknowledged (default
    /// [`SyncPolicy::Always`]).
    pub fn sync(mut self, sync: SyncPolicy) -> FileStoreBuilder {
        self.sync = sync;
        self
    }

    /// The size past which a new segment is started (default 64 MiB). A
    /// record larger than this gets a segment of its own.
    pub fn segment_size(mut self, bytes: u64) -> FileStoreBuilder {
        self.segment_size = bytes.max(1);
        self
    }

    /// Deletes the oldest segments while all segments together are larger
    /// than this (default: no limit). The segment being written is never
    /// deleted, so the log can exceed this by up to one segment.
    pub fn retention_size(mut self, bytes: u64) -> FileStoreBuilder {
        self.retention_size = Some(bytes);
        self
    }

    /// Deletes segments last written to longer than this ago (default: no
    /// limit), never the one being written. Checked at open and whenever a
    /// segment is closed.
    pub fn retention_age(mut self, age: Duration) -> FileStoreBuilder {
        self.retention_age = Some(age);
        self
    }

    /// The format families are stored in (default delimited protobuf,
    /// `Encoder::Format(Format::Protobuf)`: compact and quick to decode).
    pub fn encoder(mut self, encoder: Encoder) -> FileStoreBuilder {
        self.encoder = encoder;
        self
    }

    /// Opens the store: creates the directory if needed, recovers the newest
    /// segment (see the [module docs](self)), applies retention and starts
    /// the writer thread.
    ///
    /// This blocks on file I/O (a scan of up to one segment): call it
    /// before starting the runtime, or in `tokio::task::spawn_blocking`.
    pub fn open(self) -> Result<FileStore, FileStoreError> {
        let dir = self.dir;
        std::fs::create_dir_all(&dir)
            .map_err(|e| FileStoreError::io("creating directory", &dir, e))?;
        let lock = lock(&dir)?;
        let mut segments = segment::list(&dir)?;
        let (first, path) = match segments.pop() {
            Some(newest) => newest,
            None => {
                let (_, path) = segment::create(&dir, 0)?;
                (0, path)
            }
        };
        let recovered = segment::recover(&path, first)?;
        let mut file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| FileStoreError::io("opening", &path, e))?;
        file.seek(SeekFrom::Start(recovered.len))
            .map_err(|e| FileStoreError::io("seeking in", &path, e))?;
        let mut closed = VecDeque::with_capacity(segments.len());
        for (first, path) in segments {
            let size = std::fs::metadata(&path)
                .map_err(|e| FileStoreError::io("reading metadata of", &path, e))?
                .len();
            closed.push_back((first, path, size));
        }
        let next = first + recovered.records;
        let (committed, committed_rx) = tokio::sync::watch::channel(next);
        let shared = Arc::new(Shared::new(committed_rx, MAX_QUEUED));
        let mut writer = Writer {
            shared: Arc::clone(&shared),
            committed,
            dir: dir.clone(),
            sync: self.sync,
            segment_size: self.segment_size,
            retention_size: self.retention_size,
            retention_age: self.retention_age,
            closed,
            file,
            path,
            first,
            len: recovered.len,
            next,
            dirty: false,
            unsynced: false,
            last_sync: Instant::now(),
            buf: Vec::new(),
            _lock: lock,
        };
        writer.retain();
        let thread = std::thread::Builder::new()
            .name("pushgate-file-store".into())
            .spawn(move || writer.run())
            .map_err(|e| FileStoreError::io("starting the writer thread for", &dir, e))?;
        tracing::info!(dir = %dir.display(), next, "file store: opened");
        Ok(FileStore {
            inner: Arc::new(Inner {
                shared,
                thread: Mutex::new(Some(thread)),
                dir,
                encoder: self.encoder,
            }),
        })
    }
}

/// Records of a [`FileStore`] that retention keeps, from
/// [`FileStore::hold`]. Dropping it lets retention delete them.
#[derive(Debug)]
pub struct RetentionHold {
    at: Arc<std::sync::atomic::AtomicU64>,
}

impl RetentionHold {
    /// Lets retention delete the records before `position` (a hold never
    /// moves back).
    pub fn release_to(&self, position: Position) {
        self.at
            .fetch_max(position.0, std::sync::atomic::Ordering::AcqRel);
    }

    /// The first record held.
    pub fn position(&self) -> Position {
        Position(self.at.load(std::sync::atomic::Ordering::Acquire))
    }
}

/// Locks `dir` for one store: `LOCK`, created if missing, locked with
/// `flock` (released by the OS when the file closes, crash or not).
fn lock(dir: &Path) -> Result<std::fs::File, FileStoreError> {
    let path = dir.join("LOCK");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| FileStoreError::io("opening", &path, e))?;
    match fs4::FileExt::try_lock(&file) {
        Ok(()) => Ok(file),
        Err(fs4::TryLockError::WouldBlock) => Err(FileStoreError::Locked {
            dir: dir.to_owned(),
        }),
        Err(fs4::TryLockError::Error(e)) => Err(FileStoreError::io("locking", &path, e)),
    }
}

/// A durable, append-only log of accepted pushes in a directory of segment
/// files: each push is one CRC-checked record of its receive time, method,
/// grouping key and families (encoded with the store's [`Encoder`]),
/// acknowledged once it is on disk per the [`SyncPolicy`]. `DELETE`s are
/// recorded too. See the [module docs](self) for the format, recovery and
/// how a dropped write is handled.
///
/// Clones share the store. The store closes when the last clone is dropped
/// or on [`close`](FileStore::close); writes after that fail with
/// [`StoreError::Closed`]. One store per directory: a second one fails to
/// open ([`FileStoreError::Locked`]).
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use pushgate::model::LabelPair;
/// use pushgate::store::{FileStore, Push, Store};
/// use pushgate::{codec, Format};
///
/// let dir = std::env::temp_dir().join(format!("pushgate-doc-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// let store = FileStore::open(&dir).unwrap();
/// let families = codec::decode(Format::Text, "up 1\n".into(), &Default::default()).unwrap();
/// let push = Push::new(families, Format::Text).with_grouping(vec![LabelPair::new("job", "a")]);
/// store.write(push).await.unwrap(); // on disk, fsynced
///
/// let record = store.reader().next().unwrap().unwrap();
/// assert_eq!(record.grouping[0].value(), "a");
/// assert_eq!(record.families().unwrap()[0].name(), "up");
/// store.close().await;
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # });
/// ```
#[derive(Clone)]
pub struct FileStore {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    dir: PathBuf,
    encoder: Encoder,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The writer finishes what is queued, syncs and stops on its own;
        // joining here would block an async worker.
        self.shared.close();
    }
}

impl fmt::Debug for FileStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStore")
            .field("dir", &self.inner.dir)
            .field("encoder", &self.inner.encoder)
            .finish_non_exhaustive()
    }
}

impl FileStore {
    /// Opens (or creates) the store in `dir` with the defaults; see
    /// [`FileStore::builder`] and [`FileStoreBuilder::open`], which this
    /// calls (it blocks on file I/O).
    pub fn open(dir: impl Into<PathBuf>) -> Result<FileStore, FileStoreError> {
        FileStore::builder(dir).open()
    }

    /// A builder of a store in `dir`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use pushgate::store::{Encoder, FileStore, SyncPolicy};
    /// use pushgate::Format;
    ///
    /// let dir = std::env::temp_dir().join(format!("pushgate-doc-builder-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let store = FileStore::builder(&dir)
    ///     .sync(SyncPolicy::Every(Duration::from_millis(100)))
    ///     .segment_size(16 << 20)
    ///     .retention_size(1 << 30)
    ///     .retention_age(Duration::from_secs(7 * 24 * 3600))
    ///     .encoder(Encoder::Format(Format::Text))
    ///     .open()
    ///     .unwrap();
    /// # drop(store);
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn builder(dir: impl Into<PathBuf>) -> FileStoreBuilder {
        FileStoreBuilder {
            dir: dir.into(),
            sync: SyncPolicy::Always,
            segment_size: DEFAULT_SEGMENT_SIZE,
            retention_size: None,
            retention_age: None,
            encoder: Encoder::Format(Format::Protobuf),
        }
    }

    /// The directory of the log.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The format families are stored in.
    pub fn encoder(&self) -> Encoder {
        self.inner.encoder
    }

    /// Appends `push` and answers its position once it is stored (what
    /// [`Store::write`] does, with the position).
    pub async fn append(&self, push: Push) -> Result<Position, StoreError> {
        let frame = self.frame(&push).map_err(StoreError::invalid)?;
        let reply = self.inner.shared.enqueue(frame)?;
        // A writer thread gone without answering is a closed store.
        reply.await.unwrap_or(Err(StoreError::Closed))
    }

    fn frame(&self, push: &Push) -> Result<Vec<u8>, crate::BoxError> {
        let format = self.inner.encoder.format_for(push.format);
        let mut out = frame::start(
            push.received,
            push.method,
            format,
            &push.grouping,
            push.body.len() + push.body.len() / 4,
        )?;
        codec::encode(format, &push.families, &mut out)?;
        frame::finish(&mut out)?;
        Ok(out)
    }

    /// The position the next record will have: every record before it has
    /// been acknowledged.
    pub fn end(&self) -> Position {
        Position(*self.inner.shared.committed.borrow())
    }

    /// Waits until the record at `position` has been acknowledged (at once
    /// if it has). Returns `false` if the store closed first.
    pub async fn wait_for(&self, position: Position) -> bool {
        let mut committed = self.inner.shared.committed.clone();
        let reached = committed.wait_for(|&end| end > position.0).await.is_ok();
        reached
    }

    /// A reader of this store's records from the oldest kept, which ends at
    /// the last acknowledged record (call it again after [`wait_for`]
    /// for more).
    ///
    /// [`wait_for`]: FileStore::wait_for
    pub fn reader(&self) -> Reader {
        Reader::with_limit(self.inner.dir.clone(), self.inner.shared.committed.clone())
    }

    /// Keeps retention from deleting records at and after `position` for
    /// as long as the [`RetentionHold`] lives; [`RetentionHold::release_to`] moves it on.
    /// A [`Forwarder`](crate::store::Forwarder) holds the records it has
    /// not delivered yet.
    pub fn hold(&self, position: Position) -> RetentionHold {
        let at = Arc::new(std::sync::atomic::AtomicU64::new(position.0));
        self.inner.shared.hold(&at);
        RetentionHold { at }
    }

    /// Refuses further writes, lets the writer finish what is queued, sync
    /// and stop, and waits for it (on a blocking thread).
    pub async fn close(&self) {
        self.inner.shared.close();
        let thread = self
            .inner
            .thread
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }

    #[cfg(test)]
    pub(crate) fn stats(&self) -> &writer::Stats {
        &self.inner.shared.stats
    }

    #[cfg(test)]
    pub(crate) fn hold_writer(&self) -> std::sync::MutexGuard<'_, ()> {
        self.inner.shared.gate.lock().unwrap()
    }

    #[cfg(test)]
    pub(crate) fn hold_replies(&self) -> std::sync::MutexGuard<'_, ()> {
        self.inner.shared.reply_gate.lock().unwrap()
    }

    #[cfg(test)]
    pub(crate) fn fail_next_write(&self) {
        self.inner
            .shared
            .fail_next_write
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Store for FileStore {
    /// Appends `push` as one record; `Ok` once on disk per the
    /// [`SyncPolicy`]. A push whose families cannot be written in the
    /// encoder's format is [`StoreError::Invalid`]; a full disk
    /// [`StoreError::InsufficientStorage`] (507); another failed write or
    /// sync [`StoreError::Unavailable`] (503), with the segment and the
    /// OS's reason; a full queue [`StoreError::Overloaded`] (503, with a
    /// `Retry-After`).
    async fn write(&self, push: Push) -> Result<(), StoreError> {
        self.append(push).await.map(drop)
    }
}
