//! The command line, as clap reads it.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use sae_core::ServiceName;
use sae_core::rules::{RuleFormat, RuleKind};

use crate::connect::parse_timeout;

/// The exit codes, at the end of `sae --help`; docs/cli.md says the same at length.
const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the registry failed or could not be reached within the timeout (or the output could not be written)
  2  usage: a wrong command line, no registry URL, a malformed URL, a memory:// URL, a rules format that cannot be told, an unknown rule kind
  3  the rules cannot be used: the file cannot be read or the check every instance runs refuses it, or the stored document cannot be read
  4  not found: no instance of the service is registered (instances), no such rule document (rules get, rules delete), neither (rules status)";

/// The operator's command line for sae registries: services and their
/// instances, governance rule documents, and changes as they happen.
#[derive(Debug, Parser)]
#[command(name = "sae", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes, before or after its name.
#[derive(Debug, Args)]
pub struct Global {
    /// The registry URL (`--registry`, `$SAE_REGISTRY`).
    #[arg(
        long,
        short = 'r',
        env = "SAE_REGISTRY",
        global = true,
        value_name = "URL",
        help = "The registry: etcd://HOST:2379[,HOST:2379...][?timeout=5s]. memory:// registries \
                live inside one process and cannot be reached from here"
    )]
    pub registry: Option<String>,

    /// The bound on each registry call (`--timeout`); `None`: the URL's, or
    /// [`DEFAULT_TIMEOUT`](crate::connect::DEFAULT_TIMEOUT).
    #[arg(
        long,
        global = true,
        value_name = "DURATION",
        value_parser = parse_timeout,
        help = "How long sae waits for the registry to answer a call (500ms, 5s, 1m) \
                [default: 5s, or the URL's timeout=]"
    )]
    pub timeout: Option<Duration>,

    /// Print JSON: one document, or one object per line for watch
    #[arg(long, global = true)]
    pub json: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the services with instances or rules: instance count, lanes, rule kinds
    Services,

    /// List a service's instances: id, address, lane, weight, warm-up, age
    Instances {
        /// The service
        #[arg(value_parser = service_name)]
        service: ServiceName,
    },

    /// Read, check and write a service's governance rule documents
    #[command(subcommand)]
    Rules(RulesCommand),

    /// Print a service's instance and rule changes as they happen, one line each, until Ctrl-C
    Watch {
        /// The service (it need not exist yet)
        #[arg(value_parser = service_name)]
        service: ServiceName,
    },
}

/// `sae rules …`.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Print a stored document's text (stdout) and its revision (stderr)
    Get {
        /// The service
        #[arg(value_parser = service_name)]
        service: ServiceName,
        /// The kind: lanes or protection
        #[arg(value_parser = rule_kind)]
        kind: RuleKind,
    },

    /// Check a rules file as every instance will, then write it
    Apply(Apply),

    /// Delete a stored document; instances go back to the rules they were built with
    Delete {
        /// The service
        #[arg(value_parser = service_name)]
        service: ServiceName,
        /// The kind: lanes or protection
        #[arg(value_parser = rule_kind)]
        kind: RuleKind,
    },

    /// Show which rule revision every instance of a service runs, against the stored documents
    Status {
        /// The service
        #[arg(value_parser = service_name)]
        service: ServiceName,
    },
}

/// `sae rules apply SERVICE KIND FILE`.
#[derive(Debug, Args)]
pub struct Apply {
    /// The service
    #[arg(value_parser = service_name)]
    pub service: ServiceName,
    /// The kind: lanes or protection
    #[arg(value_parser = rule_kind)]
    pub kind: RuleKind,
    /// The rules file (.yaml, .yml, .json or .toml), or - for stdin (with --format)
    pub file: PathBuf,
    /// The file's format, instead of its extension's
    #[arg(long, value_name = "yaml|json|toml", value_parser = rule_format)]
    pub format: Option<RuleFormat>,
    /// Check the file and print what would be written, without writing (needs no registry)
    #[arg(long)]
    pub dry_run: bool,
}

fn service_name(text: &str) -> Result<ServiceName, String> {
    ServiceName::new(text).map_err(|error| error.to_string())
}

fn rule_kind(text: &str) -> Result<RuleKind, String> {
    RuleKind::new(text).map_err(|error| error.to_string())
}

fn rule_format(text: &str) -> Result<RuleFormat, String> {
    text.parse()
        .map_err(|error: sae_core::Error| error.to_string())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_go_before_or_after_the_command() {
        let cli = Cli::try_parse_from([
            "sae",
            "instances",
            "orders",
            "--json",
            "--registry",
            "etcd://h:2379",
            "--timeout",
            "2s",
        ])
        .unwrap();
        assert!(cli.global.json);
        assert_eq!(cli.global.registry.as_deref(), Some("etcd://h:2379"));
        assert_eq!(cli.global.timeout, Some(Duration::from_secs(2)));
        assert!(
            matches!(cli.command, Command::Instances { service } if service.as_str() == "orders")
        );

        let cli = Cli::try_parse_from([
            "sae",
            "--json",
            "rules",
            "apply",
            "edge",
            "lanes",
            "-",
            "--format",
            "yml",
            "--dry-run",
        ])
        .unwrap();
        let Command::Rules(RulesCommand::Apply(apply)) = cli.command else {
            panic!("expected rules apply");
        };
        assert!(cli.global.json && apply.dry_run);
        assert_eq!(apply.format, Some(RuleFormat::Yaml));
        assert_eq!(apply.file, PathBuf::from("-"));
    }

    #[test]
    fn bad_names_are_usage_errors_naming_the_rule() {
        let error = Cli::try_parse_from(["sae", "instances", "Orders"]).unwrap_err();
        assert_eq!(error.exit_code(), 2);
        assert!(error.to_string().contains("lowercase"), "{error}");
        let error = Cli::try_parse_from(["sae", "rules", "get", "edge", "Lanes"]).unwrap_err();
        assert!(error.to_string().contains("rule kind"), "{error}");
        let error = Cli::try_parse_from([
            "sae", "rules", "apply", "edge", "lanes", "f", "--format", "xml",
        ])
        .unwrap_err();
        assert!(error.to_string().contains("yaml, json or toml"), "{error}");
    }

    #[test]
    fn help_lists_the_exit_codes() {
        let help = Cli::command().render_help().to_string();
        for code in [
            "0  success",
            "1  the registry",
            "2  usage",
            "3  the rules cannot be used",
            "4  not found",
        ] {
            assert!(help.contains(code), "{code:?} missing from:\n{help}");
        }
    }
}
