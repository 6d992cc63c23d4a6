use std::fmt;
use std::sync::Arc;

use crate::connector::{Endpoints, Settings};
use crate::credential::Credential;
use crate::engine::hosts::HostPolicy;
use crate::engine::limit_key::InstallationKeys;
use crate::engine::once_per_copy::OncePerCopy;
use crate::installation_id::InstallationId;

/// For whom a call is made: one installation of one connector variant.
///
/// Cheap to clone. Debug shows ids, endpoints and setting *names* only; the
/// credential's own Debug must redact (the [`Credential`] types here do).
#[derive(Clone)]
pub struct InstallationContext {
    inner: Arc<ContextInner>,
}

#[derive(Clone)]
struct ContextInner {
    installation_id: InstallationId,
    connector_id: String,
    variant_id: String,
    endpoints: Endpoints,
    hosts: HostPolicy,
    credential: Arc<dyn Credential>,
    settings: Settings,
    limit_app: Option<Arc<str>>,
    /// The installation id as text, as the governor's lines name it.
    installation_text: Arc<str>,
    /// Limit keys of the installation, built on its first governed call
    /// (a changed copy starts empty).
    limit_keys: InstallationKeys,
    /// Where the connector and variant are in the engine of the first call.
    binding: Binding,
}

/// Where a context's connector and variant sit in the engine that first
/// called with it, kept so that engine's later calls skip looking them up
/// by name. Another engine looks them up itself on every call; a copy of
/// the context starts unbound.
#[derive(Debug, Default, Clone)]
pub(crate) struct Binding(OncePerCopy<Bound>);

/// A context's place in one engine: its connector's and variant's indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bound {
    /// The engine's [`super::Engine`] id.
    pub(crate) engine: u64,
    pub(crate) connector: usize,
    pub(crate) variant: usize,
}

impl Binding {
    /// The context's place in `engine`, if it was bound there.
    pub(crate) fn get(&self, engine: u64) -> Option<Bound> {
        self.0.get().copied().filter(|bound| bound.engine == engine)
    }

    /// Bind the context, unless it is bound already (to this engine or
    /// the first other one).
    pub(crate) fn bind(&self, bound: Bound) {
        self.0.set(bound);
    }
}

impl InstallationContext {
    /// A context from its parts. Prefer [`Engine::installation`], which
    /// checks the connector and variant and asks the connector for the
    /// endpoints.
    pub fn new(
        installation_id: InstallationId,
        connector_id: impl Into<String>,
        variant_id: impl Into<String>,
        endpoints: Endpoints,
        credential: Arc<dyn Credential>,
    ) -> Self {
        let hosts = HostPolicy::new(&endpoints);
        InstallationContext {
            inner: Arc::new(ContextInner {
                installation_id,
                connector_id: connector_id.into(),
                variant_id: variant_id.into(),
                endpoints,
                hosts,
                credential,
                settings: Settings::new(),
                limit_app: None,
                installation_text: Arc::from(installation_id.to_string()),
                limit_keys: InstallationKeys::default(),
                binding: Binding::default(),
            }),
        }
    }

    /// The same context with these settings (install parameters).
    pub fn with_settings(mut self, settings: Settings) -> Self {
        let inner = Arc::make_mut(&mut self.inner);
        inner.settings = settings;
        inner.limit_keys = InstallationKeys::default();
        self
    }

    /// The same context with the app its limits are kept per (the app
    /// registration's client id, say): installations of one app share
    /// the limits the service keeps per app. Without it, every
    /// installation of the connector counts as one app.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use switchboard_core::connector::Endpoints;
    /// # use switchboard_core::credential::{AccessToken, StaticCredential};
    /// # use switchboard_core::engine::InstallationContext;
    /// # use switchboard_core::installation_id::InstallationId;
    /// let endpoints = Endpoints {
    ///     base_url: "https://api.example.com".parse().unwrap(),
    ///     allowed_hosts: vec!["api.example.com".into()],
    /// };
    /// let ctx = InstallationContext::new(InstallationId::new_random(), "example", "token", endpoints,
    ///     Arc::new(StaticCredential::new(AccessToken::new("t", None))))
    ///     .with_limit_app("57a2cc41-000f-4a18-a496-32da721798be");
    /// assert_eq!(ctx.limit_app(), Some("57a2cc41-000f-4a18-a496-32da721798be"));
    /// ```
    pub fn with_limit_app(mut self, app: impl Into<String>) -> Self {
        let inner = Arc::make_mut(&mut self.inner);
        inner.limit_app = Some(Arc::from(app.into()));
        inner.limit_keys = InstallationKeys::default();
        self
    }

    /// The app limits are kept per, if the platform named one.
    pub fn limit_app(&self) -> Option<&str> {
        self.inner.limit_app.as_deref()
    }

    /// The installation id.
    pub fn installation_id(&self) -> InstallationId {
        self.inner.installation_id
    }

    /// The connector id.
    pub fn connector_id(&self) -> &str {
        &self.inner.connector_id
    }

    /// The auth variant id.
    pub fn variant_id(&self) -> &str {
        &self.inner.variant_id
    }

    /// Base URL and allowed hosts.
    pub fn endpoints(&self) -> &Endpoints {
        &self.inner.endpoints
    }

    /// The host allow-list built from the endpoints.
    pub fn hosts(&self) -> &HostPolicy {
        &self.inner.hosts
    }

    /// The installation's settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The credential.
    pub fn credential(&self) -> &Arc<dyn Credential> {
        &self.inner.credential
    }

    /// The installation id as text (the governor's fair lines use it).
    pub(crate) fn installation_text(&self) -> &Arc<str> {
        &self.inner.installation_text
    }

    /// The limit keys this installation's calls share.
    pub(crate) fn limit_keys(&self) -> &InstallationKeys {
        &self.inner.limit_keys
    }

    /// Where the connector and variant are in the engine of the first call.
    pub(crate) fn binding(&self) -> &Binding {
        &self.inner.binding
    }
}

impl fmt::Debug for InstallationContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstallationContext")
            .field("installation_id", &self.inner.installation_id)
            .field("connector_id", &self.inner.connector_id)
            .field("variant_id", &self.inner.variant_id)
            .field(
                "base_url",
                &self.inner.endpoints.base_url.origin().ascii_serialization(),
            )
            .field("hosts", &self.inner.hosts)
            .field("credential", &self.inner.credential)
            .field("settings", &self.inner.settings.keys().collect::<Vec<_>>())
            .finish()
    }
}
