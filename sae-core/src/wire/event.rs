//! The names of the `tracing` events sae emits for governance decisions.
//!
//! They do not cross a process boundary, but they are a contract between
//! crates all the same: sae-governance emits them with plain `tracing` (it
//! knows nothing of OpenTelemetry) and sae-trace turns them into span events
//! and counters. Each event carries a `service` field (the called service)
//! and, where it applies, `instance`.

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
