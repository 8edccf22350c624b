//! The vocabulary of sae, shared by every other sae crate.
//!
//! sae is an embeddable microservice-governance SDK for axum and tonic
//! services: lossless deploys, canary lanes and tracing as tower middleware.
//! This crate holds only the words the other crates use to talk to each other,
//! and is light on dependencies so a registry backend can depend on it
//! without pulling in tower or hyper:
//!
//! - [`Instance`]: a running copy of a service, validated by its builder, and
//!   its versioned JSON [`encoding`](instance::encoding);
//! - [`Registry`]: the object-safe trait every backend implements, with
//!   [`Registration`] handles and a [`WatchStream`] of revisioned events;
//! - [`Lifecycle`]: the provider's phase (Starting → Serving → Draining →
//!   Stopped), shared and observable;
//! - [`RequestContext`] and [`Lane`]: what the server layers learned about a
//!   request; the [`inbound`] context (lane, deadline, retry mark) of the
//!   request a task is serving;
//! - [`wire`]: the names that cross process boundaries, as a spec, and the
//!   one codec every sae crate reads and writes them with;
//! - [`rules`]: governance rule documents as registries store them;
//! - [`Error`]: the one error type.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use sae_core::{Instance, Lifecycle, Phase};
//!
//! # fn main() -> Result<(), sae_core::Error> {
//! let instance = Instance::builder("orders")
//!     .addr("127.0.0.1:8080".parse().unwrap())
//!     .lane("gray")
//!     .warmup(Duration::from_secs(30))
//!     .build()?;
//!
//! // Every registry stores this encoding.
//! let stored = instance.to_json();
//! assert_eq!(Instance::from_json(&stored)?, instance);
//!
//! // The provider's phase only moves forward.
//! let lifecycle = Lifecycle::new();
//! lifecycle.advance(Phase::Serving)?;
//! lifecycle.advance(Phase::Draining)?;
//! assert!(lifecycle.is_draining());
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod context;
mod error;
pub mod inbound;
pub mod instance;
pub mod lane;
mod lifecycle;
pub mod registry;
pub mod rules;
pub mod wire;

pub use context::RequestContext;
pub use error::{BoxError, Error};
pub use instance::{Instance, InstanceBuilder, InstanceId, ServiceName};
pub use lane::Lane;
pub use lifecycle::{Lifecycle, Phase};
pub use registry::{
    BoxFuture, IntoRegistry, Lease, Registered, Registration, Registry, RemovalReason, Revision,
    Snapshot, WatchEvent, WatchStream,
};

/// A `Result` with sae's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
