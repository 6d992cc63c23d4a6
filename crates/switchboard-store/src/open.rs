//! Opening a store with its master keys: from a ring, from
//! `SWITCHBOARD_MASTER_KEYS`, or from a key file that is created only for
//! a store without secrets and repaired only when the store proves which
//! copy of a duplicated key is right.
//!
//! ```
//! use switchboard_store::{MasterKeys, OpenOptions, Store};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let spec = format!("sqlite:{}", dir.path().join("store.db").display());
//! let key_file = dir.path().join("master.keys");
//! // a read-only command on a machine without a store creates nothing
//! let err = Store::open_with(&spec, MasterKeys::File(key_file.clone()), OpenOptions::default().with_create(false))
//!     .await
//!     .unwrap_err();
//! assert_eq!(err.kind(), switchboard_core::ErrorKind::NotFound);
//! assert!(!key_file.exists());
//! // the first writable open creates the store and a key file with one key
//! let opened = Store::open_with(&spec, MasterKeys::File(key_file.clone()), OpenOptions::default())
//!     .await
//!     .unwrap();
//! assert_eq!(opened.key_file_created.as_deref(), Some(key_file.as_path()));
//! assert_eq!(opened.store.key_ring().newest_key_id(), Some("k1"));
//! # });
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use switchboard_core::{Error, ErrorKind, Result};

use crate::Store;
use crate::key_registry::{self, KeyState, KeyedStore, missing_file_refusal};
use crate::keyfile::{self, KeyFileText};
use crate::keyring::{KeyRing, MASTER_KEYS_ENV, MasterKey};
use crate::postgres::PostgresOptions;
use crate::sqlite::SqliteOptions;

/// Where a store's master keys come from.
#[derive(Debug)]
#[non_exhaustive]
pub enum MasterKeys {
    /// A ring the caller built.
    Ring(KeyRing),
    /// `SWITCHBOARD_MASTER_KEYS` (an error when it is not set).
    Env,
    /// A key file (see [`crate::keyfile`]); created with one key on first
    /// use of a store that holds no secrets.
    File(PathBuf),
}

/// How [`Store::open_with`] opens a store.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OpenOptions {
    /// Create what is missing: the SQLite file and its directory, and a
    /// key file for a store without secrets (default `true`). Without it a
    /// missing SQLite file is an [`ErrorKind::NotFound`] error, a missing
    /// key file leaves the store readable but unable to write secrets, and
    /// nothing is written to disk but migrations.
    pub create: bool,
    /// Master key ids declared lost for good (`SWITCHBOARD_LOST_KEYS`): the
    /// store opens although its secrets use them.
    pub lost_keys: Vec<String>,
    /// Use a key file that group or others can read, with a warning
    /// (`SWITCHBOARD_ALLOW_READABLE_KEY_FILE=1`); refused otherwise.
    pub allow_readable_key_file: bool,
    /// SQLite options.
    pub sqlite: SqliteOptions,
    /// PostgreSQL options.
    pub postgres: PostgresOptions,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            create: true,
            lost_keys: Vec::new(),
            allow_readable_key_file: false,
            sqlite: SqliteOptions::default(),
            postgres: PostgresOptions::default(),
        }
    }
}

impl OpenOptions {
    /// The defaults, with `SWITCHBOARD_LOST_KEYS` and
    /// `SWITCHBOARD_ALLOW_READABLE_KEY_FILE` applied.
    pub fn from_env() -> Result<Self> {
        let mut options = OpenOptions::default();
        if let Some(value) = std::env::var_os(crate::LOST_KEYS_ENV) {
            let value = value
                .into_string()
                .map_err(|_| Error::invalid_argument(crate::LOST_KEYS_ENV, "is not valid text"))?;
            options.lost_keys = value
                .split(',')
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .map(String::from)
                .collect();
        }
        if let Some(value) = std::env::var_os(keyfile::ALLOW_READABLE_ENV) {
            options.allow_readable_key_file = match value.to_str() {
                Some("1" | "true") => true,
                Some("0" | "false" | "") => false,
                _ => {
                    return Err(Error::invalid_argument(
                        keyfile::ALLOW_READABLE_ENV,
                        "must be `1` or `0`",
                    ));
                }
            };
        }
        Ok(options)
    }

    /// The same options, creating what is missing or not.
    pub fn with_create(mut self, create: bool) -> Self {
        self.create = create;
        self
    }

    /// The same options with key ids declared lost.
    pub fn with_lost_keys(mut self, ids: Vec<String>) -> Self {
        self.lost_keys = ids;
        self
    }

    /// The same options, accepting a key file others can read (or not).
    pub fn with_allow_readable_key_file(mut self, allow: bool) -> Self {
        self.allow_readable_key_file = allow;
        self
    }

    /// The same options with these PostgreSQL options.
    pub fn with_postgres(mut self, postgres: PostgresOptions) -> Self {
        self.postgres = postgres;
        self
    }
}

/// An opened store and what opening it did.
#[derive(Debug)]
#[non_exhaustive]
pub struct Opened {
    /// The store.
    pub store: Store,
    /// The key file created for it, if one was.
    pub key_file_created: Option<PathBuf>,
    /// Things the operator should know (a readable key file, a repaired
    /// duplicate, a key declared lost); also logged.
    pub warnings: Vec<String>,
}

/// A store spec for messages: a PostgreSQL URL without user, password or
/// parameters; a SQLite spec as it is.
pub fn redacted_spec(spec: &str) -> String {
    let spec = spec.trim();
    if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        crate::postgres::redacted_url(spec)
    } else {
        spec.to_string()
    }
}

impl Store {
    /// Open the store named by `spec` with keys from `keys`.
    ///
    /// With [`MasterKeys::File`]: a missing key file is created (one new
    /// key, mode 0600) only when the store holds no encrypted value and
    /// [`OpenOptions::create`] is set; for a store with secrets it is
    /// refused with an error naming the file, the key ids the store needs
    /// and how to restore them. A key id that appears twice in the file is
    /// repaired when the store proves which copy is right (identical
    /// copies, or only one copy opens the store's values); otherwise it is
    /// refused. Then, whatever the source, the ring is checked against the
    /// keys the store's secrets were written with.
    pub async fn open_with(spec: &str, keys: MasterKeys, options: OpenOptions) -> Result<Opened> {
        let source = match &keys {
            MasterKeys::File(path) => format!("the key file {}", path.display()),
            MasterKeys::Env => MASTER_KEYS_ENV.to_string(),
            MasterKeys::Ring(ring) => ring.source().to_string(),
        };
        let store = Store::connect(spec, KeyRing::empty(source), &options).await?;
        let mut warnings = Vec::new();
        let mut key_file_created = None;
        let key_file = match &keys {
            MasterKeys::File(path) => Some(path.clone()),
            _ => None,
        };
        let mut ring = match keys {
            MasterKeys::Ring(ring) => ring,
            MasterKeys::Env => KeyRing::from_env()?.ok_or_else(|| {
                Error::new(
                    ErrorKind::Configuration,
                    format!("{MASTER_KEYS_ENV} is not set (`id:base64key,...`, newest last)"),
                )
            })?,
            MasterKeys::File(path) => {
                let loaded = load_key_file(&store, &path, &options, false).await?;
                if loaded.created {
                    key_file_created = Some(path);
                }
                warnings.extend(loaded.warnings);
                loaded.ring
            }
        };
        // A rotation in another process may add a key to the file after we
        // read it and record it in the store before we check: when the check
        // fails, read the file again, and check again if it changed.
        let mut rereads = 0;
        let store = loop {
            let keyed = store.with_key_ring(ring);
            let refusal = match key_registry::verify(&keyed, &options.lost_keys).await {
                Ok(verified) => {
                    warnings.extend(verified);
                    break keyed;
                }
                Err(refusal) => refusal,
            };
            let Some(path) = key_file.as_deref().filter(|_| rereads < 3) else {
                return Err(refusal);
            };
            rereads += 1;
            let again = load_key_file(&store, path, &options, false).await?;
            if again.ring.key_ids() == keyed.key_ring().key_ids() {
                return Err(refusal);
            }
            ring = again.ring;
        };
        Ok(Opened {
            store,
            key_file_created,
            warnings,
        })
    }
}

/// A key file read for a store.
pub(crate) struct LoadedKeys {
    pub ring: KeyRing,
    pub created: bool,
    pub warnings: Vec<String>,
}

/// A new key id: `k<n>` above every `k<n>` in `taken`.
pub(crate) fn fresh_key_id<'a>(taken: impl IntoIterator<Item = &'a str>) -> String {
    let taken: BTreeSet<&str> = taken.into_iter().collect();
    let next = taken
        .iter()
        .filter_map(|id| id.strip_prefix('k')?.parse::<u32>().ok())
        .max()
        .map_or(1, |n| n.saturating_add(1));
    let mut n = next;
    while taken.contains(format!("k{n}").as_str()) {
        n = n.saturating_add(1);
    }
    format!("k{n}")
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::new(ErrorKind::Storage, format!("the key file task failed: {e}")))?
}

/// Read (or create, or repair) the key file at `path` for `store`.
/// `ambiguous_ok` keeps conflicting duplicates as decryption candidates
/// instead of refusing them (rotation re-encrypts them away).
pub(crate) async fn load_key_file(
    store: &Store,
    path: &Path,
    options: &OpenOptions,
    ambiguous_ok: bool,
) -> Result<LoadedKeys> {
    let label = format!("the key file {}", path.display());
    let mut warnings: Vec<String> = Vec::new();
    // a writer may change the file between our read and our lock: a few tries
    for _ in 0..3 {
        let read = {
            let path = path.to_path_buf();
            let allow = options.allow_readable_key_file;
            blocking(move || keyfile::read(&path, allow)).await?
        };
        let Some((file, warning)) = read else {
            return create_key_file(store, path, options, &label).await;
        };
        if let Some(warning) = warning
            && !warnings.contains(&warning)
        {
            warnings.push(warning);
        }
        match resolve_duplicates(store, &file, &label, ambiguous_ok).await? {
            Resolution::Clean => {
                let keys = file.entries.into_iter().map(|e| e.key).collect();
                return Ok(LoadedKeys {
                    ring: KeyRing::from_keys(keys, label),
                    created: false,
                    warnings,
                });
            }
            Resolution::Comment(lines) => {
                let path_buf = path.to_path_buf();
                let expected = file.text.clone();
                let rewritten = blocking(move || {
                    let _lock = keyfile::lock(&path_buf)?;
                    let current = std::fs::read_to_string(&path_buf).unwrap_or_default();
                    if current != *expected {
                        return Ok(false);
                    }
                    let reasons: Vec<(usize, String)> =
                        lines.iter().map(|(n, why)| (*n, why.clone())).collect();
                    keyfile::write_atomic(
                        &path_buf,
                        &keyfile::with_lines_commented(&expected, &reasons),
                    )?;
                    Ok(true)
                })
                .await?;
                if rewritten {
                    let message = format!(
                        "repaired {label}: duplicate master key lines were turned into comments (the key material stays in the file)"
                    );
                    tracing::warn!("{message}");
                    warnings.push(message);
                }
                // read it again (ours or another writer's version)
                continue;
            }
        }
    }
    Err(Error::new(
        ErrorKind::Configuration,
        format!("{label} kept changing while it was read; try again"),
    ))
}

async fn create_key_file(
    store: &Store,
    path: &Path,
    options: &OpenOptions,
    label: &str,
) -> Result<LoadedKeys> {
    let state = store.key_state().await?;
    if state.has_encrypted {
        return Err(missing_file_refusal(
            &store.describe(),
            path,
            &needed_ids(store, &state).await?,
        ));
    }
    if !options.create {
        return Ok(LoadedKeys {
            ring: KeyRing::empty(format!("{label} (missing; not created)")),
            created: false,
            warnings: Vec::new(),
        });
    }
    let lock = {
        let path = path.to_path_buf();
        blocking(move || keyfile::lock(&path)).await?
    };
    // under the lock: another process may have created it, or written secrets
    if path.exists() {
        drop(lock);
        return Box::pin(load_key_file(store, path, options, false)).await;
    }
    let state = store.key_state().await?;
    if state.has_encrypted {
        return Err(missing_file_refusal(
            &store.describe(),
            path,
            &needed_ids(store, &state).await?,
        ));
    }
    let id = fresh_key_id(state.registered.iter().map(|k| k.id.as_str()));
    let key = MasterKey::generate(&id)?;
    let text = keyfile::new_file_text(&key);
    {
        let path = path.to_path_buf();
        blocking(move || {
            let _lock = lock;
            keyfile::write_atomic(&path, &text)
        })
        .await?;
    }
    tracing::info!(path = %path.display(), key = %id, "created a new master key file (mode 0600); back it up: without it the stored secrets cannot be read");
    Ok(LoadedKeys {
        ring: KeyRing::from_keys(vec![key], label.to_string()),
        created: true,
        warnings: Vec::new(),
    })
}

/// The key ids a store's secrets need: the registry, or (a store written
/// before it) the ids its values carry.
async fn needed_ids(store: &Store, state: &KeyState) -> Result<Vec<String>> {
    if state.registered.is_empty() {
        return Ok(store.key_usage(false).await?.ids());
    }
    Ok(state.registered.iter().map(|k| k.id.clone()).collect())
}

enum Resolution {
    /// No duplicate left to act on.
    Clean,
    /// Turn these 1-based lines into comments, for these reasons.
    Comment(Vec<(usize, String)>),
}

/// Decide what to do with ids that appear more than once in the file.
async fn resolve_duplicates(
    store: &Store,
    file: &KeyFileText,
    label: &str,
    ambiguous_ok: bool,
) -> Result<Resolution> {
    let entries = &file.entries;
    let mut duplicated: Vec<&str> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if entries[..i].iter().any(|o| o.key.id == e.key.id)
            && !duplicated.contains(&e.key.id.as_str())
        {
            duplicated.push(&e.key.id);
        }
    }
    if duplicated.is_empty() {
        return Ok(Resolution::Clean);
    }
    let mut comment: Vec<(usize, String)> = Vec::new();
    // identical copies: keep the first
    for (i, e) in entries.iter().enumerate() {
        if let Some(first) = entries[..i]
            .iter()
            .find(|o| o.key.id == e.key.id && o.key.same_key(&e.key))
        {
            comment.push((
                e.line,
                format!(
                    "switchboard: duplicate of line {} (the same key `{}`); turned into a comment",
                    first.line, e.key.id
                ),
            ));
        }
    }
    let distinct: Vec<usize> = (0..entries.len())
        .filter(|i| !comment.iter().any(|(line, _)| *line == entries[*i].line))
        .collect();
    let conflicting: Vec<&str> = duplicated
        .iter()
        .copied()
        .filter(|id| {
            distinct
                .iter()
                .filter(|i| entries[**i].key.id == *id)
                .count()
                > 1
        })
        .collect();
    if !conflicting.is_empty() {
        // evidence from the store: which copy opens its values, which it recorded
        let ring = KeyRing::from_keys(
            distinct
                .iter()
                .map(|i| entries[*i].key.clone_key())
                .collect(),
            label.to_string(),
        );
        let probe = store.with_key_ring(ring);
        let usage = probe.key_usage(true).await?;
        let state = probe.key_state().await?;
        for id in conflicting {
            let copies: Vec<(usize, usize)> = distinct
                .iter()
                .enumerate()
                .filter(|(_, i)| entries[**i].key.id == id)
                .map(|(position, i)| (position, *i))
                .collect();
            let recorded = state.registered.iter().find(|k| k.id == id);
            let opened = usage.by_id.get(id);
            let used: Vec<(usize, usize, usize)> = copies
                .iter()
                .map(|(position, i)| {
                    let count = opened
                        .and_then(|u| u.opened_by.get(position))
                        .copied()
                        .unwrap_or(0);
                    (*position, *i, count)
                })
                .filter(|(_, i, count)| {
                    *count > 0
                        || recorded.is_some_and(|r| r.fingerprint == entries[*i].key.fingerprint())
                })
                .collect();
            let keep = match used.as_slice() {
                [] => copies[0].1,
                [(_, i, _)] => *i,
                several => {
                    if ambiguous_ok {
                        continue;
                    }
                    let lines = several
                        .iter()
                        .map(|(_, i, count)| {
                            format!("line {} opens {count} stored secret(s)", entries[*i].line)
                        })
                        .collect::<Vec<_>>()
                        .join(", ");
                    return Err(Error::new(
                        ErrorKind::Configuration,
                        format!(
                            "{label} holds master key `{id}` {} times with different keys, and this store uses more than one of them ({lines}), so no copy can be dropped. Run `switchboard keys rotate` (or `Store::rotate_keys`): it re-encrypts every secret under a new key, then turns the unused copies into comments",
                            copies.len()
                        ),
                    ));
                }
            };
            let why = if used.is_empty() {
                "no secret of this store uses either copy".to_string()
            } else {
                format!(
                    "line {} is the copy this store's secrets use",
                    entries[keep].line
                )
            };
            for (_, i) in copies.iter().filter(|(_, i)| *i != keep) {
                comment.push((
                    entries[*i].line,
                    format!(
                        "switchboard: a second, different key `{id}`; {why}, so this one was turned into a comment"
                    ),
                ));
            }
        }
    }
    if comment.is_empty() {
        Ok(Resolution::Clean)
    } else {
        Ok(Resolution::Comment(comment))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_ids_go_above_every_numbered_id() {
        assert_eq!(fresh_key_id([]), "k1");
        assert_eq!(fresh_key_id(["k1"]), "k2");
        assert_eq!(fresh_key_id(["k1", "k7", "other", "k3"]), "k8");
        assert_eq!(fresh_key_id(["prod", "k"]), "k1");
    }

    #[test]
    fn redacted_specs_hide_credentials_and_parameters() {
        assert_eq!(
            redacted_spec("postgres://u:secret@db.example:5432/sb?sslmode=require&password=x"),
            "postgres://db.example:5432/sb"
        );
        assert_eq!(redacted_spec("sqlite:/tmp/a.db"), "sqlite:/tmp/a.db");
    }
}
