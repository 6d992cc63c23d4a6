//! Shared helpers for the Microsoft identity tests.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use switchboard_microsoft365::cloud::{Cloud, CustomCloud};
use switchboard_microsoft365::identity::MicrosoftApp;
use switchboard_oauth::clock::ManualClock;
use switchboard_oauth::context::AuthContext;
use switchboard_oauth::grants::MemoryGrants;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const TENANT: &str = "0d2f1a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b";
pub const OTHER_TENANT: &str = "99999999-8888-4777-8666-555555555555";
pub const CLIENT_ID: &str = "6731de76-14a6-49ae-97bc-6eba6914391e";
pub const CLIENT_SECRET: &str = "secret-value~abc";
pub const REDIRECT: &str = "https://platform.example.test/oauth/callback";

/// A Graph-like JWT (unsigned: only the payload is read) for a tenant.
pub fn jwt(tid: &str, marker: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"RS256"}"#);
    let payload = URL_SAFE_NO_PAD.encode(
        json!({"aud": "https://graph.microsoft.com", "tid": tid, "marker": marker}).to_string(),
    );
    format!("{header}.{payload}.c2lnbmF0dXJl")
}

pub fn token_json(access: &str, refresh: Option<&str>) -> Value {
    let mut body = json!({
        "token_type": "Bearer",
        "scope": "https://graph.microsoft.com/User.Read",
        "expires_in": 3599,
        "ext_expires_in": 3599,
        "access_token": access,
    });
    if let Some(rt) = refresh {
        body["refresh_token"] = json!(rt);
    }
    body
}

pub async fn catch_all(server: &MockServer) {
    Mock::given(any())
        .respond_with(ResponseTemplate::new(599))
        .with_priority(250)
        .named("unexpected request")
        .expect(0)
        .mount(server)
        .await;
}

/// Login and Graph on the mock server (plain http is allowed on loopback).
pub fn cloud(server: &MockServer) -> Cloud {
    Cloud::Custom(CustomCloud::new(&server.uri(), &server.uri()).unwrap())
}

pub fn clock() -> ManualClock {
    ManualClock::new(SystemTime::now())
}

pub fn context(clock: &ManualClock) -> AuthContext {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    AuthContext::with_clock(http, Arc::new(MemoryGrants::new()), Arc::new(clock.clone()))
}

pub fn app() -> MicrosoftApp {
    MicrosoftApp::new(CLIENT_ID)
        .with_client_secret(CLIENT_SECRET)
        .with_redirect_uri(REDIRECT)
        .unwrap()
}

pub fn form(body: &[u8]) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

pub fn query(url: &url::Url) -> std::collections::HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}
