//! The OAuth `state` parameter: one-time, short-lived, bound to an
//! installation and to the flow that issued it.
//!
//! [`StateStore::issue`] makes 32 random bytes (256 bits, URL-safe
//! base64), remembers the installation, the purpose (authorization code or
//! admin consent) and, for the code flow, the PKCE verifier.
//! [`StateStore::take`] removes the entry whatever the outcome (a state is
//! never accepted twice) and accepts it only when it is younger than the
//! time limit (10 minutes by default), was issued for the same installation
//! and purpose, and equals the presented value in constant time.
//!
//! Entries are looked up by the SHA-256 of the state, so the map lookup
//! itself reveals nothing useful about stored values; the final comparison
//! uses `subtle`.
//!
//! This store is in memory: a platform with several nodes must route the
//! callback to the node that started the flow (or share a store; the
//! persistent stores are a separate piece of work).
//!
//! ```
//! use std::sync::Arc;
//! use switchboard_core::auth::clock::SystemClock;
//! use switchboard_core::auth::state::{StatePurpose, StateStore};
//!
//! let store = StateStore::new(Arc::new(SystemClock));
//! let state = store.issue("inst-1", StatePurpose::AdminConsent, None).unwrap();
//! assert!(store.take("inst-1", StatePurpose::AdminConsent, state.secret()).is_ok());
//! // one-time
//! assert!(store.take("inst-1", StatePurpose::AdminConsent, state.secret()).is_err());
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oauth2::{CsrfToken, PkceCodeVerifier};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::auth::clock::Clock;
use crate::error::{Error, ErrorKind, Result};

/// How long a state stays valid by default.
pub const DEFAULT_STATE_TTL: Duration = Duration::from_secs(600);

/// Pending states kept at most (older ones are dropped first).
const MAX_PENDING: usize = 100_000;

/// Which flow a state was issued for; a state from one flow is refused by
/// the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatePurpose {
    /// Authorization code + PKCE (delegated sign-in).
    AuthorizationCode,
    /// Administrator consent.
    AdminConsent,
}

struct Pending {
    state: CsrfToken,
    installation_id: String,
    purpose: StatePurpose,
    issued_at: SystemTime,
    verifier: Option<PkceCodeVerifier>,
}

/// In-memory store of pending `state` values.
pub struct StateStore {
    clock: Arc<dyn Clock>,
    ttl: Duration,
    pending: Mutex<HashMap<[u8; 32], Pending>>,
}

impl fmt::Debug for StateStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("StateStore")
            .field("ttl", &self.ttl)
            .field("pending", &count)
            .finish()
    }
}

fn digest(state: &str) -> [u8; 32] {
    Sha256::digest(state.as_bytes()).into()
}

impl StateStore {
    /// A store whose states live [`DEFAULT_STATE_TTL`].
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self::with_ttl(clock, DEFAULT_STATE_TTL)
    }

    /// A store with another time limit.
    pub fn with_ttl(clock: Arc<dyn Clock>, ttl: Duration) -> Self {
        StateStore {
            clock,
            ttl,
            pending: Mutex::new(HashMap::new()),
        }
    }

    /// A new state for `installation_id`, remembering the PKCE verifier.
    pub fn issue(
        &self,
        installation_id: &str,
        purpose: StatePurpose,
        verifier: Option<PkceCodeVerifier>,
    ) -> Result<CsrfToken> {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let state = CsrfToken::new(URL_SAFE_NO_PAD.encode(bytes));
        let now = self.clock.now();
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let ttl = self.ttl;
        pending.retain(|_, p| !expired(p.issued_at, now, ttl));
        if pending.len() >= MAX_PENDING {
            return Err(Error::new(
                ErrorKind::Throttled,
                "too many authorizations are in progress; try again in a few minutes",
            ));
        }
        pending.insert(
            digest(state.secret()),
            Pending {
                state: state.clone(),
                installation_id: installation_id.to_string(),
                purpose,
                issued_at: now,
                verifier,
            },
        );
        Ok(state)
    }

    /// Consume a presented state. Returns the PKCE verifier stored with it
    /// (if any). Every refusal has the same message, so a caller learns
    /// nothing about why.
    pub fn take(
        &self,
        installation_id: &str,
        purpose: StatePurpose,
        presented: &str,
    ) -> Result<Option<PkceCodeVerifier>> {
        let refused = || {
            Error::new(
                ErrorKind::Consent,
                "the authorization response's `state` is unknown, already used, expired or belongs to another installation; start the authorization again",
            )
            .with_field("state")
        };
        let entry = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&digest(presented))
            .ok_or_else(refused)?;
        let same_state: bool = entry
            .state
            .secret()
            .as_bytes()
            .ct_eq(presented.as_bytes())
            .into();
        let same_installation: bool = entry
            .installation_id
            .as_bytes()
            .ct_eq(installation_id.as_bytes())
            .into();
        if !same_state
            || !same_installation
            || entry.purpose != purpose
            || expired(entry.issued_at, self.clock.now(), self.ttl)
        {
            return Err(refused());
        }
        Ok(entry.verifier)
    }
}

fn expired(issued_at: SystemTime, now: SystemTime, ttl: Duration) -> bool {
    match now.duration_since(issued_at) {
        Ok(age) => age >= ttl,
        // The clock went backwards: treat as fresh only if the jump is small.
        Err(e) => e.duration() > ttl,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::clock::ManualClock;

    #[test]
    fn state_has_256_random_bits_and_redacts() {
        let store = StateStore::new(Arc::new(ManualClock::new(SystemTime::UNIX_EPOCH)));
        let a = store
            .issue("i", StatePurpose::AuthorizationCode, None)
            .unwrap();
        let b = store
            .issue("i", StatePurpose::AuthorizationCode, None)
            .unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(a.secret()).unwrap().len(), 32);
        assert_ne!(a.secret(), b.secret());
        assert!(!format!("{a:?}").contains(a.secret()));
        assert!(!format!("{store:?}").contains(a.secret()));
    }

    #[test]
    fn refuses_other_installation_purpose_and_expired() {
        let clock = ManualClock::new(SystemTime::UNIX_EPOCH);
        let store = StateStore::new(Arc::new(clock.clone()));
        let s = store
            .issue("i", StatePurpose::AuthorizationCode, None)
            .unwrap();
        assert!(
            store
                .take("j", StatePurpose::AuthorizationCode, s.secret())
                .is_err()
        );
        // consumed by the failed attempt
        assert!(
            store
                .take("i", StatePurpose::AuthorizationCode, s.secret())
                .is_err()
        );

        let s = store
            .issue("i", StatePurpose::AuthorizationCode, None)
            .unwrap();
        assert!(
            store
                .take("i", StatePurpose::AdminConsent, s.secret())
                .is_err()
        );

        let s = store
            .issue("i", StatePurpose::AuthorizationCode, None)
            .unwrap();
        clock.advance(Duration::from_secs(599));
        assert!(
            store
                .take("i", StatePurpose::AuthorizationCode, s.secret())
                .is_ok()
        );

        let s = store
            .issue("i", StatePurpose::AuthorizationCode, None)
            .unwrap();
        clock.advance(Duration::from_secs(600));
        let err = store
            .take("i", StatePurpose::AuthorizationCode, s.secret())
            .unwrap_err();
        assert_eq!(err.field(), Some("state"));
    }
}
