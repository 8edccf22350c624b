//! [`CliError`]: everything that makes `sae` fail, each with its exit code.

use std::io;

/// The exit codes of `sae`, as the crate docs and `--help` list them.
pub mod exit {
    /// The command did what it was asked.
    pub const SUCCESS: u8 = 0;
    /// The registry failed or could not be reached (or the output could not be written).
    pub const REGISTRY: u8 = 1;
    /// The command line was wrong: clap's own errors, and a missing, malformed or `memory://` registry URL.
    pub const USAGE: u8 = 2;
    /// The rules input could not be used: unreadable, or refused by the check every instance runs.
    pub const INVALID: u8 = 3;
    /// What was asked for does not exist: no instance of the service, no such rule document.
    pub const NOT_FOUND: u8 = 4;
}

/// Why `sae` failed; printed as `sae: error: {self}` on stderr.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The command line was wrong ([`exit::USAGE`]).
    #[error("{0}")]
    Usage(String),
    /// A registry call failed ([`exit::REGISTRY`]). `url` is filled in by
    /// `main`, which knows where the registry is; commands only see a
    /// `&dyn Registry`.
    #[error("{}", registry_message(.url.as_deref(), .source))]
    Registry {
        /// The registry URL as the operator gave it.
        url: Option<String>,
        /// What the backend said (boxed: it is large, and errors travel far).
        source: Box<sae_core::Error>,
    },
    /// The rules input could not be used ([`exit::INVALID`]).
    #[error("{0}")]
    Invalid(String),
    /// What was asked for does not exist ([`exit::NOT_FOUND`]).
    #[error("{0}")]
    NotFound(String),
    /// Writing to stdout failed ([`exit::REGISTRY`]; a closed pipe is not an error, see [`CliError::is_closed_pipe`]).
    #[error("cannot write the output: {0}")]
    Output(#[from] io::Error),
}

impl CliError {
    /// A failed registry call, its URL to be filled in by [`CliError::at`].
    pub fn registry(source: sae_core::Error) -> Self {
        CliError::Registry {
            url: None,
            source: Box::new(source),
        }
    }

    /// This error with the registry's URL, for the message.
    pub fn at(self, registry_url: &str) -> Self {
        match self {
            CliError::Registry { url: None, source } => CliError::Registry {
                url: Some(registry_url.to_owned()),
                source,
            },
            other => other,
        }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => exit::USAGE,
            CliError::Registry { .. } | CliError::Output(_) => exit::REGISTRY,
            CliError::Invalid(_) => exit::INVALID,
            CliError::NotFound(_) => exit::NOT_FOUND,
        }
    }

    /// Whether stdout's reader went away (`sae watch edge | head`): the
    /// command ends quietly and successfully, as other Unix tools do.
    pub fn is_closed_pipe(&self) -> bool {
        matches!(self, CliError::Output(error) if error.kind() == io::ErrorKind::BrokenPipe)
    }
}

/// The message of a failed registry call: "cannot reach" when no endpoint
/// answered in time, so the operator checks the URL and the network, not
/// the request.
fn registry_message(url: Option<&str>, source: &sae_core::Error) -> String {
    let at = url.map(|url| format!(" at {url}")).unwrap_or_default();
    if is_unreachable(source) {
        format!(
            "cannot reach the registry{at}: {source} (is etcd running there? --timeout sets how long sae waits)"
        )
    } else {
        format!("the registry{at} failed: {source}")
    }
}

/// Whether `error` says that no registry endpoint answered.
fn is_unreachable(error: &sae_core::Error) -> bool {
    matches!(
        error,
        sae_core::Error::RegistryUnreachable { .. } | sae_core::Error::RegistryTimeout { .. }
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn each_error_has_its_exit_code() {
        let registry = CliError::registry(sae_core::Error::registry("etcd", "boom"));
        assert_eq!(registry.exit_code(), 1);
        assert_eq!(CliError::Usage("u".into()).exit_code(), 2);
        assert_eq!(CliError::Invalid("i".into()).exit_code(), 3);
        assert_eq!(CliError::NotFound("n".into()).exit_code(), 4);
        let output = CliError::from(io::Error::other("disk full"));
        assert_eq!(output.exit_code(), 1);
        assert!(!output.is_closed_pipe());
        assert!(CliError::from(io::Error::from(io::ErrorKind::BrokenPipe)).is_closed_pipe());
    }

    #[test]
    fn an_unanswered_registry_is_unreachable_and_named_by_its_url() {
        let timeout = CliError::registry(sae_core::Error::RegistryTimeout {
            backend: "etcd",
            operation: "list",
            after: Duration::from_secs(5),
        })
        .at("etcd://10.0.0.1:2379");
        let message = timeout.to_string();
        assert!(
            message.starts_with("cannot reach the registry at etcd://10.0.0.1:2379: "),
            "{message}"
        );
        let connect = sae_core::Error::RegistryUnreachable {
            backend: "etcd",
            operation: "connect",
            after: Duration::from_secs(5),
            last_error: "transport error (endpoints [\"10.0.0.1:2379\"])".into(),
        };
        assert!(
            CliError::registry(connect)
                .to_string()
                .starts_with("cannot reach the registry: ")
        );

        let refused =
            CliError::registry(sae_core::Error::registry("etcd", "put failed: too large"))
                .at("etcd://10.0.0.1:2379");
        assert_eq!(
            refused.to_string(),
            "the registry at etcd://10.0.0.1:2379 failed: etcd registry: put failed: too large"
        );
    }
}
