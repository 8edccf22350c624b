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
/// A failure safe to repeat was not retried: the retry budget is spent.
pub const RETRY_BUDGET_EXHAUSTED: &str = "sae.retry_budget_exhausted";
/// Consecutive failures ejected an endpoint for a while (`until`, `ejections`).
pub const OUTLIER_EJECTION: &str = "sae.outlier_ejection";
/// An ejected endpoint's time is up: one real request probes it (`outcome`).
pub const PROBE: &str = "sae.probe";
/// A circuit breaker changed state (`from`, `to`, `lane`).
pub const BREAKER: &str = "sae.breaker";
/// A call was refused by an open breaker (answered by its fallback, or failed fast).
pub const BREAKER_REJECTED: &str = "sae.breaker_rejected";
/// A call's time ran out: its own timeout or the inbound deadline (`budget`).
pub const TIMEOUT: &str = "sae.timeout";
/// A provider refused a request before processing it (`reason`, `rule`).
pub const REJECTED: &str = "sae.rejected";
/// An instance applied a governance rule document from the registry (`kind`, `revision`, `rules`).
pub const RULES_APPLIED: &str = "sae.rules.applied";
/// An instance refused a rule document; its running rules stay (`kind`, `revision`, `key`, `error`).
pub const RULES_REFUSED: &str = "sae.rules.refused";
