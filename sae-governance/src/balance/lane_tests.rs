//! Lanes inside the one balancer state: strict services, and eviction,
//! ejection, load and warm-up working per lane.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use sae_core::{Error, Instance, Lane, Registered, Revision, ServiceName, WatchEvent};

use super::tests::endpoint;
use super::{BalanceConfig, Balancer, LaneFallback};

fn balancer(fallback: LaneFallback) -> Balancer<()> {
    Balancer::new(
        ServiceName::new("orders").unwrap(),
        BalanceConfig::default(),
        fallback,
        |_| (),
    )
}

fn upsert(balancer: &Balancer<()>, id: &str, lane: Option<&str>, revision: u64) {
    let mut builder = Instance::builder("orders")
        .id(id)
        .addr(([127, 0, 0, 1], 1000 + revision as u16).into());
    if let Some(lane) = lane {
        builder = builder.lane(lane);
    }
    let instance = builder.build().unwrap();
    balancer.apply(WatchEvent::Upsert(Registered {
        instance,
        revision: Revision(revision),
    }));
}

fn picks(balancer: &Balancer<()>, lane: Option<&Lane>, n: usize) -> HashSet<String> {
    (0..n)
        .map(|_| balancer.pick(lane).unwrap().id().to_string())
        .collect()
}

fn set(items: &[&str]) -> HashSet<String> {
    items.iter().map(|item| item.to_string()).collect()
}

fn gray() -> Lane {
    Lane::new("gray").unwrap()
}

#[tokio::test(start_paused = true)]
async fn strict_service_fails_with_the_service_and_lane_named() {
    let balancer = balancer(LaneFallback::Strict);
    upsert(&balancer, "base", None, 1);
    let blue = Lane::new("blue").unwrap();
    assert!(balancer.pick(Some(&blue)).is_err(), "no fallback to base");
    let error = balancer
        .ready(Some(&blue), Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::NoInstanceInLane { service, lane } if service == "orders" && lane == "blue"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "no available instance of service \"orders\" in lane \"blue\" (service is strict: no fallback to base)"
    );
    // Base requests are unaffected by strictness.
    assert_eq!(picks(&balancer, None, 10), set(&["base"]));
}

#[tokio::test(start_paused = true)]
async fn strict_service_routes_in_lane_and_waits_for_one_to_register() {
    let balancer = balancer(LaneFallback::Strict);
    upsert(&balancer, "base", None, 1);
    let waiting = tokio::spawn({
        let balancer = balancer.clone();
        async move { balancer.ready(Some(&gray()), Duration::from_secs(3)).await }
    });
    tokio::task::yield_now().await;
    upsert(&balancer, "gray-1", Some("gray"), 2);
    assert_eq!(waiting.await.unwrap().unwrap().id().as_str(), "gray-1");
    assert_eq!(picks(&balancer, Some(&gray()), 50), set(&["gray-1"]));
}

#[tokio::test]
async fn ejection_in_a_lane_falls_back_to_base_and_never_leaks_base_requests_into_the_lane() {
    let balancer = balancer(LaneFallback::Base);
    upsert(&balancer, "base", None, 1);
    upsert(&balancer, "gray-1", Some("gray"), 2);
    let gray_endpoint = balancer.pick(Some(&gray())).unwrap();
    balancer.eject(&gray_endpoint);
    assert_eq!(picks(&balancer, Some(&gray()), 100), set(&["base"]));
    assert_eq!(picks(&balancer, None, 100), set(&["base"]));
}

#[tokio::test]
async fn eviction_in_a_lane_keeps_the_rest_of_the_lane() {
    let balancer = balancer(LaneFallback::Base);
    upsert(&balancer, "base", None, 1);
    upsert(&balancer, "gray-1", Some("gray"), 2);
    upsert(&balancer, "gray-2", Some("gray"), 3);
    let evicted = balancer.pick(Some(&gray())).unwrap();
    assert!(balancer.evict(&evicted));
    let remaining = if evicted.id().as_str() == "gray-1" {
        "gray-2"
    } else {
        "gray-1"
    };
    assert_eq!(picks(&balancer, Some(&gray()), 100), set(&[remaining]));
}

#[tokio::test]
async fn load_is_shared_state_inside_a_lane() {
    let balancer = balancer(LaneFallback::Base);
    upsert(&balancer, "base", None, 1);
    upsert(&balancer, "gray-1", Some("gray"), 2);
    upsert(&balancer, "gray-2", Some("gray"), 3);
    let busy = endpoint(&balancer, "gray-1");
    let in_flight: Vec<_> = (0..5).map(|_| busy.begin()).collect();
    assert_eq!(picks(&balancer, Some(&gray()), 200), set(&["gray-2"]));
    drop(in_flight);
}

#[tokio::test(start_paused = true)]
async fn warm_up_weights_picks_inside_a_lane() {
    let balancer = balancer(LaneFallback::Base);
    let warmed = Instance::builder("orders")
        .id("gray-old")
        .lane("gray")
        .addr(([127, 0, 0, 1], 2001).into())
        .build()
        .unwrap();
    let warming = Instance::builder("orders")
        .id("gray-new")
        .lane("gray")
        .addr(([127, 0, 0, 1], 2002).into())
        .start_time(SystemTime::now())
        .warmup(Duration::from_secs(100))
        .build()
        .unwrap();
    for (revision, instance) in [warmed, warming].into_iter().enumerate() {
        balancer.apply(WatchEvent::Upsert(Registered {
            instance,
            revision: Revision(revision as u64 + 1),
        }));
    }
    let new = endpoint(&balancer, "gray-new");
    let now = tokio::time::Instant::now();
    assert!(
        new.effective_weight(now) < 0.2 * 100.0,
        "{}",
        new.effective_weight(now)
    );
    // Equal load: the cold instance costs 10x more, so the warm one always wins.
    assert_eq!(picks(&balancer, Some(&gray()), 200), set(&["gray-old"]));
}
