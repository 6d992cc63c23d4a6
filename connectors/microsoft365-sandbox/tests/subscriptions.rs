//! Change-notification subscriptions: the validation handshake on create,
//! Graph's maximum lifetimes by the sandbox clock, real notifications with
//! the subscription's clientState, renewal, deletion and lifecycle events.

mod common;

use std::time::Duration;

use common::receiver::{Receiver, Validation};
use common::*;
use reqwest::Method;
use serde_json::{Value, json};
use switchboard_microsoft365_sandbox::SandboxHandle;

/// The sandbox clock's "now" as Unix seconds (`GET /_sandbox/clock`).
async fn sandbox_now(sb: &SandboxHandle) -> i64 {
    let v: Value = client()
        .get(format!("{}/_sandbox/clock", sb.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let offset = v["clock_offset_secs"].as_i64().unwrap();
    assert_eq!(offset as u64, sb.clock_offset().as_secs());
    today()
        + (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            % 86_400)
        + offset
}

fn subscription(rx: &Receiver, resource: &str, expires: i64) -> Value {
    json!({
        "changeType": "created,updated,deleted",
        "notificationUrl": rx.url("/notify"),
        "lifecycleNotificationUrl": rx.url("/lifecycle"),
        "resource": resource,
        "expirationDateTime": iso(expires),
        "clientState": "a-secret-only-we-know",
    })
}

#[tokio::test]
async fn create_validates_the_endpoint_and_changes_are_notified_with_the_client_state() {
    let sb = start(60).await;
    let token = app_token(&sb).await;
    let rx = Receiver::start(Validation::Echo).await;
    let user = sb.users()[0].id.clone();
    let now = sandbox_now(&sb).await;
    let r = post(
        &sb,
        &token,
        "/subscriptions",
        subscription(&rx, &format!("users/{user}/messages"), now + 3600),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    // both URLs were validated: a token echoed as text/plain
    assert_eq!(rx.validations().len(), 2);
    assert!(rx.posts("/notify").is_empty());

    let created = post(
        &sb,
        &token,
        &format!("/users/{user}/messages"),
        json!({"subject": "watched", "body": {"contentType": "text", "content": "x"}}),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let posts = rx.wait_posts("/notify", 1).await;
    let n = &posts[0].json()["value"][0];
    assert_eq!(n["subscriptionId"], id.as_str());
    assert_eq!(n["clientState"], "a-secret-only-we-know");
    assert_eq!(n["changeType"], "created");
    assert_eq!(n["resourceData"]["id"], created.body["id"]);
    assert!(sb.notifications_idle(Duration::from_secs(10)).await);
    assert_eq!(rx.posts("/notify").len(), 1, "one change, one notification");

    // a receiver that fails the handshake gets no subscription
    let bad = Receiver::start(Validation::Encoded).await;
    let r = post(
        &sb,
        &token,
        "/subscriptions",
        subscription(&bad, &format!("users/{user}/events"), now + 3600),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let listed = get(&sb, &token, "/subscriptions").await;
    assert_eq!(listed.body["value"].as_array().unwrap().len(), 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn lifetimes_renewal_expiry_and_deletion_follow_the_sandbox_clock() {
    let sb = start(61).await;
    let token = app_token(&sb).await;
    let rx = Receiver::start(Validation::Echo).await;
    let user = sb.users()[0].id.clone();
    let now = sandbox_now(&sb).await;
    // messages: at most 10,080 minutes
    let too_long = subscription(&rx, &format!("users/{user}/messages"), now + 10_081 * 60);
    let r = post(&sb, &token, "/subscriptions", too_long).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expirationDateTime")
    );
    // drive items: 42,300 minutes is allowed
    let r = post(
        &sb,
        &token,
        "/subscriptions",
        json!({"changeType": "updated", "notificationUrl": rx.url("/notify"),
               "resource": format!("users/{user}/drive/root"),
               "expirationDateTime": iso(now + 42_300 * 60 - 60)}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let drive_sub = r.body["id"].as_str().unwrap().to_string();

    let r = post(
        &sb,
        &token,
        "/subscriptions",
        subscription(&rx, &format!("users/{user}/contacts"), now + 3600),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    // renew for another two hours, then let the clock pass the first expiry
    let r = call(
        &sb,
        &token,
        Method::PATCH,
        &format!("/subscriptions/{id}"),
        Some(json!({"expirationDateTime": iso(now + 3 * 3600)})),
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    sb.advance_clock(Duration::from_secs(2 * 3600)).unwrap();
    assert_eq!(
        get(&sb, &token, &format!("/subscriptions/{id}"))
            .await
            .status,
        200
    );
    sb.advance_clock(Duration::from_secs(2 * 3600)).unwrap();
    assert_eq!(
        get(&sb, &token, &format!("/subscriptions/{id}"))
            .await
            .status,
        404
    );

    let r = call(
        &sb,
        &token,
        Method::DELETE,
        &format!("/subscriptions/{drive_sub}"),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        get(&sb, &token, &format!("/subscriptions/{drive_sub}"))
            .await
            .status,
        404
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn lifecycle_events_reach_the_lifecycle_url() {
    let sb = start(62).await;
    let token = app_token(&sb).await;
    let rx = Receiver::start(Validation::Echo).await;
    let user = sb.users()[0].id.clone();
    let now = sandbox_now(&sb).await;
    let r = post(
        &sb,
        &token,
        "/subscriptions",
        subscription(&rx, &format!("users/{user}/messages"), now + 3600),
    )
    .await;
    let id = r.body["id"].as_str().unwrap().to_string();
    for event in ["missed", "reauthorizationRequired", "subscriptionRemoved"] {
        let r = client()
            .post(format!(
                "{}/_sandbox/lifecycle?subscription={id}&event={event}",
                sb.base_url()
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{event}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["receiverStatus"], 202);
    }
    let got = rx.notifications("/lifecycle");
    let events: Vec<_> = got.iter().map(|n| n["lifecycleEvent"].clone()).collect();
    assert_eq!(
        events,
        ["missed", "reauthorizationRequired", "subscriptionRemoved"]
    );
    assert!(
        got.iter()
            .all(|n| n["clientState"] == "a-secret-only-we-know"
                && n["subscriptionId"] == id.as_str())
    );
    // removed: gone, and an unknown event is refused naming the choices
    assert_eq!(
        get(&sb, &token, &format!("/subscriptions/{id}"))
            .await
            .status,
        404
    );
    let r = client()
        .post(format!(
            "{}/_sandbox/lifecycle?subscription={id}&event=bogus",
            sb.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    sb.shutdown().await;
}
