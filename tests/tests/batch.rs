//! `Engine::batch` against the sandbox (which runs `$batch` as Graph does)
//! and against wiremock for what the sandbox does not do on demand
//! (throttled items, both throttling envelopes, 5xx items, malformed
//! answers): what the service received and what each call got.

use std::time::Duration;

use serde_json::{Value, json};
use switchboard_core::engine::BatchCall;
use switchboard_core::governor::Governor;
use switchboard_core::{Arguments, ErrorKind};
use switchboard_microsoft365_sandbox::SandboxConfig;
use switchboard_tests::{Limits, context, engine, mailbox_metrics, sandbox_with_token};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const ADELE: &str = "6e7b768e-07e2-4810-8459-485f84f8f204";

fn get_user(user: &str) -> BatchCall {
    BatchCall::new("users.get_user", Arguments::new().set("user_id", user))
}

fn list_messages(user: &str) -> BatchCall {
    BatchCall::new(
        "mail.list_messages",
        Arguments::new().set("user_id", user).set("top", 1),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_five_calls_go_in_three_batches_and_come_back_in_order() {
    let (sb, token) = sandbox_with_token(SandboxConfig::new(180)).await;
    let users = sb.users();
    let engine = engine(Governor::new(), Limits::Declared);
    let ctx = context(&engine, sb.base_url(), sb.tenant_id(), &token);
    let calls: Vec<BatchCall> = (0..45)
        .map(|i| {
            if i % 3 == 0 {
                list_messages(&users[0].id)
            } else {
                get_user(&users[i % users.len()].id)
            }
        })
        .collect();
    let results = engine.batch(&ctx, calls).await.unwrap();
    assert_eq!(results.len(), 45);
    for (i, r) in results.iter().enumerate() {
        let r = r.as_ref().unwrap();
        assert_eq!(r.status(), 200);
        if i % 3 != 0 {
            assert_eq!(
                r.json().unwrap()["id"],
                users[i % users.len()].id.as_str(),
                "call {i}"
            );
        } else {
            assert!(r.json().unwrap()["value"].is_array());
        }
    }
    let log = sb.request_log();
    assert_eq!(log.iter().filter(|r| r.path == "/$batch").count(), 3);
    assert_eq!(log.iter().filter(|r| r.path != "/$batch").count(), 45);
    // the 15 mailbox calls counted against the governor's Outlook key
    let metrics = mailbox_metrics(&engine);
    assert_eq!(metrics.len(), 1, "{metrics:?}");
    assert_eq!(metrics[0].admitted, 3, "one admission per batch");
    assert_eq!(sb.limit_stats().throttled.total(), 0);
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_dependency_fails_its_dependants_with_424_and_spares_the_rest() {
    let (sb, token) = sandbox_with_token(SandboxConfig::new(181)).await;
    let users = sb.users();
    let engine = engine(Governor::new(), Limits::Declared);
    let ctx = context(&engine, sb.base_url(), sb.tenant_id(), &token);
    let missing = "00000000-0000-0000-0000-000000000000";
    let calls = vec![
        get_user(missing),
        get_user(&users[0].id).after(0),
        get_user(&users[1].id),
        list_messages(&users[0].id).after(1),
    ];
    let results = engine.batch(&ctx, calls).await.unwrap();
    assert_eq!(results[0].as_ref().unwrap_err().kind(), ErrorKind::NotFound);
    let dependant = results[1].as_ref().unwrap_err();
    assert_eq!(
        dependant.remote().and_then(|r| r.status),
        Some(424),
        "{dependant}"
    );
    assert_eq!(results[2].as_ref().unwrap().status(), 200);
    assert_eq!(
        results[3]
            .as_ref()
            .unwrap_err()
            .remote()
            .and_then(|r| r.status),
        Some(424)
    );
    // one batch, in dependency order: call 1 was not run by the service
    let log = sb.request_log();
    assert_eq!(log.iter().filter(|r| r.path == "/$batch").count(), 1);
    assert!(
        !log.iter()
            .any(|r| r.path == format!("/users/{}", users[0].id))
    );
    sb.shutdown().await;
}

// ---------------------------------------------------------------- wiremock

/// The ids of the requests of a batch the server received.
fn ids(request: &Request) -> Vec<String> {
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    body["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

async fn batch_server(answers: Vec<(u16, Value)>) -> MockServer {
    let server = MockServer::start().await;
    let n = answers.len() as u64;
    for (i, (status, body)) in answers.into_iter().enumerate() {
        Mock::given(method("POST"))
            .and(path("/v1.0/$batch"))
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
            .up_to_n_times(1)
            .with_priority(u8::try_from(i + 1).unwrap())
            .expect(1)
            .mount(&server)
            .await;
    }
    let _ = n;
    server
}

fn throttled(id: &str, retry_after: &str) -> Value {
    json!({"id": id, "status": 429, "headers": {"Retry-After": retry_after, "Content-Type": "application/json"},
           "body": {"error": {"code": "TooManyRequests", "message": "Too many requests."}}})
}

fn ok(id: &str) -> Value {
    json!({"id": id, "status": 200, "headers": {"Content-Type": "application/json"}, "body": {"id": format!("user-{id}")}})
}

async fn a_throttled_item_is_sent_again_alone(batch_status: u16) {
    let server = batch_server(vec![
        (
            batch_status,
            json!({"responses": [ok("0"), throttled("1", "1"), ok("2")]}),
        ),
        (200, json!({"responses": [ok("1")]})),
    ])
    .await;
    let engine = engine(Governor::new(), Limits::Declared);
    let ctx = context(&engine, &server.uri(), "contoso.example", "t");
    let started = std::time::Instant::now();
    let results = engine
        .batch(
            &ctx,
            vec![get_user(ADELE), list_messages(ADELE), get_user(ADELE)],
        )
        .await
        .unwrap();
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(|r| r.status() == 200)),
        "{results:?}"
    );
    assert_eq!(results[1].as_ref().unwrap().json().unwrap()["id"], "user-1");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited for Retry-After"
    );
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 2);
    assert_eq!(ids(&received[0]), ["0", "1", "2"]);
    assert_eq!(ids(&received[1]), ["1"], "only the throttled call again");
    // the throttled mailbox call held its key
    assert_eq!(mailbox_metrics(&engine)[0].holds, 1);
}

#[tokio::test]
async fn a_throttled_item_in_a_200_batch_is_sent_again_alone_after_its_retry_after() {
    a_throttled_item_is_sent_again_alone(200).await;
}

#[tokio::test]
async fn a_throttled_item_in_a_424_batch_the_2021_envelope_is_sent_again_alone() {
    a_throttled_item_is_sent_again_alone(424).await;
}

#[tokio::test]
async fn a_post_item_answered_500_is_outcome_unknown_and_never_resent() {
    let server = batch_server(vec![(200, json!({"responses": [
        {"id": "0", "status": 500, "body": {"error": {"code": "generalException", "message": "boom"}}},
        {"id": "1", "status": 503, "headers": {"Retry-After": "1"}, "body": {}},
    ]})), (200, json!({"responses": [ok("1")]}))])
    .await;
    let engine = engine(Governor::new(), Limits::Declared);
    let ctx = context(&engine, &server.uri(), "contoso.example", "t");
    let draft = BatchCall::new(
        "mail.create_draft",
        Arguments::new().set("user_id", ADELE).set("subject", "hi"),
    );
    let results = engine
        .batch(&ctx, vec![draft, get_user(ADELE)])
        .await
        .unwrap();
    assert_eq!(
        results[0].as_ref().unwrap_err().kind(),
        ErrorKind::OutcomeUnknown
    );
    assert_eq!(results[1].as_ref().unwrap().status(), 200);
    let received = server.received_requests().await.unwrap();
    assert_eq!(ids(&received[1]), ["1"], "the GET again, the POST never");
    let first: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(first["requests"][0]["method"], "POST");
    assert_eq!(first["requests"][0]["body"]["subject"], "hi");
    assert_eq!(
        first["requests"][0]["url"],
        format!("/users/{ADELE}/messages")
    );
}

#[tokio::test]
async fn malformed_answers_fail_each_call_in_words_and_nothing_panics() {
    for (body, idempotent_kind) in [
        (json!("not a batch"), ErrorKind::Decode),
        (json!({"responses": "no"}), ErrorKind::Decode),
        // ids that match no call, a repeated id, a status out of range
        (
            json!({"responses": [ok("7"), ok("x"), {"id": "0", "status": 9999}, {"id": 0, "status": 200}]}),
            ErrorKind::Decode,
        ),
    ] {
        let server = batch_server(vec![(200, body.clone())]).await;
        let engine = engine(Governor::new(), Limits::Declared);
        let ctx = context(&engine, &server.uri(), "contoso.example", "t");
        let draft = BatchCall::new("mail.create_draft", Arguments::new().set("user_id", ADELE));
        let results = engine
            .batch(&ctx, vec![get_user(ADELE), draft])
            .await
            .unwrap();
        assert_eq!(
            results[0].as_ref().unwrap_err().kind(),
            idempotent_kind,
            "{body}"
        );
        assert_eq!(
            results[1].as_ref().unwrap_err().kind(),
            ErrorKind::OutcomeUnknown,
            "{body}"
        );
        assert_eq!(server.received_requests().await.unwrap().len(), 1, "{body}");
    }
}

#[tokio::test]
async fn a_huge_retry_after_on_an_item_fails_it_fast_as_throttled() {
    let server = batch_server(vec![(
        200,
        json!({"responses": [throttled("0", "99999999999999999999"), ok("1")]}),
    )])
    .await;
    let engine = engine(Governor::new(), Limits::Declared);
    let ctx = context(&engine, &server.uri(), "contoso.example", "t");
    let results = engine
        .batch(&ctx, vec![list_messages(ADELE), get_user(ADELE)])
        .await
        .unwrap();
    assert_eq!(
        results[0].as_ref().unwrap_err().kind(),
        ErrorKind::Throttled
    );
    assert!(results[1].is_ok());
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    let held = mailbox_metrics(&engine)[0].held_until.unwrap();
    assert!(held <= std::time::SystemTime::now() + switchboard_core::governor::MAX_HOLD);
}

#[tokio::test]
async fn bad_batches_are_refused_before_anything_is_sent() {
    let server = MockServer::start().await;
    let engine = engine(Governor::new(), Limits::Declared);
    let ctx = context(&engine, &server.uri(), "contoso.example", "t");
    assert_eq!(
        engine.batch(&ctx, vec![]).await.unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    let results = engine
        .batch(
            &ctx,
            vec![
                get_user(ADELE).after(1),
                get_user(ADELE).after(0),
                get_user(ADELE).after(9),
                BatchCall::new("users.nope", Arguments::new()),
            ],
        )
        .await
        .unwrap();
    for r in &results {
        assert_eq!(
            r.as_ref().unwrap_err().kind(),
            ErrorKind::InvalidArgument,
            "{r:?}"
        );
    }
    assert!(
        results[0]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("circle")
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}
