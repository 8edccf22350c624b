//! [`Members`]: the authoritative endpoint map behind the snapshot, and how
//! discovery events change it (revisions, eviction tombstones, push-empty
//! protection).

use std::collections::HashMap;
use std::sync::Arc;

use sae_core::{InstanceId, Registered, Snapshot};

use super::Endpoint;

/// What applying an update did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Applied {
    /// The member map changed: rebuild the snapshot.
    Changed,
    /// Nothing to do (already known, or stale).
    Unchanged,
    /// Withheld by push-empty protection; `first` is true for the first
    /// update of an episode (the one to warn about).
    Withheld { first: bool },
}

/// Every known endpoint by id, evicted ones included: an evicted endpoint
/// stays here (flagged) as the tombstone that stops a re-listing of the same
/// registration from resurrecting it.
pub(super) struct Members<T> {
    pub(super) by_id: HashMap<InstanceId, Arc<Endpoint<T>>>,
    /// Removals held back by push-empty protection, applied once a new
    /// registration makes the set non-empty again.
    withheld: Vec<InstanceId>,
    protecting: bool,
}

impl<T> Members<T> {
    pub(super) fn new() -> Self {
        Members {
            by_id: HashMap::new(),
            withheld: Vec::new(),
            protecting: false,
        }
    }

    /// Routable (not evicted) endpoints, in no particular order.
    pub(super) fn routable(&self) -> Vec<Arc<Endpoint<T>>> {
        self.by_id
            .values()
            .filter(|endpoint| !endpoint.is_evicted())
            .cloned()
            .collect()
    }

    fn has_routable(&self) -> bool {
        self.by_id.values().any(|endpoint| !endpoint.is_evicted())
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
            && entry.revision <= known.revision()
        {
            return Applied::Unchanged;
        }
        self.by_id.insert(id.clone(), Arc::new(make(entry)));
        self.protecting = false;
        for withheld in std::mem::take(&mut self.withheld) {
            if &withheld != id {
                self.by_id.remove(&withheld);
            }
        }
        Applied::Changed
    }

    /// A removal; withheld when it would leave nothing routable.
    pub(super) fn remove(&mut self, id: &InstanceId) -> Applied {
        let Some(endpoint) = self.by_id.get(id) else {
            return Applied::Unchanged;
        };
        let last_routable = !endpoint.is_evicted()
            && self
                .by_id
                .values()
                .filter(|other| !other.is_evicted())
                .take(2)
                .count()
                == 1;
        if last_routable {
            if !self.withheld.contains(id) {
                self.withheld.push(id.clone());
            }
            return self.withhold();
        }
        self.by_id.remove(id);
        Applied::Changed
    }

    /// A full set: replaces the map, keeping each known endpoint (and its
    /// eviction) whose registration is not newer in the snapshot. Withheld
    /// when it would leave nothing routable.
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
                Some(known) if entry.revision <= known.revision() => Arc::clone(known),
                _ => {
                    changed = true;
                    Arc::new(make(entry))
                }
            };
            next.insert(id.clone(), endpoint);
        }
        let next_routable = next.values().any(|endpoint| !endpoint.is_evicted());
        if !next_routable && self.has_routable() {
            return self.withhold();
        }
        self.by_id = next;
        self.withheld.clear();
        self.protecting = false;
        if changed {
            Applied::Changed
        } else {
            Applied::Unchanged
        }
    }
}
