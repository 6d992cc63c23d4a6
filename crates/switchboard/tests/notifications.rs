//! Change notifications through the front door, against the sandbox: a
//! subscription created with the resource's maximum lifetime through a real
//! receiver (the axum router on a loopback port), a change notified and
//! synced, forged and hostile bodies refused, lifecycle events acted on,
//! and renewal across two nodes keeping the subscription alive past its
//! first expiry by the sandbox clock.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::json;
use support::{World, installed, switchboard_on};
use switchboard::{
    Arguments, Change, LifecycleOutcome, Notification, SubscriptionManager, SubscriptionRecord,
    SubscriptionTarget,
};
use switchboard_installations::install::InstallationStore;
use switchboard_microsoft365::subscription_resources::SubscriptionResources;
use tokio::sync::mpsc;

/// The receiver on a loopback port: its URL, the queue, and the status of
/// every answer it gave.
struct Endpoint {
    url: String,
    queue: mpsc::Receiver<Notification>,
    statuses: Arc<Mutex<Vec<u16>>>,
}

async fn endpoint(w: &World) -> Endpoint {
    let (router, queue) = switchboard::axum_router(w.board.receiver().clone(), 64);
    let statuses = Arc::new(Mutex::new(Vec::new()));
    let log = statuses.clone();
    let router = router.layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let log = log.clone();
            async move {
                let response = next.run(req).await;
                log.lock().unwrap().push(response.status().as_u16());
                response
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/graph", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    Endpoint {
        url,
        queue,
        statuses,
    }
}

impl Endpoint {
    async fn next(&mut self) -> Notification {
        tokio::time::timeout(Duration::from_secs(15), self.queue.recv())
            .await
            .expect("a notification within 15 s")
            .unwrap()
    }

    fn statuses(&self) -> Vec<u16> {
        self.statuses.lock().unwrap().clone()
    }

    async fn post(&self, body: impl Into<reqwest::Body>) -> u16 {
        reqwest::Client::new()
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

/// The sandbox's clock for a manager that renews by it, and a way to move
/// both.
#[derive(Clone, Default)]
struct Clock(Arc<AtomicU64>);

impl Clock {
    fn now(&self) -> switchboard_sync::Now {
        let offset = self.0.clone();
        Arc::new(move || SystemTime::now() + Duration::from_secs(offset.load(Ordering::SeqCst)))
    }

    fn advance(&self, w: &World, by: Duration) {
        w.sb.advance_clock(by).unwrap();
        self.0
            .store(w.sb.clock_offset().as_secs(), Ordering::SeqCst);
    }
}

fn drafts_target(w: &World, url: &str) -> SubscriptionTarget {
    let resources = SubscriptionResources::embedded().unwrap();
    let messages = resources.get("messages").unwrap();
    let resource = messages
        .resource_for(
            "application",
            &[("user_id", &w.user), ("folder_id", "drafts")],
        )
        .unwrap();
    let args = json!({"user_id": w.user, "folder_id": "drafts"});
    SubscriptionTarget::new(
        "messages",
        resource,
        "created,updated,deleted",
        url,
        messages.max_lifetime(),
    )
    .with_delta(
        messages.delta_method.clone(),
        args.as_object().unwrap().clone(),
    )
}

async fn sync_changes(w: &World, record: &SubscriptionRecord) -> Vec<Change> {
    let (method, args) = SubscriptionManager::sync_request(record).unwrap();
    let mut run = w.client.sync(&method, args).await.unwrap();
    let mut all = Vec::new();
    while let Some(page) = run.next_page().await.unwrap() {
        all.extend(page.changes().iter().cloned());
        run.ack(page).await.unwrap();
    }
    run.finish().await.unwrap();
    all
}

async fn lifecycle(w: &World, id: &str, event: &str) {
    assert_eq!(
        w.sb.lifecycle_event(id, event).await.unwrap(),
        202,
        "{event}"
    );
}

#[tokio::test]
async fn a_change_is_notified_verified_and_synced_and_forgeries_are_refused() {
    let w = installed(41).await;
    let mut ep = endpoint(&w).await;
    let manager = w.board.subscriptions();
    let target = drafts_target(&w, &ep.url).with_lifecycle_url(format!("{}/lifecycle", ep.url));
    let record = manager.create(w.client.context(), target).await.unwrap();
    // Graph validated both URLs (notification and lifecycle): two echoes
    assert_eq!(ep.statuses(), [200, 200]);
    assert_eq!(w.requests("POST", "/subscriptions"), 1);
    // stored with the maximum lifetime (10,080 minutes) less a minute
    let stored = w.store.clone();
    let listed = switchboard_sync::SubscriptionStore::subscriptions_of(&stored, w.client.id())
        .await
        .unwrap();
    assert_eq!(listed, std::slice::from_ref(&record));
    let lifetime = record.expires_at.duration_since(SystemTime::now()).unwrap();
    assert!(
        lifetime > Duration::from_secs(10_080 * 60 - 180)
            && lifetime <= Duration::from_secs(10_080 * 60),
        "{lifetime:?}"
    );
    // the clientState is encrypted with the installation's secrets, not in the record
    let state = w
        .store
        .load_secrets(w.client.id())
        .await
        .unwrap()
        .unwrap()
        .value
        .continuations
        .get(&switchboard_sync::client_state_name(&record.id))
        .cloned()
        .unwrap();
    assert_eq!(secrecy::ExposeSecret::expose_secret(&state).len(), 64);

    // everything synced once, then one change: notified, and synced alone
    let first = sync_changes(&w, &record).await;
    assert!(!first.is_empty());
    let created = w
        .client
        .call(
            "mail.create_draft",
            Arguments::new()
                .set("user_id", w.user.clone())
                .set("subject", "notified")
                .set("body", json!({"contentType": "text", "content": "x"})),
        )
        .await
        .unwrap()
        .into_json()
        .unwrap();
    match ep.next().await {
        Notification::Change {
            subscription,
            change_type,
            resource_id,
            ..
        } => {
            assert_eq!(subscription, record);
            assert_eq!(change_type, "created");
            assert_eq!(resource_id.as_deref(), created["id"].as_str());
        }
        other => panic!("{other:?}"),
    }
    let second = sync_changes(&w, &record).await;
    assert_eq!(second.len(), 1, "{second:?}");
    assert!(matches!(&second[0], Change::Upsert(m) if m["id"] == created["id"]));

    // forgeries: a wrong clientState, an unknown subscription; both 403 alike
    let forged = |id: &str, state: &str| {
        json!({"value": [{"subscriptionId": id, "clientState": state, "changeType": "created",
                          "resource": "x", "resourceData": {"id": "y"}}]})
        .to_string()
    };
    assert_eq!(ep.post(forged(&record.id, "guess")).await, 403);
    assert_eq!(
        ep.post(forged("3b1a3e1c-0000-4000-8000-000000000000", "guess"))
            .await,
        403
    );
    // hostile bodies: over the size cap, over the count cap, not a batch
    assert_eq!(ep.post(vec![b' '; 2 * 1024 * 1024]).await, 413);
    let many = json!({"value": vec![json!({}); 1001]}).to_string();
    assert_eq!(ep.post(many).await, 400);
    assert_eq!(ep.post("{\"value\": 7}").await, 400);
    assert_eq!(ep.post("[[[[[[").await, 400);
    // nothing of that reached the queue
    assert!(ep.queue.try_recv().is_err());
    assert_eq!(
        w.sb.notification_counts().delivered,
        1,
        "the sandbox delivered one change"
    );
    w.sb.shutdown().await;
}

#[tokio::test]
async fn lifecycle_events_renew_recreate_and_sync() {
    let w = installed(42).await;
    let mut ep = endpoint(&w).await;
    let manager = w.board.subscriptions().clone();
    let record = manager
        .create(w.client.context(), drafts_target(&w, &ep.url))
        .await
        .unwrap();
    sync_changes(&w, &record).await;

    // reauthorizationRequired: renewed (PATCH), which reauthorizes
    lifecycle(&w, &record.id, "reauthorizationRequired").await;
    let n = ep.next().await;
    assert!(
        matches!(&n, Notification::Lifecycle { event, .. } if event == "reauthorizationRequired")
    );
    let outcome = manager
        .handle_lifecycle(&n.subscription().id, "reauthorizationRequired")
        .await
        .unwrap();
    assert!(matches!(outcome, LifecycleOutcome::Renewed(ref r) if r.id == record.id));
    assert_eq!(
        w.requests("PATCH", &format!("/subscriptions/{}", record.id)),
        1
    );

    // missed: a delta sync of the resource
    lifecycle(&w, &record.id, "missed").await;
    let n = ep.next().await;
    let outcome = manager
        .handle_lifecycle(&n.subscription().id, "missed")
        .await
        .unwrap();
    let LifecycleOutcome::SyncNeeded(to_sync) = outcome else {
        panic!("{outcome:?}")
    };
    let before = w.requests("GET", "/messages/delta");
    assert!(sync_changes(&w, &to_sync).await.is_empty());
    assert_eq!(w.requests("GET", "/messages/delta") - before, 1);

    // subscriptionRemoved: created again (validated again), the old one forgotten
    lifecycle(&w, &record.id, "subscriptionRemoved").await;
    let n = ep.next().await;
    let outcome = manager
        .handle_lifecycle(&n.subscription().id, "subscriptionRemoved")
        .await
        .unwrap();
    let LifecycleOutcome::Recreated {
        removed,
        record: new,
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(removed, record.id);
    assert_ne!(new.id, record.id);
    assert_eq!(w.requests("POST", "/subscriptions"), 2);
    let records = w.board.subscriptions().records();
    assert!(
        records
            .get_subscription(&record.id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        records.get_subscription(&new.id).await.unwrap(),
        Some(new.clone())
    );
    // the removed subscription's clientState no longer verifies anything
    let old_state = json!({"value": [{"subscriptionId": record.id, "clientState": "x",
        "lifecycleEvent": "missed"}]});
    assert_eq!(ep.post(old_state.to_string()).await, 403);
    // a duplicate of the removal (another delivery) does nothing
    assert_eq!(
        manager
            .handle_lifecycle(&record.id, "subscriptionRemoved")
            .await
            .unwrap(),
        LifecycleOutcome::Skipped
    );
    assert_eq!(w.requests("POST", "/subscriptions"), 2);
    w.sb.shutdown().await;
}

#[tokio::test]
async fn renewal_on_two_nodes_renews_once_and_keeps_the_subscription_past_its_first_expiry() {
    let w = installed(43).await;
    let ep = endpoint(&w).await;
    let clock = Clock::default();
    let node_a = w.board.subscriptions().clone().with_clock(clock.now());
    let other = switchboard_on(&w.store, "node-b");
    let node_b = other.subscriptions().clone().with_clock(clock.now());
    let record = node_a
        .create(w.client.context(), drafts_target(&w, &ep.url))
        .await
        .unwrap();
    let patch = format!("/subscriptions/{}", record.id);

    // nothing due yet
    let report = node_a.renew_due(Duration::from_secs(3600)).await.unwrap();
    assert!(
        report.renewed.is_empty() && report.failed.is_empty(),
        "{report:?}"
    );
    assert_eq!(w.requests("PATCH", &patch), 0);

    // half an hour before expiry both nodes sweep: one renews
    let until_due =
        record.expires_at.duration_since(SystemTime::now()).unwrap() - Duration::from_secs(1800);
    clock.advance(&w, until_due);
    let (a, b) = tokio::join!(
        node_a.renew_due(Duration::from_secs(3600)),
        node_b.renew_due(Duration::from_secs(3600))
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.failed.is_empty() && b.failed.is_empty(), "{a:?} {b:?}");
    assert_eq!(a.renewed.len() + b.renewed.len(), 1, "{a:?} {b:?}");
    assert_eq!(a.skipped + b.skipped, 1);
    assert_eq!(w.requests("PATCH", &patch), 1);
    let renewed = w
        .board
        .subscriptions()
        .records()
        .get_subscription(&record.id)
        .await
        .unwrap()
        .unwrap();
    assert!(renewed.expires_at > record.expires_at + Duration::from_secs(3 * 24 * 3600));

    // an hour past the first expiry the subscription is alive at the service
    clock.advance(&w, Duration::from_secs(3600));
    let got = w
        .client
        .call(
            "subscriptions.get_subscription",
            Arguments::new().set("subscription_id", record.id.clone()),
        )
        .await
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(got["id"], record.id.as_str());
    w.sb.shutdown().await;
}
