//! One module per command.

mod batch;
mod call;
mod connectors;
mod install;
mod installations;
mod keys;
mod methods;
mod new;
mod notifications;
mod permissions;
mod quickstart;
mod sandbox;
mod subscriptions;
mod sync;
mod validate;

use std::process::ExitCode;

use crate::cli::{Cli, Command, KeysCommand, NewCommand, NotificationsCommand};
use crate::exit::CliResult;
use crate::store::StoreLocation;
use installations::Change;

/// Run a parsed command line.
pub async fn run(cli: Cli) -> CliResult<ExitCode> {
    crate::registry::set_connectors_dir(cli.connectors_dir.clone());
    let global = cli.global;
    let output = global.output;
    match cli.command {
        Command::Connectors => Ok(connectors::run(output)?),
        Command::Methods {
            connector,
            variant,
            category,
        } => Ok(methods::run(
            &connector,
            variant.as_deref(),
            category.as_deref(),
            output,
        )?),
        Command::Permissions {
            connector,
            variant,
            category,
            method,
        } => Ok(permissions::run(
            &connector, &variant, category, method, output,
        )?),
        Command::Validate { dir } => Ok(validate::run(&dir)?),
        Command::Sandbox(args) => Ok(sandbox::run(args).await?),
        Command::Install(args) => install::install(&global, args).await,
        Command::Complete {
            installation,
            callback,
            redirect_uri,
        } => install::complete(&global, &installation, &callback, redirect_uri).await,
        Command::Reauth(args) => install::reauth(&global, args).await,
        Command::Call(args) => call::run(&global, args).await,
        Command::Sync(args) => sync::run(&global, args).await,
        Command::Subscribe(args) => subscriptions::subscribe(&global, args).await,
        Command::Subscriptions { installation } => {
            subscriptions::list(&global, &installation).await
        }
        Command::Notifications { command } => match command {
            NotificationsCommand::Serve {
                port,
                bind,
                renew_within,
                renew_every,
                clock,
            } => {
                notifications::serve(
                    &global,
                    std::net::SocketAddr::new(bind, port),
                    std::time::Duration::from_secs(renew_within),
                    std::time::Duration::from_secs(renew_every),
                    clock,
                )
                .await
            }
            NotificationsCommand::Renew { within, clock } => {
                notifications::renew(&global, std::time::Duration::from_secs(within), clock).await
            }
        },
        Command::Batch(args) => batch::run(&global, args).await,
        Command::Test { installation } => installations::test(&global, &installation).await,
        Command::Installations { account } => Ok(installations::list(&global, &account).await?),
        Command::Uninstall { installation } => {
            installations::change(&global, &installation, Change::Uninstall).await
        }
        Command::Disable { installation } => {
            installations::change(&global, &installation, Change::Disable).await
        }
        Command::Enable { installation } => {
            installations::change(&global, &installation, Change::Enable).await
        }
        Command::Quickstart { seed } => Ok(quickstart::run(&global, seed).await?),
        Command::Keys { command } => match command {
            KeysCommand::Rotate => {
                let location = StoreLocation::resolve(global.store.as_deref())?;
                Ok(keys::rotate(&location, output).await?)
            }
            KeysCommand::Generate { id } => Ok(keys::generate(&id)?),
        },
        Command::New {
            what:
                NewCommand::Connector {
                    name,
                    dir,
                    core_path,
                },
        } => Ok(new::connector(&name, &dir, core_path.as_deref())?),
    }
}
