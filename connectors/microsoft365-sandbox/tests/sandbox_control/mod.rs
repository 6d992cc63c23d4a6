//! The sandbox's `/_sandbox/` endpoints, used over HTTP as a benchmark in
//! another process would use them.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use switchboard_microsoft365_sandbox::SandboxHandle;

/// Sends a request to `/_sandbox/{path}` (they need no token); returns the
/// status and the JSON body (`Null` when there is none).
pub async fn control(
    sb: &SandboxHandle,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let url = format!("{}/_sandbox/{path}", sb.base_url());
    let resp = crate::common::call(sb, "", method, &url, body, &[]).await;
    (resp.status, resp.body)
}

/// `GET /_sandbox/stats`.
pub async fn stats(sb: &SandboxHandle) -> Value {
    let (status, body) = control(sb, Method::GET, "stats", None).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// `POST /_sandbox/hold`: Graph requests stay in flight until [`release`].
pub async fn hold(sb: &SandboxHandle) {
    let (status, body) = control(sb, Method::POST, "hold", Some(json!({"max_secs": 60}))).await;
    assert_eq!((status, &body["held"]), (200, &json!(true)), "{body}");
}

/// `POST /_sandbox/release`.
pub async fn release(sb: &SandboxHandle) {
    let (status, body) = control(sb, Method::POST, "release", None).await;
    assert_eq!((status, &body["held"]), (200, &json!(false)), "{body}");
}

/// `POST /_sandbox/clock`: moves the limits clock forward.
pub async fn advance(sb: &SandboxHandle, secs: u64) -> Value {
    let (status, body) = control(
        sb,
        Method::POST,
        "clock",
        Some(json!({"advance_secs": secs})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The counters of `app` on `mailbox` in a stats answer (`Null` if none).
pub fn mailbox(stats: &Value, app: &str, mailbox: &str) -> Value {
    stats["mailboxes"]
        .as_array()
        .and_then(|all| {
            all.iter().find(|m| {
                m["app"].as_str() == Some(&app.to_ascii_lowercase()) && m["mailbox"] == mailbox
            })
        })
        .cloned()
        .unwrap_or(Value::Null)
}

/// Requests of `app` in flight for `mailbox` now.
pub fn in_flight(stats: &Value, app: &str, mb: &str) -> u64 {
    mailbox(stats, app, mb)["in_flight"].as_u64().unwrap_or(0)
}

/// Reads the stats until `done` says yes (the sandbox's state, not time, is
/// what the test waits for; 20 seconds means something is wrong).
pub async fn wait_until(sb: &SandboxHandle, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let give_up = Instant::now() + Duration::from_secs(20);
    loop {
        let s = stats(sb).await;
        if done(&s) {
            return s;
        }
        assert!(Instant::now() < give_up, "never saw {what}: {s}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The `Retry-After` seconds of a response.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> u64 {
    headers["retry-after"].to_str().unwrap().parse().unwrap()
}
