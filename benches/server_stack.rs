//! The provider side's added cost per request, beside the bare service in
//! the same run: sae's server stack against a handler that answers at once.
//!
//! - `bare`: the handler alone;
//! - `sae_stack`: what a provider's request goes through: in-flight tracking
//!   and the offline notice ([`Provider::server_layer`]'s two layers, phase
//!   `Serving`), sae-trace's server layer with the root sampler saying no,
//!   and the [`LaneLayer`] (no rules), around the same handler;
//! - `sae_stack_in_lane`: the same, for a request that carries a lane
//!   (`x-sae-tag`) and an unsampled W3C `traceparent`, so extraction and
//!   the task-local lane scope do their work;
//! - `notice_and_in_flight`, `lane`, `lane_in_lane`, `trace_unsampled`: one piece at a time,
//!   to tell where the cost is.
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
//! [`Provider::server_layer`]: sae_governance::server::Provider::server_layer

#![allow(missing_docs)] // criterion_group! generates an undocumented fn

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::hint::black_box;
use std::task::{Context, Poll};

use bytes::Bytes;
use criterion::{Criterion, criterion_group};
use futures_util::FutureExt;
use futures_util::task::noop_waker_ref;
use http::{Request, Response};
use http_body_util::Empty;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::metrics::{ManualReader, SdkMeterProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use sae_core::{Instance, Lifecycle, Phase};
use sae_governance::LaneLayer;
use sae_governance::server::{InFlight, OfflineNoticeLayer};
use sae_trace::{RootSampler, Telemetry, Topology};
use tower::{Layer, Service, ServiceBuilder};
use tracing_subscriber::layer::SubscriberExt;

#[path = "support/counting.rs"]
mod counting;
use counting::Variant;

type Body = Empty<Bytes>;

/// The bare handler: answers at once, no allocation of its own.
#[derive(Clone, Copy)]
struct Handler;

impl Service<Request<Body>> for Handler {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<Body>) -> Self::Future {
        ready(Ok(Response::new(Body::new())))
    }
}

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

/// One request through `service`: ready, call, poll the response once, drop it.
fn one<S, R>(service: &mut S, request: Request<Body>) -> Option<R>
where
    S: Service<Request<Body>, Response = R>,
    S::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(noop_waker_ref());
    match service.poll_ready(&mut cx) {
        Poll::Ready(ready) => ready.unwrap(),
        Poll::Pending => panic!("the benched services are always ready"),
    }
    service
        .call(request)
        .now_or_never()
        .map(|response| response.unwrap())
}

/// The subscriber and meter a traced service runs under (unsampled requests
/// build no span); the provider must outlive the variants.
fn install() -> (opentelemetry::metrics::Meter, SdkMeterProvider) {
    let tracer_provider = SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(tracer_provider.tracer("bench")));
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(ManualReader::builder().build())
        .build();
    (meter_provider.meter("bench"), meter_provider)
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

fn variants(meter: &opentelemetry::metrics::Meter) -> Vec<Variant> {
    let telemetry = Telemetry::with_meter("orders", meter, RootSampler::AlwaysOff, Topology::new());
    let instance = Instance::builder("orders").id("orders-1").build().unwrap();
    let lifecycle = Lifecycle::new();
    lifecycle.advance(Phase::Serving).unwrap();
    let in_flight = InFlight::new();
    // As `Provider::server_layer`: in-flight outside, the notice inside.
    let notice = || OfflineNoticeLayer::new(lifecycle.clone(), instance.id());
    let stack = || {
        ServiceBuilder::new()
            .layer(in_flight.layer())
            .layer(notice())
            .layer(telemetry.http_server_layer())
            .layer(LaneLayer::new())
            .service(Handler)
    };
    vec![
        variant("bare", Handler, plain_request),
        variant("sae_stack", stack(), plain_request),
        variant("bare_in_lane", Handler, laned_request),
        variant("sae_stack_in_lane", stack(), laned_request),
        variant(
            "notice_and_in_flight",
            ServiceBuilder::new()
                .layer(in_flight.layer())
                .layer(notice())
                .service(Handler),
            plain_request,
        ),
        variant("lane", LaneLayer::new().layer(Handler), plain_request),
        variant(
            "lane_in_lane",
            LaneLayer::new().layer(Handler),
            laned_request,
        ),
        variant(
            "trace_unsampled",
            telemetry.http_server_layer().layer(Handler),
            plain_request,
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let (meter, _provider) = install();
    let mut group = c.benchmark_group("server_stack");
    for (name, mut run) in variants(&meter) {
        group.bench_function(name, |b| b.iter(&mut run));
    }
    group.finish();
}

criterion_group!(benches, bench);

fn main() {
    counting::main(benches, || {
        let (meter, provider) = install();
        counting::by_name(variants(&meter), provider)
    });
}
