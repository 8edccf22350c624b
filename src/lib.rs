//! sae facade
pub use sae_core as core;
