//! Watch events and revisions.

use std::fmt;
use std::pin::Pin;

use futures_core::Stream;

use crate::{Instance, InstanceId};

/// A registry revision. Strictly increases with every change in a registry,
/// so a consumer can tell a stale update from a fresh one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Revision(pub u64);

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}

/// An instance together with the revision at which it was (last) registered.
///
/// The revision identifies the registration: a consumer that evicted an
/// instance after its offline notice takes it back only when it sees the
/// same id with a larger revision, that is, a new registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registered {
    /// The instance.
    pub instance: Instance,
    /// The revision of its registration.
    pub revision: Revision,
}

/// The instances of one service at one revision.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The registry revision this set was read at.
    pub revision: Revision,
    /// The instances, in no particular order.
    pub instances: Vec<Registered>,
}

/// Why an instance left the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RemovalReason {
    /// Its owner deregistered it.
    Deregistered,
    /// Its lease expired: the owner stopped renewing (crash, partition, `kill -9`).
    Expired,
}

/// One item of a [`WatchStream`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchEvent {
    /// The full set, replacing whatever the consumer held. Always the first
    /// item; may come again when a backend had to re-list.
    Snapshot(Snapshot),
    /// An instance was registered or re-registered; `entry.revision` is the
    /// revision of this change.
    Upsert(Registered),
    /// An instance left.
    Remove {
        /// The revision of this change.
        revision: Revision,
        /// The instance that left.
        id: InstanceId,
        /// Why it left.
        reason: RemovalReason,
    },
}

impl WatchEvent {
    /// The revision of this event.
    pub fn revision(&self) -> Revision {
        match self {
            WatchEvent::Snapshot(snapshot) => snapshot.revision,
            WatchEvent::Upsert(entry) => entry.revision,
            WatchEvent::Remove { revision, .. } => *revision,
        }
    }
}

/// The stream [`crate::Registry::watch`] returns. It ends only when the
/// registry is gone.
pub type WatchStream = Pin<Box<dyn Stream<Item = WatchEvent> + Send>>;
