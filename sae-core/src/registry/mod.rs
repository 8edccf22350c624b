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
use std::sync::Arc;

pub use registration::{Lease, Registration};
pub use watch::{Registered, RemovalReason, Revision, Snapshot, WatchEvent, WatchStream};

use crate::rules::{RuleDocument, RuleKind, RuleReports, RuleSnapshot, RuleStream};
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
/// - Rule documents ([`crate::rules`]) share the revision counter with
///   instances and follow the same watch contract. An instance's
///   [`RuleReport`](crate::rules::RuleReport) lives exactly as long as its
///   registration. A backend that stores no rules keeps the default
///   methods, which fail with [`Error::Unsupported`] (a provider then
///   follows no rules and starts at once); a wrapper around another backend
///   forwards them.
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

    /// The services that have instances or rules, sorted.
    fn services(&self) -> BoxFuture<'_, Result<Vec<ServiceName>, Error>> {
        Box::pin(async move { Err(unsupported(self.backend(), "list services")) })
    }

    /// Writes `document` (replacing the service's document of that kind)
    /// and returns the revision of the write.
    fn put_rules(&self, document: RuleDocument) -> BoxFuture<'_, Result<Revision, Error>> {
        let _ = document;
        Box::pin(async move { Err(unsupported(self.backend(), "store rules")) })
    }

    /// Deletes the service's document of `kind`: the revision of the
    /// delete, or `None` when there was none.
    fn delete_rules<'a>(
        &'a self,
        service: &'a ServiceName,
        kind: &'a RuleKind,
    ) -> BoxFuture<'a, Result<Option<Revision>, Error>> {
        Box::pin(async move {
            let _ = (service, kind);
            Err(unsupported(self.backend(), "delete rules"))
        })
    }

    /// The current rule documents of `service`.
    fn list_rules<'a>(
        &'a self,
        service: &'a ServiceName,
    ) -> BoxFuture<'a, Result<RuleSnapshot, Error>> {
        Box::pin(async move {
            let _ = service;
            Err(unsupported(self.backend(), "read rules"))
        })
    }

    /// Watches `service`'s rule documents: a snapshot first, then every
    /// change, in revision order.
    fn watch_rules<'a>(
        &'a self,
        service: &'a ServiceName,
    ) -> BoxFuture<'a, Result<RuleStream, Error>> {
        Box::pin(async move {
            let _ = service;
            Err(unsupported(self.backend(), "watch rules"))
        })
    }

    /// The reports the instances of `service` published through
    /// [`Registration::report_rules`]: which rule revision each one runs.
    fn rule_reports<'a>(
        &'a self,
        service: &'a ServiceName,
    ) -> BoxFuture<'a, Result<RuleReports, Error>> {
        Box::pin(async move {
            let _ = service;
            Err(unsupported(self.backend(), "read rule reports"))
        })
    }
}

fn unsupported(backend: &'static str, operation: &'static str) -> Error {
    Error::Unsupported { backend, operation }
}

/// What a builder takes as its registry: a backend by value (backends are
/// cheap handles; pass `registry.clone()` to keep one), in an `Arc`, or the
/// `Arc<dyn Registry>` that `sae_registry::from_url` returns.
///
/// ```
/// use std::sync::Arc;
/// use sae_core::{IntoRegistry, Registry};
///
/// fn takes(registry: impl IntoRegistry) -> Arc<dyn Registry> {
///     registry.into_registry()
/// }
/// # #[derive(Clone, Debug)] struct Backend;
/// # impl Registry for Backend {
/// #     fn backend(&self) -> &'static str { "doc" }
/// #     fn register(&self, _: sae_core::Instance) -> sae_core::BoxFuture<'_, Result<sae_core::Registration, sae_core::Error>> { unimplemented!() }
/// #     fn deregister<'a>(&'a self, _: &'a sae_core::ServiceName, _: &'a sae_core::InstanceId) -> sae_core::BoxFuture<'a, Result<(), sae_core::Error>> { unimplemented!() }
/// #     fn list<'a>(&'a self, _: &'a sae_core::ServiceName) -> sae_core::BoxFuture<'a, Result<sae_core::Snapshot, sae_core::Error>> { unimplemented!() }
/// #     fn watch<'a>(&'a self, _: &'a sae_core::ServiceName) -> sae_core::BoxFuture<'a, Result<sae_core::WatchStream, sae_core::Error>> { unimplemented!() }
/// # }
/// let backend = Backend;
/// let shared = takes(Arc::new(backend.clone()));
/// let by_value = takes(backend);
/// let erased: Arc<dyn Registry> = by_value.clone();
/// assert_eq!(takes(erased).backend(), "doc");
/// # let _ = shared;
/// ```
pub trait IntoRegistry {
    /// The registry as the shared handle the layers keep.
    fn into_registry(self) -> Arc<dyn Registry>;
}

impl<R: Registry> IntoRegistry for R {
    fn into_registry(self) -> Arc<dyn Registry> {
        Arc::new(self)
    }
}

impl<R: Registry> IntoRegistry for Arc<R> {
    fn into_registry(self) -> Arc<dyn Registry> {
        self
    }
}

impl IntoRegistry for Arc<dyn Registry> {
    fn into_registry(self) -> Arc<dyn Registry> {
        self
    }
}
