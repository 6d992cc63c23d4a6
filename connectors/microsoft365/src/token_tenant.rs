//! Which tenant an access token was issued for.
//!
//! **A Rust hook because data can't express it:** the check decodes a JWT
//! access token's payload and compares its `tid` claim with the
//! installation's tenant (or the tenant pinned by the first token); the
//! definition format reads token *responses*, not the tokens inside them.
//!
//! Microsoft access tokens for Graph are JWTs whose payload carries a
//! `tid` claim (the directory tenant's GUID). Before a new token is cached
//! or used we compare that claim with the installation's tenant, so a
//! misconfigured or confused token endpoint can never hand one customer's
//! token to another installation.
//!
//! Only the payload segment is decoded (base64url without padding, per
//! RFC 7519). **The signature is not checked, on purpose**: the token came
//! straight from the token endpoint over TLS, we are not its audience
//! (Graph is, and Graph checks the signature), and this is a consistency
//! check, not authentication. A token that is not a JWT (opaque or
//! encrypted) or has no `tid` passes unchecked.
//!
//! ```
//! use base64::Engine as _;
//! use base64::engine::general_purpose::URL_SAFE_NO_PAD;
//! use switchboard_microsoft365::token_tenant::token_tenant;
//!
//! let payload = URL_SAFE_NO_PAD.encode(r#"{"tid":"AAAAAAAA-0000-0000-0000-000000000001"}"#);
//! let jwt = format!("eyJhbGciOiJub25lIn0.{payload}.sig");
//! assert_eq!(token_tenant(&jwt).as_deref(), Some("aaaaaaaa-0000-0000-0000-000000000001"));
//! assert_eq!(token_tenant("opaque-token"), None);
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// The lower-cased `tid` claim of a JWT access token, if it has one.
pub fn token_tenant(access_token: &str) -> Option<String> {
    let mut parts = access_token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None; // five segments: an encrypted JWE, not readable
    }
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("tid")?.as_str().map(|t| t.to_ascii_lowercase())
}
