//! What the benches share: the immediate-answer service, driving one
//! request, the tracing set-up of a traced service, the "orders" instances,
//! and instruction counting ([`counting`]).
//!
//! Each bench includes it with `#[path = "support/mod.rs"] mod support;`
//! and uses a part of it.

#![allow(dead_code)] // each bench uses a part

pub mod counting;

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::task::{Context, Poll};

use bytes::Bytes;
use criterion::Criterion;
use futures_util::FutureExt;
use futures_util::task::noop_waker_ref;
use http::{Request, Response};
use http_body_util::Empty;
use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::metrics::{ManualReader, SdkMeterProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use sae_core::{Instance, InstanceBuilder, Registered, Revision, Snapshot};
use tower::Service;
use tracing_subscriber::layer::SubscriberExt;

use counting::Variant;

pub type Body = Empty<Bytes>;

/// A service that answers at once, with no allocation of its own: the bare
/// handler, or one endpoint behind a balancer.
#[derive(Clone, Copy)]
pub struct Answer;

impl<B> Service<Request<B>> for Answer {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<B>) -> Self::Future {
        ready(Ok(Response::new(Body::new())))
    }
}

/// One request through `service`: ready, call, poll the response once (a
/// no-op waker, no runtime), and hand it back to be dropped.
pub fn one<S>(service: &mut S, request: Request<Body>) -> Option<S::Response>
where
    S: Service<Request<Body>>,
    S::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(noop_waker_ref());
    match service.poll_ready(&mut cx) {
        Poll::Ready(ready) => ready.unwrap(),
        Poll::Pending => panic!("the benched services are ready at once"),
    }
    service
        .call(request)
        .now_or_never()
        .map(|response| response.unwrap())
}

/// The providers behind [`install`]'s meter; keep them while benching.
pub struct Providers {
    _tracer: SdkTracerProvider,
    _meter: SdkMeterProvider,
}

/// What a traced service runs under: a global `tracing` subscriber with the
/// OpenTelemetry layer on an SDK tracer provider (no exporter), and a meter
/// provider with an in-memory reader, whose meter the layers record on.
pub fn install() -> (Meter, Providers) {
    let tracer = SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(tracer.tracer("bench")));
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let meter = SdkMeterProvider::builder()
        .with_reader(ManualReader::builder().build())
        .build();
    (
        meter.meter("bench"),
        Providers {
            _tracer: tracer,
            _meter: meter,
        },
    )
}

/// Benches every variant in one criterion group.
pub fn bench_each(c: &mut Criterion, group: &str, variants: Vec<Variant>) {
    let mut group = c.benchmark_group(group);
    for (name, mut run) in variants {
        group.bench_function(name, |b| b.iter(&mut run));
    }
    group.finish();
}

/// Instance `i` of service `orders`: id `i-{i}`, an address of its own.
pub fn instance(i: usize) -> InstanceBuilder {
    Instance::builder("orders")
        .id(format!("i-{i}"))
        .addr(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 8080).into())
}

/// Instances `0..endpoints` as one discovery snapshot, instance `i` at
/// revision `i + 1`, in the lane `lane(i)` names.
pub fn snapshot(endpoints: usize, lane: impl Fn(usize) -> Option<String>) -> Snapshot {
    Snapshot {
        revision: Revision(endpoints as u64),
        instances: (0..endpoints)
            .map(|i| {
                let mut builder = instance(i);
                if let Some(lane) = lane(i) {
                    builder = builder.lane(lane);
                }
                Registered {
                    instance: builder.build().unwrap(),
                    revision: Revision(i as u64 + 1),
                }
            })
            .collect(),
    }
}
