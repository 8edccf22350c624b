//! The protection rules as data, shaped after OpenSergo's fault-tolerance
//! rules: each rule has targets, one strategy and, where it applies, a
//! fallback. Unknown fields are errors, so a typo cannot silently disable a
//! protection.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A protection rule file of one service.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtectionSpec {
    /// The rules; for consumer-side kinds the most specific target wins,
    /// provider-side limits all apply.
    #[serde(default)]
    pub rules: Vec<ProtectionRuleSpec>,
}

/// One rule: what it applies to, what it does, and what a rejected call
/// answers instead.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtectionRuleSpec {
    /// A name for error messages, logs and events (unique when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What the rule applies to; no target (or an empty one) means
    /// everything of its side.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetSpec>,
    /// What it does.
    pub strategy: StrategySpec,
    /// What a call the breaker refuses answers instead (circuit breakers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<FallbackSpec>,
}

/// What a rule applies to. Consumer-side strategies (timeouts, retries,
/// outlier detection, circuit breakers) target the called `service` and
/// optionally a `lane`; provider-side ones (concurrency limits, rate
/// limits) a `route` (an axum route such as `/orders/{id}` or a gRPC
/// `/package.Service/Method`) and optionally the `caller`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// The called service (consumer side).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The lane of the call (consumer side): a breaker per lane keeps a
    /// broken gray version from opening it for base.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lane: Option<String>,
    /// The route served (provider side).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The calling service, as `x-sae-caller` names it (provider side).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<String>,
}

/// One strategy, tagged by `kind`. Durations are strings such as `300ms`,
/// `2s`, `1m`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum StrategySpec {
    /// A bound on each call (consumer side).
    Timeout {
        /// The whole call, retries included.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout: Option<String>,
        /// Each attempt; a slow attempt is given up and retried (when the
        /// call may be) within the whole call's bound.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        per_try_timeout: Option<String>,
    },
    /// Retries of calls that failed in a way safe to repeat (consumer side).
    Retry {
        /// Attempts per call, the first included (at least 1).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attempts: Option<u32>,
        /// Retries allowed as a share of calls, percent (tower's
        /// `TpsBudget`; default 20).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        budget_percent: Option<f64>,
        /// Retries allowed per second regardless (default 10).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_per_second: Option<u32>,
        /// How long a call counts toward the budget (default `10s`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        budget_window: Option<String>,
    },
    /// Ejects endpoints that fail again and again (consumer side; Envoy's
    /// consecutive gateway failure).
    OutlierDetection {
        /// Consecutive failures that eject an endpoint (default 5).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        consecutive_failures: Option<u32>,
        /// First ejection; each later one lasts this times the number of
        /// ejections (default `30s`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        base_ejection_time: Option<String>,
        /// Longest ejection (default `300s`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_ejection_time: Option<String>,
        /// Most endpoints of a service ejected at once, percent (default
        /// 10; at least one endpoint may always be ejected).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_ejection_percent: Option<f64>,
        /// Whether an HTTP 500 counts as a failure too (default false:
        /// 502, 503, 504, gRPC `UNAVAILABLE`, resets and timeouts do).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failure_on_500: Option<bool>,
    },
    /// OpenSergo's `CircuitBreakerStrategy` (consumer side).
    CircuitBreaker {
        /// `error_ratio` (default) or `slow_request_ratio`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        strategy: Option<String>,
        /// The ratio of bad calls that opens the breaker, 0 to 1 (default 0.5).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trigger_ratio: Option<f64>,
        /// The sliding window the ratio is taken over (default `10s`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stat_duration: Option<String>,
        /// Calls in the window before the ratio counts (default 20).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_request_amount: Option<u32>,
        /// How long the breaker stays open before a probe (default `5s`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recovery_timeout: Option<String>,
        /// A call slower than this is slow (`slow_request_ratio`; default `1s`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_allowed_rt: Option<String>,
    },
    /// A bound on requests served at once, with a bounded queue (provider side).
    ConcurrencyLimit {
        /// Requests served at once.
        max_concurrency: u32,
        /// Requests that may wait for a slot (default 0: reject at once).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        queue: Option<u32>,
        /// How long one may wait (default `50ms`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        queue_timeout: Option<String>,
    },
    /// A concurrency limit that follows measured latency (provider side;
    /// Netflix's Gradient2).
    AdaptiveConcurrency {
        /// The limit it starts at once its first window is measured
        /// (default 20; it doubles per window while latency holds, until it
        /// first does not). Before that it admits up to `max_limit`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        initial_limit: Option<u32>,
        /// The lowest limit (default 8).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_limit: Option<u32>,
        /// The highest limit (default 1000).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_limit: Option<u32>,
        /// How much slower than the long-term latency the short-term one may
        /// get before the limit shrinks (default 1.5).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rtt_tolerance: Option<f64>,
    },
    /// A token bucket (provider side); past it, `429` with `Retry-After`.
    RateLimit {
        /// Requests allowed per `stat_duration`.
        threshold: u32,
        /// The period of `threshold` (default `1s`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stat_duration: Option<String>,
        /// Requests allowed in a burst (default `threshold`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        burst: Option<u32>,
    },
    /// Turns a protection that is on by default off for the targets:
    /// `{ kind: disabled, disables: circuit_breaker }`.
    Disabled {
        /// The kind turned off: `timeout`, `retry`, `outlier_detection`,
        /// `circuit_breaker` or `adaptive_concurrency`.
        disables: String,
    },
}

/// What a call refused by an open breaker answers (OpenSergo's
/// `HttpRequestFallbackAction`): a response made here, with no request sent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackSpec {
    /// The status (default 503).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Response headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The body.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub body: String,
}
