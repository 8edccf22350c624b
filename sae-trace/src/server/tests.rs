//! Server layer → handler → client layer, end to end: the unsampled fast
//! path, the lane on the wire, and (`recorded`) what the spans say.

use std::convert::Infallible;
use std::sync::Arc;

use http::{HeaderMap, Request, Response};
use parking_lot::Mutex;
use sae_core::{Lane, RequestContext, lane, wire};
use tower::{Layer, ServiceExt, service_fn};

use crate::{RootSampler, Telemetry, Topology};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// The headers the downstream service received for one request into a
/// server layer whose handler makes one call through the client layer.
async fn downstream_headers(sampler: RootSampler, incoming: &[(&str, &str)]) -> HeaderMap {
    let _unsampled = crate::test_support::trace_nothing();
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

#[tokio::test]
async fn the_random_flag_of_an_unsampled_parent_reaches_the_next_hop() {
    let parent = format!("00-{TRACE_ID}-00f067aa0ba902b7-02");
    // Carried without a context (the thread-local carrier) ...
    let headers = downstream_headers(RootSampler::AlwaysOn, &[("traceparent", &parent)]).await;
    assert_eq!(headers["traceparent"], parent.as_str());
    // ... and in an attached context, with baggage.
    let headers = downstream_headers(
        RootSampler::AlwaysOn,
        &[("traceparent", &parent), ("baggage", "k=v")],
    )
    .await;
    assert_eq!(headers["traceparent"], parent.as_str());
    // Reserved bits are not passed on.
    let reserved = format!("00-{TRACE_ID}-00f067aa0ba902b7-fe");
    let headers = downstream_headers(RootSampler::AlwaysOn, &[("traceparent", &reserved)]).await;
    assert_eq!(headers["traceparent"], parent.as_str());
}

/// The lane as a real stack writes it: the lane layer (outside the server
/// layer) runs the handler in the request's lane, and the client inside the
/// client layer (sae-governance's `Client`) writes the lane of the call
/// with `wire::lane::write`. The trace layers add no `sae-tag` of their own:
/// the next hop sees the lane once, beside the caller's baggage.
#[tokio::test]
async fn the_lane_travels_once_beside_the_callers_baggage() {
    let _unsampled = crate::test_support::trace_nothing();
    let meter = opentelemetry::global::meter("test");
    let telemetry = Telemetry::with_meter("a", &meter, RootSampler::AlwaysOn, Topology::new());
    let seen = Arc::new(Mutex::new(HeaderMap::new()));
    let recorder = Arc::clone(&seen);
    let sae_client = service_fn(move |mut request: Request<String>| {
        if let Some(lane) = RequestContext::outbound_lane(request.extensions()) {
            wire::lane::write(request.headers_mut(), &lane);
        }
        *recorder.lock() = request.headers().clone();
        async { Ok::<_, Infallible>(Response::new(String::new())) }
    });
    let client = telemetry.http_client_layer("b").layer(sae_client);
    let handler = service_fn(move |_request: Request<String>| {
        let client = client.clone();
        async move { client.oneshot(Request::new(String::new())).await }
    });
    let server = telemetry.http_server_layer().layer(handler);
    let request = Request::builder()
        .uri("/x")
        .header("x-sae-tag", "gray")
        .header("baggage", "k=v,sae-tag=gray")
        .body(String::new())
        .unwrap();
    let gray = Lane::new("gray").unwrap();
    // What the lane layer does around the server layer.
    let response = lane::scope(Some(gray), server.oneshot(request))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = seen.lock().clone();
    assert_eq!(headers["x-sae-tag"], "gray");
    assert_eq!(headers.get_all("baggage").iter().count(), 1);
    assert_eq!(headers["baggage"], "k=v,sae-tag=gray");
}

mod recorded {
    use opentelemetry::trace::{SpanKind, TraceFlags};
    use sae_core::ServiceName;

    use super::*;
    use crate::test_support::{Recording, attribute};

    /// One request through a sampled server layer whose handler makes one
    /// call through the client layer; the headers the next hop received.
    async fn serve(request: Request<String>) -> HeaderMap {
        let meter = opentelemetry::global::meter("test");
        let telemetry = Telemetry::with_meter("a", &meter, RootSampler::AlwaysOn, Topology::new());
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
        let response = telemetry
            .http_server_layer()
            .layer(handler)
            .oneshot(request)
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        seen.lock().clone()
    }

    fn request(headers: &[(&str, &str)]) -> Request<String> {
        let mut request = Request::builder().uri("/x");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(String::new()).unwrap()
    }

    #[tokio::test]
    async fn a_hostile_caller_never_reaches_the_span() {
        let long = "a".repeat(60 * 1024);
        for hostile in [long.as_str(), r"Not A Service/..\; drop", "Frontend"] {
            let recording = Recording::start();
            serve(request(&[("x-sae-caller", hostile)])).await;
            let span = recording.one(SpanKind::Server);
            assert_eq!(attribute(&span, "sae.caller"), None, "{:.40}", hostile);
            assert!(
                span.attributes
                    .iter()
                    .all(|kv| kv.value.as_str().len() < 1024),
                "no attribute carries the header"
            );
        }

        let recording = Recording::start();
        serve(request(&[("x-sae-caller", "frontend")])).await;
        let span = recording.one(SpanKind::Server);
        assert_eq!(attribute(&span, "sae.caller").as_deref(), Some("frontend"));
    }

    #[tokio::test]
    async fn the_context_names_the_caller_when_it_knows() {
        let recording = Recording::start();
        let mut incoming = request(&[("x-sae-caller", "other")]);
        RequestContext {
            lane: None,
            caller: Some(ServiceName::new("frontend").unwrap()),
        }
        .insert_into(incoming.extensions_mut());
        serve(incoming).await;
        let span = recording.one(SpanKind::Server);
        assert_eq!(attribute(&span, "sae.caller").as_deref(), Some("frontend"));
    }

    /// An ingress rule's lane is in the request's context only, not in its
    /// headers: the span must say it, and the context wins over a header.
    #[tokio::test]
    async fn the_server_span_takes_the_lane_the_lane_layer_decided() {
        for headers in [&[][..], &[("x-sae-tag", "blue")][..]] {
            let recording = Recording::start();
            let mut incoming = request(headers);
            RequestContext {
                lane: Some(Lane::new("gray").unwrap()),
                caller: None,
            }
            .insert_into(incoming.extensions_mut());
            serve(incoming).await;
            let span = recording.one(SpanKind::Server);
            assert_eq!(attribute(&span, "sae.lane").as_deref(), Some("gray"));
        }

        // The lane layer decided "base": no lane, whatever the header says.
        let recording = Recording::start();
        let mut incoming = request(&[("x-sae-tag", "blue")]);
        RequestContext::default().insert_into(incoming.extensions_mut());
        serve(incoming).await;
        assert_eq!(
            attribute(&recording.one(SpanKind::Server), "sae.lane"),
            None
        );
    }

    #[tokio::test]
    async fn without_a_context_the_headers_say_through_the_codec() {
        for (headers, lane) in [
            (&[("x-sae-tag", "blue")][..], Some("blue")),
            (&[("baggage", "k=v,sae-tag=gray")][..], Some("gray")),
            (
                &[("x-sae-tag", "not a lane!"), ("baggage", "sae-tag=gray")][..],
                Some("gray"),
            ),
            (&[("x-sae-tag", "not a lane!")][..], None),
        ] {
            let recording = Recording::start();
            serve(request(headers)).await;
            let span = recording.one(SpanKind::Server);
            assert_eq!(attribute(&span, "sae.lane").as_deref(), lane, "{headers:?}");
        }
    }

    #[tokio::test]
    async fn a_sampled_random_parent_keeps_its_random_flag_downstream() {
        let recording = Recording::start();
        let parent = format!("00-{TRACE_ID}-00f067aa0ba902b7-03");
        let headers = serve(request(&[("traceparent", &parent)])).await;
        let server = recording.one(SpanKind::Server);
        let client = recording.one(SpanKind::Client);
        let random = TraceFlags::new(0x02);
        for span in [&server, &client] {
            assert!(span.span_context.is_sampled());
            assert_eq!(span.span_context.trace_flags() & random, random);
            assert_eq!(span.span_context.trace_id().to_string(), TRACE_ID);
        }
        let traceparent = headers["traceparent"].to_str().unwrap();
        assert_eq!(
            traceparent,
            format!("00-{TRACE_ID}-{}-03", client.span_context.span_id())
        );
    }
}
