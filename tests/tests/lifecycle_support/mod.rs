//! Shared set-up for the installation lifecycle tests: a wiremock server
//! standing in for Microsoft identity and Graph (a custom cloud on
//! loopback), the Microsoft 365 connector and its install flow, and
//! lifecycle services on memory, SQLite or PostgreSQL stores.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;
use switchboard_core::InstallationId;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use switchboard_core::{Engine, Registry, RetryPolicy};
use switchboard_installations::install::{InstallationStore, MemoryInstallationStore};
use switchboard_installations::lifecycle::apps::{AppCredential, AppCredentials};
use switchboard_installations::lifecycle::{InstallRequest, Installations};
use switchboard_installations::shared_token::SharedTokenPolicy;
use switchboard_microsoft365::install_flow::Microsoft365Flow;
use switchboard_store::postgres::{PostgresOptions, PostgresStore};
use switchboard_store::sqlite::SqliteStore;
use switchboard_store::{KeyRing, Store};
use url::Url;
use wiremock::matchers::{any, body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const TENANT: &str = "0d2f1a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b";
pub const CLIENT_ID: &str = "6731de76-14a6-49ae-97bc-6eba6914391e";
pub const CLIENT_SECRET: &str = "platform-secret-value~abc";
pub const REDIRECT: &str = "https://platform.example.test/oauth/callback";

/// A Graph-like JWT (unsigned: only the payload is read) for the tenant.
pub fn jwt(marker: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"RS256"}"#);
    let payload = URL_SAFE_NO_PAD.encode(
        json!({"aud": "https://graph.microsoft.com", "tid": TENANT, "marker": marker}).to_string(),
    );
    format!("{header}.{payload}.c2lnbmF0dXJl")
}

pub fn token_json(access: &str, refresh: Option<&str>) -> Value {
    let mut body = json!({
        "token_type": "Bearer",
        "expires_in": 3599,
        "access_token": access,
    });
    if let Some(rt) = refresh {
        body["refresh_token"] = json!(rt);
    }
    body
}

pub fn graph_error(code: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message,
        "innerError": {"request-id": "req-123", "date": "2026-01-01T00:00:00"}}})
}

pub fn aadsts(error: &str, code: u64) -> Value {
    json!({
        "error": error,
        "error_description": format!("AADSTS{code}: described by Microsoft"),
        "error_codes": [code],
        "trace_id": "trace-1",
        "correlation_id": "corr-1"
    })
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

pub fn token_path() -> String {
    format!("/{TENANT}/oauth2/v2.0/token")
}

/// The token endpoint answering one grant type whose form body contains
/// `contains`.
pub fn token_mock(grant: &str, contains: &str, body: Value, status: u16) -> Mock {
    Mock::given(method("POST"))
        .and(path(token_path()))
        .and(body_string_contains(format!("grant_type={grant}")))
        .and(body_string_contains(contains))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
}

/// Install a delegated installation and complete its consent with `code`
/// (the code exchange answers `refresh`). Returns the installation id.
pub async fn active_delegated(
    svc: &Installations,
    server: &MockServer,
    account: &str,
    code: &str,
    refresh: &str,
) -> InstallationId {
    token_mock(
        "authorization_code",
        &format!("code={code}"),
        token_json(&jwt(&format!("from-{code}")), Some(refresh)),
        200,
    )
    .named(format!("code exchange {code}"))
    .expect(1)
    .mount(server)
    .await;
    let started = svc
        .install(request(server, account, "delegated").enable(["users"]))
        .await
        .unwrap();
    let state = query_param(started.consent_link().unwrap(), "state").unwrap();
    let id = started.installation.id;
    svc.complete(id, &format!("{REDIRECT}?code={code}&state={state}"))
        .await
        .unwrap();
    id
}

pub fn apps(secret: &str) -> AppCredentials {
    AppCredentials::new().with(
        "default",
        AppCredential::new(CLIENT_ID).with_client_secret(secret),
    )
}

pub fn engine() -> Engine {
    let mut registry = Registry::new();
    switchboard_microsoft365::register(&mut registry).unwrap();
    Engine::builder(registry)
        .retry_policy(RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        })
        .build()
        .unwrap()
}

/// A lifecycle service ("node") on `store`.
pub fn service(store: Arc<dyn InstallationStore>, node: &str, secret: &str) -> Installations {
    Installations::builder(engine(), store)
        .flow(Arc::new(Microsoft365Flow::new()))
        .app_credentials(apps(secret))
        .redirect_uri(REDIRECT)
        .node(node)
        .shared_token_policy(
            SharedTokenPolicy::default().with_poll_interval(Duration::from_millis(10)),
        )
        .build()
        .unwrap()
}

/// An install request for the mock server's custom cloud.
pub fn request(server: &MockServer, account: &str, variant: &str) -> InstallRequest {
    InstallRequest::new(account, "microsoft365", variant)
        .cloud("custom")
        .setting("login_url", server.uri())
        .setting("graph_url", server.uri())
        .setting("tenant_id", TENANT)
}

pub fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Which store a test runs on.
pub struct Stores {
    pub kind: &'static str,
    pub a: Arc<dyn InstallationStore>,
    pub b: Arc<dyn InstallationStore>,
    pub sqlite_path: Option<std::path::PathBuf>,
    pub _dir: Option<tempfile::TempDir>,
}

pub fn memory() -> Stores {
    let store: Arc<dyn InstallationStore> = Arc::new(MemoryInstallationStore::new());
    Stores {
        kind: "memory",
        a: store.clone(),
        b: store,
        sqlite_path: None,
        _dir: None,
    }
}

/// Two store instances ("nodes") on one fresh SQLite file.
pub async fn sqlite() -> Stores {
    let keys = KeyRing::generate_entry("k1").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("installations.db");
    let open = || async {
        Arc::new(Store::Sqlite(
            SqliteStore::open(&file, KeyRing::parse(&keys).unwrap())
                .await
                .unwrap(),
        )) as Arc<dyn InstallationStore>
    };
    Stores {
        kind: "sqlite",
        a: open().await,
        b: open().await,
        sqlite_path: Some(file.clone()),
        _dir: Some(dir),
    }
}

/// Two store instances on one fresh PostgreSQL schema. Needs
/// `SWITCHBOARD_TEST_DATABASE_URL`: the tests that call this are named
/// `postgres_*`, and `scripts/test.sh` runs them as the PostgreSQL stage
/// or reports that stage skipped; run without the URL they fail, saying so.
pub async fn postgres() -> Stores {
    let url = match std::env::var("SWITCHBOARD_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "SWITCHBOARD_TEST_DATABASE_URL is not set: this test needs PostgreSQL \
             (eval \"$(bash scripts/postgres-ci.sh)\" starts a throwaway server and sets it); \
             scripts/test.sh leaves the postgres_ tests out without it and reports them skipped"
        ),
    };
    let keys = KeyRing::generate_entry("k1").unwrap();
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let open = || async {
        Arc::new(Store::Postgres(
            PostgresStore::connect_with(
                &url,
                KeyRing::parse(&keys).unwrap(),
                PostgresOptions::default().with_schema(&schema),
            )
            .await
            .unwrap(),
        )) as Arc<dyn InstallationStore>
    };
    Stores {
        kind: "postgres",
        a: open().await,
        b: open().await,
        sqlite_path: None,
        _dir: None,
    }
}
