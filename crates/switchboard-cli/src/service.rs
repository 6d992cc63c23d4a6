//! The engine and the installation lifecycle service the store-backed
//! commands run on, built from the global options.

use std::sync::Arc;
use std::time::Duration;

use switchboard_core::InstallationId;
use switchboard_core::engine::retry::RetryPolicy;
use switchboard_core::{Engine, Error, ErrorKind, Result};
use switchboard_installations::install::Installation;
use switchboard_installations::lifecycle::Installations;
use switchboard_installations::lifecycle::apps::{AppCredential, AppCredentials};
use switchboard_installations::lifecycle::flow::InstallFlow;
use switchboard_installations::lifecycle::generic_flow::DefinitionFlow;
use switchboard_microsoft365::install_flow::Microsoft365Flow;
use switchboard_store::Store;

use crate::cli::Global;
use crate::exit::{self, CliResult, Failure};
use crate::registry;
use crate::store::StoreLocation;

/// The redirect URI when none is given: registered on the sandbox's app,
/// and a usual choice for an app registration used from a terminal.
pub const DEFAULT_REDIRECT_URI: &str = "http://localhost/callback";

/// The platform app's client id and secret, for installs without `--client-id`.
pub const CLIENT_ID_ENV: &str = "SWITCHBOARD_CLIENT_ID";
/// See [`CLIENT_ID_ENV`].
pub const CLIENT_SECRET_ENV: &str = "SWITCHBOARD_CLIENT_SECRET";

/// The retry policy of the global options.
pub fn retry_policy(global: &Global) -> RetryPolicy {
    RetryPolicy {
        max_retries: global.max_retries,
        initial_backoff: Duration::from_millis(global.retry_backoff_ms),
        ..RetryPolicy::default()
    }
}

/// A deadline in seconds from the options; 0 is none.
fn seconds(secs: u64) -> Option<Duration> {
    (secs > 0).then(|| Duration::from_secs(secs))
}

/// An engine with every built-in connector and the global retry policy
/// and limits. Waits before retries are shown on the progress bar (or
/// stderr).
pub fn engine(global: &Global) -> Result<Engine> {
    Engine::builder(registry::builtin()?)
        .retry_policy(retry_policy(global))
        .attempt_deadline(seconds(global.deadline))
        .token_deadline(seconds(global.token_deadline))
        .max_response_bytes(global.max_response_bytes)
        .max_pages(global.max_pages)
        .on_retry_wait(crate::progress::retry_wait)
        .build()
}

/// The platform's own app (`SWITCHBOARD_CLIENT_ID` / `SWITCHBOARD_CLIENT_SECRET`)
/// under the name `default`, when set.
fn platform_apps() -> AppCredentials {
    let mut apps = AppCredentials::new();
    if let Ok(id) = std::env::var(CLIENT_ID_ENV)
        && !id.trim().is_empty()
    {
        let mut app = AppCredential::new(id.trim());
        if let Ok(secret) = std::env::var(CLIENT_SECRET_ENV)
            && !secret.is_empty()
        {
            app = app.with_client_secret(secret);
        }
        apps.insert("default", app);
    }
    apps
}

/// The lifecycle service over `store`.
pub fn installations(
    engine: Engine,
    store: Store,
    redirect_uri: Option<&str>,
) -> Result<Installations> {
    // Microsoft 365 has its own flow; every other connector (GitHub, those
    // of --connectors-dir) is installed through the generic flow of its
    // definition.
    let generic: Vec<Arc<dyn InstallFlow>> = engine
        .registry()
        .iter()
        .filter(|c| c.id() != "microsoft365")
        .map(|c| {
            Arc::new(DefinitionFlow::new(Arc::new(c.definition().clone()))) as Arc<dyn InstallFlow>
        })
        .collect();
    let mut builder =
        Installations::builder(engine, Arc::new(store)).flow(Arc::new(Microsoft365Flow::new()));
    for flow in generic {
        builder = builder.flow(flow);
    }
    builder
        .app_credentials(platform_apps())
        .redirect_uri(redirect_uri.unwrap_or(DEFAULT_REDIRECT_URI))
        .build()
}

/// Open the store of the global options and build the service.
pub async fn open(global: &Global, redirect_uri: Option<&str>) -> Result<Installations> {
    let location = StoreLocation::resolve(global.store.as_deref())?;
    let store = location.open().await?;
    installations(engine(global)?, store, redirect_uri)
}

/// The service over the store of the global options, for reading: `None`
/// when nothing was ever stored (nothing is created).
pub async fn open_read_only(global: &Global) -> Result<Option<(Installations, StoreLocation)>> {
    let location = StoreLocation::resolve(global.store.as_deref())?;
    match location.open_read_only().await? {
        Some(store) => Ok(Some((
            installations(engine(global)?, store, None)?,
            location,
        ))),
        None => Ok(None),
    }
}

fn unknown_installation(id: InstallationId, location: &StoreLocation) -> Failure {
    Error::invalid_argument(
        "installation",
        format!(
            "there is no installation {id} in the store {}; `switchboard installations --account <account>` lists an account's installations",
            location.display()
        ),
    )
    .into()
}

/// The service and the installation `text` names. An id that is not a
/// UUID, or that the store does not hold, is bad input (exit code 1); a
/// store that does not exist yet is not created.
pub async fn open_installation(
    global: &Global,
    text: &str,
    redirect_uri: Option<&str>,
) -> CliResult<(Installations, Installation)> {
    let id = installation_id(text)?;
    let location = StoreLocation::resolve(global.store.as_deref())?;
    if !location.exists() {
        return Err(unknown_installation(id, &location));
    }
    let store = location.open().await?;
    let service = installations(engine(global)?, store, redirect_uri)?;
    match service.get(id).await {
        Ok(inst) => Ok((service, inst)),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(unknown_installation(id, &location)),
        Err(e) => Err(e.into()),
    }
}

/// The failure for `err`, an installation's lifecycle refusing a command:
/// when its state is the reason, the exit code says the state
/// ([`exit::code_for_status`]).
pub async fn refused(service: &Installations, id: InstallationId, err: Error) -> Failure {
    if err.field() != Some("status") {
        return err.into();
    }
    match service.get(id).await {
        Ok(inst) => {
            let code = exit::code_for_status(inst.status);
            Failure::with_code(err, code)
        }
        Err(_) => err.into(),
    }
}

/// An installation id argument.
pub fn installation_id(text: &str) -> Result<InstallationId> {
    text.trim().parse::<InstallationId>().map_err(|_| {
        Error::invalid_argument(
            "installation",
            format!(
                "`{text}` is not an installation id; ids are UUIDs as printed by `switchboard install` and `switchboard installations`"
            ),
        )
    })
}
