//! The sae wire protocol: every name that crosses a process boundary, and
//! the one codec that reads and writes them.
//!
//! This module is the specification. Two sae processes (or a sae process and
//! any other implementation) interoperate when they agree on these names and
//! meanings, and on the JSON encoding of an instance in
//! [`crate::instance::encoding`]. Every sae crate reads and writes these
//! headers through this module ([`lane`], [`caller`], [`deadline`]; a
//! provider reads them all in one pass with [`SaeHeaders`]) and looks them
//! up by the [`HeaderName`] constants below, so there is one reading of each.
//!
//! | where | name | meaning |
//! |---|---|---|
//! | response header / gRPC initial metadata | [`OFFLINE_HEADER`] (`x-sae-offline`) | this instance is draining; the value is its instance id. The consumer stops choosing it at once. The response itself is a normal response and must be used. |
//! | response header (HTTP/1.1) | `connection: close` | sent together with the notice so pooled keep-alive connections go away. HTTP/2 connections receive a GOAWAY from the graceful server shutdown instead. |
//! | request header | [`LANE_HEADER`] (`x-sae-tag`) | the traffic lane of the request (for example `gray`). Authoritative at ingress. |
//! | W3C `baggage` member | [`LANE_BAGGAGE_KEY`] (`sae-tag`) | the same lane, carried hop to hop. |
//! | request header | [`CALLER_HEADER`] (`x-sae-caller`) | the service name of the caller, for topology and authorization; a valid [`ServiceName`](crate::ServiceName) or ignored. |
//! | request header | [`TIMEOUT_HEADER`] (`x-sae-timeout`) | how long the caller still waits, milliseconds ([`deadline`]); gRPC's `grpc-timeout` is read too. |
//! | request header | [`RETRY_HEADER`] (`x-sae-retry`) | this request is a retry (the value is its attempt number); calls made while serving it are not retried again. |
//! | response header / gRPC initial metadata | [`REJECTED_HEADER`] (`x-sae-rejected`) | the provider refused the request before processing it ([`rejection`]; `503`, `429` or `RESOURCE_EXHAUSTED`): safe to send elsewhere, whatever the method. |
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
//! # Deadline and retries
//!
//! A server reads the caller's budget at arrival; every call made while
//! serving the request gets at most what is left of it, and carries what is
//! left on. A retried request carries `x-sae-retry`; a server serving one
//! does not retry the calls it makes for it, so retries do not multiply
//! down a call chain.
//!
//! # Trust
//!
//! The request headers come from whoever sent the request. Between
//! services of one system they are trusted; at the edge of a system a server
//! drops them unless the peer is trusted (the lane layer's trust setting in
//! sae-governance), so nobody outside can pick a lane.

pub mod caller;
pub mod deadline;
pub mod event;
pub mod lane;
#[cfg(test)]
mod lane_tests;
pub mod rejection;
mod scan;

use http::header::HeaderName;

pub use scan::SaeHeaders;

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

/// Request header: how long the caller still waits, in milliseconds.
pub const TIMEOUT_HEADER: &str = "x-sae-timeout";

/// gRPC's request header for the same, read and written for gRPC calls.
pub const GRPC_TIMEOUT_HEADER: &str = "grpc-timeout";

/// Request header marking a retry; the value is the attempt number (2, 3, …).
pub const RETRY_HEADER: &str = "x-sae-retry";

/// Response header (and gRPC initial-metadata key): rejected before
/// processing; the value says why.
pub const REJECTED_HEADER: &str = "x-sae-rejected";

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
/// [`TIMEOUT_HEADER`] as a [`HeaderName`].
pub const TIMEOUT: HeaderName = HeaderName::from_static(TIMEOUT_HEADER);
/// [`GRPC_TIMEOUT_HEADER`] as a [`HeaderName`].
pub const GRPC_TIMEOUT: HeaderName = HeaderName::from_static(GRPC_TIMEOUT_HEADER);
/// [`RETRY_HEADER`] as a [`HeaderName`].
pub const RETRY: HeaderName = HeaderName::from_static(RETRY_HEADER);
/// [`REJECTED_HEADER`] as a [`HeaderName`].
pub const REJECTED: HeaderName = HeaderName::from_static(REJECTED_HEADER);
