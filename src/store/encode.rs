//! Stores of bytes: [`Message`], [`MessageStore`], and the [`Encoded`]
//! adapter that makes one a [`Store`] by encoding each push with an
//! [`Encoder`].

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::time::SystemTime;

use bytes::Bytes;

use super::{Push, Store, StoreError};
use crate::codec::{self, EncodeError};
use crate::format::Format;
use crate::grouping::PushMethod;
use crate::model::LabelPair;

/// The format a store of bytes keeps pushes in (InfluxDB telemetry's
/// `Encoder`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Encoder {
    /// Always this format; line protocol is allowed here (it is encode-only).
    Format(Format),
    /// The format each push arrived in (InfluxDB telemetry's gateway
    /// without an `Encoder`).
    Inbound,
}

impl Default for Encoder {
    /// Prometheus text, as InfluxDB telemetry's `NewPushGateway` sets it.
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

    /// `push` as a [`Message`]: its families encoded, the rest as it is.
    ///
    /// ```
    /// use pushgate::store::{Encoder, Push};
    /// use pushgate::{codec, Format};
    ///
    /// let families = codec::decode(Format::Text, "up 1\n".into(), &Default::default()).unwrap();
    /// let message = Encoder::Format(Format::Json).encode(&Push::new(families, Format::Text)).unwrap();
    /// assert_eq!(message.format, Format::Json);
    /// assert!(message.data.starts_with(b"[{\"name\":\"up\""));
    /// ```
    pub fn encode(self, push: &Push) -> Result<Message, EncodeError> {
        let format = self.format_for(push.format);
        // Text grows a little (timestamps); start near the size received.
        let mut data = Vec::with_capacity(push.body.len() + push.body.len() / 4);
        codec::encode(format, &push.families, &mut data)?;
        Ok(Message {
            data: data.into(),
            format,
            grouping: push.grouping.clone(),
            method: push.method,
            received: push.received,
            peer: push.peer,
        })
    }
}

/// One accepted push, encoded, on its way into a [`MessageStore`].
///
/// ```
/// use bytes::Bytes;
/// use pushgate::grouping::PushMethod;
/// use pushgate::model::LabelPair;
/// use pushgate::store::Message;
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
    /// The grouping key from the push path, `job` first.
    pub grouping: Vec<LabelPair>,
    /// `POST`, `PUT` or `DELETE` (which has no data).
    pub method: PushMethod,
    /// When the gateway received the request.
    pub received: SystemTime,
    /// The client's address, when the server gave it.
    pub peer: Option<SocketAddr>,
}

impl Message {
    /// A message of `data` in `format`, without grouping or peer, pushed
    /// with `POST` and received now.
    pub fn new(data: Bytes, format: Format) -> Message {
        Message {
            data,
            format,
            grouping: Vec::new(),
            method: PushMethod::Post,
            received: SystemTime::now(),
            peer: None,
        }
    }

    /// Sets the grouping key.
    #[must_use]
    pub fn with_grouping(mut self, grouping: Vec<LabelPair>) -> Message {
        self.grouping = grouping;
        self
    }

    /// Sets the push method.
    #[must_use]
    pub fn with_method(mut self, method: PushMethod) -> Message {
        self.method = method;
        self
    }

    /// Sets the time of receipt.
    #[must_use]
    pub fn with_received(mut self, received: SystemTime) -> Message {
        self.received = received;
        self
    }
}

/// Records encoded pushes: a store of bytes, such as a log. Put one behind
/// [`Encoded`] to make it a [`Store`]. The contract is [`Store`]'s.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use pushgate::store::{Encoded, Encoder, Message, MessageStore, StoreError};
/// use pushgate::Format;
///
/// /// Counts bytes and throws the data away.
/// #[derive(Default)]
/// struct Counting(AtomicUsize);
///
/// impl MessageStore for Counting {
///     async fn write_message(&self, message: Message) -> Result<(), StoreError> {
///         self.0.fetch_add(message.data.len(), Ordering::Relaxed);
///         Ok(())
///     }
/// }
///
/// let store = Encoded::new(Counting::default(), Encoder::Format(Format::Protobuf));
/// # let _ = store;
/// ```
pub trait MessageStore: Send + Sync + 'static {
    /// Stores one message.
    fn write_message(
        &self,
        message: Message,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// This store behind [`Encoded`]: a [`Store`] that encodes each push
    /// with `encoder` first.
    ///
    /// ```
    /// use pushgate::store::{Encoder, LogStore, MessageStore};
    ///
    /// let store = LogStore::new().encoded(Encoder::Inbound);
    /// assert_eq!(store.encoder(), Encoder::Inbound);
    /// ```
    fn encoded(self, encoder: Encoder) -> Encoded<Self>
    where
        Self: Sized,
    {
        Encoded::new(self, encoder)
    }
}

/// A [`MessageStore`] as a [`Store`]: each push is encoded with the
/// [`Encoder`] and written as one [`Message`]. A push that cannot be
/// written in that format is refused as [`StoreError::Invalid`] (HTTP
/// 400), before the inner store sees it.
///
/// ```
/// use pushgate::store::{Encoded, Encoder, LogStore};
/// use pushgate::Format;
///
/// // What `pushgate serve --store log --format protobuf` runs.
/// let store = Encoded::new(LogStore::new(), Encoder::Format(Format::Protobuf));
/// assert_eq!(store.encoder(), Encoder::Format(Format::Protobuf));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Encoded<S> {
    inner: S,
    encoder: Encoder,
}

impl<S> Encoded<S> {
    /// Encodes pushes with `encoder` and writes them to `inner`.
    pub fn new(inner: S, encoder: Encoder) -> Encoded<S> {
        Encoded { inner, encoder }
    }

    /// The encoder.
    pub fn encoder(&self) -> Encoder {
        self.encoder
    }

    /// The inner store.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner store, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner store, taken out.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: MessageStore> Store for Encoded<S> {
    fn write(&self, push: Push) -> impl Future<Output = Result<(), StoreError>> + Send {
        let message = self.encoder.encode(&push).map_err(StoreError::invalid);
        async move { self.inner.write_message(message?).await }
    }
}

impl fmt::Display for Encoder {
    /// The format's name, or `inbound`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Encoder::Format(format) => f.write_str(format.name()),
            Encoder::Inbound => f.write_str("inbound"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Keeps messages (an in-memory fake for these unit tests).
    #[derive(Default)]
    struct Kept(Mutex<Vec<Message>>);

    impl MessageStore for Kept {
        async fn write_message(&self, message: Message) -> Result<(), StoreError> {
            self.0.lock().unwrap().push(message);
            Ok(())
        }
    }

    fn push(text: &'static str, format: Format) -> Push {
        let body = Bytes::from_static(text.as_bytes());
        let families = codec::decode(format, body.clone(), &Default::default()).unwrap();
        Push::new(families, format)
            .with_body(body)
            .with_grouping(vec![LabelPair::new("job", "j")])
            .with_method(PushMethod::Put)
    }

    #[tokio::test]
    async fn encodes_in_the_encoders_format_and_keeps_the_rest() {
        let store = Encoded::new(Kept::default(), Encoder::Format(Format::Protobuf));
        let p = push("# TYPE up gauge\nup 1\n", Format::Text);
        store.write(p.clone()).await.unwrap();
        let m = store.get_ref().0.lock().unwrap().pop().unwrap();
        assert_eq!(m.format, Format::Protobuf);
        let back = codec::decode(Format::Protobuf, m.data, &Default::default()).unwrap();
        assert_eq!(back, p.families);
        assert_eq!(
            (m.grouping, m.method, m.received),
            (p.grouping, p.method, p.received)
        );
    }

    #[tokio::test]
    async fn inbound_keeps_the_format_received() {
        let store = Encoded::new(Kept::default(), Encoder::Inbound);
        store
            .write(push(
                "[{\"name\":\"up\",\"type\":1,\"metric\":[{\"gauge\":{\"value\":1}}]}]",
                Format::Json,
            ))
            .await
            .unwrap();
        assert_eq!(store.get_ref().0.lock().unwrap()[0].format, Format::Json);
    }

    #[tokio::test]
    async fn what_cannot_be_encoded_is_invalid_and_not_written() {
        // A counter family whose metric has no counter value.
        let mut p = push("# TYPE c counter\nc 1\n", Format::Text);
        p.families[0].metric[0].counter = None;
        let store = Encoded::new(Kept::default(), Encoder::Format(Format::Text));
        let err = store.write(p).await.unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
        assert!(
            err.to_string()
                .starts_with("pushed metrics cannot be stored: cannot encode as text"),
            "{err}"
        );
        assert!(store.get_ref().0.lock().unwrap().is_empty());
    }

    #[test]
    fn encoders_display_their_format() {
        assert_eq!(Encoder::default().to_string(), "text");
        assert_eq!(Encoder::Inbound.to_string(), "inbound");
    }
}
