//! What both Microsoft 365 variants share: the app registration and the
//! [`Provider`] that teaches the generic OAuth machinery about Microsoft
//! (Graph scopes of the cloud, AADSTS codes, the `tid` check).
//!
//! The flows themselves are in [`crate::delegated`] (authorization code +
//! PKCE, refresh tokens) and [`crate::application`] (client credentials,
//! admin consent).
//!
//! ```
//! use switchboard_microsoft365::identity::MicrosoftApp;
//!
//! let app = MicrosoftApp::new("11111111-2222-3333-4444-555555555555")
//!     .with_client_secret("s3cret")
//!     .with_redirect_uri("https://platform.example.com/oauth/callback")
//!     .unwrap();
//! assert!(!format!("{app:?}").contains("s3cret"));
//! ```

use oauth2::{ClientId, ClientSecret, RedirectUrl};
use switchboard_core::error::RemoteDetails;
use switchboard_core::{Error, ErrorKind, Result};
use switchboard_oauth::callback::CallbackParams;
use switchboard_oauth::client::TokenEndpointError;
use switchboard_oauth::code_flow::checked_redirect_url;
use switchboard_oauth::provider::{Provider, standard_callback_error};
use switchboard_oauth::response::TokenSet;

use crate::cloud::Cloud;
use crate::tenant::TenantId;
use crate::token_tenant::token_tenant;

/// The platform's app registration in Microsoft Entra.
#[derive(Debug, Clone)]
pub struct MicrosoftApp {
    pub(crate) client_id: ClientId,
    pub(crate) client_secret: Option<ClientSecret>,
    pub(crate) redirect_uri: Option<RedirectUrl>,
}

impl MicrosoftApp {
    /// An app registration by its Application (client) ID.
    pub fn new(client_id: impl Into<String>) -> Self {
        MicrosoftApp {
            client_id: ClientId::new(client_id.into()),
            client_secret: None,
            redirect_uri: None,
        }
    }

    /// The client secret's *Value* (not its Secret ID). Sent in the token
    /// request body; never shown by Debug.
    pub fn with_client_secret(mut self, secret: impl Into<String>) -> Self {
        self.client_secret = Some(ClientSecret::new(secret.into()));
        self
    }

    /// The redirect URI registered for the app (https, or http on loopback).
    pub fn with_redirect_uri(mut self, uri: &str) -> Result<Self> {
        self.redirect_uri = Some(checked_redirect_url(uri)?);
        Ok(self)
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        self.client_id.as_str()
    }
}

/// Microsoft's side of the OAuth flows for one installation.
///
/// **The hooks data can't express**, and only those: the endpoints,
/// scopes' prefix and grants are the variants' declared `oauth2` objects;
/// this provider adds the application variant's `{graph}/.default` scope
/// (a client credentials token asks for whatever was consented, whatever
/// the method), the delegated tokens' scopes in one sorted set, the AADSTS
/// error mapping ([`crate::aadsts`]: codes read from `error_codes` and the
/// description, with their meaning), the admin consent's `access_denied`
/// wording, and the token's `tid` check ([`crate::token_tenant`]: it
/// decodes the JWT access token, which the definition format never reads).
#[derive(Debug, Clone)]
pub struct MicrosoftProvider {
    cloud: Cloud,
    tenant: TenantId,
    application: bool,
}

impl MicrosoftProvider {
    /// For the delegated variant: scopes are the methods' permissions on
    /// the cloud's Graph host.
    pub fn delegated(cloud: Cloud, tenant: TenantId) -> Self {
        MicrosoftProvider {
            cloud,
            tenant,
            application: false,
        }
    }

    /// For the application variant: the scope is always `{graph}/.default`.
    pub fn application(cloud: Cloud, tenant: TenantId) -> Self {
        MicrosoftProvider {
            cloud,
            tenant,
            application: true,
        }
    }
}

impl Provider for MicrosoftProvider {
    fn scopes(&self, permissions: &[String]) -> Vec<String> {
        if self.application || permissions.is_empty() {
            return vec![self.cloud.default_scope()];
        }
        let mut scopes: Vec<String> = permissions.iter().map(|p| self.cloud.scope(p)).collect();
        scopes.sort();
        scopes.dedup();
        scopes
    }

    fn map_token_error(&self, error: TokenEndpointError) -> Error {
        crate::aadsts::map_token_error(error)
    }

    /// The standard reading, except an administrator declining the
    /// application's consent, which says what to do in Microsoft's admin
    /// consent page.
    fn map_callback_error(&self, params: &CallbackParams) -> Error {
        match params.error.as_deref().unwrap_or_default() {
            "access_denied" if self.application => Error::new(
                ErrorKind::Consent,
                "the administrator did not grant access; open the admin consent link again and choose Accept",
            )
            .with_remote({
                let mut remote = RemoteDetails::default();
                remote.code = Some("access_denied".to_string());
                remote
            }),
            other => standard_callback_error(other),
        }
    }

    fn check_tokens(&self, tokens: &TokenSet, pinned: Option<&str>) -> Result<Option<String>> {
        let Some(tid) = token_tenant(tokens.access_token.secret()) else {
            return Ok(None);
        };
        let expected = if self.tenant.is_guid() {
            Some(self.tenant.as_str())
        } else {
            pinned
        };
        match expected {
            Some(expected) if !expected.eq_ignore_ascii_case(&tid) => {
                tracing::warn!(
                    tenant = %expected,
                    "refused an access token issued for another tenant"
                );
                Err(Error::new(
                    ErrorKind::Configuration,
                    format!(
                        "the identity service issued a token for another tenant than the installation's (`{expected}`); the token was discarded. Check the installation's tenant ID and cloud"
                    ),
                ).with_field("tenant_id"))
            }
            _ => Ok(Some(tid)),
        }
    }
}
