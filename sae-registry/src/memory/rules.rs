//! The embedded registry's rule documents and their watchers, kept in the
//! registry's [`State`](super::state::State) so rules and instances share
//! one lock and one revision counter.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use sae_core::rules::{RuleDocument, RuleEvent, RuleKind, RuleSnapshot, StoredRules};
use sae_core::{Revision, ServiceName};

use super::watcher::{WatchQueue, WatchReceiver};

#[derive(Default)]
pub(super) struct RuleTable {
    services: HashMap<ServiceName, RuleSlot>,
}

#[derive(Default)]
struct RuleSlot {
    documents: BTreeMap<RuleKind, StoredRules>,
    watchers: Vec<Arc<WatchQueue<RuleEvent>>>,
}

impl RuleSlot {
    fn snapshot(&self, revision: Revision) -> RuleSnapshot {
        RuleSnapshot {
            revision,
            rules: self.documents.values().cloned().collect(),
            // Only checked documents are ever stored here.
            unreadable: Vec::new(),
        }
    }

    fn emit(&mut self, event: RuleEvent) {
        let revision = event.revision();
        let RuleSlot {
            documents,
            watchers,
        } = self;
        let resync = || {
            RuleEvent::Snapshot(RuleSnapshot {
                revision,
                rules: documents.values().cloned().collect(),
                unreadable: Vec::new(),
            })
        };
        watchers.retain(|watcher| watcher.push(event.clone(), resync));
    }
}

impl RuleTable {
    /// Stores `document` as written at `revision`.
    pub(super) fn put(&mut self, document: RuleDocument, revision: Revision) {
        let slot = self.services.entry(document.service.clone()).or_default();
        let stored = StoredRules { document, revision };
        slot.documents
            .insert(stored.document.kind.clone(), stored.clone());
        slot.emit(RuleEvent::Put(stored));
    }

    /// Whether `service` has a document of `kind`.
    pub(super) fn contains(&self, service: &ServiceName, kind: &RuleKind) -> bool {
        self.services
            .get(service)
            .is_some_and(|slot| slot.documents.contains_key(kind))
    }

    /// Deletes the document of `kind` as of `revision`.
    pub(super) fn delete(&mut self, service: &ServiceName, kind: &RuleKind, revision: Revision) {
        if let Some(slot) = self.services.get_mut(service)
            && slot.documents.remove(kind).is_some()
        {
            slot.emit(RuleEvent::Delete {
                revision,
                kind: kind.clone(),
            });
        }
    }

    pub(super) fn snapshot(&self, service: &ServiceName, revision: Revision) -> RuleSnapshot {
        self.services.get(service).map_or_else(
            || RuleSnapshot {
                revision,
                ..RuleSnapshot::default()
            },
            |slot| slot.snapshot(revision),
        )
    }

    /// A new watcher whose first event is the current snapshot.
    pub(super) fn subscribe(
        &mut self,
        service: &ServiceName,
        revision: Revision,
    ) -> WatchReceiver<RuleEvent> {
        let slot = self.services.entry(service.clone()).or_default();
        slot.watchers.retain(|watcher| !watcher.is_closed());
        let (queue, receiver) = WatchQueue::new(RuleEvent::Snapshot(slot.snapshot(revision)));
        slot.watchers.push(queue);
        receiver
    }

    /// The services that have at least one document.
    pub(super) fn services(&self) -> impl Iterator<Item = &ServiceName> {
        self.services
            .iter()
            .filter(|(_, slot)| !slot.documents.is_empty())
            .map(|(service, _)| service)
    }

    /// The registry is gone: every rule watch ends after its queued events.
    pub(super) fn close(&self) {
        for slot in self.services.values() {
            for watcher in &slot.watchers {
                watcher.close();
            }
        }
    }
}
