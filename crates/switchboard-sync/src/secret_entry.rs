//! Named secret strings kept with an installation's secrets (its
//! `continuations` map): encrypted at rest with the installation and field
//! bound in, redacted in Debug, erased on uninstall, re-encrypted on key
//! rotation. Sync checkpoints and subscriptions' `clientState`s live here.

use std::sync::Arc;

use secrecy::SecretString;
use switchboard_core::InstallationId;
use switchboard_core::{Error, ErrorKind, Result};
use switchboard_installations::install::InstallationStore;
use switchboard_installations::modify::{Edit, modify_secrets};

/// How often a write is tried again when another writer (a token refresh)
/// changed the secrets in between.
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
    modify_secrets(store.as_ref(), installation, |secrets| {
        Ok(match value {
            Some(text) => {
                secrets
                    .continuations
                    .insert(name.to_string(), text.to_string().into());
                Edit::Write(())
            }
            None => match secrets.continuations.remove(name) {
                Some(_) => Edit::Write(()),
                None => Edit::Keep(()),
            },
        })
    })
    .await
    .map_err(|e| {
        if e.kind() == ErrorKind::Conflict {
            Error::new(
                ErrorKind::Conflict,
                format!("`{name}` was not stored: {}; try again", e.message()),
            )
        } else {
            e
        }
    })
}
