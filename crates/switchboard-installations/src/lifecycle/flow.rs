//! The connector's side of an installation's life: [`InstallFlow`].
//!
//! The core knows nothing of Microsoft (or any provider): a connector crate
//! implements this trait once, for all its variants, and the lifecycle
//! service ([`crate::lifecycle::Installations`]) calls it:
//!
//! | when | hook | what the connector does |
//! |---|---|---|
//! | install | [`InstallFlow::check`] | validate and normalise tenant, cloud and its settings for the variant (no network) |
//! | install, re-authenticate | [`InstallFlow::begin`] | the URL a person opens to consent (user sign-in or admin consent), or none when the credential came with the install (API key, token, password) |
//! | callback | [`InstallFlow::complete`] | finish the OAuth flow; tokens land in the installation's secrets |
//! | every call | [`InstallFlow::credential`] | the credential that signs requests |
//! | test connection | [`InstallFlow::connection_test`] | which cheap read proves the grant |
//!
//! Where requests go is not a flow hook: the lifecycle service asks the
//! connector's own endpoints hook ([`crate::Connector::endpoints`]) through
//! [`crate::Engine::installation`], with the installation's settings, tenant
//! and cloud, exactly as a platform calling the engine directly does.
//!
//! ```
//! use switchboard_installations::lifecycle::flow::ConnectionTest;
//! use switchboard_core::Arguments;
//!
//! let test = ConnectionTest::new("users.get_user", Arguments::new().set("select", "id"));
//! assert_eq!(test.method_id, "users.get_user");
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use secrecy::SecretString;
use url::Url;

use crate::install::Installation;
use crate::lifecycle::apps::AppCredential;
use switchboard_core::arguments::Arguments;
use switchboard_core::credential::Credential;
use switchboard_core::definition::ConnectorDefinition;
use switchboard_core::error::Result;
use switchboard_oauth::context::AuthContext;

/// What the lifecycle service gives a flow for one installation: the shared
/// auth services (token cache, the token store on the installation's
/// secrets, pending `state` values), the resolved OAuth client, and the
/// platform's redirect URI.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FlowContext {
    /// Shared auth services.
    pub auth: AuthContext,
    /// The OAuth client the installation uses; `None` for a variant that
    /// does not use OAuth (an API key, token or password given at install).
    pub app: Option<AppCredential>,
    /// Where the identity service sends the browser back to.
    pub redirect_uri: Option<String>,
    /// The connector's definition.
    pub definition: Arc<ConnectorDefinition>,
    /// The methods the installation enables (method ids, already expanded
    /// from categories and checked against the variant).
    pub enabled_methods: Vec<String>,
    /// The installation's secret install parameters (`secret: true` in the
    /// definition), by name: API keys, tokens, passwords.
    pub secret_parameters: BTreeMap<String, SecretString>,
}

impl FlowContext {
    /// The OAuth client, or an error saying the variant has none.
    pub fn app(&self) -> Result<&AppCredential> {
        self.app.as_ref().ok_or_else(|| {
            switchboard_core::Error::new(
                switchboard_core::ErrorKind::Configuration,
                "this installation's variant does not use OAuth, so it has no OAuth client",
            )
        })
    }
}

/// What a completed consent established. No secrets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Completed {
    /// The tenant the grant belongs to, when known.
    pub tenant_id: Option<String>,
    /// The scopes or permissions granted, when the service said.
    pub scopes: Vec<String>,
}

impl Completed {
    /// A completion with what is known.
    pub fn new(tenant_id: Option<String>, scopes: Vec<String>) -> Self {
        Completed { tenant_id, scopes }
    }
}

/// The read that proves an installation's grant: a method and its arguments.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectionTest {
    /// The method to call.
    pub method_id: String,
    /// Its arguments (for example `top=1`).
    pub args: Arguments,
}

impl ConnectionTest {
    /// Call `method_id` with `args`.
    pub fn new(method_id: impl Into<String>, args: Arguments) -> Self {
        ConnectionTest {
            method_id: method_id.into(),
            args,
        }
    }
}

/// A connector's install, consent and credential hooks.
#[async_trait]
pub trait InstallFlow: Send + Sync + fmt::Debug {
    /// The connector this flow serves.
    fn connector_id(&self) -> &str;

    /// Setting names accepted besides the definition's install parameters
    /// (for example a custom cloud's `login_url` and `graph_url`).
    fn extra_settings(&self) -> &[&str] {
        &[]
    }

    /// Check and normalise the new record for its variant: tenant, cloud
    /// and cloud settings. No network. Errors name the field.
    fn check(&self, installation: &mut Installation) -> Result<()>;

    /// The URL a person opens to consent. Its `state` is registered in
    /// `ctx.auth.states`. `None`: the variant needs no consent (its
    /// credential is a secret install parameter), and the installation is
    /// active as soon as it is stored.
    fn begin(&self, ctx: &FlowContext, installation: &Installation) -> Result<Option<Url>>;

    /// Finish the consent with the callback's query string. Tokens are
    /// stored through `ctx.auth.grants` (the installation's secrets).
    async fn complete(
        &self,
        ctx: &FlowContext,
        installation: &Installation,
        callback_query: &str,
    ) -> Result<Completed>;

    /// The credential that signs the installation's requests (the lifecycle
    /// service shares it across nodes and tracks its errors).
    fn credential(
        &self,
        ctx: &FlowContext,
        installation: &Installation,
    ) -> Result<Arc<dyn Credential>>;

    /// Whether the credential's tokens are shared across nodes through the
    /// store (one refresh for the whole platform). A flow whose credential
    /// is an install parameter (nothing to refresh) says `false`.
    fn shares_tokens(&self, _installation: &Installation) -> bool {
        true
    }

    /// The cheap read that proves the grant, or `None` when getting a token
    /// is all that can be checked without more input.
    fn connection_test(
        &self,
        ctx: &FlowContext,
        installation: &Installation,
    ) -> Result<Option<ConnectionTest>>;
}
