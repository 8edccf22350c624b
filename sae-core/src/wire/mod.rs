//! The sae wire protocol: every name that crosses a process boundary, and
//! the one codec that reads and writes them.
//!
//! This module is the specification. Two sae processes (or a sae process and
//! any other implementation) interoperate when they agree on these names and
//! meanings, and on the JSON encoding of an instance in
//! [`crate::instance::encoding`]. Every sae crate reads and writes these
//! headers through this module ([`lane`], [`caller`]) and looks them up by
//! the [`HeaderName`] constants below, so there is one reading of each.
//!
//! | where | name | meaning |
//! |---|---|---|
//! | response header / gRPC initial metadata | [`OFFLINE_HEADER`] (`x-sae-offline`) | this instance is draining; the value is its instance id. The consumer stops choosing it at once. The response itself is a normal response and must be used. |
//! | response header (HTTP/1.1) | `connection: close` | sent together with the notice so pooled keep-alive connections go away. HTTP/2 connections receive a GOAWAY from the graceful server shutdown instead. |
//! | request header | [`LANE_HEADER`] (`x-sae-tag`) | the traffic lane of the request (for example `gray`). Authoritative at ingress. |
//! | W3C `baggage` member | [`LANE_BAGGAGE_KEY`] (`sae-tag`) | the same lane, carried hop to hop. |
//! | request header | [`CALLER_HEADER`] (`x-sae-caller`) | the service name of the caller, for topology and authorization; a valid [`ServiceName`](crate::ServiceName) or ignored. |
//! | instance metadata | [`LANE_METADATA_KEY`] (`sae.lane`) | the lane an instance serves; absent means the base version. |
//! | instance metadata | [`WARMUP_METADATA_KEY`] (`sae.warmup_ms`) | advertised warm-up window, milliseconds. |
//!
//! # Offline notice
//!
//! A provider that has begun to drain keeps serving, and adds
//! `x-sae-offline: <instance id>` to every response (for gRPC: to the initial
//! metadata, which includes trailers-only error responses, because those are
//! carried in the response header block). A consumer that receives the notice
//! must stop sending *new* requests to that instance; requests already in
//! flight complete normally. The instance becomes eligible again only when the
//! registry announces a registration newer than the one that was evicted.
//!
//! # Lane
//!
//! A lane value is 1 to [`MAX_LANE_LEN`] bytes of ASCII letters, digits, `-`,
//! `_` and `.`. A request whose lane header or baggage member is malformed is
//! treated as having no lane; it is never rejected for it. [`lane::read`]
//! reads it (header first, then baggage, bounded), [`lane::write`] writes
//! both, [`lane::remove`] strips both.
//!
//! # Caller
//!
//! `x-sae-caller` is read only through [`caller::read`], which accepts a
//! valid service name and nothing else: a value from the network never
//! reaches a span attribute or a [`RequestContext`](crate::RequestContext)
//! unchecked.
//!
//! # Trust
//!
//! All three request headers come from whoever sent the request. Between
//! services of one system they are trusted; at the edge of a system a server
//! drops them unless the peer is trusted (the lane layer's trust setting in
//! sae-governance), so nobody outside can pick a lane.

pub mod caller;
pub mod event;
pub mod lane;
#[cfg(test)]
mod lane_tests;

use http::header::HeaderName;

/// Response header (and gRPC initial-metadata key) that announces the offline notice.
pub const OFFLINE_HEADER: &str = "x-sae-offline";

/// Request header that carries the traffic lane at ingress.
pub const LANE_HEADER: &str = "x-sae-tag";

/// W3C baggage member that carries the traffic lane from hop to hop.
pub const LANE_BAGGAGE_KEY: &str = "sae-tag";

/// The W3C baggage header name.
pub const BAGGAGE_HEADER: &str = "baggage";

/// Request header that names the calling service.
pub const CALLER_HEADER: &str = "x-sae-caller";

/// Instance metadata key holding the lane an instance serves.
pub const LANE_METADATA_KEY: &str = "sae.lane";

/// Instance metadata key holding the advertised warm-up window in milliseconds.
pub const WARMUP_METADATA_KEY: &str = "sae.warmup_ms";

/// Longest accepted lane value, in bytes.
pub const MAX_LANE_LEN: usize = 63;

// Header names for lookups: a `&str` name is parsed and hashed anew on
// every lookup, a `HeaderName` is not.

/// [`OFFLINE_HEADER`] as a [`HeaderName`].
pub const OFFLINE: HeaderName = HeaderName::from_static(OFFLINE_HEADER);
/// [`LANE_HEADER`] as a [`HeaderName`].
pub const LANE: HeaderName = HeaderName::from_static(LANE_HEADER);
/// [`CALLER_HEADER`] as a [`HeaderName`].
pub const CALLER: HeaderName = HeaderName::from_static(CALLER_HEADER);
/// [`BAGGAGE_HEADER`] as a [`HeaderName`].
pub const BAGGAGE: HeaderName = HeaderName::from_static(BAGGAGE_HEADER);
