//! The authorization code flow with PKCE: `begin` and `complete`.
//!
//! [`AuthorizationCodeFlow::begin`] makes a PKCE S256 pair and a one-time
//! `state` bound to the installation (the verifier stays in the
//! [`crate::state::StateStore`]), and returns the authorize URL.
//! [`AuthorizationCodeFlow::complete`] consumes the state (refusing one that
//! is unknown, used, expired or another installation's), turns an `error=`
//! callback into a typed error, exchanges the code with the verifier,
//! checks the tokens, and stores the refresh token. It returns a summary
//! with no secret in it.
//!
//! ```no_run
//! use oauth2::{AuthUrl, ClientId, RedirectUrl, TokenUrl};
//! use std::sync::Arc;
//! use switchboard_oauth::client::OAuthClient;
//! use switchboard_oauth::code_flow::AuthorizationCodeFlow;
//! use switchboard_oauth::context::AuthContext;
//! use switchboard_oauth::grants::MemoryGrants;
//!
//! let ctx = AuthContext::new(reqwest::Client::new(), Arc::new(MemoryGrants::new()));
//! let client = OAuthClient::new(ctx.http.clone(), ClientId::new("app".into()), None,
//!         TokenUrl::new("https://login.example.com/token".into()).unwrap())
//!     .with_authorize_url(AuthUrl::new("https://login.example.com/authorize".into()).unwrap())
//!     .with_redirect_uri(RedirectUrl::new("https://platform.example.com/callback".into()).unwrap());
//! let flow = AuthorizationCodeFlow::new(ctx, client);
//! let start = flow.begin(switchboard_core::InstallationId::from_u128(1), &["openid".into()], &[]).unwrap();
//! // send the user's browser to start.url()
//! # let _ = start;
//! ```

use std::collections::BTreeMap;
use std::fmt;

use url::Url;

use crate::callback::CallbackParams;
use crate::client::OAuthClient;
use crate::context::AuthContext;
use crate::grants::StoredGrant;
use crate::oauth_credential::with_retry;
use crate::pkce::new_pkce_pair;
use crate::provider::Provider;
use crate::state::StatePurpose;
use switchboard_core::InstallationId;
use switchboard_core::definition::deployments::is_loopback;
use switchboard_core::error::{Error, ErrorKind, Result};

/// Where to send the user's browser. The URL carries the `state`, so it
/// is not shown by Debug.
pub struct AuthorizationStart {
    url: Url,
}

impl AuthorizationStart {
    /// A start for a prepared URL (used by provider flows that build their
    /// own URL, such as admin consent).
    pub fn new(url: Url) -> Self {
        AuthorizationStart { url }
    }

    /// The authorize URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The URL, consumed.
    pub fn into_url(self) -> Url {
        self.url
    }
}

impl fmt::Debug for AuthorizationStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "AuthorizationStart({}://{}{} [query redacted])",
            self.url.scheme(),
            self.url.host_str().unwrap_or_default(),
            self.url.path()
        )
    }
}

/// What a completed authorization established. No secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Authorized {
    /// The installation.
    pub installation_id: InstallationId,
    /// The tenant the tokens belong to, when the provider could tell.
    pub tenant_id: Option<String>,
    /// The scopes the server says it granted (empty when it did not say).
    pub scopes: Vec<String>,
    /// The token answer's fields the flow was asked to keep
    /// ([`AuthorizationCodeFlow::keep_fields`]), such as an `instance_url`.
    pub fields: BTreeMap<String, String>,
}

/// The authorization code + PKCE flow for one client registration.
#[derive(Debug, Clone)]
pub struct AuthorizationCodeFlow {
    ctx: AuthContext,
    client: OAuthClient,
    pkce: bool,
    keep: Vec<String>,
}

impl AuthorizationCodeFlow {
    /// A flow; `client` must have an authorize URL and a redirect URI.
    pub fn new(ctx: AuthContext, client: OAuthClient) -> Self {
        AuthorizationCodeFlow {
            ctx,
            client,
            pkce: true,
            keep: Vec::new(),
        }
    }

    /// The same flow without PKCE, for a service that refuses it (a
    /// definition must say why). The one-time `state` still guards it.
    pub fn without_pkce(mut self) -> Self {
        self.pkce = false;
        self
    }

    /// The same flow keeping these token-answer fields in
    /// [`Authorized::fields`] (string values only).
    pub fn keep_fields(mut self, names: Vec<String>) -> Self {
        self.keep = names;
        self
    }

    /// Start: a fresh PKCE pair and state, and the authorize URL.
    pub fn begin(
        &self,
        installation_id: InstallationId,
        scopes: &[String],
        extra: &[(String, String)],
    ) -> Result<AuthorizationStart> {
        let (challenge, verifier) = match self.pkce {
            true => {
                let (challenge, verifier) = new_pkce_pair();
                (Some(challenge), Some(verifier))
            }
            false => (None, None),
        };
        let state =
            self.ctx
                .states
                .issue(installation_id, StatePurpose::AuthorizationCode, verifier)?;
        let url = self
            .client
            .authorize_url(scopes, &state, challenge, extra)?;
        Ok(AuthorizationStart { url })
    }

    /// Finish with the callback's parameters.
    pub async fn complete(
        &self,
        installation_id: InstallationId,
        params: CallbackParams,
        provider: &dyn Provider,
    ) -> Result<Authorized> {
        let state = params.state.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::Consent,
                "the authorization response has no `state`; start the authorization again",
            )
            .with_field("state")
        })?;
        let verifier = self.ctx.states.take(
            installation_id,
            StatePurpose::AuthorizationCode,
            state.secret(),
        )?;
        if self.pkce && verifier.is_none() {
            return Err(Error::new(
                ErrorKind::Consent,
                "the authorization's PKCE verifier is missing; start the authorization again",
            ));
        }
        if params.error.is_some() {
            return Err(provider.map_callback_error(&params));
        }
        let code = params.code.ok_or_else(|| {
            Error::invalid_argument("code", "the callback must carry either `code` or `error`")
        })?;
        // A code is single-use: a 429/5xx retry would be refused anyway, so
        // the exchange is tried once (the retry policy still maps the wait).
        let mut code = Some(code);
        let mut verifier = Some(verifier);
        let set = with_retry(&self.ctx, provider, |now| {
            let pair = code.take().zip(verifier.take());
            let client = self.client.clone();
            async move {
                match pair {
                    Some((code, verifier)) => client.exchange_code(code, verifier, &[], now).await,
                    None => Err(crate::client::TokenEndpointError::Other(
                        "the authorization code was already used".into(),
                    )),
                }
            }
        })
        .await?;
        let tenant_id = provider.check_tokens(&set, None)?;
        // No refresh token and no lifetime: a non-expiring access token
        // (GitHub OAuth apps without expiring user tokens) is the grant.
        // A token that expires with no way to renew it is refused.
        let grant = match (&set.refresh_token, set.access_token.expires_at()) {
            (Some(refresh_token), _) => StoredGrant::new(Some(refresh_token.clone())),
            (None, None) => StoredGrant::non_expiring(set.access_token.clone()),
            (None, Some(_)) => {
                return Err(Error::new(
                    ErrorKind::Configuration,
                    "the identity service returned an expiring access token and no refresh token; request offline access (for example the `offline_access` scope)",
                )
                .with_field("refresh_token"));
            }
        };
        let scopes = set.scopes.clone().unwrap_or_default();
        let grant = grant
            .with_tenant(tenant_id.clone())
            .with_scopes(scopes.clone());
        // A new grant replaces whatever was held.
        self.ctx
            .grants
            .modify_grant(installation_id, &|held| *held = grant.clone())
            .await?;
        // New grant: old tokens and any re-authentication hold are stale.
        self.ctx.cache.forget_installation(installation_id);
        tracing::info!(installation = %installation_id, "authorization completed");
        let fields = self
            .keep
            .iter()
            .filter_map(|name| Some((name.clone(), set.fields.get(name)?.to_string())))
            .collect();
        Ok(Authorized {
            installation_id,
            tenant_id,
            scopes,
            fields,
        })
    }
}

/// The platform's redirect URI, checked as RFC 6749 §3.1.2 and §3.1.2.1
/// ask: absolute, https (plain http only on a loopback host), no fragment.
/// The one check for every flow that sends a browser back to a platform.
///
/// ```
/// use switchboard_oauth::code_flow::checked_redirect_url;
/// assert!(checked_redirect_url("https://platform.example.com/callback").is_ok());
/// assert!(checked_redirect_url("http://127.0.0.1:8400/callback").is_ok());
/// let err = checked_redirect_url("http://platform.example.com/callback").unwrap_err();
/// assert_eq!(err.field(), Some("redirect_uri"));
/// assert!(checked_redirect_url("https://platform.example.com/cb#x").is_err());
/// assert!(checked_redirect_url("/callback").is_err());
/// ```
pub fn checked_redirect_url(uri: &str) -> Result<oauth2::RedirectUrl> {
    let url = Url::parse(uri).map_err(|_| {
        Error::invalid_argument(
            "redirect_uri",
            "must be an absolute URL registered for the application",
        )
    })?;
    let loopback = url.host_str().is_some_and(is_loopback);
    if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
        return Err(Error::invalid_argument(
            "redirect_uri",
            "must use https (plain http only on a loopback host)",
        ));
    }
    if url.fragment().is_some() {
        return Err(Error::invalid_argument(
            "redirect_uri",
            "must not have a fragment",
        ));
    }
    Ok(oauth2::RedirectUrl::from_url(url))
}
