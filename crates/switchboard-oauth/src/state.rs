//! The OAuth `state` parameter: one-time, short-lived, bound to an
//! installation and to the flow that issued it.
//!
//! [`StateStore::issue`] makes 32 random bytes (256 bits, URL-safe
//! base64) and puts the installation id in front of them
//! (`<32 hex digits>.<43 characters>`, so a callback can be routed to its
//! installation with [`installation_of`] before anything is checked; the
//! id is not a secret, the random part is). It remembers the installation, the purpose (authorization code or
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
//! use switchboard_oauth::clock::SystemClock;
//! use switchboard_oauth::state::{StatePurpose, StateStore};
//!
//! let store = StateStore::new(Arc::new(SystemClock));
//! let state = store.issue(switchboard_core::InstallationId::from_u128(1), StatePurpose::AdminConsent, None).unwrap();
//! assert!(store.take(switchboard_core::InstallationId::from_u128(1), StatePurpose::AdminConsent, state.secret()).is_ok());
//! // one-time
//! assert!(store.take(switchboard_core::InstallationId::from_u128(1), StatePurpose::AdminConsent, state.secret()).is_err());
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

use crate::clock::Clock;
use switchboard_core::InstallationId;
use switchboard_core::error::{Error, ErrorKind, Result};

/// How long a state stays valid by default.
pub const DEFAULT_STATE_TTL: Duration = Duration::from_secs(600);

/// Between the installation id and the random part of a state.
const ID_SEPARATOR: char = '.';

/// The installation a `state` issued by [`StateStore::issue`] names, for
/// routing a callback. Only a hint: the state is still checked whole, in
/// constant time, when it is taken.
///
/// ```
/// use std::sync::Arc;
/// use switchboard_core::InstallationId;
/// use switchboard_oauth::clock::SystemClock;
/// use switchboard_oauth::state::{StatePurpose, StateStore, installation_of};
///
/// let id = InstallationId::new_random();
/// let store = StateStore::new(Arc::new(SystemClock));
/// let state = store.issue(id, StatePurpose::AdminConsent, None).unwrap();
/// assert_eq!(installation_of(state.secret()), Some(id));
/// assert_eq!(installation_of("forged"), None);
/// ```
pub fn installation_of(state: &str) -> Option<InstallationId> {
    let (id, rest) = state.split_once(ID_SEPARATOR)?;
    if id.len() != 32 || rest.is_empty() {
        return None;
    }
    id.parse().ok()
}

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
        installation_id: InstallationId,
        purpose: StatePurpose,
        verifier: Option<PkceCodeVerifier>,
    ) -> Result<CsrfToken> {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let state = CsrfToken::new(format!(
            "{}{ID_SEPARATOR}{}",
            installation_id.as_uuid().simple(),
            URL_SAFE_NO_PAD.encode(bytes)
        ));
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
        installation_id: InstallationId,
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
            .ct_eq(installation_id.to_string().as_bytes())
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

/// A pending state taken out of a [`StateStore`] so it can be kept (in the
/// installation's encrypted secrets) and brought back into the store of
/// another process or node that receives the callback. Debug shows no
/// secret.
pub struct PendingState {
    state: CsrfToken,
    installation_id: String,
    purpose: StatePurpose,
    issued_at: SystemTime,
    verifier: Option<PkceCodeVerifier>,
}

impl fmt::Debug for PendingState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingState")
            .field("installation_id", &self.installation_id)
            .field("purpose", &self.purpose)
            .field("issued_at", &self.issued_at)
            .field("verifier", &self.verifier.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct PendingWire {
    state: String,
    installation_id: String,
    admin_consent: bool,
    issued_at_ms: u64,
    verifier: Option<String>,
}

impl PendingState {
    /// The installation it was issued for.
    pub fn installation_id(&self) -> &str {
        &self.installation_id
    }

    /// The flow it was issued for.
    pub fn purpose(&self) -> StatePurpose {
        self.purpose
    }

    /// Whether `presented` is this state (constant-time comparison).
    pub fn matches(&self, presented: &str) -> bool {
        self.state
            .secret()
            .as_bytes()
            .ct_eq(presented.as_bytes())
            .into()
    }

    /// The pending state as text to keep encrypted (it holds the state and
    /// the PKCE verifier: a secret).
    pub fn to_secret_text(&self) -> secrecy::SecretString {
        let wire = PendingWire {
            state: self.state.secret().clone(),
            installation_id: self.installation_id.clone(),
            admin_consent: self.purpose == StatePurpose::AdminConsent,
            issued_at_ms: self
                .issued_at
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                .unwrap_or(0),
            verifier: self.verifier.as_ref().map(|v| v.secret().clone()),
        };
        secrecy::SecretString::from(serde_json::to_string(&wire).unwrap_or_default())
    }

    /// Read the text written by [`PendingState::to_secret_text`].
    pub fn from_secret_text(text: &str) -> Result<Self> {
        let wire: PendingWire = serde_json::from_str(text).map_err(|_| {
            Error::new(
                ErrorKind::Storage,
                "the stored pending authorization is unreadable; start the authorization again",
            )
        })?;
        Ok(PendingState {
            state: CsrfToken::new(wire.state),
            installation_id: wire.installation_id,
            purpose: if wire.admin_consent {
                StatePurpose::AdminConsent
            } else {
                StatePurpose::AuthorizationCode
            },
            issued_at: switchboard_core::bounds::later(
                std::time::UNIX_EPOCH,
                Duration::from_millis(wire.issued_at_ms),
            ),
            verifier: wire.verifier.map(PkceCodeVerifier::new),
        })
    }
}

impl StateStore {
    /// A copy of the pending entry for `presented`, left in place.
    pub fn export(&self, presented: &str) -> Option<PendingState> {
        let pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = pending.get(&digest(presented))?;
        let same: bool = entry
            .state
            .secret()
            .as_bytes()
            .ct_eq(presented.as_bytes())
            .into();
        same.then(|| PendingState {
            state: entry.state.clone(),
            installation_id: entry.installation_id.clone(),
            purpose: entry.purpose,
            issued_at: entry.issued_at,
            verifier: entry
                .verifier
                .as_ref()
                .map(|v| PkceCodeVerifier::new(v.secret().clone())),
        })
    }

    /// Bring back an exported entry (replacing one with the same state).
    /// Its age still counts from when it was issued.
    pub fn import(&self, entry: PendingState) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.insert(
            digest(entry.state.secret()),
            Pending {
                state: entry.state,
                installation_id: entry.installation_id,
                purpose: entry.purpose,
                issued_at: entry.issued_at,
                verifier: entry.verifier,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const I: InstallationId = InstallationId::from_u128(1);
    const J: InstallationId = InstallationId::from_u128(2);
    use crate::clock::ManualClock;

    #[test]
    fn state_has_256_random_bits_and_redacts() {
        let store = StateStore::new(Arc::new(ManualClock::new(SystemTime::UNIX_EPOCH)));
        let a = store
            .issue(I, StatePurpose::AuthorizationCode, None)
            .unwrap();
        let b = store
            .issue(I, StatePurpose::AuthorizationCode, None)
            .unwrap();
        let (id, random) = a.secret().split_once('.').unwrap();
        assert_eq!(id, I.as_uuid().simple().to_string());
        assert_eq!(installation_of(a.secret()), Some(I));
        assert_eq!(URL_SAFE_NO_PAD.decode(random).unwrap().len(), 32);
        assert_ne!(a.secret(), b.secret());
        assert!(!format!("{a:?}").contains(a.secret()));
        assert!(!format!("{store:?}").contains(a.secret()));
    }

    #[test]
    fn refuses_other_installation_purpose_and_expired() {
        let clock = ManualClock::new(SystemTime::UNIX_EPOCH);
        let store = StateStore::new(Arc::new(clock.clone()));
        let s = store
            .issue(I, StatePurpose::AuthorizationCode, None)
            .unwrap();
        assert!(
            store
                .take(J, StatePurpose::AuthorizationCode, s.secret())
                .is_err()
        );
        // consumed by the failed attempt
        assert!(
            store
                .take(I, StatePurpose::AuthorizationCode, s.secret())
                .is_err()
        );

        let s = store
            .issue(I, StatePurpose::AuthorizationCode, None)
            .unwrap();
        assert!(
            store
                .take(I, StatePurpose::AdminConsent, s.secret())
                .is_err()
        );

        let s = store
            .issue(I, StatePurpose::AuthorizationCode, None)
            .unwrap();
        clock.advance(Duration::from_secs(599));
        assert!(
            store
                .take(I, StatePurpose::AuthorizationCode, s.secret())
                .is_ok()
        );

        let s = store
            .issue(I, StatePurpose::AuthorizationCode, None)
            .unwrap();
        clock.advance(Duration::from_secs(600));
        let err = store
            .take(I, StatePurpose::AuthorizationCode, s.secret())
            .unwrap_err();
        assert_eq!(err.field(), Some("state"));
    }

    #[test]
    fn exported_state_moves_to_another_store_keeps_its_age_and_hides_its_secrets() {
        let clock = ManualClock::new(SystemTime::now());
        let issuer = StateStore::new(Arc::new(clock.clone()));
        let verifier = PkceCodeVerifier::new("verifier-secret-value".into());
        let s = issuer
            .issue(
                switchboard_core::InstallationId::from_u128(1),
                StatePurpose::AuthorizationCode,
                Some(verifier),
            )
            .unwrap();
        assert!(issuer.export("not-the-state").is_none());
        let exported = issuer.export(s.secret()).unwrap();
        assert!(exported.matches(s.secret()));
        assert!(!exported.matches("other"));
        let debug = format!("{exported:?}");
        assert!(!debug.contains(s.secret()) && !debug.contains("verifier-secret-value"));
        let text = exported.to_secret_text();
        let back =
            PendingState::from_secret_text(secrecy::ExposeSecret::expose_secret(&text)).unwrap();
        assert_eq!(back.installation_id(), I.to_string());
        assert_eq!(back.purpose(), StatePurpose::AuthorizationCode);

        // another process: the state is accepted once, with its verifier
        let receiver = StateStore::new(Arc::new(clock.clone()));
        receiver.import(back);
        let got = receiver
            .take(
                switchboard_core::InstallationId::from_u128(1),
                StatePurpose::AuthorizationCode,
                s.secret(),
            )
            .unwrap()
            .unwrap();
        assert_eq!(got.secret(), "verifier-secret-value");
        assert!(
            receiver
                .take(
                    switchboard_core::InstallationId::from_u128(1),
                    StatePurpose::AuthorizationCode,
                    s.secret()
                )
                .is_err()
        );

        // its age counts from when it was issued
        let late = StateStore::new(Arc::new(clock.clone()));
        late.import(
            PendingState::from_secret_text(secrecy::ExposeSecret::expose_secret(&text)).unwrap(),
        );
        clock.advance(Duration::from_secs(600));
        assert!(
            late.take(
                switchboard_core::InstallationId::from_u128(1),
                StatePurpose::AuthorizationCode,
                s.secret()
            )
            .is_err()
        );
        assert!(PendingState::from_secret_text("not json").is_err());
    }
}
