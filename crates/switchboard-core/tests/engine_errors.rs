//! Errors: each status class becomes its kind, with the service's code,
//! message and request ids (nested inner errors walked), a message that says
//! what to do, and, for 403, the permissions the method declares for the
//! installation's variant. Local mistakes fail before anything is sent.

mod support;

use serde_json::json;
use support::*;
use switchboard_core::engine::response::ResponseBody;
use switchboard_core::{Arguments, ErrorKind};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

fn get_user() -> Arguments {
    Arguments::new().set("id", "adele")
}

#[tokio::test]
async fn forbidden_names_the_permissions_of_the_installation_variant() {
    let server = server().await;
    Mock::given(path("/v1.0/users/adele"))
        .respond_with(graph_error(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        ))
        .expect(2)
        .mount(&server)
        .await;
    let engine = engine();
    let err = engine
        .call(
            &ctx(&server, RecordingCredential::new()),
            "users.get_user",
            get_user(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    assert_eq!(err.permissions(), ["User.Read", "User.ReadBasic.All"]);
    let text = err.to_string();
    assert!(text.contains("HTTP 403"), "{text}");
    assert!(text.contains("Authorization_RequestDenied"), "{text}");
    assert!(text.contains("Insufficient privileges"), "{text}");
    assert!(text.contains("request-id req-123"), "{text}");
    assert!(text.contains("User.Read, User.ReadBasic.All"), "{text}");

    let err = engine
        .call(
            &app_ctx(&server, RecordingCredential::new()),
            "users.get_user",
            get_user(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    assert_eq!(err.permissions(), ["User.Read.All"]);
    assert!(err.to_string().contains("`application` variant"), "{err}");
}

#[tokio::test]
async fn not_found_walks_nested_inner_errors() {
    let server = server().await;
    Mock::given(path("/v1.0/users/adele"))
        .respond_with(json(404, json!({"error": {
            "code": "Request_ResourceNotFound",
            "message": "Resource 'adele' does not exist or one of its queried reference-property objects are not present.",
            "innerError": {
                "date": "2026-05-01T10:00:00",
                "request-id": "0f3c-request",
                "client-request-id": "0f3c-client",
                "innerError": {"code": "UserNotFound"}
            }
        }})))
        .expect(1)
        .mount(&server)
        .await;
    let err = engine()
        .call(
            &ctx(&server, RecordingCredential::new()),
            "users.get_user",
            get_user(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let remote = err.remote().unwrap();
    assert_eq!(remote.status, Some(404));
    assert_eq!(remote.code.as_deref(), Some("Request_ResourceNotFound"));
    assert_eq!(remote.inner_code.as_deref(), Some("UserNotFound"));
    assert_eq!(remote.request_id.as_deref(), Some("0f3c-request"));
    assert_eq!(remote.client_request_id.as_deref(), Some("0f3c-client"));
    assert_eq!(remote.date.as_deref(), Some("2026-05-01T10:00:00"));
    assert!(err.to_string().contains("check the identifiers"), "{err}");
    assert!(
        err.to_string()
            .contains("Request_ResourceNotFound/UserNotFound"),
        "{err}"
    );
}

#[tokio::test]
async fn conflicts_and_other_statuses() {
    for (status, kind, hint) in [
        (409, ErrorKind::Conflict, "read it again"),
        (412, ErrorKind::Conflict, "read it again"),
        (400, ErrorKind::Remote, "bad request"),
        (405, ErrorKind::Remote, "refused"),
        (501, ErrorKind::Remote, "failed to handle"),
    ] {
        let server = server().await;
        Mock::given(method("DELETE"))
            .and(path("/v1.0/users/adele"))
            .respond_with(graph_error(status, "someCode", "Some message"))
            .expect(1)
            .mount(&server)
            .await;
        let err = engine()
            .call(
                &ctx(&server, RecordingCredential::new()),
                "users.delete_user",
                get_user(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), kind, "{status}");
        assert_eq!(err.status(), Some(status));
        assert!(err.to_string().contains(hint), "{status}: {err}");
    }
}

#[tokio::test]
async fn the_request_id_header_is_used_when_the_body_has_none() {
    let server = server().await;
    Mock::given(path("/v1.0/users/adele"))
        .respond_with(
            ResponseTemplate::new(404)
                .insert_header("request-id", "hdr-req")
                .set_body_string("<html>not json</html>"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let err = engine()
        .call(
            &ctx(&server, RecordingCredential::new()),
            "users.get_user",
            get_user(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.remote().unwrap().request_id.as_deref(), Some("hdr-req"));
    assert!(!err.to_string().contains("<html>"), "{err}");
}

#[tokio::test]
async fn local_mistakes_fail_before_anything_is_sent() {
    let server = server().await;
    let cred = RecordingCredential::new();
    let ctx = ctx(&server, cred.clone());
    let engine = engine();

    let err = engine
        .call(&ctx, "users.get_usr", get_user())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(err.field(), Some("method"));
    assert!(
        err.to_string().contains("did you mean `users.get_user`"),
        "{err}"
    );

    let err = engine
        .call(
            &ctx,
            "users.get_user",
            Arguments::new().set("id", "../admin"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(err.field(), Some("id"));

    let err = engine
        .call(&ctx, "users.get_user", Arguments::new())
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("id"));

    let other = switchboard_core::engine::InstallationContext::new(
        INSTALLATION,
        "nope",
        "delegated",
        endpoints(&server),
        cred.clone(),
    );
    let err = engine
        .call(&other, "users.get_user", get_user())
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("connector"));
    assert!(err.to_string().contains("testsvc"), "{err}");

    // `users.get_me` declares permissions for the delegated variant only.
    let err = engine
        .call(
            &app_ctx(&server, cred.clone()),
            "users.get_me",
            Arguments::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(err.field(), Some("method"));
    assert!(
        err.to_string().contains(
            "`users.get_me` is not available to installations using the `application` variant"
        ),
        "{err}"
    );
    // ...and the same method on the delegated variant is sent.
    Mock::given(path("/v1.0/me"))
        .respond_with(json(200, json!({"id": "adele"})))
        .expect(1)
        .mount(&server)
        .await;
    let me = engine
        .call(&ctx, "users.get_me", Arguments::new())
        .await
        .unwrap();
    assert_eq!(me.status(), 200);

    assert_eq!(cred.calls(), 1, "only the delegated call asked for a token");
    assert_eq!(
        server.received_requests().await.unwrap_or_default().len(),
        1
    );
}

#[tokio::test]
async fn engine_installation_checks_connector_and_variant() {
    let engine = engine();
    let cred = RecordingCredential::new();
    let err = engine
        .installation(
            INSTALLATION,
            CONNECTOR,
            "robot",
            Default::default(),
            cred.clone(),
        )
        .unwrap_err();
    assert_eq!(err.field(), Some("variant"));
    assert!(err.to_string().contains("delegated, application"), "{err}");
    let ctx = engine
        .installation(
            INSTALLATION,
            CONNECTOR,
            "application",
            Default::default(),
            cred,
        )
        .unwrap();
    assert_eq!(
        ctx.endpoints().base_url.as_str(),
        "https://graph.microsoft.com/v1.0"
    );
    assert_eq!(ctx.endpoints().allowed_hosts, vec!["graph.microsoft.com"]);
}

#[tokio::test]
async fn a_success_with_invalid_json_is_a_decode_error_without_the_body() {
    let server = server().await;
    Mock::given(path("/v1.0/users/adele"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string("{\"id\": \"adele\", \"secret\": \"BODYSECRET\""),
        )
        .expect(1)
        .mount(&server)
        .await;
    let err = engine()
        .call(
            &ctx(&server, RecordingCredential::new()),
            "users.get_user",
            get_user(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(!err.to_string().contains("BODYSECRET"));
    assert!(!format!("{err:?}").contains("BODYSECRET"));
}

#[tokio::test]
async fn empty_and_selected_headers_responses() {
    let server = server().await;
    Mock::given(method("DELETE"))
        .and(path("/v1.0/users/adele"))
        .respond_with(
            ResponseTemplate::new(204)
                .insert_header("request-id", "r-9")
                .insert_header("set-cookie", "session=abc"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let response = engine()
        .call(
            &ctx(&server, RecordingCredential::new()),
            "users.delete_user",
            get_user(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(response.body(), &ResponseBody::Empty);
    assert_eq!(response.header("request-id"), Some("r-9"));
    assert!(response.headers().get("set-cookie").is_none());
}

#[tokio::test]
async fn a_service_message_carrying_a_token_is_redacted() {
    let server = server().await;
    let jwt = "eyJ0eXAiOiJKV1QiLCJub25jZSI6IkFCQyJ9.eyJhdWQiOiJodHRwczovL2dyYXBoLm1pY3Jvc29mdC5jb20ifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ";
    Mock::given(path("/v1.0/users/adele"))
        .respond_with(graph_error(
            400,
            "BadRequest",
            &format!("Token {jwt} is malformed"),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let err = engine()
        .call(
            &ctx(&server, RecordingCredential::new()),
            "users.get_user",
            get_user(),
        )
        .await
        .unwrap_err();
    assert!(!err.to_string().contains(jwt));
    assert!(!format!("{err:?}").contains(jwt));
    assert!(
        err.to_string().contains("Token [redacted] is malformed"),
        "{err}"
    );
}

#[tokio::test]
async fn a_method_the_variant_does_not_support_is_refused_before_anything_is_sent() {
    let server = server().await;
    let cred = RecordingCredential::new();
    let ctx = app_ctx(&server, cred.clone());
    let engine = engine();
    let err = engine
        .call(&ctx, "users.get_me", Arguments::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(err.field(), Some("method"));
    assert!(err.to_string().contains("`application` variant"), "{err}");

    // A continuation cannot smuggle the method in either.
    let continuation: switchboard_core::Continuation = serde_json::from_value(json!({
        "installation_id": INSTALLATION, "method_id": "users.get_me", "kind": "next_page",
        "link": format!("{}/v1.0/me?$skiptoken=x", server.uri())
    }))
    .unwrap();
    let mut stream = engine.resume(&ctx, &continuation);
    let err = futures::StreamExt::next(&mut stream)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.field(), Some("method"));
    assert_eq!(cred.calls(), 0);
}
