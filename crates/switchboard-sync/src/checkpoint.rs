//! Where a sync resumes: the continuation after the last acknowledged page,
//! kept with the installation's secrets (encrypted at rest with the
//! installation and field bound in, redacted in Debug, erased on
//! uninstall, re-encrypted on key rotation like every other secret).

use std::collections::BTreeMap;
use std::sync::Arc;

use secrecy::ExposeSecret;
use serde_json::Value;
use sha2::{Digest, Sha256};
use switchboard_core::InstallationId;
use switchboard_core::paging::Continuation;
use switchboard_core::{Arguments, Error, ErrorKind, Result};
use switchboard_installations::install::InstallationSecrets;
use switchboard_installations::install::InstallationStore;
use switchboard_installations::modify::{Edit, SecretsWriter, modify_secrets_with};

use crate::lease::{LeaseHold, SyncLeases};
use crate::secret_entry;

/// Names one sync of an installation: the method and its arguments.
///
/// ```
/// use switchboard_core::Arguments;
/// use switchboard_sync::ResourceKey;
///
/// let a = ResourceKey::new("mail.delta_messages", &Arguments::new().set("folder_id", "inbox"));
/// let b = ResourceKey::new("mail.delta_messages", &Arguments::new().set("folder_id", "archive"));
/// assert_ne!(a, b);
/// assert!(a.as_str().starts_with("sync:mail.delta_messages:"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceKey(String);

impl ResourceKey {
    /// The key of `method_id` with `args` (their order does not matter).
    pub fn new(method_id: &str, args: &Arguments) -> ResourceKey {
        let sorted: BTreeMap<&String, &Value> = args.values().iter().collect();
        let canonical = serde_json::to_string(&sorted).unwrap_or_default();
        let digest = Sha256::digest(canonical.as_bytes());
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        ResourceKey(format!("sync:{method_id}:{hex}"))
    }

    /// The key as stored (`sync:{method}:{hash of the arguments}`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The stored checkpoint of `key`, if any. A checkpoint that does not parse
/// or belongs to another installation is an error naming the key, not a
/// silent restart.
pub(crate) async fn load(
    store: &Arc<dyn InstallationStore>,
    installation: InstallationId,
    key: &ResourceKey,
) -> Result<Option<Continuation>> {
    let Some(text) = secret_entry::load(store, installation, key.as_str()).await? else {
        return Ok(None);
    };
    let continuation: Continuation = serde_json::from_str(text.expose_secret()).map_err(|_| {
        Error::new(
            ErrorKind::Decode,
            format!(
                "the stored sync checkpoint `{}` cannot be read; start over with a reset",
                key.as_str()
            ),
        )
    })?;
    if continuation.installation_id() != installation {
        return Err(Error::invalid_argument(
            "checkpoint",
            format!(
                "the stored checkpoint `{}` belongs to another installation; start over with a reset",
                key.as_str()
            ),
        ));
    }
    Ok(Some(continuation))
}

/// Stores `checkpoint` under `key` (`None` removes it) only while `lease`
/// is held, renewing it, in the store transaction of the compare-and-swap
/// ([`SyncLeases::store_secrets_leased`]): a concurrent token write makes it
/// read and try again, it never overwrites that write; a lease that passed
/// to another node refuses it with
/// [`lease_lost`](crate::lease::lease_lost).
pub(crate) async fn commit(
    store: &Arc<dyn InstallationStore>,
    leases: &dyn SyncLeases,
    lease: &LeaseHold<'_>,
    key: &ResourceKey,
    checkpoint: Option<&Continuation>,
) -> Result<()> {
    let text = checkpoint
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| {
            Error::new(ErrorKind::Decode, "a checkpoint could not be written").with_source(e)
        })?;
    let writer = Leased { leases, lease };
    modify_secrets_with(store.as_ref(), &writer, lease.installation, |secrets| {
        // written even when nothing changes: the write is what renews
        // the lease and proves it is still held
        match &text {
            Some(text) => secrets
                .continuations
                .insert(key.as_str().to_string(), text.clone().into()),
            None => secrets.continuations.remove(key.as_str()),
        };
        Ok(Edit::Write(()))
    })
    .await
}

/// Writes secrets only while the lease is held.
struct Leased<'a> {
    leases: &'a dyn SyncLeases,
    lease: &'a LeaseHold<'a>,
}

#[async_trait::async_trait]
impl SecretsWriter for Leased<'_> {
    async fn write_secrets(
        &self,
        _: InstallationId,
        expected: u64,
        secrets: InstallationSecrets,
    ) -> Result<u64> {
        self.leases
            .store_secrets_leased(self.lease, expected, secrets)
            .await
    }
}
