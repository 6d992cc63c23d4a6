//! [`DefinitionFlow`]: the install flow of a connector described only by
//! data: variants whose credential the installer gives at install time
//! (`api_key`, `bearer_token` and `basic`), and variants of kind `oauth2`,
//! whose declared flow [`super::oauth_flow`] runs.
//!
//! For the first three nothing is consented to: the credential is a secret install parameter
//! (see [`super::secret_parameters`]), so [`InstallFlow::begin`] returns no
//! link and the installation is `Active` as soon as it is stored. Each call
//! sends the credential where the variant declares
//! ([`AuthVariant::placement`]); its `test_method`, when declared, is what
//! [`Installations::test_connection`](super::Installations::test_connection)
//! calls.
//!
//! An `oauth2` variant with grant `authorization_code` returns a consent
//! link from `begin` (so does grant `client_credentials` with an
//! `admin_consent_url`: the administrator's consent, proven at `complete`
//! by a token request); `complete` exchanges the code and stores the grant;
//! its credential refreshes through the shared token path; uninstall
//! revokes at the declared revocation URL. With `deployments`, the
//! installation's settings choose the deployment at `check` (its cloud is
//! stored under the deployment's id) and the `oauth2` URLs use its
//! identity origin. A connector whose identity service needs more than
//! data can say (tenant rules, provider error codes, a check of the issued
//! token) adds [`OAuthHooks`] with [`DefinitionFlow::with_hooks`] (see
//! [`super::hooks`]); Microsoft 365 does. Variants of the older kinds
//! `oauth2_authorization_code` and `oauth2_client_credentials` declare no
//! endpoints, so they need their connector's own flow.
//!
//! ```
//! use std::sync::Arc;
//! use switchboard_core::definition::ConnectorDefinition;
//! use switchboard_installations::lifecycle::flow::InstallFlow;
//! use switchboard_installations::lifecycle::generic_flow::DefinitionFlow;
//!
//! let def: ConnectorDefinition = serde_json::from_value(serde_json::json!({
//!   "id": "acme", "name": "Acme", "version": "1.0.0", "description": "Acme CRM",
//!   "base_url": "https://api.acme.example", "allowed_hosts": ["api.acme.example"],
//!   "install_parameters": [{"name": "token", "label": "Token", "required": true, "secret": true}],
//!   "auth_variants": [{"id": "token", "name": "Token", "kind": "bearer_token",
//!     "bearer_token": {"parameter": "token"}}],
//!   "categories": [{"id": "things", "name": "Things"}]
//! })).unwrap();
//! let flow = DefinitionFlow::new(Arc::new(def));
//! assert_eq!(flow.connector_id(), "acme");
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use secrecy::ExposeSecret;
use url::Url;

use super::flow::{Completed, ConnectionTest, FlowContext, InstallFlow};
use super::hooks::{NoHooks, OAuthHooks};
use super::oauth_flow::DefinitionOAuth;
use crate::install::Installation;
use switchboard_core::arguments::Arguments;
use switchboard_core::credential::{AccessToken, Credential, StaticCredential};
use switchboard_core::definition::{AuthKind, AuthVariant, ConnectorDefinition};
use switchboard_core::error::{Error, ErrorKind, Result};
use switchboard_core::local_origins;

/// The install flow every definition-only connector gets, and the one a
/// connector with [`OAuthHooks`] runs its declared OAuth through. Cheap to
/// clone.
#[derive(Debug, Clone)]
pub struct DefinitionFlow {
    definition: Arc<ConnectorDefinition>,
    hooks: Arc<dyn OAuthHooks>,
}

impl DefinitionFlow {
    /// The flow for `definition`'s connector.
    pub fn new(definition: Arc<ConnectorDefinition>) -> Self {
        DefinitionFlow {
            definition,
            hooks: Arc::new(NoHooks),
        }
    }

    /// The same flow with a connector's hooks for what its definition
    /// can't say (see [`super::hooks`]).
    pub fn with_hooks(mut self, hooks: Arc<dyn OAuthHooks>) -> Self {
        self.hooks = hooks;
        self
    }

    fn variant(&self, installation: &Installation) -> Result<&AuthVariant> {
        let variant = self
            .definition
            .variant(&installation.variant)
            .ok_or_else(|| {
                Error::invalid_argument(
                    "variant",
                    format!(
                        "connector `{}` has no variant `{}`",
                        self.definition.id, installation.variant
                    ),
                )
            })?;
        match variant.kind {
            AuthKind::ApiKey | AuthKind::Basic => Ok(variant),
            AuthKind::Oauth2 if variant.oauth2.is_some() => Ok(variant),
            AuthKind::BearerToken if variant.bearer_token.is_some() => Ok(variant),
            AuthKind::BearerToken => Err(Error::invalid_argument(
                "variant",
                format!(
                    "variant `{}` of connector `{}` does not say which install parameter holds its token (add \"bearer_token\": {{\"parameter\": ...}} to the definition)",
                    variant.id, self.definition.id
                ),
            )),
            _ => Err(Error::invalid_argument(
                "variant",
                format!(
                    "variant `{}` of connector `{}` uses OAuth without declaring its endpoints (kind oauth2 with an `oauth2` object does); install it through the connector's own flow",
                    variant.id, self.definition.id
                ),
            )),
        }
    }
}

impl DefinitionFlow {
    /// The declared OAuth of an `oauth2` installation, `None` for the
    /// other kinds.
    fn oauth<'a>(
        &'a self,
        ctx: &FlowContext,
        installation: &Installation,
    ) -> Result<Option<DefinitionOAuth<'a>>> {
        let variant = self.variant(installation)?;
        if variant.kind != AuthKind::Oauth2 {
            return Ok(None);
        }
        DefinitionOAuth::new(
            ctx,
            &self.definition,
            variant,
            installation,
            self.hooks.clone(),
        )
        .map(Some)
    }
}

/// The error for re-authenticating an installation whose credential is an
/// install parameter: there is no consent to repeat.
pub fn no_consent_to_repeat(installation: &Installation) -> Error {
    Error::new(
        ErrorKind::Conflict,
        format!(
            "installation {} has no consent to repeat: its credential is an install parameter; uninstall it and install again with the new value",
            installation.id
        ),
    )
    .with_field("status")
}

#[async_trait]
impl InstallFlow for DefinitionFlow {
    fn connector_id(&self) -> &str {
        &self.definition.id
    }

    /// The hooks' ([`OAuthHooks::extra_settings`]); by default the
    /// loopback overrides of [`switchboard_core::local_origins`]: a
    /// definition-only connector's endpoints all come from its data, so
    /// they can all be moved to a local fake.
    fn extra_settings(&self) -> &[&str] {
        self.hooks.extra_settings()
    }

    /// The variant is installable here, the loopback overrides are
    /// loopback origins, and the settings choose a deployment (when the
    /// definition declares them): an installation's cloud is then stored
    /// under the deployment's id. Then the hooks' check
    /// ([`OAuthHooks::check`]).
    fn check(&self, installation: &mut Installation) -> Result<()> {
        let settings = super::installation_settings(installation);
        local_origins::LocalOrigins::from_settings(&settings)?;
        if let (Some(chosen), Some(deployments)) = (
            self.definition.deployment(&settings)?,
            &self.definition.deployments,
        ) && deployments.parameter == super::CLOUD_SETTING
        {
            installation.cloud = chosen.id().to_string();
        }
        self.variant(installation)?;
        self.hooks.check(installation)
    }

    fn begin(&self, ctx: &FlowContext, installation: &Installation) -> Result<Option<Url>> {
        match self.oauth(ctx, installation)? {
            Some(oauth) => oauth.begin(ctx, installation),
            None => Ok(None),
        }
    }

    async fn complete(
        &self,
        ctx: &FlowContext,
        installation: &Installation,
        callback_query: &str,
    ) -> Result<Completed> {
        match self.oauth(ctx, installation)? {
            Some(oauth) => oauth.complete(ctx, installation, callback_query).await,
            None => Err(no_consent_to_repeat(installation)),
        }
    }

    async fn revoke(&self, ctx: &FlowContext, installation: &Installation) -> Result<bool> {
        match self.oauth(ctx, installation)? {
            Some(oauth) => oauth.revoke(ctx, installation).await,
            None => Ok(false),
        }
    }

    fn credential(
        &self,
        ctx: &FlowContext,
        installation: &Installation,
    ) -> Result<Arc<dyn Credential>> {
        if let Some(oauth) = self.oauth(ctx, installation)? {
            return oauth.credential(ctx, installation);
        }
        let variant = self.variant(installation)?;
        let names = variant.credential_parameters();
        // A secret comes from the encrypted secrets; a non-secret one (a
        // basic user name) from the settings.
        let value = |name: &str| -> Result<String> {
            if let Some(secret) = ctx.secret_parameters.get(name) {
                return Ok(secret.expose_secret().to_string());
            }
            installation
                .settings
                .get(name)
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::NeedsReauth,
                        format!(
                            "installation {} has no `{name}`; uninstall it and install again with it",
                            installation.id
                        ),
                    )
                    .with_field(name)
                })
        };
        let secret = match variant.kind {
            AuthKind::Basic => {
                let user = value(names.first().copied().unwrap_or_default())?;
                let password = match names.get(1) {
                    Some(name) => value(name)?,
                    None => String::new(),
                };
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            }
            _ => value(names.first().copied().unwrap_or_default())?,
        };
        Ok(Arc::new(StaticCredential::new(AccessToken::new(
            secret, None,
        ))))
    }

    fn shares_tokens(&self, installation: &Installation) -> bool {
        self.variant(installation)
            .is_ok_and(|v| v.kind == AuthKind::Oauth2)
    }

    fn connection_test(
        &self,
        ctx: &FlowContext,
        installation: &Installation,
    ) -> Result<Option<ConnectionTest>> {
        let variant = self.variant(installation)?;
        let declared = variant
            .test_method
            .as_ref()
            .map(|method| ConnectionTest::new(method.clone(), Arguments::new()));
        self.hooks.connection_test(ctx, installation, declared)
    }
}
