//! Validation of static credentials declared as data (`api_key`,
//! `bearer_token`, `basic`) and of `test_method`: each rule with the exact
//! pointer and words an author sees.

use serde_json::{Value, json};
use switchboard_core::definition::ConnectorDefinition;
use switchboard_core::definition::validate::validate;

/// A valid connector with an API-key variant and one method.
fn connector() -> Value {
    json!({
        "id": "acme",
        "name": "Acme CRM",
        "version": "1.0.0",
        "description": "A third-party CRM.",
        "base_url": "https://api.acme.example/v2",
        "install_parameters": [
            {"name": "api_key", "label": "API key", "required": true, "secret": true},
            {"name": "user", "label": "User", "required": true}
        ],
        "auth_variants": [
            {"id": "key", "name": "API key", "kind": "api_key",
             "api_key": {"parameter": "api_key", "in": "header", "name": "X-Api-Key"},
             "test_method": "contacts.list_contacts"}
        ],
        "allowed_hosts": ["api.acme.example"],
        "categories": [{"id": "contacts", "name": "Contacts"}],
        "methods": [{
            "id": "contacts.list_contacts", "category": "contacts", "name": "List contacts",
            "description": "Contacts.", "http_method": "GET", "path": "/contacts"
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

fn with_variant(variant: Value) -> Value {
    let mut def = connector();
    def["auth_variants"] = json!([variant]);
    def
}

#[test]
fn the_valid_connector_has_no_problems() {
    assert_eq!(problems(connector()), Vec::<String>::new());
    let def = with_variant(json!({"id": "basic", "name": "Basic", "kind": "basic",
        "basic": {"username_parameter": "user", "password_parameter": "api_key"}}));
    assert_eq!(problems(def), Vec::<String>::new());
    let def = with_variant(json!({"id": "q", "name": "Query", "kind": "api_key",
        "api_key": {"parameter": "api_key", "in": "query", "name": "api_key"}}));
    assert_eq!(problems(def), Vec::<String>::new());
    let def = with_variant(json!({"id": "t", "name": "Token", "kind": "api_key",
        "api_key": {"parameter": "api_key", "in": "header", "name": "Authorization", "prefix": "Token "}}));
    assert_eq!(problems(def), Vec::<String>::new());
}

#[test]
fn api_key_and_basic_kinds_must_name_their_parameters() {
    let def = with_variant(json!({"id": "key", "name": "Key", "kind": "api_key"}));
    assert_eq!(
        problems(def),
        [
            "/auth_variants/0/api_key: a variant of kind api_key must say which install parameter holds its credential in a `api_key` object"
        ]
    );
    let def = with_variant(json!({"id": "b", "name": "B", "kind": "basic"}));
    assert_eq!(
        problems(def),
        [
            "/auth_variants/0/basic: a variant of kind basic must say which install parameter holds its credential in a `basic` object"
        ]
    );
}

#[test]
fn an_object_of_another_kind_is_refused() {
    let def = with_variant(json!({"id": "t", "name": "T", "kind": "bearer_token",
        "bearer_token": {"parameter": "api_key"},
        "basic": {"username_parameter": "user"}}));
    assert_eq!(
        problems(def),
        [
            "/auth_variants/0/basic: `basic` belongs to variants of kind basic; remove it or change `kind`"
        ]
    );
}

#[test]
fn a_credential_parameter_must_exist_and_be_secret() {
    let def = with_variant(json!({"id": "t", "name": "T", "kind": "bearer_token",
        "bearer_token": {"parameter": "api_kee"}}));
    assert_eq!(
        problems(def),
        [
            "/auth_variants/0/bearer_token/parameter: unknown install parameter \"api_kee\": did you mean \"api_key\"? (known install parameters: api_key, user)"
        ]
    );
    let def = with_variant(json!({"id": "t", "name": "T", "kind": "bearer_token",
        "bearer_token": {"parameter": "user"}}));
    assert_eq!(
        problems(def),
        [
            "/auth_variants/0/bearer_token/parameter: install parameter user holds a credential: declare it with \"secret\": true so it is stored encrypted and never shown"
        ]
    );
    // a basic user name may be plain; the password may not
    let def = with_variant(json!({"id": "b", "name": "B", "kind": "basic",
        "basic": {"username_parameter": "api_key", "password_parameter": "user"}}));
    assert_eq!(
        problems(def),
        [
            "/auth_variants/0/basic/password_parameter: install parameter user holds a credential: declare it with \"secret\": true so it is stored encrypted and never shown"
        ]
    );
}

#[test]
fn an_api_key_header_must_be_sendable_and_not_reserved() {
    for (name, message) in [
        (
            "X Api Key",
            "\"X Api Key\" is not a valid HTTP header name: use letters, digits and '-'",
        ),
        (
            "Host",
            "Host is set by the engine and the HTTP client; a definition cannot declare it",
        ),
        (
            "Cookie",
            "Cookie is set by the engine and the HTTP client; a definition cannot declare it",
        ),
    ] {
        let def = with_variant(json!({"id": "k", "name": "K", "kind": "api_key",
            "api_key": {"parameter": "api_key", "in": "header", "name": name}}));
        let got = problems(def);
        assert_eq!(got.len(), 1, "{name}: {got:?}");
        assert!(
            got[0].starts_with("/auth_variants/0/api_key/name: "),
            "{got:?}"
        );
        if !name.contains(' ') {
            assert!(got[0].contains(name), "{got:?}");
        } else {
            assert!(got[0].ends_with(message), "{got:?}");
        }
    }
    let mut def = connector();
    def["default_headers"] = json!({"x-api-key": "fixed"});
    assert_eq!(
        problems(def),
        [
            "/auth_variants/0/api_key/name: header X-Api-Key is also a default header; the key's header must be written only by the engine"
        ]
    );
}

#[test]
fn query_keys_take_no_prefix_and_a_plain_name() {
    let def = with_variant(json!({"id": "q", "name": "Q", "kind": "api_key",
        "api_key": {"parameter": "api_key", "in": "query", "name": "key&admin=1", "prefix": "x"}}));
    assert_eq!(
        problems(def),
        [
            "/auth_variants/0/api_key/name: a query parameter name must be 1 to 64 ASCII letters, digits, '_', '-', '.' or '$'",
            "/auth_variants/0/api_key/prefix: a prefix is only sent in a header; remove it for \"in\": \"query\""
        ]
    );
    let def = with_variant(json!({"id": "k", "name": "K", "kind": "api_key",
        "api_key": {"parameter": "api_key", "in": "header", "name": "X-Key", "prefix": "A\nB"}}));
    assert_eq!(
        problems(def),
        [
            "/auth_variants/0/api_key/prefix: the prefix must be at most 64 visible ASCII characters and spaces"
        ]
    );
}

#[test]
fn a_secret_never_fills_the_base_url() {
    let mut def = connector();
    def["base_url"] = json!("https://api.acme.example/{api_key}");
    assert_eq!(
        problems(def),
        [
            "/base_url: {api_key} is a secret install parameter; a secret must never be part of a URL (URLs end up in logs)"
        ]
    );
}

#[test]
fn the_test_method_exists_serves_the_variant_and_needs_no_arguments() {
    let mut def = connector();
    def["auth_variants"][0]["test_method"] = json!("contacts.list_contact");
    assert_eq!(
        problems(def),
        [
            "/auth_variants/0/test_method: unknown method \"contacts.list_contact\": did you mean \"contacts.list_contacts\"? (known methods: contacts.list_contacts)"
        ]
    );
    let mut def = connector();
    def["methods"][0]["path"] = json!("/contacts/{id}");
    def["methods"][0]["parameters"] = json!([{"name": "id", "in": "path", "type": "string"}]);
    assert_eq!(
        problems(def),
        [
            "/auth_variants/0/test_method: method contacts.list_contacts has required parameters; a test method must need no arguments"
        ]
    );
}
