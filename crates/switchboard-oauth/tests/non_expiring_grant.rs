//! Grants without a refresh token, and what `refresh_token_rotates` means
//! at run time.
//!
//! GitHub OAuth apps without expiring user tokens answer the code exchange
//! with an access token and neither `refresh_token` nor `expires_in`
//! (GitHub docs, "Authorizing OAuth apps", step 2: the response is
//! `access_token`, `scope`, `token_type`). That token is the grant: used
//! until the service refuses it, then the installation needs a person.

mod auth_support;

use std::collections::HashMap;

use auth_support::*;
use serde_json::json;
use switchboard_core::InstallationId;
use switchboard_core::credential::{AccessToken, Credential, TokenRequest};
use switchboard_core::error::ErrorKind;
use switchboard_oauth::callback::CallbackParams;
use switchboard_oauth::code_flow::AuthorizationCodeFlow;
use switchboard_oauth::grants::GrantStore;
use switchboard_oauth::oauth_credential::Grant;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const INST_1: InstallationId = InstallationId::from_u128(1);

/// Run the consent against `server` (whose `/token` answers as mounted)
/// and return the completion's result.
async fn consent(
    ctx: &switchboard_oauth::context::AuthContext,
    server: &MockServer,
) -> switchboard_core::Result<switchboard_oauth::code_flow::Authorized> {
    let flow = AuthorizationCodeFlow::new(ctx.clone(), client(ctx, server));
    let start = flow.begin(INST_1, &["repo".into()], &[]).unwrap();
    let query: HashMap<String, String> = start.url().query_pairs().into_owned().collect();
    let params = CallbackParams::parse(&format!("code=the-code&state={}", query["state"])).unwrap();
    flow.complete(INST_1, params, &PassThrough).await
}

#[tokio::test]
async fn an_answer_without_refresh_token_or_lifetime_stores_the_access_token_as_the_grant() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=authorization_code"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "gho_forever", "token_type": "bearer", "scope": "repo"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let clock = clock();
    let store = store_with(&[]).await;
    let ctx = context(&clock, store.clone());
    consent(&ctx, &server).await.unwrap();

    let grant = store.load_grant(INST_1).await.unwrap().unwrap();
    assert!(grant.refresh_token.is_none());
    let held = grant.non_expiring_token().expect("a non-expiring grant");
    assert_eq!(held.secret(), "gho_forever");
    assert_eq!(held.expires_at(), None);

    // Calls get the token with no further token request (the mock
    // expects exactly the one exchange).
    let cred = credential(&ctx, &server, INST_1, Grant::RefreshToken);
    let request = TokenRequest::new(INST_1, vec!["repo".into()]);
    for _ in 0..3 {
        assert_eq!(cred.token(&request).await.unwrap().secret(), "gho_forever");
    }

    // The service refuses it (a 401): no refresh is tried, the installation
    // needs a person to sign in again.
    let refused = request
        .clone()
        .with_rejected(AccessToken::new("gho_forever", None));
    let err = cred.token(&refused).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NeedsReauth, "{err}");
    assert!(!err.to_string().contains("gho_forever"));
    server.verify().await;
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_expiring_access_token_without_refresh_token_is_refused_naming_the_field() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json("at-1", None, 3600)))
        .expect(1)
        .mount(&server)
        .await;
    let clock = clock();
    let store = store_with(&[]).await;
    let ctx = context(&clock, store.clone());
    let err = consent(&ctx, &server).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration);
    assert_eq!(err.field(), Some("refresh_token"));
    assert!(store.load_grant(INST_1).await.unwrap().is_none());
    server.verify().await;
}

/// A refresh answer without a refresh token: with rotation required it is
/// an error naming `refresh_token` and the stored token is kept; without,
/// the access token is used and the stored refresh token kept.
#[tokio::test]
async fn refresh_token_rotates_decides_what_an_answer_without_refresh_token_means() {
    for required in [true, false] {
        let server = MockServer::start().await;
        catch_all(&server).await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .and(body_string_contains("grant_type=refresh_token"))
            .and(body_string_contains("refresh_token=rt-1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(token_json("at-2", None, 3600)))
            .expect(1)
            .mount(&server)
            .await;
        let clock = clock();
        let store = store_with(&[(INST_1, "rt-1")]).await;
        let ctx = context(&clock, store.clone());
        let cred =
            credential(&ctx, &server, INST_1, Grant::RefreshToken).requiring_rotation(required);
        let got = cred
            .token(&TokenRequest::new(INST_1, vec!["repo".into()]))
            .await;
        if required {
            let err = got.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Remote, "{err}");
            assert_eq!(err.field(), Some("refresh_token"));
            assert!(err.to_string().contains("refresh_token_rotates"));
        } else {
            assert_eq!(got.unwrap().secret(), "at-2");
        }
        let kept = store.load_grant(INST_1).await.unwrap().unwrap();
        assert_eq!(kept.refresh_token.unwrap().secret(), "rt-1");
        server.verify().await;
    }
}
