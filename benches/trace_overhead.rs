//! Per-request cost of sae-trace's server + client layers, in one run beside
//! the same stack without them: a server layer around a handler that makes
//! one client call through the client layer to an in-memory service.
//!
//! - `bare`: no trace layers; `bare_parent`: the same with the
//!   `traceparent` header of `unsampled_parent` on the request (subtract it
//!   from that one);
//! - `unsampled`: both layers, no incoming `traceparent` and the root sampler
//!   says no (fresh ids, `-00` propagated, metrics and topology recorded);
//! - `unsampled_parent`: both layers, an incoming unsampled `traceparent`
//!   (`-00`) continued: what every service behind an unsampled edge pays;
//! - `sampled`: both layers, every request sampled: two spans built by
//!   tracing-opentelemetry with an SDK tracer provider that has no exporter,
//!   so the figure is the layers' own cost, not an exporter's.
//!
//! - `server_bare` / `server_unsampled`: a handler that answers at once,
//!   alone and behind the server layer (root sampler says no): the trace
//!   layer's share of the server stack.
//!
//! Every future is ready at once, so each request is polled once with a
//! no-op waker (`now_or_never`): no runtime and no network in the figures.
//! The requests are built and dropped inside the timed loop in every variant;
//! subtract `bare` for the added cost.
//!
//! `cargo bench --bench trace_overhead` (add `-- --quick` for a short run).
//!
//! Instruction counts (repeatable on a busy machine): with
//! `SAE_BENCH_ITERATIONS=<n>` the binary skips criterion and runs each variant
//! named on the command line exactly `n` times, so two runs under
//! `valgrind --tool=callgrind` with different `n` give Ir per request:
//! `(Ir(n2) - Ir(n1)) / (n2 - n1)`.

#![allow(missing_docs)] // criterion_group! generates an undocumented fn

use std::convert::Infallible;
use std::hint::black_box;

use criterion::{Criterion, criterion_group};
use futures_util::FutureExt;
use http::{Request, Response};
use opentelemetry::metrics::Meter;
use sae_trace::{RootSampler, Telemetry, Topology};
use tower::{Layer, Service, ServiceExt, service_fn};

#[path = "support/mod.rs"]
mod support;
use support::Body;
use support::counting::{self, Variant};

const UNSAMPLED_PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";

fn request(traceparent: Option<&'static str>) -> Request<Body> {
    let mut request = Request::get("http://orders/orders/7").header("host", "orders");
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    request.body(Body::new()).unwrap()
}

/// The downstream service: answers at once.
fn downstream() -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone
{
    service_fn(|_request: Request<Body>| async { Ok::<_, Infallible>(Response::new(Body::new())) })
}

/// One closure per variant, each sending one request through its stack.
fn variants(meter: &Meter) -> Vec<Variant> {
    let mut variants: Vec<Variant> = Vec::new();
    for (name, traceparent) in [("bare", None), ("bare_parent", Some(UNSAMPLED_PARENT))] {
        let client = downstream();
        let bare = service_fn(move |_request: Request<Body>| {
            let client = client.clone();
            async move { client.oneshot(request(None)).await }
        });
        variants.push((
            name,
            Box::new(move || {
                black_box(bare.clone().oneshot(request(traceparent)).now_or_never());
            }),
        ));
    }
    for (name, sampler, traceparent) in [
        ("unsampled", RootSampler::AlwaysOff, None),
        (
            "unsampled_parent",
            RootSampler::AlwaysOn,
            Some(UNSAMPLED_PARENT),
        ),
        ("sampled", RootSampler::AlwaysOn, None),
    ] {
        let telemetry = Telemetry::with_meter("frontend", meter, sampler, Topology::new());
        let client = telemetry.http_client_layer("orders").layer(downstream());
        let handler = service_fn(move |_request: Request<Body>| {
            let client = client.clone();
            async move { client.oneshot(request(None)).await }
        });
        let server = telemetry.http_server_layer().layer(handler);
        variants.push((
            name,
            Box::new(move || {
                black_box(server.clone().oneshot(request(traceparent)).now_or_never());
            }),
        ));
    }
    // The server layer alone, around a handler that answers at once: the
    // trace layer's share of issue 7's server stack.
    let answer = service_fn(|_request: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Body::new()))
    });
    variants.push((
        "server_bare",
        Box::new(move || {
            black_box(answer.oneshot(request(None)).now_or_never());
        }),
    ));
    let telemetry = Telemetry::with_meter("orders", meter, RootSampler::AlwaysOff, Topology::new());
    let server = telemetry.http_server_layer().layer(answer);
    variants.push((
        "server_unsampled",
        Box::new(move || {
            black_box(server.clone().oneshot(request(None)).now_or_never());
        }),
    ));
    variants
}

fn bench(c: &mut Criterion) {
    let (meter, _providers) = support::install();
    support::bench_each(c, "trace_overhead", variants(&meter));
}

criterion_group!(benches, bench);

fn main() {
    counting::main(benches, || {
        let (meter, providers) = support::install();
        counting::by_name(variants(&meter), providers)
    });
}
