//! The client-side balancer: power of two choices over peak-EWMA load,
//! weighted by warm-up, evicting on the offline notice.
//!
//! # Why not `tower::balance::p2c`
//!
//! tower's p2c keeps services in a ready cache and moves the called one
//! ready → pending → ready through an `IndexMap` and a `FuturesUnordered`
//! on every request, and its `PeakEwma` reads the clock several times per
//! request (figures in BENCHMARKS.md). It also cannot do what sae needs: evict an endpoint
//! because of a *response* (the offline notice), weight a pick by warm-up, or
//! select a lane subset from one shared state. So sae keeps its own:
//!
//! - an immutable snapshot of routable endpoints behind [`arc_swap::ArcSwap`],
//!   replaced only when discovery changes the set or an eviction removes one;
//!   a pick holds an `Arc<Endpoint>`, never a cached index, so a removal can
//!   never make it route to the wrong endpoint (tower#856). A change does not
//!   rebuild it: the member map edits its own copy in place (a push, or a
//!   swap-removal at the member's slot) and publishes a clone that shares
//!   every untouched 64-entry chunk, so a change costs O(n / 64) pointer
//!   copies instead of a rebuild (`benches/endpoint_change.rs`);
//! - per-endpoint atomics for load (pending count and a peak-EWMA RTT with
//!   tower's semantics, cost = `rtt × (pending + 1)`, decay 10 s by default);
//! - a pick = two random numbers, two candidates' atomics, one clock read:
//!   no lock and no O(n) work per request. The cost is divided by the
//!   effective weight `weight × max(0.1, (t / window)^(1 / aggression))`
//!   (Envoy slow start; `t` since the instance's start time);
//! - lanes as groups of the same snapshot (base = untagged): a lane
//!   pick is one hash-map lookup of the lane, then the same two-choice pick
//!   inside the subset, so eviction, ejection, load and warm-up apply in
//!   every lane. With none available in the lane, a pick falls back to base
//!   ([`LaneFallback::Base`], the default) or, for a strict service
//!   ([`LaneFallback::Strict`]), fails with [`Error::NoInstanceInLane`].
//!
//! # Health
//!
//! - **Eviction by notice** ([`Balancer::evict`]): the endpoint is flagged
//!   (checked at pick) and taken out of the snapshot. It returns
//!   only with a registration of the same id with a *larger* revision; a
//!   re-listing of the same registration does not bring it back.
//! - **Ejection on connect failure** ([`Balancer::eject`]): the endpoint stays
//!   in the snapshot but is skipped for 3 s, doubling with each consecutive
//!   failure up to 30 s (defaults), or until a new registration replaces it.
//!   Connect failures are cheap to retry elsewhere, so a short bound keeps
//!   a briefly restarting instance from being lost for long.
//! - **Push-empty protection** (Nacos): a discovery update that would leave
//!   nothing routable while something is routable is withheld, with one
//!   warning per episode; routing continues to the last-known set.

mod chunked;
mod config;
mod endpoint;
mod health;
#[cfg(test)]
mod lane_tests;
mod members;
#[cfg(test)]
mod outlier_tests;
mod set;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use sae_core::{Error, Lane, Registered, ServiceName, WatchEvent};
use tokio::sync::watch;
use tokio::time::Instant;

pub use config::{BalanceConfig, BalanceStats, LaneFallback};
pub use endpoint::{Endpoint, Pending, Picked};
pub use set::Unavailable;

use crate::protection::OutlierPolicy;

/// An outlier ejection: when it ends, and how many there were.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ejection {
    /// When the endpoint is on probation.
    pub until: Instant,
    /// Outlier ejections of the endpoint so far, this one included.
    pub ejections: u32,
}

use members::{Applied, Members};
use set::EndpointSet;

type MakeState<T> = Box<dyn Fn(&Registered) -> T + Send + Sync>;

/// A discovery-fed, lock-free-on-pick balancer over endpoints carrying state
/// `T` (the client keeps its connection pool there). Cheap to clone (an `Arc`).
pub struct Balancer<T> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    service: ServiceName,
    config: BalanceConfig,
    lane_fallback: LaneFallback,
    epoch: Instant,
    set: ArcSwap<EndpointSet<T>>,
    members: Mutex<Members<T>>,
    make_state: MakeState<T>,
    /// Bumped on every discovery event and eviction; wakes waiting requests.
    changes: watch::Sender<u64>,
    evictions: AtomicU64,
    ejections: AtomicU64,
    outlier_ejections: AtomicU64,
    withheld: AtomicU64,
    events: AtomicU64,
}

impl<T> Clone for Balancer<T> {
    fn clone(&self) -> Self {
        Balancer {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> std::fmt::Debug for Balancer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Balancer")
            .field("service", &self.inner.service)
            .field("routable", &self.inner.set.load().len())
            .finish_non_exhaustive()
    }
}

impl<T> Balancer<T> {
    /// An empty balancer for `service`; `make_state` builds each new endpoint's
    /// state (called on discovery changes only, never per request).
    pub fn new(
        service: ServiceName,
        config: BalanceConfig,
        lane_fallback: LaneFallback,
        make_state: impl Fn(&Registered) -> T + Send + Sync + 'static,
    ) -> Self {
        Balancer {
            inner: Arc::new(Inner {
                service,
                config,
                lane_fallback,
                epoch: Instant::now(),
                set: ArcSwap::from_pointee(EndpointSet::empty()),
                members: Mutex::new(Members::new()),
                make_state: Box::new(make_state),
                changes: watch::Sender::new(0),
                evictions: AtomicU64::new(0),
                ejections: AtomicU64::new(0),
                outlier_ejections: AtomicU64::new(0),
                withheld: AtomicU64::new(0),
                events: AtomicU64::new(0),
            }),
        }
    }

    /// The service this balancer routes to.
    pub fn service(&self) -> &ServiceName {
        &self.inner.service
    }

    /// Applies one discovery event (a snapshot replaces the set).
    pub fn apply(&self, event: WatchEvent) {
        let inner = &*self.inner;
        let make = |entry: &Registered| {
            Endpoint::new(entry, &inner.config, inner.epoch, (inner.make_state)(entry))
        };
        let mut members = inner.members.lock();
        let applied = match &event {
            WatchEvent::Snapshot(snapshot) => members.replace(snapshot, make),
            WatchEvent::Upsert(entry) => members.upsert(entry, make),
            WatchEvent::Remove { id, .. } => members.remove(id),
        };
        match applied {
            Applied::Changed => self.publish(&members),
            Applied::Unchanged => {}
            Applied::Withheld { first } => {
                inner.withheld.fetch_add(1, Ordering::Relaxed);
                if first {
                    tracing::warn!(
                        service = %inner.service,
                        revision = %event.revision(),
                        kept = members.len(),
                        "discovery update would leave no routable instance; keeping the last-known set (push-empty protection)"
                    );
                }
            }
        }
        drop(members);
        inner.events.fetch_add(1, Ordering::Relaxed);
        inner.changes.send_modify(|version| *version += 1);
    }

    /// Picks an endpoint for a request in `lane` (`None` = base): in the lane
    /// when it has an available endpoint, else among base endpoints unless
    /// the service is strict ([`LaneFallback::Strict`]). A request with no
    /// lane only ever gets a base endpoint.
    #[cfg(any(test, feature = "demo-internals"))]
    pub fn pick(&self, lane: Option<&Lane>) -> Result<Picked<T>, Unavailable> {
        self.pick_at(lane, Instant::now())
    }

    /// [`Self::pick`] as of `now` (ejections, load decay and warm-up are
    /// judged at `now`), for a caller that already read the clock.
    pub fn pick_at(&self, lane: Option<&Lane>, now: Instant) -> Result<Picked<T>, Unavailable> {
        self.inner
            .set
            .load()
            .pick(lane, self.inner.lane_fallback, now)
            .map(|(endpoint, probe)| Picked::new(endpoint, now, probe))
    }

    /// Picks an endpoint, waiting up to `wait` for one to become available
    /// (woken by discovery changes and ejection expiry), then failing with
    /// [`Error::NoAvailableInstance`] ([`Error::NoInstanceInLane`] for a
    /// request in a lane of a strict service). The pick carries its instant,
    /// so that [`Picked::begin`] needs no clock read of its own: the
    /// client's path reads the clock twice per request (pick, response),
    /// not four times.
    pub async fn ready(&self, lane: Option<&Lane>, wait: Duration) -> Result<Picked<T>, Error> {
        let started = Instant::now();
        if let Ok(picked) = self.pick_at(lane, started) {
            return Ok(picked);
        }
        let deadline = started + wait;
        let mut changes = self.inner.changes.subscribe();
        loop {
            // Subscribed before this pick, so a change after it still wakes us.
            changes.borrow_and_update();
            let now = Instant::now();
            let unavailable = match self.pick_at(lane, now) {
                Ok(picked) => return Ok(picked),
                Err(unavailable) => unavailable,
            };
            if now >= deadline {
                if let Some(lane) = lane
                    && self.inner.lane_fallback == LaneFallback::Strict
                {
                    return Err(Error::NoInstanceInLane {
                        service: self.inner.service.to_string(),
                        lane: lane.to_string(),
                    });
                }
                return Err(Error::NoAvailableInstance {
                    service: self.inner.service.to_string(),
                    waited: wait,
                });
            }
            let wake = unavailable.retry_at.map_or(deadline, |at| at.min(deadline));
            tokio::select! {
                _ = changes.changed() => {}
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    /// Evicts `endpoint` after its offline notice. Returns whether this call
    /// evicted it (false when it already was).
    pub fn evict(&self, endpoint: &Endpoint<T>) -> bool {
        if !endpoint.mark_evicted() {
            return false;
        }
        self.inner.evictions.fetch_add(1, Ordering::Relaxed);
        let mut members = self.inner.members.lock();
        if members.evict(endpoint) {
            self.publish(&members);
            self.inner.changes.send_modify(|version| *version += 1);
        }
        drop(members);
        tracing::debug!(service = %self.inner.service, id = %endpoint.id(), addr = %endpoint.addr(), "evicted by offline notice");
        true
    }

    /// Ejects `endpoint` after consecutive failures (or a failed probe), for
    /// `base × ejections` at most `max`, unless the service's share of
    /// outlier-ejected endpoints is full (`max_ejection_percent`, but one
    /// may always be). Returns when the ejection ends, or `None` when the
    /// cap kept the endpoint in rotation or it is ejected already. An
    /// ejected endpoint is ejected again (for longer) only by its `probe`'s
    /// failure: calls sent before its ejection that fail afterwards say
    /// nothing new about it.
    pub fn eject_outlier(
        &self,
        endpoint: &Endpoint<T>,
        policy: &OutlierPolicy,
        probe: bool,
    ) -> Option<Ejection> {
        let health = endpoint.health();
        if health.is_outlier_ejected() {
            if !probe {
                return None;
            }
        } else {
            // Rare (an ejection), so counting the ejected ones costs a scan
            // rather than bookkeeping on every change of the set.
            let set = self.inner.set.load();
            let endpoints = set.endpoints();
            let ejected = endpoints
                .iter()
                .filter(|endpoint| endpoint.health().is_outlier_ejected())
                .count();
            let allowed =
                ((endpoints.len() as f64 * policy.max_ejection_percent / 100.0) as usize).max(1);
            if ejected >= allowed {
                tracing::debug!(service = %self.inner.service, instance = %endpoint.id(), ejected, allowed, "not ejected: the share of ejected endpoints is full");
                return None;
            }
        }
        let now = Instant::now();
        let ejected = health.eject_outlier(
            endpoint.nanos_since_epoch(now),
            policy.base_ejection_time,
            policy.max_ejection_time,
        );
        endpoint.forget_rtt();
        self.inner.outlier_ejections.fetch_add(1, Ordering::Relaxed);
        self.inner.changes.send_modify(|version| *version += 1);
        Some(Ejection {
            until: endpoint.at_nanos(ejected.until_ns),
            ejections: ejected.ejections,
        })
    }

    /// Ejects `endpoint` after a connect failure (see the module docs for how long).
    pub fn eject(&self, endpoint: &Endpoint<T>) {
        let config = &self.inner.config;
        let until = endpoint.eject(config.eject_base, config.eject_max);
        self.inner.ejections.fetch_add(1, Ordering::Relaxed);
        tracing::info!(name: "sae.connect_ejection", service = %self.inner.service, instance = %endpoint.id(), addr = %endpoint.addr(), until = ?until, "ejected after connect failure");
    }

    /// The routable endpoints (not evicted; ejected ones included).
    pub fn endpoints(&self) -> Vec<Arc<Endpoint<T>>> {
        self.inner.set.load().endpoints()
    }

    /// A receiver that changes on every discovery event and eviction.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    /// What the balancer did so far.
    pub fn stats(&self) -> BalanceStats {
        let inner = &*self.inner;
        BalanceStats {
            evictions_by_notice: inner.evictions.load(Ordering::Relaxed),
            connect_ejections: inner.ejections.load(Ordering::Relaxed),
            outlier_ejections: inner.outlier_ejections.load(Ordering::Relaxed),
            withheld_updates: inner.withheld.load(Ordering::Relaxed),
            discovery_events: inner.events.load(Ordering::Relaxed),
        }
    }

    /// Publishes the members' routing set: a clone sharing every chunk the
    /// change did not touch (O(n / 64), not a rebuild). The caller wakes
    /// the waiting requests.
    fn publish(&self, members: &Members<T>) {
        self.inner.set.store(Arc::new(members.routing().clone()));
    }
}
