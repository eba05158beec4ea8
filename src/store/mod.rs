//! Where the gateway puts what it receives: the [`Store`] trait, the
//! [`Message`] it is given, and the stores that ship with pushgate.
//!
//! A store is the seed's `telemetry.Store` made async: the gateway encodes
//! each accepted push into one [`Message`] and awaits
//! [`Store::write_message`]. Only when that resolves `Ok` does the client get
//! its `202 Accepted`.
//!
//! | store | what it does |
//! | --- | --- |
//! | [`LogStore`] | logs each message at info level through `tracing` (the seed's `LogStore`) |
//! | [`MemoryStore`] | keeps messages in memory, in order, optionally only the last N |
//! | [`BoxStore`] | any store behind one type, to pick a store at run time |
//! | `Arc<S>` | shares a store between gateways |

mod log;
mod memory;

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::format::Format;
use crate::model::LabelPair;

pub use self::log::LogStore;
pub use self::memory::MemoryStore;

/// A boxed error, as stores and bodies report them.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// Records pushed telemetry (the seed's `telemetry.Store`, async).
///
/// # Contract
///
/// * `Ok(())` means the message is stored. Any error means it is **not**.
/// * **Dropping the future before it resolves must leave nothing stored.**
///   The gateway's timeout drops the write when the store is too slow and
///   answers `504`; a client that saw a non-2xx status must be able to push
///   again without duplicating data. A store that hands messages to a
///   background task must therefore do so only in the poll that resolves
///   the future, or undo it on drop.
/// * Say [`StoreError::Overloaded`] to shed load (the client gets `503` and a
///   `Retry-After`), [`StoreError::Closed`] when shutting down (`503`), and
///   [`StoreError::Failed`] for anything else (`500`).
///
/// ```
/// use pushgate::store::{Message, Store, StoreError};
///
/// /// Counts bytes and throws the data away.
/// #[derive(Default)]
/// struct Counting(std::sync::atomic::AtomicUsize);
///
/// impl Store for Counting {
///     async fn write_message(&self, message: Message) -> Result<(), StoreError> {
///         self.0.fetch_add(message.data.len(), std::sync::atomic::Ordering::Relaxed);
///         Ok(())
///     }
/// }
/// ```
pub trait Store: Send + Sync + 'static {
    /// Stores one message.
    fn write_message(
        &self,
        message: Message,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl<S: Store> Store for Arc<S> {
    fn write_message(
        &self,
        message: Message,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).write_message(message)
    }
}

/// How a push asked to be stored: the Pushgateway's `POST` (replace the
/// families pushed) or `PUT` (replace the whole group).
///
/// pushgate's stores receive every push as it comes; the method travels with
/// the message for stores that keep groups, as the Pushgateway does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PushMethod {
    /// `POST`: replace the pushed families within the grouping key.
    Post,
    /// `PUT`: replace everything within the grouping key.
    Put,
}

impl PushMethod {
    /// The push method of an HTTP method, if it is one.
    pub fn from_http(method: &http::Method) -> Option<PushMethod> {
        if method == http::Method::POST {
            Some(PushMethod::Post)
        } else if method == http::Method::PUT {
            Some(PushMethod::Put)
        } else {
            None
        }
    }

    /// `"POST"` or `"PUT"`.
    pub fn as_str(self) -> &'static str {
        match self {
            PushMethod::Post => "POST",
            PushMethod::Put => "PUT",
        }
    }
}

impl fmt::Display for PushMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One accepted push, encoded, on its way into a [`Store`].
///
/// ```
/// use bytes::Bytes;
/// use pushgate::model::LabelPair;
/// use pushgate::store::{Message, PushMethod};
/// use pushgate::Format;
///
/// let m = Message::new(Bytes::from_static(b"up 1\n"), Format::Text)
///     .with_grouping(vec![LabelPair::new("job", "batch")])
///     .with_method(PushMethod::Put);
/// assert_eq!(m.grouping[0].value(), "batch");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Message {
    /// The families, encoded in `format`.
    pub data: Bytes,
    /// The format of `data`.
    pub format: Format,
    /// The grouping key from the push path (`job` first), empty for a push
    /// to any other path.
    pub grouping: Vec<LabelPair>,
    /// `POST` or `PUT`.
    pub method: PushMethod,
    /// When the gateway received the request.
    pub received: SystemTime,
}

impl Message {
    /// A message of `data` in `format`, without grouping, pushed with `POST`
    /// and received now.
    pub fn new(data: Bytes, format: Format) -> Message {
        Message {
            data,
            format,
            grouping: Vec::new(),
            method: PushMethod::Post,
            received: SystemTime::now(),
        }
    }

    /// Sets the grouping key.
    pub fn with_grouping(mut self, grouping: Vec<LabelPair>) -> Message {
        self.grouping = grouping;
        self
    }

    /// Sets the push method.
    pub fn with_method(mut self, method: PushMethod) -> Message {
        self.method = method;
        self
    }

    /// Sets the time of receipt.
    pub fn with_received(mut self, received: SystemTime) -> Message {
        self.received = received;
        self
    }
}

/// Why a store did not store a message. Whatever the variant, nothing was
/// stored.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot take more now (HTTP 503, with `Retry-After` when
    /// given).
    #[error("store overloaded")]
    Overloaded {
        /// When the client may try again.
        retry_after: Option<Duration>,
    },
    /// The store is shut down (HTTP 503).
    #[error("store closed")]
    Closed,
    /// Anything else (HTTP 500).
    #[error("store failed: {0}")]
    Failed(#[source] BoxError),
}

impl StoreError {
    /// A [`StoreError::Failed`] from any error.
    pub fn failed(error: impl Into<BoxError>) -> StoreError {
        StoreError::Failed(error.into())
    }
}

/// The object-safe face of [`Store`], behind [`BoxStore`].
trait DynStore: Send + Sync + 'static {
    fn write_boxed(
        &self,
        message: Message,
    ) -> Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + '_>>;
}

impl<S: Store> DynStore for S {
    fn write_boxed(
        &self,
        message: Message,
    ) -> Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + '_>> {
        Box::pin(self.write_message(message))
    }
}

/// Any [`Store`] behind one type, for choosing a store at run time (as the
/// `pushgate serve` command line does). Cloning shares the store.
///
/// Each write costs one allocation for the boxed future.
///
/// ```
/// use pushgate::store::{BoxStore, LogStore, MemoryStore};
///
/// let memory = true;
/// let store = if memory { BoxStore::new(MemoryStore::new()) } else { BoxStore::new(LogStore::new()) };
/// # let _ = store;
/// ```
#[derive(Clone)]
pub struct BoxStore(Arc<dyn DynStore>);

impl BoxStore {
    /// Boxes `store`.
    pub fn new(store: impl Store) -> BoxStore {
        BoxStore(Arc::new(store))
    }
}

impl fmt::Debug for BoxStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoxStore").finish_non_exhaustive()
    }
}

impl Store for BoxStore {
    fn write_message(
        &self,
        message: Message,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.0.write_boxed(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn arc_and_box_stores_write_through() {
        let memory = MemoryStore::new();
        let shared = Arc::new(memory.clone());
        shared
            .write_message(Message::new(Bytes::from_static(b"a 1\n"), Format::Text))
            .await
            .unwrap();
        let boxed = BoxStore::new(memory.clone());
        boxed
            .write_message(Message::new(Bytes::from_static(b"b 1\n"), Format::Text))
            .await
            .unwrap();
        let data: Vec<_> = memory.messages().into_iter().map(|m| m.data).collect();
        assert_eq!(data, [&b"a 1\n"[..], &b"b 1\n"[..]]);
    }

    #[test]
    fn push_methods() {
        assert_eq!(
            PushMethod::from_http(&http::Method::POST),
            Some(PushMethod::Post)
        );
        assert_eq!(
            PushMethod::from_http(&http::Method::PUT),
            Some(PushMethod::Put)
        );
        assert_eq!(PushMethod::from_http(&http::Method::GET), None);
        assert_eq!(PushMethod::Put.to_string(), "PUT");
    }

    #[test]
    fn store_errors_say_what() {
        assert_eq!(
            StoreError::failed("disk full").to_string(),
            "store failed: disk full"
        );
        assert_eq!(StoreError::Closed.to_string(), "store closed");
    }
}
