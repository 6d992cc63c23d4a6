//! Installations: one platform account's install of one connector variant.
//!
//! An [`Installation`] is the plain record (who, which connector, which
//! cloud and tenant, settings, status); its secrets (client secret, access
//! and refresh tokens, stored continuation links) live beside it in
//! [`InstallationSecrets`], read and written separately with their own
//! version so that a token refresh never races a status change.
//!
//! Status changes follow [`check_transition`]: each status can be reached
//! only from the states listed there; anything else is an
//! [`ErrorKind::Conflict`] that says what is allowed.
//!
//! An [`InstallationStore`] keeps both, with compare-and-swap on versions
//! and a cross-node refresh lock with a time limit. [`MemoryInstallationStore`]
//! is the in-process implementation for tests; the `switchboard-store` crate
//! has SQLite and PostgreSQL.
//!
//! **Installing twice** for the same account, connector, variant and tenant
//! (while the first is not uninstalled) is refused by [`InstallationStore::create`]
//! with an [`ErrorKind::Conflict`] error whose message names the existing
//! installation's id: the caller decides whether to reuse it (get it,
//! re-authenticate or enable it) or to uninstall it first. An uninstalled
//! tombstone does not block a new install.
//!
//! ```
//! use switchboard_installations::install::{
//!     Installation, InstallationSecrets, InstallationStatus, InstallationStore,
//!     MemoryInstallationStore,
//! };
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = MemoryInstallationStore::new();
//! let new = Installation::new("acct-42", "microsoft365", "1.0.0", "delegated")
//!     .with_tenant_id(Some("contoso.onmicrosoft.com".into()));
//! let created = store.create(new.clone(), InstallationSecrets::default()).await.unwrap();
//! assert_eq!(created.status, InstallationStatus::PendingConsent);
//! assert_eq!(created.version, 1);
//!
//! // the same account, connector, variant and tenant again: a clear error
//! let again = Installation::new("acct-42", "microsoft365", "1.0.0", "delegated")
//!     .with_tenant_id(Some("contoso.onmicrosoft.com".into()));
//! let err = store.create(again, InstallationSecrets::default()).await.unwrap_err();
//! assert!(err.to_string().contains(&created.id.to_string()));
//!
//! let mut active = created.clone();
//! active.set_status(InstallationStatus::Active).unwrap();
//! let updated = store.update(&active).await.unwrap();
//! assert_eq!(updated.version, 2);
//! // a writer still holding version 1 loses
//! assert!(store.update(&active).await.is_err());
//! # });
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use switchboard_core::InstallationId;

use switchboard_core::credential::AccessToken;
use switchboard_core::error::{Error, ErrorKind, Result};

/// Where an installation is in its life.
///
/// ```
/// use switchboard_installations::install::InstallationStatus;
///
/// assert_eq!(InstallationStatus::NeedsReauth.as_str(), "needs_reauth");
/// assert_eq!("active".parse::<InstallationStatus>().unwrap(), InstallationStatus::Active);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstallationStatus {
    /// Stored, waiting for the user's or administrator's consent.
    PendingConsent,
    /// Consent given; methods can run.
    Active,
    /// The grant stopped working (expired, revoked, `invalid_grant`): a
    /// person must re-authenticate.
    NeedsReauth,
    /// Switched off by the platform; methods are refused until enabled.
    Disabled,
    /// Removed: secrets erased, the record kept as a tombstone. Final.
    Uninstalled,
}

impl InstallationStatus {
    /// Every status, in life-cycle order.
    pub const ALL: [InstallationStatus; 5] = [
        InstallationStatus::PendingConsent,
        InstallationStatus::Active,
        InstallationStatus::NeedsReauth,
        InstallationStatus::Disabled,
        InstallationStatus::Uninstalled,
    ];

    /// The stable lower-case name used in storage and output.
    pub fn as_str(self) -> &'static str {
        match self {
            InstallationStatus::PendingConsent => "pending_consent",
            InstallationStatus::Active => "active",
            InstallationStatus::NeedsReauth => "needs_reauth",
            InstallationStatus::Disabled => "disabled",
            InstallationStatus::Uninstalled => "uninstalled",
        }
    }

    /// The statuses this one may change to (see [`check_transition`]).
    ///
    /// ```
    /// use switchboard_installations::install::InstallationStatus::*;
    /// assert!(Uninstalled.allowed_next().is_empty());
    /// assert!(Disabled.allowed_next().contains(&Active));
    /// ```
    pub fn allowed_next(self) -> &'static [InstallationStatus] {
        use InstallationStatus::*;
        match self {
            // consent given; consent asked again (new URL); switched off; removed
            PendingConsent => &[Active, PendingConsent, Disabled, Uninstalled],
            // grant lost; re-authentication started; switched off; removed
            Active => &[NeedsReauth, PendingConsent, Disabled, Uninstalled],
            // re-authentication started; switched off; removed
            NeedsReauth => &[PendingConsent, Disabled, Uninstalled],
            // enabled with a grant (Active) or without one (PendingConsent); removed
            Disabled => &[Active, PendingConsent, Uninstalled],
            Uninstalled => &[],
        }
    }
}

impl fmt::Display for InstallationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for InstallationStatus {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        InstallationStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| {
                Error::invalid_argument(
                    "status",
                    format!(
                        "`{s}` is not a status; allowed: {}",
                        InstallationStatus::ALL.map(|s| s.as_str()).join(", ")
                    ),
                )
            })
    }
}

/// Whether an installation may go from `from` to `to`.
///
/// The allowed changes are [`InstallationStatus::allowed_next`]; any other
/// is an [`ErrorKind::Conflict`] that names both states and what is allowed.
///
/// ```
/// use switchboard_installations::install::{check_transition, InstallationStatus::*};
///
/// assert!(check_transition(PendingConsent, Active).is_ok());
/// let err = check_transition(Uninstalled, Active).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "an installation that is uninstalled cannot become active; uninstalled is final: install again"
/// );
/// ```
pub fn check_transition(from: InstallationStatus, to: InstallationStatus) -> Result<()> {
    let allowed = from.allowed_next();
    if allowed.contains(&to) {
        return Ok(());
    }
    let what_is_allowed = if allowed.is_empty() {
        format!("{from} is final: install again")
    } else {
        format!(
            "from {from} it can become: {}",
            allowed
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Err(Error::new(
        ErrorKind::Conflict,
        format!("an installation that is {from} cannot become {to}; {what_is_allowed}"),
    )
    .with_field("status"))
}

/// Which OAuth client an installation uses.
///
/// ```
/// use switchboard_installations::install::ClientCredentials;
///
/// let own = ClientCredentials::Installation { client_id: "11111111-2222-3333-4444-555555555555".into() };
/// let shared = ClientCredentials::Platform { name: "contoso-app".into() };
/// assert_ne!(own, shared);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ClientCredentials {
    /// The installation brings its own app registration: the client id is
    /// here, the client secret (if any) in [`InstallationSecrets::client_secret`].
    Installation {
        /// The application (client) id.
        client_id: String,
    },
    /// The platform's own app registration, configured once by the platform
    /// and referred to by name.
    Platform {
        /// The name the platform configured the credentials under.
        name: String,
    },
}

impl Default for ClientCredentials {
    fn default() -> Self {
        ClientCredentials::Platform {
            name: "default".into(),
        }
    }
}

/// One account's installation of one connector variant. Holds no secrets.
///
/// The store assigns `created_at`, `updated_at` and `version`; the id is
/// chosen by [`Installation::new`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Installation {
    /// The installation's id.
    pub id: InstallationId,
    /// The platform's reference of the customer account.
    pub account: String,
    /// The connector's id (`microsoft365`).
    pub connector_id: String,
    /// The connector version installed (semver text).
    pub connector_version: String,
    /// The auth variant (`delegated`, `application`).
    pub variant: String,
    /// The cloud's name (`global`, `usgov`, `custom`...). Custom endpoints
    /// go into `settings` (for example `login_url`, `graph_url`).
    pub cloud: String,
    /// The directory tenant (GUID or domain), when the variant has one.
    pub tenant_id: Option<String>,
    /// The install parameters, validated against the connector's definition.
    pub settings: BTreeMap<String, serde_json::Value>,
    /// Which OAuth client to use.
    pub client: ClientCredentials,
    /// Where the installation is in its life.
    pub status: InstallationStatus,
    /// The last error that changed the status, in words a person can act on.
    /// Never holds secrets.
    pub last_error: Option<String>,
    /// When the installation was created.
    pub created_at: SystemTime,
    /// When the record was last written.
    pub updated_at: SystemTime,
    /// The record's version: 1 after create, one more per update.
    pub version: u64,
}

impl Installation {
    /// A new installation record in [`InstallationStatus::PendingConsent`],
    /// in the `global` cloud, with the platform's default client.
    pub fn new(
        account: impl Into<String>,
        connector_id: impl Into<String>,
        connector_version: impl Into<String>,
        variant: impl Into<String>,
    ) -> Self {
        let now = SystemTime::now();
        Installation {
            id: InstallationId::new_random(),
            account: account.into(),
            connector_id: connector_id.into(),
            connector_version: connector_version.into(),
            variant: variant.into(),
            cloud: "global".into(),
            tenant_id: None,
            settings: BTreeMap::new(),
            client: ClientCredentials::default(),
            status: InstallationStatus::PendingConsent,
            last_error: None,
            created_at: now,
            updated_at: now,
            version: 0,
        }
    }

    /// The same record with a tenant.
    pub fn with_tenant_id(mut self, tenant_id: Option<String>) -> Self {
        self.tenant_id = tenant_id;
        self
    }

    /// The same record in another cloud.
    pub fn with_cloud(mut self, cloud: impl Into<String>) -> Self {
        self.cloud = cloud.into();
        self
    }

    /// The same record with a setting.
    pub fn with_setting(mut self, name: impl Into<String>, value: serde_json::Value) -> Self {
        self.settings.insert(name.into(), value);
        self
    }

    /// The same record with a client.
    pub fn with_client(mut self, client: ClientCredentials) -> Self {
        self.client = client;
        self
    }

    /// Move to `to` if [`check_transition`] allows it. Clears `last_error`
    /// when the installation becomes active.
    pub fn set_status(&mut self, to: InstallationStatus) -> Result<()> {
        check_transition(self.status, to)?;
        self.status = to;
        if to == InstallationStatus::Active {
            self.last_error = None;
        }
        Ok(())
    }

    /// Let an error the engine saw change the status: an error that needs a
    /// person to re-authenticate ([`ErrorKind::NeedsReauth`], e.g.
    /// `invalid_grant`) moves an active installation to
    /// [`InstallationStatus::NeedsReauth`] with the error's words as
    /// `last_error`. Returns whether the record changed (then store it with
    /// [`InstallationStore::update`]).
    ///
    /// ```
    /// use switchboard_core::{Error, ErrorKind};
    /// use switchboard_installations::install::{Installation, InstallationStatus};
    ///
    /// let mut inst = Installation::new("a", "microsoft365", "1.0.0", "delegated");
    /// inst.set_status(InstallationStatus::Active).unwrap();
    /// let err = Error::new(ErrorKind::NeedsReauth, "the grant was revoked; sign in again");
    /// assert!(inst.apply_error(&err));
    /// assert_eq!(inst.status, InstallationStatus::NeedsReauth);
    /// assert_eq!(inst.last_error.as_deref(), Some("the grant was revoked; sign in again"));
    /// ```
    pub fn apply_error(&mut self, err: &Error) -> bool {
        if err.kind() == ErrorKind::NeedsReauth && self.status == InstallationStatus::Active {
            self.status = InstallationStatus::NeedsReauth;
            self.last_error = Some(err.message().to_string());
            return true;
        }
        false
    }

    /// Check the fields a store relies on: non-empty identifiers of bounded
    /// length. Stores call this before writing.
    pub fn validate(&self) -> Result<()> {
        fn check(field: &str, value: &str) -> Result<()> {
            if value.trim().is_empty() {
                return Err(Error::invalid_argument(field, "must not be empty"));
            }
            if value.len() > 256 {
                return Err(Error::invalid_argument(
                    field,
                    "must be at most 256 bytes long",
                ));
            }
            if value.chars().any(char::is_control) {
                return Err(Error::invalid_argument(
                    field,
                    "must not contain control characters",
                ));
            }
            Ok(())
        }
        check("account", &self.account)?;
        check("connector_id", &self.connector_id)?;
        check("connector_version", &self.connector_version)?;
        check("variant", &self.variant)?;
        check("cloud", &self.cloud)?;
        if let Some(tenant) = &self.tenant_id {
            check("tenant_id", tenant)?;
        }
        match &self.client {
            ClientCredentials::Installation { client_id } => check("client.client_id", client_id),
            ClientCredentials::Platform { name } => check("client.name", name),
        }
    }

    /// The key that makes an installation unique among the ones not
    /// uninstalled: account, connector, variant and tenant.
    pub fn uniqueness_key(&self) -> (&str, &str, &str, &str) {
        (
            &self.account,
            &self.connector_id,
            &self.variant,
            self.tenant_id.as_deref().unwrap_or(""),
        )
    }

    /// The error [`InstallationStore::create`] returns when `existing` holds
    /// the same uniqueness key.
    pub fn duplicate_error(existing: &Installation) -> Error {
        Error::new(
            ErrorKind::Conflict,
            format!(
                "account `{}` already has installation {} of connector `{}` variant `{}` for tenant `{}` ({}); \
                 use that installation (get, re-authenticate or enable it) or uninstall it first",
                existing.account,
                existing.id,
                existing.connector_id,
                existing.variant,
                existing.tenant_id.as_deref().unwrap_or("-"),
                existing.status,
            ),
        )
    }
}

/// A value with the version it was read at.
#[derive(Debug, Clone)]
pub struct Versioned<T> {
    /// Version of the value; starts at 1 and grows by one per write.
    pub version: u64,
    /// The value.
    pub value: T,
}

/// The continuation name under which secrets written before
/// [`InstallationSecrets::pending_authorization`] existed kept the consent
/// in progress. Read (and upgraded) by
/// [`InstallationSecrets::take_pending_authorization`]; stores may use it to
/// keep the field inside their continuations column.
pub const LEGACY_PENDING_AUTHORIZATION: &str = "_pending_authorization";

/// Secret install parameters (`secret: true` in the definition: API keys,
/// personal access tokens, passwords) are kept in
/// [`InstallationSecrets::continuations`] under this prefix and the
/// parameter's name, so they are encrypted at rest like every secret
/// (the store binds each entry to the installation and the entry's name)
/// and never land in the plain settings.
pub const SECRET_PARAMETER_PREFIX: &str = "_parameter.";

/// An installation's secrets. Every secret is a redacting type: Debug shows
/// which fields are set, never their values.
///
/// ```
/// use switchboard_installations::install::InstallationSecrets;
///
/// let s = InstallationSecrets::default().with_refresh_token("rt-very-secret");
/// assert!(!format!("{s:?}").contains("very-secret"));
/// ```
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct InstallationSecrets {
    /// The installation's own client secret.
    pub client_secret: Option<SecretString>,
    /// The current access token and its expiry.
    pub access_token: Option<AccessToken>,
    /// The current refresh token.
    pub refresh_token: Option<SecretString>,
    /// The directory tenant the grant belongs to, once known.
    pub token_tenant_id: Option<String>,
    /// The scopes granted at the last authorization.
    pub granted_scopes: Vec<String>,
    /// Stored continuation links (next/delta links) by name.
    pub continuations: BTreeMap<String, SecretString>,
    /// The consent in progress: its one-time `state` and PKCE verifier
    /// (`switchboard_oauth::state::PendingState` as secret text), kept
    /// until the callback so that any node can complete it.
    pub pending_authorization: Option<SecretString>,
    /// When the secrets were last written (set by the store).
    pub updated_at: Option<SystemTime>,
}

impl InstallationSecrets {
    /// The same secrets with a client secret.
    pub fn with_client_secret(mut self, secret: impl Into<String>) -> Self {
        self.client_secret = Some(SecretString::from(secret.into()));
        self
    }

    /// The same secrets with a refresh token.
    pub fn with_refresh_token(mut self, token: impl Into<String>) -> Self {
        self.refresh_token = Some(SecretString::from(token.into()));
        self
    }

    /// The same secrets with an access token.
    pub fn with_access_token(mut self, token: AccessToken) -> Self {
        self.access_token = Some(token);
        self
    }

    /// The same secrets with a continuation link stored under `name`.
    pub fn with_continuation(mut self, name: impl Into<String>, link: impl Into<String>) -> Self {
        self.continuations
            .insert(name.into(), SecretString::from(link.into()));
        self
    }

    /// The same secrets with a consent in progress.
    pub fn with_pending_authorization(mut self, pending: SecretString) -> Self {
        self.pending_authorization = Some(pending);
        self
    }

    /// Take the consent in progress out of the secrets. Secrets written
    /// before it had its own field kept it as the continuation named
    /// [`LEGACY_PENDING_AUTHORIZATION`]; that entry is taken too (and so
    /// upgraded by the next write).
    pub fn take_pending_authorization(&mut self) -> Option<SecretString> {
        let legacy = self.continuations.remove(LEGACY_PENDING_AUTHORIZATION);
        self.pending_authorization.take().or(legacy)
    }

    /// The same secrets with a secret install parameter (an API key, a
    /// personal access token, a password: see [`SECRET_PARAMETER_PREFIX`]).
    ///
    /// ```
    /// use secrecy::ExposeSecret;
    /// use switchboard_installations::install::InstallationSecrets;
    ///
    /// let secrets = InstallationSecrets::default().with_secret_parameter("api_key", "k-123");
    /// assert_eq!(secrets.secret_parameter("api_key").unwrap().expose_secret(), "k-123");
    /// assert!(secrets.has_grant());
    /// assert!(!format!("{secrets:?}").contains("k-123"));
    /// ```
    pub fn with_secret_parameter(mut self, name: &str, value: impl Into<String>) -> Self {
        self.continuations.insert(
            format!("{SECRET_PARAMETER_PREFIX}{name}"),
            SecretString::from(value.into()),
        );
        self
    }

    /// A secret install parameter's value.
    pub fn secret_parameter(&self, name: &str) -> Option<&SecretString> {
        self.continuations
            .get(&format!("{SECRET_PARAMETER_PREFIX}{name}"))
    }

    /// Whether a grant is held (a refresh or access token, or a secret
    /// install parameter such as an API key).
    pub fn has_grant(&self) -> bool {
        self.refresh_token.is_some()
            || self.access_token.is_some()
            || self
                .continuations
                .keys()
                .any(|k| k.starts_with(SECRET_PARAMETER_PREFIX))
    }

    /// The same secrets with the grant and the links erased; the client
    /// secret and the secret install parameters are kept
    /// (re-authentication still needs them).
    pub fn without_grant(mut self) -> Self {
        self.access_token = None;
        self.refresh_token = None;
        self.token_tenant_id = None;
        self.granted_scopes.clear();
        self.continuations
            .retain(|name, _| name.starts_with(SECRET_PARAMETER_PREFIX));
        self.pending_authorization = None;
        self
    }
}

impl fmt::Debug for InstallationSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |b: bool| if b { "[redacted]" } else { "none" };
        f.debug_struct("InstallationSecrets")
            .field("client_secret", &set(self.client_secret.is_some()))
            .field("access_token", &set(self.access_token.is_some()))
            .field("refresh_token", &set(self.refresh_token.is_some()))
            .field("token_tenant_id", &self.token_tenant_id)
            .field("granted_scopes", &self.granted_scopes)
            .field(
                "continuations",
                &self.continuations.keys().collect::<Vec<_>>(),
            )
            .field(
                "pending_authorization",
                &set(self.pending_authorization.is_some()),
            )
            .finish()
    }
}

/// Where installations and their secrets live, shared by every node of a
/// platform.
///
/// Versions: [`Installation::version`] guards the record, the secrets have
/// their own version ([`Versioned::version`]); each write names the version
/// it replaces and loses with [`ErrorKind::Conflict`] when someone else wrote
/// first. Unknown installations are [`ErrorKind::NotFound`] on writes and
/// `None` on reads. Storage failures are [`ErrorKind::Storage`].
#[async_trait]
pub trait InstallationStore: Send + Sync + fmt::Debug {
    /// Store a new installation (status as given, version 1) with its first
    /// secrets (version 1). Refused with [`ErrorKind::Conflict`] (see
    /// [`Installation::duplicate_error`]) when an installation not
    /// uninstalled has the same [`Installation::uniqueness_key`], or the id
    /// is taken.
    async fn create(
        &self,
        installation: Installation,
        secrets: InstallationSecrets,
    ) -> Result<Installation>;

    /// The installation, if it exists.
    async fn get(&self, id: InstallationId) -> Result<Option<Installation>>;

    /// The account's installations, oldest first, tombstones included. The
    /// outer error means the store could not be read; an inner error means
    /// that one record could not be read (it names the id), the others are
    /// still returned.
    async fn list_by_account(&self, account: &str) -> Result<Vec<Result<Installation>>>;

    /// Write the record if it is still at `installation.version`; returns
    /// the stored record (version one more, `updated_at` set).
    async fn update(&self, installation: &Installation) -> Result<Installation>;

    /// The installation's secrets with their version, if the installation
    /// exists. Secrets that cannot be decrypted are an error for this
    /// installation only.
    async fn load_secrets(
        &self,
        id: InstallationId,
    ) -> Result<Option<Versioned<InstallationSecrets>>>;

    /// Write the secrets if they are still at version `expected`; returns
    /// the new version.
    async fn store_secrets(
        &self,
        id: InstallationId,
        expected: u64,
        secrets: InstallationSecrets,
    ) -> Result<u64>;

    /// Erase every secret of the installation (uninstall); returns the new
    /// secrets version.
    async fn erase_secrets(&self, id: InstallationId) -> Result<u64>;

    /// Take the installation's refresh lock for `holder` for at most `ttl`.
    /// `true` when taken (or already held by `holder`: the time limit is
    /// extended, which is how a live holder renews it); `false` when
    /// another holder has it and its time is not up. A crashed holder's
    /// lock expires `ttl` after its last renewal.
    async fn try_lock_refresh(
        &self,
        id: InstallationId,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool>;

    /// Release the refresh lock if `holder` has it (otherwise nothing).
    async fn unlock_refresh(&self, id: InstallationId, holder: &str) -> Result<()>;
}

/// An [`InstallationStore`] in process memory, for tests. Its Debug shows
/// only counts.
#[derive(Default)]
pub struct MemoryInstallationStore {
    inner: Mutex<MemoryState>,
}

#[derive(Default)]
struct MemoryState {
    records: HashMap<InstallationId, Installation>,
    secrets: HashMap<InstallationId, Versioned<InstallationSecrets>>,
    locks: HashMap<InstallationId, (String, SystemTime)>,
}

impl MemoryInstallationStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for MemoryInstallationStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryInstallationStore")
            .field("installations", &self.state().records.len())
            .finish()
    }
}

/// The error for writes to an installation that does not exist.
pub fn not_found(id: InstallationId) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("installation {id} does not exist"),
    )
}

/// The error for a write that lost a compare-and-swap. Its field is
/// [`VERSION_FIELD`], which is how [`crate::modify`] tells it from other
/// conflicts (a duplicate install, a refused transition).
pub fn version_conflict(id: InstallationId, what: &str, expected: u64, current: u64) -> Error {
    Error::new(
        ErrorKind::Conflict,
        format!(
            "the {what} of installation {id} changed (version {current}, expected {expected}); read it again and retry"
        ),
    )
    .with_field(VERSION_FIELD)
}

/// The field of [`version_conflict`] errors.
pub const VERSION_FIELD: &str = "version";

#[async_trait]
impl InstallationStore for MemoryInstallationStore {
    async fn create(
        &self,
        mut installation: Installation,
        mut secrets: InstallationSecrets,
    ) -> Result<Installation> {
        installation.validate()?;
        let mut state = self.state();
        if state.records.contains_key(&installation.id) {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!("installation {} already exists", installation.id),
            ));
        }
        if let Some(existing) = state.records.values().find(|other| {
            other.status != InstallationStatus::Uninstalled
                && other.uniqueness_key() == installation.uniqueness_key()
        }) {
            return Err(Installation::duplicate_error(existing));
        }
        let now = SystemTime::now();
        installation.created_at = now;
        installation.updated_at = now;
        installation.version = 1;
        secrets.updated_at = Some(now);
        state.records.insert(installation.id, installation.clone());
        state.secrets.insert(
            installation.id,
            Versioned {
                version: 1,
                value: secrets,
            },
        );
        Ok(installation)
    }

    async fn get(&self, id: InstallationId) -> Result<Option<Installation>> {
        Ok(self.state().records.get(&id).cloned())
    }

    async fn list_by_account(&self, account: &str) -> Result<Vec<Result<Installation>>> {
        let mut found: Vec<Installation> = self
            .state()
            .records
            .values()
            .filter(|r| r.account == account)
            .cloned()
            .collect();
        found.sort_by_key(|r| (r.created_at, r.id));
        Ok(found.into_iter().map(Ok).collect())
    }

    async fn update(&self, installation: &Installation) -> Result<Installation> {
        installation.validate()?;
        let mut state = self.state();
        let current = state
            .records
            .get(&installation.id)
            .ok_or_else(|| not_found(installation.id))?;
        if current.version != installation.version {
            return Err(version_conflict(
                installation.id,
                "record",
                installation.version,
                current.version,
            ));
        }
        if installation.status != InstallationStatus::Uninstalled
            && let Some(existing) = state.records.values().find(|other| {
                other.id != installation.id
                    && other.status != InstallationStatus::Uninstalled
                    && other.uniqueness_key() == installation.uniqueness_key()
            })
        {
            return Err(Installation::duplicate_error(existing));
        }
        let mut stored = installation.clone();
        stored.version += 1;
        stored.updated_at = SystemTime::now();
        state.records.insert(stored.id, stored.clone());
        Ok(stored)
    }

    async fn load_secrets(
        &self,
        id: InstallationId,
    ) -> Result<Option<Versioned<InstallationSecrets>>> {
        Ok(self.state().secrets.get(&id).cloned())
    }

    async fn store_secrets(
        &self,
        id: InstallationId,
        expected: u64,
        mut secrets: InstallationSecrets,
    ) -> Result<u64> {
        let mut state = self.state();
        let current = state.secrets.get_mut(&id).ok_or_else(|| not_found(id))?;
        if current.version != expected {
            return Err(version_conflict(id, "secrets", expected, current.version));
        }
        secrets.updated_at = Some(SystemTime::now());
        current.version += 1;
        current.value = secrets;
        Ok(current.version)
    }

    async fn erase_secrets(&self, id: InstallationId) -> Result<u64> {
        let mut state = self.state();
        let current = state.secrets.get_mut(&id).ok_or_else(|| not_found(id))?;
        current.version += 1;
        current.value = InstallationSecrets {
            updated_at: Some(SystemTime::now()),
            ..Default::default()
        };
        Ok(current.version)
    }

    async fn try_lock_refresh(
        &self,
        id: InstallationId,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool> {
        let mut state = self.state();
        if !state.records.contains_key(&id) {
            return Err(not_found(id));
        }
        let now = SystemTime::now();
        let free = match state.locks.get(&id) {
            Some((current, until)) => current == holder || *until <= now,
            None => true,
        };
        if free {
            state.locks.insert(
                id,
                (
                    holder.to_string(),
                    switchboard_core::bounds::later(now, ttl),
                ),
            );
        }
        Ok(free)
    }

    async fn unlock_refresh(&self, id: InstallationId, holder: &str) -> Result<()> {
        let mut state = self.state();
        if state.locks.get(&id).is_some_and(|(h, _)| h == holder) {
            state.locks.remove(&id);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use InstallationStatus::*;

    #[test]
    fn every_pair_of_statuses_is_allowed_exactly_as_listed() {
        let allowed = [
            (PendingConsent, Active),
            (PendingConsent, PendingConsent),
            (PendingConsent, Disabled),
            (PendingConsent, Uninstalled),
            (Active, NeedsReauth),
            (Active, PendingConsent),
            (Active, Disabled),
            (Active, Uninstalled),
            (NeedsReauth, PendingConsent),
            (NeedsReauth, Disabled),
            (NeedsReauth, Uninstalled),
            (Disabled, Active),
            (Disabled, PendingConsent),
            (Disabled, Uninstalled),
        ];
        for from in InstallationStatus::ALL {
            for to in InstallationStatus::ALL {
                let result = check_transition(from, to);
                if allowed.contains(&(from, to)) {
                    assert!(result.is_ok(), "{from} -> {to} should be allowed");
                } else {
                    let err = result.unwrap_err();
                    assert_eq!(err.kind(), ErrorKind::Conflict, "{from} -> {to}");
                    assert!(err.to_string().contains(&format!("cannot become {to}")));
                }
            }
        }
    }

    #[test]
    fn refused_transition_says_what_is_allowed() {
        let err = check_transition(NeedsReauth, Active).unwrap_err();
        assert_eq!(
            err.to_string(),
            "an installation that is needs_reauth cannot become active; from needs_reauth it can become: pending_consent, disabled, uninstalled"
        );
        assert_eq!(err.field(), Some("status"));
    }

    #[test]
    fn status_names_round_trip_and_unknown_names_are_refused() {
        for status in InstallationStatus::ALL {
            assert_eq!(
                status.as_str().parse::<InstallationStatus>().unwrap(),
                status
            );
        }
        let err = "enabled".parse::<InstallationStatus>().unwrap_err();
        assert_eq!(err.field(), Some("status"));
        assert!(err.to_string().contains("pending_consent, active"));
    }

    #[test]
    fn becoming_active_clears_the_last_error() {
        let mut inst = Installation::new("a", "c", "1.0.0", "delegated");
        inst.last_error = Some("consent was refused".into());
        inst.set_status(Active).unwrap();
        assert_eq!(inst.last_error, None);
        assert!(inst.set_status(Active).is_err());
        assert_eq!(inst.status, Active);
    }

    #[test]
    fn only_reauth_errors_on_active_installations_change_the_status() {
        let mut inst = Installation::new("a", "c", "1.0.0", "delegated");
        let reauth = Error::new(ErrorKind::NeedsReauth, "sign in again");
        assert!(!inst.apply_error(&reauth), "pending consent stays pending");
        inst.set_status(Active).unwrap();
        assert!(!inst.apply_error(&Error::new(ErrorKind::Throttled, "slow down")));
        assert_eq!(inst.status, Active);
        assert!(inst.apply_error(&reauth));
        assert_eq!(inst.status, NeedsReauth);
        assert!(
            !inst.apply_error(&reauth),
            "already needs re-authentication"
        );
    }

    #[test]
    fn validate_names_the_bad_field() {
        let inst = Installation::new("  ", "c", "1.0.0", "delegated");
        assert_eq!(inst.validate().unwrap_err().field(), Some("account"));
        let inst =
            Installation::new("a", "c", "1.0.0", "delegated").with_tenant_id(Some("x\ny".into()));
        assert_eq!(inst.validate().unwrap_err().field(), Some("tenant_id"));
    }

    #[test]
    fn secrets_debug_hides_values() {
        let s = InstallationSecrets::default()
            .with_client_secret("cs-1")
            .with_refresh_token("rt-1")
            .with_access_token(AccessToken::new("at-1", None))
            .with_continuation(
                "users",
                "https://graph.microsoft.com/v1.0/users?$skiptoken=st-1",
            );
        let text = format!("{s:?}");
        for secret in ["cs-1", "rt-1", "at-1", "st-1"] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(text.contains("users"));
    }

    #[tokio::test]
    async fn memory_store_refresh_lock_is_exclusive_until_released_or_expired() {
        let store = MemoryInstallationStore::new();
        let inst = store
            .create(
                Installation::new("a", "c", "1.0.0", "delegated"),
                InstallationSecrets::default(),
            )
            .await
            .unwrap();
        let long = Duration::from_secs(60);
        assert!(
            store
                .try_lock_refresh(inst.id, "node-a", long)
                .await
                .unwrap()
        );
        assert!(
            !store
                .try_lock_refresh(inst.id, "node-b", long)
                .await
                .unwrap()
        );
        store.unlock_refresh(inst.id, "node-b").await.unwrap();
        assert!(
            !store
                .try_lock_refresh(inst.id, "node-b", long)
                .await
                .unwrap()
        );
        store.unlock_refresh(inst.id, "node-a").await.unwrap();
        assert!(
            store
                .try_lock_refresh(inst.id, "node-b", Duration::ZERO)
                .await
                .unwrap()
        );
        // node-b's lock had no time at all: it has expired already
        assert!(
            store
                .try_lock_refresh(inst.id, "node-a", long)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn memory_store_uninstalled_tombstone_does_not_block_a_new_install() {
        let store = MemoryInstallationStore::new();
        let first = store
            .create(
                Installation::new("a", "c", "1.0.0", "delegated"),
                InstallationSecrets::default(),
            )
            .await
            .unwrap();
        let mut gone = first.clone();
        gone.set_status(Uninstalled).unwrap();
        store.update(&gone).await.unwrap();
        let second = store
            .create(
                Installation::new("a", "c", "1.0.0", "delegated"),
                InstallationSecrets::default(),
            )
            .await
            .unwrap();
        let listed = store.list_by_account("a").await.unwrap();
        assert_eq!(listed.len(), 2);
        assert_ne!(second.id, first.id);
    }
}
