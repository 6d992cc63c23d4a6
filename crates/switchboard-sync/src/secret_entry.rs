//! Named secret strings kept with an installation's secrets (its
//! `continuations` map): encrypted at rest with the installation and field
//! bound in, redacted in Debug, erased on uninstall, re-encrypted on key
//! rotation. Sync checkpoints and subscriptions' `clientState`s live here.

use std::sync::Arc;

use secrecy::SecretString;
use switchboard_core::InstallationId;
use switchboard_core::{Error, ErrorKind, Result};
use switchboard_installations::install::InstallationStore;

/// How often a write is tried again when another writer (a token refresh)
/// changed the secrets in between.
const WRITE_ATTEMPTS: usize = 8;

/// The entry `name` of `installation`'s secrets, if any.
pub(crate) async fn load(
    store: &Arc<dyn InstallationStore>,
    installation: InstallationId,
    name: &str,
) -> Result<Option<SecretString>> {
    let secrets = store
        .load_secrets(installation)
        .await?
        .ok_or_else(|| switchboard_installations::install::not_found(installation))?;
    Ok(secrets.value.continuations.get(name).cloned())
}

/// Stores `value` under `name` (`None` removes it), compare-and-swap on the
/// secrets' version: a concurrent token write makes it read and try again,
/// it never overwrites that write.
pub(crate) async fn store(
    store: &Arc<dyn InstallationStore>,
    installation: InstallationId,
    name: &str,
    value: Option<&str>,
) -> Result<()> {
    for _ in 0..WRITE_ATTEMPTS {
        let current = store
            .load_secrets(installation)
            .await?
            .ok_or_else(|| switchboard_installations::install::not_found(installation))?;
        let mut secrets = current.value;
        match value {
            Some(text) => {
                secrets
                    .continuations
                    .insert(name.to_string(), text.to_string().into());
            }
            None => {
                if secrets.continuations.remove(name).is_none() {
                    return Ok(());
                }
            }
        }
        match store
            .store_secrets(installation, current.version, secrets)
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::Conflict => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Error::new(
        ErrorKind::Conflict,
        format!(
            "`{name}` was not stored: the installation's secrets changed {WRITE_ATTEMPTS} times while writing it; try again"
        ),
    ))
}
