//! `switchboard`: list connectors and methods, validate definitions, run the
//! offline sandbox, install connectors and call their methods.
//!
//! Exit codes (docs/cli.md): 0 success, 1 bad input (arguments, settings or
//! definitions), 2 remote, transport or storage error, 3 the installation
//! needs re-authentication.

mod call;
mod cli;
mod commands;
mod exit;
mod installation_view;
mod loopback;
mod output;
mod progress;
mod records;
mod registry;
mod service;
mod store;
mod terminal_text;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
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
        Err(err) => {
            // the message may quote the service (a Graph error message)
            output::eprintln_human(&format!("error: {err}"));
            exit::code_for(&err)
        }
    }
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
