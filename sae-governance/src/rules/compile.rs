//! One rule document to the running form of its kind: the check every
//! instance runs before it applies a document, and `sae rules apply` runs
//! before it writes one.

use sae_core::Error;
use sae_core::rules::{RuleDocument, RuleKind};

use crate::lane::RuleSet;
use crate::protection::ProtectionSet;

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
pub const KNOWN_KINDS: [&str; 2] = [RuleKind::LANES, RuleKind::PROTECTION];

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
    let (text, format) = (document.text.as_str(), document.format);
    let compiled = match document.kind.as_str() {
        RuleKind::LANES => RuleSet::parse(text, format).map(Compiled::Lanes),
        RuleKind::PROTECTION => ProtectionSet::parse(text, format).map(Compiled::Protection),
        other => Err(Error::Config {
            at: String::new(),
            message: format!(
                "unknown rule kind {other:?}; this build applies {}",
                KNOWN_KINDS.join(", ")
            ),
        }),
    };
    compiled.map_err(|error| match error {
        Error::Config { at, message } if at.is_empty() => Error::Config { at: key, message },
        Error::Config { at, message } => Error::Config {
            at: format!("{key}: {at}"),
            message,
        },
        other => other,
    })
}
