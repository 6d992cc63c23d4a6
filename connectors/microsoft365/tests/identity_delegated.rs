//! Delegated variant: authorize URL, code exchange with PKCE, refresh with
//! the cloud's Graph scopes, rotated refresh tokens.

mod identity_support;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use identity_support::*;
use sha2::{Digest, Sha256};
use switchboard_core::ErrorKind;
use switchboard_core::InstallationId;
use switchboard_core::credential::{Credential, TokenRequest};
use switchboard_microsoft365::cloud::Cloud;
use switchboard_microsoft365::delegated::DelegatedAuth;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const INST_1: InstallationId = InstallationId::from_u128(1);

#[test]
fn the_authorize_url_asks_for_the_enabled_methods_on_the_clouds_graph_host() {
    let clock = clock();
    let auth = DelegatedAuth::new(
        context(&clock),
        app(),
        INST_1,
        Cloud::UsGovernmentDod,
        TENANT,
    )
    .unwrap();
    let url = auth
        .begin(&["User.Read".into(), "Mail.Send".into(), "User.Read".into()])
        .unwrap()
        .into_url();
    assert_eq!(url.host_str(), Some("login.microsoftonline.us"));
    assert_eq!(url.path(), format!("/{TENANT}/oauth2/v2.0/authorize"));
    let q = query(&url);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["redirect_uri"], REDIRECT);
    assert_eq!(
        q["scope"],
        "https://dod-graph.microsoft.us/User.Read https://dod-graph.microsoft.us/Mail.Send offline_access openid"
    );
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    let (id, random) = q["state"].split_once('.').unwrap();
    assert_eq!(id, INST_1.as_uuid().simple().to_string());
    assert!(URL_SAFE_NO_PAD.decode(random).unwrap().len() >= 16);
}

#[test]
fn the_delegated_variant_accepts_shared_tenants_but_not_malformed_ids() {
    let clock = clock();
    for ok in ["organizations", "common", "contoso.onmicrosoft.com", TENANT] {
        assert!(
            DelegatedAuth::new(context(&clock), app(), INST_1, Cloud::Global, ok).is_ok(),
            "{ok}"
        );
    }
    for bad in [
        "consumers",
        "",
        "con toso.com",
        "contoso.com/x",
        "..",
        "contoso.com?a=b",
        "%2F",
    ] {
        let err =
            DelegatedAuth::new(context(&clock), app(), INST_1, Cloud::Global, bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad}");
        assert_eq!(err.field(), Some("tenant_id"), "{bad}");
    }
}

/// Sign-in end to end against a stand-in identity service: the code is
/// exchanged with the verifier of the challenge, the refresh token is
/// stored, later tokens come from refreshes with the method's Graph scope,
/// and a rotated refresh token replaces the stored one.
#[tokio::test]
async fn sign_in_then_refresh_with_rotation() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    let token_path = format!("/{TENANT}/oauth2/v2.0/token");
    Mock::given(method("POST"))
        .and(path(&token_path))
        .and(body_string_contains("grant_type=authorization_code"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(token_json(&jwt(TENANT, "code"), Some("rt-1"))),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(&token_path))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=rt-1&"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(token_json(&jwt(TENANT, "r1"), Some("rt-2"))),
        )
        .expect(1)
        .mount(&server)
        .await;

    let clock = clock();
    let ctx = context(&clock);
    let store = ctx.grants.clone();
    let auth = DelegatedAuth::new(ctx, app(), INST_1, cloud(&server), TENANT).unwrap();
    let start = auth.begin(&["User.Read".into()]).unwrap();
    let q = query(start.url());
    let done = auth
        .complete(&format!(
            "code=auth-code&state={}&session_state=x",
            q["state"]
        ))
        .await
        .unwrap();
    assert_eq!(done.tenant_id.as_deref(), Some(TENANT));

    let token = auth
        .credential()
        .token(&TokenRequest::new(INST_1, vec!["Mail.Read".into()]))
        .await
        .unwrap();
    assert_eq!(token.secret(), jwt(TENANT, "r1"));
    assert_eq!(
        store
            .load_grant(INST_1)
            .await
            .unwrap()
            .unwrap()
            .refresh_token
            .unwrap()
            .secret(),
        "rt-2"
    );

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    let exchange = form(&requests[0].body);
    assert_eq!(exchange["code"], "auth-code");
    assert_eq!(exchange["redirect_uri"], REDIRECT);
    assert_eq!(
        URL_SAFE_NO_PAD.encode(Sha256::digest(exchange["code_verifier"].as_bytes())),
        q["code_challenge"]
    );
    let refresh = form(&requests[1].body);
    assert_eq!(refresh["scope"], format!("{}/Mail.Read", server.uri()));
    assert_eq!(refresh["client_secret"], CLIENT_SECRET);
    server.verify().await;
}

#[tokio::test]
async fn callback_errors_become_typed_errors_without_a_token_request() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    let clock = clock();
    let auth = DelegatedAuth::new(context(&clock), app(), INST_1, cloud(&server), TENANT).unwrap();
    for (code, kind) in [
        ("access_denied", ErrorKind::Consent),
        ("consent_required", ErrorKind::Consent),
        ("interaction_required", ErrorKind::NeedsReauth),
        ("login_required", ErrorKind::NeedsReauth),
        ("unauthorized_client", ErrorKind::Configuration),
        ("server_error", ErrorKind::Transient),
    ] {
        let state = query(auth.begin(&["User.Read".into()]).unwrap().url())["state"].clone();
        let err = auth
            .complete(&format!(
                "error={code}&error_description=AADSTS65004%3A+SECRET-DESCRIPTION&state={state}"
            ))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), kind, "{code}");
        assert!(!format!("{err} {err:?}").contains("SECRET-DESCRIPTION"));
    }
    server.verify().await;
}
