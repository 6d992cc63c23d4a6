//! The token seam: which scopes the credential is asked for, that the token
//! reaches the server, one refresh after a 401, claims challenges, and that
//! a second 401 asks for re-authentication.

mod support;

use serde_json::json;
use support::*;
use switchboard_core::credential::{AccessToken, StaticCredential};
use switchboard_core::{Arguments, ErrorKind};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

const CLAIMS_JSON: &str = r#"{"access_token":{"nbf":{"essential":true,"value":"1604106651"}}}"#;
const CLAIMS_B64: &str =
    "eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwidmFsdWUiOiIxNjA0MTA2NjUxIn19fQ==";

fn get_user() -> Arguments {
    Arguments::new().set("id", "adele")
}

#[tokio::test]
async fn scopes_are_the_method_permissions_for_the_variant_and_the_token_is_sent() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/adele"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(json(200, json!({"id": "adele"})))
        .expect(2)
        .mount(&server)
        .await;
    let engine = engine();

    let delegated = RecordingCredential::new();
    engine
        .call(
            &ctx(&server, delegated.clone()),
            "users.get_user",
            get_user(),
        )
        .await
        .unwrap();
    let requests = delegated.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].installation_id, INSTALLATION);
    assert_eq!(*requests[0].scopes, vec!["User.Read", "User.ReadBasic.All"]);
    assert!(requests[0].rejected.is_none());

    let application = RecordingCredential::new();
    engine
        .call(
            &app_ctx(&server, application.clone()),
            "users.get_user",
            get_user(),
        )
        .await
        .unwrap();
    assert_eq!(*application.requests()[0].scopes, vec!["User.Read.All"]);
}

/// A context keeps where its connector and variant are in the first
/// engine it calls through; another engine, whose registry has them
/// elsewhere (another connector before it, the variants in the other
/// order), must find them itself: the delegated variant's scopes every
/// time, in either engine, in any order.
#[tokio::test]
async fn a_context_used_with_two_engines_finds_its_variant_in_each() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/adele"))
        .respond_with(json(200, json!({"id": "adele"})))
        .expect(4)
        .mount(&server)
        .await;
    catch_all(&server).await;
    let first = engine();
    let mut reordered = definition();
    reordered.auth_variants.reverse();
    let mut before = reordered.clone();
    before.id = "another".into();
    let mut registry = switchboard_core::connector::Registry::new();
    for def in [before, reordered] {
        registry
            .register(std::sync::Arc::new(
                switchboard_core::connector::DefinitionConnector::new(def),
            ))
            .unwrap();
    }
    let second = engine_of_registry(registry);

    let credential = RecordingCredential::new();
    let ctx = ctx(&server, credential.clone());
    for engine in [&first, &second, &first, &second] {
        engine
            .call(&ctx, "users.get_user", get_user())
            .await
            .unwrap();
    }
    let scopes: Vec<Vec<String>> = credential
        .requests()
        .iter()
        .map(|r| r.scopes.to_vec())
        .collect();
    assert_eq!(scopes, vec![vec!["User.Read", "User.ReadBasic.All"]; 4]);
}

#[tokio::test]
async fn a_401_refreshes_the_token_once_and_retries_once() {
    let server = server().await;
    Mock::given(path("/v1.0/users/adele"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(graph_error(
            401,
            "InvalidAuthenticationToken",
            "Access token has expired.",
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/v1.0/users/adele"))
        .and(header("authorization", "Bearer tok-2"))
        .respond_with(json(200, json!({"id": "adele"})))
        .expect(1)
        .mount(&server)
        .await;
    let cred = RecordingCredential::new();
    let response = engine()
        .call(&ctx(&server, cred.clone()), "users.get_user", get_user())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let requests = cred.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests[0].rejected.is_none());
    let rejected = requests[1]
        .rejected
        .as_ref()
        .expect("the refused token is passed back");
    assert_eq!(rejected.secret(), "tok-1");
    assert!(requests[1].claims.is_none());
}

#[tokio::test]
async fn a_401_on_a_post_is_retried_once_because_nothing_was_done() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/v1.0/me/sendMail"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1.0/me/sendMail"))
        .and(header("authorization", "Bearer tok-2"))
        .respond_with(ResponseTemplate::new(202))
        .expect(1)
        .mount(&server)
        .await;
    let response = engine()
        .call(
            &ctx(&server, RecordingCredential::new()),
            "mail.send_mail",
            Arguments::new().set("message", json!({"subject": "hi"})),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
}

#[tokio::test]
async fn a_second_401_is_unauthorized_and_asks_for_reauthentication() {
    let server = server().await;
    Mock::given(path("/v1.0/users/adele"))
        .respond_with(graph_error(
            401,
            "InvalidAuthenticationToken",
            "Access token validation failure.",
        ))
        .expect(2)
        .mount(&server)
        .await;
    let cred = RecordingCredential::new();
    let err = engine()
        .call(&ctx(&server, cred.clone()), "users.get_user", get_user())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert!(err.needs_reauth());
    assert!(err.to_string().contains("re-authenticated"), "{err}");
    assert!(
        err.to_string().contains("InvalidAuthenticationToken"),
        "{err}"
    );
    assert_eq!(err.status(), Some(401));
    // Asked for a token twice: once fresh, once after the refusal. Never a third time.
    assert_eq!(cred.calls(), 2);
    let received = server.received_requests().await.unwrap();
    let auths: Vec<_> = received
        .iter()
        .map(|r| {
            r.headers
                .get("authorization")
                .unwrap()
                .to_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(auths, vec!["Bearer tok-1", "Bearer tok-2"]);
}

#[tokio::test]
async fn a_claims_challenge_is_decoded_and_handed_to_the_credential_once() {
    let server = server().await;
    let challenge = format!(
        r#"Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000", error="insufficient_claims", claims="{CLAIMS_B64}""#
    );
    Mock::given(path("/v1.0/users/adele"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(
            ResponseTemplate::new(401).insert_header("WWW-Authenticate", challenge.as_str()),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/v1.0/users/adele"))
        .and(header("authorization", "Bearer tok-2"))
        .respond_with(json(200, json!({"id": "adele"})))
        .expect(1)
        .mount(&server)
        .await;
    let cred = RecordingCredential::new();
    engine()
        .call(&ctx(&server, cred.clone()), "users.get_user", get_user())
        .await
        .unwrap();
    let requests = cred.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].claims.as_deref(), Some(CLAIMS_JSON));
    assert_eq!(requests[1].rejected.as_ref().unwrap().secret(), "tok-1");
}

#[tokio::test]
async fn a_repeated_claims_challenge_is_not_handed_over_twice() {
    let server = server().await;
    let challenge = format!(r#"Bearer error="insufficient_claims", claims="{CLAIMS_B64}""#);
    Mock::given(path("/v1.0/users/adele"))
        .respond_with(
            ResponseTemplate::new(401).insert_header("WWW-Authenticate", challenge.as_str()),
        )
        .expect(2)
        .mount(&server)
        .await;
    let cred = RecordingCredential::new();
    let err = engine()
        .call(&ctx(&server, cred.clone()), "users.get_user", get_user())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    let with_claims = cred
        .requests()
        .iter()
        .filter(|r| r.claims.is_some())
        .count();
    assert_eq!(with_claims, 1);
}

#[tokio::test]
async fn a_credential_that_cannot_refresh_ends_the_call_after_one_request() {
    let server = server().await;
    Mock::given(path("/v1.0/users/adele"))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&server)
        .await;
    // The static credential refuses to hand out the token that was refused.
    let cred = std::sync::Arc::new(StaticCredential::new(AccessToken::new(
        "static-token",
        None,
    )));
    let err = engine()
        .call(&ctx(&server, cred), "users.get_user", get_user())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert!(err.to_string().contains("re-authenticate"), "{err}");

    let server2 = support::server().await;
    Mock::given(path("/v1.0/users/adele"))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&server2)
        .await;
    let err = engine()
        .call(
            &ctx(&server2, RecordingCredential::refusing_refresh()),
            "users.get_user",
            get_user(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NeedsReauth);
}

#[tokio::test]
async fn a_credential_failure_sends_nothing() {
    let server = server().await;
    let err = engine()
        .call(
            &ctx(&server, std::sync::Arc::new(FailingCredential)),
            "users.get_user",
            get_user(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NeedsReauth);
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn one_authorization_header_and_the_connector_default_headers_are_sent() {
    let server = server().await;
    Mock::given(path("/v1.0/users/adele"))
        .respond_with(json(200, json!({"id": "adele"})))
        .expect(1)
        .mount(&server)
        .await;
    engine()
        .call(
            &ctx(&server, RecordingCredential::new()),
            "users.get_user",
            get_user(),
        )
        .await
        .unwrap();
    let received = server.received_requests().await.unwrap();
    let values: Vec<_> = received[0]
        .headers
        .get_all("authorization")
        .iter()
        .collect();
    assert_eq!(values.len(), 1);
    assert_eq!(
        received[0].headers.get("accept").unwrap(),
        "application/json"
    );
}
