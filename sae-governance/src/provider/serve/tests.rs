//! The whole sequence over real loopback sockets, on a paused clock.
//!
//! A paused clock with real sockets needs care: tokio advances a paused
//! clock whenever the runtime looks idle, and it can look idle for a moment
//! while bytes are still crossing loopback. Each test therefore runs a
//! [`ClockTicker`] (a 1 ms timer), which bounds such a jump to 1 ms, while
//! the windows under test last seconds. Time-outs then fire only when the
//! test genuinely waits for them (the notice window ending, a drain or
//! deregistration timing out), and nothing is asserted about durations.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use futures_util::StreamExt;
use parking_lot::Mutex;
use sae_core::{Phase, RemovalReason, ServiceName, WatchEvent, WatchStream};
use sae_registry::MemoryRegistry;
use tokio::sync::{mpsc, oneshot};

use super::Provider;
use crate::provider::Trigger;
use crate::provider::test_support::{
    ClockTicker, EchoClient, EchoServer, HangingRegistry, Http1Connection, loopback, orders, shared,
};

const QUIET: Duration = Duration::from_secs(10);

/// A provider of `orders` that ignores signals and stamps the notice for
/// one quiet period (at most two).
fn quick_provider(registry: Arc<dyn sae_core::Registry>) -> super::ProviderBuilder {
    Provider::builder(orders(), registry)
        .handle_signals(false)
        .notice_quiet_period(QUIET)
        .notice_max(2 * QUIET)
}

fn hello() -> Router {
    Router::new().route("/hello", get(|| async { "hello" }))
}

async fn watch(registry: &MemoryRegistry) -> WatchStream {
    use sae_core::Registry;
    let service = ServiceName::new("orders").unwrap();
    let mut watch = registry.watch(&service).await.unwrap();
    assert!(matches!(watch.next().await, Some(WatchEvent::Snapshot(s)) if s.instances.is_empty()));
    watch
}

async fn next_upsert(watch: &mut WatchStream) -> sae_core::Instance {
    match watch.next().await {
        Some(WatchEvent::Upsert(entry)) => entry.instance,
        other => panic!("expected a registration, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn http_sequence_deregisters_first_then_stamps_then_stops() {
    let _ticker = ClockTicker::start();
    let registry = MemoryRegistry::new();
    let mut watch = watch(&registry).await;
    let listener = loopback().await;
    let addr = listener.local_addr().unwrap();
    let provider = quick_provider(shared(&registry)).build().unwrap();
    let handle = provider.shutdown_handle();
    let lifecycle = provider.lifecycle();
    let serving = tokio::spawn(provider.serve_router(listener, hello()));

    let registered = next_upsert(&mut watch).await;
    assert_eq!(registered.addr(), addr);
    assert_eq!(lifecycle.phase(), Phase::Serving);

    let mut connection = Http1Connection::open(addr).await;
    let before = connection.get("/hello").await;
    assert_eq!(before.status(), 200);
    assert!(before.headers().get("x-sae-offline").is_none());
    assert!(before.headers().get("connection").is_none());

    handle.shutdown();
    // The registry hears first ...
    match watch.next().await {
        Some(WatchEvent::Remove { id, reason, .. }) => {
            assert_eq!(id.as_str(), "orders-1");
            assert_eq!(reason, RemovalReason::Deregistered);
        }
        other => panic!("expected a deregistration, got {other:?}"),
    }
    // ... while the same pooled connection is still answered, with the notice.
    assert!(lifecycle.is_draining());
    let during = connection.get("/hello").await;
    assert_eq!(during.status(), 200);
    assert_eq!(during.body().as_ref(), b"hello");
    assert_eq!(during.headers()["x-sae-offline"], "orders-1");
    assert_eq!(during.headers()["connection"], "close");

    let report = serving.await.unwrap().unwrap();
    assert_eq!(lifecycle.phase(), Phase::Stopped);
    assert!(report.registered);
    assert!(report.deregistered);
    assert!(report.drained);
    assert_eq!(report.trigger, Some(Trigger::Handle));
    // (Whether the port now refuses is not asserted: a test running in
    // parallel may have been given the freed port.)
}

#[tokio::test(start_paused = true)]
async fn grpc_sequence_stamps_replies_and_trailers_only_errors() {
    let _ticker = ClockTicker::start();
    let registry = MemoryRegistry::new();
    let mut watch = watch(&registry).await;
    let listener = loopback().await;
    let addr = listener.local_addr().unwrap();
    let provider = quick_provider(shared(&registry)).build().unwrap();
    let handle = provider.shutdown_handle();
    let lifecycle = provider.lifecycle();
    let routes = tonic::service::Routes::new(EchoServer);
    let serving = tokio::spawn(provider.serve_grpc(listener, routes));
    assert_eq!(next_upsert(&mut watch).await.addr(), addr);

    let mut client = EchoClient::connect(addr).await;
    let before = client.say("hi").await.unwrap();
    assert_eq!(before.get_ref().message, "hi");
    assert!(before.metadata().get("x-sae-offline").is_none());

    handle.shutdown();
    assert!(matches!(
        watch.next().await,
        Some(WatchEvent::Remove { .. })
    ));

    let during = client.say("hi").await.unwrap();
    assert_eq!(during.get_ref().message, "hi");
    assert_eq!(during.metadata().get("x-sae-offline").unwrap(), "orders-1");
    // HTTP/2 gets a GOAWAY, never a connection header.
    assert!(during.metadata().get("connection").is_none());

    let failed = client.say("fail").await.unwrap_err();
    assert_eq!(failed.code(), tonic::Code::Unavailable, "{failed:?}");
    assert_eq!(failed.metadata().get("x-sae-offline").unwrap(), "orders-1");

    let report = serving.await.unwrap().unwrap();
    assert!(report.deregistered);
    assert_eq!(lifecycle.phase(), Phase::Stopped);
}

/// A `/slow` route whose first request reports its start and waits for a release.
fn slow_router() -> (Router, mpsc::UnboundedReceiver<()>, oneshot::Sender<()>) {
    let (started_tx, started) = mpsc::unbounded_channel();
    let (release, released) = oneshot::channel::<()>();
    let released = Arc::new(Mutex::new(Some(released)));
    let router = Router::new().route(
        "/slow",
        get(move || {
            let started = started_tx.clone();
            let released = released.lock().take();
            async move {
                let _ = started.send(());
                if let Some(released) = released {
                    let _ = released.await;
                }
                "done"
            }
        }),
    );
    (router, started, release)
}

#[tokio::test(start_paused = true)]
async fn in_flight_requests_finish_during_drain() {
    let _ticker = ClockTicker::start();
    let registry = MemoryRegistry::new();
    let listener = loopback().await;
    let addr = listener.local_addr().unwrap();
    let provider = Provider::builder(orders(), shared(&registry))
        .handle_signals(false)
        .notice_quiet_period(Duration::from_secs(1))
        .notice_max(Duration::from_secs(2))
        .drain_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let handle = provider.shutdown_handle();
    let lifecycle = provider.lifecycle();
    let in_flight = provider.in_flight();
    let (router, mut started, release) = slow_router();
    let serving = tokio::spawn(provider.serve_router(listener, router));
    lifecycle.reached(Phase::Serving).await;

    let slow = tokio::spawn(async move { Http1Connection::open(addr).await.get("/slow").await });
    started.recv().await.unwrap();
    assert_eq!(in_flight.count(), 1);

    handle.shutdown();
    handle.notice_window_closed().await;
    // The graceful shutdown has begun and is waiting for the request.
    assert_eq!(lifecycle.phase(), Phase::Draining);
    release.send(()).unwrap();

    let response = slow.await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.body().as_ref(), b"done");
    let report = serving.await.unwrap().unwrap();
    assert!(report.drained);
    assert_eq!(report.in_flight_at_stop, 0);
    assert_eq!(lifecycle.phase(), Phase::Stopped);
}

#[tokio::test(start_paused = true)]
async fn drain_timeout_drops_requests_that_never_finish() {
    let _ticker = ClockTicker::start();
    let registry = MemoryRegistry::new();
    let listener = loopback().await;
    let addr = listener.local_addr().unwrap();
    let provider = Provider::builder(orders(), shared(&registry))
        .handle_signals(false)
        .notice_quiet_period(Duration::from_secs(1))
        .notice_max(Duration::from_secs(2))
        .drain_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let handle = provider.shutdown_handle();
    let lifecycle = provider.lifecycle();
    let (router, mut started, _never_released) = slow_router();
    let serving = tokio::spawn(provider.serve_router(listener, router));
    lifecycle.reached(Phase::Serving).await;

    let mut connection = Http1Connection::open(addr).await;
    let slow = tokio::spawn(async move {
        connection
            .send(crate::provider::test_support::get("/slow"))
            .await
    });
    started.recv().await.unwrap();
    handle.shutdown();

    let report = serving.await.unwrap().unwrap();
    assert!(!report.drained);
    assert_eq!(report.in_flight_at_stop, 1);
    assert_eq!(lifecycle.phase(), Phase::Stopped);
    // Its connection was dropped with the serve future.
    assert!(slow.await.unwrap().is_err());
}

#[tokio::test(start_paused = true)]
async fn hanging_registry_does_not_block_the_drain() {
    let _ticker = ClockTicker::start();
    let registry = HangingRegistry::default();
    let mut watch = watch(&registry.inner).await;
    let listener = loopback().await;
    let addr = listener.local_addr().unwrap();
    let provider = quick_provider(Arc::new(registry.clone()))
        .deregister_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let handle = provider.shutdown_handle();
    let lifecycle = provider.lifecycle();
    let serving = tokio::spawn(provider.serve_router(listener, hello()));
    next_upsert(&mut watch).await;

    handle.shutdown();
    // Deregistration hangs, yet the provider is draining and keeps answering with the notice.
    lifecycle.reached(Phase::Draining).await;
    let during = Http1Connection::open(addr).await.get("/hello").await;
    assert_eq!(during.headers()["x-sae-offline"], "orders-1");
    let report = serving.await.unwrap().unwrap();
    assert!(report.registered);
    assert!(!report.deregistered);
    assert!(report.drained);
    assert_eq!(lifecycle.phase(), Phase::Stopped);
}

#[tokio::test(start_paused = true)]
async fn without_the_notice_the_provider_closes_right_after_deregistering() {
    let _ticker = ClockTicker::start();
    let registry = MemoryRegistry::new();
    let mut watch = watch(&registry).await;
    let listener = loopback().await;
    let addr = listener.local_addr().unwrap();
    let provider = quick_provider(shared(&registry))
        .offline_notice(false)
        .build()
        .unwrap();
    let handle = provider.shutdown_handle();
    let serving = tokio::spawn(provider.serve_router(listener, hello()));
    next_upsert(&mut watch).await;
    let mut connection = Http1Connection::open(addr).await;
    assert!(
        connection
            .get("/hello")
            .await
            .headers()
            .get("x-sae-offline")
            .is_none()
    );

    handle.shutdown();
    let report = serving.await.unwrap().unwrap();
    assert!(report.deregistered);
    assert!(report.notice_window.is_zero());
}

#[tokio::test(start_paused = true)]
async fn readiness_gates_registration_and_a_trigger_while_starting_stops_cleanly() {
    let _ticker = ClockTicker::start();
    let registry = MemoryRegistry::new();
    let listener = loopback().await;
    let (probed_tx, mut probed) = mpsc::unbounded_channel();
    let provider = Provider::builder(orders(), shared(&registry))
        .handle_signals(false)
        .readiness(move || {
            let _ = probed_tx.send(());
            async { false }
        })
        .build()
        .unwrap();
    let handle = provider.shutdown_handle();
    let lifecycle = provider.lifecycle();
    let serving = tokio::spawn(provider.serve_router(listener, hello()));
    probed.recv().await.unwrap();
    probed.recv().await.unwrap();
    assert_eq!(lifecycle.phase(), Phase::Starting);

    handle.shutdown();
    let report = serving.await.unwrap().unwrap();
    assert!(!report.registered);
    assert!(!report.deregistered);
    assert_eq!(lifecycle.phase(), Phase::Stopped);
    let listed = {
        use sae_core::Registry;
        registry
            .list(&ServiceName::new("orders").unwrap())
            .await
            .unwrap()
    };
    assert!(listed.instances.is_empty());
}

#[tokio::test(start_paused = true)]
async fn dropping_the_serve_future_leaves_the_lease_to_expire() {
    let _ticker = ClockTicker::start();
    let registry = MemoryRegistry::with_ttl(Duration::from_secs(3));
    let mut watch = watch(&registry).await;
    let listener = loopback().await;
    let addr = listener.local_addr().unwrap();
    let provider = Provider::builder(orders(), shared(&registry))
        .handle_signals(false)
        .build()
        .unwrap();
    let lifecycle = provider.lifecycle();
    let serving = tokio::spawn(provider.serve_router(listener, hello()));
    next_upsert(&mut watch).await;
    let mut connection = Http1Connection::open(addr).await;
    assert_eq!(connection.get("/hello").await.status(), 200);

    serving.abort();
    assert!(serving.await.unwrap_err().is_cancelled());
    // No deregistration: the entry leaves only when its lease expires.
    match watch.next().await {
        Some(WatchEvent::Remove { reason, .. }) => assert_eq!(reason, RemovalReason::Expired),
        other => panic!("expected an expiry, got {other:?}"),
    }
    assert_eq!(lifecycle.phase(), Phase::Serving);
    // The open connection was dropped too.
    assert!(
        connection
            .send(crate::provider::test_support::get("/hello"))
            .await
            .is_err()
    );
}
