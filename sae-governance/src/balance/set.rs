//! [`EndpointSet`]: the immutable routing snapshot and the power-of-two-choices pick.

use std::collections::HashMap;
use std::sync::Arc;

use sae_core::Lane;
use tokio::time::Instant;

use super::{Endpoint, LaneFallback};

/// Why no endpoint could be picked right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unavailable {
    /// When the earliest connect-failure ejection ends, if any endpoint is
    /// only ejected (not evicted); waiting past it may succeed.
    pub retry_at: Option<Instant>,
}

/// The routable endpoints at one moment, rebuilt only when discovery or an
/// eviction changes the set. Picks hold an `Arc` to the endpoint itself, never
/// an index into a set that may have been replaced (tower#856).
///
/// Lanes are index subsets of the same `endpoints`: `base` holds the untagged
/// instances, `lanes` one subset per lane, so lane routing needs no second
/// balancer and shares load, eviction and ejection state.
pub(super) struct EndpointSet<T> {
    pub(super) endpoints: Vec<Arc<Endpoint<T>>>,
    base: Vec<usize>,
    lanes: HashMap<Lane, Vec<usize>>,
}

impl<T> EndpointSet<T> {
    pub(super) fn empty() -> Self {
        EndpointSet {
            endpoints: Vec::new(),
            base: Vec::new(),
            lanes: HashMap::new(),
        }
    }

    pub(super) fn new(endpoints: Vec<Arc<Endpoint<T>>>) -> Self {
        let mut base = Vec::new();
        let mut lanes: HashMap<Lane, Vec<usize>> = HashMap::new();
        for (index, endpoint) in endpoints.iter().enumerate() {
            match endpoint.lane() {
                None => base.push(index),
                Some(lane) => lanes.entry(lane.clone()).or_default().push(index),
            }
        }
        EndpointSet {
            endpoints,
            base,
            lanes,
        }
    }

    /// Picks in `lane` when it has an available endpoint, else in base
    /// (unless `fallback` is strict). One hash lookup, then O(1).
    pub(super) fn pick(
        &self,
        lane: Option<&Lane>,
        fallback: LaneFallback,
        now: Instant,
    ) -> Result<Arc<Endpoint<T>>, Unavailable> {
        let in_lane = match lane.and_then(|lane| self.lanes.get(lane)) {
            Some(subset) => match self.pick_in(subset, now) {
                Ok(endpoint) => return Ok(endpoint),
                Err(unavailable) => Some(unavailable),
            },
            None => None,
        };
        if lane.is_some() && fallback == LaneFallback::Strict {
            return Err(in_lane.unwrap_or(Unavailable { retry_at: None }));
        }
        self.pick_in(&self.base, now).map_err(|base| Unavailable {
            retry_at: earliest(base.retry_at, in_lane.and_then(|u| u.retry_at)),
        })
    }

    /// Power of two choices: two distinct random candidates, the cheaper wins.
    /// Only when both are unavailable does it scan (degraded case, O(n)).
    fn pick_in(&self, subset: &[usize], now: Instant) -> Result<Arc<Endpoint<T>>, Unavailable> {
        let (a, b) = match subset.len() {
            0 => return Err(Unavailable { retry_at: None }),
            1 => (subset[0], subset[0]),
            len => {
                let first = fastrand::usize(..len);
                let mut second = fastrand::usize(..len - 1);
                if second >= first {
                    second += 1;
                }
                (subset[first], subset[second])
            }
        };
        let (a, b) = (&self.endpoints[a], &self.endpoints[b]);
        let now_ns = a.nanos_since_epoch(now);
        let chosen = match (a.is_available(now_ns), b.is_available(now_ns)) {
            (true, true) => Self::cheaper(a, b, now, now_ns),
            (true, false) => a,
            (false, true) => b,
            (false, false) => return self.scan(subset, now_ns),
        };
        Ok(Arc::clone(chosen))
    }

    fn cheaper<'a>(
        a: &'a Arc<Endpoint<T>>,
        b: &'a Arc<Endpoint<T>>,
        now: Instant,
        now_ns: u64,
    ) -> &'a Arc<Endpoint<T>> {
        let (rtt_a, rtt_b) = match (a.rtt_at(now_ns), b.rtt_at(now_ns)) {
            (Some(x), Some(y)) => (x, y),
            (Some(x), None) => (x, x),
            (None, Some(y)) => (y, y),
            (None, None) => (1.0, 1.0),
        };
        if a.cost(rtt_a, now) <= b.cost(rtt_b, now) {
            a
        } else {
            b
        }
    }

    fn scan(&self, subset: &[usize], now_ns: u64) -> Result<Arc<Endpoint<T>>, Unavailable> {
        let start = fastrand::usize(..subset.len());
        let mut retry_at = None;
        for offset in 0..subset.len() {
            let endpoint = &self.endpoints[subset[(start + offset) % subset.len()]];
            if endpoint.is_available(now_ns) {
                return Ok(Arc::clone(endpoint));
            }
            if !endpoint.is_evicted() {
                retry_at = earliest(retry_at, endpoint.ejected_until());
            }
        }
        Err(Unavailable { retry_at })
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
