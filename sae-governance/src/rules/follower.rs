//! [`RuleFollower`]: one service's rule documents from the registry, applied
//! to the running handles as they change.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use sae_core::rules::{RuleEvent, RuleKind, StoredRules};
use sae_core::wire::event;
use sae_core::{IntoRegistry, Registry, Revision, ServiceName};

use super::compile::{Compiled, KNOWN_KINDS, compile};
use super::status::{Refusal, RuleSource, RuleStatus};
use crate::lane::{LaneRules, RuleSet};
use crate::protection::{ProtectionRules, ProtectionSet};

/// Retry pauses while the registry cannot be read at all (at start).
const RETRY_FIRST: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Follows `service`'s rule documents in the registry and applies each
/// valid one to the handles it was given, through the same swap a file
/// reload uses. See the [module docs](super).
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
/// status.reached(&RuleKind::new(RuleKind::LANES)?, revision).await;
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
    /// The last revision handled per kind (applied, refused or ignored), so
    /// a re-listed snapshot applies nothing twice.
    seen: HashMap<RuleKind, Revision>,
}

/// A handle the follower writes, with the rules it was built with (what a
/// delete goes back to), or a pin that keeps local rules.
#[derive(Debug)]
enum Target {
    Lanes(LaneRules, Arc<RuleSet>),
    Protection(ProtectionRules, Arc<ProtectionSet>),
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

    /// Applies documents of kind `lanes` to `rules`; a delete goes back to
    /// the rules `rules` holds now.
    pub fn lanes(self, rules: LaneRules) -> Self {
        let built = rules.load();
        self.target(RuleKind::LANES, Target::Lanes(rules, built))
    }

    /// Applies documents of kind `protection` to `rules`; a delete goes
    /// back to the rules `rules` holds now.
    pub fn protection(self, rules: ProtectionRules) -> Self {
        let built = rules.load();
        self.target(RuleKind::PROTECTION, Target::Protection(rules, built))
    }

    /// Keeps local rules for `kind`: the registry's documents of that kind
    /// are logged and not applied. `local` names them (a file path) in the
    /// status and the logs.
    pub fn pin_local(self, kind: &str, local: impl Into<String>) -> Self {
        self.target(kind, Target::Pinned(local.into()))
    }

    fn target(mut self, kind: &str, target: Target) -> Self {
        // Kind names here are the constants of RuleKind.
        let kind = RuleKind::new(kind).expect("a known rule kind");
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

    /// Spawns [`RuleFollower::run`] on the current runtime; the task ends
    /// when the returned handle is dropped.
    pub fn spawn(self) -> FollowerTask {
        FollowerTask {
            task: tokio::spawn(self.run()),
        }
    }

    /// Follows the registry until it is dropped. While it cannot be read
    /// the running rules stay, and it retries (200 ms doubling to 5 s).
    pub async fn run(mut self) {
        let mut pause = RETRY_FIRST;
        let mut failing = false;
        loop {
            let mut stream = match self.registry.watch_rules(&self.service).await {
                Ok(stream) => stream,
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
            return;
        }
    }

    fn apply(&mut self, change: RuleEvent) {
        match change {
            RuleEvent::Snapshot(snapshot) => {
                let kinds: Vec<RuleKind> = self.targets.keys().cloned().collect();
                for kind in kinds {
                    if snapshot.get(&kind).is_none() {
                        self.deleted(&kind, snapshot.revision);
                    }
                }
                for stored in snapshot.rules {
                    self.put(stored);
                }
                self.status.mark_read();
            }
            RuleEvent::Put(stored) => self.put(stored),
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

    fn put(&mut self, stored: StoredRules) {
        let StoredRules { document, revision } = stored;
        let kind = document.kind.clone();
        let Some(target) = self.targets.get(&kind) else {
            if !KNOWN_KINDS.contains(&kind.as_str())
                && Self::first_sight(&mut self.seen, &kind, revision)
            {
                tracing::warn!(service = %self.service, %kind, %revision, "ignoring rules of a kind this build does not apply");
            }
            return;
        };
        if let Target::Pinned(local) = target {
            let local = local.clone();
            if Self::first_sight(&mut self.seen, &kind, revision) {
                tracing::info!(service = %self.service, %kind, %revision, local = %local, "registry rules not applied: this instance runs local rules of this kind");
            }
            return;
        }
        if !Self::first_sight(&mut self.seen, &kind, revision) {
            return;
        }
        let key = sae_core::rules::key(&self.service, &kind);
        match compile(&document) {
            Ok(compiled) => {
                let rules = compiled.len();
                match (target, compiled) {
                    (Target::Lanes(handle, _), Compiled::Lanes(set)) => handle.store(set),
                    (Target::Protection(handle, _), Compiled::Protection(set)) => {
                        handle.store(set);
                    }
                    // compile() picks the variant by kind, as the targets are keyed.
                    _ => return,
                }
                self.status
                    .update(&kind, |status| status.source = RuleSource::Registry);
                self.status.record_applied(&kind, revision);
                tracing::info!(name: event::RULES_APPLIED, service = %self.service, %kind, revision = revision.0, rules, %key, "governance rules applied");
            }
            Err(error) => {
                let error = error.to_string();
                tracing::warn!(name: event::RULES_REFUSED, service = %self.service, %kind, revision = revision.0, %key, %error, "governance rules refused; the running rules stay");
                self.status.update(&kind, |status| {
                    status.refused = Some(Refusal { revision, error });
                });
            }
        }
    }

    /// The document of `kind` is gone (deleted, or absent from a snapshot):
    /// back to the rules the instance was built with.
    fn deleted(&mut self, kind: &RuleKind, revision: Revision) {
        let from_registry = self
            .status
            .kind(kind)
            .is_some_and(|status| status.source == RuleSource::Registry);
        if !from_registry || !Self::first_sight(&mut self.seen, kind, revision) {
            return;
        }
        match self.targets.get(kind) {
            Some(Target::Lanes(handle, built)) => handle.store(RuleSet::clone(built)),
            Some(Target::Protection(handle, built)) => handle.store(ProtectionSet::clone(built)),
            _ => return,
        }
        self.status
            .update(kind, |status| status.source = RuleSource::Built);
        self.status.record_applied(kind, revision);
        tracing::info!(name: event::RULES_APPLIED, service = %self.service, %kind, revision = revision.0, "governance rules deleted from the registry; back to the built-in rules");
    }
}
