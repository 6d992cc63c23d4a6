//! The credential store seam: where an installation's long-lived tokens
//! live, with a version number for compare-and-swap.
//!
//! Access tokens are cached in memory ([`crate::cache`]); what must
//! survive a restart, and be shared by the nodes of a platform, is the
//! refresh token. Every write names the version it replaces, so two
//! writers can never silently overwrite each other: the loser gets an
//! [`ErrorKind::Conflict`] and reads again.
//!
//! [`MemoryTokenStore`] is the in-process implementation; persistent
//! stores (SQLite, PostgreSQL, encrypted at rest) implement the same trait.
//!
//! ```
//! use switchboard_oauth::store::{MemoryTokenStore, StoredTokens, TokenStore};
//! use oauth2::RefreshToken;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = MemoryTokenStore::new();
//! let tokens = StoredTokens::new(Some(RefreshToken::new("rt-1".into())));
//! let v1 = store.compare_and_swap(switchboard_core::InstallationId::from_u128(1), None, tokens.clone()).await.unwrap();
//! // a second writer that thinks the record does not exist loses
//! assert!(store.compare_and_swap(switchboard_core::InstallationId::from_u128(1), None, tokens).await.is_err());
//! let loaded = store.load(switchboard_core::InstallationId::from_u128(1)).await.unwrap().unwrap();
//! assert_eq!(loaded.version, v1);
//! # });
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use async_trait::async_trait;
use oauth2::RefreshToken;

use switchboard_core::InstallationId;
use switchboard_core::error::{Error, ErrorKind, Result};

/// What is stored for one installation.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoredTokens {
    /// The current refresh token (delegated flows).
    pub refresh_token: Option<RefreshToken>,
    /// The directory tenant the grant belongs to, once known (learned from
    /// the first token for `common` / `organizations` / domain tenants).
    pub tenant_id: Option<String>,
    /// The scopes granted at the last authorization.
    pub scopes: Vec<String>,
    /// When the record was last written.
    pub updated_at: Option<SystemTime>,
}

impl StoredTokens {
    /// A record holding a refresh token.
    pub fn new(refresh_token: Option<RefreshToken>) -> Self {
        StoredTokens {
            refresh_token,
            tenant_id: None,
            scopes: Vec::new(),
            updated_at: None,
        }
    }

    /// The same record with the tenant set.
    pub fn with_tenant(mut self, tenant_id: Option<String>) -> Self {
        self.tenant_id = tenant_id;
        self
    }

    /// The same record with the granted scopes set.
    pub fn with_scopes(mut self, scopes: Vec<String>) -> Self {
        self.scopes = scopes;
        self
    }
}

/// A value with the version it was read at.
#[derive(Debug, Clone)]
pub struct Versioned<T> {
    /// Version of the record; starts at 1 and grows by one per write.
    pub version: u64,
    /// The record.
    pub value: T,
}

/// Reading and writing an installation's tokens.
#[async_trait]
pub trait TokenStore: Send + Sync + fmt::Debug {
    /// The installation's record, if any.
    async fn load(
        &self,
        installation_id: InstallationId,
    ) -> Result<Option<Versioned<StoredTokens>>>;

    /// Write `tokens` if the record is at version `expected` (`None`: if
    /// there is no record). Returns the new version, or an
    /// [`ErrorKind::Conflict`] error when someone else wrote first.
    async fn compare_and_swap(
        &self,
        installation_id: InstallationId,
        expected: Option<u64>,
        tokens: StoredTokens,
    ) -> Result<u64>;

    /// Forget the installation's tokens (uninstall, re-authentication).
    async fn delete(&self, installation_id: InstallationId) -> Result<()>;
}

/// A [`TokenStore`] in process memory. Its Debug shows only counts.
#[derive(Default)]
pub struct MemoryTokenStore {
    records: Mutex<HashMap<InstallationId, Versioned<StoredTokens>>>,
}

impl MemoryTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl fmt::Debug for MemoryTokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self
            .records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("MemoryTokenStore")
            .field("installations", &count)
            .finish()
    }
}

#[async_trait]
impl TokenStore for MemoryTokenStore {
    async fn load(
        &self,
        installation_id: InstallationId,
    ) -> Result<Option<Versioned<StoredTokens>>> {
        Ok(self
            .records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&installation_id)
            .cloned())
    }

    async fn compare_and_swap(
        &self,
        installation_id: InstallationId,
        expected: Option<u64>,
        mut tokens: StoredTokens,
    ) -> Result<u64> {
        let mut records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        let current = records.get(&installation_id).map(|r| r.version);
        if current != expected {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!(
                    "the tokens of installation `{installation_id}` were changed by another writer; read them again"
                ),
            ));
        }
        let version = current.unwrap_or(0) + 1;
        tokens.updated_at = Some(SystemTime::now());
        records.insert(
            installation_id,
            Versioned {
                version,
                value: tokens,
            },
        );
        Ok(version)
    }

    async fn delete(&self, installation_id: InstallationId) -> Result<()> {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&installation_id);
        Ok(())
    }
}
