//! [`ServeReport`]: what the lifecycle of one provider took.

use std::time::Duration;

use crate::provider::shutdown::Trigger;

/// How a provider's life went, step by step; returned by the serve calls.
/// The demo prints `stop` as "time to stop".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServeReport {
    /// Waiting for the readiness check.
    pub readiness: Duration,
    /// The registration round trip.
    pub register: Duration,
    /// Whether the instance was registered (false when shut down before).
    pub registered: bool,
    /// What started the shutdown.
    pub trigger: Option<Trigger>,
    /// The deregistration (bounded by the deregistration timeout).
    pub deregister: Duration,
    /// Whether deregistration succeeded. When false, the entry expires with its lease.
    pub deregistered: bool,
    /// The notice window: serving and stamping the offline notice after deregistering.
    pub notice_window: Duration,
    /// Graceful server shutdown until every connection ended (bounded by the drain timeout).
    pub drain: Duration,
    /// Whether every connection ended within the drain timeout.
    pub drained: bool,
    /// Requests still in flight when the drain ended (0 when `drained`).
    pub in_flight_at_stop: usize,
    /// From the trigger to Stopped: the time to stop.
    pub stop: Duration,
}
