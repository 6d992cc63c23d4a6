//! Graph's throttling limits in the sandbox: Outlook's per app and mailbox
//! (4 in flight, a rolling request window, an upload byte budget) and the
//! global one per app, with the counters at `/_sandbox/stats`. Requests are
//! kept in flight with `/_sandbox/hold` and windows pass with
//! `/_sandbox/clock`, so nothing here depends on how fast the machine is.

mod common;
mod sandbox_control;

use std::time::{Duration, Instant};

use common::*;
use futures::future::join_all;
use reqwest::Method;
use sandbox_control::*;
use serde_json::json;
use switchboard_microsoft365_sandbox::{LimitsConfig, Sandbox, SandboxConfig, SandboxHandle};

async fn start_with(seed: u64, limits: LimitsConfig) -> SandboxHandle {
    Sandbox::start(SandboxConfig::new(seed).with_limits(limits))
        .await
        .unwrap()
}

fn app_id(sb: &SandboxHandle) -> String {
    sb.client().client_id.to_ascii_lowercase()
}

#[tokio::test]
async fn a_fifth_request_in_flight_for_one_mailbox_is_refused_and_other_mailboxes_are_not() {
    let sb = Sandbox::start(SandboxConfig::new(80)).await.unwrap();
    let token = app_token(&sb).await;
    let app = app_id(&sb);
    let users = sb.users();
    let (a, b) = (&users[0], &users[1]);
    let a_messages = format!("/users/{}/messages?$top=1", a.id);
    let b_events = format!("/users/{}/events?$top=1", b.id);

    hold(&sb).await;
    let held_a = join_all((0..4).map(|_| get(&sb, &token, &a_messages)));
    let held_b = join_all((0..4).map(|_| get(&sb, &token, &b_events)));
    // the directory is not Outlook: held like every request, never refused
    let a_user = format!("/users/{}", a.id);
    let directory = get(&sb, &token, &a_user);
    let probe = async {
        let before = wait_until(&sb, "4 requests in flight for each mailbox", |s| {
            in_flight(s, &app, &a.id) == 4 && in_flight(s, &app, &b.id) == 4
        })
        .await;
        let fifth = get(&sb, &token, &a_messages).await;
        // the same mailbox named by its UPN, another Outlook area
        let by_upn = get(
            &sb,
            &token,
            &format!("/users/{}/mailFolders/inbox", a.user_principal_name),
        )
        .await;
        release(&sb).await;
        (before, fifth, by_upn)
    };
    let (done_a, done_b, directory, (before, fifth, by_upn)) =
        tokio::join!(held_a, held_b, directory, probe);

    assert_eq!(mailbox(&before, &app, &a.id)["throttled"]["concurrency"], 0);
    assert_eq!(fifth.status, 429, "{}", fifth.body);
    assert_eq!(fifth.body["error"]["code"], "ApplicationThrottled");
    assert_eq!(
        fifth.body["error"]["message"],
        "Application is over its MailboxConcurrency limit."
    );
    assert!(fifth.body["error"]["innerError"]["request-id"].is_string());
    assert_eq!(retry_after(&fifth.headers), 1);
    assert_eq!(by_upn.status, 429, "{}", by_upn.body);
    assert!(done_a.iter().chain(&done_b).all(|r| r.status == 200));
    assert_eq!(directory.status, 200);

    let after = stats(&sb).await;
    let ma = mailbox(&after, &app, &a.id);
    assert_eq!(ma["requests"], 4);
    assert_eq!(ma["throttled"]["concurrency"], 2);
    assert_eq!(
        (ma["in_flight"].as_u64(), ma["max_in_flight"].as_u64()),
        (Some(0), Some(4))
    );
    let mb = mailbox(&after, &app, &b.id);
    assert_eq!(mb["requests"], 4);
    assert_eq!(mb["throttled"]["concurrency"], 0);
    assert_eq!(mb["max_in_flight"], 4);
    assert_eq!(after["throttled"]["concurrency"], 2);
    assert_eq!(after["throttled"]["requests"], 0);
    // the app made 8 + 1 + 0 requests that were let through
    assert_eq!(after["apps"][0]["requests"], 9);

    let log = sb.request_log();
    assert_eq!(log.iter().filter(|r| r.status == 429).count(), 2);
    assert_eq!(
        log.iter()
            .filter(|r| r.path == format!("/users/{}/messages", a.id) && r.status == 200)
            .count(),
        4
    );
    // with nothing in flight, the mailbox answers again
    assert_eq!(get(&sb, &token, &a_messages).await.status, 200);
    sb.shutdown().await;
}

#[tokio::test]
async fn me_and_users_id_are_one_mailbox_for_one_app() {
    let sb = Sandbox::start(SandboxConfig::new(81)).await.unwrap();
    let user = user_token(&sb).await;
    let app_only = app_token(&sb).await;
    let app = app_id(&sb);
    let me = get(&sb, &user, "/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();

    hold(&sb).await;
    let delegated = join_all((0..2).map(|_| get(&sb, &user, "/me/messages?$top=1")));
    let users_path = format!("/users/{me}/calendar");
    let application = join_all((0..2).map(|_| get(&sb, &app_only, &users_path)));
    let probe = async {
        wait_until(&sb, "4 in flight", |s| in_flight(s, &app, &me) == 4).await;
        let fifth = get(&sb, &user, "/me/events?$top=1").await;
        release(&sb).await;
        fifth
    };
    let (d, a, fifth) = tokio::join!(delegated, application, probe);
    assert!(d.iter().chain(&a).all(|r| r.status == 200));
    assert_eq!(fifth.status, 429);
    assert_eq!(fifth.body["error"]["code"], "ApplicationThrottled");
    sb.shutdown().await;
}

#[tokio::test]
async fn a_full_request_window_refuses_until_the_clock_passes_it() {
    let sb = start_with(
        82,
        LimitsConfig::default().with_outlook_window(5, Duration::from_secs(600)),
    )
    .await;
    let token = app_token(&sb).await;
    let app = app_id(&sb);
    let users = sb.users();
    let (a, b) = (&users[0], &users[1]);
    let path = format!("/users/{}/messages?$top=1", a.id);
    for _ in 0..5 {
        assert_eq!(get(&sb, &token, &path).await.status, 200);
    }
    let refused = get(&sb, &token, &path).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.body["error"]["code"], "TooManyRequests");
    assert_eq!(refused.body["error"]["innerError"]["code"], "429");
    assert!((590..=600).contains(&retry_after(&refused.headers)));
    // another mailbox has a window of its own
    let other = format!("/users/{}/events?$top=1", b.id);
    assert_eq!(get(&sb, &token, &other).await.status, 200);

    assert_eq!(advance(&sb, 595).await["clock_offset_secs"], 595);
    let still = get(&sb, &token, &path).await;
    assert_eq!(still.status, 429);
    assert!((1..=5).contains(&retry_after(&still.headers)));
    advance(&sb, 5).await;
    assert_eq!(get(&sb, &token, &path).await.status, 200);

    let s = stats(&sb).await;
    let ma = mailbox(&s, &app, &a.id);
    assert_eq!(ma["requests"], 6);
    assert_eq!(ma["throttled"]["requests"], 2);
    assert_eq!(ma["window_requests"], 1);
    assert_eq!(mailbox(&s, &app, &b.id)["requests"], 1);
    assert_eq!(s["clock_offset_secs"], 600);
    sb.shutdown().await;
}

#[tokio::test]
async fn uploads_use_a_byte_budget_and_attachment_chunks_count() {
    let sb = start_with(
        83,
        LimitsConfig::default().with_outlook_uploads(1_000, Duration::from_secs(300)),
    )
    .await;
    let token = app_token(&sb).await;
    let app = app_id(&sb);
    let users = sb.users();
    let (a, b) = (&users[0], &users[1]);
    let draft =
        json!({"subject": "budget", "body": {"contentType": "text", "content": "x".repeat(600)}});
    let a_messages = format!("/users/{}/messages", a.id);
    assert_eq!(
        post(&sb, &token, &a_messages, draft.clone()).await.status,
        201
    );
    // this one crosses the budget and is served
    assert_eq!(
        post(&sb, &token, &a_messages, draft.clone()).await.status,
        201
    );
    let refused = post(&sb, &token, &a_messages, draft.clone()).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.body["error"]["code"], "ApplicationThrottled");
    assert_eq!(
        refused.body["error"]["message"],
        "Application is over its IncomingBytes limit."
    );
    assert!((1..=300).contains(&retry_after(&refused.headers)));
    // reads send no bytes
    assert_eq!(
        get(&sb, &token, &format!("{a_messages}?$top=1"))
            .await
            .status,
        200
    );

    // on b: a draft, an upload session, then chunks to the upload URL
    let b_messages = format!("/users/{}/messages", b.id);
    let created = post(
        &sb,
        &token,
        &b_messages,
        json!({"subject": "with attachment"}),
    )
    .await;
    assert_eq!(created.status, 201);
    let message_id = created.body["id"].as_str().unwrap().to_string();
    let size = 3 * 327_680;
    let session = post(
        &sb,
        &token,
        &format!("{b_messages}/{message_id}/attachments/createUploadSession"),
        json!({"AttachmentItem": {"attachmentType": "file", "name": "big.bin", "size": size}}),
    )
    .await;
    assert_eq!(session.status, 201, "{}", session.body);
    let upload_url = session.body["uploadUrl"].as_str().unwrap().to_string();
    let chunk = |n: usize| {
        let upload_url = upload_url.clone();
        async move {
            reqwest::Client::new()
                .put(upload_url)
                .header(
                    "content-range",
                    format!("bytes {}-{}/{size}", n * 327_680, (n + 1) * 327_680 - 1),
                )
                .body(vec![7u8; 327_680])
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(chunk(0).await.status(), 202);
    let throttled = chunk(1).await;
    assert_eq!(throttled.status(), 429);
    assert!(throttled.headers().contains_key("retry-after"));
    let body: serde_json::Value = throttled.json().await.unwrap();
    assert_eq!(
        body["error"]["message"],
        "Application is over its IncomingBytes limit."
    );

    advance(&sb, 300).await;
    assert_eq!(chunk(1).await.status(), 202);
    assert_eq!(post(&sb, &token, &a_messages, draft).await.status, 201);
    let s = stats(&sb).await;
    assert_eq!(mailbox(&s, &app, &a.id)["throttled"]["upload_bytes"], 1);
    let mb = mailbox(&s, &app, &b.id);
    assert_eq!(mb["throttled"]["upload_bytes"], 1);
    // the draft, the session, two chunks admitted
    assert_eq!(mb["requests"], 4);
    assert_eq!(mb["window_upload_bytes"], 327_680);
    sb.shutdown().await;
}

#[tokio::test]
async fn the_global_limit_counts_every_service_of_one_app() {
    let sb = start_with(
        84,
        LimitsConfig::default().with_global(3, Duration::from_secs(10)),
    )
    .await;
    let app_only = app_token(&sb).await;
    let user = user_token(&sb).await;
    let a = sb.users()[0].id.clone();
    assert_eq!(get(&sb, &app_only, "/users?$top=1").await.status, 200);
    assert_eq!(
        get(&sb, &app_only, &format!("/users/{a}/messages?$top=1"))
            .await
            .status,
        200
    );
    assert_eq!(
        get(&sb, &app_only, &format!("/users/{a}/drive"))
            .await
            .status,
        200
    );
    let refused = get(&sb, &app_only, "/users?$top=1").await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.body["error"]["code"], "TooManyRequests");
    assert!((1..=10).contains(&retry_after(&refused.headers)));
    // a delegated token of the same app is the same app
    assert_eq!(get(&sb, &user, "/me").await.status, 429);
    advance(&sb, 10).await;
    assert_eq!(get(&sb, &user, "/me").await.status, 200);
    let s = stats(&sb).await;
    assert_eq!(s["throttled"]["global"], 2);
    assert_eq!(s["apps"][0]["requests"], 4);
    assert_eq!(s["apps"][0]["throttled_global"], 2);
    sb.shutdown().await;
}

#[tokio::test]
async fn without_limits_nothing_is_refused_however_many_are_in_flight() {
    let sb = start_with(85, LimitsConfig::off()).await;
    let token = app_token(&sb).await;
    let app = app_id(&sb);
    let a = sb.users()[0].id.clone();
    let path = format!("/users/{a}/messages?$top=1");
    hold(&sb).await;
    let held = join_all((0..6).map(|_| get(&sb, &token, &path)));
    let probe = async {
        wait_until(&sb, "6 in flight", |s| in_flight(s, &app, &a) == 6).await;
        release(&sb).await;
    };
    let (done, ()) = tokio::join!(held, probe);
    assert!(done.iter().all(|r| r.status == 200));
    let s = stats(&sb).await;
    assert_eq!(mailbox(&s, &app, &a)["max_in_flight"], 6);
    assert_eq!(s["throttled"]["concurrency"], 0);
    sb.shutdown().await;
}

#[tokio::test]
async fn latency_keeps_each_graph_request_in_flight_that_long() {
    let latency = Duration::from_millis(300);
    let sb = Sandbox::start(SandboxConfig::new(86).with_latency(latency))
        .await
        .unwrap();
    let token = app_token(&sb).await;
    let started = Instant::now();
    assert_eq!(get(&sb, &token, "/users?$top=1").await.status, 200);
    assert!(started.elapsed() >= latency);
    sb.shutdown().await;
}

#[tokio::test]
async fn the_control_endpoints_check_their_input_reset_and_end_a_hold_by_themselves() {
    let sb = Sandbox::start(SandboxConfig::new(87)).await.unwrap();
    let token = app_token(&sb).await;
    let app = app_id(&sb);
    let a = sb.users()[0].id.clone();
    for body in [
        json!({}),
        json!({"advance_secs": -1}),
        json!({"advance_secs": "5"}),
    ] {
        let (status, answer) = control(&sb, Method::POST, "clock", Some(body)).await;
        assert_eq!(status, 400);
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains("advance_secs"),
            "{answer}"
        );
    }
    let (status, answer) = control(&sb, Method::POST, "hold", Some(json!({"max_secs": 601}))).await;
    assert_eq!(status, 400);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_secs")
    );
    let (status, _) = control(&sb, Method::POST, "clock", Some(json!([1]))).await;
    assert_eq!(status, 400);

    let path = format!("/users/{a}/messages?$top=1");
    assert_eq!(get(&sb, &token, &path).await.status, 200);
    let (status, _) = control(&sb, Method::DELETE, "stats", None).await;
    assert_eq!(status, 204);
    let m = mailbox(&stats(&sb).await, &app, &a);
    assert_eq!(
        (m["requests"].as_u64(), m["window_requests"].as_u64()),
        (Some(0), Some(1))
    );

    // a hold nobody releases ends by itself
    let (status, answer) = control(&sb, Method::POST, "hold", Some(json!({"max_secs": 1}))).await;
    assert_eq!((status, answer["max_secs"].as_u64()), (200, Some(1)));
    assert_eq!(get(&sb, &token, &path).await.status, 200);
    sb.shutdown().await;
}
