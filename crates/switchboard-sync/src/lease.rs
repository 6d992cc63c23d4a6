//! One node at a time per (installation, resource): a lease with a time
//! limit in the store every node shares.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use switchboard_core::bounds::later;
use switchboard_core::{Error, ErrorKind, InstallationId, Result};
use switchboard_installations::install::{InstallationSecrets, InstallationStore};
use tokio::sync::Mutex;

/// The field of [`lease_lost`] errors.
pub const LEASE_FIELD: &str = "lease";

/// The error of a write refused because `holder` no longer holds the lease
/// on `resource`: [`ErrorKind::Conflict`] with field [`LEASE_FIELD`].
pub fn lease_lost(installation: InstallationId, resource: &str, holder: &str) -> Error {
    Error::new(
        ErrorKind::Conflict,
        format!(
            "the lease on `{resource}` of installation {installation} is no longer held by `{holder}` (another node took it over); nothing was written"
        ),
    )
    .with_field(LEASE_FIELD)
}

/// Whether `err` is a [`lease_lost`] refusal.
pub fn is_lease_lost(err: &Error) -> bool {
    err.kind() == ErrorKind::Conflict && err.field() == Some(LEASE_FIELD)
}

/// Leases on sync resources, held in the store the nodes share.
///
/// A holder takes the lease before it syncs and renews it (by taking it
/// again) while it works; a holder that dies stops renewing, and another
/// takes the lease once `ttl` has passed since the last renewal.
#[async_trait]
pub trait SyncLeases: Send + Sync + std::fmt::Debug {
    /// Take the lease on `resource` of `installation` for `holder` for at
    /// most `ttl`: `true` when taken, or already held by `holder` (the time
    /// limit then starts again); `false` while another holder has it.
    async fn try_lease(
        &self,
        installation: InstallationId,
        resource: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool>;

    /// Give the lease up if `holder` has it (otherwise nothing).
    async fn release_lease(
        &self,
        installation: InstallationId,
        resource: &str,
        holder: &str,
    ) -> Result<()>;

    /// Store `installation`'s `secrets` (compare-and-swap on `expected`,
    /// like [`InstallationStore::store_secrets`]) only while `holder` still
    /// holds the lease on `resource`, renewing it for `ttl`, in one
    /// transaction: a node that stalled until its lease passed to another
    /// can never commit after it (a sync's checkpoint is written this way).
    /// The lease is held when its row names `holder`, even past its time
    /// as long as nobody took it over.
    ///
    /// Errors: [`lease_lost`] when another holder has the lease or it was
    /// given up; a [`version_conflict`](switchboard_installations::install::version_conflict)
    /// when the secrets changed since they were read (nothing stored:
    /// read again). These leases and the installation store must be one
    /// store (the SQL stores implement both; [`MemorySyncLeases::new`] is
    /// given its installation store).
    async fn store_secrets_leased(
        &self,
        lease: &LeaseHold<'_>,
        expected: u64,
        secrets: InstallationSecrets,
    ) -> Result<u64>;
}

/// Who holds which lease, for how long: the condition of
/// [`SyncLeases::store_secrets_leased`].
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use switchboard_installations::install::{Installation, InstallationSecrets, InstallationStore, MemoryInstallationStore};
/// use switchboard_sync::{LeaseHold, MemorySyncLeases, SyncLeases, is_lease_lost};
///
/// let store = Arc::new(MemoryInstallationStore::new());
/// let inst = store
///     .create(Installation::new("acct", "c", "1.0.0", "delegated"), InstallationSecrets::default())
///     .await
///     .unwrap();
/// let leases = MemorySyncLeases::new(store.clone());
/// let hold = LeaseHold { installation: inst.id, resource: "sync:x", holder: "node-a", ttl: Duration::from_secs(60) };
/// let version = store.load_secrets(inst.id).await.unwrap().unwrap().version;
/// // not held: refused, nothing written
/// let err = leases.store_secrets_leased(&hold, version, InstallationSecrets::default()).await.unwrap_err();
/// assert!(is_lease_lost(&err));
/// // held: written, and the lease renewed
/// assert!(leases.try_lease(inst.id, "sync:x", "node-a", hold.ttl).await.unwrap());
/// let written = leases.store_secrets_leased(&hold, version, InstallationSecrets::default()).await.unwrap();
/// assert_eq!(written, version + 1);
/// # });
/// ```
#[derive(Debug, Clone, Copy)]
pub struct LeaseHold<'a> {
    /// The installation.
    pub installation: InstallationId,
    /// The leased resource.
    pub resource: &'a str,
    /// The holder that must have it.
    pub holder: &'a str,
    /// How long the lease lasts from the write on.
    pub ttl: Duration,
}

/// [`SyncLeases`] in process memory, for tests and single-process use,
/// over the installation store whose secrets
/// [`store_secrets_leased`](SyncLeases::store_secrets_leased) writes (under
/// the leases' lock, so a lease cannot pass to another holder meanwhile).
///
/// ```
/// # tokio_test_block(async {
/// use std::time::Duration;
/// use std::sync::Arc;
/// use switchboard_installations::install::MemoryInstallationStore;
/// use switchboard_sync::{MemorySyncLeases, SyncLeases};
///
/// let leases = MemorySyncLeases::new(Arc::new(MemoryInstallationStore::new()));
/// let id = switchboard_core::InstallationId::new_random();
/// let ttl = Duration::from_secs(60);
/// assert!(leases.try_lease(id, "users.delta_users", "node-a", ttl).await.unwrap());
/// assert!(!leases.try_lease(id, "users.delta_users", "node-b", ttl).await.unwrap());
/// leases.release_lease(id, "users.delta_users", "node-a").await.unwrap();
/// assert!(leases.try_lease(id, "users.delta_users", "node-b", ttl).await.unwrap());
/// # });
/// # fn tokio_test_block(f: impl std::future::Future<Output = ()>) {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Debug)]
pub struct MemorySyncLeases {
    leases: Mutex<HashMap<(InstallationId, String), (String, SystemTime)>>,
    store: Arc<dyn InstallationStore>,
}

impl MemorySyncLeases {
    /// Leases beside `store`, the installation store of the same process.
    pub fn new(store: Arc<dyn InstallationStore>) -> MemorySyncLeases {
        MemorySyncLeases {
            leases: Mutex::default(),
            store,
        }
    }
}

#[async_trait]
impl SyncLeases for MemorySyncLeases {
    async fn try_lease(
        &self,
        installation: InstallationId,
        resource: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool> {
        let mut leases = self.leases.lock().await;
        let now = SystemTime::now();
        let key = (installation, resource.to_string());
        let free = leases
            .get(&key)
            .is_none_or(|(current, until)| current == holder || *until <= now);
        if free {
            leases.insert(key, (holder.to_string(), later(now, ttl)));
        }
        Ok(free)
    }

    async fn release_lease(
        &self,
        installation: InstallationId,
        resource: &str,
        holder: &str,
    ) -> Result<()> {
        let mut leases = self.leases.lock().await;
        let key = (installation, resource.to_string());
        if leases.get(&key).is_some_and(|(h, _)| h == holder) {
            leases.remove(&key);
        }
        Ok(())
    }

    async fn store_secrets_leased(
        &self,
        lease: &LeaseHold<'_>,
        expected: u64,
        secrets: InstallationSecrets,
    ) -> Result<u64> {
        let mut leases = self.leases.lock().await;
        let key = (lease.installation, lease.resource.to_string());
        match leases.get_mut(&key) {
            Some((h, until)) if h == lease.holder => {
                let version = self
                    .store
                    .store_secrets(lease.installation, expected, secrets)
                    .await?;
                *until = later(SystemTime::now(), lease.ttl);
                Ok(version)
            }
            _ => Err(lease_lost(lease.installation, lease.resource, lease.holder)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_installations::install::{Installation, MemoryInstallationStore};

    #[tokio::test]
    async fn memory_leases_write_secrets_only_for_the_holder() {
        let store = Arc::new(MemoryInstallationStore::new());
        let inst = store
            .create(
                Installation::new("acct", "c", "1.0.0", "delegated"),
                InstallationSecrets::default(),
            )
            .await
            .unwrap();
        let leases = MemorySyncLeases::new(store.clone());
        let ttl = Duration::from_secs(60);
        let hold = |holder| LeaseHold {
            installation: inst.id,
            resource: "sync:x",
            holder,
            ttl,
        };
        let version = async || store.load_secrets(inst.id).await.unwrap().unwrap().version;
        let v1 = version().await;
        let err = leases
            .store_secrets_leased(&hold("a"), v1, InstallationSecrets::default())
            .await
            .unwrap_err();
        assert!(is_lease_lost(&err), "{err}");
        assert!(leases.try_lease(inst.id, "sync:x", "a", ttl).await.unwrap());
        let v2 = leases
            .store_secrets_leased(&hold("a"), v1, InstallationSecrets::default())
            .await
            .unwrap();
        assert_eq!(v2, v1 + 1);
        // a stale version is the store's version conflict
        let err = leases
            .store_secrets_leased(&hold("a"), v1, InstallationSecrets::default())
            .await
            .unwrap_err();
        assert!(switchboard_installations::modify::is_version_conflict(&err));
        // taken over (released and taken by b): a can no longer write
        leases.release_lease(inst.id, "sync:x", "a").await.unwrap();
        assert!(leases.try_lease(inst.id, "sync:x", "b", ttl).await.unwrap());
        let err = leases
            .store_secrets_leased(&hold("a"), v2, InstallationSecrets::default())
            .await
            .unwrap_err();
        assert!(is_lease_lost(&err), "{err}");
        assert_eq!(version().await, v2);
    }
}
