//! Microsoft identity errors explained.
//!
//! **A Rust hook because data can't express it:** the definition declares
//! where the token endpoint is and how its answers read, but not what each
//! of Microsoft's numeric AADSTS codes means for an administrator; that is
//! a table of our own sentences keyed by `error_codes`, with a fallback on
//! the OAuth `error`.
//!
//! The token endpoint answers failures with `error` (an OAuth code),
//! `error_description` (text that starts with `AADSTSnnnn:`), `error_codes`
//! (the same numbers, as JSON), `trace_id`, `correlation_id` and
//! `timestamp`. We branch on `error_codes` first and `error` second, never
//! on the description, and never copy the body or the description into a
//! message: each known code gets our own sentence saying what an
//! administrator can do. The code, trace id and correlation id go into
//! [`RemoteDetails`](switchboard_core::error::RemoteDetails) for support.
//!
//! ```
//! use switchboard_oauth::client::TokenEndpointError;
//! use switchboard_oauth::response::TokenErrorBody;
//! use switchboard_core::ErrorKind;
//! use switchboard_microsoft365::aadsts::map_token_error;
//!
//! let body: TokenErrorBody = serde_json::from_str(
//!     r#"{"error":"invalid_client","error_codes":[7000215],"error_description":"AADSTS7000215: ..."}"#,
//! ).unwrap();
//! let err = map_token_error(TokenEndpointError::OAuth(Box::new(body)));
//! assert_eq!(err.kind(), ErrorKind::Configuration);
//! assert!(err.to_string().contains("Value"));
//! ```

use switchboard_core::{Error, ErrorKind};
use switchboard_oauth::client::TokenEndpointError;
use switchboard_oauth::response::TokenErrorBody;

/// What a known AADSTS code means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Explanation {
    /// The error class.
    pub kind: ErrorKind,
    /// What happened and what to do, for an administrator.
    pub message: &'static str,
}

/// The explanation of an AADSTS code, when we know it.
///
/// ```
/// use switchboard_core::ErrorKind;
/// use switchboard_microsoft365::aadsts::explain;
/// assert_eq!(explain(70008).unwrap().kind, ErrorKind::NeedsReauth);
/// assert!(explain(1).is_none());
/// ```
pub fn explain(code: u64) -> Option<Explanation> {
    let (kind, message) = match code {
        65001 => (
            ErrorKind::Consent,
            "the application has not been granted consent for the requested permissions in this tenant; an administrator must grant consent (open the admin consent link, or Grant admin consent in the Microsoft Entra admin center)",
        ),
        65004 => (
            ErrorKind::Consent,
            "the user or administrator declined to consent to the application's permissions; consent must be accepted before the connector can work",
        ),
        90094 => (
            ErrorKind::Consent,
            "the requested permissions need an administrator's consent; ask a Global Administrator or Privileged Role Administrator of the tenant to grant consent",
        ),
        700016 => (
            ErrorKind::Configuration,
            "the application (client id) was not found in this tenant; check the client id and the tenant ID, and that an administrator has granted consent (which adds the application to the tenant)",
        ),
        7000215 => (
            ErrorKind::Configuration,
            "the client secret is wrong; configure the secret's Value (shown once when it is created), not its Secret ID",
        ),
        7000222 => (
            ErrorKind::Configuration,
            "the client secret has expired; create a new client secret in the app registration and configure its Value (not its Secret ID)",
        ),
        50076 | 50079 => (
            ErrorKind::NeedsReauth,
            "multi-factor authentication is required for this user; the user must sign in again interactively to complete it",
        ),
        50078 => (
            ErrorKind::NeedsReauth,
            "the user's multi-factor authentication has expired; the user must sign in again interactively",
        ),
        50074 => (
            ErrorKind::NeedsReauth,
            "strong authentication is required; the user must sign in again interactively and complete multi-factor authentication",
        ),
        53003 => (
            ErrorKind::Forbidden,
            "a Conditional Access policy of the tenant blocked the sign-in; an administrator must review the Conditional Access policies that apply to this application and user",
        ),
        70008 => (
            ErrorKind::NeedsReauth,
            "the sign-in grant has expired (unused for too long); the user must sign in again",
        ),
        700082 => (
            ErrorKind::NeedsReauth,
            "the refresh token expired due to inactivity; the user must sign in again",
        ),
        50173 => (
            ErrorKind::NeedsReauth,
            "the sign-in grant was revoked (password change or an administrator revoked sessions); the user must sign in again",
        ),
        90002 => (
            ErrorKind::Configuration,
            "the tenant was not found in this cloud; check the tenant ID and that the installation uses the right Microsoft cloud",
        ),
        50194 => (
            ErrorKind::Configuration,
            "the application is not configured as multi-tenant; set its supported account types to accounts in any organizational directory, or use the tenant where it is registered",
        ),
        9001023 => (
            ErrorKind::Configuration,
            "this grant cannot be used with the `common` or `consumers` endpoint; configure the installation with the customer's tenant ID",
        ),
        70011 => (
            ErrorKind::Configuration,
            "the identity service refused the requested scope; check that the methods' permissions exist and are configured for the application",
        ),
        700022 => (
            ErrorKind::Configuration,
            "the scope is not valid for this grant; application permissions must be requested as a single `.default` scope of the cloud's Graph host",
        ),
        _ => return None,
    };
    Some(Explanation { kind, message })
}

/// Read a token endpoint failure the Microsoft way: known AADSTS codes
/// first, then the OAuth `error`, then the transport-level reading.
pub fn map_token_error(error: TokenEndpointError) -> Error {
    match error {
        TokenEndpointError::OAuth(body) => map_error_body(&body),
        other => other.into_error(),
    }
}

fn map_error_body(body: &TokenErrorBody) -> Error {
    let known = body
        .error_codes
        .iter()
        .find_map(|code| explain(*code).map(|e| (*code, e)));
    match known {
        Some((code, explanation)) => {
            let mut remote = TokenEndpointError::remote_details(body);
            remote.inner_code = Some(format!("AADSTS{code}"));
            Error::new(explanation.kind, explanation.message).with_remote(remote)
        }
        None => TokenEndpointError::OAuth(Box::new(body.clone())).into_error(),
    }
}
