//! Redirects are followed by the engine, never by the HTTP client: same
//! origin with the credential (at most 5 hops), 303 as a GET without body,
//! cross-origin only when the method opts in and then with no credential
//! headers, otherwise an error with nothing sent.

mod support;

use futures::TryStreamExt;
use serde_json::json;
use support::*;
use switchboard_core::{Arguments, ErrorKind};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn redirect(status: u16, location: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).insert_header("Location", location)
}

#[tokio::test]
async fn a_same_origin_redirect_is_followed_with_the_credential() {
    let server = server().await;
    Mock::given(path("/v1.0/users/old"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(redirect(301, "/v1.0/users/new"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/new"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(json(200, json!({"id": "new"})))
        .expect(1)
        .mount(&server)
        .await;
    let cred = RecordingCredential::new();
    let response = engine()
        .call(
            &ctx(&server, cred.clone()),
            "users.get_user",
            Arguments::new().set("id", "old"),
        )
        .await
        .unwrap();
    assert_eq!(response.json().unwrap()["id"], "new");
    // Redirect hops belong to one attempt: one token.
    assert_eq!(cred.calls(), 1);
}

async fn chain(server: &MockServer, hops: usize) {
    for i in 0..hops {
        let from = if i == 0 {
            "/v1.0/users/start".to_string()
        } else {
            format!("/v1.0/hop{i}")
        };
        Mock::given(path(from.as_str()))
            .respond_with(redirect(302, &format!("/v1.0/hop{}", i + 1)))
            .expect(1)
            .mount(server)
            .await;
    }
}

#[tokio::test]
async fn five_hops_are_followed() {
    let server = server().await;
    chain(&server, 5).await;
    Mock::given(path("/v1.0/hop5"))
        .respond_with(json(200, json!({"id": "end"})))
        .expect(1)
        .mount(&server)
        .await;
    let response = engine()
        .call(
            &ctx(&server, RecordingCredential::new()),
            "users.get_user",
            Arguments::new().set("id", "start"),
        )
        .await
        .unwrap();
    assert_eq!(response.json().unwrap()["id"], "end");
}

#[tokio::test]
async fn a_sixth_hop_is_an_error_and_is_not_sent() {
    let server = server().await;
    chain(&server, 6).await;
    // /v1.0/hop6 is never requested: the catch-all would fail the test.
    let err = engine()
        .call(
            &ctx(&server, RecordingCredential::new()),
            "users.get_user",
            Arguments::new().set("id", "start"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Remote);
    assert!(err.to_string().contains("more than 5 times"), "{err}");
}

#[tokio::test]
async fn see_other_after_a_post_becomes_a_get_without_body() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/v1.0/me/sendMail"))
        .and(body_json(json!({"message": {"subject": "hi"}})))
        .respond_with(redirect(303, "/v1.0/status/1"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/status/1"))
        .and(EmptyBody)
        .and(NoHeader("content-type"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(json(200, json!({"status": "sent"})))
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
    assert_eq!(response.json().unwrap()["status"], "sent");
}

#[tokio::test]
async fn temporary_redirect_keeps_the_method_and_body() {
    let server = server().await;
    Mock::given(method("PUT"))
        .and(path("/v1.0/me/drive/items/f1/content"))
        .respond_with(redirect(307, "/v1.0/upload/f1"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/v1.0/upload/f1"))
        .and(wiremock::matchers::body_bytes(b"file content".to_vec()))
        .and(header("content-type", "application/octet-stream"))
        .respond_with(json(201, json!({"id": "f1"})))
        .expect(1)
        .mount(&server)
        .await;
    let response = engine()
        .call(
            &ctx(&server, RecordingCredential::new()),
            "onedrive.upload_small",
            Arguments::new()
                .set("item_id", "f1")
                .with_content(&b"file content"[..]),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn a_cross_origin_download_redirect_is_followed_without_any_credential() {
    let graph = server().await;
    let storage = server().await;
    Mock::given(path("/v1.0/me/drive/items/f1/content"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(redirect(
            302,
            &format!("{}/download/f1?tempauth=PREAUTH", storage.uri()),
        ))
        .expect(2)
        .mount(&graph)
        .await;
    Mock::given(method("GET"))
        .and(path("/download/f1"))
        .and(NoHeader("authorization"))
        .and(NoHeader("cookie"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"0123456789".to_vec()))
        .expect(2)
        .mount(&storage)
        .await;
    let engine = engine();
    let ctx = ctx(&graph, RecordingCredential::new());
    let args = || Arguments::new().set("item_id", "f1");

    let response = engine
        .call(&ctx, "onedrive.download_file", args())
        .await
        .unwrap();
    assert_eq!(response.bytes().unwrap().as_ref(), b"0123456789");

    let stream = engine
        .call_stream(&ctx, "onedrive.download_file", args())
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.content_length(), Some(10));
    let chunks: Vec<bytes::Bytes> = stream.try_collect().await.unwrap();
    assert_eq!(chunks.concat(), b"0123456789");
}

#[tokio::test]
async fn a_cross_origin_redirect_is_refused_when_the_method_does_not_opt_in() {
    let graph = server().await;
    let other = server().await;
    Mock::given(path("/v1.0/me/drive/items/f1"))
        .respond_with(redirect(302, &format!("{}/elsewhere", other.uri())))
        .expect(1)
        .mount(&graph)
        .await;
    let err = engine()
        .call(
            &ctx(&graph, RecordingCredential::new()),
            "onedrive.get_item",
            Arguments::new().set("item_id", "f1"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UntrustedLink);
    assert!(err.to_string().contains("does not follow"), "{err}");
    assert!(other.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_redirect_location_with_user_info_is_refused() {
    let graph = server().await;
    let port = url::Url::parse(&graph.uri()).unwrap().port().unwrap();
    Mock::given(path("/v1.0/users/adele"))
        .respond_with(redirect(
            302,
            &format!("http://attacker@127.0.0.1:{port}/v1.0/users/x"),
        ))
        .expect(1)
        .mount(&graph)
        .await;
    let err = engine()
        .call(
            &ctx(&graph, RecordingCredential::new()),
            "users.get_user",
            Arguments::new().set("id", "adele"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UntrustedLink);
}

#[tokio::test]
async fn after_leaving_the_origin_the_credential_is_never_restored() {
    // graph -> storage -> back to graph: the last hop carries no credential.
    let graph = server().await;
    let storage = server().await;
    Mock::given(path("/v1.0/me/drive/items/f1/content"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(redirect(302, &format!("{}/hop", storage.uri())))
        .expect(1)
        .mount(&graph)
        .await;
    Mock::given(path("/hop"))
        .and(NoHeader("authorization"))
        .respond_with(redirect(302, &format!("{}/v1.0/back", graph.uri())))
        .expect(1)
        .mount(&storage)
        .await;
    Mock::given(path("/v1.0/back"))
        .and(NoHeader("authorization"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"ok".to_vec()))
        .expect(1)
        .mount(&graph)
        .await;
    let response = engine()
        .call(
            &ctx(&graph, RecordingCredential::new()),
            "onedrive.download_file",
            Arguments::new().set("item_id", "f1"),
        )
        .await
        .unwrap();
    assert_eq!(response.bytes().unwrap().as_ref(), b"ok");
}

#[tokio::test]
async fn a_redirect_without_location_is_returned_as_is() {
    let server = server().await;
    Mock::given(path("/v1.0/users/adele"))
        .respond_with(ResponseTemplate::new(304))
        .expect(1)
        .mount(&server)
        .await;
    let response = engine()
        .call(
            &ctx(&server, RecordingCredential::new()),
            "users.get_user",
            Arguments::new().set("id", "adele"),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 304);
}
