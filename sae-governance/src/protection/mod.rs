//! Traffic protection rules: what keeps one sick instance or one slow
//! service from taking a call chain down.
//!
//! Protection is on by default, with the anchors' defaults
//! ([`ProtectionSet::defaults`]): every call a [`Client`](crate::Client)
//! makes has outlier detection (5 consecutive failures eject an endpoint),
//! retries of what is safe to repeat within a budget (20 % of calls plus 10
//! a second), and a circuit breaker (half the calls of 10 s failing, once
//! there were 20); every provider has an adaptive concurrency limit. Rules
//! change any of it, per called service and lane (consumer side) or per
//! route and caller (provider side). They are data, shaped after OpenSergo's
//! fault-tolerance rules — targets, a strategy, a fallback — in YAML, JSON
//! or TOML:
//!
//! ```yaml
//! rules:
//!   - name: inventory-deadline            # consumer side: calls to inventory
//!     targets: [{ service: inventory }]
//!     strategy: { kind: timeout, timeout: 300ms, per_try_timeout: 120ms }
//!   - name: inventory-breaker
//!     targets: [{ service: inventory }]
//!     strategy:
//!       kind: circuit_breaker
//!       strategy: error_ratio              # or slow_request_ratio (max_allowed_rt)
//!       trigger_ratio: 0.5
//!       stat_duration: 10s
//!       min_request_amount: 20
//!       recovery_timeout: 5s
//!     fallback: { status: 200, headers: { x-degraded: "1" }, body: '{"stock": "unknown"}' }
//!   - name: export-isolation               # provider side: this service's routes
//!     targets: [{ route: /export }]
//!     strategy: { kind: concurrency_limit, max_concurrency: 4, queue: 8, queue_timeout: 50ms }
//!   - name: frontend-rate
//!     targets: [{ caller: frontend }]
//!     strategy: { kind: rate_limit, threshold: 200, stat_duration: 1s }
//!   - targets: [{ service: reports }]      # turn a default off
//!     strategy: { kind: disabled, disables: retry }
//! ```
//!
//! For a consumer-side kind the most specific rule wins (service and lane,
//! service, lane, all), else the default; provider-side limits all apply.
//! Errors name the rule and the field (`rules[1] ("inventory-breaker")
//! .strategy.trigger_ratio: 1.5 is not above 0 and at most 1`).
//!
//! [`ProtectionRules`] is the running set behind an [`ArcSwap`]: swap it at
//! any time; a bad update is refused and the running rules stay.

mod compile;
mod defaults;
mod spec;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use sae_core::Error;

pub use compile::{
    AdaptivePolicy, BreakerPolicy, BreakerStrategy, CallPolicy, ConcurrencyRule, Fallback,
    OutlierPolicy, ProtectionSet, ProviderPolicy, ProviderTarget, RateRule, RetryPolicy,
};
pub use spec::{FallbackSpec, ProtectionRuleSpec, ProtectionSpec, StrategySpec, TargetSpec};

use crate::rule_text;
pub use crate::rule_text::{MAX_RULES_FILE_BYTES, RuleFormat};

/// The running protection rules, swappable at runtime; clones share them.
///
/// ```
/// use sae_governance::protection::{ProtectionRules, RuleFormat};
/// use sae_core::ServiceName;
///
/// let rules = ProtectionRules::parse(
///     "rules: [{ targets: [{ service: inventory }], strategy: { kind: timeout, timeout: 300ms } }]",
///     RuleFormat::Yaml,
/// )?;
/// let inventory = ServiceName::new("inventory")?;
/// assert_eq!(rules.load().call_policy(&inventory, None).timeout, Some(std::time::Duration::from_millis(300)));
///
/// // A bad update is refused; the running rules stay.
/// let error = rules
///     .reload_str("rules: [{ strategy: { kind: retry, attempts: 0 } }]", RuleFormat::Yaml)
///     .unwrap_err();
/// assert!(error.to_string().contains("rules[0].strategy.attempts"), "{error}");
/// assert_eq!(rules.load().len(), 1);
/// # Ok::<(), sae_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ProtectionRules {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    current: ArcSwap<ProtectionSet>,
    /// Bumped by every swap, so holders of a resolved policy can tell it is stale.
    generation: AtomicU64,
}

impl Default for ProtectionRules {
    /// The built-in protection only.
    fn default() -> Self {
        ProtectionRules::new(ProtectionSet::defaults())
    }
}

impl ProtectionRules {
    /// A handle running `rules`.
    pub fn new(rules: ProtectionSet) -> Self {
        ProtectionRules {
            shared: Arc::new(Shared {
                current: ArcSwap::from_pointee(rules),
                generation: AtomicU64::new(0),
            }),
        }
    }

    /// A handle running rules parsed from `text`.
    ///
    /// # Errors
    ///
    /// As [`ProtectionSet::parse`].
    pub fn parse(text: &str, format: RuleFormat) -> Result<Self, Error> {
        ProtectionSet::parse(text, format).map(ProtectionRules::new)
    }

    /// A handle running the rules of a file (format from the extension).
    ///
    /// # Errors
    ///
    /// As [`ProtectionSet::from_file`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        ProtectionSet::from_file(path).map(ProtectionRules::new)
    }

    /// The rules running now.
    pub fn load(&self) -> Arc<ProtectionSet> {
        self.shared.current.load_full()
    }

    /// Counts the swaps so far: a resolved [`CallPolicy`] taken at one
    /// generation is current while the generation has not moved.
    pub fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Acquire)
    }

    /// Replaces the running rules.
    pub fn store(&self, rules: ProtectionSet) {
        let count = rules.len();
        self.shared.current.store(Arc::new(rules));
        self.shared.generation.fetch_add(1, Ordering::AcqRel);
        tracing::info!(rules = count, "protection rules replaced");
    }

    /// Parses `text` and, when valid, runs it.
    ///
    /// # Errors
    ///
    /// As [`ProtectionSet::parse`]; the running rules then stay in force.
    pub fn reload_str(&self, text: &str, format: RuleFormat) -> Result<(), Error> {
        self.store(ProtectionSet::parse(text, format)?);
        Ok(())
    }

    /// Reads a rule file and, when valid, runs it (blocking I/O).
    ///
    /// # Errors
    ///
    /// As [`ProtectionSet::from_file`]; the running rules then stay in force.
    pub fn reload_file(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        self.store(ProtectionSet::from_file(path)?);
        Ok(())
    }
}

impl ProtectionSet {
    /// Parses and validates rules written in `format`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`]: a syntax or shape error with the path of the
    /// offending field, or a validation error naming the rule and field
    /// ([`ProtectionSet::compile`]).
    pub fn parse(text: &str, format: RuleFormat) -> Result<Self, Error> {
        let spec: ProtectionSpec = rule_text::parse(text, format)?;
        ProtectionSet::compile(&spec)
    }

    /// Reads, parses and validates a rule file; the format comes from the
    /// extension (`.yaml`, `.yml`, `.json`, `.toml`). Blocking I/O.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be read, [`Error::Config`] for an
    /// unknown extension, a file too large, or bad rules.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let (text, format) = rule_text::read_file(path)?;
        ProtectionSet::parse(&text, format).map_err(|error| rule_text::in_file(path, error))
    }
}
