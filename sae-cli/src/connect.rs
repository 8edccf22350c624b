//! The registry a command talks to: the URL from `--registry` or
//! `$SAE_REGISTRY`, checked before anything is sent, with a short bound on
//! every call so an unreachable etcd fails the command instead of hanging it.

use std::sync::Arc;
use std::time::Duration;

use sae_core::Registry;

use crate::error::CliError;

/// How long a call may take when neither `--timeout` nor the URL's
/// `timeout=` says: short, for an operator at a terminal, yet longer than
/// an etcd leader election (about a second).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why `memory://` is refused: a memory registry exists only inside the
/// process that created it.
pub const MEMORY_REFUSED: &str = "memory:// registries live inside one process; the sae command cannot reach one; use etcd://HOST:2379, the registry your services share";

/// A registry URL checked and ready to open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The URL as the operator gave it, for messages.
    pub url: String,
    /// The URL opened: the given one with the timeout added.
    open_url: String,
}

/// Checks the registry URL and adds the time bound to it.
///
/// # Errors
///
/// [`CliError::Usage`] for no URL, a `memory://` URL, a URL that
/// `sae_registry::from_url` refuses, or a timeout given both ways.
pub fn resolve(url: Option<&str>, timeout: Option<Duration>) -> Result<Target, CliError> {
    let url = url
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .ok_or_else(|| {
            CliError::Usage(
                "no registry given: pass --registry etcd://HOST:2379 or set SAE_REGISTRY".into(),
            )
        })?;
    let scheme = url.split_once("://").map(|(scheme, _)| scheme);
    if scheme.is_some_and(|scheme| scheme.eq_ignore_ascii_case("memory")) {
        return Err(CliError::Usage(MEMORY_REFUSED.into()));
    }
    // Checked as given first, so an error quotes the operator's URL, not ours.
    sae_registry::from_url(url).map_err(|error| match error {
        // from_url lists memory among its schemes; this command reaches etcd only.
        sae_core::Error::UnknownRegistryScheme { url, scheme, .. } => CliError::Usage(format!(
            "registry URL {url:?} has unknown scheme {scheme:?}; use etcd://HOST:2379"
        )),
        other => CliError::Usage(other.to_string()),
    })?;
    let open_url = if scheme.is_some_and(|scheme| scheme.eq_ignore_ascii_case("etcd")) {
        with_timeout(url, timeout)?
    } else {
        url.to_owned()
    };
    Ok(Target {
        url: url.to_owned(),
        open_url,
    })
}

impl Target {
    /// Opens the registry. Nothing is sent yet: the etcd backend connects
    /// on the first call.
    ///
    /// # Errors
    ///
    /// [`CliError::Usage`] if the backend refuses the URL.
    pub fn open(&self) -> Result<Arc<dyn Registry>, CliError> {
        sae_registry::from_url(&self.open_url).map_err(|error| CliError::Usage(error.to_string()))
    }
}

/// `url` with `timeout=` added, unless it has one already.
fn with_timeout(url: &str, timeout: Option<Duration>) -> Result<String, CliError> {
    let query = url.split_once('?').map_or("", |(_, query)| query);
    let has_timeout = query
        .split('&')
        .any(|pair| pair.split('=').next() == Some("timeout"));
    match (has_timeout, timeout) {
        (true, None) => Ok(url.to_owned()),
        (true, Some(_)) => Err(CliError::Usage(format!(
            "the registry URL {url:?} sets timeout= and --timeout was given too; give it once"
        ))),
        (false, timeout) => {
            let bound = timeout.unwrap_or(DEFAULT_TIMEOUT);
            let separator = if url.contains('?') { '&' } else { '?' };
            Ok(format!("{url}{separator}timeout={}ms", bound.as_millis()))
        }
    }
}

/// Parses `--timeout`: a whole number and `ms`, `s` or `m`, as registry
/// URLs write durations (`500ms`, `5s`, `1m`).
///
/// # Errors
///
/// A message for clap, which reports it as a usage error.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let wrong = || {
        format!("{text:?} is not a duration; use a whole number and ms, s or m, as in 500ms or 5s")
    };
    let number: u64 = number.parse().map_err(|_| wrong())?;
    let duration = match unit {
        "ms" => Duration::from_millis(number),
        "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number.checked_mul(60).ok_or_else(wrong)?),
        _ => return Err(wrong()),
    };
    if duration.is_zero() {
        return Err(format!("{text:?} is zero; a call needs some time"));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(result: Result<Target, CliError>) -> String {
        match result {
            Err(CliError::Usage(message)) => message,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn a_missing_url_says_how_to_give_one() {
        for missing in [None, Some(""), Some("  ")] {
            let message = usage(resolve(missing, None));
            assert!(
                message.contains("--registry") && message.contains("SAE_REGISTRY"),
                "{message}"
            );
        }
    }

    #[test]
    fn memory_urls_are_refused() {
        for url in ["memory://", "memory://shared", "MEMORY://x?ttl=1s"] {
            assert_eq!(usage(resolve(Some(url), None)), MEMORY_REFUSED);
        }
    }

    #[test]
    fn bad_urls_are_usage_errors_quoting_the_url() {
        let message = usage(resolve(Some("zk://10.0.0.1"), None));
        assert_eq!(
            message,
            "registry URL \"zk://10.0.0.1\" has unknown scheme \"zk\"; use etcd://HOST:2379"
        );
        let message = usage(resolve(Some("10.0.0.1:2379"), None));
        assert!(message.contains("SCHEME://"), "{message}");
        let message = usage(resolve(Some("etcd://h:2379?color=red"), None));
        assert!(message.contains("\"color\""), "{message}");
    }

    #[test]
    fn the_timeout_is_added_unless_the_url_has_one() {
        let target = resolve(Some("etcd://h1:2379,h2:2379"), None).unwrap();
        assert_eq!(target.url, "etcd://h1:2379,h2:2379");
        assert_eq!(target.open_url, "etcd://h1:2379,h2:2379?timeout=5000ms");

        let target = resolve(Some("etcd://h1?ttl=3s"), Some(Duration::from_millis(1500))).unwrap();
        assert_eq!(target.open_url, "etcd://h1?ttl=3s&timeout=1500ms");

        let target = resolve(Some("etcd://h1?timeout=2s"), None).unwrap();
        assert_eq!(target.open_url, "etcd://h1?timeout=2s");
        target.open().unwrap();

        let message = usage(resolve(
            Some("etcd://h1?timeout=2s"),
            Some(Duration::from_secs(1)),
        ));
        assert!(message.contains("give it once"), "{message}");
    }

    #[test]
    fn timeouts_parse_like_registry_urls() {
        assert_eq!(parse_timeout("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_timeout("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_timeout("2m"), Ok(Duration::from_secs(120)));
        for bad in ["", "5", "1.5s", "s", "5h", "0s", "-1s"] {
            assert!(parse_timeout(bad).is_err(), "{bad:?}");
        }
    }
}
