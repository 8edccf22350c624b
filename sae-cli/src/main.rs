//! `sae`: the operator's command line for sae registries.
//!
//! It reads a registry's services and instances, reads, checks and writes
//! the governance rule documents every instance follows, shows which
//! revision of them each instance runs, and prints changes as they happen. Install it with `cargo install --path sae-cli`. The
//! commands, the JSON output and the exit codes are in docs/cli.md and in
//! `sae --help`.

#![forbid(unsafe_code)]

mod args;
mod connect;
mod error;
mod rules;
mod services;
mod status;
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
            rules::apply(registry, checked, &mut out, &mut err, json).await
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
        (Command::Rules(RulesCommand::Status { service }), _) => {
            status::status(registry, &service, &mut out, &mut err, json).await
        }
        (Command::Watch { service }, _) => {
            watch::watch(registry, &service, &mut out, json, interrupted()).await
        }
        (Command::Rules(RulesCommand::Apply(_)), None) => {
            unreachable!("every apply is checked above")
        }
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
