//! [`FanOut`]: one push to several stores, acknowledged when all have it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{BoxStore, BoxWrite, Push, Store, StoreError};

/// Writes each push to every one of its stores at once; `Ok` only when all
/// of them answered `Ok`.
///
/// When some store fails, the push is refused with the error of the first
/// store (in the order added) that failed, and the failure is logged with
/// that store's name. The stores that succeeded keep what they stored: a
/// fan-out of independent stores cannot take a write back, so a client that
/// pushes again after the refusal has its push twice in those stores.
/// Where that matters, put a [`FileStore`](super::FileStore) first and
/// deliver to the others with a [`Forwarder`](super::Forwarder) each: the
/// push is then acknowledged once it is in the log, and each target gets it
/// on its own schedule.
///
/// Dropping the write drops every store's write with it (each store's own
/// guarantee for a dropped write holds).
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use pushgate::store::{FanOut, MemoryStore, Push, Store};
/// use pushgate::{codec, Format};
///
/// let (a, b) = (MemoryStore::new(), MemoryStore::new());
/// let both = FanOut::new().store("a", a.clone()).store("b", b.clone());
/// let families = codec::decode(Format::Text, "up 1\n".into(), &Default::default()).unwrap();
/// both.write(Push::new(families, Format::Text)).await.unwrap();
/// assert_eq!((a.len(), b.len()), (1, 1));
/// # });
/// ```
#[derive(Clone, Default)]
#[must_use]
pub struct FanOut {
    stores: Vec<(String, BoxStore)>,
}

impl fmt::Debug for FanOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FanOut")
            .field("stores", &self.names().collect::<Vec<_>>())
            .finish()
    }
}

impl FanOut {
    /// A fan-out to no store yet (which stores everything at once).
    pub fn new() -> FanOut {
        FanOut::default()
    }

    /// Adds `store`, named `name` in logs.
    pub fn store(mut self, name: impl Into<String>, store: impl Store) -> FanOut {
        self.stores.push((name.into(), BoxStore::new(store)));
        self
    }

    /// The stores' names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.stores.iter().map(|(name, _)| name.as_str())
    }

    /// How many stores there are.
    pub fn len(&self) -> usize {
        self.stores.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.stores.is_empty()
    }
}

impl Store for FanOut {
    fn write(&self, push: Push) -> impl Future<Output = Result<(), StoreError>> + Send {
        let mut writes: Vec<Slot<'_>> = Vec::with_capacity(self.stores.len());
        // The last store takes the push itself: one clone fewer.
        let mut push = Some(push);
        for (i, (_, store)) in self.stores.iter().enumerate() {
            let push = if i + 1 == self.stores.len() {
                push.take().expect("taken only by the last")
            } else {
                push.as_ref().expect("taken only by the last").clone()
            };
            writes.push(Slot::Writing(store.0.write_boxed(push)));
        }
        JoinAll {
            stores: &self.stores,
            writes,
        }
    }
}

/// One store's write in a [`JoinAll`].
enum Slot<'a> {
    Writing(BoxWrite<'a>),
    Done(Result<(), StoreError>),
}

/// Polls every store's write until all are done.
struct JoinAll<'a> {
    stores: &'a [(String, BoxStore)],
    writes: Vec<Slot<'a>>,
}

impl Future for JoinAll<'_> {
    type Output = Result<(), StoreError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Every field is Unpin (the writes are boxed).
        let this = self.get_mut();
        let mut pending = false;
        for slot in &mut this.writes {
            if let Slot::Writing(write) = slot {
                match write.as_mut().poll(cx) {
                    Poll::Ready(result) => *slot = Slot::Done(result),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            return Poll::Pending;
        }
        let mut first = None;
        for (slot, (name, _)) in this.writes.drain(..).zip(this.stores) {
            if let Slot::Done(Err(error)) = slot {
                tracing::warn!(store = %name, %error, "fan-out: a store refused the push");
                first.get_or_insert(error);
            }
        }
        Poll::Ready(first.map_or(Ok(()), Err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;
    use crate::{codec, Format};

    fn push() -> Push {
        let families = codec::decode(Format::Text, "up 1\n".into(), &Default::default()).unwrap();
        Push::new(families, Format::Text)
    }

    struct Refusing;

    impl Store for Refusing {
        async fn write(&self, _push: Push) -> Result<(), StoreError> {
            Err(StoreError::unavailable("remote down"))
        }
    }

    struct Never;

    impl Store for Never {
        async fn write(&self, _push: Push) -> Result<(), StoreError> {
            std::future::pending().await
        }
    }

    #[tokio::test]
    async fn every_store_gets_the_push() {
        let stores: Vec<MemoryStore> = (0..3).map(|_| MemoryStore::new()).collect();
        let fan = stores.iter().enumerate().fold(FanOut::new(), |f, (i, s)| {
            f.store(format!("m{i}"), s.clone())
        });
        assert_eq!(fan.names().collect::<Vec<_>>(), ["m0", "m1", "m2"]);
        fan.write(push()).await.unwrap();
        for s in &stores {
            assert_eq!(s.pushes()[0].families, push().families);
        }
        // None at all: stored at once.
        FanOut::new().write(push()).await.unwrap();
    }

    #[tokio::test]
    async fn one_failure_refuses_the_push_and_waits_for_the_others() {
        let kept = MemoryStore::new();
        let fan = FanOut::new()
            .store("memory", kept.clone())
            .store("remote", Refusing);
        let err = fan.write(push()).await.unwrap_err();
        assert_eq!(err.to_string(), "store unavailable: remote down");
        // The other store kept it: documented, not undone.
        assert_eq!(kept.len(), 1);
    }

    #[tokio::test]
    async fn a_slow_store_holds_the_answer_and_dropping_drops_all() {
        let fan = FanOut::new()
            .store("m", MemoryStore::new())
            .store("never", Never);
        let timed_out =
            tokio::time::timeout(std::time::Duration::from_millis(20), fan.write(push())).await;
        assert!(timed_out.is_err());
    }
}
