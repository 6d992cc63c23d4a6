//! Static credentials declared as data: which install parameter holds an
//! API key, a bearer token or a user name and password, and where the
//! credential goes in each request.
//!
//! A variant of kind `api_key`, `bearer_token` or `basic` names the install
//! parameters that hold its credential; those parameters are declared with
//! `secret: true`, so the installation keeps them encrypted with its other
//! secrets and never shows them. [`AuthVariant::placement`] says where the
//! engine writes the credential:
//!
//! | kind | declared | sent as |
//! |---|---|---|
//! | `oauth2_*`, `bearer_token` | | `Authorization: Bearer <token>` |
//! | `api_key` | `"in": "header", "name": "X-Api-Key"` | `X-Api-Key: <key>` |
//! | `api_key` | `"in": "header", "name": "Authorization", "prefix": "Token "` | `Authorization: Token <key>` |
//! | `api_key` | `"in": "query", "name": "api_key"` | `?api_key=<key>` (added when sent, never stored in a link) |
//! | `basic` | `username_parameter`, `password_parameter` | `Authorization: Basic base64(user:password)` |
//!
//! ```
//! use switchboard_core::definition::{AuthVariant, auth::Placement};
//!
//! let variant: AuthVariant = serde_json::from_value(serde_json::json!({
//!     "id": "key", "name": "API key", "kind": "api_key",
//!     "api_key": {"parameter": "api_key", "in": "query", "name": "key"}
//! })).unwrap();
//! assert_eq!(variant.placement(), Placement::Query { name: "key".into() });
//! ```

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{AuthKind, AuthVariant};

/// Where an `api_key` variant's key goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyAuth {
    /// The install parameter (declared with `secret: true`) holding the key.
    pub parameter: String,
    /// `header` or `query`.
    #[serde(rename = "in")]
    pub location: ApiKeyLocation,
    /// The header name (`X-Api-Key`, or `Authorization` with a `prefix`) or
    /// the query parameter name (`api_key`).
    pub name: String,
    /// Text written before the key in a header (`Token `, `ApiKey `),
    /// trailing space included. Only for `"in": "header"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// Where an API key is sent.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApiKeyLocation {
    /// A request header.
    Header,
    /// A query parameter, added to every request when it is sent.
    Query,
}

/// Which install parameter holds a `bearer_token` variant's token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BearerTokenAuth {
    /// The install parameter (declared with `secret: true`) holding the token.
    pub parameter: String,
}

/// Which install parameters hold a `basic` variant's user and password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// The install parameter holding the user name (or the API key, for
    /// services that take a key as the user and no password).
    pub username_parameter: String,
    /// The install parameter (declared with `secret: true`) holding the
    /// password. Absent: the password is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_parameter: Option<String>,
}

/// Where the engine writes an installation's credential in a request.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// A header: `name: <prefix><credential>`.
    Header {
        /// The header name.
        name: String,
        /// Written before the credential (`Bearer `).
        prefix: String,
    },
    /// A query parameter added to the URL when the request is sent.
    Query {
        /// The parameter name.
        name: String,
    },
}

impl AuthVariant {
    /// Where this variant's credential goes (see the [module](self) table).
    pub fn placement(&self) -> Placement {
        let authorization = |prefix: &str| Placement::Header {
            name: "Authorization".into(),
            prefix: prefix.into(),
        };
        match (self.kind, &self.api_key) {
            (AuthKind::ApiKey, Some(key)) => match key.location {
                ApiKeyLocation::Header => Placement::Header {
                    name: key.name.clone(),
                    prefix: key.prefix.clone().unwrap_or_default(),
                },
                ApiKeyLocation::Query => Placement::Query {
                    name: key.name.clone(),
                },
            },
            (AuthKind::Basic, _) => authorization("Basic "),
            _ => authorization("Bearer "),
        }
    }

    /// The install parameters that hold this variant's credential, in the
    /// order its flow reads them (for `basic`: user, then password).
    ///
    /// ```
    /// use switchboard_core::definition::AuthVariant;
    ///
    /// let variant: AuthVariant = serde_json::from_value(serde_json::json!({
    ///     "id": "basic", "name": "User and password", "kind": "basic",
    ///     "basic": {"username_parameter": "user", "password_parameter": "password"}
    /// })).unwrap();
    /// assert_eq!(variant.credential_parameters(), ["user", "password"]);
    /// ```
    pub fn credential_parameters(&self) -> Vec<&str> {
        match self.kind {
            AuthKind::ApiKey => self.api_key.iter().map(|k| k.parameter.as_str()).collect(),
            AuthKind::BearerToken => self
                .bearer_token
                .iter()
                .map(|b| b.parameter.as_str())
                .collect(),
            AuthKind::Basic => self
                .basic
                .iter()
                .flat_map(|b| {
                    std::iter::once(b.username_parameter.as_str())
                        .chain(b.password_parameter.as_deref())
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}
