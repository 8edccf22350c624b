//! The versioned JSON encoding of an [`Instance`]: the one format every registry stores.
//!
//! ```json
//! {"version":1,"service":"orders","id":"7f3c…","addr":"10.0.0.7:8080","weight":100,
//!  "metadata":{"sae.lane":"gray"},"start_time_ms":1764000000000,"warmup_ms":30000}
//! ```
//!
//! Rules:
//! - `version` is the major version. A reader rejects a larger major version
//!   with [`Error::UnsupportedEncodingVersion`] instead of misreading it.
//! - Fields added within a major version are optional; a reader ignores the
//!   fields it does not know, so an older reader can read a newer minor.
//! - A decoded instance goes through the same validation as
//!   [`Instance::builder`], so a registry entry can never hold what a
//!   builder would have refused.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::Instance;
use crate::Error;

/// The major version this build writes and reads.
pub const ENCODING_VERSION: u32 = 1;

#[derive(Serialize)]
struct WireOut<'a> {
    version: u32,
    service: &'a str,
    id: &'a str,
    addr: SocketAddr,
    weight: u32,
    metadata: &'a BTreeMap<String, String>,
    start_time_ms: u64,
    warmup_ms: u64,
}

#[derive(Deserialize)]
struct VersionProbe {
    version: u32,
}

#[derive(Deserialize)]
struct WireIn {
    service: String,
    id: String,
    addr: SocketAddr,
    #[serde(default = "default_weight")]
    weight: u32,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    #[serde(default)]
    start_time_ms: u64,
    #[serde(default)]
    warmup_ms: u64,
}

fn default_weight() -> u32 {
    super::DEFAULT_WEIGHT
}

/// Encodes `instance` as version-[`ENCODING_VERSION`] JSON.
pub fn encode(instance: &Instance) -> Vec<u8> {
    let wire = WireOut {
        version: ENCODING_VERSION,
        service: instance.service.as_str(),
        id: instance.id.as_str(),
        addr: instance.addr,
        weight: instance.weight,
        metadata: &instance.metadata,
        start_time_ms: instance
            .start_time
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        warmup_ms: instance.warmup.as_millis() as u64,
    };
    // Serializing a struct of strings, numbers and a string map cannot fail.
    serde_json::to_vec(&wire).expect("instance JSON encoding is infallible")
}

/// Decodes and validates an instance.
///
/// # Errors
///
/// [`Error::UnsupportedEncodingVersion`] for a newer major version,
/// [`Error::MalformedEncoding`] for input that is not the format, and the
/// builder's validation errors for values that break a rule.
pub fn decode(bytes: &[u8]) -> Result<Instance, Error> {
    let probe: VersionProbe = serde_json::from_slice(bytes).map_err(Error::MalformedEncoding)?;
    if probe.version != ENCODING_VERSION {
        return Err(Error::UnsupportedEncodingVersion {
            found: probe.version,
            supported: ENCODING_VERSION,
        });
    }
    let wire: WireIn = serde_json::from_slice(bytes).map_err(Error::MalformedEncoding)?;
    let mut builder = Instance::builder(wire.service)
        .id(wire.id)
        .addr(wire.addr)
        .weight(wire.weight)
        .start_time(UNIX_EPOCH + Duration::from_millis(wire.start_time_ms))
        .warmup(Duration::from_millis(wire.warmup_ms));
    for (key, value) in wire.metadata {
        builder = builder.metadata(key, value);
    }
    builder.build()
}
