//! [`EtcdRegistry`]: the distributed registry on etcd v3 (feature `etcd`).
//!
//! # Why etcd
//!
//! The embedded [`MemoryRegistry`](crate::MemoryRegistry) serves one
//! process. Services on many machines need a registry that is itself
//! replicated and survives the loss of a node; etcd is the one Kubernetes,
//! Kratos, go-zero and Kitex use. It gives exactly the three things a
//! registry needs: leases (an entry vanishes when its owner stops renewing),
//! a global revision on every change, and watches that resume from a revision.
//!
//! # Layout
//!
//! One key per instance, `/sae/v1/services/{service}/{instance id}`
//! ([`KEY_PREFIX`]), whose value is [`Instance::to_json`]; one key per
//! service and rule kind, `/sae/v1/rules/{service}/{kind}`
//! ([`RULES_KEY_PREFIX`]), whose value is
//! [`RuleDocument::to_json`](sae_core::rules::RuleDocument::to_json), with
//! no lease. The `v1` segment versions the layout.
//!
//! # Behaviour
//!
//! - **Register**: grant a lease (TTL default [`EtcdOptions::DEFAULT_TTL`],
//!   whole seconds), put the key with it, renew it every TTL/3 in the
//!   background. [`Registered::revision`](sae_core::Registered) is the key's
//!   mod revision, and watch events carry etcd revisions.
//! - **Deregister** deletes the key (only if it still belongs to this
//!   registration) and revokes the lease. **Dropping** the
//!   [`Registration`] stops the renewals: the key expires one TTL later, as
//!   when the process is killed.
//! - **Lease lost**: [`Registration::lost`] resolves, within one TTL, when
//!   etcd says the lease is gone (it expired during a partition longer than
//!   the TTL, or was revoked), or when the key is no longer this
//!   registration's while the lease lives: deleted (an operator's `etcdctl
//!   del`), or overwritten with another value, or put with another lease or
//!   none. The keep-alive reads the key back after each renewal to see this;
//!   the owner of the registration then registers again. An etcd restart or
//!   a leader change loses nothing: etcd extends leases, and a renewal or a
//!   read that fails is retried, not a loss.
//! - **Watch**: list at revision R, then watch from R + 1, so nothing is lost
//!   or repeated in between; on a broken stream, reconnect with backoff and
//!   resume after the last delivered revision; when that was compacted, list
//!   again and send a new snapshot. Malformed values are skipped with a
//!   warning naming the key. etcd reports a lease expiry as a plain delete,
//!   so every removal has [`RemovalReason::Deregistered`](sae_core::RemovalReason).
//! - **Rules** are written with a plain `put` and watched exactly like
//!   instances (list, watch from the next revision, resume, re-list after a
//!   compaction); a malformed document is skipped with a warning naming
//!   the key, so the instances keep their running rules.
//! - **Errors**: calls are retried on transient errors (no leader, member
//!   gone) until [`EtcdOptions::request_timeout`], then fail with
//!   [`Error::RegistryUnreachable`] (no member answered in time; also what
//!   [`EtcdRegistry::connect`] returns when etcd is down),
//!   [`Error::RegistryTimeout`] (an attempt never answered), or
//!   [`Error::Registry`] (etcd refused the call), for backend `"etcd"`.
//!   The client connects lazily, on the first call, so
//!   [`from_url`](crate::from_url) needs no etcd; [`EtcdRegistry::connect`]
//!   checks at once.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use sae_core::{Instance, Registry};
//! use sae_registry::etcd::{EtcdOptions, EtcdRegistry};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), sae_core::Error> {
//! let options = EtcdOptions::default().ttl(Duration::from_secs(5));
//! let registry = EtcdRegistry::connect(["10.0.0.1:2379", "10.0.0.2:2379"], options).await?;
//! let orders = Instance::builder("orders")
//!     .addr("10.0.0.7:8080".parse().unwrap())
//!     .build()?;
//! let registration = registry.register(orders).await?;
//! registration.deregister().await?;
//! # Ok(())
//! # }
//! ```

mod instances;
mod keys;
mod lease;
mod options;
mod reports;
mod rpc;
mod rules;
#[cfg(test)]
mod rules_tests;
#[cfg(any(test, feature = "etcd-test-util"))]
pub mod testing;
#[cfg(test)]
mod tests;
mod watch;

use std::fmt;
use std::sync::Arc;

use etcd_client::{Client, ConnectOptions, GetOptions, PutOptions};
use sae_core::rules::{RuleDocument, RuleKind, RuleReports, RuleSnapshot, RuleStream};
use sae_core::{
    BoxFuture, Error, Instance, InstanceId, Registered, Registration, Registry, Revision,
    ServiceName, Snapshot, WatchEvent, WatchStream,
};
use tokio::sync::OnceCell;
use tokio_stream::wrappers::ReceiverStream;

pub use keys::{KEY_PREFIX, RULES_KEY_PREFIX};
pub use options::EtcdOptions;

use lease::EtcdLease;
use rpc::{BACKEND, retried, revision};
use watch::PrefixWatch;

/// The registry on etcd v3. Cheap to clone; clones share one connection.
/// See the [module docs](self).
#[derive(Clone)]
pub struct EtcdRegistry {
    shared: Arc<Shared>,
}

struct Shared {
    endpoints: Vec<String>,
    options: EtcdOptions,
    client: OnceCell<Client>,
    /// Never sent on; dropped with the registry, which ends every watch task.
    _closed: tokio::sync::watch::Sender<()>,
    closed_rx: tokio::sync::watch::Receiver<()>,
}

impl EtcdRegistry {
    /// A registry on the etcd cluster at `endpoints` (`host:port`, or
    /// `http://host:port`) that connects on its first call.
    pub fn lazy<E>(endpoints: impl IntoIterator<Item = E>, options: EtcdOptions) -> Self
    where
        E: Into<String>,
    {
        let (closed, closed_rx) = tokio::sync::watch::channel(());
        EtcdRegistry {
            shared: Arc::new(Shared {
                endpoints: endpoints.into_iter().map(Into::into).collect(),
                options,
                client: OnceCell::new(),
                _closed: closed,
                closed_rx,
            }),
        }
    }

    /// Connects to the etcd cluster at `endpoints` and checks that it
    /// answers within [`EtcdOptions::connect_timeout`].
    ///
    /// # Errors
    ///
    /// [`Error::RegistryUnreachable`] naming the endpoints and the last error
    /// when no endpoint answered in time; [`Error::Registry`] when
    /// `endpoints` is empty or malformed, or etcd refused the check.
    pub async fn connect<E>(
        endpoints: impl IntoIterator<Item = E>,
        options: EtcdOptions,
    ) -> Result<Self, Error>
    where
        E: Into<String>,
    {
        let registry = Self::lazy(endpoints, options);
        registry.client().await?;
        Ok(registry)
    }

    /// The endpoints this registry talks to.
    pub fn endpoints(&self) -> &[String] {
        &self.shared.endpoints
    }

    /// The options this registry was opened with.
    pub fn options(&self) -> &EtcdOptions {
        &self.shared.options
    }

    /// Sends `snapshot` (read at `revision`), then spawns the task that
    /// watches `follow`'s prefix after it; the stream of both.
    fn follow<F: watch::Follow>(
        &self,
        client: Client,
        mut follow: F,
        revision: Revision,
        snapshot: F::Event,
    ) -> tokio::sync::mpsc::Receiver<F::Event> {
        follow.adopt(&snapshot);
        let (sender, receiver) = watch::channel();
        // The channel is empty and owned here: the snapshot always fits.
        let _ = sender.try_send(snapshot);
        let follower = PrefixWatch::new(client, follow, revision, sender);
        tokio::spawn(follower.run(self.shared.closed_rx.clone()));
        receiver
    }

    /// The client, connected and checked on first use.
    async fn client(&self) -> Result<&Client, Error> {
        let shared = &self.shared;
        shared
            .client
            .get_or_try_init(|| open_client(&shared.endpoints, &shared.options))
            .await
    }
}

/// Builds the client and waits until some endpoint answers a read.
async fn open_client(endpoints: &[String], options: &EtcdOptions) -> Result<Client, Error> {
    if endpoints.is_empty() {
        return Err(Error::registry(BACKEND, "no endpoints given"));
    }
    let connect_options = ConnectOptions::new()
        .with_connect_timeout(options.connect_timeout)
        // A watch or keep-alive on a member cut off from its cluster would
        // otherwise hang silently; with this, etcd fails it and we move on.
        .with_require_leader(true);
    let client = Client::connect(endpoints, Some(connect_options))
        .await
        .map_err(|error| {
            Error::registry(
                BACKEND,
                format!("cannot use endpoints {endpoints:?}: {error}"),
            )
        })?;
    // The channel connects lazily; one read proves a member with a leader answers.
    retried(
        &client,
        "connect",
        options.connect_timeout,
        |mut client| async move {
            client
                .get(
                    KEY_PREFIX,
                    Some(GetOptions::new().with_prefix().with_count_only()),
                )
                .await
        },
    )
    .await
    .map_err(|error| at_endpoints(error, endpoints))?;
    Ok(client)
}

/// Names the endpoints in a failed connection check, keeping its kind: no
/// answer stays [`Error::RegistryUnreachable`], a refusal stays [`Error::Registry`].
fn at_endpoints(error: Error, endpoints: &[String]) -> Error {
    match error {
        Error::RegistryUnreachable {
            backend,
            operation,
            after,
            last_error,
        } => Error::RegistryUnreachable {
            backend,
            operation,
            after,
            last_error: format!("{last_error} (endpoints {endpoints:?})"),
        },
        Error::RegistryTimeout {
            backend,
            operation,
            after,
        } => Error::RegistryUnreachable {
            backend,
            operation,
            after,
            last_error: format!("every attempt timed out (endpoints {endpoints:?})"),
        },
        Error::Registry { message, .. } => {
            Error::registry(BACKEND, format!("endpoints {endpoints:?}: {message}"))
        }
        other => other,
    }
}

impl fmt::Debug for EtcdRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdRegistry")
            .field("endpoints", &self.shared.endpoints)
            .field("ttl", &self.shared.options.ttl)
            .field("connected", &self.shared.client.initialized())
            .finish()
    }
}

impl Registry for EtcdRegistry {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn register(&self, instance: Instance) -> BoxFuture<'_, Result<Registration, Error>> {
        Box::pin(async move {
            let client = self.client().await?;
            let options = &self.shared.options;
            let bound = options.request_timeout;
            let ttl_secs = options.ttl_secs();
            let grant = retried(client, "grant lease", bound, |mut client| async move {
                client.lease_grant(ttl_secs, None).await
            })
            .await?;
            // etcd may raise a TTL below its minimum; renew on what it granted.
            let granted = std::time::Duration::from_secs(grant.ttl().max(1).unsigned_abs());
            let lease_id = grant.id();
            let key = keys::instance_key(instance.service(), instance.id());
            let value = instance.to_json();
            let put = retried(client, "register", bound, |mut client| {
                let (key, value) = (key.clone(), value.clone());
                async move {
                    client
                        .put(key, value, Some(PutOptions::new().with_lease(lease_id)))
                        .await
                }
            })
            .await?;
            let at = put.header().map_or(0, |header| header.revision());
            let entry = Registered {
                instance,
                revision: revision(at),
            };
            let lease = EtcdLease::start(client.clone(), key, value, lease_id, granted, bound);
            Ok(Registration::new(entry, Box::new(lease)))
        })
    }

    fn deregister<'a>(
        &'a self,
        service: &'a ServiceName,
        id: &'a InstanceId,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let client = self.client().await?;
            let key = keys::instance_key(service, id);
            let bound = self.shared.options.request_timeout;
            retried(client, "deregister", bound, |mut client| {
                let key = key.clone();
                async move { client.delete(key, None).await }
            })
            .await?;
            Ok(())
        })
    }

    fn list<'a>(&'a self, service: &'a ServiceName) -> BoxFuture<'a, Result<Snapshot, Error>> {
        Box::pin(async move {
            let client = self.client().await?;
            let bound = self.shared.options.request_timeout;
            retried(client, "list", bound, |mut client| async move {
                instances::list(&mut client, service).await
            })
            .await
        })
    }

    fn watch<'a>(&'a self, service: &'a ServiceName) -> BoxFuture<'a, Result<WatchStream, Error>> {
        Box::pin(async move {
            let snapshot = self.list(service).await?;
            let client = self.client().await?.clone();
            let follow = instances::Instances::new(service.clone());
            let receiver = self.follow(
                client,
                follow,
                snapshot.revision,
                WatchEvent::Snapshot(snapshot),
            );
            Ok(Box::pin(ReceiverStream::new(receiver)) as WatchStream)
        })
    }

    fn services(&self) -> BoxFuture<'_, Result<Vec<ServiceName>, Error>> {
        Box::pin(async move {
            let client = self.client().await?;
            let bound = self.shared.options.request_timeout;
            let mut names = Vec::new();
            for prefix in [KEY_PREFIX, RULES_KEY_PREFIX] {
                let answer = retried(client, "list services", bound, |mut client| async move {
                    client
                        .get(
                            prefix,
                            Some(GetOptions::new().with_prefix().with_keys_only()),
                        )
                        .await
                })
                .await?;
                names.extend(
                    answer
                        .kvs()
                        .iter()
                        .filter_map(|kv| keys::service_of(prefix, kv.key())),
                );
            }
            names.sort();
            names.dedup();
            Ok(names)
        })
    }

    fn put_rules(&self, document: RuleDocument) -> BoxFuture<'_, Result<Revision, Error>> {
        Box::pin(async move {
            document.check_size()?;
            let client = self.client().await?;
            let key = sae_core::rules::key(&document.service, &document.kind);
            let value = document.to_json();
            let bound = self.shared.options.request_timeout;
            let put = retried(client, "write rules", bound, |mut client| {
                let (key, value) = (key.clone(), value.clone());
                async move { client.put(key, value, None).await }
            })
            .await?;
            Ok(revision(put.header().map_or(0, |header| header.revision())))
        })
    }

    fn delete_rules<'a>(
        &'a self,
        service: &'a ServiceName,
        kind: &'a RuleKind,
    ) -> BoxFuture<'a, Result<Option<Revision>, Error>> {
        Box::pin(async move {
            let client = self.client().await?;
            let key = sae_core::rules::key(service, kind);
            let bound = self.shared.options.request_timeout;
            let deleted = retried(client, "delete rules", bound, |mut client| {
                let key = key.clone();
                async move { client.delete(key, None).await }
            })
            .await?;
            Ok((deleted.deleted() > 0)
                .then(|| revision(deleted.header().map_or(0, |header| header.revision()))))
        })
    }

    fn list_rules<'a>(
        &'a self,
        service: &'a ServiceName,
    ) -> BoxFuture<'a, Result<RuleSnapshot, Error>> {
        Box::pin(async move {
            let client = self.client().await?;
            let bound = self.shared.options.request_timeout;
            retried(client, "read rules", bound, |mut client| async move {
                rules::list(&mut client, service).await
            })
            .await
        })
    }

    fn rule_reports<'a>(
        &'a self,
        service: &'a ServiceName,
    ) -> BoxFuture<'a, Result<RuleReports, Error>> {
        Box::pin(async move {
            let client = self.client().await?;
            let bound = self.shared.options.request_timeout;
            retried(
                client,
                "read rule reports",
                bound,
                |mut client| async move { reports::list(&mut client, service).await },
            )
            .await
        })
    }

    fn watch_rules<'a>(
        &'a self,
        service: &'a ServiceName,
    ) -> BoxFuture<'a, Result<RuleStream, Error>> {
        Box::pin(async move {
            let snapshot = self.list_rules(service).await?;
            let client = self.client().await?.clone();
            let follow = rules::Rules::new(service.clone());
            let first = sae_core::rules::RuleEvent::Snapshot(snapshot);
            let receiver = self.follow(client, follow, first.revision(), first);
            Ok(Box::pin(ReceiverStream::new(receiver)) as RuleStream)
        })
    }
}
