//! `sae`: the operator's command line for sae registries.
//!
//! It reads a registry's services and instances, reads, checks and writes
//! the governance rule documents every instance follows, and prints changes
//! as they happen. Install it with `cargo install --path sae-cli`.
//!
//! # Commands
//!
//! The registry is `--registry URL` or `$SAE_REGISTRY`, an etcd URL such as
//! `etcd://10.0.0.1:2379,10.0.0.2:2379` (see `sae_registry::from_url`).
//! Every command takes `--json` and `--timeout` before or after its name.
//!
//! | command | prints |
//! |---|---|
//! | `sae services` | every service with instances or rules: instance count, lanes (`base 2, gray 1`), rule kinds |
//! | `sae instances SERVICE` | ID, ADDRESS, LANE (`base` for none), WEIGHT, WARM-UP (`warming 40%` or `warm`), AGE, as an aligned table |
//! | `sae rules get SERVICE KIND` | the stored document's text on stdout, exactly as written (so it can be applied again); `sae: lanes rules of edge: yaml, revision 42` on stderr |
//! | `sae rules apply SERVICE KIND FILE` | checks FILE with `sae_governance::rules::compile`, the check every instance runs, then writes it: `applied lanes rules of edge: 1 rule, revision 42` |
//! | `sae rules apply --dry-run …` | checks FILE and prints the key and text it would write, writing nothing (needs no registry) |
//! | `sae rules delete SERVICE KIND` | `deleted lanes rules of edge: revision 43` |
//! | `sae watch SERVICE` | one line per instance or rule change (the current state first), until Ctrl-C (exit 0) |
//!
//! `KIND` is `lanes` or `protection`. `FILE`'s format comes from its
//! extension (`.yaml`, `.yml`, `.json`, `.toml`) or `--format yaml|json|toml`;
//! `-` reads stdin and needs `--format`.
//!
//! With `--json`, each command prints one JSON document on stdout
//! (`watch`: one object per line, with `time`, `revision` and `event`).
//! An instance's `lane` is `null` for the base version.
//!
//! `--timeout DURATION` (`500ms`, `5s`, `1m`; default 5 s) bounds how long
//! a call waits for etcd, so an unreachable registry fails the command
//! ("cannot reach the registry at …") instead of hanging it. A `timeout=`
//! in the URL does the same; giving both is a usage error.
//!
//! `memory://` registries are refused: one lives inside the process that
//! created it, so no other process, this one included, can reach it.
//!
//! # Exit codes
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success (also: `watch` stopped by Ctrl-C, or stdout's reader went away) |
//! | 1 | the registry failed or could not be reached within the timeout (or the output could not be written) |
//! | 2 | usage: clap's own errors (unknown command or flag, a malformed service name or kind), no registry URL, a malformed URL, a `memory://` URL, a rules format that cannot be told, an unknown rule kind for `apply` |
//! | 3 | the rules input cannot be used: the file cannot be read, is not UTF-8, is over 1 MiB, or the check refuses it (the message names the rule and the field, as in `rules[0] ("beta").lane`) |
//! | 4 | not found: `instances` of a service with no instance registered, `rules get` or `rules delete` of a document that is not stored |
//!
//! Errors are printed as `sae: error: …` on stderr.

#![forbid(unsafe_code)]

mod args;
mod connect;
mod error;
mod rules;
mod services;
mod table;
mod watch;

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::SystemTime;

use clap::Parser;

use crate::args::{Cli, Command, RulesCommand};
use crate::error::{CliError, exit};

fn main() -> ExitCode {
    // clap prints its own usage errors and exits with 2 (0 for --help).
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            return fail(
                &format!("cannot start the runtime: {error}"),
                exit::REGISTRY,
            );
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::from(exit::SUCCESS),
        Err(error) if error.is_closed_pipe() => ExitCode::from(exit::SUCCESS),
        Err(error) => fail(&error.to_string(), error.exit_code()),
    }
}

/// Prints `sae: error: {message}` on stderr (not `eprintln!`, which panics
/// when stderr is closed) and returns `code`.
fn fail(message: &str, code: u8) -> ExitCode {
    let _ = writeln!(io::stderr(), "sae: error: {message}");
    ExitCode::from(code)
}

/// Runs one command. The registry is opened only for commands that need
/// one, and `rules apply` checks its file before that.
async fn run(cli: Cli) -> Result<(), CliError> {
    let Cli { global, command } = cli;
    let json = global.json;
    let (mut out, mut err) = (io::stdout(), io::stderr());

    // `rules apply` checks its input before anything else: a bad file is
    // reported even without a registry, and a dry run needs none.
    let checked = match &command {
        Command::Rules(RulesCommand::Apply(apply)) => {
            let checked = rules::check(apply, &mut io::stdin())?;
            if apply.dry_run {
                return rules::dry_run(&checked, &mut out, json);
            }
            Some(checked)
        }
        _ => None,
    };

    let target = connect::resolve(global.registry.as_deref(), global.timeout)?;
    let registry = target.open()?;
    let registry = &*registry;
    let result = match (command, checked) {
        (Command::Rules(RulesCommand::Apply(_)), Some(checked)) => {
            rules::apply(registry, checked, &mut out, json).await
        }
        (Command::Services, _) => services::services(registry, &mut out, json).await,
        (Command::Instances { service }, _) => {
            services::instances(registry, &service, SystemTime::now(), &mut out, json).await
        }
        (Command::Rules(RulesCommand::Get { service, kind }), _) => {
            rules::get(registry, &service, &kind, &mut out, &mut err, json).await
        }
        (Command::Rules(RulesCommand::Delete { service, kind }), _) => {
            rules::delete(registry, &service, &kind, &mut out, json).await
        }
        (Command::Watch { service }, _) => {
            watch::watch(registry, &service, &mut out, json, interrupted()).await
        }
        // Every apply was checked above.
        (Command::Rules(RulesCommand::Apply(_)), None) => Ok(()),
    };
    result.map_err(|error| error.at(&target.url))
}

/// Resolves on Ctrl-C; never, if the handler cannot be installed (the
/// process then ends by the signal's default action).
async fn interrupted() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}
