//! Rate limits: one token bucket per rule, governor's GCRA on a clock
//! over tokio's.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

use crate::protection::RateRule;

/// governor's clock over tokio's [`Instant`]: a paused test clock drives
/// the buckets (governor's own clocks read the system clock, which a test
/// cannot hold still).
#[derive(Clone, Copy, Debug)]
pub(super) struct TokioClock {
    epoch: Instant,
}

impl TokioClock {
    fn new() -> Self {
        TokioClock {
            epoch: Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(self.epoch.elapsed())
    }
}

type Bucket = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Nanos>>;

/// One rate-limit rule and its bucket. Taking a token is one
/// compare-and-swap on an atomic (governor's in-memory state); no lock.
pub(super) struct RateLimit {
    pub(super) rule: RateRule,
    bucket: Bucket,
    clock: TokioClock,
}

impl RateLimit {
    pub(super) fn new(rule: RateRule) -> Self {
        // `threshold` requests per `period`: a token every
        // period / threshold, at most `burst` saved up.
        let interval = (rule.period / rule.threshold.max(1)).max(Duration::from_nanos(1));
        let burst = NonZeroU32::new(rule.burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(interval)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        let clock = TokioClock::new();
        RateLimit {
            bucket: RateLimiter::direct_with_clock(quota, clock),
            clock,
            rule,
        }
    }

    /// Takes a token: `None` when there was one, else how long until the
    /// next one.
    pub(super) fn check(&self) -> Option<Duration> {
        match self.bucket.check() {
            Ok(()) => None,
            Err(not_until) => Some(not_until.wait_time_from(self.clock.now())),
        }
    }
}

impl std::fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit")
            .field("rule", &self.rule.name)
            .finish_non_exhaustive()
    }
}
