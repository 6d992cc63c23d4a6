//! [`OAuthCredential`]: the engine's [`Credential`] for one installation,
//! on an OAuth grant.
//!
//! Two grants are supported:
//! - [`Grant::ClientCredentials`]: every token comes from the client
//!   credentials grant; nothing is stored.
//! - [`Grant::RefreshToken`]: the installation's refresh token is read from
//!   the [`GrantStore`](crate::grants::GrantStore); a refresh that returns no refresh token keeps the
//!   old one; a rotated refresh token is **saved before** the new access
//!   token is handed to anyone (a failed save fails the call).
//!
//! Every token request runs inside [`TokenCache::get_or_refresh`], so it is
//! made once for all concurrent callers, and answers 429/5xx are retried
//! after `Retry-After` as [`TokenRetryPolicy`] allows.
//!
//! ```no_run
//! use std::sync::Arc;
//! use oauth2::{ClientId, ClientSecret, TokenUrl};
//! use switchboard_oauth::client::OAuthClient;
//! use switchboard_oauth::context::AuthContext;
//! use switchboard_oauth::oauth_credential::{Grant, InstallationIdentity, OAuthCredential};
//! use switchboard_oauth::provider::Provider;
//! use switchboard_oauth::grants::MemoryGrants;
//! use switchboard_core::credential::{Credential, TokenRequest};
//!
//! #[derive(Debug)]
//! struct Example;
//! impl Provider for Example {
//!     fn scopes(&self, _: &[String]) -> Vec<String> { vec!["https://api.example.com/.default".into()] }
//! }
//! # async fn run() -> switchboard_core::Result<()> {
//! let ctx = AuthContext::new(reqwest::Client::new(), Arc::new(MemoryGrants::new()));
//! let client = OAuthClient::new(
//!     ctx.http.clone(),
//!     ClientId::new("app".into()),
//!     Some(ClientSecret::new("secret".into())),
//!     TokenUrl::new("https://login.example.com/t/token".into()).unwrap(),
//! );
//! let identity = InstallationIdentity::new(switchboard_core::InstallationId::from_u128(1), "https://login.example.com", "t");
//! let cred = OAuthCredential::new(ctx, client, identity, Grant::ClientCredentials, Arc::new(Example));
//! let token = cred.token(&TokenRequest::new(switchboard_core::InstallationId::from_u128(1), vec![])).await?;
//! # let _ = token; Ok(()) }
//! ```

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use async_trait::async_trait;

use crate::cache::{CacheKey, TokenCache};
use crate::client::{OAuthClient, TokenEndpointError};
use crate::context::{AuthContext, TokenRetryPolicy};
use crate::http::HttpError;
use crate::provider::Provider;
use crate::response::TokenSet;
use switchboard_core::InstallationId;
use switchboard_core::credential::{AccessToken, Credential, TokenRequest};
use switchboard_core::error::{Error, ErrorKind, Result};

/// Which OAuth grant produces the access tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Grant {
    /// Client credentials (application permissions).
    ClientCredentials,
    /// Refresh token from the store (delegated permissions).
    RefreshToken,
}

/// Who the credential is for: the parts of the cache key that do not
/// change per call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallationIdentity {
    /// The installation.
    pub installation_id: InstallationId,
    /// The authority (login base URL of the cloud).
    pub authority: String,
    /// The tenant as configured.
    pub tenant: String,
}

impl InstallationIdentity {
    /// An identity.
    pub fn new(
        installation_id: InstallationId,
        authority: impl Into<String>,
        tenant: impl Into<String>,
    ) -> Self {
        InstallationIdentity {
            installation_id,
            authority: authority.into(),
            tenant: tenant.into(),
        }
    }
}

/// An OAuth-backed [`Credential`] for one installation.
pub struct OAuthCredential {
    ctx: AuthContext,
    client: OAuthClient,
    identity: InstallationIdentity,
    grant: Grant,
    provider: Arc<dyn Provider>,
    pinned_tenant: Mutex<Option<String>>,
    rotation_required: bool,
}

impl fmt::Debug for OAuthCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthCredential")
            .field("identity", &self.identity)
            .field("client_id", &self.client.client_id().as_str())
            .field("grant", &self.grant)
            .finish()
    }
}

impl OAuthCredential {
    /// A credential for `identity` using `grant`.
    pub fn new(
        ctx: AuthContext,
        client: OAuthClient,
        identity: InstallationIdentity,
        grant: Grant,
        provider: Arc<dyn Provider>,
    ) -> Self {
        OAuthCredential {
            ctx,
            client,
            identity,
            grant,
            provider,
            pinned_tenant: Mutex::new(None),
            rotation_required: false,
        }
    }

    /// The same credential for a service whose refresh tokens rotate on
    /// every refresh (a definition's `refresh_token_rotates: true`): a
    /// refresh answer without a new refresh token is then an error naming
    /// `refresh_token`, and its access token is not used. Without this, a
    /// refresh answer that carries no refresh token keeps the stored one.
    pub fn requiring_rotation(mut self, required: bool) -> Self {
        self.rotation_required = required;
        self
    }

    /// The installation this credential serves.
    pub fn identity(&self) -> &InstallationIdentity {
        &self.identity
    }

    /// The cache key for a set of scopes.
    pub fn cache_key(&self, scopes: &[String]) -> CacheKey {
        CacheKey::new(
            &self.identity.authority,
            &self.identity.tenant,
            self.client.client_id().as_str(),
            self.identity.installation_id,
            scopes,
        )
    }

    async fn fetch(
        &self,
        scopes: &[String],
        claims: Option<&str>,
        rejected: Option<&AccessToken>,
    ) -> Result<AccessToken> {
        let extra: Vec<(String, String)> = claims
            .map(|c| vec![("claims".to_string(), c.to_string())])
            .unwrap_or_default();
        match self.grant {
            Grant::ClientCredentials => {
                let set = with_retry(&self.ctx, self.provider.as_ref(), |now| {
                    self.client.client_credentials(scopes, &extra, now)
                })
                .await?;
                let pinned = self
                    .pinned_tenant
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                let learned = self.provider.check_tokens(&set, pinned.as_deref())?;
                if pinned.is_none() && learned.is_some() {
                    *self
                        .pinned_tenant
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = learned;
                }
                Ok(set.access_token)
            }
            Grant::RefreshToken => self.refresh(scopes, &extra, rejected).await,
        }
    }

    async fn refresh(
        &self,
        scopes: &[String],
        extra: &[(String, String)],
        rejected: Option<&AccessToken>,
    ) -> Result<AccessToken> {
        let installation = self.identity.installation_id;
        let no_grant = || {
            Error::new(
                ErrorKind::NeedsReauth,
                format!(
                    "installation `{installation}` has no stored refresh token; a user must complete the sign-in first"
                ),
            )
        };
        let held = self
            .ctx
            .grants
            .load_grant(installation)
            .await?
            .ok_or_else(no_grant)?;
        if let Some(token) = held.non_expiring_token() {
            // Nothing to refresh with: the token is used until the service
            // refuses it, then a person must sign in again.
            if rejected.is_some_and(|r| r.same_secret(token)) {
                return Err(Error::new(
                    ErrorKind::NeedsReauth,
                    format!(
                        "the service refused installation `{installation}`'s non-expiring access token and it cannot be refreshed; a user must sign in again"
                    ),
                ));
            }
            return Ok(token.clone());
        }
        let refresh_token = held.refresh_token.clone().ok_or_else(no_grant)?;
        let set = with_retry(&self.ctx, self.provider.as_ref(), |now| {
            self.client.refresh(&refresh_token, scopes, extra, now)
        })
        .await?;
        if self.rotation_required && set.refresh_token.is_none() {
            return Err(Error::new(
                ErrorKind::Remote,
                "the refresh answer carries no new refresh token, but the definition says refresh tokens rotate (`refresh_token_rotates`); the stored one is kept",
            )
            .with_field("refresh_token"));
        }
        let learned = self
            .provider
            .check_tokens(&set, held.tenant_id.as_deref())?;
        let rotated = set
            .refresh_token
            .clone()
            .filter(|new| new.secret() != refresh_token.secret());
        let learned = learned.filter(|_| held.tenant_id.is_none());
        if rotated.is_some() || learned.is_some() {
            // Saved before anyone sees the new access token: a token we
            // cannot store must not be used, or the rotated refresh token
            // would be lost with the process. On a conflict (another node
            // refreshed at the same time) ours is written over the newer
            // record: both refresh tokens are valid, and ours is the most
            // recently issued one we know of.
            self.ctx
                .grants
                .modify_grant(installation, &|grant| {
                    if let Some(new) = &rotated {
                        grant.refresh_token = Some(new.clone());
                    }
                    if grant.tenant_id.is_none() && learned.is_some() {
                        grant.tenant_id = learned.clone();
                    }
                })
                .await?;
            tracing::debug!(installation = %installation, "stored the rotated refresh token");
        }
        Ok(set.access_token)
    }
}

/// Run a token request, retrying 429 / 5xx after `Retry-After` as the
/// policy allows; map failures through the provider.
pub(crate) async fn with_retry<F, Fut>(
    ctx: &AuthContext,
    provider: &dyn Provider,
    mut attempt: F,
) -> Result<TokenSet>
where
    F: FnMut(SystemTime) -> Fut,
    Fut: Future<Output = Result<TokenSet, TokenEndpointError>>,
{
    let TokenRetryPolicy {
        max_attempts,
        max_wait,
        default_wait,
    } = ctx.retry;
    let mut tries = 0;
    loop {
        tries += 1;
        match attempt(ctx.clock.now()).await {
            Ok(set) => return Ok(set),
            Err(TokenEndpointError::Http(HttpError::Status {
                status,
                retry_after,
            })) if status == 429 || (500..=599).contains(&status) => {
                let wait = retry_after.unwrap_or(default_wait);
                if tries < max_attempts && wait <= max_wait {
                    tracing::info!(
                        status,
                        wait_ms = wait.as_millis() as u64,
                        "token endpoint asked us to wait; retrying"
                    );
                    ctx.clock.sleep(wait).await;
                    continue;
                }
                return Err(provider.map_token_error(TokenEndpointError::Http(
                    HttpError::Status {
                        status,
                        retry_after,
                    },
                )));
            }
            Err(e) => return Err(provider.map_token_error(e)),
        }
    }
}

#[async_trait]
impl Credential for OAuthCredential {
    async fn token(&self, request: &TokenRequest) -> Result<AccessToken> {
        if request.installation_id != self.identity.installation_id {
            return Err(Error::invalid_argument(
                "installation_id",
                format!(
                    "this credential serves installation `{}` only",
                    self.identity.installation_id
                ),
            ));
        }
        let scopes = self.provider.scopes(&request.scopes);
        let key = self.cache_key(&scopes);
        let claims = request.claims.as_deref();
        let cache: &TokenCache = &self.ctx.cache;
        cache
            .get_or_refresh(&key, request.rejected.as_ref(), claims.is_some(), || {
                self.fetch(&key.scopes, claims, request.rejected.as_ref())
            })
            .await
    }
}
