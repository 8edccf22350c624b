//! The unsampled request being served on this thread, carried without an
//! OpenTelemetry `Context`.
//!
//! # Why not an OpenTelemetry `Context`
//!
//! OpenTelemetry 0.33 can carry a span context only inside a `Context`, and
//! `Context::with_remote_span_context` allocates an `Arc` per request. Issue 5
//! allows an unsampled request no allocation beyond its propagation header,
//! so the server layer carries the unsampled trace here instead: a
//! thread-local slot holding the request's ids ([`UnsampledTrace`], a `Copy`
//! value; not sampled by definition, and the W3C `random` flag when the
//! caller set it, so the next hop still knows the trace id is random).
//!
//! - The server layer keeps the value in its response future and puts it in
//!   the slot around `inner.call(..)` and around every poll (no allocation);
//!   a [`Carried`] guard puts the previous value back when dropped, so a panic
//!   or a nested server layer never leaves the slot wrong.
//! - The client layer reads the slot to propagate the request's ids with
//!   "not sampled".
//! - [`crate::FollowRequestSampler`] reads it to drop the *root* spans a
//!   handler opens while the slot is set, so a user's own spans inside an
//!   unsampled request do not become sampled orphan roots.
//!
//! A request that carries `baggage` or a `tracestate` (both rare) attaches an
//! OpenTelemetry `Context` instead (one allocation), holding the baggage and
//! the whole unsampled span context, so both reach the handler's
//! OpenTelemetry instrumentation and the client layer, as before.

use std::cell::Cell;

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

use crate::propagation::RANDOM;

thread_local! {
    static UNSAMPLED: Cell<Option<UnsampledTrace>> = const { Cell::new(None) };
}

/// The ids of an unsampled trace being served, and its `random` flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct UnsampledTrace {
    trace_id: TraceId,
    span_id: SpanId,
    /// Only the `random` flag: never sampled, no reserved bit.
    flags: TraceFlags,
}

impl UnsampledTrace {
    /// The ids and `random` flag of `span_context` (its `sampled` flag and
    /// trace state are not kept).
    pub(crate) fn of(span_context: &SpanContext) -> Self {
        UnsampledTrace {
            trace_id: span_context.trace_id(),
            span_id: span_context.span_id(),
            flags: span_context.trace_flags() & RANDOM,
        }
    }

    /// The remote, unsampled span context these ids name, to propagate.
    pub(crate) fn span_context(self) -> SpanContext {
        SpanContext::new(
            self.trace_id,
            self.span_id,
            self.flags,
            true,
            TraceState::NONE,
        )
    }
}

/// Puts the previous value back in the thread's slot when dropped.
pub(crate) struct Carried {
    previous: Option<UnsampledTrace>,
}

/// Puts `trace` in the thread's slot until the guard is dropped. Does
/// nothing (and touches no thread-local) when `trace` is `None`.
pub(crate) fn carry(trace: Option<UnsampledTrace>) -> Option<Carried> {
    let trace = trace?;
    // `try_with`: during thread teardown the slot may be gone; nothing to carry then.
    let previous = UNSAMPLED.try_with(|slot| slot.replace(Some(trace))).ok()?;
    Some(Carried { previous })
}

impl Drop for Carried {
    fn drop(&mut self) {
        let _ = UNSAMPLED.try_with(|slot| slot.set(self.previous));
    }
}

/// The unsampled trace being served on this thread, if any.
pub(crate) fn current() -> Option<UnsampledTrace> {
    UNSAMPLED.try_with(Cell::get).ok().flatten()
}

#[cfg(test)]
mod tests;
