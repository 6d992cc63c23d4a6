//! The OAuth flows' [`GrantStore`] seam on the one [`InstallationStore`]:
//! the refresh token, the grant's tenant and the granted scopes are fields
//! of the installation's [`InstallationSecrets`], encrypted with them and
//! changed with [`modify_secrets`] like every other secret. A non-expiring
//! access token held as the grant (no refresh token) is the secrets'
//! `access_token`, the slot the shared token cache keeps the current
//! access token in: for such a grant both are the same token.
//!
//! So the tokens of an authorization land in the installation's own row,
//! and a refresh token written by one node is seen by all.
//!
//! ```
//! use std::sync::Arc;
//! use oauth2::RefreshToken;
//! use switchboard_oauth::grants::GrantStore;
//! use switchboard_installations::install::{Installation, InstallationSecrets, InstallationStore, MemoryInstallationStore};
//! use switchboard_installations::lifecycle::grants::InstallationGrants;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = Arc::new(MemoryInstallationStore::new());
//! let inst = store
//!     .create(Installation::new("a", "c", "1.0.0", "delegated"), InstallationSecrets::default())
//!     .await
//!     .unwrap();
//! let grants = InstallationGrants::new(store.clone());
//! assert!(grants.load_grant(inst.id).await.unwrap().is_none());
//! grants
//!     .modify_grant(inst.id, &|g| g.refresh_token = Some(RefreshToken::new("rt".into())))
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
use switchboard_core::error::Result;
use switchboard_oauth::grants::{GrantEdit, GrantStore, StoredGrant};

use crate::install::{InstallationSecrets, InstallationStore};
use crate::modify::{Edit, modify_secrets};

/// The [`GrantStore`] of an [`InstallationStore`]'s secrets.
#[derive(Debug, Clone)]
pub struct InstallationGrants {
    store: Arc<dyn InstallationStore>,
}

impl InstallationGrants {
    /// Grants kept in `store`'s installation secrets.
    pub fn new(store: Arc<dyn InstallationStore>) -> Self {
        InstallationGrants { store }
    }
}

fn grant_of(secrets: &InstallationSecrets) -> StoredGrant {
    StoredGrant::new(
        secrets
            .refresh_token
            .as_ref()
            .map(|t| RefreshToken::new(t.expose_secret().to_string())),
    )
    .with_tenant(secrets.token_tenant_id.clone())
    .with_scopes(secrets.granted_scopes.clone())
    .with_access_token(secrets.access_token.clone())
}

#[async_trait]
impl GrantStore for InstallationGrants {
    async fn load_grant(&self, id: InstallationId) -> Result<Option<StoredGrant>> {
        let Some(current) = self.store.load_secrets(id).await? else {
            return Ok(None);
        };
        Ok(Some(grant_of(&current.value)).filter(|g| !g.is_empty()))
    }

    async fn modify_grant(&self, id: InstallationId, edit: GrantEdit<'_>) -> Result<()> {
        modify_secrets(self.store.as_ref(), id, |secrets| {
            let mut grant = grant_of(secrets);
            edit(&mut grant);
            secrets.refresh_token = grant
                .refresh_token
                .map(|t| SecretString::from(t.secret().to_string()));
            secrets.token_tenant_id = grant.tenant_id;
            secrets.granted_scopes = grant.scopes;
            secrets.access_token = grant.access_token;
            Ok(Edit::Write(()))
        })
        .await
    }
}
