//! The installation lifecycle: install, consent, test, re-authenticate,
//! disable, enable, uninstall.
//!
//! [`Installations`] is built once per process from the [`Engine`], the
//! shared [`InstallationStore`], the platform's [`AppCredentials`] and its
//! redirect URI, plus one [`InstallFlow`] per connector (the connector
//! crate provides it). Every transition checks the current status with
//! [`check_transition`] and refuses the wrong ones with an
//! [`ErrorKind::Conflict`] that says what the installation can do instead.
//!
//! ```text
//!                       reauthenticate (tokens deleted, new link)
//!             ┌──────────────────────────────────────┐
//!             ▼                                      │
//!  install ─► PendingConsent ──complete──► Active ───┴─invalid_grant─► NeedsReauth
//!             ▲      │                     ▲    │                        │  │
//!             │      │ disable      enable │    │ disable        disable │  │ reauthenticate
//!             │      ▼       (grant kept)  │    ▼                        ▼  └─► PendingConsent
//!             └── enable (no grant) ──── Disabled ◄──────────────────────┘
//!
//!  uninstall: from every state but Uninstalled ─► Uninstalled (final; secrets erased, record kept)
//! ```
//!
//! Consent links carry a one-time `state`; it and the PKCE verifier are
//! kept encrypted in the installation's secrets until the callback, so the
//! callback may reach another process or node than the one that issued the
//! link. The tokens the callback yields land in the same row.
//!
//! Every credential handed out ([`Installations::context`]) is shared across
//! nodes ([`SharedTokenCredential`]: one token refresh per installation for
//! the whole platform) and tracked ([`status::StatusTracking`]): an error
//! that needs a person (`invalid_grant`) moves the installation to
//! `NeedsReauth` in the store.
//!
//! ```no_run
//! use std::sync::Arc;
//! use switchboard_installations::install::MemoryInstallationStore;
//! use switchboard_installations::lifecycle::{InstallRequest, Installations};
//! use switchboard_installations::lifecycle::apps::{AppCredential, AppCredentials};
//! use switchboard_core::{Arguments, Engine, Registry};
//!
//! # async fn run(flow: Arc<dyn switchboard_installations::lifecycle::flow::InstallFlow>, registry: Registry) -> switchboard_core::Result<()> {
//! let engine = Engine::builder(registry).build()?;
//! let apps = AppCredentials::new().with("default", AppCredential::new("app-id").with_client_secret("secret"));
//! let installations = Installations::builder(engine.clone(), Arc::new(MemoryInstallationStore::new()))
//!     .flow(flow)
//!     .app_credentials(apps)
//!     .redirect_uri("https://platform.example.com/oauth/callback")
//!     .build()?;
//! let started = installations
//!     .install(InstallRequest::new("acct-42", "microsoft365", "delegated").setting("tenant_id", "contoso.onmicrosoft.com"))
//!     .await?;
//! println!("open {}", started.consent_link()?);
//! // ... the browser comes back to the redirect URI ...
//! let active = installations.complete(started.installation.id, "?code=...&state=...").await?;
//! let ctx = installations.context(active.id).await?;
//! let me = engine.call(&ctx, "users.get_user", Arguments::new()).await?;
//! # let _ = me; Ok(()) }
//! ```

pub mod apps;
pub mod flow;
pub mod generic_flow;
pub mod grants;
pub mod hooks;
pub mod oauth_flow;
pub mod report;
pub mod secret_parameters;
pub mod settings;
pub mod status;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use switchboard_core::InstallationId;
use url::Url;

use crate::install::{
    ClientCredentials, Installation, InstallationSecrets, InstallationStatus, InstallationStore,
    check_transition, not_found,
};
use crate::modify::{Edit, modify_record, modify_secrets};
use crate::shared_token::{SharedTokenCredential, SharedTokenPolicy, TokenMemory};
use switchboard_core::connector::Settings;
use switchboard_core::credential::{Credential, TokenRequest};
use switchboard_core::definition::ConnectorDefinition;
use switchboard_core::engine::{Engine, InstallationContext};
use switchboard_core::error::{Error, ErrorKind, Result};
use switchboard_oauth::context::AuthContext;
use switchboard_oauth::state::PendingState;

use apps::AppCredentials;
use flow::{FlowContext, InstallFlow};
use grants::InstallationGrants;
use report::ConnectionReport;
use status::StatusTracking;

/// The install parameter that becomes [`Installation::tenant_id`].
pub const TENANT_SETTING: &str = "tenant_id";

/// The setting under which a connector's hooks (its endpoints) see
/// [`Installation::cloud`].
pub const CLOUD_SETTING: &str = "cloud";

/// What a platform asks to install.
///
/// ```
/// use switchboard_installations::lifecycle::InstallRequest;
///
/// let req = InstallRequest::new("acct-42", "microsoft365", "application")
///     .setting("tenant_id", "contoso.onmicrosoft.com")
///     .cloud("global")
///     .enable(["users", "mail"])
///     .own_client("11111111-2222-3333-4444-555555555555", Some("s3cret".into()));
/// assert!(!format!("{req:?}").contains("s3cret"));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct InstallRequest {
    /// The platform's account reference.
    pub account: String,
    /// The connector id.
    pub connector_id: String,
    /// The auth variant.
    pub variant: String,
    /// The cloud's name (connector-specific; default `global`).
    pub cloud: Option<String>,
    /// Install parameters (and connector-accepted extras such as custom
    /// cloud endpoints).
    pub settings: Settings,
    /// Which OAuth client to use (default: the platform's app `default`).
    pub client: ClientCredentials,
    /// The installation's own client secret (with [`ClientCredentials::Installation`]).
    pub client_secret: Option<SecretString>,
}

impl fmt::Debug for InstallRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstallRequest")
            .field("account", &self.account)
            .field("connector_id", &self.connector_id)
            .field("variant", &self.variant)
            .field("cloud", &self.cloud)
            .field("settings", &self.settings.keys().collect::<Vec<_>>())
            .field("client", &self.client)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

impl InstallRequest {
    /// Install `connector_id`'s `variant` for `account`.
    pub fn new(
        account: impl Into<String>,
        connector_id: impl Into<String>,
        variant: impl Into<String>,
    ) -> Self {
        InstallRequest {
            account: account.into(),
            connector_id: connector_id.into(),
            variant: variant.into(),
            cloud: None,
            settings: Settings::new(),
            client: ClientCredentials::default(),
            client_secret: None,
        }
    }

    /// The same request with a setting.
    pub fn setting(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.settings.insert(name.into(), value.into());
        self
    }

    /// The same request in a cloud.
    pub fn cloud(mut self, cloud: impl Into<String>) -> Self {
        self.cloud = Some(cloud.into());
        self
    }

    /// The same request enabling only these categories and methods.
    pub fn enable<I, S>(mut self, ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let list: Vec<Value> = ids.into_iter().map(|s| Value::String(s.into())).collect();
        self.settings
            .insert(settings::ENABLED.to_string(), Value::Array(list));
        self
    }

    /// The same request using the platform's app registered under `name`.
    pub fn platform_app(mut self, name: impl Into<String>) -> Self {
        self.client = ClientCredentials::Platform { name: name.into() };
        self
    }

    /// The same request with the installation's own client.
    pub fn own_client(mut self, client_id: impl Into<String>, secret: Option<String>) -> Self {
        self.client = ClientCredentials::Installation {
            client_id: client_id.into(),
        };
        self.client_secret = secret.map(SecretString::from);
        self
    }
}

/// An installation waiting for consent, and the link to give.
#[derive(Clone)]
#[non_exhaustive]
pub struct ConsentStarted {
    /// The stored record (status `PendingConsent`).
    pub installation: Installation,
    /// The URL the user (delegated) or an administrator (application)
    /// opens. It carries a one-time `state`: give it only to that person.
    /// `None` when the variant needs no consent (an API key, token or
    /// password given at install): the installation is already `Active`.
    pub consent_url: Option<Url>,
}

impl fmt::Debug for ConsentStarted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsentStarted")
            .field("installation", &self.installation)
            .field(
                "consent_url",
                &self.consent_url.as_ref().map(|url| {
                    format!(
                        "{}{} [query redacted]",
                        url.origin().ascii_serialization(),
                        url.path()
                    )
                }),
            )
            .finish()
    }
}

impl ConsentStarted {
    /// The consent link, or an [`ErrorKind::Conflict`] saying the
    /// installation needs none (it is active already).
    pub fn consent_link(&self) -> Result<&Url> {
        self.consent_url.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::Conflict,
                format!(
                    "installation {} needs no consent: its credential came with the install and it is {}",
                    self.installation.id, self.installation.status
                ),
            )
        })
    }

    /// Whether `callback` (the URL a browser came back to, or its query)
    /// carries this consent's one-time `state`, compared in constant time.
    ///
    /// A redirect listener waiting for the browser uses it to tell the
    /// answer from forged or stale requests, which it ignores and keeps
    /// waiting; only the answer is handed to [`Installations::complete`],
    /// which checks the state again against the store. A callback with no
    /// state, a repeated one or an unreadable query is not this consent's.
    ///
    /// ```no_run
    /// # async fn listen(svc: switchboard_installations::lifecycle::Installations,
    /// #     started: switchboard_installations::lifecycle::ConsentStarted, url: &str)
    /// #     -> switchboard_core::Result<()> {
    /// if started.is_callback_for(url) {
    ///     svc.complete(started.installation.id, url).await?;
    /// } // else: answer 400 and keep waiting
    /// # Ok(()) }
    /// ```
    pub fn is_callback_for(&self, callback: &str) -> bool {
        use subtle::ConstantTimeEq;
        let Some(expected) = self.consent_url.as_ref().and_then(state_of) else {
            return false;
        };
        let Ok(query) = callback_query(callback) else {
            return false;
        };
        let Ok(params) = switchboard_oauth::callback::CallbackParams::parse(&query) else {
            return false;
        };
        params.state.is_some_and(|presented| {
            presented
                .secret()
                .as_bytes()
                .ct_eq(expected.as_bytes())
                .into()
        })
    }
}

/// Builds [`Installations`].
#[derive(Debug)]
pub struct InstallationsBuilder {
    engine: Engine,
    store: Arc<dyn InstallationStore>,
    flows: Vec<Arc<dyn InstallFlow>>,
    apps: AppCredentials,
    redirect_uri: Option<String>,
    node: String,
    policy: SharedTokenPolicy,
    auth: Option<AuthContext>,
}

impl InstallationsBuilder {
    /// Add a connector's install flow.
    pub fn flow(mut self, flow: Arc<dyn InstallFlow>) -> Self {
        self.flows.push(flow);
        self
    }

    /// The platform's app registrations.
    pub fn app_credentials(mut self, apps: AppCredentials) -> Self {
        self.apps = apps;
        self
    }

    /// The redirect URI registered for the apps (where consent returns).
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.redirect_uri = Some(uri.into());
        self
    }

    /// This process's name in refresh leases (default: a random id).
    pub fn node(mut self, node: impl Into<String>) -> Self {
        self.node = node.into();
        self
    }

    /// Timing of the cross-node token sharing.
    pub fn shared_token_policy(mut self, policy: SharedTokenPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Use these auth services (tests with a manual clock). Their grant
    /// store must keep grants in this builder's installation store
    /// ([`InstallationGrants`]); the default does.
    pub fn auth_context(mut self, auth: AuthContext) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Check that every flow's connector is registered, and build.
    pub fn build(self) -> Result<Installations> {
        let mut flows = BTreeMap::new();
        for flow in self.flows {
            let id = flow.connector_id().to_string();
            let connector = self.engine.registry().get(&id).ok_or_else(|| {
                Error::new(
                    ErrorKind::Configuration,
                    format!("an install flow was given for connector `{id}`, which the engine does not have"),
                )
            })?;
            let definition = Arc::new(connector.definition().clone());
            flows.insert(id, (flow, definition));
        }
        let auth = match self.auth {
            Some(auth) => auth,
            // Token requests share the engine's pool and its token deadline.
            None => AuthContext::new(
                self.engine.http_client().clone(),
                Arc::new(InstallationGrants::new(self.store.clone())),
            )
            .with_http(switchboard_oauth::http::OAuthHttpClient::for_engine(
                &self.engine,
            )),
        };
        Ok(Installations {
            inner: Arc::new(Inner {
                engine: self.engine,
                store: self.store,
                flows,
                apps: self.apps,
                redirect_uri: self.redirect_uri,
                node: self.node,
                policy: self.policy,
                auth,
                memory: Arc::new(TokenMemory::new()),
            }),
        })
    }
}

/// The lifecycle service. Cheap to clone.
#[derive(Clone)]
pub struct Installations {
    inner: Arc<Inner>,
}

type FlowEntry = (Arc<dyn InstallFlow>, Arc<ConnectorDefinition>);

struct Inner {
    engine: Engine,
    store: Arc<dyn InstallationStore>,
    flows: BTreeMap<String, FlowEntry>,
    apps: AppCredentials,
    redirect_uri: Option<String>,
    node: String,
    policy: SharedTokenPolicy,
    auth: AuthContext,
    /// The access tokens this process holds (the credentials' fast path).
    memory: Arc<TokenMemory>,
}

impl fmt::Debug for Installations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Installations")
            .field("connectors", &self.inner.flows.keys().collect::<Vec<_>>())
            .field("apps", &self.inner.apps.names().collect::<Vec<_>>())
            .field("node", &self.inner.node)
            .field("store", &self.inner.store)
            .finish()
    }
}

/// The cloud of an install request that names none: the default
/// deployment when the definition's deployments are chosen by the cloud,
/// else `global`.
fn default_cloud(definition: &ConnectorDefinition) -> String {
    match &definition.deployments {
        Some(d) if d.parameter == CLOUD_SETTING => d.default.clone(),
        _ => "global".into(),
    }
}

/// What the connector's hooks see of an installation: its settings, its
/// tenant ([`TENANT_SETTING`]) and its cloud ([`CLOUD_SETTING`]).
fn installation_settings(inst: &Installation) -> Settings {
    let mut settings: Settings = inst
        .settings
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(tenant) = &inst.tenant_id {
        settings.insert(TENANT_SETTING.into(), Value::String(tenant.clone()));
    }
    settings.insert(CLOUD_SETTING.into(), Value::String(inst.cloud.clone()));
    settings
}

/// The callback's query string from a full callback URL, a `?query` or a
/// bare query.
fn callback_query(callback: &str) -> Result<String> {
    let callback = callback.trim();
    if callback.contains("://") {
        let url = Url::parse(callback).map_err(|_| {
            Error::invalid_argument(
                "callback",
                "must be the full URL the browser was sent back to, or its query string",
            )
        })?;
        return url.query().map(str::to_string).ok_or_else(|| {
            Error::invalid_argument(
                "callback",
                "the URL has no query string (expected `code` and `state`, or `error`)",
            )
        });
    }
    Ok(callback.trim_start_matches('?').to_string())
}

fn state_of(url: &Url) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
}

impl Installations {
    /// Start building the service.
    pub fn builder(engine: Engine, store: Arc<dyn InstallationStore>) -> InstallationsBuilder {
        InstallationsBuilder {
            engine,
            store,
            flows: Vec::new(),
            apps: AppCredentials::new(),
            redirect_uri: None,
            node: format!("node-{}", InstallationId::new_random()),
            policy: SharedTokenPolicy::default(),
            auth: None,
        }
    }

    /// The engine calls run on.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The installation store.
    pub fn store(&self) -> &Arc<dyn InstallationStore> {
        &self.inner.store
    }

    /// The shared auth services.
    pub fn auth(&self) -> &AuthContext {
        &self.inner.auth
    }

    fn flow(&self, connector_id: &str) -> Result<&FlowEntry> {
        self.inner.flows.get(connector_id).ok_or_else(|| {
            Error::invalid_argument(
                "connector",
                format!(
                    "connector `{connector_id}` cannot be installed here; installable: {}",
                    self.inner
                        .flows
                        .keys()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })
    }

    fn flow_context(
        &self,
        definition: &Arc<ConnectorDefinition>,
        inst: &Installation,
        secrets: &InstallationSecrets,
    ) -> Result<FlowContext> {
        // A variant without OAuth (its credential came with the install)
        // needs no app registration.
        let oauth = definition
            .variant(&inst.variant)
            .is_none_or(|v| v.uses_permissions());
        let app = match self.inner.apps.resolve(&inst.client, secrets) {
            Ok(app) => Some(app),
            Err(_) if !oauth => None,
            Err(e) => return Err(e),
        };
        let enabled = settings::enabled_methods(
            definition,
            &inst.variant,
            inst.settings.get(settings::ENABLED),
        )?;
        Ok(FlowContext {
            auth: self.inner.auth.clone(),
            app,
            redirect_uri: self.inner.redirect_uri.clone(),
            definition: definition.clone(),
            enabled_methods: enabled,
            secret_parameters: secret_parameters::of(definition, secrets),
        })
    }

    /// The consent link and the pending state to keep with it.
    fn begin(
        &self,
        flow: &dyn InstallFlow,
        fctx: &FlowContext,
        inst: &Installation,
    ) -> Result<(Option<Url>, Option<SecretString>)> {
        let url = flow.begin(fctx, inst)?;
        let pending = url
            .as_ref()
            .and_then(state_of)
            .and_then(|s| self.inner.auth.states.export(&s))
            .map(|p| p.to_secret_text());
        Ok((url, pending))
    }

    /// Drop every access token this process holds for `id`.
    fn forget_tokens(&self, id: InstallationId) {
        self.inner.auth.cache.forget_installation(id);
        self.inner.memory.forget(id);
    }

    /// Install a connector variant for an account: check the settings
    /// against the definition and the flow (tenant, cloud), store the
    /// installation as `PendingConsent` and return the consent link (the
    /// authorize URL for delegated sign-in, the admin consent URL for
    /// application installs).
    ///
    /// Installing twice for the same account, connector, variant and tenant
    /// (while the first is not uninstalled) is an [`ErrorKind::Conflict`]
    /// naming the existing installation.
    pub async fn install(&self, request: InstallRequest) -> Result<ConsentStarted> {
        let (flow, definition) = self.flow(&request.connector_id)?;
        if definition.variant(&request.variant).is_none() {
            return Err(Error::invalid_argument(
                "variant",
                format!(
                    "connector `{}` has no variant `{}`; it has: {}",
                    definition.id,
                    request.variant,
                    definition
                        .auth_variants
                        .iter()
                        .map(|v| v.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let mut checked =
            settings::check_settings(definition, &request.settings, flow.extra_settings())?;
        let secret_parameters = secret_parameters::take(definition, &mut checked)?;
        secret_parameters::require_credential(
            definition,
            &request.variant,
            &secret_parameters,
            &checked,
        )?;
        settings::enabled_methods(definition, &request.variant, checked.get(settings::ENABLED))?;
        let tenant = match checked.remove(TENANT_SETTING) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                return Err(Error::invalid_argument(TENANT_SETTING, "must be a string"));
            }
        };
        let mut inst = Installation::new(
            request.account,
            request.connector_id,
            definition.version.clone(),
            request.variant,
        )
        .with_tenant_id(tenant)
        .with_cloud(request.cloud.unwrap_or_else(|| default_cloud(definition)))
        .with_client(request.client);
        inst.settings = checked.into_iter().collect();
        inst.validate()?;
        flow.check(&mut inst)?;
        let mut secrets = InstallationSecrets {
            client_secret: request.client_secret,
            ..Default::default()
        };
        // Grant `refresh_token`: the refresh token the installer gave is
        // the grant itself, kept where every refresh reads it.
        let given_refresh_token = definition
            .variant(&inst.variant)
            .and_then(|v| v.oauth2.as_ref())
            .and_then(|o| o.refresh_token_parameter.as_deref());
        for (name, value) in secret_parameters {
            if Some(name.as_str()) == given_refresh_token {
                secrets.refresh_token = Some(SecretString::from(value));
            } else {
                secrets = secrets.with_secret_parameter(&name, value);
            }
        }
        let fctx = self.flow_context(definition, &inst, &secrets)?;
        let (url, pending) = self.begin(flow.as_ref(), &fctx, &inst)?;
        if url.is_none() {
            // The credential came with the install: nothing to consent to.
            inst.set_status(InstallationStatus::Active)?;
        }
        secrets.pending_authorization = pending;
        let created = self.inner.store.create(inst, secrets).await?;
        tracing::info!(installation = %created.id, connector = %created.connector_id, variant = %created.variant, status = %created.status, "installation created");
        Ok(ConsentStarted {
            installation: created,
            consent_url: url,
        })
    }

    /// The installation, or an [`ErrorKind::NotFound`] error.
    pub async fn get(&self, id: InstallationId) -> Result<Installation> {
        self.inner.store.get(id).await?.ok_or_else(|| not_found(id))
    }

    /// The account's installations, oldest first, tombstones included (an
    /// inner error means that one record could not be read).
    pub async fn list_by_account(&self, account: &str) -> Result<Vec<Result<Installation>>> {
        self.inner.store.list_by_account(account).await
    }

    async fn secrets(
        &self,
        id: InstallationId,
    ) -> Result<crate::install::Versioned<InstallationSecrets>> {
        self.inner
            .store
            .load_secrets(id)
            .await?
            .ok_or_else(|| not_found(id))
    }

    /// Change the record's status to `to`; `to` sees the current record
    /// first (see [`modify_record`]).
    async fn transition(
        &self,
        id: InstallationId,
        to: impl Fn(&Installation) -> Result<InstallationStatus>,
    ) -> Result<Installation> {
        let (stored, ()) = modify_record(self.inner.store.as_ref(), id, |inst| {
            let next = to(inst)?;
            inst.set_status(next)?;
            Ok(Edit::Write(()))
        })
        .await?;
        Ok(stored)
    }

    /// Finish consent with the callback alone: the installation is the one
    /// the callback's `state` names (see
    /// [`switchboard_oauth::state::installation_of`]), then as
    /// [`complete`](Self::complete). A callback without a state switchboard
    /// issued is an [`ErrorKind::InvalidArgument`] naming `state`.
    pub async fn complete_callback(&self, callback: &str) -> Result<Installation> {
        let query = callback_query(callback)?;
        let params = switchboard_oauth::callback::CallbackParams::parse(&query)?;
        let id = params
            .state
            .as_ref()
            .and_then(|s| switchboard_oauth::state::installation_of(s.secret()))
            .ok_or_else(|| {
                Error::invalid_argument(
                    "state",
                    "the callback carries no state issued by switchboard; pass the whole URL the browser came back to",
                )
            })?;
        self.complete(id, callback).await
    }

    /// Finish consent with the callback (the full URL the browser came back
    /// to, or its query string). The pending `state` is consumed whatever
    /// happens; the tokens land in the installation's secrets, and the
    /// installation becomes `Active`.
    pub async fn complete(&self, id: InstallationId, callback: &str) -> Result<Installation> {
        let query = callback_query(callback)?;
        let inst = self.get(id).await?;
        check_transition(inst.status, InstallationStatus::Active)?;
        if inst.status != InstallationStatus::PendingConsent {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!(
                    "installation {id} is {} and is not waiting for consent; re-authenticate it to get a new consent link",
                    inst.status
                ),
            )
            .with_field("status"));
        }
        let (flow, definition) = self.flow(&inst.connector_id)?;
        // Take the pending state out of the store first when the callback
        // presents it: it is one-time, even across nodes (the
        // compare-and-swap lets one taker win). A callback with another
        // state leaves it in place.
        let presented = switchboard_oauth::callback::CallbackParams::parse(&query)?
            .state
            .map(|s| s.secret().clone())
            .unwrap_or_default();
        let no_consent = || {
            Error::new(
                ErrorKind::Consent,
                format!(
                    "the callback does not belong to installation {id}'s consent in progress (its `state` is unknown, already used or replaced); start again from the latest consent link, or re-authenticate for a new one"
                ),
            )
            .with_field("state")
        };
        let taken = modify_secrets(self.inner.store.as_ref(), id, |secrets| {
            let Some(text) = secrets.take_pending_authorization() else {
                return Ok(Edit::Keep(None));
            };
            let pending = PendingState::from_secret_text(text.expose_secret())?;
            if !pending.matches(&presented) {
                return Err(no_consent());
            }
            Ok(Edit::Write(Some(pending)))
        })
        .await?;
        let Some(pending) = taken else {
            return Err(no_consent());
        };
        self.inner.auth.states.import(pending);
        let secrets = self.secrets(id).await?.value;
        let fctx = self.flow_context(definition, &inst, &secrets)?;
        let completed = flow.complete(&fctx, &inst, &query).await;
        let completed = match completed {
            Ok(c) => c,
            Err(err) => {
                tracing::warn!(installation = %id, error = %err, "consent was not completed");
                self.record_last_error(id, &err).await;
                return Err(err);
            }
        };
        if !completed.settings.is_empty() {
            // Settings the consent filled (`settings_from_token`) are
            // stored before the installation turns active and is used.
            modify_record(self.inner.store.as_ref(), id, |record| {
                for (name, value) in &completed.settings {
                    record.settings.insert(name.clone(), value.clone());
                }
                Ok(Edit::Write(()))
            })
            .await?;
        }
        let active = self
            .transition(id, |current| {
                if current.status != InstallationStatus::PendingConsent {
                    return Err(Error::new(
                        ErrorKind::Conflict,
                        format!(
                            "installation {id} changed to {} while consent was completed",
                            current.status
                        ),
                    ));
                }
                Ok(InstallationStatus::Active)
            })
            .await?;
        tracing::info!(installation = %id, tenant = ?completed.tenant_id, "consent completed; installation active");
        Ok(active)
    }

    /// Store a failed consent's words as the pending installation's
    /// `last_error` (best effort).
    async fn record_last_error(&self, id: InstallationId, err: &Error) {
        let recorded = modify_record(self.inner.store.as_ref(), id, |inst| {
            if inst.status != InstallationStatus::PendingConsent {
                return Ok(Edit::Keep(()));
            }
            inst.last_error = Some(err.message().to_string());
            Ok(Edit::Write(()))
        })
        .await;
        if let Err(e) = recorded {
            tracing::warn!(installation = %id, error = %e, "could not record why consent failed");
        }
    }

    /// Start consent again: the grant (tokens) is deleted, the installation
    /// goes back to `PendingConsent`, and a new consent link is returned
    /// (the previous link stops working). Allowed from `PendingConsent`,
    /// `Active` and `NeedsReauth`; a disabled installation must be enabled
    /// first.
    pub async fn reauthenticate(&self, id: InstallationId) -> Result<ConsentStarted> {
        let inst = self.get(id).await?;
        check_transition(inst.status, InstallationStatus::PendingConsent)?;
        if inst.status == InstallationStatus::Disabled {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!("installation {id} is disabled; enable it before re-authenticating"),
            )
            .with_field("status"));
        }
        let (flow, definition) = self.flow(&inst.connector_id)?;
        let secrets = self.secrets(id).await?.value;
        let fctx = self.flow_context(definition, &inst, &secrets)?;
        let (url, pending) = self.begin(flow.as_ref(), &fctx, &inst)?;
        if url.is_none() {
            return Err(generic_flow::no_consent_to_repeat(&inst));
        }
        modify_secrets(self.inner.store.as_ref(), id, |s| {
            let mut cleared = std::mem::take(s).without_grant();
            cleared.pending_authorization = pending.clone();
            *s = cleared;
            Ok(Edit::Write(()))
        })
        .await?;
        self.forget_tokens(id);
        let pending_inst = self
            .transition(id, |current| {
                if current.status == InstallationStatus::Disabled {
                    return Err(Error::new(
                        ErrorKind::Conflict,
                        format!("installation {id} was disabled meanwhile; enable it first"),
                    ));
                }
                Ok(InstallationStatus::PendingConsent)
            })
            .await?;
        Ok(ConsentStarted {
            installation: pending_inst,
            consent_url: url,
        })
    }

    /// Switch the installation off: calls are refused until it is enabled.
    /// The grant is kept.
    pub async fn disable(&self, id: InstallationId) -> Result<Installation> {
        self.transition(id, |_| Ok(InstallationStatus::Disabled))
            .await
    }

    /// Switch a disabled installation back on: `Active` when a grant is
    /// stored, otherwise `PendingConsent` (then re-authenticate it).
    pub async fn enable(&self, id: InstallationId) -> Result<Installation> {
        let has_grant = self.secrets(id).await?.value.has_grant();
        self.transition(id, |current| {
            if current.status != InstallationStatus::Disabled {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!(
                        "installation {id} is {}, not disabled; only a disabled installation can be enabled",
                        current.status
                    ),
                )
                .with_field("status"));
            }
            Ok(if has_grant {
                InstallationStatus::Active
            } else {
                InstallationStatus::PendingConsent
            })
        })
        .await
    }

    /// Remove the installation: status `Uninstalled` (final), then every
    /// secret (client secret, tokens, links, pending consent) is erased.
    /// The record stays as a tombstone.
    pub async fn uninstall(&self, id: InstallationId) -> Result<Installation> {
        self.revoke_grant(id).await;
        let gone = self
            .transition(id, |_| Ok(InstallationStatus::Uninstalled))
            .await?;
        self.inner.store.erase_secrets(id).await?;
        self.forget_tokens(id);
        tracing::info!(installation = %id, "installation uninstalled; secrets erased");
        Ok(gone)
    }

    /// Revoke the installation's grant where its flow can (a declared
    /// revocation URL). Best effort: a failure is logged, and the
    /// uninstall still erases every secret we hold.
    async fn revoke_grant(&self, id: InstallationId) {
        let revoked = async {
            let inst = self.get(id).await?;
            if inst.status == InstallationStatus::Uninstalled {
                return Ok(false);
            }
            let (flow, definition) = self.flow(&inst.connector_id)?;
            let secrets = self.secrets(id).await?.value;
            let fctx = self.flow_context(definition, &inst, &secrets)?;
            flow.revoke(&fctx, &inst).await
        };
        match revoked.await {
            Ok(true) => tracing::info!(installation = %id, "grant revoked at the identity service"),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(installation = %id, error = %e, "could not revoke the grant; erasing it anyway")
            }
        }
    }

    /// What [`Engine::call`] needs to act for the installation: endpoints of
    /// its cloud (from the connector's endpoints hook, as
    /// [`Engine::installation`] gives them), its settings, and its
    /// credential (shared across nodes, errors tracked). Only an `Active`
    /// installation has one.
    pub async fn context(&self, id: InstallationId) -> Result<InstallationContext> {
        let inst = self.get(id).await?;
        self.context_of(&inst).await
    }

    /// [`context`](Self::context) for an installation already read.
    pub async fn context_of(&self, inst: &Installation) -> Result<InstallationContext> {
        let id = inst.id;
        let refuse = |what: &str| {
            Err(Error::new(
                if inst.status == InstallationStatus::NeedsReauth {
                    ErrorKind::NeedsReauth
                } else {
                    ErrorKind::Conflict
                },
                format!("installation {id} is {}: {what}", inst.status),
            )
            .with_field("status"))
        };
        match inst.status {
            InstallationStatus::Active => {}
            InstallationStatus::PendingConsent => {
                return refuse(
                    "consent has not been completed; open the consent link (or re-authenticate for a new one)",
                );
            }
            InstallationStatus::NeedsReauth => {
                return refuse(&format!(
                    "{}; re-authenticate it",
                    inst.last_error
                        .as_deref()
                        .unwrap_or("the grant stopped working")
                ));
            }
            InstallationStatus::Disabled => return refuse("enable it first"),
            _ => {
                return refuse(
                    "install the connector again (an uninstalled installation is kept only as a record)",
                );
            }
        }
        let (flow, definition) = self.flow(&inst.connector_id)?;
        // A definition of another major version than the installation was
        // made with is reported, never applied silently (versioning).
        crate::versioning::require_usable(
            &inst.connector_id,
            crate::versioning::check_compatibility(&inst.connector_version, &definition.version)?,
        )?;
        let secrets = self.secrets(id).await?.value;
        let fctx = self.flow_context(definition, inst, &secrets)?;
        let inner = flow.credential(&fctx, inst)?;
        // A credential given at install (an API key) has nothing to refresh
        // and is already in the store: it is not shared again.
        let credential: Arc<dyn Credential> = if flow.shares_tokens(inst) {
            Arc::new(
                SharedTokenCredential::new(
                    inner,
                    self.inner.store.clone(),
                    id,
                    self.inner.node.clone(),
                )
                .with_policy(self.inner.policy)
                .with_memory(self.inner.memory.clone()),
            )
        } else {
            inner
        };
        let tracked = StatusTracking::new(credential, self.inner.store.clone(), id);
        // Endpoints come from the connector's hook for the installation's
        // cloud and settings, the one way every entry point gets them.
        let ctx = self.inner.engine.installation(
            id,
            &inst.connector_id,
            &inst.variant,
            installation_settings(inst),
            Arc::new(tracked),
        )?;
        // Limits a service keeps per app (Graph's global limit) are kept
        // per app registration: installations of one client id share them,
        // another registration has its own.
        Ok(match &fctx.app {
            Some(app) => ctx.with_limit_app(app.client_id()),
            None => ctx,
        })
    }

    /// One cheap read that proves the grant (chosen by the connector's
    /// flow), reported in words an administrator can act on. A
    /// re-authentication error found here is recorded on the installation
    /// like any other. Errors are returned only when the installation
    /// cannot be read.
    pub async fn test_connection(&self, id: InstallationId) -> Result<ConnectionReport> {
        let inst = self.get(id).await?;
        if inst.status != InstallationStatus::Active {
            let why = match inst.status {
                InstallationStatus::PendingConsent => {
                    "consent has not been completed: open the consent link, or re-authenticate for a new one".to_string()
                }
                InstallationStatus::NeedsReauth => format!(
                    "the installation needs re-authentication ({}): re-authenticate it",
                    inst.last_error
                        .as_deref()
                        .unwrap_or("the grant stopped working")
                ),
                InstallationStatus::Disabled => "the installation is disabled: enable it first".into(),
                _ => "the installation was uninstalled: install again".into(),
            };
            return Ok(ConnectionReport::not_ready(inst.status, why));
        }
        let (flow, definition) = self.flow(&inst.connector_id)?;
        let secrets = self.secrets(id).await?.value;
        let plan = self
            .flow_context(definition, &inst, &secrets)
            .and_then(|fctx| flow.connection_test(&fctx, &inst));
        let mut report = match plan {
            Err(err) => ConnectionReport::failed(None, &err),
            Ok(plan) => match self.context_of(&inst).await {
                Err(err) => ConnectionReport::failed(None, &err),
                Ok(ctx) => match plan {
                    Some(test) => {
                        match self
                            .inner
                            .engine
                            .call(&ctx, &test.method_id, test.args.clone())
                            .await
                        {
                            Ok(response) => ConnectionReport::passed(
                                Some(test.method_id.clone()),
                                format!(
                                    "the connection works: `{}` answered HTTP {} with the installation's grant",
                                    test.method_id,
                                    response.status()
                                ),
                            ),
                            Err(err) => {
                                ConnectionReport::failed(Some(test.method_id.clone()), &err)
                            }
                        }
                    }
                    None => match ctx
                        .credential()
                        .token(&TokenRequest::new(id, Vec::new()))
                        .await
                    {
                        Ok(_) => ConnectionReport::passed(
                            None,
                            "a token was issued for the installation's grant; no enabled method can be called without more input, so no read was made",
                        ),
                        Err(err) => ConnectionReport::failed(None, &err),
                    },
                },
            },
        };
        report.status = Some(self.get(id).await?.status);
        Ok(report)
    }
}
