//! Rules as text: the formats (YAML, JSON, TOML), the file size cap, and a
//! parser whose errors carry the path of the offending field. Shared by
//! every kind of rule (lane ingress rules, traffic protection).

use std::io::Read;
use std::path::Path;

use sae_core::Error;
use serde::de::DeserializeOwned;

/// Rule files larger than this are refused: the size a registry document
/// may have ([`sae_core::rules::MAX_RULE_TEXT_BYTES`]), so a file and the
/// same text written to the registry are judged alike.
pub const MAX_RULES_FILE_BYTES: u64 = sae_core::rules::MAX_RULE_TEXT_BYTES as u64;

pub use sae_core::rules::RuleFormat;

/// Deserializes `text`, reporting where in the document a field is wrong:
/// `YAML rules at rules[0].headers[0]: unknown field ...`.
pub(crate) fn parse<T: DeserializeOwned>(text: &str, format: RuleFormat) -> Result<T, Error> {
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

/// Reads a rule file (blocking I/O) and says its format, from the extension.
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be read, [`Error::Config`] for an
/// unknown extension or a file over [`MAX_RULES_FILE_BYTES`].
pub(crate) fn read_file(path: &Path) -> Result<(String, RuleFormat), Error> {
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
    Ok((text, format))
}

/// Prefixes the place of a configuration error with the file it came from.
pub(crate) fn in_file(path: &Path, error: Error) -> Error {
    placed(&path.display().to_string(), error)
}

/// Prefixes the place of a configuration error with where the rules came
/// from (a file, a registry key).
pub(crate) fn placed(origin: &str, error: Error) -> Error {
    match error {
        Error::Config { at, message } if at.is_empty() => Error::Config {
            at: origin.to_owned(),
            message,
        },
        Error::Config { at, message } => Error::Config {
            at: format!("{origin}: {at}"),
            message,
        },
        other => other,
    }
}

/// Where a rule's field is, for an error: `rules[2] ("beta").headers[0]`
/// (`field` empty: the rule itself).
pub(crate) fn field_path(index: usize, name: Option<&str>, field: &str) -> String {
    let name = name.map_or_else(String::new, |name| format!(" ({name:?})"));
    let dot = if field.is_empty() { "" } else { "." };
    format!("rules[{index}]{name}{dot}{field}")
}

/// The earlier rule that already has rule `index`'s name, if any.
pub(crate) fn duplicate_of(names: &[Option<&str>], index: usize) -> Option<usize> {
    let name = names.get(index).copied().flatten()?;
    names[..index]
        .iter()
        .position(|earlier| *earlier == Some(name))
}
