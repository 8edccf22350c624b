//! The key layout in etcd, version 1.
//!
//! ```text
//! /sae/v1/services/{service}/{instance id}  =  Instance::to_json()
//! /sae/v1/rules/{service}/{kind}            =  RuleDocument::to_json()
//! /sae/v1/reports/{service}/{instance id}   =  RuleReport::to_json()
//! ```
//!
//! One key per instance, one per service and rule kind (no lease: rules
//! outlive the instances that apply them), and one rule report per instance
//! (under the instance's lease: it goes with the registration), so a registration is one `put` with a lease and a
//! service is one prefix to list and watch. The `v1` segment versions the
//! layout: a later layout lives under another prefix and both can run side
//! by side during an upgrade. Neither service names nor instance ids contain
//! `/`, so a key splits unambiguously.

use sae_core::rules::RuleKind;
use sae_core::{InstanceId, ServiceName};

pub use sae_core::rules::{REPORTS_KEY_PREFIX, RULES_KEY_PREFIX};

/// The prefix under which every sae instance is stored.
pub const KEY_PREFIX: &str = "/sae/v1/services/";

/// The prefix of one service's keys, ending with `/`.
pub(super) fn service_prefix(service: &ServiceName) -> String {
    format!("{KEY_PREFIX}{}/", service.as_str())
}

/// The key of one instance.
pub(super) fn instance_key(service: &ServiceName, id: &InstanceId) -> String {
    format!("{KEY_PREFIX}{}/{}", service.as_str(), id.as_str())
}

/// The instance id a key of `service_prefix` names, or `None` for a key that
/// is not an instance key of that service.
pub(super) fn instance_id(service_prefix: &str, key: &[u8]) -> Option<InstanceId> {
    let rest = key.strip_prefix(service_prefix.as_bytes())?;
    let rest = std::str::from_utf8(rest).ok()?;
    InstanceId::new(rest).ok()
}

/// A key for log messages, lossily decoded.
pub(super) fn display(key: &[u8]) -> String {
    String::from_utf8_lossy(key).into_owned()
}

/// The prefix of one service's rule documents, ending with `/`:
/// `/sae/v1/rules/{service}/`, then one key per kind.
pub(super) fn rules_prefix(service: &ServiceName) -> String {
    format!("{RULES_KEY_PREFIX}{}/", service.as_str())
}

/// The prefix of one service's rule reports, ending with `/`.
pub(super) fn reports_prefix(service: &ServiceName) -> String {
    format!("{REPORTS_KEY_PREFIX}{}/", service.as_str())
}

/// The kind a key of `rules_prefix` names, or `None` for another key.
pub(super) fn rule_kind(rules_prefix: &str, key: &[u8]) -> Option<RuleKind> {
    let rest = key.strip_prefix(rules_prefix.as_bytes())?;
    RuleKind::new(std::str::from_utf8(rest).ok()?).ok()
}

/// The service a key under `prefix` belongs to: the segment after it.
pub(super) fn service_of(prefix: &str, key: &[u8]) -> Option<ServiceName> {
    let rest = std::str::from_utf8(key.strip_prefix(prefix.as_bytes())?).ok()?;
    ServiceName::new(rest.split('/').next()?).ok()
}
