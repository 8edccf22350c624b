//! Applying discovery changes to a balancer that already routes to 3, 100
//! or 10,000 endpoints: one `WatchEvent::Upsert` of a new instance followed
//! by the `WatchEvent::Remove` of it, so the set returns to its size and
//! every iteration does the same work (`insert_and_remove`: the pair; halve
//! it for one change), and `reregister`: an instance in the middle of the
//! set registered again under its id (a restart), which moves the last
//! endpoint into its slot and appends the new one.
//!
//! The events are built outside the timed section (`iter_batched`); what is
//! timed is [`Balancer::apply`]: the member-map update, the new endpoint's
//! construction, the in-place edit of the routing set, the publication of
//! its clone (sharing every untouched chunk), and the old snapshot's release.
//!
//! `cargo bench --bench endpoint_change` (add `-- --quick` for a short run).

#![allow(missing_docs)] // criterion_group! generates an undocumented fn

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use sae_core::{Registered, RemovalReason, Revision, ServiceName, WatchEvent};
use sae_governance::balance::{BalanceConfig, Balancer, LaneFallback};

#[path = "support/mod.rs"]
mod support;

fn registered(i: usize, revision: u64) -> Registered {
    Registered {
        instance: support::instance(i).build().unwrap(),
        revision: Revision(revision),
    }
}

fn balancer(endpoints: usize) -> Balancer<()> {
    let balancer = Balancer::new(
        ServiceName::new("orders").unwrap(),
        BalanceConfig::default(),
        LaneFallback::Base,
        |_| (),
    );
    balancer.apply(WatchEvent::Snapshot(support::snapshot(endpoints, |_| None)));
    balancer
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("endpoint_change");
    for endpoints in [3, 100, 10_000] {
        let balancer = balancer(endpoints);
        let newcomer = registered(endpoints, endpoints as u64 + 1);
        let mut revision = endpoints as u64 + 1;
        group.bench_function(BenchmarkId::new("insert_and_remove", endpoints), |b| {
            b.iter_batched(
                || {
                    revision += 2;
                    let mut upsert = newcomer.clone();
                    upsert.revision = Revision(revision);
                    let remove = WatchEvent::Remove {
                        revision: Revision(revision + 1),
                        id: upsert.instance.id().clone(),
                        reason: RemovalReason::Deregistered,
                    };
                    (WatchEvent::Upsert(upsert), remove)
                },
                |(upsert, remove)| {
                    balancer.apply(upsert);
                    balancer.apply(remove);
                },
                BatchSize::SmallInput,
            )
        });
        assert_eq!(balancer.endpoints().len(), endpoints);

        // A rolling restart: an instance in the middle re-registers under the
        // same id (larger revision), so its old endpoint leaves its slot
        // (swap-removal) and the new one is appended: one change.
        // Instances are taken in a stride order, so most sit mid-set.
        let mut restarts = 0usize;
        group.bench_function(BenchmarkId::new("reregister", endpoints), |b| {
            b.iter_batched(
                || {
                    revision += 1;
                    restarts += 1;
                    WatchEvent::Upsert(registered(restarts * 7919 % endpoints, revision))
                },
                |upsert| balancer.apply(upsert),
                BatchSize::SmallInput,
            )
        });
        assert_eq!(balancer.endpoints().len(), endpoints);
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
