//! The [`Registry`] trait: what every registry backend provides.
//!
//! Backends (the embedded `MemoryRegistry`, etcd) live in `sae-registry` and
//! never see tower; the layers in `sae-governance` see only this trait.
//! The trait is object safe, so `Arc<dyn Registry>` is the usual handle.

mod registration;
#[cfg(test)]
mod tests;
mod watch;

use std::future::Future;
use std::pin::Pin;

pub use registration::{Lease, Registration};
pub use watch::{Registered, RemovalReason, Revision, Snapshot, WatchEvent, WatchStream};

use crate::{Error, Instance, InstanceId, ServiceName};

/// A boxed, `Send` future: what the object-safe [`Registry`] methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A service registry: register instances, and watch a service's instances
/// as a stream of versioned changes.
///
/// # Contract for implementors
///
/// - Revisions are global to the registry and strictly increase with every
///   change; every [`WatchEvent`] a stream yields has a larger revision than
///   the one before it.
/// - [`Registry::watch`] yields a [`WatchEvent::Snapshot`] first (the current
///   set), then one event per change after that snapshot's revision, none
///   lost and none repeated. A backend that cannot guarantee continuity (for
///   example after etcd compacted the history) yields a new snapshot.
/// - A registration is kept alive by its [`Registration`]; when the owner
///   vanishes without deregistering, the entry expires after the backend's TTL.
/// - Malformed stored entries are skipped with a warning; they never end a watch.
pub trait Registry: Send + Sync + std::fmt::Debug + 'static {
    /// A short name of the backend for messages (`"memory"`, `"etcd"`).
    fn backend(&self) -> &'static str;

    /// Registers `instance` (replacing an entry with the same service and id)
    /// and returns the handle that keeps it alive.
    fn register(&self, instance: Instance) -> BoxFuture<'_, Result<Registration, Error>>;

    /// Removes an instance. Removing one that is not registered is not an error.
    fn deregister<'a>(
        &'a self,
        service: &'a ServiceName,
        id: &'a InstanceId,
    ) -> BoxFuture<'a, Result<(), Error>>;

    /// The current instances of `service`.
    fn list<'a>(&'a self, service: &'a ServiceName) -> BoxFuture<'a, Result<Snapshot, Error>>;

    /// Watches `service`: a snapshot first, then every change, in revision order.
    fn watch<'a>(&'a self, service: &'a ServiceName) -> BoxFuture<'a, Result<WatchStream, Error>>;
}
