//! The built-in protection: on for every call and every provider unless a
//! rule turns it off, with the anchors' defaults (Envoy's outlier detection,
//! tower's and linkerd's retry budget, Kitex's breaker ratio).

use std::time::Duration;

use super::compile::{AdaptivePolicy, BreakerPolicy, BreakerStrategy, OutlierPolicy, RetryPolicy};

/// How long a queued request may wait for a concurrency slot by default:
/// short, because a request that waits longer is better sent elsewhere.
pub(crate) const QUEUE_TIMEOUT: Duration = Duration::from_millis(50);

/// Two attempts (one retry) within 20 % of calls plus 10 retries a second
/// over 10 s: tower's `TpsBudget` and linkerd's defaults.
pub(crate) fn retry() -> RetryPolicy {
    RetryPolicy {
        attempts: 2,
        budget_percent: 20.0,
        min_per_second: 10,
        budget_window: Duration::from_secs(10),
    }
}

/// Envoy's consecutive-gateway-failure detection: 5 failures eject for
/// 30 s × the number of ejections, at most 300 s, at most 10 % of a
/// service's endpoints (but at least one).
pub(crate) fn outlier() -> OutlierPolicy {
    OutlierPolicy {
        consecutive_failures: 5,
        base_ejection_time: Duration::from_secs(30),
        max_ejection_time: Duration::from_secs(300),
        max_ejection_percent: 10.0,
        failure_on_500: false,
    }
}

/// Opens when half of the calls in 10 s fail, once there were 20 of them;
/// probes after 5 s. (Kitex uses 0.5 too, over 200 calls; 20 lets a
/// low-traffic service be protected as well.)
pub(crate) fn breaker() -> BreakerPolicy {
    BreakerPolicy {
        strategy: BreakerStrategy::ErrorRatio,
        trigger_ratio: 0.5,
        stat_duration: Duration::from_secs(10),
        min_request_amount: 20,
        recovery_timeout: Duration::from_secs(5),
        max_allowed_rt: Duration::from_secs(1),
        fallback: None,
        rule: None,
    }
}

/// Gradient2 from a limit of 20 (Netflix's start) between 8 and 1000,
/// tolerating a short-term latency 1.5 × the long-term one (Netflix's
/// tolerance). A busy service doubles its way up in a few windows (slow
/// start); a service that starts far above what it can carry lets a queue
/// in that outlives its callers' timeouts before the limit comes down.
pub(crate) fn adaptive() -> AdaptivePolicy {
    AdaptivePolicy {
        initial_limit: 20,
        min_limit: 8,
        max_limit: 1000,
        rtt_tolerance: 1.5,
    }
}
