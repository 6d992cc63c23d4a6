//! A connector written only as JSON, loaded with `--connectors-dir`,
//! installed with its API key from the environment, a file or standard
//! input (never the command line), tested and called through the binary
//! against a wiremock server that checks where the key arrives.

use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::harness::Cli;

const KEY: &str = "acme-cli-KEY-42";

/// Writes the acme connector (base URL = the mock) and returns its dir.
fn connectors_dir(cli: &Cli, server: &MockServer) -> String {
    let dir = cli.dir().join("connectors").join("acme");
    std::fs::create_dir_all(&dir).unwrap();
    let def = json!({
        "id": "acme", "name": "Acme CRM", "version": "1.0.0",
        "description": "A CRM described only as data.",
        "base_url": format!("{}/v1", server.uri()),
        "install_parameters": [
            {"name": "region", "label": "Region"},
            {"name": "api_key", "label": "API key", "required": true, "secret": true}
        ],
        "auth_variants": [{"id": "key", "name": "API key", "kind": "api_key",
            "api_key": {"parameter": "api_key", "in": "header", "name": "X-Api-Key"},
            "test_method": "contacts.list_contacts"}],
        "allowed_hosts": ["127.0.0.1"],
        "categories": [{"id": "contacts", "name": "Contacts"}],
        "methods": [{"id": "contacts.list_contacts", "category": "contacts",
            "name": "List contacts", "description": "Contacts.", "http_method": "GET",
            "path": "/contacts", "records": "/items"}]
    });
    std::fs::write(dir.join("connector.json"), def.to_string()).unwrap();
    cli.dir().join("connectors").display().to_string()
}

#[tokio::test]
async fn install_test_and_call_with_the_key_from_the_environment() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/contacts"))
        .and(header("x-api-key", KEY))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [{"id": 7}]})))
        .expect(2) // the connection test, then the call
        .mount(&server)
        .await;
    let cli = Cli::new().env("ACME_KEY", KEY);
    let dir = connectors_dir(&cli, &server);
    let started = cli
        .json(&[
            "--connectors-dir",
            &dir,
            "install",
            "acme",
            "--variant",
            "key",
            "--param",
            "region=eu",
            "--secret-env",
            "api_key=ACME_KEY",
        ])
        .await;
    assert_eq!(started["installation"]["status"], "active", "{started}");
    assert!(started["consent_url"].is_null(), "{started}");
    assert!(!started.to_string().contains(KEY));
    let id = started["installation"]["id"].as_str().unwrap().to_string();

    let report = cli.json(&["--connectors-dir", &dir, "test", &id]).await;
    assert_eq!(report["ok"], true, "{report}");
    let contacts = cli
        .json(&[
            "--connectors-dir",
            &dir,
            "call",
            &id,
            "contacts.list_contacts",
        ])
        .await;
    assert_eq!(contacts, json!({"items": [{"id": 7}]}));
    let shown = cli.ok(&["installations"]).await;
    assert!(shown.stdout().contains(&id), "{shown}");
    assert!(!shown.stdout().contains(KEY) && !shown.stderr().contains(KEY));
    // encrypted at rest: the SQLite file never holds the key in clear
    let db = std::fs::read(cli.dir().join("store.db")).unwrap();
    assert!(!db.windows(KEY.len()).any(|w| w == KEY.as_bytes()));
}

#[tokio::test]
async fn a_secret_on_the_command_line_is_refused_and_a_file_works() {
    let server = MockServer::start().await;
    let cli = Cli::new();
    let dir = connectors_dir(&cli, &server);
    let run = cli
        .run(&[
            "--connectors-dir",
            &dir,
            "install",
            "acme",
            "--variant",
            "key",
            "--param",
            &format!("api_key={KEY}"),
        ])
        .await;
    assert_ne!(run.code(), 0);
    assert!(
        run.stderr().contains("--secret-env api_key=VARIABLE"),
        "{run}"
    );
    assert!(!run.stderr().contains(KEY), "{run}");
    assert!(received_none(&server).await);

    let file = cli.dir().join("acme.key");
    std::fs::write(&file, format!("{KEY}\n")).unwrap();
    let started = cli
        .json(&[
            "--connectors-dir",
            &dir,
            "install",
            "acme",
            "--variant",
            "key",
            "--secret-file",
            &format!("api_key={}", file.display()),
        ])
        .await;
    assert_eq!(started["installation"]["status"], "active", "{started}");
}

async fn received_none(server: &MockServer) -> bool {
    server.received_requests().await.unwrap().is_empty()
}
