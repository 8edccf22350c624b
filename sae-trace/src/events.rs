//! The names of the `tracing` events sae-governance emits, which sae-trace
//! turns into span events and counters ([`crate::GovernanceCounters`]).
//!
//! They are defined once, in [`sae_core::wire::event`], beside the other
//! names sae's crates share; this module re-exports them so existing paths
//! (`sae_trace::events::RETRY`) keep working.

pub use sae_core::wire::event::*;
