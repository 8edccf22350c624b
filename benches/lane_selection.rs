//! Lane selection in the balancer: a pick at 3, 100 and 10,000 endpoints,
//! with the endpoints spread over 1 or 10 lanes (plus base), against the same
//! pick with no lanes at all.
//!
//! `cargo bench --bench lane_selection` (add `-- --quick` for a short run).

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use sae_core::{Lane, ServiceName, WatchEvent};
use sae_governance::balance::{BalanceConfig, Balancer, LaneFallback};

#[path = "support/mod.rs"]
mod support;

/// `endpoints` instances; with `lanes > 0`, half are base and the other
/// half spread evenly over `lanes` lanes (`lane-0` …).
fn balancer(endpoints: usize, lanes: usize) -> Balancer<()> {
    let balancer = Balancer::new(
        ServiceName::new("orders").unwrap(),
        BalanceConfig::default(),
        LaneFallback::Base,
        |_| (),
    );
    let lane = |i: usize| (lanes > 0 && i % 2 == 1).then(|| format!("lane-{}", (i / 2) % lanes));
    balancer.apply(WatchEvent::Snapshot(support::snapshot(endpoints, lane)));
    balancer
}

fn lane_selection(c: &mut Criterion) {
    let mut group = c.benchmark_group("lane_selection");
    let lane = Lane::new("lane-0").unwrap();
    let absent = Lane::new("no-such-lane").unwrap();
    for endpoints in [3, 100, 10_000] {
        let plain = balancer(endpoints, 0);
        group.bench_with_input(
            BenchmarkId::new("no_lanes", endpoints),
            &plain,
            |b, balancer| b.iter(|| black_box(balancer.pick(None).unwrap())),
        );
        for lanes in [1, 10] {
            let laned = balancer(endpoints, lanes);
            let id = format!("{endpoints}/{lanes}_lanes");
            group.bench_with_input(BenchmarkId::new("base_pick", &id), &laned, |b, balancer| {
                b.iter(|| black_box(balancer.pick(None).unwrap()))
            });
            group.bench_with_input(BenchmarkId::new("lane_pick", &id), &laned, |b, balancer| {
                b.iter(|| black_box(balancer.pick(Some(black_box(&lane))).unwrap()))
            });
            group.bench_with_input(
                BenchmarkId::new("fallback_pick", &id),
                &laned,
                |b, balancer| {
                    b.iter(|| black_box(balancer.pick(Some(black_box(&absent))).unwrap()))
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, lane_selection);
criterion_main!(benches);
