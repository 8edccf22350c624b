//! OpenTelemetry for sae services, with no code in handlers: server and client
//! tower layers for HTTP (axum, hyper) and gRPC (tonic), W3C trace-context and
//! baggage propagation, RED metrics, a call topology, and OTLP export set up in
//! one call.
//!
//! | piece | what |
//! |---|---|
//! | [`init()`] / [`Config`] / [`TraceGuard`] | tracer and meter providers exporting OTLP (gRPC or HTTP/protobuf), honouring `OTEL_*`; shutdown flushes |
//! | [`Telemetry`] | the shared state of one service's layers; makes them |
//! | [`TraceServerLayer`] ([`server`]) | a server span per request, continuing the caller's trace; `http.server.request.duration` / `rpc.server.call.duration` |
//! | [`TraceClientLayer`] ([`client`]) | a client span per call, child of the request served, context injected; `http.client.request.duration` / `rpc.client.call.duration`; topology |
//! | [`Topology`] | edges caller → callee with counts and latency percentiles; JSON and DOT |
//! | [`FollowRequestSampler`] / [`RootSampler`] | the SDK sampler that follows sae's decision; how new traces are sampled |
//! | [`GovernanceCounters`] / [`events`] | sae-governance's events (offline notice, ejections, retries, lane fallback, breaker, timeouts, rejections; named in [`sae_core::wire::event`]) as counters |
//!
//! sae's own names are read and written through [`sae_core::wire`], the one
//! codec: the lane (which these layers record on spans but do not write on
//! the wire: sae-governance's `Client` does), `x-sae-caller` (validated
//! before it reaches a span) and the names of the governance events. The W3C
//! `traceparent` keeps its `sampled` and `random` flags from hop to hop.
//!
//! An unsampled request builds no span and formats no attribute: it pays the
//! sampling decision, the propagation headers (`traceparent` formatted on the
//! stack; its bytes are its only allocation, besides the header map's own
//! storage when the request had no header yet), one duration sample on a
//! pre-bound attribute set per layer and, on the client, one topology sample.
//! The server layer carries the unsampled trace to the client layer in a
//! thread-local slot rather than an OpenTelemetry `Context` (an `Arc` per
//! request); only a request with `baggage` or `tracestate` attaches one.
//!
//! A handler's own spans follow the request: [`FollowRequestSampler`] (the
//! SDK sampler [`init()`] installs) drops the root spans opened while an
//! unsampled request is served. Wrap your sampler in it when you build your
//! own tracer provider.
//!
//! # Example
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use sae_trace::{TraceClient, TraceClientLayer, TraceServerLayer};
//! use tower::{Layer, service_fn};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! // OTLP over HTTP/protobuf to http://localhost:4318 unless the Config or
//! // OTEL_EXPORTER_OTLP_PROTOCOL / _ENDPOINT say otherwise; OTEL_TRACES_SAMPLER,
//! // ... are honoured. An export failure is logged (rate-limited) while serving.
//! let guard = sae_trace::init(sae_trace::Config::new().service_name("orders"))?;
//! let telemetry = guard.telemetry("orders");
//!
//! // Server side: a span per request (inside sae-governance's lane layer,
//! // when you use one, so the span sees the lane it decided).
//! let server: TraceServerLayer = telemetry.http_server_layer();
//! let app = Router::new()
//!     .route("/orders/{id}", get(|| async { "an order" }))
//!     .layer(server);
//!
//! // Client side: a span per call to `payments` (around sae-governance's
//! // `Client` in a real service; any tower service of `http::Request` works).
//! let client: TraceClientLayer = telemetry.http_client_layer("payments");
//! let payments: TraceClient<_> = client.layer(service_fn(|_: http::Request<String>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
//! }));
//! # drop(payments);
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! # let serve = async move { axum::serve(listener, app).await };
//! # drop(serve);
//! // ... serve; on the way out:
//! println!("{}", guard.topology().to_dot());
//! guard.shutdown().await?;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod body;
mod call;
mod carrier;
pub mod client;
pub mod events;
pub mod init;
mod metrics;
mod propagation;
mod recorder;
mod sampler;
pub mod server;
mod spans;
mod telemetry;
#[cfg(test)]
mod test_support;
pub mod topology;

pub use body::TracedBody;
pub use client::{TraceClient, TraceClientLayer};
pub use init::{Config, ExportProtocol, InitError, ShutdownError, TraceGuard, init};
pub use metrics::GovernanceCounters;
pub use sampler::{FollowRequestSampler, RootSampler};
pub use server::{TraceServer, TraceServerLayer};
pub use telemetry::Telemetry;
pub use topology::{Edge, EdgeStats, Topology};
