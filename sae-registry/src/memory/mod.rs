//! [`MemoryRegistry`]: the embedded, in-process registry — sae's default.
//!
//! # Why an embedded registry
//!
//! Most of sae (lossless deploys, lane routing, warm-up) needs only *some*
//! registry. An in-process one lets a single binary, a test or a demo run the
//! whole provider/consumer loop with no etcd to install: providers and
//! consumers in one process share it through an `Arc` (or through
//! [`from_url`](crate::from_url)`("memory://NAME")`). It implements the same
//! [`Registry`] contract as the distributed backends, so code written against
//! it moves to etcd by changing a URL.
//!
//! # Why leases
//!
//! A provider that deregisters itself is the easy case. A provider that is
//! killed (`kill -9`, OOM, a lost node) never says goodbye; a registry
//! without leases would advertise it forever. Every registration therefore
//! holds a lease with a TTL (default [`MemoryRegistry::DEFAULT_TTL`]),
//! renewed every TTL/3 by a keep-alive task while the
//! [`Registration`] is held. Dropping the `Registration` stops the
//! keep-alive and the entry expires one TTL after its last renewal, with a
//! [`WatchEvent::Remove`](sae_core::WatchEvent::Remove) whose reason is [`RemovalReason::Expired`]: the
//! demo simulates a crash this way.
//!
//! # Guarantees
//!
//! - One revision counter per registry, incremented by every register,
//!   re-register, deregister and expiry.
//! - A watch yields a [`WatchEvent::Snapshot`](sae_core::WatchEvent::Snapshot) taken under the same lock as
//!   its subscription, then every later change of its service in revision
//!   order. A watcher that falls more than 1,024 events behind gets a fresh
//!   snapshot instead of the backlog, so a stuck consumer can neither block
//!   registrations nor grow memory without bound.
//! - Background tasks hold only weak references; dropping the registry and
//!   its registrations ends them and ends every watch stream.
//! - Governance rule documents ([`sae_core::rules`]) live beside the
//!   instances, numbered by the same counter, watched the same way. Like
//!   the instances, they live as long as the process: `memory://` is for
//!   one process (tests, demos, a single binary).
//! - Time is tokio time, so tests drive expiry with a paused clock.
//!
//! # Example
//!
//! ```
//! use futures_util::StreamExt;
//! use sae_core::{Instance, Registry, WatchEvent};
//! use sae_registry::MemoryRegistry;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), sae_core::Error> {
//! let registry = MemoryRegistry::new();
//! let orders = Instance::builder("orders")
//!     .addr("127.0.0.1:8080".parse().unwrap())
//!     .build()?;
//! let mut watch = registry.watch(orders.service()).await?;
//! assert!(matches!(watch.next().await, Some(WatchEvent::Snapshot(s)) if s.instances.is_empty()));
//!
//! let registration = registry.register(orders.clone()).await?;
//! assert!(matches!(watch.next().await, Some(WatchEvent::Upsert(e)) if e.instance == orders));
//!
//! registration.deregister().await?; // the lossless way out
//! assert!(matches!(watch.next().await, Some(WatchEvent::Remove { .. })));
//! # Ok(())
//! # }
//! ```

mod lease;
mod rules;
#[cfg(test)]
mod rules_tests;
mod state;
#[cfg(test)]
mod tests;
mod watcher;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use sae_core::rules::{RuleDocument, RuleKind, RuleReports, RuleSnapshot, RuleStream};
use sae_core::{
    BoxFuture, Error, Instance, InstanceId, Registration, Registry, RemovalReason, ServiceName,
    Snapshot, WatchStream,
};
use tokio::sync::watch;
use tokio::time::Instant;

use lease::MemoryLease;
use state::State;

/// The embedded in-process registry. Cheap to clone; every clone shares the
/// same entries, revisions and watchers. See the [module docs](self).
#[derive(Clone)]
pub struct MemoryRegistry {
    shared: Arc<Shared>,
}

struct Shared {
    ttl: Duration,
    state: Mutex<State>,
    /// Never sent on; dropped with the registry, which wakes every lease task so it ends.
    _closed: watch::Sender<()>,
    closed_rx: watch::Receiver<()>,
}

impl MemoryRegistry {
    /// The lease TTL of [`MemoryRegistry::new`]: a killed provider disappears
    /// within 10 s (Nacos marks one unhealthy after 15 s, Eureka much later).
    pub const DEFAULT_TTL: Duration = Duration::from_secs(10);

    /// The shortest TTL accepted; shorter ones are raised to it so the
    /// keep-alive (every TTL/3) never spins.
    pub const MIN_TTL: Duration = Duration::from_millis(3);

    /// A registry with the [default TTL](Self::DEFAULT_TTL).
    pub fn new() -> Self {
        Self::with_ttl(Self::DEFAULT_TTL)
    }

    /// A registry whose leases expire `ttl` after their last renewal
    /// (at least [`MemoryRegistry::MIN_TTL`]).
    pub fn with_ttl(ttl: Duration) -> Self {
        let (closed, closed_rx) = watch::channel(());
        MemoryRegistry {
            shared: Arc::new(Shared {
                ttl: ttl.max(Self::MIN_TTL),
                state: Mutex::new(State::default()),
                _closed: closed,
                closed_rx,
            }),
        }
    }

    /// The lease TTL.
    pub fn ttl(&self) -> Duration {
        self.shared.ttl
    }

    /// The latest revision: the number of changes so far.
    pub fn revision(&self) -> sae_core::Revision {
        self.shared.state.lock().revision()
    }
}

impl Default for MemoryRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.state.lock();
        let (services, instances, watchers) = state.counts();
        f.debug_struct("MemoryRegistry")
            .field("ttl", &self.shared.ttl)
            .field("revision", &state.revision())
            .field("services", &services)
            .field("instances", &instances)
            .field("watchers", &watchers)
            .finish()
    }
}

impl Registry for MemoryRegistry {
    fn backend(&self) -> &'static str {
        "memory"
    }

    fn register(&self, instance: Instance) -> BoxFuture<'_, Result<Registration, Error>> {
        Box::pin(async move {
            // The keep-alive is a tokio task; say so instead of panicking.
            let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
                Error::registry("memory", "register must be called within a tokio runtime")
            })?;
            let shared = &self.shared;
            let deadline = Instant::now() + shared.ttl;
            let registered = shared.state.lock().upsert(instance, deadline);
            let lease = MemoryLease::start(
                Arc::downgrade(shared),
                shared.closed_rx.clone(),
                shared.ttl,
                &registered,
                &runtime,
            );
            Ok(Registration::new(registered, Box::new(lease)))
        })
    }

    fn deregister<'a>(
        &'a self,
        service: &'a ServiceName,
        id: &'a InstanceId,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            self.shared
                .state
                .lock()
                .remove(service, id, None, RemovalReason::Deregistered);
            Ok(())
        })
    }

    fn list<'a>(&'a self, service: &'a ServiceName) -> BoxFuture<'a, Result<Snapshot, Error>> {
        Box::pin(async move { Ok(self.shared.state.lock().snapshot(service)) })
    }

    fn watch<'a>(&'a self, service: &'a ServiceName) -> BoxFuture<'a, Result<WatchStream, Error>> {
        Box::pin(async move {
            let receiver = self.shared.state.lock().subscribe(service);
            Ok(Box::pin(receiver) as WatchStream)
        })
    }

    fn services(&self) -> BoxFuture<'_, Result<Vec<ServiceName>, Error>> {
        Box::pin(async move { Ok(self.shared.state.lock().service_names()) })
    }

    fn put_rules(
        &self,
        document: RuleDocument,
    ) -> BoxFuture<'_, Result<sae_core::Revision, Error>> {
        Box::pin(async move {
            document.check_size()?;
            Ok(self.shared.state.lock().put_rules(document))
        })
    }

    fn delete_rules<'a>(
        &'a self,
        service: &'a ServiceName,
        kind: &'a RuleKind,
    ) -> BoxFuture<'a, Result<Option<sae_core::Revision>, Error>> {
        Box::pin(async move { Ok(self.shared.state.lock().delete_rules(service, kind)) })
    }

    fn list_rules<'a>(
        &'a self,
        service: &'a ServiceName,
    ) -> BoxFuture<'a, Result<RuleSnapshot, Error>> {
        Box::pin(async move { Ok(self.shared.state.lock().rule_snapshot(service)) })
    }

    fn watch_rules<'a>(
        &'a self,
        service: &'a ServiceName,
    ) -> BoxFuture<'a, Result<RuleStream, Error>> {
        Box::pin(async move {
            let receiver = self.shared.state.lock().subscribe_rules(service);
            Ok(Box::pin(receiver) as RuleStream)
        })
    }

    fn rule_reports<'a>(
        &'a self,
        service: &'a ServiceName,
    ) -> BoxFuture<'a, Result<RuleReports, Error>> {
        Box::pin(async move { Ok(self.shared.state.lock().reports(service)) })
    }
}
