//! Validation of OAuth 2 declared as data (kind `oauth2`) and of the
//! identity/API host split: each rule with the exact pointer an author sees.

use serde_json::{Value, json};
use switchboard_core::definition::ConnectorDefinition;
use switchboard_core::definition::validate::validate;

/// A valid connector with an authorization code variant.
fn connector() -> Value {
    json!({
        "id": "acme", "name": "Acme CRM", "version": "1.0.0",
        "description": "A third-party CRM.",
        "base_url": "https://api.acme.example/v2",
        "install_parameters": [
            {"name": "tenant_id", "label": "Tenant", "required": true},
            {"name": "instance_url", "label": "Instance URL"},
            {"name": "refresh_token", "label": "Refresh token", "secret": true},
            {"name": "client_key", "label": "Key", "secret": true}
        ],
        "auth_variants": [{"id": "oauth", "name": "Sign in", "kind": "oauth2",
            "oauth2": {
                "grant": "authorization_code",
                "authorization_url": "https://login.acme.example/{tenant_id}/authorize",
                "token_url": "https://login.acme.example/{tenant_id}/token",
                "revocation_url": "https://login.acme.example/{tenant_id}/revoke",
                "authorization_parameters": {"prompt": "consent", "access_type": "offline"},
                "client_authentication": "client_secret_basic",
                "token_response": {"format": "form", "expires_in_field": "lifetime",
                    "keep_fields": ["instance_url"]},
                "refresh_token_rotates": true,
                "settings_from_token": {"instance_url": "instance_url"}
            }}],
        "allowed_hosts": ["api.acme.example"],
        "identity_hosts": ["login.acme.example"],
        "categories": [{"id": "contacts", "name": "Contacts"}],
        "methods": [{
            "id": "contacts.list_contacts", "category": "contacts", "name": "List contacts",
            "description": "Contacts.", "http_method": "GET", "path": "/contacts",
            "permissions": {"oauth": ["contacts.read"]}
        }]
    })
}

fn problems(def: Value) -> Vec<String> {
    let def: ConnectorDefinition = serde_json::from_value(def).unwrap();
    validate(&def)
        .into_iter()
        .map(|p| format!("{}: {}", p.pointer, p.message))
        .collect()
}

fn oauth(edit: impl FnOnce(&mut Value)) -> Vec<String> {
    let mut def = connector();
    edit(&mut def["auth_variants"][0]["oauth2"]);
    problems(def)
}

fn has(problems: &[String], pointer: &str, words: &str) {
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with(&format!("{pointer}: ")) && p.contains(words)),
        "expected {pointer}: ...{words}... in {problems:#?}"
    );
}

#[test]
fn the_valid_connector_has_no_problems() {
    assert_eq!(problems(connector()), Vec::<String>::new());
}

#[test]
fn the_kind_needs_its_object_and_only_that_kind_takes_it() {
    let mut def = connector();
    def["auth_variants"][0]
        .as_object_mut()
        .unwrap()
        .remove("oauth2");
    has(
        &problems(def),
        "/auth_variants/0/oauth2",
        "must declare its grant",
    );
    let mut def = connector();
    def["auth_variants"][0]["kind"] = json!("bearer_token");
    has(
        &problems(def),
        "/auth_variants/0/oauth2",
        "belongs to variants of kind oauth2",
    );
}

#[test]
fn endpoints_fit_the_grant_and_live_on_identity_hosts() {
    let base = "/auth_variants/0/oauth2";
    let p = oauth(|o| {
        o.as_object_mut().unwrap().remove("authorization_url");
    });
    has(
        &p,
        &format!("{base}/authorization_url"),
        "needs an authorization_url",
    );
    let p = oauth(|o| o["grant"] = json!("client_credentials"));
    has(
        &p,
        &format!("{base}/authorization_url"),
        "only grant authorization_code",
    );
    let p = oauth(|o| o["token_url"] = json!("https://api.acme.example/token"));
    has(&p, &format!("{base}/token_url"), "not in identity_hosts");
    let p = oauth(|o| o["token_url"] = json!("http://login.acme.example/token"));
    has(
        &p,
        &format!("{base}/token_url"),
        "not an absolute https URL",
    );
    let p = oauth(|o| o["token_url"] = json!("https://login.acme.example/{client_key}/token"));
    has(&p, &format!("{base}/token_url"), "secret install parameter");
    let p = oauth(|o| o["revocation_url"] = json!("https://login.acme.example/{nope}/revoke"));
    has(
        &p,
        &format!("{base}/revocation_url"),
        "{nope} is not an install parameter",
    );
    // loopback fakes may use plain http
    let p = oauth(|o| o["token_url"] = json!("http://localhost:8080/token"));
    has(
        &p,
        &format!("{base}/token_url"),
        "localhost is not in identity_hosts",
    );
}

#[test]
fn identity_and_api_hosts_do_not_overlap() {
    let mut def = connector();
    def["identity_hosts"] = json!(["login.acme.example", "api.acme.example", "Bad/Host"]);
    let p = problems(def);
    has(
        &p,
        "/identity_hosts/1",
        "both an identity host and an API host",
    );
    has(&p, "/identity_hosts/2", "not a bare host name");
}

#[test]
fn pkce_is_turned_off_only_with_a_reason() {
    let base = "/auth_variants/0/oauth2";
    let p = oauth(|o| o["pkce"] = json!({"enabled": false}));
    has(&p, &format!("{base}/pkce/reason"), "needs a reason");
    let p = oauth(|o| o["pkce"] = json!({"enabled": false, "reason": "  "}));
    has(&p, &format!("{base}/pkce/reason"), "needs a reason");
    let p = oauth(|o| {
        o["pkce"] = json!({"enabled": false, "reason": "the service refuses code_challenge"})
    });
    assert_eq!(p, Vec::<String>::new());
    let p = oauth(|o| {
        o["grant"] = json!("client_credentials");
        o.as_object_mut().unwrap().remove("authorization_url");
        o["refresh_token_rotates"] = json!(false);
        o["pkce"] = json!({"enabled": true});
    });
    has(
        &p,
        &format!("{base}/pkce"),
        "belongs to grant authorization_code",
    );
}

#[test]
fn parameters_settings_and_fields_are_checked() {
    let base = "/auth_variants/0/oauth2";
    let p = oauth(|o| o["authorization_parameters"] = json!({"state": "x", "redirect_uri": "y"}));
    has(
        &p,
        &format!("{base}/authorization_parameters/state"),
        "written by the flow",
    );
    has(
        &p,
        &format!("{base}/authorization_parameters/redirect_uri"),
        "written by the flow",
    );
    let p = oauth(|o| o["scope_separator"] = json!("and"));
    has(
        &p,
        &format!("{base}/scope_separator"),
        "1 to 4 spaces or ASCII punctuation",
    );
    let p = oauth(|o| o["settings_from_token"] = json!({"client_key": "k", "missing": "m"}));
    has(
        &p,
        &format!("{base}/settings_from_token/client_key"),
        "is secret",
    );
    has(
        &p,
        &format!("{base}/settings_from_token/missing"),
        "not an install parameter",
    );
    let p = oauth(|o| o["token_response"]["keep_fields"] = json!(["ok", "bad field"]));
    has(
        &p,
        &format!("{base}/token_response"),
        "\"bad field\" is not a token response field name",
    );
    let p = oauth(|o| {
        o["grant"] = json!("client_credentials");
        o.as_object_mut().unwrap().remove("authorization_url");
    });
    has(
        &p,
        &format!("{base}/refresh_token_rotates"),
        "no refresh token to rotate",
    );
}

#[test]
fn the_refresh_token_grant_names_a_secret_parameter() {
    let base = "/auth_variants/0/oauth2";
    let refresh = |o: &mut Value| {
        o["grant"] = json!("refresh_token");
        o.as_object_mut().unwrap().remove("authorization_url");
    };
    let p = oauth(refresh);
    has(
        &p,
        &format!("{base}/refresh_token_parameter"),
        "needs the secret install parameter",
    );
    let p = oauth(|o| {
        refresh(o);
        o["refresh_token_parameter"] = json!("tenant_id");
    });
    has(
        &p,
        &format!("{base}/refresh_token_parameter"),
        "declare it with \"secret\": true",
    );
    let p = oauth(|o| {
        refresh(o);
        o["refresh_token_parameter"] = json!("refresh_token");
    });
    assert_eq!(p, Vec::<String>::new());
    let p = oauth(|o| o["refresh_token_parameter"] = json!("refresh_token"));
    has(
        &p,
        &format!("{base}/refresh_token_parameter"),
        "only grant refresh_token",
    );
}
