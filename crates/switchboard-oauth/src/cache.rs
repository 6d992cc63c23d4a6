//! The access token cache: one refresh for all callers.
//!
//! Tokens are keyed by [`CacheKey`]: authority (cloud login URL), tenant,
//! client id, installation and the sorted scope set. Each key has its own
//! `tokio::sync::Mutex`: a caller that finds no usable token takes the lock,
//! **looks again** (another caller may have refreshed while it waited), and
//! only then asks the token endpoint. N concurrent callers with an expired
//! token therefore make exactly one token request, and the N−1 others get
//! the new token.
//!
//! A token is "usable" until [`CachePolicy::refresh_before`] (5 minutes)
//! before it expires. A caller that passes the token the API refused with
//! 401 gets the cached token if it differs from the refused one (somebody
//! refreshed already) and triggers one refresh otherwise.
//!
//! Failures put the installation on hold, so that nobody hammers the token
//! endpoint: [`ErrorKind::NeedsReauth`] for [`CachePolicy::reauth_quiet_period`]
//! (60 seconds), throttling and server errors for the `Retry-After` the
//! token endpoint sent. While on hold, callers get the same error (with the
//! remaining wait) without a token request. Holds are per installation:
//! other installations are not affected.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::{Duration, SystemTime};
//! use switchboard_oauth::cache::{CacheKey, TokenCache};
//! use switchboard_oauth::clock::SystemClock;
//! use switchboard_core::credential::AccessToken;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let cache = TokenCache::new(Arc::new(SystemClock));
//! let key = CacheKey::new("https://login.example.com", "tenant", "app", switchboard_core::InstallationId::from_u128(1), &["a".into()]);
//! let expires = SystemTime::now() + Duration::from_secs(3600);
//! let t = cache
//!     .get_or_refresh(&key, None, false, || async { Ok(AccessToken::new("t1", Some(expires))) })
//!     .await
//!     .unwrap();
//! // a second call is served from the cache
//! let again = cache
//!     .get_or_refresh(&key, None, false, || async { panic!("no second request") })
//!     .await
//!     .unwrap();
//! assert!(t.same_secret(&again));
//! # });
//! ```

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::clock::Clock;
use switchboard_core::InstallationId;
use switchboard_core::bounds::later;
use switchboard_core::credential::AccessToken;
use switchboard_core::error::{Error, ErrorKind, RemoteDetails, Result};

/// Timing rules of the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CachePolicy {
    /// Refresh a token this long before it expires (default 5 minutes).
    pub refresh_before: Duration,
    /// After a failure that needs a person (`invalid_grant`,
    /// `interaction_required`), do not call the token endpoint for this
    /// installation for this long (default 60 seconds).
    pub reauth_quiet_period: Duration,
}

impl Default for CachePolicy {
    fn default() -> Self {
        CachePolicy {
            refresh_before: Duration::from_secs(300),
            reauth_quiet_period: Duration::from_secs(60),
        }
    }
}

/// What identifies one cached token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// The authority (cloud login base URL).
    pub authority: String,
    /// The tenant as configured for the installation.
    pub tenant: String,
    /// The OAuth client id.
    pub client_id: String,
    /// The installation.
    pub installation_id: InstallationId,
    /// The scopes, sorted and de-duplicated.
    pub scopes: Vec<String>,
}

impl CacheKey {
    /// A key; the scopes are sorted and de-duplicated so their order does
    /// not matter.
    pub fn new(
        authority: &str,
        tenant: &str,
        client_id: &str,
        installation_id: InstallationId,
        scopes: &[String],
    ) -> Self {
        let mut scopes = scopes.to_vec();
        scopes.sort();
        scopes.dedup();
        CacheKey {
            authority: authority.to_string(),
            tenant: tenant.to_string(),
            client_id: client_id.to_string(),
            installation_id,
            scopes,
        }
    }

    fn hold_key(&self) -> HoldKey {
        (
            self.authority.clone(),
            self.tenant.clone(),
            self.client_id.clone(),
            self.installation_id,
        )
    }
}

type HoldKey = (String, String, String, InstallationId);

struct Hold {
    until: SystemTime,
    kind: ErrorKind,
    message: String,
    remote: Option<RemoteDetails>,
}

/// The cached token when it has not expired yet (even if inside the
/// refresh margin), was not refused, and no fresh token was demanded.
fn fallback(
    cached: Option<&AccessToken>,
    rejected: Option<&AccessToken>,
    force: bool,
    now: SystemTime,
) -> Option<AccessToken> {
    let token = cached?;
    let refused = rejected.is_some_and(|r| r.same_secret(token));
    let alive = token.expires_at().is_none_or(|at| now < at);
    (!refused && !force && alive).then(|| token.clone())
}

type Slot = Arc<tokio::sync::Mutex<Option<AccessToken>>>;

/// The shared access token cache. One per process; share it with `Arc`.
pub struct TokenCache {
    clock: Arc<dyn Clock>,
    policy: CachePolicy,
    slots: Mutex<HashMap<CacheKey, Slot>>,
    holds: Mutex<HashMap<HoldKey, Hold>>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let slots = self
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("TokenCache")
            .field("policy", &self.policy)
            .field("keys", &slots)
            .finish()
    }
}

impl TokenCache {
    /// A cache with the default [`CachePolicy`].
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self::with_policy(clock, CachePolicy::default())
    }

    /// A cache with another policy.
    pub fn with_policy(clock: Arc<dyn Clock>, policy: CachePolicy) -> Self {
        TokenCache {
            clock,
            policy,
            slots: Mutex::new(HashMap::new()),
            holds: Mutex::new(HashMap::new()),
        }
    }

    /// The clock the cache reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The cache's timing rules.
    pub fn policy(&self) -> CachePolicy {
        self.policy
    }

    fn slot(&self, key: &CacheKey) -> Slot {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.clone())
            .or_default()
            .clone()
    }

    fn usable(&self, token: &AccessToken, now: SystemTime) -> bool {
        match token.expires_at() {
            None => true,
            Some(at) => later(now, self.policy.refresh_before) < at,
        }
    }

    /// A usable cached token for `key`, or the result of `fetch` (called at
    /// most once, under the key's lock, and only after looking again).
    ///
    /// `rejected`: a token the API refused; it is never returned again.
    /// `force`: ignore the cached token (a claims challenge) unless it
    /// already differs from `rejected`.
    pub async fn get_or_refresh<F, Fut>(
        &self,
        key: &CacheKey,
        rejected: Option<&AccessToken>,
        force: bool,
        fetch: F,
    ) -> Result<AccessToken>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<AccessToken>>,
    {
        let slot = self.slot(key);
        let mut cached = slot.lock().await;
        let now = self.clock.now();
        if let Some(token) = cached.as_ref() {
            let refused = rejected.is_some_and(|r| r.same_secret(token));
            let replaced = rejected.is_some() && !refused;
            if !refused && (replaced || !force) && self.usable(token, now) {
                return Ok(token.clone());
            }
        }
        if let Some(err) = self.held(key, now) {
            if let Some(token) = fallback(cached.as_ref(), rejected, force, now) {
                return Ok(token);
            }
            return Err(err);
        }
        tracing::debug!(
            installation = %key.installation_id,
            scopes = ?key.scopes,
            "requesting a new access token"
        );
        match fetch().await {
            Ok(token) => {
                *cached = Some(token.clone());
                Ok(token)
            }
            Err(err) => {
                let now = self.clock.now();
                match err.kind() {
                    ErrorKind::NeedsReauth => {
                        *cached = None;
                        self.hold(key, later(now, self.policy.reauth_quiet_period), &err);
                    }
                    ErrorKind::Throttled | ErrorKind::Transient => {
                        if let Some(wait) = err.retry_after() {
                            self.hold(key, later(now, wait), &err);
                        }
                        // The old token still works: better than nothing.
                        if let Some(token) = fallback(cached.as_ref(), rejected, force, now) {
                            tracing::warn!(
                                installation = %key.installation_id,
                                "token refresh failed; using the current token until it expires"
                            );
                            return Ok(token);
                        }
                    }
                    _ => {}
                }
                Err(err)
            }
        }
    }

    fn hold(&self, key: &CacheKey, until: SystemTime, err: &Error) {
        tracing::info!(
            installation = %key.installation_id,
            kind = %err.kind(),
            "pausing token requests for the installation"
        );
        self.holds
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                key.hold_key(),
                Hold {
                    until,
                    kind: err.kind(),
                    message: err.message().to_string(),
                    remote: err.remote().cloned(),
                },
            );
    }

    fn held(&self, key: &CacheKey, now: SystemTime) -> Option<Error> {
        let mut holds = self.holds.lock().unwrap_or_else(PoisonError::into_inner);
        let hold_key = key.hold_key();
        let hold = holds.get(&hold_key)?;
        match hold.until.duration_since(now) {
            Ok(left) if !left.is_zero() => {
                let mut err = Error::new(hold.kind, hold.message.clone()).with_retry_after(left);
                if let Some(remote) = &hold.remote {
                    err = err.with_remote(remote.clone());
                }
                Some(err)
            }
            _ => {
                holds.remove(&hold_key);
                None
            }
        }
    }

    /// Drop every cached token and hold of an installation (after it was
    /// authorized again, or uninstalled).
    pub fn forget_installation(&self, installation_id: InstallationId) {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|k, _| k.installation_id != installation_id);
        self.holds
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|k, _| k.3 != installation_id);
    }
}
