//! The client's protection against real providers on loopback: what is
//! retried and what is not, the retry mark, the budget, timeouts and the
//! deadline across two hops, the breaker with its fallback.
//!
//! Tests that depend on time run on a paused clock with a 1 ms ticker (see
//! `provider::test_support::ClockTicker`): timeouts fire only when the test
//! genuinely waits for them, and nothing asserts a duration.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::any;
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use parking_lot::Mutex;
use sae_core::{Error, Instance, Lane, Registry, RequestContext, wire};
use sae_registry::MemoryRegistry;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower::ServiceExt;
use tower_layer::Layer;

use super::{CallTimeout, Client};
use crate::lane::LaneLayer;
use crate::protection::{ProtectionRules, RuleFormat};
use crate::provider::test_support::ClockTicker;

/// How a scripted provider answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Ok,
    /// 503, an unhealthy instance.
    Unavailable,
    /// 503 with `x-sae-rejected`: refused before processing.
    Rejected,
    /// Never answers.
    Hang,
}

/// A provider answering from a script (then `Ok`), recording what it saw.
#[derive(Clone, Default)]
struct Scripted {
    script: Arc<Mutex<VecDeque<Answer>>>,
    always: Arc<Mutex<Option<Answer>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    arrived: Arc<Notify>,
}

/// One request as the provider saw it.
#[derive(Clone, Debug)]
struct Seen {
    retry: Option<String>,
    timeout_ms: Option<u64>,
    body: Bytes,
}

impl Scripted {
    fn script(answers: &[Answer]) -> Self {
        let scripted = Scripted::default();
        scripted.script.lock().extend(answers.iter().copied());
        scripted
    }

    fn always(answer: Answer) -> Self {
        let scripted = Scripted::default();
        *scripted.always.lock() = Some(answer);
        scripted
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().clone()
    }

    async fn start(
        &self,
        registry: &MemoryRegistry,
        id: &str,
    ) -> (SocketAddr, sae_core::Registration) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/{*path}", any(answer))
            .route("/", any(answer))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let instance = Instance::builder("orders")
            .id(id)
            .addr(addr)
            .build()
            .unwrap();
        (addr, registry.register(instance).await.unwrap())
    }
}

async fn answer(
    State(scripted): State<Scripted>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap, &'static str) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    scripted.seen.lock().push(Seen {
        retry: header(wire::RETRY_HEADER),
        timeout_ms: header(wire::TIMEOUT_HEADER).and_then(|v| v.parse().ok()),
        body,
    });
    scripted.arrived.notify_waiters();
    let next = scripted
        .script
        .lock()
        .pop_front()
        .or(*scripted.always.lock())
        .unwrap_or(Answer::Ok);
    let mut out = HeaderMap::new();
    match next {
        Answer::Ok => (StatusCode::OK, out, "ok"),
        Answer::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, out, "sick"),
        Answer::Rejected => {
            wire::rejection::write(&mut out, wire::rejection::Rejection::Concurrency);
            (StatusCode::SERVICE_UNAVAILABLE, out, "busy")
        }
        Answer::Hang => std::future::pending().await,
    }
}

fn client(registry: &MemoryRegistry, rules: Option<&str>) -> Client<Full<Bytes>> {
    let mut builder = Client::builder("orders", registry.clone());
    if let Some(rules) = rules {
        builder = builder.protection(ProtectionRules::parse(rules, RuleFormat::Yaml).unwrap());
    }
    builder.build_http().unwrap()
}

async fn routed(client: &Client<Full<Bytes>>, count: usize) {
    let mut changes = client.changes();
    tokio::time::timeout(Duration::from_secs(10), async {
        while client.endpoints().len() != count {
            changes.changed().await.unwrap();
        }
    })
    .await
    .expect("discovery");
}

async fn status(
    client: &Client<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> (StatusCode, String) {
    let response = client.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn get() -> Request<Full<Bytes>> {
    Request::get("/").body(Full::default()).unwrap()
}

fn post(body: &'static str) -> Request<Full<Bytes>> {
    Request::post("/orders").body(Full::from(body)).unwrap()
}

#[tokio::test]
async fn a_rejection_is_sent_again_whatever_the_method_with_its_body_and_the_retry_mark() {
    let registry = MemoryRegistry::new();
    let provider = Scripted::script(&[Answer::Rejected]);
    let _r = provider.start(&registry, "busy-once").await;
    let client = client(&registry, None);
    routed(&client, 1).await;

    assert_eq!(
        status(&client, post("an order")).await,
        (StatusCode::OK, "ok".into())
    );
    let seen = provider.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].retry, None);
    assert_eq!(
        seen[1].retry.as_deref(),
        Some("2"),
        "the retry is the second attempt"
    );
    assert_eq!(seen[1].body, "an order", "the body was sent again");
    let stats = client.stats();
    assert_eq!((stats.retries, stats.outlier_ejections), (1, 0));
}

#[tokio::test]
async fn a_gateway_failure_is_retried_for_an_idempotent_request_only() {
    let registry = MemoryRegistry::new();
    let provider = Scripted::script(&[Answer::Unavailable, Answer::Unavailable]);
    let _r = provider.start(&registry, "sick-twice").await;
    let client = client(&registry, None);
    routed(&client, 1).await;

    // A POST may have been acted on: its 503 comes back as it is.
    assert_eq!(
        status(&client, post("pay")).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(provider.seen().len(), 1);
    // A GET is sent again.
    assert_eq!(status(&client, get()).await.0, StatusCode::OK);
    assert_eq!(provider.seen().len(), 3);
    assert_eq!(client.stats().retries, 1);
}

#[tokio::test(start_paused = true)]
async fn a_spent_budget_stops_retries() {
    let _ticker = ClockTicker::start();
    let registry = MemoryRegistry::new();
    let provider = Scripted::always(Answer::Unavailable);
    let _r = provider.start(&registry, "sick").await;
    // One retry a second from the reserve, none from the calls.
    let client = client(
        &registry,
        Some(
            "rules: [{ strategy: { kind: retry, attempts: 3, budget_percent: 0, min_per_second: 1, budget_window: 1s } }, \
             { strategy: { kind: disabled, disables: outlier_detection } }]",
        ),
    );
    routed(&client, 1).await;
    for _ in 0..5 {
        assert_eq!(
            status(&client, get()).await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    assert_eq!(client.stats().retries, 1, "the budget allowed one");
    assert_eq!(provider.seen().len(), 6);
}

#[tokio::test]
async fn a_request_that_is_itself_a_retry_is_not_retried_downstream() {
    let registry = MemoryRegistry::new();
    let provider = Scripted::script(&[Answer::Unavailable]);
    let _r = provider.start(&registry, "sick-once").await;
    let downstream = client(&registry, None);
    routed(&downstream, 1).await;

    // A hop serving a retried request calls `orders`.
    let hop = LaneLayer::new().layer(tower::service_fn(move |_: Request<()>| {
        let downstream = downstream.clone();
        async move {
            let response = downstream.oneshot(get()).await?;
            Ok::<_, Error>(response.status())
        }
    }));
    let retried = Request::get("/")
        .header(wire::RETRY_HEADER, "2")
        .body(())
        .unwrap();
    assert_eq!(
        hop.oneshot(retried).await.unwrap(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(provider.seen().len(), 1, "not retried again");
}

#[tokio::test(start_paused = true)]
async fn an_attempt_that_hangs_times_out_and_goes_to_another_endpoint() {
    let _ticker = ClockTicker::start();
    let registry = MemoryRegistry::new();
    let hang = Scripted::always(Answer::Hang);
    let _h = hang.start(&registry, "hangs").await;
    let fine = Scripted::default();
    let _f = fine.start(&registry, "fine").await;
    let client = client(
        &registry,
        Some("rules: [{ strategy: { kind: timeout, timeout: 2s, per_try_timeout: 100ms } }]"),
    );
    routed(&client, 2).await;
    // Until the hanging endpoint got a request (a pick among two is a coin
    // toss until one of them answers): every call still succeeds.
    let mut calls = 0;
    while hang.seen().is_empty() && calls < 64 {
        assert_eq!(status(&client, get()).await, (StatusCode::OK, "ok".into()));
        calls += 1;
    }
    assert_eq!(hang.seen().len(), 1, "the hanging endpoint got a request");
    assert_eq!(
        client.stats().retries,
        1,
        "sent again after its attempt timed out"
    );
    assert_eq!(fine.seen().len(), calls);
    let budget = fine.seen().last().unwrap().timeout_ms.unwrap();
    assert!(
        (1..=2000).contains(&budget),
        "the remaining budget travels on: {budget} ms"
    );
}

#[tokio::test(start_paused = true)]
async fn a_call_timeout_names_the_service_the_instance_and_the_budget() {
    let _ticker = ClockTicker::start();
    let registry = MemoryRegistry::new();
    let hang = Scripted::always(Answer::Hang);
    let _h = hang.start(&registry, "hangs").await;
    let client = client(
        &registry,
        Some("rules: [{ strategy: { kind: retry, attempts: 1 } }]"),
    );
    routed(&client, 1).await;
    let mut request = get();
    request
        .extensions_mut()
        .insert(CallTimeout(Duration::from_millis(250)));
    let error = client.clone().oneshot(request).await.unwrap_err();
    match &error {
        Error::Timeout {
            service,
            id,
            budget,
            ..
        } => {
            assert_eq!(service, "orders");
            assert_eq!(id.as_deref(), Some("hangs"));
            assert_eq!(*budget, Duration::from_millis(250));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    let message = error.to_string();
    assert!(
        message.contains("\"orders\"") && message.contains("hangs") && message.contains("250ms"),
        "{message}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_inbound_deadline_bounds_the_next_hop_and_travels_on() {
    let _ticker = ClockTicker::start();
    let registry = MemoryRegistry::new();
    let provider = Scripted::default();
    let _r = provider.start(&registry, "b").await;
    let downstream = client(&registry, None);
    routed(&downstream, 1).await;
    let hop = LaneLayer::new().layer(tower::service_fn(move |_: Request<()>| {
        let downstream = downstream.clone();
        async move {
            downstream
                .oneshot(get())
                .await
                .map(|response| response.status())
        }
    }));

    // Hop A was given 300 ms: hop B is told at most that.
    let given = Request::get("/")
        .header(wire::TIMEOUT_HEADER, "300")
        .body(())
        .unwrap();
    assert_eq!(hop.clone().oneshot(given).await.unwrap(), StatusCode::OK);
    let told = provider.seen()[0].timeout_ms.unwrap();
    assert!((1..=300).contains(&told), "{told}");

    // A deadline already spent: the call fails at once, nothing is sent.
    let spent = Request::get("/")
        .header(wire::TIMEOUT_HEADER, "0")
        .body(())
        .unwrap();
    let error = hop.oneshot(spent).await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::Timeout {
                which: "the inbound deadline",
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(provider.seen().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_answers_with_its_fallback_then_probes_after_recovery() {
    let _ticker = ClockTicker::start();
    let registry = MemoryRegistry::new();
    let provider = Scripted::always(Answer::Unavailable);
    let _r = provider.start(&registry, "down").await;
    let client = client(
        &registry,
        Some(
            r#"
rules:
  - name: orders-breaker
    strategy: { kind: circuit_breaker, trigger_ratio: 0.5, stat_duration: 10s, min_request_amount: 4, recovery_timeout: 5s }
    fallback: { status: 200, headers: { x-degraded: "1" }, body: "fallback" }
  - strategy: { kind: disabled, disables: retry }
"#,
        ),
    );
    routed(&client, 1).await;
    for _ in 0..4 {
        assert_eq!(
            status(&client, get()).await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    // Open: answered here, nothing sent.
    let response = client.clone().oneshot(get()).await.unwrap();
    assert_eq!(response.headers()["x-degraded"], "1");
    assert_eq!(
        response.into_body().collect().await.unwrap().to_bytes(),
        "fallback"
    );
    assert_eq!(provider.seen().len(), 4);

    // The service recovers; after the recovery timeout one probe closes it.
    *provider.always.lock() = Some(Answer::Ok);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(status(&client, get()).await, (StatusCode::OK, "ok".into()));
    assert_eq!(status(&client, get()).await, (StatusCode::OK, "ok".into()));
    assert_eq!(provider.seen().len(), 6);
}

#[tokio::test]
async fn a_breaker_without_fallback_fails_fast_per_lane() {
    let registry = MemoryRegistry::new();
    let gray = Scripted::always(Answer::Unavailable);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/", any(answer))
        .with_state(gray.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let instance = Instance::builder("orders")
        .id("gray-1")
        .lane("gray")
        .addr(addr)
        .build()
        .unwrap();
    let _g = registry.register(instance).await.unwrap();
    let base = Scripted::default();
    let _b = base.start(&registry, "base-1").await;
    let client = client(
        &registry,
        Some(
            "rules: [{ strategy: { kind: circuit_breaker, min_request_amount: 3 } }, { strategy: { kind: disabled, disables: retry } }]",
        ),
    );
    routed(&client, 2).await;
    let in_gray = || {
        let mut request = get();
        RequestContext {
            lane: Some(Lane::new("gray").unwrap()),
            caller: None,
        }
        .insert_into(request.extensions_mut());
        request
    };
    for _ in 0..3 {
        assert_eq!(
            status(&client, in_gray()).await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    let error = client.clone().oneshot(in_gray()).await.unwrap_err();
    assert!(
        matches!(&error, Error::CircuitOpen { lane: Some(lane), .. } if lane == "gray"),
        "{error:?}"
    );
    assert!(error.to_string().contains("lane \"gray\""), "{error}");
    // Base has a breaker of its own, closed.
    assert_eq!(status(&client, get()).await, (StatusCode::OK, "ok".into()));
    assert_eq!(gray.seen().len(), 3);
}
