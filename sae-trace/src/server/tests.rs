//! The unsampled fast path end to end: server layer → handler → client layer.

use std::convert::Infallible;
use std::sync::Arc;

use http::{HeaderMap, Request, Response};
use parking_lot::Mutex;
use tower::{Layer, ServiceExt, service_fn};

use crate::{RootSampler, Telemetry, Topology};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// The headers the downstream service received for one request into a
/// server layer whose handler makes one call through the client layer.
async fn downstream_headers(sampler: RootSampler, incoming: &[(&str, &str)]) -> HeaderMap {
    let meter = opentelemetry::global::meter("test");
    let telemetry = Telemetry::with_meter("a", &meter, sampler, Topology::new());
    let seen = Arc::new(Mutex::new(HeaderMap::new()));
    let recorder = Arc::clone(&seen);
    let downstream = service_fn(move |request: Request<String>| {
        *recorder.lock() = request.headers().clone();
        async { Ok::<_, Infallible>(Response::new(String::new())) }
    });
    let client = telemetry.http_client_layer("b").layer(downstream);
    let handler = service_fn(move |_request: Request<String>| {
        let client = client.clone();
        async move { client.oneshot(Request::new(String::new())).await }
    });
    let server = telemetry.http_server_layer().layer(handler);
    let mut request = Request::builder().uri("/x");
    for (name, value) in incoming {
        request = request.header(*name, *value);
    }
    let response = server
        .oneshot(request.body(String::new()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(telemetry.topology().edges()[0].requests, 1);
    seen.lock().clone()
}

#[tokio::test]
async fn an_unsampled_parent_is_continued_with_its_state_and_baggage() {
    let parent = format!("00-{TRACE_ID}-00f067aa0ba902b7-00");
    let headers = downstream_headers(
        RootSampler::AlwaysOn,
        &[
            ("traceparent", &parent),
            ("tracestate", "vendor=x"),
            ("baggage", "k=v"),
        ],
    )
    .await;
    let traceparent = headers["traceparent"].to_str().unwrap();
    assert_eq!(traceparent, parent, "no span: the parent id is passed on");
    assert_eq!(headers["tracestate"], "vendor=x");
    assert_eq!(headers["baggage"], "k=v");
    assert_eq!(headers["x-sae-caller"], "a");
}

#[tokio::test]
async fn an_unsampled_new_trace_propagates_not_sampled() {
    let headers = downstream_headers(RootSampler::AlwaysOff, &[]).await;
    let traceparent = headers["traceparent"].to_str().unwrap();
    assert!(
        traceparent.starts_with("00-") && traceparent.ends_with("-00"),
        "{traceparent}"
    );
    assert!(!traceparent.contains("-00000000000000000000000000000000-"));
    assert!(!headers.contains_key("tracestate") && !headers.contains_key("baggage"));
}

#[tokio::test]
async fn a_malformed_parent_starts_a_new_trace() {
    let headers = downstream_headers(
        RootSampler::AlwaysOff,
        &[("traceparent", "00-not-a-parent-zz")],
    )
    .await;
    let traceparent = headers["traceparent"].to_str().unwrap();
    assert!(
        traceparent.ends_with("-00") && !traceparent.contains("not"),
        "{traceparent}"
    );
}

#[tokio::test]
async fn an_unsampled_parent_alone_is_carried_without_a_context() {
    let parent = format!("00-{TRACE_ID}-00f067aa0ba902b7-00");
    let headers = downstream_headers(RootSampler::AlwaysOn, &[("traceparent", &parent)]).await;
    assert_eq!(headers["traceparent"], parent.as_str());
    assert!(!headers.contains_key("tracestate") && !headers.contains_key("baggage"));
    assert_eq!(
        crate::carrier::current(),
        None,
        "the request left nothing behind"
    );
}
