use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sae_core::{
    Error, Instance, InstanceId, Lane, Registered, RemovalReason, Revision, ServiceName, Snapshot,
    WatchEvent,
};

use super::{BalanceConfig, Balancer, Endpoint, LaneFallback};

fn balancer() -> Balancer<()> {
    Balancer::new(
        ServiceName::new("orders").unwrap(),
        BalanceConfig::default(),
        LaneFallback::Base,
        |_| (),
    )
}

fn registered(id: &str, port: u16, revision: u64) -> Registered {
    instance(Instance::builder("orders").id(id), port, revision)
}

fn instance(builder: sae_core::InstanceBuilder, port: u16, revision: u64) -> Registered {
    let instance = builder.addr(([127, 0, 0, 1], port).into()).build().unwrap();
    Registered {
        instance,
        revision: Revision(revision),
    }
}

fn remove(id: &str, revision: u64) -> WatchEvent {
    WatchEvent::Remove {
        revision: Revision(revision),
        id: InstanceId::new(id).unwrap(),
        reason: RemovalReason::Deregistered,
    }
}

fn ids(balancer: &Balancer<()>) -> HashSet<String> {
    balancer
        .endpoints()
        .iter()
        .map(|endpoint| endpoint.id().to_string())
        .collect()
}

/// The routable endpoint with id `id`.
pub(super) fn endpoint(balancer: &Balancer<()>, id: &str) -> Arc<Endpoint<()>> {
    balancer
        .endpoints()
        .into_iter()
        .find(|endpoint| endpoint.id().as_str() == id)
        .unwrap_or_else(|| panic!("no routable endpoint {id}"))
}

fn picked_ids(balancer: &Balancer<()>, lane: Option<&Lane>, picks: usize) -> HashSet<String> {
    (0..picks)
        .map(|_| balancer.pick(lane).unwrap().id().to_string())
        .collect()
}

fn set(items: &[&str]) -> HashSet<String> {
    items.iter().map(|item| item.to_string()).collect()
}

#[tokio::test]
async fn p2c_prefers_the_less_loaded_endpoint() {
    let balancer = balancer();
    balancer.apply(WatchEvent::Upsert(registered("a", 1001, 1)));
    balancer.apply(WatchEvent::Upsert(registered("b", 1002, 2)));
    let busy = endpoint(&balancer, "a");
    let in_flight: Vec<_> = (0..5).map(|_| busy.begin()).collect();
    // With two endpoints both are always the candidates, so the cheaper one always wins.
    assert_eq!(picked_ids(&balancer, None, 200), set(&["b"]));
    drop(in_flight);
    assert_eq!(busy.pending(), 0);
    assert_eq!(picked_ids(&balancer, None, 200), set(&["a", "b"]));
}

#[tokio::test(start_paused = true)]
async fn warm_up_weight_follows_slow_start() {
    let balancer = balancer();
    let warming = Instance::builder("orders")
        .id("new")
        .start_time(SystemTime::now())
        .warmup(Duration::from_secs(10));
    balancer.apply(WatchEvent::Upsert(instance(warming, 1001, 1)));
    let endpoint = balancer.pick(None).unwrap();
    let weight = || endpoint.effective_weight(tokio::time::Instant::now());

    // t = 0: the 10 % floor of the default weight 100.
    assert!((weight() - 10.0).abs() < 1e-9, "t=0: {}", weight());
    tokio::time::advance(Duration::from_secs(5)).await;
    // Half the window; the start time carries at most a millisecond of truncation.
    assert!((weight() - 50.0).abs() < 0.05, "t=5s: {}", weight());
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(weight(), 100.0);
}

#[tokio::test]
async fn an_instance_without_warm_up_has_its_full_weight() {
    let balancer = balancer();
    balancer.apply(WatchEvent::Upsert(instance(
        Instance::builder("orders").id("a").weight(7),
        1001,
        1,
    )));
    let endpoint = balancer.pick(None).unwrap();
    assert_eq!(endpoint.effective_weight(tokio::time::Instant::now()), 7.0);
}

#[tokio::test]
async fn a_removal_leaves_no_stale_index() {
    let balancer = balancer();
    for (index, id) in ["a", "b", "c"].iter().enumerate() {
        balancer.apply(WatchEvent::Upsert(registered(
            id,
            1001 + index as u16,
            index as u64 + 1,
        )));
    }
    let held = balancer.endpoints();
    balancer.apply(remove("b", 4));
    assert_eq!(ids(&balancer), set(&["a", "c"]));
    assert_eq!(picked_ids(&balancer, None, 300), set(&["a", "c"]));
    // Endpoints picked before the removal stay valid and keep their identity.
    assert!(held.iter().any(|endpoint| endpoint.id().as_str() == "b"));
}

#[tokio::test]
async fn an_evicted_endpoint_is_never_picked() {
    let balancer = balancer();
    balancer.apply(WatchEvent::Upsert(registered("a", 1001, 1)));
    balancer.apply(WatchEvent::Upsert(registered("b", 1002, 2)));
    let a = endpoint(&balancer, "a");
    assert!(balancer.evict(&a));
    assert!(!balancer.evict(&a), "a second notice changes nothing");
    assert!(a.is_evicted());
    assert_eq!(ids(&balancer), set(&["b"]));
    assert_eq!(picked_ids(&balancer, None, 300), set(&["b"]));
    assert_eq!(balancer.stats().evictions_by_notice, 1);
}

#[tokio::test]
async fn an_evicted_endpoint_comes_back_only_with_a_larger_revision() {
    let balancer = balancer();
    balancer.apply(WatchEvent::Upsert(registered("a", 1001, 5)));
    balancer.apply(WatchEvent::Upsert(registered("b", 1002, 6)));
    let a = endpoint(&balancer, "a");
    balancer.evict(&a);

    // A poll still listing the same registration does not resurrect it.
    balancer.apply(WatchEvent::Snapshot(Snapshot {
        revision: Revision(7),
        instances: vec![registered("a", 1001, 5), registered("b", 1002, 6)],
    }));
    assert_eq!(ids(&balancer), set(&["b"]));
    balancer.apply(WatchEvent::Upsert(registered("a", 1001, 5)));
    assert_eq!(ids(&balancer), set(&["b"]));

    // A new registration does.
    balancer.apply(WatchEvent::Upsert(registered("a", 1001, 9)));
    assert_eq!(ids(&balancer), set(&["a", "b"]));
    let back = endpoint(&balancer, "a");
    assert!(!back.is_evicted());
    assert_eq!(back.revision(), Revision(9));
}

#[tokio::test]
async fn push_empty_protection_keeps_the_last_known_set() {
    let balancer = balancer();
    balancer.apply(WatchEvent::Upsert(registered("a", 1001, 1)));
    balancer.apply(WatchEvent::Upsert(registered("b", 1002, 2)));
    balancer.apply(remove("a", 3));
    assert_eq!(ids(&balancer), set(&["b"]));

    balancer.apply(remove("b", 4));
    assert_eq!(ids(&balancer), set(&["b"]), "the last removal is withheld");
    balancer.apply(WatchEvent::Snapshot(Snapshot {
        revision: Revision(5),
        instances: Vec::new(),
    }));
    assert_eq!(ids(&balancer), set(&["b"]), "an empty snapshot is withheld");
    assert_eq!(balancer.stats().withheld_updates, 2);
    assert!(balancer.pick(None).is_ok());

    // A new registration ends the episode and applies the withheld removal.
    balancer.apply(WatchEvent::Upsert(registered("c", 1003, 6)));
    assert_eq!(ids(&balancer), set(&["c"]));
}

#[tokio::test]
async fn a_snapshot_replaces_the_set() {
    let balancer = balancer();
    balancer.apply(WatchEvent::Upsert(registered("a", 1001, 1)));
    balancer.apply(WatchEvent::Snapshot(Snapshot {
        revision: Revision(3),
        instances: vec![registered("b", 1002, 2), registered("c", 1003, 3)],
    }));
    assert_eq!(ids(&balancer), set(&["b", "c"]));
}

#[tokio::test]
async fn an_ejected_endpoint_is_skipped_until_its_backoff_ends() {
    let balancer = balancer();
    balancer.apply(WatchEvent::Upsert(registered("a", 1001, 1)));
    balancer.apply(WatchEvent::Upsert(registered("b", 1002, 2)));
    let a = endpoint(&balancer, "a");
    balancer.eject(&a);
    assert_eq!(picked_ids(&balancer, None, 300), set(&["b"]));
    assert_eq!(
        ids(&balancer),
        set(&["a", "b"]),
        "ejection keeps it in the set"
    );
    assert_eq!(balancer.stats().connect_ejections, 1);
}

#[tokio::test(start_paused = true)]
async fn ready_waits_for_an_ejection_to_end() {
    let balancer = balancer();
    balancer.apply(WatchEvent::Upsert(registered("a", 1001, 1)));
    let a = balancer.pick(None).unwrap();
    balancer.eject(&a);
    assert!(balancer.pick(None).is_err());
    // The default first ejection (3 s) ends within the 5 s wait.
    let picked = balancer.ready(None, Duration::from_secs(5)).await.unwrap();
    assert_eq!(picked.id().as_str(), "a");
}

#[tokio::test(start_paused = true)]
async fn ready_fails_after_the_bounded_wait() {
    let balancer = balancer();
    let error = balancer
        .ready(None, Duration::from_secs(3))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::NoAvailableInstance { .. }));
    assert_eq!(
        error.to_string(),
        "no available instance of service \"orders\" (waited 3s)"
    );
}

#[tokio::test(start_paused = true)]
async fn ready_wakes_on_discovery() {
    let balancer = balancer();
    let waiting = tokio::spawn({
        let balancer = balancer.clone();
        async move { balancer.ready(None, Duration::from_secs(3)).await }
    });
    tokio::task::yield_now().await;
    balancer.apply(WatchEvent::Upsert(registered("a", 1001, 1)));
    assert_eq!(waiting.await.unwrap().unwrap().id().as_str(), "a");
}

#[tokio::test]
async fn lanes_are_subsets_with_base_fallback() {
    let balancer = balancer();
    balancer.apply(WatchEvent::Upsert(registered("base", 1001, 1)));
    balancer.apply(WatchEvent::Upsert(instance(
        Instance::builder("orders").id("gray-1").lane("gray"),
        1002,
        2,
    )));
    let gray = Lane::new("gray").unwrap();
    let blue = Lane::new("blue").unwrap();
    assert_eq!(picked_ids(&balancer, Some(&gray), 100), set(&["gray-1"]));
    assert_eq!(
        picked_ids(&balancer, None, 100),
        set(&["base"]),
        "no lane never reaches a lane instance"
    );
    assert_eq!(
        picked_ids(&balancer, Some(&blue), 100),
        set(&["base"]),
        "an absent lane falls back to base"
    );

    let gray_endpoint = balancer.pick(Some(&gray)).unwrap();
    balancer.evict(&gray_endpoint);
    assert_eq!(
        picked_ids(&balancer, Some(&gray), 100),
        set(&["base"]),
        "an emptied lane falls back to base"
    );
}

mod random_histories {
    use proptest::prelude::*;
    use sae_core::{InstanceId, Lane, Registered, Revision, Snapshot, WatchEvent};

    use super::{balancer, ids, instance, remove};
    use sae_core::Instance;

    #[derive(Clone, Debug)]
    enum Step {
        Upsert { id: u8, lane: Option<u8> },
        Remove { id: u8 },
        Evict { id: u8 },
        Snapshot { ids: Vec<(u8, Option<u8>)> },
    }

    fn lane_of(lane: Option<u8>) -> Option<&'static str> {
        lane.map(|lane| ["gray", "blue"][usize::from(lane % 2)])
    }

    fn registered(id: u8, lane: Option<u8>, revision: u64) -> Registered {
        let mut builder = Instance::builder("orders").id(format!("i-{id}"));
        if let Some(lane) = lane_of(lane) {
            builder = builder.lane(lane);
        }
        instance(builder, 1000 + u16::from(id), revision)
    }

    fn step() -> impl Strategy<Value = Step> {
        let lane = prop::option::of(0u8..2);
        prop_oneof![
            4 => (0u8..24, lane.clone()).prop_map(|(id, lane)| Step::Upsert { id, lane }),
            3 => (0u8..24).prop_map(|id| Step::Remove { id }),
            2 => (0u8..24).prop_map(|id| Step::Evict { id }),
            1 => prop::collection::vec((0u8..24, lane), 0..30).prop_map(|ids| Step::Snapshot { ids }),
        ]
    }

    proptest! {
        /// Upserts, removals, evictions and snapshots in any order keep the
        /// slot map exact: the published set is the routed members, every
        /// lane pick stays in its lane, and no removed or evicted endpoint
        /// is ever picked.
        #[test]
        fn in_place_changes_keep_every_slot_exact(steps in prop::collection::vec(step(), 1..120)) {
            let balancer = balancer();
            let mut revision = 0;
            for step in steps {
                revision += 1;
                match step {
                    Step::Upsert { id, lane } => {
                        balancer.apply(WatchEvent::Upsert(registered(id, lane, revision)));
                    }
                    Step::Remove { id } => balancer.apply(remove(&format!("i-{id}"), revision)),
                    Step::Evict { id } => {
                        let id = InstanceId::new(format!("i-{id}")).unwrap();
                        if let Some(endpoint) = balancer.endpoints().into_iter().find(|e| e.id() == &id) {
                            balancer.evict(&endpoint);
                        }
                    }
                    Step::Snapshot { ids } => balancer.apply(WatchEvent::Snapshot(Snapshot {
                        revision: Revision(revision),
                        instances: ids.into_iter().map(|(id, lane)| registered(id, lane, revision)).collect(),
                    })),
                }
                let members = balancer.inner.members.lock();
                members.assert_consistent();
                drop(members);
                let published = balancer.endpoints();
                prop_assert!(published.iter().all(|endpoint| !endpoint.is_evicted()));
                prop_assert_eq!(ids(&balancer).len(), published.len(), "an endpoint is published twice");
                for lane in [None, Some("gray"), Some("blue")] {
                    let lane = lane.map(|lane| Lane::new(lane).unwrap());
                    let in_lane = published.iter().filter(|e| e.lane() == lane.as_ref()).count();
                    for _ in 0..8 {
                        if let Ok(picked) = balancer.pick(lane.as_ref()) {
                            prop_assert!(published.iter().any(|e| std::sync::Arc::ptr_eq(e, &picked)));
                            if in_lane > 0 {
                                prop_assert_eq!(picked.lane(), lane.as_ref());
                            }
                        }
                    }
                }
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn rtt_estimate_is_tower_peak_ewma() {
    let balancer = balancer();
    balancer.apply(WatchEvent::Upsert(registered("a", 1001, 1)));
    let endpoint = Arc::clone(&balancer.pick(None).unwrap());
    let now = tokio::time::Instant::now;
    let estimate_ms = |at| endpoint.rtt_estimate(at).unwrap().as_secs_f64() * 1e3;
    let close = |got: f64, want: f64| (got - want).abs() <= want * 1e-6;

    assert_eq!(endpoint.rtt_estimate(now()), None, "no sample yet");
    let first = endpoint.begin();
    tokio::time::advance(Duration::from_millis(10)).await;
    first.complete();
    assert!(close(estimate_ms(now()), 10.0));

    // Decays with the 10 s time constant, for tiny and large gaps alike.
    let tiny = now() + Duration::from_micros(3);
    assert!(close(estimate_ms(tiny), 10.0 * (-3e-6f64 / 10.0).exp()));
    let later = now() + Duration::from_secs(10);
    assert!(close(estimate_ms(later), 10.0 * (-1f64).exp()));

    // A lower sample is averaged in by the time since the last one ...
    tokio::time::advance(Duration::from_secs(1)).await;
    let second = endpoint.begin();
    tokio::time::advance(Duration::from_millis(1)).await;
    second.complete();
    let decay = (-1.001f64 / 10.0).exp();
    let want = 10.0 * decay + 1.0 * (1.0 - decay);
    assert!(
        close(estimate_ms(now()), want),
        "{} vs {want}",
        estimate_ms(now())
    );
    // ... and a higher one replaces the estimate (the peak).
    let third = endpoint.begin();
    tokio::time::advance(Duration::from_millis(50)).await;
    third.complete();
    assert!(close(estimate_ms(now()), 50.0));
}
