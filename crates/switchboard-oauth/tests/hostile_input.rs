//! Hostile input for everything the OAuth layer parses from the network or
//! from stored text: token responses and token errors, stored pending
//! authorizations, callback query strings, and whatever a token endpoint
//! answers over HTTP.
//!
//! Property tests: no input panics; a token lifetime is clamped; an error is
//! short, free of control characters and of anything that looks like a
//! token. Case counts are small; `SWITCHBOARD_FUZZ_SCALE=100` multiplies
//! them (see docs/engine.md).

use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::json;
use switchboard_core::untrusted_text::is_unsafe_char;
use switchboard_core::{Error, ErrorKind};
use switchboard_hostile::server::{Stage, answer, now};
use switchboard_hostile::text::planted_secret;
use switchboard_hostile::{check, config, json as hostile_json, mutate, text};
use switchboard_oauth::callback::CallbackParams;
use switchboard_oauth::client::{OAuthClient, TokenEndpointError};
use switchboard_oauth::http::OAuthHttpClient;
use switchboard_oauth::response::{
    MAX_TOKEN_LIFETIME, TokenErrorBody, TokenResponseBody, TokenSet,
};
use switchboard_oauth::state::PendingState;

/// The longest Display an error built from a token endpoint's answer may
/// have (the same bound as the engine's, in switchboard-core's
/// `tests/hostile_input.rs`).
const MAX_ERROR_DISPLAY: usize = 2_000;

/// An error's Display is short and has no control or bidi characters, and
/// neither it nor Debug contains a planted secret.
fn assert_presentable(err: &Error, secrets: &[&str]) -> Result<(), TestCaseError> {
    check::presentable(&err.to_string(), MAX_ERROR_DISPLAY, is_unsafe_char, secrets)?;
    check::presentable(&format!("{err:?}"), usize::MAX, |_| false, secrets)
}

/// One server for every case of the HTTP target.
fn stage() -> &'static Stage {
    static STAGE: OnceLock<Stage> = OnceLock::new();
    STAGE.get_or_init(Stage::start)
}

// ---------------------------------------------------------------------------
// Token endpoint answers.

proptest! {
    #![proptest_config(config(256))]

    /// Any token response parses or fails cleanly, and a parsed lifetime
    /// never puts the expiry further than `MAX_TOKEN_LIFETIME` from now
    /// (`"expires_in": 1e30` used to panic adding it to the clock).
    #[test]
    fn token_responses_never_panic_and_lifetimes_are_clamped(
        body in prop_oneof![
            hostile_json::object(hostile_json::TOKEN_RESPONSE_FIELDS),
            mutate::mutated(
                json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": "3599",
                       "access_token": "eyJ0eXAi.eyJ0aWQi.c2ln", "refresh_token": "0.AAA", "scope": "User.Read"}),
                hostile_json::TOKEN_RESPONSE_FIELDS,
                3,
            ).prop_map(|v| v.to_string()),
        ],
        now in now(),
    ) {
        if let Ok(parsed) = serde_json::from_str::<TokenResponseBody>(&body) {
            let set = TokenSet::from_response(parsed, now);
            for at in [set.access_token.expires_at(), set.ext_expires_at].into_iter().flatten() {
                prop_assert!(at >= now);
                prop_assert!(at.duration_since(now).unwrap_or_default() <= MAX_TOKEN_LIFETIME);
            }
        }
    }

    /// Lifetimes of every magnitude, as numbers or numeric strings.
    #[test]
    fn token_lifetimes_of_every_magnitude(
        lifetime in prop_oneof![hostile_json::number(), hostile_json::number().prop_map(hostile_json::quote)],
        now in now(),
    ) {
        let body = format!(r#"{{"access_token":"at","expires_in":{lifetime},"ext_expires_in":{lifetime}}}"#);
        if let Ok(parsed) = serde_json::from_str::<TokenResponseBody>(&body) {
            let set = TokenSet::from_response(parsed, now);
            let at = set.access_token.expires_at();
            prop_assert!(at.is_some_and(|at| at >= now && at.duration_since(now).unwrap_or_default() <= MAX_TOKEN_LIFETIME));
        }
    }

    /// A token error body becomes an error that names the OAuth code but
    /// never the server's description, and stays presentable.
    #[test]
    fn token_error_bodies_give_presentable_errors(
        body in hostile_json::object(hostile_json::TOKEN_ERROR_FIELDS),
        secret in planted_secret(),
        place in 0usize..4,
    ) {
        let body = hostile_json::plant(&body, hostile_json::TOKEN_ERROR_FIELDS, place, &secret);
        if let Ok(parsed) = serde_json::from_str::<TokenErrorBody>(&body) {
            let description = parsed.error_description.clone().unwrap_or_default();
            let err = TokenEndpointError::OAuth(Box::new(parsed)).into_error();
            assert_presentable(&err, &[&secret])?;
            if description.chars().count() >= 24 {
                prop_assert!(!err.to_string().contains(&description));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Stored pending authorizations and callback query strings.

const CALLBACK_PARAMS: &[&str] = &[
    "code",
    "state",
    "error",
    "error_description",
    "admin_consent",
    "tenant",
    "scope",
];

proptest! {
    #![proptest_config(config(256))]

    /// A stored pending authorization that was tampered with reads back or
    /// fails with a storage error.
    #[test]
    fn stored_pending_state_never_panics(
        text in prop_oneof![
            hostile_json::object(&["state", "installation_id", "admin_consent", "issued_at_ms", "verifier"]),
            mutate::mutated(
                json!({"state": "s", "installation_id": "i", "admin_consent": false, "issued_at_ms": 1_700_000_000_000u64, "verifier": "v"}),
                &["state", "installation_id", "admin_consent", "issued_at_ms", "verifier"],
                4,
            ).prop_map(|v| v.to_string()),
        ],
    ) {
        if let Err(err) = PendingState::from_secret_text(&text) {
            prop_assert_eq!(err.kind(), ErrorKind::Storage);
        }
    }

    /// Any query string: parameters are read once each; a known one given
    /// twice is refused with its name.
    #[test]
    fn callback_queries(pairs in proptest::collection::vec(
        (
            prop_oneof![
                select(CALLBACK_PARAMS).prop_map(str::to_string),
                text::short_text(),
            ],
            text::text(),
        ),
        0..8,
    ), raw in text::text(), use_raw in any::<bool>()) {
        let query = if use_raw {
            raw
        } else {
            url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&pairs).finish()
        };
        let repeated = CALLBACK_PARAMS
            .iter()
            .any(|k| pairs.iter().filter(|(n, _)| n == k).count() > 1);
        match CallbackParams::parse(&query) {
            Ok(params) => {
                prop_assert!(use_raw || !repeated);
                if !use_raw && let Some((_, state)) = pairs.iter().find(|(n, _)| n == "state") {
                    prop_assert_eq!(params.state.map(|s| s.secret().clone()), Some(state.clone()));
                }
            }
            Err(err) => {
                prop_assert!(use_raw || repeated);
                prop_assert_eq!(err.kind(), ErrorKind::InvalidArgument);
                prop_assert!(err.to_string().contains("more than once"));
            }
        }
    }
}

// HTTP
proptest! {
    #![proptest_config(config(96))]

    /// Whatever the token endpoint answers, the OAuth client gives a token
    /// whose expiry is clamped or an error that is presentable.
    #[test]
    fn token_endpoint_survives_hostile_answers(
        answer in answer(prop_oneof![
            hostile_json::object(hostile_json::TOKEN_RESPONSE_FIELDS).prop_map(String::into_bytes),
            hostile_json::object(hostile_json::TOKEN_ERROR_FIELDS).prop_map(String::into_bytes),
            mutate::mutated(
                json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "eyJ0eXAi.eyJ0aWQi.c2ln"}),
                hostile_json::TOKEN_RESPONSE_FIELDS,
                3,
            ).prop_map(|v| v.to_string().into_bytes()),
            text::bytes(),
        ]),
        secret in planted_secret(),
        json_type in any::<bool>(),
        now in now(),
    ) {
        let stage = stage();
        let mut answer = answer;
        answer.headers.retain(|(n, _)| *n != "content-type");
        let content_type = if json_type { "application/json".to_string() } else { format!("text/plain; {secret}") };
        answer.headers.push(("content-type", content_type.into_bytes()));
        stage.answer_with(answer.template());
        let client = OAuthClient::new(
            OAuthHttpClient::new(
                reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
            ),
            oauth2::ClientId::new("client".into()),
            Some(oauth2::ClientSecret::new("client-secret-value".into())),
            oauth2::TokenUrl::new(format!("{}/token", stage.server.uri())).unwrap(),
        );
        let result = stage.runtime.block_on(client.client_credentials(&["scope".into()], &[], now));
        prop_assert_eq!(stage.received().len(), 1);
        match result {
            Ok(set) => {
                let at = set.access_token.expires_at();
                prop_assert!(at.is_none_or(|at| at >= now && at.duration_since(now).unwrap_or_default() <= MAX_TOKEN_LIFETIME));
            }
            Err(err) => assert_presentable(&err.into_error(), &[&secret, "client-secret-value"])?,
        }
    }
}
