//! A token issued for another tenant is refused and never cached.

mod identity_support;

use identity_support::*;
use switchboard_core::ErrorKind;
use switchboard_core::InstallationId;
use switchboard_core::credential::{Credential, TokenRequest};
use switchboard_microsoft365::application::ApplicationAuth;
use switchboard_microsoft365::delegated::DelegatedAuth;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const INST_1: InstallationId = InstallationId::from_u128(1);

#[tokio::test]
async fn an_application_token_for_another_tenant_is_refused_and_not_cached() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    Mock::given(method("POST"))
        .and(path(format!("/{TENANT}/oauth2/v2.0/token")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(token_json(&jwt(OTHER_TENANT, "x"), None)),
        )
        .expect(2)
        .mount(&server)
        .await;
    let clock = clock();
    let auth =
        ApplicationAuth::new(context(&clock), app(), INST_1, cloud(&server), TENANT).unwrap();
    let cred = auth.credential();
    for _ in 0..2 {
        let err = cred
            .token(&TokenRequest::new(INST_1, vec![]))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Configuration);
        assert_eq!(err.field(), Some("tenant_id"));
        assert!(!err.to_string().contains(&jwt(OTHER_TENANT, "x")));
    }
    server.verify().await;
}

/// With `organizations`, the tenant is learned at sign-in and pinned: a
/// later token for another tenant is refused, and the rotated refresh
/// token that came with it is not stored.
#[tokio::test]
async fn a_delegated_token_for_another_tenant_than_the_signed_in_one_is_refused() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    let token_path = "/organizations/oauth2/v2.0/token";
    Mock::given(method("POST"))
        .and(path(token_path))
        .and(body_string_contains("grant_type=authorization_code"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(token_json(&jwt(TENANT, "c"), Some("rt-1"))),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(token_path))
        .and(body_string_contains("grant_type=refresh_token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(token_json(&jwt(OTHER_TENANT, "r"), Some("rt-evil"))),
        )
        .expect(2)
        .mount(&server)
        .await;
    let clock = clock();
    let ctx = context(&clock);
    let store = ctx.grants.clone();
    let auth = DelegatedAuth::new(ctx, app(), INST_1, cloud(&server), "organizations").unwrap();
    let state = query(auth.begin(&["User.Read".into()]).unwrap().url())["state"].clone();
    let done = auth
        .complete(&format!("code=c&state={state}"))
        .await
        .unwrap();
    assert_eq!(done.tenant_id.as_deref(), Some(TENANT));

    let cred = auth.credential();
    for _ in 0..2 {
        let err = cred
            .token(&TokenRequest::new(INST_1, vec!["User.Read".into()]))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Configuration);
    }
    let stored = store.load_grant(INST_1).await.unwrap().unwrap();
    assert_eq!(stored.refresh_token.unwrap().secret(), "rt-1");
    assert_eq!(stored.tenant_id.as_deref(), Some(TENANT));
    server.verify().await;
}
