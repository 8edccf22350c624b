//! Fixtures both backends' tests use.

use std::collections::BTreeMap;

use sae_core::rules::{KindStatus, RuleDocument, RuleFormat, RuleKind, RuleReport, RuleSource};
use sae_core::{Instance, Registration, Registry, Revision};

/// `service`'s lane rules sending `percent` % of users to gray.
pub(crate) fn rollout(service: &str, percent: u32) -> RuleDocument {
    RuleDocument::new(
        service,
        RuleKind::LANES,
        RuleFormat::Yaml,
        format!(
            "rules: [{{ lane: gray, percentage: {{ header: x-user-id, percent: {percent} }} }}]"
        ),
    )
    .unwrap()
}

/// The contract of [`Registry::services`] on an empty `registry`: a
/// service with rules only and one with an instance only are both listed,
/// sorted.
pub(crate) async fn services_are_those_with_instances_or_rules(registry: &dyn Registry) {
    registry.put_rules(rollout("edge", 5)).await.unwrap();
    let orders = Instance::builder("orders")
        .addr("127.0.0.1:8080".parse().unwrap())
        .build()
        .unwrap();
    let _registration = registry.register(orders).await.unwrap();
    let names: Vec<String> = registry
        .services()
        .await
        .unwrap()
        .iter()
        .map(|name| name.as_str().to_owned())
        .collect();
    assert_eq!(names, ["edge", "orders"]);
}

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
