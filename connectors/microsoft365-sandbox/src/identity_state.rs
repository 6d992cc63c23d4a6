//! What the identity platform remembers between requests: authorization
//! codes, refresh tokens, the access tokens it issued and the admins'
//! consents. Kept in the tenant's state (`crate::state`) and saved with it;
//! the endpoints that use it are in `crate::identity`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct CodeGrant {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) user_id: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) oidc: Vec<String>,
    pub(crate) prefix: String,
    pub(crate) challenge: Option<(String, String)>,
    /// The authorize request's `nonce`, repeated in the id_token.
    pub(crate) nonce: Option<String>,
    pub(crate) expires: i64,
    pub(crate) redeemed: bool,
}

#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct RefreshGrant {
    pub(crate) client_id: String,
    pub(crate) user_id: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) oidc: Vec<String>,
    pub(crate) prefix: String,
    pub(crate) issued: i64,
    pub(crate) expires: i64,
    pub(crate) epoch: u64,
    pub(crate) rotated: bool,
}

/// An access token the sandbox issued.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Issued {
    /// The epoch it was issued in (see [`IdentityState::epoch`]).
    pub(crate) epoch: u64,
    /// Its `exp`.
    pub(crate) expires: i64,
}

/// Codes, refresh tokens, issued access tokens and admin consents.
#[derive(Clone, Default, Serialize, Deserialize)]
pub(crate) struct IdentityState {
    pub(crate) codes: HashMap<String, CodeGrant>,
    pub(crate) refresh: HashMap<String, RefreshGrant>,
    /// Access token id (`uti`) → when it was issued and until when it is valid.
    pub(crate) issued: HashMap<String, Issued>,
    /// Bumped by `expire_all_tokens`.
    pub(crate) epoch: u64,
    /// Bumped by `expire_refresh_tokens`.
    pub(crate) refresh_epoch: u64,
    /// Client id (lower case) → application permissions an admin granted.
    pub(crate) admin_consent: HashMap<String, Vec<String>>,
}

impl IdentityState {
    /// Forgets what can no longer be used at `now`: expired codes, refresh
    /// tokens and access tokens, and access tokens of earlier epochs.
    /// Keeps the state (and the state file) from growing without end.
    pub(crate) fn prune(&mut self, now: i64) {
        self.codes.retain(|_, c| c.expires >= now);
        self.refresh.retain(|_, r| r.expires >= now);
        let epoch = self.epoch;
        self.issued
            .retain(|_, t| t.epoch == epoch && t.expires > now);
    }

    pub(crate) fn issue(&mut self, uti: String, expires: i64) {
        let epoch = self.epoch;
        self.issued.insert(uti, Issued { epoch, expires });
    }
}
