//! `switchboard`: list connectors and methods, validate definitions.
//!
//! Exit codes: 0 success, 1 bad input (arguments, settings or definitions),
//! 2 remote or transport error, 3 the installation needs re-authentication.

mod cli;
mod commands;
mod exit;
mod output;
mod registry;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            exit::code_for(&err)
        }
    }
}
