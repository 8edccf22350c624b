//! [`from_url`]: pick and configure a registry backend from one string.
//!
//! A URL is the one setting an operator changes to move a service from the
//! embedded registry to a distributed one, so it is all a program needs to
//! take from its configuration.
//!
//! | URL | registry |
//! |---|---|
//! | `memory://` | a new private [`MemoryRegistry`] |
//! | `memory://NAME` | the process-wide memory registry called `NAME`: every call with that name returns the same one, so two parts of one process can meet by URL |
//! | `memory://NAME?ttl=500ms` | lease TTL (units `ms`, `s`, `m`; default 10 s) |
//! | `etcd://h1:2379,h2:2379,h3:2379` | an `EtcdRegistry` on those members (feature `etcd`; port defaults to 2379), connecting on first use |
//! | `etcd://h1:2379?ttl=10s&timeout=5s` | lease TTL (whole seconds in etcd) and the bound on connecting and on each operation |

mod duration;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;
use sae_core::{Error, Registry};

use crate::MemoryRegistry;
use duration::parse_duration;

/// The schemes this build handles, for error messages.
const SUPPORTED_SCHEMES: &str = if cfg!(feature = "etcd") {
    "memory, etcd"
} else {
    "memory"
};

/// Opens the registry a URL names.
///
/// ```
/// # fn main() -> Result<(), sae_core::Error> {
/// let private = sae_registry::from_url("memory://")?;
/// let shared = sae_registry::from_url("memory://demo?ttl=2s")?;
/// assert_eq!(private.backend(), "memory");
/// assert!(sae_registry::from_url("zk://10.0.0.1").is_err());
/// # let _ = shared;
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// [`Error::UnknownRegistryScheme`] for a scheme no backend of this build
/// handles; [`Error::MalformedRegistryUrl`] naming what is wrong otherwise.
pub fn from_url(url: &str) -> Result<Arc<dyn Registry>, Error> {
    // The scheme is split off by hand so each backend parses the rest its own
    // way (etcd's comma-separated host list is not a valid URL authority).
    let Some((scheme, _)) = url.split_once("://") else {
        return Err(malformed(url, "expected SCHEME://…, for example memory://"));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "memory" => memory_from_url(url),
        #[cfg(feature = "etcd")]
        "etcd" => etcd_from_url(url),
        #[cfg(not(feature = "etcd"))]
        "etcd" => Err(Error::BackendNotEnabled {
            url: url.to_owned(),
            feature: "etcd",
        }),
        _ => Err(Error::UnknownRegistryScheme {
            url: url.to_owned(),
            scheme: scheme.to_owned(),
            supported: SUPPORTED_SCHEMES.to_owned(),
        }),
    }
}

/// Parses `memory://[NAME][?ttl=DURATION]`.
fn memory_from_url(raw: &str) -> Result<Arc<dyn Registry>, Error> {
    let url = ::url::Url::parse(raw).map_err(|e| malformed(raw, e.to_string()))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(malformed(raw, "memory:// takes no user name or password"));
    }
    if url.port().is_some() {
        return Err(malformed(raw, "memory:// takes no port"));
    }
    if !matches!(url.path(), "" | "/") {
        return Err(malformed(
            raw,
            format!("memory:// takes no path, found {:?}", url.path()),
        ));
    }
    if url.fragment().is_some() {
        return Err(malformed(raw, "memory:// takes no fragment"));
    }
    let mut ttl = None;
    for (key, value) in url.query_pairs() {
        match &*key {
            "ttl" => {
                ttl = Some(parse_duration(&value).map_err(|e| malformed(raw, format!("ttl: {e}")))?)
            }
            other => {
                return Err(malformed(
                    raw,
                    format!("unknown query parameter {other:?}; supported: ttl"),
                ));
            }
        }
    }
    let name = url.host_str().unwrap_or_default();
    let registry = if name.is_empty() {
        MemoryRegistry::with_ttl(ttl.unwrap_or(MemoryRegistry::DEFAULT_TTL))
    } else {
        named_memory_registry(raw, name, ttl)?
    };
    Ok(Arc::new(registry))
}

/// Parses `etcd://HOST[:PORT][,HOST[:PORT]…][/][?ttl=DURATION&timeout=DURATION]`.
///
/// The host list is split by hand: a comma-separated list is no valid URL
/// authority. Each member is checked as the authority of an `http://` URL.
#[cfg(feature = "etcd")]
fn etcd_from_url(raw: &str) -> Result<Arc<dyn Registry>, Error> {
    use crate::etcd::{EtcdOptions, EtcdRegistry};

    let rest = &raw[raw.find("://").map_or(0, |at| at + 3)..];
    if rest.contains('#') {
        return Err(malformed(raw, "etcd:// takes no fragment"));
    }
    let (hosts, query) = rest.split_once('?').unwrap_or((rest, ""));
    let hosts = hosts.strip_suffix('/').unwrap_or(hosts);
    if hosts.is_empty() {
        return Err(malformed(
            raw,
            "etcd:// needs at least one member, as in etcd://10.0.0.1:2379",
        ));
    }
    let mut endpoints = Vec::new();
    for member in hosts.split(',') {
        endpoints.push(etcd_member(raw, member)?);
    }
    let mut options = EtcdOptions::default();
    for (key, value) in ::url::form_urlencoded::parse(query.as_bytes()) {
        let duration =
            |name: &str| parse_duration(&value).map_err(|e| malformed(raw, format!("{name}: {e}")));
        match &*key {
            "ttl" => options.ttl = duration("ttl")?,
            "timeout" => {
                let bound = duration("timeout")?;
                options = options.connect_timeout(bound).request_timeout(bound);
            }
            other => {
                return Err(malformed(
                    raw,
                    format!("unknown query parameter {other:?}; supported: ttl, timeout"),
                ));
            }
        }
    }
    Ok(Arc::new(EtcdRegistry::lazy(endpoints, options)))
}

/// Checks one `HOST[:PORT]` of an etcd URL and returns it with its port.
#[cfg(feature = "etcd")]
fn etcd_member(raw: &str, member: &str) -> Result<String, Error> {
    let explain =
        |why: &str| malformed(raw, format!("member {member:?} {why}; expected HOST:PORT"));
    if member.is_empty() {
        return Err(explain("is empty"));
    }
    if member.contains(['/', '@']) {
        return Err(explain("has a path or user name"));
    }
    let parsed =
        ::url::Url::parse(&format!("http://{member}")).map_err(|e| explain(&e.to_string()))?;
    let host = parsed
        .host_str()
        .filter(|host| !host.is_empty())
        .ok_or_else(|| explain("has no host"))?;
    // `url` drops a port equal to http's default, so 80 is read back by hand.
    let port = parsed
        .port()
        .or_else(|| member.ends_with(":80").then_some(80))
        .unwrap_or(2379);
    Ok(format!("{host}:{port}"))
}

/// The process-wide registry called `name`, created on first use.
fn named_memory_registry(
    raw: &str,
    name: &str,
    ttl: Option<Duration>,
) -> Result<MemoryRegistry, Error> {
    static NAMED: OnceLock<Mutex<HashMap<String, MemoryRegistry>>> = OnceLock::new();
    let mut named = NAMED.get_or_init(Default::default).lock();
    if let Some(existing) = named.get(name) {
        // A second, different TTL would silently be ignored; say so instead.
        if let Some(ttl) = ttl.filter(|ttl| *ttl != existing.ttl()) {
            return Err(malformed(
                raw,
                format!(
                    "memory registry {name:?} already exists with ttl {:?}, not {ttl:?}",
                    existing.ttl()
                ),
            ));
        }
        return Ok(existing.clone());
    }
    let registry = MemoryRegistry::with_ttl(ttl.unwrap_or(MemoryRegistry::DEFAULT_TTL));
    named.insert(name.to_owned(), registry.clone());
    Ok(registry)
}

fn malformed(url: &str, reason: impl Into<String>) -> Error {
    Error::MalformedRegistryUrl {
        url: url.to_owned(),
        reason: reason.into(),
    }
}
