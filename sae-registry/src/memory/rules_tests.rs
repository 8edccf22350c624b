use futures_util::StreamExt;
use sae_core::rules::{RuleEvent, RuleKind};
use sae_core::{Instance, Registry, ServiceName};

use super::MemoryRegistry;
use crate::test_support::{lanes_report, rollout, services_are_those_with_instances_or_rules};

#[tokio::test]
async fn a_rule_watch_sees_the_snapshot_then_every_write_and_delete_in_order() {
    let registry = MemoryRegistry::new();
    let edge = ServiceName::new("edge").unwrap();
    let first = registry.put_rules(rollout("edge", 5)).await.unwrap();
    registry.put_rules(rollout("other", 1)).await.unwrap();

    let mut watch = registry.watch_rules(&edge).await.unwrap();
    let Some(RuleEvent::Snapshot(snapshot)) = watch.next().await else {
        panic!("a rule watch starts with a snapshot");
    };
    assert_eq!(snapshot.rules.len(), 1, "only edge's rules");
    let kind = RuleKind::new(RuleKind::LANES).unwrap();
    assert_eq!(snapshot.get(&kind).unwrap().revision, first);

    let second = registry.put_rules(rollout("edge", 50)).await.unwrap();
    assert!(second > first);
    let Some(RuleEvent::Put(put)) = watch.next().await else {
        panic!("expected the write");
    };
    assert_eq!(
        (put.revision, put.document.text.contains("50")),
        (second, true)
    );

    let deleted = registry.delete_rules(&edge, &kind).await.unwrap();
    assert!(deleted.is_some_and(|at| at > second));
    assert_eq!(
        watch.next().await,
        Some(RuleEvent::Delete {
            revision: deleted.unwrap(),
            kind: kind.clone()
        })
    );
    assert_eq!(registry.delete_rules(&edge, &kind).await.unwrap(), None);
    assert!(registry.list_rules(&edge).await.unwrap().rules.is_empty());
}

#[tokio::test]
async fn services_lists_those_with_instances_or_rules() {
    let registry = MemoryRegistry::new();
    services_are_those_with_instances_or_rules(&registry).await;
}

#[tokio::test]
async fn dropping_the_registry_ends_rule_watches() {
    let registry = MemoryRegistry::new();
    let edge = ServiceName::new("edge").unwrap();
    let mut watch = registry.watch_rules(&edge).await.unwrap();
    assert!(matches!(watch.next().await, Some(RuleEvent::Snapshot(_))));
    drop(registry);
    assert_eq!(watch.next().await, None);
}

#[tokio::test]
async fn a_rule_report_lives_as_long_as_its_registration() {
    let registry = MemoryRegistry::new();
    let edge = ServiceName::new("edge").unwrap();
    let instance = |id: &str| {
        Instance::builder("edge")
            .id(id)
            .addr("127.0.0.1:8080".parse().unwrap())
            .build()
            .unwrap()
    };
    let a = registry.register(instance("a")).await.unwrap();
    let b = registry.register(instance("b")).await.unwrap();
    b.report_rules(lanes_report(&b, 3)).await.unwrap();
    a.report_rules(lanes_report(&a, 3)).await.unwrap();
    a.report_rules(lanes_report(&a, 5)).await.unwrap();
    let reports = registry.rule_reports(&edge).await.unwrap();
    assert_eq!(
        reports.reports,
        vec![lanes_report(&a, 5), lanes_report(&b, 3)]
    );

    // Another instance's report through this registration is refused.
    let error = a.report_rules(lanes_report(&b, 9)).await.unwrap_err();
    assert!(matches!(error, sae_core::Error::Config { .. }), "{error}");

    // A newer registration of "a" replaces the old one and its report; the
    // old handle can no longer write.
    let a_again = registry.register(instance("a")).await.unwrap();
    assert!(a.report_rules(lanes_report(&a, 6)).await.is_err());
    let reports = registry.rule_reports(&edge).await.unwrap();
    assert_eq!(reports.reports, vec![lanes_report(&b, 3)]);

    b.deregister().await.unwrap();
    assert!(
        registry
            .rule_reports(&edge)
            .await
            .unwrap()
            .reports
            .is_empty()
    );
    drop(a_again);
}
