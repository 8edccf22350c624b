//! The client side: the lane of an outbound call, written on the wire.
//!
//! The lane of a call made through sae's [`Client`](crate::Client) is
//! [`RequestContext::outbound_lane`]: the lane of the [`RequestContext`] in
//! the outbound request's extensions when the caller put one there (`lane:
//! None` then means "send this call in base"), else the task's current
//! lane. The client routes by it and writes it with
//! [`wire::lane::write`]: the `x-sae-tag` header and the `sae-tag` baggage
//! member, so every kind of next hop can read it. A call with no lane leaves
//! the headers as they are; an explicit base context removes them.

#[cfg(test)]
mod tests;

use http::Request;
use sae_core::{Lane, RequestContext, wire};

/// Decides the lane of an outbound `request` (see the module docs), writes
/// it into the headers, and returns it for endpoint selection.
pub(crate) fn prepare<B>(request: &mut Request<B>) -> Option<Lane> {
    let lane = RequestContext::outbound_lane(request.extensions());
    match &lane {
        Some(lane) => wire::lane::write(request.headers_mut(), lane),
        None if RequestContext::from_extensions(request.extensions()).is_some() => {
            wire::lane::remove(request.headers_mut());
        }
        None => {}
    }
    lane
}
