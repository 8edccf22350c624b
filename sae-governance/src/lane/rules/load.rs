//! Reading rules from text (YAML, JSON, TOML) and files.

use std::io::Read;
use std::path::Path;

use sae_core::Error;

use super::{RuleSet, RulesSpec};

/// Rule files larger than this are refused (1 MiB: thousands of rules).
pub const MAX_RULES_FILE_BYTES: u64 = 1 << 20;

/// The text format of a rule file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "yaml" | "yml" => Some(RuleFormat::Yaml),
            "json" => Some(RuleFormat::Json),
            "toml" => Some(RuleFormat::Toml),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            RuleFormat::Yaml => "YAML",
            RuleFormat::Json => "JSON",
            RuleFormat::Toml => "TOML",
        }
    }
}

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
        let spec = parse_spec(text, format)?;
        RuleSet::compile(&spec)
    }

    /// Reads, parses and validates a rule file; the format comes from the
    /// extension (`.yaml`, `.yml`, `.json`, `.toml`). Blocking I/O: call it
    /// at start-up or from `spawn_blocking`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be read, [`Error::Config`] for an
    /// unknown extension, a file over [`MAX_RULES_FILE_BYTES`], or bad rules.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let format = RuleFormat::from_path(path).ok_or_else(|| Error::Config {
            at: shown.clone(),
            message: "unknown rule file extension; use .yaml, .yml, .json or .toml".into(),
        })?;
        let file = std::fs::File::open(path)
            .map_err(|error| Error::io(format!("opening rule file {shown}"), error))?;
        let mut text = String::new();
        file.take(MAX_RULES_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|error| Error::io(format!("reading rule file {shown}"), error))?;
        if text.len() as u64 > MAX_RULES_FILE_BYTES {
            return Err(Error::Config {
                at: shown,
                message: format!("rule file is larger than {MAX_RULES_FILE_BYTES} bytes"),
            });
        }
        RuleSet::parse(&text, format).map_err(|error| match error {
            Error::Config { at, message } => Error::Config {
                at: format!("{shown}: {at}"),
                message,
            },
            other => other,
        })
    }
}

/// Deserializes the spec, reporting where in the document a field is wrong.
fn parse_spec(text: &str, format: RuleFormat) -> Result<RulesSpec, Error> {
    let failed = |path: String, message: String| Error::Config {
        at: if path == "." {
            format!("{} rules", format.name())
        } else {
            format!("{} rules at {path}", format.name())
        },
        message,
    };
    match format {
        RuleFormat::Yaml => {
            let deserializer = serde_yaml_ng::Deserializer::from_str(text);
            serde_path_to_error::deserialize(deserializer)
                .map_err(|error| failed(error.path().to_string(), error.inner().to_string()))
        }
        RuleFormat::Json => {
            let mut deserializer = serde_json::Deserializer::from_str(text);
            serde_path_to_error::deserialize(&mut deserializer)
                .map_err(|error| failed(error.path().to_string(), error.inner().to_string()))
        }
        RuleFormat::Toml => {
            let deserializer = toml::Deserializer::parse(text)
                .map_err(|error| failed(".".into(), error.to_string()))?;
            serde_path_to_error::deserialize(deserializer)
                .map_err(|error| failed(error.path().to_string(), error.inner().to_string()))
        }
    }
}
