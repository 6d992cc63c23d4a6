//! One module per command.

mod connectors;
mod keys;
mod methods;
mod permissions;
mod sandbox;
mod validate;

use std::process::ExitCode;

use switchboard_core::Result;

use crate::cli::{Cli, Command, KeysCommand};
use crate::store::StoreLocation;

/// Run a parsed command line.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    let global = cli.global;
    let output = global.output;
    match cli.command {
        Command::Connectors => connectors::run(output),
        Command::Methods {
            connector,
            variant,
            category,
        } => methods::run(&connector, variant.as_deref(), category.as_deref(), output),
        Command::Permissions {
            connector,
            variant,
            category,
            method,
        } => permissions::run(&connector, &variant, category, method, output),
        Command::Validate { dir } => validate::run(&dir),
        Command::Sandbox(args) => sandbox::run(args).await,
        Command::Keys { command } => match command {
            KeysCommand::Rotate => {
                let location = StoreLocation::resolve(global.store.as_deref())?;
                keys::rotate(&location, output).await
            }
            KeysCommand::Generate { id } => keys::generate(&id),
        },
    }
}
