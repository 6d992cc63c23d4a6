//! The "acme" CRM, a third-party connector written only as JSON
//! (`tests/fixtures/acme/connector.json`), through the binary against one
//! local fake serving both its identity service (as `localhost`) and its
//! API (as `127.0.0.1`): validated, installed, consented, called (Link
//! paging), refreshed with a rotating refresh token, and revoked on
//! uninstall. The fake's log shows where every credential went.

use base64::Engine as _;
use serde_json::json;
use url::Url;
use wiremock::matchers::{body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::harness::Cli;

const FIXTURE: &str = include_str!("../fixtures/acme/connector.json");
const CLIENT_ID: &str = "acme-client";
const CLIENT_SECRET: &str = "acme-SECRET-9";

/// The fixture with the fake's port, in a connectors dir; returns the dir.
fn connectors_dir(cli: &Cli, server: &MockServer) -> String {
    let dir = cli.dir().join("connectors").join("acme");
    std::fs::create_dir_all(&dir).unwrap();
    let port = server.address().port().to_string();
    std::fs::write(
        dir.join("connector.json"),
        FIXTURE.replace("FAKE_PORT", &port),
    )
    .unwrap();
    cli.dir().join("connectors").display().to_string()
}

fn basic_client() -> String {
    let pair = format!("{CLIENT_ID}:{CLIENT_SECRET}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

fn tokens(access: &str, refresh: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "access_token": access, "token_type": "Bearer", "expires_in": 3600,
        "refresh_token": refresh, "instance_url": "https://eu.acme.example"
    }))
}

fn authorization(request: &Request) -> String {
    request
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn host(request: &Request) -> String {
    request
        .headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(':')
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn oauth_install_consent_call_refresh_and_revoke_through_the_binary() {
    let server = MockServer::start().await;
    let port = server.address().port();
    let token = "/oauth/eu/token";
    Mock::given(method("POST"))
        .and(path(token))
        .and(header("authorization", basic_client().as_str()))
        .and(body_string_contains("grant_type=authorization_code"))
        .and(body_string_contains("code=code-1"))
        .and(body_string_contains("code_verifier="))
        .respond_with(tokens("at-1", "rt-1"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(token))
        .and(header("authorization", basic_client().as_str()))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=rt-1"))
        .respond_with(tokens("at-2", "rt-2"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth/eu/revoke"))
        .and(header("authorization", basic_client().as_str()))
        .and(body_string_contains("token=rt-2"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    // page 1 links to page 2 on the API host; page 2 links to the identity
    // host's token endpoint, which must never see the bearer token
    Mock::given(method("GET"))
        .and(path("/v1/contacts"))
        .and(query_param("page", "2"))
        .and(header("authorization", "Bearer at-2"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"items": [{"id": 2}]}))
                .insert_header(
                    "link",
                    format!("<http://localhost:{port}{token}?page=3>; rel=\"next\"").as_str(),
                ),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/contacts"))
        .and(header("authorization", "Bearer at-2"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"items": [{"id": 1}]}))
                .insert_header(
                    "link",
                    format!("<http://127.0.0.1:{port}/v1/contacts?page=2>; rel=\"next\"").as_str(),
                ),
        )
        .expect(3) // the connection test, a first page, the --all crawl
        .mount(&server)
        .await;

    let cli = Cli::new();
    let dir = connectors_dir(&cli, &server);
    let validated = cli.run(&["validate", &format!("{dir}/acme")]).await;
    assert_eq!(validated.code(), 0, "{validated}");

    let secret_file = cli.secret_file(CLIENT_ID, CLIENT_SECRET);
    let started = cli
        .json(&[
            "--connectors-dir",
            &dir,
            "install",
            "acme",
            "--variant",
            "oauth",
            "--param",
            "region=eu",
            "--client-id",
            CLIENT_ID,
            "--client-secret-file",
            secret_file.to_str().unwrap(),
            "--redirect-uri",
            "http://localhost/callback",
        ])
        .await;
    assert_eq!(
        started["installation"]["status"], "pending_consent",
        "{started}"
    );
    let id = started["installation"]["id"].as_str().unwrap().to_string();
    let consent = Url::parse(started["consent_url"].as_str().unwrap()).unwrap();
    assert_eq!(consent.host_str(), Some("localhost"));
    assert_eq!(consent.path(), "/oauth/eu/authorize");
    let query: std::collections::HashMap<String, String> =
        consent.query_pairs().into_owned().collect();
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["client_id"], CLIENT_ID);
    assert_eq!(query["redirect_uri"], "http://localhost/callback");
    assert_eq!(query["scope"], "contacts.read offline_access");
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["code_challenge"].len(), 43);
    assert_eq!(query["prompt"], "consent");
    assert_eq!(query["access_type"], "offline");
    let state = &query["state"];
    assert!(server.received_requests().await.unwrap().is_empty());

    let callback = Url::parse_with_params(
        "http://localhost/callback",
        &[("code", "code-1"), ("state", state.as_str())],
    )
    .unwrap();
    let done = cli
        .json(&[
            "--connectors-dir",
            &dir,
            "complete",
            &id,
            "--callback",
            callback.as_str(),
        ])
        .await;
    assert_eq!(done["status"], "active", "{done}");

    let report = cli.json(&["--connectors-dir", &dir, "test", &id]).await;
    assert_eq!(report["ok"], true, "{report}");
    let first = cli
        .json(&[
            "--connectors-dir",
            &dir,
            "call",
            &id,
            "contacts.list_contacts",
        ])
        .await;
    assert_eq!(first, json!([{"id": 1}]), "{first}");
    let crawl = cli
        .run(&[
            "--connectors-dir",
            &dir,
            "call",
            &id,
            "contacts.list_contacts",
            "--all",
            "--output",
            "json",
        ])
        .await;
    assert_ne!(crawl.code(), 0, "{crawl}");
    assert!(
        crawl.stderr().to_lowercase().contains("localhost"),
        "the refused link is named: {crawl}"
    );

    let gone = cli
        .json(&["--connectors-dir", &dir, "uninstall", &id])
        .await;
    assert_eq!(gone["status"], "uninstalled", "{gone}");

    // Where each credential went: bearer tokens only to the API host, the
    // client's credentials only to the identity host.
    let received = server.received_requests().await.unwrap();
    for request in &received {
        let auth = authorization(request);
        if auth.starts_with("Bearer ") {
            assert_eq!(host(request), "127.0.0.1", "{request:?}");
        }
        if auth.starts_with("Basic ")
            || request
                .body
                .windows(CLIENT_SECRET.len())
                .any(|w| w == CLIENT_SECRET.as_bytes())
        {
            assert_eq!(host(request), "localhost", "{}", request.url);
        }
    }
    let to_identity_with_get = received
        .iter()
        .filter(|r| r.method.as_str() == "GET" && r.url.path().starts_with("/oauth"))
        .count();
    assert_eq!(
        to_identity_with_get, 0,
        "the link to the token endpoint was not followed"
    );
    let db = std::fs::read(cli.dir().join("store.db")).unwrap();
    for secret in [CLIENT_SECRET, "rt-1", "rt-2", "at-2"] {
        assert!(
            !db.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} in clear in the store"
        );
    }
}
