//! The lane on the wire: read from the `x-sae-tag` header first (it is
//! authoritative at ingress), then the `sae-tag` member of W3C `baggage`;
//! written as both.
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

use http::{HeaderMap, HeaderValue};

use crate::{Lane, wire};

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
/// use sae_core::wire;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("baggage", "user=alice,sae-tag=gray;prop=1".parse().unwrap());
/// assert_eq!(wire::lane::read(&headers).unwrap().as_str(), "gray");
/// headers.insert("x-sae-tag", "blue".parse().unwrap());
/// assert_eq!(wire::lane::read(&headers).unwrap().as_str(), "blue");
/// headers.insert("x-sae-tag", "not a lane!".parse().unwrap());
/// assert_eq!(wire::lane::read(&headers).unwrap().as_str(), "gray");
/// ```
pub fn read(headers: &HeaderMap) -> Option<Lane> {
    read_header(headers).or_else(|| read_baggage(headers))
}

/// The lane of the `x-sae-tag` header, if present and valid.
pub fn read_header(headers: &HeaderMap) -> Option<Lane> {
    header_value(headers.get(&wire::LANE)?)
}

/// The lane of an `x-sae-tag` value, if valid.
pub(crate) fn header_value(value: &HeaderValue) -> Option<Lane> {
    valid_lane(value.as_bytes(), wire::LANE_HEADER)
}

/// The lane of the `sae-tag` baggage member, if present within the limits
/// and valid.
pub fn read_baggage(headers: &HeaderMap) -> Option<Lane> {
    let mut budget = MAX_BAGGAGE_BYTES;
    let mut members = 0usize;
    for value in headers.get_all(&wire::BAGGAGE) {
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
fn member_value<'a>(member: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let (name, rest) = split_once(member, b'=')?;
    if trim(name) != key {
        return None;
    }
    let value = split_once(rest, b';').map_or(rest, |(value, _)| value);
    Some(trim(value))
}

/// Whether `member` is a baggage member with key `key` (value or not).
pub(super) fn member_has_key(member: &[u8], key: &[u8]) -> bool {
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
pub(super) fn trim(bytes: &[u8]) -> &[u8] {
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

/// Writes `lane` as the `x-sae-tag` header (replacing any) and the `sae-tag`
/// baggage member (replacing an earlier `sae-tag` member, keeping every
/// other member and its order).
///
/// ```
/// use http::HeaderMap;
/// use sae_core::{Lane, wire};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("baggage", "user=alice,sae-tag=old".parse().unwrap());
/// wire::lane::write(&mut headers, &Lane::new("gray")?);
/// assert_eq!(headers["x-sae-tag"], "gray");
/// assert_eq!(headers["baggage"], "user=alice,sae-tag=gray");
/// # Ok::<(), sae_core::Error>(())
/// ```
pub fn write(headers: &mut HeaderMap, lane: &Lane) {
    // A lane is ASCII letters, digits, '-', '_' and '.': always a valid value.
    let Ok(value) = HeaderValue::from_str(lane.as_str()) else {
        return;
    };
    headers.insert(wire::LANE, value);
    let member = format!("{}={lane}", wire::LANE_BAGGAGE_KEY);
    rewrite_baggage(headers, Some(&member));
}

/// Removes the lane from `headers`: the `x-sae-tag` header and the
/// `sae-tag` baggage member (other members stay).
pub fn remove(headers: &mut HeaderMap) {
    headers.remove(&wire::LANE);
    if headers.contains_key(&wire::BAGGAGE) {
        rewrite_baggage(headers, None);
    }
}

/// Rebuilds `baggage` as one header: every member but `sae-tag`, in order,
/// then `lane_member` when given.
fn rewrite_baggage(headers: &mut HeaderMap, lane_member: Option<&str>) {
    let key = wire::LANE_BAGGAGE_KEY.as_bytes();
    let mut list: Vec<u8> = Vec::new();
    for value in headers.get_all(&wire::BAGGAGE) {
        for member in value.as_bytes().split(|b| *b == b',') {
            let member = trim(member);
            if member.is_empty() || member_has_key(member, key) {
                continue;
            }
            if !list.is_empty() {
                list.push(b',');
            }
            list.extend_from_slice(member);
        }
    }
    if let Some(lane_member) = lane_member {
        if !list.is_empty() {
            list.push(b',');
        }
        list.extend_from_slice(lane_member.as_bytes());
    }
    headers.remove(&wire::BAGGAGE);
    if list.is_empty() {
        return;
    }
    // Built from bytes of valid header values and ',': always valid.
    if let Ok(value) = HeaderValue::from_bytes(&list) {
        headers.insert(wire::BAGGAGE, value);
    }
}
