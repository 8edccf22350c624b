//! Canary lanes: a request in lane L reaches L's instances at every hop of
//! the call chain, falls back to the base version where a service has none,
//! and traffic outside L never touches them.
//!
//! # Why
//!
//! A canary release or a per-developer test lane runs a few instances tagged
//! with a lane (`gray`, `dev-alice`; untagged = base) next to the base
//! version. Routing only the first hop is not enough: a gray request must
//! stay gray through every service it calls, even services that have no
//! gray version in between (MSE's full-link canary with `x-mse-tag`, Dubbo's
//! TagRouter, OpenSergo's lane in trace baggage). sae does it with two
//! pieces and no code in handlers:
//!
//! - **server**: [`LaneLayer`] decides the lane of each request at arrival
//!   (`x-sae-tag`, else the `sae-tag` baggage member, else the ingress
//!   [`LaneRules`]), stores it in the
//!   [`RequestContext`](sae_core::RequestContext), and runs the handler in a
//!   task-local scope ([`current`]) that survives every `.await`. At the
//!   edge of a system it believes only trusted peers' lane headers
//!   ([`IngressTrust`]);
//! - **client**: the sae [`Client`](crate::Client) reads that lane for each
//!   outbound call, picks an instance of the lane (else base, or
//!   [`Error::NoInstanceInLane`](sae_core::Error::NoInstanceInLane) for a
//!   strict service, see [`LaneFallback`](crate::balance::LaneFallback)),
//!   and writes the lane as both the `x-sae-tag` header and the `sae-tag`
//!   baggage member ([`sae_core::wire::lane::write`]), so the next hop does
//!   the same. A fallback to base still carries the lane: B-base calls C-gray.
//!
//! A request with no lane only ever reaches base instances.
//!
//! # `tokio::spawn`
//!
//! The lane is a task-local: a task spawned from a handler starts with
//! **no lane**, and its outbound calls go to base. Carry it over with
//! [`carry`]:
//!
//! ```
//! # use sae_governance::lane;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! tokio::spawn(lane::carry(async move { /* calls here keep the request's lane */ }));
//! # }
//! ```
//!
//! Or put it on the outbound request explicitly: a
//! [`RequestContext`](sae_core::RequestContext) in the request's extensions
//! wins over the task's lane. `spawn_blocking` and threads are the same.
//!
//! # Cost
//!
//! Per request: a header lookup or two (bounded baggage scan), an `Arc`
//! clone of the lane, and a task-local swap per poll. Rules run only for
//! requests without a lane. Outbound: the lane header plus one baggage
//! header rebuilt. Selection: one hash-map lookup of the lane subset.

pub(crate) mod outbound;
pub mod rules;
pub mod server;
mod trust;

pub use rules::{LaneRules, RuleFormat, RuleSet};
pub use sae_core::lane::{carry, current, scope};
pub use server::LaneLayer;
pub use trust::IngressTrust;
