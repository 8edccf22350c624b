//! Tracing end to end over HTTP: a real OTLP/gRPC receiver in process, and
//! services A → B on loopback, A calling B through sae's balancing client.
//!
//! One test function: `sae_trace::init` installs process-wide providers and
//! the global subscriber, so the scenarios share one set-up and run in order.
//! The runtime is multi-threaded because the SDK's flush blocks a thread
//! while the export task (on the runtime) runs.

#[path = "support/otlp.rs"]
mod otlp;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::TokioIo;
use sae_core::{Instance, Registry};
use sae_governance::Client;
use sae_registry::MemoryRegistry;
use tokio::net::{TcpListener, TcpStream};
use tower::{ServiceBuilder, ServiceExt};
use tracing::Instrument;

use otlp::{GotSpan, KIND_CLIENT, KIND_SERVER, STATUS_ERROR};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_is_one_trace_through_a_and_b() {
    let (received, guard) = otlp::start_traced().await;
    let topology = guard.topology().clone();
    let registry = MemoryRegistry::new();

    // B answers with the traceparent it received; /b/boom fails with a 500.
    let telemetry_b = guard.telemetry("b");
    let b_app = Router::new()
        .route(
            "/b/{id}",
            get(|Path(id): Path<String>, headers: HeaderMap| async move {
                let traceparent = headers
                    .get("traceparent")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                if id == "boom" {
                    (StatusCode::INTERNAL_SERVER_ERROR, traceparent)
                } else {
                    (StatusCode::OK, traceparent)
                }
            }),
        )
        .layer(telemetry_b.http_server_layer());
    let b_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let b_addr = b_listener.local_addr().unwrap();
    tokio::spawn(axum::serve(b_listener, b_app).into_future());
    let b_instance = Instance::builder("b").addr(b_addr).build().unwrap();
    let b_id = b_instance.id().to_string();
    let _registration = registry.register(b_instance).await.unwrap();

    // A calls B through sae's client, traced by the client layer.
    let telemetry_a = guard.telemetry("a");
    let client = Client::builder("b", registry.clone())
        .build_http::<Full<Bytes>>()
        .unwrap();
    let to_b = ServiceBuilder::new()
        .layer(telemetry_a.http_client_layer("b"))
        .service(client);
    let a_app = Router::new()
        .route(
            "/a/{what}",
            get(move |Path(what): Path<String>| {
                let to_b = to_b.clone();
                async move {
                    tracing::info!("handling a");
                    // The handler's own span, entered only by a spawned task:
                    // a child of A's server span when sampled, and no span at
                    // all (no orphan root) when not.
                    let work = async {}.instrument(tracing::info_span!("a handler work"));
                    tokio::spawn(work).await.unwrap();
                    let request = Request::get(format!("http://b/b/{what}"))
                        .body(Full::default())
                        .unwrap();
                    let response = to_b.oneshot(request).await.unwrap();
                    let status = response.status();
                    let body = response.into_body().collect().await.unwrap().to_bytes();
                    (status, body)
                }
            }),
        )
        .layer(telemetry_a.http_server_layer());
    let a_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a_addr = a_listener.local_addr().unwrap();
    tokio::spawn(axum::serve(a_listener, a_app).into_future());

    // 1. a new trace; 2. a continued one; 3. a malformed traceparent;
    // 4. an unsampled parent; 5. B fails.
    let sampled_parent = format!("00-{TRACE_ID}-{PARENT_ID}-01");
    let unsampled_trace = "0af7651916cd43dd8448eb211c80319c";
    let unsampled_parent = format!("00-{unsampled_trace}-b7ad6b7169203331-00");
    let (status, _) = send_get(a_addr, "/a/7", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send_get(a_addr, "/a/7", Some(&sampled_parent)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send_get(a_addr, "/a/7", Some("00-not-a-trace-parent-zz")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, seen_by_b) = send_get(a_addr, "/a/7", Some(&unsampled_parent)).await;
    assert_eq!(status, StatusCode::OK);
    let seen_by_b = String::from_utf8(seen_by_b.to_vec()).unwrap();
    assert!(
        seen_by_b.starts_with(&format!("00-{unsampled_trace}-")) && seen_by_b.ends_with("-00"),
        "B must see the unsampled trace continued: {seen_by_b:?}"
    );
    let (status, _) = send_get(a_addr, "/a/boom", None).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);

    // The topology is there before any export.
    let edges = topology.edges();
    assert_eq!(edges.len(), 1, "{edges:?}");
    assert_eq!(
        (edges[0].caller.as_str(), edges[0].callee.as_str()),
        ("a", "b")
    );
    assert_eq!((edges[0].requests, edges[0].errors), (5, 1));
    assert!(topology.to_dot().contains("\"a\" -> \"b\""));

    guard.shutdown().await.unwrap();

    let all_spans = received.spans();
    let spans: Vec<GotSpan> = all_spans
        .iter()
        .filter(|span| span.attr("sae.service").is_some())
        .cloned()
        .collect();
    let a_servers: Vec<&GotSpan> = spans
        .iter()
        .filter(|s| s.kind == KIND_SERVER && s.attr("sae.service") == Some("a"))
        .collect();
    // The unsampled request left no span; the four others one trace each.
    assert_eq!(a_servers.len(), 4, "{spans:#?}");
    assert_eq!(spans.len(), 12, "{spans:#?}");
    let mut trace_ids: Vec<&Vec<u8>> = a_servers.iter().map(|s| &s.trace_id).collect();
    trace_ids.dedup();
    assert_eq!(trace_ids.len(), 4);
    assert!(spans.iter().all(|s| hex(&s.trace_id) != unsampled_trace));

    for a_server in &a_servers {
        let a_client = only(&spans, |s| {
            s.kind == KIND_CLIENT && s.parent_span_id == a_server.span_id
        });
        let b_server = only(&spans, |s| {
            s.kind == KIND_SERVER && s.parent_span_id == a_client.span_id
        });
        assert_eq!(a_client.trace_id, a_server.trace_id);
        assert_eq!(b_server.trace_id, a_server.trace_id);
        assert_eq!(a_server.name, "GET /a/{what}");
        assert_eq!(a_server.attr("http.route"), Some("/a/{what}"));
        assert_eq!(a_server.attr("http.request.method"), Some("GET"));
        assert!(
            a_server.events.iter().any(|e| e == "handling a"),
            "{a_server:?}"
        );
        assert_eq!(a_client.name, "GET");
        assert_eq!(a_client.attr("peer.service"), Some("b"));
        assert_eq!(a_client.attr("sae.instance.id"), Some(b_id.as_str()));
        assert_eq!(a_client.attr("server.address"), Some("b"));
        assert_eq!(b_server.name, "GET /b/{id}");
        assert_eq!(b_server.attr("sae.caller"), Some("a"));
        assert_eq!(b_server.attr("sae.service"), Some("b"));
        let failed = a_server.attr("url.path") == Some("/a/boom");
        let code = if failed { "500" } else { "200" };
        for span in [a_server, a_client, b_server] {
            assert_eq!(
                span.attr("http.response.status_code"),
                Some(code),
                "{span:?}"
            );
            assert_eq!(span.status_code == STATUS_ERROR, failed, "{span:?}");
        }
    }
    // The handler's own spans: one per sampled request, each a child of A's
    // server span; the unsampled request's left none (no orphan root).
    let handler_spans: Vec<&GotSpan> = all_spans
        .iter()
        .filter(|s| s.name == "a handler work")
        .collect();
    assert_eq!(handler_spans.len(), 4, "{all_spans:#?}");
    for handler in handler_spans {
        assert!(
            a_servers
                .iter()
                .any(|server| server.span_id == handler.parent_span_id
                    && server.trace_id == handler.trace_id),
            "{handler:?}"
        );
    }
    let continued = only(&spans, |s| {
        s.kind == KIND_SERVER && s.attr("sae.service") == Some("a") && hex(&s.trace_id) == TRACE_ID
    });
    assert_eq!(hex(&continued.parent_span_id), PARENT_ID);
    let roots = a_servers
        .iter()
        .filter(|s| s.parent_span_id.is_empty())
        .count();
    assert_eq!(roots, 3, "new trace, malformed parent, failure: roots");

    // Metrics count every request, sampled or not.
    assert!(received.has_metrics());
    let server = "http.server.request.duration";
    assert_eq!(
        received.histogram_count(server, &[("http.route", "/a/{what}")]),
        5
    );
    assert_eq!(
        received.histogram_count(
            server,
            &[
                ("http.route", "/b/{id}"),
                ("http.response.status_code", "500")
            ]
        ),
        1
    );
    assert_eq!(
        received.histogram_count(server, &[("http.route", "/b/{id}")]),
        5
    );
    assert_eq!(
        received.histogram_count(
            "http.client.request.duration",
            &[("http.request.method", "GET")]
        ),
        5
    );
}

fn only(spans: &[GotSpan], predicate: impl Fn(&GotSpan) -> bool) -> &GotSpan {
    let found: Vec<&GotSpan> = spans.iter().filter(|s| predicate(s)).collect();
    assert_eq!(found.len(), 1, "{spans:#?}");
    found[0]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `GET path` on a fresh connection, with an optional `traceparent`.
async fn send_get(
    addr: std::net::SocketAddr,
    path: &str,
    traceparent: Option<&str>,
) -> (StatusCode, Bytes) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut send, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut request = Request::get(path).header(http::header::HOST, "sae.test");
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    let response = send
        .send_request(request.body(Empty::<Bytes>::new()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    (
        status,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}
