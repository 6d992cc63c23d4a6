//! `switchboard`: list connectors and methods, validate definitions, run the
//! offline sandbox, install connectors and call their methods.
//!
//! Exit codes (docs/cli.md, `exit`): 0 success, 1 bad input (an unknown
//! installation id too), 2 remote, transport or storage error, 3 a person
//! must (re-)consent, 4 the installation is disabled or uninstalled.

mod call;
mod cli;
mod commands;
mod exit;
mod installation_view;
mod loopback;
mod output;
mod program;
mod progress;
mod records;
mod registry;
mod service;
mod store;
mod terminal_text;
mod typos;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(err) => {
            // --help and --version print and exit 0; usage errors are bad
            // input (clap's own code for them, 2, means a remote error here)
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(exit::BAD_INPUT)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::from(exit::REMOTE);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(failure) => {
            // the message may quote the service (a Graph error message)
            output::eprintln_human(&format!("error: {failure}"));
            failure.exit_code()
        }
    }
}

/// Parse the command line. Each command's help lists only the global
/// options that mean something to it ([`cli::ignored_globals`]), and its
/// command line refuses the others.
fn parse() -> Result<cli::Cli, clap::Error> {
    let mut command = cli::Cli::command();
    let globals: Vec<clap::Arg> = command
        .get_arguments()
        .filter(|a| a.is_global_set())
        .cloned()
        .collect();
    let paths: Vec<Vec<String>> = command
        .get_subcommands()
        .flat_map(|sc| {
            let name = sc.get_name().to_string();
            std::iter::once(vec![name.clone()]).chain(
                sc.get_subcommands()
                    .map(move |sub| vec![name.clone(), sub.get_name().to_string()]),
            )
        })
        .collect();
    for path in &paths {
        let names: Vec<&str> = path.iter().map(String::as_str).collect();
        let ignored = cli::ignored_globals(&names);
        // a command's own hidden copy of a global option stops clap from
        // giving it the listed one
        let hidden = |mut c: clap::Command| {
            for arg in globals
                .iter()
                .filter(|a| ignored.contains(&a.get_id().as_str()))
            {
                c = c.arg(arg.clone().global(false).hide(true));
            }
            c
        };
        command = command.mut_subcommand(&path[0], |sc| match names.get(1) {
            None => hidden(sc),
            Some(sub) => sc.mut_subcommand(sub, hidden),
        });
    }
    let matches = command.clone().try_get_matches()?;
    let mut names = Vec::new();
    let mut leaf = &matches;
    while let Some((name, sub)) = leaf.subcommand() {
        names.push(name);
        leaf = sub;
    }
    for id in cli::ignored_globals(&names) {
        if leaf.value_source(id) == Some(clap::parser::ValueSource::CommandLine) {
            let flag = format!("--{}", id.replace('_', "-"));
            let mut sub = command.clone();
            sub.build();
            for name in &names {
                match sub.find_subcommand(name) {
                    Some(found) => sub = found.clone(),
                    None => break,
                }
            }
            return Err(sub.error(
                clap::error::ErrorKind::ArgumentConflict,
                format!(
                    "{flag} means nothing to `{}`; leave it out",
                    names.join(" ")
                ),
            ));
        }
    }
    cli::Cli::from_arg_matches(&matches)
}

/// Logs on stderr, filtered by `SWITCHBOARD_LOG` (for example
/// `SWITCHBOARD_LOG=switchboard_core=debug`); errors only by default (the CLI prints its own).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SWITCHBOARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
