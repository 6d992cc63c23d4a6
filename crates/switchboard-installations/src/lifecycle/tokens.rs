//! The OAuth [`TokenStore`] on top of any [`InstallationStore`]: the
//! refresh token, the grant's tenant and the granted scopes live in the
//! installation's secrets, versioned by the secrets version.
//!
//! So the tokens of an authorization land in the installation's own row
//! (encrypted like every secret), and a refresh token written by one node
//! is seen by all. "No record" means no token data yet.
//!
//! ```
//! use std::sync::Arc;
//! use oauth2::RefreshToken;
//! use switchboard_oauth::store::{StoredTokens, TokenStore};
//! use switchboard_installations::install::{Installation, InstallationSecrets, InstallationStore, MemoryInstallationStore};
//! use switchboard_installations::lifecycle::tokens::InstallationTokenStore;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = Arc::new(MemoryInstallationStore::new());
//! let inst = store
//!     .create(Installation::new("a", "c", "1.0.0", "delegated"), InstallationSecrets::default())
//!     .await
//!     .unwrap();
//! let tokens = InstallationTokenStore::new(store.clone());
//! let id = inst.id;
//! assert!(tokens.load(id).await.unwrap().is_none());
//! tokens
//!     .compare_and_swap(id, None, StoredTokens::new(Some(RefreshToken::new("rt".into()))))
//!     .await
//!     .unwrap();
//! let secrets = store.load_secrets(inst.id).await.unwrap().unwrap();
//! assert!(secrets.value.refresh_token.is_some());
//! # });
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use oauth2::RefreshToken;
use secrecy::{ExposeSecret, SecretString};
use switchboard_core::InstallationId;

use crate::install::{InstallationSecrets, InstallationStore, not_found};
use switchboard_core::error::{Error, ErrorKind, Result};
use switchboard_oauth::store::{StoredTokens, TokenStore, Versioned};

/// A [`TokenStore`] over an [`InstallationStore`]'s secrets.
#[derive(Debug, Clone)]
pub struct InstallationTokenStore {
    store: Arc<dyn InstallationStore>,
}

impl InstallationTokenStore {
    /// Tokens kept in `store`'s installation secrets.
    pub fn new(store: Arc<dyn InstallationStore>) -> Self {
        InstallationTokenStore { store }
    }
}

fn has_tokens(secrets: &InstallationSecrets) -> bool {
    secrets.refresh_token.is_some()
        || secrets.token_tenant_id.is_some()
        || !secrets.granted_scopes.is_empty()
}

fn conflict(id: InstallationId) -> Error {
    Error::new(
        ErrorKind::Conflict,
        format!("the tokens of installation {id} were changed by another writer; read them again"),
    )
}

#[async_trait]
impl TokenStore for InstallationTokenStore {
    async fn load(&self, id: InstallationId) -> Result<Option<Versioned<StoredTokens>>> {
        let Some(current) = self.store.load_secrets(id).await? else {
            return Ok(None);
        };
        if !has_tokens(&current.value) {
            return Ok(None);
        }
        let secrets = current.value;
        let mut tokens = StoredTokens::new(
            secrets
                .refresh_token
                .as_ref()
                .map(|t| RefreshToken::new(t.expose_secret().to_string())),
        )
        .with_tenant(secrets.token_tenant_id.clone())
        .with_scopes(secrets.granted_scopes.clone());
        tokens.updated_at = secrets.updated_at;
        Ok(Some(Versioned {
            version: current.version,
            value: tokens,
        }))
    }

    async fn compare_and_swap(
        &self,
        id: InstallationId,
        expected: Option<u64>,
        tokens: StoredTokens,
    ) -> Result<u64> {
        let current = self
            .store
            .load_secrets(id)
            .await?
            .ok_or_else(|| not_found(id))?;
        match expected {
            None if has_tokens(&current.value) => return Err(conflict(id)),
            Some(v) if v != current.version => return Err(conflict(id)),
            _ => {}
        }
        let mut secrets = current.value;
        secrets.refresh_token = tokens
            .refresh_token
            .as_ref()
            .map(|t| SecretString::from(t.secret().to_string()));
        secrets.token_tenant_id = tokens.tenant_id;
        secrets.granted_scopes = tokens.scopes;
        self.store
            .store_secrets(id, current.version, secrets)
            .await
            .map_err(|e| {
                if e.kind() == ErrorKind::Conflict {
                    conflict(id)
                } else {
                    e
                }
            })
    }

    async fn delete(&self, id: InstallationId) -> Result<()> {
        for _ in 0..5 {
            let Some(current) = self.store.load_secrets(id).await? else {
                return Ok(());
            };
            let secrets = current.value.without_grant();
            match self.store.store_secrets(id, current.version, secrets).await {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Conflict => continue,
                Err(e) => return Err(e),
            }
        }
        Err(conflict(id))
    }
}
