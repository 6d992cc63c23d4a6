//! `POST /v1.0/$batch`: each request through the sandbox's own Graph
//! pipeline (handlers, permissions, throttling), `dependsOn` order and 424
//! for failed dependencies, per-request 429 in both envelope styles, and
//! batches refused whole when malformed.

mod common;
mod sandbox_control;

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use common::*;
use sandbox_control::*;
use serde_json::{Value, json};
use switchboard_microsoft365_sandbox::{
    LimitsConfig, Sandbox, SandboxConfig, SandboxHandle, ThrottledBatchStatus,
};

/// Sends a batch; returns the status, headers and body.
async fn batch(sb: &SandboxHandle, token: &str, body: Value) -> Resp {
    post(sb, token, "/$batch", body).await
}

/// The responses of a batch by id (each id exactly once).
fn by_id(resp: &Resp) -> HashMap<String, Value> {
    let mut out = HashMap::new();
    for r in resp.body["responses"].as_array().expect("responses") {
        let id = r["id"].as_str().unwrap().to_string();
        assert!(out.insert(id, r.clone()).is_none(), "an id answered twice");
    }
    out
}

fn app_id(sb: &SandboxHandle) -> String {
    sb.client().client_id.to_ascii_lowercase()
}

#[tokio::test]
async fn each_request_runs_through_graph_with_its_own_headers_and_body() {
    let sb = Sandbox::start(SandboxConfig::new(90)).await.unwrap();
    let token = user_token(&sb).await;
    let resp = batch(
        &sb,
        &token,
        json!({"requests": [
            {"id": "me", "method": "GET", "url": "/me?$select=id,displayName"},
            {"id": "create", "method": "POST", "url": "me/messages",
             "headers": {"Content-Type": "application/json"},
             "body": {"subject": "made in a batch", "body": {"contentType": "html", "content": "<p>hi</p>"}}},
            {"id": "text", "method": "GET", "url": "/me/messages?$top=1&$select=body",
             "headers": {"Prefer": "outlook.body-content-type=\"text\""}},
            {"id": "photo", "method": "GET", "url": "/me/photo/$value"},
            {"id": "missing", "method": "GET", "url": "/me/messages/AAMkNope"},
            {"id": "users", "method": "GET", "url": "/users?$filter=accountEnabled eq true&$top=2"},
        ]}),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let r = by_id(&resp);
    assert_eq!(r.len(), 6);
    assert_eq!(r["me"]["status"], 200);
    assert!(r["me"]["body"]["displayName"].is_string());
    assert!(
        r["me"]["headers"]["Content-Type"]
            .as_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(r["create"]["status"], 201);
    let created = r["create"]["body"]["id"].as_str().unwrap().to_string();
    assert_eq!(r["text"]["status"], 200);
    assert_eq!(
        r["text"]["headers"]["Preference-Applied"],
        "outlook.body-content-type=\"text\""
    );
    // a binary body comes back base64
    assert_eq!(r["photo"]["status"], 200);
    assert_eq!(r["photo"]["headers"]["Content-Type"], "image/png");
    let png = base64::engine::general_purpose::STANDARD
        .decode(r["photo"]["body"].as_str().unwrap())
        .unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(r["missing"]["status"], 404);
    assert_eq!(r["missing"]["body"]["error"]["code"], "ErrorItemNotFound");
    assert_eq!(r["users"]["status"], 200, "{}", r["users"]);

    // the POST had its effect
    let again = get(&sb, &token, &format!("/me/messages/{created}")).await;
    assert_eq!(again.body["subject"], "made in a batch");
    // the server saw the batch and each request in it
    let log = sb.request_log();
    assert_eq!(log.iter().filter(|l| l.path == "/$batch").count(), 1);
    assert_eq!(
        log.iter()
            .filter(|l| l.method == "POST" && l.path == "/me/messages")
            .count(),
        1
    );
    assert!(
        log.iter()
            .any(|l| l.path == "/me/photo/$value" && l.status == 200)
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn depends_on_runs_in_order_and_a_failure_makes_its_dependents_424() {
    let sb = Sandbox::start(SandboxConfig::new(91)).await.unwrap();
    let token = user_token(&sb).await;
    let draft = |subject: &str| json!({"subject": subject});
    let json_headers = json!({"Content-Type": "application/json"});
    // listed out of order on purpose: dependsOn decides
    let resp = batch(
        &sb,
        &token,
        json!({"requests": [
            {"id": "4", "dependsOn": ["3"], "method": "POST", "url": "/me/messages",
             "headers": json_headers, "body": draft("fourth")},
            {"id": "2", "dependsOn": ["1"], "method": "POST", "url": "/me/messages",
             "headers": json_headers, "body": draft("second")},
            {"id": "5", "dependsOn": ["4"], "method": "GET", "url": "/me"},
            {"id": "1", "method": "POST", "url": "/me/messages",
             "headers": json_headers, "body": draft("first")},
            {"id": "3", "dependsOn": ["2"], "method": "GET", "url": "/me/messages/AAMkNope"},
        ]}),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let r = by_id(&resp);
    assert_eq!(
        (r["1"]["status"].as_u64(), r["2"]["status"].as_u64()),
        (Some(201), Some(201))
    );
    assert_eq!(r["3"]["status"], 404);
    for id in ["4", "5"] {
        assert_eq!(r[id]["status"], 424, "{}", r[id]);
        assert_eq!(r[id]["body"]["error"]["code"], "FailedDependency");
    }
    assert!(
        r["4"]["body"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'3'")
    );
    // the server ran 1, 2, 3 in that order and never 4 or 5
    let ran: Vec<(String, String)> = sb
        .request_log()
        .into_iter()
        .filter(|l| l.path != "/$batch")
        .map(|l| (l.method, l.path))
        .collect();
    assert_eq!(
        ran,
        vec![
            ("POST".to_string(), "/me/messages".to_string()),
            ("POST".to_string(), "/me/messages".to_string()),
            ("GET".to_string(), "/me/messages/AAMkNope".to_string()),
        ]
    );
    let first = get(
        &sb,
        &token,
        &format!("/me/messages/{}", r["1"]["body"]["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(first.body["subject"], "first");
    let fourth = get(&sb, &token, "/me/messages?$filter=subject eq 'fourth'").await;
    assert_eq!(fourth.body["value"], json!([]));
    sb.shutdown().await;
}

#[tokio::test]
async fn an_unordered_batch_runs_four_requests_at_a_time_and_a_sequential_one_one() {
    let sb = Sandbox::start(SandboxConfig::new(92)).await.unwrap();
    let token = app_token(&sb).await;
    let app = app_id(&sb);
    let a = sb.users()[0].id.clone();
    let requests: Vec<Value> = (0..6)
        .map(|n| json!({"id": n.to_string(), "method": "GET", "url": format!("/users/{a}/messages?$top=1")}))
        .collect();
    hold(&sb).await;
    let sent = batch(&sb, &token, json!({ "requests": requests }));
    let probe = async {
        let s = wait_until(&sb, "4 in flight", |s| in_flight(s, &app, &a) == 4).await;
        release(&sb).await;
        s
    };
    let (resp, during) = tokio::join!(sent, probe);
    // the other two were not sent yet: no MailboxConcurrency refusal
    assert_eq!(mailbox(&during, &app, &a)["requests"], 4);
    let r = by_id(&resp);
    assert!(r.values().all(|v| v["status"] == 200), "{}", resp.body);
    let s = stats(&sb).await;
    assert_eq!(mailbox(&s, &app, &a)["max_in_flight"], 4);
    assert_eq!(s["throttled"]["concurrency"], 0);

    // with dependsOn, one at a time
    sb.reset_limit_stats();
    let chained: Vec<Value> = (0..3)
        .map(|n| {
            let mut r = json!({"id": n.to_string(), "method": "GET", "url": format!("/users/{a}/events?$top=1")});
            if n > 0 {
                r["dependsOn"] = json!([(n - 1).to_string()]);
            }
            r
        })
        .collect();
    hold(&sb).await;
    let sent = batch(&sb, &token, json!({ "requests": chained }));
    let probe = async {
        let s = wait_until(&sb, "1 in flight", |s| in_flight(s, &app, &a) == 1).await;
        release(&sb).await;
        s
    };
    let (resp, during) = tokio::join!(sent, probe);
    assert_eq!(mailbox(&during, &app, &a)["requests"], 1);
    assert!(by_id(&resp).values().all(|v| v["status"] == 200));
    assert_eq!(mailbox(&stats(&sb).await, &app, &a)["max_in_flight"], 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn requests_in_a_batch_count_against_the_mailbox_in_flight_limit() {
    let sb = Sandbox::start(SandboxConfig::new(93)).await.unwrap();
    let token = app_token(&sb).await;
    let app = app_id(&sb);
    let users = sb.users();
    let (a, b) = (users[0].id.clone(), users[1].id.clone());
    let a_path = format!("/users/{a}/messages?$top=1");
    hold(&sb).await;
    let singles = futures::future::join_all((0..4).map(|_| get(&sb, &token, &a_path)));
    let batched = async {
        wait_until(&sb, "4 in flight", |s| in_flight(s, &app, &a) == 4).await;
        batch(
            &sb,
            &token,
            json!({"requests": [
                {"id": "a", "method": "GET", "url": a_path},
                {"id": "b", "method": "GET", "url": format!("/users/{b}/messages?$top=1")},
            ]}),
        )
        .await
    };
    let probe = async {
        wait_until(&sb, "the batch's requests", |s| {
            mailbox(s, &app, &a)["throttled"]["concurrency"] == 1 && in_flight(s, &app, &b) == 1
        })
        .await;
        release(&sb).await;
    };
    let (singles, resp, ()) = tokio::join!(singles, batched, probe);
    assert!(singles.iter().all(|r| r.status == 200));
    assert_eq!(resp.status, 200);
    let r = by_id(&resp);
    assert_eq!(r["a"]["status"], 429);
    assert_eq!(r["a"]["headers"]["Retry-After"], "1");
    assert_eq!(r["a"]["body"]["error"]["code"], "ApplicationThrottled");
    assert_eq!(r["b"]["status"], 200);
    sb.shutdown().await;
}

/// Three requests to one mailbox whose window holds two: one is throttled.
async fn throttled_batch(status: ThrottledBatchStatus, seed: u64) -> (Resp, Value, String) {
    let limits = LimitsConfig::default()
        .with_outlook_window(2, Duration::from_secs(600))
        .with_throttled_batch_status(status);
    let sb = Sandbox::start(SandboxConfig::new(seed).with_limits(limits))
        .await
        .unwrap();
    let token = app_token(&sb).await;
    let a = sb.users()[0].id.clone();
    let requests: Vec<Value> = (0..3)
        .map(|n| json!({"id": format!("r{n}"), "method": "GET", "url": format!("/users/{a}/messages?$top=1")}))
        .collect();
    let resp = batch(&sb, &token, json!({ "requests": requests })).await;
    let s = stats(&sb).await;
    let app = app_id(&sb);
    let m = mailbox(&s, &app, &a);
    sb.shutdown().await;
    (resp, m, a)
}

#[tokio::test]
async fn a_throttled_request_answers_429_inside_a_200_batch_by_default() {
    let (resp, m, _) = throttled_batch(ThrottledBatchStatus::Ok, 94).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let statuses: Vec<u64> = by_id(&resp)
        .values()
        .map(|v| v["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 2);
    let throttled: Vec<Value> = by_id(&resp)
        .into_values()
        .filter(|v| v["status"] == 429)
        .collect();
    assert_eq!(throttled.len(), 1);
    let retry: u64 = throttled[0]["headers"]["Retry-After"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((590..=600).contains(&retry));
    assert_eq!(throttled[0]["body"]["error"]["code"], "TooManyRequests");
    // the batch's requests counted against the mailbox's window
    assert_eq!(
        (m["requests"].as_u64(), m["throttled"]["requests"].as_u64()),
        (Some(2), Some(1))
    );
}

#[tokio::test]
async fn the_2021_envelope_answers_424_with_the_same_responses() {
    let (resp, m, _) = throttled_batch(ThrottledBatchStatus::FailedDependency, 95).await;
    assert_eq!(resp.status, 424, "{}", resp.body);
    let r = by_id(&resp);
    assert_eq!(r.values().filter(|v| v["status"] == 429).count(), 1);
    assert!(
        r.values()
            .filter(|v| v["status"] == 429)
            .all(|v| v["headers"]["Retry-After"].is_string())
    );
    assert_eq!(m["throttled"]["requests"], 1);
}

#[tokio::test]
async fn twenty_requests_run_and_twenty_one_are_refused_whole() {
    let sb = Sandbox::start(SandboxConfig::new(96)).await.unwrap();
    let token = app_token(&sb).await;
    let users: Vec<Value> = (0..20)
        .map(|n| json!({"id": n.to_string(), "method": "GET", "url": "/users?$top=1"}))
        .collect();
    let ok = batch(&sb, &token, json!({ "requests": users })).await;
    assert_eq!(ok.status, 200);
    assert_eq!(by_id(&ok).len(), 20);
    let mut too_many = users.clone();
    too_many.push(json!({"id": "20", "method": "GET", "url": "/users?$top=1"}));
    let refused = batch(&sb, &token, json!({ "requests": too_many })).await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.body["error"]["code"], "BadRequest");
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("from 1 to 20")
    );
    let log = sb.request_log();
    assert_eq!(log.iter().filter(|l| l.path == "/users").count(), 20);
    assert_eq!(
        log.iter()
            .filter(|l| l.path == "/$batch")
            .map(|l| l.status)
            .collect::<Vec<_>>(),
        vec![200, 400]
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn malformed_batches_run_nothing() {
    let sb = Sandbox::start(SandboxConfig::new(97)).await.unwrap();
    let token = user_token(&sb).await;
    let create = json!({"id": "1", "method": "POST", "url": "/me/messages",
        "headers": {"Content-Type": "application/json"}, "body": {"subject": "never"}});
    let cases = [
        (
            json!({"requests": [create, {"id": "1", "method": "GET", "url": "/me"}]}),
            "used twice",
        ),
        (
            json!({"requests": [create, {"id": "2", "method": "GET", "url": "https://graph.microsoft.com/v1.0/me"}]}),
            "absolute",
        ),
        (
            json!({"requests": [create, {"id": "2", "method": "POST", "url": "/$batch", "headers": {"Content-Type": "application/json"}, "body": {"requests": []}}]}),
            "another $batch",
        ),
        (
            json!({"requests": [create, {"id": "2", "url": "/me"}]}),
            "method is required",
        ),
        (
            json!({"requests": [create, {"id": "2", "method": "GET"}]}),
            "url is required",
        ),
        (
            json!({"requests": [create, {"id": "2", "method": "GET", "url": "/me", "dependsOn": ["9"]}]}),
            "no request of this batch",
        ),
        (json!({"value": []}), "'requests' array"),
    ];
    for (body, expected) in cases {
        let resp = batch(&sb, &token, body).await;
        assert_eq!(resp.status, 400, "{expected}: {}", resp.body);
        let message = resp.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{expected}: {message}");
    }
    let unauthenticated = batch(&sb, "not-a-token", json!({"requests": [create]})).await;
    assert_eq!(unauthenticated.status, 401);
    let wrong_method = call(&sb, &token, reqwest::Method::GET, "/$batch", None, &[]).await;
    assert_eq!(wrong_method.status, 405);
    assert!(
        sb.request_log()
            .iter()
            .all(|l| l.path == "/$batch" && l.status >= 400)
    );
    let never = get(&sb, &token, "/me/messages?$filter=subject eq 'never'").await;
    assert_eq!(never.body["value"], json!([]));
    sb.shutdown().await;
}
