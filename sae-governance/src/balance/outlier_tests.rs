//! Failure accrual, outlier ejection, probation and the failure penalty, on
//! a paused clock.

use std::collections::HashSet;
use std::time::Duration;

use sae_core::{Registered, ServiceName, WatchEvent};

use super::tests::endpoint;
use super::{BalanceConfig, Balancer, LaneFallback};
use crate::protection::{OutlierPolicy, ProtectionSet};

fn balancer_of(ids: &[&str]) -> Balancer<()> {
    let balancer = Balancer::new(
        ServiceName::new("orders").unwrap(),
        BalanceConfig::default(),
        LaneFallback::Base,
        |_| (),
    );
    for (i, id) in ids.iter().enumerate() {
        let instance = sae_core::Instance::builder("orders")
            .id(*id)
            .addr(([127, 0, 0, 1], 2000 + i as u16).into())
            .build()
            .unwrap();
        balancer.apply(WatchEvent::Upsert(Registered {
            instance,
            revision: sae_core::Revision(i as u64 + 1),
        }));
    }
    balancer
}

fn outlier() -> OutlierPolicy {
    ProtectionSet::defaults()
        .call_policy(&ServiceName::new("orders").unwrap(), None)
        .outlier
        .unwrap()
}

/// One failed request to `id`, as the client reports it; returns whether
/// the endpoint was ejected by it.
fn fail(balancer: &Balancer<()>, id: &str, policy: &OutlierPolicy) -> bool {
    let target = endpoint(balancer, id);
    let in_flight = target.begin();
    let in_a_row = in_flight.fail(true);
    in_a_row >= policy.consecutive_failures
        && balancer.eject_outlier(&target, policy, false).is_some()
}

fn picked(balancer: &Balancer<()>, picks: usize) -> HashSet<String> {
    (0..picks)
        .map(|_| balancer.pick(None).unwrap().id().to_string())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn the_nth_consecutive_failure_ejects_and_a_success_resets_the_count() {
    let balancer = balancer_of(&["bad", "good"]);
    let policy = outlier();
    for _ in 1..policy.consecutive_failures {
        assert!(!fail(&balancer, "bad", &policy));
    }
    // A success in between starts the count again.
    assert!(!endpoint(&balancer, "bad").begin().complete());
    for _ in 1..policy.consecutive_failures {
        assert!(!fail(&balancer, "bad", &policy));
    }
    assert!(fail(&balancer, "bad", &policy), "the fifth in a row ejects");
    assert_eq!(picked(&balancer, 200), HashSet::from(["good".to_owned()]));
    assert_eq!(balancer.stats().outlier_ejections, 1);
}

#[tokio::test(start_paused = true)]
async fn failures_of_calls_sent_before_an_ejection_do_not_eject_again() {
    let balancer = balancer_of(&["bad", "good"]);
    let policy = outlier();
    let bad = endpoint(&balancer, "bad");
    // Ten calls in flight to "bad" when it starts failing.
    let pending: Vec<_> = (0..2 * policy.consecutive_failures)
        .map(|_| bad.begin())
        .collect();
    let mut ejections = Vec::new();
    for in_flight in pending {
        let in_a_row = in_flight.fail(true);
        if in_a_row >= policy.consecutive_failures
            && let Some(ejection) = balancer.eject_outlier(&bad, &policy, false)
        {
            ejections.push(ejection.ejections);
        }
    }
    assert_eq!(ejections, [1], "ejected once, for the base time");
    assert_eq!(balancer.stats().outlier_ejections, 1);
}

#[tokio::test(start_paused = true)]
async fn at_most_the_configured_share_is_ejected_but_always_one() {
    let policy = outlier(); // 10 %
    let ids: Vec<String> = (0..20).map(|i| format!("e{i}")).collect();
    let names: Vec<&str> = ids.iter().map(String::as_str).collect();
    let balancer = balancer_of(&names);
    let mut ejected = 0;
    for id in &names[..5] {
        for _ in 0..policy.consecutive_failures {
            if fail(&balancer, id, &policy) {
                ejected += 1;
            }
        }
    }
    assert_eq!(ejected, 2, "10 % of 20");

    // With three endpoints 10 % rounds down to none: one may still go.
    let small = balancer_of(&["a", "b", "c"]);
    let mut ejected = 0;
    for id in ["a", "b"] {
        for _ in 0..policy.consecutive_failures {
            if fail(&small, id, &policy) {
                ejected += 1;
            }
        }
    }
    assert_eq!(ejected, 1);
    assert_eq!(
        picked(&small, 300),
        HashSet::from(["b".to_owned(), "c".to_owned()])
    );
}

#[tokio::test(start_paused = true)]
async fn after_the_ejection_one_real_request_probes_success_restores_failure_ejects_longer() {
    let balancer = balancer_of(&["bad", "good"]);
    let policy = outlier();
    for _ in 0..policy.consecutive_failures {
        fail(&balancer, "bad", &policy);
    }
    let bad = endpoint(&balancer, "bad");
    let first_end = bad.ejected_until().unwrap();
    assert_eq!(
        first_end - tokio::time::Instant::now(),
        policy.base_ejection_time
    );

    tokio::time::advance(policy.base_ejection_time).await;
    // On probation: exactly one pick gets it, as the probe.
    let probes: Vec<_> = (0..200)
        .filter_map(|_| {
            let picked = balancer.pick(None).unwrap();
            (picked.id().as_str() == "bad").then_some(picked)
        })
        .collect();
    assert_eq!(probes.len(), 1, "one probe at a time");
    let probe = probes.into_iter().next().unwrap();
    assert!(probe.is_probe());
    // The probe fails: ejected again, for twice the base.
    let in_flight = probe.begin();
    in_flight.fail(true);
    let ejection = balancer.eject_outlier(&bad, &policy, true).unwrap();
    assert_eq!(ejection.ejections, 2);
    assert_eq!(
        ejection.until - tokio::time::Instant::now(),
        policy.base_ejection_time * 2
    );
    assert_eq!(picked(&balancer, 100), HashSet::from(["good".to_owned()]));

    // The next probe succeeds: restored, and routable without limit.
    tokio::time::advance(policy.base_ejection_time * 2).await;
    let probe = loop {
        let picked = balancer.pick(None).unwrap();
        if picked.id().as_str() == "bad" {
            break picked;
        }
    };
    assert!(probe.is_probe());
    assert!(probe.begin().complete(), "restored");
    assert!(bad.ejected_until().is_none());
    let many: Vec<_> = (0..300).map(|_| balancer.pick(None).unwrap()).collect();
    assert!(
        many.iter()
            .filter(|picked| picked.id().as_str() == "bad")
            .count()
            > 1
    );
}

#[tokio::test(start_paused = true)]
async fn a_dropped_probe_frees_the_probation_slot() {
    let balancer = balancer_of(&["bad"]);
    let policy = outlier();
    for _ in 0..policy.consecutive_failures {
        fail(&balancer, "bad", &policy);
    }
    tokio::time::advance(policy.base_ejection_time).await;
    let probe = balancer.pick(None).unwrap();
    assert!(probe.is_probe());
    assert!(balancer.pick(None).is_err(), "its probe is in flight");
    drop(probe);
    let again = balancer.pick(None).unwrap();
    assert!(again.is_probe());
    // Begun, then abandoned (the call was dropped): free again.
    drop(again.begin());
    assert!(balancer.pick(None).unwrap().is_probe());
}

#[tokio::test(start_paused = true)]
async fn fast_failures_do_not_attract_traffic() {
    let balancer = balancer_of(&["fails-fast", "slow-but-fine"]);
    // A healthy endpoint answering in 20 ms, one failing in a microsecond.
    for _ in 0..3 {
        let fine = endpoint(&balancer, "slow-but-fine").begin();
        tokio::time::advance(Duration::from_millis(20)).await;
        fine.complete();
        let fast = endpoint(&balancer, "fails-fast").begin();
        tokio::time::advance(Duration::from_micros(1)).await;
        fast.fail(true);
    }
    let picks: Vec<String> = (0..400)
        .map(|_| balancer.pick(None).unwrap().id().to_string())
        .collect();
    let to_failing = picks.iter().filter(|id| *id == "fails-fast").count();
    assert!(
        to_failing < picks.len() / 4,
        "{to_failing} of {} picks went to the failing endpoint",
        picks.len()
    );
}
