use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::{StreamExt, stream};
use sae_core::{
    BoxFuture, Error, Instance, InstanceId, Registered, Registration, Registry, Revision,
    ServiceName, Snapshot, WatchEvent, WatchStream,
};

use super::{DiscoveryMode, spawn};
use crate::balance::{BalanceConfig, Balancer, LaneFallback};

fn registered(id: &str, revision: u64) -> Registered {
    let instance = Instance::builder("orders")
        .id(id)
        .addr(([127, 0, 0, 1], 1000 + revision as u16).into())
        .build()
        .unwrap();
    Registered {
        instance,
        revision: Revision(revision),
    }
}

fn snapshot(revision: u64, ids: &[&str]) -> WatchEvent {
    WatchEvent::Snapshot(Snapshot {
        revision: Revision(revision),
        instances: ids
            .iter()
            .enumerate()
            .map(|(i, id)| registered(id, i as u64 + 1))
            .collect(),
    })
}

/// A registry whose watch misbehaves on purpose: the first stream yields a
/// snapshot and ends, the second watch call fails, the third stream yields
/// an empty snapshot (push-empty) and then a bigger set, and stays open.
#[derive(Debug, Default)]
struct FlakyRegistry {
    watches: AtomicUsize,
    lists: AtomicUsize,
}

impl Registry for FlakyRegistry {
    fn backend(&self) -> &'static str {
        "flaky"
    }

    fn register(&self, _instance: Instance) -> BoxFuture<'_, Result<Registration, Error>> {
        Box::pin(async { Err(Error::registry("flaky", "read-only")) })
    }

    fn deregister<'a>(
        &'a self,
        _: &'a ServiceName,
        _: &'a InstanceId,
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async { Ok(()) })
    }

    fn list<'a>(&'a self, _: &'a ServiceName) -> BoxFuture<'a, Result<Snapshot, Error>> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Err(Error::registry("flaky", "list unavailable")) })
    }

    fn watch<'a>(&'a self, _: &'a ServiceName) -> BoxFuture<'a, Result<WatchStream, Error>> {
        let call = self.watches.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            match call {
                0 => Ok(stream::iter([snapshot(1, &["a"])]).boxed()),
                1 => Err(Error::registry("flaky", "connection refused")),
                _ => Ok(stream::iter([snapshot(3, &[]), snapshot(4, &["a", "b"])])
                    .chain(stream::pending())
                    .boxed()),
            }
        })
    }
}

fn ids(balancer: &Balancer<()>) -> Vec<String> {
    let mut ids: Vec<String> = balancer
        .endpoints()
        .iter()
        .map(|e| e.id().to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test(start_paused = true)]
async fn a_broken_watch_is_reopened_and_the_last_known_set_kept() {
    let registry = Arc::new(FlakyRegistry::default());
    let balancer = Balancer::new(
        ServiceName::new("orders").unwrap(),
        BalanceConfig::default(),
        LaneFallback::Base,
        |_| (),
    );
    let mut changes = balancer.changes();
    let _discovery = spawn(registry.clone(), balancer.clone(), DiscoveryMode::Watch);

    let mut seen = Vec::new();
    while ids(&balancer) != ["a", "b"] {
        changes.changed().await.unwrap();
        seen.push(ids(&balancer));
    }
    // Never empty in between: not after the stream ended, nor after the failed
    // re-watch, nor on the empty snapshot (withheld by push-empty protection).
    assert!(seen.iter().all(|set| !set.is_empty()), "{seen:?}");
    assert_eq!(registry.watches.load(Ordering::SeqCst), 3);
    assert_eq!(balancer.stats().withheld_updates, 1);
}

#[tokio::test(start_paused = true)]
async fn a_failing_poll_keeps_the_last_known_set() {
    let registry = Arc::new(FlakyRegistry::default());
    let balancer = Balancer::new(
        ServiceName::new("orders").unwrap(),
        BalanceConfig::default(),
        LaneFallback::Base,
        |_| (),
    );
    balancer.apply(snapshot(1, &["a"]));
    let _discovery = spawn(
        registry.clone(),
        balancer.clone(),
        DiscoveryMode::Poll(std::time::Duration::from_secs(1)),
    );
    // Drives the paused clock through five periods (no real waiting).
    tokio::time::sleep(std::time::Duration::from_millis(4500)).await;
    assert_eq!(
        registry.lists.load(Ordering::SeqCst),
        5,
        "polled at 0, 1, 2, 3 and 4 s"
    );
    assert_eq!(ids(&balancer), ["a"]);
}
