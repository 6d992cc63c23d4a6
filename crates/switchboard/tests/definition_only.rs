//! Connectors described only by data, installed through the front door
//! with their credential as a secret install parameter, and called against
//! a wiremock server: what the server received (where the key went, how
//! many requests), what the caller got, and where the secret never shows.

use serde_json::{Value, json};
use switchboard::{
    Arguments, ErrorKind, InstallRequest, InstallableConnector, InstallationStatus, MemoryStore,
    Switchboard,
};
use switchboard_core::definition::ConnectorDefinition;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const KEY: &str = "k3y-SECRET-value";

/// An "acme" CRM at `server`, with every static kind as a variant.
fn acme(server: &MockServer) -> ConnectorDefinition {
    let base = server.uri();
    serde_json::from_value(json!({
        "id": "acme",
        "name": "Acme CRM",
        "version": "1.0.0",
        "description": "A third-party CRM described only as data.",
        "base_url": format!("{base}/v2"),
        "install_parameters": [
            {"name": "api_key", "label": "API key", "secret": true},
            {"name": "user", "label": "User"},
            {"name": "password", "label": "Password", "secret": true}
        ],
        "auth_variants": [
            {"id": "header_key", "name": "Key header", "kind": "api_key",
             "api_key": {"parameter": "api_key", "in": "header", "name": "X-Api-Key"},
             "test_method": "contacts.list_contacts"},
            {"id": "prefixed_key", "name": "Token header", "kind": "api_key",
             "api_key": {"parameter": "api_key", "in": "header", "name": "Authorization", "prefix": "Token "}},
            {"id": "query_key", "name": "Key in the query", "kind": "api_key",
             "api_key": {"parameter": "api_key", "in": "query", "name": "key"}},
            {"id": "token", "name": "Bearer token", "kind": "bearer_token",
             "bearer_token": {"parameter": "api_key"}},
            {"id": "basic", "name": "User and password", "kind": "basic",
             "basic": {"username_parameter": "user", "password_parameter": "password"}},
            {"id": "oauth", "name": "OAuth", "kind": "oauth2_authorization_code"}
        ],
        "allowed_hosts": ["127.0.0.1"],
        "default_headers": {"Accept": "application/json"},
        "categories": [{"id": "contacts", "name": "Contacts"}],
        "methods": [
            {"id": "contacts.list_contacts", "category": "contacts", "name": "List contacts",
             "description": "Contacts, following the Link header.", "http_method": "GET",
             "path": "/contacts",
             "parameters": [{"name": "status", "in": "query", "type": "string"}],
             "pagination": "link_header", "records": "/items",
             "permissions": {"oauth": ["contacts.read"]},
             "variants": ["header_key", "prefixed_key", "query_key", "token", "basic", "oauth"]},
            {"id": "contacts.export", "category": "contacts", "name": "Export",
             "description": "Redirects to a file elsewhere.", "http_method": "GET",
             "path": "/export", "response": "bytes", "follow_cross_origin_redirects": true,
             "variants": ["header_key", "query_key"]}
        ]
    }))
    .unwrap()
}

fn switchboard(def: ConnectorDefinition) -> Switchboard {
    Switchboard::builder()
        .store(MemoryStore::new())
        .connector(InstallableConnector::from_definition(def))
        .build()
        .unwrap()
}

fn install(variant: &str) -> InstallRequest {
    InstallRequest::new("acct-1", "acme", variant)
        .setting("api_key", KEY)
        .setting("user", "ada")
        .setting("password", "s3cret-pw")
}

fn contacts() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"items": [{"id": 1}, {"id": 2}]}))
}

async fn received(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap()
}

/// Installs `variant`, lists contacts once, and returns what the server saw.
async fn one_call(variant: &str) -> Request {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/contacts"))
        .respond_with(contacts())
        .expect(1)
        .mount(&server)
        .await;
    let sb = switchboard(acme(&server));
    let started = sb.install(install(variant)).await.unwrap();
    assert_eq!(started.installation.status, InstallationStatus::Active);
    assert!(started.consent_url.is_none());
    let client = sb.installation(started.installation.id).await.unwrap();
    let response = client
        .call(
            "contacts.list_contacts",
            Arguments::new().set("status", "open"),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut requests = received(&server).await;
    assert_eq!(requests.len(), 1);
    requests.remove(0)
}

fn header_of<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers.get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn an_api_key_goes_in_the_named_header_only() {
    let request = one_call("header_key").await;
    assert_eq!(header_of(&request, "x-api-key"), Some(KEY));
    assert_eq!(header_of(&request, "authorization"), None);
    assert_eq!(request.url.query(), Some("status=open"));
}

#[tokio::test]
async fn an_api_key_with_a_prefix_goes_in_authorization() {
    let request = one_call("prefixed_key").await;
    assert_eq!(
        header_of(&request, "authorization"),
        Some(format!("Token {KEY}").as_str())
    );
    assert_eq!(header_of(&request, "x-api-key"), None);
}

#[tokio::test]
async fn an_api_key_in_the_query_is_added_once_and_no_header_is_sent() {
    let request = one_call("query_key").await;
    let pairs: Vec<(String, String)> = request
        .url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert_eq!(
        pairs,
        [("status".into(), "open".into()), ("key".into(), KEY.into())]
    );
    assert_eq!(header_of(&request, "authorization"), None);
}

#[tokio::test]
async fn a_bearer_token_is_sent_as_bearer() {
    let request = one_call("token").await;
    assert_eq!(
        header_of(&request, "authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
}

#[tokio::test]
async fn basic_sends_user_and_password() {
    let request = one_call("basic").await;
    // base64("ada:s3cret-pw")
    assert_eq!(
        header_of(&request, "authorization"),
        Some("Basic YWRhOnMzY3JldC1wdw==")
    );
}

#[tokio::test]
async fn basic_without_a_password_sends_the_key_as_user() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/contacts"))
        .and(header("authorization", "Basic a2V5LW9ubHk6")) // base64("key-only:")
        .respond_with(contacts())
        .expect(1)
        .mount(&server)
        .await;
    let mut def = acme(&server);
    def.auth_variants[4].basic =
        serde_json::from_value(json!({"username_parameter": "api_key"})).unwrap();
    let sb = switchboard(def);
    let started = sb
        .install(InstallRequest::new("acct-1", "acme", "basic").setting("api_key", "key-only"))
        .await
        .unwrap();
    let client = sb.installation(started.installation.id).await.unwrap();
    client
        .call("contacts.list_contacts", Arguments::new())
        .await
        .unwrap();
}

#[tokio::test]
async fn the_secret_is_kept_out_of_settings_debug_and_errors() {
    let server = MockServer::start().await;
    let sb = switchboard(acme(&server));
    let started = sb.install(install("header_key")).await.unwrap();
    let inst = &started.installation;
    assert!(!inst.settings.contains_key("api_key"));
    assert!(!inst.settings.contains_key("password"));
    assert_eq!(
        inst.settings.get("user"),
        Some(&Value::String("ada".into()))
    );
    for text in [
        format!("{started:?}"),
        format!("{inst:?}"),
        format!("{:?}", sb.installations().store()),
    ] {
        assert!(!text.contains(KEY) && !text.contains("s3cret-pw"), "{text}");
    }
    let stored = sb
        .installations()
        .store()
        .get(inst.id)
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.settings.contains_key("api_key"));
    // a hostile secret is refused naming the field, not showing the value
    let err = sb
        .install(
            InstallRequest::new("acct-2", "acme", "header_key")
                .setting("api_key", "evil\r\nX-Admin: 1"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(err.field(), Some("api_key"));
    assert!(!err.to_string().contains("X-Admin"), "{err}");
    let err = sb
        .install(
            InstallRequest::new("acct-3", "acme", "header_key")
                .setting("api_key", "x".repeat(20_000)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("api_key"));
    assert!(!err.to_string().contains("xxxx"), "{err}");
    assert!(received(&server).await.is_empty());
}

#[tokio::test]
async fn a_refused_key_is_unauthorized_after_one_request() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": "bad key"})))
        .mount(&server)
        .await;
    let sb = switchboard(acme(&server));
    let started = sb.install(install("header_key")).await.unwrap();
    let client = sb.installation(started.installation.id).await.unwrap();
    let err = client
        .call("contacts.list_contacts", Arguments::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(!err.to_string().contains(KEY));
    // the static key cannot be refreshed: one request, no retry with the same key
    assert_eq!(received(&server).await.len(), 1);
}

#[tokio::test]
async fn test_connection_calls_the_declared_test_method() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/contacts"))
        .and(header("x-api-key", KEY))
        .respond_with(contacts())
        .expect(1)
        .mount(&server)
        .await;
    let sb = switchboard(acme(&server));
    let started = sb.install(install("header_key")).await.unwrap();
    let client = sb.installation(started.installation.id).await.unwrap();
    let report = client.test().await.unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.method_id.as_deref(), Some("contacts.list_contacts"));
}

#[tokio::test]
async fn a_next_link_to_another_host_gets_no_key() {
    let server = MockServer::start().await;
    let foreign = MockServer::start().await;
    // `localhost` is another origin than 127.0.0.1 for the allow-list
    let next = format!(
        "{}/v2/contacts?page=2",
        foreign.uri().replace("127.0.0.1", "localhost")
    );
    Mock::given(method("GET"))
        .and(path("/v2/contacts"))
        .respond_with(contacts().insert_header("link", format!("<{next}>; rel=\"next\"").as_str()))
        .expect(2) // the first page, once per variant
        .mount(&server)
        .await;
    let sb = switchboard(acme(&server));
    for variant in ["header_key", "query_key"] {
        let started = sb
            .install(install(variant).setting("user", format!("u-{variant}")))
            .await
            .unwrap();
        let client = sb.installation(started.installation.id).await.unwrap();
        let page = client.pages("contacts.list_contacts", Arguments::new());
        use futures::TryStreamExt;
        let pages: Result<Vec<_>, _> = page.try_collect().await;
        let err = pages.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UntrustedLink, "{err}");
        assert!(!err.to_string().contains(KEY));
    }
    assert_eq!(received(&foreign).await.len(), 0);
    assert_eq!(received(&server).await.len(), 2);
}

#[tokio::test]
async fn a_redirect_to_another_origin_drops_the_key_header_and_query() {
    let server = MockServer::start().await;
    let files = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/file"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"file-bytes".to_vec()))
        .mount(&files)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/export"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/file?sig=abc", files.uri()).as_str()),
        )
        .mount(&server)
        .await;
    let sb = switchboard(acme(&server));
    for variant in ["header_key", "query_key"] {
        let started = sb
            .install(install(variant).setting("user", format!("u-{variant}")))
            .await
            .unwrap();
        let client = sb.installation(started.installation.id).await.unwrap();
        let response = client
            .call("contacts.export", Arguments::new())
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let at_api = received(&server).await;
    assert_eq!(at_api.len(), 2);
    assert_eq!(header_of(&at_api[0], "x-api-key"), Some(KEY));
    assert!(at_api[1].url.query().unwrap().contains("key="));
    let at_files = received(&files).await;
    assert_eq!(at_files.len(), 2);
    for request in at_files {
        assert_eq!(header_of(&request, "x-api-key"), None);
        assert_eq!(header_of(&request, "authorization"), None);
        assert_eq!(request.url.query(), Some("sig=abc"));
    }
}

#[tokio::test]
async fn an_oauth_variant_is_not_installed_by_the_generic_flow() {
    let server = MockServer::start().await;
    let sb = switchboard(acme(&server));
    let err = sb
        .install(InstallRequest::new("acct-1", "acme", "oauth"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("uses OAuth"), "{err}");
}

#[tokio::test]
async fn reauthenticating_a_key_install_says_to_install_again() {
    let server = MockServer::start().await;
    let sb = switchboard(acme(&server));
    let started = sb.install(install("header_key")).await.unwrap();
    let err = sb
        .installations()
        .reauthenticate(started.installation.id)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(err.to_string().contains("install again"), "{err}");
    // still active, key still works
    let inst = sb
        .installations()
        .get(started.installation.id)
        .await
        .unwrap();
    assert_eq!(inst.status, InstallationStatus::Active);
}

#[tokio::test]
async fn github_installs_with_a_personal_access_token_and_calls() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/user/repos"))
        .and(query_param("per_page", "1"))
        .and(header("authorization", "Bearer ghp_test_token"))
        .and(header("x-github-api-version", "2022-11-28"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([{"full_name": "octo/hello"}])),
        )
        .expect(1)
        .mount(&server)
        .await;
    // the shipped definition, pointed at the mock
    let def = {
        use switchboard_core::Connector;
        let mut def = switchboard_github::GitHub::new()
            .unwrap()
            .definition()
            .clone();
        def.base_url = server.uri();
        def.allowed_hosts = vec!["127.0.0.1".into()];
        def
    };
    let sb = switchboard(def);
    let started = sb
        .install(
            InstallRequest::new("acct-1", "github", "personal_access_token")
                .setting("token", "ghp_test_token"),
        )
        .await
        .unwrap();
    assert_eq!(started.installation.status, InstallationStatus::Active);
    assert!(!format!("{started:?}").contains("ghp_test_token"));
    let client = sb.installation(started.installation.id).await.unwrap();
    let repos = client
        .call(
            "repos.list_repositories",
            Arguments::new().set("per_page", 1),
        )
        .await
        .unwrap();
    assert_eq!(repos.json().unwrap()[0]["full_name"], "octo/hello");
}
