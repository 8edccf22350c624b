//! Heap bytes the balancer keeps per endpoint, at 10,000 endpoints.
//!
//! A counting global allocator (`stats_alloc`'s wrapper around the system
//! allocator: the workspace forbids `unsafe`, even in benches, so the
//! `GlobalAlloc` impl comes from that crate) counts every byte allocated and
//! freed. Two figures:
//!
//! - `balancer`: a [`Balancer<()>`] fed one discovery snapshot of N
//!   instances. The snapshot is built before counting starts and a clone of
//!   it is applied, so what remains allocated afterwards is what the
//!   balancer keeps (member map, endpoints, routing snapshot, lane index);
//! - `client`: a whole HTTP [`Client`] (its balancer holds each endpoint's
//!   connection-pool state, no connection opened) discovering N instances
//!   from the in-memory registry, counted from before `build_http` until
//!   discovery delivered all N; the registry's own entries were allocated
//!   before counting.
//!
//! Each is measured at 0 and at N endpoints; per endpoint = the difference / N.
//! Plain output (no criterion): allocation counts are exact, not sampled.
//!
//! `cargo bench --bench memory_per_endpoint` (optionally `-- 100000` for another N).

use std::alloc::System;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use sae_core::{Registry, ServiceName, WatchEvent};
use sae_governance::Client;
use sae_governance::balance::{BalanceConfig, Balancer, LaneFallback};
use sae_registry::MemoryRegistry;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, Stats, StatsAlloc};

#[path = "support/mod.rs"]
mod support;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Bytes still allocated of those counted in `stats`.
fn live(stats: Stats) -> isize {
    stats.bytes_allocated as isize + stats.bytes_reallocated - stats.bytes_deallocated as isize
}

/// Bytes a `Balancer<()>` keeps after one snapshot of `endpoints` instances.
fn balancer_bytes(endpoints: usize) -> (isize, Balancer<()>) {
    let snapshot = support::snapshot(endpoints, |_| None);
    let region = Region::new(GLOBAL);
    let balancer = Balancer::new(
        ServiceName::new("orders").unwrap(),
        BalanceConfig::default(),
        LaneFallback::Base,
        |_| (),
    );
    balancer.apply(WatchEvent::Snapshot(snapshot.clone()));
    let bytes = live(region.change());
    assert_eq!(balancer.endpoints().len(), endpoints);
    (bytes, balancer)
}

/// Bytes a `Client` keeps once it discovered `endpoints` instances.
fn client_bytes(runtime: &tokio::runtime::Runtime, endpoints: usize) -> isize {
    runtime.block_on(async {
        let registry = MemoryRegistry::new();
        let mut registrations = Vec::with_capacity(endpoints);
        for i in 0..endpoints {
            registrations.push(
                registry
                    .register(support::instance(i).build().unwrap())
                    .await
                    .unwrap(),
            );
        }
        let registry: Arc<dyn Registry> = Arc::new(registry);
        let region = Region::new(GLOBAL);
        let client = Client::builder("orders", registry)
            .build_http::<Full<Bytes>>()
            .unwrap();
        let mut changes = client.changes();
        let wait = async {
            while client.endpoints().len() < endpoints {
                changes.changed().await.unwrap();
            }
        };
        tokio::time::timeout(Duration::from_secs(60), wait)
            .await
            .expect("discovery delivers every instance");
        // The check above allocated a Vec it dropped again; nothing else runs.
        let bytes = live(region.change());
        drop(client);
        drop(registrations);
        bytes
    })
}

fn main() {
    let endpoints: usize = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(10_000);

    let (empty, _keep) = balancer_bytes(0);
    let (full, _keep_full) = balancer_bytes(endpoints);
    let per = (full - empty) as f64 / endpoints as f64;
    println!(
        "memory_per_endpoint/balancer: {endpoints} endpoints keep {full} B (empty balancer {empty} B): {per:.0} B per endpoint"
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let empty = client_bytes(&runtime, 0);
    let full = client_bytes(&runtime, endpoints);
    let per = (full - empty) as f64 / endpoints as f64;
    println!(
        "memory_per_endpoint/client: {endpoints} endpoints keep {full} B (no endpoint {empty} B): {per:.0} B per endpoint"
    );
}
