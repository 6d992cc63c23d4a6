//! Application variant: client credentials with `{graph}/.default`, admin
//! consent URL and callback, the token request as the proof of consent.

mod identity_support;

use identity_support::*;
use switchboard_core::ErrorKind;
use switchboard_core::InstallationId;
use switchboard_core::credential::{Credential, TokenRequest};
use switchboard_microsoft365::application::ApplicationAuth;
use switchboard_microsoft365::cloud::Cloud;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const INST_1: InstallationId = InstallationId::from_u128(1);

fn token_path() -> String {
    format!("/{TENANT}/oauth2/v2.0/token")
}

#[tokio::test]
async fn client_credentials_ask_for_the_clouds_default_scope_on_the_tenant() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    let graph_default = format!("{}/.default", server.uri());
    Mock::given(method("POST"))
        .and(path(token_path()))
        .and(body_string_contains("grant_type=client_credentials"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json(&jwt(TENANT, "a"), None)))
        .expect(1)
        .mount(&server)
        .await;
    let clock = clock();
    let auth =
        ApplicationAuth::new(context(&clock), app(), INST_1, cloud(&server), TENANT).unwrap();
    let cred = auth.credential();
    // The method's permissions do not change the scope: `.default` always.
    let request = TokenRequest::new(INST_1, vec!["User.Read.All".into()]);
    let first = cred.token(&request).await.unwrap();
    let second = cred
        .token(&TokenRequest::new(INST_1, vec!["Mail.Read".into()]))
        .await
        .unwrap();
    assert!(first.same_secret(&second), "served from the cache");

    let requests = server.received_requests().await.unwrap();
    let sent = form(&requests[0].body);
    assert_eq!(sent["scope"], graph_default);
    assert_eq!(sent["client_id"], CLIENT_ID);
    assert_eq!(sent["client_secret"], CLIENT_SECRET);
    assert!(requests[0].headers.get("authorization").is_none());
    server.verify().await;
}

#[test]
fn the_admin_consent_url_names_tenant_client_scope_redirect_and_state() {
    let clock = clock();
    let auth =
        ApplicationAuth::new(context(&clock), app(), INST_1, Cloud::UsGovernment, TENANT).unwrap();
    let url = auth.admin_consent_url().unwrap().into_url();
    assert_eq!(url.host_str(), Some("login.microsoftonline.us"));
    assert_eq!(url.path(), format!("/{TENANT}/v2.0/adminconsent"));
    let q = query(&url);
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["scope"], "https://graph.microsoft.us/.default");
    assert_eq!(q["redirect_uri"], REDIRECT);
    assert!(q["state"].len() >= 43);
}

#[test]
fn the_application_variant_refuses_shared_tenants_and_malformed_ids() {
    let clock = clock();
    for bad in [
        "common",
        "organizations",
        "consumers",
        "contoso.com/../x",
        "a b",
        "?x",
    ] {
        let err =
            ApplicationAuth::new(context(&clock), app(), INST_1, Cloud::Global, bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad}");
        assert_eq!(err.field(), Some("tenant_id"), "{bad}");
    }
    let no_secret = switchboard_microsoft365::identity::MicrosoftApp::new(CLIENT_ID);
    let err = ApplicationAuth::new(context(&clock), no_secret, INST_1, Cloud::Global, TENANT)
        .unwrap_err();
    assert_eq!(err.field(), Some("client_secret"));
}

#[tokio::test]
async fn a_granted_consent_is_proven_by_one_token_request() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    Mock::given(method("POST"))
        .and(path(token_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json(&jwt(TENANT, "a"), None)))
        .expect(1)
        .mount(&server)
        .await;
    let clock = clock();
    let auth =
        ApplicationAuth::new(context(&clock), app(), INST_1, cloud(&server), TENANT).unwrap();
    let state = query(auth.admin_consent_url().unwrap().url())["state"].clone();
    let upper = TENANT.to_uppercase();
    let done = auth
        .complete_admin_consent(&format!("admin_consent=True&tenant={upper}&state={state}"))
        .await
        .unwrap();
    assert_eq!(done.tenant_id, TENANT);
    server.verify().await;
}

#[tokio::test]
async fn a_callback_for_another_tenant_or_with_an_error_is_refused_without_a_token_request() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    let clock = clock();
    let auth =
        ApplicationAuth::new(context(&clock), app(), INST_1, cloud(&server), TENANT).unwrap();

    let state = query(auth.admin_consent_url().unwrap().url())["state"].clone();
    let err = auth
        .complete_admin_consent(&format!(
            "admin_consent=True&tenant={OTHER_TENANT}&state={state}"
        ))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Consent);
    assert_eq!(err.field(), Some("tenant"));

    let state = query(auth.admin_consent_url().unwrap().url())["state"].clone();
    let err = auth
        .complete_admin_consent(&format!(
            "error=access_denied&error_description=SECRET-DESCRIPTION&tenant={TENANT}&state={state}"
        ))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Consent);
    assert!(!format!("{err} {err:?}").contains("SECRET-DESCRIPTION"));

    // A reused state is refused too.
    let err = auth
        .complete_admin_consent(&format!("admin_consent=True&tenant={TENANT}&state={state}"))
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("state"));

    // No admin_consent=True: not granted.
    let state = query(auth.admin_consent_url().unwrap().url())["state"].clone();
    let err = auth
        .complete_admin_consent(&format!("tenant={TENANT}&state={state}"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Consent);
    server.verify().await;
}

/// A forged "success" callback does not make an installation work: the
/// token request is the proof, and it fails with the identity service's
/// reason.
#[tokio::test]
async fn a_forged_success_callback_fails_on_the_token_request() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    Mock::given(method("POST"))
        .and(path(token_path()))
        .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({
            "error": "unauthorized_client",
            "error_description": "AADSTS700016: Application not found in the directory.",
            "error_codes": [700016],
            "trace_id": "trace-1",
            "correlation_id": "corr-1"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let clock = clock();
    let auth =
        ApplicationAuth::new(context(&clock), app(), INST_1, cloud(&server), TENANT).unwrap();
    let state = query(auth.admin_consent_url().unwrap().url())["state"].clone();
    let err = auth
        .complete_admin_consent(&format!("admin_consent=True&tenant={TENANT}&state={state}"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration);
    let remote = err.remote().unwrap();
    assert_eq!(remote.inner_code.as_deref(), Some("AADSTS700016"));
    assert_eq!(remote.request_id.as_deref(), Some("trace-1"));
    server.verify().await;
}
