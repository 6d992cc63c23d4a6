//! Which store the CLI uses and where its master keys come from.
//!
//! The store is `--store`, else `SWITCHBOARD_STORE`, else
//! `sqlite:<data dir>/switchboard.db` where the data directory is the
//! platform's (`$XDG_DATA_HOME/switchboard` or `~/.local/share/switchboard`
//! on Linux).
//!
//! The master keys are `SWITCHBOARD_MASTER_KEYS` when it is set; otherwise
//! a key file: `SWITCHBOARD_KEY_FILE`, else `master.keys` beside a SQLite
//! store's file (in the data directory for PostgreSQL). The file is created
//! with one new key, mode 0600, on first use of a store without secrets,
//! and the CLI says where on stderr: without it the stored secrets cannot
//! be read. For a store that holds secrets a missing key file is refused
//! (see `switchboard_store::Store::open_with` and docs/stores.md).

use std::path::{Path, PathBuf};

use switchboard_core::{Error, ErrorKind, Result};
use switchboard_store::keyfile::default_key_file;
use switchboard_store::keyring::KeyRing;
use switchboard_store::{MasterKeys, OpenOptions, Opened, STORE_ENV, Store, redacted_spec};

/// The store file name in the data directory.
const DEFAULT_STORE_FILE: &str = "switchboard.db";

/// Where the master keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `SWITCHBOARD_MASTER_KEYS`.
    Env,
    /// A key file.
    File(PathBuf),
}

/// A resolved store: its spec and where its keys are.
#[derive(Debug, Clone)]
pub struct StoreLocation {
    /// `sqlite:PATH` or a PostgreSQL URL.
    pub spec: String,
    /// The master keys' source.
    pub keys: KeySource,
}

/// The user's data directory for switchboard.
pub fn data_dir() -> Result<PathBuf> {
    directories::ProjectDirs::from("", "", "switchboard")
        .map(|d| d.data_dir().to_path_buf())
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Configuration,
                format!(
                    "no home directory to keep the store in; pass --store sqlite:PATH or set {STORE_ENV}"
                ),
            )
        })
}

fn is_postgres(spec: &str) -> bool {
    spec.starts_with("postgres://") || spec.starts_with("postgresql://")
}

/// The SQLite file of a spec, if it is one.
fn sqlite_path(spec: &str) -> Option<&Path> {
    if is_postgres(spec) {
        return None;
    }
    Some(Path::new(spec.strip_prefix("sqlite:").unwrap_or(spec)))
}

impl StoreLocation {
    /// Resolve `--store` (already merged with `SWITCHBOARD_STORE` by clap).
    pub fn resolve(store: Option<&str>) -> Result<Self> {
        let spec = match store.map(str::trim).filter(|s| !s.is_empty()) {
            Some(spec) => spec.to_string(),
            None => format!("sqlite:{}", data_dir()?.join(DEFAULT_STORE_FILE).display()),
        };
        if !is_postgres(&spec) && spec.contains("://") {
            return Err(Error::invalid_argument(
                "--store",
                "must be `sqlite:PATH` or a `postgres://` URL",
            ));
        }
        let keys = if std::env::var_os(switchboard_store::keyring::MASTER_KEYS_ENV).is_some() {
            KeySource::Env
        } else {
            let dir = match sqlite_path(&spec).and_then(Path::parent) {
                Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
                Some(_) => PathBuf::from("."),
                None => data_dir()?,
            };
            KeySource::File(default_key_file(&dir))
        };
        Ok(StoreLocation { spec, keys })
    }

    /// Where the store's keys come from, for the store.
    pub fn master_keys(&self) -> MasterKeys {
        match &self.keys {
            KeySource::Env => MasterKeys::Env,
            KeySource::File(path) => MasterKeys::File(path.clone()),
        }
    }

    /// Whether anything was ever stored: the SQLite file exists (a
    /// PostgreSQL store is taken to exist).
    pub fn exists(&self) -> bool {
        match sqlite_path(&self.spec) {
            Some(path) => path.exists(),
            None => true,
        }
    }

    /// Open the store for reading, creating nothing: no directory, no
    /// store file, no key file. `None` when nothing was ever stored. With
    /// a key file missing the records are readable, the secrets not.
    pub async fn open_read_only(&self) -> Result<Option<Store>> {
        let options = OpenOptions::from_env()?.with_create(false);
        match Store::open_with(&self.spec, self.master_keys(), options).await {
            Ok(opened) => {
                for warning in &opened.warnings {
                    eprintln!("warning: {warning}");
                }
                Ok(Some(opened.store))
            }
            Err(e) if e.kind() == ErrorKind::NotFound && !self.exists() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Open the store with its keys, creating the SQLite file, its
    /// directory and (for a store without secrets) the key file when
    /// missing. What the operator should know goes to stderr.
    pub async fn open(&self) -> Result<Store> {
        Ok(self.open_reporting().await?.store)
    }

    /// [`StoreLocation::open`], also returning what opening did.
    pub async fn open_reporting(&self) -> Result<Opened> {
        self.create_sqlite_dir()?;
        let opened =
            Store::open_with(&self.spec, self.master_keys(), OpenOptions::from_env()?).await?;
        if let Some(path) = &opened.key_file_created {
            eprintln!(
                "created the master key file {} (mode 0600); back it up: without it the stored secrets cannot be read",
                path.display()
            );
        }
        for warning in &opened.warnings {
            eprintln!("warning: {warning}");
        }
        Ok(opened)
    }

    /// Open the store with this key ring.
    pub async fn open_with(&self, ring: KeyRing) -> Result<Store> {
        self.create_sqlite_dir()?;
        Store::open(&self.spec, ring).await
    }

    fn create_sqlite_dir(&self) -> Result<()> {
        if let Some(dir) = sqlite_path(&self.spec).and_then(Path::parent)
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::new(
                    ErrorKind::Storage,
                    format!("cannot create the store directory {}", dir.display()),
                )
                .with_source(e)
            })?;
        }
        Ok(())
    }

    /// The spec for messages: a PostgreSQL URL without credentials.
    pub fn display(&self) -> String {
        redacted_spec(&self.spec)
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_sits_beside_a_sqlite_store() {
        // SAFETY of the assertion: only meaningful without the env overrides
        if std::env::var_os("SWITCHBOARD_MASTER_KEYS").is_some()
            || std::env::var_os("SWITCHBOARD_KEY_FILE").is_some()
        {
            return;
        }
        let loc = StoreLocation::resolve(Some("sqlite:/tmp/x/sb.db")).unwrap();
        assert_eq!(
            loc.keys,
            KeySource::File(PathBuf::from("/tmp/x/master.keys"))
        );
        assert_eq!(loc.spec, "sqlite:/tmp/x/sb.db");
    }

    #[test]
    fn bad_specs_and_passwords() {
        let err = StoreLocation::resolve(Some("mysql://h/db")).unwrap_err();
        assert_eq!(err.field(), Some("--store"));
        let loc = StoreLocation {
            spec: "postgres://u:secret@localhost/db".into(),
            keys: KeySource::Env,
        };
        assert!(!loc.display().contains("secret"));
    }
}
