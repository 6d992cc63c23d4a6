//! Reading a `WWW-Authenticate: Bearer ...` challenge from a 401.
//!
//! Microsoft Graph asks for a claims challenge (continuous access
//! evaluation, conditional access) with
//! `WWW-Authenticate: Bearer realm="", error="insufficient_claims", claims="<base64 JSON>"`.
//! The engine hands the decoded claims to the credential once, with the
//! refused token, so it can get a token that satisfies them.
//!
//! ```
//! use switchboard_core::headers::challenge::insufficient_claims;
//!
//! let header = r#"Bearer realm="", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnt9fQ==""#;
//! assert_eq!(insufficient_claims(header).as_deref(), Some(r#"{"access_token":{}}"#));
//! assert_eq!(insufficient_claims(r#"Bearer error="invalid_token""#), None);
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

/// The auth parameters of a `Bearer` challenge, in order (`name`, `value`),
/// names lower-cased. Other schemes' parameters are skipped.
pub fn bearer_params(header: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut in_bearer = false;
    let mut rest = header.trim();
    while !rest.is_empty() {
        rest = rest.trim_start_matches([' ', ',', '\t']);
        // A token: either a scheme name or a parameter name.
        let end = rest
            .find(|c: char| c == '=' || c == ',' || c.is_whitespace())
            .unwrap_or(rest.len());
        let name = &rest[..end];
        let after = rest[end..].trim_start();
        if let Some(value_part) = after.strip_prefix('=') {
            let value_part = value_part.trim_start();
            let (value, remaining) = if let Some(quoted) = value_part.strip_prefix('"') {
                crate::headers::quoted_string::read_quoted(quoted)
            } else {
                let end = value_part.find(',').unwrap_or(value_part.len());
                (value_part[..end].trim().to_string(), &value_part[end..])
            };
            if in_bearer && !name.is_empty() {
                out.push((name.to_ascii_lowercase(), value));
            }
            rest = remaining;
        } else {
            if !name.is_empty() {
                in_bearer = name.eq_ignore_ascii_case("bearer");
            }
            rest = if end == 0 && !after.is_empty() {
                &after[after.chars().next().map_or(0, char::len_utf8)..]
            } else {
                after
            };
        }
    }
    out
}

/// The decoded claims of an `insufficient_claims` Bearer challenge, if the
/// header is one and its claims decode to UTF-8 text.
pub fn insufficient_claims(header: &str) -> Option<String> {
    let params = bearer_params(header);
    let error = params.iter().find(|(n, _)| n == "error")?;
    if error.1 != "insufficient_claims" {
        return None;
    }
    let (_, encoded) = params.iter().find(|(n, _)| n == "claims")?;
    let encoded = encoded.trim();
    [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(encoded).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|claims| !claims.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_cae_challenge() {
        // Shape from Microsoft's "claims challenges" documentation.
        let header = r#"Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwgInZhbHVlIjoiMTYwNDEwNjY1MSJ9fX0=""#;
        assert_eq!(
            insufficient_claims(header).as_deref(),
            Some(r#"{"access_token":{"nbf":{"essential":true, "value":"1604106651"}}}"#)
        );
    }

    #[test]
    fn params_with_escapes_and_other_schemes() {
        let p = bearer_params(r#"Basic realm="x", Bearer error="a\"b", claims=plain"#);
        assert_eq!(
            p,
            vec![
                ("error".to_string(), "a\"b".to_string()),
                ("claims".to_string(), "plain".to_string())
            ]
        );
    }

    #[test]
    fn not_a_claims_challenge() {
        assert_eq!(insufficient_claims(""), None);
        assert_eq!(insufficient_claims("Bearer"), None);
        assert_eq!(
            insufficient_claims(r#"Bearer error="insufficient_claims""#),
            None
        );
        assert_eq!(
            insufficient_claims(r#"Bearer error="insufficient_claims", claims="%%%""#),
            None
        );
        assert_eq!(
            insufficient_claims(r#"Basic error="insufficient_claims", claims="e30=""#),
            None
        );
        // Garbage never panics.
        for s in [
            "=",
            "\"",
            ",,,",
            "Bearer =\"",
            "Bearer a=\"unterminated",
            "é=ü",
            "Bearer ,=,",
        ] {
            let _ = bearer_params(s);
            let _ = insufficient_claims(s);
        }
    }
}
