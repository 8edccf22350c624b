//! [`RuleFollower`]: one service's rule documents from the registry, applied
//! to the running handles as they change.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use sae_core::rules::{RuleEvent, RuleKind, StoredRules, UnreadableRules};
use sae_core::wire::event;
use sae_core::{Error, IntoRegistry, Registry, Revision, ServiceName};

use super::compile::{Compiled, KNOWN_KINDS, compile};
use super::status::RuleStatus;
use crate::lane::{LaneRules, RuleSet};
use crate::protection::{ProtectionRules, ProtectionSet};
use sae_core::rules::{Refusal, RuleSource};

/// Retry pauses while the registry cannot be read at all (at start).
const RETRY_FIRST: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Follows `service`'s rule documents in the registry and applies each
/// valid one to the handles it was given, through the same swap a file
/// reload uses. See the [module docs](super).
///
/// The handles stay yours: a reload of your own replaces what the registry
/// wrote, and the registry's next document replaces your reload. Pin a kind
/// ([`RuleFollower::pin_local`]) to keep the registry out of it. A deleted
/// document gives back the rules the handle held before the registry's
/// first document was applied.
///
/// ```
/// use sae_core::ServiceName;
/// use sae_core::rules::{RuleDocument, RuleFormat, RuleKind};
/// use sae_governance::LaneRules;
/// use sae_governance::rules::RuleFollower;
/// use sae_core::Registry;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sae_core::Error> {
/// let registry = sae_registry::MemoryRegistry::new();
/// let lanes = LaneRules::default();
/// let follower = RuleFollower::new(registry.clone(), ServiceName::new("edge")?).lanes(lanes.clone());
/// let status = follower.status();
/// let _running = follower.spawn();
///
/// let document = RuleDocument::new("edge", RuleKind::LANES, RuleFormat::Yaml,
///     "rules: [{ lane: gray, path_prefix: /beta/ }]")?;
/// let revision = registry.put_rules(document).await?;
/// status.reached(&RuleKind::lanes(), revision).await;
/// assert_eq!(lanes.load().len(), 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[must_use = "a RuleFollower does nothing until run or spawned"]
pub struct RuleFollower {
    registry: Arc<dyn Registry>,
    service: ServiceName,
    targets: HashMap<RuleKind, Target>,
    status: RuleStatus,
    /// The last revision handled per kind, so a re-listed snapshot applies
    /// nothing twice and nothing older.
    seen: HashMap<RuleKind, Revision>,
}

/// A handle the follower writes, with the rules it held before the
/// registry's first document (what a delete goes back to), or a pin that
/// keeps local rules.
#[derive(Debug)]
enum Target {
    Lanes(LaneRules, Option<Arc<RuleSet>>),
    Protection(ProtectionRules, Option<Arc<ProtectionSet>>),
    Pinned(String),
}

/// Ends the follower's task when dropped.
#[derive(Debug)]
pub struct FollowerTask {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FollowerTask {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RuleFollower {
    /// Follows `service`'s documents in `registry`; give it the handles to write.
    pub fn new(registry: impl IntoRegistry, service: ServiceName) -> Self {
        RuleFollower {
            registry: registry.into_registry(),
            service,
            targets: HashMap::new(),
            status: RuleStatus::default(),
            seen: HashMap::new(),
        }
    }

    /// Applies documents of kind `lanes` to `rules`.
    pub fn lanes(self, rules: LaneRules) -> Self {
        self.target(RuleKind::lanes(), Target::Lanes(rules, None))
    }

    /// Applies documents of kind `protection` to `rules`.
    pub fn protection(self, rules: ProtectionRules) -> Self {
        self.target(RuleKind::protection(), Target::Protection(rules, None))
    }

    /// Keeps local rules for `kind`: the registry's documents of that kind
    /// are logged and not applied. `local` names them (a file path) in the
    /// status and the logs.
    pub fn pin_local(self, kind: RuleKind, local: impl Into<String>) -> Self {
        self.target(kind, Target::Pinned(local.into()))
    }

    fn target(mut self, kind: RuleKind, target: Target) -> Self {
        let source = match &target {
            Target::Pinned(local) => RuleSource::Local(local.clone()),
            _ => RuleSource::Built,
        };
        self.status.update(&kind, |status| status.source = source);
        self.targets.insert(kind, target);
        self
    }

    /// What this follower runs, per kind; shared with the admin listener.
    pub fn status(&self) -> RuleStatus {
        self.status.clone()
    }

    /// Spawns [`RuleFollower::run`] on the current tokio runtime (it panics
    /// outside one, as `tokio::spawn` does); the task ends when the
    /// returned handle is dropped.
    pub fn spawn(self) -> FollowerTask {
        FollowerTask {
            task: tokio::spawn(self.run()),
        }
    }

    /// Follows the registry until it is dropped. While it cannot be read
    /// the running rules stay, and it retries with a growing pause. A
    /// registry that stores no rules ([`Error::Unsupported`]) ends it at once.
    pub async fn run(mut self) {
        let mut pause = RETRY_FIRST;
        let mut failing = false;
        loop {
            let mut stream = match self.registry.watch_rules(&self.service).await {
                Ok(stream) => stream,
                Err(error @ Error::Unsupported { .. }) => {
                    tracing::debug!(service = %self.service, %error, "following no governance rules");
                    self.status.mark_read();
                    return;
                }
                Err(error) => {
                    if !std::mem::replace(&mut failing, true) {
                        tracing::warn!(service = %self.service, %error, "cannot read governance rules from the registry; the running rules stay; retrying");
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(RETRY_MAX);
                    continue;
                }
            };
            if failing {
                tracing::info!(service = %self.service, "reading governance rules from the registry again");
            }
            while let Some(change) = stream.next().await {
                self.apply(change);
            }
            tracing::debug!(service = %self.service, "the registry is gone; no more governance rules");
            return;
        }
    }

    fn apply(&mut self, change: RuleEvent) {
        match change {
            RuleEvent::Snapshot(snapshot) => {
                let kinds: Vec<RuleKind> = self.targets.keys().cloned().collect();
                for kind in kinds {
                    let present = snapshot.get(&kind).is_some()
                        || snapshot.unreadable.iter().any(|bad| bad.kind == kind);
                    if !present {
                        self.deleted(&kind, snapshot.revision);
                    }
                }
                for stored in snapshot.rules {
                    self.put(stored);
                }
                for unreadable in snapshot.unreadable {
                    self.unreadable(unreadable);
                }
                self.status.mark_read();
            }
            RuleEvent::Put(stored) => self.put(stored),
            RuleEvent::Unreadable(unreadable) => self.unreadable(unreadable),
            RuleEvent::Delete { revision, kind } => self.deleted(&kind, revision),
        }
    }

    /// Whether `revision` of `kind` is new; marks it seen.
    fn first_sight(
        seen: &mut HashMap<RuleKind, Revision>,
        kind: &RuleKind,
        revision: Revision,
    ) -> bool {
        let seen = seen.entry(kind.clone()).or_default();
        if *seen >= revision {
            return false;
        }
        *seen = revision;
        true
    }

    /// Marks `revision` of `kind` handled without changing the rules.
    fn handled(&self, kind: &RuleKind, revision: Revision) {
        self.status
            .update(kind, |status| status.handled = Some(revision));
    }

    /// Whether `kind` is pinned to local rules; then a new registry
    /// `revision` of it (a document or an unreadable value alike) is only
    /// logged and marked handled.
    fn pinned(&self, kind: &RuleKind, revision: Revision) -> bool {
        let Some(Target::Pinned(local)) = self.targets.get(kind) else {
            return false;
        };
        tracing::info!(service = %self.service, %kind, %revision, local = %local, "registry rules not applied: this instance runs local rules of this kind");
        self.handled(kind, revision);
        true
    }

    fn put(&mut self, stored: StoredRules) {
        let StoredRules { document, revision } = stored;
        let kind = document.kind.clone();
        if !self.targets.contains_key(&kind) {
            if !KNOWN_KINDS.contains(&kind.as_str())
                && Self::first_sight(&mut self.seen, &kind, revision)
            {
                tracing::warn!(service = %self.service, %kind, %revision, "ignoring rules of a kind this build does not apply");
            }
            return;
        }
        if !Self::first_sight(&mut self.seen, &kind, revision) || self.pinned(&kind, revision) {
            return;
        }
        let Some(target) = self.targets.get_mut(&kind) else {
            return;
        };
        let key = sae_core::rules::key(&self.service, &kind);
        let compiled = match compile(&document) {
            Ok(compiled) => compiled,
            Err(error) => return self.refuse(&kind, revision, &key, error.to_string()),
        };
        let rules = compiled.len();
        match (target, compiled) {
            (Target::Lanes(handle, built), Compiled::Lanes(set)) => {
                built.get_or_insert_with(|| handle.load());
                handle.store(set);
            }
            (Target::Protection(handle, built), Compiled::Protection(set)) => {
                built.get_or_insert_with(|| handle.load());
                handle.store(set);
            }
            _ => unreachable!("compile() picks the variant by kind, as the targets are keyed"),
        }
        self.status
            .record_applied(&kind, revision, RuleSource::Registry);
        tracing::info!(name: event::RULES_APPLIED, service = %self.service, %kind, revision = revision.0, rules, %key, "governance rules applied");
    }

    fn unreadable(&mut self, unreadable: UnreadableRules) {
        let UnreadableRules {
            kind,
            revision,
            error,
        } = unreadable;
        if !self.targets.contains_key(&kind)
            || !Self::first_sight(&mut self.seen, &kind, revision)
            || self.pinned(&kind, revision)
        {
            return;
        }
        let key = sae_core::rules::key(&self.service, &kind);
        self.refuse(&kind, revision, &key, error);
    }

    fn refuse(&self, kind: &RuleKind, revision: Revision, key: &str, error: String) {
        tracing::warn!(name: event::RULES_REFUSED, service = %self.service, %kind, revision = revision.0, %key, %error, "governance rules refused; the running rules stay");
        self.status.update(kind, |status| {
            status.handled = Some(revision);
            status.refused = Some(Refusal { revision, error });
        });
    }

    /// The document of `kind` is gone (deleted, or absent from a snapshot):
    /// back to the rules the handle held before the registry's.
    fn deleted(&mut self, kind: &RuleKind, revision: Revision) {
        if !Self::first_sight(&mut self.seen, kind, revision) {
            return;
        }
        let restored = match self.targets.get_mut(kind) {
            Some(Target::Lanes(handle, built)) => built
                .take()
                .map(|built| handle.store(RuleSet::clone(&built)))
                .is_some(),
            Some(Target::Protection(handle, built)) => built
                .take()
                .map(|built| handle.store(ProtectionSet::clone(&built)))
                .is_some(),
            _ => false,
        };
        if restored {
            self.status
                .record_applied(kind, revision, RuleSource::Built);
            tracing::info!(name: event::RULES_APPLIED, service = %self.service, %kind, revision = revision.0, "governance rules deleted from the registry; back to the instance's own rules");
        } else {
            // Nothing of the registry's runs (never applied, refused, pinned):
            // nothing to undo, and a refusal no longer stands.
            self.status.update(kind, |status| {
                status.handled = Some(revision);
                status.refused = None;
            });
        }
    }
}
