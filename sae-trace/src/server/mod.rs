//! The server layer: one span per request (kind server), continuing the
//! caller's trace, and one duration sample.
//!
//! # Why it is built this way
//!
//! - **Decide before building.** A W3C parent's sampled flag decides; without
//!   a valid parent (absent or malformed `traceparent`: a new trace, never an
//!   error) the [`crate::RootSampler`] does. An unsampled request builds no
//!   span and formats no attribute: it only carries the trace's ids while the
//!   handler runs, in a thread-local slot set around `call` and every poll
//!   (no allocation; OpenTelemetry 0.33 could only carry them in a `Context`,
//!   an `Arc` per request), so that the client layer propagates "not
//!   sampled" downstream and [`crate::FollowRequestSampler`] drops the
//!   handler's own root spans. A request with `baggage` or `tracestate`
//!   (rare) attaches an OpenTelemetry `Context` instead, which carries them.
//! - **The handler runs inside the span.** The response future enters the
//!   span on every poll, so a handler's own `tracing` events land in it, and
//!   tracing-opentelemetry activates the span's context so the client layer
//!   makes its spans children of this one.
//! - **gRPC finishes at the trailers.** The status of a gRPC call is usually in
//!   the trailers, so the call is finished by [`TracedBody`](crate::TracedBody)
//!   when they pass; a trailers-only response finishes at the head.
//! - **Semantic conventions**: `http.request.method`, `http.route` (when an axum
//!   router matched one: add the layer with `Router::layer` so it sees
//!   [`axum::extract::MatchedPath`]), `url.path`, `server.address`/`server.port`,
//!   `http.response.status_code`, error status on 5xx; for gRPC `rpc.system`,
//!   `rpc.service`, `rpc.method`, `rpc.grpc.status_code`, error status on the
//!   codes that mean a server fault. sae adds `sae.lane` and `sae.caller`.
//! - **Lane and caller come from the lane layer.** `sae.lane` and
//!   `sae.caller` are what the request's [`sae_core::RequestContext`] says,
//!   when there is one: sae-governance's lane layer stores it, with the lane
//!   it decided (a lane an ingress rule assigned included, which no header
//!   carries) and the caller it checked. Without one, they are read from the
//!   headers through sae-core's codec ([`sae_core::wire::lane::read`],
//!   [`sae_core::wire::caller::read`]): only a valid lane and a valid
//!   service name reach the span, never a raw header value.
//!
//! # Where it goes in the stack
//!
//! Put this layer **inside** the lane layer (sae-governance's `LaneLayer`),
//! so the lane layer runs first and the span sees its decision: with
//! `tower::ServiceBuilder`, add the lane layer before this one; with axum's
//! `Router::layer`, which wraps what was added before, add this one first.
//! That is the order of sae's server stack. Outside the lane layer, the span
//! shows the lane of the headers only.
//!
//! ```
//! use axum::{Router, routing::get};
//! use sae_trace::{RootSampler, Telemetry, Topology};
//!
//! let meter = opentelemetry::global::meter("sae");
//! let telemetry = Telemetry::with_meter("orders", &meter, RootSampler::AlwaysOn, Topology::new());
//! let app: Router = Router::new()
//!     .route("/orders/{id}", get(|| async { "an order" }))
//!     .layer(telemetry.http_server_layer());
//! # let _ = app;
//! ```

mod future;
mod layer;
mod service;
#[cfg(test)]
mod tests;

pub use future::ResponseFuture;
pub(crate) use future::finish as future_finish;
pub use layer::TraceServerLayer;
pub use service::TraceServer;
