//! Reading lane rules from text (YAML, JSON, TOML) and files.

use std::path::Path;

use sae_core::Error;

use super::{RuleSet, RulesSpec};
use crate::rule_text::{self, RuleFormat};

impl RuleSet {
    /// Parses and validates rules written in `format`.
    ///
    /// ```
    /// use sae_governance::lane::{RuleFormat, RuleSet};
    ///
    /// let rules = RuleSet::parse(r#"
    /// rules:
    ///   - name: ten-percent-of-users
    ///     lane: gray
    ///     percentage: { header: x-user-id, percent: 10 }
    /// "#, RuleFormat::Yaml)?;
    /// assert_eq!(rules.len(), 1);
    ///
    /// let error = RuleSet::parse(
    ///     r#"{"rules": [{"name": "beta", "lane": "gray", "headers": [{"name": "x-beta", "regex": "("}]}]}"#,
    ///     RuleFormat::Json,
    /// ).unwrap_err();
    /// assert!(error.to_string().contains(r#"rules[0] ("beta").headers[0].regex"#), "{error}");
    /// # Ok::<(), sae_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Config`]: a syntax or shape error with the path of the
    /// offending field (`rules[1].headers[0]: unknown field ...`), or a
    /// validation error naming the rule and field ([`RuleSet::compile`]).
    pub fn parse(text: &str, format: RuleFormat) -> Result<Self, Error> {
        let spec: RulesSpec = rule_text::parse(text, format)?;
        RuleSet::compile(&spec)
    }

    /// Reads, parses and validates a rule file; the format comes from the
    /// extension (`.yaml`, `.yml`, `.json`, `.toml`). Blocking I/O: call it
    /// at start-up or from `spawn_blocking`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be read, [`Error::Config`] for an
    /// unknown extension, a file over
    /// [`MAX_RULES_FILE_BYTES`](crate::lane::rules::MAX_RULES_FILE_BYTES), or
    /// bad rules.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let (text, format) = rule_text::read_file(path)?;
        RuleSet::parse(&text, format).map_err(|error| rule_text::in_file(path, error))
    }
}
