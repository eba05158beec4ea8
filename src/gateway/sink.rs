//! Service: encode each push and hand it to the [`Store`]; what the
//! innermost stage answers.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower::Service;

use super::{GatewayError, Push, Stored};
use crate::codec;
use crate::format::Format;
use crate::store::{Message, Store};

/// The format a gateway stores pushes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoder {
    /// Always this format; line protocol is allowed here (it is encode-only).
    Format(Format),
    /// The format each push arrived in (the seed's gateway without an
    /// `Encoder`).
    Inbound,
}

impl Default for Encoder {
    /// Prometheus text, as the seed's `NewPushGateway` sets it.
    fn default() -> Encoder {
        Encoder::Format(Format::Text)
    }
}

impl Encoder {
    /// The format a push received in `inbound` is stored in.
    pub fn format_for(self, inbound: Format) -> Format {
        match self {
            Encoder::Format(f) => f,
            Encoder::Inbound => inbound,
        }
    }
}

/// The innermost stage: encodes the push with its [`Encoder`], builds a
/// [`Message`] and awaits [`Store::write_message`].
///
/// Always ready. Its future is boxed (one allocation per push), since a
/// store's future has no name to put in a type.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use pushgate::gateway::sink::{Encoder, Sink};
/// use pushgate::gateway::Push;
/// use pushgate::store::MemoryStore;
/// use pushgate::{codec, Format};
/// use tower::ServiceExt;
///
/// let store = MemoryStore::new();
/// let families = codec::decode(Format::Text, "up 1\n".into(), &Default::default()).unwrap();
/// let sink = Sink::new(store.clone(), Encoder::Format(Format::Json));
/// let stored = sink.oneshot(Push::new(families, Format::Text)).await.unwrap();
/// assert_eq!((stored.families, stored.series), (1, 1));
/// assert_eq!(store.messages()[0].format, Format::Json);
/// # });
/// ```
pub struct Sink<S> {
    store: Arc<S>,
    encoder: Encoder,
}

impl<S> Sink<S> {
    /// Stores into `store`, in the format `encoder` says.
    pub fn new(store: S, encoder: Encoder) -> Sink<S> {
        Sink::from_arc(Arc::new(store), encoder)
    }

    /// Stores into a shared `store`.
    pub fn from_arc(store: Arc<S>, encoder: Encoder) -> Sink<S> {
        Sink { store, encoder }
    }

    /// The store.
    pub fn store(&self) -> &Arc<S> {
        &self.store
    }
}

impl<S> Clone for Sink<S> {
    fn clone(&self) -> Sink<S> {
        Sink {
            store: self.store.clone(),
            encoder: self.encoder,
        }
    }
}

impl<S> fmt::Debug for Sink<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sink")
            .field("encoder", &self.encoder)
            .finish_non_exhaustive()
    }
}

/// The future of [`Sink`].
pub type SinkFuture = Pin<Box<dyn Future<Output = Result<Stored, GatewayError>> + Send>>;

impl<S: Store> Service<Push> for Sink<S> {
    type Response = Stored;
    type Error = GatewayError;
    type Future = SinkFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), GatewayError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, push: Push) -> SinkFuture {
        let format = self.encoder.format_for(push.format);
        // Text grows a little (timestamps); start near the size received.
        let mut data = Vec::with_capacity(push.body_bytes + push.body_bytes / 4);
        if let Err(e) = codec::encode(format, &push.families, &mut data) {
            return Box::pin(std::future::ready(Err(GatewayError::Encode(e))));
        }
        let stored = Stored::new(data.len(), push.families.len(), push.series());
        let message = Message::new(data.into(), format)
            .with_grouping(push.grouping)
            .with_method(push.method)
            .with_received(push.received);
        let store = self.store.clone();
        Box::pin(async move {
            store.write_message(message).await?;
            Ok(stored)
        })
    }
}
