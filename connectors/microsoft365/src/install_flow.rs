//! Microsoft 365's install flow for the lifecycle service
//! ([`switchboard_installations::lifecycle::Installations`]).
//!
//! - **check**: the variant is `delegated` or `application`; the tenant is
//!   required and checked for the variant ([`TenantId`]); the cloud is one
//!   of `global`, `usgov`, `usgov-dod`, `china` (or an alias such as
//!   `us_government`, stored under its canonical name:
//!   [`crate::cloud::cloud_names`]), or `custom` with `login_url` and
//!   `graph_url` settings (https, or http on loopback only).
//! - **begin**: delegated: the authorize URL with PKCE and the scopes of the
//!   enabled methods ([`consent_plan`]); application: the admin consent URL.
//! - **complete**: delegated: code exchange, refresh token stored;
//!   application: admin consent checked and proven by a token request.
//! - **credential**: the variant's OAuth credential. Delegated refreshes
//!   always ask for the consented set of scopes, so every method shares one
//!   token (Microsoft's delegated tokens carry every consented scope).
//! - **connection test**: delegated `GET /me` (`users.get_user`);
//!   application `GET /users?$top=1` (`users.list_users`) when users are
//!   enabled. Otherwise the first enabled read that needs no argument, with
//!   `top=1` when it pages; or only a token request when none exists.
//!
//! ```
//! use std::sync::Arc;
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
use switchboard_core::credential::{AccessToken, Credential, TokenRequest};
use switchboard_core::definition::{HttpMethod, ParameterLocation};
use switchboard_core::{Arguments, Error, ErrorKind, Result};
use switchboard_installations::install::Installation;
use switchboard_installations::lifecycle::flow::{
    Completed, ConnectionTest, FlowContext, InstallFlow,
};
use url::Url;

use crate::application::ApplicationAuth;
use crate::cloud::{Cloud, GRAPH_URL, LOGIN_URL, canonical_name};
use crate::delegated::DelegatedAuth;
use crate::identity::MicrosoftApp;
use crate::permissions::{Enabled, consent_plan};
use crate::tenant::TenantId;

/// The connector id this flow serves.
pub const CONNECTOR_ID: &str = "microsoft365";

/// Microsoft 365's [`InstallFlow`].
#[derive(Debug, Clone, Default)]
pub struct Microsoft365Flow {
    _private: (),
}

impl Microsoft365Flow {
    /// The flow.
    pub fn new() -> Self {
        Microsoft365Flow { _private: () }
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

fn app_of(ctx: &FlowContext) -> Result<MicrosoftApp> {
    let ctx_app = ctx.app()?;
    let mut app = MicrosoftApp::new(ctx_app.client_id());
    if let Some(secret) = ctx_app.client_secret() {
        app = app.with_client_secret(secret);
    }
    if let Some(uri) = &ctx.redirect_uri {
        app = app.with_redirect_uri(uri)?;
    }
    Ok(app)
}

fn graph_resource(cloud: &Cloud) -> String {
    cloud.graph_url().as_str().trim_end_matches('/').to_string()
}

/// The permissions the enabled methods need (least set).
fn permissions(ctx: &FlowContext, inst: &Installation, cloud: &Cloud) -> Result<Vec<String>> {
    let plan = consent_plan(
        &ctx.definition,
        &inst.variant,
        &Enabled::methods(ctx.enabled_methods.iter().cloned()),
        &graph_resource(cloud),
    )?;
    Ok(plan.permissions)
}

enum Variant {
    Delegated(Box<DelegatedAuth>),
    Application(Box<ApplicationAuth>),
}

fn variant_auth(ctx: &FlowContext, inst: &Installation) -> Result<Variant> {
    let cloud = cloud_of(inst)?;
    let tenant = tenant_of(inst)?;
    let app = app_of(ctx)?;
    let id = inst.id;
    match inst.variant.as_str() {
        "delegated" => Ok(Variant::Delegated(Box::new(DelegatedAuth::new(
            ctx.auth.clone(),
            app,
            id,
            cloud,
            tenant.as_str(),
        )?))),
        "application" => Ok(Variant::Application(Box::new(ApplicationAuth::new(
            ctx.auth.clone(),
            app,
            id,
            cloud,
            tenant.as_str(),
        )?))),
        other => Err(Error::invalid_argument(
            "variant",
            format!("`{other}` is not a Microsoft 365 variant; use delegated or application"),
        )),
    }
}

fn need_redirect(ctx: &FlowContext) -> Result<()> {
    if ctx.redirect_uri.is_none() {
        return Err(Error::new(
            ErrorKind::Configuration,
            "no redirect URI is configured for the platform's app; configure the one registered in the Microsoft Entra app registration",
        )
        .with_field("redirect_uri"));
    }
    Ok(())
}

/// Asks the inner credential for the installation's consented permissions
/// whatever the method: one token, one refresh, for every method.
#[derive(Debug)]
struct ConsentedScopes {
    inner: Arc<dyn Credential>,
    permissions: Arc<[String]>,
}

#[async_trait]
impl Credential for ConsentedScopes {
    async fn token(&self, request: &TokenRequest) -> Result<AccessToken> {
        let mut request = request.clone();
        request.scopes = self.permissions.clone();
        self.inner.token(&request).await
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

#[async_trait]
impl InstallFlow for Microsoft365Flow {
    fn connector_id(&self) -> &str {
        CONNECTOR_ID
    }

    fn extra_settings(&self) -> &[&str] {
        &[LOGIN_URL, GRAPH_URL]
    }

    fn check(&self, inst: &mut Installation) -> Result<()> {
        if !matches!(inst.variant.as_str(), "delegated" | "application") {
            return Err(Error::invalid_argument(
                "variant",
                "must be delegated or application",
            ));
        }
        inst.cloud = canonical_name(&inst.cloud)?.to_string();
        let tenant = tenant_of(inst)?;
        inst.tenant_id = Some(tenant.as_str().to_string());
        cloud_of(inst)?;
        Ok(())
    }

    fn begin(&self, ctx: &FlowContext, inst: &Installation) -> Result<Option<Url>> {
        need_redirect(ctx)?;
        match variant_auth(ctx, inst)? {
            Variant::Delegated(auth) => {
                let permissions = permissions(ctx, inst, auth.cloud())?;
                Ok(Some(auth.begin(&permissions)?.into_url()))
            }
            Variant::Application(auth) => Ok(Some(auth.admin_consent_url()?.into_url())),
        }
    }

    async fn complete(
        &self,
        ctx: &FlowContext,
        inst: &Installation,
        callback_query: &str,
    ) -> Result<Completed> {
        need_redirect(ctx)?;
        match variant_auth(ctx, inst)? {
            Variant::Delegated(auth) => {
                let done = auth.complete(callback_query).await?;
                Ok(Completed::new(done.tenant_id, done.scopes))
            }
            Variant::Application(auth) => {
                let done = auth.complete_admin_consent(callback_query).await?;
                let permissions = permissions(ctx, inst, auth.cloud())?;
                Ok(Completed::new(Some(done.tenant_id), permissions))
            }
        }
    }

    fn credential(&self, ctx: &FlowContext, inst: &Installation) -> Result<Arc<dyn Credential>> {
        match variant_auth(ctx, inst)? {
            Variant::Delegated(auth) => {
                let permissions = permissions(ctx, inst, auth.cloud())?;
                Ok(Arc::new(ConsentedScopes {
                    inner: Arc::new(auth.credential()),
                    permissions: permissions.into(),
                }))
            }
            Variant::Application(auth) => Ok(Arc::new(auth.credential())),
        }
    }

    fn connection_test(
        &self,
        ctx: &FlowContext,
        inst: &Installation,
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

/// The settings a custom cloud needs, for callers building an install
/// request (`login_url`, `graph_url`).
pub fn custom_cloud_settings(login_url: &str, graph_url: &str) -> Settings {
    let mut settings = Settings::new();
    settings.insert(LOGIN_URL.into(), Value::String(login_url.into()));
    settings.insert(GRAPH_URL.into(), Value::String(graph_url.into()));
    settings
}
