//! # sae: microservice governance for axum and tonic, as tower middleware
//!
//! sae gives Rust services what Alibaba's SAE/MSE agent gives Java services,
//! with no agent and no sidecar: **lossless deploys** (a provider that is
//! going away deregisters first, keeps serving, and stamps every response
//! with an offline notice; consumers drop it on the spot), **canary lanes**
//! (a request tagged `gray` reaches gray instances at every hop, with base
//! fallback), and **OpenTelemetry tracing** (spans, W3C propagation, metrics,
//! a call topology, OTLP export), on an embedded registry by default and on
//! etcd (feature `etcd`).
//!
//! This facade re-exports the member crates behind features:
//!
//! | feature | module | what |
//! |---|---|---|
//! | always | [`core`] (and the items re-exported at the root) | the vocabulary: [`Instance`], [`Registry`], [`Lifecycle`], [`wire`], [`Error`] |
//! | `registry` (default) | [`registry`] | [`registry::MemoryRegistry`], [`registry::from_url`], the [`registry::Registrar`] |
//! | `governance` (default) | [`governance`] | [`Provider`] (serve with lossless stop), [`Client`] (discovery, balancing, eviction), lanes (`governance::lane`) |
//! | `trace` (default) | [`trace`] | OpenTelemetry layers, `trace::init` for OTLP export, the call topology |
//! | `etcd` | `registry::etcd` | `EtcdRegistry` and `etcd://` URLs (its build needs `protoc`) |
//! | `etcd-test-util` | `registry::etcd::testing` | real etcd processes on loopback, for tests |
//! | `full` | | all of the above |
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use axum::{Router, routing::get};
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use sae::{Client, Instance, Provider};
//! use tower::ServiceExt;
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let registry = sae::registry::from_url("memory://")?; // the embedded registry
//!
//! // Provider: registers once ready; on SIGTERM, preStop or a handle it
//! // deregisters first, stamps `x-sae-offline`, then drains.
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let provider = Provider::builder(Instance::builder("orders").build()?, registry.clone())
//!     .admin_port(9901) // GET /prestop, /ready, /live on 127.0.0.1:9901
//!     .build()?;
//! let app = Router::new().route("/orders/{id}", get(|| async { "an order" }));
//! tokio::spawn(provider.serve_router(listener, app));
//!
//! // Consumer: a tower Service that discovers, balances and evicts on the notice.
//! let orders: Client<Full<Bytes>> = Client::builder("orders", registry).build_http()?;
//! let response = orders
//!     .oneshot(http::Request::get("http://orders/orders/7").body(Full::default())?)
//!     .await?;
//! assert!(response.status().is_success());
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use sae_core as core;
pub use sae_core::{
    Error, Instance, InstanceId, Lane, Lifecycle, Phase, Registry, RequestContext, ServiceName,
    wire,
};

/// Registries and the registrar (feature `registry`).
#[cfg(feature = "registry")]
pub use sae_registry as registry;

/// Server and client layers (feature `governance`).
#[cfg(feature = "governance")]
pub use sae_governance as governance;
#[cfg(feature = "governance")]
pub use sae_governance::{Client, Provider};

/// OpenTelemetry layers, OTLP set-up and the call topology (feature `trace`).
#[cfg(feature = "trace")]
pub use sae_trace as trace;
