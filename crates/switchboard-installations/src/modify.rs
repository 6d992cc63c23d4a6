//! The one way to change a stored installation: read → edit →
//! compare-and-swap → on a version conflict read and edit again, at most
//! [`MODIFY_ATTEMPTS`] times, then a clear [`ErrorKind::Conflict`].
//!
//! [`modify_record`] changes the [`Installation`] record,
//! [`modify_secrets`] its [`InstallationSecrets`]. The edit runs on the
//! value as stored now, every attempt, so it must only depend on what it is
//! given (it may run more than once). It returns [`Edit::Write`] to store the
//! change or [`Edit::Keep`] to leave the stored value alone; an error from the
//! edit ends the modification with that error. Only a lost
//! compare-and-swap ([`version_conflict`](crate::install::version_conflict))
//! is retried: other conflicts (a duplicate install) are the caller's.
//!
//! ```
//! use switchboard_installations::install::{Installation, InstallationSecrets, InstallationStore, MemoryInstallationStore};
//! use switchboard_installations::modify::{Edit, modify_secrets};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = MemoryInstallationStore::new();
//! let inst = store
//!     .create(Installation::new("acct", "c", "1.0.0", "delegated"), InstallationSecrets::default())
//!     .await
//!     .unwrap();
//! let had = modify_secrets(&store, inst.id, |s| {
//!     let had = s.refresh_token.is_some();
//!     s.refresh_token = Some("rt-1".to_string().into());
//!     Ok(Edit::Write(had))
//! })
//! .await
//! .unwrap();
//! assert!(!had);
//! let stored = store.load_secrets(inst.id).await.unwrap().unwrap();
//! assert_eq!(stored.version, 2);
//! # });
//! ```

use async_trait::async_trait;
use switchboard_core::InstallationId;
use switchboard_core::error::{Error, ErrorKind, Result};

use crate::install::{
    Installation, InstallationSecrets, InstallationStore, VERSION_FIELD, Versioned, not_found,
};

/// How many times a modification is tried before it gives up.
pub const MODIFY_ATTEMPTS: u32 = 5;

/// What an edit decided, with what it returns to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Edit<T> {
    /// Store the edited value.
    Write(T),
    /// Store nothing (the stored value stays as it is).
    Keep(T),
}

/// Whether `err` is a lost compare-and-swap (worth reading again).
pub fn is_version_conflict(err: &Error) -> bool {
    err.kind() == ErrorKind::Conflict && err.field() == Some(VERSION_FIELD)
}

/// Where [`modify_secrets_with`] writes the edited secrets: a
/// compare-and-swap on `expected` that returns the new version, or a
/// [`version_conflict`](crate::install::version_conflict) to be read and
/// edited again; any other error ends the modification with it. A writer
/// can check one more condition in the same store transaction (a sync
/// checkpoint is written only while its node holds the sync lease).
#[async_trait]
pub trait SecretsWriter: Send + Sync {
    /// Store `secrets` of `id` if their version is still `expected`.
    async fn write_secrets(
        &self,
        id: InstallationId,
        expected: u64,
        secrets: InstallationSecrets,
    ) -> Result<u64>;
}

/// The plain compare-and-swap: [`InstallationStore::store_secrets`].
struct Plain<'a>(&'a dyn InstallationStore);

#[async_trait]
impl SecretsWriter for Plain<'_> {
    async fn write_secrets(
        &self,
        id: InstallationId,
        expected: u64,
        secrets: InstallationSecrets,
    ) -> Result<u64> {
        self.0.store_secrets(id, expected, secrets).await
    }
}

/// How one kind of stored value is read and written as a whole.
#[async_trait]
trait Access<S>: Send + Sync {
    const WHAT: &'static str;
    async fn read(&self, id: InstallationId) -> Result<S>;
    async fn write(&self, id: InstallationId, value: S) -> Result<S>;
}

struct Records<'a>(&'a dyn InstallationStore);

#[async_trait]
impl Access<Installation> for Records<'_> {
    const WHAT: &'static str = "record";

    async fn read(&self, id: InstallationId) -> Result<Installation> {
        self.0.get(id).await?.ok_or_else(|| not_found(id))
    }

    async fn write(&self, _: InstallationId, value: Installation) -> Result<Installation> {
        self.0.update(&value).await
    }
}

struct Secrets<'a> {
    store: &'a dyn InstallationStore,
    writer: &'a dyn SecretsWriter,
}

#[async_trait]
impl Access<Versioned<InstallationSecrets>> for Secrets<'_> {
    const WHAT: &'static str = "secrets";

    async fn read(&self, id: InstallationId) -> Result<Versioned<InstallationSecrets>> {
        self.store
            .load_secrets(id)
            .await?
            .ok_or_else(|| not_found(id))
    }

    async fn write(
        &self,
        id: InstallationId,
        value: Versioned<InstallationSecrets>,
    ) -> Result<Versioned<InstallationSecrets>> {
        let version = self
            .writer
            .write_secrets(id, value.version, value.value.clone())
            .await?;
        Ok(Versioned {
            version,
            value: value.value,
        })
    }
}

async fn modify<S: Send, T, A: Access<S>>(
    access: &A,
    id: InstallationId,
    mut edit: impl FnMut(&mut S) -> Result<Edit<T>>,
) -> Result<(S, T)> {
    for _ in 0..MODIFY_ATTEMPTS {
        let mut current = access.read(id).await?;
        let out = match edit(&mut current)? {
            Edit::Keep(out) => return Ok((current, out)),
            Edit::Write(out) => out,
        };
        match access.write(id, current).await {
            Ok(stored) => return Ok((stored, out)),
            Err(e) if is_version_conflict(&e) => {
                tracing::debug!(installation = %id, what = A::WHAT, "lost a compare-and-swap; reading again");
            }
            Err(e) => return Err(e),
        }
    }
    Err(Error::new(
        ErrorKind::Conflict,
        format!(
            "the {} of installation {id} changed under every one of {MODIFY_ATTEMPTS} attempts to write it; too many concurrent writers, try again",
            A::WHAT
        ),
    ))
}

/// Change the installation's record with `edit` (see the module docs).
/// Returns the record as stored after (the current one on
/// [`Edit::Keep`]) and what `edit` returned.
pub async fn modify_record<T>(
    store: &dyn InstallationStore,
    id: InstallationId,
    edit: impl FnMut(&mut Installation) -> Result<Edit<T>>,
) -> Result<(Installation, T)> {
    modify(&Records(store), id, edit).await
}

/// Change the installation's secrets with `edit` (see the module docs).
/// Returns what `edit` returned.
pub async fn modify_secrets<T>(
    store: &dyn InstallationStore,
    id: InstallationId,
    edit: impl FnMut(&mut InstallationSecrets) -> Result<Edit<T>>,
) -> Result<T> {
    modify_secrets_with(store, &Plain(store), id, edit).await
}

/// [`modify_secrets`] that reads from `store` and writes through `writer`
/// (see [`SecretsWriter`]).
///
/// ```
/// use async_trait::async_trait;
/// use switchboard_core::{Error, InstallationId, Result};
/// use switchboard_installations::install::{Installation, InstallationSecrets, InstallationStore, MemoryInstallationStore};
/// use switchboard_installations::modify::{Edit, SecretsWriter, modify_secrets_with};
///
/// /// Writes only while a condition holds (a real one is checked in the
/// /// store's transaction).
/// struct Guarded<'a> { store: &'a MemoryInstallationStore, allowed: bool }
///
/// #[async_trait]
/// impl SecretsWriter for Guarded<'_> {
///     async fn write_secrets(&self, id: InstallationId, expected: u64, secrets: InstallationSecrets) -> Result<u64> {
///         if !self.allowed {
///             return Err(Error::invalid_argument("lease", "not held"));
///         }
///         self.store.store_secrets(id, expected, secrets).await
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryInstallationStore::new();
/// let inst = store
///     .create(Installation::new("acct", "c", "1.0.0", "delegated"), InstallationSecrets::default())
///     .await
///     .unwrap();
/// let checkpoint = |s: &mut InstallationSecrets| {
///     s.continuations.insert("sync:x".into(), "checkpoint".to_string().into());
///     Ok(Edit::Write(()))
/// };
/// let refused = Guarded { store: &store, allowed: false };
/// assert!(modify_secrets_with(&store, &refused, inst.id, checkpoint).await.is_err());
/// let allowed = Guarded { store: &store, allowed: true };
/// modify_secrets_with(&store, &allowed, inst.id, checkpoint).await.unwrap();
/// assert_eq!(store.load_secrets(inst.id).await.unwrap().unwrap().version, 2);
/// # });
/// ```
pub async fn modify_secrets_with<T>(
    store: &dyn InstallationStore,
    writer: &dyn SecretsWriter,
    id: InstallationId,
    mut edit: impl FnMut(&mut InstallationSecrets) -> Result<Edit<T>>,
) -> Result<T> {
    let (_, out) = modify(&Secrets { store, writer }, id, |s| edit(&mut s.value)).await?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install::MemoryInstallationStore;
    use crate::test_store::Counting as Contended;
    use std::sync::atomic::Ordering;

    async fn contended(losses: u32) -> (Contended, InstallationId) {
        let store = Contended::losing(losses);
        let id = store.installation().await;
        (store, id)
    }

    #[tokio::test]
    async fn a_lost_write_is_edited_again_on_the_newer_value() {
        let (store, id) = contended(2).await;
        let mut runs = 0;
        modify_secrets(&store, id, |s| {
            runs += 1;
            s.refresh_token = Some("rt-ours".to_string().into());
            Ok(Edit::Write(()))
        })
        .await
        .unwrap();
        assert_eq!(runs, 3);
        assert_eq!(store.secrets_writes.load(Ordering::SeqCst), 3);
        let stored = store.load_secrets(id).await.unwrap().unwrap().value;
        // both writers' changes are kept: theirs twice, then ours
        assert_eq!(stored.granted_scopes, ["theirs", "theirs"]);
        assert!(stored.refresh_token.is_some());
    }

    #[tokio::test]
    async fn too_many_lost_writes_end_in_a_clear_conflict() {
        let (store, id) = contended(MODIFY_ATTEMPTS).await;
        let err = modify_secrets(&store, id, |_| Ok(Edit::Write(())))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert!(
            err.message().contains("too many concurrent writers"),
            "{err}"
        );
        assert_eq!(store.secrets_writes.load(Ordering::SeqCst), MODIFY_ATTEMPTS);
    }

    #[tokio::test]
    async fn keep_writes_nothing_and_an_edit_error_is_returned_as_is() {
        let (store, id) = contended(0).await;
        let kept = modify_secrets(&store, id, |_| Ok(Edit::Keep(7)))
            .await
            .unwrap();
        assert_eq!(kept, 7);
        let err =
            modify_secrets::<()>(&store, id, |_| Err(Error::invalid_argument("x", "refused")))
                .await
                .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert_eq!(store.secrets_writes.load(Ordering::SeqCst), 0);
        assert_eq!(store.load_secrets(id).await.unwrap().unwrap().version, 1);
    }

    #[tokio::test]
    async fn an_unknown_installation_is_not_found() {
        let store = MemoryInstallationStore::new();
        let err = modify_record(&store, InstallationId::from_u128(9), |_| {
            Ok(Edit::Write(()))
        })
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
    }
}
