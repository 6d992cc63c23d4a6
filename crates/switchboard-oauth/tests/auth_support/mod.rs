//! Shared helpers for the auth integration tests.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use oauth2::{AuthUrl, ClientId, ClientSecret, RedirectUrl, RefreshToken, TokenUrl};
use serde_json::{Value, json};
use switchboard_core::InstallationId;
use switchboard_core::credential::AccessToken;
use switchboard_oauth::client::OAuthClient;
use switchboard_oauth::clock::ManualClock;
use switchboard_oauth::context::AuthContext;
use switchboard_oauth::grants::{GrantStore, MemoryGrants, StoredGrant};
use switchboard_oauth::oauth_credential::{Grant, InstallationIdentity, OAuthCredential};
use switchboard_oauth::provider::Provider;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const AUTHORITY: &str = "https://login.example.test";
pub const TENANT: &str = "tenant-a";
pub const CLIENT_ID: &str = "client-1";
pub const CLIENT_SECRET: &str = "client-secret-value";

/// Scopes are the permissions as given.
#[derive(Debug)]
pub struct PassThrough;

impl Provider for PassThrough {
    fn scopes(&self, permissions: &[String]) -> Vec<String> {
        permissions.to_vec()
    }
}

/// The shared client, with redirects off as the engine builds it.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Fails the test when any request nobody expected arrives.
pub async fn catch_all(server: &MockServer) {
    Mock::given(any())
        .respond_with(ResponseTemplate::new(599))
        .with_priority(250)
        .named("unexpected request")
        .expect(0)
        .mount(server)
        .await;
}

pub fn token_json(access: &str, refresh: Option<&str>, expires_in: u64) -> Value {
    let mut body = json!({
        "token_type": "Bearer",
        "expires_in": expires_in,
        "ext_expires_in": expires_in,
        "access_token": access,
    });
    if let Some(rt) = refresh {
        body["refresh_token"] = json!(rt);
    }
    body
}

pub fn clock() -> ManualClock {
    ManualClock::new(SystemTime::now())
}

pub fn context(clock: &ManualClock, store: Arc<dyn GrantStore>) -> AuthContext {
    AuthContext::with_clock(http(), store, Arc::new(clock.clone()))
}

pub fn client(ctx: &AuthContext, server: &MockServer) -> OAuthClient {
    OAuthClient::new(
        ctx.http.clone(),
        ClientId::new(CLIENT_ID.into()),
        Some(ClientSecret::new(CLIENT_SECRET.into())),
        TokenUrl::new(format!("{}/token", server.uri())).unwrap(),
    )
    .with_authorize_url(AuthUrl::new(format!("{}/authorize", server.uri())).unwrap())
    .with_redirect_uri(RedirectUrl::new("https://platform.example.test/callback".into()).unwrap())
}

pub fn credential(
    ctx: &AuthContext,
    server: &MockServer,
    installation: InstallationId,
    grant: Grant,
) -> OAuthCredential {
    OAuthCredential::new(
        ctx.clone(),
        client(ctx, server),
        InstallationIdentity::new(installation, AUTHORITY, TENANT),
        grant,
        Arc::new(PassThrough),
    )
}

pub async fn store_with(pairs: &[(InstallationId, &str)]) -> Arc<MemoryGrants> {
    let store = Arc::new(MemoryGrants::new());
    for (installation, rt) in pairs {
        let grant = StoredGrant::new(Some(RefreshToken::new((*rt).into())));
        store
            .modify_grant(*installation, &|g| *g = grant.clone())
            .await
            .unwrap();
    }
    store
}

/// Put an already expired token in the cache for `credential`'s key.
pub async fn seed_expired(
    ctx: &AuthContext,
    cred: &OAuthCredential,
    scopes: &[String],
    secret: &str,
) {
    let expired = AccessToken::new(secret, Some(SystemTime::now() - Duration::from_secs(1)));
    let key = cred.cache_key(scopes);
    let token = ctx
        .cache
        .get_or_refresh(&key, None, false, || async move { Ok(expired) })
        .await
        .unwrap();
    assert_eq!(token.secret(), secret);
}
