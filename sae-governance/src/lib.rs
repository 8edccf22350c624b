//! tower layers for sae.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod balance;
pub mod client;
pub mod discovery;
pub mod lane;
pub mod server;
pub use client::{Client, ClientBuilder};
pub use lane::{LaneLayer, LaneRules};
pub use server::{
    Admin, AdminToken, InFlight, InFlightLayer, OfflineNoticeLayer, Provider, ProviderBuilder,
    ServeReport, ServerLayer, ShutdownHandle, Trigger,
};
