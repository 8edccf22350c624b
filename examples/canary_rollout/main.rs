//! `canary_rollout`: a canary release driven by rule changes through the
//! registry, as `sae rules apply` makes them.
//!
//! `edge` (two instances) calls `shop`, which runs v1 in base and v2 in
//! lane `gray` (two instances each), under a steady load of users. The
//! rollout writes `edge`'s lane rules with [`sae_governance::rules::apply`],
//! the code `sae rules apply` runs: 0 % → 5 % → 50 % → 100 % of users (by
//! `x-user-id`) to gray. Then v2 is promoted: two v2 instances start in
//! base, the v1 instances stop losslessly, the rule is deleted (everyone in
//! base, now v2) and the gray instances stop. Per step it prints the share
//! of 10,000 distinct users that reached v2 against the rule, the time from
//! the write until every edge instance applied it, and failed requests.
//!
//! ```text
//! cargo run --release --example canary_rollout [-- --registry etcd://127.0.0.1:2379 --json]
//! ```

mod fleet;
mod load;
mod report;

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use sae_core::rules::{RuleDocument, RuleFormat, RuleKind};
use sae_core::{Registry, Revision};
use tokio::time::Instant;

use fleet::Running;
use load::{Steady, Version};
use report::Step;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A canary rollout through rule changes in the registry.
#[derive(Parser, Debug)]
struct Args {
    /// The registry: `memory://` (in this process), or `etcd://host:port`
    /// (build with `--features etcd`).
    #[arg(long, default_value = "memory://")]
    registry: String,
    /// Distinct users per sweep (at least 10,000 for the ±1 pp bound).
    #[arg(long, default_value_t = 10_000)]
    users: u32,
    /// Requests in flight during a sweep.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// One JSON line instead of the table.
    #[arg(long)]
    json: bool,
}

/// The rollout's rule: `percent` % of users, stable per user id.
fn rollout(percent: u32) -> Result<RuleDocument, BoxError> {
    let text = format!(
        "rules:\n  - name: v2-rollout\n    lane: gray\n    percentage: {{ header: x-user-id, percent: {percent} }}\n"
    );
    Ok(RuleDocument::new(
        "edge",
        RuleKind::LANES,
        RuleFormat::Yaml,
        text,
    )?)
}

/// Waits until every edge runs the lanes rules at `revision`; the time since `since`.
async fn applied(edges: &[Running], revision: Revision, since: Instant) -> f64 {
    let lanes = RuleKind::new(RuleKind::LANES).expect("a known kind");
    for edge in edges {
        edge.sae.rule_status().reached(&lanes, revision).await;
    }
    since.elapsed().as_secs_f64() * 1_000.0
}

struct Demo {
    registry: Arc<dyn Registry>,
    args: Args,
    edges: Vec<Running>,
    steady: Steady,
    /// Steady failures and answers counted into earlier steps.
    steady_seen: load::Counts,
    /// Who was in gray at the last sweep.
    gray: Vec<bool>,
}

impl Demo {
    /// Sweeps every user once and closes the step.
    async fn measure(
        &mut self,
        name: String,
        expected_v2_pct: f64,
        revision: Option<Revision>,
        apply_ms: Option<f64>,
        rollout_step: bool,
    ) -> Step {
        let addrs: Vec<_> = self.edges.iter().map(|edge| edge.addr).collect();
        let answers = load::sweep(&addrs, self.args.users, self.args.concurrency).await;
        let v2 = answers.iter().filter(|a| **a == Some(Version::V2)).count();
        let swept_failed = answers.iter().filter(|a| a.is_none()).count() as u64;
        let mut left_gray = 0;
        if rollout_step {
            for (was, answer) in self.gray.iter_mut().zip(&answers) {
                let now = *answer == Some(Version::V2);
                left_gray += u64::from(*was && !now);
                *was = now;
            }
        }
        let steady = self.steady.counts();
        let failed = swept_failed + steady.failed - self.steady_seen.failed;
        let requests = answers.len() as u64 + (steady.answered + steady.failed)
            - (self.steady_seen.answered + self.steady_seen.failed);
        self.steady_seen = steady;
        Step {
            name,
            expected_v2_pct,
            v2_pct: v2 as f64 * 100.0 / f64::from(self.args.users),
            revision: revision.map(|revision| revision.0),
            apply_ms,
            left_gray,
            failed,
            requests,
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .init();
    }
    let args = Args::parse();
    let registry = sae_registry::from_url(&args.registry)?;

    let mut base_v1 = vec![
        fleet::shop(&registry, "v1", None).await?,
        fleet::shop(&registry, "v1", None).await?,
    ];
    let mut gray_v2 = vec![
        fleet::shop(&registry, "v2", Some("gray")).await?,
        fleet::shop(&registry, "v2", Some("gray")).await?,
    ];
    let edges = vec![fleet::edge(&registry).await?, fleet::edge(&registry).await?];
    fleet::shop_seen_by_edges(&edges, 4).await;
    let addrs: Vec<_> = edges.iter().map(|edge| edge.addr).collect();
    let steady = Steady::start(&addrs, args.users, 4, Duration::from_millis(10));
    let users = args.users;
    let mut demo = Demo {
        registry,
        gray: vec![false; users as usize],
        args,
        edges,
        steady,
        steady_seen: load::Counts::default(),
    };

    let mut steps = Vec::new();
    for percent in [0, 5, 50, 100] {
        let written = Instant::now();
        let revision = sae_governance::rules::apply(&*demo.registry, rollout(percent)?)
            .await?
            .revision;
        let apply_ms = applied(&demo.edges, revision, written).await;
        steps.push(
            demo.measure(
                format!("{percent}% of users to gray"),
                f64::from(percent),
                Some(revision),
                Some(apply_ms),
                true,
            )
            .await,
        );
    }

    // Promotion: v2 in base, v1 out (lossless, under load), then the rule goes.
    let base_v2 = vec![
        fleet::shop(&demo.registry, "v2", None).await?,
        fleet::shop(&demo.registry, "v2", None).await?,
    ];
    fleet::shop_seen_by_edges(&demo.edges, 6).await;
    for instance in base_v1.drain(..) {
        instance.stop().await?;
    }
    fleet::shop_seen_by_edges(&demo.edges, 4).await;
    let written = Instant::now();
    let lanes = RuleKind::new(RuleKind::LANES)?;
    let edge = sae_core::ServiceName::new("edge")?;
    let deleted = demo
        .registry
        .delete_rules(&edge, &lanes)
        .await?
        .ok_or("the rollout rule was not there to delete")?;
    let apply_ms = applied(&demo.edges, deleted, written).await;
    steps.push(
        demo.measure(
            "promote: v2 base, rule deleted".into(),
            100.0,
            Some(deleted),
            Some(apply_ms),
            false,
        )
        .await,
    );
    for instance in gray_v2.drain(..) {
        instance.stop().await?;
    }
    fleet::shop_seen_by_edges(&demo.edges, 2).await;
    steps.push(
        demo.measure("gray v2 instances stopped".into(), 100.0, None, None, false)
            .await,
    );

    let steady = demo.steady.stop().await;
    if let Some(last) = steps.last_mut() {
        last.failed += steady.failed - demo.steady_seen.failed;
        last.requests += (steady.answered + steady.failed)
            - (demo.steady_seen.answered + demo.steady_seen.failed);
    }
    for instance in base_v2.into_iter().chain(demo.edges.drain(..)) {
        instance.stop().await?;
    }

    let summary = report::to_json(&steps, &demo.args.registry, users);
    if demo.args.json {
        println!("{summary}");
    } else {
        report::print_table(&steps, users);
    }
    if summary["ok"] != true {
        eprintln!("canary_rollout: a step broke its bound");
        std::process::exit(1);
    }
    Ok(())
}
