//! The write queue and its batcher: writes wait here, are gathered into
//! requests, sent, and answered.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{oneshot, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::proto::TimeSeries;
use super::send::{self, SendError, Sender};
use crate::store::StoreError;

/// How long a client is asked to wait when the queue is full.
pub(super) const OVERLOADED_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The queue's limits.
#[derive(Clone, Copy, Debug)]
pub(super) struct Limits {
    pub(super) max_samples_per_send: usize,
    pub(super) batch_delay: Duration,
    pub(super) max_queued_samples: usize,
    pub(super) max_in_flight: usize,
}

/// Writes waiting for the batcher, shared by the store's handles and the
/// batcher task.
#[derive(Debug)]
pub(super) struct Queue {
    state: Mutex<State>,
    /// Wakes the batcher: a write arrived, or the queue closed.
    wake: Notify,
    /// Samples of the writes not yet answered, queued or in flight: what
    /// the queue bound counts.
    held: Arc<AtomicUsize>,
    limits: Limits,
}

#[derive(Debug, Default)]
struct State {
    pending: VecDeque<Pending>,
    /// Samples in `pending`.
    pending_samples: usize,
    closed: bool,
}

/// One write: its series and where its answer goes.
#[derive(Debug)]
pub(super) struct Pending {
    series: Vec<TimeSeries>,
    enqueued: Instant,
    /// `None` once answered.
    answer: Option<oneshot::Sender<Result<(), StoreError>>>,
    /// Gives the samples back to the queue bound when answered or dropped.
    held: Arc<AtomicUsize>,
}

impl Pending {
    fn samples(&self) -> usize {
        // One sample or one histogram per series.
        self.series.len()
    }

    /// Whether the write's future was dropped: then it must store nothing.
    fn abandoned(&self) -> bool {
        self.answer.as_ref().is_none_or(|a| a.is_closed())
    }

    fn answer(mut self, result: Result<(), StoreError>) {
        let answer = self.answer.take();
        // Released before answering, so that the writer's next write
        // finds room.
        drop(self);
        if let Some(answer) = answer {
            // The write may have been dropped meanwhile; it no longer cares.
            let _ = answer.send(result);
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.held.fetch_sub(self.series.len(), Ordering::AcqRel);
    }
}

impl Queue {
    pub(super) fn new(limits: Limits) -> Queue {
        Queue {
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            held: Arc::new(AtomicUsize::new(0)),
            limits,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No code panics while holding the lock; a poisoned one is as good.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a write of at least `samples` would be refused now: checked
    /// before converting a push, so that a full queue sheds load cheaply
    /// (the write itself checks again, exactly).
    pub(super) fn surely_full(&self, samples: usize) -> bool {
        let over =
            |held: usize| held > 0 && held.saturating_add(samples) > self.limits.max_queued_samples;
        if !over(self.held()) {
            return false;
        }
        let mut state = self.lock();
        Self::drop_abandoned(&mut state);
        over(self.held())
    }

    /// Drops the writes already given up (a gateway deadline passed while
    /// the remote was slow), so that they do not keep the room from others.
    fn drop_abandoned(state: &mut State) {
        state.pending.retain(|w| !w.abandoned());
        state.pending_samples = state.pending.iter().map(Pending::samples).sum();
    }

    /// Samples queued or in flight.
    pub(super) fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }

    /// Queues `series` and waits for the remote's answer. Full: refused at
    /// once, nothing queued. A write larger than the whole bound is taken
    /// only into an empty queue, so that it is not refused forever.
    pub(super) async fn write(&self, series: Vec<TimeSeries>) -> Result<(), StoreError> {
        let samples = series.len();
        let answer = {
            let mut state = self.lock();
            if state.closed {
                return Err(StoreError::Closed);
            }
            let mut held = self.held();
            if held.saturating_add(samples) > self.limits.max_queued_samples {
                Self::drop_abandoned(&mut state);
                held = self.held();
            }
            if held > 0 && held.saturating_add(samples) > self.limits.max_queued_samples {
                return Err(StoreError::Overloaded {
                    retry_after: Some(OVERLOADED_RETRY_AFTER),
                });
            }
            self.held.fetch_add(samples, Ordering::AcqRel);
            let (tx, rx) = oneshot::channel();
            state.pending_samples += samples;
            state.pending.push_back(Pending {
                series,
                enqueued: Instant::now(),
                answer: Some(tx),
                held: self.held.clone(),
            });
            rx
        };
        self.wake.notify_one();
        // Dropping this future drops `answer`'s receiver: the batcher sees
        // it closed and leaves the write out of any request not yet sent.
        answer
            .await
            .unwrap_or_else(|_| Err(StoreError::failed("the remote write batcher stopped")))
    }

    /// Takes no more writes; the batcher sends what is queued, then stops.
    pub(super) fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_one();
    }

    pub(super) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Takes writes from the front up to `max_samples_per_send` samples (at
    /// least one write, whatever its size: a write is never split),
    /// answering none of the abandoned ones.
    fn take(&self) -> Vec<Pending> {
        let max = self.limits.max_samples_per_send;
        let mut state = self.lock();
        let mut batch = Vec::new();
        let mut samples = 0;
        while let Some(front) = state.pending.front() {
            let n = front.samples();
            if !front.abandoned() && !batch.is_empty() && samples + n > max {
                break;
            }
            state.pending_samples -= n;
            let write = state.pending.pop_front().expect("front exists");
            if write.abandoned() {
                continue;
            }
            samples += n;
            batch.push(write);
        }
        batch
    }

    /// Waits for a batch to be due: a full one, the batch delay since the
    /// oldest write, or the queue closed. `false` when closed and empty:
    /// the batcher is done.
    async fn due(&self) -> bool {
        let oldest = loop {
            let notified = self.wake.notified();
            {
                let state = self.lock();
                if let Some(front) = state.pending.front() {
                    break front.enqueued;
                }
                if state.closed {
                    return false;
                }
            }
            notified.await;
        };
        let at = oldest + self.limits.batch_delay;
        loop {
            let notified = self.wake.notified();
            {
                let state = self.lock();
                if state.closed || state.pending_samples >= self.limits.max_samples_per_send {
                    return true;
                }
            }
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep_until(at) => return true,
            }
        }
    }
}

/// The batcher: gathers due writes into requests, at most
/// `max_in_flight` at once, until the queue is closed and drained.
pub(super) async fn run(queue: Arc<Queue>, sender: Arc<Sender>) {
    let max_in_flight = queue.limits.max_in_flight.max(1);
    let slots = Arc::new(Semaphore::new(max_in_flight));
    while queue.due().await {
        // A slot before taking the batch: while every request is in
        // flight, writes keep gathering into a bigger next one.
        let slot = slots
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let batch = queue.take();
        if batch.is_empty() {
            continue;
        }
        tokio::spawn(send_batch(sender.clone(), batch, slot));
    }
    // Drained: wait for the requests in flight to be answered.
    let all = u32::try_from(max_in_flight).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
    tracing::debug!(url = %sender.url, "remote write batcher stopped");
}

/// Sends one batch and answers its writes. A content refusal of a batch
/// of several writes is retried one write per request, so that one bad
/// push cannot fail the others (the receiver rolls back a whole request).
async fn send_batch(sender: Arc<Sender>, batch: Vec<Pending>, _slot: OwnedSemaphorePermit) {
    let deadline = Instant::now() + sender.retry_for;
    let samples: usize = batch.iter().map(Pending::samples).sum();
    tracing::debug!(url = %sender.url, writes = batch.len(), samples, "sending remote write batch");
    let body = send::encode(batch.iter().flat_map(|w| &w.series));
    let error = match sender.send(body, deadline).await {
        Ok(()) => {
            tracing::debug!(url = %sender.url, writes = batch.len(), samples, "remote write accepted");
            return batch.into_iter().for_each(|w| w.answer(Ok(())));
        }
        Err(error) => error,
    };
    if batch.len() > 1 && error.is_content_refusal() {
        tracing::warn!(url = %sender.url, %error, writes = batch.len(), "remote write refused; sending each write alone");
        for write in batch {
            if write.abandoned() {
                continue;
            }
            let body = send::encode(write.series.iter());
            let result = sender.send(body, deadline).await;
            if let Err(error) = &result {
                log_failure(&sender, error, 1, write.samples());
            }
            write.answer(result.map_err(|e| e.to_store_error(&sender.url)));
        }
        return;
    }
    log_failure(&sender, &error, batch.len(), samples);
    for write in batch {
        write.answer(Err(error.to_store_error(&sender.url)));
    }
}

fn log_failure(sender: &Sender, error: &SendError, writes: usize, samples: usize) {
    tracing::error!(url = %sender.url, %error, writes, samples, "remote write failed; giving up");
}
