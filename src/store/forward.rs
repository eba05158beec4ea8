//! [`Forwarder`]: delivers a [`FileStore`]'s records to another store in
//! the background, from a position kept on disk, so that the file store is
//! a write-ahead log in front of a remote.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::file::{FileStore, FileStoreError, Position, Reader, Record, RetentionHold};
use super::{Push, Store, StoreError};

/// How often, at most, the position file is rewritten while busy.
const PERSIST_EVERY: Duration = Duration::from_millis(200);

/// Forwards the records of a [`FileStore`] to another [`Store`], in order,
/// from where it stopped last time: a write-ahead log in front of a remote.
///
/// With a forwarder, a push is acknowledged (`202`) once it is in the local
/// log, and reaches the remote later, even across restarts and remote
/// outages: the gateway answers at the speed of the disk, and a remote that
/// is down for an hour loses nothing.
///
/// * **Position.** The forwarder keeps the position of the first record it
///   has not delivered in `forward-<name>.position` in the log's directory,
///   rewritten atomically (at most every 200 ms while busy, and when
///   idle or stopped). A new forwarder (no such file) starts at the end of
///   the log: it delivers what arrives from then on.
/// * **Delivery.** Records are read in order and written to the target as
///   [`Push`]es (the families decoded from the record; method, grouping
///   key and receive time as received), up to
///   [`max_in_flight`](ForwarderBuilder::max_in_flight) at a time so that
///   a batching target (remote write) fills its batches. The position moves
///   past a record only when it and every record before it are delivered.
/// * **At least once.** After a crash, the records delivered since the
///   position was last written are delivered again. Remote write of the
///   same samples (same series, timestamps and values) is idempotent in
///   Prometheus-compatible stores.
/// * **Failures.** A target that is unavailable, overloaded, closed or
///   failing is retried with backoff (100 ms doubling to 30 s), forever: the
///   log keeps the records meanwhile ([`FileStore::hold`] keeps retention
///   from deleting them; a disk that fills up makes the gateway answer
///   `507`). A record the target refuses for good
///   ([`StoreError::Invalid`]: a `400` from the remote) is skipped with an
///   error in the log, counted in [`skipped`](Forwarder::skipped), and left
///   in the file store for `pushgate dump`.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use pushgate::model::LabelPair;
/// use pushgate::store::{FileStore, Forwarder, MemoryStore, Push, Store};
///
/// let dir = std::env::temp_dir().join(format!("pushgate-doc-forward-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// let log = FileStore::open(&dir).unwrap();
/// let remote = MemoryStore::new(); // a RemoteWriteStore, say
/// let forwarder = Forwarder::builder(&log, "remote", remote.clone()).start().unwrap();
///
/// // The gateway writes to the log; the forwarder delivers.
/// log.write(Push::delete(vec![LabelPair::new("job", "a")])).await.unwrap();
/// forwarder.wait_for(log.end()).await;
/// assert_eq!(remote.len(), 1);
/// assert_eq!(forwarder.position(), log.end());
/// forwarder.stop().await;
/// # log.close().await;
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # });
/// ```
#[derive(Debug)]
pub struct Forwarder {
    name: String,
    delivered: watch::Receiver<u64>,
    skipped: Arc<AtomicU64>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Configures a [`Forwarder`]; from [`Forwarder::builder`].
#[must_use]
pub struct ForwarderBuilder<S> {
    log: FileStore,
    name: String,
    target: S,
    max_in_flight: usize,
}

impl<S> fmt::Debug for ForwarderBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForwarderBuilder")
            .field("log", &self.log)
            .field("name", &self.name)
            .field("max_in_flight", &self.max_in_flight)
            .finish_non_exhaustive()
    }
}

impl Forwarder {
    /// A forwarder of `log`'s records to `target`. `name` tells its
    /// position file from other forwarders' of the same log: letters,
    /// digits, `-`, `_` and `.`.
    pub fn builder<S: Store>(
        log: &FileStore,
        name: impl Into<String>,
        target: S,
    ) -> ForwarderBuilder<S> {
        ForwarderBuilder {
            log: log.clone(),
            name: name.into(),
            target,
            max_in_flight: 64,
        }
    }

    /// The name given to the builder.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Every record before this position is delivered (or skipped).
    pub fn position(&self) -> Position {
        Position::new(*self.delivered.borrow())
    }

    /// Waits until every record before `position` is delivered (or
    /// skipped). Returns `false` if the forwarder stopped first.
    pub async fn wait_for(&self, position: Position) -> bool {
        let mut delivered = self.delivered.clone();
        let reached = delivered.wait_for(|&d| d >= position.get()).await.is_ok();
        reached
    }

    /// How many records the target refused for good and were skipped.
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    /// Stops forwarding: writes in flight are abandoned (they are sent
    /// again next time, from the position), the position is written, and
    /// the task ends.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

impl<S: Store> ForwarderBuilder<S> {
    /// How many records may be on their way to the target at once (64 by
    /// default, at least 1).
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// Reads (or creates) the position file and starts forwarding on the
    /// current Tokio runtime.
    pub fn start(self) -> Result<Forwarder, FileStoreError> {
        let valid = !self.name.is_empty()
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        let path = self
            .log
            .dir()
            .join(format!("forward-{}.position", self.name));
        if !valid {
            return Err(FileStoreError::Io {
                action: "naming the position file",
                path,
                source: io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a forwarder's name is letters, digits, '-', '_' and '.'",
                ),
            });
        }
        let start = match read_position(&path)? {
            Some(position) => position,
            None => {
                let end = self.log.end();
                write_position(&path, end)?;
                tracing::info!(forwarder = %self.name, position = end.get(), "forwarder: new, starting at the end of the log");
                end
            }
        };
        let hold = self.log.hold(start);
        let reader = self.log.reader().seek(start);
        let (delivered_tx, delivered) = watch::channel(start.get());
        let (stop, stop_rx) = watch::channel(false);
        let skipped = Arc::new(AtomicU64::new(0));
        let run = Run {
            log: self.log,
            name: self.name.clone(),
            target: Arc::new(self.target),
            max_in_flight: self.max_in_flight,
            path,
            hold,
            delivered: delivered_tx,
            skipped: Arc::clone(&skipped),
            stop: stop_rx,
        };
        tracing::debug!(forwarder = %self.name, position = start.get(), "forwarder: starting");
        let task = tokio::spawn(run.run(reader));
        Ok(Forwarder {
            name: self.name,
            delivered,
            skipped,
            stop,
            task,
        })
    }
}

/// The forwarding task's state.
struct Run<S> {
    log: FileStore,
    name: String,
    target: Arc<S>,
    max_in_flight: usize,
    path: PathBuf,
    hold: RetentionHold,
    delivered: watch::Sender<u64>,
    skipped: Arc<AtomicU64>,
    stop: watch::Receiver<bool>,
}

/// A write to the target, boxed: the forwarder polls its writes itself.
type Write = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send>>;

/// A record on its way to the target.
struct InFlight {
    record: Record,
    write: Write,
    /// The write's result, once it is done.
    done: Option<Result<(), StoreError>>,
}

/// Polls every write in flight, in order (so that a target that queues on
/// first poll queues in log order), until the first one is done.
struct FrontDone<'a>(&'a mut VecDeque<InFlight>);

impl Future for FrontDone<'_> {
    type Output = Result<(), StoreError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let in_flight = &mut *self.get_mut().0;
        for f in in_flight.iter_mut() {
            if f.done.is_none() {
                if let Poll::Ready(result) = f.write.as_mut().poll(cx) {
                    f.done = Some(result);
                }
            }
        }
        match in_flight.front_mut().and_then(|f| f.done.take()) {
            Some(result) => Poll::Ready(result),
            None => Poll::Pending,
        }
    }
}

impl<S: Store> Run<S> {
    async fn run(self, reader: Reader) {
        let mut reader = Some(reader);
        let mut read_to = self.hold.position();
        let mut in_flight: VecDeque<InFlight> = VecDeque::new();
        let mut persisted = (read_to, Instant::now());
        let mut failures = 0u32;
        loop {
            // Read more while there is room.
            if in_flight.len() < self.max_in_flight {
                let want = self.max_in_flight - in_flight.len();
                let mut r = reader.take().expect("the reader is put back");
                let (r, read) = tokio::task::spawn_blocking(move || {
                    let read: Result<Vec<Record>, FileStoreError> = r.by_ref().take(want).collect();
                    (r, read)
                })
                .await
                .expect("reading records does not panic");
                read_to = r.position();
                reader = Some(r);
                match read {
                    Ok(records) => {
                        for record in records {
                            let write = self.send(&record);
                            in_flight.push_back(InFlight {
                                record,
                                write,
                                done: None,
                            });
                        }
                    }
                    Err(e) => {
                        // Damage is reported again on every read, never
                        // skipped: wait for an operator.
                        failures += 1;
                        tracing::error!(forwarder = %self.name, error = %e, "forwarder: cannot read the log");
                        if self.sleep(backoff(failures)).await {
                            break;
                        }
                        continue;
                    }
                }
            }
            if in_flight.is_empty() {
                // Everything read is delivered: past any records skipped
                // over (aborted ones) too.
                self.advance(read_to, &mut persisted, true);
                let mut stop = self.stop.clone();
                tokio::select! {
                    more = self.log.wait_for(read_to) => if !more {
                        // The log closed: nothing more will come.
                        break;
                    },
                    _ = stop.wait_for(|&s| s) => break,
                }
                continue;
            }
            let mut stop = self.stop.clone();
            let result = tokio::select! {
                result = FrontDone(&mut in_flight) => result,
                _ = stop.wait_for(|&s| s) => break,
            };
            let front = in_flight.front_mut().expect("FrontDone had a front");
            let position = front.record.position;
            let outcome = match result {
                Ok(()) => None,
                Err(StoreError::Invalid(e)) => {
                    self.skipped.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(
                        forwarder = %self.name,
                        position = position.get(),
                        error = %e,
                        "forwarder: the target refused a record for good; skipped (it stays in the log)",
                    );
                    None
                }
                Err(e) => Some(e.to_string()),
            };
            if let Some(error) = outcome {
                failures += 1;
                let wait = backoff(failures);
                tracing::warn!(
                    forwarder = %self.name,
                    position = position.get(),
                    failures,
                    retry_in = ?wait,
                    %error,
                    "forwarder: delivery failed; will retry",
                );
                if self.sleep(wait).await {
                    break;
                }
                let record = front.record.clone();
                front.write = self.send(&record);
                continue;
            }
            if failures > 0 {
                tracing::info!(forwarder = %self.name, position = position.get(), "forwarder: delivering again");
                failures = 0;
            }
            in_flight.pop_front();
            self.advance(position.next(), &mut persisted, false);
        }
        // Writes in flight are dropped with `in_flight` (each store's
        // guarantee for a dropped write holds); they are sent again from
        // the position next time.
        drop(in_flight);
        let delivered = Position::new(*self.delivered.borrow());
        if delivered != persisted.0 {
            self.persist(delivered, &mut persisted);
        }
        tracing::debug!(forwarder = %self.name, position = delivered.get(), "forwarder: stopped");
    }

    /// A write of `record` to the target (not yet polled).
    fn send(&self, record: &Record) -> Write {
        let target = Arc::clone(&self.target);
        let record = record.clone();
        Box::pin(async move {
            let families = record.families().map_err(StoreError::invalid)?;
            let push = Push::new(families, record.format)
                .with_body(record.payload)
                .with_grouping(record.grouping)
                .with_method(record.method)
                .with_received(record.received);
            target.write(push).await
        })
    }

    /// Marks every record before `to` delivered; writes the position when
    /// due (or `now`).
    fn advance(&self, to: Position, persisted: &mut (Position, Instant), now: bool) {
        if to.get() > *self.delivered.borrow() {
            self.delivered.send_replace(to.get());
        }
        let due = now || persisted.1.elapsed() >= PERSIST_EVERY;
        if due && to != persisted.0 {
            self.persist(to, persisted);
        }
    }

    fn persist(&self, to: Position, persisted: &mut (Position, Instant)) {
        // Small and rare: written inline rather than on a blocking thread.
        match write_position(&self.path, to) {
            Ok(()) => {
                *persisted = (to, Instant::now());
                // Only once the position is on disk may retention delete
                // what is before it.
                self.hold.release_to(to);
            }
            Err(e) => {
                tracing::error!(forwarder = %self.name, error = %e, "forwarder: cannot write its position; records since the last one will be delivered again after a restart");
            }
        }
    }

    /// Sleeps, unless asked to stop first (`true`).
    async fn sleep(&self, duration: Duration) -> bool {
        let mut stop = self.stop.clone();
        tokio::select! {
            () = tokio::time::sleep(duration) => false,
            _ = stop.wait_for(|&s| s) => true,
        }
    }
}

/// The wait after `failures` failures in a row: 100 ms doubling to 30 s.
fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(10);
    (Duration::from_millis(100) * (1 << doublings)).min(Duration::from_secs(30))
}

fn read_position(path: &Path) -> Result<Option<Position>, FileStoreError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(FileStoreError::Io {
                action: "reading",
                path: path.to_owned(),
                source: e,
            })
        }
    };
    text.trim()
        .parse()
        .map(|p| Some(Position::new(p)))
        .map_err(|_| FileStoreError::Corrupt {
            segment: path.to_owned(),
            offset: 0,
            reason: format!("not a position: {:?}", text.trim()),
        })
}

/// Writes the position file atomically: a temporary file, synced, renamed
/// over it, and the directory synced.
fn write_position(path: &Path, position: Position) -> Result<(), FileStoreError> {
    let text = format!("{}\n", position.get());
    super::atomic::write(path, text.as_bytes()).map_err(|(action, source)| FileStoreError::Io {
        action,
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LabelPair;
    use crate::store::MemoryStore;
    use crate::{codec, Format};
    use std::sync::atomic::AtomicUsize;
    use std::sync::Mutex;

    fn push(job: &str) -> Push {
        let families = codec::decode(
            Format::Text,
            "# TYPE up gauge\nup 1\n".into(),
            &Default::default(),
        )
        .unwrap();
        Push::new(families, Format::Text).with_grouping(vec![LabelPair::new("job", job)])
    }

    fn jobs(store: &MemoryStore) -> Vec<String> {
        store
            .pushes()
            .iter()
            .map(|p| p.grouping[0].value().to_owned())
            .collect()
    }

    /// Fails the first `fail` writes as unavailable, refuses job `bad`
    /// for good, and keeps the rest.
    #[derive(Clone, Default)]
    struct Flaky {
        fail: Arc<AtomicUsize>,
        kept: MemoryStore,
        calls: Arc<Mutex<Vec<String>>>,
    }

    impl Store for Flaky {
        async fn write(&self, push: Push) -> Result<(), StoreError> {
            let job = push.grouping[0].value().to_owned();
            self.calls.lock().unwrap().push(job.clone());
            if self
                .fail
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(StoreError::unavailable("remote down"));
            }
            if job == "bad" {
                return Err(StoreError::invalid("out of order"));
            }
            self.kept.write(push).await
        }
    }

    #[tokio::test]
    async fn delivers_in_order_and_resumes_from_its_position() {
        let dir = tempfile::tempdir().unwrap();
        let log = FileStore::open(dir.path()).unwrap();
        log.write(push("before")).await.unwrap();
        let remote = MemoryStore::new();
        let forwarder = Forwarder::builder(&log, "r", remote.clone())
            .max_in_flight(3)
            .start()
            .unwrap();
        // A new forwarder starts at the end: "before" is not delivered.
        for i in 0..10 {
            log.write(push(&format!("j{i}"))).await.unwrap();
        }
        assert!(forwarder.wait_for(log.end()).await);
        let want: Vec<String> = (0..10).map(|i| format!("j{i}")).collect();
        assert_eq!(jobs(&remote), want);
        forwarder.stop().await;
        let saved = std::fs::read_to_string(dir.path().join("forward-r.position")).unwrap();
        assert_eq!(saved, "11\n");

        // Stopped, the log goes on; a new forwarder of the same name
        // delivers what it missed, and nothing twice.
        log.write(push("while-stopped")).await.unwrap();
        let forwarder = Forwarder::builder(&log, "r", remote.clone())
            .start()
            .unwrap();
        assert_eq!(forwarder.position(), Position::new(11));
        assert!(forwarder.wait_for(log.end()).await);
        assert_eq!(jobs(&remote).last().unwrap(), "while-stopped");
        assert_eq!(remote.len(), 11);
        forwarder.stop().await;
    }

    #[tokio::test]
    async fn retries_what_fails_and_skips_what_is_refused_for_good() {
        let dir = tempfile::tempdir().unwrap();
        let log = FileStore::open(dir.path()).unwrap();
        let target = Flaky::default();
        target.fail.store(3, Ordering::SeqCst);
        let forwarder = Forwarder::builder(&log, "flaky", target.clone())
            .max_in_flight(1)
            .start()
            .unwrap();
        for job in ["a", "bad", "b"] {
            log.write(push(job)).await.unwrap();
        }
        assert!(forwarder.wait_for(log.end()).await);
        assert_eq!(jobs(&target.kept), ["a", "b"]);
        assert_eq!(forwarder.skipped(), 1);
        // "a" was tried four times (three failures), the others once.
        assert_eq!(
            *target.calls.lock().unwrap(),
            ["a", "a", "a", "a", "bad", "b"]
        );
        forwarder.stop().await;
    }

    #[tokio::test]
    async fn retention_keeps_what_is_not_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let log = FileStore::builder(dir.path())
            .segment_size(200)
            .retention_size(400)
            .open()
            .unwrap();
        let target = Flaky::default();
        // Down for a long while.
        target.fail.store(usize::MAX, Ordering::SeqCst);
        let forwarder = Forwarder::builder(&log, "down", target.clone())
            .start()
            .unwrap();
        for i in 0..30 {
            log.write(push(&format!("j{i}"))).await.unwrap();
        }
        // Far over the retention size, and nothing deleted.
        let first = Reader::open(dir.path()).unwrap().next().unwrap().unwrap();
        assert_eq!(first.position, Position::START);
        // Back: everything arrives.
        target.fail.store(0, Ordering::SeqCst);
        assert!(forwarder.wait_for(log.end()).await);
        assert_eq!(target.kept.len(), 30);
        forwarder.stop().await;
    }

    #[test]
    fn bad_names_and_positions_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let _guard = rt.enter();
        let log = FileStore::open(dir.path()).unwrap();
        let err = Forwarder::builder(&log, "../x", MemoryStore::new())
            .start()
            .unwrap_err();
        assert!(err.to_string().contains("a forwarder's name is"), "{err}");
        std::fs::write(dir.path().join("forward-x.position"), "twelve\n").unwrap();
        let err = Forwarder::builder(&log, "x", MemoryStore::new())
            .start()
            .unwrap_err();
        assert!(
            err.to_string().contains(r#"not a position: "twelve""#),
            "{err}"
        );
    }

    #[test]
    fn backoff_doubles_to_a_cap() {
        assert_eq!(backoff(1), Duration::from_millis(100));
        assert_eq!(backoff(3), Duration::from_millis(400));
        assert_eq!(backoff(100), Duration::from_secs(30));
    }
}
