//! The breaker's state machine, on explicit nanosecond clocks.

use std::time::Duration;

use sae_core::ServiceName;

use super::breaker::{Allow, Breaker, State};
use crate::protection::{BreakerPolicy, ProtectionSet, RuleFormat};

const MS: u64 = 1_000_000;

fn policy(yaml: &str) -> BreakerPolicy {
    ProtectionSet::parse(yaml, RuleFormat::Yaml)
        .unwrap()
        .call_policy(&ServiceName::new("inventory").unwrap(), None)
        .breaker
        .unwrap()
}

fn breaker() -> Breaker {
    Breaker::new(policy(
        "rules: [{ strategy: { kind: circuit_breaker, trigger_ratio: 0.5, stat_duration: 1s, \
         min_request_amount: 10, recovery_timeout: 5s } }]",
    ))
}

#[test]
fn it_opens_only_past_the_minimum_and_the_ratio() {
    let breaker = breaker();
    let took = || Duration::from_millis(1);
    // Nine failures: below the minimum of ten calls.
    for i in 0..9 {
        assert_eq!(breaker.record(i * MS, true, took, false), None);
    }
    assert_eq!(breaker.state(), State::Closed);
    // Ten calls, all bad: open.
    assert_eq!(
        breaker.record(9 * MS, true, took, false),
        Some((State::Closed, State::Open))
    );
    assert_eq!(breaker.allow(|| 10 * MS), (Allow::Refuse, None));

    // Under the ratio it stays closed, whatever the count.
    let steady = self::breaker();
    for i in 0..100 {
        steady.record(i * MS, i % 3 == 0, took, false);
    }
    assert_eq!(steady.state(), State::Closed);
}

#[test]
fn old_calls_leave_the_sliding_window() {
    let breaker = breaker();
    let took = || Duration::from_millis(1);
    // Many successes, then the service fails: the old successes age out of
    // the 1 s window and the failures take it over.
    for i in 0..100 {
        breaker.record(i * MS, false, took, false);
    }
    let mut opened_at = None;
    for i in 0..2000u64 {
        let now = 100 * MS + i * MS;
        if breaker.record(now, true, took, false).is_some() {
            opened_at = Some(now);
            break;
        }
    }
    let opened_at = opened_at.expect("the breaker opens once failures dominate the window");
    assert!(opened_at < 1200 * MS, "opened at {} ms", opened_at / MS);
}

#[test]
fn after_recovery_one_probe_closes_or_reopens() {
    let breaker = breaker();
    let took = || Duration::from_millis(1);
    for i in 0..10 {
        breaker.record(i * MS, true, took, false);
    }
    assert_eq!(breaker.state(), State::Open);
    let opened = 9 * MS;
    assert_eq!(breaker.allow(|| opened + 4_999 * MS).0, Allow::Refuse);
    // Recovery timeout over: the next call is the probe, the others refused.
    let (allow, transition) = breaker.allow(|| opened + 5_000 * MS);
    assert_eq!(allow, Allow::Probe);
    assert_eq!(transition, Some((State::Open, State::HalfOpen)));
    assert_eq!(breaker.allow(|| opened + 5_001 * MS).0, Allow::Refuse);
    // A bad probe opens it again for another recovery timeout.
    assert_eq!(
        breaker.record(opened + 5_010 * MS, true, took, true),
        Some((State::HalfOpen, State::Open))
    );
    assert_eq!(breaker.allow(|| opened + 9_000 * MS).0, Allow::Refuse);
    assert_eq!(breaker.allow(|| opened + 10_010 * MS).0, Allow::Probe);
    // A good probe closes it with an empty window.
    assert_eq!(
        breaker.record(opened + 10_020 * MS, false, took, true),
        Some((State::HalfOpen, State::Closed))
    );
    assert_eq!(breaker.allow(|| opened + 10_021 * MS).0, Allow::Pass);
    assert_eq!(
        breaker.record(opened + 10_022 * MS, true, took, false),
        None,
        "the window starts empty"
    );
}

#[test]
fn an_abandoned_probe_lets_the_next_call_probe() {
    let breaker = breaker();
    let took = || Duration::from_millis(1);
    for i in 0..10 {
        breaker.record(i * MS, true, took, false);
    }
    assert_eq!(breaker.allow(|| 6_000 * MS).0, Allow::Probe);
    breaker.probe_abandoned();
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(breaker.allow(|| 6_001 * MS).0, Allow::Probe);
}

#[test]
fn slow_calls_open_a_slow_request_ratio_breaker() {
    let breaker = Breaker::new(policy(
        "rules: [{ strategy: { kind: circuit_breaker, strategy: slow_request_ratio, \
         max_allowed_rt: 100ms, trigger_ratio: 0.5, min_request_amount: 4 } }]",
    ));
    breaker.record(0, false, || Duration::from_millis(50), false);
    breaker.record(MS, false, || Duration::from_millis(150), false);
    breaker.record(2 * MS, true, || Duration::from_millis(10), false);
    assert_eq!(breaker.state(), State::Closed, "a fast failure is not slow");
    assert_eq!(
        breaker.record(3 * MS, false, || Duration::from_millis(300), false),
        Some((State::Closed, State::Open))
    );
}
