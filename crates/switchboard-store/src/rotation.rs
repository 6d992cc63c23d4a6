//! Key rotation: add a key, re-encrypt every secret under it, forget the
//! keys no secret uses any more.
//!
//! One rotation at a time per store: the store's rotation lock (SQLite: an
//! advisory lock on `<store file>.rotation.lock`; PostgreSQL: a session
//! advisory lock) is held throughout, and the key file's own lock while
//! the file is rewritten. The new key is in the key file, fsynced, before
//! any secret is encrypted with it, so a rotation killed at any point
//! leaves a store that opens and reads: rows are rewritten one transaction
//! at a time, each under the old key or the new one.
//!
//! ```
//! use switchboard_installations::install::{Installation, InstallationSecrets, InstallationStore};
//! use switchboard_store::{MasterKeys, OpenOptions, Store};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let spec = format!("sqlite:{}", dir.path().join("store.db").display());
//! let keys = || MasterKeys::File(dir.path().join("master.keys"));
//! let store = Store::open_with(&spec, keys(), OpenOptions::default()).await.unwrap().store;
//! store
//!     .create(Installation::new("acct", "microsoft365", "1.0.0", "application"), InstallationSecrets::default().with_client_secret("cs"))
//!     .await
//!     .unwrap();
//! let report = store.rotate_keys(&keys(), &OpenOptions::default()).await.unwrap();
//! assert_eq!(report.added_key.as_deref(), Some("k2"));
//! assert_eq!(report.reencrypted.rewritten, 1);
//! assert_eq!(report.reencrypted.forgotten, vec!["k1".to_string()]);
//! # });
//! ```

use std::path::Path;

use switchboard_core::{Error, ErrorKind, Result};

use crate::Store;
use crate::key_registry::KeyedStore;
use crate::keyfile;
use crate::keyring::{KeyRing, MasterKey};
use crate::open::{MasterKeys, OpenOptions, fresh_key_id, load_key_file};
use crate::row::ReencryptReport;

/// What [`Store::rotate_keys`] did.
#[derive(Debug)]
#[non_exhaustive]
pub struct RotationReport {
    /// The key added to the key file (none for keys from a ring or the
    /// environment: add the key there first).
    pub added_key: Option<String>,
    /// The key every secret is now encrypted with.
    pub newest_key: String,
    /// The re-encryption, with the keys no secret uses any more
    /// ([`ReencryptReport::forgotten`]).
    pub reencrypted: ReencryptReport,
    /// Things the operator should know (repairs, warnings).
    pub warnings: Vec<String>,
}

enum Held {
    Sqlite(#[allow(dead_code)] std::fs::File),
    Postgres(#[allow(dead_code)] crate::postgres::RotationLock),
}

impl Store {
    async fn lock_rotation(&self) -> Result<Held> {
        Ok(match self {
            Store::Sqlite(s) => Held::Sqlite(s.lock_rotation().await?),
            Store::Postgres(s) => Held::Postgres(s.lock_rotation().await?),
        })
    }

    /// Rotate the master keys: with [`MasterKeys::File`], add a new key to
    /// the file (the newest); then re-encrypt every secret under the newest
    /// key and forget the keys no secret uses. Rotations of one store run
    /// one at a time (see the module doc). A key file whose newest id was
    /// duplicated by an older switchboard is repaired here: every copy is
    /// tried when decrypting, and the unused copies become comments.
    pub async fn rotate_keys(
        &self,
        keys: &MasterKeys,
        options: &OpenOptions,
    ) -> Result<RotationReport> {
        let held = self.lock_rotation().await?;
        let result = self.rotate_locked(keys, options).await;
        drop(held);
        result
    }

    async fn rotate_locked(
        &self,
        keys: &MasterKeys,
        options: &OpenOptions,
    ) -> Result<RotationReport> {
        let mut warnings = Vec::new();
        let (store, added_key) = match keys {
            MasterKeys::File(path) => {
                let loaded = load_key_file(self, path, options, true).await?;
                warnings.extend(loaded.warnings);
                if loaded.created {
                    // a store without secrets: its new file's key is the newest already
                    (self.with_key_ring(loaded.ring), None)
                } else {
                    let (ring, id) = add_key(self, path, loaded.ring).await?;
                    (self.with_key_ring(ring), Some(id))
                }
            }
            MasterKeys::Env => {
                let ring = KeyRing::from_env()?.ok_or_else(|| {
                    Error::new(
                        ErrorKind::Configuration,
                        format!("{} is not set", crate::keyring::MASTER_KEYS_ENV),
                    )
                })?;
                (self.with_key_ring(ring), None)
            }
            MasterKeys::Ring(ring) => (self.with_key_ring(ring.copy()), None),
        };
        let Some(newest) = store.key_ring().newest_key_id().map(String::from) else {
            return Err(Error::new(
                ErrorKind::Configuration,
                "no master key to rotate to",
            ));
        };
        let reencrypted = store.reencrypt_all().await?;
        if let MasterKeys::File(path) = keys {
            // copies of a duplicated id that no secret uses now become comments
            let loaded = load_key_file(&store, path, options, false).await?;
            warnings.extend(loaded.warnings);
        }
        Ok(RotationReport {
            added_key,
            newest_key: newest,
            reencrypted,
            warnings,
        })
    }
}

/// Append a new key (an id neither the file nor the store has used) to
/// the key file under its lock, atomically and durably, and return the
/// ring with it as the newest.
async fn add_key(store: &Store, path: &Path, ring: KeyRing) -> Result<(KeyRing, String)> {
    let registered: Vec<String> = store
        .key_state()
        .await?
        .registered
        .into_iter()
        .map(|k| k.id)
        .collect();
    let path = path.to_path_buf();
    let label = ring.source().to_string();
    let allow = true; // the mode was checked when the file was loaded
    tokio::task::spawn_blocking(move || {
        let _lock = keyfile::lock(&path)?;
        // the file as it is now, under the lock
        let Some((file, _)) = keyfile::read(&path, allow)? else {
            return Err(Error::new(
                ErrorKind::Configuration,
                format!(
                    "the key file {} disappeared during the rotation",
                    path.display()
                ),
            ));
        };
        let id = fresh_key_id(
            file.entries
                .iter()
                .map(|e| e.key.id.as_str())
                .chain(registered.iter().map(String::as_str)),
        );
        let key = MasterKey::generate(&id)?;
        keyfile::write_atomic(&path, &keyfile::with_added_key(&file.text, &key))?;
        let mut keys: Vec<MasterKey> = file.entries.into_iter().map(|e| e.key).collect();
        keys.push(key);
        tracing::info!(path = %path.display(), key = %id, "added a master key");
        Ok((KeyRing::from_keys(keys, label), id))
    })
    .await
    .map_err(|e| Error::new(ErrorKind::Storage, format!("the key file task failed: {e}")))?
}
