//! The tower layers of sae: the provider side of lossless deploys, the
//! balancing consumer, and canary lanes, for axum and tonic services.
//!
//! - **Provider** ([`provider`]): registers when ready; on SIGTERM, preStop
//!   or a handle it deregisters first, keeps serving while it stamps the
//!   offline notice on every response, then drains. Keep `axum::serve` (or
//!   tonic's `Server`) and add [`Provider::layer`] and
//!   [`Provider::shutdown_signal`], or let [`Provider::serve_router`] run
//!   the whole server.
//! - **Consumer** ([`client`]): a tower `Service` fed by the registry's
//!   watch: power of two choices over peak-EWMA, warm-up, eviction on the
//!   notice, connect failures sent elsewhere; `build_grpc` gives the channel
//!   tonic-generated clients take.
//! - **Lanes** ([`lane`]): a request tagged `gray` reaches gray instances
//!   at every hop, with base fallback; ingress rules; trust at the edge.
//!
//! The layers see a registry only through [`sae_core::Registry`]: they work
//! the same on the embedded registry and on etcd, and Cargo keeps it so
//! (sae-registry is only a dev-dependency of this crate).
//!
//! # Example
//!
//! ```
//! use axum::{Router, routing::get};
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use sae_core::Instance;
//! use sae_governance::{Client, Provider};
//! use sae_registry::MemoryRegistry;
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let registry = MemoryRegistry::new();
//!
//! // A provider of "orders" on the stock axum server: two lines of sae.
//! let provider = Provider::builder(Instance::builder("orders"), registry.clone())
//!     .handle_signals(false)
//!     .build()?;
//! let shutdown = provider.shutdown_handle();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let app = Router::new()
//!     .route("/orders/{id}", get(|| async { "order 7" }))
//!     .layer(provider.layer());
//! let signal = provider.shutdown_signal(listener.local_addr()?);
//! let server = tokio::spawn(async move {
//!     axum::serve(listener, app).with_graceful_shutdown(signal).await
//! });
//!
//! // A consumer: discovery, balancing and eviction in one tower Service.
//! let orders = Client::builder("orders", registry).build_http::<Full<Bytes>>()?;
//! let request = http::Request::get("http://orders/orders/7").body(Full::default())?;
//! let response = orders.oneshot(request).await?;
//! assert_eq!(response.into_body().collect().await?.to_bytes(), "order 7");
//!
//! // Deregister, stamp the notice while consumers leave, then drain.
//! shutdown.shutdown();
//! server.await??;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// Declares a method that exists for sae's own demo and benches (the
/// `baseline` scenarios, instruction counting): public and hidden from the
/// docs with the `demo-internals` feature, crate-private otherwise.
macro_rules! internal_pub {
    ($(#[$meta:meta])* fn $name:ident $($rest:tt)*) => {
        #[cfg(feature = "demo-internals")]
        #[doc(hidden)]
        $(#[$meta])*
        pub fn $name $($rest)*

        #[cfg(not(feature = "demo-internals"))]
        #[allow(dead_code)]
        $(#[$meta])*
        pub(crate) fn $name $($rest)*
    };
}

#[cfg(feature = "demo-internals")]
#[doc(hidden)]
pub mod balance;
#[cfg(not(feature = "demo-internals"))]
mod balance;
pub mod client;
mod discovery;
pub mod lane;
pub mod protection;
pub mod provider;
mod rule_text;
pub mod rules;
mod waiting;

pub use client::{Client, ClientBuilder};
pub use lane::{IngressTrust, LaneLayer, LaneRules};
pub use provider::{
    Admin, AdminToken, InFlight, Provider, ProviderBuilder, ProviderLayer, ServeReport,
    ShutdownHandle, ShutdownSignal, StopReport, Trigger,
};
