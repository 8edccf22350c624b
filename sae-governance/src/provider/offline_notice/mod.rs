//! The offline notice: once the provider drains, every response says so.
//!
//! # Why
//!
//! A consumer that cached the provider's address keeps sending to it until it
//! learns the provider is leaving; registries and caches tell it seconds to
//! minutes late (Eureka ~2 min, Spring Cloud LoadBalancer's 35 s cache,
//! Kubernetes endpoint removal racing SIGTERM). The fastest channel to a
//! consumer is the response it is already reading. So once the
//! [`Lifecycle`] is draining, this layer adds
//! `x-sae-offline: <instance id>` ([`sae_core::wire::OFFLINE_HEADER`]) to
//! every response, and `connection: close` to HTTP/1.x responses so pooled
//! keep-alive connections go away (HTTP/2 connections get a GOAWAY from the
//! graceful shutdown instead). The sae client evicts the instance after that
//! one response. This is the in-band notice of Alibaba's MSE agent; Dubbo's
//! READONLY event and Kitex's `crrst` are its relatives.
//!
//! The phase is read when the response is ready, not when the request
//! arrives, so a slow request that began before the drain also carries it.
//!
//! # gRPC
//!
//! tonic responses are `http::Response`s, and a trailers-only error response
//! (a `Status` returned by the handler) carries `grpc-status` in the header
//! block, so the notice lands in the initial metadata of successful and
//! failed calls alike.
//!
//! # Cost
//!
//! One relaxed atomic load per response and one `Arc` clone per request; the
//! header value is built once, so stamping allocates nothing.
//!
//! ```
//! use sae_core::{Instance, Lifecycle, Phase};
//! use sae_governance::provider::OfflineNoticeLayer;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let instance = Instance::builder("orders").addr("127.0.0.1:8080".parse().unwrap()).id("orders-1").build()?;
//! let lifecycle = Lifecycle::new();
//! let service = ServiceBuilder::new()
//!     .layer(OfflineNoticeLayer::new(lifecycle.clone(), instance.id()))
//!     .service(service_fn(|_: http::Request<()>| async {
//!         Ok::<_, std::convert::Infallible>(http::Response::new(()))
//!     }));
//!
//! lifecycle.advance(Phase::Draining)?;
//! let response = service.oneshot(http::Request::new(())).await?;
//! assert_eq!(response.headers()["x-sae-offline"], "orders-1");
//! assert_eq!(response.headers()["connection"], "close");
//! # Ok(())
//! # }
//! ```

mod future;
mod layer;
mod service;
#[cfg(test)]
mod tests;

use http::HeaderValue;
use http::header::HeaderName;
use sae_core::Lifecycle;

pub use future::ResponseFuture;
pub use layer::OfflineNoticeLayer;
pub use service::OfflineNotice;

/// The notice header name, built once at compile time.
static OFFLINE: HeaderName = HeaderName::from_static(sae_core::wire::OFFLINE_HEADER);

/// What every stamping response future shares: the phase to read and the
/// precomputed header value.
#[derive(Debug)]
struct Notice {
    lifecycle: Lifecycle,
    value: HeaderValue,
}
