//! The provider side of lossless deploys.
//!
//! - [`offline_notice`]: stamps `x-sae-offline` (and `connection: close` on
//!   HTTP/1.x) on every response once the lifecycle drains;
//! - [`in_flight`]: counts requests in flight and records the last arrival,
//!   for the notice window and the drain;
//! - [`shutdown`]: the triggers (SIGTERM, SIGINT, [`ShutdownHandle`], preStop);
//! - [`admin`]: preStop, readiness and liveness on a separate listener;
//! - [`serve`]: [`Provider`], the one-call API that runs the whole sequence
//!   for an axum router, tonic routes or any tower HTTP service.

pub mod admin;
pub mod in_flight;
pub mod offline_notice;
pub mod serve;
pub mod shutdown;
#[cfg(test)]
pub(crate) mod test_support;

pub use admin::{Admin, AdminToken};
pub use in_flight::{InFlight, InFlightLayer};
pub use offline_notice::OfflineNoticeLayer;
pub use serve::{Provider, ProviderBuilder, ServeReport, ServerLayer};
pub use shutdown::{ShutdownHandle, Trigger};
