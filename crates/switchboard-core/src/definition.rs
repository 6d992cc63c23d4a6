//! The declarative definition format: connectors, auth variants, methods and
//! their parameters.
//!
//! Definitions are JSON, loaded with serde (`deny_unknown_fields` everywhere)
//! and checked as a whole by [`validate`]; [`load`] reads them from files or
//! embedded text, [`schema`] generates the JSON Schema. The JSON Schema at
//! `docs/schema/connector-definition.schema.json` is generated from these
//! types with schemars.
//!
//! A connector's definitions may be split across files: one `connector.json`
//! holding a [`ConnectorDefinition`] (its `methods` may be empty) and any
//! number of [`MethodFile`]s (`{"methods": [...]}`), one per category.
//!
//! ## The principal
//!
//! One method definition serves every auth variant. A path that starts with
//! `/{principal}` is resolved with the variant's [`Principal`]: for Microsoft
//! 365, `/{principal}/messages` becomes `/me/messages` for the delegated
//! variant and `/users/{user_id}/messages` for the application variant, where
//! `user_id` becomes a required path parameter.
//!
//! ```
//! use switchboard_core::definition::{MethodDefinition, Principal};
//!
//! let method: MethodDefinition = serde_json::from_value(serde_json::json!({
//!     "id": "mail.list_messages", "category": "mail", "name": "List messages",
//!     "description": "Messages in the mailbox.", "http_method": "GET",
//!     "path": "/{principal}/messages",
//!     "permissions": {"delegated": ["Mail.ReadBasic"], "application": ["Mail.ReadBasic.All"]}
//! })).unwrap();
//! let me = Principal { path: "/me".into(), parameters: vec![] };
//! assert_eq!(method.resolved_path(Some(&me)), "/me/messages");
//! ```

pub mod auth;
pub mod deployments;
pub mod limits;
pub mod load;
pub mod oauth2;
pub mod paging;
pub mod reserved_headers;
pub mod schema;
pub mod validate;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The range a method's `max_response_bytes` may declare: 1 KiB to 1 GiB.
/// Larger content belongs in a streamed download.
pub const METHOD_RESPONSE_BYTES_RANGE: std::ops::RangeInclusive<u64> = 1024..=1024 * 1024 * 1024;

/// The placeholder a method path starts with to act as the variant's principal.
pub const PRINCIPAL_PLACEHOLDER: &str = "{principal}";

/// A whole connector: identity, install parameters, auth variants, hosts and methods.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectorDefinition {
    /// Optional `$schema` reference so editors find the JSON Schema.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Stable identifier, lower-case letters, digits, `_` and `-` (`microsoft365`).
    pub id: String,
    /// Display name (`Microsoft 365`).
    pub name: String,
    /// Semantic version of the definition (`1.2.0`); stored with each installation.
    pub version: String,
    /// What the connector reaches, in a sentence or two.
    pub description: String,
    /// Base URL every method path is appended to. May contain `{name}`
    /// placeholders naming install parameters, and start with
    /// `{api_origin}` when the connector declares `deployments`.
    pub base_url: String,
    /// What an installation asks for (tenant ID, subdomain...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub install_parameters: Vec<InstallParameter>,
    /// The ways an installation can authenticate; each method says which it supports.
    pub auth_variants: Vec<AuthVariant>,
    /// Exact host names a credential may be sent to (https, default port):
    /// the API hosts. Tokens and keys go only to these.
    pub allowed_hosts: Vec<String>,
    /// Exact host names of the identity service an `oauth2` variant's
    /// authorization, token and revocation URLs point at. They may share no
    /// host with `allowed_hosts`: the client secret goes only here, tokens
    /// never do.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identity_hosts: Vec<String>,
    /// The deployments the service runs in (national clouds, regions, a
    /// customer's own server), each with its identity and API origins,
    /// chosen by an install setting. See [`deployments`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployments: Option<deployments::Deployments>,
    /// Headers sent with every request (`Accept: application/json`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub default_headers: BTreeMap<String, String>,
    /// The categories methods are grouped in.
    pub categories: Vec<Category>,
    /// Limits the service keeps (concurrency, request and upload budgets
    /// per app, tenant, mailbox or drive): the engine keeps them before the
    /// service refuses. See [`limits`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub limits: Vec<limits::LimitDefinition>,
    /// JSON batching, when the service offers it (Graph's `/$batch`): see
    /// [`crate::Engine::batch`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchDefinition>,
    /// Methods defined in this file. More can come from [`MethodFile`]s.
    #[serde(default)]
    pub methods: Vec<MethodDefinition>,
}

/// Where and how a service takes JSON batches: `{"requests": [{"id",
/// "method", "url", "headers", "body", "dependsOn"}]}` posted to `path`,
/// answered `{"responses": [{"id", "status", "headers", "body"}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchDefinition {
    /// The batch endpoint, relative to the base URL (`/$batch`).
    pub path: String,
    /// The most requests one batch holds (1 to 100; Graph: 20).
    #[schemars(range(min = 1, max = 100))]
    pub max_requests: u32,
}

/// A file holding more methods of a connector (one per category, usually).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MethodFile {
    /// Optional `$schema` reference so editors find the JSON Schema.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// The methods.
    pub methods: Vec<MethodDefinition>,
}

/// A setting an installation provides (for Microsoft 365: the tenant ID).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallParameter {
    /// Name used in templates and settings (`tenant_id`).
    pub name: String,
    /// Label shown to the person installing (`Directory (tenant) ID`).
    pub label: String,
    /// Help text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Value type.
    #[serde(rename = "type", default = "ParameterType::string")]
    pub kind: ParameterType,
    /// A named format the value must have (`tenant_id`, `guid`, `hostname`, `url`, `email`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    /// Whether an installation must provide it.
    #[serde(default)]
    pub required: bool,
    /// Whether the value is a secret (encrypted at rest, never shown).
    #[serde(default)]
    pub secret: bool,
    /// Value used when none is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
}

/// Named formats with a built-in check.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// A directory tenant: a GUID or a domain name (variants may also allow
    /// `common` / `organizations`).
    TenantId,
    /// A GUID such as `6e7b768e-07e2-4810-8459-485f84f8f204`.
    Guid,
    /// A user: a GUID or a user principal name (`adele@contoso.com`, guest
    /// UPNs with `#EXT#` included).
    UserId,
    /// A DNS host name.
    Hostname,
    /// An absolute URL.
    Url,
    /// An e-mail address.
    Email,
}

/// One way of authenticating an installation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthVariant {
    /// Identifier (`delegated`, `application`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Help text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The authentication mechanism.
    pub kind: AuthKind,
    /// Who calls act as; resolves `/{principal}` in method paths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<Principal>,
    /// Scopes requested in addition to the methods' permissions
    /// (`offline_access`, `openid`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_scopes: Vec<String>,
    /// Prefix that turns a permission name into a scope
    /// (`https://graph.microsoft.com/`, or `{api_origin}/` with
    /// `deployments`). Empty: the permission is the scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_prefix: Option<String>,
    /// A method that takes no arguments and proves an installation's
    /// credential (`users.get_me`): what "test connection" calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_method: Option<String>,
    /// For kind `api_key`: the install parameter holding the key and where
    /// it is sent (required for that kind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<auth::ApiKeyAuth>,
    /// For kind `bearer_token`: the install parameter holding the token.
    /// Without it the variant cannot be installed through the generic flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<auth::BearerTokenAuth>,
    /// For kind `basic`: the install parameters holding the user and the
    /// password (required for that kind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic: Option<auth::BasicAuth>,
    /// For kind `oauth2`: the grant, the identity service's endpoints and
    /// how its answers read (required for that kind). See [`oauth2`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<oauth2::OAuth2Auth>,
}

impl AuthVariant {
    /// Whether methods must declare permissions for this variant.
    pub fn uses_permissions(&self) -> bool {
        matches!(
            self.kind,
            AuthKind::Oauth2AuthorizationCode
                | AuthKind::Oauth2ClientCredentials
                | AuthKind::Oauth2
        )
    }

    /// Whether the variant acts as the application itself (OAuth 2 client
    /// credentials: kind `oauth2_client_credentials`, or kind `oauth2` with
    /// grant `client_credentials`).
    ///
    /// ```
    /// use switchboard_core::definition::AuthVariant;
    /// let variant: AuthVariant = serde_json::from_value(serde_json::json!({
    ///     "id": "app", "name": "App", "kind": "oauth2",
    ///     "oauth2": {"grant": "client_credentials", "token_url": "https://login.example.com/token"}
    /// })).unwrap();
    /// assert!(variant.is_client_credentials());
    /// ```
    pub fn is_client_credentials(&self) -> bool {
        match self.kind {
            AuthKind::Oauth2ClientCredentials => true,
            AuthKind::Oauth2 => self
                .oauth2
                .as_ref()
                .is_some_and(|o| o.grant == oauth2::Grant::ClientCredentials),
            _ => false,
        }
    }
}

/// Authentication mechanisms.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    /// OAuth 2 authorization code with PKCE, acting as a signed-in user.
    Oauth2AuthorizationCode,
    /// OAuth 2 client credentials, acting as the application.
    Oauth2ClientCredentials,
    /// OAuth 2 declared entirely in the variant's `oauth2` object (grant,
    /// endpoints, token response): installable with no Rust.
    Oauth2,
    /// A bearer token given at install time (personal access token).
    BearerToken,
    /// An API key given at install time, sent in a header (with an optional
    /// prefix) or a query parameter, as its `api_key` object says.
    ApiKey,
    /// A user name and password (or an API key as the user) given at
    /// install time, sent as `Authorization: Basic`.
    Basic,
}

/// Who a variant's calls act as.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Principal {
    /// Path that replaces `/{principal}` (`/me`, `/users/{user_id}`).
    pub path: String,
    /// Path parameters the principal path uses (`user_id`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<ParameterDefinition>,
}

/// A group of methods (`users`, `calendars`, `mail`, `onedrive`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Category {
    /// Identifier used in method definitions.
    pub id: String,
    /// Display name.
    pub name: String,
}

/// One operation a connector offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MethodDefinition {
    /// `category.snake_name` (`users.list_users`).
    pub id: String,
    /// One of the connector's category ids.
    pub category: String,
    /// Display name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// HTTP method.
    pub http_method: HttpMethod,
    /// Path template relative to the base URL, starting with `/`; may start
    /// with `/{principal}`. Placeholders are `{name}` of path parameters.
    pub path: String,
    /// Variants that support the method. Empty: every variant the
    /// `permissions` map names, or every variant when the map is empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<String>,
    /// Permissions per variant, least privileged first.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub permissions: BTreeMap<String, Vec<String>>,
    /// Parameters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<ParameterDefinition>,
    /// Fixed headers this method always sends (`Prefer`, `ConsistencyLevel`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// How results are paged.
    #[serde(default)]
    pub pagination: Pagination,
    /// JSON pointer to the records in a response (`/value`). Empty (`""`):
    /// the whole body, which for a top-level JSON array gives its elements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<String>,
    /// For `"pagination": "cursor"`: where the next cursor is and which
    /// query parameter carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<paging::CursorPaging>,
    /// For `"pagination": "offset"` or `"page"`: the counting query
    /// parameter, the page size and when the listing ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter: Option<paging::CounterPaging>,
    /// Whether repeating the request is safe. Derived from the HTTP method
    /// unless declared (a POST with a `transactionId` may declare itself idempotent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotent: Option<bool>,
    /// A parameter whose presence makes the request safe to repeat
    /// (Graph's `transactionId` on event creation: Graph creates at most one
    /// event per transaction id). With it given, the method is idempotent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// What the response holds.
    #[serde(default)]
    pub response: ResponseKind,
    /// Whether redirects to another origin are followed (without credentials).
    #[serde(default, skip_serializing_if = "is_false")]
    pub follow_cross_origin_redirects: bool,
    /// The most bytes (after decompression) of a response held in memory
    /// for this method, from 1024 to 1073741824 (1 GiB). Absent: the
    /// engine's limit (64 MiB unless the platform changed it). Streamed
    /// downloads are not held in memory and not capped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1024, max = 1073741824))]
    pub max_response_bytes: Option<u64>,
    /// Ids of the connector's `limits` that govern this method, besides
    /// those that govern its whole category.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub limits: Vec<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl MethodDefinition {
    /// The parameter that carries binary content (a file's bytes), if any.
    pub fn content_parameter(&self) -> Option<&ParameterDefinition> {
        self.parameters
            .iter()
            .find(|p| p.kind == ParameterType::Binary)
    }

    /// The most bytes of binary content the method takes: its binary
    /// parameter's `maximum`, when declared.
    ///
    /// ```
    /// # use switchboard_core::definition::MethodDefinition;
    /// let m: MethodDefinition = serde_json::from_value(serde_json::json!({
    ///     "id": "files.upload", "category": "files", "name": "Upload",
    ///     "description": "d", "http_method": "PUT", "path": "/files/{name}",
    ///     "parameters": [
    ///         {"name": "name", "in": "path", "type": "string"},
    ///         {"name": "content", "in": "payload", "type": "binary", "maximum": 4194304}
    ///     ]
    /// })).unwrap();
    /// assert_eq!(m.content_limit(), Some(4_194_304));
    /// ```
    pub fn content_limit(&self) -> Option<u64> {
        self.content_parameter()
            .and_then(|p| p.maximum)
            .filter(|m| m.is_finite() && *m >= 0.0)
            // a whole number of bytes (validation insists); `as` saturates
            .map(|m| m as u64)
    }

    /// Whether a repeated request is safe: declared, or derived from the HTTP method.
    pub fn is_idempotent(&self) -> bool {
        self.idempotent
            .unwrap_or_else(|| self.http_method.is_idempotent())
    }

    /// Whether repeating this call is safe: [`Self::is_idempotent`], or the
    /// declared `idempotency_key` argument is given.
    ///
    /// ```
    /// # use switchboard_core::{Arguments, definition::MethodDefinition};
    /// let m: MethodDefinition = serde_json::from_value(serde_json::json!({
    ///     "id": "calendars.create_event", "category": "calendars", "name": "Create event",
    ///     "description": "d", "http_method": "POST", "path": "/me/events",
    ///     "idempotency_key": "transaction_id",
    ///     "parameters": [{"name": "transaction_id", "in": "body", "type": "string"}]
    /// })).unwrap();
    /// assert!(!m.is_idempotent_for(&Arguments::new()));
    /// assert!(m.is_idempotent_for(&Arguments::new().set("transaction_id", "7e1c")));
    /// ```
    pub fn is_idempotent_for(&self, args: &crate::Arguments) -> bool {
        self.is_idempotent()
            || self
                .idempotency_key
                .as_deref()
                .and_then(|key| args.get(key))
                .is_some_and(|v| !v.is_null())
    }

    /// Variants that support this method, given all of the connector's variant ids.
    pub fn supported_variants<'a>(&'a self, all: &'a [AuthVariant]) -> Vec<&'a str> {
        if !self.variants.is_empty() {
            self.variants.iter().map(String::as_str).collect()
        } else if !self.permissions.is_empty() {
            self.permissions.keys().map(String::as_str).collect()
        } else {
            all.iter().map(|v| v.id.as_str()).collect()
        }
    }

    /// Whether the variant supports this method.
    pub fn supports(&self, variant: &str, all: &[AuthVariant]) -> bool {
        // Same rule as `supported_variants`, without collecting (it runs on every call).
        if !self.variants.is_empty() {
            self.variants.iter().any(|v| v == variant)
        } else if !self.permissions.is_empty() {
            self.permissions.contains_key(variant)
        } else {
            all.iter().any(|v| v.id == variant)
        }
    }

    /// The permissions declared for a variant (least privileged first).
    pub fn permissions_for(&self, variant: &str) -> &[String] {
        self.permissions
            .get(variant)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The path with `/{principal}` replaced by the variant's principal path.
    /// Without a principal the path is returned as written.
    pub fn resolved_path(&self, principal: Option<&Principal>) -> String {
        match (
            principal,
            self.path
                .strip_prefix('/')
                .and_then(|p| p.strip_prefix(PRINCIPAL_PLACEHOLDER)),
        ) {
            (Some(principal), Some(rest)) => format!("{}{}", principal.path, rest),
            _ => self.path.clone(),
        }
    }

    /// Whether the path uses the principal placeholder.
    pub fn uses_principal(&self) -> bool {
        self.path
            .strip_prefix('/')
            .is_some_and(|p| p.starts_with(PRINCIPAL_PLACEHOLDER))
    }

    /// The parameters in effect for a variant: the principal's path parameters
    /// (when the path uses the principal) followed by the method's own.
    pub fn resolved_parameters<'a>(
        &'a self,
        principal: Option<&'a Principal>,
    ) -> Vec<&'a ParameterDefinition> {
        let mut out = Vec::new();
        if let Some(principal) = principal.filter(|_| self.uses_principal()) {
            out.extend(principal.parameters.iter());
        }
        out.extend(self.parameters.iter());
        out
    }
}

/// HTTP methods a method definition may use.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// PATCH
    Patch,
    /// DELETE
    Delete,
}

impl HttpMethod {
    /// GET, PUT and DELETE are idempotent; POST and PATCH are not.
    pub fn is_idempotent(self) -> bool {
        matches!(self, HttpMethod::Get | HttpMethod::Put | HttpMethod::Delete)
    }

    /// The upper-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
        }
    }

    /// The `http` crate's method.
    pub fn to_http(self) -> http::Method {
        match self {
            HttpMethod::Get => http::Method::GET,
            HttpMethod::Post => http::Method::POST,
            HttpMethod::Put => http::Method::PUT,
            HttpMethod::Patch => http::Method::PATCH,
            HttpMethod::Delete => http::Method::DELETE,
        }
    }
}

impl std::fmt::Display for HttpMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a method's results are paged.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Pagination {
    /// One response.
    #[default]
    None,
    /// OData paging: follow `@odata.nextLink` until it is absent.
    OdataNextLink,
    /// OData delta: follow `@odata.nextLink`, end with `@odata.deltaLink` as
    /// the continuation for the next sync.
    OdataDelta,
    /// RFC 8288 `Link` response headers: follow the `rel="next"` target
    /// until a page has none (GitHub, GitLab). The link passes the host
    /// allow-list like any other; a repeated link is an error.
    LinkHeader,
    /// A cursor read from each page's body (see `cursor`) and sent as a
    /// query parameter, until a page has none (Slack, Stripe-like APIs).
    Cursor,
    /// An offset query parameter that advances by the records received
    /// (see `counter`), until the stop rule says the listing is complete.
    Offset,
    /// A page-number query parameter that advances by one (see `counter`),
    /// until the stop rule says the listing is complete.
    Page,
}

impl Pagination {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Pagination::None => "none",
            Pagination::OdataNextLink => "odata_next_link",
            Pagination::OdataDelta => "odata_delta",
            Pagination::LinkHeader => "link_header",
            Pagination::Cursor => "cursor",
            Pagination::Offset => "offset",
            Pagination::Page => "page",
        }
    }
}

/// What a response holds.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResponseKind {
    /// A JSON document (or nothing, for 202/204).
    #[default]
    Json,
    /// Raw bytes (photos, file content), streamed.
    Bytes,
}

/// Where a parameter goes in the request.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParameterLocation {
    /// A `{name}` placeholder in the path.
    Path,
    /// A query string parameter.
    Query,
    /// A request header.
    Header,
    /// A field of the JSON request body object.
    Body,
    /// The whole request body (a JSON value, or bytes for `binary`).
    Payload,
}

/// Parameter value types.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ParameterType {
    /// A string.
    String,
    /// A whole number.
    Integer,
    /// Any number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// An ISO 8601 / RFC 3339 date and time (`2026-11-22T09:00:00Z`).
    DateTime,
    /// An array; `items` gives the element type.
    Array,
    /// A JSON object.
    Object,
    /// Raw bytes (uploads). Only as a `payload`.
    Binary,
}

impl ParameterType {
    fn string() -> Self {
        ParameterType::String
    }

    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ParameterType::String => "string",
            ParameterType::Integer => "integer",
            ParameterType::Number => "number",
            ParameterType::Boolean => "boolean",
            ParameterType::DateTime => "date-time",
            ParameterType::Array => "array",
            ParameterType::Object => "object",
            ParameterType::Binary => "binary",
        }
    }
}

/// How an array is written into a query string or header.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ArrayStyle {
    /// `a,b,c` (OData `$select`, `$orderby`).
    #[default]
    Comma,
    /// `a b c`.
    Space,
    /// The parameter repeated: `x=a&x=b`.
    Repeat,
}

/// How a path parameter is placed into the path.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PathStyle {
    /// One path segment: `/`, `\`, `?`, `#`, `%`, control characters, empty
    /// values, `.` and `..` are refused; the rest is percent-encoded.
    #[default]
    Segment,
    /// A relative path whose segments are separated by `/` (OneDrive
    /// `root:/{item_path}:`): each segment is checked and encoded on its own.
    Segments,
}

/// One parameter of a method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParameterDefinition {
    /// Name callers use (`top`, `message_id`).
    pub name: String,
    /// Where it goes.
    #[serde(rename = "in")]
    pub location: ParameterLocation,
    /// Value type.
    #[serde(rename = "type")]
    pub kind: ParameterType,
    /// Element type, for arrays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<ParameterType>,
    /// Help text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether a caller must give it. Path parameters are always required.
    #[serde(default)]
    pub required: bool,
    /// Value used when the caller gives none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// The only values allowed.
    #[serde(rename = "enum", default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<Value>>,
    /// Smallest allowed number (or array length / string length for those
    /// types, content length in bytes for `binary`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<f64>,
    /// Largest allowed number (or array length / string length for those
    /// types, content length in bytes for `binary`: the engine refuses
    /// larger content before sending, and the CLI reads no more of a file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum: Option<f64>,
    /// A regular expression a string value must match (whole value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// A named format with a built-in check (`user_id`, `guid`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    /// Name on the wire when it differs (`$top`, `saveToSentItems`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wire_name: Option<String>,
    /// How arrays are joined in a query or header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<ArrayStyle>,
    /// How a path parameter is placed into the path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_style: Option<PathStyle>,
    /// For query and header parameters: how the value is written, `{value}`
    /// standing for it (`outlook.timezone="{value}"` sends the caller's
    /// `Pacific Standard Time` as `Prefer: outlook.timezone="Pacific Standard Time"`).
    /// Header parameters with templates may share a wire name; each is sent
    /// as its own header line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_template: Option<String>,
}

impl ParameterDefinition {
    /// The name sent on the wire.
    pub fn wire_name(&self) -> &str {
        self.wire_name.as_deref().unwrap_or(&self.name)
    }

    /// The placeholder a `value_template` holds.
    pub const TEMPLATE_VALUE: &'static str = "{value}";

    /// A query or header text written through the `value_template`, if any.
    pub fn apply_template(&self, text: &str) -> String {
        match &self.value_template {
            Some(template) => template.replace(Self::TEMPLATE_VALUE, text),
            None => text.to_string(),
        }
    }

    /// Whether a value must be given (path parameters always must).
    pub fn is_required(&self) -> bool {
        self.required || self.location == ParameterLocation::Path
    }
}

impl ConnectorDefinition {
    /// The auth variant with this id.
    pub fn variant(&self, id: &str) -> Option<&AuthVariant> {
        self.auth_variants.iter().find(|v| v.id == id)
    }

    /// The method with this id.
    pub fn method(&self, id: &str) -> Option<&MethodDefinition> {
        self.methods.iter().find(|m| m.id == id)
    }

    /// The semantic version, parsed.
    pub fn semver(&self) -> Option<semver::Version> {
        semver::Version::parse(&self.version).ok()
    }

    /// The deployment an installation's settings choose, when the
    /// connector declares `deployments` ([`deployments::Deployments::resolve`]).
    ///
    /// ```
    /// use serde_json::json;
    /// use switchboard_core::definition::ConnectorDefinition;
    ///
    /// let def: ConnectorDefinition = serde_json::from_value(json!({
    ///   "id": "example", "name": "Example", "version": "1.0.0", "description": "Example",
    ///   "base_url": "{api_origin}/v1", "allowed_hosts": ["api.example.com", "api.example.eu"],
    ///   "identity_hosts": ["login.example.com", "login.example.eu"],
    ///   "deployments": {"parameter": "cloud", "default": "us", "options": [
    ///     {"id": "us", "identity_origin": "https://login.example.com", "api_origin": "https://api.example.com"},
    ///     {"id": "eu", "identity_origin": "https://login.example.eu", "api_origin": "https://api.example.eu"}]},
    ///   "auth_variants": [{"id": "token", "name": "Token", "kind": "bearer_token"}],
    ///   "categories": [{"id": "things", "name": "Things"}]
    /// })).unwrap();
    /// let settings = json!({"cloud": "eu"}).as_object().unwrap().clone();
    /// assert_eq!(def.deployment(&settings).unwrap().unwrap().api_host(), "api.example.eu");
    /// ```
    pub fn deployment(
        &self,
        settings: &serde_json::Map<String, Value>,
    ) -> crate::error::Result<Option<deployments::ChosenDeployment>> {
        self.deployments
            .as_ref()
            .map(|d| d.resolve(settings))
            .transpose()
    }
}
