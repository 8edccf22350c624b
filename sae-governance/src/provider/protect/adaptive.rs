//! The adaptive limit: Netflix's Gradient2 over sampling windows; see the
//! [module docs](super#adaptive-overload-protection) for the choice.
//!
//! Per request it is a handful of atomics: admission is a compare-and-swap
//! of the in-flight count against the limit (a rejection only reads), and
//! completion gives the slot back. Latency is an average, which a sample
//! estimates as well as a census: every request is timed until the window
//! has twice the samples it needs, then one in [`TIME_ONE_IN`] (counted per
//! thread, so choosing costs no shared write); a timed request adds its
//! latency to the window's sum and count. The limit is recomputed once per
//! window, by the one timed request that finds the window over and wins a
//! `try_lock`; nobody ever waits for that lock.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use crate::protection::AdaptivePolicy;
use crate::waiting::Downstream;

/// Shortest sampling window (Netflix's `WindowedLimit` allows down to
/// 100 ms; Envoy's adaptive concurrency filter recomputes every 100 ms).
const MIN_WINDOW: Duration = Duration::from_millis(100);
/// Longest sampling window (Netflix's default).
const MAX_WINDOW: Duration = Duration::from_secs(1);
/// Samples a window needs before it counts (Netflix's `windowSize`).
const WINDOW_SAMPLES: u32 = 10;
/// Windows the long-term latency averages over (Netflix's `longWindow`).
const LONG_WINDOW: f64 = 600.0;
/// Windows averaged plainly before the long-term average turns exponential.
const LONG_WARMUP: u32 = 10;
/// How much of a new estimate the limit takes at once (Netflix's `smoothing`).
const SMOOTHING: f64 = 0.2;
/// The least the limit may grow by per window while latency holds.
const MIN_QUEUE: f64 = 4.0;
/// The least latency (nanoseconds) the gradient tells apart from another.
const LATENCY_FLOOR: f64 = 1_000_000.0;
/// Once a window has enough samples, one request in this many is timed.
const TIME_ONE_IN: u32 = 8;

std::thread_local! {
    /// Requests this thread admitted, to pick one in [`TIME_ONE_IN`].
    static ADMITTED: Cell<u32> = const { Cell::new(0) };
}

/// The adaptive limit of one service.
#[derive(Debug)]
pub(super) struct Adaptive {
    pub(super) policy: AdaptivePolicy,
    in_flight: AtomicU32,
    limit: AtomicU32,
    window: Window,
    epoch: Instant,
    gradient: Mutex<Gradient2>,
}

/// What the current window has seen, in atomics.
#[derive(Debug)]
struct Window {
    rtt_nanos: AtomicU64,
    samples: AtomicU32,
    max_in_flight: AtomicU32,
    /// Nanoseconds after the epoch when the window closes.
    ends_at: AtomicU64,
}

/// A request admitted by the adaptive limit: counted in flight until
/// dropped; [`Permit::complete`] also records its latency when it is timed.
#[derive(Debug)]
pub(super) struct Permit {
    adaptive: Arc<Adaptive>,
    /// When it was admitted and how long it waited on its outbound calls,
    /// if it is timed.
    timed: Option<Arc<Downstream>>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.adaptive.in_flight.fetch_sub(1, Ordering::AcqRel);
        // Dropped unanswered, the caller went away (most often its timeout):
        // it took at least this long, and under overload that is the
        // latency that matters. Counting only answered requests would judge
        // a flooded service by the few that got through in time.
        if let Some(timed) = self.timed.take() {
            self.adaptive.sample_since(&timed, Instant::now());
        }
    }
}

impl Permit {
    /// The scope a timed request's outbound calls report to.
    pub(super) fn downstream(&self) -> Option<&Arc<Downstream>> {
        self.timed.as_ref()
    }

    /// The response is ready: a timed request's own latency (without the
    /// time it waited on outbound calls) is a sample of the window.
    pub(super) fn complete(mut self) {
        if let Some(timed) = self.timed.take() {
            self.adaptive.sample_since(&timed, Instant::now());
        }
    }
}

impl Adaptive {
    pub(super) fn new(policy: AdaptivePolicy) -> Self {
        let initial = policy
            .initial_limit
            .clamp(policy.min_limit.max(1), policy.max_limit.max(1));
        Adaptive {
            in_flight: AtomicU32::new(0),
            // Until its first window nothing is measured: a fresh instance
            // takes a first burst up to the highest limit, and the limit
            // starts at `initial` once it has a latency to judge by.
            limit: AtomicU32::new(policy.max_limit.max(initial)),
            window: Window {
                rtt_nanos: AtomicU64::new(0),
                samples: AtomicU32::new(0),
                max_in_flight: AtomicU32::new(0),
                ends_at: AtomicU64::new(nanos(MIN_WINDOW)),
            },
            epoch: Instant::now(),
            gradient: Mutex::new(Gradient2::new(&policy, initial)),
            policy,
        }
    }

    /// The limit now.
    pub(super) fn limit(&self) -> u32 {
        self.limit.load(Ordering::Relaxed)
    }

    /// Requests admitted and not yet answered.
    #[cfg(test)]
    pub(super) fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Admits a request if fewer than the limit are in flight; never waits.
    pub(super) fn try_acquire(self: &Arc<Self>) -> Option<Permit> {
        let limit = self.limit.load(Ordering::Relaxed);
        let mut in_flight = self.in_flight.load(Ordering::Acquire);
        loop {
            // At the limit a rejection costs two reads, no write.
            if in_flight >= limit {
                return None;
            }
            match self.in_flight.compare_exchange_weak(
                in_flight,
                in_flight + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => in_flight = now,
            }
        }
        let now_in_flight = in_flight + 1;
        if now_in_flight > self.window.max_in_flight.load(Ordering::Relaxed) {
            self.window
                .max_in_flight
                .fetch_max(now_in_flight, Ordering::Relaxed);
        }
        Some(Permit {
            adaptive: self.clone(),
            timed: self.timed().then(|| Downstream::new(Instant::now())),
        })
    }

    /// Whether to time the request just admitted.
    fn timed(&self) -> bool {
        if self.window.samples.load(Ordering::Relaxed) < 2 * WINDOW_SAMPLES {
            return true;
        }
        ADMITTED
            .try_with(|admitted| {
                let count = admitted.get().wrapping_add(1);
                admitted.set(count);
                count % TIME_ONE_IN == 0
            })
            .unwrap_or(true)
    }

    fn sample_since(&self, timed: &Downstream, now: Instant) {
        let took = now.saturating_duration_since(timed.started());
        self.sample(took.saturating_sub(timed.waited()), now);
    }

    fn sample(&self, rtt: Duration, now: Instant) {
        // The sum and the count are separate atomics: a sample that lands
        // between the two resets of a closing window is counted in one
        // window and summed in the next. An average over a window of ten
        // or more samples shrugs that off.
        self.window
            .rtt_nanos
            .fetch_add(nanos(rtt), Ordering::Relaxed);
        self.window.samples.fetch_add(1, Ordering::Relaxed);
        let at = nanos(now.saturating_duration_since(self.epoch));
        if at >= self.window.ends_at.load(Ordering::Relaxed) {
            self.close_window(at);
        }
    }

    #[cold]
    fn close_window(&self, at: u64) {
        // One request closes the window; the others go on.
        let Some(mut gradient) = self.gradient.try_lock() else {
            return;
        };
        if at < self.window.ends_at.load(Ordering::Relaxed) {
            return;
        }
        // Too few samples to say anything: the window stays open until it
        // has them (Netflix's `WindowedLimit`). Dropping it instead would
        // leave a lightly loaded service with no latency baseline, and the
        // first overloaded windows would become that baseline.
        if self.window.samples.load(Ordering::Relaxed) < WINDOW_SAMPLES {
            return;
        }
        let samples = self.window.samples.swap(0, Ordering::Relaxed);
        let rtt_sum = self.window.rtt_nanos.swap(0, Ordering::Relaxed);
        // Requests still running are in flight in the next window too.
        let max_in_flight = self
            .window
            .max_in_flight
            .swap(self.in_flight.load(Ordering::Relaxed), Ordering::Relaxed);
        let average = rtt_sum / u64::from(samples.max(1));
        let before = self.limit();
        let limit = gradient.update(average as f64, max_in_flight);
        // The next window lasts twice the service's usual latency, within
        // the bounds. Netflix takes twice the window's least latency; the
        // norm serves the same end (an overload must not lengthen the
        // windows that are to end it) without one more atomic per sample.
        let length = (2.0 * gradient.long_rtt.value) as u64;
        let length = length.clamp(nanos(MIN_WINDOW), nanos(MAX_WINDOW));
        self.window.ends_at.store(at + length, Ordering::Relaxed);
        if limit != before {
            self.limit.store(limit, Ordering::Relaxed);
            tracing::debug!(
                limit,
                before,
                short_rtt = ?Duration::from_nanos(average),
                long_rtt = ?Duration::from_nanos(gradient.long_rtt.value as u64),
                max_in_flight,
                "adaptive concurrency limit changed"
            );
        }
    }
}

/// Gradient2's state: the estimate and the long-term latency.
#[derive(Debug)]
struct Gradient2 {
    estimated: f64,
    /// Doubling while latency holds, until it first does not (TCP's slow
    /// start): a modest start costs a busy service a few windows, not the
    /// seconds smoothed growth would take.
    slow_start: bool,
    long_rtt: ExpAvg,
    min: f64,
    max: f64,
    tolerance: f64,
}

impl Gradient2 {
    fn new(policy: &AdaptivePolicy, initial: u32) -> Self {
        Gradient2 {
            estimated: f64::from(initial),
            slow_start: true,
            long_rtt: ExpAvg::default(),
            min: f64::from(policy.min_limit.max(1)),
            max: f64::from(policy.max_limit.max(1)),
            tolerance: policy.rtt_tolerance,
        }
    }

    /// One window's average latency (`short`, nanoseconds) and the most
    /// requests it had in flight; returns the new limit.
    fn update(&mut self, short: f64, max_in_flight: u32) -> u32 {
        // A handler answering in no measurable time (a paused test clock)
        // must not divide by zero.
        let short = short.max(1.0);
        let queue = self.estimated.sqrt().max(MIN_QUEUE);
        // While the long-term average is still a plain mean of a few
        // windows, an overload in them would become the norm it is judged
        // by: a window counts at most as the tolerance allows.
        let norm = if self.long_rtt.count == 0 || self.long_rtt.count >= LONG_WARMUP {
            short
        } else {
            short.min(self.tolerance * self.long_rtt.value)
        };
        let long = self.long_rtt.add(norm);
        // Back from a long overload, the long-term latency is still high:
        // bring it down faster than its average would.
        if long / short > 2.0 {
            self.long_rtt.value *= 0.9;
        }
        // Far from the limit the latency says nothing about it.
        if f64::from(max_in_flight) < self.estimated / 2.0 {
            return self.estimated as u32;
        }
        // Below a millisecond a change in latency is the scheduler, not a
        // queue: a service whose own work takes microseconds (a tier that
        // mostly waits on its calls) would otherwise shed on CPU jitter.
        let (floored_long, floored_short) = (long.max(LATENCY_FLOOR), short.max(LATENCY_FLOOR));
        let gradient = (self.tolerance * floored_long / floored_short).clamp(0.5, 1.0);
        // A fall starts from what was in flight: a limit above it was
        // never tried, so it says nothing about what the service carries.
        let tried = if gradient < 1.0 {
            self.estimated.min(f64::from(max_in_flight))
        } else {
            self.estimated
        };
        let target = tried * gradient + queue;
        if gradient < 1.0 {
            self.slow_start = false;
        }
        // Growth is smoothed (Netflix); a fall is taken at once (to at
        // least half of what was in flight): smoothed, a limit far above what the service
        // can carry takes dozens of windows to come down, and the queue it
        // lets in meanwhile outlives every caller's timeout.
        let next = if self.slow_start {
            // Doubled only when the limit held requests back: a service
            // with room to spare has told nothing about what it carries,
            // and doubling it then lets in a queue at the next surge.
            if f64::from(max_in_flight) >= self.estimated {
                2.0 * self.estimated.max(f64::from(max_in_flight))
            } else {
                self.estimated
            }
        } else if target < self.estimated {
            target
        } else {
            self.estimated * (1.0 - SMOOTHING) + target * SMOOTHING
        };
        self.estimated = next.clamp(self.min, self.max);
        self.estimated as u32
    }
}

/// Netflix's `ExpAvgMeasurement`: a plain mean over the first samples,
/// then an exponential average over [`LONG_WINDOW`] samples.
#[derive(Debug, Default)]
struct ExpAvg {
    value: f64,
    count: u32,
}

impl ExpAvg {
    fn add(&mut self, sample: f64) -> f64 {
        if self.count < LONG_WARMUP {
            self.count += 1;
            self.value += (sample - self.value) / f64::from(self.count);
        } else {
            let factor = 2.0 / (LONG_WINDOW + 1.0);
            self.value = self.value * (1.0 - factor) + sample * factor;
        }
        self.value
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(initial: u32, min: u32, max: u32) -> AdaptivePolicy {
        let mut policy = crate::protection::ProtectionSet::defaults()
            .provider()
            .adaptive
            .clone()
            .unwrap();
        policy.initial_limit = initial;
        policy.min_limit = min;
        policy.max_limit = max;
        policy
    }

    const MS: f64 = 1_000_000.0;

    #[test]
    fn slow_start_doubles_until_latency_first_rises_then_growth_is_smoothed() {
        let mut gradient = Gradient2::new(&policy(20, 4, 1000), 20);
        let mut limits = vec![20];
        for _ in 0..3 {
            limits.push(gradient.update(10.0 * MS, *limits.last().unwrap()));
        }
        assert_eq!(limits, [20, 40, 80, 160], "doubles while latency holds");
        // With room to spare (fewer in flight than the limit) it holds.
        assert_eq!(
            Gradient2::new(&policy(20, 4, 1000), 20).update(10.0 * MS, 16),
            20
        );
        let fell = gradient.update(40.0 * MS, 160);
        assert!(fell < 160, "latency rose: {fell}");
        let next = gradient.update(10.0 * MS, fell);
        assert!(
            next > fell && next < 2 * fell,
            "smoothed growth after: {fell} -> {next}"
        );
    }

    #[test]
    fn steady_latency_at_the_limit_grows_it() {
        let mut gradient = Gradient2::new(&policy(20, 4, 1000), 20);
        gradient.slow_start = false;
        let mut limit = 20;
        for _ in 0..20 {
            let next = gradient.update(10.0 * MS, limit);
            assert!(next >= limit, "{next} < {limit}");
            limit = next;
        }
        assert!(limit > 20, "{limit}");
    }

    #[test]
    fn far_below_the_limit_nothing_changes() {
        let mut gradient = Gradient2::new(&policy(20, 4, 1000), 20);
        for _ in 0..20 {
            assert_eq!(gradient.update(10.0 * MS, 3), 20);
        }
        // Even a latency jump: the service is not the bottleneck.
        assert_eq!(gradient.update(500.0 * MS, 3), 20);
    }

    #[test]
    fn rising_latency_shrinks_to_the_floor_and_recovery_grows_again() {
        let mut gradient = Gradient2::new(&policy(40, 4, 1000), 40);
        for _ in 0..20 {
            gradient.update(10.0 * MS, 40);
        }
        let steady = gradient.estimated as u32;
        let mut limit = steady;
        for _ in 0..100 {
            let next = gradient.update(100.0 * MS, limit);
            assert!(next <= limit, "{next} > {limit}");
            limit = next;
        }
        // Down to where the growth allowance balances the halving: 2 × 4.
        assert_eq!(limit, 8, "shrinks to its floor");
        for _ in 0..30 {
            let next = gradient.update(10.0 * MS, limit);
            assert!(next >= limit, "{next} < {limit}");
            limit = next;
        }
        assert!(limit > 8 + 10, "recovers: {limit}");
    }

    #[test]
    fn the_limit_stays_within_its_bounds() {
        let mut gradient = Gradient2::new(&policy(10, 8, 12), 10);
        for _ in 0..100 {
            assert!(gradient.update(10.0 * MS, 100) <= 12);
        }
        for _ in 0..100 {
            assert!(gradient.update(10_000.0 * MS, 100) >= 8);
        }
        // A zero latency (a paused clock) is no division by zero.
        assert!(gradient.update(0.0, 100) >= 8);
    }

    #[tokio::test(start_paused = true)]
    async fn light_load_still_learns_the_baseline_that_overload_is_judged_by() {
        let adaptive = Arc::new(Adaptive::new(policy(20, 4, 1000)));
        // Light load: one request per 100 ms window, 20 ms each. No window
        // has ten samples, so windows run on until they do.
        for _ in 0..40 {
            tokio::time::advance(MIN_WINDOW).await;
            adaptive.sample(Duration::from_millis(20), Instant::now());
        }
        let baseline = adaptive.gradient.lock().long_rtt.value;
        assert!(
            (baseline - 20.0 * MS).abs() < MS,
            "the baseline is the light load's latency: {baseline}"
        );
        // Overload: the limit is full and every request takes 200 ms.
        let before = adaptive.limit();
        let held: Vec<_> = (0..before).map_while(|_| adaptive.try_acquire()).collect();
        for _ in 0..200 {
            tokio::time::advance(Duration::from_millis(5)).await;
            adaptive.sample(Duration::from_millis(200), Instant::now());
        }
        drop(held);
        assert!(
            adaptive.limit() < before,
            "overload shrinks the limit: {} from {before}",
            adaptive.limit()
        );
    }

    #[test]
    fn an_overload_in_the_first_windows_does_not_become_the_norm() {
        let mut gradient = Gradient2::new(&policy(100, 8, 1000), 100);
        for _ in 0..3 {
            gradient.update(20.0 * MS, 60);
        }
        let mut limit = 100;
        for _ in 0..7 {
            limit = gradient.update(200.0 * MS, limit);
        }
        let norm = gradient.long_rtt.value;
        assert!(norm < 40.0 * MS, "the norm stays near 20 ms: {norm}");
        assert!(
            limit <= 10,
            "ten times the norm drives the limit to its floor: {limit}"
        );
    }

    #[test]
    fn microsecond_jitter_is_not_an_overload() {
        let mut gradient = Gradient2::new(&policy(40, 8, 1000), 40);
        for _ in 0..20 {
            gradient.update(0.02 * MS, 40);
        }
        let steady = gradient.estimated as u32;
        // Ten times slower, still well under a millisecond: no fall.
        assert!(gradient.update(0.2 * MS, steady) >= steady);
        // Past the floor it is a queue.
        assert!(gradient.update(5.0 * MS, steady) < steady);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_whose_caller_went_away_is_a_sample() {
        let adaptive = Arc::new(Adaptive::new(policy(20, 4, 1000)));
        let permit = adaptive.try_acquire().unwrap();
        tokio::time::advance(Duration::from_millis(200)).await;
        drop(permit); // never answered: the caller gave up after 200 ms
        assert_eq!(adaptive.window.samples.load(Ordering::Relaxed), 1);
        assert_eq!(
            adaptive.window.rtt_nanos.load(Ordering::Relaxed),
            200_000_000
        );
        assert_eq!(adaptive.in_flight(), 0);
    }

    #[test]
    fn a_rejection_at_the_limit_takes_nothing() {
        let adaptive = Arc::new(Adaptive::new(policy(2, 1, 2)));
        let first = adaptive.try_acquire().unwrap();
        let second = adaptive.try_acquire().unwrap();
        assert!(adaptive.try_acquire().is_none());
        assert_eq!(adaptive.in_flight(), 2);
        drop(first);
        let third = adaptive.try_acquire().unwrap();
        second.complete();
        third.complete();
        assert_eq!(adaptive.in_flight(), 0);
    }
}
