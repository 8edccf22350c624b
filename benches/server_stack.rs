//! The provider side's added cost per request, beside the bare service in
//! the same run: sae's server stack against a handler that answers at once.
//!
//! - `bare`: the handler alone;
//! - `sae_stack`: what a provider's request goes through, [`Sae::layer`]:
//!   in-flight tracking, the offline notice and the lane layer (no rules) of
//!   the provider's layer, then sae-trace's server layer with the root
//!   sampler saying no, around the same handler;
//! - `sae_stack_in_lane`: the same, for a request that carries a lane
//!   (`x-sae-tag`) and an unsampled W3C `traceparent`, so extraction and
//!   the task-local lane scope do their work;
//! - `notice_and_in_flight`, `lane`, `lane_in_lane`, `trace_unsampled`,
//!   `protect`: one piece at a time, to tell where the cost is (`protect`
//!   is the provider's traffic protection with the default rules: the
//!   adaptive concurrency limit, admitted and measured);
//! - `protect_rules`: protection with a rate limit and an isolation rule
//!   that match the request, beside the adaptive limit.
//!
//! Each request is a ready-made `http::Request` handed to the tower service
//! directly: every future is ready at once and is polled once with a no-op
//! waker, so no runtime and no network are in the figures. The request and
//! response are built and dropped inside the timed loop in every variant;
//! subtract `bare` for the added cost.
//!
//! `cargo bench --bench server_stack` (add `-- --quick` for a short run).
//! `SAE_BENCH_ITERATIONS=<n>` skips criterion and runs the named variants
//! exactly `n` times, for counting instructions under callgrind.
//!
//! [`Sae::layer`]: sae::Sae::layer

#![allow(missing_docs)] // criterion_group! generates an undocumented fn

use std::hint::black_box;

use criterion::{Criterion, criterion_group};
use http::Request;
use opentelemetry::metrics::Meter;
use sae::Sae;
use sae_core::{Instance, Lifecycle, Phase, ServiceName};
use sae_governance::LaneLayer;
use sae_governance::protection::{ProtectionRules, RuleFormat};
use sae_governance::provider::protect::ProtectLayer;
use sae_governance::provider::{InFlight, OfflineNoticeLayer};
use sae_trace::{RootSampler, Telemetry, Topology};
use tower::{Layer, Service, ServiceBuilder};

#[path = "support/mod.rs"]
mod support;
use support::counting::{self, Variant};
use support::{Answer, Body, one};

fn plain_request() -> Request<Body> {
    Request::get("/orders/7")
        .header("host", "orders")
        .body(Body::new())
        .unwrap()
}

fn laned_request() -> Request<Body> {
    Request::get("/orders/7")
        .header("host", "orders")
        .header("x-sae-tag", "gray")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
        )
        .body(Body::new())
        .unwrap()
}

fn variant<S>(name: &'static str, mut service: S, request: fn() -> Request<Body>) -> Variant
where
    S: Service<Request<Body>> + 'static,
    S::Error: std::fmt::Debug,
{
    (
        name,
        Box::new(move || {
            black_box(one(&mut service, request()));
        }),
    )
}

fn variants(meter: &Meter) -> Vec<Variant> {
    let telemetry = Telemetry::with_meter("orders", meter, RootSampler::AlwaysOff, Topology::new());
    let instance = Instance::builder("orders")
        .id("orders-1")
        .addr("127.0.0.1:8080".parse().unwrap())
        .build()
        .unwrap();
    let lifecycle = Lifecycle::new();
    lifecycle.advance(Phase::Serving).unwrap();
    let in_flight = InFlight::new();
    // In-flight outside, the notice inside, as in the provider's layer.
    let notice = || OfflineNoticeLayer::new(lifecycle.clone(), instance.id());
    let sae = Sae::builder("orders")
        .registry_url("memory://")
        .instance(|instance| instance.id("orders-1"))
        .telemetry(telemetry.clone())
        .build()
        .unwrap();
    let stack = || sae.layer().layer(Answer);
    let orders = ServiceName::new("orders").unwrap();
    // Never reached in the loop: a billion a second, a thousand at once.
    let rules = ProtectionRules::parse(
        r#"
rules:
  - name: rate
    strategy: { kind: rate_limit, threshold: 1000000000, stat_duration: 1s }
  - name: isolation
    targets: [{ route: /orders/7 }]
    strategy: { kind: concurrency_limit, max_concurrency: 1000 }
"#,
        RuleFormat::Yaml,
    )
    .unwrap();
    vec![
        variant("bare", Answer, plain_request),
        variant("sae_stack", stack(), plain_request),
        variant("bare_in_lane", Answer, laned_request),
        variant("sae_stack_in_lane", stack(), laned_request),
        variant(
            "notice_and_in_flight",
            ServiceBuilder::new()
                .layer(in_flight.layer())
                .layer(notice())
                .service(Answer),
            plain_request,
        ),
        variant("lane", LaneLayer::new().layer(Answer), plain_request),
        variant(
            "lane_in_lane",
            LaneLayer::new().layer(Answer),
            laned_request,
        ),
        variant(
            "protect",
            ProtectLayer::new(ProtectionRules::default(), orders.clone()).layer(Answer),
            plain_request,
        ),
        variant(
            "protect_rules",
            ProtectLayer::new(rules, orders).layer(Answer),
            plain_request,
        ),
        variant(
            "trace_unsampled",
            telemetry.http_server_layer().layer(Answer),
            plain_request,
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let (meter, _providers) = support::install();
    support::bench_each(c, "server_stack", variants(&meter));
}

criterion_group!(benches, bench);

fn main() {
    counting::main(benches, || {
        let (meter, providers) = support::install();
        counting::by_name(variants(&meter), providers)
    });
}
