//! A connector served from several deployments, declared only as data
//! (`deployments`, `{identity_origin}`, `{api_origin}`), through the front
//! door: an installation's cloud chooses the deployment, an administrator
//! consents on that deployment's identity origin (`admin_consent_url`), its
//! token comes from there too (the tenant percent-encoded in the path), its
//! scopes carry that deployment's API origin, and its calls go to that API
//! origin alone. A wiremock server plays the identity
//! service (as `localhost`) and the API (as `127.0.0.1`) of the custom
//! deployment; the fixed ones cannot be reached offline, so their
//! endpoints are checked instead.

use serde_json::json;
use switchboard::{
    AppCredential, Arguments, InstallRequest, InstallableConnector, InstallationStatus,
    MemoryStore, Switchboard,
};
use switchboard_core::ErrorKind;
use switchboard_core::definition::ConnectorDefinition;
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECRET: &str = "client-SECRET-42";

fn acme() -> ConnectorDefinition {
    let def: ConnectorDefinition = serde_json::from_value(json!({
        "id": "acme", "name": "Acme CRM", "version": "1.0.0",
        "description": "A CRM run in two regions and on customers' own servers.",
        "base_url": "{api_origin}/v1",
        "install_parameters": [
            {"name": "tenant_id", "label": "Tenant", "required": true}
        ],
        "deployments": {"parameter": "cloud", "default": "us", "options": [
            {"id": "us", "identity_origin": "https://login.acme.example", "api_origin": "https://api.acme.example"},
            {"id": "eu", "aliases": ["europe"], "identity_origin": "https://login.acme.eu", "api_origin": "https://api.acme.eu"},
            {"id": "custom", "identity_origin_setting": "login_url", "api_origin_setting": "api_url"}
        ]},
        "auth_variants": [{"id": "app", "name": "Application", "kind": "oauth2",
            "scope_prefix": "{api_origin}/",
            "oauth2": {"grant": "client_credentials",
                       "token_url": "{identity_origin}/{tenant_id}/oauth2/token",
                       "admin_consent_url": "{identity_origin}/{tenant_id}/adminconsent"}}],
        "allowed_hosts": ["api.acme.example", "api.acme.eu"],
        "identity_hosts": ["login.acme.example", "login.acme.eu"],
        "categories": [{"id": "contacts", "name": "Contacts"}],
        "methods": [{"id": "contacts.list_contacts", "category": "contacts",
            "name": "List contacts", "description": "Contacts.", "http_method": "GET",
            "path": "/contacts", "records": "/items",
            "permissions": {"app": ["contacts.read"]}}]
    }))
    .unwrap();
    let problems = switchboard_core::definition::validate::validate(&def);
    assert!(problems.is_empty(), "{problems:?}");
    def
}

fn switchboard() -> Switchboard {
    Switchboard::builder()
        .store(MemoryStore::new())
        .connector(InstallableConnector::from_definition(acme()))
        .app(AppCredential::new("acme-app").with_client_secret(SECRET))
        .redirect_uri("https://platform.example/callback")
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_custom_deployment_gets_its_token_and_calls_from_its_own_origins() {
    let server = MockServer::start().await;
    let port = server.address().port();
    let api = format!("http://127.0.0.1:{port}");
    Mock::given(method("POST"))
        .and(path("/contoso%20ltd/oauth2/token"))
        .and(body_string_contains("grant_type=client_credentials"))
        .and(body_string_contains(format!("client_secret={SECRET}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "at-1", "expires_in": 3600, "token_type": "Bearer"
        })))
        // the consent's proof, then the call's token (its own scopes)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/contacts"))
        .and(header("authorization", "Bearer at-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [{"id": 1}]})))
        .expect(1)
        .mount(&server)
        .await;

    let sb = switchboard();
    let started = sb
        .install(
            InstallRequest::new("acct-1", "acme", "app")
                .setting("tenant_id", "contoso ltd")
                .setting("login_url", format!("http://localhost:{port}"))
                .setting("api_url", api.clone())
                .cloud("Custom"),
        )
        .await
        .unwrap();
    let inst = started.installation;
    assert_eq!(inst.status, InstallationStatus::PendingConsent);
    assert_eq!(inst.cloud, "custom", "stored under the deployment's id");
    let consent = started.consent_url.unwrap();
    assert_eq!(
        consent.as_str().split('?').next().unwrap(),
        format!("http://localhost:{port}/contoso%20ltd/adminconsent")
    );
    let query: std::collections::HashMap<String, String> =
        consent.query_pairs().into_owned().collect();
    assert_eq!(query["client_id"], "acme-app");
    assert_eq!(query["redirect_uri"], "https://platform.example/callback");
    // a forged state is refused and nothing is asked of the identity service
    let forged = sb
        .complete("https://platform.example/callback?admin_consent=True&state=forged")
        .await
        .unwrap_err();
    assert_eq!(forged.field(), Some("state"), "{forged}");
    assert!(server.received_requests().await.unwrap().is_empty());
    let callback = format!(
        "https://platform.example/callback?admin_consent=True&tenant=contoso&state={}",
        query["state"]
    );
    let active = sb.complete(&callback).await.unwrap();
    assert_eq!(active.status, InstallationStatus::Active);
    let client = sb.installation(inst.id).await.unwrap();
    let page = client
        .call("contacts.list_contacts", Arguments::new())
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 3);
    let scoped = format!("scope=http%3A%2F%2F127.0.0.1%3A{port}%2Fcontacts.read");
    assert!(
        received
            .iter()
            .any(|r| String::from_utf8_lossy(&r.body).contains(&scoped)),
        "the call's token asks for the permission on the deployment's API origin"
    );
}

#[tokio::test]
async fn a_fixed_deployment_is_chosen_by_name_or_alias_and_bad_choices_are_refused() {
    let sb = switchboard();
    let started = sb
        .install(
            InstallRequest::new("acct-1", "acme", "app")
                .setting("tenant_id", "contoso")
                .cloud(" Europe "),
        )
        .await
        .unwrap();
    assert_eq!(started.installation.cloud, "eu");
    let consent = started.consent_url.unwrap();
    assert!(
        consent
            .as_str()
            .starts_with("https://login.acme.eu/contoso/adminconsent?"),
        "{consent}"
    );
    let connector = InstallableConnector::from_definition(acme());
    let mut settings = serde_json::Map::new();
    settings.insert("cloud".into(), json!("eu"));
    let endpoints = connector.connector().endpoints(&settings).unwrap();
    assert_eq!(endpoints.base_url.as_str(), "https://api.acme.eu/v1");
    assert_eq!(endpoints.allowed_hosts, ["api.acme.eu"]);

    // the default when no cloud is named
    let started = sb
        .install(InstallRequest::new("acct-2", "acme", "app").setting("tenant_id", "contoso"))
        .await
        .unwrap();
    assert_eq!(started.installation.cloud, "us");

    /// A cloud, the extra settings given with it, and the field at fault.
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 4] = [
        ("mars", &[], "cloud"),
        ("custom", &[], "login_url"),
        ("us", &[("api_url", "https://api.evil.example")], "api_url"),
        (
            "custom",
            &[
                ("login_url", "http://sso.evil.example"),
                ("api_url", "https://api.corp.example"),
            ],
            "login_url",
        ),
    ];
    for (cloud, extra, field) in cases {
        let mut request = InstallRequest::new("acct-3", "acme", "app")
            .setting("tenant_id", "contoso")
            .cloud(cloud);
        for (name, value) in extra {
            request = request.setting(*name, *value);
        }
        let err = sb.install(request).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{cloud}: {err}");
        assert_eq!(err.field(), Some(field), "{cloud}: {err}");
    }
}
