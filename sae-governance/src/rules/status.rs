//! [`RuleStatus`]: which rule revision an instance runs, per kind.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use sae_core::rules::{KindStatus, RuleKind, RuleReport, RuleSource};
use sae_core::{InstanceId, Revision, ServiceName};
use tokio::sync::{broadcast, watch};

/// One document applied, as [`RuleStatus::subscribe`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The kind.
    pub kind: RuleKind,
    /// The revision now running.
    pub revision: Revision,
}

/// Which rule revision an instance runs, per kind; cheap to clone.
///
/// The admin listener serves it as JSON (`GET /rules`); every change is
/// also a `tracing` event (`sae.rules.applied`, `sae.rules.refused`).
#[derive(Clone, Debug)]
pub struct RuleStatus {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    kinds: Mutex<BTreeMap<RuleKind, KindStatus>>,
    /// Bumped on every change, so waiters wake.
    changed: watch::Sender<u64>,
    /// Whether the registry's documents were read once.
    read: watch::Sender<bool>,
    applied: broadcast::Sender<Applied>,
}

/// Applications buffered per subscriber before it lags.
const APPLIED_BUFFER: usize = 1024;

impl Default for RuleStatus {
    fn default() -> Self {
        RuleStatus {
            shared: Arc::new(Shared {
                kinds: Mutex::new(BTreeMap::new()),
                changed: watch::channel(0).0,
                read: watch::channel(false).0,
                applied: broadcast::channel(APPLIED_BUFFER).0,
            }),
        }
    }
}

impl RuleStatus {
    /// The state of every kind this instance follows.
    pub fn kinds(&self) -> BTreeMap<RuleKind, KindStatus> {
        self.shared.kinds.lock().clone()
    }

    /// The state of one kind.
    pub fn kind(&self, kind: &RuleKind) -> Option<KindStatus> {
        self.shared.kinds.lock().get(kind).cloned()
    }

    /// Every later application, in order (for tests and tools; a receiver
    /// more than 1,024 behind lags).
    pub fn subscribe(&self) -> broadcast::Receiver<Applied> {
        self.shared.applied.subscribe()
    }

    /// Resolves once the registry's documents were read (and the valid ones
    /// applied) for the first time, or the registry turned out to store
    /// none.
    pub async fn first_read(&self) {
        let mut read = self.shared.read.subscribe();
        let _ = read.wait_for(|read| *read).await;
    }

    /// Whether the registry's documents were read at least once.
    pub fn has_read(&self) -> bool {
        *self.shared.read.borrow()
    }

    pub(super) fn mark_read(&self) {
        self.shared.read.send_replace(true);
        self.shared.changed.send_modify(|count| *count += 1);
    }

    /// Resolves once this instance has handled `kind` up to `revision`
    /// (applied, refused, or ignored because the kind is pinned). It never
    /// resolves for a kind the instance does not follow.
    pub async fn reached(&self, kind: &RuleKind, revision: Revision) {
        let mut changed = self.shared.changed.subscribe();
        loop {
            let done = self
                .kind(kind)
                .is_some_and(|status| status.has_handled(revision));
            if done || changed.changed().await.is_err() {
                return;
            }
        }
    }

    /// The status as JSON, for the admin listener: `{"read": true,
    /// "kinds": {"lanes": {"source", "local", "revision", "handled",
    /// "applied", "refused"}, ...}}`.
    pub fn to_json(&self) -> serde_json::Value {
        let kinds = self
            .kinds()
            .iter()
            .map(|(kind, status)| (kind.to_string(), status.to_json_value()))
            .collect();
        serde_json::json!({
            "read": self.has_read(),
            "kinds": serde_json::Value::Object(kinds),
        })
    }

    /// The status as instance `id` of `service` publishes it in the
    /// registry ([`sae_core::Registration::report_rules`]).
    pub fn report(&self, service: &ServiceName, id: &InstanceId) -> RuleReport {
        RuleReport {
            service: service.clone(),
            id: id.clone(),
            read: self.has_read(),
            kinds: self.kinds(),
        }
    }

    /// Resolves at the next change of the status (for publishers).
    pub(crate) fn changed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut changed = self.shared.changed.subscribe();
        async move {
            if changed.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    pub(super) fn update(&self, kind: &RuleKind, change: impl FnOnce(&mut KindStatus)) {
        {
            let mut kinds = self.shared.kinds.lock();
            let status = kinds.entry(kind.clone()).or_insert(KindStatus {
                source: RuleSource::Built,
                revision: None,
                refused: None,
                applied: 0,
                handled: None,
            });
            change(status);
        }
        self.shared.changed.send_modify(|count| *count += 1);
    }

    pub(super) fn record_applied(&self, kind: &RuleKind, revision: Revision, source: RuleSource) {
        self.update(kind, |status| {
            status.source = source;
            status.revision = Some(revision);
            status.handled = Some(revision);
            status.refused = None;
            status.applied += 1;
        });
        let _ = self.shared.applied.send(Applied {
            kind: kind.clone(),
            revision,
        });
    }
}
