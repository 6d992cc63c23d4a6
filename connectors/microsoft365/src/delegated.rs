//! The delegated variant: authorization code + PKCE, then refresh tokens.
//!
//! The authorization and token URLs are the `delegated` variant's declared
//! `oauth2` templates (`definitions/connector.json`) on the installation's
//! cloud ([`crate::cloud`]).
//!
//! 1. [`DelegatedAuth::begin`] returns the authorize URL on
//!    `{login}/{tenant}/oauth2/v2.0/authorize` with `response_type=code`,
//!    the redirect URI, the scopes of the enabled methods on the cloud's
//!    Graph host plus `offline_access openid`, a PKCE S256 challenge and a
//!    one-time `state` (256 bits, 10 minutes, bound to the installation).
//! 2. The user signs in and consents; Microsoft redirects to the platform,
//!    which passes the query string to [`DelegatedAuth::complete`]: the
//!    state is checked, an `error=` becomes a typed error, the code is
//!    exchanged with the PKCE verifier, the token's tenant is checked, and
//!    the refresh token is stored.
//! 3. [`DelegatedAuth::credential`] is the engine's credential: access
//!    tokens per method scope set, refreshed once for all callers, rotated
//!    refresh tokens saved before use.
//!
//! ```no_run
//! use std::sync::Arc;
//! use switchboard_oauth::context::AuthContext;
//! use switchboard_oauth::grants::MemoryGrants;
//! use switchboard_microsoft365::cloud::Cloud;
//! use switchboard_microsoft365::delegated::DelegatedAuth;
//! use switchboard_microsoft365::identity::MicrosoftApp;
//!
//! # async fn run(callback_query: &str) -> switchboard_core::Result<()> {
//! let ctx = AuthContext::new(reqwest::Client::new(), Arc::new(MemoryGrants::new()));
//! let app = MicrosoftApp::new("app-id")
//!     .with_client_secret("secret")
//!     .with_redirect_uri("https://platform.example.com/callback")?;
//! let auth = DelegatedAuth::new(ctx, app, switchboard_core::InstallationId::from_u128(1), Cloud::Global, "contoso.onmicrosoft.com")?;
//! let start = auth.begin(&["User.Read".into(), "Mail.Read".into()])?;
//! // ... redirect the browser to start.url(), receive the callback ...
//! let done = auth.complete(callback_query).await?;
//! # let _ = (start, done); Ok(()) }
//! ```

use std::sync::Arc;

use oauth2::{AuthUrl, TokenUrl};
use switchboard_core::InstallationId;
use switchboard_core::{Error, Result};
use switchboard_oauth::callback::CallbackParams;
use switchboard_oauth::client::OAuthClient;
use switchboard_oauth::code_flow::{AuthorizationCodeFlow, AuthorizationStart, Authorized};
use switchboard_oauth::context::AuthContext;
use switchboard_oauth::oauth_credential::{Grant, InstallationIdentity, OAuthCredential};

use crate::cloud::Cloud;
use crate::identity::{MicrosoftApp, MicrosoftProvider};
use crate::tenant::TenantId;

/// The delegated variant for one installation.
#[derive(Debug)]
pub struct DelegatedAuth {
    ctx: AuthContext,
    installation_id: InstallationId,
    cloud: Cloud,
    tenant: TenantId,
    client: OAuthClient,
    flow: AuthorizationCodeFlow,
    provider: Arc<MicrosoftProvider>,
}

impl DelegatedAuth {
    /// Check the tenant (GUID, domain, `organizations` or `common`) and the
    /// app (a redirect URI is required), then prepare the flow.
    pub fn new(
        ctx: AuthContext,
        app: MicrosoftApp,
        installation_id: InstallationId,
        cloud: Cloud,
        tenant_id: &str,
    ) -> Result<Self> {
        let tenant = TenantId::for_delegated(tenant_id)?;
        let redirect = app.redirect_uri.clone().ok_or_else(|| {
            Error::invalid_argument("redirect_uri", "is required by the delegated variant")
        })?;
        // The URLs are the variant's declared templates, on the cloud's
        // login origin.
        let declared = crate::cloud::declared_oauth("delegated")?;
        let token_url = TokenUrl::from_url(cloud.endpoint(&declared.token_url, &tenant)?);
        let authorization = declared.authorization_url.as_deref().unwrap_or_default();
        let auth_url = AuthUrl::from_url(cloud.endpoint(authorization, &tenant)?);
        let client = OAuthClient::new(
            ctx.http.clone(),
            app.client_id.clone(),
            app.client_secret.clone(),
            token_url,
        )
        .with_authorize_url(auth_url)
        .with_redirect_uri(redirect);
        let flow = AuthorizationCodeFlow::new(ctx.clone(), client.clone());
        let provider = Arc::new(MicrosoftProvider::delegated(cloud.clone(), tenant.clone()));
        Ok(DelegatedAuth {
            ctx,
            installation_id,
            cloud,
            tenant,
            client,
            flow,
            provider,
        })
    }

    /// The scopes to ask consent for: each permission on the cloud's Graph
    /// host, plus `offline_access` (a refresh token) and `openid`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use switchboard_oauth::{context::AuthContext, grants::MemoryGrants};
    /// # use switchboard_microsoft365::{cloud::Cloud, delegated::DelegatedAuth, identity::MicrosoftApp};
    /// # let ctx = AuthContext::new(reqwest::Client::new(), Arc::new(MemoryGrants::new()));
    /// # let app = MicrosoftApp::new("app").with_redirect_uri("https://p.example.com/cb").unwrap();
    /// let auth = DelegatedAuth::new(ctx, app, switchboard_core::InstallationId::from_u128(1), Cloud::UsGovernment, "common").unwrap();
    /// assert_eq!(
    ///     auth.consent_scopes(&["User.Read".into()]),
    ///     vec!["https://graph.microsoft.us/User.Read", "offline_access", "openid"],
    /// );
    /// ```
    pub fn consent_scopes(&self, permissions: &[String]) -> Vec<String> {
        let mut scopes: Vec<String> = Vec::new();
        for p in permissions {
            let scope = self.cloud.scope(p);
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        for extra in ["offline_access", "openid"] {
            if !scopes.iter().any(|s| s == extra) {
                scopes.push(extra.to_string());
            }
        }
        scopes
    }

    /// Start the sign-in for the permissions of the enabled methods.
    pub fn begin(&self, permissions: &[String]) -> Result<AuthorizationStart> {
        let scopes = self.consent_scopes(permissions);
        self.flow.begin(self.installation_id, &scopes, &[])
    }

    /// Finish the sign-in with the callback's query string.
    pub async fn complete(&self, callback_query: &str) -> Result<Authorized> {
        let params = CallbackParams::parse(callback_query)?;
        self.flow
            .complete(self.installation_id, params, self.provider.as_ref())
            .await
    }

    /// The engine's credential for this installation.
    pub fn credential(&self) -> OAuthCredential {
        OAuthCredential::new(
            self.ctx.clone(),
            self.client.clone(),
            InstallationIdentity::new(
                self.installation_id,
                self.cloud.authority(),
                self.tenant.as_str(),
            ),
            Grant::RefreshToken,
            self.provider.clone(),
        )
    }

    /// The installation's cloud.
    pub fn cloud(&self) -> &Cloud {
        &self.cloud
    }
}
