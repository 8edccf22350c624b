//! Fixtures both backends' tests use.

use std::collections::BTreeMap;

use sae_core::rules::{KindStatus, RuleKind, RuleReport, RuleSource};
use sae_core::{Registration, Revision};

/// The report of `registration`'s instance: lanes from the registry, run
/// and handled at revision `handled`.
pub(crate) fn lanes_report(registration: &Registration, handled: u64) -> RuleReport {
    let instance = registration.instance();
    let mut kinds = BTreeMap::new();
    kinds.insert(
        RuleKind::new(RuleKind::LANES).unwrap(),
        KindStatus {
            source: RuleSource::Registry,
            revision: Some(Revision(handled)),
            refused: None,
            applied: 1,
            handled: Some(Revision(handled)),
        },
    );
    RuleReport {
        service: instance.service().clone(),
        id: instance.id().clone(),
        read: true,
        kinds,
    }
}
