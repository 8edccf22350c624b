use std::collections::BTreeMap;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use proptest::prelude::*;
use sae_core::{
    Instance, InstanceId, Registration, Registry, RemovalReason, Revision, ServiceName, WatchEvent,
    WatchStream,
};
use tokio::time::Instant;

use super::MemoryRegistry;
use super::watcher::WATCH_QUEUE_CAPACITY;

const TTL: Duration = Duration::from_secs(9);

fn instance(service: &str, id: &str) -> Instance {
    instance_at(service, id, "127.0.0.1:8080")
}

fn instance_at(service: &str, id: &str, addr: &str) -> Instance {
    Instance::builder(service)
        .id(id)
        .addr(addr.parse().unwrap())
        .build()
        .unwrap()
}

fn service(name: &str) -> ServiceName {
    ServiceName::new(name).unwrap()
}

/// Every event already queued, without waiting.
fn drain(watch: &mut WatchStream) -> Vec<WatchEvent> {
    std::iter::from_fn(|| watch.next().now_or_never().flatten()).collect()
}

/// Applies events to a model of the consumer's set, checking the contract
/// on the way: a snapshot first, then strictly increasing revisions.
fn apply(
    model: &mut BTreeMap<InstanceId, (Instance, Revision)>,
    last: &mut Option<Revision>,
    events: &[WatchEvent],
) {
    for event in events {
        match last {
            None => assert!(
                matches!(event, WatchEvent::Snapshot(_)),
                "first event {event:?}"
            ),
            Some(last) => assert!(event.revision() > *last, "{event:?} after {last}"),
        }
        *last = Some(event.revision());
        match event {
            WatchEvent::Snapshot(snapshot) => {
                model.clear();
                for entry in &snapshot.instances {
                    model.insert(
                        entry.instance.id().clone(),
                        (entry.instance.clone(), entry.revision),
                    );
                }
            }
            WatchEvent::Upsert(entry) => {
                model.insert(
                    entry.instance.id().clone(),
                    (entry.instance.clone(), entry.revision),
                );
            }
            WatchEvent::Remove { id, .. } => {
                assert!(model.remove(id).is_some(), "removed unknown {id}");
            }
        }
    }
}

async fn listed(registry: &dyn Registry, name: &str) -> BTreeMap<InstanceId, (Instance, Revision)> {
    let snapshot = registry.list(&service(name)).await.unwrap();
    snapshot
        .instances
        .into_iter()
        .map(|e| (e.instance.id().clone(), (e.instance, e.revision)))
        .collect()
}

/// One step of a registry history.
#[derive(Clone, Copy, Debug)]
enum Step {
    Register(&'static str),
    MoveAddr(&'static str),
    Deregister(&'static str),
    /// Drop the registration without deregistering, then wait out the lease.
    Crash(&'static str),
    /// A change in another service: it advances the revision but must not
    /// reach the watchers of `orders`.
    OtherService,
}

/// Runs `script` with a watcher of `orders` joining after every step, checks
/// that each saw a snapshot equal to the history up to its join and then
/// exactly the later history, and returns the history.
async fn check_watchers_joining_after_each_step(script: &[Step]) -> Vec<WatchEvent> {
    let registry = MemoryRegistry::with_ttl(TTL);
    let orders = service("orders");
    let mut witness = registry.watch(&orders).await.unwrap();
    let mut joined: Vec<(Revision, WatchStream)> = Vec::new();
    let mut held: BTreeMap<&str, Registration> = BTreeMap::new();
    for step in script {
        match *step {
            Step::Register(id) => {
                held.insert(id, registry.register(instance("orders", id)).await.unwrap());
            }
            Step::MoveAddr(id) => {
                let moved = instance_at("orders", id, "127.0.0.1:9");
                held.insert(id, registry.register(moved).await.unwrap());
            }
            Step::Deregister(id) => {
                if let Some(registration) = held.remove(id) {
                    registration.deregister().await.unwrap();
                }
            }
            Step::Crash(id) => {
                drop(held.remove(id));
                tokio::time::sleep(TTL * 2).await;
            }
            Step::OtherService => {
                let users = registry.register(instance("users", "u")).await.unwrap();
                users.deregister().await.unwrap();
            }
        }
        joined.push((registry.revision(), registry.watch(&orders).await.unwrap()));
    }

    let history = drain(&mut witness);
    let mut expected_final = BTreeMap::new();
    apply(&mut expected_final, &mut None, &history);
    assert_eq!(expected_final, listed(&registry, "orders").await);

    for (joined_at, mut watch) in joined {
        let events = drain(&mut watch);
        let WatchEvent::Snapshot(snapshot) = &events[0] else {
            panic!("first event {:?}", events[0]);
        };
        assert_eq!(snapshot.revision, joined_at);
        // The snapshot equals the history replayed up to the join...
        let mut at_join = BTreeMap::new();
        let before: Vec<_> = history
            .iter()
            .take_while(|e| e.revision() <= joined_at)
            .cloned()
            .collect();
        apply(&mut at_join, &mut None, &before);
        let mut from_snapshot = BTreeMap::new();
        apply(&mut from_snapshot, &mut None, &events[..1]);
        assert_eq!(from_snapshot, at_join, "snapshot at {joined_at}");
        // ...and the rest is exactly the later history, in revision order.
        let later: Vec<_> = history
            .iter()
            .filter(|e| e.revision() > joined_at)
            .cloned()
            .collect();
        assert_eq!(events[1..], later[..], "events after {joined_at}");
        let mut model = BTreeMap::new();
        apply(&mut model, &mut None, &events);
        assert_eq!(model, expected_final);
    }
    history
}

#[tokio::test(start_paused = true)]
async fn watchers_joining_at_different_times_see_snapshot_then_exactly_later_changes() {
    use Step::*;
    let script = [
        Register("a"),
        OtherService,
        Register("b"),
        MoveAddr("a"),
        Deregister("b"),
        Register("c"),
        Crash("c"),
        OtherService,
        Register("b"),
        Deregister("a"),
        MoveAddr("b"),
        Register("c"),
        Crash("b"),
    ];
    let history = check_watchers_joining_after_each_step(&script).await;
    assert_eq!(
        history.len(),
        1 + 11,
        "a snapshot and one event per orders step: {history:?}"
    );
    let expired = history.iter().filter(|e| {
        matches!(
            e,
            WatchEvent::Remove {
                reason: RemovalReason::Expired,
                ..
            }
        )
    });
    assert_eq!(expired.count(), 2);
}

fn step() -> impl Strategy<Value = Step> {
    let id = prop::sample::select(vec!["a", "b", "c"]);
    prop_oneof![
        id.clone().prop_map(Step::Register),
        id.clone().prop_map(Step::MoveAddr),
        id.clone().prop_map(Step::Deregister),
        id.prop_map(Step::Crash),
        Just(Step::OtherService),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_history_reaches_every_watcher_in_order(script in prop::collection::vec(step(), 0..24)) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(check_watchers_joining_after_each_step(&script));
    }
}

#[tokio::test(start_paused = true)]
async fn dropped_registration_expires_after_ttl_and_not_before() {
    let registry = MemoryRegistry::with_ttl(TTL);
    let orders = service("orders");
    let registration = registry.register(instance("orders", "a")).await.unwrap();
    let mut watch = registry.watch(&orders).await.unwrap();
    drain(&mut watch);
    let dropped_at = Instant::now();
    drop(registration);

    tokio::time::advance(TTL - Duration::from_millis(1)).await;
    tokio::task::yield_now().await;
    assert!(drain(&mut watch).is_empty());
    assert_eq!(registry.list(&orders).await.unwrap().instances.len(), 1);

    let event = watch.next().await.unwrap();
    assert!(
        matches!(&event, WatchEvent::Remove { id, reason: RemovalReason::Expired, .. } if id.as_str() == "a"),
        "{event:?}"
    );
    assert!(dropped_at.elapsed() >= TTL);
    assert!(registry.list(&orders).await.unwrap().instances.is_empty());
}

#[tokio::test(start_paused = true)]
async fn held_registration_stays_through_many_ttls_then_lapses_after_drop() {
    let registry = MemoryRegistry::with_ttl(TTL);
    let orders = service("orders");
    let registration = registry.register(instance("orders", "a")).await.unwrap();
    let mut watch = registry.watch(&orders).await.unwrap();
    drain(&mut watch);

    tokio::time::sleep(TTL * 20).await;
    assert!(
        drain(&mut watch).is_empty(),
        "keep-alive let the lease lapse"
    );
    assert_eq!(registry.list(&orders).await.unwrap().instances.len(), 1);

    // The deadline is one TTL after the last renewal, at most TTL/3 ago.
    let dropped_at = Instant::now();
    drop(registration);
    tokio::time::advance(TTL - TTL / 3 - Duration::from_millis(1)).await;
    tokio::task::yield_now().await;
    assert!(drain(&mut watch).is_empty());
    let event = watch.next().await.unwrap();
    assert!(matches!(
        event,
        WatchEvent::Remove {
            reason: RemovalReason::Expired,
            ..
        }
    ));
    assert!(dropped_at.elapsed() <= TTL);
}

#[tokio::test(start_paused = true)]
async fn deregister_emits_remove_deregistered_and_unknown_is_ok() {
    let registry = MemoryRegistry::new();
    let orders = service("orders");
    let a = registry.register(instance("orders", "a")).await.unwrap();
    let _b = registry.register(instance("orders", "b")).await.unwrap();
    let mut watch = registry.watch(&orders).await.unwrap();
    drain(&mut watch);

    a.deregister().await.unwrap();
    registry
        .deregister(&orders, &InstanceId::new("b").unwrap())
        .await
        .unwrap();
    let events = drain(&mut watch);
    assert_eq!(events.len(), 2, "{events:?}");
    for (event, expected) in events.iter().zip(["a", "b"]) {
        assert!(
            matches!(event, WatchEvent::Remove { id, reason: RemovalReason::Deregistered, .. } if id.as_str() == expected),
            "{event:?}"
        );
    }

    let before = registry.revision();
    registry
        .deregister(&orders, &InstanceId::new("nobody").unwrap())
        .await
        .unwrap();
    registry
        .deregister(&service("nothing"), &InstanceId::new("b").unwrap())
        .await
        .unwrap();
    assert_eq!(registry.revision(), before, "no change, no revision");
    assert!(drain(&mut watch).is_empty());
}

#[tokio::test(start_paused = true)]
async fn re_register_replaces_with_larger_revision_and_old_lease_is_harmless() {
    let registry = MemoryRegistry::with_ttl(TTL);
    let orders = service("orders");
    let first = registry.register(instance("orders", "a")).await.unwrap();
    let moved = instance_at("orders", "a", "127.0.0.1:7");
    let mut watch = registry.watch(&orders).await.unwrap();
    drain(&mut watch);

    let second = registry.register(moved.clone()).await.unwrap();
    assert!(second.entry().revision > first.entry().revision);
    let events = drain(&mut watch);
    assert_eq!(events, [WatchEvent::Upsert(second.entry().clone())]);

    // The superseded lease reports itself lost, and neither its deregister
    // nor its expiry touches the new registration.
    first.lost().await;
    first.deregister().await.unwrap();
    tokio::time::sleep(TTL * 3).await;
    assert!(drain(&mut watch).is_empty());
    let listed = registry.list(&orders).await.unwrap();
    assert_eq!(listed.instances, [second.entry().clone()]);
    assert_eq!(listed.instances[0].instance, moved);
}

#[tokio::test(start_paused = true)]
async fn externally_deregistered_lease_reports_lost() {
    let registry = MemoryRegistry::with_ttl(TTL);
    let registration = registry.register(instance("orders", "a")).await.unwrap();
    assert!(registration.lost().now_or_never().is_none());
    registry
        .deregister(&service("orders"), &InstanceId::new("a").unwrap())
        .await
        .unwrap();
    registration.lost().await;
}

/// An operator's delete, or another registration of the same id written
/// over this one, while the lease is held: the owner learns within one TTL
/// (at the next renewal) and can register again.
#[tokio::test(start_paused = true)]
async fn entry_deleted_or_overwritten_from_outside_is_lost_within_one_ttl() {
    let registry = MemoryRegistry::with_ttl(TTL);
    let deleted = registry.register(instance("orders", "a")).await.unwrap();
    tokio::time::sleep(TTL * 2).await; // well into the lease's life
    registry
        .deregister(&service("orders"), &InstanceId::new("a").unwrap())
        .await
        .unwrap();
    tokio::time::timeout(TTL, deleted.lost())
        .await
        .expect("an externally deleted entry was not reported lost within one TTL");

    let overwritten = registry.register(instance("orders", "b")).await.unwrap();
    tokio::time::sleep(TTL / 2).await;
    let newer = registry
        .register(instance_at("orders", "b", "127.0.0.1:9"))
        .await
        .unwrap();
    tokio::time::timeout(TTL, overwritten.lost())
        .await
        .expect("an overwritten entry was not reported lost within one TTL");
    // The newer registration is not the one that was lost.
    assert!(newer.lost().now_or_never().is_none());
    tokio::time::sleep(TTL * 2).await;
    assert!(newer.lost().now_or_never().is_none());
    assert_eq!(
        registry.list(&service("orders")).await.unwrap().instances,
        [newer.entry().clone()]
    );
}

#[tokio::test(start_paused = true)]
async fn dropped_watcher_does_not_break_registrations() {
    let registry = MemoryRegistry::new();
    let orders = service("orders");
    let dropped = registry.watch(&orders).await.unwrap();
    let mut kept = registry.watch(&orders).await.unwrap();
    drop(dropped);
    let _a = registry.register(instance("orders", "a")).await.unwrap();
    let events = drain(&mut kept);
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(
        format!("{registry:?}").contains("watchers: 1"),
        "{registry:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn stuck_watcher_is_resynchronised_with_a_snapshot() {
    let registry = MemoryRegistry::new();
    let orders = service("orders");
    let mut watch = registry.watch(&orders).await.unwrap();
    let mut held = Vec::new();
    for n in 0..WATCH_QUEUE_CAPACITY + 5 {
        held.push(
            registry
                .register(instance("orders", &format!("i{n}")))
                .await
                .unwrap(),
        );
    }
    let events = drain(&mut watch);
    assert!(
        events.len() < WATCH_QUEUE_CAPACITY,
        "backlog kept: {}",
        events.len()
    );
    let WatchEvent::Snapshot(resync) = &events[0] else {
        panic!("{:?}", events[0]);
    };
    assert!(
        resync.revision > Revision(0),
        "the initial snapshot was replaced"
    );
    let mut model = BTreeMap::new();
    apply(&mut model, &mut None, &events);
    assert_eq!(model, listed(&registry, "orders").await);
    assert_eq!(model.len(), WATCH_QUEUE_CAPACITY + 5);
}

#[tokio::test(start_paused = true)]
async fn works_as_arc_dyn_registry_and_clones_share_state() {
    let memory = MemoryRegistry::new();
    let registry: Arc<dyn Registry> = Arc::new(memory.clone());
    assert_eq!(registry.backend(), "memory");
    let registration = registry.register(instance("orders", "a")).await.unwrap();
    assert_eq!(registration.instance().id().as_str(), "a");
    assert_eq!(listed(&memory, "orders").await.len(), 1);
    let mut watch = memory.clone().watch(&service("orders")).await.unwrap();
    let Some(WatchEvent::Snapshot(snapshot)) = watch.next().await else {
        panic!()
    };
    assert_eq!(snapshot.instances, [registration.entry().clone()]);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_registry_ends_watches_and_background_tasks() {
    let registry = MemoryRegistry::with_ttl(TTL);
    let held = registry.register(instance("orders", "a")).await.unwrap();
    let dropped = registry.register(instance("orders", "b")).await.unwrap();
    drop(dropped);
    let mut watch = registry.watch(&service("orders")).await.unwrap();
    drop(registry);
    assert!(matches!(watch.next().await, Some(WatchEvent::Snapshot(_))));
    assert_eq!(watch.next().await, None);
    held.deregister().await.unwrap(); // the registry is gone: nothing to do, no error

    let metrics = tokio::runtime::Handle::current().metrics();
    for _ in 0..10 {
        if metrics.num_alive_tasks() == 0 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(
        metrics.num_alive_tasks(),
        0,
        "a lease task outlived its registry"
    );
}

#[test]
fn register_outside_a_runtime_is_an_error_not_a_panic() {
    let registry = MemoryRegistry::new();
    let mut register = registry.register(instance("orders", "a"));
    let mut cx = Context::from_waker(Waker::noop());
    let Poll::Ready(Err(error)) = register.as_mut().poll(&mut cx) else {
        panic!("expected an error");
    };
    assert!(error.to_string().contains("tokio runtime"), "{error}");
}

#[test]
fn ttl_is_clamped_and_debug_names_the_numbers() {
    assert_eq!(
        MemoryRegistry::with_ttl(Duration::ZERO).ttl(),
        MemoryRegistry::MIN_TTL
    );
    assert_eq!(MemoryRegistry::default().ttl(), MemoryRegistry::DEFAULT_TTL);
    let debug = format!("{:?}", MemoryRegistry::new());
    assert!(
        debug.contains("ttl: 10s") && debug.contains("revision"),
        "{debug}"
    );
}
