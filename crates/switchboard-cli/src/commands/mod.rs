//! One module per command.

mod connectors;
mod methods;
mod new;
mod permissions;
mod validate;

use std::process::ExitCode;

use switchboard_core::Result;

use crate::cli::NewCommand;
use crate::cli::{Cli, Command};

/// Run a parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    crate::registry::set_connectors_dir(cli.connectors_dir.clone());
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
        Command::New {
            what:
                NewCommand::Connector {
                    name,
                    dir,
                    core_path,
                },
        } => new::connector(&name, &dir, core_path.as_deref()),
    }
}
