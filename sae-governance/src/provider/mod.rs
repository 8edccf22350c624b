//! The provider side: lossless start and stop for a service that others call.
//!
//! - [`Provider`] ([`serve`]): the whole sequence in one place — register
//!   when ready, keep the registration alive, and on a trigger deregister
//!   first, stamp the offline notice while consumers leave, then drain. It
//!   owns every transition of the [`Lifecycle`](sae_core::Lifecycle).
//!   Use it with the stock servers ([`Provider::layer`] and
//!   [`Provider::shutdown_signal`]) or let it run the server
//!   ([`Provider::serve_router`], [`Provider::serve_grpc`]).
//! - [`ProviderLayer`]: what the provider does to each request, outermost
//!   first: [`in_flight`] tracking (the notice window and the drain), the
//!   [`offline_notice`] (`x-sae-offline`, plus `connection: close` on
//!   HTTP/1.x, once draining), the [lane](crate::lane) of the request,
//!   and traffic protection ([`protect`]: rate limits, isolation, the
//!   adaptive limit);
//! - [`shutdown`]: the triggers (SIGTERM, SIGINT, [`ShutdownHandle`], preStop);
//! - [`admin`]: preStop, readiness and liveness on a separate listener.

pub mod admin;
pub mod in_flight;
mod layer;
pub mod offline_notice;
pub mod protect;
mod registrar;
pub mod serve;
pub mod shutdown;
#[cfg(test)]
pub(crate) mod test_support;

pub use admin::{Admin, AdminToken};
pub use in_flight::InFlight;
pub use layer::{ProviderLayer, ProviderOuterLayer};
pub use offline_notice::OfflineNoticeLayer;
pub use protect::ProtectLayer;
pub use registrar::DEFAULT_DEREGISTER_TIMEOUT;
pub use serve::{Provider, ProviderBuilder, ServeReport, ShutdownSignal, StopReport};
pub use shutdown::{ShutdownHandle, Trigger};
