//! One token refresh per installation across every node sharing a store.
//!
//! [`SharedTokenCredential`] wraps a node's own [`Credential`] (typically an
//! OAuth credential, whose in-process cache already makes one refresh for
//! all tasks of the node) and keeps the installation's current access token
//! in the [`InstallationStore`], encrypted like every secret. A call:
//!
//! 0. returns the token this process already holds in memory
//!    ([`TokenMemory`]) when it is usable (not expiring within
//!    [`SharedTokenPolicy::refresh_before`], not the one the service just
//!    refused): no store read, no decryption, no token request. This is
//!    every call but the first, until the token nears its expiry or is
//!    refused;
//! 1. otherwise reads the stored token; if it is usable it is kept in
//!    memory and returned: no token request;
//! 2. otherwise takes the installation's refresh lease
//!    ([`InstallationStore::try_lock_refresh`]), reads again (another node
//!    may have refreshed meanwhile), and only then asks the inner
//!    credential; the new access token is saved with compare-and-swap on
//!    the secrets version (a rotated refresh token was already saved by the
//!    inner credential, before the access token is handed out), and the
//!    lease is released;
//! 3. a caller that does not get the lease waits
//!    [`SharedTokenPolicy::poll_interval`] and starts again at 1, so it
//!    picks up the token the lease holder stored.
//!
//! ## The lease: short, and renewed while the refresh is alive
//!
//! The lease is taken for [`SharedTokenPolicy::lease`] (default 5 s) and
//! renewed every third of that for as long as the holder's refresh is in
//! flight, however long the token endpoint takes. A holder that dies (the
//! process is killed, the task is aborted or its future dropped) stops
//! renewing, so its lease lapses within one lease time and the next caller
//! takes over; nobody waits for a long fixed time limit. If a renewal finds
//! the lease taken over (the holder was stalled for longer than the lease),
//! the holder finishes its refresh anyway: both tokens are valid and the
//! saves are compare-and-swap, so the cost is one extra token request.
//!
//! The stored token is per installation, not per scope set: right for
//! client-credentials tokens (one `.default` scope) and for Microsoft's
//! delegated tokens, which carry every consented scope of the resource.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::{Duration, SystemTime};
//! use switchboard_core::credential::{AccessToken, Credential, StaticCredential, TokenRequest};
//! use switchboard_installations::install::{Installation, InstallationSecrets, InstallationStore, MemoryInstallationStore};
//! use switchboard_installations::shared_token::SharedTokenCredential;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = Arc::new(MemoryInstallationStore::new());
//! let inst = store
//!     .create(Installation::new("acct", "c", "1.0.0", "delegated"), InstallationSecrets::default())
//!     .await
//!     .unwrap();
//! let fresh = AccessToken::new("at-1", Some(SystemTime::now() + Duration::from_secs(3600)));
//! let cred = SharedTokenCredential::new(
//!     Arc::new(StaticCredential::new(fresh)),
//!     store.clone(),
//!     inst.id,
//!     "node-1",
//! );
//! let token = cred.token(&TokenRequest::new(inst.id, vec![])).await.unwrap();
//! assert_eq!(token.secret(), "at-1");
//! // the token is now in the store for every node
//! let stored = store.load_secrets(inst.id).await.unwrap().unwrap();
//! assert_eq!(stored.value.access_token.unwrap().secret(), "at-1");
//! # });
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use switchboard_core::InstallationId;

use crate::install::InstallationStore;
use crate::modify::{Edit, modify_secrets};
use switchboard_core::bounds::later;
use switchboard_core::credential::{AccessToken, Credential, TokenRequest};
use switchboard_core::error::{Error, ErrorKind, Result};

/// Timing of [`SharedTokenCredential`].
///
/// ```
/// use std::time::Duration;
/// use switchboard_installations::shared_token::SharedTokenPolicy;
///
/// let policy = SharedTokenPolicy::default();
/// assert_eq!(policy.lease, Duration::from_secs(5));
/// assert_eq!(policy.renew_every(), Duration::from_secs(5) / 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SharedTokenPolicy {
    /// A stored token is refreshed this long before it expires. Keep it no
    /// larger than the inner credential's own margin.
    pub refresh_before: Duration,
    /// How long the refresh lease lasts without a renewal (default 5 s). The
    /// holder renews it every third of this while its refresh runs; a dead
    /// holder's lease is taken over this long after its last renewal.
    pub lease: Duration,
    /// How long a caller without the lease waits before reading again.
    pub poll_interval: Duration,
    /// How long a caller waits in all for another node's refresh (default
    /// 90 s: longer than a live holder's worst refresh, two token requests
    /// of at most 30 s each and a 10 s `Retry-After` between them).
    pub max_wait: Duration,
}

impl Default for SharedTokenPolicy {
    fn default() -> Self {
        SharedTokenPolicy {
            refresh_before: Duration::from_secs(300),
            lease: DEFAULT_LEASE,
            poll_interval: Duration::from_millis(50),
            max_wait: Duration::from_secs(90),
        }
    }
}

/// The default refresh lease: 5 seconds, renewed while the refresh runs.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(5);

/// The shortest lease the policy uses; shorter values are raised to it, so
/// renewals stay a few store writes a second at most.
pub const MIN_LEASE: Duration = Duration::from_millis(100);

impl SharedTokenPolicy {
    /// The lease actually taken: [`Self::lease`], at least [`MIN_LEASE`].
    pub fn lease_time(&self) -> Duration {
        self.lease.max(MIN_LEASE)
    }

    /// How often a live holder renews its lease: a third of the lease time.
    pub fn renew_every(&self) -> Duration {
        self.lease_time() / 3
    }

    /// The same policy with another lease time.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// The same policy with another total wait for another node's refresh.
    pub fn with_max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// The same policy with another poll interval.
    pub fn with_poll_interval(mut self, poll: Duration) -> Self {
        self.poll_interval = poll;
        self
    }
}

/// The access tokens a process holds, by installation: the fast path of
/// [`SharedTokenCredential`]. One per process (the lifecycle service keeps
/// it), so every client made for an installation shares it. Its Debug
/// shows only a count.
///
/// ```
/// use switchboard_core::InstallationId;
/// use switchboard_core::credential::AccessToken;
/// use switchboard_installations::shared_token::TokenMemory;
///
/// let memory = TokenMemory::new();
/// let id = InstallationId::from_u128(1);
/// memory.put(id, AccessToken::new("at", None));
/// assert_eq!(memory.get(id).unwrap().secret(), "at");
/// memory.forget(id);
/// assert!(memory.get(id).is_none());
/// ```
#[derive(Default)]
pub struct TokenMemory {
    tokens: Mutex<HashMap<InstallationId, AccessToken>>,
}

impl TokenMemory {
    /// Nothing held.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<InstallationId, AccessToken>> {
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The token held for `installation`.
    pub fn get(&self, installation: InstallationId) -> Option<AccessToken> {
        self.lock().get(&installation).cloned()
    }

    /// Hold `token` for `installation`.
    pub fn put(&self, installation: InstallationId, token: AccessToken) {
        self.lock().insert(installation, token);
    }

    /// Drop the token held for `installation` (re-authentication,
    /// uninstall).
    pub fn forget(&self, installation: InstallationId) {
        self.lock().remove(&installation);
    }
}

impl fmt::Debug for TokenMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenMemory")
            .field("installations", &self.lock().len())
            .finish()
    }
}

/// A [`Credential`] whose tokens are shared, and refreshed once, across the
/// nodes of a platform through an [`InstallationStore`].
pub struct SharedTokenCredential {
    inner: Arc<dyn Credential>,
    store: Arc<dyn InstallationStore>,
    installation: InstallationId,
    node: String,
    policy: SharedTokenPolicy,
    memory: Arc<TokenMemory>,
}

impl fmt::Debug for SharedTokenCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedTokenCredential")
            .field("installation", &self.installation)
            .field("node", &self.node)
            .field("inner", &self.inner)
            .finish()
    }
}

impl SharedTokenCredential {
    /// Share `inner`'s tokens for `installation` through `store`; `node`
    /// names this process in lease records.
    pub fn new(
        inner: Arc<dyn Credential>,
        store: Arc<dyn InstallationStore>,
        installation: InstallationId,
        node: impl Into<String>,
    ) -> Self {
        SharedTokenCredential {
            inner,
            store,
            installation,
            node: node.into(),
            policy: SharedTokenPolicy::default(),
            memory: Arc::new(TokenMemory::new()),
        }
    }

    /// The same credential holding its tokens in `memory` (shared by the
    /// process's credentials; default: its own).
    pub fn with_memory(mut self, memory: Arc<TokenMemory>) -> Self {
        self.memory = memory;
        self
    }

    /// The same credential with another policy.
    pub fn with_policy(mut self, policy: SharedTokenPolicy) -> Self {
        self.policy = policy;
        self
    }

    fn usable(&self, token: &AccessToken, rejected: Option<&AccessToken>) -> bool {
        if rejected.is_some_and(|r| r.same_secret(token)) {
            return false;
        }
        match token.expires_at() {
            Some(at) => at > later(SystemTime::now(), self.policy.refresh_before),
            None => true,
        }
    }

    async fn stored_usable(&self, rejected: Option<&AccessToken>) -> Result<Option<AccessToken>> {
        let stored = self
            .store
            .load_secrets(self.installation)
            .await?
            .ok_or_else(|| crate::install::not_found(self.installation))?;
        Ok(stored
            .value
            .access_token
            .filter(|t| self.usable(t, rejected)))
    }

    /// Save `token` as the installation's access token, over whatever the
    /// secrets hold now (the inner credential may have just saved a rotated
    /// refresh token).
    async fn save(&self, token: &AccessToken) -> Result<()> {
        modify_secrets(self.store.as_ref(), self.installation, |secrets| {
            secrets.access_token = Some(token.clone());
            Ok(Edit::Write(()))
        })
        .await
    }

    /// Renew the lease every [`SharedTokenPolicy::renew_every`] until
    /// dropped (with the refresh it accompanies). Returns only if the lease
    /// was lost to another holder.
    async fn keep_lease(&self, holder: &str) {
        let lease = self.policy.lease_time();
        loop {
            tokio::time::sleep(self.policy.renew_every()).await;
            match self
                .store
                .try_lock_refresh(self.installation, holder, lease)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(installation = %self.installation, node = %self.node, "the refresh lease was taken over while this node was refreshing; finishing the refresh anyway");
                    return;
                }
                // a store hiccup: keep trying while the lease lasts
                Err(e) => {
                    tracing::warn!(installation = %self.installation, error = %e, "could not renew the refresh lease")
                }
            }
        }
    }

    /// Refresh while renewing the lease; the renewals stop with the refresh.
    async fn refresh_renewing_lease(
        &self,
        request: &TokenRequest,
        holder: &str,
    ) -> Result<AccessToken> {
        let refresh = self.refresh_holding_lease(request);
        tokio::pin!(refresh);
        tokio::select! {
            result = &mut refresh => result,
            () = self.keep_lease(holder) => refresh.await,
        }
    }

    async fn refresh_holding_lease(&self, request: &TokenRequest) -> Result<AccessToken> {
        // someone may have refreshed between our read and the lease
        if let Some(token) = self.stored_usable(request.rejected.as_ref()).await? {
            return Ok(token);
        }
        let token = self.inner.token(request).await?;
        self.save(&token).await?;
        tracing::debug!(installation = %self.installation, node = %self.node, "refreshed and shared the access token");
        Ok(token)
    }
}

#[async_trait]
impl Credential for SharedTokenCredential {
    async fn token(&self, request: &TokenRequest) -> Result<AccessToken> {
        let rejected = request.rejected.as_ref();
        if let Some(token) = self.memory.get(self.installation)
            && self.usable(&token, rejected)
        {
            return Ok(token);
        }
        let token = self.through_store(request).await?;
        self.memory.put(self.installation, token.clone());
        Ok(token)
    }
}

impl SharedTokenCredential {
    /// The slow path: the stored token, or one refresh under the lease.
    async fn through_store(&self, request: &TokenRequest) -> Result<AccessToken> {
        let started = tokio::time::Instant::now();
        // a lease holder name unique to this call: two tasks of one node
        // must not both believe they hold the lease
        let holder = format!("{}/{}", self.node, InstallationId::new_random());
        loop {
            if let Some(token) = self.stored_usable(request.rejected.as_ref()).await? {
                return Ok(token);
            }
            if self
                .store
                .try_lock_refresh(self.installation, &holder, self.policy.lease_time())
                .await?
            {
                let result = self.refresh_renewing_lease(request, &holder).await;
                let unlocked = self.store.unlock_refresh(self.installation, &holder).await;
                let token = result?;
                if let Err(e) = unlocked {
                    // the lease runs out by itself; the token is good
                    tracing::warn!(installation = %self.installation, error = %e, "could not release the refresh lease");
                }
                return Ok(token);
            }
            if started.elapsed() >= self.policy.max_wait {
                return Err(Error::new(
                    ErrorKind::Transient,
                    format!(
                        "another node is refreshing the token of installation {} and did not finish within {}s; try again",
                        self.installation,
                        self.policy.max_wait.as_secs()
                    ),
                ));
            }
            tokio::time::sleep(self.policy.poll_interval).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_store::Counting;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Issues `at-1`, `at-2`, ... each valid for `lifetime`, counting requests.
    #[derive(Debug)]
    struct Issuer {
        issued: AtomicU32,
        lifetime: Duration,
    }

    #[async_trait]
    impl Credential for Issuer {
        async fn token(&self, _: &TokenRequest) -> Result<AccessToken> {
            let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(AccessToken::new(
                format!("at-{n}"),
                Some(SystemTime::now() + self.lifetime),
            ))
        }
    }

    async fn setup(lifetime: Duration) -> (Arc<Counting>, Arc<Issuer>, SharedTokenCredential) {
        let store = Arc::new(Counting::default());
        let id = store.installation().await;
        let issuer = Arc::new(Issuer {
            issued: AtomicU32::new(0),
            lifetime,
        });
        let cred = SharedTokenCredential::new(issuer.clone(), store.clone(), id, "node-1");
        (store, issuer, cred)
    }

    fn request(cred: &SharedTokenCredential) -> TokenRequest {
        TokenRequest::new(cred.installation, vec![])
    }

    #[tokio::test]
    async fn a_valid_token_in_memory_costs_no_store_call() {
        let (store, issuer, cred) = setup(Duration::from_secs(3600)).await;
        assert_eq!(cred.token(&request(&cred)).await.unwrap().secret(), "at-1");
        let after_first = store.secrets_and_lease_calls();
        assert!(after_first > 0, "the first call reads the store");
        for _ in 0..100 {
            assert_eq!(cred.token(&request(&cred)).await.unwrap().secret(), "at-1");
        }
        assert_eq!(store.secrets_and_lease_calls(), after_first);
        assert_eq!(issuer.issued.load(Ordering::SeqCst), 1);
        // another credential of the process sharing the memory: no store call either
        let other =
            SharedTokenCredential::new(issuer.clone(), store.clone(), cred.installation, "n")
                .with_memory(cred.memory.clone());
        assert_eq!(other.token(&request(&cred)).await.unwrap().secret(), "at-1");
        assert_eq!(store.secrets_and_lease_calls(), after_first);
    }

    #[tokio::test]
    async fn a_token_near_expiry_sends_every_call_to_the_store_and_a_refresh() {
        // valid for less than `refresh_before`: never usable from memory
        let (store, issuer, cred) = setup(Duration::from_secs(60)).await;
        cred.token(&request(&cred)).await.unwrap();
        let reads = store.secrets_reads.load(Ordering::SeqCst);
        assert_eq!(cred.token(&request(&cred)).await.unwrap().secret(), "at-2");
        assert!(store.secrets_reads.load(Ordering::SeqCst) > reads);
        assert_eq!(issuer.issued.load(Ordering::SeqCst), 2);
        let stored = store
            .load_secrets(cred.installation)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.value.access_token.unwrap().secret(), "at-2");
    }

    #[tokio::test]
    async fn a_refused_token_goes_to_the_store_which_may_hold_a_newer_one() {
        let (store, issuer, cred) = setup(Duration::from_secs(3600)).await;
        let first = cred.token(&request(&cred)).await.unwrap();
        // another node refreshed meanwhile and stored its token
        let newer = AccessToken::new(
            "at-other-node",
            Some(SystemTime::now() + Duration::from_secs(3600)),
        );
        modify_secrets(store.as_ref(), cred.installation, |s| {
            s.access_token = Some(newer.clone());
            Ok(Edit::Write(()))
        })
        .await
        .unwrap();
        // memory still answers while nothing was refused
        assert_eq!(cred.token(&request(&cred)).await.unwrap().secret(), "at-1");
        let reads = store.secrets_reads.load(Ordering::SeqCst);
        let refused = request(&cred).with_rejected(first);
        assert_eq!(
            cred.token(&refused).await.unwrap().secret(),
            "at-other-node"
        );
        assert_eq!(store.secrets_reads.load(Ordering::SeqCst), reads + 1);
        assert_eq!(issuer.issued.load(Ordering::SeqCst), 1, "no token request");
        // and memory holds the stored one now
        let calls = store.secrets_and_lease_calls();
        assert_eq!(
            cred.token(&request(&cred)).await.unwrap().secret(),
            "at-other-node"
        );
        assert_eq!(store.secrets_and_lease_calls(), calls);
    }
}
