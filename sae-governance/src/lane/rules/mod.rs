//! Ingress rules: a lane for requests that arrive without one.
//!
//! Rules are data ([`RulesSpec`], from YAML, JSON or TOML), validated when
//! loaded ([`RuleSet`]); errors name the rule and the field. They are tried
//! in order and the first rule whose conditions all match assigns its lane:
//!
//! ```yaml
//! rules:
//!   - name: beta-testers             # optional, unique; shown in errors
//!     lane: gray
//!     headers: [{ name: x-user-group, exact: beta }]
//!   - name: canary-cookie
//!     lane: gray
//!     cookies: [{ name: canary, regex: "^(1|yes)$" }]
//!   - name: new-api
//!     lane: gray
//!     path_prefix: /api/v2/
//!     query: [{ name: preview, prefix: "t" }]
//!   - name: ten-percent-of-users     # stable: one user, one lane
//!     lane: gray
//!     percentage: { header: x-user-id, percent: 10 }
//! ```
//!
//! [`LaneRules`] is the running set behind an [`ArcSwap`]: swap it at any
//! time ([`LaneRules::store`], [`LaneRules::reload_file`]) without a restart.
//! A request reads one snapshot when it arrives, so a request in flight
//! keeps the rules (and the lane) it started with; a rule file with an
//! error is rejected and the running rules stay in force.

mod compile;
mod hash;
mod load;
mod spec;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwap;
use http::{HeaderMap, Uri};
use sae_core::{Error, Lane};

pub use crate::rule_text::{MAX_RULES_FILE_BYTES, RuleFormat};
pub use compile::RuleSet;
pub use spec::{PercentageSpec, RuleSpec, RulesSpec, ValueMatchSpec};

/// The running ingress rules, swappable at runtime; clones share them.
///
/// ```
/// use sae_governance::lane::{LaneRules, RuleFormat, RuleSet};
///
/// let rules = LaneRules::parse(
///     "rules: [{ lane: gray, path_prefix: /beta/ }]",
///     RuleFormat::Yaml,
/// )?;
/// let request = http::Request::get("/beta/x").body(())?;
/// assert_eq!(rules.assign(request.headers(), request.uri()).unwrap().as_str(), "gray");
///
/// // A bad update is refused; the running rules stay.
/// assert!(rules.reload_str("rules: [{ lane: 'no spaces' , path_prefix: / }]", RuleFormat::Yaml).is_err());
/// assert_eq!(rules.load().len(), 1);
/// rules.store(RuleSet::empty());
/// assert!(rules.assign(request.headers(), request.uri()).is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct LaneRules {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    current: ArcSwap<RuleSet>,
    /// Whether `current` has any rule: every provider holds a handle (the
    /// registry may fill it), and most run none, so a request checks this
    /// flag before it loads the set.
    any: AtomicBool,
    /// Serialises stores, so `any` always ends up describing `current`.
    storing: parking_lot::Mutex<()>,
}

impl LaneRules {
    /// A handle running `rules`.
    pub fn new(rules: RuleSet) -> Self {
        LaneRules {
            shared: Arc::new(Shared {
                any: AtomicBool::new(!rules.is_empty()),
                current: ArcSwap::from_pointee(rules),
                storing: parking_lot::Mutex::new(()),
            }),
        }
    }

    /// A handle running rules parsed from `text` ([`RuleSet::parse`]).
    ///
    /// # Errors
    ///
    /// As [`RuleSet::parse`].
    pub fn parse(text: &str, format: RuleFormat) -> Result<Self, Error> {
        RuleSet::parse(text, format).map(LaneRules::new)
    }

    /// A handle running the rules of a file ([`RuleSet::from_file`]).
    ///
    /// # Errors
    ///
    /// As [`RuleSet::from_file`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        RuleSet::from_file(path).map(LaneRules::new)
    }

    /// The rules running now.
    pub fn load(&self) -> Arc<RuleSet> {
        self.shared.current.load_full()
    }

    /// Replaces the running rules; requests that already arrived keep theirs.
    pub fn store(&self, rules: RuleSet) {
        let count = rules.len();
        let any = !rules.is_empty();
        let _storing = self.shared.storing.lock();
        self.shared.current.store(Arc::new(rules));
        self.shared.any.store(any, Ordering::Release);
        tracing::info!(rules = count, "lane rules replaced");
    }

    /// Parses `text` and, when valid, runs it.
    ///
    /// # Errors
    ///
    /// As [`RuleSet::parse`]; the running rules then stay in force.
    pub fn reload_str(&self, text: &str, format: RuleFormat) -> Result<(), Error> {
        self.store(RuleSet::parse(text, format)?);
        Ok(())
    }

    /// Reads a rule file and, when valid, runs it (blocking I/O).
    ///
    /// # Errors
    ///
    /// As [`RuleSet::from_file`]; the running rules then stay in force.
    pub fn reload_file(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        self.store(RuleSet::from_file(path)?);
        Ok(())
    }

    /// The lane the running rules give a request with these headers and URI.
    pub fn assign(&self, headers: &HeaderMap, uri: &Uri) -> Option<Lane> {
        if !self.shared.any.load(Ordering::Acquire) {
            return None;
        }
        let rules = self.shared.current.load();
        if rules.is_empty() {
            return None;
        }
        rules.assign(headers, uri)
    }
}
