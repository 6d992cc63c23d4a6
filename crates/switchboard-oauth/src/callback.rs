//! The query string of an authorization or admin consent callback.
//!
//! [`CallbackParams::parse`] reads the known parameters into typed fields
//! (the code and the state as redacting secrets), ignores unknown ones,
//! and refuses a known parameter given twice (parameter pollution).
//!
//! ```
//! use switchboard_oauth::callback::CallbackParams;
//!
//! let p = CallbackParams::parse("code=abc&state=xyz&session_state=1").unwrap();
//! assert_eq!(p.code.as_ref().unwrap().secret(), "abc");
//! assert!(!format!("{p:?}").contains("abc"));
//! assert!(CallbackParams::parse("state=a&state=b").is_err());
//! ```

use oauth2::{AuthorizationCode, CsrfToken};

use switchboard_core::error::{Error, Result};

/// Parameters of a redirect back from the authorization server.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct CallbackParams {
    /// The authorization code (code flow).
    pub code: Option<AuthorizationCode>,
    /// The state we issued, echoed back.
    pub state: Option<CsrfToken>,
    /// An OAuth error code (`access_denied`, `consent_required`...).
    pub error: Option<String>,
    /// The server's description of the error (not for branching or messages).
    pub error_description: Option<String>,
    /// Microsoft admin consent: `True` when an administrator granted consent.
    pub admin_consent: Option<String>,
    /// Microsoft admin consent: the tenant that granted consent (can be forged).
    pub tenant: Option<String>,
    /// Scopes echoed by the server.
    pub scope: Option<String>,
}

impl CallbackParams {
    /// Parse a query string (with or without the leading `?`).
    pub fn parse(query: &str) -> Result<Self> {
        let query = query.strip_prefix('?').unwrap_or(query);
        let mut out = CallbackParams::default();
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let value = value.into_owned();
            let twice = || {
                Error::invalid_argument(
                    name.as_ref(),
                    "appears more than once in the callback; each parameter may be given once",
                )
            };
            match name.as_ref() {
                "code" => set_once(&mut out.code, AuthorizationCode::new(value), twice)?,
                "state" => set_once(&mut out.state, CsrfToken::new(value), twice)?,
                "error" => set_once(&mut out.error, value, twice)?,
                "error_description" => set_once(&mut out.error_description, value, twice)?,
                "admin_consent" => set_once(&mut out.admin_consent, value, twice)?,
                "tenant" => set_once(&mut out.tenant, value, twice)?,
                "scope" => set_once(&mut out.scope, value, twice)?,
                _ => {}
            }
        }
        Ok(out)
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T, twice: impl Fn() -> Error) -> Result<()> {
    if slot.is_some() {
        return Err(twice());
    }
    *slot = Some(value);
    Ok(())
}
