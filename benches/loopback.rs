//! End to end over loopback TCP: a bare axum server driven by hyper-util's
//! client, against the same handler behind the full sae stack on both sides,
//! at a fixed concurrency, in one run.
//!
//! - `bare`: `axum::serve` of a one-route router; hyper-util's legacy client
//!   (HTTP/1.1, its own keep-alive pool);
//! - `sae`: the same router with sae-trace's server layer (root sampler says
//!   no) and the [`LaneLayer`], served by [`Provider::serve_router`] (in-flight
//!   tracking, offline notice, registration in the in-memory registry); the
//!   consumer is a discovery-fed [`Client`] (HTTP/1.1) under sae-trace's
//!   client layer, unsampled.
//!
//! Server and client share one two-worker tokio runtime in this process
//! (the machine has two cores). `CONCURRENCY` tasks each send a request, read
//! the whole response body, record the latency, and send the next. The
//! variants alternate for `ROUNDS` rounds (a warm-up, then a timed window
//! each), so drift on a shared machine hits both alike. Printed: requests/s
//! per round and their median, p50/p99 latency over all timed requests, and
//! the sae/bare throughput ratio. About 2 × ROUNDS × (0.5 + 2.5) s = 18 s.
//!
//! `cargo bench --bench loopback`.
//!
//! [`LaneLayer`]: sae_governance::LaneLayer
//! [`Provider::serve_router`]: sae_governance::provider::Provider::serve_router

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::{ManualReader, SdkMeterProvider};
use sae_core::Instance;
use sae_governance::Client;
use sae_governance::provider::Provider;
use sae_registry::MemoryRegistry;
use sae_trace::{RootSampler, Telemetry, Topology};
use tokio::net::TcpListener;
use tower::{Layer, Service, ServiceExt};

const CONCURRENCY: usize = 32;
const ROUNDS: usize = 3;
const WARM_UP: Duration = Duration::from_millis(500);
const WINDOW: Duration = Duration::from_millis(2500);

type Body = Empty<Bytes>;

fn router() -> Router {
    Router::new().route("/orders/7", get(|| async { "order 7" }))
}

/// What one timed window gave.
#[derive(Default)]
struct Window {
    requests: usize,
    latencies_us: Vec<u32>,
}

/// Runs `CONCURRENCY` request loops through `client` for the warm-up, then
/// for the timed window, and returns what the window saw.
async fn load<S>(client: S, uri: &'static str) -> Window
where
    S: Service<Request<Body>> + Clone + Send + 'static,
    S::Response: IntoBody,
    S::Error: std::fmt::Debug,
    S::Future: Send,
{
    let timing = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::with_capacity(CONCURRENCY);
    for _ in 0..CONCURRENCY {
        let (client, timing, stop) = (client.clone(), timing.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut window = Window::default();
            while !stop.load(Ordering::Relaxed) {
                let request = Request::get(uri).body(Body::new()).unwrap();
                let sent = Instant::now();
                let response = client.clone().oneshot(request).await.unwrap();
                response.drain().await;
                if timing.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) {
                    window.requests += 1;
                    window.latencies_us.push(sent.elapsed().as_micros() as u32);
                }
            }
            window
        }));
    }
    tokio::time::sleep(WARM_UP).await;
    timing.store(true, Ordering::Relaxed);
    tokio::time::sleep(WINDOW).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = Window::default();
    for task in tasks {
        let window = task.await.unwrap();
        total.requests += window.requests;
        total.latencies_us.extend(window.latencies_us);
    }
    total
}

/// Reads a response to its end, whatever its body type.
trait IntoBody: Send {
    fn drain(self) -> impl std::future::Future<Output = ()> + Send;
}

impl<B> IntoBody for http::Response<B>
where
    B: hyper::body::Body + Send,
    B::Data: Send,
    B::Error: std::fmt::Debug,
{
    async fn drain(self) {
        let body = self.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "order 7");
    }
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

struct Summary {
    per_round: Vec<f64>,
    latencies_us: Vec<u32>,
}

impl Summary {
    fn new() -> Self {
        Summary {
            per_round: Vec::new(),
            latencies_us: Vec::new(),
        }
    }

    fn add(&mut self, window: Window) {
        self.per_round
            .push(window.requests as f64 / WINDOW.as_secs_f64());
        self.latencies_us.extend(window.latencies_us);
    }

    fn print(&mut self, name: &str) -> f64 {
        self.latencies_us.sort_unstable();
        let rounds = self
            .per_round
            .iter()
            .map(|rate| format!("{rate:.0}"))
            .collect::<Vec<_>>()
            .join(", ");
        let median = median(&mut self.per_round.clone());
        println!(
            "loopback/{name}: {median:.0} req/s median (rounds: {rounds}); latency p50 {} µs, p99 {} µs over {} requests",
            percentile(&self.latencies_us, 0.50),
            percentile(&self.latencies_us, 0.99),
            self.latencies_us.len(),
        );
        median
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    // Unsampled telemetry with an in-memory metric reader, as in a real service.
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(ManualReader::builder().build())
        .build();
    let meter = meter_provider.meter("bench");
    let telemetry = |service: &str| {
        Telemetry::with_meter(service, &meter, RootSampler::AlwaysOff, Topology::new())
    };

    // Bare: axum::serve and hyper-util's client.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bare_addr = listener.local_addr().unwrap();
    tokio::spawn(axum::serve(listener, router()).into_future());
    let bare_uri: &'static str = format!("http://{bare_addr}/orders/7").leak();
    let bare_client = HyperClient::builder(TokioExecutor::new()).build_http::<Body>();

    // sae: Provider + lane + trace on the server, Client + trace on the consumer.
    let registry = MemoryRegistry::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let provider = Provider::builder(Instance::builder("orders"), registry.clone())
        .handle_signals(false)
        .build()
        .unwrap();
    // The provider's layer (in-flight, notice, lane) wraps the trace layer.
    let app = router().layer(telemetry("orders").http_server_layer());
    let serving = tokio::spawn(provider.serve_router(listener, app));
    let sae_client = telemetry("frontend").http_client_layer("orders").layer(
        Client::builder("orders", registry)
            .build_http::<Body>()
            .unwrap(),
    );

    let mut bare = Summary::new();
    let mut sae = Summary::new();
    for _ in 0..ROUNDS {
        bare.add(load(bare_client.clone(), bare_uri).await);
        sae.add(load(sae_client.clone(), "http://orders/orders/7").await);
    }
    println!(
        "loopback: {CONCURRENCY} in flight, {ROUNDS} rounds of {WARM_UP:?} warm-up + {WINDOW:?} timed per variant"
    );
    let bare_rate = bare.print("bare");
    let sae_rate = sae.print("sae");
    println!(
        "loopback/ratio: sae / bare = {:.3} (medians)",
        sae_rate / bare_rate
    );
    // Dropping the runtime on return ends the server like a `kill -9`;
    // nothing here needs the graceful sequence.
    drop(serving);
}
