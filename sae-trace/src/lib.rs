//! OpenTelemetry for sae services, with no code in handlers: server and client
//! tower layers for HTTP (axum, hyper) and gRPC (tonic), W3C trace-context and
//! baggage propagation, RED metrics, a call topology, and OTLP export set up in
//! one call.
//!
//! | piece | what |
//! |---|---|
//! | [`init()`] / [`Config`] / [`TraceGuard`] | tracer and meter providers exporting OTLP (gRPC or HTTP/protobuf), honouring `OTEL_*`; shutdown flushes |
//! | [`Telemetry`] | the shared state of one service's layers; makes them |
//! | [`server::ServerLayer`] | a server span per request, continuing the caller's trace; `http.server.request.duration` / `rpc.server.call.duration` |
//! | [`client::ClientLayer`] | a client span per call, child of the request served, context injected; `http.client.request.duration` / `rpc.client.call.duration`; topology |
//! | [`Topology`] | edges caller → callee with counts and latency percentiles; JSON and DOT |
//! | [`FollowRequestSampler`] / [`RootSampler`] | the SDK sampler that follows sae's decision; how new traces are sampled |
//! | [`GovernanceCounters`] / [`events`] | sae-governance's events (offline notice, ejection, retry, lane fallback) as counters |
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
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! // OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_TRACES_SAMPLER, ... are honoured.
//! let guard = sae_trace::init(sae_trace::Config::new().service_name("orders"))?;
//! let telemetry = guard.telemetry("orders");
//! let app = Router::new()
//!     .route("/orders/{id}", get(|| async { "an order" }))
//!     .layer(telemetry.http_server_layer());
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
pub mod topology;

pub use body::TracedBody;
pub use init::{Config, ExportProtocol, InitError, ShutdownError, TraceGuard, init};
pub use metrics::GovernanceCounters;
pub use sampler::{FollowRequestSampler, RootSampler};
pub use telemetry::Telemetry;
pub use topology::{Edge, EdgeStats, Topology};
