//! [`Push`]: one request to the gateway, decoded, as a store sees it.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::format::Format;
use crate::grouping::PushMethod;
use crate::model::{LabelPair, MetricFamily};

/// A decoded push on its way to the store.
///
/// The gateway's [`Decode`](crate::gateway::decode::Decode) stage makes one
/// from each HTTP request; its inner stages are `tower::Service<Push>`, and
/// the innermost hands it to a [`Store`](super::Store).
///
/// ```
/// use pushgate::grouping::PushMethod;
/// use pushgate::model::LabelPair;
/// use pushgate::store::Push;
/// use pushgate::{codec, Format};
///
/// let families = codec::decode(Format::Text, "up 1\n".into(), &Default::default()).unwrap();
/// let push = Push::new(families, Format::Text)
///     .with_grouping(vec![LabelPair::new("job", "batch")])
///     .with_method(PushMethod::Put);
/// assert_eq!((push.families.len(), push.series()), (1, 1));
/// assert_eq!(push.grouping[0].value(), "batch");
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Push {
    /// The families, as decoded, then as each stage leaves them: by the
    /// time a store has them, validated, with the grouping labels set and
    /// (by default) stamped with the time of receipt. Empty for a delete.
    pub families: Vec<MetricFamily>,
    /// The format the body was received in (for a delete, which has no
    /// body, the format its `Content-Type` names, or text).
    pub format: Format,
    /// The body as received, after decompression: what `families` were
    /// decoded from, before any stage changed them. Long strings in
    /// `families` share its memory.
    pub body: Bytes,
    /// The grouping key from the path, `job` first.
    pub grouping: Vec<LabelPair>,
    /// `POST`, `PUT` or `DELETE`.
    pub method: PushMethod,
    /// When the request arrived.
    pub received: SystemTime,
    /// The client's address, when the server gave it (see
    /// [`PeerAddr`](crate::gateway::PeerAddr)).
    pub peer: Option<SocketAddr>,
    /// How long a store that keeps groups keeps this one after this push,
    /// when the client asked (the gateway's `Pushgate-TTL` header); stores
    /// that keep every push ignore it.
    pub ttl: Option<Duration>,
}

impl Push {
    /// A `POST` of `families` received now in `format`, without body,
    /// grouping or peer.
    pub fn new(families: Vec<MetricFamily>, format: Format) -> Push {
        Push {
            families,
            format,
            body: Bytes::new(),
            grouping: Vec::new(),
            method: PushMethod::Post,
            received: SystemTime::now(),
            peer: None,
            ttl: None,
        }
    }

    /// A `DELETE` of the group `grouping`, received now.
    pub fn delete(grouping: Vec<LabelPair>) -> Push {
        Push::new(Vec::new(), Format::Text)
            .with_grouping(grouping)
            .with_method(PushMethod::Delete)
    }

    /// Sets the grouping key.
    #[must_use]
    pub fn with_grouping(mut self, grouping: Vec<LabelPair>) -> Push {
        self.grouping = grouping;
        self
    }

    /// Sets the method.
    #[must_use]
    pub fn with_method(mut self, method: PushMethod) -> Push {
        self.method = method;
        self
    }

    /// Sets the time of receipt.
    #[must_use]
    pub fn with_received(mut self, received: SystemTime) -> Push {
        self.received = received;
        self
    }

    /// Sets the body as received.
    #[must_use]
    pub fn with_body(mut self, body: Bytes) -> Push {
        self.body = body;
        self
    }

    /// Sets the client's address.
    #[must_use]
    pub fn with_peer(mut self, peer: Option<SocketAddr>) -> Push {
        self.peer = peer;
        self
    }

    /// Sets how long a store that keeps groups keeps this one.
    #[must_use]
    pub fn with_ttl(mut self, ttl: Option<Duration>) -> Push {
        self.ttl = ttl;
        self
    }

    /// The number of metrics (series) over all families.
    pub fn series(&self) -> usize {
        self.families.iter().map(|mf| mf.metric.len()).sum()
    }
}
