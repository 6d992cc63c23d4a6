//! OAuth 2 declared as data, run on switchboard-oauth's machinery: the
//! part of [`super::generic_flow::DefinitionFlow`] that serves variants of
//! kind `oauth2`.
//!
//! [`DefinitionOAuth`] turns a variant's `oauth2` object and an
//! installation's settings into the one [`OAuthClient`] (endpoints filled
//! from the settings by the renderer's URL templates, client
//! authentication, the answer shape), then uses the existing pieces: the
//! [`AuthorizationCodeFlow`] for consent, the [`OAuthCredential`] for
//! tokens (cached, one refresh for all callers; shared across nodes by the
//! lifecycle service), [`OAuthClient::revoke`] on uninstall.
//!
//! **Host rules.** Every identity endpoint must pass the engine's host
//! check against the connector's `identity_hosts` (https on the default
//! port, or the loopback origin a test configured) and must not be an API
//! host. The `local_identity_origin` setting moves every identity endpoint
//! to a loopback fake ([`switchboard_core::local_origins`]): the client secret and codes go only to identity hosts, and the
//! engine sends tokens only to `allowed_hosts`.
//!
//! ```
//! use switchboard_core::definition::AuthVariant;
//! use switchboard_installations::lifecycle::oauth_flow::DefinitionProvider;
//! use switchboard_oauth::provider::Provider;
//!
//! let variant: AuthVariant = serde_json::from_value(serde_json::json!({
//!     "id": "oauth", "name": "Sign in", "kind": "oauth2", "extra_scopes": ["offline"],
//!     "oauth2": {"grant": "client_credentials", "token_url": "https://login.example.com/token",
//!                "scope_separator": ","}
//! })).unwrap();
//! let provider = DefinitionProvider::of(&variant);
//! assert_eq!(provider.scopes(&["contacts.read".into()]), vec!["contacts.read,offline"]);
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use oauth2::{AuthUrl, ClientId, ClientSecret, RevocationUrl, TokenUrl};
use serde_json::Value;
use url::Url;

use async_trait::async_trait;

use super::flow::{Completed, FlowContext};
use super::hooks::OAuthHooks;
use crate::install::Installation;
use switchboard_core::connector::Endpoints;
use switchboard_core::credential::{AccessToken, Credential, TokenRequest};
use switchboard_core::definition::deployments::is_loopback;
use switchboard_core::definition::deployments::{API_ORIGIN, ChosenDeployment};
use switchboard_core::definition::oauth2::{
    ClientAuthentication, Grant as DeclaredGrant, OAuth2Auth, TokenBodyFormat,
};
use switchboard_core::definition::{AuthVariant, ConnectorDefinition};
use switchboard_core::engine::hosts::HostPolicy;
use switchboard_core::error::{Error, ErrorKind, Result};
use switchboard_core::local_origins::LocalOrigins;
use switchboard_core::render::url_template;
use switchboard_oauth::callback::CallbackParams;
use switchboard_oauth::client::OAuthClient;
use switchboard_oauth::code_flow::{AuthorizationCodeFlow, checked_redirect_url};
use switchboard_oauth::oauth_credential::{Grant, InstallationIdentity, OAuthCredential};
use switchboard_oauth::provider::Provider;
use switchboard_oauth::response::TokenAnswerShape;
use switchboard_oauth::state::StatePurpose;

/// The scopes a definition's `oauth2` variant asks for: each permission
/// with the variant's `scope_prefix`, then its `extra_scopes`, joined with
/// the declared separator when it is not a space.
#[derive(Debug, Clone)]
pub struct DefinitionProvider {
    prefix: String,
    extra: Vec<String>,
    separator: String,
}

impl DefinitionProvider {
    /// The provider of a variant for an installation whose deployment is
    /// `deployment`: a `scope_prefix` starting with `{api_origin}` gets the
    /// deployment's API origin.
    ///
    /// ```
    /// use switchboard_core::definition::AuthVariant;
    /// use switchboard_core::definition::deployments::ChosenDeployment;
    /// use switchboard_installations::lifecycle::oauth_flow::DefinitionProvider;
    /// use switchboard_oauth::provider::Provider;
    ///
    /// let variant: AuthVariant = serde_json::from_value(serde_json::json!({
    ///     "id": "user", "name": "User", "kind": "oauth2", "scope_prefix": "{api_origin}/",
    ///     "oauth2": {"grant": "client_credentials", "token_url": "{identity_origin}/token"}
    /// })).unwrap();
    /// let gov = ChosenDeployment::new("gov", "https://login.example.us", "https://api.example.us").unwrap();
    /// let provider = DefinitionProvider::in_deployment(&variant, Some(&gov));
    /// assert_eq!(provider.scopes(&["Read".into()]), vec!["https://api.example.us/Read"]);
    /// ```
    pub fn in_deployment(variant: &AuthVariant, deployment: Option<&ChosenDeployment>) -> Self {
        let mut provider = DefinitionProvider::of(variant);
        if let (Some(rest), Some(chosen)) = (
            provider.prefix.strip_prefix(&format!("{{{API_ORIGIN}}}")),
            deployment,
        ) {
            provider.prefix = format!("{}{rest}", chosen.api_origin_text());
        }
        provider
    }

    /// The provider of a variant.
    pub fn of(variant: &AuthVariant) -> Self {
        DefinitionProvider {
            prefix: variant.scope_prefix.clone().unwrap_or_default(),
            extra: variant.extra_scopes.clone(),
            separator: variant
                .oauth2
                .as_ref()
                .map_or(" ", OAuth2Auth::scope_separator)
                .to_string(),
        }
    }
}

impl Provider for DefinitionProvider {
    fn scopes(&self, permissions: &[String]) -> Vec<String> {
        let mut scopes: Vec<String> = Vec::new();
        let all = permissions
            .iter()
            .map(|p| format!("{}{p}", self.prefix))
            .chain(self.extra.iter().cloned());
        for scope in all {
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        if self.separator == " " || scopes.is_empty() {
            scopes
        } else {
            // `oauth2` joins scopes with spaces: hand it one, pre-joined.
            vec![scopes.join(&self.separator)]
        }
    }
}

/// One installation's OAuth as its definition declares it, with the
/// connector's [`OAuthHooks`].
#[derive(Debug)]
pub struct DefinitionOAuth<'a> {
    oauth: &'a OAuth2Auth,
    client: OAuthClient,
    /// The declared scopes: the consent link's.
    provider: Arc<DefinitionProvider>,
    /// What token requests and callbacks go through
    /// ([`OAuthHooks::provider`]; the declared one by default).
    token_provider: Arc<dyn Provider>,
    hooks: Arc<dyn OAuthHooks>,
    authority: String,
    /// The filled `admin_consent_url` (grant `client_credentials`).
    admin_consent: Option<Url>,
}

impl<'a> DefinitionOAuth<'a> {
    /// Build the client for `installation` of `variant` (which must be of
    /// kind `oauth2`): endpoints filled from its settings and checked
    /// against the identity hosts, the platform's app, the redirect URI
    /// (when the platform has one: only consent steps need it), and the
    /// connector's `hooks`.
    pub fn new(
        ctx: &FlowContext,
        definition: &ConnectorDefinition,
        variant: &'a AuthVariant,
        installation: &Installation,
        hooks: Arc<dyn OAuthHooks>,
    ) -> Result<Self> {
        let oauth = variant.oauth2.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidDefinition,
                format!("variant `{}` declares no `oauth2` object", variant.id),
            )
        })?;
        let settings = super::installation_settings(installation);
        let deployment = definition.deployment(&settings)?;
        let endpoint = |template: &str| {
            identity_endpoint(definition, template, &settings, deployment.as_ref())
        };
        let token_url = endpoint(&oauth.token_url)?;
        let authority = token_url.origin().ascii_serialization();
        let app = ctx.app()?;
        if oauth.grant == DeclaredGrant::ClientCredentials && app.client_secret().is_none() {
            return Err(Error::invalid_argument(
                "client_secret",
                format!(
                    "is required by variant `{}` (grant client_credentials): the platform's app must authenticate with its secret",
                    variant.id
                ),
            ));
        }
        let response = &oauth.token_response;
        let http = ctx
            .auth
            .http
            .clone()
            .with_answer_shape(TokenAnswerShape::new(
                response.format == TokenBodyFormat::Form,
                response.expires_in_field.clone(),
                response.refresh_token_field.clone(),
            ));
        let mut client = OAuthClient::new(
            http,
            ClientId::new(app.client_id().to_string()),
            app.client_secret()
                .map(|s| ClientSecret::new(s.to_string())),
            TokenUrl::from_url(token_url),
        );
        if oauth.client_authentication == ClientAuthentication::ClientSecretBasic {
            client = client.with_client_secret_basic();
        }
        if let Some(template) = &oauth.authorization_url {
            client = client.with_authorize_url(AuthUrl::from_url(endpoint(template)?));
            if let Some(uri) = &ctx.redirect_uri {
                client = client.with_redirect_uri(checked_redirect_url(uri)?);
            }
        }
        if let Some(template) = &oauth.revocation_url {
            client = client.with_revocation_url(RevocationUrl::from_url(endpoint(template)?));
        }
        let admin_consent = oauth
            .admin_consent_url
            .as_deref()
            .filter(|_| oauth.grant == DeclaredGrant::ClientCredentials)
            .map(&endpoint)
            .transpose()?;
        let provider = Arc::new(DefinitionProvider::in_deployment(
            variant,
            deployment.as_ref(),
        ));
        let token_provider = hooks.provider(installation, provider.clone())?;
        Ok(DefinitionOAuth {
            oauth,
            admin_consent,
            client,
            provider,
            token_provider,
            hooks,
            authority,
        })
    }

    fn code_flow(&self, ctx: &FlowContext) -> AuthorizationCodeFlow {
        let keep = self
            .oauth
            .token_response
            .keep_fields
            .iter()
            .chain(self.oauth.settings_from_token.values())
            .cloned()
            .collect();
        let flow =
            AuthorizationCodeFlow::new(ctx.auth.clone(), self.client.clone()).keep_fields(keep);
        if self.oauth.uses_pkce() {
            flow
        } else {
            flow.without_pkce()
        }
    }

    /// The permissions to consent to: the hooks' choice
    /// ([`OAuthHooks::consent_permissions`]), or every enabled method's
    /// declared permissions for the variant.
    fn consent_permissions(
        &self,
        ctx: &FlowContext,
        installation: &Installation,
    ) -> Result<Vec<String>> {
        if let Some(chosen) = self.hooks.consent_permissions(ctx, installation)? {
            return Ok(chosen);
        }
        let mut permissions: Vec<String> = Vec::new();
        for id in &ctx.enabled_methods {
            if let Some(method) = ctx.definition.method(id) {
                permissions.extend(
                    method
                        .permissions_for(&installation.variant)
                        .iter()
                        .cloned(),
                );
            }
        }
        Ok(permissions)
    }

    /// The consent link (grant `authorization_code`; or grant
    /// `client_credentials` with an `admin_consent_url`: the link an
    /// administrator opens, with `client_id`, the `scope` a client
    /// credentials token asks for (when there is one), `redirect_uri` and
    /// a one-time `state`), or `None`: nobody needs to consent.
    pub fn begin(&self, ctx: &FlowContext, installation: &Installation) -> Result<Option<Url>> {
        if let Some(consent) = &self.admin_consent {
            let redirect = redirect_uri(ctx)?;
            let client_id = ctx.app()?.client_id();
            let state = ctx
                .auth
                .states
                .issue(installation.id, StatePurpose::AdminConsent, None)?;
            let scope = self.token_provider.scopes(&[]).join(" ");
            let mut url = consent.clone();
            {
                let mut query = url.query_pairs_mut();
                query.append_pair("client_id", client_id);
                if !scope.is_empty() {
                    query.append_pair("scope", &scope);
                }
                query
                    .append_pair("redirect_uri", redirect)
                    .append_pair("state", state.secret());
            }
            return Ok(Some(url));
        }
        if self.oauth.grant != DeclaredGrant::AuthorizationCode {
            return Ok(None);
        }
        redirect_uri(ctx)?;
        let permissions = self.consent_permissions(ctx, installation)?;
        let scopes = self.provider.scopes(&permissions);
        let extra: Vec<(String, String)> = self
            .oauth
            .authorization_parameters
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let start = self
            .code_flow(ctx)
            .begin(installation.id, &scopes, &extra)?;
        Ok(Some(start.into_url()))
    }

    /// Finish the consent: exchange the code, store the grant, and return
    /// the settings the token answer fills (`settings_from_token`).
    pub async fn complete(
        &self,
        ctx: &FlowContext,
        installation: &Installation,
        callback_query: &str,
    ) -> Result<Completed> {
        redirect_uri(ctx)?;
        let params = CallbackParams::parse(callback_query)?;
        if self.admin_consent.is_some() {
            return self.complete_admin_consent(ctx, installation, params).await;
        }
        let authorized = self
            .code_flow(ctx)
            .complete(installation.id, params, self.token_provider.as_ref())
            .await?;
        let mut settings = BTreeMap::new();
        for (setting, field) in &self.oauth.settings_from_token {
            if let Some(value) = authorized.fields.get(field) {
                settings.insert(setting.clone(), Value::String(value.clone()));
            }
        }
        Ok(Completed::new(authorized.tenant_id, authorized.scopes).with_settings(settings))
    }

    /// Finish an administrator's consent: the one-time `state`, an `error=`
    /// mapped to a typed error, the hooks' check
    /// ([`OAuthHooks::check_admin_consent`]), then **proof** by a token
    /// request (the callback can be forged; a token issued for the
    /// installation cannot).
    async fn complete_admin_consent(
        &self,
        ctx: &FlowContext,
        installation: &Installation,
        params: CallbackParams,
    ) -> Result<Completed> {
        let state = params.state.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::Consent,
                "the admin consent response has no `state`; open the admin consent link again",
            )
            .with_field("state")
        })?;
        ctx.auth
            .states
            .take(installation.id, StatePurpose::AdminConsent, state.secret())?;
        if params.error.is_some() {
            return Err(self.token_provider.map_callback_error(&params));
        }
        let tenant = self.hooks.check_admin_consent(installation, &params)?;
        ctx.auth.cache.forget_installation(installation.id);
        self.credential(ctx, installation)?
            .token(&TokenRequest::new(installation.id, Vec::new()))
            .await?;
        let granted = self
            .hooks
            .consent_permissions(ctx, installation)?
            .unwrap_or_default();
        Ok(Completed::new(
            tenant.or_else(|| installation.tenant_id.clone()),
            granted,
        ))
    }

    /// The credential: client credentials, or the stored refresh token
    /// (asking every token for the hooks' permissions when they choose
    /// them: [`OAuthHooks::token_permissions`]).
    pub fn credential(
        &self,
        ctx: &FlowContext,
        installation: &Installation,
    ) -> Result<Arc<dyn Credential>> {
        let grant = match self.oauth.grant {
            DeclaredGrant::ClientCredentials => Grant::ClientCredentials,
            _ => Grant::RefreshToken,
        };
        let credential: Arc<dyn Credential> = Arc::new(
            OAuthCredential::new(
                ctx.auth.clone(),
                self.client.clone(),
                InstallationIdentity::new(
                    installation.id,
                    self.authority.clone(),
                    installation.tenant_id.clone().unwrap_or_default(),
                ),
                grant,
                self.token_provider.clone(),
            )
            .requiring_rotation(self.oauth.refresh_token_rotates),
        );
        if grant == Grant::RefreshToken
            && let Some(permissions) = self.hooks.token_permissions(ctx, installation)?
        {
            return Ok(Arc::new(FixedPermissions {
                inner: credential,
                permissions: permissions.into(),
            }));
        }
        Ok(credential)
    }

    /// Revoke the stored refresh token at the declared revocation URL.
    /// Returns whether a revocation was sent.
    pub async fn revoke(&self, ctx: &FlowContext, installation: &Installation) -> Result<bool> {
        if self.oauth.revocation_url.is_none() {
            return Ok(false);
        }
        let Some(token) = ctx
            .auth
            .grants
            .load_grant(installation.id)
            .await?
            .and_then(|g| g.refresh_token)
        else {
            return Ok(false);
        };
        self.client
            .revoke(&token)
            .await
            .map_err(|e| self.token_provider.map_token_error(e))?;
        Ok(true)
    }
}

/// Asks the inner credential for the same permissions whatever the method:
/// one token, one refresh, for every method
/// ([`OAuthHooks::token_permissions`]).
#[derive(Debug)]
struct FixedPermissions {
    inner: Arc<dyn Credential>,
    permissions: Arc<[String]>,
}

#[async_trait]
impl Credential for FixedPermissions {
    async fn token(&self, request: &TokenRequest) -> Result<AccessToken> {
        let mut request = request.clone();
        request.scopes = self.permissions.clone();
        self.inner.token(&request).await
    }
}

/// The platform's redirect URI, which a consent step needs.
fn redirect_uri(ctx: &FlowContext) -> Result<&str> {
    let uri = ctx.redirect_uri.as_deref().ok_or_else(|| {
        Error::new(
            ErrorKind::Configuration,
            "a consent step needs the platform's redirect URI (set it on the installations service)",
        )
        .with_field("redirect_uri")
    })?;
    checked_redirect_url(uri)?;
    Ok(uri)
}

/// An identity endpoint filled from the settings: it must pass the host
/// check against `identity_hosts` (with deployments: the chosen
/// deployment's identity host alone), and must not be an API host.
fn identity_endpoint(
    definition: &ConnectorDefinition,
    template: &str,
    settings: &serde_json::Map<String, Value>,
    deployment: Option<&ChosenDeployment>,
) -> Result<Url> {
    let local = LocalOrigins::from_settings(settings)?;
    let url = local.identity_url(url_template::fill_in(template, settings, deployment)?);
    let (identity_hosts, api_hosts) = match deployment {
        Some(chosen) => (vec![chosen.identity_host()], vec![chosen.api_host()]),
        None => (
            definition.identity_hosts.clone(),
            definition.allowed_hosts.clone(),
        ),
    };
    let policy = HostPolicy::new(&Endpoints {
        base_url: url.clone(),
        allowed_hosts: local.identity_hosts(&identity_hosts),
    });
    policy.check_credentialed(&url)?;
    // A loopback fake may serve both (tests, a sandbox): no secret leaves
    // the machine.
    let api_host = url
        .host_str()
        .is_some_and(|host| !is_loopback(host) && api_hosts.iter().any(|h| h == host));
    if api_host {
        return Err(Error::new(
            ErrorKind::InvalidDefinition,
            format!(
                "the identity endpoint's host {} is also an API host; the client secret must never reach the API",
                url.host_str().unwrap_or_default()
            ),
        ));
    }
    Ok(url)
}
