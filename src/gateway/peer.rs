//! [`PeerAddr`]: the client's address in a request's extensions, and
//! [`PeerAddrLayer`], which fills it from what a server put there.
//!
//! The gateway cannot see the connection, so whoever accepts it says who is
//! on the other end: pushgate's [`Server`](crate::server::Server) inserts a
//! `PeerAddr` itself; with axum, `into_make_service_with_connect_info`
//! inserts its `ConnectInfo<SocketAddr>`, which [`PeerAddrLayer::from_extension`]
//! turns into a `PeerAddr`. The gateway logs it with each refusal and hands
//! it to the store.

use std::fmt;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Extensions, Request};
use tower::{Layer, Service};

/// The address of the client, for logs and [`Push::peer`](crate::store::Push::peer).
///
/// ```
/// use pushgate::gateway::PeerAddr;
///
/// let peer: std::net::SocketAddr = "192.0.2.7:50123".parse().unwrap();
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(PeerAddr(peer));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PeerAddr(pub SocketAddr);

/// Inserts a [`PeerAddr`] into each request, read from another extension
/// that the server put there. A request that already has a `PeerAddr`, or
/// lacks the extension, passes unchanged.
///
/// With axum (served with `into_make_service_with_connect_info::<SocketAddr>()`):
///
/// ```
/// use std::net::SocketAddr;
/// use axum::extract::ConnectInfo;
/// use pushgate::gateway::{PeerAddrLayer, PushGateway};
/// use pushgate::store::MemoryStore;
/// use tower::Layer;
///
/// let gateway = PushGateway::builder(MemoryStore::new()).build().unwrap();
/// let gateway = PeerAddrLayer::from_extension(|c: &ConnectInfo<SocketAddr>| c.0).layer(gateway);
/// let app: axum::Router = axum::Router::new().route_service("/metrics/job/{*key}", gateway);
/// # let _ = app;
/// ```
#[must_use]
pub struct PeerAddrLayer<F, T> {
    read: Arc<F>,
    _extension: PhantomData<fn(&T)>,
}

impl<F, T> PeerAddrLayer<F, T>
where
    F: Fn(&T) -> SocketAddr,
    T: Send + Sync + 'static,
{
    /// Reads the peer out of the extension of type `T` with `read`.
    pub fn from_extension(read: F) -> PeerAddrLayer<F, T> {
        PeerAddrLayer {
            read: Arc::new(read),
            _extension: PhantomData,
        }
    }
}

impl<F, T> Clone for PeerAddrLayer<F, T> {
    fn clone(&self) -> Self {
        PeerAddrLayer {
            read: self.read.clone(),
            _extension: PhantomData,
        }
    }
}

impl<F, T> fmt::Debug for PeerAddrLayer<F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerAddrLayer")
            .field("extension", &std::any::type_name::<T>())
            .finish_non_exhaustive()
    }
}

impl<S, F, T> Layer<S> for PeerAddrLayer<F, T> {
    type Service = SetPeerAddr<S, F, T>;
    fn layer(&self, inner: S) -> SetPeerAddr<S, F, T> {
        SetPeerAddr {
            inner,
            read: self.read.clone(),
            _extension: PhantomData,
        }
    }
}

/// The service of [`PeerAddrLayer`].
pub struct SetPeerAddr<S, F, T> {
    inner: S,
    read: Arc<F>,
    _extension: PhantomData<fn(&T)>,
}

impl<S, F, T> SetPeerAddr<S, F, T> {
    inner_accessors!();
}

impl<S: Clone, F, T> Clone for SetPeerAddr<S, F, T> {
    fn clone(&self) -> Self {
        SetPeerAddr {
            inner: self.inner.clone(),
            read: self.read.clone(),
            _extension: PhantomData,
        }
    }
}

impl<S: fmt::Debug, F, T> fmt::Debug for SetPeerAddr<S, F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetPeerAddr")
            .field("inner", &self.inner)
            .field("extension", &std::any::type_name::<T>())
            .finish_non_exhaustive()
    }
}

/// Inserts the peer read from `T`, unless there is one already.
fn set_peer<T: Send + Sync + 'static>(
    extensions: &mut Extensions,
    read: impl Fn(&T) -> SocketAddr,
) {
    if extensions.get::<PeerAddr>().is_none() {
        if let Some(addr) = extensions.get::<T>().map(read) {
            extensions.insert(PeerAddr(addr));
        }
    }
}

impl<S, F, T, B> Service<Request<B>> for SetPeerAddr<S, F, T>
where
    S: Service<Request<B>>,
    F: Fn(&T) -> SocketAddr,
    T: Send + Sync + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> S::Future {
        set_peer(req.extensions_mut(), &*self.read);
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::{service_fn, ServiceExt};

    #[derive(Clone)]
    struct Info(SocketAddr);

    #[tokio::test]
    async fn fills_the_peer_from_the_extension_unless_set() {
        let echo = service_fn(|req: Request<()>| async move {
            Ok::<_, std::convert::Infallible>(req.extensions().get::<PeerAddr>().copied())
        });
        let svc = PeerAddrLayer::from_extension(|i: &Info| i.0).layer(echo);
        let a: SocketAddr = "192.0.2.1:1".parse().unwrap();
        let b: SocketAddr = "192.0.2.2:2".parse().unwrap();

        let mut req = Request::new(());
        req.extensions_mut().insert(Info(a));
        assert_eq!(svc.clone().oneshot(req).await.unwrap(), Some(PeerAddr(a)));

        let mut req = Request::new(());
        req.extensions_mut().insert(Info(a));
        req.extensions_mut().insert(PeerAddr(b));
        assert_eq!(svc.clone().oneshot(req).await.unwrap(), Some(PeerAddr(b)));

        assert_eq!(svc.oneshot(Request::new(())).await.unwrap(), None);
    }
}
