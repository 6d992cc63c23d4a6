//! One module per command.

mod call;
mod connectors;
mod install;
mod installations;
mod keys;
mod methods;
mod new;
mod permissions;
mod quickstart;
mod sandbox;
mod validate;

use std::process::ExitCode;

use switchboard_core::Result;

use crate::cli::{Cli, Command, KeysCommand, NewCommand};
use crate::store::StoreLocation;
use installations::Change;

/// Run a parsed command line.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    crate::registry::set_connectors_dir(cli.connectors_dir.clone());
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
        Command::Install(args) => install::install(&global, args).await,
        Command::Complete {
            installation,
            callback,
            redirect_uri,
        } => install::complete(&global, &installation, &callback, redirect_uri).await,
        Command::Reauth {
            installation,
            redirect_uri,
        } => install::reauth(&global, &installation, redirect_uri).await,
        Command::Call(args) => call::run(&global, args).await,
        Command::Test { installation } => installations::test(&global, &installation).await,
        Command::Installations { account } => installations::list(&global, &account).await,
        Command::Uninstall { installation } => {
            installations::change(&global, &installation, Change::Uninstall).await
        }
        Command::Disable { installation } => {
            installations::change(&global, &installation, Change::Disable).await
        }
        Command::Enable { installation } => {
            installations::change(&global, &installation, Change::Enable).await
        }
        Command::Quickstart { seed } => quickstart::run(&global, seed).await,
        Command::Keys { command } => match command {
            KeysCommand::Rotate => {
                let location = StoreLocation::resolve(global.store.as_deref())?;
                keys::rotate(&location, output).await
            }
            KeysCommand::Generate { id } => keys::generate(&id),
        },
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
