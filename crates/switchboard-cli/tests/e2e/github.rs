//! The shipped GitHub connector through the binary, in both variants,
//! against local fakes of GitHub's OAuth endpoints and REST API, reached
//! through the `local_identity_origin` / `local_api_origin` settings.
//!
//! GitHub's behaviour the fakes copy (docs.github.com, "Authorizing OAuth
//! apps"): the token endpoint `POST /login/oauth/access_token` answers JSON
//! when sent `Accept: application/json`; an app without expiring user
//! tokens gets `access_token`, `scope` and `token_type` only (no refresh
//! token, no `expires_in`); a revoked or bad token gets `401` with
//! `{"message": "Bad credentials"}` ("Troubleshooting the REST API"). List
//! endpoints page with `Link: <...>; rel="next"` ("Using pagination in the
//! REST API").

use serde_json::json;
use url::Url;
use wiremock::matchers::{body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::harness::{Cli, catch_all};

const CLIENT_ID: &str = "Iv1.fakeclient";
const CLIENT_SECRET: &str = "gh-client-SECRET-7";

fn authorization(request: &Request) -> Option<String> {
    request
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Two pages of issues of octo/hello, the second reached by the first
/// page's `Link` (GitHub's own next links use `/repositories/{id}/...`).
async fn issue_pages(api: &MockServer, bearer: &str) {
    let next = format!(
        "<http://127.0.0.1:{}/repositories/42/issues?page=2>; rel=\"next\"",
        api.address().port()
    );
    Mock::given(method("GET"))
        .and(path("/repos/octo/hello/issues"))
        .and(header("authorization", format!("Bearer {bearer}").as_str()))
        .and(header("accept", "application/vnd.github+json"))
        .and(header("x-github-api-version", "2022-11-28"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([{"number": 1, "title": "one"}]))
                .insert_header("link", next.as_str()),
        )
        .expect(1)
        .mount(api)
        .await;
    Mock::given(method("GET"))
        .and(path("/repositories/42/issues"))
        .and(query_param("page", "2"))
        .and(header("authorization", format!("Bearer {bearer}").as_str()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([{"number": 2, "title": "two"}])),
        )
        .expect(1)
        .mount(api)
        .await;
}

async fn user_repos(api: &MockServer, bearer: &str, times: u64) {
    Mock::given(method("GET"))
        .and(path("/user/repos"))
        .and(header("authorization", format!("Bearer {bearer}").as_str()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([{"full_name": "octo/hello"}])),
        )
        .expect(times)
        .mount(api)
        .await;
}

fn api_origin(api: &MockServer) -> String {
    format!("local_api_origin=http://127.0.0.1:{}", api.address().port())
}

async fn list_issues(cli: &Cli, id: &str) -> serde_json::Value {
    cli.json(&[
        "call",
        id,
        "issues.list_issues",
        "--param",
        "owner=octo",
        "--param",
        "repo=hello",
        "--all",
    ])
    .await
}

#[tokio::test]
async fn personal_access_token_installs_tests_and_pages_issues_through_the_binary() {
    const PAT: &str = "github_pat_FAKE_0123456789";
    let api = MockServer::start().await;
    catch_all(&api).await;
    user_repos(&api, PAT, 1).await;
    issue_pages(&api, PAT).await;

    let cli = Cli::new().env("GH_TOKEN", PAT);
    // A non-loopback override is refused, naming the setting; nothing is sent.
    let refused = cli
        .run(&[
            "install",
            "github",
            "--variant",
            "personal_access_token",
            "--secret-env",
            "token=GH_TOKEN",
            "--param",
            "local_api_origin=https://api.evil.example",
        ])
        .await;
    assert_eq!(refused.code(), 1, "{refused}");
    assert!(refused.stderr().contains("local_api_origin"), "{refused}");
    assert!(refused.stderr().contains("loopback origin"), "{refused}");

    let started = cli
        .json(&[
            "install",
            "github",
            "--variant",
            "personal_access_token",
            "--secret-env",
            "token=GH_TOKEN",
            "--param",
            &api_origin(&api),
        ])
        .await;
    assert_eq!(started["installation"]["status"], "active", "{started}");
    assert!(started["consent_url"].is_null(), "{started}");
    assert!(!started.to_string().contains(PAT));
    let id = started["installation"]["id"].as_str().unwrap().to_string();

    let report = cli.json(&["test", &id]).await;
    assert_eq!(report["ok"], true, "{report}");
    let issues = list_issues(&cli, &id).await;
    assert_eq!(
        issues,
        json!([{"number": 1, "title": "one"}, {"number": 2, "title": "two"}]),
        "{issues}"
    );
    api.verify().await;
    assert_eq!(api.received_requests().await.unwrap().len(), 3);
    let db = std::fs::read(cli.dir().join("store.db")).unwrap();
    assert!(!db.windows(PAT.len()).any(|w| w == PAT.as_bytes()));
}

#[tokio::test]
async fn oauth_app_without_expiring_tokens_consents_calls_and_needs_reauth_on_401() {
    const TOKEN: &str = "gho_FAKE_nonexpiring";
    let identity = MockServer::start().await;
    let api = MockServer::start().await;
    catch_all(&identity).await;
    catch_all(&api).await;
    Mock::given(method("POST"))
        .and(path("/login/oauth/access_token"))
        .and(header("accept", "application/json"))
        .and(body_string_contains("grant_type=authorization_code"))
        .and(body_string_contains("code=code-1"))
        .and(body_string_contains(
            format!("client_secret={CLIENT_SECRET}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": TOKEN, "scope": "repo", "token_type": "bearer"
        })))
        .expect(1)
        .mount(&identity)
        .await;
    user_repos(&api, TOKEN, 1).await;
    issue_pages(&api, TOKEN).await;
    Mock::given(method("GET"))
        .and(path("/repos/octo/hello/issues/7"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "message": "Bad credentials",
            "documentation_url": "https://docs.github.com/rest",
            "status": "401"
        })))
        .expect(1)
        .mount(&api)
        .await;

    let cli = Cli::new();
    let secret_file = cli.secret_file(CLIENT_ID, CLIENT_SECRET);
    let identity_origin = format!(
        "local_identity_origin=http://localhost:{}",
        identity.address().port()
    );
    let started = cli
        .json(&[
            "install",
            "github",
            "--variant",
            "oauth_app",
            "--client-id",
            CLIENT_ID,
            "--client-secret-file",
            secret_file.to_str().unwrap(),
            "--redirect-uri",
            "http://localhost/callback",
            "--param",
            &api_origin(&api),
            "--param",
            &identity_origin,
        ])
        .await;
    assert_eq!(
        started["installation"]["status"], "pending_consent",
        "{started}"
    );
    let id = started["installation"]["id"].as_str().unwrap().to_string();
    let consent = Url::parse(started["consent_url"].as_str().unwrap()).unwrap();
    assert_eq!(consent.host_str(), Some("localhost"));
    assert_eq!(consent.port(), Some(identity.address().port()));
    assert_eq!(consent.path(), "/login/oauth/authorize");
    let query: std::collections::HashMap<String, String> =
        consent.query_pairs().into_owned().collect();
    assert_eq!(query["client_id"], CLIENT_ID);
    assert_eq!(query["scope"], "repo");
    assert_eq!(query["redirect_uri"], "http://localhost/callback");
    assert_eq!(query["code_challenge_method"], "S256");
    assert!(identity.received_requests().await.unwrap().is_empty());

    let callback = Url::parse_with_params(
        "http://localhost/callback",
        &[("code", "code-1"), ("state", query["state"].as_str())],
    )
    .unwrap();
    let done = cli
        .json(&["complete", &id, "--callback", callback.as_str()])
        .await;
    assert_eq!(done["status"], "active", "{done}");

    let report = cli.json(&["test", &id]).await;
    assert_eq!(report["ok"], true, "{report}");
    let issues = list_issues(&cli, &id).await;
    assert_eq!(
        issues,
        json!([{"number": 1, "title": "one"}, {"number": 2, "title": "two"}]),
        "{issues}"
    );

    // GitHub refuses the token: no refresh is tried (the identity fake
    // sees no second request), the installation needs a person.
    let refused = cli
        .run(&[
            "call",
            &id,
            "issues.get_issue",
            "--param",
            "owner=octo",
            "--param",
            "repo=hello",
            "--param",
            "issue_number=7",
        ])
        .await;
    assert_ne!(refused.code(), 0, "{refused}");
    assert!(!refused.stderr().contains(TOKEN), "{refused}");
    let listed = cli.json(&["installations"]).await;
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(row["status"], "needs_reauth", "{row}");

    identity.verify().await;
    api.verify().await;
    // The token went only to the API; the client secret only to identity.
    let to_identity = identity.received_requests().await.unwrap();
    assert_eq!(to_identity.len(), 1);
    assert!(authorization(&to_identity[0]).is_none());
    let to_api = api.received_requests().await.unwrap();
    assert_eq!(to_api.len(), 4);
    for request in &to_api {
        assert_eq!(
            authorization(request).as_deref(),
            Some(format!("Bearer {TOKEN}").as_str()),
            "{}",
            request.url
        );
        assert!(
            !request
                .body
                .windows(CLIENT_SECRET.len())
                .any(|w| w == CLIENT_SECRET.as_bytes())
        );
    }
    let db = std::fs::read(cli.dir().join("store.db")).unwrap();
    for secret in [TOKEN, CLIENT_SECRET] {
        assert!(
            !db.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} in clear in the store"
        );
    }
}
