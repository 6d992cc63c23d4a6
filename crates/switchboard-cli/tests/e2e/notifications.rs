//! `switchboard notifications serve`, `subscribe` and `subscriptions`
//! through the binary against the sandbox: the receiver process answers the
//! validation handshake, a message created through the API is notified and
//! `sync` then yields exactly it, a `missed` lifecycle event leads to a
//! delta sync, forgeries are refused; `notifications renew` keeps a
//! subscription alive past its first expiry by the sandbox clock.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use switchboard_microsoft365_sandbox::SandboxConfig;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

use crate::harness::Env;

/// The next JSON line the receiver printed (within 20 s).
async fn next_line(lines: &mut Lines<BufReader<ChildStdout>>) -> Value {
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("a line within 20 s")
        .unwrap()
        .expect("the receiver is still running");
    serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"))
}

/// `notifications serve` on a free port with `extra` arguments: the
/// process, its output lines and the URL it listens on.
async fn serve(env: &Env, extra: &[&str]) -> (Child, Lines<BufReader<ChildStdout>>, String) {
    let mut args = vec![
        "notifications",
        "serve",
        "--port",
        "0",
        "--output",
        "ndjson",
    ];
    args.extend(extra);
    let mut child = env
        .cli
        .command(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let listening = next_line(&mut lines).await;
    let url = listening["listening"].as_str().unwrap().to_string();
    (child, lines, url)
}

/// A draft created through the API in `user`'s mailbox.
async fn create_draft(env: &Env, id: &str, user_param: &str, subject: &str) -> Value {
    env.cli
        .json(&[
            "call",
            id,
            "mail.create_draft",
            "--param",
            user_param,
            "--param",
            &format!("subject={subject}"),
        ])
        .await
}

#[tokio::test]
async fn subscribe_receive_and_sync_through_the_binary() {
    let env = Env::start(SandboxConfig::new(95)).await;
    let id = env.install_application(&[]).await;
    let user = env.sandbox.users()[0].id.clone();
    let (mut serve, mut lines, url) = serve(&env, &[]).await;
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let user_param = format!("user_id={user}");
    let params = [
        "--param",
        user_param.as_str(),
        "--param",
        "folder_id=drafts",
    ];
    // the first sync takes everything; from now on only changes
    let mut sync_args = vec![
        "sync",
        id.as_str(),
        "mail.messages_delta",
        "--output",
        "ndjson",
    ];
    sync_args.extend(params);
    env.cli.ok(&sync_args).await;

    let mut subscribe = vec![
        "subscribe",
        id.as_str(),
        "messages",
        "--notification-url",
        url.as_str(),
    ];
    subscribe.extend(params);
    let record = env.cli.json(&subscribe).await;
    let sub = record["id"].as_str().unwrap().to_string();
    assert_eq!(record["resource"], "messages");
    assert_eq!(record["delta_method"], "mail.messages_delta");
    let listed = env.cli.json(&["subscriptions", &id]).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], sub.as_str());

    // a message created through the API is notified, then synced alone
    let created = create_draft(&env, &id, &user_param, "watched").await;
    let n = next_line(&mut lines).await;
    assert_eq!(n["notification"], "change", "{n}");
    assert_eq!(n["subscription"], sub.as_str());
    assert_eq!(n["change_type"], "created");
    assert_eq!(n["resource_id"], created["id"]);
    let changes = env.cli.ok(&sync_args).await.ndjson();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["record"]["id"], created["id"]);

    // a forged notification is refused and prints nothing
    let forged = json!({"value": [{"subscriptionId": sub, "clientState": "guess",
        "changeType": "created", "resource": "x"}]});
    let status = reqwest::Client::new()
        .post(&url)
        .json(&forged)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 403);

    // missed: the receiver syncs the resource (nothing new since)
    let before = env
        .sandbox
        .request_log()
        .iter()
        .filter(|r| r.path.contains("/messages/delta"))
        .count();
    assert_eq!(
        env.sandbox.lifecycle_event(&sub, "missed").await.unwrap(),
        202
    );
    let n = next_line(&mut lines).await;
    assert_eq!(n["notification"], "lifecycle", "{n}");
    assert_eq!(n["event"], "missed");
    assert_eq!(n["outcome"], "sync");
    // reauthorizationRequired after it: renewed; its line also proves the
    // sync above finished before it (one loop)
    assert_eq!(
        env.sandbox
            .lifecycle_event(&sub, "reauthorizationRequired")
            .await
            .unwrap(),
        202
    );
    let n = next_line(&mut lines).await;
    assert_eq!(n["outcome"], "renewed", "{n}");
    let after = env
        .sandbox
        .request_log()
        .iter()
        .filter(|r| r.path.contains("/messages/delta"))
        .count();
    assert_eq!(after - before, 1, "one delta request for the missed event");
    serve.kill().await.unwrap();
}

/// The PATCH requests the sandbox received for subscription `id`.
fn renewals(env: &Env, id: &str) -> usize {
    let path = format!("/subscriptions/{id}");
    env.sandbox
        .request_log()
        .iter()
        .filter(|r| r.method == "PATCH" && r.path.ends_with(&path))
        .count()
}

#[tokio::test]
async fn renewal_through_the_binary_keeps_a_subscription_alive_past_its_first_expiry() {
    let env = Env::start(SandboxConfig::new(96)).await;
    let id = env.install_application(&[]).await;
    let user = env.sandbox.users()[0].id.clone();
    // the receiver; its own renewal loop looks once at start (nothing is
    // due by this machine's clock) and then not for a day
    let (mut serve, mut lines, url) =
        serve(&env, &["--renew-within", "60", "--renew-every", "86400"]).await;
    let user_param = format!("user_id={user}");
    let record = env
        .cli
        .json(&[
            "subscribe",
            &id,
            "messages",
            "--notification-url",
            &url,
            "--param",
            &user_param,
            "--param",
            "folder_id=drafts",
        ])
        .await;
    let sub = record["id"].as_str().unwrap().to_string();
    let first_expiry = record["expires"].as_str().unwrap().to_string();

    // nothing is due yet: no renewal, no PATCH
    let report = env
        .cli
        .json(&["notifications", "renew", "--within", "3600"])
        .await;
    assert_eq!(report["renewed"], json!([]), "{report}");
    assert_eq!(renewals(&env, &sub), 0);

    // half an hour before the first expiry (Outlook messages: 10,080 minutes)
    env.sandbox
        .advance_clock(Duration::from_secs(10_080 * 60 - 1800))
        .unwrap();
    let offset = env.sandbox.clock_offset().as_secs().to_string();
    // by this machine's clock nothing is due: the offset is what tells
    let report = env
        .cli
        .json(&["notifications", "renew", "--within", "3600"])
        .await;
    assert_eq!(report["renewed"], json!([]), "{report}");
    assert_eq!(renewals(&env, &sub), 0);
    let report = env
        .cli
        .json(&[
            "notifications",
            "renew",
            "--within",
            "3600",
            "--clock-offset",
            &offset,
        ])
        .await;
    let renewed = report["renewed"].as_array().unwrap();
    assert_eq!(renewed.len(), 1, "{report}");
    assert_eq!(renewed[0]["id"], sub.as_str());
    assert_eq!(report["recreated"], json!([]));
    assert_eq!(report["failed"], json!([]));
    assert!(
        renewed[0]["expires"].as_str().unwrap() > first_expiry.as_str(),
        "{report} {first_expiry}"
    );
    assert_eq!(renewals(&env, &sub), 1, "one PATCH for one renewal");
    // the store holds the new expiry: a second sweep has nothing to do
    let report = env
        .cli
        .json(&[
            "notifications",
            "renew",
            "--within",
            "3600",
            "--clock-offset",
            &offset,
        ])
        .await;
    assert_eq!(report["renewed"], json!([]), "{report}");
    assert_eq!(renewals(&env, &sub), 1);

    // two hours on: past the first expiry
    env.sandbox
        .advance_clock(Duration::from_secs(7200))
        .unwrap();
    let now = reqwest::get(format!("{}/_sandbox/clock", env.sandbox.base_url()))
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["now"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(now > first_expiry, "{now} {first_expiry}");
    // the sandbox still has the subscription
    let got = env
        .cli
        .json(&[
            "call",
            &id,
            "subscriptions.get_subscription",
            "--param",
            &format!("subscription_id={sub}"),
        ])
        .await;
    assert_eq!(got["id"], sub.as_str());
    assert!(
        got["expirationDateTime"].as_str().unwrap() > now.as_str(),
        "{got} {now}"
    );
    // and delivers: a message created now is notified to the receiver
    let created = create_draft(&env, &id, &user_param, "still watched").await;
    let n = next_line(&mut lines).await;
    assert_eq!(n["notification"], "change", "{n}");
    assert_eq!(n["subscription"], sub.as_str());
    assert_eq!(n["resource_id"], created["id"]);
    assert_eq!(
        renewals(&env, &sub),
        1,
        "the receiver renewed nothing itself"
    );
    serve.kill().await.unwrap();
}
