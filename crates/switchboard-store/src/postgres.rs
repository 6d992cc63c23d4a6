//! The store for many nodes: PostgreSQL through a connection pool.
//!
//! Migrations run on connect inside a transaction holding
//! `pg_advisory_xact_lock`, so nodes starting together apply each one
//! once. Writes are single statements guarded by the version
//! (compare-and-swap). The refresh lock is a lease row in `refresh_locks`
//! whose expiry is computed with the database's clock, so nodes with skewed
//! clocks agree on when a crashed holder's lease is over.
//!
//! TLS follows the URL's `sslmode` and `sslrootcert` as in libpq (see
//! [`crate::postgres_tls`]): `prefer` when absent; `require`, `verify-ca`
//! and `verify-full` for a server reached over a network.
//!
//! ```no_run
//! use switchboard_store::{keyring::KeyRing, postgres::PostgresStore};
//!
//! # async fn run() -> switchboard_core::Result<()> {
//! let store = PostgresStore::connect(
//!     "postgres://switchboard@127.0.0.1:5432/switchboard",
//!     KeyRing::from_env()?.expect("SWITCHBOARD_MASTER_KEYS is set"),
//! )
//! .await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use switchboard_core::InstallationId;
use switchboard_core::{Error, ErrorKind, Result};
use switchboard_installations::install::{
    Installation, InstallationSecrets, InstallationStatus, InstallationStore, Versioned, not_found,
    version_conflict,
};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres_rustls::MakeRustlsConnect;

use switchboard_sync::{LeaseHold, lease_lost};

use crate::key_registry::{KeyState, KeyUsage, RegisteredKey};
use crate::keyring::KeyRing;
use crate::postgres_tls::{self, TlsSettings};
use crate::row::{RecordRow, ReencryptReport, SecretRow, for_each_secret, to_millis};
use crate::schema::{
    ENCRYPTED_COLUMNS, HOLDS_ENCRYPTED, MIGRATIONS, MIGRATIONS_TABLE, RECORD_COLUMNS,
    SECRET_COLUMNS,
};

/// The advisory lock key that serialises migrations ("swbd-mig").
const MIGRATION_LOCK: i64 = 0x7377_6264_2d6d_6967;

/// The advisory lock key that serialises key rotations ("swbd-rot").
const ROTATION_LOCK: i64 = 0x7377_6264_2d72_6f74;

type Param<'a> = &'a (dyn tokio_postgres::types::ToSql + Sync);

/// The ring's newest key as a `master_keys` row to register with a write.
struct Registration {
    key: Option<(String, String)>,
    now: i64,
}

impl Registration {
    fn of(ring: &KeyRing) -> Self {
        Registration {
            key: ring.newest_fingerprint(),
            now: to_millis(SystemTime::now()),
        }
    }

    /// `statement` prefixed with a data-modifying CTE that records the key
    /// (parameters after `params`), so the registration and the write are
    /// one statement: a key pruned concurrently is registered again.
    fn wrap<'a>(&'a self, statement: &str, params: &mut Vec<Param<'a>>) -> String {
        let Some((id, fingerprint)) = &self.key else {
            return statement.to_string();
        };
        let n = params.len();
        params.push(id);
        params.push(fingerprint);
        params.push(&self.now);
        format!(
            "WITH registered_key AS (
                 INSERT INTO master_keys (key_id, fingerprint, added_at) VALUES (${}, ${}, ${})
                 ON CONFLICT (key_id) DO NOTHING)
             {statement}",
            n + 1,
            n + 2,
            n + 3
        )
    }
}

/// Tally the encrypted values of the rows `rows` yields.
fn tally(usage: &mut KeyUsage, ring: Option<&KeyRing>, row: &Row) -> Result<()> {
    let text_id: String = row.try_get(0).map_err(storage)?;
    let Ok(id) = text_id.parse::<InstallationId>() else {
        return Ok(());
    };
    let client_secret: Option<String> = row.try_get(1).map_err(storage)?;
    let access_token: Option<String> = row.try_get(2).map_err(storage)?;
    let refresh_token: Option<String> = row.try_get(3).map_err(storage)?;
    let continuations: String = row.try_get(4).map_err(storage)?;
    for_each_secret(
        client_secret.as_deref(),
        access_token.as_deref(),
        refresh_token.as_deref(),
        &continuations,
        |field, stored| usage.record(ring, id, field, stored),
    );
    Ok(())
}

/// Stream every row holding encrypted values through [`tally`].
async fn scan_usage(client: &impl GenericClient, ring: Option<&KeyRing>) -> Result<KeyUsage> {
    use futures::StreamExt;
    let mut usage = KeyUsage::default();
    let rows = client
        .query_raw(
            &format!("SELECT {ENCRYPTED_COLUMNS} FROM installations WHERE {HOLDS_ENCRYPTED}"),
            std::iter::empty::<i32>(),
        )
        .await
        .map_err(storage)?;
    futures::pin_mut!(rows);
    while let Some(row) = rows.next().await {
        tally(&mut usage, ring, &row.map_err(storage)?)?;
    }
    Ok(usage)
}

async fn read_key_state(client: &impl GenericClient) -> Result<KeyState> {
    let registered = client
        .query(
            "SELECT key_id, fingerprint FROM master_keys ORDER BY added_at, key_id",
            &[],
        )
        .await
        .map_err(storage)?
        .iter()
        .map(|r| {
            Ok(RegisteredKey {
                id: r.try_get(0).map_err(storage)?,
                fingerprint: r.try_get(1).map_err(storage)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let has_encrypted = client
        .query_opt(
            &format!("SELECT 1 FROM installations WHERE {HOLDS_ENCRYPTED} LIMIT 1"),
            &[],
        )
        .await
        .map_err(storage)?
        .is_some();
    Ok(KeyState {
        registered,
        has_encrypted,
    })
}

/// `url` for messages: scheme, host, port and database; no user name,
/// password or parameters.
pub(crate) fn redacted_url(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let host_and_db = rest.rsplit_once('@').map_or(rest, |(_, after)| after);
    format!("postgres://{host_and_db}")
}

/// The store's rotation lock: a session advisory lock held by one pooled
/// connection. Dropping the guard closes that connection (it never goes
/// back to the pool), which releases the lock; so does a crash.
pub(crate) struct RotationLock {
    _client: deadpool_postgres::ClientWrapper,
}

/// The database's clock in Unix milliseconds.
pub(crate) const DB_NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// How a [`PostgresStore`] connects.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PostgresOptions {
    /// A schema to use (created if missing) instead of the connection's
    /// default search path. Letters, digits and `_` only.
    pub schema: Option<String>,
    /// Most connections the pool opens.
    pub pool_size: usize,
    /// How long to wait for a connection (new or from the pool).
    pub connect_timeout: Duration,
    /// A PEM file of CA certificates for `sslmode=verify-ca|verify-full`
    /// (or `require`) when the URL gives no `sslrootcert`.
    pub ssl_root_cert: Option<std::path::PathBuf>,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            schema: None,
            pool_size: 16,
            connect_timeout: Duration::from_secs(10),
            ssl_root_cert: None,
        }
    }
}

impl PostgresOptions {
    /// The same options with a schema.
    pub fn with_schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// The same options with another connect timeout.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The same options with a CA file (the URL's `sslrootcert` wins).
    pub fn with_ssl_root_cert(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.ssl_root_cert = Some(path.into());
        self
    }
}

/// An [`InstallationStore`] in PostgreSQL. Cheap to clone; clones share the pool.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    ring: Arc<KeyRing>,
    schema: Option<String>,
    /// The URL without user name and password, for messages.
    location: Arc<str>,
    /// The TLS settings and the host, to explain a failed connection.
    tls: Arc<(TlsSettings, String)>,
    /// When the limit tables are next swept.
    pub(crate) sweep: Arc<crate::limit_sweep::SweepClock>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.schema)
            .field("keys", &self.ring)
            .finish()
    }
}

pub(crate) fn storage(e: impl fmt::Display) -> Error {
    Error::new(
        ErrorKind::Storage,
        format!(
            "the PostgreSQL store could not be read or written: {e}; nothing was changed by the failed operation"
        ),
    )
}

fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

fn read_record(row: &Row) -> Result<RecordRow> {
    let get = |i: usize| -> Result<String> { row.try_get(i).map_err(storage) };
    Ok(RecordRow {
        id: get(0)?,
        account: get(1)?,
        connector_id: get(2)?,
        connector_version: get(3)?,
        variant: get(4)?,
        cloud: get(5)?,
        tenant_id: row.try_get(6).map_err(storage)?,
        tenant_key: get(7)?,
        settings: get(8)?,
        client: get(9)?,
        status: get(10)?,
        last_error: row.try_get(11).map_err(storage)?,
        created_at: row.try_get(12).map_err(storage)?,
        updated_at: row.try_get(13).map_err(storage)?,
        version: row.try_get(14).map_err(storage)?,
    })
}

fn read_secrets(row: &Row) -> Result<(SecretRow, i64)> {
    Ok((
        SecretRow {
            client_secret: row.try_get(0).map_err(storage)?,
            access_token: row.try_get(1).map_err(storage)?,
            access_token_expires_at: row.try_get(2).map_err(storage)?,
            refresh_token: row.try_get(3).map_err(storage)?,
            token_tenant_id: row.try_get(4).map_err(storage)?,
            granted_scopes: row.try_get(5).map_err(storage)?,
            continuations: row.try_get(6).map_err(storage)?,
            secrets_updated_at: row.try_get(7).map_err(storage)?,
        },
        row.try_get(8).map_err(storage)?,
    ))
}

fn version_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

async fn find_live_duplicate(
    client: &impl GenericClient,
    row: &RecordRow,
) -> Result<Option<Installation>> {
    let found = client
        .query_opt(
            &format!(
                "SELECT {RECORD_COLUMNS} FROM installations
                 WHERE account = $1 AND connector_id = $2 AND variant = $3 AND tenant_key = $4
                   AND status <> 'uninstalled' AND id <> $5"
            ),
            &[
                &row.account,
                &row.connector_id,
                &row.variant,
                &row.tenant_key,
                &row.id,
            ],
        )
        .await
        .map_err(storage)?;
    found
        .map(|r| read_record(&r)?.into_installation())
        .transpose()
}

impl PostgresStore {
    /// Connect to `url` with default options and apply pending migrations.
    pub async fn connect(url: &str, ring: KeyRing) -> Result<Self> {
        PostgresStore::connect_with(url, ring, PostgresOptions::default()).await
    }

    /// Connect with options. The key ring is checked against the keys the
    /// store's secrets were written with (see [`crate::Store::open`]).
    pub async fn connect_with(url: &str, ring: KeyRing, options: PostgresOptions) -> Result<Self> {
        let store = PostgresStore::connect_unchecked(url, ring, options).await?;
        crate::key_registry::verify(&store, &[]).await?;
        Ok(store)
    }

    /// Connect without checking the key ring.
    pub(crate) async fn connect_unchecked(
        url: &str,
        ring: KeyRing,
        options: PostgresOptions,
    ) -> Result<Self> {
        let (plain_url, tls) = TlsSettings::from_url(url)?;
        let tls = tls.with_default_root(options.ssl_root_cert.as_deref());
        // never echo the URL: it may hold a password
        let mut config = tokio_postgres::Config::from_str(&plain_url).map_err(|_| {
            Error::invalid_argument(
                "store",
                "is not a valid PostgreSQL URL (postgres://user:password@host:port/database)",
            )
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.connect_timeout);
        }
        if let Some(schema) = &options.schema {
            let ok = !schema.is_empty()
                && schema.len() <= 63
                && schema
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !ok {
                return Err(Error::invalid_argument(
                    "schema",
                    "must be 1 to 63 lower-case letters, digits or `_`",
                ));
            }
            config.options(format!("-c search_path={schema}"));
        }
        config.ssl_mode(tls.wire_mode());
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(name)) => name.clone(),
            #[cfg(unix)]
            Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
            None => "localhost".to_string(),
        };
        let connector = MakeRustlsConnect::new(tls.client_config()?);
        let manager = Manager::from_config(
            config,
            connector,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.connect_timeout))
            .create_timeout(Some(options.connect_timeout))
            .build()
            .map_err(storage)?;
        let store = PostgresStore {
            pool,
            ring: Arc::new(ring),
            schema: options.schema,
            location: redacted_url(url).into(),
            tls: Arc::new((tls, host)),
            sweep: Arc::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// The store's key ring.
    pub fn key_ring(&self) -> &KeyRing {
        &self.ring
    }

    /// The same store (sharing the pool) with another key ring.
    pub(crate) fn with_key_ring(&self, ring: KeyRing) -> Self {
        PostgresStore {
            pool: self.pool.clone(),
            ring: Arc::new(ring),
            schema: self.schema.clone(),
            location: self.location.clone(),
            tls: self.tls.clone(),
            sweep: self.sweep.clone(),
        }
    }

    /// The registered keys and whether any value is encrypted.
    pub(crate) async fn key_state(&self) -> Result<KeyState> {
        read_key_state(&self.client().await?).await
    }

    /// Tally every encrypted value by key id (and by which ring key opens it).
    pub(crate) async fn key_usage(&self, with_ring: bool) -> Result<KeyUsage> {
        let client = self.client().await?;
        scan_usage(&client, with_ring.then_some(&*self.ring)).await
    }

    /// Record keys in `master_keys` (a store written before it existed).
    pub(crate) async fn register_keys(&self, keys: Vec<RegisteredKey>) -> Result<()> {
        let client = self.client().await?;
        let now = to_millis(SystemTime::now());
        for key in &keys {
            client
                .execute(
                    "INSERT INTO master_keys (key_id, fingerprint, added_at) VALUES ($1, $2, $3)
                     ON CONFLICT (key_id) DO NOTHING",
                    &[&key.id, &key.fingerprint, &now],
                )
                .await
                .map_err(storage)?;
        }
        Ok(())
    }

    /// Drop registered keys, only while no value is encrypted. Returns
    /// whether they were dropped.
    pub(crate) async fn forget_keys_if_empty(&self, ids: Vec<String>) -> Result<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(storage)?;
        tx.batch_execute("LOCK TABLE installations IN SHARE ROW EXCLUSIVE MODE")
            .await
            .map_err(storage)?;
        if read_key_state(&tx).await?.has_encrypted {
            return Ok(false);
        }
        tx.execute("DELETE FROM master_keys WHERE key_id = ANY($1)", &[&ids])
            .await
            .map_err(storage)?;
        tx.commit().await.map_err(storage)?;
        Ok(true)
    }

    /// Drop registered keys no encrypted value uses, except `keep`. The
    /// table lock waits for writers in flight and holds new ones back, and
    /// every write registers its key in the same statement, so no key in
    /// use is dropped. Returns the dropped ids.
    pub(crate) async fn prune_keys(&self, keep: String) -> Result<Vec<String>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(storage)?;
        tx.batch_execute("LOCK TABLE installations IN SHARE ROW EXCLUSIVE MODE")
            .await
            .map_err(storage)?;
        let used = scan_usage(&tx, None).await?;
        let state = read_key_state(&tx).await?;
        let dropped: Vec<String> = state
            .registered
            .into_iter()
            .map(|k| k.id)
            .filter(|id| *id != keep && !used.by_id.contains_key(id))
            .collect();
        tx.execute(
            "DELETE FROM master_keys WHERE key_id = ANY($1)",
            &[&dropped],
        )
        .await
        .map_err(storage)?;
        tx.commit().await.map_err(storage)?;
        Ok(dropped)
    }

    /// The first column of the first row of `sql`, as text, on one of the
    /// store's own connections (tests: what the server says about them).
    #[doc(hidden)]
    pub async fn query_text_for_tests(&self, sql: &str) -> Result<String> {
        let client = self.client().await?;
        let row = client.query_one(sql, &[]).await.map_err(storage)?;
        row.try_get(0).map_err(storage)
    }

    /// Wait for the store's rotation lock (see [`RotationLock`]).
    pub(crate) async fn lock_rotation(&self) -> Result<RotationLock> {
        let client = self.client().await?;
        client
            .execute("SELECT pg_advisory_lock($1)", &[&ROTATION_LOCK])
            .await
            .map_err(storage)?;
        Ok(RotationLock {
            _client: deadpool_postgres::Object::take(client),
        })
    }

    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(|e| {
            let (settings, host) = &*self.tls;
            if let deadpool_postgres::PoolError::Backend(pg) = &e
                && let Some(message) = postgres_tls::explain(pg, settings, host)
            {
                return Error::new(ErrorKind::Configuration, message);
            }
            storage(e)
        })
    }

    async fn migrate(&self) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(storage)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(storage)?;
        if let Some(schema) = &self.schema {
            tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .await
                .map_err(storage)?;
        }
        tx.batch_execute(MIGRATIONS_TABLE).await.map_err(storage)?;
        for migration in MIGRATIONS {
            let applied = tx
                .query_opt(
                    "SELECT version FROM schema_migrations WHERE version = $1",
                    &[&migration.version],
                )
                .await
                .map_err(storage)?;
            if applied.is_none() {
                tracing::info!(
                    version = migration.version,
                    name = migration.name,
                    "applying PostgreSQL migration"
                );
                tx.batch_execute(migration.sql).await.map_err(storage)?;
                tx.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                    &[
                        &migration.version,
                        &migration.name,
                        &to_millis(SystemTime::now()),
                    ],
                )
                .await
                .map_err(storage)?;
            }
        }
        tx.commit().await.map_err(storage)
    }

    /// Rewrite every installation's secrets under the key ring's newest
    /// key. Rows that cannot be decrypted are reported and left unchanged.
    /// When every row was rewritten, the keys no secret uses any more are
    /// forgotten (see [`ReencryptReport::forgotten`]).
    pub async fn reencrypt_all(&self) -> Result<ReencryptReport> {
        let mut client = self.client().await?;
        let ids: Vec<String> = client
            .query("SELECT id FROM installations ORDER BY created_at", &[])
            .await
            .map_err(storage)?
            .iter()
            .map(|r| r.try_get(0).map_err(storage))
            .collect::<Result<_>>()?;
        let mut report = ReencryptReport::default();
        for text_id in ids {
            let Ok(id) = text_id.parse::<InstallationId>() else {
                continue;
            };
            let tx = client.transaction().await.map_err(storage)?;
            let Some(found) = tx
                .query_opt(
                    &format!("SELECT {SECRET_COLUMNS} FROM installations WHERE id = $1 FOR UPDATE"),
                    &[&text_id],
                )
                .await
                .map_err(storage)?
            else {
                continue;
            };
            let (row, version) = read_secrets(&found)?;
            if !row.needs_reencrypt(&self.ring) {
                report.already_current += 1;
                continue;
            }
            let secrets = match row.decrypt(&self.ring, id) {
                Ok(secrets) => secrets,
                Err(e) => {
                    report.failed.push((id, e));
                    continue;
                }
            };
            let new_row = SecretRow::encrypt(&self.ring, id, &secrets, SystemTime::now())?;
            // re-encryption changes no value: keep the version
            let registration = Registration::of(&self.ring);
            let mut params: Vec<Param<'_>> = vec![
                &new_row.client_secret,
                &new_row.access_token,
                &new_row.refresh_token,
                &new_row.continuations,
                &text_id,
                &version,
            ];
            let sql = registration.wrap(
                "UPDATE installations SET client_secret = $1, access_token = $2, refresh_token = $3, continuations = $4
                 WHERE id = $5 AND secrets_version = $6",
                &mut params,
            );
            tx.execute(&sql, &params).await.map_err(storage)?;
            tx.commit().await.map_err(storage)?;
            report.rewritten += 1;
        }
        if report.failed.is_empty()
            && let Some(newest) = self.ring.newest_key_id()
        {
            report.forgotten = self.prune_keys(newest.to_string()).await?;
        }
        Ok(report)
    }

    async fn write_secrets(
        &self,
        id: InstallationId,
        s: &SecretRow,
        expected: Option<i64>,
    ) -> Result<u64> {
        write_secrets_on(&self.client().await?, &self.ring, id, s, expected).await
    }

    /// The secrets' compare-and-swap in one transaction after `lease` is
    /// checked and renewed: [`lease_lost`] when its row does not name the
    /// holder (the row stays locked until the commit, so the lease cannot
    /// pass to another node in between).
    async fn write_secrets_leased(
        &self,
        lease: &LeaseHold<'_>,
        s: &SecretRow,
        expected: i64,
    ) -> Result<u64> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(storage)?;
        let ttl_ms = i64::try_from(lease.ttl.as_millis()).unwrap_or(i64::MAX / 2);
        let held = tx
            .execute(
                &format!(
                    "UPDATE sync_leases SET expires_at = {DB_NOW_MS} + $4
                     WHERE installation_id = $1 AND resource = $2 AND holder = $3"
                ),
                &[
                    &lease.installation.to_string(),
                    &lease.resource,
                    &lease.holder,
                    &ttl_ms,
                ],
            )
            .await
            .map_err(storage)?;
        if held == 0 {
            return Err(lease_lost(lease.installation, lease.resource, lease.holder));
        }
        let version =
            write_secrets_on(&tx, &self.ring, lease.installation, s, Some(expected)).await?;
        tx.commit().await.map_err(storage)?;
        Ok(version)
    }
}

/// Writes an installation's secret columns through `client` (a connection
/// or a transaction), compare-and-swap on `expected` when given.
async fn write_secrets_on(
    client: &impl GenericClient,
    ring: &KeyRing,
    id: InstallationId,
    s: &SecretRow,
    expected: Option<i64>,
) -> Result<u64> {
    let text_id = id.to_string();
    let registration = Registration::of(ring);
    let mut params: Vec<Param<'_>> = vec![
        &s.client_secret,
        &s.access_token,
        &s.access_token_expires_at,
        &s.refresh_token,
        &s.token_tenant_id,
        &s.granted_scopes,
        &s.continuations,
        &s.secrets_updated_at,
        &text_id,
        &expected,
    ];
    let sql = registration.wrap(
            "UPDATE installations SET client_secret = $1, access_token = $2, access_token_expires_at = $3,
                 refresh_token = $4, token_tenant_id = $5, granted_scopes = $6, continuations = $7,
                 secrets_updated_at = $8, secrets_version = secrets_version + 1
             WHERE id = $9 AND ($10::bigint IS NULL OR secrets_version = $10)
             RETURNING secrets_version",
            &mut params,
        );
    let written = client.query_opt(&sql, &params).await.map_err(storage)?;
    if let Some(row) = written {
        return Ok(version_u64(row.try_get(0).map_err(storage)?));
    }
    let current = client
        .query_opt(
            "SELECT secrets_version FROM installations WHERE id = $1",
            &[&text_id],
        )
        .await
        .map_err(storage)?;
    Err(match current {
        None => not_found(id),
        Some(row) => version_conflict(
            id,
            "secrets",
            version_u64(expected.unwrap_or(0)),
            version_u64(row.try_get(0).map_err(storage)?),
        ),
    })
}

#[async_trait]
impl crate::key_registry::KeyedStore for PostgresStore {
    fn ring(&self) -> &KeyRing {
        &self.ring
    }

    fn describe(&self) -> String {
        self.location.to_string()
    }

    async fn key_state(&self) -> Result<KeyState> {
        PostgresStore::key_state(self).await
    }

    async fn key_usage(&self, with_ring: bool) -> Result<KeyUsage> {
        PostgresStore::key_usage(self, with_ring).await
    }

    async fn register_keys(&self, keys: Vec<RegisteredKey>) -> Result<()> {
        PostgresStore::register_keys(self, keys).await
    }

    async fn forget_keys_if_empty(&self, ids: Vec<String>) -> Result<bool> {
        PostgresStore::forget_keys_if_empty(self, ids).await
    }
}

#[async_trait]
impl InstallationStore for PostgresStore {
    async fn create(
        &self,
        mut installation: Installation,
        secrets: InstallationSecrets,
    ) -> Result<Installation> {
        installation.validate()?;
        let now = SystemTime::now();
        installation.created_at = now;
        installation.updated_at = now;
        installation.version = 1;
        let row = RecordRow::from_installation(&installation)?;
        let s = SecretRow::encrypt(&self.ring, installation.id, &secrets, now)?;
        let client = self.client().await?;
        let registration = Registration::of(&self.ring);
        let mut params: Vec<Param<'_>> = vec![
            &row.id,
            &row.account,
            &row.connector_id,
            &row.connector_version,
            &row.variant,
            &row.cloud,
            &row.tenant_id,
            &row.tenant_key,
            &row.settings,
            &row.client,
            &row.status,
            &row.last_error,
            &row.created_at,
            &row.updated_at,
            &row.version,
            &s.client_secret,
            &s.access_token,
            &s.access_token_expires_at,
            &s.refresh_token,
            &s.token_tenant_id,
            &s.granted_scopes,
            &s.continuations,
            &s.secrets_updated_at,
        ];
        let sql = registration.wrap(
            &format!(
                "INSERT INTO installations ({RECORD_COLUMNS}, {SECRET_COLUMNS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                         $16, $17, $18, $19, $20, $21, $22, $23, 1)
                 ON CONFLICT DO NOTHING"
            ),
            &mut params,
        );
        let inserted = client.execute(&sql, &params).await.map_err(storage)?;
        if inserted == 1 {
            tracing::debug!(installation = %installation.id, "installation created");
            return Ok(installation);
        }
        if installation.status != InstallationStatus::Uninstalled
            && let Some(existing) = find_live_duplicate(&client, &row).await?
        {
            return Err(Installation::duplicate_error(&existing));
        }
        Err(Error::new(
            ErrorKind::Conflict,
            format!("installation {} already exists", installation.id),
        ))
    }

    async fn get(&self, id: InstallationId) -> Result<Option<Installation>> {
        let client = self.client().await?;
        client
            .query_opt(
                &format!("SELECT {RECORD_COLUMNS} FROM installations WHERE id = $1"),
                &[&id.to_string()],
            )
            .await
            .map_err(storage)?
            .map(|r| read_record(&r)?.into_installation())
            .transpose()
    }

    async fn list_by_account(&self, account: &str) -> Result<Vec<Result<Installation>>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {RECORD_COLUMNS} FROM installations WHERE account = $1 ORDER BY created_at, id"
                ),
                &[&account],
            )
            .await
            .map_err(storage)?;
        Ok(rows
            .iter()
            .map(|r| read_record(r).and_then(RecordRow::into_installation))
            .collect())
    }

    async fn update(&self, installation: &Installation) -> Result<Installation> {
        installation.validate()?;
        let mut stored = installation.clone();
        stored.version = installation.version + 1;
        stored.updated_at = SystemTime::now();
        let expected = i64::try_from(installation.version).unwrap_or(i64::MAX);
        let row = RecordRow::from_installation(&stored)?;
        let client = self.client().await?;
        let changed = client
            .execute(
                "UPDATE installations SET account = $1, connector_id = $2, connector_version = $3, variant = $4,
                     cloud = $5, tenant_id = $6, tenant_key = $7, settings = $8, client = $9, status = $10,
                     last_error = $11, updated_at = $12, version = $13
                 WHERE id = $14 AND version = $15",
                &[
                    &row.account,
                    &row.connector_id,
                    &row.connector_version,
                    &row.variant,
                    &row.cloud,
                    &row.tenant_id,
                    &row.tenant_key,
                    &row.settings,
                    &row.client,
                    &row.status,
                    &row.last_error,
                    &row.updated_at,
                    &row.version,
                    &row.id,
                    &expected,
                ],
            )
            .await;
        let changed = match changed {
            Ok(n) => n,
            Err(e) if is_unique_violation(&e) => {
                return Err(match find_live_duplicate(&client, &row).await? {
                    Some(existing) => Installation::duplicate_error(&existing),
                    None => storage(e),
                });
            }
            Err(e) => return Err(storage(e)),
        };
        if changed == 0 {
            let current = client
                .query_opt(
                    "SELECT version FROM installations WHERE id = $1",
                    &[&row.id],
                )
                .await
                .map_err(storage)?;
            return Err(match current {
                None => not_found(stored.id),
                Some(r) => version_conflict(
                    stored.id,
                    "record",
                    installation.version,
                    version_u64(r.try_get(0).map_err(storage)?),
                ),
            });
        }
        Ok(stored)
    }

    async fn load_secrets(
        &self,
        id: InstallationId,
    ) -> Result<Option<Versioned<InstallationSecrets>>> {
        let client = self.client().await?;
        let found = client
            .query_opt(
                &format!("SELECT {SECRET_COLUMNS} FROM installations WHERE id = $1"),
                &[&id.to_string()],
            )
            .await
            .map_err(storage)?;
        match found {
            None => Ok(None),
            Some(r) => {
                let (row, version) = read_secrets(&r)?;
                Ok(Some(Versioned {
                    version: version_u64(version),
                    value: row.decrypt(&self.ring, id)?,
                }))
            }
        }
    }

    async fn store_secrets(
        &self,
        id: InstallationId,
        expected: u64,
        secrets: InstallationSecrets,
    ) -> Result<u64> {
        let row = SecretRow::encrypt(&self.ring, id, &secrets, SystemTime::now())?;
        self.write_secrets(id, &row, Some(i64::try_from(expected).unwrap_or(i64::MAX)))
            .await
    }

    async fn erase_secrets(&self, id: InstallationId) -> Result<u64> {
        let version = self
            .write_secrets(id, &SecretRow::erased(SystemTime::now()), None)
            .await?;
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM refresh_locks WHERE installation_id = $1",
                &[&id.to_string()],
            )
            .await
            .map_err(storage)?;
        Ok(version)
    }

    async fn try_lock_refresh(
        &self,
        id: InstallationId,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool> {
        let client = self.client().await?;
        let text_id = id.to_string();
        let exists = client
            .query_opt("SELECT 1 FROM installations WHERE id = $1", &[&text_id])
            .await
            .map_err(storage)?;
        if exists.is_none() {
            return Err(not_found(id));
        }
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2);
        let taken = client
            .execute(
                &format!(
                    "INSERT INTO refresh_locks (installation_id, holder, expires_at)
                     VALUES ($1, $2, {DB_NOW_MS} + $3)
                     ON CONFLICT (installation_id) DO UPDATE
                         SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
                         WHERE refresh_locks.holder = EXCLUDED.holder
                            OR refresh_locks.expires_at <= {DB_NOW_MS}"
                ),
                &[&text_id, &holder, &ttl_ms],
            )
            .await
            .map_err(storage)?;
        Ok(taken > 0)
    }

    async fn unlock_refresh(&self, id: InstallationId, holder: &str) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM refresh_locks WHERE installation_id = $1 AND holder = $2",
                &[&id.to_string(), &holder],
            )
            .await
            .map_err(storage)?;
        Ok(())
    }
}

#[async_trait]
impl switchboard_sync::SyncLeases for PostgresStore {
    async fn try_lease(
        &self,
        installation: InstallationId,
        resource: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool> {
        let client = self.client().await?;
        let text_id = installation.to_string();
        let exists = client
            .query_opt("SELECT 1 FROM installations WHERE id = $1", &[&text_id])
            .await
            .map_err(storage)?;
        if exists.is_none() {
            return Err(not_found(installation));
        }
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2);
        let taken = client
            .execute(
                &format!(
                    "INSERT INTO sync_leases (installation_id, resource, holder, expires_at)
                     VALUES ($1, $2, $3, {DB_NOW_MS} + $4)
                     ON CONFLICT (installation_id, resource) DO UPDATE
                         SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
                         WHERE sync_leases.holder = EXCLUDED.holder
                            OR sync_leases.expires_at <= {DB_NOW_MS}"
                ),
                &[&text_id, &resource, &holder, &ttl_ms],
            )
            .await
            .map_err(storage)?;
        Ok(taken > 0)
    }

    async fn release_lease(
        &self,
        installation: InstallationId,
        resource: &str,
        holder: &str,
    ) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM sync_leases WHERE installation_id = $1 AND resource = $2 AND holder = $3",
                &[&installation.to_string(), &resource, &holder],
            )
            .await
            .map_err(storage)?;
        Ok(())
    }

    async fn store_secrets_leased(
        &self,
        lease: &LeaseHold<'_>,
        expected: u64,
        secrets: InstallationSecrets,
    ) -> Result<u64> {
        let row = SecretRow::encrypt(&self.ring, lease.installation, &secrets, SystemTime::now())?;
        self.write_secrets_leased(lease, &row, i64::try_from(expected).unwrap_or(i64::MAX))
            .await
    }
}
