//! [`Push`]: the typed request that flows through the inner stages, and
//! [`Stored`], what they answer.

use std::net::SocketAddr;
use std::time::SystemTime;

use crate::format::Format;
use crate::model::{LabelPair, MetricFamily};
use crate::store::PushMethod;

/// The address of the client, for logs and [`Push::peer`].
///
/// The gateway cannot see the connection, so the server that accepts it
/// inserts this into each request's extensions:
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

/// A decoded push on its way to the store.
///
/// The [`Decode`](super::decode::Decode) stage makes one from each HTTP
/// request; [`Validate`](super::validate::Validate),
/// [`Transform`](super::transform::Transform) and
/// [`Sink`](super::sink::Sink) are `tower::Service<Push>`.
///
/// ```
/// use pushgate::gateway::Push;
/// use pushgate::model::{LabelPair, MetricFamily};
/// use pushgate::Format;
///
/// let push = Push::new(vec![MetricFamily::default()], Format::Text)
///     .with_grouping(vec![LabelPair::new("job", "batch")]);
/// assert_eq!(push.grouping.len(), 1);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Push {
    /// The families, as decoded, then as each stage leaves them.
    pub families: Vec<MetricFamily>,
    /// The format the body was received in.
    pub format: Format,
    /// The grouping key from the path, `job` first; empty for a push to a
    /// path other than `/metrics/job/...`.
    pub grouping: Vec<LabelPair>,
    /// `POST` or `PUT`.
    pub method: PushMethod,
    /// When the request arrived.
    pub received: SystemTime,
    /// Size of the body in bytes, after decompression.
    pub body_bytes: usize,
    /// The client's address, when the server gave it (see [`PeerAddr`]).
    pub peer: Option<SocketAddr>,
}

impl Push {
    /// A `POST` of `families` received now in `format`, without grouping,
    /// size or peer.
    pub fn new(families: Vec<MetricFamily>, format: Format) -> Push {
        Push {
            families,
            format,
            grouping: Vec::new(),
            method: PushMethod::Post,
            received: SystemTime::now(),
            body_bytes: 0,
            peer: None,
        }
    }

    /// Sets the grouping key.
    pub fn with_grouping(mut self, grouping: Vec<LabelPair>) -> Push {
        self.grouping = grouping;
        self
    }

    /// Sets the method.
    pub fn with_method(mut self, method: PushMethod) -> Push {
        self.method = method;
        self
    }

    /// Sets the time of receipt.
    pub fn with_received(mut self, received: SystemTime) -> Push {
        self.received = received;
        self
    }

    /// Sets the body size.
    pub fn with_body_bytes(mut self, body_bytes: usize) -> Push {
        self.body_bytes = body_bytes;
        self
    }

    /// Sets the client's address.
    pub fn with_peer(mut self, peer: Option<SocketAddr>) -> Push {
        self.peer = peer;
        self
    }

    /// The number of metrics (series) over all families.
    pub fn series(&self) -> usize {
        self.families.iter().map(|mf| mf.metric.len()).sum()
    }
}

/// What a push stored: the answer of every stage on success.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stored {
    /// Size of the message handed to the store, in bytes.
    pub bytes: usize,
    /// Number of metric families stored.
    pub families: usize,
    /// Number of metrics (series, one per `Metric`) stored.
    pub series: usize,
}

impl Stored {
    /// What was stored.
    pub fn new(bytes: usize, families: usize, series: usize) -> Stored {
        Stored {
            bytes,
            families,
            series,
        }
    }
}
