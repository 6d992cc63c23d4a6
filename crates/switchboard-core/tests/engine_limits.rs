//! Limits on what the network sends: the deadline of an attempt (headers
//! and body, against a raw server that trickles a byte every 20 s), the
//! cap on a buffered body, and transport failures that name the host and
//! are retried only when retrying can help. Waiting tests run on tokio's
//! paused clock: the deadline fires at exactly its virtual time.

mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use support::*;
use switchboard_core::connector::{DefinitionConnector, Endpoints, Registry};
use switchboard_core::engine::response::Response;
use switchboard_core::engine::retry::RetryPolicy;
use switchboard_core::engine::{Engine, InstallationContext};
use switchboard_core::{Arguments, ErrorKind};
use switchboard_hostile::raw::{RawServer, closed_port};
use tokio::time::Instant;
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

const GAP: Duration = Duration::from_secs(20);

fn get_user() -> Arguments {
    Arguments::new().set("id", "adele")
}

fn send_mail() -> Arguments {
    Arguments::new().set("message", json!({"subject": "hi"}))
}

/// An installation whose base URL is `base` (a loopback origin).
fn ctx_at(base: &str, credential: Arc<RecordingCredential>) -> InstallationContext {
    InstallationContext::new(
        INSTALLATION,
        CONNECTOR,
        "delegated",
        Endpoints {
            base_url: Url::parse(&format!("{base}/v1.0")).unwrap(),
            allowed_hosts: vec![Url::parse(base).unwrap().host_str().unwrap().to_string()],
        },
        credential,
    )
}

/// The test engine with an attempt deadline and a read timeout (either may
/// be `None`), no connect or pool timers.
fn engine_timed(
    deadline: Option<Duration>,
    read_timeout: Option<Duration>,
    retries: u32,
) -> Engine {
    Engine::builder(registry())
        .retry_policy(RetryPolicy {
            max_retries: retries,
            ..policy()
        })
        .connect_timeout(None)
        .read_timeout(read_timeout)
        .pool_idle_timeout(None)
        .attempt_deadline(deadline)
        .build()
        .unwrap()
}

fn secs(s: u64) -> Option<Duration> {
    Some(Duration::from_secs(s))
}

/// Call `method_id` on the installation at `base` with a 100 s deadline,
/// no read timeout and `retries`: see [`failing_call_on`].
async fn failing_call(
    base: &str,
    retries: u32,
    method_id: &str,
    args: Arguments,
) -> (switchboard_core::Error, Duration, Arc<RecordingCredential>) {
    let engine = engine_timed(secs(100), None, retries);
    failing_call_on(&engine, base, method_id, args).await
}

/// Call `method_id` through `engine` on the installation at `base`: the
/// error, the virtual time it took, and the credential (one token per
/// attempt).
async fn failing_call_on(
    engine: &Engine,
    base: &str,
    method_id: &str,
    args: Arguments,
) -> (switchboard_core::Error, Duration, Arc<RecordingCredential>) {
    let cred = RecordingCredential::new();
    let start = Instant::now();
    let err = engine
        .call(&ctx_at(base, cred.clone()), method_id, args)
        .await
        .unwrap_err();
    (err, start.elapsed(), cred)
}

#[tokio::test(start_paused = true)]
async fn a_body_that_trickles_fails_at_the_deadline_naming_the_host_and_is_not_resent() {
    let server = RawServer::trickling_body(1000, GAP).await;
    let (err, took, cred) = failing_call(&server.base(), 4, "users.get_user", get_user()).await;
    assert_eq!(err.kind(), ErrorKind::Transport, "{err}");
    assert_eq!(
        err.message(),
        format!(
            "the response to `users.get_user` was not read to the end: `{}` did not send the whole response within the deadline of 100s; raise it with EngineBuilder::attempt_deadline if the service is merely slow",
            server.host()
        )
    );
    // exactly at the deadline, after one request, with most of the body unsent
    assert_eq!(took, Duration::from_secs(100));
    assert_eq!(server.connections(), 1);
    assert_eq!(
        server.request_lines(),
        vec!["GET /v1.0/users/adele HTTP/1.1"]
    );
    assert!(
        server.bytes_sent() < 200,
        "{} bytes sent",
        server.bytes_sent()
    );
    assert_eq!(cred.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn headers_that_trickle_are_a_timeout_retried_for_a_get() {
    let server = RawServer::trickling_head(GAP).await;
    let (err, took, cred) = failing_call(&server.base(), 2, "users.get_user", get_user()).await;
    assert_eq!(err.kind(), ErrorKind::Transient, "{err}");
    assert_eq!(
        err.message(),
        format!(
            "`users.get_user` failed: `{}` did not send the whole response within the deadline of 100s, through 2 retries; check the network and try again later",
            server.host()
        )
    );
    // three attempts of 100 s, with backoff waits of 1 s and 2 s between them
    assert_eq!(took, Duration::from_secs(303));
    assert_eq!(server.connections(), 3);
    assert_eq!(cred.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn headers_that_trickle_leave_a_post_outcome_unknown_and_it_is_not_resent() {
    let server = RawServer::trickling_head(GAP).await;
    let (err, took, cred) = failing_call(&server.base(), 4, "mail.send_mail", send_mail()).await;
    assert_eq!(err.kind(), ErrorKind::OutcomeUnknown, "{err}");
    assert!(
        err.message().contains(&format!(
            "`{}` did not send the whole response within the deadline of 100s",
            server.host()
        )),
        "{err}"
    );
    assert_eq!(took, Duration::from_secs(100));
    assert_eq!(server.connections(), 1);
    assert_eq!(
        server.request_lines(),
        vec!["POST /v1.0/me/sendMail HTTP/1.1"]
    );
    assert_eq!(cred.calls(), 1);
}

/// A registry whose `users.get_user` declares its own cap.
#[tokio::test(start_paused = true)]
async fn a_body_that_keeps_coming_is_not_cut_by_the_read_timeout() {
    // 12 bytes of body, one every 20 s: 240 s in all, never 30 s without data
    let server = RawServer::trickling_body(12, GAP).await;
    let engine = engine_timed(None, secs(30), 0);
    let start = Instant::now();
    let response = engine
        .call(
            &ctx_at(&server.base(), RecordingCredential::new()),
            "users.get_user",
            get_user(),
        )
        .await
        .unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(240));
    assert_eq!(response.into_json().unwrap(), json!("aaaaaaaaaa"));
    assert_eq!(server.connections(), 1);
    assert_eq!(
        server.request_lines(),
        vec!["GET /v1.0/users/adele HTTP/1.1"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_body_that_stops_coming_fails_at_the_read_timeout_and_is_not_resent() {
    let server = RawServer::trickling_body(1000, GAP).await;
    let engine = engine_timed(secs(100), secs(10), 4);
    let (err, took, cred) =
        failing_call_on(&engine, &server.base(), "users.get_user", get_user()).await;
    assert_eq!(err.kind(), ErrorKind::Transport, "{err}");
    assert_eq!(
        err.message(),
        format!(
            "the response to `users.get_user` was not read to the end: `{}` stopped sending data (read timeout)",
            server.host()
        )
    );
    // 10 s after the headers, which came at once; one request
    assert_eq!(took, Duration::from_secs(10));
    assert_eq!(server.connections(), 1);
    assert_eq!(cred.calls(), 1);
    assert!(
        server.bytes_sent() < 200,
        "{} bytes sent",
        server.bytes_sent()
    );
}

#[tokio::test(start_paused = true)]
async fn headers_that_do_not_come_in_time_are_a_read_timeout_retried_for_a_get() {
    let server = RawServer::trickling_head(GAP).await;
    let engine = engine_timed(secs(100), secs(10), 2);
    let (err, took, cred) =
        failing_call_on(&engine, &server.base(), "users.get_user", get_user()).await;
    assert_eq!(err.kind(), ErrorKind::Transient, "{err}");
    assert_eq!(
        err.message(),
        format!(
            "`users.get_user` failed: `{}` stopped sending data (read timeout), through 2 retries; check the network and try again later",
            server.host()
        )
    );
    // three attempts of 10 s, with backoff waits of 1 s and 2 s between them
    assert_eq!(took, Duration::from_secs(33));
    assert_eq!(server.connections(), 3);
    assert_eq!(cred.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn data_that_keeps_coming_does_not_stretch_the_deadline() {
    // a byte every 20 s keeps the 30 s read timeout happy, not the 100 s deadline
    let server = RawServer::trickling_body(1000, GAP).await;
    let engine = engine_timed(secs(100), secs(30), 4);
    let (err, took, _) =
        failing_call_on(&engine, &server.base(), "users.get_user", get_user()).await;
    assert!(
        err.message().ends_with(&format!(
            "`{}` did not send the whole response within the deadline of 100s; raise it with EngineBuilder::attempt_deadline if the service is merely slow",
            server.host()
        )),
        "{err}"
    );
    assert_eq!(took, Duration::from_secs(100));
    assert_eq!(server.connections(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_streamed_body_has_the_read_timeout_between_chunks_and_no_deadline() {
    use futures::StreamExt;
    // slow but steady: 8 bytes, one every 20 s, past a 100 s deadline
    let server = RawServer::trickling_body(8, GAP).await;
    let engine = engine_timed(secs(100), secs(30), 0);
    let cx = ctx_at(&server.base(), RecordingCredential::new());
    let start = Instant::now();
    let stream = engine
        .call_stream(
            &cx,
            "onedrive.download_file",
            Arguments::new().set("item_id", "f1"),
        )
        .await
        .unwrap();
    let chunks: Vec<_> = stream.collect().await;
    assert_eq!(start.elapsed(), Duration::from_secs(160));
    let body: Vec<u8> = chunks
        .into_iter()
        .map(|c| c.unwrap())
        .collect::<Vec<_>>()
        .concat();
    assert_eq!(body, b"\"aaaaaa\"");

    // one that stops: an error naming the host after 10 s of silence, then the end
    let server = RawServer::trickling_body(1000, GAP).await;
    let engine = engine_timed(secs(100), secs(10), 0);
    let cx = ctx_at(&server.base(), RecordingCredential::new());
    let start = Instant::now();
    let mut stream = engine
        .call_stream(
            &cx,
            "onedrive.download_file",
            Arguments::new().set("item_id", "f1"),
        )
        .await
        .unwrap();
    let err = stream.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert_eq!(
        err.message(),
        format!(
            "the response body could not be read to the end: `{}` stopped sending data (read timeout)",
            server.host()
        )
    );
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    assert!(stream.next().await.is_none());
    assert_eq!(server.connections(), 1);
}

fn registry_with_method_cap(bytes: u64) -> Registry {
    let mut def = definition();
    let method = def
        .methods
        .iter_mut()
        .find(|m| m.id == "users.get_user")
        .unwrap();
    method.max_response_bytes = Some(bytes);
    let mut registry = Registry::new();
    registry
        .register(Arc::new(DefinitionConnector::new(def)))
        .unwrap();
    registry
}

fn capped_engine(registry: Registry, cap: u64) -> Engine {
    Engine::builder(registry)
        .retry_policy(policy())
        .max_response_bytes(cap)
        .build()
        .unwrap()
}

/// `{"id":"aaa…"}` of exactly `len` bytes.
fn json_of_len(len: usize) -> String {
    let pad = len - r#"{"id":""}"#.len();
    format!(r#"{{"id":"{}"}}"#, "a".repeat(pad))
}

#[tokio::test]
async fn a_buffered_body_above_the_cap_is_refused_naming_the_limit_and_the_host() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/adele"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(json_of_len(1025), "application/json"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let engine = capped_engine(registry(), 1024);
    let err = engine
        .call(
            &ctx(&server, RecordingCredential::new()),
            "users.get_user",
            get_user(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert_eq!(err.field(), Some("max_response_bytes"));
    assert_eq!(
        err.message(),
        format!(
            "the response to `users.get_user` was not read: the response from `127.0.0.1:{}` is larger than 1 KiB, the limit for a response held in memory; raise the method's `max_response_bytes` or the engine's (EngineBuilder::max_response_bytes), or stream it",
            server.address().port()
        )
    );
    // exactly at the cap is fine
    server.reset().await;
    catch_all(&server).await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/adele"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(json_of_len(1024), "application/json"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let ok = engine
        .call(
            &ctx(&server, RecordingCredential::new()),
            "users.get_user",
            get_user(),
        )
        .await
        .unwrap();
    assert_eq!(ok.json().unwrap()["id"].as_str().unwrap().len(), 1024 - 9);
}

/// Call `users.get_user` on a server that answers `body` chunked (no
/// length announced, in two HTTP chunks), its head at once and then a byte
/// a second; the result and the request lines the server read.
async fn call_answered_in_pieces(
    engine: &Engine,
    body: &str,
) -> (switchboard_core::Result<Response>, Vec<String>) {
    let head =
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
    let (a, b) = body.split_at(body.len() / 2);
    let answer = format!(
        "{head}{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    );
    let server =
        RawServer::trickling(answer.into_bytes(), head.len(), Duration::from_secs(1)).await;
    let ctx = ctx_at(&server.base(), RecordingCredential::new());
    let result = engine.call(&ctx, "users.get_user", get_user()).await;
    (result, server.request_lines())
}

/// A body that arrives a byte at a time, with no length announced, is put
/// together from its pieces in order when it is exactly the cap, and
/// refused once the piece that passes the cap arrives.
#[tokio::test(start_paused = true)]
async fn a_body_arriving_in_pieces_is_read_whole_up_to_the_cap() {
    let engine = Engine::builder(registry())
        .retry_policy(policy())
        .max_response_bytes(16)
        .build()
        .unwrap();
    let at_cap = json_of_len(16);
    let (result, requests) = call_answered_in_pieces(&engine, &at_cap).await;
    assert_eq!(
        result.unwrap().into_json().unwrap(),
        serde_json::from_str::<serde_json::Value>(&at_cap).unwrap()
    );
    assert_eq!(requests, vec!["GET /v1.0/users/adele HTTP/1.1"]);

    let (result, requests) = call_answered_in_pieces(&engine, &json_of_len(17)).await;
    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
    assert_eq!(err.field(), Some("max_response_bytes"));
    assert!(err.message().contains("larger than 16 bytes"), "{err}");
    assert_eq!(requests, vec!["GET /v1.0/users/adele HTTP/1.1"]);
}

#[tokio::test]
async fn a_methods_own_cap_replaces_the_engines() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/adele"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(json_of_len(3000), "application/json"),
        )
        .expect(2)
        .mount(&server)
        .await;
    // the engine allows 1 KiB, the method 4 KiB: the 3000 bytes pass
    let raised = capped_engine(registry_with_method_cap(4096), 1024);
    let response = raised
        .call(
            &ctx(&server, RecordingCredential::new()),
            "users.get_user",
            get_user(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // the engine allows 64 MiB, the method 2 KiB: refused, naming the method's limit
    let lowered = capped_engine(registry_with_method_cap(2048), 64 << 20);
    let err = lowered
        .call(
            &ctx(&server, RecordingCredential::new()),
            "users.get_user",
            get_user(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("max_response_bytes"));
    assert!(err.message().contains("larger than 2 KiB"), "{err}");
}

#[tokio::test]
async fn a_streamed_download_is_not_capped_but_the_same_bytes_buffered_are() {
    let server = server().await;
    let content = vec![7u8; 10_000];
    Mock::given(method("GET"))
        .and(path("/v1.0/me/drive/items/f1/content"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(content.clone(), "application/octet-stream"),
        )
        .expect(2)
        .mount(&server)
        .await;
    let engine = capped_engine(registry(), 1024);
    let args = || Arguments::new().set("item_id", "f1");
    let cx = ctx(&server, RecordingCredential::new());
    let stream = engine
        .call_stream(&cx, "onedrive.download_file", args())
        .await
        .unwrap();
    use futures::TryStreamExt;
    let chunks: Vec<bytes::Bytes> = stream.try_collect().await.unwrap();
    assert_eq!(chunks.concat(), content);
    let err = engine
        .call(&cx, "onedrive.download_file", args())
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("max_response_bytes"));
}

#[tokio::test(start_paused = true)]
async fn a_host_name_that_does_not_resolve_is_not_retried_and_is_named() {
    for (method_id, args) in [
        ("users.get_user", get_user()),
        ("mail.send_mail", send_mail()),
    ] {
        let cred = RecordingCredential::new();
        let ctx = InstallationContext::new(
            INSTALLATION,
            CONNECTOR,
            "delegated",
            Endpoints {
                base_url: Url::parse("https://nonexistent.invalid/v1.0").unwrap(),
                allowed_hosts: vec!["nonexistent.invalid".into()],
            },
            cred.clone(),
        );
        let start = Instant::now();
        let err = engine().call(&ctx, method_id, args).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Transport, "{err}");
        assert_eq!(
            err.message(),
            format!(
                "`{method_id}` failed: the host name `nonexistent.invalid` does not resolve (DNS)"
            )
        );
        // one attempt (a token per attempt), no backoff
        assert_eq!(cred.calls(), 1, "{method_id}");
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}

#[tokio::test(start_paused = true)]
async fn a_refused_connection_is_retried_and_names_the_host_and_port() {
    let port = closed_port();
    let base = format!("http://127.0.0.1:{port}");
    let (err, took, cred) = failing_call(&base, 3, "users.get_user", get_user()).await;
    assert_eq!(err.kind(), ErrorKind::Transient, "{err}");
    assert_eq!(
        err.message(),
        format!(
            "`users.get_user` failed: `127.0.0.1:{port}` refused the connection, through 3 retries; check the network and try again later"
        )
    );
    // four attempts, backoff waits of 1, 2 and 4 s between them
    assert_eq!(cred.calls(), 4);
    assert_eq!(took, Duration::from_secs(7));
}
