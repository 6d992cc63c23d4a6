//! Microsoft 365's install flow for the lifecycle service
//! ([`switchboard_installations::lifecycle::Installations`]): the generic
//! definition flow ([`DefinitionFlow`]) with [`Microsoft365Hooks`].
//!
//! **What the data says** (`definitions/connector.json`): the clouds
//! (`deployments`, chosen by the installation's `cloud`, aliases stored
//! under their canonical name, `custom` with `login_url` and `graph_url`),
//! both variants' grant and their authorization, token and admin consent
//! URLs per cloud, PKCE, the scope prefix `{api_origin}/` and the
//! delegated variant's `offline_access openid`. The generic flow builds
//! the consent links, exchanges the code, proves an admin consent with a
//! token request, and makes the credential from that.
//!
//! **What the hooks add**, because data can't say it (each hook's doc
//! comment says why):
//!
//! - **check**: the tenant rules of each variant ([`TenantId`]);
//! - **consent permissions**: the least-privilege plan of the enabled
//!   methods ([`consent_plan`]);
//! - **token permissions**: every delegated token asks for that consented
//!   set, so every method shares one token;
//! - **provider**: the application's `{graph}/.default` scope, AADSTS
//!   codes ([`crate::aadsts`]), the token's `tid` check
//!   ([`crate::token_tenant`]) ([`MicrosoftProvider`]);
//! - **admin consent callback**: granted, and the tenant's GUID
//!   ([`check_admin_consent`]);
//! - **connection test**: delegated `GET /me` (`users.get_user`);
//!   application `GET /users?$top=1` (`users.list_users`) when users are
//!   enabled. Otherwise the first enabled read that needs no argument,
//!   with `top=1` when it pages; or only a token request when none exists.
//!
//! ```
//! use switchboard_installations::install::Installation;
//! use switchboard_installations::lifecycle::flow::InstallFlow;
//! use switchboard_microsoft365::install_flow::Microsoft365Flow;
//!
//! let flow = Microsoft365Flow::new();
//! let mut inst = Installation::new("acct", "microsoft365", "0.1.0", "application")
//!     .with_tenant_id(Some("Contoso.onmicrosoft.com".into()))
//!     .with_cloud("us_government");
//! flow.check(&mut inst).unwrap();
//! assert_eq!(inst.cloud, "usgov");
//! assert_eq!(inst.tenant_id.as_deref(), Some("contoso.onmicrosoft.com"));
//! let cloud = switchboard_microsoft365::install_flow::cloud_of(&inst).unwrap();
//! assert_eq!(cloud.endpoints().allowed_hosts, vec!["graph.microsoft.us".to_string()]);
//!
//! let mut bad = Installation::new("acct", "microsoft365", "0.1.0", "application")
//!     .with_tenant_id(Some("common".into()));
//! assert_eq!(flow.check(&mut bad).unwrap_err().field(), Some("tenant_id"));
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use switchboard_core::connector::Settings;
use switchboard_core::credential::Credential;
use switchboard_core::definition::{HttpMethod, ParameterLocation};
use switchboard_core::{Arguments, Error, Result};
use switchboard_installations::install::Installation;
use switchboard_installations::lifecycle::flow::{
    Completed, ConnectionTest, FlowContext, InstallFlow,
};
use switchboard_installations::lifecycle::generic_flow::DefinitionFlow;
use switchboard_installations::lifecycle::hooks::OAuthHooks;
use switchboard_oauth::callback::CallbackParams;
use switchboard_oauth::provider::Provider;
use url::Url;

use crate::application::check_admin_consent;
use crate::cloud::{Cloud, GRAPH_URL, LOGIN_URL};
use crate::identity::MicrosoftProvider;
use crate::permissions::{Enabled, consent_plan};
use crate::tenant::TenantId;

/// The connector id this flow serves.
pub const CONNECTOR_ID: &str = "microsoft365";

/// Microsoft 365's [`InstallFlow`]: the [`DefinitionFlow`] of its
/// definition with [`Microsoft365Hooks`].
#[derive(Debug, Clone)]
pub struct Microsoft365Flow {
    inner: DefinitionFlow,
}

impl Default for Microsoft365Flow {
    fn default() -> Self {
        Self::new()
    }
}

impl Microsoft365Flow {
    /// The flow.
    pub fn new() -> Self {
        let definition = Arc::new(crate::cloud::header().clone());
        Microsoft365Flow {
            inner: DefinitionFlow::new(definition).with_hooks(Arc::new(Microsoft365Hooks::new())),
        }
    }
}

fn text_setting<'a>(inst: &'a Installation, name: &str) -> Result<Option<&'a str>> {
    match inst.settings.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(Error::invalid_argument(name, "must be a string")),
    }
}

/// The installation's cloud: its `cloud` and custom cloud settings, read by
/// [`Cloud::from_parts`] like every other entry point.
pub fn cloud_of(inst: &Installation) -> Result<Cloud> {
    Cloud::from_parts(
        Some(&inst.cloud),
        text_setting(inst, LOGIN_URL)?,
        text_setting(inst, GRAPH_URL)?,
    )
}

fn tenant_of(inst: &Installation) -> Result<TenantId> {
    let tenant = inst.tenant_id.as_deref().ok_or_else(|| {
        Error::invalid_argument(
            "tenant_id",
            "is required: the customer's directory (tenant) ID, a GUID or a verified domain such as contoso.onmicrosoft.com",
        )
    })?;
    match inst.variant.as_str() {
        "application" => TenantId::for_application(tenant),
        _ => TenantId::for_delegated(tenant),
    }
}

/// The first enabled GET method that needs no argument but the principal.
fn simple_read(ctx: &FlowContext, variant: &str) -> Option<ConnectionTest> {
    let def = &ctx.definition;
    ctx.enabled_methods
        .iter()
        .filter_map(|id| def.method(id))
        .find(|m| {
            m.http_method == HttpMethod::Get
                && !m
                    .parameters
                    .iter()
                    .any(|p| p.required && p.default.is_none())
                && (variant != "application" || !m.uses_principal())
                && m.parameters
                    .iter()
                    .all(|p| p.location != ParameterLocation::Body)
        })
        .map(|m| {
            let mut args = Arguments::new();
            if m.parameters.iter().any(|p| p.name == "top") {
                args.insert("top", 1);
            }
            ConnectionTest::new(m.id.clone(), args)
        })
}

/// What Microsoft 365's definition can't say, for the generic flow
/// ([`switchboard_installations::lifecycle::hooks`]).
///
/// ```
/// use std::sync::Arc;
/// use switchboard_core::Connector;
/// use switchboard_installations::install::Installation;
/// use switchboard_installations::lifecycle::flow::InstallFlow;
/// use switchboard_installations::lifecycle::generic_flow::DefinitionFlow;
/// use switchboard_microsoft365::install_flow::Microsoft365Hooks;
///
/// let m365 = switchboard_microsoft365::Microsoft365::new().unwrap();
/// let flow = DefinitionFlow::new(Arc::new(m365.definition().clone()))
///     .with_hooks(Arc::new(Microsoft365Hooks::new()));
/// let mut inst = Installation::new("acct", "microsoft365", "0.1.0", "delegated")
///     .with_tenant_id(Some("Organizations".into()));
/// flow.check(&mut inst).unwrap();
/// assert_eq!(inst.tenant_id.as_deref(), Some("organizations"));
/// assert!(flow.extra_settings().is_empty());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Microsoft365Hooks {
    _private: (),
}

impl Microsoft365Hooks {
    /// The hooks.
    pub fn new() -> Self {
        Microsoft365Hooks { _private: () }
    }

    /// The least-privilege permissions of the enabled methods.
    fn plan(&self, ctx: &FlowContext, inst: &Installation) -> Result<Vec<String>> {
        let cloud = cloud_of(inst)?;
        let graph = cloud.graph_url().as_str().trim_end_matches('/').to_string();
        let plan = consent_plan(
            &ctx.definition,
            &inst.variant,
            &Enabled::methods(ctx.enabled_methods.iter().cloned()),
            &graph,
        )?;
        Ok(plan.permissions)
    }
}

impl OAuthHooks for Microsoft365Hooks {
    /// None: a custom cloud (`login_url`, `graph_url`: the deployments'
    /// own settings) is how Microsoft 365 is pointed at a fake, so the
    /// generic loopback overrides are not offered as a second way.
    fn extra_settings(&self) -> &[&str] {
        &[]
    }

    /// The tenant is required and checked for the variant, and stored
    /// lower-cased ([`TenantId`]). **Data can't say it:** the definition's
    /// `format: tenant_id` checks the shape, but which special values a
    /// variant may use (`common` and `organizations` for delegated sign-in,
    /// none for client credentials) is Microsoft's multi-tenant rule per
    /// grant, which the format has no words for.
    fn check(&self, inst: &mut Installation) -> Result<()> {
        let tenant = tenant_of(inst)?;
        inst.tenant_id = Some(tenant.as_str().to_string());
        Ok(())
    }

    /// The least set of permissions the enabled methods need
    /// ([`consent_plan`]). **Data can't say it:** each method declares the
    /// permissions that *each* let it run, least privileged first; the
    /// smallest set covering every enabled method is computed (a
    /// permission that implies another drops it), not declared.
    fn consent_permissions(
        &self,
        ctx: &FlowContext,
        inst: &Installation,
    ) -> Result<Option<Vec<String>>> {
        self.plan(ctx, inst).map(Some)
    }

    /// Delegated: every token asks for the consented set, so every method
    /// shares one token and one refresh. **Data can't say it:** the set is
    /// the computed plan above, and sharing it is Microsoft's rule
    /// (a delegated token carries every consented scope of its resource).
    /// Application: each token is `{graph}/.default` anyway.
    fn token_permissions(
        &self,
        ctx: &FlowContext,
        inst: &Installation,
    ) -> Result<Option<Vec<String>>> {
        match inst.variant.as_str() {
            "delegated" => self.plan(ctx, inst).map(Some),
            _ => Ok(None),
        }
    }

    /// [`MicrosoftProvider`] on the installation's cloud and tenant.
    /// **Data can't say it:** AADSTS codes are read from `error_codes`
    /// and the description and given their meaning ([`crate::aadsts`]);
    /// the issued token's `tid` claim is decoded from the JWT and compared
    /// with the tenant ([`crate::token_tenant`]); the application variant
    /// always asks for `{graph}/.default`, whatever the method.
    fn provider(
        &self,
        inst: &Installation,
        _declared: Arc<dyn Provider>,
    ) -> Result<Arc<dyn Provider>> {
        let cloud = cloud_of(inst)?;
        let tenant = tenant_of(inst)?;
        let provider = match inst.variant.as_str() {
            "application" => MicrosoftProvider::application(cloud, tenant),
            _ => MicrosoftProvider::delegated(cloud, tenant),
        };
        Ok(Arc::new(provider))
    }

    /// The callback says the consent was granted, in the installation's
    /// tenant, and names its GUID ([`check_admin_consent`]), which the
    /// installation keeps. **Data can't say it:** `admin_consent` and
    /// `tenant` are Microsoft's own callback parameters, compared with the
    /// installation's tenant only when that is a GUID.
    fn check_admin_consent(
        &self,
        inst: &Installation,
        params: &CallbackParams,
    ) -> Result<Option<String>> {
        check_admin_consent(&tenant_of(inst)?, params).map(Some)
    }

    /// Delegated `users.get_user`, application `users.list_users` with
    /// `top=1`, else the first enabled read needing no argument. **Data
    /// can't say it:** a variant declares one `test_method` without
    /// arguments, and which read exists depends on the enabled methods.
    fn connection_test(
        &self,
        ctx: &FlowContext,
        inst: &Installation,
        _declared: Option<ConnectionTest>,
    ) -> Result<Option<ConnectionTest>> {
        let enabled = |id: &str| ctx.enabled_methods.iter().any(|m| m == id);
        let test = match inst.variant.as_str() {
            "delegated" if enabled("users.get_user") => {
                Some(ConnectionTest::new("users.get_user", Arguments::new()))
            }
            "application" if enabled("users.list_users") => Some(ConnectionTest::new(
                "users.list_users",
                Arguments::new().set("top", 1),
            )),
            variant => simple_read(ctx, variant),
        };
        Ok(test)
    }
}

#[async_trait]
impl InstallFlow for Microsoft365Flow {
    fn connector_id(&self) -> &str {
        self.inner.connector_id()
    }

    fn extra_settings(&self) -> &[&str] {
        self.inner.extra_settings()
    }

    fn check(&self, inst: &mut Installation) -> Result<()> {
        self.inner.check(inst)
    }

    fn begin(&self, ctx: &FlowContext, inst: &Installation) -> Result<Option<Url>> {
        self.inner.begin(ctx, inst)
    }

    async fn complete(
        &self,
        ctx: &FlowContext,
        inst: &Installation,
        callback_query: &str,
    ) -> Result<Completed> {
        self.inner.complete(ctx, inst, callback_query).await
    }

    fn credential(&self, ctx: &FlowContext, inst: &Installation) -> Result<Arc<dyn Credential>> {
        self.inner.credential(ctx, inst)
    }

    fn shares_tokens(&self, inst: &Installation) -> bool {
        self.inner.shares_tokens(inst)
    }

    async fn revoke(&self, ctx: &FlowContext, inst: &Installation) -> Result<bool> {
        self.inner.revoke(ctx, inst).await
    }

    fn connection_test(
        &self,
        ctx: &FlowContext,
        inst: &Installation,
    ) -> Result<Option<ConnectionTest>> {
        self.inner.connection_test(ctx, inst)
    }
}

/// The settings a custom cloud needs, for callers building an install
/// request (`login_url`, `graph_url`).
pub fn custom_cloud_settings(login_url: &str, graph_url: &str) -> Settings {
    let mut settings = Settings::new();
    settings.insert(LOGIN_URL.into(), Value::String(login_url.into()));
    settings.insert(GRAPH_URL.into(), Value::String(graph_url.into()));
    settings
}
