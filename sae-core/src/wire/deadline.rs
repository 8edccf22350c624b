//! The deadline on the wire: how long the caller still waits.
//!
//! gRPC carries it as `grpc-timeout` (`<1-8 digits><unit>`, units `H M S m
//! u n`); sae carries it over HTTP as `x-sae-timeout: <milliseconds>`. Both
//! are relative, so the hosts' clocks need not agree. A server reads it at
//! arrival and every call made while serving the request gets at most what
//! is left; a client writes what is left of its own budget.

use std::time::Duration;

use http::{HeaderMap, HeaderValue};

use crate::wire;

/// Longest deadline read from the wire (a day): a larger value is treated
/// as none rather than overflowing a clock.
pub const MAX_DEADLINE: Duration = Duration::from_secs(24 * 3600);

/// The budget the caller gave, from `x-sae-timeout` or `grpc-timeout`
/// (the shorter when both are there); malformed values are ignored.
///
/// ```
/// use std::time::Duration;
/// use http::HeaderMap;
/// use sae_core::wire;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("grpc-timeout", "250m".parse().unwrap());
/// assert_eq!(wire::deadline::read(&headers), Some(Duration::from_millis(250)));
/// headers.insert("x-sae-timeout", "100".parse().unwrap());
/// assert_eq!(wire::deadline::read(&headers), Some(Duration::from_millis(100)));
/// ```
pub fn read(headers: &HeaderMap) -> Option<Duration> {
    from_values(
        headers.get(&wire::TIMEOUT),
        headers.get(&wire::GRPC_TIMEOUT),
    )
}

/// The budget of an `x-sae-timeout` and a `grpc-timeout` value.
pub(crate) fn from_values(
    sae: Option<&HeaderValue>,
    grpc: Option<&HeaderValue>,
) -> Option<Duration> {
    let sae = sae.and_then(|value| parse_millis(value.as_bytes()));
    let grpc = grpc.and_then(|value| parse_grpc(value.as_bytes()));
    match (sae, grpc) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
    .filter(|budget| *budget <= MAX_DEADLINE)
}

/// Writes `remaining` as `x-sae-timeout` (milliseconds, rounded up so a
/// budget under a millisecond is not read as none) and, for gRPC, as
/// `grpc-timeout` too, replacing earlier values. A caller's own shorter
/// `grpc-timeout` is kept.
pub fn write(headers: &mut HeaderMap, remaining: Duration, grpc: bool) {
    let millis = remaining.as_nanos().div_ceil(1_000_000).min(99_999_999) as u64;
    headers.insert(wire::TIMEOUT, HeaderValue::from(millis));
    if grpc {
        let own = headers
            .get(&wire::GRPC_TIMEOUT)
            .and_then(|value| parse_grpc(value.as_bytes()));
        if own.is_none_or(|own| own > remaining)
            && let Ok(value) = HeaderValue::from_str(&format!("{millis}m"))
        {
            headers.insert(wire::GRPC_TIMEOUT, value);
        }
    }
}

fn parse_millis(bytes: &[u8]) -> Option<Duration> {
    if bytes.is_empty() || bytes.len() > 12 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(bytes)
        .ok()?
        .parse::<u64>()
        .ok()
        .map(Duration::from_millis)
}

/// `grpc-timeout`: 1 to 8 ASCII digits and a unit (gRPC over HTTP/2 spec).
fn parse_grpc(bytes: &[u8]) -> Option<Duration> {
    let (unit, digits) = bytes.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(match unit {
        b'H' => Duration::from_secs(value.checked_mul(3600)?),
        b'M' => Duration::from_secs(value.checked_mul(60)?),
        b'S' => Duration::from_secs(value),
        b'm' => Duration::from_millis(value),
        b'u' => Duration::from_micros(value),
        b'n' => Duration::from_nanos(value),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn grpc_units_and_malformed_values() {
        for (value, expected) in [
            ("1H", Some(Duration::from_secs(3600))),
            ("2M", Some(Duration::from_secs(120))),
            ("3S", Some(Duration::from_secs(3))),
            ("250m", Some(Duration::from_millis(250))),
            ("7u", Some(Duration::from_micros(7))),
            ("9n", Some(Duration::from_nanos(9))),
            ("123456789m", None),
            ("m", None),
            ("12", None),
            ("-5m", None),
            ("5x", None),
            ("99999999H", None),
        ] {
            assert_eq!(
                read(&headers(&[("grpc-timeout", value)])),
                expected,
                "{value}"
            );
        }
    }

    #[test]
    fn sae_header_in_milliseconds_and_the_shorter_wins() {
        assert_eq!(
            read(&headers(&[("x-sae-timeout", "1500")])),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(read(&headers(&[("x-sae-timeout", "soon")])), None);
        assert_eq!(read(&headers(&[("x-sae-timeout", "")])), None);
        assert_eq!(
            read(&headers(&[
                ("x-sae-timeout", "900"),
                ("grpc-timeout", "1S")
            ])),
            Some(Duration::from_millis(900))
        );
        assert_eq!(
            read(&headers(&[("x-sae-timeout", "999999999999")])),
            None,
            "past a day"
        );
    }

    #[test]
    fn written_budgets_round_up_and_keep_a_shorter_grpc_timeout() {
        let mut map = HeaderMap::new();
        write(&mut map, Duration::from_micros(1), true);
        assert_eq!(map["x-sae-timeout"], "1");
        assert_eq!(map["grpc-timeout"], "1m");
        let mut map = headers(&[("grpc-timeout", "50m")]);
        write(&mut map, Duration::from_millis(300), true);
        assert_eq!(map["x-sae-timeout"], "300");
        assert_eq!(map["grpc-timeout"], "50m");
        let mut map = HeaderMap::new();
        write(&mut map, Duration::from_millis(300), false);
        assert!(map.get("grpc-timeout").is_none());
        assert_eq!(read(&map), Some(Duration::from_millis(300)));
    }
}
