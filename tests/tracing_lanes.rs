//! Lanes on spans, end to end: services set up with `Sae` on the stock
//! `axum::serve`, exporting to a real OTLP/gRPC receiver in process.
//!
//! A is the edge: it trusts no peer and has an ingress rule (`/beta/` →
//! `gray`). B is called by A through `sae.client`. One request from the
//! outside claims lane `blue` and caller `payments`, which the edge must
//! drop; its lane comes from the rule, and every span of the trace says so.
//!
//! One test function: `sae_trace::init` installs process-wide providers.

#[path = "support/otlp.rs"]
mod otlp;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::TokioIo;
use sae::{IngressTrust, LaneRules, Sae};
use sae_governance::lane::RuleFormat;
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

use otlp::{GotSpan, KIND_CLIENT, KIND_SERVER};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lane_from_an_ingress_rule_is_on_every_span_and_outside_claims_are_not() {
    let (received, guard) = otlp::start_traced().await;
    let registry = sae_registry::MemoryRegistry::new();

    // B: answers with the lane and caller headers it received.
    let b = Sae::builder("b")
        .registry(registry.clone())
        .telemetry(guard.telemetry("b"))
        .provider(|provider| provider.handle_signals(false))
        .build()
        .unwrap();
    let b_app = Router::new().route(
        "/b",
        get(|headers: HeaderMap| async move {
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or("-")
                    .to_owned()
            };
            format!("{} {}", header("x-sae-tag"), header("x-sae-caller"))
        }),
    );
    let b_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let b_stop = b.shutdown_signal(b_listener.local_addr().unwrap()).unwrap();
    let b_server = tokio::spawn(
        axum::serve(b_listener, b_app.layer(b.layer()))
            .with_graceful_shutdown(b_stop)
            .into_future(),
    );

    // A: the edge.
    let rules = LaneRules::parse(
        "rules: [{ name: beta, lane: gray, path_prefix: /beta/ }]",
        RuleFormat::Yaml,
    )
    .unwrap();
    let a = Sae::builder("a")
        .registry(registry.clone())
        .telemetry(guard.telemetry("a"))
        .lane_rules(rules)
        .ingress_trust(IngressTrust::None)
        .provider(|provider| provider.handle_signals(false))
        .build()
        .unwrap();
    let to_b = a.client("b").unwrap();
    let a_app = Router::new().route(
        "/beta/{what}",
        get(move |headers: HeaderMap| {
            let to_b = to_b.clone();
            async move {
                // What the handler sees of the outside claims: nothing.
                assert!(headers.get("x-sae-tag").is_none());
                assert!(headers.get("x-sae-caller").is_none());
                let request = Request::get("http://b/b").body(Full::default()).unwrap();
                let response = to_b.oneshot(request).await.unwrap();
                let body = response.into_body().collect().await.unwrap().to_bytes();
                (StatusCode::OK, body)
            }
        }),
    );
    let a_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a_addr = a_listener.local_addr().unwrap();
    let a_stop = a.shutdown_signal(a_addr).unwrap();
    let a_server = tokio::spawn(
        axum::serve(a_listener, a_app.layer(a.layer()))
            .with_graceful_shutdown(a_stop)
            .into_future(),
    );
    // Both registered (Serving) before traffic: A's client must know B.
    b.lifecycle().reached(sae::Phase::Serving).await;
    a.lifecycle().reached(sae::Phase::Serving).await;

    let (status, seen_by_b) = outside_get(a_addr, "/beta/7").await;
    assert_eq!(status, StatusCode::OK);
    // B got the lane the rule chose and A's own name, never the claims.
    assert_eq!(seen_by_b, "gray a");

    for sae in [&a, &b] {
        sae.shutdown_handle().shutdown();
    }
    a_server.await.unwrap().unwrap();
    b_server.await.unwrap().unwrap();
    guard.shutdown().await.unwrap();

    let spans: Vec<GotSpan> = received
        .spans()
        .into_iter()
        .filter(|span| span.attr("sae.service").is_some())
        .collect();
    let a_server = only(&spans, |s| {
        s.kind == KIND_SERVER && s.attr("sae.service") == Some("a")
    });
    let a_client = only(&spans, |s| s.kind == KIND_CLIENT);
    let b_server = only(&spans, |s| {
        s.kind == KIND_SERVER && s.attr("sae.service") == Some("b")
    });
    assert_eq!(a_server.attr("sae.lane"), Some("gray"), "{a_server:?}");
    assert_eq!(a_server.attr("sae.caller"), None, "{a_server:?}");
    assert_eq!(a_client.attr("sae.lane"), Some("gray"), "{a_client:?}");
    assert_eq!(b_server.attr("sae.lane"), Some("gray"), "{b_server:?}");
    assert_eq!(b_server.attr("sae.caller"), Some("a"), "{b_server:?}");
    assert_eq!(b_server.trace_id, a_server.trace_id);
}

fn only(spans: &[GotSpan], predicate: impl Fn(&GotSpan) -> bool) -> &GotSpan {
    let found: Vec<&GotSpan> = spans.iter().filter(|s| predicate(s)).collect();
    assert_eq!(found.len(), 1, "{spans:#?}");
    found[0]
}

/// `GET path` as the outside world sends it: claiming lane `blue` (header
/// and baggage) and caller `payments`.
async fn outside_get(addr: std::net::SocketAddr, path: &str) -> (StatusCode, String) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut send, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = Request::get(path)
        .header(http::header::HOST, "sae.test")
        .header("x-sae-tag", "blue")
        .header("baggage", "sae-tag=blue")
        .header("x-sae-caller", "payments")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = send.send_request(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}
