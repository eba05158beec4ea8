//! Where the gateway puts what it receives: the [`Push`] a store is given,
//! the [`Store`] trait, and the stores that ship with pushgate.
//!
//! A store is InfluxDB's telemetry `Store` made async and given the decoded
//! push: its families (validated, with grouping labels and receive
//! timestamps), its grouping key, method, receive time and peer, and the
//! body as it arrived with its format. No store decodes again. Only when
//! [`Store::write`] resolves `Ok` does the client get its `202 Accepted`.
//!
//! Stores that keep bytes rather than families (a log, a file) implement
//! [`MessageStore`] and sit behind [`Encoded`], which encodes each push
//! in the format its [`Encoder`] says: InfluxDB telemetry's `Encoder`,
//! chosen per store.
//!
//! | store | what it does |
//! | --- | --- |
//! | [`MemoryStore`] | keeps pushes in memory, in order, optionally only the last N |
//! | [`LogStore`] (a [`MessageStore`]) | logs each encoded push at info level through `tracing` (InfluxDB telemetry's `LogStore`) |
//! | [`RemoteWriteStore`] (feature `remote-write`) | sends each push to a Prometheus remote write receiver (Prometheus, Mimir, Thanos, VictoriaMetrics), answering once the remote accepted it |
//! | [`InfluxStore`] (feature `influxdb`) | writes each push to InfluxDB 1.x or 2.x in line protocol, answering once InfluxDB has |
//! | [`Encoded`] | any [`MessageStore`] behind an [`Encoder`] |
//! | [`FileStore`] | a durable append-only log of pushes in segment files (the command line's default) |
//! | [`Forwarder`] | not a store: delivers a file store's records to another store in the background, from a position kept on disk (a write-ahead log in front of a remote) |
//! | [`GroupStore`] | the last push of each group, as the Prometheus Pushgateway keeps it, with consistency checks, for a scrape |
//! | [`FanOut`] | writes each push to several stores, acknowledged when all have it |
//! | [`BoxStore`] | any store behind one type, to pick a store at run time |
//! | `Arc<S>` | shares a store between gateways |
//!
//! A store is also a `tower::Service<Push>` through [`StoreService`], so
//! tower's middleware (`ConcurrencyLimit`, `LoadShed`, `Buffer`, `Retry`)
//! can sit between the gateway and the store; see
//! [`PushGateway::service_builder`](crate::gateway::PushGateway::service_builder).

mod atomic;
mod encode;
mod fan_out;
mod file;
mod forward;
mod groups;
#[cfg(feature = "influxdb")]
mod influxdb;
mod log;
mod memory;
mod push;
#[cfg(feature = "remote-write")]
mod remote_write;
mod service;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::BoxError;

pub use self::encode::{Encoded, Encoder, Message, MessageStore};
pub use self::fan_out::FanOut;
pub use self::file::{
    FileStore, FileStoreBuilder, FileStoreError, Position, Reader, Record, RetentionHold,
    SyncPolicy,
};
pub use self::forward::{Forwarder, ForwarderBuilder};
pub(crate) use self::groups::{type_name, GroupId};
pub use self::groups::{
    GroupInfo, GroupStore, GroupStoreBuilder, SnapshotError, StoredFamily, PUSH_FAILURE_TIME,
    PUSH_TIME,
};
#[cfg(feature = "influxdb")]
pub use self::influxdb::{InfluxBuildError, InfluxStore, InfluxStoreBuilder};
pub use self::log::LogStore;
pub use self::memory::MemoryStore;
pub use self::push::Push;
#[cfg(feature = "remote-write")]
pub use self::remote_write::{RemoteWriteBuildError, RemoteWriteBuilder, RemoteWriteStore};
pub use self::service::{StoreFuture, StoreService};

/// Records pushed telemetry (InfluxDB telemetry's `Store`, async, given
/// the decoded push).
///
/// # Contract
///
/// * `Ok(())` means the push is stored. Any error means it is **not**.
/// * **Dropping the future before it resolves must leave nothing stored.**
///   The gateway's deadline drops the write when the store is too slow and
///   answers `504`; a client that saw a non-2xx status must be able to push
///   again without duplicating data. A store that hands pushes to a
///   background task must therefore do so only in the poll that resolves
///   the future, or undo it on drop.
/// * A [`PushMethod::Delete`](crate::grouping::PushMethod::Delete) carries
///   no families: a store that keeps groups removes the group, an
///   append-only store records the delete.
/// * Say [`StoreError::Overloaded`] to shed load (the client gets `503` and a
///   `Retry-After`), [`StoreError::Closed`] when shutting down (`503`),
///   [`StoreError::Unavailable`] for a failure that may pass, such as a
///   remote that does not answer (`503`), [`StoreError::InsufficientStorage`]
///   when out of space (`507`), [`StoreError::Invalid`] for a push this
///   store cannot take (`400`), and [`StoreError::Failed`] for anything
///   else (`500`).
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use pushgate::store::{Push, Store, StoreError};
///
/// /// Counts series and throws the data away.
/// #[derive(Default)]
/// struct Counting(AtomicUsize);
///
/// impl Store for Counting {
///     async fn write(&self, push: Push) -> Result<(), StoreError> {
///         self.0.fetch_add(push.series(), Ordering::Relaxed);
///         Ok(())
///     }
/// }
/// ```
pub trait Store: Send + Sync + 'static {
    /// Stores one push.
    fn write(&self, push: Push) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl<S: Store> Store for Arc<S> {
    fn write(&self, push: Push) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).write(push)
    }
}

/// Why a store did not store a push. Whatever the variant, nothing was
/// stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    /// The store cannot store now for a reason that may pass: a remote
    /// that does not answer, an I/O error (HTTP 503, with `Retry-After`
    /// when given).
    #[error("store unavailable: {reason}")]
    Unavailable {
        /// What went wrong, for the client's one-line answer and the log.
        #[source]
        reason: BoxError,
        /// When the client may try again.
        retry_after: Option<Duration>,
    },
    /// The store is out of space (HTTP 507): a full disk, a quota. It
    /// takes pushes again once space is freed.
    #[error("store out of space: {0}")]
    InsufficientStorage(#[source] BoxError),
    /// The store cannot take this push, and will not take it again (HTTP
    /// 400): it cannot be written in the store's format, or it conflicts
    /// with what the store holds.
    #[error("pushed metrics cannot be stored: {0}")]
    Invalid(#[source] BoxError),
    /// The push would take the store past one of its limits, on groups or
    /// series say (HTTP 413). It is not stored; it may be once the store
    /// holds less.
    #[error("store limit reached: {0}")]
    LimitExceeded(#[source] BoxError),
    /// Anything else (HTTP 500).
    #[error("store failed: {0}")]
    Failed(#[source] BoxError),
}

impl StoreError {
    /// A [`StoreError::Failed`] from any error.
    pub fn failed(error: impl Into<BoxError>) -> StoreError {
        StoreError::Failed(error.into())
    }

    /// A [`StoreError::Invalid`] from any error.
    pub fn invalid(error: impl Into<BoxError>) -> StoreError {
        StoreError::Invalid(error.into())
    }

    /// A [`StoreError::LimitExceeded`] from any error.
    pub fn limit_exceeded(error: impl Into<BoxError>) -> StoreError {
        StoreError::LimitExceeded(error.into())
    }

    /// A [`StoreError::Unavailable`] from any error, with no `Retry-After`.
    pub fn unavailable(reason: impl Into<BoxError>) -> StoreError {
        StoreError::Unavailable {
            reason: reason.into(),
            retry_after: None,
        }
    }

    /// When the client may try again, if the store said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            StoreError::Overloaded { retry_after }
            | StoreError::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// The object-safe face of [`Store`], behind [`BoxStore`].
trait DynStore: Send + Sync + 'static {
    fn write_boxed(&self, push: Push) -> BoxWrite<'_>;
}

impl<S: Store> DynStore for S {
    fn write_boxed(&self, push: Push) -> BoxWrite<'_> {
        Box::pin(self.write(push))
    }
}

/// Any [`Store`] behind one type, for choosing a store at run time (as the
/// `pushgate serve` command line does). Cloning shares the store.
///
/// Each write costs one allocation for the boxed future.
///
/// ```
/// use pushgate::store::{BoxStore, Encoded, Encoder, LogStore, MemoryStore};
///
/// let memory = true;
/// let store = if memory {
///     BoxStore::new(MemoryStore::new())
/// } else {
///     BoxStore::new(Encoded::new(LogStore::new(), Encoder::default()))
/// };
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
    fn write(&self, push: Push) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.0.write_boxed(push)
    }
}

/// A boxed store write, as [`BoxStore`] and [`StoreService`] hold it.
type BoxWrite<'a> = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{codec, Format};

    fn push(text: &str) -> Push {
        let families = codec::decode(Format::Text, text.to_owned().into(), &Default::default());
        Push::new(families.unwrap(), Format::Text)
    }

    #[tokio::test]
    async fn arc_and_box_stores_write_through() {
        let memory = MemoryStore::new();
        let shared = Arc::new(memory.clone());
        shared.write(push("a 1\n")).await.unwrap();
        let boxed = BoxStore::new(memory.clone());
        boxed.write(push("b 1\n")).await.unwrap();
        let names: Vec<_> = memory
            .pushes()
            .iter()
            .map(|p| p.families[0].name().to_owned())
            .collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn store_errors_say_what() {
        assert_eq!(
            StoreError::failed("disk full").to_string(),
            "store failed: disk full"
        );
        assert_eq!(StoreError::Closed.to_string(), "store closed");
        let down = StoreError::Unavailable {
            reason: "remote write to http://tsdb: connection refused".into(),
            retry_after: Some(Duration::from_secs(2)),
        };
        assert_eq!(
            down.to_string(),
            "store unavailable: remote write to http://tsdb: connection refused"
        );
        assert_eq!(down.retry_after(), Some(Duration::from_secs(2)));
        assert_eq!(
            StoreError::InsufficientStorage("no space left on device".into()).to_string(),
            "store out of space: no space left on device"
        );
        assert_eq!(
            StoreError::invalid("type clash").to_string(),
            "pushed metrics cannot be stored: type clash"
        );
    }
}
