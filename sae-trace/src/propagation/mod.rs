//! W3C trace context and baggage on `http::HeaderMap`.
//!
//! `traceparent` is parsed and written here rather than through the SDK's
//! `TraceContextPropagator`: every request pays for it, sampled or not, and
//! the propagator splits into a `Vec`, formats through `format!`, copies the
//! header names and always writes a `tracestate`, even an empty one, where a
//! fixed-width parse and a 55-byte stack buffer do none of that (the figures
//! are in `BENCHMARKS.md`). The parser is strict where the specification is
//! (lowercase hex, exact lengths), so anything else starts a new trace.
//! `tracestate` and `baggage` are rare; they go through the SDK's parsers,
//! and only when present.
//!
//! # Trace flags
//!
//! Two flags are defined and kept end to end, from the incoming header
//! through the span context (or the unsampled carrier) to the outgoing one:
//! `sampled` (bit 0) and, since Trace Context Level 2, `random` (bit 1: the
//! trace id is random; current OpenTelemetry SDKs send `-03` and `-02`). It
//! belongs to the trace id, so it travels with it whether the hop is
//! sampled or not. Every other bit is reserved and zeroed when propagating,
//! as the specification requires ("other flags"). The SDK 0.33 propagator
//! keeps only `sampled`.
//!
//! # Baggage and the lane
//!
//! [`inject`] writes the OpenTelemetry baggage of the current context (the
//! caller's own, or the incoming request's) and nothing else: the lane is
//! written on the wire by one writer, sae-governance's `Client`, with
//! [`sae_core::wire::lane::write`], which replaces the `sae-tag` member and
//! keeps the others.

use bytes::Bytes;
use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};
use opentelemetry::Context;
use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::BaggagePropagator;
use sae_core::wire;

// W3C names, not sae's: they stay here. sae's names are in `sae_core::wire`.
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
/// `00-` 32 hex `-` 16 hex `-` 2 hex.
const TRACEPARENT_LEN: usize = 55;

/// The W3C Trace Context Level 2 `random` flag (bit 1): the trace id is
/// random. OpenTelemetry 0.33's `TraceFlags` has no constant for it.
pub(crate) const RANDOM: TraceFlags = TraceFlags::new(0x02);

/// The flags that are propagated: `sampled` and `random`. Other bits are
/// reserved; a version `00` header must carry them as zero.
const PROPAGATED_FLAGS: TraceFlags = TraceFlags::new(0x01 | 0x02);

/// The remote parent of an incoming request, when its `traceparent` is valid
/// (absent or malformed: `None`, a new trace, never an error), with its
/// `tracestate`.
pub(crate) fn extract_parent(headers: &HeaderMap) -> Option<SpanContext> {
    let value = headers.get(TRACEPARENT)?;
    let (trace_id, span_id, flags) = parse_traceparent(value.as_bytes())?;
    let trace_state = headers
        .get(TRACESTATE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<TraceState>().ok())
        .unwrap_or_default();
    Some(SpanContext::new(
        trace_id,
        span_id,
        flags,
        true,
        trace_state,
    ))
}

/// The incoming baggage as a context; `None`, without allocating, when
/// there is no `baggage` header.
pub(crate) fn extract_baggage(headers: &HeaderMap) -> Option<Context> {
    headers.contains_key(&wire::BAGGAGE).then(|| {
        BaggagePropagator::new().extract_with_context(&Context::new(), &HeaderExtractor(headers))
    })
}

/// A W3C `traceparent` (version `00`, or a later version read as `00`);
/// lowercase hex only, ids not all zero, as the specification requires.
/// The flags keep `sampled` and `random`; reserved bits are dropped.
fn parse_traceparent(value: &[u8]) -> Option<(TraceId, SpanId, TraceFlags)> {
    let value = value.trim_ascii();
    if value.len() < TRACEPARENT_LEN {
        return None;
    }
    let version = hex_u64(&value[0..2])? as u8;
    let well_formed = value[2] == b'-' && value[35] == b'-' && value[52] == b'-';
    let length_fits = match version {
        0 => value.len() == TRACEPARENT_LEN,
        0xff => false,
        // A later version may append fields after another dash.
        _ => value.len() == TRACEPARENT_LEN || value[TRACEPARENT_LEN] == b'-',
    };
    if !well_formed || !length_fits {
        return None;
    }
    let trace_id = u128::from(hex_u64(&value[3..19])?) << 64 | u128::from(hex_u64(&value[19..35])?);
    let span_id = hex_u64(&value[36..52])?;
    let flags = hex_u64(&value[53..55])? as u8;
    if trace_id == 0 || span_id == 0 {
        return None;
    }
    Some((
        TraceId::from(trace_id),
        SpanId::from(span_id),
        TraceFlags::new(flags) & PROPAGATED_FLAGS,
    ))
}

/// Lowercase hex digits (at most 16) as a number.
///
/// A table lookup per digit and one validity check at the end, not a
/// `match` and an early return per digit: every traced request parses 52
/// digits, and a branch on each digit's value costs more than a load from a
/// table that stays in cache.
fn hex_u64(digits: &[u8]) -> Option<u64> {
    let mut number = 0u64;
    let mut seen = 0u8;
    for &digit in digits {
        let nibble = NIBBLE[usize::from(digit)];
        seen |= nibble;
        number = number << 4 | u64::from(nibble & 0x0f);
    }
    (seen & !0x0f == 0).then_some(number)
}

/// The value of each lowercase hex digit; `0xff` (never a nibble) for
/// every other byte.
static NIBBLE: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut digit = 0;
    while digit < 10 {
        table[b'0' as usize + digit] = digit as u8;
        digit += 1;
    }
    let mut letter = 0;
    while letter < 6 {
        table[b'a' as usize + letter] = 10 + letter as u8;
        letter += 1;
    }
    table
};

/// Writes `traceparent` (and `tracestate` when not empty) of `span_context`,
/// and the baggage of `cx` when it has any. The lane is not written here
/// (see the [module docs](self)).
pub(crate) fn inject(span_context: &SpanContext, cx: &Context, headers: &mut HeaderMap) {
    if span_context.is_valid()
        && let Some(value) = traceparent(span_context)
    {
        // `try_insert`: a map at its size limit keeps its headers, no panic.
        let _ = headers.try_insert(TRACEPARENT, value);
        let trace_state = span_context.trace_state();
        if trace_state.into_iter().len() > 0
            && let Ok(value) = HeaderValue::from_str(&trace_state.header())
        {
            let _ = headers.try_insert(TRACESTATE, value);
        }
    }
    if !cx.baggage().is_empty() {
        BaggagePropagator::new().inject_context(cx, &mut HeaderInjector(headers));
    }
}

/// `00-{trace id}-{span id}-{flags}`, formatted on the stack: the header's
/// own bytes are the only allocation.
fn traceparent(span_context: &SpanContext) -> Option<HeaderValue> {
    let trace_id = u128::from_be_bytes(span_context.trace_id().to_bytes());
    let mut buffer = [0u8; TRACEPARENT_LEN];
    buffer[..3].copy_from_slice(b"00-");
    buffer[3..19].copy_from_slice(&hex16((trace_id >> 64) as u64));
    buffer[19..35].copy_from_slice(&hex16(trace_id as u64));
    buffer[35] = b'-';
    buffer[36..52].copy_from_slice(&hex16(u64::from_be_bytes(
        span_context.span_id().to_bytes(),
    )));
    buffer[52] = b'-';
    let flags = span_context.trace_flags() & PROPAGATED_FLAGS;
    buffer[53..55].copy_from_slice(&hex16(u64::from(flags.to_u8()))[14..]);
    // Hex digits and dashes: always a valid header value.
    HeaderValue::from_maybe_shared(Bytes::copy_from_slice(&buffer)).ok()
}

/// The 16 lowercase hex digits of `n`, most significant first, eight at a
/// time in a `u64` (one nibble per byte, then to ASCII in one addition)
/// instead of a table lookup per digit.
fn hex16(n: u64) -> [u8; 16] {
    let mut digits = [0u8; 16];
    digits[..8].copy_from_slice(&ascii_hex(spread_nibbles((n >> 32) as u32)).to_be_bytes());
    digits[8..].copy_from_slice(&ascii_hex(spread_nibbles(n as u32)).to_be_bytes());
    digits
}

/// The eight nibbles of `x`, one per byte, the most significant nibble in
/// the most significant byte.
fn spread_nibbles(x: u32) -> u64 {
    let x = u64::from(x);
    let x = (x | x << 16) & 0x0000_ffff_0000_ffff;
    let x = (x | x << 8) & 0x00ff_00ff_00ff_00ff;
    (x | x << 4) & 0x0f0f_0f0f_0f0f_0f0f
}

/// Bytes 0..=15 to `0`..=`9`, `a`..=`f`: a byte reaches 16 when 6 is added
/// exactly when it is a letter, which then needs 39 more than `'0' + n`.
/// No byte can carry into the next.
fn ascii_hex(nibbles: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let letters = ((nibbles + 6 * ONES) >> 4) & ONES;
    nibbles + u64::from(b'0') * ONES + letters * 39
}

/// The span context of an unsampled trace: the parent's when there is one
/// (with its `random` flag), else fresh ids, so the services downstream
/// honour "not sampled" for the whole trace instead of deciding again.
pub(crate) fn unsampled(parent: Option<SpanContext>) -> SpanContext {
    parent.unwrap_or_else(|| {
        // Three plain draws: `fastrand::u128(1..)` samples a range (a wide
        // multiply and a rejection loop) for the same effect. Zero is invalid.
        let trace_id = u128::from(fastrand::u64(..)) << 64 | u128::from(fastrand::u64(..));
        SpanContext::new(
            TraceId::from(trace_id.max(1)),
            SpanId::from(fastrand::u64(..).max(1)),
            TraceFlags::default(),
            true,
            TraceState::NONE,
        )
    })
}

#[cfg(test)]
mod tests;
