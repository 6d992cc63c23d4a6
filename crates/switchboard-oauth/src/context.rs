//! The process-wide auth services, bundled: the HTTP adapter, the token
//! cache, the grant store, the `state` store, the clock and the token
//! endpoint retry rules. Build one per process (next to the engine) and
//! clone it into every credential and flow.
//!
//! ```
//! use std::sync::Arc;
//! use switchboard_oauth::context::AuthContext;
//! use switchboard_oauth::grants::MemoryGrants;
//!
//! let http = reqwest::Client::builder()
//!     .redirect(reqwest::redirect::Policy::none())
//!     .build()
//!     .unwrap();
//! let ctx = AuthContext::new(http, Arc::new(MemoryGrants::new()));
//! # let _ = ctx;
//! ```

use std::sync::Arc;
use std::time::Duration;

use crate::cache::TokenCache;
use crate::clock::{Clock, SystemClock};
use crate::grants::GrantStore;
use crate::http::OAuthHttpClient;
use crate::state::StateStore;

/// How a token request answered with 429 or 5xx is retried.
///
/// The wait is the token endpoint's `Retry-After` (or
/// [`TokenRetryPolicy::default_wait`] when it sent none). A wait longer than
/// [`TokenRetryPolicy::max_wait`], or running out of attempts, ends the
/// retries: the caller gets a Throttled / Transient error that carries the
/// wait, and the cache holds further token requests for the installation
/// until it has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenRetryPolicy {
    /// Attempts in total, the first included (default 2).
    pub max_attempts: u32,
    /// The longest `Retry-After` waited for in place (default 10 s).
    pub max_wait: Duration,
    /// The wait after a 5xx without `Retry-After` (default 1 s).
    pub default_wait: Duration,
}

impl Default for TokenRetryPolicy {
    fn default() -> Self {
        TokenRetryPolicy {
            max_attempts: 2,
            max_wait: Duration::from_secs(10),
            default_wait: Duration::from_secs(1),
        }
    }
}

/// Shared auth services. Cheap to clone.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AuthContext {
    /// Token requests go through the engine's client.
    pub http: OAuthHttpClient,
    /// The access token cache (one refresh for all callers).
    pub cache: Arc<TokenCache>,
    /// Where installations' grants (refresh tokens) live.
    pub grants: Arc<dyn GrantStore>,
    /// Pending `state` values.
    pub states: Arc<StateStore>,
    /// The clock everything reads.
    pub clock: Arc<dyn Clock>,
    /// Retry rules for the token endpoint.
    pub retry: TokenRetryPolicy,
}

impl AuthContext {
    /// Services on the real clock.
    pub fn new(http: reqwest::Client, grants: Arc<dyn GrantStore>) -> Self {
        Self::with_clock(http, grants, Arc::new(SystemClock))
    }

    /// Services on another clock (tests).
    pub fn with_clock(
        http: reqwest::Client,
        grants: Arc<dyn GrantStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        AuthContext {
            http: OAuthHttpClient::new(http),
            cache: Arc::new(TokenCache::new(clock.clone())),
            grants,
            states: Arc::new(StateStore::new(clock.clone())),
            clock,
            retry: TokenRetryPolicy::default(),
        }
    }

    /// The same services sending token requests through `http` (for
    /// example `OAuthHttpClient::for_engine`, which carries the engine's token
    /// deadline).
    pub fn with_http(mut self, http: OAuthHttpClient) -> Self {
        self.http = http;
        self
    }

    /// The same services with other retry rules.
    pub fn with_retry(mut self, retry: TokenRetryPolicy) -> Self {
        self.retry = retry;
        self
    }
}
