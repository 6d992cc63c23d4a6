//! OAuth declared only as data (kind `oauth2`), through the front door
//! against a wiremock server playing both the identity service (as
//! `localhost`) and the API (as `127.0.0.1`): one refresh for 100
//! concurrent callers, a form-encoded token answer, PKCE turned off with
//! a reason, settings filled from the token answer, revocation on
//! uninstall, and a refresh token given at install.

use std::collections::HashMap;

use serde_json::{Value, json};
use switchboard::{
    AppCredential, Arguments, InstallRequest, InstallableConnector, InstallationStatus,
    MemoryStore, Switchboard,
};
use switchboard_core::definition::ConnectorDefinition;
use url::Url;
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECRET: &str = "client-SECRET-77";

/// An "acme" CRM whose `oauth2` object is `oauth` (merged over a default).
fn acme(server: &MockServer, oauth: Value) -> ConnectorDefinition {
    let port = server.address().port();
    let identity = format!("http://localhost:{port}/oauth/{{region}}");
    let mut declared = json!({
        "grant": "authorization_code",
        "authorization_url": format!("{identity}/authorize"),
        "token_url": format!("{identity}/token"),
        "revocation_url": format!("{identity}/revoke"),
        "settings_from_token": {"instance_url": "instance_url"}
    });
    for (k, v) in oauth.as_object().unwrap() {
        if v.is_null() {
            declared.as_object_mut().unwrap().remove(k);
        } else {
            declared[k] = v.clone();
        }
    }
    let def: ConnectorDefinition = serde_json::from_value(json!({
        "id": "acme", "name": "Acme CRM", "version": "1.0.0",
        "description": "A CRM described only as data.",
        "base_url": format!("http://127.0.0.1:{port}/v1"),
        "install_parameters": [
            {"name": "region", "label": "Region", "required": true},
            {"name": "instance_url", "label": "Instance URL"},
            {"name": "refresh_token", "label": "Refresh token", "secret": true}
        ],
        "auth_variants": [{"id": "oauth", "name": "Sign in", "kind": "oauth2",
            "extra_scopes": ["offline_access"], "oauth2": declared}],
        "allowed_hosts": ["127.0.0.1"],
        "identity_hosts": ["localhost"],
        "categories": [{"id": "contacts", "name": "Contacts"}],
        "methods": [{"id": "contacts.list_contacts", "category": "contacts",
            "name": "List contacts", "description": "Contacts.", "http_method": "GET",
            "path": "/contacts", "records": "/items",
            "permissions": {"oauth": ["contacts.read"]}}]
    }))
    .unwrap();
    let problems = switchboard_core::definition::validate::validate(&def);
    assert!(problems.is_empty(), "{problems:?}");
    def
}

fn switchboard(def: ConnectorDefinition) -> Switchboard {
    Switchboard::builder()
        .store(MemoryStore::new())
        .connector(InstallableConnector::from_definition(def))
        .app(AppCredential::new("acme-app").with_client_secret(SECRET))
        .redirect_uri("https://platform.example/callback")
        .build()
        .unwrap()
}

fn query(url: &Url) -> HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

/// Install and consent: returns the installation id.
async fn consented(sb: &Switchboard) -> switchboard_core::InstallationId {
    let started = sb
        .install(InstallRequest::new("acct-1", "acme", "oauth").setting("region", "eu"))
        .await
        .unwrap();
    assert_eq!(
        started.installation.status,
        InstallationStatus::PendingConsent
    );
    let consent = started.consent_url.unwrap();
    let state = query(&consent)["state"].clone();
    let callback = Url::parse_with_params(
        "https://platform.example/callback",
        &[("code", "code-1"), ("state", state.as_str())],
    )
    .unwrap();
    let active = sb.complete(callback.as_str()).await.unwrap();
    assert_eq!(active.status, InstallationStatus::Active);
    active.id
}

#[tokio::test]
async fn a_hundred_concurrent_callers_share_one_refresh() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/eu/token"))
        .and(body_string_contains("grant_type=authorization_code"))
        .and(body_string_contains("code_verifier="))
        .and(body_string_contains(format!("client_secret={SECRET}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "at-1", "expires_in": 3600, "refresh_token": "rt-1",
            "instance_url": "https://eu.acme.example"
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth/eu/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=rt-1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "at-2", "expires_in": 3600,
                    "refresh_token": "rt-2"}))
                .set_delay(std::time::Duration::from_millis(50)),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/contacts"))
        .and(header("authorization", "Bearer at-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [{"id": 1}]})))
        .expect(100)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth/eu/revoke"))
        .and(body_string_contains("token=rt-2"))
        .and(body_string_contains("token_type_hint=refresh_token"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;

    let sb = switchboard(acme(&server, json!({})));
    let id = consented(&sb).await;
    let inst = sb.installations().get(id).await.unwrap();
    assert_eq!(
        inst.settings.get("instance_url"),
        Some(&json!("https://eu.acme.example")),
        "settings_from_token fills the setting"
    );
    let client = sb.installation(id).await.unwrap();
    let calls = (0..100).map(|_| {
        let client = client.clone();
        async move {
            client
                .call("contacts.list_contacts", Arguments::new())
                .await
                .map(|r| r.status())
        }
    });
    let statuses = futures::future::join_all(calls).await;
    assert!(
        statuses.iter().all(|s| matches!(s, Ok(200))),
        "{statuses:?}"
    );
    sb.installations().uninstall(id).await.unwrap();
    // the expectations (1 exchange, 1 refresh, 100 calls, 1 revocation) are
    // checked when the server drops; say so here too
    let received = server.received_requests().await.unwrap();
    let refreshes = received
        .iter()
        .filter(|r| String::from_utf8_lossy(&r.body).contains("grant_type=refresh_token"))
        .count();
    assert_eq!(refreshes, 1);
}

#[tokio::test]
async fn a_form_answer_without_pkce_and_a_comma_separator() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/eu/token"))
        .and(body_string_contains("grant_type=authorization_code"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            "access_token=at-1&scope=contacts.read%2Coffline_access&token_type=bearer&refresh_token=rt-1&lifetime=600",
            "application/x-www-form-urlencoded",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let sb = switchboard(acme(
        &server,
        json!({
            "pkce": {"enabled": false, "reason": "the service rejects code_challenge"},
            "scope_separator": ",",
            "token_response": {"format": "form", "expires_in_field": "lifetime"},
            "revocation_url": null,
            "settings_from_token": null
        }),
    ));
    let started = sb
        .install(InstallRequest::new("acct-1", "acme", "oauth").setting("region", "eu"))
        .await
        .unwrap();
    let consent = query(started.consent_url.as_ref().unwrap());
    assert!(!consent.contains_key("code_challenge"), "{consent:?}");
    assert_eq!(consent["scope"], "contacts.read,offline_access");
    let callback = format!(
        "https://platform.example/callback?code=code-1&state={}",
        consent["state"]
    );
    let active = sb.complete(&callback).await.unwrap();
    assert_eq!(active.status, InstallationStatus::Active);
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 1);
    let body = String::from_utf8_lossy(&received[0].body).to_string();
    assert!(!body.contains("code_verifier"), "{body}");
    // uninstall with no revocation URL sends nothing
    sb.installations().uninstall(active.id).await.unwrap();
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_refresh_token_given_at_install_is_the_grant() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/eu/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=given-rt"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "at-9", "expires_in": 3600
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/contacts"))
        .and(header("authorization", "Bearer at-9"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": []})))
        .expect(1)
        .mount(&server)
        .await;
    let sb = switchboard(acme(
        &server,
        json!({
            "grant": "refresh_token",
            "authorization_url": null,
            "revocation_url": null,
            "settings_from_token": null,
            "refresh_token_parameter": "refresh_token"
        }),
    ));
    let missing = sb
        .install(InstallRequest::new("acct-1", "acme", "oauth").setting("region", "eu"))
        .await
        .unwrap_err();
    assert_eq!(missing.field(), Some("refresh_token"));
    let started = sb
        .install(
            InstallRequest::new("acct-1", "acme", "oauth")
                .setting("region", "eu")
                .setting("refresh_token", "given-rt"),
        )
        .await
        .unwrap();
    assert_eq!(started.installation.status, InstallationStatus::Active);
    assert!(started.consent_url.is_none());
    assert!(!format!("{:?}", started.installation).contains("given-rt"));
    let client = sb.installation(started.installation.id).await.unwrap();
    client
        .call("contacts.list_contacts", Arguments::new())
        .await
        .unwrap();
}
