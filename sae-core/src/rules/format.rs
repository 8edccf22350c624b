//! [`RuleFormat`]: the text format of a rule document.

use std::path::Path;

use crate::Error;

/// The text format of a rule document or file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RuleFormat {
    /// YAML (`.yaml`, `.yml`).
    Yaml,
    /// JSON (`.json`).
    Json,
    /// TOML (`.toml`).
    Toml,
}

impl RuleFormat {
    /// The format a file name's extension says, if any.
    pub fn from_path(path: &Path) -> Option<Self> {
        Self::from_extension(path.extension()?.to_str()?)
    }

    fn from_extension(extension: &str) -> Option<Self> {
        match extension.to_ascii_lowercase().as_str() {
            "yaml" | "yml" => Some(RuleFormat::Yaml),
            "json" => Some(RuleFormat::Json),
            "toml" => Some(RuleFormat::Toml),
            _ => None,
        }
    }

    /// The format's name, for messages (`YAML`).
    pub fn name(self) -> &'static str {
        match self {
            RuleFormat::Yaml => "YAML",
            RuleFormat::Json => "JSON",
            RuleFormat::Toml => "TOML",
        }
    }

    /// The format as stored and as typed on a command line (`yaml`).
    pub fn as_str(self) -> &'static str {
        match self {
            RuleFormat::Yaml => "yaml",
            RuleFormat::Json => "json",
            RuleFormat::Toml => "toml",
        }
    }
}

impl std::str::FromStr for RuleFormat {
    type Err = Error;

    /// `yaml`, `yml`, `json` or `toml`, in any case.
    fn from_str(format: &str) -> Result<Self, Error> {
        Self::from_extension(format).ok_or_else(|| Error::Config {
            at: format!("rule format {format:?}"),
            message: "unknown; use yaml, json or toml".into(),
        })
    }
}
