//! The provider's registration on real etcd: it registers although etcd is
//! down when it starts, re-asserts a key an operator deleted, and registers
//! again after etcd restarted and its lease was lost, while a watch on
//! another client follows every change in order.
//!
//! Needs the etcd binary (`scripts/setup.sh`); run with
//! `cargo test --features etcd-test-util --test etcd_provider`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use futures_util::StreamExt;
use sae_core::{Instance, Phase, Registry, ServiceName, Snapshot, WatchEvent, WatchStream};
use sae_governance::provider::{Provider, ServeReport, ShutdownHandle};
use sae_registry::etcd::testing::EtcdCluster;
use sae_registry::etcd::{EtcdOptions, EtcdRegistry, KEY_PREFIX};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};

/// Bound on waiting for one event that should come at once; a guard
/// against a hang, not a timing assertion.
const PROMPT: Duration = Duration::from_secs(15);
/// The lease TTL (etcd's minimum here is 0.75 s).
const TTL: Duration = Duration::from_secs(2);

fn orders() -> ServiceName {
    ServiceName::new("orders").unwrap()
}

fn instance(id: &str) -> Instance {
    Instance::builder("orders")
        .id(id)
        .addr("127.0.0.1:8080".parse().unwrap())
        .build()
        .unwrap()
}

async fn registry(cluster: &EtcdCluster) -> EtcdRegistry {
    EtcdRegistry::connect(cluster.endpoints(), EtcdOptions::default().ttl(TTL))
        .await
        .unwrap()
}

async fn next(watch: &mut WatchStream) -> WatchEvent {
    timeout(PROMPT, watch.next())
        .await
        .expect("no watch event within the bound")
        .expect("watch stream ended")
}

async fn snapshot(watch: &mut WatchStream) -> Snapshot {
    match next(watch).await {
        WatchEvent::Snapshot(snapshot) => snapshot,
        other => panic!("expected a snapshot first, got {other:?}"),
    }
}

/// `("+", id)` for an upsert, `("-", id)` for a removal.
fn change(event: &WatchEvent) -> (&'static str, String) {
    match event {
        WatchEvent::Upsert(entry) => ("+", entry.instance.id().as_str().to_owned()),
        WatchEvent::Remove { id, .. } => ("-", id.as_str().to_owned()),
        WatchEvent::Snapshot(snapshot) => panic!("unexpected snapshot {snapshot:?}"),
    }
}

/// Provider `p` of `orders` serving on loopback, registering in `registry`.
async fn start_provider(
    registry: Arc<dyn Registry>,
) -> (
    ShutdownHandle,
    JoinHandle<Result<ServeReport, sae_core::Error>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let provider = Provider::builder(Instance::builder("orders").id("p"), registry)
        .handle_signals(false)
        .notice_quiet_period(Duration::from_millis(100))
        .build()
        .unwrap();
    let handle = provider.shutdown_handle();
    let app = Router::new().route("/", get(|| async { "p" }));
    (handle, tokio::spawn(provider.serve_router(listener, app)))
}

#[tokio::test]
async fn a_provider_that_starts_while_etcd_is_down_registers_once_it_is_back() {
    let mut cluster = EtcdCluster::single().await;
    cluster.process_mut(0).kill();
    // The client connects lazily, so the provider starts with etcd down.
    let provider_registry: Arc<dyn Registry> = Arc::new(EtcdRegistry::lazy(
        cluster.endpoints(),
        EtcdOptions::default().ttl(TTL),
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let provider = Provider::builder(Instance::builder("orders").id("p"), provider_registry)
        .handle_signals(false)
        .build()
        .unwrap();
    let (handle, lifecycle) = (provider.shutdown_handle(), provider.lifecycle());
    let serving = tokio::spawn(provider.serve_router(listener, Router::new()));

    cluster.restart(0).await;
    let consumer = registry(&cluster).await;
    let mut watch = consumer.watch(&orders()).await.unwrap();
    let first = snapshot(&mut watch).await;
    let registered = if first.instances.is_empty() {
        change(&next(&mut watch).await)
    } else {
        ("+", first.instances[0].instance.id().as_str().to_owned())
    };
    assert_eq!(registered, ("+", "p".to_owned()));
    timeout(PROMPT, lifecycle.reached(Phase::Serving))
        .await
        .unwrap();

    handle.shutdown();
    let report = serving.await.unwrap().unwrap();
    assert!(report.registered && report.deregistered, "{report:?}");
}

#[tokio::test]
async fn a_deleted_key_is_re_asserted_within_one_ttl() {
    let cluster = EtcdCluster::single().await;
    let consumer = registry(&cluster).await;
    let mut watch = consumer.watch(&orders()).await.unwrap();
    assert!(snapshot(&mut watch).await.instances.is_empty());
    let (handle, serving) = start_provider(Arc::new(registry(&cluster).await)).await;
    let WatchEvent::Upsert(first) = next(&mut watch).await else {
        panic!("expected p's registration")
    };

    // An operator deletes the key while the provider's lease lives.
    let mut raw = cluster.raw_client().await;
    raw.delete(format!("{KEY_PREFIX}orders/p"), None)
        .await
        .unwrap();
    assert_eq!(change(&next(&mut watch).await), ("-", "p".to_owned()));
    let deleted = Instant::now();
    let WatchEvent::Upsert(again) = next(&mut watch).await else {
        panic!("expected p registered again")
    };
    // Within one TTL (plus a renewal round trip): the keep-alive checks the
    // key every TTL/3.
    let after = deleted.elapsed();
    assert!(
        after <= TTL + Duration::from_secs(1),
        "re-asserted after {after:?}"
    );
    assert!(again.revision > first.revision);
    assert_eq!(again.instance, first.instance);

    handle.shutdown();
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn watch_resumes_after_an_etcd_restart_and_the_provider_registers_again() {
    let mut cluster = EtcdCluster::single().await;
    let consumer = registry(&cluster).await;
    let mut watch = consumer.watch(&orders()).await.unwrap();
    assert!(snapshot(&mut watch).await.instances.is_empty());
    let (handle, serving) = start_provider(Arc::new(registry(&cluster).await)).await;
    let WatchEvent::Upsert(first) = next(&mut watch).await else {
        panic!("expected p's registration")
    };

    // etcd is down for longer than the TTL, then back with the same data.
    cluster.process_mut(0).kill();
    tokio::time::sleep(TTL + Duration::from_millis(500)).await;
    cluster.restart(0).await;

    let other = registry(&cluster).await;
    let _q = other.register(instance("q")).await.unwrap();
    assert_eq!(change(&next(&mut watch).await), ("+", "q".to_owned()));

    // etcd extends leases over a restart; revoke them all to lose p's.
    let mut raw = cluster.raw_client().await;
    let leases = raw.leases().await.unwrap();
    for lease in leases.leases() {
        let _ = raw.lease_revoke(lease.id()).await;
    }
    let mut events = Vec::new();
    while events.len() < 3 {
        events.push(next(&mut watch).await);
    }
    // q's lease went too; p came back with a new registration.
    let changes: BTreeSet<_> = events.iter().map(change).collect();
    let want = [("-", "p"), ("-", "q"), ("+", "p")].map(|(k, id)| (k, id.to_owned()));
    assert_eq!(changes, BTreeSet::from(want));
    let again = events
        .iter()
        .find_map(|event| match event {
            WatchEvent::Upsert(entry) => Some(entry.revision),
            _ => None,
        })
        .unwrap();
    assert!(again > first.revision);

    handle.shutdown();
    serving.await.unwrap().unwrap();
}
