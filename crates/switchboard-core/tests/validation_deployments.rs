//! Per-deployment origins declared as data (`deployments`, `{api_origin}`,
//! `{identity_origin}`): each validation rule with the exact pointer and
//! words an author sees, and the endpoints an installation gets.

use serde_json::{Value, json};
use switchboard_core::connector::{Connector, DefinitionConnector};
use switchboard_core::definition::ConnectorDefinition;
use switchboard_core::definition::validate::validate;

/// A valid connector served from two regions and a self-hosted server.
fn connector() -> Value {
    json!({
        "id": "acme",
        "name": "Acme CRM",
        "version": "1.0.0",
        "description": "A third-party CRM in two regions.",
        "base_url": "{api_origin}/v2",
        "install_parameters": [
            {"name": "region", "label": "Region"},
            {"name": "tenant_id", "label": "Tenant", "required": true}
        ],
        "deployments": {
            "parameter": "region",
            "default": "us",
            "options": [
                {"id": "us", "identity_origin": "https://login.acme.example", "api_origin": "https://api.acme.example"},
                {"id": "eu", "aliases": ["europe"], "identity_origin": "https://login.acme.eu", "api_origin": "https://api.acme.eu"},
                {"id": "self_hosted", "identity_origin_setting": "login_origin", "api_origin_setting": "server_origin"}
            ]
        },
        "auth_variants": [
            {"id": "oauth", "name": "Sign in", "kind": "oauth2", "scope_prefix": "{api_origin}/",
             "oauth2": {"grant": "client_credentials",
                        "token_url": "{identity_origin}/{tenant_id}/token",
                        "admin_consent_url": "{identity_origin}/{tenant_id}/adminconsent"}}
        ],
        "allowed_hosts": ["api.acme.example", "api.acme.eu"],
        "identity_hosts": ["login.acme.example", "login.acme.eu"],
        "categories": [{"id": "contacts", "name": "Contacts"}],
        "methods": [{
            "id": "contacts.list_contacts", "category": "contacts", "name": "List contacts",
            "description": "Contacts.", "http_method": "GET", "path": "/contacts",
            "permissions": {"oauth": ["contacts.read"]}
        }]
    })
}

/// The problems of `def` as `pointer: message` lines.
fn problems(def: Value) -> Vec<String> {
    let def: ConnectorDefinition = serde_json::from_value(def).unwrap();
    validate(&def)
        .into_iter()
        .map(|p| format!("{}: {}", p.pointer, p.message))
        .collect()
}

fn settings(value: Value) -> serde_json::Map<String, Value> {
    value.as_object().unwrap().clone()
}

#[test]
fn the_valid_connector_has_no_problems() {
    assert_eq!(problems(connector()), Vec::<String>::new());
}

#[test]
fn origin_placeholders_need_deployments_and_stand_only_at_the_start() {
    let mut def = connector();
    def.as_object_mut().unwrap().remove("deployments");
    assert_eq!(
        problems(def),
        [
            "/base_url: {api_origin} names the chosen deployment's origin, but the connector declares no `deployments`: declare them or write the origin",
            "/auth_variants/0/scope_prefix: {api_origin} names the chosen deployment's origin, but the connector declares no `deployments`: declare them or write the origin",
            "/auth_variants/0/oauth2/token_url: {identity_origin} names the chosen deployment's origin, but the connector declares no `deployments`: declare them or write the origin",
            "/auth_variants/0/oauth2/admin_consent_url: {identity_origin} names the chosen deployment's origin, but the connector declares no `deployments`: declare them or write the origin",
        ]
    );
    let mut def = connector();
    def["base_url"] = json!("https://proxy.acme.example/{api_origin}/v2");
    def["auth_variants"][0]["oauth2"]["token_url"] = json!("{api_origin}/token");
    assert_eq!(
        problems(def),
        [
            "/base_url: {api_origin} may only start the template (such as \"{api_origin}/v1.0\"): an origin is scheme, host and port",
            "/auth_variants/0/oauth2/token_url: {api_origin} cannot be used here: this template may start with {identity_origin} (the identity origin is for oauth2 endpoints, the API origin for base_url and scope_prefix)",
        ]
    );
}

#[test]
fn deployments_name_a_default_unique_names_and_real_origins() {
    let mut def = connector();
    def["deployments"]["default"] = json!("asia");
    def["deployments"]["options"][1]["aliases"] = json!(["us"]);
    def["deployments"]["options"][0]["api_origin"] = json!("https://api.acme.example/v2");
    def["deployments"]["options"][1]["identity_origin"] = json!("http://login.acme.eu");
    def["deployments"]["options"][2]["api_origin"] = json!("https://api.acme.example");
    assert_eq!(
        problems(def),
        [
            "/deployments/default: asia is not a deployment (deployments: us, eu, self_hosted)",
            "/deployments/options/0/api_origin: \"https://api.acme.example/v2\" is not an origin: must be an origin only (scheme, host and optional port), without user, path, query or fragment",
            "/deployments/options/1/aliases/0: \"us\" already names the deployment at /deployments/options/0; names and aliases must be unique",
            "/deployments/options/1/identity_origin: \"http://login.acme.eu\" is not an origin: must use https (plain http is allowed only for a loopback host such as 127.0.0.1)",
            "/deployments/options/2/api_origin_setting: give either api_origin or api_origin_setting, not both",
        ]
    );
}

#[test]
fn fixed_hosts_must_be_listed_and_the_choosing_parameter_declared() {
    let mut def = connector();
    def["allowed_hosts"] = json!(["api.acme.example"]);
    def["deployments"]["parameter"] = json!("zone");
    def["deployments"]["options"][2]
        .as_object_mut()
        .unwrap()
        .remove("identity_origin_setting");
    assert_eq!(
        problems(def),
        [
            "/deployments/parameter: zone is not an install parameter: use `cloud` (the installation's cloud) or declare a string install parameter",
            "/deployments/options/1/api_origin: the host api.acme.eu is not in allowed_hosts: add it there, or the deployment's requests are refused",
            "/deployments/options/2/identity_origin: declare the deployment's identity_origin, or the install setting holding it (identity_origin_setting)",
        ]
    );
}

#[test]
fn admin_consent_belongs_to_client_credentials() {
    let mut def = connector();
    def["auth_variants"][0]["oauth2"]["grant"] = json!("authorization_code");
    def["auth_variants"][0]["oauth2"]["authorization_url"] =
        json!("{identity_origin}/{tenant_id}/authorize");
    assert_eq!(
        problems(def),
        [
            "/auth_variants/0/oauth2/admin_consent_url: an admin consent step belongs to grant client_credentials (a person consents in the authorization_code flow itself); remove it"
        ]
    );
}

#[test]
fn an_installation_gets_its_deployments_endpoints_and_hosts_only() {
    let def: ConnectorDefinition = serde_json::from_value(connector()).unwrap();
    let connector = DefinitionConnector::new(def);
    let us = connector.endpoints(&settings(json!({}))).unwrap();
    assert_eq!(us.base_url.as_str(), "https://api.acme.example/v2");
    assert_eq!(us.allowed_hosts, ["api.acme.example"]);
    let eu = connector
        .endpoints(&settings(json!({"region": "Europe"})))
        .unwrap();
    assert_eq!(eu.base_url.as_str(), "https://api.acme.eu/v2");
    assert_eq!(eu.allowed_hosts, ["api.acme.eu"]);
    let own = connector
        .endpoints(&settings(json!({"region": "self_hosted",
            "login_origin": "https://sso.corp.example", "server_origin": "http://127.0.0.1:9000"})))
        .unwrap();
    assert_eq!(own.base_url.as_str(), "http://127.0.0.1:9000/v2");
    assert_eq!(own.allowed_hosts, ["127.0.0.1"]);
}

#[test]
fn hostile_settings_never_become_an_origin() {
    let def: ConnectorDefinition = serde_json::from_value(connector()).unwrap();
    let connector = DefinitionConnector::new(def);
    for hostile in [
        "http://api.evil.example",
        "https://api.evil.example/v2",
        "https://user:pass@api.evil.example",
        "https://api.evil.example?x=1",
        "https://api.evil.example#frag",
        "http://localhost.evil.example:80",
        "http://10.0.0.1:9000",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "api.evil.example",
        "",
    ] {
        let err = connector
            .endpoints(&settings(json!({"region": "self_hosted",
                "login_origin": "https://sso.corp.example", "server_origin": hostile})))
            .unwrap_err();
        assert_eq!(err.field(), Some("server_origin"), "{hostile:?}");
    }
    // a fixed region takes no origin settings, and a setting named like the
    // placeholder is never used as one
    let err = connector
        .endpoints(&settings(
            json!({"region": "us", "server_origin": "https://api.evil.example"}),
        ))
        .unwrap_err();
    assert_eq!(err.field(), Some("server_origin"));
    assert!(
        err.to_string()
            .contains("is only allowed with region `self_hosted` (this installation uses `us`)"),
        "{err}"
    );
    let us = connector
        .endpoints(&settings(json!({"api_origin": "https://api.evil.example"})))
        .unwrap();
    assert_eq!(us.allowed_hosts, ["api.acme.example"]);
    let err = connector
        .endpoints(&settings(json!({"region": "mars\u{202e}"})))
        .unwrap_err();
    assert_eq!(err.field(), Some("region"));
    assert!(!err.to_string().contains('\u{202e}'), "{err}");
}
