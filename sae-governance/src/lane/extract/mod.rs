//! Reading the lane a request names: the `x-sae-tag` header first (it is
//! authoritative at ingress), then the `sae-tag` member of W3C `baggage`.
//!
//! Both come from the network, so parsing is bounded and never fails: a
//! malformed value (too long, a character outside the lane alphabet,
//! non-UTF-8 bytes) is ignored with a `debug` event and the request simply
//! has no lane from that source. Baggage is read up to the W3C limits
//! ([`MAX_BAGGAGE_BYTES`] over all `baggage` headers, [`MAX_BAGGAGE_MEMBERS`]
//! members); whatever lies beyond is not looked at, so a header with
//! thousands of members costs at most one bounded scan.
//!
//! Baggage values are compared as sent: lane characters never need
//! percent-encoding, so an encoded value (`gr%61y`) is malformed.

#[cfg(test)]
mod tests;

use http::HeaderMap;
use http::header::HeaderName;
use sae_core::{Lane, wire};

// Looked up by `HeaderName`: a `&str` name is parsed and hashed anew on
// every lookup (~500 instructions, callgrind).
pub(crate) static LANE_HEADER: HeaderName = HeaderName::from_static(wire::LANE_HEADER);
pub(crate) static BAGGAGE: HeaderName = HeaderName::from_static(wire::BAGGAGE_HEADER);

/// Bytes of `baggage` looked at per request (W3C baggage: a platform must
/// propagate at least 8,192 bytes, so a well-formed sender never needs more).
pub const MAX_BAGGAGE_BYTES: usize = 8192;

/// Baggage list members looked at per request (the W3C minimum, 64).
pub const MAX_BAGGAGE_MEMBERS: usize = 64;

/// The lane `headers` name: a valid `x-sae-tag`, else a valid `sae-tag`
/// baggage member, else `None`. Malformed values are ignored with a debug
/// event.
///
/// ```
/// use http::HeaderMap;
/// use sae_governance::lane::extract;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("baggage", "user=alice,sae-tag=gray;prop=1".parse().unwrap());
/// assert_eq!(extract::from_headers(&headers).unwrap().as_str(), "gray");
/// headers.insert("x-sae-tag", "blue".parse().unwrap());
/// assert_eq!(extract::from_headers(&headers).unwrap().as_str(), "blue");
/// headers.insert("x-sae-tag", "not a lane!".parse().unwrap());
/// assert_eq!(extract::from_headers(&headers).unwrap().as_str(), "gray");
/// ```
pub fn from_headers(headers: &HeaderMap) -> Option<Lane> {
    from_lane_header(headers).or_else(|| from_baggage(headers))
}

/// The lane of the `x-sae-tag` header, if present and valid.
pub fn from_lane_header(headers: &HeaderMap) -> Option<Lane> {
    let value = headers.get(&LANE_HEADER)?;
    valid_lane(value.as_bytes(), wire::LANE_HEADER)
}

/// The lane of the `sae-tag` baggage member, if present within the limits
/// and valid.
pub fn from_baggage(headers: &HeaderMap) -> Option<Lane> {
    let mut budget = MAX_BAGGAGE_BYTES;
    let mut members = 0usize;
    for value in headers.get_all(&BAGGAGE) {
        let bytes = value.as_bytes();
        let window = &bytes[..bytes.len().min(budget)];
        let truncated = window.len() < bytes.len();
        let mut list = window.split(|b| *b == b',').peekable();
        while let Some(member) = list.next() {
            if truncated && list.peek().is_none() {
                tracing::debug!(
                    limit = MAX_BAGGAGE_BYTES,
                    "baggage longer than the limit; the rest is ignored, lane not found in it"
                );
                return None;
            }
            if trim(member).is_empty() {
                continue;
            }
            members += 1;
            if members > MAX_BAGGAGE_MEMBERS {
                tracing::debug!(
                    limit = MAX_BAGGAGE_MEMBERS,
                    "baggage has too many members; the rest is ignored, lane not found in it"
                );
                return None;
            }
            if let Some(value) = member_value(member, wire::LANE_BAGGAGE_KEY.as_bytes()) {
                return valid_lane(value, "baggage sae-tag");
            }
        }
        budget -= window.len();
        if budget == 0 {
            return None;
        }
    }
    None
}

/// The value of `member` (`key = value ; properties`) when its key is `key`.
pub(crate) fn member_value<'a>(member: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let (name, rest) = split_once(member, b'=')?;
    if trim(name) != key {
        return None;
    }
    let value = split_once(rest, b';').map_or(rest, |(value, _)| value);
    Some(trim(value))
}

/// Whether `member` is a baggage member with key `key` (value or not).
pub(crate) fn member_has_key(member: &[u8], key: &[u8]) -> bool {
    let name = split_once(member, b'=').map_or(member, |(name, _)| name);
    let name = split_once(name, b';').map_or(name, |(name, _)| name);
    trim(name) == key
}

fn valid_lane(bytes: &[u8], source: &'static str) -> Option<Lane> {
    if Lane::is_valid(bytes) {
        // Valid lanes are ASCII, so this conversion cannot fail.
        std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| Lane::new(s).ok())
    } else {
        tracing::debug!(
            source,
            len = bytes.len(),
            max = wire::MAX_LANE_LEN,
            "malformed lane ignored: it must be 1 to {} bytes of ASCII letters, digits, '-', '_' or '.'",
            wire::MAX_LANE_LEN
        );
        None
    }
}

fn split_once(bytes: &[u8], separator: u8) -> Option<(&[u8], &[u8])> {
    let at = bytes.iter().position(|b| *b == separator)?;
    Some((&bytes[..at], &bytes[at + 1..]))
}

/// Trims baggage optional whitespace (spaces and tabs).
pub(crate) fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |end| end + 1);
    &bytes[start..end]
}
