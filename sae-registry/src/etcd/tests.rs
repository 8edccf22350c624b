//! Tests against real etcd processes started by [`super::testing`].

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use etcd_client::PutOptions;
use futures_util::{FutureExt, StreamExt};
use sae_core::{
    Error, Instance, InstanceId, Registration, Registry, Revision, ServiceName, Snapshot,
    WatchEvent, WatchStream,
};
use tokio::time::{Instant, timeout};

use super::instances::Instances;
use super::testing::EtcdCluster;
use super::watch::{self as prefix_watch, PrefixWatch};
use super::{EtcdOptions, EtcdRegistry, KEY_PREFIX, keys};

/// Bound on waiting for one event that should come at once.
const PROMPT: Duration = Duration::from_secs(10);
/// The short lease TTL of the expiry tests (etcd's minimum here is 0.75 s).
const SHORT_TTL: Duration = Duration::from_secs(2);

fn orders() -> ServiceName {
    ServiceName::new("orders").unwrap()
}

fn instance(id: &str) -> Instance {
    instance_at(id, "127.0.0.1:8080")
}

fn instance_at(id: &str, addr: &str) -> Instance {
    Instance::builder("orders")
        .id(id)
        .addr(addr.parse().unwrap())
        .build()
        .unwrap()
}

/// How long a call may retry through an election: a guard, generous
/// because parallel tests starve a 2-core machine's etcd processes.
const CALL_BOUND: Duration = Duration::from_secs(20);

async fn registry(cluster: &EtcdCluster, ttl: Duration) -> EtcdRegistry {
    let options = EtcdOptions::default().ttl(ttl).request_timeout(CALL_BOUND);
    EtcdRegistry::connect(cluster.endpoints(), options)
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

fn ids(snapshot: &Snapshot) -> BTreeSet<String> {
    snapshot
        .instances
        .iter()
        .map(|entry| entry.instance.id().as_str().to_owned())
        .collect()
}

/// `("+", id)` for an upsert, `("-", id)` for a removal.
fn change(event: &WatchEvent) -> (&'static str, String) {
    match event {
        WatchEvent::Upsert(entry) => ("+", entry.instance.id().as_str().to_owned()),
        WatchEvent::Remove { id, .. } => ("-", id.as_str().to_owned()),
        WatchEvent::Snapshot(snapshot) => panic!("unexpected snapshot {snapshot:?}"),
    }
}

#[tokio::test]
async fn register_list_watch_deregister_between_two_clients() {
    let cluster = EtcdCluster::single().await;
    let provider = registry(&cluster, EtcdOptions::DEFAULT_TTL).await;
    let consumer = registry(&cluster, EtcdOptions::DEFAULT_TTL).await;
    assert_eq!(provider.backend(), "etcd");

    let a = provider.register(instance("a")).await.unwrap();
    let listed = consumer.list(&orders()).await.unwrap();
    assert_eq!(listed.instances, vec![a.entry().clone()]);
    assert!(listed.revision >= a.entry().revision);

    let mut watch = consumer.watch(&orders()).await.unwrap();
    let first = snapshot(&mut watch).await;
    assert_eq!(ids(&first), BTreeSet::from(["a".to_owned()]));

    let b = provider.register(instance("b")).await.unwrap();
    let upsert = next(&mut watch).await;
    assert_eq!(upsert, WatchEvent::Upsert(b.entry().clone()));
    assert!(upsert.revision() > first.revision);

    a.deregister().await.unwrap();
    let removal = next(&mut watch).await;
    assert_eq!(change(&removal), ("-", "a".to_owned()));
    assert!(removal.revision() > upsert.revision());

    // Deregistering by name works from any client, and twice is no error.
    let b_id = InstanceId::new("b").unwrap();
    consumer.deregister(&orders(), &b_id).await.unwrap();
    consumer.deregister(&orders(), &b_id).await.unwrap();
    assert_eq!(change(&next(&mut watch).await), ("-", "b".to_owned()));
    assert!(provider.list(&orders()).await.unwrap().instances.is_empty());

    // The stored value is the core JSON under the documented key.
    let c = provider.register(instance("c")).await.unwrap();
    let mut raw = cluster.raw_client().await;
    let stored = raw
        .get(format!("{KEY_PREFIX}orders/c"), None)
        .await
        .unwrap();
    assert_eq!(stored.kvs()[0].value(), c.instance().to_json());
    drop(b);
}

/// Each removal is timed from its own cause (the SIGKILL sent, the
/// registration dropped) to the moment the watcher holds the removal event,
/// so neither the other provider's set-up nor a slow start of the child
/// counts against the TTL + 1 s bound. Both providers are registered before
/// either goes, so no set-up step runs while a lease is running out.
#[tokio::test]
async fn a_killed_provider_disappears_from_watchers_within_ttl() {
    let cluster = EtcdCluster::single().await;
    let consumer = registry(&cluster, SHORT_TTL).await;
    let mut watch = consumer.watch(&orders()).await.unwrap();
    assert!(snapshot(&mut watch).await.instances.is_empty());

    // Dropping a registration (no deregister) is the in-process equivalent.
    let provider = registry(&cluster, SHORT_TTL).await;
    let dropped = provider.register(instance("dropped")).await.unwrap();
    assert_eq!(change(&next(&mut watch).await), ("+", "dropped".to_owned()));

    // A provider in another process registers and is then sent SIGKILL.
    let mut child = ChildProvider::spawn(&cluster.endpoints()[0]);
    child.wait_registered();
    assert_eq!(change(&next(&mut watch).await), ("+", "child".to_owned()));

    let killed_at = Instant::now();
    child.kill();
    let dropped_at = Instant::now();
    drop(dropped);

    let mut gone = BTreeMap::new();
    while gone.len() < 2 {
        let (kind, id) = change(&next(&mut watch).await);
        assert_eq!(kind, "-", "unexpected registration of {id}");
        let caused_at = if id == "child" { killed_at } else { dropped_at };
        gone.insert(id, caused_at.elapsed());
    }
    let bound = SHORT_TTL + Duration::from_secs(1);
    assert_eq!(gone.keys().collect::<Vec<_>>(), ["child", "dropped"]);
    assert!(
        gone.values().all(|took| *took <= bound),
        "removals seen after (from kill / drop) {gone:?}; the bound is TTL + 1 s = {bound:?}"
    );
}

/// The child process of [`a_killed_provider_disappears_from_watchers_within_ttl`]:
/// registers, says so on stdout, and waits to be killed.
#[tokio::test]
#[ignore = "run as a child process by a_killed_provider_disappears_from_watchers_within_ttl"]
async fn child_provider_process() {
    let Ok(endpoint) = std::env::var(CHILD_ENDPOINT_VAR) else {
        return;
    };
    let registry = EtcdRegistry::connect([endpoint], EtcdOptions::default().ttl(SHORT_TTL))
        .await
        .unwrap();
    let _registration = registry.register(instance("child")).await.unwrap();
    println!("{CHILD_READY_LINE}");
    std::future::pending::<()>().await;
}

const CHILD_ENDPOINT_VAR: &str = "SAE_ETCD_TEST_CHILD_ENDPOINT";
const CHILD_READY_LINE: &str = "SAE_CHILD_REGISTERED";

/// This test binary re-run as a provider process; killed on drop.
struct ChildProvider {
    process: std::process::Child,
}

impl ChildProvider {
    fn spawn(endpoint: &str) -> ChildProvider {
        let process = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "etcd::tests::child_provider_process",
                "--exact",
                "--ignored",
            ])
            .args(["--nocapture", "--test-threads", "1"])
            .env(CHILD_ENDPOINT_VAR, endpoint)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        ChildProvider { process }
    }

    /// Blocks until the child printed its ready line (it registers in well
    /// under a second; the read ends if the child dies).
    fn wait_registered(&mut self) {
        use std::io::BufRead;
        let stdout = self.process.stdout.take().unwrap();
        let registered = std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line.contains(CHILD_READY_LINE));
        assert!(registered, "the child provider exited before registering");
    }

    /// SIGKILL: no deregistration, no lease revoke.
    fn kill(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Drop for ChildProvider {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test]
async fn leader_loss_in_a_three_node_cluster_loses_and_repeats_nothing() {
    let mut cluster = EtcdCluster::start(3).await;
    let provider = registry(&cluster, EtcdOptions::DEFAULT_TTL).await;
    let leader = cluster.leader().await;
    // One watcher can reach only the leader, so it surely loses its stream
    // and must resume when that member comes back; the other may use any.
    let on_leader =
        EtcdRegistry::connect([cluster.process(leader).endpoint()], EtcdOptions::default())
            .await
            .unwrap();
    let anywhere = registry(&cluster, EtcdOptions::DEFAULT_TTL).await;
    let mut watches = [
        on_leader.watch(&orders()).await.unwrap(),
        anywhere.watch(&orders()).await.unwrap(),
    ];
    for watch in &mut watches {
        assert!(snapshot(watch).await.instances.is_empty());
    }

    let mut kept = Vec::new();
    for id in ["a0", "a1", "a2"] {
        kept.push(provider.register(instance(id)).await.unwrap());
    }
    kept.remove(0).deregister().await.unwrap();

    cluster.process_mut(leader).kill();

    // Registrations and deregistrations retry through the election.
    for id in ["b0", "b1", "b2"] {
        kept.push(provider.register(instance(id)).await.unwrap());
    }
    kept.remove(0).deregister().await.unwrap(); // a1
    kept.remove(1).deregister().await.unwrap(); // b0

    // The old leader rejoins as a follower with its old data.
    cluster.process_mut(leader).start();
    let end = provider.register(instance("end")).await.unwrap();

    let expected: Vec<_> = [
        ("+", "a0"),
        ("+", "a1"),
        ("+", "a2"),
        ("-", "a0"),
        ("+", "b0"),
        ("+", "b1"),
        ("+", "b2"),
        ("-", "a1"),
        ("-", "b0"),
        ("+", "end"),
    ]
    .iter()
    .map(|(kind, id)| (*kind, (*id).to_owned()))
    .collect();
    for watch in &mut watches {
        let mut seen = Vec::new();
        let mut last = Revision(0);
        for _ in &expected {
            let event = next(watch).await;
            assert!(event.revision() > last, "{event:?} after {last}");
            last = event.revision();
            seen.push(change(&event));
        }
        // Every change once, in order; "end" being last proves no repeats.
        assert_eq!(seen, expected);
        assert_eq!(last, end.entry().revision);
    }

    let listed = anywhere.list(&orders()).await.unwrap();
    let want = ["a2", "b1", "b2", "end"].map(str::to_owned);
    assert_eq!(ids(&listed), BTreeSet::from(want));
    drop(kept);
}

/// An operator's delete or a bad write over a registered key while its lease
/// lives: the registration reports itself lost within one TTL, so its owner
/// registers again; a registration nobody touched is not reported lost.
#[tokio::test]
async fn a_deleted_or_overwritten_key_is_reported_lost_within_ttl() {
    let cluster = EtcdCluster::single().await;
    let registry = registry(&cluster, SHORT_TTL).await;
    let mut raw = cluster.raw_client().await;
    let key = |id: &str| format!("{KEY_PREFIX}orders/{id}");
    let steady = registry.register(instance("steady")).await.unwrap();

    let deleted = registry.register(instance("deleted")).await.unwrap();
    let overwritten = registry.register(instance("overwritten")).await.unwrap();
    let same_lease = registry.register(instance("same-lease")).await.unwrap();
    let lease_of = raw.get(key("same-lease"), None).await.unwrap().kvs()[0].lease();
    let other_value = instance_at("overwritten", "127.0.0.1:9090").to_json();

    let faults: [(&str, &Registration, PutOrDelete); 3] = [
        ("deleted", &deleted, PutOrDelete::Delete),
        (
            "overwritten",
            &overwritten,
            PutOrDelete::Put(other_value, None),
        ),
        (
            "same-lease",
            &same_lease,
            PutOrDelete::Put(b"{}".to_vec(), Some(lease_of)),
        ),
    ];
    for (id, registration, fault) in faults {
        assert!(registration.lost().now_or_never().is_none(), "{id}");
        let faulted_at = Instant::now();
        match fault {
            PutOrDelete::Delete => {
                raw.delete(key(id), None).await.unwrap();
            }
            PutOrDelete::Put(value, lease) => {
                let options = lease.map(|lease| PutOptions::new().with_lease(lease));
                raw.put(key(id), value, options).await.unwrap();
            }
        }
        timeout(PROMPT, registration.lost())
            .await
            .unwrap_or_else(|_| panic!("{id}: never reported lost"));
        let took = faulted_at.elapsed();
        let bound = SHORT_TTL + Duration::from_secs(1);
        assert!(
            took <= bound,
            "{id}: lost after {took:?}; the bound is {bound:?}"
        );
    }

    // Registering again is a fresh registration, not lost.
    let again = registry.register(instance("deleted")).await.unwrap();
    tokio::time::sleep(SHORT_TTL).await;
    assert!(again.lost().now_or_never().is_none());
    assert!(steady.lost().now_or_never().is_none());
}

/// While etcd is down the renewals and the reads of the key fail: that is an
/// outage, not a loss. etcd extends the lease when it is back, and the
/// registration goes on with the same key and lease.
#[tokio::test]
async fn an_etcd_outage_is_not_a_lost_registration() {
    let ttl = Duration::from_secs(3);
    let mut cluster = EtcdCluster::single().await;
    let registry = registry(&cluster, ttl).await;
    let held = registry.register(instance("held")).await.unwrap();
    let key = format!("{KEY_PREFIX}orders/held");
    let lease_before = cluster
        .raw_client()
        .await
        .get(key.as_str(), None)
        .await
        .unwrap()
        .kvs()[0]
        .lease();

    cluster.process_mut(0).kill();
    tokio::time::sleep(ttl).await; // several ticks fail
    cluster.restart(0).await;
    tokio::time::sleep(ttl * 2).await;

    assert!(
        held.lost().now_or_never().is_none(),
        "an outage was taken for a loss"
    );
    let stored = cluster
        .raw_client()
        .await
        .get(key.as_str(), None)
        .await
        .unwrap();
    assert_eq!(stored.kvs().len(), 1, "the key is gone after the outage");
    assert_eq!(stored.kvs()[0].lease(), lease_before);
    assert_eq!(stored.kvs()[0].value(), held.instance().to_json());
}

/// A fault `a_deleted_or_overwritten_key_is_reported_lost_within_ttl` makes.
enum PutOrDelete {
    Delete,
    /// Another value, with a lease or none.
    Put(Vec<u8>, Option<i64>),
}

#[tokio::test]
async fn malformed_values_are_skipped_and_the_watch_goes_on() {
    let cluster = EtcdCluster::single().await;
    let registry = registry(&cluster, EtcdOptions::DEFAULT_TTL).await;
    let mut raw = cluster.raw_client().await;
    raw.put(format!("{KEY_PREFIX}orders/garbage"), "not json", None)
        .await
        .unwrap();
    // A value naming another instance than its key is not trusted either.
    raw.put(
        format!("{KEY_PREFIX}orders/liar"),
        instance("x").to_json(),
        None,
    )
    .await
    .unwrap();

    assert!(registry.list(&orders()).await.unwrap().instances.is_empty());
    let mut watch = registry.watch(&orders()).await.unwrap();
    assert!(snapshot(&mut watch).await.instances.is_empty());

    raw.put(format!("{KEY_PREFIX}orders/worse"), vec![0xff, 0x00], None)
        .await
        .unwrap();
    let good = registry.register(instance("good")).await.unwrap();
    assert_eq!(
        next(&mut watch).await,
        WatchEvent::Upsert(good.entry().clone())
    );

    // Overwriting a valid entry with garbage withdraws it.
    raw.put(format!("{KEY_PREFIX}orders/good"), "{", None)
        .await
        .unwrap();
    assert_eq!(change(&next(&mut watch).await), ("-", "good".to_owned()));
    drop(good);
}

/// An address no consumer can connect to fails to decode like a malformed
/// value: skipped from lists and watches, and it withdraws a valid entry.
#[tokio::test]
async fn entries_with_unroutable_addresses_are_skipped() {
    let cluster = EtcdCluster::single().await;
    let registry = registry(&cluster, EtcdOptions::DEFAULT_TTL).await;
    let mut raw = cluster.raw_client().await;
    let unroutable = |id: &str, addr: &str| {
        format!(r#"{{"version":1,"service":"orders","id":"{id}","addr":"{addr}"}}"#)
    };
    raw.put(
        format!("{KEY_PREFIX}orders/wild"),
        unroutable("wild", "0.0.0.0:8080"),
        None,
    )
    .await
    .unwrap();
    assert!(registry.list(&orders()).await.unwrap().instances.is_empty());
    let mut watch = registry.watch(&orders()).await.unwrap();
    assert!(snapshot(&mut watch).await.instances.is_empty());

    raw.put(
        format!("{KEY_PREFIX}orders/portless"),
        unroutable("portless", "10.0.0.7:0"),
        None,
    )
    .await
    .unwrap();
    let good = registry.register(instance("good")).await.unwrap();
    assert_eq!(
        next(&mut watch).await,
        WatchEvent::Upsert(good.entry().clone())
    );
    raw.put(
        format!("{KEY_PREFIX}orders/good"),
        unroutable("good", "[::]:8080"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(change(&next(&mut watch).await), ("-", "good".to_owned()));
}

#[tokio::test]
async fn a_compacted_resume_point_gives_a_fresh_snapshot() {
    let cluster = EtcdCluster::single().await;
    let registry = registry(&cluster, EtcdOptions::DEFAULT_TTL).await;
    let stale = registry.list(&orders()).await.unwrap();
    let kept = registry.register(instance("a")).await.unwrap();
    let _ = registry
        .register(instance("b"))
        .await
        .unwrap()
        .deregister()
        .await;

    cluster.compact().await;

    // A watch that last delivered `stale` must resume where history is gone.
    let client = registry.client().await.unwrap().clone();
    let (sender, receiver) = prefix_watch::channel();
    let mut follow = Instances::new(orders());
    prefix_watch::Follow::adopt(&mut follow, &WatchEvent::Snapshot(stale.clone()));
    let follower = PrefixWatch::new(client, follow, stale.revision, sender);
    tokio::spawn(follower.run(registry.shared.closed_rx.clone()));
    let mut watch: WatchStream = Box::pin(tokio_stream::wrappers::ReceiverStream::new(receiver));
    let fresh = snapshot(&mut watch).await;
    assert_eq!(fresh.instances, vec![kept.entry().clone()]);
    assert!(fresh.revision > stale.revision);
}

#[tokio::test]
async fn connecting_to_no_etcd_is_unreachable_and_names_its_bound() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("127.0.0.1:{port}");
    let options = EtcdOptions::default().connect_timeout(Duration::from_millis(500));
    let error = EtcdRegistry::connect([endpoint.clone()], options)
        .await
        .unwrap_err();
    let message = error.to_string();
    // The bound it names is the one it was given.
    assert!(
        matches!(
            error,
            Error::RegistryUnreachable {
                backend: "etcd",
                operation: "connect",
                after,
                ..
            } if after == Duration::from_millis(500)
        ) && message.contains(&endpoint),
        "{message}"
    );

    let none: [&str; 0] = [];
    let error = EtcdRegistry::connect(none, EtcdOptions::default())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("no endpoints"), "{error}");

    // A lazy registry reports the same on its first call.
    let lazy = EtcdRegistry::lazy(
        [endpoint],
        EtcdOptions::default().connect_timeout(Duration::from_millis(200)),
    );
    assert!(lazy.list(&orders()).await.is_err());
}

#[test]
fn keys_follow_the_documented_layout() {
    let id = InstanceId::new("10.0.0.1:8080").unwrap();
    let key = keys::instance_key(&orders(), &id);
    assert_eq!(key, "/sae/v1/services/orders/10.0.0.1:8080");
    let prefix = keys::service_prefix(&orders());
    assert_eq!(keys::instance_id(&prefix, key.as_bytes()), Some(id));
    assert_eq!(
        keys::instance_id(&prefix, b"/sae/v1/services/orders/"),
        None
    );
    assert_eq!(
        keys::instance_id(&prefix, b"/sae/v1/services/orders2/a"),
        None
    );
    assert_eq!(
        keys::instance_id(&prefix, b"/sae/v1/services/orders/a b"),
        None
    );
    assert_eq!(keys::instance_id(&prefix, &[b'/', 0xff]), None);
}

#[test]
fn ttl_rounds_up_to_whole_seconds() {
    let secs = |ttl| EtcdOptions::default().ttl(ttl).ttl_secs();
    assert_eq!(secs(Duration::from_secs(10)), 10);
    assert_eq!(secs(Duration::from_millis(1500)), 2);
    assert_eq!(secs(Duration::from_millis(1)), 1);
    assert_eq!(secs(Duration::ZERO), 1);
}
