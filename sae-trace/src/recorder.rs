//! [`Recorder`]: where the calls of one traced service record when they finish.
//!
//! One per service a layer wraps (shared by its clones and its calls through
//! one `Arc`): the telemetry, which side ([`Side`]) and protocol ([`Kind`]),
//! the topology edge of a client, and the duration histogram's first bound
//! attribute sets, so a finished call costs one reference count, no lock and
//! no map lookup.
//!
//! The dependency runs one way: [`crate::call`] records through a
//! `Recorder`; nothing here knows about calls.

use std::sync::Arc;

use opentelemetry::KeyValue;

use crate::metrics::{BoundCache, DurationHistogram};
use crate::telemetry::Inner;
use crate::topology::EdgeStats;

/// Which side of a call a layer traces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Server,
    Client,
}

/// The protocol of the traced calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Http,
    Grpc,
}

pub(crate) struct Recorder {
    pub(crate) telemetry: Arc<Inner>,
    pub(crate) side: Side,
    pub(crate) kind: Kind,
    /// The topology edge caller → callee (client side only).
    pub(crate) edge: Option<Arc<EdgeStats>>,
    bound: BoundCache,
}

impl Recorder {
    pub(crate) fn new(
        telemetry: Arc<Inner>,
        side: Side,
        kind: Kind,
        edge: Option<Arc<EdgeStats>>,
    ) -> Self {
        Recorder {
            telemetry,
            side,
            kind,
            edge,
            bound: BoundCache::default(),
        }
    }

    /// One duration sample on the attribute set named by `key`; `attributes`
    /// builds it the first time the key is seen.
    pub(crate) fn record_duration(
        &self,
        seconds: f64,
        key: u64,
        attributes: impl FnOnce() -> Vec<KeyValue>,
    ) {
        self.histogram()
            .record(&self.bound, seconds, key, attributes);
    }

    fn histogram(&self) -> &DurationHistogram {
        let instruments = &self.telemetry.instruments;
        match (self.kind, self.side) {
            (Kind::Http, Side::Server) => &instruments.http_server,
            (Kind::Http, Side::Client) => &instruments.http_client,
            (Kind::Grpc, Side::Server) => &instruments.rpc_server,
            (Kind::Grpc, Side::Client) => &instruments.rpc_client,
        }
    }
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("service", &self.telemetry.service)
            .field("side", &self.side)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}
