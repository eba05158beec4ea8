//! [`MemoryStore`]: pushes kept in memory, for tests, embedding and
//! benchmarks.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Push, Store, StoreError};

/// Keeps every push written, decoded, in order; with
/// [`with_capacity_limit`](MemoryStore::with_capacity_limit), only the last
/// N. Clones share the same pushes. Nothing is encoded: what is kept is the
/// [`Push`] the gateway hands over (its families share the request body's
/// memory).
///
/// A write takes effect when its future is polled, all at once, so a write
/// dropped before it was polled stores nothing (see [`Store`]).
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use pushgate::store::{MemoryStore, Push, Store};
/// use pushgate::{codec, Format};
///
/// let store = MemoryStore::with_capacity_limit(2);
/// for text in ["a 1\n", "b 1\n", "c 1\n"] {
///     let families = codec::decode(Format::Text, text.into(), &Default::default()).unwrap();
///     store.write(Push::new(families, Format::Text)).await.unwrap();
/// }
/// let kept: Vec<_> = store.pushes().iter().map(|p| p.families[0].name().to_owned()).collect();
/// assert_eq!(kept, ["b", "c"]);
/// # });
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    pushes: VecDeque<Push>,
    limit: Option<usize>,
}

impl MemoryStore {
    /// A store that keeps every push.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// A store that keeps only the last `limit` pushes (none if `limit` is
    /// 0).
    pub fn with_capacity_limit(limit: usize) -> MemoryStore {
        MemoryStore {
            inner: Arc::new(Mutex::new(Inner {
                pushes: VecDeque::new(),
                limit: Some(limit),
            })),
        }
    }

    /// A snapshot of the pushes kept, oldest first. Cheap where the
    /// families are: long strings share the request bodies' memory.
    pub fn pushes(&self) -> Vec<Push> {
        self.lock().pushes.iter().cloned().collect()
    }

    /// How many pushes are kept.
    pub fn len(&self) -> usize {
        self.lock().pushes.len()
    }

    /// Whether no push is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes and returns every push kept, oldest first.
    pub fn take(&self) -> Vec<Push> {
        self.lock().pushes.drain(..).collect()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock cannot leave the queue
        // half-updated (each operation is one push or pop), so go on.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn keep(&self, push: Push) {
        let mut inner = self.lock();
        match inner.limit {
            Some(0) => {}
            Some(limit) => {
                while inner.pushes.len() >= limit {
                    inner.pushes.pop_front();
                }
                inner.pushes.push_back(push);
            }
            None => inner.pushes.push_back(push),
        }
    }
}

impl Store for MemoryStore {
    async fn write(&self, push: Push) -> Result<(), StoreError> {
        self.keep(push);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MetricFamily;
    use crate::Format;

    fn push(name: &str) -> Push {
        let family = MetricFamily {
            name: Some(name.into()),
            ..Default::default()
        };
        Push::new(vec![family], Format::Text)
    }

    fn names(pushes: &[Push]) -> Vec<&str> {
        pushes.iter().map(|p| p.families[0].name()).collect()
    }

    #[tokio::test]
    async fn keeps_pushes_in_order() {
        let store = MemoryStore::new();
        assert!(store.is_empty());
        for n in ["a", "b", "c"] {
            store.write(push(n)).await.unwrap();
        }
        assert_eq!(names(&store.pushes()), ["a", "b", "c"]);
        assert_eq!(store.len(), 3);
        assert_eq!(store.take().len(), 3);
        assert!(store.is_empty());
    }

    #[tokio::test]
    async fn capacity_limit_keeps_the_last() {
        let store = MemoryStore::with_capacity_limit(1);
        store.write(push("a")).await.unwrap();
        store.write(push("b")).await.unwrap();
        assert_eq!(names(&store.pushes()), ["b"]);
        let none = MemoryStore::with_capacity_limit(0);
        none.write(push("a")).await.unwrap();
        assert!(none.is_empty());
    }

    #[tokio::test]
    async fn a_write_dropped_unpolled_stores_nothing() {
        let store = MemoryStore::new();
        drop(store.write(push("a")));
        assert!(store.is_empty());
    }

    #[test]
    fn clones_share() {
        let a = MemoryStore::new();
        let b = a.clone();
        b.keep(push("x"));
        assert_eq!(a.len(), 1);
    }
}
