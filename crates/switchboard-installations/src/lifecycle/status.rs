//! Errors the engine sees change the installation's status.
//!
//! [`StatusTracking`] wraps an installation's credential: when the
//! credential fails with an error that needs a person
//! ([`ErrorKind::NeedsReauth`], such as `invalid_grant`), the installation
//! is moved to [`InstallationStatus::NeedsReauth`](crate::install::InstallationStatus::NeedsReauth)
//! with the error's words as `last_error`
//! ([`Installation::apply_error`](crate::install::Installation::apply_error)),
//! and stored, so every node and the platform's UI see it. The caller still
//! gets the error.
//!
//! ```
//! use std::sync::Arc;
//! use switchboard_core::InstallationId;
//! use switchboard_core::credential::{AccessToken, StaticCredential};
//! use switchboard_installations::install::MemoryInstallationStore;
//! use switchboard_installations::lifecycle::status::StatusTracking;
//!
//! let store = Arc::new(MemoryInstallationStore::new());
//! let inner = Arc::new(StaticCredential::new(AccessToken::new("t", None)));
//! let tracked = StatusTracking::new(inner, store, InstallationId::new_random());
//! assert!(format!("{tracked:?}").contains("StatusTracking"));
//! ```

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use switchboard_core::InstallationId;

use crate::install::InstallationStore;
use crate::modify::{Edit, modify_record};
use switchboard_core::credential::{AccessToken, Credential, TokenRequest};
use switchboard_core::error::{Error, ErrorKind, Result};

/// A credential that records re-authentication errors on the installation.
pub struct StatusTracking {
    inner: Arc<dyn Credential>,
    store: Arc<dyn InstallationStore>,
    installation: InstallationId,
}

impl StatusTracking {
    /// Track `inner`'s errors on `installation` in `store`.
    pub fn new(
        inner: Arc<dyn Credential>,
        store: Arc<dyn InstallationStore>,
        installation: InstallationId,
    ) -> Self {
        StatusTracking {
            inner,
            store,
            installation,
        }
    }
}

impl fmt::Debug for StatusTracking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatusTracking")
            .field("installation", &self.installation)
            .field("inner", &self.inner)
            .finish()
    }
}

/// Apply `err` to the stored installation `id` (re-reading on a version
/// conflict). Returns whether the status changed. Storage failures are
/// logged, not returned: the caller's error matters more.
pub async fn record_error(store: &dyn InstallationStore, id: InstallationId, err: &Error) -> bool {
    if err.kind() != ErrorKind::NeedsReauth {
        return false;
    }
    let recorded = modify_record(store, id, |inst| {
        Ok(if inst.apply_error(err) {
            Edit::Write(true)
        } else {
            Edit::Keep(false)
        })
    })
    .await;
    match recorded {
        Ok((_, true)) => {
            tracing::warn!(installation = %id, "installation needs re-authentication");
            true
        }
        Ok((_, false)) => false,
        Err(e) if e.kind() == ErrorKind::NotFound => false,
        Err(e) => {
            tracing::warn!(installation = %id, error = %e, "could not record that the installation needs re-authentication");
            false
        }
    }
}

#[async_trait]
impl Credential for StatusTracking {
    async fn token(&self, request: &TokenRequest) -> Result<AccessToken> {
        match self.inner.token(request).await {
            Ok(token) => Ok(token),
            Err(err) => {
                record_error(self.store.as_ref(), self.installation, &err).await;
                Err(err)
            }
        }
    }
}
