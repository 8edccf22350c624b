//! [`RuleDocument`]: one service's rules of one kind, as text.

use crate::{Error, ServiceName};

use super::{RuleFormat, RuleKind};

/// Rule texts larger than this are refused (1 MiB: thousands of rules).
/// The envelope escapes the text, so a text near the limit full of
/// characters JSON escapes may still exceed etcd's request limit (1.5 MiB
/// by default); etcd then refuses the write and says so.
pub const MAX_RULE_TEXT_BYTES: usize = 1 << 20;

/// One service's rules of one kind, as the operator wrote them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleDocument {
    /// The service whose instances apply the rules.
    pub service: ServiceName,
    /// Which governance the rules configure.
    pub kind: RuleKind,
    /// The text's format.
    pub format: RuleFormat,
    /// The rules.
    pub text: String,
}

impl RuleDocument {
    /// Checks the service name, the kind and the size.
    ///
    /// # Errors
    ///
    /// A service name or kind that breaks its rules, or [`Error::Config`]
    /// for a text over [`MAX_RULE_TEXT_BYTES`].
    pub fn new(
        service: impl AsRef<str>,
        kind: impl AsRef<str>,
        format: RuleFormat,
        text: impl Into<String>,
    ) -> Result<Self, Error> {
        let document = RuleDocument {
            service: ServiceName::new(service.as_ref())?,
            kind: RuleKind::new(kind)?,
            format,
            text: text.into(),
        };
        document.check_size()?;
        Ok(document)
    }

    /// Checks the size (the fields are public, so a document built by hand
    /// is checked again when a registry stores it).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a text over [`MAX_RULE_TEXT_BYTES`].
    pub fn check_size(&self) -> Result<(), Error> {
        if self.text.len() > MAX_RULE_TEXT_BYTES {
            return Err(Error::Config {
                at: format!("{} rules of {}", self.kind, self.service.as_str()),
                message: format!(
                    "{} bytes; the maximum is {MAX_RULE_TEXT_BYTES}",
                    self.text.len()
                ),
            });
        }
        Ok(())
    }

    /// Encodes the document in the registry's versioned JSON envelope.
    pub fn to_json(&self) -> Vec<u8> {
        super::encoding::encode(self)
    }

    /// Decodes and checks a stored document.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for JSON that is not the envelope, a newer major
    /// version, or a service, kind or format that breaks its rules.
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        super::encoding::decode(bytes)
    }
}
