use http::HeaderValue;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use sae_core::Lane;

use super::*;

const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn headers(traceparent: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(TRACEPARENT, HeaderValue::from_str(traceparent).unwrap());
    headers
}

#[test]
fn a_valid_traceparent_is_continued_and_reinjected() {
    let mut incoming = headers(PARENT);
    incoming.insert("tracestate", HeaderValue::from_static("vendor=x"));
    incoming.insert("baggage", HeaderValue::from_static("sae-tag=gray,k=v"));
    let parent = extract_parent(&incoming).unwrap();
    assert!(parent.is_valid() && parent.is_remote() && parent.is_sampled());
    assert_eq!(
        parent.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    let cx = extract_baggage(&incoming).unwrap();
    let mut out = HeaderMap::new();
    inject(&parent, &cx, &mut out);
    assert_eq!(out[TRACEPARENT], PARENT);
    assert_eq!(out[TRACESTATE], "vendor=x");
    let baggage = out["baggage"].to_str().unwrap();
    assert!(
        baggage.contains("sae-tag=gray") && baggage.contains("k=v"),
        "{baggage}"
    );
}

#[test]
fn malformed_headers_give_no_parent_without_error() {
    for bad in [
        "",
        "garbage",
        "00-zz-00f067aa0ba902b7-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7+01",
        "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
    ] {
        let mut incoming = headers(bad);
        incoming.insert("baggage", HeaderValue::from_static(";;=,,"));
        assert!(extract_parent(&incoming).is_none(), "{bad}");
        let _ = extract_baggage(&incoming);
    }
}

/// Every header the SDK's propagator accepts as valid and well formed by the
/// specification gives the same parent here, and the same header back;
/// except that the W3C level-2 `random` flag, which the SDK 0.33 drops, is
/// kept (and nothing else besides `sampled`).
#[test]
fn parses_and_writes_like_the_sdk_propagator() {
    let sdk = TraceContextPropagator::new();
    for traceparent in [
        PARENT,
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-08",
        "02-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09",
        "02-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-XYZxsf09",
        " 00-00000000000000000000000000000001-0000000000000001-01 ",
    ] {
        let incoming = headers(traceparent);
        let expected = sdk.extract_with_context(&Context::new(), &HeaderExtractor(&incoming));
        let expected = expected.span().span_context().clone();
        let flags = u8::from_str_radix(&traceparent.trim()[53..55], 16).unwrap();
        let random = TraceFlags::new(flags) & RANDOM;
        let parent = extract_parent(&incoming).unwrap();
        assert_eq!(
            parent,
            with_flags(&expected, expected.trace_flags() | random),
            "{traceparent}"
        );

        let mut ours = HeaderMap::new();
        inject(&parent, &Context::new(), &mut ours);
        let mut theirs = HeaderMap::new();
        sdk.inject_context(
            &Context::new().with_remote_span_context(expected),
            &mut HeaderInjector(&mut theirs),
        );
        let (ours, theirs) = (
            ours[TRACEPARENT].to_str().unwrap(),
            theirs[TRACEPARENT].to_str().unwrap(),
        );
        assert_eq!(ours[..53], theirs[..53], "{traceparent}");
        let (ours, theirs) = (
            u8::from_str_radix(&ours[53..], 16).unwrap(),
            u8::from_str_radix(&theirs[53..], 16).unwrap(),
        );
        assert_eq!(ours, theirs | random.to_u8(), "{traceparent}");
    }
}

fn with_flags(span_context: &SpanContext, flags: TraceFlags) -> SpanContext {
    SpanContext::new(
        span_context.trace_id(),
        span_context.span_id(),
        flags,
        span_context.is_remote(),
        span_context.trace_state().clone(),
    )
}

#[test]
fn the_random_flag_is_kept_sampled_or_not_and_reserved_flags_are_dropped() {
    for (incoming, sampled, random, outgoing) in [
        ("03", true, true, "03"),
        ("02", false, true, "02"),
        ("01", true, false, "01"),
        ("00", false, false, "00"),
        ("ff", true, true, "03"),
        ("fe", false, true, "02"),
        ("0c", false, false, "00"),
    ] {
        let parent = extract_parent(&headers(&format!(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-{incoming}"
        )))
        .unwrap();
        assert_eq!(parent.is_sampled(), sampled, "{incoming}");
        assert_eq!(
            parent.trace_flags() & RANDOM == RANDOM,
            random,
            "{incoming}"
        );
        let mut out = HeaderMap::new();
        inject(&parent, &Context::new(), &mut out);
        let traceparent = out[TRACEPARENT].to_str().unwrap();
        assert!(
            traceparent.ends_with(&format!("-{outgoing}")),
            "{incoming}: {traceparent}"
        );
    }
}

#[test]
fn unsampled_root_gets_fresh_ids_and_propagates_not_sampled() {
    let root = unsampled(None);
    assert!(root.is_valid() && !root.is_sampled());
    let mut out = HeaderMap::new();
    inject(&root, &Context::new(), &mut out);
    let traceparent = out[TRACEPARENT].to_str().unwrap();
    assert!(traceparent.ends_with("-00"), "{traceparent}");
    // The lane is not the propagator's: with no baggage in the context it
    // writes none. The client inside (sae-governance's `Client`) writes
    // the lane, once.
    assert!(!out.contains_key("baggage"), "no baggage of its own");
    wire::lane::write(&mut out, &Lane::new("gray").unwrap());
    assert_eq!(out["baggage"], "sae-tag=gray");
    assert!(!out.contains_key(TRACESTATE), "no empty tracestate");
}

/// The propagator writes the context's baggage as it is; the lane, written
/// after it by the client inside (`wire::lane::write`, as sae-governance's
/// `Client` does), joins the other members once, replacing a `sae-tag` the
/// baggage carried.
#[test]
fn a_lane_joins_other_baggage_once() {
    let root = unsampled(None);
    let gray = Lane::new("gray").unwrap();

    let mut incoming = HeaderMap::new();
    incoming.insert("baggage", HeaderValue::from_static("k=v"));
    let mut out = HeaderMap::new();
    inject(&root, &extract_baggage(&incoming).unwrap(), &mut out);
    assert_eq!(out["baggage"], "k=v", "the context's baggage only");
    wire::lane::write(&mut out, &gray);
    let baggage = out["baggage"].to_str().unwrap();
    assert!(
        baggage.contains("sae-tag=gray") && baggage.contains("k=v"),
        "{baggage}"
    );
    assert_eq!(baggage.matches("sae-tag").count(), 1, "{baggage}");

    incoming.insert("baggage", HeaderValue::from_static("sae-tag=blue"));
    let mut out = HeaderMap::new();
    inject(&root, &extract_baggage(&incoming).unwrap(), &mut out);
    assert_eq!(out["baggage"], "sae-tag=blue", "propagated as it came");
    wire::lane::write(&mut out, &gray);
    assert_eq!(out["baggage"], "sae-tag=gray", "the client's lane wins");
    assert_eq!(out.get_all("baggage").iter().count(), 1);
}

#[test]
fn hex_digits_match_the_formatter() {
    let mut rng = fastrand::Rng::with_seed(5);
    let edges = [0, 1, 9, 10, 15, 16, 0xa5a5_5a5a_0f0f_f0f0, u64::MAX];
    for n in edges.into_iter().chain((0..1000).map(|_| rng.u64(..))) {
        assert_eq!(hex16(n), format!("{n:016x}").as_bytes(), "{n:#x}");
    }
}

#[test]
fn only_lowercase_hex_digits_parse() {
    for byte in 0..=u8::MAX {
        let expected = match byte {
            b'0'..=b'9' => Some(u64::from(byte - b'0')),
            b'a'..=b'f' => Some(u64::from(byte - b'a' + 10)),
            _ => None,
        };
        assert_eq!(super::hex_u64(&[byte]), expected, "byte {byte:#04x}");
        // An invalid digit anywhere spoils the whole number.
        assert_eq!(
            super::hex_u64(&[b'a', byte, b'1']).is_some(),
            expected.is_some()
        );
    }
    assert_eq!(super::hex_u64(b"ffffffffffffffff"), Some(u64::MAX));
    assert_eq!(
        super::hex_u64(b"00f067aa0ba902b7"),
        Some(0x00f0_67aa_0ba9_02b7)
    );
}
