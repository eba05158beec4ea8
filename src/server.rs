//! Serving a gateway (or any tower service of HTTP requests) over TCP with
//! hyper: HTTP/1.1 and HTTP/2 on one port, the client's address as a
//! [`PeerAddr`] in every request, and graceful shutdown.
//!
//! `pushgate serve` runs this loop; so can a program that embeds the
//! gateway without an HTTP framework, and tests that need a real socket.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use pushgate::gateway::PushGateway;
//! use pushgate::store::{Encoder, LogStore, MessageStore};
//! use pushgate::server::Server;
//!
//! let gateway = PushGateway::builder(LogStore::new().encoded(Encoder::default())).build().unwrap();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9091").await?;
//! let shutdown = async { tokio::signal::ctrl_c().await.ok(); };
//! Server::new(listener, gateway)
//!     .drain_timeout(std::time::Duration::from_secs(11))
//!     .run(shutdown)
//!     .await;
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::Service;

use crate::gateway::PeerAddr;
use crate::BoxError;

/// How long a client has to send a request's headers (HTTP/1).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How often an idle HTTP/2 connection is pinged, and how long the answer
/// may take before the connection is closed.
const HTTP2_KEEP_ALIVE: Duration = Duration::from_secs(60);
const HTTP2_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// How long to wait before accepting again after an error that is not about
/// one connection (out of file descriptors, say).
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Serves a service on a listener until a shutdown signal, then drains.
///
/// Each accepted connection is served by hyper-util's auto builder (HTTP/1.1
/// with keep-alive, or HTTP/2 with prior knowledge), on its own task. Every
/// request carries the peer's [`PeerAddr`] in its extensions.
///
/// When the shutdown future resolves, the listener is closed (no new
/// connection is accepted), idle connections are closed, and requests in
/// flight are answered: HTTP/1 connections close after their current
/// response, HTTP/2 connections get a `GOAWAY`. [`run`](Server::run)
/// returns when every connection is closed, or when the
/// [drain timeout](Server::drain_timeout) passes.
#[must_use]
#[derive(Debug)]
pub struct Server<S> {
    listener: TcpListener,
    service: S,
    drain_timeout: Option<Duration>,
}

/// How [`Server::run`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Shutdown {
    /// Every connection closed after the shutdown signal.
    Drained,
    /// The drain timeout passed with connections still open; they are
    /// dropped when their tasks are (with the runtime).
    TimedOut {
        /// How many connections were still open.
        open: usize,
    },
}

impl<S> Server<S> {
    /// Serves `service` on `listener`, with no limit on the drain.
    pub fn new(listener: TcpListener, service: S) -> Server<S> {
        Server {
            listener,
            service,
            drain_timeout: None,
        }
    }

    /// After the shutdown signal, waits at most `timeout` for requests in
    /// flight (for a gateway: its request timeout and a little more).
    pub fn drain_timeout(mut self, timeout: Duration) -> Server<S> {
        self.drain_timeout = Some(timeout);
        self
    }

    /// The address the listener is bound to (with the port the system
    /// picked, when bound to port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts and serves connections until `shutdown` resolves, then
    /// drains (see [`Server`]). Must run within a Tokio runtime; connection
    /// tasks are spawned on it.
    ///
    /// Errors accepting a connection are logged and do not stop the server.
    pub async fn run<B>(self, shutdown: impl Future<Output = ()>) -> Shutdown
    where
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let Server {
            listener,
            service,
            drain_timeout,
        } = self;
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .keep_alive(true)
            .header_read_timeout(HEADER_READ_TIMEOUT);
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(HTTP2_KEEP_ALIVE)
            .keep_alive_timeout(HTTP2_KEEP_ALIVE_TIMEOUT);
        let graceful = GracefulShutdown::new();
        // One clone per connection task: the strong count tells how many
        // are open.
        let open = std::sync::Arc::new(());
        let mut shutdown = pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = &mut shutdown => break,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) if is_connection_error(&error) => {
                    tracing::debug!(target: "pushgate::server", %error, "accept");
                    continue;
                }
                Err(error) => {
                    tracing::error!(
                        target: "pushgate::server",
                        %error,
                        "accepting connections failed; trying again in {}s",
                        ACCEPT_BACKOFF.as_secs()
                    );
                    tokio::select! {
                        () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                        () = &mut shutdown => break,
                    }
                }
            };
            // Responses are small and written at once: do not delay them.
            let _ = stream.set_nodelay(true);
            let service = TowerToHyperService::new(WithPeer {
                inner: service.clone(),
                peer,
            });
            let connection = builder
                .serve_connection(TokioIo::new(stream), service)
                .into_owned();
            let connection = graceful.watch(connection);
            let token = open.clone();
            tokio::spawn(async move {
                let _token = token;
                if let Err(error) = connection.await {
                    tracing::debug!(
                        target: "pushgate::server",
                        %peer,
                        error = %error,
                        "connection closed with an error"
                    );
                }
            });
        }
        drop(listener);
        tracing::debug!(
            target: "pushgate::server",
            open = graceful.count(),
            "draining connections"
        );
        let drain = graceful.shutdown();
        match drain_timeout {
            None => {
                drain.await;
                Shutdown::Drained
            }
            Some(timeout) => match tokio::time::timeout(timeout, drain).await {
                Ok(()) => Shutdown::Drained,
                Err(_) => Shutdown::TimedOut {
                    open: std::sync::Arc::strong_count(&open) - 1,
                },
            },
        }
    }
}

/// Serves `service` on `listener` until `shutdown` resolves, then waits for
/// every connection to close: [`Server::new`]`(listener, service).run(shutdown)`.
pub async fn serve<S, B>(
    listener: TcpListener,
    service: S,
    shutdown: impl Future<Output = ()>,
) -> Shutdown
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    Server::new(listener, service).run(shutdown).await
}

/// Errors that concern one connection only; accepting goes on at once.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Inserts the peer's address into each request.
#[derive(Clone)]
struct WithPeer<S> {
    inner: S,
    peer: SocketAddr,
}

impl<S> Service<Request<Incoming>> for WithPeer<S>
where
    S: Service<Request<Incoming>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Incoming>) -> S::Future {
        req.extensions_mut().insert(PeerAddr(self.peer));
        self.inner.call(req)
    }
}
