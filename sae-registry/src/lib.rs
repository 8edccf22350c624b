//! Service registry backends for sae, and [`from_url`] to pick one.
//!
//! This crate holds only backends of sae-core's [`Registry`] trait, the
//! store providers register in and consumers watch: the embedded
//! [`MemoryRegistry`] (the default, no server to run) and, behind feature
//! `etcd`, `EtcdRegistry` on an etcd v3 cluster. [`from_url`] opens either
//! from one configuration string, so moving a service from one to the other
//! changes a URL, not code. What a provider does with a registry (when to
//! register, when to deregister) lives in sae-governance.
//!
//! | backend | type | URLs |
//! |---|---|---|
//! | in-process (default) | [`MemoryRegistry`] | `memory://` (private), `memory://NAME` (shared by every caller in the process using `NAME`), `?ttl=500ms` |
//! | etcd v3 (feature `etcd`) | `etcd::EtcdRegistry` | `etcd://h1:2379,h2:2379,h3:2379` (port defaults to 2379), `?ttl=10s&timeout=5s` |
//!
//! Every backend keeps a registration alive with a lease (it expires one TTL
//! after its owner stops renewing) and numbers every change with one
//! registry-wide [`Revision`]; a watch starts with a [`Snapshot`] of the
//! service, then yields every later change in revision order.
//!
//! # Example
//!
//! ```
//! use futures_util::StreamExt;
//! use sae_core::{Instance, RemovalReason, WatchEvent};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), sae_core::Error> {
//! // One string picks the backend: `memory://` here, `etcd://…` in production.
//! let registry = sae_registry::from_url("memory://")?;
//! let orders = Instance::builder("orders")
//!     .addr("127.0.0.1:8080".parse().unwrap())
//!     .build()?;
//!
//! // A consumer watches the service: the current set first...
//! let mut watch = registry.watch(orders.service()).await?;
//! let Some(WatchEvent::Snapshot(snapshot)) = watch.next().await else {
//!     panic!("a watch starts with a snapshot");
//! };
//! assert!(snapshot.instances.is_empty());
//!
//! // ...then every change: a provider registers, and its `Registration`
//! // renews the lease for as long as it is held.
//! let registration = registry.register(orders.clone()).await?;
//! let Some(WatchEvent::Upsert(entry)) = watch.next().await else {
//!     panic!("expected the registration");
//! };
//! assert_eq!(entry.instance, orders);
//! assert!(entry.revision > snapshot.revision);
//!
//! // Going away, the provider deregisters first: consumers drop it at once.
//! registration.deregister().await?;
//! let Some(WatchEvent::Remove { id, reason, .. }) = watch.next().await else {
//!     panic!("expected the removal");
//! };
//! assert_eq!(&id, orders.id());
//! assert_eq!(reason, RemovalReason::Deregistered);
//! # Ok(())
//! # }
//! ```
//!
//! [`Registry`]: sae_core::Registry
//! [`Revision`]: sae_core::Revision
//! [`Snapshot`]: sae_core::WatchEvent::Snapshot

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod memory;
#[cfg(test)]
mod test_support;
mod url;

pub use memory::MemoryRegistry;
pub use url::from_url;
#[cfg(feature = "etcd")]
pub mod etcd;
#[cfg(feature = "etcd")]
pub use etcd::{EtcdOptions, EtcdRegistry};
