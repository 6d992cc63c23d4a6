//! Installations never share tokens, refresh tokens or holds.

mod auth_support;

use std::sync::Arc;
use std::time::Duration;

use auth_support::*;
use futures::future::join_all;
use serde_json::json;
use switchboard_core::ErrorKind;
use switchboard_core::InstallationId;
use switchboard_core::credential::{Credential, TokenRequest};
use switchboard_oauth::oauth_credential::Grant;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const INST_1: InstallationId = InstallationId::from_u128(1);
const INST_2: InstallationId = InstallationId::from_u128(2);
const BAD: InstallationId = InstallationId::from_u128(66);
const GOOD: InstallationId = InstallationId::from_u128(77);

/// 50 installations with expired tokens: exactly 50 token requests, each
/// with that installation's refresh token, each answered token going to
/// its own installation.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_installations_make_fifty_requests_with_their_own_refresh_tokens() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    for i in 0..50 {
        Mock::given(method("POST"))
            .and(path("/token"))
            .and(body_string_contains(format!("refresh_token=rt-{i}&")))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(token_json(&format!("at-{i}"), None, 3600))
                    .set_delay(Duration::from_millis(200)),
            )
            .expect(1)
            .mount(&server)
            .await;
    }
    let id = |i: usize| InstallationId::from_u128(100 + i as u128);
    let tokens: Vec<String> = (0..50).map(|i| format!("rt-{i}")).collect();
    let pairs: Vec<(InstallationId, &str)> = tokens
        .iter()
        .enumerate()
        .map(|(i, rt)| (id(i), rt.as_str()))
        .collect();
    let clock = clock();
    let ctx = context(&clock, store_with(&pairs).await);
    let scopes = vec!["User.Read".to_string()];
    let mut creds = Vec::new();
    for i in 0..50 {
        let cred = Arc::new(credential(&ctx, &server, id(i), Grant::RefreshToken));
        seed_expired(&ctx, &cred, &scopes, &format!("old-{i}")).await;
        creds.push(cred);
    }
    // Ten concurrent callers per installation.
    let calls = (0..500).map(|n| {
        let i = n % 50;
        let cred = creds[i].clone();
        let scopes = scopes.clone();
        tokio::spawn(async move {
            let token = cred.token(&TokenRequest::new(id(i), scopes)).await;
            (i, token)
        })
    });
    for r in join_all(calls).await {
        let (i, token) = r.unwrap();
        assert_eq!(token.unwrap().secret(), format!("at-{i}"));
    }
    server.verify().await;
}

/// A credential refuses to serve another installation's request.
#[tokio::test]
async fn a_credential_serves_only_its_installation() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    let clock = clock();
    let ctx = context(&clock, store_with(&[(INST_1, "rt-1")]).await);
    let cred = credential(&ctx, &server, INST_1, Grant::RefreshToken);
    let err = cred
        .token(&TokenRequest::new(INST_2, vec!["User.Read".into()]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(err.field(), Some("installation_id"));
    server.verify().await;
}

/// `invalid_grant` puts the installation on a 60 s hold: no token request
/// in that time, a NeedsReauth error with the remaining wait, and other
/// installations keep working. After 60 s the endpoint is asked again.
#[tokio::test]
async fn invalid_grant_starts_a_sixty_second_quiet_period_for_that_installation_only() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("refresh_token=rt-bad"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_grant",
            "error_description": "grant revoked",
        })))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("refresh_token=rt-good"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json("at-good", None, 3600)))
        .expect(1)
        .mount(&server)
        .await;

    let clock = clock();
    let ctx = context(
        &clock,
        store_with(&[(BAD, "rt-bad"), (GOOD, "rt-good")]).await,
    );
    let bad = credential(&ctx, &server, BAD, Grant::RefreshToken);
    let good = credential(&ctx, &server, GOOD, Grant::RefreshToken);
    let scopes = vec!["User.Read".to_string()];

    let err = bad
        .token(&TokenRequest::new(BAD, scopes.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NeedsReauth);
    assert!(!err.to_string().contains("grant revoked"), "{err}");

    clock.advance(Duration::from_secs(59));
    let held = bad
        .token(&TokenRequest::new(BAD, scopes.clone()))
        .await
        .unwrap_err();
    assert_eq!(held.kind(), ErrorKind::NeedsReauth);
    assert_eq!(held.retry_after(), Some(Duration::from_secs(1)));

    // Another installation is not held.
    let ok = good
        .token(&TokenRequest::new(GOOD, scopes.clone()))
        .await
        .unwrap();
    assert_eq!(ok.secret(), "at-good");

    clock.advance(Duration::from_secs(1));
    let again = bad
        .token(&TokenRequest::new(BAD, scopes))
        .await
        .unwrap_err();
    assert_eq!(again.kind(), ErrorKind::NeedsReauth);
    server.verify().await;
}

/// 429 with a short `Retry-After` is waited for and retried once; a long
/// one is returned as Throttled with the wait, and holds further token
/// requests until it has passed.
#[tokio::test]
async fn token_endpoint_throttling_respects_retry_after() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=client_credentials"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "3"))
        .up_to_n_times(1)
        .expect(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=client_credentials"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json("at-1", None, 3600)))
        .expect(1)
        .with_priority(2)
        .mount(&server)
        .await;
    let clock = clock();
    let ctx = context(&clock, store_with(&[]).await);
    let cred = credential(&ctx, &server, INST_1, Grant::ClientCredentials);
    let start = clock_now(&clock);
    let token = cred
        .token(&TokenRequest::new(INST_1, vec![".default".into()]))
        .await
        .unwrap();
    assert_eq!(token.secret(), "at-1");
    assert_eq!(
        clock_now(&clock).duration_since(start).unwrap(),
        Duration::from_secs(3)
    );
    server.verify().await;
}

#[tokio::test]
async fn a_long_retry_after_is_returned_and_holds_token_requests() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "120"))
        .expect(2)
        .mount(&server)
        .await;
    let clock = clock();
    let ctx = context(&clock, store_with(&[]).await);
    let cred = credential(&ctx, &server, INST_1, Grant::ClientCredentials);
    let request = TokenRequest::new(INST_1, vec![".default".into()]);
    let err = cred.token(&request).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
    assert_eq!(err.status(), Some(503));

    clock.advance(Duration::from_secs(100));
    let held = cred.token(&request).await.unwrap_err();
    assert_eq!(held.kind(), ErrorKind::Transient);
    assert_eq!(held.retry_after(), Some(Duration::from_secs(20)));

    clock.advance(Duration::from_secs(20));
    assert!(cred.token(&request).await.is_err());
    server.verify().await;
}

fn clock_now(clock: &switchboard_oauth::clock::ManualClock) -> std::time::SystemTime {
    use switchboard_oauth::clock::Clock;
    clock.now()
}
