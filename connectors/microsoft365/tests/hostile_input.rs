//! Hostile input for what the Microsoft 365 connector parses itself:
//! access tokens' `tid` claim (a JWT payload from the token endpoint),
//! Microsoft identity error bodies (AADSTS codes) and installation
//! settings (cloud, tenant).
//!
//! No input panics; errors stay short, free of control and bidi
//! characters and of the server's own text; a token for another tenant is
//! always refused. `SWITCHBOARD_FUZZ_SCALE` multiplies the case counts
//! (see docs/engine.md).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value, json};
use switchboard_core::untrusted_text::is_unsafe_char;
use switchboard_core::{Error, ErrorKind};
use switchboard_hostile::{check, config, json as hostile_json, mutate, text};
use switchboard_microsoft365::aadsts::map_token_error;
use switchboard_microsoft365::cloud::Cloud;
use switchboard_microsoft365::identity::MicrosoftProvider;
use switchboard_microsoft365::tenant::TenantId;
use switchboard_microsoft365::token_tenant::token_tenant;
use switchboard_oauth::client::TokenEndpointError;
use switchboard_oauth::provider::Provider;
use switchboard_oauth::response::{TokenErrorBody, TokenSet};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

/// Errors built from hostile input: short, no unsafe characters, no
/// planted secret in Display or Debug.
fn assert_presentable(err: &Error, secrets: &[&str]) -> Result<(), TestCaseError> {
    check::presentable(&err.to_string(), 2_000, is_unsafe_char, secrets)?;
    check::presentable(&format!("{err:?}"), usize::MAX, |_| false, secrets)
}

// ---------------------------------------------------------------------------
// Access tokens and their `tid` claim.

const CLAIMS: &[&str] = &["tid", "oid", "aud", "iss", "exp", "scp", "roles"];

/// A `tid` value: the installation's tenant in any case, another GUID, or
/// anything at all.
fn tid() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => Just(Value::from(TENANT)),
        1 => Just(Value::from(TENANT.to_ascii_uppercase())),
        2 => "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}".prop_map(Value::from),
        2 => hostile_json::any_value(CLAIMS),
    ]
}

/// A JWT payload (as JSON text): claims with a `tid`, mutated claims, or
/// hostile JSON.
fn payload() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (tid(), hostile_json::any_value(CLAIMS)).prop_map(|(tid, extra)| {
            let mut claims = Map::new();
            claims.insert("tid".into(), tid);
            claims.insert("extra".into(), extra);
            Value::Object(claims).to_string()
        }),
        2 => mutate::mutated(json!({"aud": "https://graph.microsoft.com", "tid": TENANT, "oid": "x"}), CLAIMS, 3)
            .prop_map(|v| v.to_string()),
        1 => hostile_json::object(CLAIMS),
    ]
}

/// An access token: `header.payload.signature` with the payload in any
/// base64 alphabet, extra or missing segments, or any text.
fn access_token() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (payload(), 0u8..4, 1usize..6).prop_map(|(payload, alphabet, segments)| {
            let encoded = match alphabet {
                0 | 1 => URL_SAFE_NO_PAD.encode(&payload),
                2 => URL_SAFE.encode(&payload),
                _ => STANDARD.encode(&payload),
            };
            let mut parts = vec!["eyJ0eXAiOiJKV1QifQ".to_string(), encoded, "c2ln".to_string()];
            parts.resize(segments.max(2), "x".to_string());
            parts.join(".")
        }),
        1 => text::text(),
    ]
}

/// The `tid` claim a well-formed token carries, read independently of the
/// connector: three segments, base64url payload, a JSON object, a string.
fn expected_tid(token: &str) -> Option<String> {
    let parts: Vec<&str> = token.split('.').collect();
    let [_, payload, _] = parts.as_slice() else {
        return None;
    };
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    claims.get("tid")?.as_str().map(str::to_ascii_lowercase)
}

fn token_set(access_token: &str) -> Option<TokenSet> {
    let body = json!({"access_token": access_token, "token_type": "Bearer", "expires_in": 3599});
    let parsed = serde_json::from_value(body).ok()?;
    Some(TokenSet::from_response(
        parsed,
        std::time::SystemTime::now(),
    ))
}

proptest! {
    #![proptest_config(config(512))]

    /// Any token: no panic, and the claim read is exactly the payload's
    /// `tid`, lower-cased.
    #[test]
    fn token_tenant_reads_only_a_well_formed_tid(token in access_token()) {
        prop_assert_eq!(token_tenant(&token), expected_tid(&token));
    }

    /// A token for another tenant is refused (with a message that does not
    /// quote the token or its claim); one for the installation's tenant, or
    /// one that is not a readable JWT, passes.
    #[test]
    fn tokens_for_another_tenant_are_always_refused(token in access_token()) {
        let provider = MicrosoftProvider::application(Cloud::Global, TenantId::for_application(TENANT).unwrap());
        let Some(set) = token_set(&token) else {
            return Ok(());
        };
        let checked = provider.check_tokens(&set, None);
        match token_tenant(&token) {
            None => prop_assert_eq!(checked.ok(), Some(None)),
            Some(tid) if tid == TENANT => prop_assert_eq!(checked.ok(), Some(Some(tid))),
            Some(tid) => {
                let err = checked.unwrap_err();
                prop_assert_eq!(err.kind(), ErrorKind::Configuration);
                let mut secrets = vec![token.as_str()];
                if tid.len() >= 8 {
                    secrets.push(&tid);
                }
                assert_presentable(&err, &secrets)?;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Microsoft identity error bodies.

/// `error_codes` arrays mixing known AADSTS codes with numbers of every
/// magnitude and things that are not numbers.
fn error_codes() -> impl Strategy<Value = String> {
    let code = prop_oneof![
        2 => select(&["70008", "7000215", "65001", "50076", "53003", "90002", "700016"][..]).prop_map(str::to_string),
        2 => hostile_json::number(),
        1 => hostile_json::string(),
        1 => hostile_json::value(hostile_json::TOKEN_ERROR_FIELDS),
    ];
    proptest::collection::vec(code, 0..5).prop_map(|codes| format!("[{}]", codes.join(",")))
}

fn identity_error_body() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => (hostile_json::string(), error_codes(), hostile_json::string(), hostile_json::string(), text::text()).prop_map(
            |(error, codes, trace, correlation, description)| format!(
                r#"{{"error":{error},"error_codes":{codes},"trace_id":{trace},"correlation_id":{correlation},"error_description":{}}}"#,
                hostile_json::quote(format!("AADSTS70008: {description}"))
            )
        ),
        1 => hostile_json::object(hostile_json::TOKEN_ERROR_FIELDS),
    ]
}

proptest! {
    #![proptest_config(config(512))]

    /// Any identity error body gives an error that is presentable and never
    /// repeats the server's description.
    #[test]
    fn identity_errors_are_explained_without_the_servers_text(body in identity_error_body()) {
        let Ok(parsed) = serde_json::from_str::<TokenErrorBody>(&body) else {
            return Ok(());
        };
        let description = parsed.error_description.clone().unwrap_or_default();
        let err = map_token_error(TokenEndpointError::OAuth(Box::new(parsed)));
        let quoted = description.trim_start_matches("AADSTS70008: ");
        let secrets: Vec<&str> = [quoted].into_iter().filter(|d| d.chars().count() >= 24).collect();
        assert_presentable(&err, &secrets)?;
    }
}

// ---------------------------------------------------------------------------
// Installation settings: cloud and tenant.

const SETTINGS: &[&str] = &["cloud", "login_url", "graph_url", "tenant_id"];

fn settings() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => (
            select(&["global", "china", "us_government", "us_government_dod", "custom", "GLOBAL", ""][..]),
            text::near(&["https://login.example.com", "http://127.0.0.1:8080", "https://login.microsoftonline.com/"]),
            text::near(&["https://graph.example.com/v1.0", "http://localhost:1/", "ftp://x"]),
        )
            .prop_map(|(cloud, login, graph)| json!({"cloud": cloud, "login_url": login, "graph_url": graph})),
        2 => mutate::mutated(json!({"cloud": "global"}), SETTINGS, 3),
        1 => hostile_json::any_value(SETTINGS),
    ]
}

proptest! {
    #![proptest_config(config(512))]

    /// Any settings: a cloud whose endpoints are https (or loopback http),
    /// or a presentable error naming a setting.
    #[test]
    fn clouds_from_any_settings(settings in settings()) {
        let Value::Object(settings) = settings else {
            return Ok(());
        };
        match Cloud::from_settings(&settings) {
            Ok(cloud) => {
                for url in [cloud.login_url(), cloud.graph_url()] {
                    let loopback = match url.host() {
                        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                        Some(url::Host::Domain(name)) => name == "localhost",
                        None => false,
                    };
                    prop_assert!(url.scheme() == "https" || (url.scheme() == "http" && loopback), "{}", url);
                }
            }
            Err(err) => {
                prop_assert_eq!(err.kind(), ErrorKind::InvalidArgument);
                prop_assert!(err.field().is_some());
                assert_presentable(&err, &[])?;
            }
        }
    }

    /// Any tenant text: accepted lower-cased as a GUID or domain, or
    /// refused naming `tenant_id` with a presentable message.
    #[test]
    fn tenants_from_any_text(value in prop_oneof![
        text::text(),
        text::near(&[TENANT, "contoso.onmicrosoft.com", "common", "organizations", "consumers"]),
    ]) {
        for result in [TenantId::for_application(&value), TenantId::for_delegated(&value)] {
            match result {
                Ok(tenant) => {
                    prop_assert_eq!(tenant.as_str(), value.to_ascii_lowercase());
                    prop_assert!(!tenant.as_str().chars().any(|c| c.is_whitespace() || "/?#%\\".contains(c)));
                }
                Err(err) => {
                    prop_assert_eq!(err.field(), Some("tenant_id"));
                    assert_presentable(&err, &[])?;
                }
            }
        }
    }
}
