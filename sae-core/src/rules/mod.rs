//! Governance rules as the registry stores them: one document per service
//! and kind, in its text format, under a versioned envelope.
//!
//! The registry does not understand rules; it stores and numbers them. A
//! [`RuleDocument`] is the text an operator wrote (`lanes` ingress rules,
//! `protection` rules, any later kind) with its format, so an instance can
//! report errors by line and field exactly as it does for a local file.
//! `sae-governance` compiles and applies them; the `sae` command line writes
//! them after checking them with the same code.
//!
//! ```
//! use sae_core::rules::{RuleDocument, RuleFormat, RuleKind};
//!
//! # fn main() -> Result<(), sae_core::Error> {
//! let document = RuleDocument::new(
//!     "edge",
//!     RuleKind::LANES,
//!     RuleFormat::Yaml,
//!     "rules: [{ lane: gray, percentage: { header: x-user-id, percent: 5 } }]",
//! )?;
//! let stored = document.to_json();
//! assert_eq!(RuleDocument::from_json(&stored)?, document);
//! # Ok(())
//! # }
//! ```

mod document;
mod encoding;
mod format;
mod kind;
mod report;
#[cfg(test)]
mod tests;

use std::pin::Pin;

use futures_core::Stream;

use crate::Revision;

pub use document::{MAX_RULE_TEXT_BYTES, RuleDocument};
pub use encoding::RULE_ENCODING_VERSION;
pub use format::RuleFormat;
pub use kind::RuleKind;
pub use report::{
    KindStatus, REPORT_ENCODING_VERSION, REPORTS_KEY_PREFIX, Refusal, RuleReport, RuleReports,
    RuleSource, UnreadableReport, report_key,
};

/// The prefix under which every rule document is stored.
pub const RULES_KEY_PREFIX: &str = "/sae/v1/rules/";

/// The key of `service`'s document of `kind`: `/sae/v1/rules/{service}/{kind}`.
/// It is the etcd key; every backend names a document this way in messages.
pub fn key(service: &crate::ServiceName, kind: &RuleKind) -> String {
    format!("{RULES_KEY_PREFIX}{}/{kind}", service.as_str())
}

/// A rule document with the revision at which it was (last) written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRules {
    /// The document.
    pub document: RuleDocument,
    /// The revision of the write.
    pub revision: Revision,
}

/// A stored value under a rule key that is not a document this build can
/// read (not the envelope, a newer major version, another service's
/// document): an instance refuses it and keeps its running rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnreadableRules {
    /// The kind its key names.
    pub kind: RuleKind,
    /// The revision of the write.
    pub revision: Revision,
    /// What is wrong with it, naming the key.
    pub error: String,
}

/// The rule documents of one service at one revision.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleSnapshot {
    /// The registry revision this set was read at.
    pub revision: Revision,
    /// One document per kind, in no particular order.
    pub rules: Vec<StoredRules>,
    /// Kinds whose stored value cannot be read: present, but not a document.
    pub unreadable: Vec<UnreadableRules>,
}

impl RuleSnapshot {
    /// The document of `kind`, if the service has one.
    pub fn get(&self, kind: &RuleKind) -> Option<&StoredRules> {
        self.rules.iter().find(|rules| &rules.document.kind == kind)
    }
}

/// One item of a [`RuleStream`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleEvent {
    /// Every document of the service, replacing what the consumer held.
    /// Always the first item; may come again when a backend had to re-list.
    Snapshot(RuleSnapshot),
    /// A document was written.
    Put(StoredRules),
    /// A value that is not a readable document was written under `kind`'s key.
    Unreadable(UnreadableRules),
    /// The document of `kind` was deleted.
    Delete {
        /// The revision of the delete.
        revision: Revision,
        /// The kind deleted.
        kind: RuleKind,
    },
}

impl RuleEvent {
    /// The revision of this event.
    pub fn revision(&self) -> Revision {
        match self {
            RuleEvent::Snapshot(snapshot) => snapshot.revision,
            RuleEvent::Put(rules) => rules.revision,
            RuleEvent::Unreadable(unreadable) => unreadable.revision,
            RuleEvent::Delete { revision, .. } => *revision,
        }
    }
}

/// The stream [`crate::Registry::watch_rules`] returns: a snapshot, then
/// every change in revision order. It ends only when the registry is gone.
pub type RuleStream = Pin<Box<dyn Stream<Item = RuleEvent> + Send>>;
