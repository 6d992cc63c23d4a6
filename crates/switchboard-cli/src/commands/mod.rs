//! One module per command.

mod connectors;
mod methods;
mod permissions;
mod validate;

use std::process::ExitCode;

use switchboard_core::Result;

use crate::cli::{Cli, Command};

/// Run a parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Connectors { output } => connectors::run(output),
        Command::Methods {
            connector,
            variant,
            category,
            output,
        } => methods::run(&connector, variant.as_deref(), category.as_deref(), output),
        Command::Permissions {
            connector,
            variant,
            category,
            method,
            output,
        } => permissions::run(&connector, &variant, category, method, output),
        Command::Validate { dir } => validate::run(&dir),
    }
}
