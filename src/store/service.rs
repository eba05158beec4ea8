//! [`StoreService`]: a [`Store`] as a `tower::Service<Push>`.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower::Service;

use super::{Push, Store, StoreError};

/// A [`Store`] as a `tower::Service<Push>`, so that tower's middleware can
/// sit in front of it: `ConcurrencyLimit` to bound writes in flight,
/// `LoadShed` to refuse (HTTP 503) rather than queue, `Buffer` to share one
/// store between tasks, `Retry` for stores that fail now and then.
///
/// Always ready. Its future is boxed (one allocation per write), since a
/// store's future has no name to put in a type. Cloning shares the store.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use pushgate::store::{MemoryStore, Push, StoreService};
/// use pushgate::Format;
/// use tower::{ServiceBuilder, ServiceExt};
///
/// let store = MemoryStore::new();
/// let service = ServiceBuilder::new()
///     .load_shed()
///     .concurrency_limit(8)
///     .service(StoreService::new(store.clone()));
/// service.oneshot(Push::new(Vec::new(), Format::Text)).await.unwrap();
/// assert_eq!(store.len(), 1);
/// # });
/// ```
pub struct StoreService<S> {
    store: Arc<S>,
}

impl<S> StoreService<S> {
    /// Writes into `store`.
    pub fn new(store: S) -> StoreService<S> {
        StoreService::from_arc(Arc::new(store))
    }

    /// Writes into a shared `store`.
    pub fn from_arc(store: Arc<S>) -> StoreService<S> {
        StoreService { store }
    }

    /// The store.
    pub fn get_ref(&self) -> &S {
        &self.store
    }

    /// The store, shared.
    pub fn into_inner(self) -> Arc<S> {
        self.store
    }
}

impl<S> Clone for StoreService<S> {
    fn clone(&self) -> StoreService<S> {
        StoreService {
            store: self.store.clone(),
        }
    }
}

impl<S> fmt::Debug for StoreService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreService").finish_non_exhaustive()
    }
}

/// The future of [`StoreService`]: the store's write, boxed.
pub type StoreFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), StoreError>> + Send + 'static>>;

impl<S: Store> Service<Push> for StoreService<S> {
    type Response = ();
    type Error = StoreError;
    type Future = StoreFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), StoreError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, push: Push) -> StoreFuture {
        let store = self.store.clone();
        Box::pin(async move { store.write(push).await })
    }
}
