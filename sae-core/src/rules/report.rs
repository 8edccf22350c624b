//! [`RuleReport`]: which rule revision one instance runs, as it publishes it
//! beside its registration.
//!
//! Each instance serves its own state on its admin listener; an operator
//! rolling out a rule needs the fleet's at once ("has revision 42 reached
//! every instance of `edge`?"). So a provider also stores its report in the
//! registry, tied to its registration (in etcd: under the registration's
//! lease, `/sae/v1/reports/{service}/{id}`), and `sae rules status` reads
//! them all. The JSON is the admin listener's `GET /rules` plus the
//! instance's name, under the envelope rules of [`crate::instance`]: a
//! larger `version` is refused, unknown fields are ignored.
//!
//! ```
//! use std::collections::BTreeMap;
//! use sae_core::rules::{KindStatus, RuleKind, RuleReport, RuleSource};
//! use sae_core::{InstanceId, Revision, ServiceName};
//!
//! # fn main() -> Result<(), sae_core::Error> {
//! let mut kinds = BTreeMap::new();
//! kinds.insert(RuleKind::new(RuleKind::LANES)?, KindStatus {
//!     source: RuleSource::Registry,
//!     revision: Some(Revision(42)),
//!     refused: None,
//!     applied: 3,
//!     handled: Some(Revision(42)),
//! });
//! let report = RuleReport {
//!     service: ServiceName::new("edge")?,
//!     id: InstanceId::new("edge-1")?,
//!     read: true,
//!     kinds,
//! };
//! assert_eq!(RuleReport::from_json(&report.to_json())?, report);
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::RuleKind;
use crate::{Error, InstanceId, Revision, ServiceName};

/// The prefix under which instances store their [`RuleReport`]s:
/// `/sae/v1/reports/{service}/{instance id}`.
pub const REPORTS_KEY_PREFIX: &str = "/sae/v1/reports/";

/// The major version of the report encoding this build writes and reads.
pub const REPORT_ENCODING_VERSION: u32 = 1;

/// Where the rules of one kind that an instance runs came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleSource {
    /// The rules the instance was built with (in code, or the defaults):
    /// the registry has no document of this kind, or it was deleted.
    Built,
    /// The registry's document at [`KindStatus::revision`].
    Registry,
    /// A local file or handle, pinned: the registry's documents of this kind
    /// are not applied (named here).
    Local(String),
}

impl RuleSource {
    /// Its name in reports and tables: `built`, `registry` or `local`.
    pub fn as_str(&self) -> &'static str {
        match self {
            RuleSource::Built => "built",
            RuleSource::Registry => "registry",
            RuleSource::Local(_) => "local",
        }
    }
}

/// A registry document an instance refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The revision of the refused write.
    pub revision: Revision,
    /// Why: the key, the rule and the field.
    pub error: String,
}

/// The state of one kind of rules on one instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KindStatus {
    /// Where the running rules came from.
    pub source: RuleSource,
    /// The registry revision of the running rules: the document's write
    /// (or delete). `None` until a registry document of this kind was
    /// applied, or deleted with rules to restore.
    pub revision: Option<Revision>,
    /// The latest registry document refused since the running rules were
    /// applied; the running rules stayed.
    pub refused: Option<Refusal>,
    /// Documents of this kind applied since the instance started.
    pub applied: u64,
    /// The latest registry revision handled for this kind: applied,
    /// refused, ignored (pinned), or a delete of nothing to undo.
    pub handled: Option<Revision>,
}

impl KindStatus {
    /// Whether this instance has handled the registry's changes of this
    /// kind up to `revision` (applied, refused or ignored them).
    pub fn has_handled(&self, revision: Revision) -> bool {
        self.handled.is_some_and(|handled| handled >= revision)
    }

    /// The JSON the admin listener and the registry show:
    /// `{"source", "local", "revision", "handled", "applied", "refused"}`.
    pub fn to_json_value(&self) -> serde_json::Value {
        serde_json::to_value(KindWire::from(self)).expect("a kind status always serializes")
    }
}

/// What one instance reports about the rules it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleReport {
    /// The instance's service.
    pub service: ServiceName,
    /// The instance.
    pub id: InstanceId,
    /// Whether the instance has read the registry's documents once.
    pub read: bool,
    /// The state of every kind the instance follows.
    pub kinds: BTreeMap<RuleKind, KindStatus>,
}

impl RuleReport {
    /// The registry key of this report: `/sae/v1/reports/{service}/{id}`.
    pub fn key(&self) -> String {
        report_key(&self.service, &self.id)
    }

    /// Encodes the report in its versioned JSON envelope.
    pub fn to_json(&self) -> Vec<u8> {
        let wire = ReportWire {
            version: REPORT_ENCODING_VERSION,
            service: self.service.as_str().to_owned(),
            id: self.id.as_str().to_owned(),
            read: self.read,
            kinds: self
                .kinds
                .iter()
                .map(|(kind, status)| (kind.as_str().to_owned(), KindWire::from(status)))
                .collect(),
        };
        serde_json::to_vec(&wire).expect("a rule report always serializes")
    }

    /// Decodes and checks a stored report.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for JSON that is not a report, a newer major
    /// version, or a name, kind or source that breaks its rules.
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        let malformed = |message: String| Error::Config {
            at: "rule report".into(),
            message,
        };
        let wire: ReportWire = serde_json::from_slice(bytes)
            .map_err(|error| malformed(format!("not a sae rule report: {error}")))?;
        if wire.version != REPORT_ENCODING_VERSION {
            return Err(malformed(format!(
                "encoding version {} is not supported; this build reads version {REPORT_ENCODING_VERSION} (upgrade sae to read it)",
                wire.version
            )));
        }
        let mut kinds = BTreeMap::new();
        for (kind, status) in wire.kinds {
            let status = status
                .into_status()
                .map_err(|message| malformed(format!("kind {kind:?}: {message}")))?;
            kinds.insert(RuleKind::new(&kind)?, status);
        }
        Ok(RuleReport {
            service: ServiceName::new(&wire.service)?,
            id: InstanceId::new(&wire.id)?,
            read: wire.read,
            kinds,
        })
    }
}

/// The key of the report of instance `id` of `service`.
pub fn report_key(service: &ServiceName, id: &InstanceId) -> String {
    format!("{REPORTS_KEY_PREFIX}{}/{}", service.as_str(), id.as_str())
}

/// A stored value under a report key that is not a report this build reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnreadableReport {
    /// The key.
    pub key: String,
    /// What is wrong with it.
    pub error: String,
}

/// The reports of one service's instances, as [`crate::Registry::rule_reports`]
/// reads them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleReports {
    /// One per instance that published one, sorted by instance id.
    pub reports: Vec<RuleReport>,
    /// Values under the service's report keys that could not be read.
    pub unreadable: Vec<UnreadableReport>,
}

// === wire format ===

#[derive(Serialize, Deserialize)]
struct ReportWire {
    version: u32,
    service: String,
    id: String,
    #[serde(default)]
    read: bool,
    #[serde(default)]
    kinds: BTreeMap<String, KindWire>,
}

#[derive(Serialize, Deserialize)]
struct KindWire {
    source: String,
    #[serde(default)]
    local: Option<String>,
    #[serde(default)]
    revision: Option<u64>,
    #[serde(default)]
    handled: Option<u64>,
    #[serde(default)]
    applied: u64,
    #[serde(default)]
    refused: Option<RefusalWire>,
}

#[derive(Serialize, Deserialize)]
struct RefusalWire {
    revision: u64,
    error: String,
}

impl From<&KindStatus> for KindWire {
    fn from(status: &KindStatus) -> Self {
        let local = match &status.source {
            RuleSource::Local(path) => Some(path.clone()),
            RuleSource::Built | RuleSource::Registry => None,
        };
        KindWire {
            source: status.source.as_str().to_owned(),
            local,
            revision: status.revision.map(|revision| revision.0),
            handled: status.handled.map(|revision| revision.0),
            applied: status.applied,
            refused: status.refused.as_ref().map(|refusal| RefusalWire {
                revision: refusal.revision.0,
                error: refusal.error.clone(),
            }),
        }
    }
}

impl KindWire {
    fn into_status(self) -> Result<KindStatus, String> {
        let source = match (self.source.as_str(), self.local) {
            ("built", _) => RuleSource::Built,
            ("registry", _) => RuleSource::Registry,
            ("local", path) => RuleSource::Local(path.unwrap_or_default()),
            (other, _) => {
                return Err(format!(
                    "source {other:?} is not one of \"built\", \"registry\", \"local\""
                ));
            }
        };
        Ok(KindStatus {
            source,
            revision: self.revision.map(Revision),
            refused: self.refused.map(|refusal| Refusal {
                revision: Revision(refusal.revision),
                error: refusal.error,
            }),
            applied: self.applied,
            handled: self.handled.map(Revision),
        })
    }
}
