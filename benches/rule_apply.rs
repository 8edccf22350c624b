//! How long a rule write takes to reach every instance, on a real 3-node
//! etcd cluster on loopback: 10 instances of `edge` (each a `Sae` with its
//! own etcd client, as separate processes would have) follow their rule
//! documents; 100 writes, one after another, each timed from the start of
//! the write until all 10 instances run it. Then one invalid write, which
//! every instance must refuse while keeping the running rules. Last, 20
//! writes timed until all 10 instances' reports in the registry show them:
//! what `sae rules status` needs to say "handled by 10 of 10".
//!
//! A measured scenario, not a criterion bench: it prints p50, p99 and max,
//! and fails when the bound (p99 ≤ 1 s) or the invalid write's
//! check breaks.
//!
//! `cargo bench --features etcd-test-util --bench rule_apply`

use std::time::{Duration, Instant};

use sae::Sae;
use sae_core::rules::{RuleDocument, RuleFormat, RuleKind};
use sae_core::{Phase, Registry};
use sae_registry::etcd::testing::EtcdCluster;
use sae_registry::etcd::{EtcdOptions, EtcdRegistry};

const INSTANCES: usize = 10;
const WRITES: u32 = 100;
const REPORTED_WRITES: u32 = 20;
const P99_BOUND: Duration = Duration::from_secs(1);

fn rollout(step: u32) -> RuleDocument {
    let percent = step % 101;
    RuleDocument::new(
        "edge",
        RuleKind::LANES,
        RuleFormat::Yaml,
        format!("rules: [{{ name: rollout, lane: gray, percentage: {{ header: x-user-id, percent: {percent} }} }}]"),
    )
    .expect("a valid document")
}

async fn connect(cluster: &EtcdCluster) -> EtcdRegistry {
    EtcdRegistry::connect(cluster.endpoints(), EtcdOptions::default())
        .await
        .expect("etcd answers")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; a filter that is not ours skips the run.
    if std::env::args()
        .skip(1)
        .any(|arg| !arg.starts_with("--") && !"rule_apply".contains(&arg))
    {
        return;
    }
    let cluster = EtcdCluster::start(3).await;
    let mut instances = Vec::new();
    for _ in 0..INSTANCES {
        let sae = Sae::builder("edge")
            .registry(connect(&cluster).await)
            .provider(|provider| provider.handle_signals(false))
            .build()
            .expect("a valid configuration");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let shutdown = sae
            .shutdown_signal(listener.local_addr().expect("addr"))
            .expect("signal");
        let app = axum::Router::new().layer(sae.layer());
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        });
        sae.lifecycle().reached(Phase::Serving).await;
        instances.push((sae, server));
    }
    let operator = connect(&cluster).await;
    let lanes = RuleKind::new(RuleKind::LANES).expect("a known kind");

    let mut times = Vec::with_capacity(WRITES as usize);
    let mut last = None;
    for step in 1..=WRITES {
        let started = Instant::now();
        let revision = operator.put_rules(rollout(step)).await.expect("the write");
        for (sae, _) in &instances {
            sae.rule_status().reached(&lanes, revision).await;
        }
        times.push(started.elapsed());
        last = Some(revision);
    }
    times.sort();
    let (p50, p99, max) = (
        percentile(&times, 50.0),
        percentile(&times, 99.0),
        times[times.len() - 1],
    );
    println!(
        "rule_apply: {WRITES} writes to {INSTANCES} instances on a 3-node etcd cluster: write → applied by all: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3
    );

    let invalid = RuleDocument::new(
        "edge",
        RuleKind::LANES,
        RuleFormat::Yaml,
        "rules: [{ lane: 'no spaces', path_prefix: / }]",
    )
    .expect("an envelope the registry stores");
    let bad = operator.put_rules(invalid).await.expect("the write");
    let mut refused = 0;
    for (sae, _) in &instances {
        sae.rule_status().reached(&lanes, bad).await;
        let status = sae.rule_status().kind(&lanes).expect("lanes are followed");
        if status.revision == last
            && status
                .refused
                .is_some_and(|refusal| refusal.revision == bad)
        {
            refused += 1;
        }
    }
    println!(
        "rule_apply: an invalid write was refused by {refused} of {INSTANCES} instances, each keeping revision {}",
        last.expect("written").0
    );

    let service = sae::ServiceName::new("edge").expect("a valid name");
    let mut reported = Vec::with_capacity(REPORTED_WRITES as usize);
    for step in 1..=REPORTED_WRITES {
        let started = Instant::now();
        let revision = operator.put_rules(rollout(step)).await.expect("the write");
        loop {
            let reports = operator.rule_reports(&service).await.expect("the reports");
            let all = reports.reports.len() == INSTANCES
                && reports.reports.iter().all(|report| {
                    report
                        .kinds
                        .get(&lanes)
                        .is_some_and(|status| status.has_handled(revision))
                });
            if all {
                break;
            }
            assert!(
                started.elapsed() < P99_BOUND * 10,
                "the reports did not show revision {revision} within {:?}",
                P99_BOUND * 10
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        reported.push(started.elapsed());
    }
    reported.sort();
    println!(
        "rule_apply: {REPORTED_WRITES} writes: write → all {INSTANCES} reports in the registry show it (sae rules status): p50 {:.1} ms, max {:.1} ms",
        percentile(&reported, 50.0).as_secs_f64() * 1e3,
        reported[reported.len() - 1].as_secs_f64() * 1e3
    );

    for (sae, server) in instances {
        sae.shutdown_handle().shutdown();
        let _ = server.await;
    }
    assert!(
        p99 <= P99_BOUND,
        "p99 {p99:?} is over the bound {P99_BOUND:?}"
    );
    assert_eq!(
        refused, INSTANCES,
        "every instance refuses the invalid write"
    );
}
