//! The consumer side's cost of choosing an endpoint, beside tower's own
//! balancer in the same run, at 3, 100 and 10,000 endpoints.
//!
//! Every endpoint is the same in-memory service that answers at once (no
//! network, no connection pool), for sae and tower alike, so the figures are
//! the balancing itself. Each variant takes a ready-made request through
//! `poll_ready`, `call` and one poll of the response future (a no-op waker),
//! and drops the response:
//!
//! - `direct`: one endpoint's service called with no balancer: the cost of
//!   the request, the response and the driving, to subtract from the rest;
//! - `tower_p2c_peak_ewma`, `tower_p2c_pending_requests`:
//!   `tower::balance::p2c::Balance` over a `ServiceList` of the endpoints
//!   wrapped in `PeakEwma` (default RTT 30 ms, decay 10 s) or
//!   `PendingRequests`, both completing on the response;
//! - `sae_pick`: [`Balancer::pick`] with no lane, the `InFlight` guard begun
//!   and completed around the endpoint's call (load and peak-EWMA RTT
//!   recorded): sae's balancing alone;
//! - `sae_client_stack`: what [`sae_governance::Client`] does per request
//!   apart from the transport: the outbound lane decision (request context,
//!   else the task's lane), the boxed request future, the discovery-fed
//!   [`Balancer::ready`] (pick with its wait bound), recording the instance
//!   on the current span, `InFlight` begin/complete, the offline-notice
//!   header check on the response, all under sae-trace's client layer with
//!   the root sampler saying no. Left out, because they are the transport
//!   measured end to end in `loopback`: the URI/`Host` rewrite and the
//!   connection pool;
//! - `sae_client_stack_untraced`: the same without the trace layer, to
//!   tell the balancing path from sae-trace's unsampled cost;
//! - `sae_client_protected`: `sae_client_stack_untraced` plus the client's
//!   traffic protection with the default rules, as the client runs it
//!   ([`Call`]): the inbound context read, the policy and breaker of the
//!   call, the retry budget's deposit, the recording of the request for a
//!   retry, the verdict on the answer and the breaker's count of it, and
//!   the check whether the caller serves a request the adaptive limit times.
//!
//! The balancers are fed the same way the client's are: one discovery
//! snapshot ([`Balancer::apply`]); tower's through its `Discover` stream,
//! drained by a first `poll_ready` before timing.
//!
//! `cargo bench --bench client_pick` (add `-- --quick` for a short run).
//!
//! Instruction counts (repeatable on a busy machine): with
//! `SAE_BENCH_ITERATIONS=<n>` the binary skips criterion and runs each variant
//! named on the command line exactly `n` times, by its criterion id (`direct`,
//! `sae_client_stack/3`, `tower_p2c_pending_requests/10000`, ...), after one
//! warm-up request. Two runs under `valgrind --tool=callgrind` with different
//! `n` give Ir per request: `(Ir(n2) - Ir(n1)) / (n2 - n1)`.

#![allow(missing_docs)] // criterion_group! generates an undocumented fn

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::hint::black_box;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group};
use futures_util::FutureExt;
use http::{Request, Response};
use opentelemetry::metrics::Meter;
use sae_core::{Error, RequestContext, ServiceName, WatchEvent, wire};
use sae_governance::balance::{BalanceConfig, Balancer, LaneFallback};
use sae_governance::client::{Call, Protection, Verdict, Waiting};
use sae_governance::protection::ProtectionRules;
use sae_trace::{RootSampler, Telemetry, Topology};
use tower::balance::p2c::Balance;
use tower::discover::ServiceList;
use tower::load::{CompleteOnResponse, PeakEwma, PendingRequests};
use tower::{Layer, Service};

#[path = "support/mod.rs"]
mod support;
use support::counting;
use support::{Answer, Body, one};

/// sae's balancing alone: pick, count the request in flight, call, record.
struct SaePick {
    balancer: Balancer<Answer>,
}

impl Service<Request<Body>> for SaePick {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // One clock read for the pick and the send time, as the client does.
        let now = tokio::time::Instant::now();
        let picked = self
            .balancer
            .pick_at(None, now)
            .expect("endpoints are available");
        let mut service = *picked.state();
        let in_flight = picked.begin();
        let response = service
            .call(request)
            .now_or_never()
            .expect("answers at once");
        in_flight.complete();
        ready(response)
    }
}

/// Looked up per response, as the client does: a `HeaderName`, not a `&str`.
static OFFLINE: http::HeaderName = http::HeaderName::from_static(wire::OFFLINE_HEADER);

/// The client's per-request path without the transport (see the module docs).
#[derive(Clone)]
struct SaeClientStack {
    balancer: Balancer<Answer>,
    wait: Duration,
    /// The client's protection, when the variant measures it.
    protection: Option<Arc<Protection>>,
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<Response<Body>, Error>> + Send>>;

impl Service<Request<Body>> for SaeClientStack {
    type Response = Response<Body>;
    type Error = Error;
    type Future = BoxFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request<Body>) -> BoxFuture {
        // As the client's outbound lane decision (`lane::outbound`).
        let lane = RequestContext::outbound_lane(request.extensions());
        if let Some(lane) = &lane {
            wire::lane::write(request.headers_mut(), lane);
        }
        let balancer = self.balancer.clone();
        let wait = self.wait;
        if let Some(protection) = &self.protection {
            // As `Client::call`: the call begins in the caller's task, the
            // rest runs in one boxed future (as the unprotected path below).
            let protection = Arc::clone(protection);
            let inbound = sae_core::inbound::current();
            let Ok(mut call) = Call::begin(&protection, &request, lane, inbound.as_ref()) else {
                unreachable!("the breaker is closed and there is no deadline");
            };
            let (request, replay) = call.send_body(request);
            let waiting = Waiting::begin();
            return Box::pin(async move {
                let picked = balancer.ready(call.lane(), wait).await?;
                let endpoint = Arc::clone(&picked);
                tracing::Span::current().record("sae.instance.id", endpoint.id().as_str());
                let _until = call.try_until(picked.at());
                let in_flight = picked.begin();
                let mut service = *endpoint.state();
                let response = match service.call(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                let at = tokio::time::Instant::now();
                call.answered();
                let verdict = sae_governance::client::verdict(
                    response.status(),
                    response.headers(),
                    false,
                    call.policy(),
                );
                assert_eq!(verdict, Verdict::Healthy);
                in_flight.complete_at(at);
                call.settle(&protection, false, at);
                drop(replay);
                drop(waiting);
                if response.headers().contains_key(&OFFLINE) {
                    balancer.evict(&endpoint);
                }
                Ok(response)
            });
        }
        Box::pin(async move {
            let picked = balancer.ready(lane.as_ref(), wait).await?;
            let endpoint = std::sync::Arc::clone(&picked);
            tracing::Span::current().record("sae.instance.id", endpoint.id().as_str());
            let in_flight = picked.begin();
            let mut service = *endpoint.state();
            let response = match service.call(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            in_flight.complete();
            if response.headers().contains_key(&OFFLINE) {
                balancer.evict(&endpoint);
            }
            Ok(response)
        })
    }
}

fn request() -> Request<Body> {
    Request::get("http://orders/orders/7")
        .body(Body::new())
        .unwrap()
}

fn sae_balancer(endpoints: usize) -> Balancer<Answer> {
    let balancer = Balancer::new(
        ServiceName::new("orders").unwrap(),
        BalanceConfig::default(),
        LaneFallback::Base,
        |_| Answer,
    );
    balancer.apply(WatchEvent::Snapshot(support::snapshot(endpoints, |_| None)));
    balancer
}

/// tower's p2c over `PeakEwma` endpoints, discovery drained.
fn tower_peak_ewma(
    endpoints: usize,
) -> impl Service<Request<Body>, Response = Response<Body>, Error: std::fmt::Debug> {
    let mut ewma = Balance::new(ServiceList::new::<Request<Body>>((0..endpoints).map(
        |_| {
            PeakEwma::new(
                Answer,
                Duration::from_millis(30),
                Duration::from_secs(10).as_nanos() as f64,
                CompleteOnResponse::default(),
            )
        },
    )));
    black_box(one(&mut ewma, request()));
    ewma
}

/// tower's p2c over `PendingRequests` endpoints, discovery drained.
fn tower_pending_requests(
    endpoints: usize,
) -> impl Service<Request<Body>, Response = Response<Body>, Error: std::fmt::Debug> {
    let mut pending = Balance::new(ServiceList::new::<Request<Body>>(
        (0..endpoints).map(|_| PendingRequests::new(Answer, CompleteOnResponse::default())),
    ));
    black_box(one(&mut pending, request()));
    pending
}

/// The client's protection of calls to `orders`, with the built-in rules.
fn protection() -> Arc<Protection> {
    Arc::new(Protection::new(
        ProtectionRules::default(),
        ServiceName::new("orders").unwrap(),
        None,
    ))
}

/// The unsampled telemetry of the calling service, on the bench's meter.
fn telemetry(meter: &Meter) -> Telemetry {
    Telemetry::with_meter("frontend", meter, RootSampler::AlwaysOff, Topology::new())
}

fn bench(c: &mut Criterion) {
    let (meter, _providers) = support::install();
    let telemetry = telemetry(&meter);

    let mut group = c.benchmark_group("client_pick");
    let mut direct = Answer;
    group.bench_function("direct", |b| {
        b.iter(|| black_box(one(&mut direct, request())))
    });
    for endpoints in [3, 100, 10_000] {
        let mut ewma = tower_peak_ewma(endpoints);
        group.bench_function(BenchmarkId::new("tower_p2c_peak_ewma", endpoints), |b| {
            b.iter(|| black_box(one(&mut ewma, request())))
        });
        drop(ewma);

        let mut pending = tower_pending_requests(endpoints);
        group.bench_function(
            BenchmarkId::new("tower_p2c_pending_requests", endpoints),
            |b| b.iter(|| black_box(one(&mut pending, request()))),
        );
        drop(pending);

        let balancer = sae_balancer(endpoints);
        let mut pick = SaePick {
            balancer: balancer.clone(),
        };
        group.bench_function(BenchmarkId::new("sae_pick", endpoints), |b| {
            b.iter(|| black_box(one(&mut pick, request())))
        });

        let mut protected = SaeClientStack {
            balancer: balancer.clone(),
            wait: Duration::from_secs(1),
            protection: Some(protection()),
        };
        group.bench_function(BenchmarkId::new("sae_client_protected", endpoints), |b| {
            b.iter(|| black_box(one(&mut protected, request())))
        });

        let mut untraced = SaeClientStack {
            balancer,
            wait: Duration::from_secs(1),
            protection: None,
        };
        group.bench_function(
            BenchmarkId::new("sae_client_stack_untraced", endpoints),
            |b| b.iter(|| black_box(one(&mut untraced, request()))),
        );

        let mut stack = telemetry.http_client_layer("orders").layer(untraced);
        group.bench_function(BenchmarkId::new("sae_client_stack", endpoints), |b| {
            b.iter(|| black_box(one(&mut stack, request())))
        });
    }
    group.finish();
}

/// `client_pick <variant>[/<endpoints>]` (3 endpoints when not given), built
/// only when named: the 10,000-endpoint balancers are not built for nothing.
fn find(telemetry: &Telemetry, name: &str) -> Option<counting::Run> {
    let (variant, endpoints) = match name.split_once('/') {
        Some((variant, endpoints)) => (variant, endpoints.parse().ok()?),
        None => (name, 3),
    };
    let untraced = || SaeClientStack {
        balancer: sae_balancer(endpoints),
        wait: Duration::from_secs(1),
        protection: None,
    };
    Some(match variant {
        "direct" => run(Answer),
        "tower_p2c_peak_ewma" => run(tower_peak_ewma(endpoints)),
        "tower_p2c_pending_requests" => run(tower_pending_requests(endpoints)),
        "sae_pick" => run(SaePick {
            balancer: sae_balancer(endpoints),
        }),
        "sae_client_stack_untraced" => run(untraced()),
        "sae_client_protected" => run(SaeClientStack {
            protection: Some(protection()),
            ..untraced()
        }),
        "sae_client_stack" => run(telemetry.http_client_layer("orders").layer(untraced())),
        _ => return None,
    })
}

/// One request through `service` per call.
fn run<S>(mut service: S) -> counting::Run
where
    S: Service<Request<Body>> + 'static,
    S::Error: std::fmt::Debug,
{
    Box::new(move || {
        black_box(one(&mut service, request()));
    })
}

criterion_group!(benches, bench);

fn main() {
    counting::main(benches, || {
        let (meter, providers) = support::install();
        let telemetry = telemetry(&meter);
        move |name: &str| {
            let _keep = &providers;
            find(&telemetry, name)
        }
    });
}
