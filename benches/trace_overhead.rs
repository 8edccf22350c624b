//! Per-request cost of sae-trace's server + client layers, in one run beside
//! the same stack without them: a server layer around a handler that makes
//! one client call through the client layer to an in-memory service.
//!
//! - `bare`: no trace layers;
//! - `unsampled`: both layers, the root sampler says no (propagation and
//!   metrics only);
//! - `sampled`: both layers, every request sampled: two spans built by
//!   tracing-opentelemetry with an SDK tracer provider that has no exporter,
//!   so the figure is the layers' own cost, not an exporter's.
//!
//! Every future is ready at once, so each request is polled once with a
//! no-op waker (`now_or_never`): no runtime and no network in the figures.

#![allow(missing_docs)] // criterion_group! generates an undocumented fn

use std::convert::Infallible;
use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::FutureExt;
use http::{Request, Response};
use http_body_util::Empty;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::metrics::{ManualReader, SdkMeterProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use sae_trace::{RootSampler, Telemetry, Topology};
use tower::{Layer, Service, ServiceExt, service_fn};
use tracing_subscriber::layer::SubscriberExt;

type Body = Empty<Bytes>;

fn request() -> Request<Body> {
    Request::get("http://orders/orders/7")
        .header("host", "orders")
        .body(Body::new())
        .unwrap()
}

/// The downstream service: answers at once.
fn downstream() -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone
{
    service_fn(|_request: Request<Body>| async { Ok::<_, Infallible>(Response::new(Body::new())) })
}

fn bench(c: &mut Criterion) {
    // The subscriber every variant runs under, as in a real service.
    let tracer_provider = SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(tracer_provider.tracer("bench")));
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(ManualReader::builder().build())
        .build();
    let meter = meter_provider.meter("bench");

    let mut group = c.benchmark_group("trace_overhead");

    let bare_client = downstream();
    let bare = service_fn(move |_request: Request<Body>| {
        let client = bare_client.clone();
        async move { client.oneshot(request()).await }
    });
    group.bench_function("bare", |b| {
        b.iter(|| black_box(bare.clone().oneshot(request()).now_or_never()))
    });

    for (name, sampler) in [
        ("unsampled", RootSampler::AlwaysOff),
        ("sampled", RootSampler::AlwaysOn),
    ] {
        let telemetry = Telemetry::with_meter("frontend", &meter, sampler, Topology::new());
        let client = telemetry.http_client_layer("orders").layer(downstream());
        let handler = service_fn(move |_request: Request<Body>| {
            let client = client.clone();
            async move { client.oneshot(request()).await }
        });
        let server = telemetry.http_server_layer().layer(handler);
        group.bench_function(name, |b| {
            b.iter(|| black_box(server.clone().oneshot(request()).now_or_never()))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
