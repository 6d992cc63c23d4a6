//! Each AADSTS code from the token endpoint becomes a typed error with an
//! actionable message; the description never reaches the error, and the
//! mapping follows `error_codes`, not the description text.

mod identity_support;

use identity_support::*;
use serde_json::json;
use switchboard_core::ErrorKind;
use switchboard_core::InstallationId;
use switchboard_core::credential::{Credential, TokenRequest};
use switchboard_microsoft365::application::ApplicationAuth;
use switchboard_microsoft365::delegated::DelegatedAuth;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const INST_1: InstallationId = InstallationId::from_u128(1);

/// (code, OAuth `error` Microsoft sends with it, expected kind, words the message must contain)
const CASES: &[(u64, &str, ErrorKind, &str)] = &[
    (
        65001,
        "invalid_grant",
        ErrorKind::Consent,
        "administrator must grant consent",
    ),
    (65004, "invalid_grant", ErrorKind::Consent, "declined"),
    (
        90094,
        "invalid_grant",
        ErrorKind::Consent,
        "administrator's consent",
    ),
    (
        700016,
        "unauthorized_client",
        ErrorKind::Configuration,
        "client id",
    ),
    (7000215, "invalid_client", ErrorKind::Configuration, "Value"),
    (
        7000222,
        "invalid_client",
        ErrorKind::Configuration,
        "expired",
    ),
    (
        50076,
        "invalid_grant",
        ErrorKind::NeedsReauth,
        "multi-factor",
    ),
    (
        50079,
        "interaction_required",
        ErrorKind::NeedsReauth,
        "multi-factor",
    ),
    (
        50078,
        "invalid_grant",
        ErrorKind::NeedsReauth,
        "multi-factor",
    ),
    (
        50074,
        "interaction_required",
        ErrorKind::NeedsReauth,
        "multi-factor",
    ),
    (
        53003,
        "invalid_grant",
        ErrorKind::Forbidden,
        "Conditional Access",
    ),
    (
        70008,
        "invalid_grant",
        ErrorKind::NeedsReauth,
        "sign in again",
    ),
    (
        700082,
        "invalid_grant",
        ErrorKind::NeedsReauth,
        "sign in again",
    ),
    (
        50173,
        "invalid_grant",
        ErrorKind::NeedsReauth,
        "sign in again",
    ),
    (90002, "invalid_request", ErrorKind::Configuration, "tenant"),
    (
        50194,
        "invalid_request",
        ErrorKind::Configuration,
        "multi-tenant",
    ),
    (
        9001023,
        "invalid_request",
        ErrorKind::Configuration,
        "tenant ID",
    ),
    (70011, "invalid_scope", ErrorKind::Configuration, "scope"),
    (
        700022,
        "invalid_scope",
        ErrorKind::Configuration,
        ".default",
    ),
];

fn error_body(error: &str, codes: &[u64], description: &str) -> serde_json::Value {
    json!({
        "error": error,
        "error_description": description,
        "error_codes": codes,
        "timestamp": "2026-01-01 00:00:00Z",
        "trace_id": "trace-123",
        "correlation_id": "corr-456",
        "error_uri": "https://login.microsoftonline.com/error?code=1"
    })
}

#[tokio::test]
async fn each_aadsts_code_maps_to_a_typed_actionable_error() {
    for &(code, error, kind, words) in CASES {
        let server = MockServer::start().await;
        catch_all(&server).await;
        Mock::given(method("POST"))
            .and(path(format!("/{TENANT}/oauth2/v2.0/token")))
            .respond_with(ResponseTemplate::new(400).set_body_json(error_body(
                error,
                &[code],
                &format!("AADSTS{code}: SECRET-DESCRIPTION rt=refresh-token-leak"),
            )))
            .expect(1)
            .mount(&server)
            .await;
        let clock = clock();
        let auth =
            ApplicationAuth::new(context(&clock), app(), INST_1, cloud(&server), TENANT).unwrap();
        let err = auth
            .credential()
            .token(&TokenRequest::new(INST_1, vec![]))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), kind, "AADSTS{code}");
        let text = err.to_string();
        assert!(text.contains(words), "AADSTS{code}: {text}");
        let everything = format!("{text} {err:?}");
        assert!(
            !everything.contains("SECRET-DESCRIPTION"),
            "AADSTS{code}: {everything}"
        );
        assert!(!everything.contains("refresh-token-leak"));
        let remote = err.remote().unwrap();
        assert_eq!(remote.code.as_deref(), Some(error));
        assert_eq!(
            remote.inner_code.as_deref(),
            Some(format!("AADSTS{code}").as_str())
        );
        assert_eq!(remote.request_id.as_deref(), Some("trace-123"));
        assert_eq!(remote.client_request_id.as_deref(), Some("corr-456"));
        server.verify().await;
    }
}

/// The description says 65001 (consent) but `error_codes` says 70008:
/// the code wins. With no code at all, `error` decides.
#[tokio::test]
async fn the_mapping_follows_error_codes_and_error_never_the_description() {
    let cases = [
        (
            error_body("invalid_grant", &[70008], "AADSTS65001: consent"),
            ErrorKind::NeedsReauth,
        ),
        (
            error_body("invalid_grant", &[], "AADSTS65001: consent"),
            ErrorKind::NeedsReauth,
        ),
        (
            error_body("invalid_client", &[12345], "AADSTS70008: expired"),
            ErrorKind::Configuration,
        ),
        (
            error_body("something_new", &[], "AADSTS70008: expired"),
            ErrorKind::Remote,
        ),
    ];
    for (body, kind) in cases {
        let server = MockServer::start().await;
        catch_all(&server).await;
        Mock::given(method("POST"))
            .and(path(format!("/{TENANT}/oauth2/v2.0/token")))
            .respond_with(ResponseTemplate::new(400).set_body_json(body.clone()))
            .expect(1)
            .mount(&server)
            .await;
        let clock = clock();
        let auth =
            ApplicationAuth::new(context(&clock), app(), INST_1, cloud(&server), TENANT).unwrap();
        let err = auth
            .credential()
            .token(&TokenRequest::new(INST_1, vec![]))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), kind, "{body}");
        server.verify().await;
    }
}

/// `invalid_grant` with AADSTS70008 on a delegated refresh: NeedsReauth,
/// and the installation's token endpoint is left alone for 60 s.
#[tokio::test]
async fn an_expired_grant_needs_reauth_and_starts_the_quiet_period() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    let token_path = format!("/{TENANT}/oauth2/v2.0/token");
    Mock::given(method("POST"))
        .and(path(&token_path))
        .and(wiremock::matchers::body_string_contains(
            "grant_type=authorization_code",
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(token_json(&jwt(TENANT, "c"), Some("rt-1"))),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(&token_path))
        .and(wiremock::matchers::body_string_contains(
            "grant_type=refresh_token",
        ))
        .respond_with(ResponseTemplate::new(400).set_body_json(error_body(
            "invalid_grant",
            &[70008],
            "x",
        )))
        .expect(1)
        .mount(&server)
        .await;
    let clock = clock();
    let auth = DelegatedAuth::new(context(&clock), app(), INST_1, cloud(&server), TENANT).unwrap();
    let state = query(auth.begin(&["User.Read".into()]).unwrap().url())["state"].clone();
    auth.complete(&format!("code=c&state={state}"))
        .await
        .unwrap();
    let cred = auth.credential();
    let request = TokenRequest::new(INST_1, vec!["User.Read".into()]);
    let err = cred.token(&request).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NeedsReauth);
    clock.advance(std::time::Duration::from_secs(30));
    let held = cred.token(&request).await.unwrap_err();
    assert_eq!(held.kind(), ErrorKind::NeedsReauth);
    assert_eq!(held.retry_after(), Some(std::time::Duration::from_secs(30)));
    server.verify().await;
}
