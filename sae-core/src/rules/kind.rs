//! [`RuleKind`]: which governance a rule document configures.

use std::fmt;
use std::sync::Arc;

use crate::Error;

/// The kind of a rule document: [`RuleKind::LANES`], [`RuleKind::PROTECTION`],
/// or a later one. 1 to 63 bytes of lowercase ASCII letters, digits and
/// `-`, starting with a letter, so it is one segment of a registry key.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RuleKind(Arc<str>);

const MAX_LEN: usize = 63;

impl RuleKind {
    /// Lane ingress rules: which lane a request without one joins.
    pub const LANES: &'static str = "lanes";
    /// Traffic protection rules: timeouts, retries, breakers, limits.
    pub const PROTECTION: &'static str = "protection";

    /// The kind `lanes`.
    pub fn lanes() -> Self {
        RuleKind(Self::LANES.into())
    }

    /// The kind `protection`.
    pub fn protection() -> Self {
        RuleKind(Self::PROTECTION.into())
    }

    /// Checks `kind`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] saying what is wrong with it.
    pub fn new(kind: impl AsRef<str>) -> Result<Self, Error> {
        let kind = kind.as_ref();
        let wrong = |message: String| Error::Config {
            at: format!("rule kind {kind:?}"),
            message,
        };
        if kind.is_empty() || kind.len() > MAX_LEN {
            return Err(wrong(format!("must be 1 to {MAX_LEN} bytes long")));
        }
        if !kind.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(wrong("must start with a lowercase letter".into()));
        }
        if let Some(found) = kind
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(wrong(format!(
                "has {found:?}; only lowercase ASCII letters, digits and '-' are allowed"
            )));
        }
        Ok(RuleKind(kind.into()))
    }

    /// The kind as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RuleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RuleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl std::str::FromStr for RuleKind {
    type Err = Error;

    fn from_str(kind: &str) -> Result<Self, Error> {
        RuleKind::new(kind)
    }
}
