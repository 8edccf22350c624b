//! tower layers for sae.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod server;
