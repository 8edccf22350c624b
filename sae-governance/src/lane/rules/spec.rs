//! The rules as data: what a YAML, JSON or TOML rule file deserializes
//! into. Unknown fields are errors, so a typo cannot silently disable a match.

use serde::{Deserialize, Serialize};

/// A rule file: rules tried in order; the first that matches assigns its lane.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesSpec {
    /// The rules, in priority order.
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
}

/// One rule: every condition given must match (at least one is required).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// A name for error messages and logs (unique when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The lane a matching request is put in.
    pub lane: String,
    /// Request headers that must match (all of them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<ValueMatchSpec>,
    /// Cookies that must match (all of them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cookies: Vec<ValueMatchSpec>,
    /// Query parameters that must match (all of them); values are compared
    /// as sent, not percent-decoded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query: Vec<ValueMatchSpec>,
    /// A prefix the path must start with (plain string prefix: end it with
    /// `/` to match whole segments only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    /// A share of keys, stable per key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentage: Option<PercentageSpec>,
}

/// A named value (header, cookie or query parameter) and how to match it:
/// exactly one of `exact`, `prefix` and `regex`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueMatchSpec {
    /// The header, cookie or parameter name (header names are case-insensitive).
    pub name: String,
    /// The value must equal this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    /// The value must start with this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// The value must match this regular expression (unanchored unless you
    /// write `^…$`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

/// `percent` % of the values of header `header` (for example a user id),
/// chosen by a stable hash: a key always gets the same answer, in every
/// process and release. A request without the header does not match.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PercentageSpec {
    /// The header whose value is the key.
    pub header: String,
    /// The share, 0 to 100, with 0.01 % resolution.
    pub percent: f64,
    /// Mixed into the hash so two rules on the same key pick independent
    /// key sets (default: none).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub salt: String,
}
