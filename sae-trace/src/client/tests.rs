//! What the client span says about the lane of the call.

use std::convert::Infallible;

use http::{Request, Response};
use opentelemetry::trace::SpanKind;
use sae_core::{Lane, RequestContext, lane};
use tower::{Layer, ServiceExt, service_fn};

use crate::test_support::{Recording, attribute};
use crate::{RootSampler, Telemetry, Topology};

/// The `sae.lane` of the client span of one call with `request`, made in
/// the task lane `task`.
async fn client_span_lane(task: Option<&str>, request: Request<String>) -> Option<String> {
    let recording = Recording::start();
    let meter = opentelemetry::global::meter("test");
    let telemetry = Telemetry::with_meter("a", &meter, RootSampler::AlwaysOn, Topology::new());
    let inner = service_fn(|_request: Request<String>| async {
        Ok::<_, Infallible>(Response::new(String::new()))
    });
    let client = telemetry.http_client_layer("b").layer(inner);
    let task = task.map(|task| Lane::new(task).unwrap());
    let response = lane::scope(task, client.oneshot(request)).await.unwrap();
    assert_eq!(response.status(), 200);
    attribute(&recording.one(SpanKind::Client), "sae.lane")
}

#[tokio::test]
async fn a_call_in_a_lane_says_so_when_the_lane_comes_from_the_task() {
    assert_eq!(
        client_span_lane(Some("gray"), Request::new(String::new()))
            .await
            .as_deref(),
        Some("gray")
    );
    assert_eq!(
        client_span_lane(None, Request::new(String::new())).await,
        None
    );
}

#[tokio::test]
async fn an_explicit_context_wins_over_the_task() {
    let mut blue = Request::new(String::new());
    RequestContext {
        lane: Some(Lane::new("blue").unwrap()),
        caller: None,
    }
    .insert_into(blue.extensions_mut());
    assert_eq!(
        client_span_lane(Some("gray"), blue).await.as_deref(),
        Some("blue")
    );

    // "Send this call in base", from a task in a lane.
    let mut base = Request::new(String::new());
    RequestContext::default().insert_into(base.extensions_mut());
    assert_eq!(client_span_lane(Some("gray"), base).await, None);
}

#[tokio::test]
async fn the_client_layer_writes_no_lane_and_names_its_service() {
    let _unsampled = crate::test_support::trace_nothing();
    let meter = opentelemetry::global::meter("test");
    let telemetry = Telemetry::with_meter("a", &meter, RootSampler::AlwaysOff, Topology::new());
    let inner = service_fn(|request: Request<String>| async move {
        Ok::<_, Infallible>(Response::new(request.headers().clone()))
    });
    let client = telemetry.http_client_layer("b").layer(inner);
    let gray = Lane::new("gray").unwrap();
    let response = lane::scope(Some(gray), client.oneshot(Request::new(String::new())))
        .await
        .unwrap();
    let headers = response.into_body().into_inner();
    assert!(!headers.contains_key("x-sae-tag") && !headers.contains_key("baggage"));
    assert_eq!(headers["x-sae-caller"], "a");

    // A caller's own `x-sae-caller` is kept.
    let inner = service_fn(|request: Request<String>| async move {
        Ok::<_, Infallible>(Response::new(request.headers().clone()))
    });
    let client = telemetry.http_client_layer("b").layer(inner);
    let request = Request::builder()
        .header("x-sae-caller", "gateway")
        .body(String::new())
        .unwrap();
    let headers = client
        .oneshot(request)
        .await
        .unwrap()
        .into_body()
        .into_inner();
    assert_eq!(headers["x-sae-caller"], "gateway");
}
