//! tower layers for sae.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod server;
pub mod balance;
pub mod discovery;
pub use server::{
    Admin, AdminToken, InFlight, InFlightLayer, OfflineNoticeLayer, Provider, ProviderBuilder,
    ServeReport, ServerLayer, ShutdownHandle, Trigger,
};
pub use client::{Client, ClientBuilder};
