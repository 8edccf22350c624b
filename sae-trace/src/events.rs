//! The names of the `tracing` events sae-governance emits, which sae-trace
//! turns into span events and counters.
//!
//! They are a contract between the two crates, kept as plain strings so
//! sae-governance needs no OpenTelemetry (nor this crate). Each event carries
//! a `service` field (the called service) and, where it applies, `instance`.

/// A response carried the offline notice; its endpoint was evicted.
pub const OFFLINE_NOTICE: &str = "sae.offline_notice";
/// Connecting to an endpoint failed and the endpoint was ejected for a while.
pub const CONNECT_EJECTION: &str = "sae.connect_ejection";
/// A request that could not be sent goes to another endpoint.
pub const RETRY: &str = "sae.retry";
/// A request of a lane went to the base lane because the lane had no instance.
pub const LANE_FALLBACK: &str = "sae.lane_fallback";
/// The span field on which the client records the chosen endpoint's instance id.
pub const INSTANCE_FIELD: &str = "sae.instance.id";
