//! One refresh for all callers.

mod auth_support;

use std::sync::Arc;
use std::time::Duration;

use auth_support::*;
use futures::future::join_all;
use switchboard_core::InstallationId;
use switchboard_core::credential::{AccessToken, Credential, TokenRequest};
use switchboard_oauth::oauth_credential::Grant;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const INST_1: InstallationId = InstallationId::from_u128(1);

/// 500 concurrent calls find an expired token; the token endpoint takes
/// 2 s to answer. Exactly one token request is made and every call gets
/// the new token.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_callers_with_an_expired_token_make_one_token_request() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=rt-1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(token_json("at-new", None, 3600))
                .set_delay(Duration::from_secs(2)),
        )
        .expect(1)
        .mount(&server)
        .await;

    let clock = clock();
    let store = store_with(&[(INST_1, "rt-1")]).await;
    let ctx = context(&clock, store);
    let cred = Arc::new(credential(&ctx, &server, INST_1, Grant::RefreshToken));
    let scopes = vec!["User.Read".to_string()];
    seed_expired(&ctx, &cred, &scopes, "at-old").await;

    let calls = (0..500).map(|_| {
        let cred = cred.clone();
        let scopes = scopes.clone();
        tokio::spawn(async move { cred.token(&TokenRequest::new(INST_1, scopes)).await })
    });
    let results = join_all(calls).await;
    assert_eq!(results.len(), 500);
    for r in results {
        assert_eq!(r.unwrap().unwrap().secret(), "at-new");
    }
    server.verify().await;
}

/// After a 401, every caller that saw the same refused token gets one new
/// token between them; a caller holding an older refused token is served
/// the current one without a request.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_token_is_refreshed_once_for_all_callers() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("refresh_token=rt-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json("at-1", None, 3600)))
        .up_to_n_times(1)
        .expect(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("refresh_token=rt-1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(token_json("at-2", None, 3600))
                .set_delay(Duration::from_millis(300)),
        )
        .expect(1)
        .with_priority(2)
        .mount(&server)
        .await;

    let clock = clock();
    let ctx = context(&clock, store_with(&[(INST_1, "rt-1")]).await);
    let cred = Arc::new(credential(&ctx, &server, INST_1, Grant::RefreshToken));
    let request = TokenRequest::new(INST_1, vec!["Mail.Read".into()]);
    let first = cred.token(&request).await.unwrap();
    assert_eq!(first.secret(), "at-1");

    let calls = (0..100).map(|_| {
        let cred = cred.clone();
        let request = request.clone().with_rejected(first.clone());
        tokio::spawn(async move { cred.token(&request).await })
    });
    for r in join_all(calls).await {
        assert_eq!(r.unwrap().unwrap().secret(), "at-2");
    }
    // A straggler that still holds the first refused token: no new request.
    let late = cred
        .token(
            &request
                .clone()
                .with_rejected(AccessToken::new("at-1", None)),
        )
        .await
        .unwrap();
    assert_eq!(late.secret(), "at-2");
    server.verify().await;
}

/// A token is refreshed 5 minutes before it expires, not after.
#[tokio::test]
async fn tokens_are_refreshed_five_minutes_before_expiry() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=client_credentials"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json("at-1", None, 3600)))
        .up_to_n_times(1)
        .expect(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json("at-2", None, 3600)))
        .expect(1)
        .with_priority(2)
        .mount(&server)
        .await;

    let clock = clock();
    let ctx = context(&clock, store_with(&[]).await);
    let cred = credential(&ctx, &server, INST_1, Grant::ClientCredentials);
    let request = TokenRequest::new(INST_1, vec![".default".into()]);
    assert_eq!(cred.token(&request).await.unwrap().secret(), "at-1");
    clock.advance(Duration::from_secs(3600 - 301));
    assert_eq!(cred.token(&request).await.unwrap().secret(), "at-1");
    clock.advance(Duration::from_secs(2));
    assert_eq!(cred.token(&request).await.unwrap().secret(), "at-2");
    server.verify().await;
}
