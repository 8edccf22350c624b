//! Connection hygiene over real loopback sockets, on the real clock: the
//! header-read timeouts here are short and nothing is asserted about
//! durations, only outcomes and their order ("closed" is a read that ends
//! in EOF or a reset). The waits that would hang if the server misbehaved
//! are bounded by [`BOUND`], far above any timeout under test.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use sae_core::Phase;
use sae_registry::MemoryRegistry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Provider, ProviderBuilder};
use crate::provider::test_support::{
    EchoClient, EchoServer, Http1Connection, loopback, orders, shared,
};

/// What no outcome here may take: a hang, not a slow machine.
const BOUND: Duration = Duration::from_secs(60);

/// Half a request head: the request line and one header, no blank line.
const HALF_HEAD: &[u8] = b"GET /hello HTTP/1.1\r\nHost: sae.test\r\n";

fn hello() -> Router {
    Router::new().route("/hello", get(|| async { "hello" }))
}

fn provider(registry: &MemoryRegistry) -> ProviderBuilder {
    Provider::builder(orders(), shared(registry))
        .handle_signals(false)
        .notice_quiet_period(Duration::from_millis(50))
        .notice_max(Duration::from_millis(100))
}

/// How many slow connections the process's file-descriptor limit allows
/// (each takes two descriptors here, client and server side), at most `want`.
fn connection_budget(want: usize) -> usize {
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|line| line.starts_with("Max open files"))
                .and_then(|line| line.split_whitespace().nth(3))
                .and_then(|soft| soft.parse::<usize>().ok())
        })
        .unwrap_or(1024);
    want.min(soft.saturating_sub(256) / 2).max(16)
}

/// Opens a connection and sends `bytes` on it.
async fn open(addr: std::net::SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    stream
}

/// Reads until the server closes the connection (EOF or a reset); returns
/// what it sent before. Panics if that takes longer than [`BOUND`].
async fn closed(stream: &mut TcpStream) -> Vec<u8> {
    let read = async {
        let mut received = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return received,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(BOUND, read)
        .await
        .expect("the server never closed the connection")
}

#[tokio::test]
async fn slow_header_connections_are_closed_while_others_are_served() {
    let slow_count = connection_budget(1000);
    let registry = MemoryRegistry::new();
    let listener = loopback().await;
    let addr = listener.local_addr().unwrap();
    let provider = provider(&registry)
        .header_read_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let handle = provider.shutdown_handle();
    let lifecycle = provider.lifecycle();
    let serving = tokio::spawn(provider.serve_router(listener, hello()));
    lifecycle.reached(Phase::Serving).await;

    let mut slow = Vec::with_capacity(slow_count);
    for _ in 0..slow_count {
        slow.push(open(addr, HALF_HEAD).await);
    }
    // The provider keeps serving others meanwhile.
    let mut connection = Http1Connection::open(addr).await;
    assert_eq!(connection.get("/hello").await.status(), 200);

    // Every slow one is closed, none answered (hyper may say 408 first).
    for stream in &mut slow {
        let received = closed(stream).await;
        assert!(
            received.is_empty() || received.starts_with(b"HTTP/1.1 408"),
            "{:?}",
            String::from_utf8_lossy(&received)
        );
    }
    // And the provider still serves (on a new connection: the header-read
    // timeout also closes an HTTP/1 connection idle that long).
    let mut connection = Http1Connection::open(addr).await;
    assert_eq!(connection.get("/hello").await.status(), 200);

    handle.shutdown();
    let report = tokio::time::timeout(BOUND, serving)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(report.drained);
}

#[tokio::test]
async fn a_drain_does_not_wait_for_connections_without_a_complete_request() {
    let slow_count = connection_budget(1000);
    let registry = MemoryRegistry::new();
    let listener = loopback().await;
    let addr = listener.local_addr().unwrap();
    // Neither the header timeout nor the drain timeout can end the drain
    // here: only closing the connections that sent no request can.
    let provider = provider(&registry)
        .header_read_timeout(Duration::from_secs(3600))
        .drain_timeout(BOUND)
        .build()
        .unwrap();
    let handle = provider.shutdown_handle();
    let lifecycle = provider.lifecycle();
    let serving = tokio::spawn(provider.serve_router(listener, hello()));
    lifecycle.reached(Phase::Serving).await;

    let mut slow = Vec::with_capacity(slow_count + 2);
    for _ in 0..slow_count {
        slow.push(open(addr, HALF_HEAD).await);
    }
    // Silent, and half an HTTP/2 preface.
    slow.push(open(addr, b"").await);
    slow.push(open(addr, b"PRI * HTTP/2.0\r\n").await);
    // A keep-alive connection that was answered and now sits idle.
    let mut answered = Http1Connection::open(addr).await;
    assert_eq!(answered.get("/hello").await.status(), 200);

    handle.shutdown();
    let report = tokio::time::timeout(BOUND, serving)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    // As fast as without them: the drain ended before its timeout.
    assert!(report.drained);
    assert_eq!(report.in_flight_at_stop, 0);
    for stream in &mut slow {
        assert!(closed(stream).await.is_empty());
    }
}

#[tokio::test]
async fn no_complete_head_in_time_is_closed_but_an_idle_http2_client_is_spared() {
    let registry = MemoryRegistry::new();
    let listener = loopback().await;
    let addr = listener.local_addr().unwrap();
    let provider = provider(&registry)
        .header_read_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let handle = provider.shutdown_handle();
    let lifecycle = provider.lifecycle();
    let routes = tonic::service::Routes::new(EchoServer);
    let serving = tokio::spawn(provider.serve_grpc(listener, routes));
    lifecycle.reached(Phase::Serving).await;

    // A gRPC channel connects (the whole preface) and makes no call yet.
    let mut client = EchoClient::connect(addr).await;
    // Connections that never complete a head, accepted after it.
    let mut silent = open(addr, b"").await;
    let mut half_preface = open(addr, b"PRI * HTTP/2.0\r\n").await;
    assert!(closed(&mut silent).await.is_empty());
    assert!(closed(&mut half_preface).await.is_empty());
    // One more, accepted only now: by the time it is closed, the client's
    // own deadline is a whole timeout in the past.
    let mut later = open(addr, b"").await;
    assert!(closed(&mut later).await.is_empty());

    // The idle HTTP/2 client was spared: its connection still works.
    assert_eq!(client.say("hi").await.unwrap().get_ref().message, "hi");

    handle.shutdown();
    let report = tokio::time::timeout(BOUND, serving)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(report.drained);
}

#[tokio::test]
async fn past_the_cap_a_connection_is_closed_at_once_until_one_ends() {
    let registry = MemoryRegistry::new();
    let listener = loopback().await;
    let addr = listener.local_addr().unwrap();
    let provider = provider(&registry)
        .header_read_timeout(Duration::from_secs(3600))
        .max_connections(2)
        .build()
        .unwrap();
    let handle = provider.shutdown_handle();
    let lifecycle = provider.lifecycle();
    let serving = tokio::spawn(provider.serve_router(listener, hello()));
    lifecycle.reached(Phase::Serving).await;

    let first = open(addr, HALF_HEAD).await;
    let _second = open(addr, HALF_HEAD).await;
    // Accepted after those two (the accept queue is first in, first out):
    // closed at once, unanswered.
    let mut third = open(addr, HALF_HEAD).await;
    assert!(closed(&mut third).await.is_empty());

    // One ends; a new connection is served again once the server has seen
    // it end (each try is answered at once, served or closed).
    drop(first);
    let mut served = false;
    for _ in 0..1000 {
        let mut next = open(
            addr,
            b"GET /hello HTTP/1.1\r\nHost: sae.test\r\nConnection: close\r\n\r\n",
        )
        .await;
        if closed(&mut next).await.starts_with(b"HTTP/1.1 200") {
            served = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(served, "a connection ended, yet the cap still refuses");

    handle.shutdown();
    let report = tokio::time::timeout(BOUND, serving)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(report.drained);
}

#[tokio::test]
async fn the_builder_refuses_a_zero_timeout_or_cap() {
    let registry = MemoryRegistry::new();
    for (builder, field) in [
        (
            provider(&registry).header_read_timeout(Duration::ZERO),
            "header_read_timeout",
        ),
        (provider(&registry).max_connections(0), "max_connections"),
        (
            provider(&registry).admin_max_connections(0),
            "admin_max_connections",
        ),
    ] {
        let error = builder.build().unwrap_err().to_string();
        assert!(error.contains(field), "{error}");
    }
}
