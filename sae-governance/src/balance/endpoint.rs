//! [`Endpoint`]: one routable instance with its lock-free load and health state.

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use sae_core::{InstanceId, Lane, Registered, Revision};
use tokio::time::Instant;

use super::BalanceConfig;
use super::health::{Admit, Health};

/// What a failed request's round trip counts as: a failure answered in a
/// microsecond must not make its endpoint look fast (a fast failure would
/// otherwise attract traffic), so it weighs like a slow answer.
pub(crate) const FAILURE_PENALTY: Duration = Duration::from_secs(1);

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
    /// Ejection (connect failures, failure accrual) and probation.
    health: Health,
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
            health: Health::default(),
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

    /// Marks a request as sent now, without a pick (tests and benches).
    #[cfg(any(test, feature = "demo-internals"))]
    pub fn begin(self: &Arc<Self>) -> Pending<T> {
        Picked::new(Arc::clone(self), Instant::now(), false).begin()
    }

    pub(super) fn nanos_since_epoch(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    /// The instant `ns` after the balancer's epoch.
    pub(super) fn at_nanos(&self, ns: u64) -> Instant {
        self.epoch + Duration::from_nanos(ns)
    }

    pub(super) fn is_available(&self, now_ns: u64) -> bool {
        !self.evicted.load(Ordering::Relaxed) && self.health.available(now_ns)
    }

    /// Takes the endpoint for one request: a probe when on probation.
    pub(super) fn admit(&self, now_ns: u64) -> Admit {
        self.health.admit(now_ns)
    }

    pub(super) fn ejected_until(&self) -> Option<Instant> {
        self.health
            .ejected_until_ns()
            .map(|ns| self.epoch + Duration::from_nanos(ns))
    }

    pub(super) fn health(&self) -> &Health {
        &self.health
    }

    /// Forgets the round-trip estimate: an ejected endpoint comes back on
    /// probation as an unknown one, not with the penalty of its failures
    /// (which would keep two-choice picks away from it, so it would never
    /// be probed).
    pub(super) fn forget_rtt(&self) {
        self.rtt_ns.store(0, Ordering::Relaxed);
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
    }

    pub(super) fn mark_evicted(&self) -> bool {
        !self.evicted.swap(true, Ordering::AcqRel)
    }

    /// Ejects after a connect failure for `base × 2^(failures - 1)`, at most `max`.
    pub(super) fn eject(&self, base: Duration, max: Duration) -> Instant {
        let now_ns = self.nanos_since_epoch(Instant::now());
        let until = self.health.eject_connect(now_ns, base, max);
        self.epoch + Duration::from_nanos(until)
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

/// A request in flight to an [`Endpoint`]: counted as pending until it is
/// settled ([`Pending::complete`], or the client's verdict) or dropped (an
/// abandoned request leaves no round-trip sample, and frees a probe slot).
#[must_use = "dropping the guard at once stops counting the request"]
pub struct Pending<T> {
    endpoint: Arc<Endpoint<T>>,
    sent_at: Instant,
    /// This request is the endpoint's probe after an ejection.
    probe: bool,
    settled: bool,
}

impl<T> Pending<T> {
    /// Starts the round trip now: for a request that first had to open a
    /// connection, so the connect time does not count as the endpoint's
    /// latency (it would keep a new instance avoided for a decay time).
    pub fn restart_clock(&mut self) {
        self.sent_at = Instant::now();
    }

    /// Whether this request is the endpoint's probe after an ejection.
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// The response head arrived and says the endpoint is healthy: records
    /// the round trip, ends failure accrual (and, for a probe, the
    /// ejection). Returns whether it restored an ejected endpoint.
    #[cfg(any(test, feature = "demo-internals"))]
    pub fn complete(self) -> bool {
        self.complete_at(Instant::now())
    }

    /// [`Pending::complete`] with the instant the answer came, for a caller
    /// that read the clock already.
    pub fn complete_at(mut self, now: Instant) -> bool {
        let endpoint = &self.endpoint;
        endpoint.record_rtt(now.saturating_duration_since(self.sent_at), now);
        self.settled = true;
        endpoint.health.succeeded(self.probe)
    }

    /// The endpoint failed this request (a gateway-class answer, a reset, a
    /// timeout): records one more failure in a row, which it returns, and a
    /// round trip of at least [`FAILURE_PENALTY`] when `penalize` (without
    /// it, the failure's own time: a fast failure then attracts traffic,
    /// the behaviour of a balancer without failure accrual).
    pub(crate) fn fail(mut self, penalize: bool) -> u32 {
        let now = Instant::now();
        let endpoint = &self.endpoint;
        let took = now.saturating_duration_since(self.sent_at);
        let counted = if penalize {
            took.max(FAILURE_PENALTY)
        } else {
            took
        };
        endpoint.record_rtt(counted, now);
        self.settled = true;
        endpoint.health.failed()
    }

    /// The endpoint answered but is busy (it rejected the request before
    /// processing it): it is not failing, but must not look fast either
    /// (when `penalize`).
    pub(crate) fn rejected(mut self, penalize: bool) {
        let now = Instant::now();
        let endpoint = &self.endpoint;
        let took = now.saturating_duration_since(self.sent_at);
        endpoint.record_rtt(if penalize { FAILURE_PENALTY } else { took }, now);
        self.settled = true;
        if self.probe {
            endpoint.health.probe_abandoned();
        }
    }
}

impl<T> Drop for Pending<T> {
    fn drop(&mut self) {
        self.endpoint.pending.fetch_sub(1, Ordering::Relaxed);
        if self.probe && !self.settled {
            self.endpoint.health.probe_abandoned();
        }
    }
}

/// An endpoint picked for one request ([`Balancer::pick_at`],
/// [`Balancer::ready`](super::Balancer::ready)), with the instant of the
/// pick; [`Picked::begin`] starts the request. When the endpoint is on
/// probation this pick holds its probe slot, which dropping the pick frees.
///
/// [`Balancer::pick_at`]: super::Balancer::pick_at
pub struct Picked<T> {
    endpoint: Option<Arc<Endpoint<T>>>,
    at: Instant,
    probe: bool,
}

impl<T> Picked<T> {
    pub(super) fn new(endpoint: Arc<Endpoint<T>>, at: Instant, probe: bool) -> Self {
        Picked {
            endpoint: Some(endpoint),
            at,
            probe,
        }
    }

    /// When the pick was made.
    pub fn at(&self) -> Instant {
        self.at
    }

    /// Whether the request will be the endpoint's probe after an ejection.
    #[cfg(test)]
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// Marks the request as sent at the pick's instant; the guard counts it
    /// as pending until it is settled or dropped.
    pub fn begin(mut self) -> Pending<T> {
        let endpoint = self.endpoint.take().expect("a pick is begun once");
        endpoint.pending.fetch_add(1, Ordering::Relaxed);
        Pending {
            endpoint,
            sent_at: self.at,
            probe: std::mem::take(&mut self.probe),
            settled: false,
        }
    }
}

impl<T> Deref for Picked<T> {
    type Target = Arc<Endpoint<T>>;

    fn deref(&self) -> &Arc<Endpoint<T>> {
        self.endpoint.as_ref().expect("a pick is begun once")
    }
}

impl<T> Drop for Picked<T> {
    fn drop(&mut self) {
        if self.probe
            && let Some(endpoint) = &self.endpoint
        {
            endpoint.health.probe_abandoned();
        }
    }
}

impl<T> std::fmt::Debug for Picked<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Picked")
            .field("endpoint", &self.endpoint)
            .field("probe", &self.probe)
            .finish()
    }
}
