//! The writer thread: takes every queued record at once, writes them with
//! one `write`, syncs once (group commit), then answers each writer.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{oneshot, watch};

use super::{frame, segment, FileStoreError, Position, SyncPolicy};
use crate::store::StoreError;

/// How long a client is told to wait when the queue is full.
const QUEUE_FULL_RETRY: Duration = Duration::from_secs(1);

/// One record waiting for the writer.
pub(super) struct Job {
    pub(super) frame: Vec<u8>,
    pub(super) reply: oneshot::Sender<Result<Position, StoreError>>,
}

/// What the store's handles and the writer thread share.
pub(super) struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    max_queued: usize,
    /// The position after the last acknowledged record; its sender is the
    /// writer's, so it closes when the writer stops.
    pub(super) committed: watch::Receiver<u64>,
    pub(super) stats: Stats,
    /// Positions that retention must keep records from (see `RetentionHold`).
    holds: Mutex<Vec<std::sync::Weak<AtomicU64>>>,
    #[cfg(test)]
    pub(super) fail_next_write: std::sync::atomic::AtomicBool,
    /// Held by a test to keep the writer from taking records.
    #[cfg(test)]
    pub(super) gate: Mutex<()>,
    /// Held by a test to keep the writer from answering a written batch.
    #[cfg(test)]
    pub(super) reply_gate: Mutex<()>,
}

#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    bytes: usize,
    closed: bool,
}

/// Counters for tests and benchmarks.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// `fdatasync`s of segments.
    pub(crate) syncs: AtomicU64,
    /// Batches written (one `write` each, bar rotation).
    pub(crate) batches: AtomicU64,
    /// Records acknowledged.
    pub(crate) records: AtomicU64,
}

impl Shared {
    pub(super) fn new(committed: watch::Receiver<u64>, max_queued: usize) -> Shared {
        Shared {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            max_queued,
            committed,
            stats: Stats::default(),
            holds: Mutex::new(Vec::new()),
            #[cfg(test)]
            fail_next_write: Default::default(),
            #[cfg(test)]
            gate: Mutex::new(()),
            #[cfg(test)]
            reply_gate: Mutex::new(()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Each critical section leaves the queue whole; a panic elsewhere
        // does not make it unusable.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a finished frame for the writer.
    pub(super) fn enqueue(
        &self,
        frame: Vec<u8>,
    ) -> Result<oneshot::Receiver<Result<Position, StoreError>>, StoreError> {
        let (reply, rx) = oneshot::channel();
        let mut queue = self.lock();
        if queue.closed {
            return Err(StoreError::Closed);
        }
        if queue.bytes > 0 && queue.bytes + frame.len() > self.max_queued {
            return Err(StoreError::Overloaded {
                retry_after: Some(QUEUE_FULL_RETRY),
            });
        }
        queue.bytes += frame.len();
        queue.jobs.push(Job { frame, reply });
        drop(queue);
        self.wake.notify_one();
        Ok(rx)
    }

    /// Registers a hold: retention keeps every record from its position.
    pub(super) fn hold(&self, at: &Arc<AtomicU64>) {
        let mut holds = self.holds.lock().unwrap_or_else(|p| p.into_inner());
        holds.retain(|h| h.strong_count() > 0);
        holds.push(Arc::downgrade(at));
    }

    /// The lowest position held, if any hold is alive.
    fn lowest_hold(&self) -> Option<u64> {
        let mut holds = self.holds.lock().unwrap_or_else(|p| p.into_inner());
        holds.retain(|h| h.strong_count() > 0);
        holds
            .iter()
            .filter_map(|h| h.upgrade())
            .map(|at| at.load(Ordering::Acquire))
            .min()
    }

    /// Refuses new records; the writer finishes what is queued and stops.
    pub(super) fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_all();
    }
}

/// The open segment and everything the writer thread owns.
pub(super) struct Writer {
    pub(super) shared: Arc<Shared>,
    pub(super) committed: watch::Sender<u64>,
    pub(super) dir: PathBuf,
    pub(super) sync: SyncPolicy,
    pub(super) segment_size: u64,
    pub(super) retention_size: Option<u64>,
    pub(super) retention_age: Option<Duration>,
    /// Older segments, oldest first: first sequence number, path, size.
    pub(super) closed: VecDeque<(u64, PathBuf, u64)>,
    pub(super) file: File,
    pub(super) path: PathBuf,
    /// The sequence number of the open segment's first record.
    pub(super) first: u64,
    /// Bytes of acknowledged (or, if `dirty`, written) whole records.
    pub(super) len: u64,
    /// The sequence number of the next record.
    pub(super) next: u64,
    /// A write or sync failed after `len`: cut back to it before writing.
    pub(super) dirty: bool,
    /// Written since the last sync.
    pub(super) unsynced: bool,
    pub(super) last_sync: Instant,
    pub(super) buf: Vec<u8>,
    /// The directory's lock, released when the writer stops.
    pub(super) _lock: File,
}

impl Writer {
    pub(super) fn run(mut self) {
        while let Some(jobs) = self.take() {
            #[cfg(test)]
            drop(self.shared.gate.lock());
            // A write whose future was dropped before we took it is not
            // written at all (see the `Store` contract).
            let mut pending: VecDeque<Job> =
                jobs.into_iter().filter(|j| !j.reply.is_closed()).collect();
            while !pending.is_empty() {
                if self.len > 0 && self.len + pending[0].frame.len() as u64 > self.segment_size {
                    if let Err(e) = self.rotate() {
                        fail(pending.drain(..), &e);
                        break;
                    }
                }
                // As many as fit in this segment, at least one.
                let mut size = self.len;
                let mut batch = Vec::new();
                while let Some(job) = pending.front() {
                    let len = job.frame.len() as u64;
                    if !batch.is_empty() && size + len > self.segment_size {
                        break;
                    }
                    size += len;
                    batch.extend(pending.pop_front());
                }
                self.commit(batch);
            }
        }
        if self.unsynced {
            if let Err(e) = self.sync_now() {
                tracing::error!(error = %e, "file store: last sync on close failed");
            }
        }
        tracing::debug!(dir = %self.dir.display(), "file store: writer stopped");
    }

    /// Waits for records, syncing on `SyncPolicy::Every`'s interval while
    /// idle. `None` once closed and drained.
    fn take(&mut self) -> Option<Vec<Job>> {
        let shared = Arc::clone(&self.shared);
        let mut queue = shared.lock();
        loop {
            if !queue.jobs.is_empty() {
                queue.bytes = 0;
                return Some(std::mem::take(&mut queue.jobs));
            }
            if queue.closed {
                return None;
            }
            match self.sync {
                SyncPolicy::Every(interval) if self.unsynced => {
                    let due = self.last_sync + interval;
                    let now = Instant::now();
                    if now >= due {
                        drop(queue);
                        if let Err(e) = self.sync_now() {
                            tracing::error!(error = %e, "file store: interval sync failed");
                            // Try again on the next interval.
                            self.last_sync = Instant::now();
                        }
                        queue = shared.lock();
                    } else {
                        queue = shared
                            .wake
                            .wait_timeout(queue, due - now)
                            .unwrap_or_else(|p| p.into_inner())
                            .0;
                    }
                }
                _ => {
                    queue = shared.wake.wait(queue).unwrap_or_else(|p| p.into_inner());
                }
            }
        }
    }

    /// Writes `batch` to the open segment, syncs per the policy, answers.
    fn commit(&mut self, batch: Vec<Job>) {
        let first = match self.append(&batch) {
            Ok(first) => first,
            Err(e) => {
                fail(batch.into_iter(), &e);
                return;
            }
        };
        #[cfg(test)]
        drop(self.shared.reply_gate.lock());
        // Writes whose futures were dropped while we wrote (the gateway's
        // deadline passed): their clients were told nothing was stored, so
        // take the records back before any reader may see them.
        let dropped: Vec<u64> = (first..)
            .zip(&batch)
            .filter(|(_, job)| job.reply.is_closed())
            .map(|(position, _)| position)
            .collect();
        if !dropped.is_empty() {
            self.abort(&dropped);
        }
        let stats = &self.shared.stats;
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats
            .records
            .fetch_add((batch.len() - dropped.len()) as u64, Ordering::Relaxed);
        // Readers of this store may now see these records; then their
        // writers are told, so that an acknowledged record is readable.
        self.committed.send_replace(self.next);
        for (position, job) in (first..).zip(batch) {
            if dropped.contains(&position) {
                continue;
            }
            if job.reply.send(Ok(Position(position))).is_err() {
                // Dropped in the instant since we looked: stored, but the
                // client was not told so (and may push again).
                tracing::warn!(
                    segment = %self.path.display(),
                    position,
                    "file store: stored a record whose write was dropped before it was acknowledged",
                );
            }
        }
    }

    /// Appends one abort record per position, in the open segment (where
    /// the records are), synced per the policy.
    fn abort(&mut self, positions: &[u64]) {
        let now = SystemTime::now();
        let aborts: Vec<Job> = positions
            .iter()
            .map(|&p| Job {
                frame: frame::abort(now, p),
                reply: oneshot::channel().0,
            })
            .collect();
        match self.append(&aborts) {
            Ok(_) => tracing::debug!(
                segment = %self.path.display(),
                positions = ?positions,
                "file store: took back records whose writes were dropped while being written",
            ),
            Err(e) => tracing::error!(
                segment = %self.path.display(),
                positions = ?positions,
                error = %e.message,
                "file store: cannot take back records whose writes were dropped; they stay in the log unacknowledged",
            ),
        }
    }

    /// Writes `jobs` as the next records; the first one's sequence number.
    fn append(&mut self, jobs: &[Job]) -> Result<u64, Failure> {
        self.write(jobs)?;
        let first = self.next;
        self.next += jobs.len() as u64;
        self.len += self.buf.len() as u64;
        Ok(first)
    }

    fn write(&mut self, batch: &[Job]) -> Result<(), Failure> {
        if self.dirty {
            // Cut off what a failed write left, so that the log stays a
            // run of whole records.
            self.file
                .set_len(self.len)
                .and_then(|()| self.file.seek(SeekFrom::Start(self.len)).map(drop))
                .map_err(|e| Failure::new("truncating", &self.path, e))?;
            self.dirty = false;
        }
        self.buf.clear();
        for (i, job) in batch.iter().enumerate() {
            let start = self.buf.len();
            self.buf.extend_from_slice(&job.frame);
            frame::seal(&mut self.buf[start..], self.next + i as u64);
        }
        let result = self.write_buf().and_then(|()| match self.sync {
            SyncPolicy::Always => self.sync_data(),
            SyncPolicy::Every(interval) => {
                self.unsynced = true;
                if self.last_sync.elapsed() >= interval {
                    self.sync_data()
                } else {
                    Ok(())
                }
            }
            SyncPolicy::Never => {
                self.unsynced = true;
                Ok(())
            }
        });
        result.map_err(|e| {
            self.dirty = true;
            Failure::new("writing", &self.path, e)
        })
    }

    fn write_buf(&mut self) -> io::Result<()> {
        #[cfg(test)]
        if self.shared.fail_next_write.swap(false, Ordering::Relaxed) {
            // Half a batch reaches the file, as when the disk fills up.
            self.file.write_all(&self.buf[..self.buf.len() / 2])?;
            return Err(io::ErrorKind::StorageFull.into());
        }
        self.file.write_all(&self.buf)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.file.sync_data()?;
        self.shared.stats.syncs.fetch_add(1, Ordering::Relaxed);
        self.unsynced = false;
        self.last_sync = Instant::now();
        Ok(())
    }

    fn sync_now(&mut self) -> Result<(), FileStoreError> {
        self.sync_data()
            .map_err(|e| FileStoreError::io("syncing", &self.path, e))
    }

    /// Closes the open segment (synced, whatever the policy, so that only
    /// the newest segment can ever have a torn tail) and starts the next.
    fn rotate(&mut self) -> Result<(), Failure> {
        if self.dirty {
            self.file
                .set_len(self.len)
                .map_err(|e| Failure::new("truncating", &self.path, e))?;
            self.dirty = false;
        }
        if self.unsynced {
            self.sync_data()
                .map_err(|e| Failure::new("syncing", &self.path, e))?;
        }
        let (file, path) = segment::create(&self.dir, self.next).map_err(Failure::from)?;
        let old = std::mem::replace(&mut self.path, path);
        self.closed.push_back((self.first, old, self.len));
        self.first = self.next;
        self.file = file;
        self.len = 0;
        tracing::debug!(segment = %self.path.display(), "file store: new segment");
        self.retain();
        Ok(())
    }

    /// Deletes the oldest closed segments while the log is over its size
    /// or they are past their age. Never the open segment, and never one
    /// holding records a `RetentionHold` keeps (a forwarder's records not yet
    /// delivered): the log then grows until they are, and a full disk
    /// refuses pushes (507) rather than lose acknowledged ones.
    pub(super) fn retain(&mut self) {
        let now = SystemTime::now();
        let mut total = self.len + self.closed.iter().map(|s| s.2).sum::<u64>();
        let held = self.shared.lowest_hold();
        while let Some((_, path, size)) = self.closed.front() {
            // The segment ends where the next one starts.
            let end = self.closed.get(1).map_or(self.first, |s| s.0);
            if held.is_some_and(|held| held < end) {
                break;
            }
            let over_size = self.retention_size.is_some_and(|max| total > max);
            let too_old = self.retention_age.is_some_and(|age| {
                fs::metadata(path)
                    .and_then(|m| m.modified())
                    .is_ok_and(|modified| now.duration_since(modified).is_ok_and(|d| d > age))
            });
            if !over_size && !too_old {
                break;
            }
            match fs::remove_file(path) {
                Ok(()) => {
                    tracing::info!(segment = %path.display(), bytes = size, over_size, too_old, "file store: deleted old segment");
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::error!(segment = %path.display(), error = %e, "file store: cannot delete old segment");
                    break;
                }
            }
            total -= size;
            self.closed.pop_front();
        }
    }
}

/// Why a batch failed, to give each of its writers.
struct Failure {
    disk_full: bool,
    message: String,
}

impl Failure {
    fn new(what: &str, path: &std::path::Path, e: io::Error) -> Failure {
        let disk_full = e.kind() == io::ErrorKind::StorageFull;
        // The client sees this: the segment's name, not the server's paths.
        let name = std::path::Path::new(path.file_name().unwrap_or(path.as_os_str()));
        let message = if disk_full {
            format!("no space left on device {what} segment {}", name.display())
        } else {
            format!("{what} segment {}: {e}", name.display())
        };
        Failure { disk_full, message }
    }
}

impl From<FileStoreError> for Failure {
    fn from(e: FileStoreError) -> Failure {
        let disk_full = matches!(&e, FileStoreError::Io { source, .. } if source.kind() == io::ErrorKind::StorageFull);
        Failure {
            disk_full,
            message: e.to_string(),
        }
    }
}

fn fail(jobs: impl Iterator<Item = Job>, failure: &Failure) {
    tracing::error!(error = %failure.message, "file store: write failed; nothing acknowledged");
    for job in jobs {
        // Both may pass (retention or an operator frees space, a device
        // comes back); the writer cuts off what was half written and
        // takes the next batch as usual.
        let error = if failure.disk_full {
            StoreError::InsufficientStorage(failure.message.clone().into())
        } else {
            StoreError::unavailable(failure.message.clone())
        };
        let _ = job.reply.send(Err(error));
    }
}
