//! The token seam: how the engine gets a bearer token for an installation.
//!
//! The engine asks a [`Credential`] for a token before every attempt (so a
//! long crawl never outlives its token). After a 401 it asks again with the
//! refused token in [`TokenRequest::rejected`]; a credential that can refresh
//! returns a new token (once for all callers that saw the same refusal), one
//! that cannot returns an [`ErrorKind::Unauthorized`] error.
//!
//! The OAuth flows implement this trait; [`StaticCredential`] serves tests
//! and API tokens given at install time.
//!
//! ```
//! use switchboard_core::credential::{AccessToken, Credential, StaticCredential, TokenRequest};
//!
//! # tokio_test_block_on(async {
//! let cred = StaticCredential::new(AccessToken::new("secret-token", None));
//! let token = cred.token(&TokenRequest::new(switchboard_core::InstallationId::from_u128(1), vec!["User.Read".into()])).await.unwrap();
//! assert_eq!(token.secret(), "secret-token");
//! assert_eq!(format!("{token:?}"), "AccessToken([redacted])");
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use crate::error::{Error, ErrorKind, Result};
use crate::installation_id::InstallationId;

/// A bearer token. Its Debug never shows the secret.
///
/// Cheap to clone: clones share one copy of the secret, which is wiped from
/// memory when the last clone is dropped.
#[derive(Clone)]
pub struct AccessToken {
    secret: Arc<SecretString>,
    expires_at: Option<SystemTime>,
}

impl AccessToken {
    /// A token with an optional expiry.
    pub fn new(secret: impl Into<String>, expires_at: Option<SystemTime>) -> Self {
        AccessToken {
            secret: Arc::new(SecretString::from(secret.into())),
            expires_at,
        }
    }

    /// The token itself, for the `Authorization` header. Never log it.
    pub fn secret(&self) -> &str {
        self.secret.expose_secret()
    }

    /// When the token stops working, when known.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }

    /// Whether two tokens carry the same secret (constant time).
    pub fn same_secret(&self, other: &AccessToken) -> bool {
        use subtle::ConstantTimeEq;
        self.secret()
            .as_bytes()
            .ct_eq(other.secret().as_bytes())
            .into()
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken([redacted])")
    }
}

/// What the engine asks a credential for.
///
/// The engine builds one for every attempt, so the scopes are shared
/// (`Arc`): cloning a request copies no strings.
///
/// ```
/// use switchboard_core::InstallationId;
/// use switchboard_core::credential::TokenRequest;
///
/// let id = InstallationId::new_random();
/// let request = TokenRequest::new(id, vec!["User.Read".to_string()]);
/// assert_eq!(request.installation_id, id);
/// assert_eq!(*request.scopes, ["User.Read"]);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TokenRequest {
    /// The installation the call is for.
    pub installation_id: InstallationId,
    /// The permissions the method declares for the variant (least privileged
    /// first). A credential maps them to scopes as its flow requires.
    pub scopes: Arc<[String]>,
    /// A token the service refused with 401: return a different one or fail.
    pub rejected: Option<AccessToken>,
    /// Claims challenge decoded from `WWW-Authenticate: ... claims="..."`.
    pub claims: Option<String>,
}

impl TokenRequest {
    /// A plain request for a token. The scopes may be shared already
    /// (`Arc<[String]>`) or owned (`Vec<String>`).
    pub fn new(installation_id: InstallationId, scopes: impl Into<Arc<[String]>>) -> Self {
        TokenRequest {
            installation_id,
            scopes: scopes.into(),
            rejected: None,
            claims: None,
        }
    }

    /// The same request, saying that `token` was refused.
    pub fn with_rejected(mut self, token: AccessToken) -> Self {
        self.rejected = Some(token);
        self
    }

    /// The same request, carrying a claims challenge.
    pub fn with_claims(mut self, claims: impl Into<String>) -> Self {
        self.claims = Some(claims.into());
        self
    }
}

/// A source of bearer tokens for one installation.
#[async_trait]
pub trait Credential: Send + Sync + fmt::Debug {
    /// A valid token for the request. Called before every attempt.
    async fn token(&self, request: &TokenRequest) -> Result<AccessToken>;
}

/// A fixed token (tests, API tokens given at install time). A refused token
/// cannot be refreshed: the second ask fails with [`ErrorKind::Unauthorized`].
#[derive(Debug, Clone)]
pub struct StaticCredential {
    token: AccessToken,
}

impl StaticCredential {
    /// A credential that always returns `token`.
    pub fn new(token: AccessToken) -> Self {
        StaticCredential { token }
    }
}

#[async_trait]
impl Credential for StaticCredential {
    async fn token(&self, request: &TokenRequest) -> Result<AccessToken> {
        match &request.rejected {
            Some(rejected) if rejected.same_secret(&self.token) => Err(Error::new(
                ErrorKind::Unauthorized,
                "the service refused the installation's token and it cannot be refreshed; re-authenticate the installation",
            )),
            _ => Ok(self.token.clone()),
        }
    }
}
