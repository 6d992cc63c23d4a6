//! [`Switchboard`]: one object per process that owns the engine, the
//! connectors, the store and the installation lifecycle.

use std::fmt;

use switchboard_core::governor::Governor;
use switchboard_core::{Engine, EngineBuilder, Error, ErrorKind, InstallationId, Registry, Result};
use switchboard_installations::install::{Installation, InstallationStatus};
use switchboard_installations::installable::InstallableConnector;
use switchboard_installations::lifecycle::apps::{AppCredential, AppCredentials};
use switchboard_installations::lifecycle::{ConsentStarted, InstallRequest, Installations};

use switchboard_sync::{Receiver, SubscriptionManager, Syncer};

use crate::client::InstallationClient;
use crate::store::{StoreParts, SwitchboardStore};

/// The front door: install connectors for your customers' accounts and get
/// a client for an installation. Cheap to clone; make one per process.
///
/// ```
/// use switchboard::Switchboard;
/// use switchboard_installations::install::MemoryInstallationStore;
///
/// let sb = Switchboard::builder()
///     .store(MemoryInstallationStore::new())
///     .connector(switchboard_microsoft365::connector().unwrap())
///     .build()
///     .unwrap();
/// assert!(sb.engine().registry().get("microsoft365").is_some());
/// ```
#[derive(Clone)]
pub struct Switchboard {
    installations: Installations,
    syncer: Syncer,
    subscriptions: SubscriptionManager,
    receiver: Receiver,
}

impl fmt::Debug for Switchboard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Switchboard")
            .field("installations", &self.installations)
            .finish()
    }
}

/// Builds a [`Switchboard`]: a store and at least one connector are
/// required; everything else has a default.
#[must_use]
pub struct SwitchboardBuilder {
    store: Option<StoreParts>,
    connectors: Vec<InstallableConnector>,
    apps: AppCredentials,
    redirect_uri: Option<String>,
    node: Option<String>,
    shared_limits: bool,
    engine: Box<dyn FnOnce(EngineBuilder) -> EngineBuilder + Send>,
}

impl fmt::Debug for SwitchboardBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SwitchboardBuilder")
            .field("store", &self.store)
            .field("connectors", &self.connectors)
            .field("apps", &self.apps.names().collect::<Vec<_>>())
            .field("redirect_uri", &self.redirect_uri)
            .field("shared_limits", &self.shared_limits)
            .finish_non_exhaustive()
    }
}

impl SwitchboardBuilder {
    /// Where installations, their (encrypted) secrets and sync leases
    /// live: a `switchboard_store::Store` (SQLite or PostgreSQL), the
    /// in-memory store, or [`StoreParts`] of your own.
    pub fn store(mut self, store: impl SwitchboardStore) -> Self {
        self.store = Some(store.into_parts());
        self
    }

    /// Register a connector (its definition, hooks and install flow) once.
    pub fn connector(mut self, connector: InstallableConnector) -> Self {
        self.connectors.push(connector);
        self
    }

    /// The platform's app registration, used by installs that do not bring
    /// their own (`InstallRequest::platform_app("default")` or no choice).
    pub fn app(mut self, app: AppCredential) -> Self {
        self.apps.insert("default", app);
        self
    }

    /// Several named app registrations (for example one per cloud).
    pub fn apps(mut self, apps: AppCredentials) -> Self {
        self.apps = apps;
        self
    }

    /// The redirect URI registered for the apps: where consent returns.
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.redirect_uri = Some(uri.into());
        self
    }

    /// This process's name in refresh, sync and limit leases (default: a
    /// random id).
    pub fn node(mut self, node: impl Into<String>) -> Self {
        self.node = Some(node.into());
        self
    }

    /// Keep the connectors' request limits (Outlook's 4 requests in flight
    /// per mailbox, Graph's global budget...) in this process alone.
    ///
    /// By default, a store that several nodes share
    /// (`switchboard_store::Store` on SQLite or PostgreSQL, or
    /// [`StoreParts::with_limits`](crate::store::StoreParts::with_limits))
    /// also shares the limits: every `Switchboard` on the store keeps them
    /// together through leases in it (see `switchboard_core::governor`).
    /// A store in memory keeps them per process either way. A governor
    /// given through [`engine`](Self::engine) replaces both.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use switchboard::{KeyRing, Store, Switchboard};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let spec = format!("sqlite:{}", dir.path().join("s.db").display());
    /// let store = Store::open(&spec, KeyRing::generate("k1").unwrap()).await.unwrap();
    /// let on = |local: bool| {
    ///     let builder = Switchboard::builder()
    ///         .store(store.clone())
    ///         .connector(switchboard_microsoft365::connector().unwrap())
    ///         .node("web-1");
    ///     if local { builder.local_limits() } else { builder }.build().unwrap()
    /// };
    /// // shared through the store: the governor leases as this node
    /// assert_eq!(on(false).engine().governor().node(), "web-1/limits");
    /// assert_ne!(on(true).engine().governor().node(), "web-1/limits");
    /// # });
    /// ```
    pub fn local_limits(mut self) -> Self {
        self.shared_limits = false;
        self
    }

    /// Adjust the engine: retry policy, deadlines, response caps, page
    /// limits (see [`EngineBuilder`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard::Switchboard;
    /// use switchboard_installations::install::MemoryInstallationStore;
    ///
    /// let sb = Switchboard::builder()
    ///     .store(MemoryInstallationStore::new())
    ///     .connector(switchboard_microsoft365::connector().unwrap())
    ///     .engine(|e| e.attempt_deadline(Some(Duration::from_secs(20))).max_pages(500))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(sb.engine().max_pages(), 500);
    /// ```
    pub fn engine(
        mut self,
        configure: impl FnOnce(EngineBuilder) -> EngineBuilder + Send + 'static,
    ) -> Self {
        self.engine = Box::new(configure);
        self
    }

    /// Check the parts and build. A missing store, no connector, or two
    /// connectors with one id are [`ErrorKind::Configuration`] errors.
    pub fn build(self) -> Result<Switchboard> {
        let store = self.store.ok_or_else(|| {
            Error::new(
                ErrorKind::Configuration,
                "a switchboard needs a store: call .store(..) with a switchboard_store::Store",
            )
        })?;
        if self.connectors.is_empty() {
            return Err(Error::new(
                ErrorKind::Configuration,
                "a switchboard needs at least one connector: call .connector(..), for example with switchboard_microsoft365::connector()?",
            ));
        }
        let mut registry = Registry::new();
        for connector in &self.connectors {
            registry.register(connector.connector().clone())?;
        }
        let mut engine = Engine::builder(registry);
        if self.shared_limits
            && let Some(limits) = store.limits()
        {
            let mut governor = Governor::builder().store(limits.clone());
            if let Some(node) = &self.node {
                governor = governor.node(format!("{node}/limits"));
            }
            engine = engine.governor(governor.build());
        }
        let engine = (self.engine)(engine).build()?;
        let mut syncer = Syncer::new(
            engine.clone(),
            store.installations().clone(),
            store.sync_leases().clone(),
        );
        let mut installations = Installations::builder(engine, store.installations().clone())
            .app_credentials(self.apps);
        for connector in &self.connectors {
            if let Some(flow) = connector.flow() {
                if flow.connector_id() != connector.id() {
                    return Err(Error::new(
                        ErrorKind::Configuration,
                        format!(
                            "connector `{}` came with the install flow of `{}`",
                            connector.id(),
                            flow.connector_id()
                        ),
                    ));
                }
                installations = installations.flow(flow.clone());
            }
        }
        if let Some(uri) = self.redirect_uri {
            installations = installations.redirect_uri(uri);
        }
        let receiver = Receiver::new(store.subscriptions().clone(), store.installations().clone());
        let mut holder = None;
        if let Some(node) = self.node {
            syncer = syncer.with_holder(format!("{node}/sync"));
            holder = Some(format!("{node}/subscriptions"));
            installations = installations.node(node);
        }
        let installations = installations.build()?;
        let mut subscriptions = SubscriptionManager::new(
            installations.clone(),
            store.subscriptions().clone(),
            store.sync_leases().clone(),
        );
        if let Some(holder) = holder {
            subscriptions = subscriptions.with_holder(holder);
        }
        Ok(Switchboard {
            installations,
            syncer,
            subscriptions,
            receiver,
        })
    }
}

impl Switchboard {
    /// A builder.
    pub fn builder() -> SwitchboardBuilder {
        SwitchboardBuilder {
            store: None,
            connectors: Vec::new(),
            apps: AppCredentials::new(),
            redirect_uri: None,
            node: None,
            shared_limits: true,
            engine: Box::new(|e| e),
        }
    }

    /// Install a connector variant for an account. An OAuth variant's
    /// installation is stored as pending consent: send the person who
    /// consents to [`ConsentStarted::consent_url`] and hand the URL they
    /// come back to to [`complete`](Self::complete). A variant whose
    /// credential is a secret install parameter (`api_key`,
    /// `bearer_token`, `basic`) needs no consent: the installation is
    /// `Active` at once and `consent_url` is `None`.
    pub async fn install(&self, request: InstallRequest) -> Result<ConsentStarted> {
        self.installations.install(request).await
    }

    /// Finish an installation with the callback URL (or its query): the
    /// installation is the one the callback's `state` names. The state is
    /// checked whole, once; the tokens land encrypted in the store and the
    /// installation becomes active.
    pub async fn complete(&self, callback: &str) -> Result<Installation> {
        self.installations.complete_callback(callback).await
    }

    /// A client for an active installation: its cloud's endpoints, its
    /// settings and its credential, with the engine. Errors name why an
    /// installation cannot be used (pending consent, needs
    /// re-authentication, disabled, uninstalled).
    pub async fn installation(&self, id: InstallationId) -> Result<InstallationClient> {
        let installation = self.installations.get(id).await?;
        self.client_for(installation).await
    }

    /// The client for the account's active installation of a connector.
    /// More than one active installation (several variants or tenants) is
    /// an [`ErrorKind::Conflict`] listing them: pick one by id.
    pub async fn installation_for(
        &self,
        account: &str,
        connector_id: &str,
    ) -> Result<InstallationClient> {
        let mut found = Vec::new();
        for listed in self.installations.list_by_account(account).await? {
            let inst = listed?;
            if inst.connector_id == connector_id && inst.status == InstallationStatus::Active {
                found.push(inst);
            }
        }
        match found.len() {
            0 => Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "account `{}` has no active installation of `{}`",
                    switchboard_core::untrusted_text::sanitize_identifier(account),
                    switchboard_core::untrusted_text::sanitize_identifier(connector_id),
                ),
            )),
            1 => {
                let inst = found.remove(0);
                self.client_for(inst).await
            }
            _ => Err(Error::new(
                ErrorKind::Conflict,
                format!(
                    "account `{}` has {} active installations of `{}`; pick one by id: {}",
                    switchboard_core::untrusted_text::sanitize_identifier(account),
                    found.len(),
                    connector_id,
                    found
                        .iter()
                        .map(|i| format!("{} ({})", i.id, i.variant))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }

    async fn client_for(&self, installation: Installation) -> Result<InstallationClient> {
        let context = self.installations.context_of(&installation).await?;
        Ok(InstallationClient::new(
            self.installations.clone(),
            self.syncer.clone(),
            installation,
            context,
        ))
    }

    /// The lifecycle service underneath: re-authenticate, disable, enable,
    /// uninstall, list.
    pub fn installations(&self) -> &Installations {
        &self.installations
    }

    /// Change-notification subscriptions: create, renew (`renew_due`, safe
    /// on every node), lifecycle events. See docs/notifications.md.
    pub fn subscriptions(&self) -> &SubscriptionManager {
        &self.subscriptions
    }

    /// The notification receiver to mount in your HTTP server: Graph's
    /// validation handshake and verified notification batches.
    pub fn receiver(&self) -> &Receiver {
        &self.receiver
    }

    /// The engine underneath.
    pub fn engine(&self) -> &Engine {
        self.installations.engine()
    }
}
