//! A store for this crate's unit tests: the memory store, with every
//! secrets read, secrets write and lease request counted, and writes that
//! can be told to lose their compare-and-swap to another writer.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use switchboard_core::InstallationId;
use switchboard_core::error::Result;

use crate::install::{
    Installation, InstallationSecrets, InstallationStore, MemoryInstallationStore, Versioned,
};

#[derive(Debug, Default)]
pub(crate) struct Counting {
    pub inner: MemoryInstallationStore,
    /// Secrets writes still to lose (another writer's change lands first).
    pub losses: AtomicU32,
    pub secrets_reads: AtomicU32,
    pub secrets_writes: AtomicU32,
    pub lease_requests: AtomicU32,
}

impl Counting {
    pub fn losing(losses: u32) -> Self {
        Counting {
            losses: AtomicU32::new(losses),
            ..Default::default()
        }
    }

    /// A new installation with empty secrets.
    pub async fn installation(&self) -> InstallationId {
        self.create(
            Installation::new("acct", "c", "1.0.0", "delegated"),
            InstallationSecrets::default(),
        )
        .await
        .expect("created")
        .id
    }

    /// Store reads of any kind that touch secrets or leases so far.
    pub fn secrets_and_lease_calls(&self) -> u32 {
        self.secrets_reads.load(Ordering::SeqCst)
            + self.secrets_writes.load(Ordering::SeqCst)
            + self.lease_requests.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl InstallationStore for Counting {
    async fn create(&self, i: Installation, s: InstallationSecrets) -> Result<Installation> {
        self.inner.create(i, s).await
    }
    async fn get(&self, id: InstallationId) -> Result<Option<Installation>> {
        self.inner.get(id).await
    }
    async fn list_by_account(&self, a: &str) -> Result<Vec<Result<Installation>>> {
        self.inner.list_by_account(a).await
    }
    async fn update(&self, i: &Installation) -> Result<Installation> {
        self.inner.update(i).await
    }
    async fn load_secrets(
        &self,
        id: InstallationId,
    ) -> Result<Option<Versioned<InstallationSecrets>>> {
        self.secrets_reads.fetch_add(1, Ordering::SeqCst);
        self.inner.load_secrets(id).await
    }
    async fn store_secrets(
        &self,
        id: InstallationId,
        expected: u64,
        secrets: InstallationSecrets,
    ) -> Result<u64> {
        self.secrets_writes.fetch_add(1, Ordering::SeqCst);
        if self
            .losses
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
            && let Some(current) = self.inner.load_secrets(id).await?
        {
            // the other writer's change lands first
            let mut theirs = current.value;
            theirs.granted_scopes.push("theirs".into());
            self.inner
                .store_secrets(id, current.version, theirs)
                .await?;
        }
        self.inner.store_secrets(id, expected, secrets).await
    }
    async fn erase_secrets(&self, id: InstallationId) -> Result<u64> {
        self.inner.erase_secrets(id).await
    }
    async fn try_lock_refresh(
        &self,
        id: InstallationId,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool> {
        self.lease_requests.fetch_add(1, Ordering::SeqCst);
        self.inner.try_lock_refresh(id, holder, ttl).await
    }
    async fn unlock_refresh(&self, id: InstallationId, holder: &str) -> Result<()> {
        self.lease_requests.fetch_add(1, Ordering::SeqCst);
        self.inner.unlock_refresh(id, holder).await
    }
}
