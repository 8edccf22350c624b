//! [`LaneLayer`]: the server side of canary lanes.
//!
//! For every request it decides the lane once, at arrival:
//!
//! 1. a lane already in the request's [`RequestContext`] (an outer layer
//!    decided) is kept;
//! 2. from a peer it does not believe ([`IngressTrust`](super::IngressTrust),
//!    at an edge), `x-sae-tag`, the `sae-tag` baggage member and
//!    `x-sae-caller` are removed from the request;
//! 3. else a valid `x-sae-tag` header, else a valid `sae-tag` baggage member
//!    ([`sae_core::wire::lane`]; malformed values are ignored with a debug
//!    event, never rejected);
//! 4. else the ingress [`LaneRules`](super::LaneRules), if the layer has any;
//! 5. else none: the base lane.
//!
//! It stores the result in the [`RequestContext`] of the request's
//! extensions (with the caller named by `x-sae-caller`, when valid; a base
//! request with no caller gets none, which means the same) and runs
//! the inner service — its `call` and every poll of its future — inside the
//! task-local lane scope ([`sae_core::lane::scope`]), so the sae
//! [`Client`](crate::Client) stamps the lane on every outbound call the
//! handler makes, with no code in the handler.
//!
//! The rules are read once per request from their current snapshot, so a
//! request keeps the lane (and the rules) it started with when the rules are
//! swapped while it is in flight.

mod future;
mod layer;
mod service;
#[cfg(test)]
mod tests;

pub use future::ResponseFuture;
pub use layer::LaneLayer;
pub use service::LaneService;

use sae_core::RequestContext;
