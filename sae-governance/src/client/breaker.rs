//! [`Breaker`]: a circuit breaker for the calls to one service in one lane,
//! OpenSergo's `CircuitBreakerStrategy` (Sentinel's degrade rule).
//!
//! **Closed**: calls pass; each call's outcome lands in a sliding window of
//! `stat_duration` (ten buckets). Once the window holds at least
//! `min_request_amount` calls and the share of bad ones (failed for
//! `error_ratio`, slower than `max_allowed_rt` for `slow_request_ratio`)
//! reaches `trigger_ratio`, it **opens**: calls are refused at once, with
//! the rule's fallback or `Error::CircuitOpen`. After `recovery_timeout` the
//! next call is let through as a **half-open** probe (the others are still
//! refused): a good probe closes the breaker with an empty window, a bad one
//! opens it again for another `recovery_timeout`.
//!
//! Hand-written, since tower has no breaker (tower#855); every step is an
//! atomic, so a closed breaker costs a load and two additions per call.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use super::window::Window;
use crate::protection::{BreakerPolicy, BreakerStrategy};

const CLOSED: u8 = 0;
const OPEN: u8 = 1;
const HALF_OPEN: u8 = 2;

/// A state of the breaker, for events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Closed,
    Open,
    HalfOpen,
}

impl State {
    fn of(value: u8) -> State {
        match value {
            CLOSED => State::Closed,
            OPEN => State::Open,
            _ => State::HalfOpen,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
        }
    }
}

/// What the breaker says about a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Allow {
    /// Closed: send it.
    Pass,
    /// Half-open: send it as the probe, and report its outcome as one.
    Probe,
    /// Open: refuse it.
    Refuse,
}

/// A state change, reported so the caller can emit the event.
pub(crate) type Transition = (State, State);

pub(crate) struct Breaker {
    policy: BreakerPolicy,
    state: AtomicU8,
    /// When it last opened, ns after the client's epoch.
    opened_at: AtomicU64,
    /// Calls and bad calls.
    window: Window,
}

impl Breaker {
    pub(crate) fn new(policy: BreakerPolicy) -> Self {
        Breaker {
            window: Window::new(policy.stat_duration),
            policy,
            state: AtomicU8::new(CLOSED),
            opened_at: AtomicU64::new(0),
        }
    }

    pub(crate) fn policy(&self) -> &BreakerPolicy {
        &self.policy
    }

    /// Whether a call may go now (`now_ns` is asked only when the breaker
    /// is not closed); a transition to half-open is reported with it.
    pub(crate) fn allow(&self, now_ns: impl FnOnce() -> u64) -> (Allow, Option<Transition>) {
        match self.state.load(Ordering::Acquire) {
            CLOSED => (Allow::Pass, None),
            OPEN => {
                let now_ns = now_ns();
                let opened = self.opened_at.load(Ordering::Acquire);
                let recovery = self.policy.recovery_timeout.as_nanos() as u64;
                if now_ns.saturating_sub(opened) < recovery {
                    return (Allow::Refuse, None);
                }
                match self.state.compare_exchange(
                    OPEN,
                    HALF_OPEN,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => (Allow::Probe, Some((State::Open, State::HalfOpen))),
                    Err(_) => (Allow::Refuse, None),
                }
            }
            _ => (Allow::Refuse, None),
        }
    }

    /// Records a call's outcome: `failed`, and how long it took (asked
    /// only by the slow-request strategy).
    pub(crate) fn record(
        &self,
        now_ns: u64,
        failed: bool,
        took: impl FnOnce() -> Duration,
        probe: bool,
    ) -> Option<Transition> {
        let bad = match self.policy.strategy {
            BreakerStrategy::ErrorRatio => failed,
            BreakerStrategy::SlowRequestRatio => took() > self.policy.max_allowed_rt,
        };
        if probe {
            return if bad {
                self.opened_at.store(now_ns, Ordering::Release);
                self.state.store(OPEN, Ordering::Release);
                Some((State::HalfOpen, State::Open))
            } else {
                self.window.clear();
                self.state.store(CLOSED, Ordering::Release);
                Some((State::HalfOpen, State::Closed))
            };
        }
        if self.state.load(Ordering::Acquire) != CLOSED {
            return None;
        }
        self.window.add(now_ns, 1, u32::from(bad));
        if !bad {
            return None;
        }
        let (total, bad) = self.window.totals(now_ns);
        let tripped = total >= self.policy.min_request_amount
            && f64::from(bad) >= self.policy.trigger_ratio * f64::from(total);
        if tripped
            && self
                .state
                .compare_exchange(CLOSED, OPEN, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            self.opened_at.store(now_ns, Ordering::Release);
            return Some((State::Closed, State::Open));
        }
        None
    }

    /// A probe that ended with no outcome (dropped): open again, so the
    /// next call probes.
    pub(crate) fn probe_abandoned(&self) {
        let _ = self
            .state
            .compare_exchange(HALF_OPEN, OPEN, Ordering::AcqRel, Ordering::Acquire);
    }

    pub(crate) fn state(&self) -> State {
        State::of(self.state.load(Ordering::Acquire))
    }
}

impl std::fmt::Debug for Breaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breaker")
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}
