//! The versioned JSON envelope of a [`RuleDocument`], as every registry stores it.
//!
//! ```json
//! {"version":1,"service":"edge","kind":"lanes","format":"yaml","text":"rules: [...]"}
//! ```
//!
//! The rules follow [`crate::instance::encoding`]: `version` is the major
//! version and a larger one is refused, fields added within a major version
//! are optional, unknown fields are ignored.

use serde::{Deserialize, Serialize};

use super::{RuleDocument, RuleFormat, RuleKind};
use crate::{Error, ServiceName};

/// The major version this build writes and reads.
pub const RULE_ENCODING_VERSION: u32 = 1;

#[derive(Serialize)]
struct WireOut<'a> {
    version: u32,
    service: &'a str,
    kind: &'a str,
    format: &'a str,
    text: &'a str,
}

#[derive(Deserialize)]
struct WireIn {
    version: u32,
    service: String,
    kind: String,
    format: String,
    text: String,
}

pub(super) fn encode(document: &RuleDocument) -> Vec<u8> {
    let wire = WireOut {
        version: RULE_ENCODING_VERSION,
        service: document.service.as_str(),
        kind: document.kind.as_str(),
        format: document.format.as_str(),
        text: &document.text,
    };
    // A struct of strings and a number always serializes.
    serde_json::to_vec(&wire).expect("rule JSON encoding is infallible")
}

pub(super) fn decode(bytes: &[u8]) -> Result<RuleDocument, Error> {
    let malformed = |message: String| Error::Config {
        at: "rule document".into(),
        message,
    };
    let wire: WireIn = serde_json::from_slice(bytes)
        .map_err(|error| malformed(format!("not a sae rule envelope: {error}")))?;
    if wire.version != RULE_ENCODING_VERSION {
        return Err(malformed(format!(
            "encoding version {} is not supported; this build reads version {RULE_ENCODING_VERSION} (upgrade sae to read it)",
            wire.version
        )));
    }
    let document = RuleDocument {
        service: ServiceName::new(&wire.service)?,
        kind: RuleKind::new(&wire.kind)?,
        format: wire.format.parse::<RuleFormat>()?,
        text: wire.text,
    };
    document.check_size()?;
    Ok(document)
}
