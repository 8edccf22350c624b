//! [`BalanceConfig`] and [`BalanceStats`].

use std::time::Duration;

/// Tunables of the client's balancer (power of two choices over peak-EWMA,
/// weighted by warm-up); set with
/// [`ClientBuilder::balance`](crate::client::ClientBuilder::balance).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BalanceConfig {
    /// Peak-EWMA decay time constant (default 10 s, tower's and linkerd's).
    pub decay: Duration,
    /// Slow-start aggression; 1.0 (default) ramps linearly.
    pub slow_start_aggression: f64,
    /// Smallest slow-start factor (default 0.1: a new instance gets at
    /// least 10 % of its weight, Envoy's `min_weight_percent`).
    pub slow_start_min_factor: f64,
    /// First connect-failure ejection (default 3 s).
    pub eject_base: Duration,
    /// Longest connect-failure ejection (default 30 s).
    pub eject_max: Duration,
}

/// What a request in lane L does when L has no available endpoint; set with
/// [`ClientBuilder::lane_fallback`](crate::client::ClientBuilder::lane_fallback).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LaneFallback {
    /// Go to a base (untagged) endpoint, still carrying L downstream
    /// (Dubbo's TagRouter and MSE's default).
    #[default]
    Base,
    /// Fail with [`sae_core::Error::NoInstanceInLane`] once the wait bound
    /// passes (Dubbo's `dubbo.force.tag`): for services whose lane version
    /// must never be replaced by the base one.
    Strict,
}

impl Default for BalanceConfig {
    fn default() -> Self {
        BalanceConfig {
            decay: Duration::from_secs(10),
            slow_start_aggression: 1.0,
            slow_start_min_factor: 0.1,
            eject_base: Duration::from_secs(3),
            eject_max: Duration::from_secs(30),
        }
    }
}

/// Counters of what the balancer did, for dashboards and demos.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BalanceStats {
    /// Endpoints evicted by an offline notice.
    pub evictions_by_notice: u64,
    /// Connect-failure ejections.
    pub connect_ejections: u64,
    /// Outlier ejections (consecutive failures, failed probes).
    pub outlier_ejections: u64,
    /// Discovery updates withheld by push-empty protection.
    pub withheld_updates: u64,
    /// Discovery events applied or withheld (every one, changed or not).
    pub discovery_events: u64,
}
