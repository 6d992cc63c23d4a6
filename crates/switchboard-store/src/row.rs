//! Turning installations and their secrets into column values and back,
//! shared by the SQLite and PostgreSQL stores (both use the same schema,
//! see [`crate::schema`]).
//!
//! Timestamps are Unix milliseconds. Secret columns hold the key ring's
//! `v1:<key_id>:<base64>` text (see [`crate::keyring`]); the associated data
//! names the column (`client_secret`, `access_token`, `refresh_token`,
//! `continuation:<name>`; the consent in progress is the continuation
//! `_pending_authorization`).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use secrecy::{ExposeSecret, SecretString};
use switchboard_core::InstallationId;
use switchboard_core::credential::AccessToken;
use switchboard_core::untrusted_text::sanitize_identifier;
use switchboard_core::{Error, ErrorKind, Result};
use switchboard_installations::install::{
    ClientCredentials, Installation, InstallationSecrets, LEGACY_PENDING_AUTHORIZATION,
};

use crate::keyring::KeyRing;

/// Unix milliseconds of `t` (0 before the epoch).
pub(crate) fn to_millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The time of Unix milliseconds `ms` (negative values are the epoch).
pub(crate) fn from_millis(ms: i64) -> SystemTime {
    switchboard_core::bounds::later(
        UNIX_EPOCH,
        Duration::from_millis(u64::try_from(ms).unwrap_or(0)),
    )
}

/// A row that cannot be read. `id` comes from the row itself (it may be
/// the damaged part), so it is quoted made safe.
fn corrupt(id: &str, what: &str) -> Error {
    Error::new(
        ErrorKind::Storage,
        format!(
            "installation {} has an unreadable stored record: {what}",
            sanitize_identifier(id)
        ),
    )
}

/// The record columns of an installation.
#[derive(Debug, Clone)]
pub(crate) struct RecordRow {
    pub id: String,
    pub account: String,
    pub connector_id: String,
    pub connector_version: String,
    pub variant: String,
    pub cloud: String,
    pub tenant_id: Option<String>,
    /// `tenant_id` or the empty string: the unique index needs a non-null value.
    pub tenant_key: String,
    pub settings: String,
    pub client: String,
    pub status: String,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

impl RecordRow {
    pub(crate) fn from_installation(inst: &Installation) -> Result<Self> {
        let settings = serde_json::to_string(&inst.settings)
            .map_err(|e| Error::invalid_argument("settings", format!("cannot be stored: {e}")))?;
        let client = serde_json::to_string(&inst.client)
            .map_err(|e| Error::invalid_argument("client", format!("cannot be stored: {e}")))?;
        Ok(RecordRow {
            id: inst.id.to_string(),
            account: inst.account.clone(),
            connector_id: inst.connector_id.clone(),
            connector_version: inst.connector_version.clone(),
            variant: inst.variant.clone(),
            cloud: inst.cloud.clone(),
            tenant_id: inst.tenant_id.clone(),
            tenant_key: inst.tenant_id.clone().unwrap_or_default(),
            settings,
            client,
            status: inst.status.as_str().to_string(),
            last_error: inst.last_error.clone(),
            created_at: to_millis(inst.created_at),
            updated_at: to_millis(inst.updated_at),
            version: i64::try_from(inst.version).unwrap_or(i64::MAX),
        })
    }

    pub(crate) fn into_installation(self) -> Result<Installation> {
        let id = self
            .id
            .parse::<InstallationId>()
            .map_err(|_| corrupt(&self.id, "the id is not a UUID"))?;
        let status = self.status.parse().map_err(|_| {
            corrupt(
                &self.id,
                &format!("unknown status `{}`", sanitize_identifier(&self.status)),
            )
        })?;
        let settings: BTreeMap<String, serde_json::Value> = serde_json::from_str(&self.settings)
            .map_err(|_| corrupt(&self.id, "the settings are not a JSON object"))?;
        let client: ClientCredentials = serde_json::from_str(&self.client)
            .map_err(|_| corrupt(&self.id, "the client credentials are not readable"))?;
        let version = u64::try_from(self.version)
            .map_err(|_| corrupt(&self.id, "the version is negative"))?;
        let mut inst = Installation::new(
            self.account,
            self.connector_id,
            self.connector_version,
            self.variant,
        )
        .with_cloud(self.cloud)
        .with_tenant_id(self.tenant_id)
        .with_client(client);
        inst.id = id;
        inst.settings = settings;
        inst.status = status;
        inst.last_error = self.last_error;
        inst.created_at = from_millis(self.created_at);
        inst.updated_at = from_millis(self.updated_at);
        inst.version = version;
        Ok(inst)
    }
}

/// The secret columns of an installation, encrypted.
#[derive(Debug, Clone, Default)]
pub(crate) struct SecretRow {
    pub client_secret: Option<String>,
    pub access_token: Option<String>,
    pub access_token_expires_at: Option<i64>,
    pub refresh_token: Option<String>,
    pub token_tenant_id: Option<String>,
    /// JSON array of scope names.
    pub granted_scopes: String,
    /// JSON object: continuation name → encrypted link.
    pub continuations: String,
    pub secrets_updated_at: Option<i64>,
}

pub(crate) const CLIENT_SECRET: &str = "client_secret";
pub(crate) const ACCESS_TOKEN: &str = "access_token";
pub(crate) const REFRESH_TOKEN: &str = "refresh_token";

fn continuation_field(name: &str) -> String {
    format!("continuation:{name}")
}

impl SecretRow {
    /// Encrypt `secrets` of installation `id` under the ring's newest key.
    pub(crate) fn encrypt(
        ring: &KeyRing,
        id: InstallationId,
        secrets: &InstallationSecrets,
        now: SystemTime,
    ) -> Result<Self> {
        let enc = |field: &str, value: &SecretString| {
            ring.encrypt(id, field, value.expose_secret().as_bytes())
        };
        let mut continuations = BTreeMap::new();
        for (name, link) in &secrets.continuations {
            continuations.insert(name.clone(), enc(&continuation_field(name), link)?);
        }
        // The consent in progress is kept in the continuations column (one
        // encrypted column fewer to migrate), under the name it always had
        // there; reading it back puts it in its own field again.
        if let Some(pending) = &secrets.pending_authorization {
            continuations.insert(
                LEGACY_PENDING_AUTHORIZATION.to_string(),
                enc(&continuation_field(LEGACY_PENDING_AUTHORIZATION), pending)?,
            );
        }
        Ok(SecretRow {
            client_secret: secrets
                .client_secret
                .as_ref()
                .map(|s| enc(CLIENT_SECRET, s))
                .transpose()?,
            access_token: secrets
                .access_token
                .as_ref()
                .map(|t| ring.encrypt(id, ACCESS_TOKEN, t.secret().as_bytes()))
                .transpose()?,
            access_token_expires_at: secrets
                .access_token
                .as_ref()
                .and_then(|t| t.expires_at())
                .map(to_millis),
            refresh_token: secrets
                .refresh_token
                .as_ref()
                .map(|s| enc(REFRESH_TOKEN, s))
                .transpose()?,
            token_tenant_id: secrets.token_tenant_id.clone(),
            granted_scopes: serde_json::to_string(&secrets.granted_scopes)
                .unwrap_or_else(|_| "[]".into()),
            continuations: serde_json::to_string(&continuations).unwrap_or_else(|_| "{}".into()),
            secrets_updated_at: Some(to_millis(now)),
        })
    }

    /// Decrypt the row of installation `id`.
    pub(crate) fn decrypt(
        &self,
        ring: &KeyRing,
        id: InstallationId,
    ) -> Result<InstallationSecrets> {
        let dec = |field: &str, stored: &str| -> Result<SecretString> {
            let bytes = ring.decrypt(id, field, stored)?;
            let text = std::str::from_utf8(&bytes).map_err(|_| {
                Error::new(
                    ErrorKind::Storage,
                    format!("secret `{field}` of installation {id} is not text"),
                )
            })?;
            Ok(SecretString::from(text.to_string()))
        };
        let mut secrets = InstallationSecrets::default();
        if let Some(stored) = &self.client_secret {
            secrets.client_secret = Some(dec(CLIENT_SECRET, stored)?);
        }
        if let Some(stored) = &self.access_token {
            let token = dec(ACCESS_TOKEN, stored)?;
            secrets.access_token = Some(AccessToken::new(
                token.expose_secret().to_string(),
                self.access_token_expires_at.map(from_millis),
            ));
        }
        if let Some(stored) = &self.refresh_token {
            secrets.refresh_token = Some(dec(REFRESH_TOKEN, stored)?);
        }
        secrets.token_tenant_id = self.token_tenant_id.clone();
        secrets.granted_scopes = serde_json::from_str(&self.granted_scopes)
            .map_err(|_| corrupt(&id.to_string(), "the granted scopes are not a JSON array"))?;
        let links: BTreeMap<String, String> = serde_json::from_str(&self.continuations)
            .map_err(|_| corrupt(&id.to_string(), "the continuations are not a JSON object"))?;
        for (name, stored) in links {
            let link = dec(&continuation_field(&name), &stored)?;
            secrets.continuations.insert(name, link);
        }
        secrets.pending_authorization = secrets.continuations.remove(LEGACY_PENDING_AUTHORIZATION);
        secrets.updated_at = self.secrets_updated_at.map(from_millis);
        Ok(secrets)
    }

    /// Whether any secret in the row was encrypted with a key other than
    /// the ring's newest.
    pub(crate) fn needs_reencrypt(&self, ring: &KeyRing) -> bool {
        let Some(newest) = ring.newest_key_id() else {
            return false;
        };
        let old = |stored: &Option<String>| {
            stored
                .as_deref()
                .is_some_and(|s| KeyRing::key_id_of(s) != Some(newest))
        };
        let links_old = serde_json::from_str::<BTreeMap<String, String>>(&self.continuations)
            .map(|links| {
                links
                    .values()
                    .any(|s| KeyRing::key_id_of(s) != Some(newest))
            })
            .unwrap_or(true);
        old(&self.client_secret) || old(&self.access_token) || old(&self.refresh_token) || links_old
    }

    /// An empty row (every secret erased).
    pub(crate) fn erased(now: SystemTime) -> Self {
        SecretRow {
            granted_scopes: "[]".into(),
            continuations: "{}".into(),
            secrets_updated_at: Some(to_millis(now)),
            ..Default::default()
        }
    }
}

/// Call `visit(field, stored)` for every encrypted value of one row (the
/// columns of [`crate::schema::ENCRYPTED_COLUMNS`] after the id). A
/// continuations column that is not a JSON object of strings is skipped
/// (reading the row reports it).
pub(crate) fn for_each_secret(
    client_secret: Option<&str>,
    access_token: Option<&str>,
    refresh_token: Option<&str>,
    continuations: &str,
    mut visit: impl FnMut(&str, &str),
) {
    for (field, value) in [
        (CLIENT_SECRET, client_secret),
        (ACCESS_TOKEN, access_token),
        (REFRESH_TOKEN, refresh_token),
    ] {
        if let Some(value) = value {
            visit(field, value);
        }
    }
    if let Ok(links) = serde_json::from_str::<BTreeMap<String, String>>(continuations) {
        for (name, stored) in links {
            visit(&continuation_field(&name), &stored);
        }
    }
}

/// What [`crate::Store::reencrypt_all`] did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ReencryptReport {
    /// Installations whose secrets were rewritten under the newest key.
    pub rewritten: usize,
    /// Installations already entirely under the newest key.
    pub already_current: usize,
    /// Installations whose secrets could not be read (key missing, row
    /// altered); they were left as they are.
    pub failed: Vec<(InstallationId, Error)>,
    /// Keys the store stopped recording because, with every row rewritten,
    /// no secret uses them: they may be removed from the key file or the
    /// variable. Empty when any row failed.
    pub forgotten: Vec<String>,
}
