//! A service's rule documents: the snapshot, decoding, and the watch's [`Follow`].

use std::collections::HashSet;

use etcd_client::{Client, Event, EventType, GetOptions, KeyValue};
use sae_core::ServiceName;
use sae_core::rules::{
    RuleDocument, RuleEvent, RuleKind, RuleSnapshot, StoredRules, UnreadableRules,
};

use super::keys;
use super::rpc::revision;
use super::watch::Follow;

/// Lists `service`'s documents at one revision.
pub(super) async fn list(
    client: &mut Client,
    service: &ServiceName,
) -> Result<RuleSnapshot, etcd_client::Error> {
    let prefix = keys::rules_prefix(service);
    let answer = client
        .get(prefix.as_str(), Some(GetOptions::new().with_prefix()))
        .await?;
    let at = answer.header().map_or(0, |header| header.revision());
    let mut snapshot = RuleSnapshot {
        revision: revision(at),
        ..RuleSnapshot::default()
    };
    for kv in answer.kvs() {
        match decode(service, &prefix, kv) {
            Some(Ok(stored)) => snapshot.rules.push(stored),
            Some(Err(unreadable)) => snapshot.unreadable.push(unreadable),
            None => {}
        }
    }
    Ok(snapshot)
}

/// Decodes one stored document. A value that is not a readable document is
/// reported as [`UnreadableRules`], so the instances refuse it (keeping
/// their running rules) instead of taking it for a delete; a key that is
/// not a rule key is skipped with a warning.
fn decode(
    service: &ServiceName,
    prefix: &str,
    kv: &KeyValue,
) -> Option<Result<StoredRules, UnreadableRules>> {
    let key = kv.key();
    let Some(kind) = keys::rule_kind(prefix, key) else {
        tracing::warn!(key = %keys::display(key), "skipping etcd key that is not a rule key");
        return None;
    };
    let at = revision(kv.mod_revision());
    let unreadable = |error: String| {
        let error = format!("{}: {error}", keys::display(key));
        tracing::warn!(%error, "unreadable rule document; instances keep their running rules");
        Some(Err(UnreadableRules {
            kind: kind.clone(),
            revision: at,
            error,
        }))
    };
    let document = match RuleDocument::from_json(kv.value()) {
        Ok(document) => document,
        Err(error) => return unreadable(error.to_string()),
    };
    if &document.service != service || document.kind != kind {
        return unreadable(format!(
            "the value is the {} rules of {}, not of this key",
            document.kind,
            document.service.as_str()
        ));
    }
    Some(Ok(StoredRules {
        document,
        revision: at,
    }))
}

/// What the rule watch of one service knows.
pub(super) struct Rules {
    service: ServiceName,
    prefix: String,
    /// The kinds currently advertised to the consumer.
    known: HashSet<RuleKind>,
}

impl Rules {
    /// The follower of `service`'s rule documents; it learns what the
    /// consumer knows from the first snapshot it adopts.
    pub(super) fn new(service: ServiceName) -> Self {
        Rules {
            prefix: keys::rules_prefix(&service),
            service,
            known: HashSet::new(),
        }
    }
}

impl Follow for Rules {
    type Event = RuleEvent;

    fn service(&self) -> &ServiceName {
        &self.service
    }

    fn prefix(&self) -> &str {
        &self.prefix
    }

    fn change(&mut self, event: &Event, at: i64) -> Option<RuleEvent> {
        let kv = event.kv()?;
        match event.event_type() {
            EventType::Put => match decode(&self.service, &self.prefix, kv)? {
                Ok(mut stored) => {
                    stored.revision = revision(at);
                    self.known.insert(stored.document.kind.clone());
                    Some(RuleEvent::Put(stored))
                }
                Err(mut unreadable) => {
                    unreadable.revision = revision(at);
                    self.known.insert(unreadable.kind.clone());
                    Some(RuleEvent::Unreadable(unreadable))
                }
            },
            EventType::Delete => {
                let kind = keys::rule_kind(&self.prefix, kv.key())?;
                self.known.remove(&kind).then(|| RuleEvent::Delete {
                    revision: revision(at),
                    kind,
                })
            }
        }
    }

    async fn list(&self, mut client: Client) -> Result<(i64, RuleEvent), etcd_client::Error> {
        let snapshot = list(&mut client, &self.service).await?;
        let at = i64::try_from(snapshot.revision.0).unwrap_or(i64::MAX);
        Ok((at, RuleEvent::Snapshot(snapshot)))
    }

    fn adopt(&mut self, snapshot: &RuleEvent) {
        if let RuleEvent::Snapshot(snapshot) = snapshot {
            self.known = snapshot
                .rules
                .iter()
                .map(|stored| stored.document.kind.clone())
                .chain(
                    snapshot
                        .unreadable
                        .iter()
                        .map(|unreadable| unreadable.kind.clone()),
                )
                .collect();
        }
    }
}
