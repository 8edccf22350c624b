use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use sae_core::{Error, Instance, Registry, wire};
use sae_registry::MemoryRegistry;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tower::ServiceExt;

use super::Client;
use super::support::{
    Ping, PingerClient, Provider, SERVED_BY, dead_addr, grpc_provider, http_provider, until,
};
use crate::discovery::DiscoveryMode;

type HttpClient = Client<Full<Bytes>>;

fn http_client(registry: &MemoryRegistry) -> HttpClient {
    Client::builder("orders", Arc::new(registry.clone()))
        .build_http()
        .unwrap()
}

fn get(path: &str) -> Request<Full<Bytes>> {
    Request::get(path).body(Full::default()).unwrap()
}

/// Sends one request and returns (served by, carried the notice, body).
async fn call(client: &HttpClient, path: &str) -> (String, bool, String) {
    let response = client.clone().oneshot(get(path)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let served_by = response.headers()[SERVED_BY].to_str().unwrap().to_owned();
    let notice = response.headers().contains_key(wire::OFFLINE_HEADER);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (served_by, notice, String::from_utf8(body.to_vec()).unwrap())
}

/// Registers instance `id` of `orders` at `addr`.
async fn register(
    registry: &MemoryRegistry,
    id: &str,
    addr: std::net::SocketAddr,
) -> sae_core::Registration {
    let instance = Instance::builder("orders")
        .id(id)
        .addr(addr)
        .build()
        .unwrap();
    registry.register(instance).await.unwrap()
}

async fn register_all(
    registry: &MemoryRegistry,
    providers: &[&Provider],
) -> Vec<sae_core::Registration> {
    let mut registrations = Vec::new();
    for provider in providers {
        registrations.push(registry.register(provider.instance()).await.unwrap());
    }
    registrations
}

fn routes_to(client: &HttpClient, ids: &[&str]) -> bool {
    let mut known: Vec<String> = client
        .endpoints()
        .iter()
        .map(|e| e.id.to_string())
        .collect();
    known.sort();
    known == ids
}

#[tokio::test]
async fn a_notice_evicts_the_endpoint_after_exactly_one_response() {
    let registry = MemoryRegistry::new();
    let (a, b) = (http_provider("a").await, http_provider("b").await);
    a.draining.store(true, Ordering::SeqCst);
    let _registrations = register_all(&registry, &[&a, &b]).await;
    let client = http_client(&registry);
    until(&client, |c| c.endpoints().len() == 2).await;

    let mut sent = 0;
    loop {
        let (served_by, notice, body) = call(&client, "http://orders/").await;
        sent += 1;
        assert_eq!(body, served_by, "the response is used as is");
        if served_by == "a" {
            assert!(notice);
            break;
        }
        assert!(sent < 200, "p2c never chose a in 200 requests");
    }
    for _ in 0..50 {
        assert_eq!(call(&client, "/").await.0, "b");
    }
    assert_eq!(a.hits(), 1);
    assert_eq!(b.hits(), sent - 1 + 50);
    assert_eq!(client.stats().evictions_by_notice, 1);
    assert!(routes_to(&client, &["b"]));
}

#[tokio::test]
async fn requests_in_flight_to_an_evicted_endpoint_complete_normally() {
    let registry = MemoryRegistry::new();
    let a = http_provider("a").await;
    let _registrations = register_all(&registry, &[&a]).await;
    let client = http_client(&registry);
    until(&client, |c| c.endpoints().len() == 1).await;

    let slow = tokio::spawn({
        let client = client.clone();
        async move { call(&client, "/slow").await }
    });
    a.arrived.lock().await.recv().await.unwrap();
    a.draining.store(true, Ordering::SeqCst);
    let (served_by, notice, _) = call(&client, "/").await;
    assert_eq!((served_by.as_str(), notice), ("a", true));
    assert!(client.endpoints().is_empty(), "evicted at once");

    a.release.add_permits(1);
    let (served_by, _, body) = slow.await.unwrap();
    assert_eq!((served_by.as_str(), body.as_str()), ("a", "a"));
    assert_eq!(client.stats().evictions_by_notice, 1);
}

#[tokio::test]
async fn push_empty_protection_keeps_routing_to_the_last_known_set() {
    let registry = MemoryRegistry::new();
    let (a, b) = (http_provider("a").await, http_provider("b").await);
    let registrations = register_all(&registry, &[&a, &b]).await;
    let client = http_client(&registry);
    until(&client, |c| c.endpoints().len() == 2).await;

    for registration in registrations {
        registration.deregister().await.unwrap();
    }
    until(&client, |c| c.stats().withheld_updates == 1).await;
    assert_eq!(client.endpoints().len(), 1, "the last removal is withheld");
    for _ in 0..10 {
        call(&client, "/").await;
    }
    assert_eq!(a.hits() + b.hits(), 10);
}

#[tokio::test]
async fn a_refused_connect_is_retried_on_another_endpoint() {
    let registry = MemoryRegistry::new();
    let live = http_provider("live").await;
    let _dead = register(&registry, "dead", dead_addr().await).await;
    let _live = register_all(&registry, &[&live]).await;
    let client = http_client(&registry);
    until(&client, |c| c.endpoints().len() == 2).await;

    let mut sent = 0;
    while client.stats().connect_ejections == 0 {
        assert_eq!(call(&client, "/").await.0, "live");
        sent += 1;
        assert!(
            sent < 200,
            "p2c never chose the dead endpoint in 200 requests"
        );
    }
    for _ in 0..20 {
        assert_eq!(call(&client, "/").await.0, "live");
    }
    assert_eq!(
        live.hits(),
        sent + 20,
        "every request succeeded on the live endpoint"
    );
    let stats = client.stats();
    assert!(stats.retries >= 1);
    assert_eq!(stats.retries, stats.connect_ejections);
}

/// A non-idempotent request (a POST) that reached the provider is never
/// sent again: the provider may have acted on it.
#[tokio::test]
async fn a_failure_after_the_request_was_written_is_returned_unchanged() {
    let registry = MemoryRegistry::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        // Reads the request head, then hangs up without answering.
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buffer = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let read = stream.read(&mut buffer).await.unwrap();
            assert!(read > 0);
            head.extend_from_slice(&buffer[..read]);
        }
    });
    let _registration = register(&registry, "rude", addr).await;
    let client = http_client(&registry);
    until(&client, |c| c.endpoints().len() == 1).await;

    let post = Request::post("/").body(Full::from("order")).unwrap();
    let error = client.clone().oneshot(post).await.unwrap_err();
    assert!(
        matches!(error, Error::Upstream { ref id, .. } if id == "rude"),
        "{error:?}"
    );
    assert_eq!(
        client.stats().retries,
        0,
        "a written request is never retried"
    );
}

#[tokio::test(start_paused = true)]
async fn no_available_instance_fails_after_the_bounded_wait() {
    let registry = MemoryRegistry::new();
    let client = http_client(&registry);
    let error = client.oneshot(get("/")).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "no available instance of service \"orders\" (waited 3s)"
    );
}

#[tokio::test]
async fn discovery_is_applied_with_no_request_in_flight() {
    let registry = MemoryRegistry::new();
    let client = http_client(&registry);
    let (a, b) = (http_provider("a").await, http_provider("b").await);

    let registration_a = registry.register(a.instance()).await.unwrap();
    until(&client, |c| routes_to(c, &["a"])).await;
    let _registration_b = registry.register(b.instance()).await.unwrap();
    until(&client, |c| routes_to(c, &["a", "b"])).await;
    registration_a.deregister().await.unwrap();
    until(&client, |c| routes_to(c, &["b"])).await;
    assert_eq!(a.hits() + b.hits(), 0);
}

#[tokio::test(start_paused = true)]
async fn polling_discovery_applies_snapshots_each_period() {
    let registry = MemoryRegistry::new();
    let _a = register(&registry, "a", dead_addr().await).await;
    let client: HttpClient = Client::builder("orders", Arc::new(registry.clone()))
        .discovery(DiscoveryMode::Poll(Duration::from_secs(5)))
        .build_http()
        .unwrap();
    until(&client, |c| routes_to(c, &["a"])).await;
    let polls = client.stats().discovery_events;

    let _b = register(&registry, "b", dead_addr().await).await;
    until(&client, |c| routes_to(c, &["a", "b"])).await;
    assert_eq!(
        client.stats().discovery_events,
        polls + 1,
        "seen at the next poll"
    );
}

#[tokio::test]
async fn dropping_the_last_client_stops_discovery() {
    let registry = MemoryRegistry::new();
    let client = http_client(&registry);
    let changes = client.changes();
    let clone = client.clone();
    drop(client);
    assert!(changes.has_changed().is_ok(), "a clone keeps it running");
    drop(clone);
    let mut changes = changes;
    // The balancer (and its change channel) is freed once the task is aborted.
    tokio::time::timeout(Duration::from_secs(10), async {
        while changes.changed().await.is_ok() {}
    })
    .await
    .expect("discovery task still alive");
}

#[tokio::test]
async fn grpc_through_a_tonic_style_client_evicts_on_notice_in_initial_metadata() {
    let registry = MemoryRegistry::new();
    let (a, b) = (grpc_provider("a").await, grpc_provider("b").await);
    a.draining.store(true, Ordering::SeqCst);
    let _registrations = register_all(&registry, &[&a, &b]).await;
    let client: Client<tonic::body::Body> = Client::builder("orders", Arc::new(registry.clone()))
        .build_grpc()
        .unwrap();
    until(&client, |c| c.endpoints().len() == 2).await;

    let mut pinger = PingerClient::new(client.clone());
    let mut sent = 0;
    loop {
        let response = pinger
            .ping(Ping {
                from: "test".into(),
            })
            .await
            .unwrap();
        sent += 1;
        let notice = response.metadata().contains_key(wire::OFFLINE_HEADER);
        let served_by = response.into_inner().served_by;
        assert_eq!(notice, served_by == "a");
        if served_by == "a" {
            break;
        }
        assert!(sent < 200, "p2c never chose a in 200 requests");
    }
    for _ in 0..20 {
        let response = pinger
            .ping(Ping {
                from: "test".into(),
            })
            .await
            .unwrap();
        assert_eq!(response.into_inner().served_by, "b");
    }
    assert_eq!(a.hits(), 1);
    assert_eq!(b.hits(), sent - 1 + 20);
    assert_eq!(client.stats().evictions_by_notice, 1);
}

/// A keep-alive connection the server closed while it sat in the pool: the
/// next request must not be written into it (it would fail after being
/// written, and could not be sent elsewhere). The runtime is current-thread
/// and the close is awaited by blocking it, so hyper's connection task cannot
/// have run and noticed: only the pool's probe can tell.
#[tokio::test(flavor = "current_thread")]
async fn a_pooled_connection_closed_by_the_server_is_not_reused() {
    use std::io::{BufRead, BufReader, Write};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (close_tx, close_rx) = std::sync::mpsc::channel::<()>();
    let (closed_tx, closed_rx) = std::sync::mpsc::channel::<()>();
    // A tiny HTTP/1.1 server on a thread: one request per connection, kept
    // alive until told to close.
    let server = std::thread::spawn(move || {
        let answer = |stream: &mut std::net::TcpStream, body: &str| {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
                line.clear();
            }
            write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
        };
        let (mut first, _) = listener.accept().unwrap();
        answer(&mut first, "first");
        close_rx.recv().unwrap();
        drop(first);
        closed_tx.send(()).unwrap();
        let (mut second, _) = listener.accept().unwrap();
        answer(&mut second, "second");
    });

    let registry = MemoryRegistry::new();
    let _registration = register(&registry, "a", addr).await;
    let client = http_client(&registry);
    until(&client, |c| c.endpoints().len() == 1).await;

    let body = |response: http::Response<super::ClientBody>| async move {
        response.into_body().collect().await.unwrap().to_bytes()
    };
    let first = client.clone().oneshot(get("/")).await.unwrap();
    assert_eq!(body(first).await, "first");

    close_tx.send(()).unwrap();
    // Blocks this single-threaded runtime: the connection task cannot run.
    closed_rx.recv().unwrap();
    let second = client.clone().oneshot(get("/")).await.unwrap();
    assert_eq!(body(second).await, "second");
    server.join().unwrap();
}
