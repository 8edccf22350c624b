//! [`Endpoint`]: one routable instance with its lock-free load and health state.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use sae_core::{InstanceId, Lane, Registered, Revision};
use tokio::time::Instant;

use super::BalanceConfig;

/// One instance as the balancer sees it: identity, weight, warm-up, load and
/// health, plus the caller's per-endpoint state `T` (the client keeps its
/// connection pool there, so a pick needs no map lookup).
///
/// Every mutable field is an atomic: requests update load and health without
/// locks. A new registration of the same id (larger revision) gets a new
/// `Endpoint`, so load, ejection and eviction start afresh.
pub struct Endpoint<T> {
    id: InstanceId,
    addr: SocketAddr,
    revision: Revision,
    lane: Option<Lane>,
    weight: f64,
    slow_start: SlowStart,
    /// Requests sent and not yet answered (response head).
    pending: AtomicU32,
    /// Peak-EWMA round-trip estimate in ns, as `f64` bits; 0 = no sample yet.
    rtt_ns: AtomicU64,
    /// When `rtt_ns` was last written, ns since the balancer's epoch.
    rtt_updated: AtomicU64,
    decay_ns: f64,
    evicted: AtomicBool,
    /// Connect-failure ejection: ns since epoch until which the endpoint is
    /// skipped; 0 = not ejected.
    ejected_until: AtomicU64,
    consecutive_failures: AtomicU32,
    epoch: Instant,
    state: T,
}

/// Envoy's slow start: `max(min_factor, (t / window)^(1 / aggression))`.
#[derive(Clone, Copy, Debug)]
struct SlowStart {
    started: Instant,
    window: Duration,
    /// `started + window`: past it (the usual case) the factor is 1 after
    /// one comparison, no duration arithmetic.
    ends: Instant,
    inverse_aggression: f64,
    min_factor: f64,
}

impl SlowStart {
    fn factor(&self, now: Instant) -> f64 {
        if now >= self.ends {
            return 1.0;
        }
        let age = now.saturating_duration_since(self.started);
        let ratio = age.as_secs_f64() / self.window.as_secs_f64();
        let ramp = if self.inverse_aggression == 1.0 {
            ratio
        } else {
            ratio.powf(self.inverse_aggression)
        };
        ramp.max(self.min_factor)
    }
}

impl<T> Endpoint<T> {
    pub(super) fn new(
        entry: &Registered,
        config: &BalanceConfig,
        epoch: Instant,
        state: T,
    ) -> Self {
        let instance = &entry.instance;
        let now = Instant::now();
        // The registry carries wall-clock start times; convert once to the
        // monotonic (and, in tests, pausable) clock so picks never read SystemTime.
        let age = SystemTime::now()
            .duration_since(instance.start_time())
            .unwrap_or(Duration::ZERO);
        let (started, window) = match now.checked_sub(age) {
            Some(started) => (started, instance.warmup()),
            None => (now, Duration::ZERO),
        };
        Endpoint {
            id: instance.id().clone(),
            addr: instance.addr(),
            revision: entry.revision,
            lane: instance.lane().and_then(|lane| Lane::new(lane).ok()),
            weight: f64::from(instance.weight()),
            slow_start: SlowStart {
                started,
                window,
                ends: started + window,
                inverse_aggression: 1.0 / config.slow_start_aggression.max(f64::MIN_POSITIVE),
                min_factor: config.slow_start_min_factor.clamp(0.0, 1.0),
            },
            pending: AtomicU32::new(0),
            rtt_ns: AtomicU64::new(0),
            rtt_updated: AtomicU64::new(0),
            decay_ns: config.decay.as_nanos().max(1) as f64,
            evicted: AtomicBool::new(false),
            ejected_until: AtomicU64::new(0),
            consecutive_failures: AtomicU32::new(0),
            epoch,
            state,
        }
    }

    /// The instance id.
    pub fn id(&self) -> &InstanceId {
        &self.id
    }

    /// The address requests go to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The revision of the registration this endpoint was built from.
    pub fn revision(&self) -> Revision {
        self.revision
    }

    /// The lane the instance serves; `None` is the base version.
    pub fn lane(&self) -> Option<&Lane> {
        self.lane.as_ref()
    }

    /// The caller's per-endpoint state (the client's connection pool).
    pub fn state(&self) -> &T {
        &self.state
    }

    /// Requests in flight (sent, response head not yet received).
    pub fn pending(&self) -> u32 {
        self.pending.load(Ordering::Relaxed)
    }

    /// Whether an offline notice evicted this endpoint.
    pub fn is_evicted(&self) -> bool {
        self.evicted.load(Ordering::Acquire)
    }

    /// The instance weight scaled by slow start at `now`.
    pub fn effective_weight(&self, now: Instant) -> f64 {
        self.weight * self.slow_start.factor(now)
    }

    /// The peak-EWMA round-trip estimate at `now`, decayed since its last
    /// sample; `None` before the first response.
    #[cfg(any(test, feature = "demo-internals"))]
    pub fn rtt_estimate(&self, now: Instant) -> Option<Duration> {
        self.rtt_at(self.nanos_since_epoch(now))
            .map(|ns| Duration::from_nanos(ns as u64))
    }

    /// Marks a request as sent; the returned guard counts it as pending until
    /// it is completed or dropped.
    #[cfg(any(test, feature = "demo-internals"))]
    pub fn begin(&self) -> Pending<'_, T> {
        self.begin_at(Instant::now())
    }

    /// [`Self::begin`] with the send time given: the instant of the pick
    /// ([`Balancer::ready_timed`](super::Balancer::ready_timed)), which saves
    /// a clock read per request.
    pub fn begin_at(&self, sent_at: Instant) -> Pending<'_, T> {
        self.pending.fetch_add(1, Ordering::Relaxed);
        Pending {
            endpoint: self,
            sent_at,
        }
    }

    pub(super) fn nanos_since_epoch(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    pub(super) fn is_available(&self, now_ns: u64) -> bool {
        if self.evicted.load(Ordering::Relaxed) {
            return false;
        }
        let until = self.ejected_until.load(Ordering::Relaxed);
        until == 0 || until <= now_ns
    }

    pub(super) fn ejected_until(&self) -> Option<Instant> {
        match self.ejected_until.load(Ordering::Relaxed) {
            0 => None,
            ns => Some(self.epoch + Duration::from_nanos(ns)),
        }
    }

    /// `rtt × (pending + 1) / effective weight`, with `rtt` from [`Self::rtt_at`]
    /// (the picker substitutes the peer's estimate before the first sample).
    pub(super) fn cost(&self, rtt: f64, now: Instant) -> f64 {
        let pending = f64::from(self.pending.load(Ordering::Relaxed));
        rtt * (pending + 1.0) / self.effective_weight(now)
    }

    pub(super) fn rtt_at(&self, now_ns: u64) -> Option<f64> {
        let bits = self.rtt_ns.load(Ordering::Relaxed);
        if bits == 0 {
            return None;
        }
        let elapsed = now_ns.saturating_sub(self.rtt_updated.load(Ordering::Relaxed));
        Some(f64::from_bits(bits) * self.decay(elapsed))
    }

    /// `e^(-elapsed / decay)`, the weight the estimate keeps after `elapsed` ns.
    fn decay(&self, elapsed_ns: u64) -> f64 {
        let x = elapsed_ns as f64 / self.decay_ns;
        // A busy endpoint is read every few µs against a 10 s decay: there a
        // second-order Taylor step is exact to ~x³/6 < 2e-13 and saves the
        // `exp` call, several of which every request would make.
        if x < 1e-4 {
            1.0 - x + x * x / 2.0
        } else {
            (-x).exp()
        }
    }

    /// tower's PeakEwma update: a sample above the estimate replaces it, a
    /// lower one is averaged in by the time since the last sample. Two racing
    /// updates may lose one sample; the estimate stays sound.
    fn record_rtt(&self, rtt: Duration, now: Instant) {
        let now_ns = self.nanos_since_epoch(now);
        let sample = (rtt.as_nanos() as f64).max(1.0);
        let bits = self.rtt_ns.load(Ordering::Relaxed);
        let next = if bits == 0 {
            sample
        } else {
            let elapsed = now_ns.saturating_sub(self.rtt_updated.load(Ordering::Relaxed));
            let decay = self.decay(elapsed);
            let estimate = f64::from_bits(bits) * decay;
            if sample > estimate {
                sample
            } else {
                // tower's blend: the estimate decayed to now, plus the
                // sample weighted by recency.
                estimate + sample * (1.0 - decay)
            }
        };
        self.rtt_ns.store(next.to_bits(), Ordering::Relaxed);
        self.rtt_updated.store(now_ns, Ordering::Relaxed);
        if self.consecutive_failures.load(Ordering::Relaxed) != 0 {
            self.consecutive_failures.store(0, Ordering::Relaxed);
        }
    }

    pub(super) fn mark_evicted(&self) -> bool {
        !self.evicted.swap(true, Ordering::AcqRel)
    }

    /// Ejects for `base × 2^(failures - 1)`, at most `max`.
    pub(super) fn eject(&self, base: Duration, max: Duration) -> Instant {
        let failures = self.consecutive_failures.fetch_add(1, Ordering::Relaxed);
        let backoff = base.saturating_mul(1u32 << failures.min(16)).min(max);
        let until = Instant::now() + backoff;
        self.ejected_until
            .store(self.nanos_since_epoch(until).max(1), Ordering::Relaxed);
        until
    }
}

impl<T> std::fmt::Debug for Endpoint<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("id", &self.id)
            .field("addr", &self.addr)
            .field("revision", &self.revision)
            .field("lane", &self.lane)
            .field("pending", &self.pending())
            .field("evicted", &self.is_evicted())
            .finish_non_exhaustive()
    }
}

/// A request in flight to an [`Endpoint`]: counted as pending until
/// [`Pending::complete`] records its round trip, or until dropped (an
/// abandoned or failed request leaves no RTT sample).
#[must_use = "dropping the guard at once stops counting the request"]
pub struct Pending<'a, T> {
    endpoint: &'a Endpoint<T>,
    sent_at: Instant,
}

impl<T> Pending<'_, T> {
    /// Starts the round trip now: for a request that first had to open a
    /// connection, so the connect time does not count as the endpoint's
    /// latency (it would keep a new instance avoided for a decay time).
    pub fn restart_clock(&mut self) {
        self.sent_at = Instant::now();
    }

    /// The response head arrived: records the round trip and stops counting.
    pub fn complete(self) {
        let now = Instant::now();
        self.endpoint
            .record_rtt(now.saturating_duration_since(self.sent_at), now);
    }
}

impl<T> Drop for Pending<'_, T> {
    fn drop(&mut self) {
        self.endpoint.pending.fetch_sub(1, Ordering::Relaxed);
    }
}
