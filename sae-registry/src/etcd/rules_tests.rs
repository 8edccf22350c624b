//! The rule documents on real etcd: write, read, watch, delete, a malformed
//! value, a compacted resume point.

use std::time::Duration;

use futures_util::StreamExt;
use sae_core::rules::{RuleEvent, RuleKind, RuleSnapshot, RuleStream};
use sae_core::{Instance, Registry, ServiceName};
use tokio::time::timeout;

use super::rules::Rules;
use super::testing::EtcdCluster;
use super::watch::{self as prefix_watch, PrefixWatch};
use super::{EtcdOptions, EtcdRegistry};
use crate::test_support::{lanes_report, rollout, services_are_those_with_instances_or_rules};

const PROMPT: Duration = Duration::from_secs(10);

fn edge() -> ServiceName {
    ServiceName::new("edge").unwrap()
}

fn lanes() -> RuleKind {
    RuleKind::new(RuleKind::LANES).unwrap()
}

async fn next(watch: &mut RuleStream) -> RuleEvent {
    timeout(PROMPT, watch.next())
        .await
        .expect("no rule event within the bound")
        .expect("rule stream ended")
}

async fn connect(cluster: &EtcdCluster) -> EtcdRegistry {
    EtcdRegistry::connect(cluster.endpoints(), EtcdOptions::default())
        .await
        .unwrap()
}

#[tokio::test]
async fn rules_are_written_read_watched_and_deleted_under_their_key() {
    let cluster = EtcdCluster::single().await;
    let writer = connect(&cluster).await;
    let reader = connect(&cluster).await;
    let first = writer.put_rules(rollout("edge", 5)).await.unwrap();

    let mut watch = reader.watch_rules(&edge()).await.unwrap();
    let RuleEvent::Snapshot(snapshot) = next(&mut watch).await else {
        panic!("a rule watch starts with a snapshot");
    };
    assert_eq!(snapshot.get(&lanes()).unwrap().revision, first);
    assert!(snapshot.revision >= first);

    let second = writer.put_rules(rollout("edge", 50)).await.unwrap();
    let RuleEvent::Put(put) = next(&mut watch).await else {
        panic!("expected the write");
    };
    assert_eq!(put.revision, second);
    assert_eq!(put.document, rollout("edge", 50));

    let mut raw = cluster.raw_client().await;
    let stored = raw.get("/sae/v1/rules/edge/lanes", None).await.unwrap();
    assert_eq!(
        stored.kvs()[0].value(),
        rollout("edge", 50).to_json().as_slice()
    );

    let deleted = writer
        .delete_rules(&edge(), &lanes())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        next(&mut watch).await,
        RuleEvent::Delete {
            revision: deleted,
            kind: lanes()
        }
    );
    assert_eq!(writer.delete_rules(&edge(), &lanes()).await.unwrap(), None);
    assert!(reader.list_rules(&edge()).await.unwrap().rules.is_empty());
}

#[tokio::test]
async fn an_unreadable_value_is_reported_as_such_and_the_watch_goes_on() {
    let cluster = EtcdCluster::single().await;
    let registry = connect(&cluster).await;
    let mut watch = registry.watch_rules(&edge()).await.unwrap();
    assert!(matches!(next(&mut watch).await, RuleEvent::Snapshot(_)));

    let mut raw = cluster.raw_client().await;
    let garbage = raw
        .put("/sae/v1/rules/edge/lanes", "{not json", None)
        .await
        .unwrap()
        .header()
        .unwrap()
        .revision();
    let RuleEvent::Unreadable(unreadable) = next(&mut watch).await else {
        panic!("expected the unreadable write");
    };
    assert_eq!(
        (unreadable.kind.clone(), unreadable.revision.0),
        (lanes(), garbage as u64)
    );
    assert!(
        unreadable.error.starts_with("/sae/v1/rules/edge/lanes: "),
        "{}",
        unreadable.error
    );
    assert!(
        unreadable.error.contains("not a sae rule envelope"),
        "{}",
        unreadable.error
    );

    // A re-list reports it too: present, not a document (never "deleted").
    let listed = registry.list_rules(&edge()).await.unwrap();
    assert!(listed.rules.is_empty());
    assert_eq!(listed.unreadable, vec![unreadable]);

    // A value naming another service than its key is not edge's either.
    let mut other = rollout("edge", 5);
    other.service = ServiceName::new("other").unwrap();
    raw.put("/sae/v1/rules/edge/lanes", other.to_json(), None)
        .await
        .unwrap();
    let RuleEvent::Unreadable(unreadable) = next(&mut watch).await else {
        panic!("expected the misplaced write");
    };
    assert!(
        unreadable.error.contains("lanes rules of other"),
        "{}",
        unreadable.error
    );

    let good = registry.put_rules(rollout("edge", 7)).await.unwrap();
    let RuleEvent::Put(put) = next(&mut watch).await else {
        panic!("expected the valid write");
    };
    assert_eq!(put.revision, good);
    let listed = registry.list_rules(&edge()).await.unwrap();
    assert_eq!((listed.rules.len(), listed.unreadable.len()), (1, 0));
}

#[tokio::test]
async fn a_compacted_resume_point_gives_a_fresh_rule_snapshot() {
    let cluster = EtcdCluster::single().await;
    let registry = connect(&cluster).await;
    let stale = RuleSnapshot {
        revision: registry.put_rules(rollout("edge", 5)).await.unwrap(),
        ..RuleSnapshot::default()
    };
    let latest = registry.put_rules(rollout("edge", 50)).await.unwrap();
    // History past `latest` too, so the resume point (stale + 1) is compacted.
    let mut elsewhere = rollout("edge", 1);
    elsewhere.service = ServiceName::new("other").unwrap();
    registry.put_rules(elsewhere).await.unwrap();
    cluster.compact().await;

    let client = registry.client().await.unwrap().clone();
    let (sender, receiver) = prefix_watch::channel();
    let mut follow = Rules::new(edge());
    prefix_watch::Follow::adopt(&mut follow, &RuleEvent::Snapshot(stale.clone()));
    let follower = PrefixWatch::new(client, follow, stale.revision, sender);
    tokio::spawn(follower.run(registry.shared.closed_rx.clone()));
    let mut watch: RuleStream = Box::pin(tokio_stream::wrappers::ReceiverStream::new(receiver));
    let RuleEvent::Snapshot(fresh) = next(&mut watch).await else {
        panic!("expected a fresh snapshot after the compaction");
    };
    assert_eq!(fresh.get(&lanes()).unwrap().revision, latest);
    assert_eq!(fresh.get(&lanes()).unwrap().document, rollout("edge", 50));
}

#[tokio::test]
async fn services_lists_those_with_instances_or_rules() {
    let cluster = EtcdCluster::single().await;
    services_are_those_with_instances_or_rules(&connect(&cluster).await).await;
}

#[tokio::test]
async fn rule_reports_live_under_the_registration_lease() {
    let cluster = EtcdCluster::single().await;
    let registry = connect(&cluster).await;
    let instance = |id: &str| {
        Instance::builder("edge")
            .id(id)
            .addr("127.0.0.1:8080".parse().unwrap())
            .build()
            .unwrap()
    };
    let a = registry.register(instance("a")).await.unwrap();
    let b = registry.register(instance("b")).await.unwrap();
    a.report_rules(lanes_report(&a, 4)).await.unwrap();
    b.report_rules(lanes_report(&b, 4)).await.unwrap();
    b.report_rules(lanes_report(&b, 8)).await.unwrap();
    let reports = registry.rule_reports(&edge()).await.unwrap();
    assert_eq!(
        reports.reports,
        vec![lanes_report(&a, 4), lanes_report(&b, 8)]
    );
    assert!(reports.unreadable.is_empty());

    // Garbage, and a report stored under another instance's key, are
    // reported with their key; the others are still read.
    let mut raw = cluster.raw_client().await;
    raw.put("/sae/v1/reports/edge/x", "{not json", None)
        .await
        .unwrap();
    raw.put(
        "/sae/v1/reports/edge/y",
        lanes_report(&a, 4).to_json(),
        None,
    )
    .await
    .unwrap();
    let reports = registry.rule_reports(&edge()).await.unwrap();
    assert_eq!(reports.reports.len(), 2);
    let unreadable: Vec<(&str, &str)> = reports
        .unreadable
        .iter()
        .map(|u| (u.key.as_str(), u.error.as_str()))
        .collect();
    assert_eq!(unreadable.len(), 2, "{unreadable:?}");
    assert!(
        unreadable[0].0 == "/sae/v1/reports/edge/x"
            && unreadable[0].1.contains("not a sae rule report")
    );
    assert!(
        unreadable[1].0 == "/sae/v1/reports/edge/y"
            && unreadable[1].1.contains("instance a of edge")
    );
    raw.delete(
        "/sae/v1/reports/edge/",
        Some(etcd_client::DeleteOptions::new().with_prefix()),
    )
    .await
    .unwrap();

    // Only the registration's own report, and only while it holds its key.
    a.report_rules(lanes_report(&a, 9)).await.unwrap();
    let error = a.report_rules(lanes_report(&b, 9)).await.unwrap_err();
    assert!(matches!(error, sae_core::Error::Config { .. }), "{error}");
    raw.delete("/sae/v1/services/edge/b", None).await.unwrap();
    let error = b.report_rules(lanes_report(&b, 9)).await.unwrap_err();
    assert!(
        matches!(error, sae_core::Error::NotRegistered { .. }),
        "{error}"
    );

    // Deregistering takes the report with the lease.
    a.deregister().await.unwrap();
    assert!(
        registry
            .rule_reports(&edge())
            .await
            .unwrap()
            .reports
            .is_empty()
    );
}
