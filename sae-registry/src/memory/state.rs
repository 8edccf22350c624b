//! The registry's table: entries, lease deadlines, the revision counter and
//! the watchers, all behind one lock so a change and its events are ordered.

use std::collections::HashMap;
use std::sync::Arc;

use sae_core::rules::{RuleDocument, RuleEvent, RuleKind, RuleReport, RuleReports, RuleSnapshot};
use sae_core::{
    Instance, InstanceId, Registered, RemovalReason, Revision, ServiceName, Snapshot, WatchEvent,
};
use tokio::time::Instant;

use super::rules::RuleTable;
use super::watcher::{WatchQueue, WatchReceiver};

/// What a keep-alive found when it tried to renew its lease.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Renewal {
    /// The deadline moved forward.
    Renewed,
    /// The entry is gone or belongs to a newer registration: the lease is lost.
    Lost,
}

#[derive(Default)]
pub(super) struct State {
    revision: u64,
    services: HashMap<ServiceName, Service>,
    rules: RuleTable,
}

#[derive(Default)]
struct Service {
    entries: HashMap<InstanceId, Entry>,
    watchers: Vec<Arc<WatchQueue<WatchEvent>>>,
}

struct Entry {
    registered: Registered,
    deadline: Instant,
    /// The instance's rule report: it goes with the entry.
    report: Option<RuleReport>,
}

impl Service {
    fn snapshot(&self, revision: Revision) -> Snapshot {
        Snapshot {
            revision,
            instances: self
                .entries
                .values()
                .map(|e| e.registered.clone())
                .collect(),
        }
    }

    /// Sends `event` to every live watcher and forgets the dropped ones.
    fn emit(&mut self, event: WatchEvent) {
        let revision = event.revision();
        let Service { entries, watchers } = self;
        let resync = || {
            WatchEvent::Snapshot(Snapshot {
                revision,
                instances: entries.values().map(|e| e.registered.clone()).collect(),
            })
        };
        watchers.retain(|watcher| watcher.push(event.clone(), resync));
    }

    fn is_unused(&self) -> bool {
        self.entries.is_empty() && self.watchers.is_empty()
    }
}

impl State {
    pub(super) fn revision(&self) -> Revision {
        Revision(self.revision)
    }

    fn next_revision(&mut self) -> Revision {
        self.revision += 1;
        Revision(self.revision)
    }

    /// Adds or replaces the entry of `instance`; its revision is the lease token.
    pub(super) fn upsert(&mut self, instance: Instance, deadline: Instant) -> Registered {
        let revision = self.next_revision();
        let registered = Registered { instance, revision };
        let service = self
            .services
            .entry(registered.instance.service().clone())
            .or_default();
        service.entries.insert(
            registered.instance.id().clone(),
            Entry {
                registered: registered.clone(),
                deadline,
                report: None,
            },
        );
        service.emit(WatchEvent::Upsert(registered.clone()));
        registered
    }

    /// Removes an entry; with `token`, only the registration with that revision.
    pub(super) fn remove(
        &mut self,
        service: &ServiceName,
        id: &InstanceId,
        token: Option<Revision>,
        reason: RemovalReason,
    ) -> bool {
        let Some(entries) = self.services.get(service).map(|s| &s.entries) else {
            return false;
        };
        let matches = entries
            .get(id)
            .is_some_and(|e| token.is_none_or(|t| e.registered.revision == t));
        if !matches {
            return false;
        }
        let revision = self.next_revision();
        let slot = self.services.get_mut(service).expect("checked above");
        slot.entries.remove(id);
        slot.emit(WatchEvent::Remove {
            revision,
            id: id.clone(),
            reason,
        });
        if slot.is_unused() {
            self.services.remove(service);
        }
        true
    }

    /// Moves the deadline of registration `token` to `deadline`. A lease whose
    /// deadline already passed (the keep-alive was starved) expires instead.
    pub(super) fn renew(
        &mut self,
        service: &ServiceName,
        id: &InstanceId,
        token: Revision,
        now: Instant,
        deadline: Instant,
    ) -> Renewal {
        let entry = self
            .services
            .get_mut(service)
            .and_then(|s| s.entries.get_mut(id))
            .filter(|e| e.registered.revision == token);
        match entry {
            Some(entry) if entry.deadline > now => {
                entry.deadline = deadline;
                Renewal::Renewed
            }
            Some(_) => {
                self.remove(service, id, Some(token), RemovalReason::Expired);
                Renewal::Lost
            }
            None => Renewal::Lost,
        }
    }

    /// The deadline of registration `token`, if it is still the current one.
    pub(super) fn deadline(
        &self,
        service: &ServiceName,
        id: &InstanceId,
        token: Revision,
    ) -> Option<Instant> {
        self.services
            .get(service)?
            .entries
            .get(id)
            .filter(|e| e.registered.revision == token)
            .map(|e| e.deadline)
    }

    /// Expires registration `token` if its deadline is at or before `now`.
    /// Returns true when the entry is gone (expired now or earlier).
    pub(super) fn expire_if_due(
        &mut self,
        service: &ServiceName,
        id: &InstanceId,
        token: Revision,
        now: Instant,
    ) -> bool {
        match self.deadline(service, id, token) {
            None => true,
            Some(deadline) if deadline <= now => {
                self.remove(service, id, Some(token), RemovalReason::Expired)
            }
            Some(_) => false,
        }
    }

    pub(super) fn snapshot(&self, service: &ServiceName) -> Snapshot {
        let revision = self.revision();
        self.services.get(service).map_or_else(
            || Snapshot {
                revision,
                instances: Vec::new(),
            },
            |s| s.snapshot(revision),
        )
    }

    /// A new watcher of `service`; its first event is the current snapshot,
    /// taken under the same lock as the subscription so nothing falls between.
    pub(super) fn subscribe(&mut self, service: &ServiceName) -> WatchReceiver<WatchEvent> {
        let revision = self.revision();
        let slot = self.services.entry(service.clone()).or_default();
        slot.watchers.retain(|w| !w.is_closed());
        let (queue, receiver) = WatchQueue::new(WatchEvent::Snapshot(slot.snapshot(revision)));
        slot.watchers.push(queue);
        receiver
    }

    /// Stores `report` on registration `token`; false when that
    /// registration is gone (the owner registers again, then reports).
    pub(super) fn report(&mut self, token: Revision, report: RuleReport) -> bool {
        let entry = self
            .services
            .get_mut(&report.service)
            .and_then(|s| s.entries.get_mut(&report.id))
            .filter(|e| e.registered.revision == token);
        match entry {
            Some(entry) => {
                entry.report = Some(report);
                true
            }
            None => false,
        }
    }

    /// The reports of `service`'s instances, sorted by instance id.
    pub(super) fn reports(&self, service: &ServiceName) -> RuleReports {
        let mut reports: Vec<RuleReport> = self
            .services
            .get(service)
            .into_iter()
            .flat_map(|s| s.entries.values())
            .filter_map(|e| e.report.clone())
            .collect();
        reports.sort_by(|a, b| a.id.cmp(&b.id));
        RuleReports {
            reports,
            // Only reports of this process's own registrations are stored.
            unreadable: Vec::new(),
        }
    }

    /// Writes a rule document; returns the revision of the write.
    pub(super) fn put_rules(&mut self, document: RuleDocument) -> Revision {
        let revision = self.next_revision();
        self.rules.put(document, revision);
        revision
    }

    /// Deletes a rule document; the revision of the delete, if there was one.
    pub(super) fn delete_rules(
        &mut self,
        service: &ServiceName,
        kind: &RuleKind,
    ) -> Option<Revision> {
        if !self.rules.contains(service, kind) {
            return None;
        }
        let revision = self.next_revision();
        self.rules.delete(service, kind, revision);
        Some(revision)
    }

    pub(super) fn rule_snapshot(&self, service: &ServiceName) -> RuleSnapshot {
        self.rules.snapshot(service, self.revision())
    }

    pub(super) fn subscribe_rules(&mut self, service: &ServiceName) -> WatchReceiver<RuleEvent> {
        let revision = self.revision();
        self.rules.subscribe(service, revision)
    }

    /// The services with instances or rules, sorted.
    pub(super) fn service_names(&self) -> Vec<ServiceName> {
        let mut names: Vec<ServiceName> = self
            .services
            .iter()
            .filter(|(_, service)| !service.entries.is_empty())
            .map(|(name, _)| name)
            .chain(self.rules.services())
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Counts for `Debug`: (services, instances, watchers).
    pub(super) fn counts(&self) -> (usize, usize, usize) {
        self.services
            .values()
            .fold((0, 0, 0), |(s, i, w), service| {
                (s + 1, i + service.entries.len(), w + service.watchers.len())
            })
    }
}

impl Drop for State {
    /// The registry is gone: every watch stream ends after its queued events.
    fn drop(&mut self) {
        self.rules.close();
        for service in self.services.values() {
            for watcher in &service.watchers {
                watcher.close();
            }
        }
    }
}
