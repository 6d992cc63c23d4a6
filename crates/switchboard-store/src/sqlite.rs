//! The embedded store: one SQLite file in WAL mode.
//!
//! Every operation runs on a blocking thread (`spawn_blocking`). Writes,
//! compare-and-swap and key registration run on the store's one writer
//! connection; plain reads (`get`, `list_by_account`, `load_secrets`, token
//! loads, key scans) run on a small pool of read-only connections
//! ([`SqliteOptions::readers`], 4 by default), so readers wait neither for
//! each other nor for a write in progress (WAL: a reader sees the last
//! committed snapshot). Writes use `BEGIN IMMEDIATE`, so several
//! processes can share the file: a writer waits up to the busy timeout for
//! another, then fails with [`ErrorKind::Storage`] having changed nothing.
//! `synchronous=FULL` keeps committed writes across a power cut.
//!
//! ```
//! use switchboard_installations::install::{Installation, InstallationSecrets, InstallationStore};
//! use switchboard_store::{keyring::KeyRing, sqlite::SqliteStore};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let store = SqliteStore::open(dir.path().join("switchboard.db"), KeyRing::generate("k1").unwrap())
//!     .await
//!     .unwrap();
//! let inst = store
//!     .create(
//!         Installation::new("acct-1", "microsoft365", "1.0.0", "delegated"),
//!         InstallationSecrets::default().with_client_secret("cs"),
//!     )
//!     .await
//!     .unwrap();
//! assert_eq!(store.get(inst.id).await.unwrap().unwrap().account, "acct-1");
//! # });
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use switchboard_core::InstallationId;
use switchboard_core::{Error, ErrorKind, Result};
use switchboard_installations::install::{
    Installation, InstallationSecrets, InstallationStatus, InstallationStore, Versioned, not_found,
    version_conflict,
};

use switchboard_sync::{LeaseHold, lease_lost};

use crate::key_registry::{KeyState, KeyUsage, RegisteredKey};
use crate::keyring::KeyRing;
use crate::read_pool::ReadPool;
use crate::row::{RecordRow, ReencryptReport, SecretRow, for_each_secret, to_millis};
use crate::schema::{
    ENCRYPTED_COLUMNS, HOLDS_ENCRYPTED, MIGRATIONS, MIGRATIONS_TABLE, RECORD_COLUMNS,
    SECRET_COLUMNS,
};

/// How a [`SqliteStore`] opens its file.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// How long a write waits for another writer before failing.
    pub busy_timeout: Duration,
    /// Create the file when it does not exist (default). Without it, a
    /// missing file is an [`ErrorKind::NotFound`] error and nothing is
    /// created (read-only commands).
    pub create: bool,
    /// How many read-only connections serve reads at once (default 4).
    /// `0` runs reads on the writer connection, one operation at a time.
    pub readers: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            busy_timeout: Duration::from_secs(5),
            create: true,
            readers: 4,
        }
    }
}

impl SqliteOptions {
    /// The same options with another busy timeout.
    pub fn with_busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// The same options, creating the file when missing or not.
    pub fn with_create(mut self, create: bool) -> Self {
        self.create = create;
        self
    }

    /// The same options with `readers` read-only connections (`0`: reads
    /// share the writer connection).
    ///
    /// ```
    /// use switchboard_store::sqlite::SqliteOptions;
    /// assert_eq!(SqliteOptions::default().with_readers(8).readers, 8);
    /// ```
    pub fn with_readers(mut self, readers: usize) -> Self {
        self.readers = readers;
        self
    }
}

/// An [`InstallationStore`] in one SQLite file. Cheap to clone.
#[derive(Clone)]
pub struct SqliteStore {
    pub(crate) path: Arc<PathBuf>,
    /// The one writer: every write, compare-and-swap and key change.
    conn: Arc<Mutex<Connection>>,
    /// Read-only connections for plain reads (`None`: reads use `conn`).
    readers: Option<Arc<ReadPool>>,
    ring: Arc<KeyRing>,
    /// When the limit tables are next swept.
    pub(crate) sweep: Arc<crate::limit_sweep::SweepClock>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("keys", &self.ring)
            .finish()
    }
}

pub(crate) fn storage(path: &Path, e: impl fmt::Display) -> Error {
    Error::new(
        ErrorKind::Storage,
        format!(
            "the SQLite store {} could not be read or written: {e}; nothing was changed by the failed operation",
            path.display()
        ),
    )
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation
    )
}

fn read_record(row: &rusqlite::Row<'_>) -> rusqlite::Result<RecordRow> {
    Ok(RecordRow {
        id: row.get(0)?,
        account: row.get(1)?,
        connector_id: row.get(2)?,
        connector_version: row.get(3)?,
        variant: row.get(4)?,
        cloud: row.get(5)?,
        tenant_id: row.get(6)?,
        tenant_key: row.get(7)?,
        settings: row.get(8)?,
        client: row.get(9)?,
        status: row.get(10)?,
        last_error: row.get(11)?,
        created_at: row.get(12)?,
        updated_at: row.get(13)?,
        version: row.get(14)?,
    })
}

fn read_secrets(row: &rusqlite::Row<'_>) -> rusqlite::Result<(SecretRow, i64)> {
    Ok((
        SecretRow {
            client_secret: row.get(0)?,
            access_token: row.get(1)?,
            access_token_expires_at: row.get(2)?,
            refresh_token: row.get(3)?,
            token_tenant_id: row.get(4)?,
            granted_scopes: row.get(5)?,
            continuations: row.get(6)?,
            secrets_updated_at: row.get(7)?,
        },
        row.get(8)?,
    ))
}

fn version_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn find_live_duplicate(conn: &Connection, row: &RecordRow) -> rusqlite::Result<Option<RecordRow>> {
    conn.query_row(
        &format!(
            "SELECT {RECORD_COLUMNS} FROM installations
             WHERE account = ?1 AND connector_id = ?2 AND variant = ?3 AND tenant_key = ?4
               AND status <> 'uninstalled' AND id <> ?5"
        ),
        params![
            row.account,
            row.connector_id,
            row.variant,
            row.tenant_key,
            row.id
        ],
        read_record,
    )
    .optional()
}

/// Record the ring's newest key in `master_keys` (in the caller's write
/// transaction, before it writes values encrypted with that key).
fn register_newest(conn: &Connection, ring: &KeyRing) -> rusqlite::Result<()> {
    if let Some((id, fingerprint)) = ring.newest_fingerprint() {
        conn.execute(
            "INSERT INTO master_keys (key_id, fingerprint, added_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (key_id) DO NOTHING",
            params![id, fingerprint, to_millis(SystemTime::now())],
        )?;
    }
    Ok(())
}

/// Tally every encrypted value of the store.
fn scan_usage(conn: &Connection, ring: Option<&KeyRing>) -> rusqlite::Result<KeyUsage> {
    let mut usage = KeyUsage::default();
    let mut stmt = conn.prepare(&format!(
        "SELECT {ENCRYPTED_COLUMNS} FROM installations WHERE {HOLDS_ENCRYPTED}"
    ))?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let text_id: String = row.get(0)?;
        let Ok(id) = text_id.parse::<InstallationId>() else {
            continue;
        };
        let client_secret: Option<String> = row.get(1)?;
        let access_token: Option<String> = row.get(2)?;
        let refresh_token: Option<String> = row.get(3)?;
        let continuations: String = row.get(4)?;
        for_each_secret(
            client_secret.as_deref(),
            access_token.as_deref(),
            refresh_token.as_deref(),
            &continuations,
            |field, stored| usage.record(ring, id, field, stored),
        );
    }
    Ok(usage)
}

fn read_key_state(conn: &Connection) -> rusqlite::Result<KeyState> {
    let mut stmt =
        conn.prepare("SELECT key_id, fingerprint FROM master_keys ORDER BY added_at, key_id")?;
    let registered = stmt
        .query_map([], |r| {
            Ok(RegisteredKey {
                id: r.get(0)?,
                fingerprint: r.get(1)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let has_encrypted = conn
        .query_row(
            &format!("SELECT 1 FROM installations WHERE {HOLDS_ENCRYPTED} LIMIT 1"),
            [],
            |r| r.get::<_, i64>(0),
        )
        .optional()?
        .is_some();
    Ok(KeyState {
        registered,
        has_encrypted,
    })
}

fn write_secrets(
    conn: &Connection,
    id: &str,
    s: &SecretRow,
    expected: Option<i64>,
) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE installations SET client_secret = ?1, access_token = ?2, access_token_expires_at = ?3,
             refresh_token = ?4, token_tenant_id = ?5, granted_scopes = ?6, continuations = ?7,
             secrets_updated_at = ?8, secrets_version = secrets_version + 1
         WHERE id = ?9 AND (?10 IS NULL OR secrets_version = ?10)",
        params![
            s.client_secret,
            s.access_token,
            s.access_token_expires_at,
            s.refresh_token,
            s.token_tenant_id,
            s.granted_scopes,
            s.continuations,
            s.secrets_updated_at,
            id,
            expected,
        ],
    )
}

impl SqliteStore {
    /// Open (creating if needed) the store at `path` with default options,
    /// applying any schema migrations not yet applied.
    pub async fn open(path: impl Into<PathBuf>, ring: KeyRing) -> Result<Self> {
        SqliteStore::open_with(path, ring, SqliteOptions::default()).await
    }

    /// Open with options. The key ring is checked against the keys the
    /// store's secrets were written with (see [`crate::Store::open`]).
    pub async fn open_with(
        path: impl Into<PathBuf>,
        ring: KeyRing,
        options: SqliteOptions,
    ) -> Result<Self> {
        let store = SqliteStore::open_unchecked(path, ring, options).await?;
        crate::key_registry::verify(&store, &[]).await?;
        Ok(store)
    }

    /// Open without checking the key ring.
    pub(crate) async fn open_unchecked(
        path: impl Into<PathBuf>,
        ring: KeyRing,
        options: SqliteOptions,
    ) -> Result<Self> {
        let path = path.into();
        let open_path = path.clone();
        let (readers, busy_timeout) = (options.readers, options.busy_timeout);
        let conn = tokio::task::spawn_blocking(move || -> Result<Connection> {
            if !options.create && !open_path.exists() {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "the SQLite store {} does not exist yet; nothing was created",
                        open_path.display()
                    ),
                ));
            }
            let mut conn = Connection::open(&open_path).map_err(|e| storage(&open_path, e))?;
            conn.busy_timeout(options.busy_timeout)
                .map_err(|e| storage(&open_path, e))?;
            let busy = options.busy_timeout;
            retry_busy(busy, || conn.pragma_update(None, "journal_mode", "WAL"))
                .map_err(|e| storage(&open_path, e))?;
            conn.pragma_update(None, "synchronous", "FULL")
                .map_err(|e| storage(&open_path, e))?;
            // overwrite deleted content, so replaced ciphertexts (old keys) do not linger in free pages
            conn.pragma_update(None, "secure_delete", "ON")
                .map_err(|e| storage(&open_path, e))?;
            retry_busy(busy, || migrate(&mut conn)).map_err(|e| storage(&open_path, e))?;
            Ok(conn)
        })
        .await
        .map_err(|e| storage(&path, e))??;
        // opened after the writer set WAL mode and migrated the schema
        let readers = (readers > 0).then(|| Arc::new(ReadPool::new(&path, readers, busy_timeout)));
        Ok(SqliteStore {
            path: Arc::new(path),
            conn: Arc::new(Mutex::new(conn)),
            readers,
            ring: Arc::new(ring),
            sweep: Arc::default(),
        })
    }

    /// The file the store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn describe(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }

    /// The store's key ring.
    pub fn key_ring(&self) -> &KeyRing {
        &self.ring
    }

    /// The same store (sharing the connection) with another key ring.
    pub(crate) fn with_key_ring(&self, ring: KeyRing) -> Self {
        SqliteStore {
            path: self.path.clone(),
            conn: self.conn.clone(),
            readers: self.readers.clone(),
            ring: Arc::new(ring),
            sweep: self.sweep.clone(),
        }
    }

    /// The registered keys and whether any value is encrypted.
    pub(crate) async fn key_state(&self) -> Result<KeyState> {
        let path = self.path.clone();
        self.with_reader(move |conn, _| read_key_state(conn).map_err(|e| storage(&path, e)))
            .await
    }

    /// Tally every encrypted value by key id (and by which ring key opens it).
    pub(crate) async fn key_usage(&self, with_ring: bool) -> Result<KeyUsage> {
        let path = self.path.clone();
        self.with_reader(move |conn, ring| {
            scan_usage(conn, with_ring.then_some(ring)).map_err(|e| storage(&path, e))
        })
        .await
    }

    /// Record keys in `master_keys` (a store written before it existed).
    pub(crate) async fn register_keys(&self, keys: Vec<RegisteredKey>) -> Result<()> {
        let path = self.path.clone();
        self.with_conn(move |conn, _| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| storage(&path, e))?;
            for key in &keys {
                tx.execute(
                    "INSERT INTO master_keys (key_id, fingerprint, added_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (key_id) DO NOTHING",
                    params![key.id, key.fingerprint, to_millis(SystemTime::now())],
                )
                .map_err(|e| storage(&path, e))?;
            }
            tx.commit().map_err(|e| storage(&path, e))
        })
        .await
    }

    /// Drop registered keys, only while no value is encrypted (a store
    /// without secrets starting over with new keys). Returns whether they
    /// were dropped.
    pub(crate) async fn forget_keys_if_empty(&self, ids: Vec<String>) -> Result<bool> {
        let path = self.path.clone();
        self.with_conn(move |conn, _| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| storage(&path, e))?;
            if read_key_state(&tx)
                .map_err(|e| storage(&path, e))?
                .has_encrypted
            {
                return Ok(false);
            }
            for id in &ids {
                tx.execute("DELETE FROM master_keys WHERE key_id = ?1", params![id])
                    .map_err(|e| storage(&path, e))?;
            }
            tx.commit().map_err(|e| storage(&path, e))?;
            Ok(true)
        })
        .await
    }

    /// Drop registered keys no encrypted value uses, except `keep`, while
    /// writers wait (one write transaction). Returns the dropped ids.
    pub(crate) async fn prune_keys(&self, keep: String) -> Result<Vec<String>> {
        let path = self.path.clone();
        self.with_conn(move |conn, _| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| storage(&path, e))?;
            let used = scan_usage(&tx, None).map_err(|e| storage(&path, e))?;
            let state = read_key_state(&tx).map_err(|e| storage(&path, e))?;
            let mut dropped = Vec::new();
            for key in state.registered {
                if key.id != keep && !used.by_id.contains_key(&key.id) {
                    tx.execute("DELETE FROM master_keys WHERE key_id = ?1", params![key.id])
                        .map_err(|e| storage(&path, e))?;
                    dropped.push(key.id);
                }
            }
            tx.commit().map_err(|e| storage(&path, e))?;
            Ok(dropped)
        })
        .await
    }

    /// Wait for the store's rotation lock: an exclusive advisory lock on
    /// `<store file>.rotation.lock` beside the database (every process
    /// sharing a SQLite file runs on one machine). The OS releases it when
    /// the process ends, so a crashed rotation blocks nobody.
    pub(crate) async fn lock_rotation(&self) -> Result<std::fs::File> {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".rotation.lock");
        let lock_path = self.path.with_file_name(name);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&lock_path)
                .map_err(|e| storage(&path, format!("cannot open {}: {e}", lock_path.display())))?;
            file.lock()
                .map_err(|e| storage(&path, format!("cannot lock {}: {e}", lock_path.display())))?;
            Ok(file)
        })
        .await
        .map_err(|e| storage(&self.path, e))?
    }

    /// Run the read `f` on a read-only connection of the pool (or on the
    /// writer when the store has no readers) on a blocking thread.
    async fn with_reader<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &KeyRing) -> Result<T> + Send + 'static,
    {
        let Some(pool) = &self.readers else {
            return self.with_conn(move |conn, ring| f(conn, ring)).await;
        };
        let ring = self.ring.clone();
        pool.run(move |conn| f(conn, &ring))
            .await
            .map_err(|e| storage(&self.path, e))?
    }

    /// Run `f` on the writer connection on a blocking thread.
    pub(crate) async fn with_conn<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &KeyRing) -> Result<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        let ring = self.ring.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut guard, &ring)
        })
        .await
        .map_err(|e| storage(&path, e))?
    }

    /// The secrets' compare-and-swap, in one transaction with `lease`
    /// (when given) checked and renewed first: [`lease_lost`] when its row
    /// does not name the holder.
    async fn store_secrets_if(
        &self,
        id: InstallationId,
        expected: u64,
        secrets: InstallationSecrets,
        lease: Option<(String, String, Duration)>,
    ) -> Result<u64> {
        let path = self.path.clone();
        self.with_conn(move |conn, ring| {
            let row = SecretRow::encrypt(ring, id, &secrets, SystemTime::now())?;
            let expected_i = i64::try_from(expected).unwrap_or(i64::MAX);
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| storage(&path, e))?;
            if let Some((resource, holder, ttl)) = &lease {
                let until = to_millis(SystemTime::now())
                    .saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
                let held = tx
                    .execute(
                        "UPDATE sync_leases SET expires_at = ?4 WHERE installation_id = ?1 AND resource = ?2 AND holder = ?3",
                        params![id.to_string(), resource, holder, until],
                    )
                    .map_err(|e| storage(&path, e))?;
                if held == 0 {
                    return Err(lease_lost(id, resource, holder));
                }
            }
            register_newest(&tx, ring).map_err(|e| storage(&path, e))?;
            let changed = write_secrets(&tx, &id.to_string(), &row, Some(expected_i))
                .map_err(|e| storage(&path, e))?;
            let current: Option<i64> = tx
                .query_row(
                    "SELECT secrets_version FROM installations WHERE id = ?1",
                    params![id.to_string()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| storage(&path, e))?;
            match (changed, current) {
                (_, None) => Err(not_found(id)),
                (0, Some(v)) => Err(version_conflict(id, "secrets", expected, version_u64(v))),
                (_, Some(v)) => {
                    tx.commit().map_err(|e| storage(&path, e))?;
                    Ok(version_u64(v))
                }
            }
        })
        .await
    }

    /// Rewrite every installation's secrets under the key ring's newest
    /// key. Rows that cannot be decrypted are reported and left unchanged.
    /// When every row was rewritten, the keys no secret uses any more are
    /// forgotten (see [`ReencryptReport::forgotten`]).
    pub async fn reencrypt_all(&self) -> Result<ReencryptReport> {
        let path = self.path.clone();
        let mut report = self.with_conn(move |conn, ring| {
            let ids: Vec<String> = {
                let mut stmt = conn
                    .prepare("SELECT id FROM installations ORDER BY created_at")
                    .map_err(|e| storage(&path, e))?;
                stmt.query_map([], |r| r.get(0))
                    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<String>>>())
                    .map_err(|e| storage(&path, e))?
            };
            let mut report = ReencryptReport::default();
            for text_id in ids {
                let Ok(id) = text_id.parse::<InstallationId>() else {
                    continue;
                };
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(|e| storage(&path, e))?;
                let (row, version) = tx
                    .query_row(
                        &format!("SELECT {SECRET_COLUMNS} FROM installations WHERE id = ?1"),
                        params![text_id],
                        read_secrets,
                    )
                    .map_err(|e| storage(&path, e))?;
                if !row.needs_reencrypt(ring) {
                    report.already_current += 1;
                    continue;
                }
                let secrets = match row.decrypt(ring, id) {
                    Ok(secrets) => secrets,
                    Err(e) => {
                        report.failed.push((id, e));
                        continue;
                    }
                };
                let mut new_row = SecretRow::encrypt(ring, id, &secrets, SystemTime::now())?;
                new_row.secrets_updated_at = row.secrets_updated_at;
                register_newest(&tx, ring).map_err(|e| storage(&path, e))?;
                // re-encryption changes no value: keep the version, so no
                // reader's compare-and-swap is disturbed
                tx.execute(
                    "UPDATE installations SET client_secret = ?1, access_token = ?2, refresh_token = ?3, continuations = ?4
                     WHERE id = ?5 AND secrets_version = ?6",
                    params![
                        new_row.client_secret,
                        new_row.access_token,
                        new_row.refresh_token,
                        new_row.continuations,
                        text_id,
                        version
                    ],
                )
                .map_err(|e| storage(&path, e))?;
                tx.commit().map_err(|e| storage(&path, e))?;
                report.rewritten += 1;
            }
            Ok(report)
        })
        .await?;
        if report.failed.is_empty()
            && let Some(newest) = self.ring.newest_key_id()
        {
            report.forgotten = self.prune_keys(newest.to_string()).await?;
        }
        Ok(report)
    }
}

#[async_trait]
impl crate::key_registry::KeyedStore for SqliteStore {
    fn ring(&self) -> &KeyRing {
        &self.ring
    }

    fn describe(&self) -> String {
        SqliteStore::describe(self)
    }

    async fn key_state(&self) -> Result<KeyState> {
        SqliteStore::key_state(self).await
    }

    async fn key_usage(&self, with_ring: bool) -> Result<KeyUsage> {
        SqliteStore::key_usage(self, with_ring).await
    }

    async fn register_keys(&self, keys: Vec<RegisteredKey>) -> Result<()> {
        SqliteStore::register_keys(self, keys).await
    }

    async fn forget_keys_if_empty(&self, ids: Vec<String>) -> Result<bool> {
        SqliteStore::forget_keys_if_empty(self, ids).await
    }
}

/// `NotFound` unless the installation exists (locks and leases belong to one).
fn require_installation(conn: &Connection, path: &Path, id: InstallationId) -> Result<()> {
    let exists: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM installations WHERE id = ?1",
            params![id.to_string()],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| storage(path, e))?;
    match exists {
        Some(_) => Ok(()),
        None => Err(not_found(id)),
    }
}

/// Run `op` again while SQLite answers busy or locked, until `timeout`
/// has passed. Stores opening one fresh file together meet this: switching
/// it to WAL and starting the migration's write transaction can be refused
/// at once, without SQLite's busy handler waiting (while another connection
/// is switching the journal mode or recovering the WAL index). A refused
/// migration rolled back whole, so running it again is safe.
fn retry_busy<T>(
    timeout: Duration,
    mut op: impl FnMut() -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    let started = std::time::Instant::now();
    loop {
        match op() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && started.elapsed() < timeout =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(MIGRATIONS_TABLE)?;
    for migration in MIGRATIONS {
        let applied: Option<i64> = tx
            .query_row(
                "SELECT version FROM schema_migrations WHERE version = ?1",
                params![migration.version],
                |r| r.get(0),
            )
            .optional()?;
        if applied.is_none() {
            tracing::info!(
                version = migration.version,
                name = migration.name,
                "applying SQLite migration"
            );
            tx.execute_batch(migration.sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                params![
                    migration.version,
                    migration.name,
                    to_millis(SystemTime::now())
                ],
            )?;
        }
    }
    tx.commit()
}

#[async_trait]
impl InstallationStore for SqliteStore {
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
        let path = self.path.clone();
        self.with_conn(move |conn, ring| {
            let row = RecordRow::from_installation(&installation)?;
            let s = SecretRow::encrypt(ring, installation.id, &secrets, now)?;
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| storage(&path, e))?;
            let taken: Option<String> = tx
                .query_row(
                    "SELECT id FROM installations WHERE id = ?1",
                    params![row.id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| storage(&path, e))?;
            if taken.is_some() {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!("installation {} already exists", row.id),
                ));
            }
            register_newest(&tx, ring).map_err(|e| storage(&path, e))?;
            if installation.status != InstallationStatus::Uninstalled
                && let Some(existing) =
                    find_live_duplicate(&tx, &row).map_err(|e| storage(&path, e))?
            {
                return Err(Installation::duplicate_error(
                    &existing.into_installation()?,
                ));
            }
            tx.execute(
                &format!(
                    "INSERT INTO installations ({RECORD_COLUMNS}, {SECRET_COLUMNS})
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                             ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, 1)"
                ),
                params![
                    row.id,
                    row.account,
                    row.connector_id,
                    row.connector_version,
                    row.variant,
                    row.cloud,
                    row.tenant_id,
                    row.tenant_key,
                    row.settings,
                    row.client,
                    row.status,
                    row.last_error,
                    row.created_at,
                    row.updated_at,
                    row.version,
                    s.client_secret,
                    s.access_token,
                    s.access_token_expires_at,
                    s.refresh_token,
                    s.token_tenant_id,
                    s.granted_scopes,
                    s.continuations,
                    s.secrets_updated_at,
                ],
            )
            .map_err(|e| storage(&path, e))?;
            tx.commit().map_err(|e| storage(&path, e))?;
            tracing::debug!(installation = %installation.id, "installation created");
            Ok(installation)
        })
        .await
    }

    async fn get(&self, id: InstallationId) -> Result<Option<Installation>> {
        let path = self.path.clone();
        self.with_reader(move |conn, _| {
            conn.query_row(
                &format!("SELECT {RECORD_COLUMNS} FROM installations WHERE id = ?1"),
                params![id.to_string()],
                read_record,
            )
            .optional()
            .map_err(|e| storage(&path, e))?
            .map(RecordRow::into_installation)
            .transpose()
        })
        .await
    }

    async fn list_by_account(&self, account: &str) -> Result<Vec<Result<Installation>>> {
        let path = self.path.clone();
        let account = account.to_string();
        self.with_reader(move |conn, _| {
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {RECORD_COLUMNS} FROM installations WHERE account = ?1 ORDER BY created_at, id"
                ))
                .map_err(|e| storage(&path, e))?;
            let rows = stmt
                .query_map(params![account], read_record)
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                .map_err(|e| storage(&path, e))?;
            Ok(rows.into_iter().map(RecordRow::into_installation).collect())
        })
        .await
    }

    async fn update(&self, installation: &Installation) -> Result<Installation> {
        installation.validate()?;
        let mut stored = installation.clone();
        stored.version = installation.version + 1;
        stored.updated_at = SystemTime::now();
        let expected = i64::try_from(installation.version).unwrap_or(i64::MAX);
        let path = self.path.clone();
        self.with_conn(move |conn, _| {
            let row = RecordRow::from_installation(&stored)?;
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| storage(&path, e))?;
            let changed = tx.execute(
                "UPDATE installations SET account = ?1, connector_id = ?2, connector_version = ?3, variant = ?4,
                     cloud = ?5, tenant_id = ?6, tenant_key = ?7, settings = ?8, client = ?9, status = ?10,
                     last_error = ?11, updated_at = ?12, version = ?13
                 WHERE id = ?14 AND version = ?15",
                params![
                    row.account,
                    row.connector_id,
                    row.connector_version,
                    row.variant,
                    row.cloud,
                    row.tenant_id,
                    row.tenant_key,
                    row.settings,
                    row.client,
                    row.status,
                    row.last_error,
                    row.updated_at,
                    row.version,
                    row.id,
                    expected,
                ],
            );
            let changed = match changed {
                Ok(n) => n,
                Err(e) if is_unique_violation(&e) => {
                    let existing = find_live_duplicate(&tx, &row).map_err(|e| storage(&path, e))?;
                    return Err(match existing {
                        Some(existing) => Installation::duplicate_error(&existing.into_installation()?),
                        None => storage(&path, e),
                    });
                }
                Err(e) => return Err(storage(&path, e)),
            };
            if changed == 0 {
                let current: Option<i64> = tx
                    .query_row(
                        "SELECT version FROM installations WHERE id = ?1",
                        params![row.id],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(|e| storage(&path, e))?;
                return Err(match current {
                    None => not_found(stored.id),
                    Some(v) => version_conflict(stored.id, "record", version_u64(expected), version_u64(v)),
                });
            }
            tx.commit().map_err(|e| storage(&path, e))?;
            Ok(stored)
        })
        .await
    }

    async fn load_secrets(
        &self,
        id: InstallationId,
    ) -> Result<Option<Versioned<InstallationSecrets>>> {
        let path = self.path.clone();
        self.with_reader(move |conn, ring| {
            let found = conn
                .query_row(
                    &format!("SELECT {SECRET_COLUMNS} FROM installations WHERE id = ?1"),
                    params![id.to_string()],
                    read_secrets,
                )
                .optional()
                .map_err(|e| storage(&path, e))?;
            match found {
                None => Ok(None),
                Some((row, version)) => Ok(Some(Versioned {
                    version: version_u64(version),
                    value: row.decrypt(ring, id)?,
                })),
            }
        })
        .await
    }

    async fn store_secrets(
        &self,
        id: InstallationId,
        expected: u64,
        secrets: InstallationSecrets,
    ) -> Result<u64> {
        self.store_secrets_if(id, expected, secrets, None).await
    }

    async fn erase_secrets(&self, id: InstallationId) -> Result<u64> {
        let path = self.path.clone();
        self.with_conn(move |conn, _| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| storage(&path, e))?;
            let changed = write_secrets(
                &tx,
                &id.to_string(),
                &SecretRow::erased(SystemTime::now()),
                None,
            )
            .map_err(|e| storage(&path, e))?;
            if changed == 0 {
                return Err(not_found(id));
            }
            let v: i64 = tx
                .query_row(
                    "SELECT secrets_version FROM installations WHERE id = ?1",
                    params![id.to_string()],
                    |r| r.get(0),
                )
                .map_err(|e| storage(&path, e))?;
            tx.execute(
                "DELETE FROM refresh_locks WHERE installation_id = ?1",
                params![id.to_string()],
            )
            .map_err(|e| storage(&path, e))?;
            tx.commit().map_err(|e| storage(&path, e))?;
            Ok(version_u64(v))
        })
        .await
    }

    async fn try_lock_refresh(
        &self,
        id: InstallationId,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool> {
        let path = self.path.clone();
        let holder = holder.to_string();
        self.with_conn(move |conn, _| {
            let now = to_millis(SystemTime::now());
            let until = now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| storage(&path, e))?;
            require_installation(&tx, &path, id)?;
            let taken = tx
                .execute(
                    "INSERT INTO refresh_locks (installation_id, holder, expires_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (installation_id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                     WHERE refresh_locks.holder = excluded.holder OR refresh_locks.expires_at <= ?4",
                    params![id.to_string(), holder, until, now],
                )
                .map_err(|e| storage(&path, e))?;
            tx.commit().map_err(|e| storage(&path, e))?;
            Ok(taken > 0)
        })
        .await
    }

    async fn unlock_refresh(&self, id: InstallationId, holder: &str) -> Result<()> {
        let path = self.path.clone();
        let holder = holder.to_string();
        self.with_conn(move |conn, _| {
            conn.execute(
                "DELETE FROM refresh_locks WHERE installation_id = ?1 AND holder = ?2",
                params![id.to_string(), holder],
            )
            .map_err(|e| storage(&path, e))?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl switchboard_sync::SyncLeases for SqliteStore {
    async fn try_lease(
        &self,
        installation: InstallationId,
        resource: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool> {
        let path = self.path.clone();
        let (resource, holder) = (resource.to_string(), holder.to_string());
        self.with_conn(move |conn, _| {
            let now = to_millis(SystemTime::now());
            let until = now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| storage(&path, e))?;
            require_installation(&tx, &path, installation)?;
            let taken = tx
                .execute(
                    "INSERT INTO sync_leases (installation_id, resource, holder, expires_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (installation_id, resource) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
                     WHERE sync_leases.holder = excluded.holder OR sync_leases.expires_at <= ?5",
                    params![installation.to_string(), resource, holder, until, now],
                )
                .map_err(|e| storage(&path, e))?;
            tx.commit().map_err(|e| storage(&path, e))?;
            Ok(taken > 0)
        })
        .await
    }

    async fn release_lease(
        &self,
        installation: InstallationId,
        resource: &str,
        holder: &str,
    ) -> Result<()> {
        let path = self.path.clone();
        let (resource, holder) = (resource.to_string(), holder.to_string());
        self.with_conn(move |conn, _| {
            conn.execute(
                "DELETE FROM sync_leases WHERE installation_id = ?1 AND resource = ?2 AND holder = ?3",
                params![installation.to_string(), resource, holder],
            )
            .map_err(|e| storage(&path, e))?;
            Ok(())
        })
        .await
    }

    async fn store_secrets_leased(
        &self,
        lease: &LeaseHold<'_>,
        expected: u64,
        secrets: InstallationSecrets,
    ) -> Result<u64> {
        let condition = (
            lease.resource.to_string(),
            lease.holder.to_string(),
            lease.ttl,
        );
        self.store_secrets_if(lease.installation, expected, secrets, Some(condition))
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    async fn store_with(readers: usize) -> (tempfile::TempDir, SqliteStore, InstallationId) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_with(
            dir.path().join("s.db"),
            KeyRing::generate("k1").unwrap(),
            SqliteOptions::default().with_readers(readers),
        )
        .await
        .unwrap();
        let inst = store
            .create(
                Installation::new("acct", "microsoft365", "1.0.0", "delegated"),
                InstallationSecrets::default().with_refresh_token("rt"),
            )
            .await
            .unwrap();
        (dir, store, inst.id)
    }

    #[tokio::test]
    async fn reads_do_not_wait_for_the_writer_connection() {
        let (_dir, store, id) = store_with(2).await;
        // a thread holds the writer connection (as a long write would)
        let writer = store.conn.clone();
        let (release, held) = mpsc::channel::<()>();
        let (locked, is_locked) = mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let _guard = writer.lock().unwrap();
            locked.send(()).unwrap();
            held.recv().unwrap();
        });
        is_locked.recv().unwrap();
        // every plain read is served by the pool meanwhile
        assert_eq!(store.get(id).await.unwrap().unwrap().account, "acct");
        assert_eq!(store.list_by_account("acct").await.unwrap().len(), 1);
        let secrets = store.load_secrets(id).await.unwrap().unwrap();
        assert_eq!(secrets.version, 1);
        assert_eq!(store.key_state().await.unwrap().registered.len(), 1);
        release.send(()).unwrap();
        holder.join().unwrap();
    }

    #[tokio::test]
    async fn without_readers_reads_use_the_writer_and_see_every_write() {
        for readers in [0, 3] {
            let (_dir, store, id) = store_with(readers).await;
            let secrets = store.load_secrets(id).await.unwrap().unwrap();
            let v = store
                .store_secrets(
                    id,
                    secrets.version,
                    InstallationSecrets::default().with_refresh_token("rt-2"),
                )
                .await
                .unwrap();
            // a read right after a committed write sees it, on either path
            let again = store.load_secrets(id).await.unwrap().unwrap();
            assert_eq!(again.version, v, "readers = {readers}");
            assert_eq!(store.readers.is_some(), readers > 0);
        }
    }
}
