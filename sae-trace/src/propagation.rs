//! W3C trace context and baggage on `http::HeaderMap`, through the
//! OpenTelemetry propagators.
//!
//! The two propagators are used directly rather than through the global
//! composite: no global lock and no dynamic dispatch per request, and the
//! baggage propagator runs only when a `baggage` header is there.

use http::HeaderMap;
use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use sae_core::{Lane, wire};

const TRACEPARENT: &str = "traceparent";

/// The incoming context: the remote parent (invalid when the header is absent
/// or malformed) and the baggage. Never fails.
pub(crate) fn extract(headers: &HeaderMap) -> Context {
    let mut cx = Context::new();
    if headers.contains_key(TRACEPARENT) {
        cx = TraceContextPropagator::new().extract_with_context(&cx, &HeaderExtractor(headers));
    }
    if headers.contains_key(wire::BAGGAGE_HEADER) {
        cx = BaggagePropagator::new().extract_with_context(&cx, &HeaderExtractor(headers));
    }
    cx
}

/// Writes `traceparent`/`tracestate` (and `baggage`, when there is any) of `cx`.
/// A request in a lane carries it as the `sae-tag` baggage member when the
/// baggage does not already say.
pub(crate) fn inject(cx: &Context, lane: Option<&Lane>, headers: &mut HeaderMap) {
    TraceContextPropagator::new().inject_context(cx, &mut HeaderInjector(headers));
    let baggage = cx.baggage();
    match lane {
        Some(lane) if baggage.get(wire::LANE_BAGGAGE_KEY).is_none() => {
            let cx = cx.with_baggage([KeyValue::new(
                wire::LANE_BAGGAGE_KEY,
                lane.as_str().to_owned(),
            )]);
            BaggagePropagator::new().inject_context(&cx, &mut HeaderInjector(headers));
        }
        _ if !baggage.is_empty() => {
            BaggagePropagator::new().inject_context(cx, &mut HeaderInjector(headers));
        }
        _ => {}
    }
}

/// A context that carries an unsampled trace: the parent's when there is one,
/// else fresh ids, so the services downstream honour "not sampled" for the
/// whole trace instead of deciding again.
pub(crate) fn unsampled(parent: Context) -> Context {
    if parent.span().span_context().is_valid() {
        return parent;
    }
    let span_context = SpanContext::new(
        TraceId::from(fastrand::u128(1..)),
        SpanId::from(fastrand::u64(1..)),
        TraceFlags::default(),
        true,
        TraceState::NONE,
    );
    parent.with_remote_span_context(span_context)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_is_continued_and_reinjected() {
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, HeaderValue::from_static(PARENT));
        headers.insert("baggage", HeaderValue::from_static("sae-tag=gray,k=v"));
        let cx = extract(&headers);
        let span = cx.span();
        let parent = span.span_context();
        assert!(parent.is_valid() && parent.is_remote() && parent.is_sampled());
        assert_eq!(
            parent.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        let mut out = HeaderMap::new();
        inject(&cx, None, &mut out);
        assert_eq!(out[TRACEPARENT], PARENT);
        let baggage = out["baggage"].to_str().unwrap();
        assert!(
            baggage.contains("sae-tag=gray") && baggage.contains("k=v"),
            "{baggage}"
        );
    }

    #[test]
    fn malformed_headers_give_an_invalid_parent_without_error() {
        for bad in [
            "",
            "garbage",
            "00-zz-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(TRACEPARENT, HeaderValue::from_str(bad).unwrap());
            headers.insert("baggage", HeaderValue::from_static(";;=,,"));
            let cx = extract(&headers);
            assert!(!cx.span().span_context().is_valid(), "{bad}");
        }
    }

    #[test]
    fn unsampled_root_gets_fresh_ids_and_propagates_not_sampled() {
        let cx = unsampled(Context::new());
        let mut out = HeaderMap::new();
        inject(&cx, Some(&Lane::new("gray").unwrap()), &mut out);
        let traceparent = out[TRACEPARENT].to_str().unwrap();
        assert!(traceparent.ends_with("-00"), "{traceparent}");
        assert_eq!(out["baggage"], "sae-tag=gray");
    }
}
