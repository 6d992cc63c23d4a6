//! Token endpoint answers, parsed leniently.
//!
//! Real token endpoints stray from RFC 6749: Microsoft has sent
//! `expires_in` as a string, adds `ext_expires_in`, `id_token` and others.
//! [`TokenResponseBody`] accepts a number or a numeric string for the
//! lifetimes, treats `ext_expires_in` and `refresh_token` as optional, and
//! ignores fields it does not know (an `id_token` is dropped, not kept).
//! [`TokenErrorBody`] reads the OAuth error fields plus Microsoft's
//! `error_codes`, `trace_id`, `correlation_id` and `timestamp`.
//!
//! **Lifetimes are untrusted numbers.** `expires_in` and `ext_expires_in`
//! may be anything a server writes (`1e30`, `18446744073709551615`, `-5`):
//! they are clamped to `0..=`[`MAX_TOKEN_LIFETIME`] when parsed, and turned
//! into times with [`switchboard_core::bounds::later`], so no answer can panic. A
//! token claimed to live longer is simply refreshed after two days.
//!
//! ```
//! use switchboard_oauth::response::TokenResponseBody;
//! use oauth2::TokenResponse;
//!
//! let body: TokenResponseBody = serde_json::from_str(
//!     r#"{"token_type":"Bearer","expires_in":"3599","ext_expires_in":3599,
//!         "access_token":"eyJ0eXAi","refresh_token":"0.AAA","foo":1}"#,
//! ).unwrap();
//! assert_eq!(body.expires_in(), Some(std::time::Duration::from_secs(3599)));
//! assert!(body.refresh_token().is_some());
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use oauth2::basic::BasicTokenType;
use oauth2::{RefreshToken, Scope};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use switchboard_core::bounds::later;
use switchboard_core::credential::AccessToken;

/// The longest token lifetime believed: 48 hours. Microsoft's access tokens
/// live 60–90 minutes by default, at most one day under a token lifetime
/// policy, and up to 28 hours for clients of continuous access evaluation;
/// larger values are clamped to this.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(48 * 60 * 60);

/// A successful token response (RFC 6749 §5.1), leniently parsed.
/// Implements [`oauth2::TokenResponse`] so `oauth2` can return it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponseBody {
    access_token: oauth2::AccessToken,
    #[serde(default = "bearer")]
    token_type: BasicTokenType,
    #[serde(default, deserialize_with = "lenient_seconds")]
    expires_in: Option<u64>,
    #[serde(default, deserialize_with = "lenient_seconds")]
    ext_expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<RefreshToken>,
    #[serde(default, rename = "scope", deserialize_with = "space_delimited")]
    scopes: Option<Vec<Scope>>,
    /// The answer's other string fields (an `instance_url`, a tenant id).
    #[serde(flatten)]
    fields: ResponseFields,
}

/// The most other fields of a token answer kept, and the longest value.
pub const MAX_RESPONSE_FIELDS: usize = 32;
/// The longest other field value kept, in bytes.
pub const MAX_RESPONSE_FIELD_BYTES: usize = 2048;

/// A token answer's other string fields, at most [`MAX_RESPONSE_FIELDS`]
/// of at most [`MAX_RESPONSE_FIELD_BYTES`] each (longer ones, non-strings
/// and the rest are dropped). They may hold secrets (an `id_token`), so
/// Debug shows only their names; a flow keeps only those its definition
/// names.
#[derive(Clone, Default, Serialize)]
#[serde(transparent)]
pub struct ResponseFields(BTreeMap<String, String>);

impl ResponseFields {
    /// A field's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

impl fmt::Debug for ResponseFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl<'de> Deserialize<'de> for ResponseFields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let all = BTreeMap::<String, Value>::deserialize(deserializer)?;
        Ok(ResponseFields(
            all.into_iter()
                .filter_map(|(name, value)| match value {
                    Value::String(text) if text.len() <= MAX_RESPONSE_FIELD_BYTES => {
                        Some((name, text))
                    }
                    _ => None,
                })
                .take(MAX_RESPONSE_FIELDS)
                .collect(),
        ))
    }
}

fn bearer() -> BasicTokenType {
    BasicTokenType::Bearer
}

/// A lifetime in seconds given as a number, a numeric string, or null;
/// clamped to `0..=MAX_TOKEN_LIFETIME` (negative: 0, fractions: rounded down).
fn lenient_seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    let value = Option::<Value>::deserialize(deserializer)?;
    let max = MAX_TOKEN_LIFETIME.as_secs();
    let seconds = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(v), _, _) => v,
            (None, Some(_), _) => 0,
            // `as` saturates: 1e30 becomes u64::MAX, then the clamp below.
            (None, None, Some(f)) if f.is_finite() && f >= 0.0 => f as u64,
            _ => 0,
        },
        Some(Value::String(s)) => {
            let s = s.trim();
            match s.parse::<u64>() {
                Ok(v) => v,
                // all digits but too many for u64: "enormous"
                Err(_) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => u64::MAX,
                Err(_) => {
                    return Err(serde::de::Error::custom(
                        "a lifetime must be a number of seconds",
                    ));
                }
            }
        }
        Some(_) => {
            return Err(serde::de::Error::custom(
                "a lifetime must be a number of seconds",
            ));
        }
    };
    Ok(Some(seconds.min(max)))
}

fn space_delimited<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<Scope>>, D::Error> {
    let value = Option::<String>::deserialize(deserializer)?;
    Ok(value.map(|s| s.split_whitespace().map(|p| Scope::new(p.into())).collect()))
}

impl oauth2::TokenResponse for TokenResponseBody {
    type TokenType = BasicTokenType;

    fn access_token(&self) -> &oauth2::AccessToken {
        &self.access_token
    }

    fn token_type(&self) -> &BasicTokenType {
        &self.token_type
    }

    fn expires_in(&self) -> Option<Duration> {
        self.expires_in.map(Duration::from_secs)
    }

    fn refresh_token(&self) -> Option<&RefreshToken> {
        self.refresh_token.as_ref()
    }

    fn scopes(&self) -> Option<&Vec<Scope>> {
        self.scopes.as_ref()
    }
}

impl TokenResponseBody {
    /// Microsoft's extended lifetime (how long the token stays usable when
    /// the identity service is unreachable), when sent.
    pub fn ext_expires_in(&self) -> Option<Duration> {
        self.ext_expires_in.map(Duration::from_secs)
    }
}

/// An OAuth error answer (RFC 6749 §5.2) with Microsoft's extra fields.
///
/// `error_description` is kept for logs at the caller's discretion but
/// never copied into an [`crate::Error`]: branch on `error` and
/// `error_codes` only.
///
/// ```
/// use switchboard_oauth::response::TokenErrorBody;
///
/// let body: TokenErrorBody = serde_json::from_str(
///     r#"{"error":"invalid_grant","error_description":"AADSTS70008: ...","error_codes":[70008],"trace_id":"t"}"#,
/// ).unwrap();
/// assert_eq!(body.error, "invalid_grant");
/// assert_eq!(body.error_codes, vec![70008]);
/// assert_eq!(body.to_string(), "OAuth error `invalid_grant` (AADSTS70008)");
/// ```
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TokenErrorBody {
    /// The OAuth error code (`invalid_grant`, `invalid_client`...).
    pub error: String,
    /// Human text from the server. Not for branching, not for messages.
    #[serde(default)]
    pub error_description: Option<String>,
    /// Microsoft's numeric AADSTS codes.
    #[serde(default, deserialize_with = "lenient_codes")]
    pub error_codes: Vec<u64>,
    /// A link to the server's documentation of the error.
    #[serde(default)]
    pub error_uri: Option<String>,
    /// The server's id for the failed request.
    #[serde(default)]
    pub trace_id: Option<String>,
    /// The correlation id of the request.
    #[serde(default)]
    pub correlation_id: Option<String>,
    /// When the server saw the failure.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// A finer-grained reason some servers add (`bad_token`, `consent_required`...).
    #[serde(default)]
    pub suberror: Option<String>,
}

fn lenient_codes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u64>, D::Error> {
    let value = Option::<Value>::deserialize(deserializer)?;
    let Some(Value::Array(items)) = value else {
        return Ok(Vec::new());
    };
    Ok(items
        .iter()
        .filter_map(|v| match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        })
        .collect())
}

impl fmt::Display for TokenErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OAuth error `{}`", self.error)?;
        if !self.error_codes.is_empty() {
            let codes: Vec<String> = self
                .error_codes
                .iter()
                .map(|c| format!("AADSTS{c}"))
                .collect();
            write!(f, " ({})", codes.join(", "))?;
        }
        Ok(())
    }
}

impl oauth2::ErrorResponse for TokenErrorBody {}

/// How a token endpoint's answers read when they stray from RFC 6749
/// JSON, as a definition's `token_response` declares: a form-encoded body
/// (GitHub's classic endpoint without `Accept: application/json`), other
/// names for `expires_in` and `refresh_token`. An answer of status 200
/// that carries `error` and no `access_token` (GitHub again) is read as the
/// OAuth error it is.
///
/// ```
/// use switchboard_oauth::response::TokenAnswerShape;
///
/// let shape = TokenAnswerShape::new(true, None, None);
/// let (status, json) = shape
///     .normalise(200, Some("application/x-www-form-urlencoded"), b"access_token=gho_1&scope=repo")
///     .unwrap();
/// assert_eq!(status, 200);
/// assert_eq!(String::from_utf8(json).unwrap(), r#"{"access_token":"gho_1","scope":"repo"}"#);
/// let (status, _) = shape
///     .normalise(200, Some("application/json"), br#"{"error":"bad_verification_code"}"#)
///     .unwrap();
/// assert_eq!(status, 400);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenAnswerShape {
    /// Whether a form-encoded answer is accepted.
    pub form: bool,
    /// The field holding the lifetime, when not `expires_in`.
    pub expires_in_field: Option<String>,
    /// The field holding the refresh token, when not `refresh_token`.
    pub refresh_token_field: Option<String>,
}

impl TokenAnswerShape {
    /// A shape with the three settings.
    pub fn new(
        form: bool,
        expires_in_field: Option<String>,
        refresh_token_field: Option<String>,
    ) -> Self {
        TokenAnswerShape {
            form,
            expires_in_field,
            refresh_token_field,
        }
    }

    /// The answer rewritten as RFC 6749 JSON with its status, or `None`
    /// when it is left as it is (not a JSON or declared form object).
    pub fn normalise(
        &self,
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Option<(u16, Vec<u8>)> {
        let is_form = content_type.is_some_and(|t| {
            t.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
        let mut fields: serde_json::Map<String, Value> = if is_form && self.form {
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect()
        } else {
            serde_json::from_slice(body).ok()?
        };
        for (declared, standard) in [
            (&self.expires_in_field, "expires_in"),
            (&self.refresh_token_field, "refresh_token"),
        ] {
            if let Some(value) = declared.as_deref().and_then(|name| fields.remove(name)) {
                fields.insert(standard.to_string(), value);
            }
        }
        let status = if status == 200
            && fields.contains_key("error")
            && !fields.contains_key("access_token")
        {
            400
        } else {
            status
        };
        serde_json::to_vec(&fields).ok().map(|json| (status, json))
    }
}

/// What a successful token request produced, in switchboard's types.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TokenSet {
    /// The access token with its expiry.
    pub access_token: AccessToken,
    /// A refresh token, when the server sent one (possibly rotated).
    pub refresh_token: Option<RefreshToken>,
    /// Microsoft's extended expiry, when sent.
    pub ext_expires_at: Option<SystemTime>,
    /// The scopes the server says it granted, when it says.
    pub scopes: Option<Vec<String>>,
    /// The answer's other string fields (Debug shows only their names).
    pub fields: ResponseFields,
}

impl TokenSet {
    /// Convert a parsed response, taking lifetimes relative to `now`.
    pub fn from_response(body: TokenResponseBody, now: SystemTime) -> Self {
        use oauth2::TokenResponse;
        let expires_at = body.expires_in().map(|d| later(now, d));
        let ext_expires_at = body.ext_expires_in().map(|d| later(now, d));
        let scopes = body
            .scopes()
            .map(|s| s.iter().map(|s| s.to_string()).collect());
        let access = AccessToken::new(body.access_token.secret().clone(), expires_at);
        TokenSet {
            access_token: access,
            refresh_token: body.refresh_token,
            ext_expires_at,
            scopes,
            fields: body.fields,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oauth2::TokenResponse;

    #[test]
    fn lifetimes_accept_numbers_strings_and_absence() {
        let b: TokenResponseBody =
            serde_json::from_str(r#"{"access_token":"a","token_type":"bearer","expires_in":60}"#)
                .unwrap();
        assert_eq!(b.expires_in(), Some(Duration::from_secs(60)));
        assert_eq!(b.ext_expires_in(), None);
        let b: TokenResponseBody = serde_json::from_str(
            r#"{"access_token":"a","expires_in":" 60 ","ext_expires_in":"120"}"#,
        )
        .unwrap();
        assert_eq!(b.expires_in(), Some(Duration::from_secs(60)));
        assert_eq!(b.ext_expires_in(), Some(Duration::from_secs(120)));
        let b: TokenResponseBody = serde_json::from_str(r#"{"access_token":"a"}"#).unwrap();
        assert_eq!(b.expires_in(), None);
        assert!(
            serde_json::from_str::<TokenResponseBody>(
                r#"{"access_token":"a","expires_in":"soon"}"#
            )
            .is_err()
        );
    }

    #[test]
    fn enormous_and_negative_lifetimes_are_clamped() {
        for (text, secs) in [
            ("1e30", MAX_TOKEN_LIFETIME.as_secs()),
            ("18446744073709551615", MAX_TOKEN_LIFETIME.as_secs()),
            (
                "\"99999999999999999999999999\"",
                MAX_TOKEN_LIFETIME.as_secs(),
            ),
            ("1.7976931348623157e308", MAX_TOKEN_LIFETIME.as_secs()),
            ("-5", 0),
            ("-1e30", 0),
            ("3599.9", 3599),
        ] {
            let body: TokenResponseBody = serde_json::from_str(&format!(
                r#"{{"access_token":"a","expires_in":{text},"ext_expires_in":{text}}}"#
            ))
            .unwrap();
            assert_eq!(body.expires_in(), Some(Duration::from_secs(secs)), "{text}");
            assert_eq!(
                body.ext_expires_in(),
                Some(Duration::from_secs(secs)),
                "{text}"
            );
            // and the conversion to times cannot overflow, even at the end of time
            let far = SystemTime::UNIX_EPOCH
                .checked_add(Duration::from_secs(i64::MAX as u64 - 60))
                .unwrap_or_else(SystemTime::now);
            let set = TokenSet::from_response(body, far);
            assert!(set.access_token.expires_at().unwrap() >= far);
        }
    }

    #[test]
    fn debug_redacts_tokens() {
        let b: TokenResponseBody = serde_json::from_str(
            r#"{"access_token":"at-secret","refresh_token":"rt-secret","expires_in":60}"#,
        )
        .unwrap();
        let text = format!("{b:?}");
        assert!(
            !text.contains("at-secret") && !text.contains("rt-secret"),
            "{text}"
        );
        let set = TokenSet::from_response(b, SystemTime::UNIX_EPOCH);
        let text = format!("{set:?}");
        assert!(
            !text.contains("at-secret") && !text.contains("rt-secret"),
            "{text}"
        );
        assert_eq!(
            set.access_token.expires_at(),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(60))
        );
    }
}
