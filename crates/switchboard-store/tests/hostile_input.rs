//! Hostile input for what the store reads from files a user hands it: key
//! files (and `SWITCHBOARD_MASTER_KEYS`), encrypted values, and rows of a
//! SQLite store file edited or damaged outside switchboard.
//!
//! No input panics; a bad key file is a configuration error that never
//! quotes key material; a damaged value or row is a storage error that
//! never quotes the stored text. Encryption round-trips. Case counts are
//! small; `SWITCHBOARD_FUZZ_SCALE` multiplies them (see docs/engine.md).

use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use proptest::sample::select;
use switchboard_core::InstallationId;
use switchboard_core::untrusted_text::is_unsafe_char;
use switchboard_core::{Error, ErrorKind};
use switchboard_hostile::{check, config, text};
use switchboard_installations::install::{Installation, InstallationSecrets, InstallationStore};
use switchboard_store::sqlite::SqliteStore;
use switchboard_store::{KeyRing, MasterKeys, OpenOptions, Store};

fn assert_presentable(err: &Error, secrets: &[&str]) -> Result<(), TestCaseError> {
    check::presentable(&err.to_string(), 2_000, is_unsafe_char, secrets)?;
    check::presentable(&format!("{err:?}"), usize::MAX, |_| false, secrets)
}

// ---------------------------------------------------------------------------
// Key files.

/// A key: base64 of 32 bytes, or of another length, or not base64.
fn key_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 32).prop_map(|k| STANDARD.encode(k)),
        1 => proptest::collection::vec(any::<u8>(), 0..64).prop_map(|k| STANDARD.encode(k)),
        1 => text::short_text(),
    ]
}

/// A key id: plausible, empty, too long, or anything.
fn key_id() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(&["k1", "k2", "k3", "prod-2026", "K_9"][..]).prop_map(str::to_string),
        1 => "[a-z0-9_-]{33,40}",
        1 => text::short_text(),
    ]
}

/// One line of a key file.
fn key_line() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (key_id(), key_text(), select(&[":", " : ", "=", ""][..]))
            .prop_map(|(id, key, sep)| format!("{id}{sep}{key}")),
        1 => text::short_text().prop_map(|c| format!("# {c}")),
        1 => Just(String::new()),
        1 => text::text(),
        1 => key_text().prop_map(|key| format!("{key}:k1")),
    ]
}

/// A key file: lines joined by LF, CRLF or commas, maybe with a BOM,
/// maybe cut short.
fn key_file() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(key_line(), 0..6),
        select(&["\n", "\r\n", ","][..]),
        any::<bool>(),
        proptest::option::of(any::<prop::sample::Index>()),
    )
        .prop_map(|(lines, sep, bom, cut)| {
            let mut file = lines.join(sep);
            if bom {
                file.insert(0, '\u{feff}');
            }
            if let Some(cut) = cut {
                let at = text::floor_char_boundary(&file, cut.index(file.len() + 1));
                file.truncate(at);
            }
            file
        })
}

/// The base64 keys of 32 bytes a text holds (what must never be quoted).
fn keys_in(file: &str) -> Vec<String> {
    file.split(|c: char| !(c.is_ascii_alphanumeric() || "+/=".contains(c)))
        .filter(|word| word.len() >= 43 && STANDARD.decode(word).is_ok_and(|k| k.len() == 32))
        .map(str::to_string)
        .collect()
}

proptest! {
    #![proptest_config(config(512))]

    /// Any key file: a ring of well-formed, distinct ids, or a
    /// configuration error that quotes no key.
    #[test]
    fn key_files_never_panic_or_leak_keys(file in key_file()) {
        match KeyRing::parse(&file) {
            Ok(ring) => {
                let ids = ring.key_ids();
                prop_assert!(!ids.is_empty());
                for id in &ids {
                    prop_assert!((1..=32).contains(&id.len()));
                    prop_assert!(id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
                    prop_assert_eq!(ids.iter().filter(|other| *other == id).count(), 1);
                }
                prop_assert!(ring.newest_key_id().is_some_and(|newest| ids.contains(&newest)));
            }
            Err(err) => {
                prop_assert_eq!(err.kind(), ErrorKind::Configuration);
                let keys = keys_in(&file);
                let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
                assert_presentable(&err, &keys)?;
            }
        }
    }
}

proptest! {
    #![proptest_config(config(32))]

    /// A key file of any bytes on disk (invalid UTF-8 included) opens the
    /// store or fails with an error naming the file and quoting no key.
    #[test]
    fn key_files_of_any_bytes(bytes in prop_oneof![text::bytes(), key_file().prop_map(String::into_bytes)]) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.keys");
        std::fs::write(&path, &bytes).unwrap();
        let spec = format!("sqlite:{}", dir.path().join("store.db").display());
        let options = OpenOptions::default().with_allow_readable_key_file(true);
        let opened = db().runtime.block_on(Store::open_with(&spec, MasterKeys::File(path.clone()), options));
        if let Err(err) = opened {
            prop_assert_eq!(err.kind(), ErrorKind::Configuration, "{}", err);
            prop_assert!(err.to_string().contains("master.keys"), "{}", err);
            let text = String::from_utf8_lossy(&bytes);
            let keys = keys_in(&text);
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            assert_presentable(&err, &keys)?;
        }
    }
}

// ---------------------------------------------------------------------------
// Encrypted values.

fn ring() -> &'static KeyRing {
    static RING: OnceLock<KeyRing> = OnceLock::new();
    RING.get_or_init(|| {
        KeyRing::generate("k1")
            .unwrap()
            .with_keys_from(KeyRing::generate("k2").unwrap())
            .unwrap()
    })
}

/// A stored value: a real one altered (a byte flipped, cut short, relabelled,
/// extended) or any text.
fn stored_value() -> impl Strategy<Value = (InstallationId, String)> {
    let id = InstallationId::from_u128(7);
    let real = ring()
        .encrypt(id, "refresh_token", b"rt-secret-value")
        .unwrap();
    prop_oneof![
        3 => (any::<prop::sample::Index>(), any::<u8>()).prop_map({
            let real = real.clone();
            move |(at, byte)| {
                let mut bytes = real.clone().into_bytes();
                let at = at.index(bytes.len());
                bytes[at] = byte;
                (id, String::from_utf8_lossy(&bytes).into_owned())
            }
        }),
        1 => any::<prop::sample::Index>().prop_map({
            let real = real.clone();
            move |at| (id, real[..at.index(real.len())].to_string())
        }),
        1 => select(&["v1:k1:", "v1:k3:", "v2:k2:", "k2:", "v1::", ""][..]).prop_map({
            let real = real.clone();
            move |label| (id, format!("{label}{}", real.splitn(3, ':').nth(2).unwrap_or_default()))
        }),
        1 => Just((InstallationId::from_u128(8), real.clone())),
        2 => text::text().prop_map(move |t| (id, t)),
    ]
}

proptest! {
    #![proptest_config(config(512))]

    /// Only the value written decrypts, and only for its installation and
    /// field; anything else is a storage error that quotes no stored text.
    #[test]
    fn altered_values_never_decrypt_or_leak((id, stored) in stored_value()) {
        match ring().decrypt(id, "refresh_token", &stored) {
            Ok(plain) => prop_assert_eq!(&plain[..], b"rt-secret-value"),
            Err(err) => {
                prop_assert_eq!(err.kind(), ErrorKind::Storage);
                let quoted: Vec<&str> = [stored.as_str()].into_iter().filter(|s| s.len() >= 12).collect();
                assert_presentable(&err, &quoted)?;
            }
        }
    }

}

proptest! {
    // ChaCha20 is slow unoptimised and some plaintexts are 64 KiB.
    #![proptest_config(config(96))]

    /// Encryption round-trips any bytes for any field.
    #[test]
    fn encryption_round_trips(plain in text::bytes(), field in text::short_text(), id in any::<u128>()) {
        let id = InstallationId::from_u128(id);
        let stored = ring().encrypt(id, &field, &plain).unwrap();
        prop_assert_eq!(&ring().decrypt(id, &field, &stored).unwrap()[..], &plain[..]);
        prop_assert_eq!(KeyRing::key_id_of(&stored), Some("k2"));
        prop_assert_eq!(ring().newest_key_id(), Some("k2"));
    }
}

// ---------------------------------------------------------------------------
// Rows of a SQLite store file, edited outside switchboard.

const COLUMNS: &[&str] = &[
    "id",
    "account",
    "connector_id",
    "connector_version",
    "variant",
    "cloud",
    "tenant_id",
    "settings",
    "client",
    "status",
    "last_error",
    "created_at",
    "updated_at",
    "version",
    "client_secret",
    "access_token",
    "access_token_expires_at",
    "refresh_token",
    "token_tenant_id",
    "granted_scopes",
    "continuations",
    "secrets_version",
    "secrets_updated_at",
];

/// The columns that hold encrypted secrets.
const SECRET_COLUMNS: &[&str] = &[
    "client_secret",
    "access_token",
    "refresh_token",
    "continuations",
];

/// A value of any SQL type.
#[derive(Debug, Clone)]
enum Cell {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

fn cell() -> impl Strategy<Value = Cell> {
    prop_oneof![
        1 => Just(Cell::Null),
        2 => prop_oneof![any::<i64>(), select(&[i64::MIN, -1, 0, i64::MAX][..])].prop_map(Cell::Integer),
        1 => any::<f64>().prop_map(Cell::Real),
        4 => prop_oneof![
            3 => text::text(),
            2 => switchboard_hostile::json::object(&["client_id", "tenant", "scopes", "a", "continuation"]),
            1 => select(&["active", "[]", "{}", "v1:k1:AAAA", "needs_reauth", "00000000-0000-0000-0000-000000000000"][..]).prop_map(str::to_string),
        ].prop_map(Cell::Text),
        1 => text::bytes().prop_map(Cell::Blob),
    ]
}

/// One store file for every case, on a runtime of its own.
struct Db {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    runtime: tokio::runtime::Runtime,
    store: SqliteStore,
}

fn db() -> &'static Db {
    static DB: OnceLock<Db> = OnceLock::new();
    DB.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("switchboard.db");
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let ring = KeyRing::generate("k1").unwrap();
        let store = runtime.block_on(SqliteStore::open(&path, ring)).unwrap();
        Db {
            _dir: dir,
            path,
            runtime,
            store,
        }
    })
}

proptest! {
    #![proptest_config(config(96))]

    /// A row with any column replaced by any value reads back, or fails
    /// with a storage error that is presentable: it never quotes a secret
    /// column, and quotes other columns only made safe and short.
    #[test]
    fn damaged_rows_are_storage_errors(damage in proptest::collection::vec((select(COLUMNS), cell()), 1..3)) {
        let db = db();
        let secrets = InstallationSecrets::default()
            .with_client_secret("cs-value")
            .with_refresh_token("rt-value");
        let account = format!("acct-{}", InstallationId::new_random());
        let created = db.runtime.block_on(db.store.create(
            Installation::new(account.clone(), "microsoft365", "1.0.0", "delegated"),
            secrets,
        )).unwrap();
        let conn = rusqlite::Connection::open(&db.path).unwrap();
        conn.busy_timeout(Duration::from_secs(10)).unwrap();
        let mut quoted = Vec::new();
        for (column, value) in &damage {
            let sql = format!("UPDATE installations SET {column} = ?1 WHERE account = ?2");
            let value = match value {
                Cell::Null => rusqlite::types::Value::Null,
                Cell::Integer(i) => rusqlite::types::Value::Integer(*i),
                Cell::Real(f) => rusqlite::types::Value::Real(*f),
                Cell::Text(t) => {
                    // A secret column's text is never quoted; another
                    // column's may be, made safe and short.
                    let secret = SECRET_COLUMNS.contains(column);
                    if (secret && t.chars().count() >= 24) || t.chars().count() > 200 {
                        quoted.push(t.clone());
                    }
                    rusqlite::types::Value::Text(t.clone())
                }
                Cell::Blob(b) => rusqlite::types::Value::Blob(b.clone()),
            };
            // NOT NULL and uniqueness may refuse the edit; that is fine.
            let _ = conn.execute(&sql, rusqlite::params![value, account]);
        }
        let quoted: Vec<&str> = quoted.iter().map(String::as_str).collect();
        let reads = db.runtime.block_on(async {
            let mut reads = vec![
                db.store.get(created.id).await.map(|_| ()),
                db.store.load_secrets(created.id).await.map(|_| ()),
            ];
            match db.store.list_by_account(&account).await {
                Ok(rows) => reads.extend(rows.into_iter().map(|row| row.map(|_| ()))),
                Err(err) => reads.push(Err(err)),
            }
            reads
        });
        for read in reads {
            if let Err(err) = read {
                prop_assert_eq!(err.kind(), ErrorKind::Storage, "{}", err);
                assert_presentable(&err, &quoted)?;
            }
        }
    }
}
