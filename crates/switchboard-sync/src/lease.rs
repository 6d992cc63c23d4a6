//! One node at a time per (installation, resource): a lease with a time
//! limit in the store every node shares.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use switchboard_core::InstallationId;
use switchboard_core::Result;
use switchboard_core::bounds::later;

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
}

/// [`SyncLeases`] in process memory, for tests and single-process use.
///
/// ```
/// # tokio_test_block(async {
/// use std::time::Duration;
/// use switchboard_sync::{MemorySyncLeases, SyncLeases};
///
/// let leases = MemorySyncLeases::default();
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
#[derive(Debug, Default)]
pub struct MemorySyncLeases {
    leases: Mutex<HashMap<(InstallationId, String), (String, SystemTime)>>,
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
        let mut leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
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
        let mut leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        let key = (installation, resource.to_string());
        if leases.get(&key).is_some_and(|(h, _)| h == holder) {
            leases.remove(&key);
        }
        Ok(())
    }
}
