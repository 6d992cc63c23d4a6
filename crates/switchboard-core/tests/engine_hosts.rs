//! The host allow-list, deny by default: next links, delta links and the
//! installation's own base URL must pass it, or the call fails with
//! UntrustedLink and **no request is sent** (and no token is fetched).
//! A second "attacker" server on another loopback port proves that nothing
//! reaches a refused target.

mod support;

use futures::StreamExt;
use serde_json::json;
use support::*;
use switchboard_core::connector::Endpoints;
use switchboard_core::engine::InstallationContext;
use switchboard_core::{Arguments, ErrorKind};
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

/// Serve one page whose next link is `next`, and stream the listing:
/// returns the records and the error that ended the stream.
async fn list_with_next_link(
    server: &MockServer,
    ctx: &InstallationContext,
    next: &str,
) -> (Vec<serde_json::Value>, switchboard_core::Error) {
    Mock::given(method("GET"))
        .and(path("/v1.0/users"))
        .respond_with(json(
            200,
            json!({"value": [{"id": "1"}, {"id": "2"}], "@odata.nextLink": next}),
        ))
        .expect(1)
        .mount(server)
        .await;
    let mut stream = engine().stream(ctx, "users.list_users", Arguments::new());
    let mut records = Vec::new();
    loop {
        match stream.next().await {
            Some(Ok(record)) => records.push(record),
            Some(Err(err)) => {
                assert!(
                    stream.next().await.is_none(),
                    "the stream ends after an error"
                );
                return (records, err);
            }
            None => panic!("the stream ended without refusing the link {next}"),
        }
    }
}

/// An installation whose allowed hosts include graph.microsoft.com as well as
/// the loopback test server.
fn ctx_with_graph(
    server: &MockServer,
    cred: std::sync::Arc<RecordingCredential>,
) -> InstallationContext {
    InstallationContext::new(
        INSTALLATION,
        CONNECTOR,
        "delegated",
        Endpoints {
            base_url: base(server),
            allowed_hosts: vec!["127.0.0.1".into(), "graph.microsoft.com".into()],
        },
        cred,
    )
}

#[tokio::test]
async fn untrusted_next_links_are_refused_before_anything_is_sent() {
    let attacker = support::server().await;
    let attacker_port = Url::parse(&attacker.uri()).unwrap().port().unwrap();
    let cases: Vec<(&str, String)> = vec![
        (
            "another host",
            "https://evil.example/v1.0/users?$skiptoken=S1".into(),
        ),
        (
            "another loopback port",
            format!("http://127.0.0.1:{attacker_port}/v1.0/users?$skiptoken=S2"),
        ),
        (
            "http downgrade of an allowed host",
            "http://graph.microsoft.com/v1.0/users?$skiptoken=S3".into(),
        ),
        (
            "another port of an allowed host",
            "https://graph.microsoft.com:8443/v1.0/users?$skiptoken=S4".into(),
        ),
        (
            "suffix trick",
            "https://graph.microsoft.com.evil.example/v1.0/users?$skiptoken=S5".into(),
        ),
        (
            "user-info trick",
            "https://graph.microsoft.com@evil.example/v1.0/users?$skiptoken=S6".into(),
        ),
        (
            "IPv4 literal",
            "https://20.190.151.68/v1.0/users?$skiptoken=S7".into(),
        ),
        (
            "IPv6 literal",
            "https://[2603:1037:1:c8::8]/v1.0/users?$skiptoken=S8".into(),
        ),
        (
            "a different loopback address",
            format!("http://127.0.0.2:{attacker_port}/v1.0/users"),
        ),
    ];
    for (what, link) in cases {
        let server = support::server().await;
        let cred = RecordingCredential::new();
        let ctx = ctx_with_graph(&server, cred.clone());
        let (records, err) = list_with_next_link(&server, &ctx, &link).await;
        assert_eq!(
            records.len(),
            2,
            "{what}: the trusted first page is delivered"
        );
        assert_eq!(err.kind(), ErrorKind::UntrustedLink, "{what}: {err}");
        assert!(
            err.to_string().contains("nothing was sent"),
            "{what}: {err}"
        );
        assert!(!err.to_string().contains("skiptoken"), "{what}: {err}");
        // One token for the first page; none for the refused link.
        assert_eq!(cred.calls(), 1, "{what}");
        assert_eq!(server.received_requests().await.unwrap().len(), 1, "{what}");
    }
    assert!(attacker.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_same_origin_under_another_name_is_refused() {
    // localhost reaches the very same server, but is not the configured origin.
    let server = support::server().await;
    let port = Url::parse(&server.uri()).unwrap().port().unwrap();
    let ctx = ctx(&server, RecordingCredential::new());
    let (_, err) = list_with_next_link(
        &server,
        &ctx,
        &format!("http://localhost:{port}/v1.0/users?page=2"),
    )
    .await;
    assert_eq!(err.kind(), ErrorKind::UntrustedLink);
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_untrusted_delta_link_is_refused_and_never_offered_as_continuation() {
    let server = support::server().await;
    Mock::given(path("/v1.0/users/delta"))
        .respond_with(json(
            200,
            json!({"value": [{"id": "1"}], "@odata.deltaLink": "https://evil.example/v1.0/users/delta?$deltatoken=D1"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let mut stream = engine().stream(
        &ctx(&server, RecordingCredential::new()),
        "users.delta_users",
        Arguments::new(),
    );
    assert_eq!(stream.next().await.unwrap().unwrap()["id"], "1");
    let err = stream.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UntrustedLink);
    assert!(stream.next().await.is_none());
    assert!(stream.continuation().is_none());
}

#[tokio::test]
async fn an_empty_allow_list_denies_everything_without_asking_for_a_token() {
    let server = support::server().await;
    let cred = RecordingCredential::new();
    let ctx = InstallationContext::new(
        INSTALLATION,
        CONNECTOR,
        "delegated",
        Endpoints {
            base_url: base(&server),
            allowed_hosts: vec![],
        },
        cred.clone(),
    );
    let err = engine()
        .call(&ctx, "users.get_user", Arguments::new().set("id", "adele"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UntrustedLink);
    assert!(err.to_string().contains("allow-list is empty"), "{err}");
    assert_eq!(cred.calls(), 0);
    let mut stream = engine().stream(&ctx, "users.list_users", Arguments::new());
    assert_eq!(
        stream.next().await.unwrap().unwrap_err().kind(),
        ErrorKind::UntrustedLink
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_loopback_base_url_must_itself_be_listed() {
    let server = support::server().await;
    let ctx = InstallationContext::new(
        INSTALLATION,
        CONNECTOR,
        "delegated",
        Endpoints {
            base_url: base(&server),
            allowed_hosts: vec!["graph.microsoft.com".into()],
        },
        RecordingCredential::new(),
    );
    let err = engine()
        .call(&ctx, "users.get_user", Arguments::new().set("id", "adele"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UntrustedLink);
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_plain_http_base_url_that_is_not_loopback_is_refused() {
    let cred = RecordingCredential::new();
    let ctx = InstallationContext::new(
        INSTALLATION,
        CONNECTOR,
        "delegated",
        Endpoints {
            base_url: Url::parse("http://graph.microsoft.com/v1.0").unwrap(),
            allowed_hosts: vec!["graph.microsoft.com".into()],
        },
        cred.clone(),
    );
    let err = engine()
        .call(&ctx, "users.get_user", Arguments::new().set("id", "adele"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UntrustedLink);
    assert!(err.to_string().contains("https"), "{err}");
    assert_eq!(cred.calls(), 0);
}

#[tokio::test]
async fn a_tampered_continuation_is_checked_before_anything_is_sent() {
    let server = support::server().await;
    let attacker = support::server().await;
    let ctx = ctx(&server, RecordingCredential::new());
    let continuation: switchboard_core::Continuation = serde_json::from_value(json!({
        "installation_id": INSTALLATION,
        "method_id": "users.list_users",
        "kind": "next_page",
        "link": format!("{}/v1.0/users?$skiptoken=S9", attacker.uri()),
        "headers": []
    }))
    .unwrap();
    let mut stream = engine().resume(&ctx, &continuation);
    let err = stream.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UntrustedLink);
    assert!(attacker.received_requests().await.unwrap().is_empty());
    assert!(server.received_requests().await.unwrap().is_empty());
}
