//! [`Members`]: the authoritative endpoint map behind the snapshot, and how
//! discovery events change it (revisions, eviction tombstones, push-empty
//! protection).

use std::collections::HashMap;
use std::sync::Arc;

use sae_core::{InstanceId, Registered, Snapshot};

use super::Endpoint;
use super::set::EndpointSet;

/// What applying an update did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Applied {
    /// The member map changed: publish the routing set.
    Changed,
    /// Nothing to do (already known, or stale).
    Unchanged,
    /// Withheld by push-empty protection; `first` is true for the first
    /// update of an episode (the one to warn about).
    Withheld { first: bool },
}

/// Every known endpoint by id, evicted ones included: an evicted endpoint
/// stays here (unrouted) as the tombstone that stops a re-listing of the same
/// registration from resurrecting it.
///
/// It also owns the working copy of the routing set and edits it in place,
/// so an upsert or a removal is O(1) (a swap-removal at the member's slot)
/// instead of a rebuild; only a full snapshot rebuilds it.
pub(super) struct Members<T> {
    by_id: HashMap<InstanceId, Member<T>>,
    routing: EndpointSet<T>,
    /// Removals held back by push-empty protection, applied once a new
    /// registration makes the set non-empty again.
    withheld: Vec<InstanceId>,
    protecting: bool,
}

struct Member<T> {
    endpoint: Arc<Endpoint<T>>,
    /// Its slot in its lane's group of `routing`; `None` once evicted.
    slot: Option<usize>,
}

impl<T> Members<T> {
    pub(super) fn new() -> Self {
        Members {
            by_id: HashMap::new(),
            routing: EndpointSet::empty(),
            withheld: Vec::new(),
            protecting: false,
        }
    }

    /// The routing set as it stands; the balancer publishes a clone of it.
    pub(super) fn routing(&self) -> &EndpointSet<T> {
        &self.routing
    }

    /// Known endpoints, evicted ones included.
    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }

    fn withhold(&mut self) -> Applied {
        let first = !self.protecting;
        self.protecting = true;
        Applied::Withheld { first }
    }

    /// A registration: new id, or the same id with a larger revision (which
    /// also lifts an eviction). A revision not larger than the known one is stale.
    pub(super) fn upsert(
        &mut self,
        entry: &Registered,
        make: impl FnOnce(&Registered) -> Endpoint<T>,
    ) -> Applied {
        let id = entry.instance.id();
        if let Some(known) = self.by_id.get(id)
            && entry.revision <= known.endpoint.revision()
        {
            return Applied::Unchanged;
        }
        self.unroute(id);
        let endpoint = Arc::new(make(entry));
        let slot = Some(self.routing.insert(Arc::clone(&endpoint)));
        self.by_id.insert(id.clone(), Member { endpoint, slot });
        self.protecting = false;
        for withheld in std::mem::take(&mut self.withheld) {
            if &withheld != id {
                self.unroute(&withheld);
                self.by_id.remove(&withheld);
            }
        }
        Applied::Changed
    }

    /// A removal; withheld when it would leave nothing routable.
    pub(super) fn remove(&mut self, id: &InstanceId) -> Applied {
        let Some(member) = self.by_id.get(id) else {
            return Applied::Unchanged;
        };
        if member.slot.is_some() && self.routing.len() == 1 {
            if !self.withheld.contains(id) {
                self.withheld.push(id.clone());
            }
            return self.withhold();
        }
        self.unroute(id);
        self.by_id.remove(id);
        Applied::Changed
    }

    /// Takes `endpoint` (flagged evicted by the caller) out of the routing
    /// set, keeping it as a tombstone. False when it is not the current
    /// endpoint of its id or was already out.
    pub(super) fn evict(&mut self, endpoint: &Endpoint<T>) -> bool {
        let current = self
            .by_id
            .get(endpoint.id())
            .is_some_and(|known| std::ptr::eq(Arc::as_ptr(&known.endpoint), endpoint));
        current && self.unroute(endpoint.id())
    }

    /// Removes `id`'s endpoint from the routing set; the endpoint swapped
    /// into its slot takes that slot. Returns whether it was routed.
    fn unroute(&mut self, id: &InstanceId) -> bool {
        let Some(member) = self.by_id.get_mut(id) else {
            return false;
        };
        let Some(slot) = member.slot.take() else {
            return false;
        };
        let endpoint = Arc::clone(&member.endpoint);
        if let Some(moved) = self.routing.remove(endpoint.lane(), slot)
            && let Some(moved) = self.by_id.get_mut(moved.id())
        {
            moved.slot = Some(slot);
        }
        true
    }

    /// Panics unless every routed member sits at its slot, the routing set
    /// holds exactly the routed members, and only evicted members are unrouted.
    #[cfg(test)]
    pub(super) fn assert_consistent(&self) {
        let mut routed = 0;
        for (id, member) in &self.by_id {
            assert_eq!(id, member.endpoint.id());
            match member.slot {
                Some(slot) => {
                    routed += 1;
                    let at_slot = self.routing.get(member.endpoint.lane(), slot);
                    assert!(
                        at_slot.is_some_and(|at| Arc::ptr_eq(at, &member.endpoint)),
                        "{id} is not at its slot {slot}"
                    );
                }
                None => assert!(
                    member.endpoint.is_evicted(),
                    "{id} unrouted but not evicted"
                ),
            }
        }
        assert_eq!(
            routed,
            self.routing.len(),
            "routing set holds unknown endpoints"
        );
    }

    /// A full set: replaces the map, keeping each known endpoint (and its
    /// eviction) whose registration is not newer in the snapshot, and
    /// rebuilds the routing set. Withheld when it would leave nothing routable.
    pub(super) fn replace(
        &mut self,
        snapshot: &Snapshot,
        mut make: impl FnMut(&Registered) -> Endpoint<T>,
    ) -> Applied {
        let mut latest: HashMap<&InstanceId, &Registered> = HashMap::new();
        for entry in &snapshot.instances {
            let slot = latest.entry(entry.instance.id()).or_insert(entry);
            if entry.revision > slot.revision {
                *slot = entry;
            }
        }
        let mut next = HashMap::with_capacity(latest.len());
        let mut changed = latest.len() != self.by_id.len();
        for (id, entry) in latest {
            let endpoint = match self.by_id.get(id) {
                Some(known) if entry.revision <= known.endpoint.revision() => {
                    Arc::clone(&known.endpoint)
                }
                _ => {
                    changed = true;
                    Arc::new(make(entry))
                }
            };
            next.insert(id.clone(), endpoint);
        }
        let next_routable = next.values().any(|endpoint| !endpoint.is_evicted());
        if !next_routable && self.routing.len() > 0 {
            return self.withhold();
        }
        let mut routing = EndpointSet::empty();
        self.by_id = next
            .into_iter()
            .map(|(id, endpoint)| {
                let slot = (!endpoint.is_evicted()).then(|| routing.insert(Arc::clone(&endpoint)));
                (id, Member { endpoint, slot })
            })
            .collect();
        self.routing = routing;
        self.withheld.clear();
        self.protecting = false;
        if changed {
            Applied::Changed
        } else {
            Applied::Unchanged
        }
    }
}
