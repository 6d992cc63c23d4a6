//! The application variant: client credentials on the customer's tenant,
//! after an administrator's consent.
//!
//! The token and admin consent URLs are the `application` variant's
//! declared `oauth2` templates (`token_url`, `admin_consent_url` in
//! `definitions/connector.json`) on the installation's cloud
//! ([`crate::cloud`]).
//!
//! 1. [`ApplicationAuth::admin_consent_url`] returns
//!    `{login}/{tenant}/v2.0/adminconsent?client_id=…&scope={graph}/.default&redirect_uri=…&state=…`.
//! 2. An administrator grants access; Microsoft redirects with
//!    `admin_consent=True&tenant=…&state=…` (or `error=…`).
//!    [`ApplicationAuth::complete_admin_consent`] checks the state, maps an
//!    error, refuses a `tenant` other than the installation's, and then
//!    **proves** the consent with a real token request: the callback can
//!    be forged, a token issued for the tenant cannot.
//! 3. [`ApplicationAuth::credential`] is the engine's credential: a
//!    `{graph}/.default` token from `{login}/{tenant}/oauth2/v2.0/token`,
//!    cached and refreshed once for all callers.
//!
//! ```no_run
//! use std::sync::Arc;
//! use switchboard_oauth::context::AuthContext;
//! use switchboard_oauth::grants::MemoryGrants;
//! use switchboard_microsoft365::application::ApplicationAuth;
//! use switchboard_microsoft365::cloud::Cloud;
//! use switchboard_microsoft365::identity::MicrosoftApp;
//!
//! # fn run() -> switchboard_core::Result<()> {
//! let ctx = AuthContext::new(reqwest::Client::new(), Arc::new(MemoryGrants::new()));
//! let app = MicrosoftApp::new("app-id")
//!     .with_client_secret("secret")
//!     .with_redirect_uri("https://platform.example.com/consent")?;
//! let auth = ApplicationAuth::new(ctx, app, switchboard_core::InstallationId::from_u128(1), Cloud::Global, "contoso.onmicrosoft.com")?;
//! let start = auth.admin_consent_url()?;
//! # let _ = start; Ok(()) }
//! ```

use std::sync::Arc;

use oauth2::TokenUrl;
use switchboard_core::InstallationId;
use switchboard_core::credential::{Credential, TokenRequest};
use switchboard_core::{Error, ErrorKind, Result};
use switchboard_oauth::callback::CallbackParams;
use switchboard_oauth::client::OAuthClient;
use switchboard_oauth::code_flow::AuthorizationStart;
use switchboard_oauth::context::AuthContext;
use switchboard_oauth::oauth_credential::{Grant, InstallationIdentity, OAuthCredential};
use switchboard_oauth::provider::Provider;
use switchboard_oauth::state::StatePurpose;

use crate::cloud::Cloud;
use crate::identity::{MicrosoftApp, MicrosoftProvider};
use crate::tenant::TenantId;

/// The application variant for one installation.
#[derive(Debug)]
pub struct ApplicationAuth {
    ctx: AuthContext,
    app: MicrosoftApp,
    installation_id: InstallationId,
    cloud: Cloud,
    tenant: TenantId,
    client: OAuthClient,
    provider: Arc<MicrosoftProvider>,
}

/// A consent that was granted and proven by a token request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AdminConsent {
    /// The installation.
    pub installation_id: InstallationId,
    /// The tenant that granted consent.
    pub tenant_id: String,
}

impl ApplicationAuth {
    /// Check the tenant (a GUID or a domain; never `common`,
    /// `organizations` or `consumers`) and the app (a client secret is
    /// required), then prepare the flow.
    pub fn new(
        ctx: AuthContext,
        app: MicrosoftApp,
        installation_id: InstallationId,
        cloud: Cloud,
        tenant_id: &str,
    ) -> Result<Self> {
        let tenant = TenantId::for_application(tenant_id)?;
        if app.client_secret.is_none() {
            return Err(Error::invalid_argument(
                "client_secret",
                "is required by the application variant (the secret's Value, not its Secret ID)",
            ));
        }
        // The token URL is the variant's declared template, on the cloud's
        // login origin.
        let declared = crate::cloud::declared_oauth("application")?;
        let token_url = TokenUrl::from_url(cloud.endpoint(&declared.token_url, &tenant)?);
        let client = OAuthClient::new(
            ctx.http.clone(),
            app.client_id.clone(),
            app.client_secret.clone(),
            token_url,
        );
        let provider = Arc::new(MicrosoftProvider::application(
            cloud.clone(),
            tenant.clone(),
        ));
        Ok(ApplicationAuth {
            ctx,
            app,
            installation_id,
            cloud,
            tenant,
            client,
            provider,
        })
    }

    /// The admin consent URL for the installation's tenant, with a fresh
    /// one-time state. Requires the app's redirect URI.
    pub fn admin_consent_url(&self) -> Result<AuthorizationStart> {
        let redirect = self.app.redirect_uri.as_ref().ok_or_else(|| {
            Error::invalid_argument("redirect_uri", "is required to build the admin consent URL")
        })?;
        let state =
            self.ctx
                .states
                .issue(self.installation_id, StatePurpose::AdminConsent, None)?;
        let declared = crate::cloud::declared_oauth("application")?;
        let template = declared.admin_consent_url.as_deref().ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidDefinition,
                "the application variant declares no admin_consent_url",
            )
        })?;
        let mut url = self.cloud.endpoint(template, &self.tenant)?;
        url.query_pairs_mut()
            .append_pair("client_id", self.app.client_id())
            .append_pair("scope", &self.cloud.default_scope())
            .append_pair("redirect_uri", redirect.as_str())
            .append_pair("state", state.secret());
        Ok(AuthorizationStart::new(url))
    }

    /// Finish the admin consent with the callback's query string, then
    /// prove it with a token request.
    pub async fn complete_admin_consent(&self, callback_query: &str) -> Result<AdminConsent> {
        let params = CallbackParams::parse(callback_query)?;
        let state = params.state.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::Consent,
                "the admin consent response has no `state`; open the admin consent link again",
            )
            .with_field("state")
        })?;
        self.ctx.states.take(
            self.installation_id,
            StatePurpose::AdminConsent,
            state.secret(),
        )?;
        if params.error.is_some() {
            return Err(self.provider.map_callback_error(&params));
        }
        let reported = check_admin_consent(&self.tenant, &params)?;
        // The callback is not proof: a token for the tenant is.
        self.ctx.cache.forget_installation(self.installation_id);
        self.credential()
            .token(&TokenRequest::new(self.installation_id, Vec::new()))
            .await?;
        Ok(AdminConsent {
            installation_id: self.installation_id,
            tenant_id: reported,
        })
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
            Grant::ClientCredentials,
            self.provider.clone(),
        )
    }

    /// The installation's cloud.
    pub fn cloud(&self) -> &Cloud {
        &self.cloud
    }
}

/// Check an administrator's consent callback for the installation's
/// `tenant` (after its `state` and `error` are checked): it must say that
/// access was granted (`admin_consent=True`), and name the tenant it was
/// granted in as a GUID, the installation's own when that is a GUID.
/// Returns that tenant's GUID, lower-cased.
///
/// **A Rust hook because data can't express it:** `admin_consent` and
/// `tenant` are Microsoft's own callback parameters, and the rule compares
/// the reported tenant with the installation's only when the installation
/// names a GUID (a domain is learned as its GUID here).
///
/// ```
/// use switchboard_microsoft365::application::check_admin_consent;
/// use switchboard_microsoft365::tenant::TenantId;
/// use switchboard_oauth::callback::CallbackParams;
///
/// let tenant = TenantId::for_application("contoso.onmicrosoft.com").unwrap();
/// let guid = "0d2f1a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b";
/// let ok = CallbackParams::parse(&format!("admin_consent=True&tenant={guid}&state=s")).unwrap();
/// assert_eq!(check_admin_consent(&tenant, &ok).unwrap(), guid);
/// let no = CallbackParams::parse("admin_consent=False&state=s").unwrap();
/// assert!(check_admin_consent(&tenant, &no).is_err());
/// ```
pub fn check_admin_consent(tenant: &TenantId, params: &CallbackParams) -> Result<String> {
    let granted = params
        .admin_consent
        .as_deref()
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if !granted {
        return Err(Error::new(
            ErrorKind::Consent,
            "the admin consent response does not say that access was granted; open the admin consent link again",
        ));
    }
    let reported = params
        .tenant
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if tenant.is_guid() && reported != tenant.as_str() {
        return Err(Error::new(
            ErrorKind::Consent,
            format!(
                "consent was granted in another tenant than the installation's (`{tenant}`); sign in as an administrator of that tenant and grant access again"
            ),
        )
        .with_field("tenant"));
    }
    if !tenant.is_guid() && !crate::tenant::is_guid(&reported) {
        return Err(Error::invalid_argument(
            "tenant",
            "the admin consent response must carry the tenant's GUID",
        ));
    }
    Ok(reported)
}
