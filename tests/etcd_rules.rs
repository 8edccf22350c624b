//! Governance rules through real etcd: every instance of a service ends on
//! the last written revision, having applied each write exactly once and in
//! order, through the loss of a 3-node cluster's leader and through a whole
//! outage; an invalid write is refused by every instance and changes nothing.
//!
//! Needs the etcd binary (`scripts/setup.sh`); run with
//! `cargo test --features etcd-test-util --test etcd_rules`.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use sae::Sae;
use sae_core::rules::{RuleDocument, RuleFormat, RuleKind};
use sae_core::{Phase, Registry, Revision};
use sae_governance::rules::{Applied, RuleSource};
use sae_registry::etcd::testing::EtcdCluster;
use sae_registry::etcd::{EtcdOptions, EtcdRegistry};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio::time::timeout;

/// Bound on waiting for what should come at once; a guard against a hang,
/// not a timing assertion.
const PROMPT: Duration = Duration::from_secs(30);

fn lanes() -> RuleKind {
    RuleKind::new(RuleKind::LANES).unwrap()
}

fn rollout(percent: u32) -> RuleDocument {
    RuleDocument::new(
        "edge",
        RuleKind::LANES,
        RuleFormat::Yaml,
        format!("rules: [{{ name: rollout, lane: gray, percentage: {{ header: x-user-id, percent: {percent} }} }}]"),
    )
    .unwrap()
}

/// One instance of `edge`, with its own etcd client as a separate process would have.
struct Edge {
    sae: Sae,
    applied: broadcast::Receiver<Applied>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn connect(cluster: &EtcdCluster) -> EtcdRegistry {
    // Calls retry through an election for up to 20 s: a guard, generous
    // because parallel tests starve a 2-core machine's etcd processes.
    let options = EtcdOptions::default().request_timeout(Duration::from_secs(20));
    EtcdRegistry::connect(cluster.endpoints(), options)
        .await
        .unwrap()
}

async fn start_edge(cluster: &EtcdCluster) -> Edge {
    let sae = Sae::builder("edge")
        .registry(connect(cluster).await)
        .provider(|provider| provider.handle_signals(false))
        .build()
        .unwrap();
    let applied = sae.rule_status().subscribe();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shutdown = sae.shutdown_signal(listener.local_addr().unwrap()).unwrap();
    let app = Router::new()
        .route("/", get(|| async { "edge" }))
        .layer(sae.layer());
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
    });
    timeout(PROMPT, sae.lifecycle().reached(Phase::Serving))
        .await
        .expect("the instance started serving");
    Edge {
        sae,
        applied,
        server,
    }
}

impl Edge {
    /// The revisions this instance applied, in order, until it runs `last`.
    async fn applied_until(&mut self, last: Revision) -> Vec<Revision> {
        let mut seen = Vec::new();
        while seen.last() != Some(&last) {
            let applied = timeout(PROMPT, self.applied.recv())
                .await
                .unwrap_or_else(|_| panic!("no application within the bound; saw {seen:?}"))
                .expect("the status lives while the instance does");
            assert_eq!(applied.kind, lanes());
            assert!(
                applied.revision <= last,
                "{:?} applied past {last}",
                applied.revision
            );
            seen.push(applied.revision);
        }
        seen
    }

    async fn stop(self) {
        self.sae.shutdown_handle().shutdown();
        timeout(PROMPT, self.server)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

/// Whether `revisions` strictly increase (in order, none twice).
fn strictly_increasing(revisions: &[Revision]) -> bool {
    revisions.windows(2).all(|pair| pair[0] < pair[1])
}

#[tokio::test]
async fn every_instance_applies_every_write_once_in_order_and_refuses_an_invalid_one() {
    let cluster = EtcdCluster::single().await;
    let mut edges = Vec::new();
    for _ in 0..3 {
        edges.push(start_edge(&cluster).await);
    }
    let operator = connect(&cluster).await;
    let mut written = Vec::new();
    for percent in [1, 5, 10, 50] {
        written.push(operator.put_rules(rollout(percent)).await.unwrap());
    }
    let last = *written.last().unwrap();
    for edge in &mut edges {
        assert_eq!(edge.applied_until(last).await, written);
    }

    // An invalid write: refused by each instance, naming key, rule and field.
    let invalid = operator.put_rules(rollout(250)).await.unwrap();
    for edge in &edges {
        let status = edge.sae.rule_status();
        timeout(PROMPT, status.reached(&lanes(), invalid))
            .await
            .unwrap();
        let lanes_status = status.kind(&lanes()).unwrap();
        assert_eq!(lanes_status.revision, Some(last), "the running rules stay");
        assert_eq!(lanes_status.source, RuleSource::Registry);
        let refusal = lanes_status.refused.expect("refused");
        assert_eq!(refusal.revision, invalid);
        assert!(
            refusal
                .error
                .contains("/sae/v1/rules/edge/lanes: rules[0] (\"rollout\").percentage.percent"),
            "{}",
            refusal.error
        );
    }
    // The fleet view (`sae rules status`) reads the same from the registry:
    // each instance's report, published beside its registration.
    let edge_service = sae::ServiceName::new("edge").unwrap();
    let reports = timeout(PROMPT, async {
        loop {
            let reports = operator.rule_reports(&edge_service).await.unwrap();
            let everywhere = reports.reports.len() == edges.len()
                && reports.reports.iter().all(|report| {
                    report.kinds.get(&lanes()).is_some_and(|status| {
                        status.has_handled(invalid) && status.revision == Some(last)
                    })
                });
            if everywhere {
                return reports;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("every instance reports the refusal in the registry");
    for report in &reports.reports {
        let status = &report.kinds[&lanes()];
        assert_eq!(status.refused.as_ref().map(|r| r.revision), Some(invalid));
    }

    let valid = operator.put_rules(rollout(100)).await.unwrap();
    for edge in &mut edges {
        assert_eq!(
            edge.applied_until(valid).await,
            vec![valid],
            "nothing applied for the invalid write"
        );
    }
    for edge in edges {
        edge.stop().await;
    }
}

#[tokio::test]
async fn an_outage_keeps_the_last_rules_and_changes_after_it_arrive_once() {
    let mut cluster = EtcdCluster::single().await;
    let mut edges = Vec::new();
    for _ in 0..2 {
        edges.push(start_edge(&cluster).await);
    }
    let operator = connect(&cluster).await;
    let before = operator.put_rules(rollout(5)).await.unwrap();
    for edge in &mut edges {
        assert_eq!(edge.applied_until(before).await, vec![before]);
    }

    cluster.process_mut(0).kill();
    // A write during the outage fails (after the client's retries), and the
    // instances keep running the last rules they applied.
    let hasty = EtcdRegistry::lazy(
        cluster.endpoints(),
        EtcdOptions::default()
            .connect_timeout(Duration::from_secs(1))
            .request_timeout(Duration::from_secs(2)),
    );
    let lost = timeout(PROMPT, hasty.put_rules(rollout(90))).await.unwrap();
    assert!(lost.is_err(), "etcd is down: {lost:?}");
    for edge in &edges {
        let status = edge.sae.rule_status().kind(&lanes()).unwrap();
        assert_eq!(
            (status.revision, status.source, status.applied),
            (Some(before), RuleSource::Registry, 1)
        );
    }
    cluster.restart(0).await;

    let after = operator.put_rules(rollout(50)).await.unwrap();
    for edge in &mut edges {
        assert_eq!(
            edge.applied_until(after).await,
            vec![after],
            "applied once, nothing repeated"
        );
    }
    for edge in edges {
        edge.stop().await;
    }
}

#[tokio::test]
async fn a_leader_killed_during_a_rule_change_loses_and_repeats_nothing() {
    let mut cluster = EtcdCluster::start(3).await;
    let mut edges = Vec::new();
    for _ in 0..3 {
        edges.push(start_edge(&cluster).await);
    }
    let operator = connect(&cluster).await;
    let mut written = Vec::new();
    for step in 0..20u32 {
        let write = operator.put_rules(rollout(step + 1));
        if step == 10 {
            // The leader dies while this write is on its way.
            let leader = cluster.leader().await;
            let (written_now, ()) = tokio::join!(write, async {
                tokio::task::yield_now().await;
                cluster.process_mut(leader).kill();
            });
            written.push(written_now.unwrap());
        } else {
            written.push(write.await.unwrap());
        }
    }
    let last = *written.last().unwrap();
    let mut sequences = Vec::new();
    for edge in &mut edges {
        let applied = edge.applied_until(last).await;
        assert!(
            strictly_increasing(&applied),
            "in order, none twice: {applied:?}"
        );
        // A write the client retried through the election may have landed
        // twice (two revisions); every revision the operator got back is applied.
        for revision in &written {
            assert!(
                applied.contains(revision),
                "{revision} missing from {applied:?}"
            );
        }
        sequences.push(applied);
    }
    assert!(
        sequences.windows(2).all(|pair| pair[0] == pair[1]),
        "every instance applied the same writes: {sequences:?}"
    );
    for edge in edges {
        edge.stop().await;
    }
}
