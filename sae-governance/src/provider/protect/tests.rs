//! The protection layer on a paused clock: every wait is virtual time, and
//! requests are held and released by the test.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use parking_lot::Mutex;
use sae_core::ServiceName;
use tokio::sync::{Semaphore, mpsc};
use tower::{ServiceExt, service_fn};
use tower_layer::Layer;

use super::{ProtectBody, ProtectLayer};
use crate::lane::{LaneLayer, RuleFormat};
use crate::protection::ProtectionRules;
use crate::provider::Provider;
use crate::provider::test_support::{
    self, ClockTicker, EchoClient, EchoServer, Http1Connection, loopback,
};
use sae_core::Phase;
use sae_registry::MemoryRegistry;

fn rules(yaml: &str) -> ProtectionRules {
    ProtectionRules::parse(yaml, RuleFormat::Yaml).unwrap()
}

fn orders() -> ServiceName {
    ServiceName::new("orders").unwrap()
}

fn get_from(path: &str, caller: Option<&str>) -> Request<Body> {
    let mut request = Request::get(path);
    if let Some(caller) = caller {
        request = request.header("x-sae-caller", caller);
    }
    request.body(Body::empty()).unwrap()
}

async fn status(app: &Router, path: &str) -> StatusCode {
    app.clone()
        .oneshot(get_from(path, None))
        .await
        .unwrap()
        .status()
}

/// Polls `future` once.
async fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    poll_fn(|cx| Poll::Ready(Pin::new(&mut *future).poll(cx))).await
}

/// A `/export` handler that reports each start and finishes only when the
/// test adds a permit to the gate; `/orders/{id}` and `/other` answer at once.
struct Gated {
    router: Router,
    started: mpsc::UnboundedReceiver<()>,
    gate: Arc<Semaphore>,
}

fn gated() -> Gated {
    let (started_tx, started) = mpsc::unbounded_channel();
    let gate = Arc::new(Semaphore::new(0));
    let export = {
        let gate = gate.clone();
        move || {
            let started = started_tx.clone();
            let gate = gate.clone();
            async move {
                let _ = started.send(());
                gate.acquire().await.unwrap().forget();
                "exported"
            }
        }
    };
    let router = Router::new()
        .route("/export", get(export))
        .route("/orders/{id}", get(|| async { "order" }))
        .route("/other", get(|| async { "other" }));
    Gated {
        router,
        started,
        gate,
    }
}

// === rate limits ===

#[tokio::test(start_paused = true)]
async fn rate_limit_per_route_rejects_with_retry_after_until_the_next_period() {
    let layer = ProtectLayer::new(
        rules(
            "rules: [{ name: orders-rate, targets: [{ route: '/orders/{id}' }], \
             strategy: { kind: rate_limit, threshold: 2, stat_duration: 1s } }]",
        ),
        orders(),
    );
    let app = gated().router.layer(layer);

    // The route is the matched one: two different ids count together.
    assert_eq!(status(&app, "/orders/1").await, StatusCode::OK);
    assert_eq!(status(&app, "/orders/2").await, StatusCode::OK);
    let limited = app
        .clone()
        .oneshot(get_from("/orders/3", None))
        .await
        .unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers()["retry-after"], "1");
    assert_eq!(limited.headers()["x-sae-rejected"], "rate-limit");
    let body = limited.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "rejected before processing: rate limit exceeded\n");
    // Another route is not counted.
    assert_eq!(status(&app, "/other").await, StatusCode::OK);

    // A new period admits `threshold` requests again, and no more.
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(status(&app, "/orders/4").await, StatusCode::OK);
    assert_eq!(status(&app, "/orders/5").await, StatusCode::OK);
    assert_eq!(
        status(&app, "/orders/6").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_rounds_the_wait_up_to_whole_seconds() {
    let layer = ProtectLayer::new(
        rules("rules: [{ strategy: { kind: rate_limit, threshold: 1, stat_duration: 90s } }]"),
        orders(),
    );
    let app = gated().router.layer(layer);
    assert_eq!(status(&app, "/other").await, StatusCode::OK);
    tokio::time::advance(Duration::from_millis(500)).await;
    let limited = app.clone().oneshot(get_from("/other", None)).await.unwrap();
    // 89.5 s to go.
    assert_eq!(limited.headers()["retry-after"], "90");
    assert_eq!(super::reject::retry_after_secs(Duration::from_millis(1)), 1);
    assert_eq!(super::reject::retry_after_secs(Duration::from_secs(2)), 2);
    assert_eq!(super::reject::retry_after_secs(Duration::ZERO), 1);
}

#[tokio::test(start_paused = true)]
async fn rate_limit_per_caller_counts_only_the_validated_caller() {
    let rules = rules(
        "rules: [{ name: frontend-rate, targets: [{ caller: frontend }], \
         strategy: { kind: rate_limit, threshold: 1, stat_duration: 1m } }]",
    );
    // The lane layer (outside) validates the caller into the request context.
    let app = gated()
        .router
        .layer(ProtectLayer::new(rules.clone(), orders()))
        .layer(LaneLayer::new());
    let send = |caller| {
        let app = app.clone();
        async move {
            app.oneshot(get_from("/orders/1", caller))
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(send(Some("frontend")).await, StatusCode::OK);
    assert_eq!(send(Some("frontend")).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(send(Some("billing")).await, StatusCode::OK);
    assert_eq!(send(None).await, StatusCode::OK);

    // Without the lane layer the raw header is not believed: the rule has
    // no caller to match.
    let bare = gated().router.layer(ProtectLayer::new(rules, orders()));
    for _ in 0..3 {
        let response = bare
            .clone()
            .oneshot(get_from("/orders/1", Some("frontend")))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
}

#[tokio::test(start_paused = true)]
async fn a_route_target_needs_the_matched_path() {
    let rules = rules(
        "rules: [{ targets: [{ route: '/orders/{id}' }], \
         strategy: { kind: rate_limit, threshold: 1, stat_duration: 1m } }]",
    );
    // Outside the router there is no matched route, only the URI path,
    // which is not the route template.
    let outside = ProtectLayer::new(rules.clone(), orders()).layer(gated().router);
    for _ in 0..3 {
        let response = outside
            .clone()
            .oneshot(get_from("/orders/1", None))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    // A target naming the URI path matches there (as a gRPC method does).
    let by_path = ProtectLayer::new(
        self::rules(
            "rules: [{ targets: [{ route: /orders/1 }], \
             strategy: { kind: rate_limit, threshold: 1, stat_duration: 1m } }]",
        ),
        orders(),
    )
    .layer(gated().router);
    let first = by_path.clone().oneshot(get_from("/orders/1", None)).await;
    assert_eq!(first.unwrap().status(), StatusCode::OK);
    let second = by_path.clone().oneshot(get_from("/orders/1", None)).await;
    assert_eq!(second.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    let third = by_path.oneshot(get_from("/orders/2", None)).await;
    assert_eq!(third.unwrap().status(), StatusCode::OK);
}

// === isolation ===

const EXPORT_ISOLATION: &str = "rules: [{ name: export-isolation, targets: [{ route: /export }], \
     strategy: { kind: concurrency_limit, max_concurrency: 1, queue: 1, queue_timeout: 1h } }]";

#[tokio::test(start_paused = true)]
async fn a_full_limit_queues_a_full_queue_rejects_and_a_freed_slot_runs_the_queued() {
    let Gated {
        router,
        mut started,
        gate,
    } = gated();
    let app = router.layer(ProtectLayer::new(rules(EXPORT_ISOLATION), orders()));

    let first = tokio::spawn(app.clone().oneshot(get_from("/export", None)));
    started.recv().await.unwrap();

    // The limit is reached: the next one waits in the queue.
    let mut queued = Box::pin(app.clone().oneshot(get_from("/export", None)));
    assert!(poll_once(&mut queued).await.is_pending());

    // The queue is full: rejected at once.
    let rejected = app
        .clone()
        .oneshot(get_from("/export", None))
        .await
        .unwrap();
    assert_eq!(rejected.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(rejected.headers()["x-sae-rejected"], "concurrency");
    // Other routes are not isolated by the rule.
    assert_eq!(status(&app, "/other").await, StatusCode::OK);

    // The first one finishes; its slot goes to the queued one.
    gate.add_permits(1);
    assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::OK);
    let queued = tokio::spawn(queued);
    started.recv().await.unwrap();
    gate.add_permits(1);
    assert_eq!(queued.await.unwrap().unwrap().status(), StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn a_queued_request_is_rejected_when_its_wait_times_out() {
    let Gated {
        router,
        mut started,
        gate,
    } = gated();
    let app = router.layer(ProtectLayer::new(
        rules(
            "rules: [{ name: export-isolation, \
             strategy: { kind: concurrency_limit, max_concurrency: 1, queue: 4, queue_timeout: 50ms } }]",
        ),
        orders(),
    ));
    let first = tokio::spawn(app.clone().oneshot(get_from("/export", None)));
    started.recv().await.unwrap();

    // Nothing frees the slot: the (paused) clock runs to the queue timeout.
    let waited = app
        .clone()
        .oneshot(get_from("/orders/1", None))
        .await
        .unwrap();
    assert_eq!(waited.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(waited.headers()["x-sae-rejected"], "concurrency");

    gate.add_permits(1);
    assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::OK);
    // The slot is free again; the queue holds nobody.
    assert_eq!(status(&app, "/orders/1").await, StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn without_a_queue_a_full_limit_rejects_at_once() {
    let Gated {
        router,
        mut started,
        gate,
    } = gated();
    let app = router.layer(ProtectLayer::new(
        rules("rules: [{ strategy: { kind: concurrency_limit, max_concurrency: 2 } }]"),
        orders(),
    ));
    let held: Vec<_> = (0..2)
        .map(|_| tokio::spawn(app.clone().oneshot(get_from("/export", None))))
        .collect();
    started.recv().await.unwrap();
    started.recv().await.unwrap();
    let mut rejected = Box::pin(app.clone().oneshot(get_from("/other", None)));
    // Ready on the first poll: no queue, no wait.
    match poll_once(&mut rejected).await {
        Poll::Ready(response) => {
            assert_eq!(response.unwrap().status(), StatusCode::SERVICE_UNAVAILABLE)
        }
        Poll::Pending => panic!("a full limit without a queue must not wait"),
    }
    gate.add_permits(2);
    for held in held {
        assert_eq!(held.await.unwrap().unwrap().status(), StatusCode::OK);
    }
}

#[tokio::test(start_paused = true)]
async fn a_request_takes_a_slot_in_every_rule_that_matches_it() {
    let Gated {
        router,
        mut started,
        gate,
    } = gated();
    // A whole-service limit of 2 and an /export limit of 1 (queue 1).
    let app = router.layer(ProtectLayer::new(
        rules(
            "rules:\n\
             - { name: service, strategy: { kind: concurrency_limit, max_concurrency: 2 } }\n\
             - { name: export, targets: [{ route: /export }], \
                 strategy: { kind: concurrency_limit, max_concurrency: 1, queue: 1, queue_timeout: 1h } }",
        ),
        orders(),
    ));
    let first = tokio::spawn(app.clone().oneshot(get_from("/export", None)));
    started.recv().await.unwrap();
    // Holds a service slot while it waits for the /export one.
    let mut queued = Box::pin(app.clone().oneshot(get_from("/export", None)));
    assert!(poll_once(&mut queued).await.is_pending());
    let full = app.clone().oneshot(get_from("/other", None)).await.unwrap();
    assert_eq!(full.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(full.headers()["x-sae-rejected"], "concurrency");

    gate.add_permits(2);
    assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::OK);
    assert_eq!(queued.await.unwrap().status(), StatusCode::OK);
    assert_eq!(status(&app, "/other").await, StatusCode::OK);
}

// === adaptive ===

#[tokio::test(start_paused = true)]
async fn the_adaptive_limit_rejects_past_it_as_overload() {
    let Gated {
        router,
        mut started,
        gate,
    } = gated();
    let layer = ProtectLayer::new(
        rules(
            "rules: [{ strategy: { kind: adaptive_concurrency, initial_limit: 1, min_limit: 1, max_limit: 1 } }]",
        ),
        orders(),
    );
    assert_eq!(layer.adaptive_limit(), Some(1));
    let app = router.layer(layer);
    let first = tokio::spawn(app.clone().oneshot(get_from("/export", None)));
    started.recv().await.unwrap();
    let rejected = app.clone().oneshot(get_from("/other", None)).await.unwrap();
    assert_eq!(rejected.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(rejected.headers()["x-sae-rejected"], "overload");
    gate.add_permits(1);
    assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::OK);
    assert_eq!(status(&app, "/other").await, StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn the_adaptive_limit_shrinks_when_latency_rises_and_recovers() {
    let layer = ProtectLayer::new(
        rules(
            "rules: [{ strategy: { kind: adaptive_concurrency, initial_limit: 10, min_limit: 2, max_limit: 100 } }]",
        ),
        orders(),
    );
    let latency_ms = Arc::new(AtomicU64::new(10));
    let app = Router::new()
        .route(
            "/work",
            get({
                let latency_ms = latency_ms.clone();
                move || {
                    let latency = Duration::from_millis(latency_ms.load(Ordering::Relaxed));
                    async move {
                        tokio::time::sleep(latency).await;
                        "done"
                    }
                }
            }),
        )
        .layer(layer.clone());

    // Open-loop load, two requests a millisecond: as latency rises, so
    // does the concurrency it asks for (Little's law).
    let phase = Arc::new(AtomicU64::new(0));
    let load = tokio::spawn({
        let app = app.clone();
        let phase = phase.clone();
        async move {
            let mut requests = Vec::new();
            for _ in 0..16_000 {
                if phase.load(Ordering::Relaxed) == 3 {
                    break;
                }
                for _ in 0..2 {
                    requests.push(tokio::spawn(app.clone().oneshot(get_from("/work", None))));
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let mut rejected = 0;
            for request in requests {
                let response = request.await.unwrap().unwrap();
                if response.status() != StatusCode::OK {
                    assert_eq!(response.headers()["x-sae-rejected"], "overload");
                    rejected += 1;
                }
            }
            rejected
        }
    });

    // 10 ms: the limit grows toward twice the concurrency needed.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let steady = layer.adaptive_limit().unwrap();
    assert!(steady > 20, "grows while latency holds: {steady}");

    // Ten times slower: the limit shrinks.
    latency_ms.store(100, Ordering::Relaxed);
    phase.store(1, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let loaded = layer.adaptive_limit().unwrap();
    assert!(loaded < steady / 2, "shrinks: {loaded} from {steady}");
    assert!(loaded >= 2);

    // Back to normal: it grows again.
    latency_ms.store(10, Ordering::Relaxed);
    phase.store(2, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let recovered = layer.adaptive_limit().unwrap();
    assert!(
        recovered > loaded * 2,
        "recovers: {recovered} from {loaded}"
    );

    phase.store(3, Ordering::Relaxed);
    let rejected = load.await.unwrap();
    assert!(rejected > 0, "the slow phase asked for more than the limit");
}

#[tokio::test(start_paused = true)]
async fn the_default_rules_protect_with_the_adaptive_limit_only() {
    let layer = ProtectLayer::new(ProtectionRules::default(), orders());
    // Nothing measured yet: a first burst is taken up to the highest limit.
    assert_eq!(layer.adaptive_limit(), Some(1000));
    let Gated {
        router,
        mut started,
        gate,
    } = gated();
    let app = router.layer(layer.clone());
    // Light load past the first window: the limit starts at 20.
    for _ in 0..12 {
        tokio::time::advance(Duration::from_millis(10)).await;
        gate.add_permits(1);
        assert_eq!(status(&app, "/export").await, StatusCode::OK);
        started.recv().await.unwrap();
    }
    let limit = layer.adaptive_limit().unwrap();
    assert_eq!(limit, 20);
    let limit = limit as usize;
    let held: Vec<_> = (0..limit)
        .map(|_| tokio::spawn(app.clone().oneshot(get_from("/export", None))))
        .collect();
    for _ in 0..limit {
        started.recv().await.unwrap();
    }
    let rejected = app.clone().oneshot(get_from("/other", None)).await.unwrap();
    assert_eq!(rejected.headers()["x-sae-rejected"], "overload");
    gate.add_permits(limit);
    for held in held {
        assert_eq!(held.await.unwrap().unwrap().status(), StatusCode::OK);
    }
    // Turned off by a rule: nothing limits the service.
    layer
        .rules()
        .reload_str(
            "rules: [{ strategy: { kind: disabled, disables: adaptive_concurrency } }]",
            RuleFormat::Yaml,
        )
        .unwrap();
    assert_eq!(layer.adaptive_limit(), None);
}

// === gRPC ===

#[tokio::test(start_paused = true)]
async fn a_grpc_rejection_is_a_trailers_only_resource_exhausted() {
    let layer = ProtectLayer::new(
        rules(
            "rules: [{ name: say-rate, targets: [{ route: /sae.test.Echo/Say }], \
             strategy: { kind: rate_limit, threshold: 1, stat_duration: 1m } }]",
        ),
        orders(),
    );
    let service = layer.layer(service_fn(|_: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Body::from("reply")))
    }));
    let grpc = || {
        Request::post("/sae.test.Echo/Say")
            .header("content-type", "application/grpc+proto")
            .body(Body::empty())
            .unwrap()
    };
    let first = service.clone().oneshot(grpc()).await.unwrap();
    assert!(!first.body().is_rejection());

    let rejected = service.clone().oneshot(grpc()).await.unwrap();
    // gRPC answers HTTP 200 and puts the status in the headers.
    assert_eq!(rejected.status(), StatusCode::OK);
    assert_eq!(rejected.headers()["content-type"], "application/grpc");
    assert_eq!(rejected.headers()["grpc-status"], "8");
    assert_eq!(
        rejected.headers()["grpc-message"],
        "rejected before processing: rate limit exceeded"
    );
    assert_eq!(rejected.headers()["x-sae-rejected"], "rate-limit");
    assert!(rejected.headers().get("retry-after").is_none());
    // Trailers-only: the header block ends the stream.
    let body: ProtectBody<Body> = rejected.into_body();
    assert!(http_body::Body::is_end_stream(&body));
    assert!(body.collect().await.unwrap().to_bytes().is_empty());
}

// === hot swap ===

#[tokio::test(start_paused = true)]
async fn a_swap_rebuilds_changed_rules_keeps_unchanged_ones_and_running_requests_keep_their_slots()
{
    let Gated {
        router,
        mut started,
        gate,
    } = gated();
    let rules = rules(EXPORT_ISOLATION);
    let app = router.layer(ProtectLayer::new(rules.clone(), orders()));
    let first = tokio::spawn(app.clone().oneshot(get_from("/export", None)));
    started.recv().await.unwrap();

    // A bigger limit: a fresh rule, whose slots the running request does
    // not hold, so two more are admitted.
    rules
        .reload_str(
            "rules: [{ name: export-isolation, targets: [{ route: /export }], \
             strategy: { kind: concurrency_limit, max_concurrency: 2 } }]",
            RuleFormat::Yaml,
        )
        .unwrap();
    let more: Vec<_> = (0..2)
        .map(|_| tokio::spawn(app.clone().oneshot(get_from("/export", None))))
        .collect();
    started.recv().await.unwrap();
    started.recv().await.unwrap();
    let rejected = app
        .clone()
        .oneshot(get_from("/export", None))
        .await
        .unwrap();
    assert_eq!(rejected.status(), StatusCode::SERVICE_UNAVAILABLE);
    // All finish; the first returns its slot to the old rule's slots.
    gate.add_permits(3);
    assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::OK);
    for more in more {
        assert_eq!(more.await.unwrap().unwrap().status(), StatusCode::OK);
    }

    // A spent rate limit stays spent across a swap that leaves it as it is.
    let rate = "- { name: rate, strategy: { kind: rate_limit, threshold: 1, stat_duration: 1h } }";
    rules
        .reload_str(&format!("rules:\n{rate}"), RuleFormat::Yaml)
        .unwrap();
    assert_eq!(status(&app, "/other").await, StatusCode::OK);
    assert_eq!(status(&app, "/other").await, StatusCode::TOO_MANY_REQUESTS);
    rules
        .reload_str(
            &format!(
                "rules:\n{rate}\n- {{ targets: [{{ service: reports }}], strategy: {{ kind: timeout, timeout: 1s }} }}"
            ),
            RuleFormat::Yaml,
        )
        .unwrap();
    assert_eq!(status(&app, "/other").await, StatusCode::TOO_MANY_REQUESTS);
    // Removed: nothing limits the route any more.
    rules.reload_str("rules: []", RuleFormat::Yaml).unwrap();
    assert_eq!(status(&app, "/other").await, StatusCode::OK);
    // A bad update is refused and the running rules stay.
    assert!(
        rules
            .reload_str(
                "rules: [{ strategy: { kind: rate_limit, threshold: 0 } }]",
                RuleFormat::Yaml
            )
            .is_err()
    );
    assert_eq!(status(&app, "/other").await, StatusCode::OK);
}

// === events ===

/// The fields of one event, by name.
type Fields = BTreeMap<String, String>;

/// Events recorded, shared.
type Recorded = Arc<Mutex<Vec<Fields>>>;

/// Records the events named `sae.rejected` with their fields.
#[derive(Clone, Default)]
struct Recorder(Recorded);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Recorder {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().name() != sae_core::wire::event::REJECTED {
            return;
        }
        struct Visitor(Fields);
        impl tracing::field::Visit for Visitor {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.insert(
                    field.name().to_owned(),
                    format!("{value:?}").trim_matches('"').to_owned(),
                );
            }
        }
        let mut visitor = Visitor(Fields::new());
        event.record(&mut visitor);
        self.0.lock().push(visitor.0);
    }
}

/// The `sae.rejected` events of the whole test process. The recorder is
/// the global default, installed once: tracing caches each callsite's
/// interest process-wide, and with a per-thread subscriber a test thread
/// without one can settle that cache to "nobody listens" at any moment.
fn rejected_events() -> Recorded {
    use tracing_subscriber::layer::SubscriberExt;

    static EVENTS: std::sync::OnceLock<Recorded> = std::sync::OnceLock::new();
    EVENTS
        .get_or_init(|| {
            let recorder = Recorder::default();
            tracing::subscriber::set_global_default(
                tracing_subscriber::registry().with(recorder.clone()),
            )
            .expect("no other global subscriber in this test binary");
            recorder.0
        })
        .clone()
}

#[tokio::test(start_paused = true)]
async fn each_rejection_is_a_sae_rejected_event() {
    let events = rejected_events();
    let app = gated()
        .router
        .layer(ProtectLayer::new(
            rules(
                "rules: [{ name: events-frontend-rate, targets: [{ caller: frontend }], \
                 strategy: { kind: rate_limit, threshold: 1, stat_duration: 1m } }]",
            ),
            orders(),
        ))
        .layer(LaneLayer::new());
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let response = app
            .clone()
            .oneshot(get_from("/orders/7", Some("frontend")))
            .await
            .unwrap();
        statuses.push(response.status());
    }
    assert_eq!(statuses, [StatusCode::OK, StatusCode::TOO_MANY_REQUESTS]);
    let ours: Vec<_> = events
        .lock()
        .iter()
        .filter(|event| event.get("rule").map(String::as_str) == Some("events-frontend-rate"))
        .cloned()
        .collect();
    assert_eq!(ours.len(), 1, "{ours:?}");
    let event = &ours[0];
    assert_eq!(event["service"], "orders");
    assert_eq!(event["reason"], "rate-limit");
    assert_eq!(event["route"], "/orders/{id}");
    assert_eq!(event["caller"], "frontend");
    assert_eq!(event["grpc"], "false");
}

// === the provider ===

fn provider(registry: &MemoryRegistry, rules: ProtectionRules) -> Provider {
    Provider::builder(test_support::orders(), test_support::shared(registry))
        .handle_signals(false)
        .notice_quiet_period(Duration::from_secs(1))
        .notice_max(Duration::from_secs(2))
        .protection(rules)
        .build()
        .unwrap()
}

fn hello() -> Router {
    Router::new().route("/hello", get(|| async { "hello" }))
}

#[tokio::test(start_paused = true)]
async fn serve_router_protects_each_matched_route() {
    let _ticker = ClockTicker::start();
    let registry = MemoryRegistry::new();
    let listener = loopback().await;
    let addr = listener.local_addr().unwrap();
    let rules = ProtectionRules::parse(
        "rules: [{ name: orders-rate, targets: [{ route: '/orders/{id}' }], \
         strategy: { kind: rate_limit, threshold: 1, stat_duration: 1h } }]",
        RuleFormat::Yaml,
    )
    .unwrap();
    let provider = provider(&registry, rules);
    let handle = provider.shutdown_handle();
    let lifecycle = provider.lifecycle();
    let router = hello().route("/orders/{id}", get(|| async { "order" }));
    let serving = tokio::spawn(provider.serve_router(listener, router));
    lifecycle.reached(Phase::Serving).await;

    let mut connection = Http1Connection::open(addr).await;
    assert_eq!(connection.get("/orders/1").await.status(), 200);
    let limited = connection.get("/orders/2").await;
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["x-sae-rejected"], "rate-limit");
    assert_eq!(connection.get("/hello").await.status(), 200);

    handle.shutdown();
    assert!(serving.await.unwrap().unwrap().drained);
}

#[tokio::test(start_paused = true)]
async fn serve_grpc_rejects_with_resource_exhausted() {
    let _ticker = ClockTicker::start();
    let registry = MemoryRegistry::new();
    let listener = loopback().await;
    let addr = listener.local_addr().unwrap();
    let rules = ProtectionRules::parse(
        "rules: [{ name: say-rate, targets: [{ route: /sae.test.Echo/Say }], \
         strategy: { kind: rate_limit, threshold: 1, stat_duration: 1h } }]",
        RuleFormat::Yaml,
    )
    .unwrap();
    let provider = provider(&registry, rules);
    let handle = provider.shutdown_handle();
    let lifecycle = provider.lifecycle();
    let routes = tonic::service::Routes::new(EchoServer);
    let serving = tokio::spawn(provider.serve_grpc(listener, routes));
    lifecycle.reached(Phase::Serving).await;

    let mut client = EchoClient::connect(addr).await;
    assert_eq!(client.say("hi").await.unwrap().get_ref().message, "hi");
    let rejected = client.say("hi").await.unwrap_err();
    assert_eq!(
        rejected.code(),
        tonic::Code::ResourceExhausted,
        "{rejected:?}"
    );
    assert_eq!(
        rejected.metadata().get("x-sae-rejected").unwrap(),
        "rate-limit"
    );

    handle.shutdown();
    assert!(serving.await.unwrap().unwrap().drained);
}
