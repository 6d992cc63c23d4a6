//! The store suite on SQLite, plus SQLite's own fault tests.

mod suite;

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::ExposeSecret;
use suite::{Backend, KeyBox, SECRET_COLUMNS_SQL};
use switchboard_core::ErrorKind;
use switchboard_installations::install::{Installation, InstallationSecrets, InstallationStore};
use switchboard_store::sqlite::{SqliteOptions, SqliteStore};
use switchboard_store::{KeyRing, MasterKeys, OpenOptions, Opened, Store};

struct SqliteBackend {
    _dir: tempfile::TempDir,
    path: PathBuf,
    keys: KeyBox,
}

impl SqliteBackend {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("switchboard.db");
        SqliteBackend {
            _dir: dir,
            path,
            keys: KeyBox::default(),
        }
    }

    fn raw(&self) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open(&self.path).unwrap();
        conn.busy_timeout(Duration::from_secs(10)).unwrap();
        conn
    }
}

#[async_trait]
impl Backend for SqliteBackend {
    async fn open(&self, ring: KeyRing) -> switchboard_core::Result<Store> {
        Ok(Store::Sqlite(SqliteStore::open(&self.path, ring).await?))
    }

    async fn open_keys(
        &self,
        keys: MasterKeys,
        options: OpenOptions,
    ) -> switchboard_core::Result<Opened> {
        Store::open_with(&format!("sqlite:{}", self.path.display()), keys, options).await
    }

    async fn exec(&self, sql: &str) {
        self.raw().execute_batch(sql).unwrap();
    }

    async fn scalar(&self, sql: &str) -> String {
        self.raw()
            .query_row(sql, [], |r| {
                let v: rusqlite::types::Value = r.get(0)?;
                Ok(match v {
                    rusqlite::types::Value::Integer(i) => i.to_string(),
                    rusqlite::types::Value::Text(t) => t,
                    other => format!("{other:?}"),
                })
            })
            .unwrap()
    }

    async fn dump(&self) -> String {
        // the raw bytes of the database file and its write-ahead log
        let mut bytes = std::fs::read(&self.path).unwrap();
        let wal = self.path.with_extension("db-wal");
        if let Ok(more) = std::fs::read(&wal) {
            bytes.extend(more);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    async fn secret_columns(&self) -> String {
        let conn = self.raw();
        let mut stmt = conn.prepare(SECRET_COLUMNS_SQL).unwrap();
        let rows: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        rows.join("\n")
    }

    fn keys(&self) -> &KeyBox {
        &self.keys
    }
}

store_suite!(SqliteBackend::new());

#[tokio::test]
async fn a_locked_database_gives_a_storage_error_and_loses_nothing() {
    let backend = SqliteBackend::new().await;
    let ring = || backend.keys.ring(&["k1"]);
    let store = SqliteStore::open_with(
        &backend.path,
        ring(),
        SqliteOptions::default().with_busy_timeout(Duration::from_millis(100)),
    )
    .await
    .unwrap();
    let inst = store
        .create(
            Installation::new("acct", "microsoft365", "1.0.0", "delegated"),
            InstallationSecrets::default().with_refresh_token("rt-kept"),
        )
        .await
        .unwrap();
    // another process holds the write lock (a stuck writer, a backup...)
    let blocker = backend.raw();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let err = store
        .store_secrets(
            inst.id,
            1,
            InstallationSecrets::default().with_refresh_token("rt-lost"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Storage);
    assert!(err.to_string().contains("database is locked"), "{err}");
    assert!(err.to_string().contains("nothing was changed"), "{err}");
    let err = store
        .create(
            Installation::new("acct", "microsoft365", "1.0.0", "application"),
            InstallationSecrets::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Storage);
    blocker.execute_batch("ROLLBACK").unwrap();
    // what was stored is intact and the failed writes left no trace
    let secrets = store.load_secrets(inst.id).await.unwrap().unwrap();
    assert_eq!(secrets.version, 1);
    assert_eq!(
        secrets.value.refresh_token.unwrap().expose_secret(),
        "rt-kept"
    );
    assert_eq!(store.list_by_account("acct").await.unwrap().len(), 1);
    // and the store works again
    store
        .store_secrets(
            inst.id,
            1,
            InstallationSecrets::default().with_refresh_token("rt-2"),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn an_unreachable_file_is_a_storage_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("store.db");
    let err = SqliteStore::open(&path, KeyRing::generate("k1").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Storage);
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[tokio::test]
async fn the_file_is_in_wal_mode_with_the_schema_recorded() {
    let backend = SqliteBackend::new().await;
    backend.open(backend.keys.ring(&["k1"])).await.unwrap();
    assert_eq!(backend.scalar("PRAGMA journal_mode").await, "wal");
    assert_eq!(
        backend
            .scalar("SELECT name FROM schema_migrations WHERE version = 1")
            .await,
        "installations and refresh locks"
    );
}

#[tokio::test]
async fn store_spec_opens_sqlite_and_refuses_nonsense() {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("sqlite:{}", dir.path().join("s.db").display());
    let store = Store::open(&spec, KeyRing::generate("k1").unwrap())
        .await
        .unwrap();
    assert!(matches!(store, Store::Sqlite(_)));
    let err = Store::open("mysql://x", KeyRing::generate("k1").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("store"));
}
