//! Request limits through the front door: two `Switchboard`s on one SQLite
//! store keep Outlook's 4 requests in flight per mailbox together, as the
//! sandbox (which keeps Graph's limits) counts them; with
//! `local_limits()` each keeps its own 4 and the sandbox refuses some.

mod support;

use std::time::Duration;

use futures::future::join_all;
use support::{World, installed_on, switchboard_on};
use switchboard::{Arguments, InstallationClient, Switchboard};
use switchboard_microsoft365_sandbox::SandboxConfig;

const CALLS: usize = 12;

async fn world(seed: u64) -> World {
    installed_on(SandboxConfig::new(seed).with_latency(Duration::from_millis(40))).await
}

/// `CALLS` concurrent list calls on one mailbox.
async fn calls(
    client: &InstallationClient,
    user: &str,
) -> Vec<switchboard::Result<switchboard::Response>> {
    let list = || Arguments::new().set("user_id", user).set("top", 1);
    join_all((0..CALLS).map(|_| client.call("mail.list_messages", list()))).await
}

/// `CALLS` concurrent list calls on one mailbox from each client at once.
async fn both(a: &InstallationClient, b: &InstallationClient, user: &str) {
    let (ra, rb) = tokio::join!(calls(a, user), calls(b, user));
    assert!(ra.iter().chain(&rb).all(|r| r.is_ok()), "{ra:?} {rb:?}");
}

fn app(w: &World) -> String {
    w.sb.client().client_id.to_ascii_lowercase()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_switchboards_on_one_store_keep_the_limits_together() {
    let w = world(41).await;
    let other = switchboard_on(&w.store, "node-b");
    assert_eq!(w.board.engine().governor().node(), "node-a/limits");
    assert_eq!(other.engine().governor().node(), "node-b/limits");
    let b = other.installation(w.client.id()).await.unwrap();
    w.sb.reset_limit_stats();
    both(&w.client, &b, &w.user).await;

    let stats = w.sb.limit_stats();
    assert_eq!(stats.throttled.total(), 0, "{stats:?}");
    let m = stats.mailbox(&app(&w), &w.user).unwrap();
    assert_eq!(m.requests, 2 * CALLS as u64);
    assert!(m.max_in_flight <= 4, "{m:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_local_limits_each_switchboard_keeps_its_own_and_the_service_refuses() {
    let w = world(42).await;
    let local = |node: &str| {
        Switchboard::builder()
            .store(w.store.clone())
            .connector(switchboard_microsoft365::connector().unwrap())
            .redirect_uri("http://127.0.0.1/callback")
            .node(node)
            .local_limits()
            .build()
            .unwrap()
    };
    let (one, two) = (local("node-c"), local("node-d"));
    let a = one.installation(w.client.id()).await.unwrap();
    let b = two.installation(w.client.id()).await.unwrap();
    w.sb.reset_limit_stats();
    both(&a, &b, &w.user).await;

    // each node sent 4 at once: the sandbox saw more than Outlook allows
    let stats = w.sb.limit_stats();
    assert!(stats.throttled.concurrency > 0, "{stats:?}");
    let m = stats.mailbox(&app(&w), &w.user).unwrap();
    assert!(m.max_in_flight == 4 && m.throttled.concurrency > 0, "{m:?}");
}
