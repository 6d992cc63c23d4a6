//! OAuth 2 declared as data: the `oauth2` object of a variant of kind
//! `oauth2`.
//!
//! A connector author declares the grant, the identity service's endpoints
//! (templated from install parameters, each value checked and
//! percent-encoded like a path parameter), the scopes' separator, extra
//! authorization parameters, how the client authenticates, how the token
//! response reads, whether refresh tokens rotate, and which token-response
//! values become connection settings. The OAuth machinery
//! (`switchboard-oauth`) runs the flow; no Rust is needed.
//!
//! The endpoints' hosts are *identity hosts*: they must be listed in the
//! connector's `identity_hosts`, which may share no host with
//! `allowed_hosts` (the API hosts). Tokens go only to API hosts; the client
//! secret goes only to identity hosts.
//!
//! ```
//! use switchboard_core::definition::AuthVariant;
//! use switchboard_core::definition::oauth2::{Grant, ClientAuthentication};
//!
//! let variant: AuthVariant = serde_json::from_value(serde_json::json!({
//!     "id": "oauth", "name": "Sign in", "kind": "oauth2",
//!     "oauth2": {
//!         "grant": "authorization_code",
//!         "authorization_url": "https://login.example.com/{tenant_id}/authorize",
//!         "token_url": "https://login.example.com/{tenant_id}/token",
//!         "authorization_parameters": {"prompt": "consent"}
//!     }
//! })).unwrap();
//! let oauth = variant.oauth2.as_ref().unwrap();
//! assert_eq!(oauth.grant, Grant::AuthorizationCode);
//! assert!(oauth.uses_pkce());
//! assert_eq!(oauth.client_authentication, ClientAuthentication::ClientSecretPost);
//! assert_eq!(oauth.scope_separator(), " ");
//! ```

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How an `oauth2` variant gets and keeps its tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Auth {
    /// The grant: `authorization_code` (a person signs in and consents),
    /// `client_credentials` (the application acts as itself) or
    /// `refresh_token` (the installer gives a refresh token, kept in the
    /// secret install parameter `refresh_token_parameter`).
    pub grant: Grant,
    /// The authorization endpoint (`authorization_code` only). May hold
    /// `{name}` placeholders naming install parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_url: Option<String>,
    /// The token endpoint. May hold `{name}` placeholders naming install
    /// parameters (`https://login.example.com/{tenant_id}/oauth2/token`).
    pub token_url: String,
    /// The RFC 7009 revocation endpoint, called on uninstall with the
    /// refresh token (or the access token when there is none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_url: Option<String>,
    /// A consent step an administrator completes before `client_credentials`
    /// works (grant `client_credentials` only): the URL the administrator
    /// opens, templated like the other endpoints
    /// (`{identity_origin}/{tenant_id}/v2.0/adminconsent`). The flow adds
    /// `client_id`, `redirect_uri` and a one-time `state`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_consent_url: Option<String>,
    /// PKCE (S256) for `authorization_code`: on unless this object says
    /// why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkce: Option<PkceSetting>,
    /// Written between scopes in the `scope` parameter. Absent: one space
    /// (RFC 6749); some services want `,`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_separator: Option<String>,
    /// Extra parameters of the authorization URL (`prompt`,
    /// `access_type=offline`, `audience`). The standard ones (`client_id`,
    /// `redirect_uri`, `scope`, `state`, `response_type`, `code_challenge*`)
    /// are written by the flow and may not be set here.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub authorization_parameters: BTreeMap<String, String>,
    /// How the client proves itself at the token endpoint:
    /// `client_secret_post` (in the form body, the default) or
    /// `client_secret_basic` (an `Authorization: Basic` header).
    #[serde(default)]
    pub client_authentication: ClientAuthentication,
    /// How the token endpoint's answer reads.
    #[serde(default)]
    pub token_response: TokenResponseFormat,
    /// Whether each refresh returns a new refresh token that replaces the
    /// old one (saved before the new access token is used). With `true`, a
    /// refresh answer without a new refresh token is an error naming
    /// `refresh_token` (its access token is not used, the stored refresh
    /// token is kept). With `false` (the default), such an answer keeps
    /// the stored refresh token; a new one, when sent, still replaces it.
    #[serde(default)]
    pub refresh_token_rotates: bool,
    /// For grant `refresh_token`: the secret install parameter holding the
    /// refresh token the installer gives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token_parameter: Option<String>,
    /// Token-response fields that become connection settings, by setting
    /// name (`{"instance_url": "instance_url"}`): Salesforce answers with
    /// the instance's URL, which the base URL template then uses. Each
    /// setting must be an install parameter that is not secret.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings_from_token: BTreeMap<String, String>,
}

/// The OAuth 2 grants a definition can declare.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    /// RFC 6749 §4.1: a person signs in and consents; refresh tokens follow.
    AuthorizationCode,
    /// RFC 6749 §4.4: the application acts as itself.
    ClientCredentials,
    /// RFC 6749 §6: the installer gives a refresh token.
    RefreshToken,
}

impl Grant {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Grant::AuthorizationCode => "authorization_code",
            Grant::ClientCredentials => "client_credentials",
            Grant::RefreshToken => "refresh_token",
        }
    }
}

/// Turning PKCE off, which needs a reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PkceSetting {
    /// `false` turns PKCE off (it is on by default).
    pub enabled: bool,
    /// Why the service cannot take PKCE (required when `enabled` is false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// How the client authenticates at the token endpoint.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthentication {
    /// `client_id` and `client_secret` in the form body.
    #[default]
    ClientSecretPost,
    /// `Authorization: Basic base64(client_id:client_secret)`.
    ClientSecretBasic,
}

/// How a token endpoint's answer reads.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenResponseFormat {
    /// `json` (RFC 6749) or `form` (`access_token=...&scope=...`, as
    /// GitHub's classic endpoint answers without `Accept: application/json`).
    #[serde(default)]
    pub format: TokenBodyFormat,
    /// The field holding the lifetime in seconds. Absent: `expires_in`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_field: Option<String>,
    /// The field holding the refresh token. Absent: `refresh_token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token_field: Option<String>,
    /// Other fields kept with the grant (`instance_url`, `tenant_id`):
    /// strings only, at most 2 KiB each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keep_fields: Vec<String>,
}

/// The body format of a token response.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenBodyFormat {
    /// A JSON object.
    #[default]
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
}

/// Authorization URL parameters the flow writes itself.
pub const RESERVED_AUTHORIZATION_PARAMETERS: &[&str] = &[
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "response_type",
    "code_challenge",
    "code_challenge_method",
];

impl OAuth2Auth {
    /// Whether the authorization code flow uses PKCE S256 (on unless
    /// turned off with a reason).
    pub fn uses_pkce(&self) -> bool {
        self.grant == Grant::AuthorizationCode && self.pkce.as_ref().is_none_or(|p| p.enabled)
    }

    /// The separator written between scopes.
    pub fn scope_separator(&self) -> &str {
        self.scope_separator.as_deref().unwrap_or(" ")
    }

    /// The declared endpoint templates with their JSON field names:
    /// authorization, token, revocation, admin consent.
    pub fn endpoints(&self) -> Vec<(&'static str, &str)> {
        let mut out = Vec::with_capacity(4);
        if let Some(url) = &self.authorization_url {
            out.push(("authorization_url", url.as_str()));
        }
        out.push(("token_url", self.token_url.as_str()));
        if let Some(url) = &self.revocation_url {
            out.push(("revocation_url", url.as_str()));
        }
        if let Some(url) = &self.admin_consent_url {
            out.push(("admin_consent_url", url.as_str()));
        }
        out
    }
}
