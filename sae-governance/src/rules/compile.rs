//! One rule document to the running form of its kind: the check every
//! instance runs before it applies a document, and `sae rules apply` runs
//! before it writes one.

use sae_core::Error;
use sae_core::rules::{RuleDocument, RuleFormat, RuleKind};

use crate::lane::RuleSet;
use crate::protection::ProtectionSet;
use crate::rule_text;

/// A rule document compiled for its kind.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Compiled {
    /// Lane ingress rules (kind `lanes`).
    Lanes(RuleSet),
    /// Traffic protection rules (kind `protection`).
    Protection(ProtectionSet),
}

impl Compiled {
    /// How many rules the document holds.
    pub fn len(&self) -> usize {
        match self {
            Compiled::Lanes(rules) => rules.len(),
            Compiled::Protection(rules) => rules.len(),
        }
    }

    /// Whether the document holds no rules.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The kinds this build applies.
pub const KNOWN_KINDS: &[&str] = &[RuleKind::LANES, RuleKind::PROTECTION];

/// Parses and validates `document` with the code its kind runs on.
///
/// # Errors
///
/// [`Error::Config`] whose place starts with the document's key and goes
/// on to the rule and the field
/// (`/sae/v1/rules/edge/lanes: rules[0] ("beta").headers[0].regex`), or
/// names the kind when this build does not know it.
pub fn compile(document: &RuleDocument) -> Result<Compiled, Error> {
    let key = sae_core::rules::key(&document.service, &document.kind);
    compile_text(&document.kind, &document.text, document.format)
        .map_err(|error| rule_text::placed(&key, error))
}

/// [`compile`] for rules that are not a stored document yet (a file about
/// to be written): errors name the rule and the field, not a key.
///
/// # Errors
///
/// As [`compile`], without the key.
pub fn compile_text(kind: &RuleKind, text: &str, format: RuleFormat) -> Result<Compiled, Error> {
    match kind.as_str() {
        RuleKind::LANES => RuleSet::parse(text, format).map(Compiled::Lanes),
        RuleKind::PROTECTION => ProtectionSet::parse(text, format).map(Compiled::Protection),
        other => Err(Error::Config {
            at: String::new(),
            message: format!(
                "unknown rule kind {other:?}; this build applies {}",
                KNOWN_KINDS.join(", ")
            ),
        }),
    }
}
