//! Tracing end to end over gRPC: the in-process OTLP receiver, and gRPC
//! services A → B on loopback (hand-written tonic unary services, no protoc),
//! A calling B through sae's balancing client. See `tracing_http.rs` for why
//! it is one test on a multi-threaded runtime.

#[path = "support/h2c.rs"]
mod h2c;
#[path = "support/otlp.rs"]
mod otlp;

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::Router;
use bytes::Bytes;
use http::Uri;
use http::uri::PathAndQuery;
use sae_core::{Instance, Registry};
use sae_governance::Client;
use sae_registry::MemoryRegistry;
use tokio::net::TcpListener;
use tonic::{Code, Status};
use tonic_prost::ProstCodec;
use tower::{ServiceBuilder, service_fn};

use otlp::{GotSpan, KIND_CLIENT, KIND_SERVER, STATUS_ERROR};

const PATH: &str = "/sae.test.Echo/Echo";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// The message of `sae.test.Echo/Echo`, both ways.
#[derive(Clone, PartialEq, prost::Message)]
struct Msg {
    #[prost(string, tag = "1")]
    text: String,
}

/// A router serving `sae.test.Echo/Echo` with `handler`.
fn echo_router<F, Fut>(handler: F) -> Router
where
    F: Fn(tonic::Request<Msg>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<tonic::Response<Msg>, Status>> + Send + 'static,
{
    Router::new().route_service(
        PATH,
        service_fn(move |request: http::Request<axum::body::Body>| {
            let handler = handler.clone();
            async move {
                let mut grpc = tonic::server::Grpc::new(ProstCodec::<Msg, Msg>::default());
                Ok::<_, Infallible>(grpc.unary(service_fn(handler), request).await)
            }
        }),
    )
}

async fn call<T>(channel: T, origin: &'static str, text: &str) -> Result<Msg, Status>
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::Error: Into<sae_core::BoxError>,
    T::ResponseBody: hyper::body::Body<Data = Bytes> + Send + 'static,
    <T::ResponseBody as hyper::body::Body>::Error: Into<sae_core::BoxError> + Send,
{
    let mut grpc = tonic::client::Grpc::with_origin(channel, Uri::from_static(origin));
    grpc.ready()
        .await
        .map_err(|error| Status::unknown(error.into().to_string()))?;
    grpc.unary(
        tonic::Request::new(Msg { text: text.into() }),
        PathAndQuery::from_static(PATH),
        ProstCodec::<Msg, Msg>::default(),
    )
    .await
    .map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_call_is_one_trace_through_a_and_b() {
    let (received, guard) = otlp::start_traced().await;
    let topology = guard.topology().clone();
    let registry = MemoryRegistry::new();

    // B echoes the traceparent it received; "boom" fails with INTERNAL.
    let telemetry_b = guard.telemetry("b");
    let b_app = echo_router(|request: tonic::Request<Msg>| async move {
        if request.get_ref().text == "boom" {
            return Err(Status::internal("boom"));
        }
        let traceparent = request
            .metadata()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Ok(tonic::Response::new(Msg { text: traceparent }))
    })
    .layer(telemetry_b.grpc_server_layer());
    let b_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let b_addr = b_listener.local_addr().unwrap();
    tokio::spawn(axum::serve(b_listener, b_app).into_future());
    let b_instance = Instance::builder("b").addr(b_addr).build().unwrap();
    let b_id = b_instance.id().to_string();
    let _registration = registry.register(b_instance).await.unwrap();

    // A forwards to B through sae's gRPC client, traced by the client layer.
    let telemetry_a = guard.telemetry("a");
    let client = Client::builder("b", registry.clone())
        .build_grpc::<tonic::body::Body>()
        .unwrap();
    let to_b = ServiceBuilder::new()
        .layer(telemetry_a.grpc_client_layer("b"))
        .service(client);
    let a_app = echo_router(move |request: tonic::Request<Msg>| {
        let to_b = to_b.clone();
        async move {
            tracing::info!("handling a");
            let reply = call(to_b, "http://b", &request.get_ref().text).await?;
            Ok(tonic::Response::new(reply))
        }
    })
    .layer(telemetry_a.grpc_server_layer());
    let a_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a_addr = a_listener.local_addr().unwrap();
    tokio::spawn(axum::serve(a_listener, a_app).into_future());

    let reply = call(direct(a_addr, None).await, "http://a", "hello")
        .await
        .unwrap();
    assert!(
        reply.text.starts_with("00-") && reply.text.ends_with("-01"),
        "{reply:?}"
    );
    let parent = format!("00-{TRACE_ID}-00f067aa0ba902b7-01");
    let reply = call(direct(a_addr, Some(&parent)).await, "http://a", "hello")
        .await
        .unwrap();
    assert!(
        reply.text.starts_with(&format!("00-{TRACE_ID}-")),
        "{reply:?}"
    );
    let failure = call(direct(a_addr, None).await, "http://a", "boom")
        .await
        .unwrap_err();
    assert_eq!(failure.code(), Code::Internal);

    let edges = topology.edges();
    assert_eq!(
        (edges[0].caller.as_str(), edges[0].callee.as_str()),
        ("a", "b")
    );
    assert_eq!((edges[0].requests, edges[0].errors), (3, 1));

    guard.shutdown().await.unwrap();

    let spans: Vec<GotSpan> = received
        .spans()
        .into_iter()
        .filter(|span| span.attr("sae.service").is_some())
        .collect();
    assert_eq!(spans.len(), 9, "{spans:#?}");
    let a_servers: Vec<&GotSpan> = spans
        .iter()
        .filter(|s| s.kind == KIND_SERVER && s.attr("sae.service") == Some("a"))
        .collect();
    assert_eq!(a_servers.len(), 3);
    for a_server in a_servers {
        let a_client = only(&spans, |s| {
            s.kind == KIND_CLIENT && s.parent_span_id == a_server.span_id
        });
        let b_server = only(&spans, |s| {
            s.kind == KIND_SERVER && s.parent_span_id == a_client.span_id
        });
        let failed = a_server.attr("rpc.grpc.status_code") == Some("13");
        for span in [a_server, a_client, b_server] {
            assert_eq!(span.trace_id, a_server.trace_id);
            assert_eq!(span.name, "sae.test.Echo/Echo");
            assert_eq!(span.attr("rpc.system"), Some("grpc"));
            assert_eq!(span.attr("rpc.service"), Some("sae.test.Echo"));
            assert_eq!(span.attr("rpc.method"), Some("Echo"));
            let code = if failed { "13" } else { "0" };
            assert_eq!(span.attr("rpc.grpc.status_code"), Some(code), "{span:?}");
            assert_eq!(span.status_code == STATUS_ERROR, failed, "{span:?}");
        }
        assert_eq!(a_client.attr("sae.instance.id"), Some(b_id.as_str()));
        assert_eq!(b_server.attr("sae.caller"), Some("a"));
        assert!(a_server.events.iter().any(|e| e == "handling a"));
    }
    assert_eq!(
        spans
            .iter()
            .filter(|s| s.kind == KIND_SERVER && s.parent_span_id.is_empty())
            .count(),
        2,
        "two new traces, one continued"
    );

    let server = "rpc.server.call.duration";
    assert_eq!(
        received.histogram_count(server, &[("rpc.method", "Echo")]),
        6
    );
    assert_eq!(
        received.histogram_count(server, &[("rpc.grpc.status_code", "13")]),
        2
    );
    assert_eq!(
        received.histogram_count(
            "rpc.client.call.duration",
            &[("rpc.service", "sae.test.Echo")]
        ),
        3
    );
}

fn only(spans: &[GotSpan], predicate: impl Fn(&GotSpan) -> bool) -> &GotSpan {
    let found: Vec<&GotSpan> = spans.iter().filter(|s| predicate(s)).collect();
    assert_eq!(found.len(), 1, "{spans:#?}");
    found[0]
}

type H2 = h2c::H2Service;

/// A gRPC channel to `addr` over a fresh h2c connection, adding `traceparent`.
async fn direct(addr: SocketAddr, traceparent: Option<&str>) -> H2 {
    let traceparent = traceparent.map(|value| http::HeaderValue::from_str(value).unwrap());
    h2c::connect(addr, move |request| {
        if let Some(value) = &traceparent {
            request.headers_mut().insert("traceparent", value.clone());
        }
    })
    .await
}
