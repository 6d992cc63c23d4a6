//! What an identity provider decides: scopes, error meanings, token checks.
//!
//! The OAuth machinery in this module is provider-neutral. A connector
//! crate implements [`Provider`] to say how a method's permissions become
//! scopes, how its token endpoint's error codes read (Microsoft's AADSTS
//! codes, say), and what a fresh token must satisfy before it is used
//! (Microsoft: the `tid` claim is the installation's tenant).
//!
//! ```
//! use switchboard_oauth::provider::Provider;
//!
//! #[derive(Debug)]
//! struct Example;
//! impl Provider for Example {
//!     fn scopes(&self, permissions: &[String]) -> Vec<String> {
//!         permissions.iter().map(|p| format!("https://api.example.com/{p}")).collect()
//!     }
//! }
//! assert_eq!(Example.scopes(&["read".into()]), vec!["https://api.example.com/read"]);
//! ```

use std::fmt;

use crate::callback::CallbackParams;
use crate::client::TokenEndpointError;
use crate::response::TokenSet;
use switchboard_core::error::{Error, ErrorKind, Result};

/// Provider-specific decisions for the OAuth flows.
pub trait Provider: Send + Sync + fmt::Debug {
    /// The scopes to request for a method's declared permissions.
    fn scopes(&self, permissions: &[String]) -> Vec<String>;

    /// Read a token endpoint failure. The default reads RFC 6749 codes.
    fn map_token_error(&self, error: TokenEndpointError) -> Error {
        error.into_error()
    }

    /// Read an `error=` on the authorization callback. The default reads
    /// RFC 6749 §4.1.2.1 codes plus OpenID Connect's.
    fn map_callback_error(&self, params: &CallbackParams) -> Error {
        standard_callback_error(params.error.as_deref().unwrap_or_default())
    }

    /// Check a token set before it is stored, cached or used. `pinned` is
    /// the tenant learned earlier for the installation, if any. Returns the
    /// tenant the tokens belong to, when known, so it can be pinned.
    fn check_tokens(&self, tokens: &TokenSet, pinned: Option<&str>) -> Result<Option<String>> {
        let _ = (tokens, pinned);
        Ok(None)
    }
}

/// The provider-neutral reading of an authorization callback `error`.
///
/// ```
/// use switchboard_oauth::provider::standard_callback_error;
/// use switchboard_core::ErrorKind;
/// assert_eq!(standard_callback_error("access_denied").kind(), ErrorKind::Consent);
/// assert_eq!(standard_callback_error("interaction_required").kind(), ErrorKind::NeedsReauth);
/// ```
pub fn standard_callback_error(code: &str) -> Error {
    let (kind, message) = match code {
        "access_denied" => (
            ErrorKind::Consent,
            "the user or administrator declined the requested permissions; ask them to accept, or enable fewer methods",
        ),
        "consent_required" => (
            ErrorKind::Consent,
            "consent for the requested permissions is missing; an administrator may have to grant it for the organisation",
        ),
        "interaction_required" | "login_required" | "account_selection_required" => (
            ErrorKind::NeedsReauth,
            "the identity service needs the user to sign in interactively; start the sign-in again",
        ),
        "invalid_scope" => (
            ErrorKind::Configuration,
            "the identity service refused the requested scopes; check the application's configured permissions",
        ),
        "unauthorized_client"
        | "invalid_client"
        | "invalid_request"
        | "unsupported_response_type" => (
            ErrorKind::Configuration,
            "the identity service refused the authorization request; check the application registration (client id, redirect URI, supported account types)",
        ),
        "server_error" | "temporarily_unavailable" => (
            ErrorKind::Transient,
            "the identity service failed during sign-in; try again in a few minutes",
        ),
        _ => (
            ErrorKind::Consent,
            "the authorization was not completed; start it again",
        ),
    };
    let mut err = Error::new(kind, message);
    if !code.is_empty() {
        let mut details = switchboard_core::error::RemoteDetails::default();
        details.code = Some(code.chars().take(64).collect());
        err = err.with_remote(details);
    }
    err
}
