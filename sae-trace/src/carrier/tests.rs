use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

use super::{UnsampledTrace, carry, current};
use crate::propagation::RANDOM;

fn unsampled(trace_id: u128) -> Option<UnsampledTrace> {
    Some(UnsampledTrace::of(&SpanContext::new(
        TraceId::from(trace_id),
        SpanId::from(7),
        TraceFlags::SAMPLED,
        false,
        TraceState::NONE,
    )))
}

#[test]
fn carried_while_the_guard_lives_and_propagated_unsampled() {
    assert_eq!(current(), None);
    {
        let _carried = carry(unsampled(1));
        assert_eq!(current(), unsampled(1));
        let propagated = current().unwrap().span_context();
        assert_eq!(propagated.trace_id(), TraceId::from(1));
        assert_eq!(propagated.span_id(), SpanId::from(7));
        assert!(!propagated.is_sampled() && propagated.is_remote() && propagated.is_valid());
    }
    assert_eq!(current(), None);
}

#[test]
fn nested_requests_restore_the_outer_one() {
    let _outer = carry(unsampled(1));
    {
        let _inner = carry(unsampled(2));
        assert_eq!(current(), unsampled(2));
    }
    assert_eq!(current(), unsampled(1));
}

#[test]
fn nothing_to_carry_leaves_the_slot_alone() {
    let _outer = carry(unsampled(1));
    assert!(carry(None).is_none());
    assert_eq!(current(), unsampled(1));
}

#[test]
fn a_panic_inside_does_not_leave_the_request_behind() {
    let result = std::panic::catch_unwind(|| {
        let _carried = carry(unsampled(3));
        panic!("handler panicked");
    });
    assert!(result.is_err());
    assert_eq!(current(), None);
}

#[test]
fn the_random_flag_is_carried_and_nothing_else() {
    for (flags, random) in [
        (0x03, true),
        (0x02, true),
        (0xff, true),
        (0x01, false),
        (0x00, false),
    ] {
        let trace = UnsampledTrace::of(&SpanContext::new(
            TraceId::from(1),
            SpanId::from(7),
            TraceFlags::new(flags),
            true,
            TraceState::NONE,
        ));
        let _carried = carry(Some(trace));
        let propagated = current().unwrap().span_context();
        let expected = if random {
            RANDOM
        } else {
            TraceFlags::NOT_SAMPLED
        };
        assert_eq!(propagated.trace_flags(), expected, "{flags:#04x}");
        assert!(!propagated.is_sampled());
    }
}
