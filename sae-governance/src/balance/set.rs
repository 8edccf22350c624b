//! [`EndpointSet`]: the immutable routing snapshot and the power-of-two-choices pick.

use std::collections::HashMap;
use std::sync::Arc;

use sae_core::Lane;
use tokio::time::Instant;

use super::chunked::ChunkedVec;
use super::health::Admit;
use super::{Endpoint, LaneFallback};

/// Why no endpoint could be picked right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unavailable {
    /// When the earliest connect-failure ejection ends, if any endpoint is
    /// only ejected (not evicted); waiting past it may succeed.
    pub retry_at: Option<Instant>,
}

type Group<T> = ChunkedVec<Arc<Endpoint<T>>>;

/// The round trip assumed of an endpoint without a sample when its peer's
/// estimate is higher: linkerd's default for a new endpoint, 30 ms.
const UNKNOWN_RTT_NS: f64 = 30_000_000.0;

/// How soon a request waiting for an endpoint on probation looks again,
/// while that endpoint's probe is in flight.
const PROBE_POLL: std::time::Duration = std::time::Duration::from_millis(5);

/// An endpoint taken for one request, and whether the request is its probe
/// (the endpoint is on probation after an ejection).
pub(super) type Taken<T> = (Arc<Endpoint<T>>, bool);

/// The routable endpoints at one moment. Picks hold an `Arc` to the endpoint
/// itself, never an index into a set that may have been replaced (tower#856).
///
/// Endpoints are grouped by lane: `base` holds the untagged instances,
/// `lanes` one group per lane, so a lane pick needs no second balancer and
/// shares load, eviction and ejection state. Each group is a [`ChunkedVec`]:
/// the members' map edits its own copy in place (O(1) per change, with an
/// id → slot map for swap-removal) and publishes a clone that shares every
/// untouched chunk with the snapshot readers still hold.
pub(super) struct EndpointSet<T> {
    base: Group<T>,
    lanes: HashMap<Lane, Group<T>>,
}

impl<T> Clone for EndpointSet<T> {
    fn clone(&self) -> Self {
        EndpointSet {
            base: self.base.clone(),
            lanes: self.lanes.clone(),
        }
    }
}

impl<T> EndpointSet<T> {
    pub(super) fn empty() -> Self {
        EndpointSet {
            base: ChunkedVec::new(),
            lanes: HashMap::new(),
        }
    }

    /// Routable endpoints, base first.
    pub(super) fn len(&self) -> usize {
        self.base.len() + self.lanes.values().map(ChunkedVec::len).sum::<usize>()
    }

    pub(super) fn endpoints(&self) -> Vec<Arc<Endpoint<T>>> {
        let lanes = self.lanes.values().flat_map(ChunkedVec::iter);
        self.base.iter().chain(lanes).cloned().collect()
    }

    /// Adds `endpoint` to its lane's group; returns its slot in that group.
    pub(super) fn insert(&mut self, endpoint: Arc<Endpoint<T>>) -> usize {
        match endpoint.lane() {
            None => self.base.push(endpoint),
            Some(lane) => {
                let lane = lane.clone();
                self.lanes.entry(lane).or_default().push(endpoint)
            }
        }
    }

    #[cfg(test)]
    pub(super) fn get(&self, lane: Option<&Lane>, slot: usize) -> Option<&Arc<Endpoint<T>>> {
        let group = match lane {
            None => &self.base,
            Some(lane) => self.lanes.get(lane)?,
        };
        (slot < group.len()).then(|| group.get(slot))
    }

    /// Removes the endpoint at `slot` of `lane`'s group. Returns the endpoint
    /// moved into `slot` to fill the gap, if any, so its slot can be updated.
    pub(super) fn remove(&mut self, lane: Option<&Lane>, slot: usize) -> Option<Arc<Endpoint<T>>> {
        let group = match lane {
            None => &mut self.base,
            Some(lane) => self.lanes.get_mut(lane)?,
        };
        let moved = group.swap_remove(slot).1.cloned();
        if let Some(lane) = lane
            && group.is_empty()
        {
            self.lanes.remove(lane);
        }
        moved
    }

    /// Picks in `lane` when it has an available endpoint, else in base
    /// (unless `fallback` is strict). One hash lookup, then O(1).
    pub(super) fn pick(
        &self,
        lane: Option<&Lane>,
        fallback: LaneFallback,
        now: Instant,
    ) -> Result<Taken<T>, Unavailable> {
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
    fn pick_in(&self, subset: &Group<T>, now: Instant) -> Result<Taken<T>, Unavailable> {
        let (a, b) = match subset.len() {
            0 => return Err(Unavailable { retry_at: None }),
            1 => (subset.get(0), subset.get(0)),
            len => {
                let first = fastrand::usize(..len);
                let mut second = fastrand::usize(..len - 1);
                if second >= first {
                    second += 1;
                }
                (subset.get(first), subset.get(second))
            }
        };
        let now_ns = a.nanos_since_epoch(now);
        let (chosen, other) = match (a.is_available(now_ns), b.is_available(now_ns)) {
            (true, true) => {
                let cheaper = Self::cheaper(a, b, now, now_ns);
                let other = if std::ptr::eq(cheaper, a) { b } else { a };
                (cheaper, Some(other))
            }
            (true, false) => (a, None),
            (false, true) => (b, None),
            (false, false) => return self.scan(subset, now_ns),
        };
        if let Some(taken) = take(chosen, now_ns) {
            return Ok(taken);
        }
        // Another request took the probe slot in between: the other
        // candidate, else a scan.
        match other.and_then(|other| take(other, now_ns)) {
            Some(taken) => Ok(taken),
            None => self.scan(subset, now_ns),
        }
    }

    fn cheaper<'a>(
        a: &'a Arc<Endpoint<T>>,
        b: &'a Arc<Endpoint<T>>,
        now: Instant,
        now_ns: u64,
    ) -> &'a Arc<Endpoint<T>> {
        // An endpoint with no sample yet is taken to be as fast as its peer,
        // but no slower than a typical first answer: a peer that only
        // failed (and so weighs like a slow answer) must not hide it.
        let unknown = |peer: f64| peer.min(UNKNOWN_RTT_NS);
        let (rtt_a, rtt_b) = match (a.rtt_at(now_ns), b.rtt_at(now_ns)) {
            (Some(x), Some(y)) => (x, y),
            (Some(x), None) => (x, unknown(x)),
            (None, Some(y)) => (unknown(y), y),
            (None, None) => (1.0, 1.0),
        };
        if a.cost(rtt_a, now) <= b.cost(rtt_b, now) {
            a
        } else {
            b
        }
    }

    fn scan(&self, subset: &Group<T>, now_ns: u64) -> Result<Taken<T>, Unavailable> {
        let start = fastrand::usize(..subset.len());
        let mut retry_at = None;
        for offset in 0..subset.len() {
            let endpoint = subset.get((start + offset) % subset.len());
            if endpoint.is_available(now_ns)
                && let Some(taken) = take(endpoint, now_ns)
            {
                return Ok(taken);
            }
            if !endpoint.is_evicted()
                && let Some(until) = endpoint.ejected_until()
            {
                // On probation with its probe in flight: look again soon
                // (the probe's answer frees it or ejects it again).
                let at = if endpoint.nanos_since_epoch(until) <= now_ns {
                    until.max(endpoint.at_nanos(now_ns)) + PROBE_POLL
                } else {
                    until
                };
                retry_at = earliest(retry_at, Some(at));
            }
        }
        Err(Unavailable { retry_at })
    }
}

/// Takes `endpoint` for one request, as its probe when it is on probation.
fn take<T>(endpoint: &Arc<Endpoint<T>>, now_ns: u64) -> Option<Taken<T>> {
    match endpoint.admit(now_ns) {
        Admit::Yes => Some((Arc::clone(endpoint), false)),
        Admit::Probe => Some((Arc::clone(endpoint), true)),
        Admit::No => None,
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
