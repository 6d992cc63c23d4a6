//! The state file: a sandbox that keeps its tenant across restarts.
//!
//! With [`SandboxConfig::state_file`](crate::SandboxConfig::state_file) set,
//! the sandbox saves everything an installation made against it depends on
//! to one JSON file, and reads it back when it starts again:
//!
//! - the seed (which also derives the token signing key), the tenant, its
//!   app registrations (client id, secret, redirect URIs, permissions);
//! - administrators' consents, authorization codes, refresh tokens (so a
//!   delegated installation keeps refreshing) and issued access tokens;
//! - the directory, mailboxes, calendars, drives and file content, with the
//!   change counter that delta links refer to;
//! - the port (so installations, which store the sandbox's URL, still reach
//!   it), and with TLS the certificate and its key.
//!
//! Not kept: open upload sessions (a client starts a new one, as after a
//! session expired), the request log, fault counters.
//!
//! Writes are atomic (a temporary file in the same directory, fsync,
//! rename, fsync of the directory): a crash leaves the previous state or
//! the new one, never half of one. They happen half a second after a change
//! (changes in between are saved together), at start, and at shutdown. The
//! file is at most [`DEFAULT_STATE_MAX_BYTES`] (configurable); a state that
//! grows beyond is not saved and each attempt logs an error. While a
//! sandbox runs, `FILE.lock` is locked, so a second sandbox cannot write
//! the same file.
//!
//! A file that is damaged, of another format version, or larger than the
//! limit is refused at start with an error naming the file and the way out
//! (`--reset`, [`SandboxConfig::reset_state`](crate::SandboxConfig::reset_state)).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use switchboard_core::files::{AtomicFile, ReadLimitedError, read_limited};
use switchboard_core::{Error, ErrorKind, Result};
use tokio::sync::{Notify, watch};

use crate::config::{ClientRegistration, ClientSecret};
use crate::state::State;
use crate::tls::GeneratedCert;

/// The `format` of a state file.
const FORMAT: &str = "switchboard-microsoft365-sandbox-state";

/// The version this sandbox reads and writes.
const VERSION: u32 = 1;

/// The default largest state file, read or written: 256 MiB.
pub const DEFAULT_STATE_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// How long after a change the state is written (later changes join in).
const SAVE_DELAY: Duration = Duration::from_millis(500);

/// An app registration as the state file keeps it.
#[derive(Clone, Serialize, Deserialize)]
struct StoredClient {
    client_id: String,
    client_secret: String,
    name: String,
    redirect_uris: Vec<String>,
    application_permissions: Vec<String>,
}

impl From<&ClientRegistration> for StoredClient {
    fn from(c: &ClientRegistration) -> Self {
        StoredClient {
            client_id: c.client_id.clone(),
            client_secret: c.client_secret.expose().to_string(),
            name: c.name.clone(),
            redirect_uris: c.redirect_uris.clone(),
            application_permissions: c.application_permissions.clone(),
        }
    }
}

impl From<StoredClient> for ClientRegistration {
    fn from(c: StoredClient) -> Self {
        ClientRegistration {
            client_id: c.client_id,
            client_secret: ClientSecret::new(c.client_secret),
            name: c.name,
            redirect_uris: c.redirect_uris,
            application_permissions: c.application_permissions,
        }
    }
}

/// What does not change while the sandbox runs.
#[derive(Clone)]
pub(crate) struct Fixed {
    pub seed: u64,
    pub port: u16,
    pub download_port: u16,
    pub tls: Option<GeneratedCert>,
    pub clients: Vec<ClientRegistration>,
}

/// The file's contents.
#[derive(Serialize, Deserialize)]
struct Document {
    format: String,
    version: u32,
    seed: u64,
    port: u16,
    download_port: u16,
    tls: Option<GeneratedCert>,
    clients: Vec<StoredClient>,
    /// The upload session counter (session URLs must not repeat).
    upload_counter: u64,
    state: State,
}

/// Only the fields that say what the file is, read first.
#[derive(Deserialize)]
struct Header {
    format: Option<String>,
    version: Option<u32>,
}

/// A state read back from its file.
pub(crate) struct Restored {
    pub fixed: Fixed,
    pub upload_counter: u64,
    pub state: State,
}

fn refused(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Configuration,
        format!(
            "the sandbox state file {} {why}; start the sandbox with --reset to replace it with a fresh tenant (installations made against the old one must then be made again), or name another file with --state",
            path.display()
        ),
    )
    .with_field("state_file")
}

/// Reads the state file at `path`: `None` when there is none.
pub(crate) fn load(path: &Path, max_bytes: u64) -> Result<Option<Restored>> {
    let bytes = match read_limited(path, max_bytes) {
        Ok(bytes) => bytes,
        Err(ReadLimitedError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(None);
        }
        Err(ReadLimitedError::TooLarge { limit }) => {
            return Err(refused(
                path,
                format_args!("is larger than the limit of {limit} bytes"),
            ));
        }
        Err(e) => return Err(refused(path, format_args!("cannot be read ({e})"))),
    };
    let header: Header = serde_json::from_slice(&bytes).map_err(|e| {
        refused(
            path,
            format_args!("is damaged or not a sandbox state file ({e})"),
        )
    })?;
    if header.format.as_deref() != Some(FORMAT) {
        return Err(refused(path, "is not a sandbox state file"));
    }
    match header.version {
        Some(VERSION) => {}
        Some(v) => {
            return Err(refused(
                path,
                format_args!(
                    "has format version {v}, and this sandbox reads version {VERSION} (use the switchboard that wrote it)"
                ),
            ));
        }
        None => return Err(refused(path, "has no format version")),
    }
    let doc: Document = serde_json::from_slice(&bytes)
        .map_err(|e| refused(path, format_args!("is damaged ({e})")))?;
    if doc.clients.is_empty() {
        return Err(refused(path, "has no app registration"));
    }
    if doc.state.tenant.users.is_empty() {
        return Err(refused(path, "has no users"));
    }
    Ok(Some(Restored {
        fixed: Fixed {
            seed: doc.seed,
            port: doc.port,
            download_port: doc.download_port,
            tls: doc.tls,
            clients: doc
                .clients
                .into_iter()
                .map(ClientRegistration::from)
                .collect(),
        },
        upload_counter: doc.upload_counter,
        state: doc.state,
    }))
}

/// Replaces `path` with `bytes` atomically (temporary file beside it,
/// fsync, rename, fsync of the directory), mode 0600: the file holds the
/// sandbox's client secret and tokens.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = AtomicFile::create_with_mode(path, 0o600)?;
    file.write_all(bytes)?;
    file.commit()
}

/// The lock held on `FILE.lock` while a sandbox uses `FILE`.
#[derive(Debug)]
pub(crate) struct StateLock {
    _file: File,
}

impl StateLock {
    /// Locks the state file at `path` for this process (creating its
    /// directory if needed), or says that another sandbox has it.
    pub(crate) fn acquire(path: &Path) -> Result<StateLock> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::new(
                    ErrorKind::Configuration,
                    format!(
                        "cannot create the directory {} for the sandbox state file",
                        dir.display()
                    ),
                )
                .with_field("state_file")
                .with_source(e)
            })?;
        }
        let mut name = path.as_os_str().to_owned();
        name.push(".lock");
        let lock_path = PathBuf::from(name);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| {
                Error::new(
                    ErrorKind::Configuration,
                    format!("cannot open the lock file {}", lock_path.display()),
                )
                .with_field("state_file")
                .with_source(e)
            })?;
        match file.try_lock() {
            Ok(()) => Ok(StateLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::new(
                ErrorKind::Configuration,
                format!(
                    "another sandbox is using the state file {}; stop it, or give this one another file with --state (or none with --no-state)",
                    path.display()
                ),
            )
            .with_field("state_file")),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::new(
                ErrorKind::Configuration,
                format!("cannot lock {}", lock_path.display()),
            )
            .with_field("state_file")
            .with_source(e)),
        }
    }
}

/// Saving a running sandbox's state: what changed, and where it goes.
pub(crate) struct Persistence {
    path: PathBuf,
    max_bytes: u64,
    fixed: Fixed,
    /// Set when the state may have changed since the last save.
    dirty: AtomicBool,
    /// Wakes the saver after a change.
    changed: Notify,
    /// The SHA-256 of the last bytes written: an unchanged state is not
    /// written again.
    last_written: Mutex<Option<[u8; 32]>>,
}

impl Persistence {
    pub(crate) fn new(path: PathBuf, max_bytes: u64, fixed: Fixed) -> Self {
        Persistence {
            path,
            max_bytes,
            fixed,
            dirty: AtomicBool::new(true),
            changed: Notify::new(),
            last_written: Mutex::new(None),
        }
    }

    /// The state file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Notes that the state may have changed.
    pub(crate) fn mark_changed(&self) {
        self.dirty.store(true, Ordering::Release);
        self.changed.notify_one();
    }

    /// Writes `state` (taken under the lock just now) when it differs from
    /// what was last written. On failure the state stays marked changed.
    pub(crate) async fn write(self: &Arc<Self>, state: State, upload_counter: u64) -> Result<()> {
        let this = Arc::clone(self);
        let result =
            tokio::task::spawn_blocking(move || this.write_blocking(state, upload_counter))
                .await
                .map_err(|e| {
                    Error::new(ErrorKind::Storage, "the state writer stopped").with_source(e)
                })
                .and_then(|r| r);
        if result.is_err() {
            self.dirty.store(true, Ordering::Release);
        }
        result
    }

    fn write_blocking(&self, state: State, upload_counter: u64) -> Result<()> {
        let fixed = &self.fixed;
        let doc = Document {
            format: FORMAT.to_string(),
            version: VERSION,
            seed: fixed.seed,
            port: fixed.port,
            download_port: fixed.download_port,
            tls: fixed.tls.clone(),
            clients: fixed.clients.iter().map(StoredClient::from).collect(),
            upload_counter,
            state,
        };
        let bytes = serde_json::to_vec(&doc).map_err(|e| {
            Error::new(
                ErrorKind::Storage,
                format!("could not encode the sandbox state: {e}"),
            )
        })?;
        if bytes.len() as u64 > self.max_bytes {
            return Err(Error::new(
                ErrorKind::Storage,
                format!(
                    "the sandbox state is {} bytes, more than the limit of {} bytes, and was not saved to {}; delete large OneDrive files, raise the limit (--state-max-mb), or run without a state file (--no-state)",
                    bytes.len(),
                    self.max_bytes,
                    self.path.display()
                ),
            ));
        }
        let hash: [u8; 32] = Sha256::digest(&bytes).into();
        let mut last = self.last_written.lock().unwrap_or_else(|e| e.into_inner());
        if *last == Some(hash) {
            return Ok(());
        }
        write_atomic(&self.path, &bytes).map_err(|e| {
            Error::new(
                ErrorKind::Storage,
                format!(
                    "could not save the sandbox state to {}",
                    self.path.display()
                ),
            )
            .with_source(e)
        })?;
        *last = Some(hash);
        tracing::debug!(path = %self.path.display(), bytes = bytes.len(), "sandbox state saved");
        Ok(())
    }

    /// Whether a change is waiting to be saved; clears the mark.
    pub(crate) fn take_changed(&self) -> bool {
        self.dirty.swap(false, Ordering::AcqRel)
    }

    /// Waits for the next change.
    pub(crate) async fn next_change(&self) {
        self.changed.notified().await;
    }
}

/// Saves after changes (debounced) until `stop` turns true, then once more.
pub(crate) async fn run_saver(app: Arc<crate::App>, mut stop: watch::Receiver<bool>) {
    let Some(persistence) = app.persistence.clone() else {
        return;
    };
    loop {
        tokio::select! {
            _ = persistence.next_change() => {}
            _ = stop.changed() => break,
        }
        tokio::select! {
            _ = tokio::time::sleep(SAVE_DELAY) => {}
            _ = stop.changed() => break,
        }
        if let Err(e) = app.save_state().await {
            tracing::error!(error = %e, "the sandbox state was not saved");
        }
    }
    if let Err(e) = app.save_state().await {
        tracing::error!(error = %e, "the sandbox state was not saved at shutdown");
    }
}
