//! A gateway over a `MemoryStore`, served on a free loopback port by
//! `pushgate::server::Server` (what `pushgate serve` runs) on a thread of
//! its own, so that a test can push to it over TCP with any client and
//! read the store directly.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::Duration;

use pushgate::gateway::{Builder, PushGateway};
use pushgate::server::{Server, Shutdown};
use pushgate::store::{MemoryStore, StoreService};

/// A running gateway; stopped (gracefully) on drop.
pub struct Gateway {
    /// Where it listens.
    pub addr: SocketAddr,
    /// What it stored.
    pub store: MemoryStore,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<Shutdown>>,
}

impl Gateway {
    /// A gateway as built by default.
    pub fn start() -> Gateway {
        Gateway::with(|b| b)
    }

    /// A gateway configured by `configure`.
    pub fn with(
        configure: impl FnOnce(Builder<StoreService<MemoryStore>>) -> Builder<StoreService<MemoryStore>>,
    ) -> Gateway {
        let store = MemoryStore::new();
        let gateway = configure(PushGateway::builder(store.clone()))
            .build()
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                Server::new(listener, gateway)
                    .drain_timeout(Duration::from_secs(5))
                    .run(async {
                        let _ = stopped.await;
                    })
                    .await
            })
        });
        Gateway {
            addr,
            store,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, drains, and says how that went.
    pub fn stop(mut self) -> Shutdown {
        self.stop_now().expect("the server thread panicked")
    }

    fn stop_now(&mut self) -> Option<Shutdown> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.thread.take().and_then(|t| t.join().ok())
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.stop_now();
    }
}
