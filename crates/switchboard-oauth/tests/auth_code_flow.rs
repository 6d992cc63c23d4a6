//! Authorization code + PKCE: the verifier matches the challenge, and the
//! state is one-time, time-limited and bound to the installation.

mod auth_support;

use std::collections::HashMap;
use std::time::Duration;

use auth_support::*;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use switchboard_core::ErrorKind;
use switchboard_core::InstallationId;
use switchboard_oauth::callback::CallbackParams;
use switchboard_oauth::code_flow::AuthorizationCodeFlow;
use switchboard_oauth::grants::GrantStore;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const INST_1: InstallationId = InstallationId::from_u128(1);
const INST_2: InstallationId = InstallationId::from_u128(2);

fn query(url: &url::Url) -> HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

#[tokio::test]
async fn the_pkce_verifier_is_sent_and_matches_the_s256_challenge() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=authorization_code"))
        .and(body_string_contains("code=the-code"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json(
            "at-1",
            Some("rt-1"),
            3600,
        )))
        .expect(1)
        .mount(&server)
        .await;

    let clock = clock();
    let store = store_with(&[]).await;
    let ctx = context(&clock, store.clone());
    let flow = AuthorizationCodeFlow::new(ctx.clone(), client(&ctx, &server));
    let start = flow
        .begin(INST_1, &["User.Read".into(), "offline_access".into()], &[])
        .unwrap();
    let q = query(start.url());
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["redirect_uri"], "https://platform.example.test/callback");
    assert_eq!(q["scope"], "User.Read offline_access");
    assert_eq!(q["code_challenge_method"], "S256");
    let state = q["state"].clone();
    assert!(
        URL_SAFE_NO_PAD
            .decode(state.split_once('.').unwrap().1)
            .unwrap()
            .len()
            >= 16,
        "state has at least 128 bits"
    );
    assert!(!format!("{start:?}").contains(&state));

    let params = CallbackParams::parse(&format!("code=the-code&state={state}")).unwrap();
    let done = flow.complete(INST_1, params, &PassThrough).await.unwrap();
    assert_eq!(done.installation_id, INST_1);

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let sent = form(&requests[0].body);
    let verifier = &sent["code_verifier"];
    assert!(verifier.len() >= 43);
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    assert_eq!(computed, q["code_challenge"]);
    assert_eq!(
        sent["redirect_uri"],
        "https://platform.example.test/callback"
    );
    assert_eq!(sent["client_secret"], CLIENT_SECRET);

    let stored = store.load_grant(INST_1).await.unwrap().unwrap();
    assert_eq!(stored.refresh_token.unwrap().secret(), "rt-1");
    server.verify().await;
}

#[tokio::test]
async fn a_reused_state_is_refused_without_a_token_request() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json(
            "at-1",
            Some("rt-1"),
            3600,
        )))
        .expect(1)
        .mount(&server)
        .await;
    let clock = clock();
    let ctx = context(&clock, store_with(&[]).await);
    let flow = AuthorizationCodeFlow::new(ctx.clone(), client(&ctx, &server));
    let start = flow.begin(INST_1, &["User.Read".into()], &[]).unwrap();
    let state = query(start.url())["state"].clone();
    let callback = format!("code=c1&state={state}");
    flow.complete(
        INST_1,
        CallbackParams::parse(&callback).unwrap(),
        &PassThrough,
    )
    .await
    .unwrap();
    let err = flow
        .complete(
            INST_1,
            CallbackParams::parse(&callback).unwrap(),
            &PassThrough,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Consent);
    assert_eq!(err.field(), Some("state"));
    server.verify().await;
}

#[tokio::test]
async fn an_expired_or_foreign_state_is_refused_without_a_token_request() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    let clock = clock();
    let ctx = context(&clock, store_with(&[]).await);
    let flow = AuthorizationCodeFlow::new(ctx.clone(), client(&ctx, &server));

    let start = flow.begin(INST_1, &["User.Read".into()], &[]).unwrap();
    let state = query(start.url())["state"].clone();
    clock.advance(Duration::from_secs(600));
    let err = flow
        .complete(
            INST_1,
            CallbackParams::parse(&format!("code=c&state={state}")).unwrap(),
            &PassThrough,
        )
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("state"));

    let start = flow.begin(INST_1, &["User.Read".into()], &[]).unwrap();
    let state = query(start.url())["state"].clone();
    let err = flow
        .complete(
            INST_2,
            CallbackParams::parse(&format!("code=c&state={state}")).unwrap(),
            &PassThrough,
        )
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("state"));

    let err = flow
        .complete(
            INST_1,
            CallbackParams::parse("code=c&state=guessed").unwrap(),
            &PassThrough,
        )
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("state"));
    let err = flow
        .complete(
            INST_1,
            CallbackParams::parse("code=c").unwrap(),
            &PassThrough,
        )
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("state"));
    server.verify().await;
}

#[tokio::test]
async fn a_callback_error_is_typed_and_consumes_the_state() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    let clock = clock();
    let ctx = context(&clock, store_with(&[]).await);
    let flow = AuthorizationCodeFlow::new(ctx.clone(), client(&ctx, &server));
    for (code, kind) in [
        ("access_denied", ErrorKind::Consent),
        ("consent_required", ErrorKind::Consent),
        ("interaction_required", ErrorKind::NeedsReauth),
        ("invalid_scope", ErrorKind::Configuration),
        ("temporarily_unavailable", ErrorKind::Transient),
    ] {
        let start = flow.begin(INST_1, &["User.Read".into()], &[]).unwrap();
        let state = query(start.url())["state"].clone();
        let callback = format!("error={code}&error_description=SECRET-DESCRIPTION&state={state}");
        let err = flow
            .complete(
                INST_1,
                CallbackParams::parse(&callback).unwrap(),
                &PassThrough,
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), kind, "{code}");
        assert!(!format!("{err} {err:?}").contains("SECRET-DESCRIPTION"));
        let again = flow
            .complete(
                INST_1,
                CallbackParams::parse(&callback).unwrap(),
                &PassThrough,
            )
            .await
            .unwrap_err();
        assert_eq!(again.field(), Some("state"));
    }
    server.verify().await;
}
