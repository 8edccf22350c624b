//! [`apply`]: check a rule document as the instances will, then write it.

use sae_core::rules::RuleDocument;
use sae_core::{Error, Registry, Revision};

use super::compile::compile;

/// What [`apply`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
    /// How many rules the document holds.
    pub rules: usize,
    /// The revision of the write.
    pub revision: Revision,
}

/// Checks `document` with [`compile`] (the code every instance runs before
/// applying it), then writes it to `registry`. What `sae rules apply` and
/// the `canary_rollout` demo do for each step; a dry run is [`compile`]
/// alone.
///
/// # Errors
///
/// [`compile`]'s errors, which name the key, the rule and the field, before
/// anything is written; the registry's errors when the write fails.
pub async fn apply(registry: &dyn Registry, document: RuleDocument) -> Result<Written, Error> {
    let rules = compile(&document)?.len();
    let revision = registry.put_rules(document).await?;
    Ok(Written { rules, revision })
}
