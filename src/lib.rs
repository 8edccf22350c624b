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
//! # Example
//!
//! An axum service keeps `axum::serve` and its graceful shutdown; sae adds
//! the layer and the shutdown signal. Clients of other services come from
//! the same [`Sae`], with lanes and tracing on.
//!
//! ```
//! use axum::{Router, routing::get};
//! use http_body_util::{BodyExt, Full};
//! use sae::Sae;
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! // The service's name, registry, lanes and tracing, given once.
//! let sae = Sae::builder("orders")
//!     .registry_url("memory://example") // or etcd://10.0.0.1:2379 (feature etcd)
//!     .provider(|provider| provider.handle_signals(false))
//!     .build()?;
//!
//! let app = Router::new().route("/orders/{id}", get(|| async { "order 7" }));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! // Registers when ready; on SIGTERM, preStop or the handle: deregisters,
//! // stamps the notice while consumers leave, then lets axum drain.
//! let shutdown = sae.shutdown_signal(listener.local_addr()?)?;
//! let server = tokio::spawn(
//!     axum::serve(listener, app.layer(sae.layer()))
//!         .with_graceful_shutdown(shutdown)
//!         .into_future(),
//! );
//!
//! // Another service calls it through a client that balances, follows
//! // lanes, traces and evicts a draining instance on its notice.
//! let frontend = Sae::builder("frontend").registry_url("memory://example").build()?;
//! let orders = frontend.client("orders")?;
//! let request = http::Request::get("http://orders/orders/7").body(Full::default())?;
//! let response = orders.oneshot(request).await?;
//! assert_eq!(response.into_body().collect().await?.to_bytes(), "order 7");
//!
//! sae.shutdown_handle().shutdown();
//! server.await??;
//! sae.stopped().await;
//! # Ok(())
//! # }
//! ```
//!
//! For tonic: `Server::builder().layer(sae.grpc_layer()).add_service(..)
//! .serve_with_incoming_shutdown(TcpIncoming::from(listener), sae.shutdown_signal(addr)?)`
//! (bind first, so the port is open before sae registers it), and
//! `OrdersClient::new(sae.grpc_client("orders")?)` on the calling side; the
//! `grpc-orders` example package shows it with a real `.proto`.
//!
//! # Crates
//!
//! This facade re-exports the member crates behind features:
//!
//! | feature | module | what |
//! |---|---|---|
//! | always | [`core`] (and the items re-exported at the root) | the vocabulary: [`Instance`], [`Registry`], [`Lifecycle`], [`wire`], [`Error`] |
//! | `registry` (default) | [`registry`] | `MemoryRegistry`, `from_url` |
//! | `governance` (default) | [`governance`], [`Sae`] | the provider (lossless stop), the balancing client, lanes |
//! | `trace` (default) | [`trace`] | OpenTelemetry layers, `trace::init` for OTLP export, the call topology |
//! | `etcd` | `registry::etcd` | `EtcdRegistry` and `etcd://` URLs (its build needs `protoc`) |
//! | `etcd-test-util` | `registry::etcd::testing` | real etcd processes on loopback, for tests |
//! | `full` | | all of the above |

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use sae_core as core;
pub use sae_core::{
    Error, Instance, InstanceId, IntoRegistry, Lane, Lifecycle, Phase, Registry, RequestContext,
    ServiceName, wire,
};

/// Registries: the embedded one and etcd, and `from_url` (feature `registry`).
#[cfg(feature = "registry")]
pub use sae_registry as registry;

/// The provider, the balancing client and lanes (feature `governance`).
#[cfg(feature = "governance")]
pub use sae_governance as governance;
#[cfg(feature = "governance")]
pub use sae_governance::{
    Client, IngressTrust, LaneRules, Provider, ServeReport, ShutdownSignal, StopReport,
};

#[cfg(feature = "governance")]
mod sae;
#[cfg(feature = "governance")]
pub use sae::{
    DEFAULT_REGISTRY_URL, GrpcChannel, HttpClient, REGISTRY_ENV, ResponseBody, ResponseFuture, Sae,
    SaeBuilder, SaeLayer,
};

/// OpenTelemetry layers, OTLP set-up and the call topology (feature `trace`).
#[cfg(feature = "trace")]
pub use sae_trace as trace;
