//! switchboard-store: persistent installations and tokens, shared by every
//! node of a platform, with secrets encrypted at rest.
//!
//! Two implementations of [`InstallationStore`]:
//! - [`sqlite::SqliteStore`]: the embedded default, one file in WAL mode;
//! - [`postgres::PostgresStore`]: for platforms with many nodes.
//!
//! Both use the same schema ([`schema`]) and the same encryption
//! ([`keyring`]): XChaCha20-Poly1305 with associated data binding the
//! installation, the field and the key id. [`Store`] wraps either, opened
//! from a store spec (`sqlite:PATH` or `postgres://...`).
//!
//! ```
//! use switchboard_installations::install::{Installation, InstallationSecrets, InstallationStore};
//! use switchboard_store::{keyring::KeyRing, Store};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let spec = format!("sqlite:{}", dir.path().join("store.db").display());
//! let store = Store::open(&spec, KeyRing::generate("k1").unwrap()).await.unwrap();
//! let inst = store
//!     .create(Installation::new("acct", "microsoft365", "1.0.0", "application"), InstallationSecrets::default())
//!     .await
//!     .unwrap();
//! let listed = store.list_by_account("acct").await.unwrap();
//! assert_eq!(listed[0].as_ref().unwrap().id, inst.id);
//! # });
//! ```
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod key_registry;
pub mod keyfile;
pub mod keyring;
mod limit_sweep;
pub mod limits;
mod open;
pub mod postgres;
pub mod postgres_tls;
mod read_pool;
mod rotation;
mod row;
pub mod schema;
pub mod sqlite;
mod subscriptions;

use std::time::Duration;

use async_trait::async_trait;
use switchboard_core::InstallationId;
use switchboard_core::{Error, Result};
use switchboard_installations::install::{
    Installation, InstallationSecrets, InstallationStore, Versioned,
};

pub use keyring::KeyRing;
pub use open::{MasterKeys, OpenOptions, Opened, redacted_spec};
pub use postgres::PostgresStore;
pub use rotation::RotationReport;
pub use row::ReencryptReport;
pub use sqlite::SqliteStore;

/// The environment variable that names the store (`sqlite:PATH` or
/// `postgres://...`), as the CLI's `--store`.
pub const STORE_ENV: &str = "SWITCHBOARD_STORE";

/// The environment variable listing master key ids (`k1,k2`) the operator
/// declares lost for good: a store whose secrets use them opens anyway
/// (see [`OpenOptions::lost_keys`]).
pub const LOST_KEYS_ENV: &str = "SWITCHBOARD_LOST_KEYS";

/// Either store, chosen by a spec string.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Store {
    /// The embedded SQLite store.
    Sqlite(SqliteStore),
    /// The PostgreSQL store.
    Postgres(PostgresStore),
}

impl Store {
    /// Open the store named by `spec`: `sqlite:PATH` (or a bare path) or a
    /// `postgres://` / `postgresql://` URL, with this key ring. Migrations
    /// run on open, and the ring is checked against the keys the store's
    /// secrets were written with (refused with [`ErrorKind::Configuration`]
    /// when it lacks one or holds another key under the same id). See
    /// [`Store::open_with`] for key files and read-only use.
    ///
    /// [`ErrorKind::Configuration`]: switchboard_core::ErrorKind::Configuration
    pub async fn open(spec: &str, ring: KeyRing) -> Result<Self> {
        Ok(
            Store::open_with(spec, MasterKeys::Ring(ring), OpenOptions::default())
                .await?
                .store,
        )
    }

    /// Connect without checking keys (the key file may not be read yet).
    pub(crate) async fn connect(spec: &str, ring: KeyRing, options: &OpenOptions) -> Result<Self> {
        let spec = spec.trim();
        if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
            return Ok(Store::Postgres(
                PostgresStore::connect_unchecked(spec, ring, options.postgres.clone()).await?,
            ));
        }
        let path = spec.strip_prefix("sqlite:").unwrap_or(spec);
        if path.is_empty() || path.contains("://") {
            return Err(Error::invalid_argument(
                "store",
                "must be `sqlite:PATH` or a `postgres://` URL",
            ));
        }
        let sqlite = options.sqlite.clone().with_create(options.create);
        Ok(Store::Sqlite(
            SqliteStore::open_unchecked(path, ring, sqlite).await?,
        ))
    }

    /// Rewrite every installation's secrets under the newest key (after
    /// adding a key: `switchboard keys rotate`, or [`Store::rotate_keys`]).
    pub async fn reencrypt_all(&self) -> Result<ReencryptReport> {
        match self {
            Store::Sqlite(s) => s.reencrypt_all().await,
            Store::Postgres(s) => s.reencrypt_all().await,
        }
    }

    /// The store's key ring.
    pub fn key_ring(&self) -> &KeyRing {
        match self {
            Store::Sqlite(s) => s.key_ring(),
            Store::Postgres(s) => s.key_ring(),
        }
    }

    pub(crate) fn with_key_ring(&self, ring: KeyRing) -> Store {
        match self {
            Store::Sqlite(s) => Store::Sqlite(s.with_key_ring(ring)),
            Store::Postgres(s) => Store::Postgres(s.with_key_ring(ring)),
        }
    }

    fn keyed(&self) -> &dyn key_registry::KeyedStore {
        match self {
            Store::Sqlite(s) => s,
            Store::Postgres(s) => s,
        }
    }

    fn inner(&self) -> &dyn InstallationStore {
        match self {
            Store::Sqlite(s) => s,
            Store::Postgres(s) => s,
        }
    }
}

#[async_trait]
impl key_registry::KeyedStore for Store {
    fn ring(&self) -> &KeyRing {
        self.keyed().ring()
    }

    fn describe(&self) -> String {
        self.keyed().describe()
    }

    async fn key_state(&self) -> Result<key_registry::KeyState> {
        self.keyed().key_state().await
    }

    async fn key_usage(&self, with_ring: bool) -> Result<key_registry::KeyUsage> {
        self.keyed().key_usage(with_ring).await
    }

    async fn register_keys(&self, keys: Vec<key_registry::RegisteredKey>) -> Result<()> {
        self.keyed().register_keys(keys).await
    }

    async fn forget_keys_if_empty(&self, ids: Vec<String>) -> Result<bool> {
        self.keyed().forget_keys_if_empty(ids).await
    }
}

#[async_trait]
impl InstallationStore for Store {
    async fn create(
        &self,
        installation: Installation,
        secrets: InstallationSecrets,
    ) -> Result<Installation> {
        self.inner().create(installation, secrets).await
    }

    async fn get(&self, id: InstallationId) -> Result<Option<Installation>> {
        self.inner().get(id).await
    }

    async fn list_by_account(&self, account: &str) -> Result<Vec<Result<Installation>>> {
        self.inner().list_by_account(account).await
    }

    async fn update(&self, installation: &Installation) -> Result<Installation> {
        self.inner().update(installation).await
    }

    async fn load_secrets(
        &self,
        id: InstallationId,
    ) -> Result<Option<Versioned<InstallationSecrets>>> {
        self.inner().load_secrets(id).await
    }

    async fn store_secrets(
        &self,
        id: InstallationId,
        expected: u64,
        secrets: InstallationSecrets,
    ) -> Result<u64> {
        self.inner().store_secrets(id, expected, secrets).await
    }

    async fn erase_secrets(&self, id: InstallationId) -> Result<u64> {
        self.inner().erase_secrets(id).await
    }

    async fn try_lock_refresh(
        &self,
        id: InstallationId,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool> {
        self.inner().try_lock_refresh(id, holder, ttl).await
    }

    async fn unlock_refresh(&self, id: InstallationId, holder: &str) -> Result<()> {
        self.inner().unlock_refresh(id, holder).await
    }
}

#[async_trait]
impl switchboard_sync::SyncLeases for Store {
    async fn try_lease(
        &self,
        installation: InstallationId,
        resource: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool> {
        match self {
            Store::Sqlite(s) => s.try_lease(installation, resource, holder, ttl).await,
            Store::Postgres(s) => s.try_lease(installation, resource, holder, ttl).await,
        }
    }

    async fn release_lease(
        &self,
        installation: InstallationId,
        resource: &str,
        holder: &str,
    ) -> Result<()> {
        match self {
            Store::Sqlite(s) => s.release_lease(installation, resource, holder).await,
            Store::Postgres(s) => s.release_lease(installation, resource, holder).await,
        }
    }

    async fn store_secrets_leased(
        &self,
        lease: &switchboard_sync::LeaseHold<'_>,
        expected: u64,
        secrets: InstallationSecrets,
    ) -> Result<u64> {
        match self {
            Store::Sqlite(s) => s.store_secrets_leased(lease, expected, secrets).await,
            Store::Postgres(s) => s.store_secrets_leased(lease, expected, secrets).await,
        }
    }
}
