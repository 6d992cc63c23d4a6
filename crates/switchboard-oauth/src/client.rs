//! The OAuth client: authorize URLs and token requests, on `oauth2`.
//!
//! [`OAuthClient`] wraps an [`oauth2::Client`] typed with our lenient
//! [`TokenResponseBody`] and [`TokenErrorBody`], sends every token request
//! through [`OAuthHttpClient`] (the engine's reqwest client), and puts the
//! client secret in the request body (`AuthType::RequestBody`), which is
//! what Microsoft identity expects. Failures come back as a
//! [`TokenEndpointError`]; [`TokenEndpointError::into_error`] is the
//! provider-neutral reading of them (a provider such as Microsoft maps its
//! own codes first).
//!
//! ```
//! use oauth2::{ClientId, ClientSecret, TokenUrl};
//! use switchboard_oauth::client::OAuthClient;
//! use switchboard_oauth::http::OAuthHttpClient;
//!
//! let http = OAuthHttpClient::new(reqwest::Client::new());
//! let client = OAuthClient::new(
//!     http,
//!     ClientId::new("app-id".into()),
//!     Some(ClientSecret::new("app-secret".into())),
//!     TokenUrl::new("https://login.example.com/tenant/oauth2/v2.0/token".into()).unwrap(),
//! );
//! assert!(!format!("{client:?}").contains("app-secret"));
//! ```

use std::time::SystemTime;

use oauth2::basic::{BasicRevocationErrorResponse, BasicTokenIntrospectionResponse};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, RevocationUrl, Scope, StandardRevocableToken, TokenUrl,
};
use url::Url;

use crate::http::{HttpError, OAuthHttpClient};
use crate::response::{TokenErrorBody, TokenResponseBody, TokenSet};
use switchboard_core::error::{Error, ErrorKind, RemoteDetails, Result};
use switchboard_core::untrusted_text::{sanitize_identifier, sanitize_message};

type Inner = oauth2::Client<
    TokenErrorBody,
    TokenResponseBody,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointMaybeSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// An OAuth 2 client registration (client id, secret, endpoints) bound to
/// the shared HTTP client. Cheap to clone.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    inner: Inner,
    http: OAuthHttpClient,
    /// The secret again, for revocation requests (`oauth2` has no getter).
    secret: Option<ClientSecret>,
    basic: bool,
    revocation_url: Option<RevocationUrl>,
}

/// Extra form parameters for a token request (`claims`, provider extras).
pub type ExtraParams = Vec<(String, String)>;

impl OAuthClient {
    /// A client that can call `token_url`. The secret, if any, is sent in
    /// the request body.
    pub fn new(
        http: OAuthHttpClient,
        client_id: ClientId,
        client_secret: Option<ClientSecret>,
        token_url: TokenUrl,
    ) -> Self {
        let mut inner = oauth2::Client::new(client_id)
            .set_auth_type(AuthType::RequestBody)
            .set_auth_uri_option(None)
            .set_token_uri(token_url);
        if let Some(secret) = client_secret.clone() {
            inner = inner.set_client_secret(secret);
        }
        OAuthClient {
            inner,
            http,
            secret: client_secret,
            basic: false,
            revocation_url: None,
        }
    }

    /// Set the authorization endpoint (needed for [`OAuthClient::authorize_url`]).
    pub fn with_authorize_url(mut self, url: AuthUrl) -> Self {
        self.inner = self.inner.set_auth_uri_option(Some(url));
        self
    }

    /// Send the client id and secret in an `Authorization: Basic` header
    /// (`client_secret_basic`) rather than in the request body.
    pub fn with_client_secret_basic(mut self) -> Self {
        self.inner = self.inner.set_auth_type(AuthType::BasicAuth);
        self.basic = true;
        self
    }

    /// Set the RFC 7009 revocation endpoint (needed for [`OAuthClient::revoke`]).
    pub fn with_revocation_url(mut self, url: RevocationUrl) -> Self {
        self.revocation_url = Some(url);
        self
    }

    /// Revoke a refresh token at the revocation endpoint (RFC 7009 §2.1),
    /// which ends the whole grant, with the client authentication of token
    /// requests. The request is built here
    /// rather than by `oauth2`, which refuses a plain-http endpoint even on
    /// a loopback test server; it goes through the same [`OAuthHttpClient`].
    pub async fn revoke(&self, refresh_token: &RefreshToken) -> Result<(), TokenEndpointError> {
        use oauth2::AsyncHttpClient as _;
        let url = self.revocation_url.as_ref().ok_or_else(|| {
            TokenEndpointError::Other("no revocation endpoint is configured".into())
        })?;
        let request = self.revocation_request(url, refresh_token)?;
        let response = self
            .http
            .call(request)
            .await
            .map_err(TokenEndpointError::Http)?;
        if response.status().is_success() {
            return Ok(());
        }
        match serde_json::from_slice::<TokenErrorBody>(response.body()) {
            Ok(body) => Err(TokenEndpointError::OAuth(Box::new(body))),
            // Not an OAuth error body: say only that (never the body).
            Err(_) => Err(TokenEndpointError::Decode { path: ".".into() }),
        }
    }

    /// The RFC 7009 request (built apart: the form serializer is not `Send`).
    fn revocation_request(
        &self,
        url: &RevocationUrl,
        refresh_token: &RefreshToken,
    ) -> Result<oauth2::HttpRequest, TokenEndpointError> {
        use base64::Engine as _;
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("token", refresh_token.secret())
            .append_pair("token_type_hint", "refresh_token");
        let mut request = http::Request::builder()
            .method(http::Method::POST)
            .uri(url.as_str())
            .header(http::header::ACCEPT, "application/json")
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            );
        let client_id = self.inner.client_id().as_str();
        match (&self.secret, self.basic) {
            (Some(secret), true) => {
                // RFC 6749 §2.3.1: each part form-encoded, then Basic.
                let encode = |s: &str| {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                };
                let pair = format!("{}:{}", encode(client_id), encode(secret.secret()));
                let basic = base64::engine::general_purpose::STANDARD.encode(pair);
                request = request.header(http::header::AUTHORIZATION, format!("Basic {basic}"));
            }
            (secret, _) => {
                form.append_pair("client_id", client_id);
                if let Some(secret) = secret {
                    form.append_pair("client_secret", secret.secret());
                }
            }
        }
        request
            .body(form.finish().into_bytes())
            .map_err(|e| TokenEndpointError::Other(e.to_string()))
    }

    /// Set the redirect URI sent with the authorize URL and the code exchange.
    pub fn with_redirect_uri(mut self, url: RedirectUrl) -> Self {
        self.inner = self.inner.set_redirect_uri(url);
        self
    }

    /// The client id.
    pub fn client_id(&self) -> &ClientId {
        self.inner.client_id()
    }

    /// The redirect URI, when set.
    pub fn redirect_uri(&self) -> Option<&RedirectUrl> {
        self.inner.redirect_uri()
    }

    /// The token endpoint.
    pub fn token_url(&self) -> &TokenUrl {
        self.inner.token_uri()
    }

    /// An authorization URL: `response_type=code`, the client id, the
    /// redirect URI, `scopes` (space separated), `state`, the S256 PKCE
    /// challenge (when given), then `extra` parameters.
    pub fn authorize_url(
        &self,
        scopes: &[String],
        state: &CsrfToken,
        challenge: Option<PkceCodeChallenge>,
        extra: &[(String, String)],
    ) -> Result<Url> {
        let state = state.clone();
        let mut request = self
            .inner
            .authorize_url(move || state)
            .map_err(|e| {
                Error::new(
                    ErrorKind::Configuration,
                    format!("cannot build the authorization URL: {e}"),
                )
            })?
            .add_scopes(scopes.iter().map(|s| Scope::new(s.clone())));
        if let Some(challenge) = challenge {
            request = request.set_pkce_challenge(challenge);
        }
        for (name, value) in extra {
            request = request.add_extra_param(name.clone(), value.clone());
        }
        Ok(request.url().0)
    }

    /// Client credentials grant (RFC 6749 §4.4).
    pub async fn client_credentials(
        &self,
        scopes: &[String],
        extra: &[(String, String)],
        now: SystemTime,
    ) -> Result<TokenSet, TokenEndpointError> {
        let mut request = self
            .inner
            .exchange_client_credentials()
            .add_scopes(scopes.iter().map(|s| Scope::new(s.clone())));
        for (name, value) in extra {
            request = request.add_extra_param(name.clone(), value.clone());
        }
        let result = request.request_async(&self.http).await;
        finish(result, now)
    }

    /// Authorization code grant with the PKCE verifier, when PKCE was used
    /// (RFC 6749 §4.1.3, RFC 7636).
    pub async fn exchange_code(
        &self,
        code: AuthorizationCode,
        verifier: Option<PkceCodeVerifier>,
        extra: &[(String, String)],
        now: SystemTime,
    ) -> Result<TokenSet, TokenEndpointError> {
        let mut request = self.inner.exchange_code(code);
        if let Some(verifier) = verifier {
            request = request.set_pkce_verifier(verifier);
        }
        for (name, value) in extra {
            request = request.add_extra_param(name.clone(), value.clone());
        }
        let result = request.request_async(&self.http).await;
        finish(result, now)
    }

    /// Refresh token grant (RFC 6749 §6).
    pub async fn refresh(
        &self,
        refresh_token: &RefreshToken,
        scopes: &[String],
        extra: &[(String, String)],
        now: SystemTime,
    ) -> Result<TokenSet, TokenEndpointError> {
        let mut request = self
            .inner
            .exchange_refresh_token(refresh_token)
            .add_scopes(scopes.iter().map(|s| Scope::new(s.clone())));
        for (name, value) in extra {
            request = request.add_extra_param(name.clone(), value.clone());
        }
        let result = request.request_async(&self.http).await;
        finish(result, now)
    }
}

fn finish(
    result: std::result::Result<TokenResponseBody, RequestTokenError<HttpError, TokenErrorBody>>,
    now: SystemTime,
) -> Result<TokenSet, TokenEndpointError> {
    match result {
        Ok(body) => Ok(TokenSet::from_response(body, now)),
        Err(RequestTokenError::ServerResponse(body)) => {
            Err(TokenEndpointError::OAuth(Box::new(body)))
        }
        Err(RequestTokenError::Request(e)) => Err(TokenEndpointError::Http(e)),
        // The body may hold a token: keep only the JSON path that failed.
        Err(RequestTokenError::Parse(e, _body)) => Err(TokenEndpointError::Decode {
            path: e.path().to_string(),
        }),
        Err(RequestTokenError::Other(message)) => Err(TokenEndpointError::Other(message)),
    }
}

/// Why a token request failed, before a provider reads it.
#[derive(Debug)]
#[non_exhaustive]
pub enum TokenEndpointError {
    /// The server answered with an OAuth error body.
    OAuth(Box<TokenErrorBody>),
    /// No OAuth answer: transport failure, or a status such as 429 or 5xx.
    Http(HttpError),
    /// A 200 answer that is not a token response; `path` is where in the
    /// JSON it went wrong (never the body itself).
    Decode {
        /// JSON path of the offending field.
        path: String,
    },
    /// Something else `oauth2` refused (an unexpected content type...).
    Other(String),
}

impl TokenEndpointError {
    /// Remote details for an OAuth error body: the `error` code, the first
    /// AADSTS code, and the server's trace and correlation ids. Never the
    /// description.
    pub fn remote_details(body: &TokenErrorBody) -> RemoteDetails {
        let mut details = RemoteDetails::default();
        details.code = Some(body.error.clone());
        details.inner_code = body.error_codes.first().map(|c| format!("AADSTS{c}"));
        details.request_id.clone_from(&body.trace_id);
        details.client_request_id.clone_from(&body.correlation_id);
        details.date.clone_from(&body.timestamp);
        details
    }

    /// The provider-neutral reading of the failure (RFC 6749 codes).
    ///
    /// ```
    /// use switchboard_oauth::client::TokenEndpointError;
    /// use switchboard_oauth::response::TokenErrorBody;
    /// use switchboard_core::ErrorKind;
    ///
    /// let body: TokenErrorBody = serde_json::from_str(r#"{"error":"invalid_grant"}"#).unwrap();
    /// let err = TokenEndpointError::OAuth(Box::new(body)).into_error();
    /// assert_eq!(err.kind(), ErrorKind::NeedsReauth);
    /// ```
    pub fn into_error(self) -> Error {
        match self {
            TokenEndpointError::OAuth(body) => {
                let (kind, message) = match body.error.as_str() {
                    "invalid_grant" | "interaction_required" | "login_required" => (
                        ErrorKind::NeedsReauth,
                        "the authorization grant is no longer valid; a person must sign in to the installation again",
                    ),
                    "consent_required" | "access_denied" => (
                        ErrorKind::Consent,
                        "consent for the requested permissions is missing; grant consent and try again",
                    ),
                    "invalid_client" | "unauthorized_client" => (
                        ErrorKind::Configuration,
                        "the identity service refused the application's credentials; check the client id and secret",
                    ),
                    "invalid_scope" => (
                        ErrorKind::Configuration,
                        "the identity service refused the requested scopes; check the permissions configured for the application",
                    ),
                    "invalid_request" | "unsupported_grant_type" => (
                        ErrorKind::Configuration,
                        "the identity service refused the token request as malformed; check the application and endpoint configuration",
                    ),
                    "temporarily_unavailable" | "server_error" => (
                        ErrorKind::Transient,
                        "the identity service is temporarily unavailable; try again later",
                    ),
                    _ => (
                        ErrorKind::Remote,
                        "the identity service refused the token request",
                    ),
                };
                Error::new(kind, message).with_remote(Self::remote_details(&body))
            }
            TokenEndpointError::Http(HttpError::Status {
                status,
                retry_after,
            }) => {
                let mut err = match status {
                    429 => Error::new(
                        ErrorKind::Throttled,
                        "the identity service is throttling token requests",
                    ),
                    500..=599 => Error::new(
                        ErrorKind::Transient,
                        "the identity service failed to answer the token request",
                    ),
                    _ => Error::new(
                        ErrorKind::Configuration,
                        "the token endpoint gave an answer that is not OAuth; check the login URL of the installation's cloud",
                    ),
                }
                .with_remote(RemoteDetails::status(status));
                if let Some(wait) = retry_after {
                    err = err.with_retry_after(wait);
                }
                err
            }
            TokenEndpointError::Http(e @ HttpError::Transport(_)) => {
                Error::new(ErrorKind::Transport, e.to_string())
            }
            TokenEndpointError::Http(e) => Error::new(ErrorKind::Decode, e.to_string()),
            // Both may quote the answer (a JSON path, a Content-Type).
            TokenEndpointError::Decode { path } => Error::new(
                ErrorKind::Decode,
                format!(
                    "the token endpoint's answer is not a valid token response (at `{}`)",
                    sanitize_identifier(&path)
                ),
            ),
            TokenEndpointError::Other(message) => Error::new(
                ErrorKind::Decode,
                format!(
                    "the token endpoint's answer could not be used: {}",
                    sanitize_message(&message)
                ),
            ),
        }
    }
}
