//! [`MemoryLease`]: the keep-alive behind a [`sae_core::Registration`] of the
//! memory registry.
//!
//! One tokio task per lease renews it every TTL/3 (three chances before it
//! lapses, as etcd clients do). When the owner drops the lease, the same task
//! stops renewing, sleeps until the deadline and expires the entry — exactly
//! what a registry sees when a process is killed. The task holds only a
//! `Weak` reference to the registry and ends when the registry is dropped.

use std::sync::Weak;
use std::time::Duration;

use sae_core::rules::RuleReport;
use sae_core::{
    BoxFuture, Error, InstanceId, Lease, Registered, RemovalReason, Revision, ServiceName,
};
use tokio::sync::{oneshot, watch};
use tokio::time::{Instant, sleep, sleep_until};

use super::Shared;
use super::state::Renewal;

/// Which registration a lease keeps alive: the entry's key and its revision.
#[derive(Clone)]
struct LeaseKey {
    service: ServiceName,
    id: InstanceId,
    token: Revision,
}

/// The memory registry's [`Lease`].
pub(super) struct MemoryLease {
    shared: Weak<Shared>,
    key: LeaseKey,
    /// Dropped with the lease: tells the keep-alive task to stop renewing.
    _stop: oneshot::Sender<()>,
    lost: watch::Receiver<bool>,
}

impl MemoryLease {
    /// Starts the keep-alive of `registered` on `runtime`.
    pub(super) fn start(
        shared: Weak<Shared>,
        closed: watch::Receiver<()>,
        ttl: Duration,
        registered: &Registered,
        runtime: &tokio::runtime::Handle,
    ) -> MemoryLease {
        let key = LeaseKey {
            service: registered.instance.service().clone(),
            id: registered.instance.id().clone(),
            token: registered.revision,
        };
        let (stop_tx, stop_rx) = oneshot::channel();
        let (lost_tx, lost_rx) = watch::channel(false);
        runtime.spawn(run(
            shared.clone(),
            key.clone(),
            ttl,
            stop_rx,
            closed,
            lost_tx,
        ));
        MemoryLease {
            shared,
            key,
            _stop: stop_tx,
            lost: lost_rx,
        }
    }
}

impl Lease for MemoryLease {
    fn deregister(self: Box<Self>) -> BoxFuture<'static, Result<(), Error>> {
        Box::pin(async move {
            if let Some(shared) = self.shared.upgrade() {
                let LeaseKey { service, id, token } = &self.key;
                // Only this registration: a newer one of the same id stays.
                shared
                    .state
                    .lock()
                    .remove(service, id, Some(*token), RemovalReason::Deregistered);
            }
            Ok(())
        })
    }

    fn report_rules(&self, report: RuleReport) -> BoxFuture<'static, Result<(), Error>> {
        let shared = self.shared.clone();
        let LeaseKey { service, id, token } = self.key.clone();
        Box::pin(async move {
            // `Registration::report_rules` checked that it is this instance's.
            let stored = shared
                .upgrade()
                .is_some_and(|shared| shared.state.lock().report(token, report));
            if stored {
                Ok(())
            } else {
                Err(Error::NotRegistered {
                    service: service.as_str().to_owned(),
                    id: id.as_str().to_owned(),
                })
            }
        })
    }

    /// Resolves when the keep-alive finds the entry gone while the lease is
    /// held: expired because the keep-alive was starved, deregistered by
    /// someone else, or replaced by another registration of the same id.
    /// Like a Eureka client answered 404 on its heartbeat, the owner should
    /// register again.
    fn lost(&self) -> BoxFuture<'static, ()> {
        let mut lost = self.lost.clone();
        Box::pin(async move {
            if lost.wait_for(|lost| *lost).await.is_err() {
                // The task ended without losing the lease (registry dropped).
                std::future::pending::<()>().await;
            }
        })
    }
}

/// The keep-alive task, then the expiry timer once the lease is dropped.
async fn run(
    shared: Weak<Shared>,
    key: LeaseKey,
    ttl: Duration,
    mut stop: oneshot::Receiver<()>,
    mut closed: watch::Receiver<()>,
    lost: watch::Sender<bool>,
) {
    let LeaseKey { service, id, token } = &key;
    let period = ttl / 3;
    loop {
        tokio::select! {
            // Biased: once the owner dropped the lease, a timer that is also
            // due must not renew it again.
            biased;
            _ = &mut stop => break,
            _ = closed.changed() => return,
            () = sleep(period) => {
                let Some(shared) = shared.upgrade() else { return };
                let now = Instant::now();
                let renewal = shared.state.lock().renew(service, id, *token, now, now + ttl);
                if renewal == Renewal::Lost {
                    let _ = lost.send(true);
                    return;
                }
            }
        }
    }
    // The owner dropped the lease without deregistering: let it lapse.
    loop {
        let deadline = {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            let Some(deadline) = shared.state.lock().deadline(service, id, *token) else {
                return;
            };
            deadline
        };
        tokio::select! {
            biased;
            _ = closed.changed() => return,
            () = sleep_until(deadline) => {}
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if shared
            .state
            .lock()
            .expire_if_due(service, id, *token, Instant::now())
        {
            return;
        }
    }
}
