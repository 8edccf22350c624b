//! The client layer: one span per call (kind client), a child of the span
//! being served, with the trace context injected into the request; one
//! duration sample and one topology sample.
//!
//! # Why it is built this way
//!
//! - **The parent is the request being served.** In this order: a sampled
//!   current OpenTelemetry span (inside a sampled server span,
//!   tracing-opentelemetry has activated its context) gets a child span; the
//!   unsampled request the server layer carries (its ids, and the W3C random
//!   flag when the caller set it) or an unsampled current OpenTelemetry span
//!   is continued without a span; only a call made outside any request asks
//!   the [`crate::RootSampler`].
//! - **Unsampled calls only propagate.** `traceparent` (not sampled),
//!   `tracestate` and `baggage` are written; no span is built, no attribute
//!   formatted.
//! - **Governance facts land in the client span.** The inner service (sae's
//!   balancing `Client`) runs inside the span: it records `sae.instance.id`
//!   of the endpoint it picked, and its events (offline notice seen, connect
//!   failure and ejection, retry, fallback to the base lane) become span events.
//! - **The lane is on the span, not written here.** `sae.lane` is the lane
//!   the call carries ([`sae_core::RequestContext::outbound_lane`]: an
//!   explicit context in the request's extensions, else the lane of the
//!   request this task is serving). Writing it on the wire is the job of one
//!   writer, sae-governance's `Client`, which runs inside this layer and
//!   calls [`sae_core::wire::lane::write`]; this layer propagates only the
//!   OpenTelemetry baggage of the current context (the caller's own
//!   baggage), with `traceparent` and `tracestate`. Behind another client,
//!   write the lane yourself with [`sae_core::wire::lane::write`].
//! - **`x-sae-caller` names this service** (unless the request already names
//!   one; [`sae_core::wire::caller::write_if_absent`]), so the callee's spans
//!   know their caller.
//! - **Topology.** The edge caller → callee is looked up once, when the layer
//!   is built; each call adds to its atomics, sampled or not.
//! - **One shared recorder per service.** A call holds one `Arc` for its
//!   histogram, topology edge and the service's first bound metric
//!   attribute sets, so finishing takes no lock and no map lookup.
//!
//! ```
//! use sae_trace::{RootSampler, Telemetry, Topology};
//! use tower::ServiceBuilder;
//!
//! let meter = opentelemetry::global::meter("sae");
//! let telemetry = Telemetry::with_meter("frontend", &meter, RootSampler::AlwaysOn, Topology::new());
//! let inner = tower::service_fn(|_request: http::Request<String>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
//! });
//! let orders = ServiceBuilder::new()
//!     .layer(telemetry.http_client_layer("orders"))
//!     .service(inner);
//! # let _ = orders;
//! ```

mod future;
mod layer;
mod service;
#[cfg(test)]
mod tests;

pub use future::ResponseFuture;
pub use layer::TraceClientLayer;
pub use service::TraceClient;
