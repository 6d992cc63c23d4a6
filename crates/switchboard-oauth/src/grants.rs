//! The grant seam: where the OAuth flows read and save an installation's
//! long-lived grant (refresh token, tenant, granted scopes).
//!
//! Access tokens are cached in memory ([`crate::cache`]); what must
//! survive a restart, and be shared by the nodes of a platform, is the
//! refresh token. This crate does not store it: it asks a [`GrantStore`].
//! The one persistent implementation lives with the installation record
//! (`switchboard_installations::lifecycle::grants::InstallationGrants`, on
//! the one `InstallationStore` trait), so the grant is a part of the
//! installation's encrypted secrets, never a second row.
//!
//! [`GrantStore::modify_grant`] is read → edit → compare-and-swap → retry on
//! a conflict, done by the store: a flow says *what* changes (a rotated
//! refresh token, a learned tenant), never how to win a race.
//!
//! [`MemoryGrants`] keeps grants in process memory, for flows used without
//! an installation store (this crate's tests, examples, one-process tools).
//!
//! ```
//! use oauth2::RefreshToken;
//! use switchboard_core::InstallationId;
//! use switchboard_oauth::grants::{GrantStore, MemoryGrants, StoredGrant};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let grants = MemoryGrants::new();
//! let id = InstallationId::from_u128(1);
//! assert!(grants.load_grant(id).await.unwrap().is_none());
//! grants
//!     .modify_grant(id, &|g| g.refresh_token = Some(RefreshToken::new("rt-1".into())))
//!     .await
//!     .unwrap();
//! let loaded = grants.load_grant(id).await.unwrap().unwrap();
//! assert_eq!(loaded.refresh_token.unwrap().secret(), "rt-1");
//! # });
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use oauth2::RefreshToken;

use switchboard_core::InstallationId;
use switchboard_core::credential::AccessToken;
use switchboard_core::error::Result;

/// An installation's grant as the OAuth flows see it.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct StoredGrant {
    /// The current refresh token (delegated flows).
    pub refresh_token: Option<RefreshToken>,
    /// The directory tenant the grant belongs to, once known (learned from
    /// the first token for `common` / `organizations` / domain tenants).
    pub tenant_id: Option<String>,
    /// The scopes granted at the last authorization.
    pub scopes: Vec<String>,
    /// A non-expiring access token held as the grant itself: what a
    /// service answers when it issues no refresh token and no lifetime
    /// (GitHub OAuth apps without expiring user tokens). It is used until
    /// the service refuses it; then a person must sign in again.
    pub access_token: Option<AccessToken>,
}

impl StoredGrant {
    /// A grant holding a refresh token.
    pub fn new(refresh_token: Option<RefreshToken>) -> Self {
        StoredGrant {
            refresh_token,
            tenant_id: None,
            scopes: Vec::new(),
            access_token: None,
        }
    }

    /// A grant holding a non-expiring access token and no refresh token.
    pub fn non_expiring(access_token: AccessToken) -> Self {
        StoredGrant {
            access_token: Some(access_token),
            ..StoredGrant::new(None)
        }
    }

    /// The non-expiring access token held as the grant, when that is what
    /// the grant is (no refresh token, a token without an expiry).
    pub fn non_expiring_token(&self) -> Option<&AccessToken> {
        self.access_token
            .as_ref()
            .filter(|t| self.refresh_token.is_none() && t.expires_at().is_none())
    }

    /// The same grant with the tenant set.
    pub fn with_tenant(mut self, tenant_id: Option<String>) -> Self {
        self.tenant_id = tenant_id;
        self
    }

    /// The same grant with the granted scopes set.
    pub fn with_scopes(mut self, scopes: Vec<String>) -> Self {
        self.scopes = scopes;
        self
    }

    /// The same grant with an access token held (see [`Self::access_token`]).
    pub fn with_access_token(mut self, access_token: Option<AccessToken>) -> Self {
        self.access_token = access_token;
        self
    }

    /// Whether anything is held.
    pub fn is_empty(&self) -> bool {
        self.refresh_token.is_none()
            && self.tenant_id.is_none()
            && self.scopes.is_empty()
            && self.access_token.is_none()
    }
}

/// How an edit of a stored grant is written: `edit` gets the current grant
/// (empty when none is held) and changes it in place.
pub type GrantEdit<'a> = &'a (dyn Fn(&mut StoredGrant) + Send + Sync);

/// Reading and changing installations' grants.
#[async_trait]
pub trait GrantStore: Send + Sync + fmt::Debug {
    /// The installation's grant; `None` when none is held.
    async fn load_grant(&self, installation_id: InstallationId) -> Result<Option<StoredGrant>>;

    /// Apply `edit` to the current grant and store the result, re-reading
    /// and applying it again when another writer got in first (bounded; a
    /// clear [`switchboard_core::ErrorKind::Conflict`] after).
    async fn modify_grant(
        &self,
        installation_id: InstallationId,
        edit: GrantEdit<'_>,
    ) -> Result<()>;
}

/// A [`GrantStore`] in process memory. Its Debug shows only counts.
#[derive(Default)]
pub struct MemoryGrants {
    grants: Mutex<HashMap<InstallationId, StoredGrant>>,
}

impl MemoryGrants {
    /// No grants.
    pub fn new() -> Self {
        Self::default()
    }
}

impl fmt::Debug for MemoryGrants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self
            .grants
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("MemoryGrants")
            .field("installations", &count)
            .finish()
    }
}

#[async_trait]
impl GrantStore for MemoryGrants {
    async fn load_grant(&self, installation_id: InstallationId) -> Result<Option<StoredGrant>> {
        Ok(self
            .grants
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&installation_id)
            .filter(|g| !g.is_empty())
            .cloned())
    }

    async fn modify_grant(
        &self,
        installation_id: InstallationId,
        edit: GrantEdit<'_>,
    ) -> Result<()> {
        let mut grants = self.grants.lock().unwrap_or_else(PoisonError::into_inner);
        edit(grants.entry(installation_id).or_default());
        Ok(())
    }
}
