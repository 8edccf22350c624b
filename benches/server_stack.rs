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
//! - `notice_and_in_flight`, `lane`, `trace_unsampled`: one piece at a time,
//!   to tell where the cost is.
//!
//! Each request is a ready-made `http::Request` handed to the tower service
//! directly: every future is ready at once and is polled once with a no-op
//! waker, so no runtime and no network are in the figures. The request and
//! response are built and dropped inside the timed loop in every variant;
//! subtract `bare` for the added cost.
//!
//! `cargo bench --bench server_stack` (add `-- --quick` for a short run).
//!
//! [`Provider::server_layer`]: sae_governance::server::Provider::server_layer

#![allow(missing_docs)] // criterion_group! generates an undocumented fn

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::hint::black_box;
use std::task::{Context, Poll};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
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

fn bench(c: &mut Criterion) {
    // The subscriber a traced service runs under (unsampled requests build no span).
    let tracer_provider = SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(tracer_provider.tracer("bench")));
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(ManualReader::builder().build())
        .build();
    let meter = meter_provider.meter("bench");
    let telemetry =
        Telemetry::with_meter("orders", &meter, RootSampler::AlwaysOff, Topology::new());

    let instance = Instance::builder("orders").id("orders-1").build().unwrap();
    let lifecycle = Lifecycle::new();
    lifecycle.advance(Phase::Serving).unwrap();
    let in_flight = InFlight::new();
    // As `Provider::server_layer`: in-flight outside, the notice inside.
    let notice = || OfflineNoticeLayer::new(lifecycle.clone(), instance.id());

    let mut group = c.benchmark_group("server_stack");

    let mut bare = Handler;
    group.bench_function("bare", |b| {
        b.iter(|| black_box(one(&mut bare, plain_request())))
    });

    let mut stack = ServiceBuilder::new()
        .layer(in_flight.layer())
        .layer(notice())
        .layer(telemetry.http_server_layer())
        .layer(LaneLayer::new())
        .service(Handler);
    group.bench_function("sae_stack", |b| {
        b.iter(|| black_box(one(&mut stack, plain_request())))
    });

    let mut bare_laned = Handler;
    group.bench_function("bare_in_lane", |b| {
        b.iter(|| black_box(one(&mut bare_laned, laned_request())))
    });
    group.bench_function("sae_stack_in_lane", |b| {
        b.iter(|| black_box(one(&mut stack, laned_request())))
    });

    let mut notice_only = ServiceBuilder::new()
        .layer(in_flight.layer())
        .layer(notice())
        .service(Handler);
    group.bench_function("notice_and_in_flight", |b| {
        b.iter(|| black_box(one(&mut notice_only, plain_request())))
    });

    let mut lane_only = LaneLayer::new().layer(Handler);
    group.bench_function("lane", |b| {
        b.iter(|| black_box(one(&mut lane_only, plain_request())))
    });

    let mut trace_only = telemetry.http_server_layer().layer(Handler);
    group.bench_function("trace_unsampled", |b| {
        b.iter(|| black_box(one(&mut trace_only, plain_request())))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
