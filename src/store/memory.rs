//! [`MemoryStore`]: messages kept in memory, for tests, embedding and
//! benchmarks.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Message, Store, StoreError};

/// Keeps every message written, in order; with
/// [`with_capacity_limit`](MemoryStore::with_capacity_limit), only the last
/// N. Clones share the same messages.
///
/// A write takes effect when its future is polled, all at once, so a write
/// dropped before it was polled stores nothing (see [`Store`]).
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use bytes::Bytes;
/// use pushgate::store::{MemoryStore, Message, Store};
/// use pushgate::Format;
///
/// let store = MemoryStore::with_capacity_limit(2);
/// for data in ["a 1\n", "b 1\n", "c 1\n"] {
///     store.write_message(Message::new(Bytes::from(data), Format::Text)).await.unwrap();
/// }
/// let kept: Vec<_> = store.messages().into_iter().map(|m| m.data).collect();
/// assert_eq!(kept, ["b 1\n", "c 1\n"]);
/// # });
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    messages: VecDeque<Message>,
    limit: Option<usize>,
}

impl MemoryStore {
    /// A store that keeps every message.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// A store that keeps only the last `limit` messages (none if `limit`
    /// is 0).
    pub fn with_capacity_limit(limit: usize) -> MemoryStore {
        MemoryStore {
            inner: Arc::new(Mutex::new(Inner {
                messages: VecDeque::new(),
                limit: Some(limit),
            })),
        }
    }

    /// A snapshot of the messages kept, oldest first. Cheap: message data is
    /// shared, not copied.
    pub fn messages(&self) -> Vec<Message> {
        self.lock().messages.iter().cloned().collect()
    }

    /// How many messages are kept.
    pub fn len(&self) -> usize {
        self.lock().messages.len()
    }

    /// Whether no message is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes and returns every message kept, oldest first.
    pub fn take(&self) -> Vec<Message> {
        self.lock().messages.drain(..).collect()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock cannot leave the queue
        // half-updated (each operation is one push or pop), so go on.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn push(&self, message: Message) {
        let mut inner = self.lock();
        match inner.limit {
            Some(0) => {}
            Some(limit) => {
                while inner.messages.len() >= limit {
                    inner.messages.pop_front();
                }
                inner.messages.push_back(message);
            }
            None => inner.messages.push_back(message),
        }
    }
}

impl Store for MemoryStore {
    async fn write_message(&self, message: Message) -> Result<(), StoreError> {
        self.push(message);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Format;
    use bytes::Bytes;

    fn message(data: &'static str) -> Message {
        Message::new(Bytes::from_static(data.as_bytes()), Format::Text)
    }

    #[tokio::test]
    async fn keeps_messages_in_order() {
        let store = MemoryStore::new();
        assert!(store.is_empty());
        for d in ["a\n", "b\n", "c\n"] {
            store.write_message(message(d)).await.unwrap();
        }
        let data: Vec<_> = store.messages().into_iter().map(|m| m.data).collect();
        assert_eq!(data, ["a\n", "b\n", "c\n"]);
        assert_eq!(store.len(), 3);
        assert_eq!(store.take().len(), 3);
        assert!(store.is_empty());
    }

    #[tokio::test]
    async fn capacity_limit_keeps_the_last() {
        let store = MemoryStore::with_capacity_limit(1);
        store.write_message(message("a\n")).await.unwrap();
        store.write_message(message("b\n")).await.unwrap();
        assert_eq!(store.messages()[0].data, "b\n");
        let none = MemoryStore::with_capacity_limit(0);
        none.write_message(message("a\n")).await.unwrap();
        assert!(none.is_empty());
    }

    #[tokio::test]
    async fn a_write_dropped_unpolled_stores_nothing() {
        let store = MemoryStore::new();
        drop(store.write_message(message("a\n")));
        assert!(store.is_empty());
    }

    #[test]
    fn clones_share() {
        let a = MemoryStore::new();
        let b = a.clone();
        b.push(message("x\n"));
        assert_eq!(a.len(), 1);
    }
}
