//! The client side: the lane of an outbound call, written on the wire.
//!
//! The lane of a call made through sae's [`Client`](crate::Client) is the
//! lane of the [`RequestContext`] in the outbound request's extensions when
//! the caller put one there (`lane: None` then means "send this call in
//! base"), else the task's current lane ([`scope::current`]). The client
//! routes by it and writes it twice, so every kind of next hop can read it:
//! the `x-sae-tag` header (replacing any) and the `sae-tag` member of W3C
//! `baggage` (replacing an earlier `sae-tag` member, keeping every other
//! member and its order). A call with no lane leaves the headers as they are.

#[cfg(test)]
mod tests;

use http::{HeaderMap, HeaderValue, Request};
use sae_core::{Lane, RequestContext, wire};

use super::extract::{BAGGAGE, LANE_HEADER, member_has_key, trim};
use super::scope;

/// Decides the lane of an outbound `request` (see the module docs), writes
/// it into the headers, and returns it for endpoint selection.
pub(crate) fn prepare<B>(request: &mut Request<B>) -> Option<Lane> {
    let lane = match RequestContext::from_extensions(request.extensions()) {
        Some(context) => {
            let lane = context.lane.clone();
            if lane.is_none() {
                remove(request.headers_mut());
            }
            lane
        }
        None => scope::current(),
    }?;
    stamp(request.headers_mut(), &lane);
    Some(lane)
}

/// Writes `lane` as the `x-sae-tag` header and the `sae-tag` baggage member
/// of `headers`, keeping the other baggage members. For clients other than
/// sae's own that should carry the lane too.
///
/// ```
/// use http::HeaderMap;
/// use sae_core::Lane;
/// use sae_governance::lane::outbound;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("baggage", "user=alice,sae-tag=old".parse().unwrap());
/// outbound::stamp(&mut headers, &Lane::new("gray")?);
/// assert_eq!(headers["x-sae-tag"], "gray");
/// assert_eq!(headers["baggage"], "user=alice,sae-tag=gray");
/// # Ok::<(), sae_core::Error>(())
/// ```
pub fn stamp(headers: &mut HeaderMap, lane: &Lane) {
    // A lane is ASCII letters, digits, '-', '_' and '.': always a valid value.
    let Ok(value) = HeaderValue::from_str(lane.as_str()) else {
        return;
    };
    headers.insert(LANE_HEADER.clone(), value);
    let member = format!("{}={lane}", wire::LANE_BAGGAGE_KEY);
    rewrite_baggage(headers, Some(&member));
}

/// Removes the lane from `headers`: the `x-sae-tag` header and the
/// `sae-tag` baggage member (other members stay).
pub fn remove(headers: &mut HeaderMap) {
    headers.remove(&LANE_HEADER);
    if headers.contains_key(&BAGGAGE) {
        rewrite_baggage(headers, None);
    }
}

/// Rebuilds `baggage` as one header: every member but `sae-tag`, in order,
/// then `lane_member` when given.
fn rewrite_baggage(headers: &mut HeaderMap, lane_member: Option<&str>) {
    let key = wire::LANE_BAGGAGE_KEY.as_bytes();
    let mut list: Vec<u8> = Vec::new();
    for value in headers.get_all(&BAGGAGE) {
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
    headers.remove(&BAGGAGE);
    if list.is_empty() {
        return;
    }
    // Built from bytes of valid header values and ',': always valid.
    if let Ok(value) = HeaderValue::from_bytes(&list) {
        headers.insert(BAGGAGE.clone(), value);
    }
}
