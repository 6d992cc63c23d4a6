//! Requests to a link a method returned (`Engine::send_link`): the same
//! pipeline as a call. An uncredentialed link gets no token and no
//! Authorization header; a resumable one is resent after 500 and 502 where
//! a plain one is not; a credentialed one carries the method's token; a
//! link that fails the host check sends nothing.

mod support;

use bytes::Bytes;
use http::{HeaderValue, Method, header::CONTENT_RANGE};
use serde_json::json;
use support::*;
use switchboard_core::engine::LinkRequest;
use switchboard_core::{ErrorKind, ResponseBody};
use url::Url;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

fn link(server: &wiremock::MockServer) -> Url {
    Url::parse(&format!(
        "{}/up/session-1?tempauth=link-secret",
        server.uri()
    ))
    .unwrap()
}

fn fragment(url: Url) -> LinkRequest {
    LinkRequest::new(Method::PUT, url)
        .without_credential()
        .header(CONTENT_RANGE, HeaderValue::from_static("bytes 0-3/4"))
        .body(Bytes::from_static(b"abcd"))
        .label("upload fragment")
}

#[tokio::test(start_paused = true)]
async fn a_resumable_uncredentialed_link_is_resent_after_500_and_502_without_a_token() {
    let server = server().await;
    Mock::given(method("PUT"))
        .and(path("/up/session-1"))
        .and(header("content-range", "bytes 0-3/4"))
        .and(NoHeader("authorization"))
        .respond_with(sequence(vec![
            ResponseTemplate::new(500),
            ResponseTemplate::new(502),
            json(201, json!({"id": "item-1"})),
        ]))
        .expect(3)
        .mount(&server)
        .await;
    let cred = RecordingCredential::new();
    let response = engine()
        .send_link(
            &ctx(&server, cred.clone()),
            "onedrive.upload_small",
            fragment(link(&server)).resumable(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert!(matches!(response.body(), ResponseBody::Json(v) if v["id"] == "item-1"));
    assert_eq!(
        cred.calls(),
        0,
        "no token is asked for an uncredentialed link"
    );
    let bodies: Vec<Vec<u8>> = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.body)
        .collect();
    assert_eq!(bodies, vec![b"abcd".to_vec(); 3]);
}

#[tokio::test(start_paused = true)]
async fn a_plain_link_follows_the_table_for_calls_500_is_final() {
    let server = server().await;
    Mock::given(method("PUT"))
        .and(path("/up/session-1"))
        .respond_with(ResponseTemplate::new(500))
        .expect(1)
        .mount(&server)
        .await;
    let err = engine()
        .send_link(
            &ctx(&server, RecordingCredential::new()),
            "onedrive.upload_small",
            fragment(link(&server)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Remote);
    assert_eq!(err.status(), Some(500));
    let text = err.to_string();
    assert!(text.contains("upload fragment"), "{text}");
    assert!(
        !text.contains("link-secret") && !text.contains("session-1"),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_credentialed_link_carries_the_methods_token() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/up/session-1"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let cred = RecordingCredential::new();
    let response = engine()
        .send_link(
            &ctx(&server, cred.clone()),
            "onedrive.upload_small",
            LinkRequest::new(Method::GET, link(&server)),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert!(matches!(response.body(), ResponseBody::Empty));
    let requests = cred.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].scopes.as_ref(), ["Files.ReadWrite".to_string()]);
}

#[tokio::test(start_paused = true)]
async fn an_untrusted_link_sends_nothing() {
    let server = server().await;
    let cred = RecordingCredential::new();
    for url in [
        "https://10.1.2.3/up/session",
        "https://uploads.contoso.example:8443/up/session",
        "http://uploads.contoso.example/up/session",
    ] {
        let err = engine()
            .send_link(
                &ctx(&server, cred.clone()),
                "onedrive.upload_small",
                fragment(Url::parse(url).unwrap()),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UntrustedLink, "{url}");
        assert!(!err.to_string().contains("/up/session"), "{err}");
    }
    // a credentialed link must be on the allow-list
    let err = engine()
        .send_link(
            &ctx(&server, cred.clone()),
            "onedrive.upload_small",
            LinkRequest::new(
                Method::GET,
                Url::parse("https://uploads.contoso.example/x").unwrap(),
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UntrustedLink);
    assert_eq!(cred.calls(), 0);
}
