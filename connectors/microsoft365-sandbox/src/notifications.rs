//! Sending change and lifecycle notifications, and Graph's validation
//! handshake, over real HTTP.
//!
//! **Changes.** A Graph request that writes runs inside a [`Watch`]: it
//! notes the change counter and which records exist before, and afterwards
//! turns every record written (and every deletion) into notifications for
//! the live subscriptions that cover it, in Graph's `changeNotification`
//! shape (`docs-current/concepts/change-notifications-delivery-webhooks.md`):
//! `value[]` of `{id, subscriptionId, subscriptionExpirationDateTime,
//! clientState, changeType, resource, tenantId, resourceData: {@odata.type,
//! @odata.id, @odata.etag?, id}}`. Notifications of one request for one URL
//! go in one POST. Drives report only `updated` on their root, once per
//! request, as OneDrive does. Changes made with the `SandboxHandle` helpers
//! (`rename_user`, `remove_user`) are watched the same way.
//!
//! **Delivery** happens after the request, on a background task: a POST with
//! `Content-Type: application/json`, no redirects followed, 10 seconds per
//! attempt, and on anything but 2xx (or no answer) up to
//! [`ATTEMPTS`] attempts in all, 250 ms and then 1 s apart (Graph retries
//! for up to 4 hours; the sandbox gives up sooner so tests end). At most
//! [`QUEUE`] POSTs wait at once; more are dropped and counted. Nothing is
//! sent for a subscription that expired or awaits reauthorization.
//!
//! **Validation.** Before a subscription exists each of its URLs gets a
//! POST `?validationToken=...` (`Content-Type: text/plain; charset=utf-8`,
//! empty body) and must answer 200, `text/plain`, and the decoded token as
//! its body, within 10 seconds
//! (`docs-current/concepts/includes/change-notifications-delivery-notificationurl-validation.md`).
//! The token holds a space, `+`, `/` and `:`, so a receiver that does not
//! decode the query fails as it would against Graph.
//!
//! **Lifecycle.** `POST /_sandbox/lifecycle` (`crate::control`) sends
//! `{value: [{subscriptionId, subscriptionExpirationDateTime, tenantId,
//! clientState, lifecycleEvent}]}` to the subscription's
//! `lifecycleNotificationUrl`
//! (`docs-current/concepts/change-notifications-lifecycle-events.md`).

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::Method;
use serde_json::{Value, json};
use tokio::sync::{Notify, Semaphore, mpsc};

use crate::datetime;
use crate::state::{Rec, State};
use crate::subscription::{Kind, Subscription};

/// Deliveries in all per notification POST.
pub(crate) const ATTEMPTS: usize = 3;

/// POSTs waiting to be sent at most.
pub(crate) const QUEUE: usize = 1024;

/// How long an endpoint has to answer (Graph's 10 seconds).
const ENDPOINT_TIMEOUT: Duration = Duration::from_secs(10);

/// POSTs in flight at once.
const CONCURRENCY: usize = 16;

/// The most of a validation answer read.
const MAX_VALIDATION_BODY: usize = 4096;

/// The pauses between attempts.
const BACKOFF: [Duration; 2] = [Duration::from_millis(250), Duration::from_secs(1)];

/// One POST to make.
pub(crate) struct Job {
    pub url: String,
    pub body: Value,
}

/// Counts of what the dispatcher did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotificationCounts {
    /// POSTs the receiver acknowledged with 2xx.
    pub delivered: u64,
    /// POSTs given up after every attempt failed.
    pub failed: u64,
    /// POSTs dropped because the queue was full.
    pub dropped: u64,
}

/// Queues notification POSTs and sends them from a background task.
pub(crate) struct Dispatcher {
    client: reqwest::Client,
    tx: mpsc::Sender<Job>,
    rx: Mutex<Option<mpsc::Receiver<Job>>>,
    /// Queued or being sent.
    pending: AtomicUsize,
    idle: Notify,
    delivered: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

impl Dispatcher {
    pub(crate) fn new() -> switchboard_core::Result<Dispatcher> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(ENDPOINT_TIMEOUT)
            .build()
            .map_err(|e| {
                switchboard_core::Error::new(
                    switchboard_core::ErrorKind::Configuration,
                    "could not build the sandbox's notification client",
                )
                .with_source(e)
            })?;
        let (tx, rx) = mpsc::channel(QUEUE);
        Ok(Dispatcher {
            client,
            tx,
            rx: Mutex::new(Some(rx)),
            pending: AtomicUsize::new(0),
            idle: Notify::new(),
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        })
    }

    /// Queues POSTs; never blocks (a full queue drops them).
    pub(crate) fn enqueue(&self, jobs: Vec<Job>) {
        for job in jobs {
            self.pending.fetch_add(1, Ordering::SeqCst);
            if self.tx.try_send(job).is_err() {
                self.dropped.fetch_add(1, Ordering::SeqCst);
                tracing::warn!("notification queue full: a notification was dropped");
                self.done();
            }
        }
    }

    fn done(&self) {
        if self.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }

    /// What was sent so far.
    pub(crate) fn counts(&self) -> NotificationCounts {
        NotificationCounts {
            delivered: self.delivered.load(Ordering::SeqCst),
            failed: self.failed.load(Ordering::SeqCst),
            dropped: self.dropped.load(Ordering::SeqCst),
        }
    }

    /// Waits until nothing is queued or being sent, at most `limit`;
    /// whether it got there.
    pub(crate) async fn wait_idle(&self, limit: Duration) -> bool {
        let wait = async {
            loop {
                let notified = self.idle.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self.pending.load(Ordering::SeqCst) == 0 {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(limit, wait).await.is_ok()
    }

    /// Sends the queued POSTs until the sandbox stops.
    pub(crate) async fn run(app: std::sync::Arc<crate::App>) {
        let Some(mut rx) = app
            .notifications
            .rx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return;
        };
        let slots = std::sync::Arc::new(Semaphore::new(CONCURRENCY));
        while let Some(job) = rx.recv().await {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                break;
            };
            let app = app.clone();
            tokio::spawn(async move {
                let d = &app.notifications;
                match d.post(&job.url, &job.body).await {
                    Ok(_) => d.delivered.fetch_add(1, Ordering::SeqCst),
                    Err(why) => {
                        tracing::warn!(url = %job.url, %why, "notification not delivered");
                        d.failed.fetch_add(1, Ordering::SeqCst)
                    }
                };
                d.done();
                drop(permit);
            });
        }
    }

    /// POSTs `body` to `url`, retrying as the module says; the status of
    /// the answer that ended it.
    pub(crate) async fn post(&self, url: &str, body: &Value) -> Result<u16, String> {
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if let Some(pause) = attempt.checked_sub(1).and_then(|i| BACKOFF.get(i)) {
                tokio::time::sleep(*pause).await;
            }
            let sent = self
                .client
                .post(url)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await;
            match sent {
                Ok(resp) if resp.status().is_success() => return Ok(resp.status().as_u16()),
                Ok(resp) => last = format!("it answered {}", resp.status().as_u16()),
                Err(e) if e.is_timeout() => last = "it did not answer within 10 seconds".into(),
                Err(_) => last = "it could not be reached".into(),
            }
        }
        Err(last)
    }
}

/// Graph's validation handshake with `url`: `Err` says what was wrong.
pub(crate) async fn validate_endpoint(app: &crate::App, url: &str) -> Result<(), String> {
    let d = &app.notifications;
    let token = format!("Validation: sandbox+{} reachability/check", app.new_guid());
    let mut target = url::Url::parse(url).map_err(|_| "it is not a URL".to_string())?;
    target
        .query_pairs_mut()
        .append_pair("validationToken", &token);
    let resp = d
        .client
        .post(target)
        .header("content-type", "text/plain; charset=utf-8")
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                "it did not answer within 10 seconds".to_string()
            } else {
                "it could not be reached".to_string()
            }
        })?;
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut body = Vec::new();
    let mut resp = resp;
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|_| "its answer broke off".to_string())?
    {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_VALIDATION_BODY {
            return Err(format!(
                "its answer is longer than {MAX_VALIDATION_BODY} bytes"
            ));
        }
    }
    if status != 200 {
        return Err(format!("it answered {status}"));
    }
    if !content_type.starts_with("text/plain") {
        return Err(format!(
            "its answer's Content-Type is '{content_type}', not text/plain"
        ));
    }
    if body != token.as_bytes() {
        return Err("its answer is not the decoded validation token".to_string());
    }
    Ok(())
}

/// What a write request is compared against afterwards.
pub(crate) struct Watch {
    clock: u64,
    existed: HashSet<String>,
}

impl Watch {
    /// Starts watching a request, or `None` when it is a read or no
    /// subscription is live (nothing to do).
    pub(crate) fn begin(state: &State, method: &Method, now: i64) -> Option<Watch> {
        if method == Method::GET || !state.subscriptions.iter().any(|s| s.live(now)) {
            return None;
        }
        let t = &state.tenant;
        let existed = t
            .messages
            .iter()
            .chain(&t.events)
            .chain(&t.contacts)
            .chain(&t.users)
            .map(|r| r.id().to_string())
            .collect();
        Some(Watch {
            clock: t.clock,
            existed,
        })
    }

    /// The POSTs that announce what changed since [`begin`](Self::begin).
    pub(crate) fn finish(self, app: &crate::App, state: &State) -> Vec<Job> {
        let now = app.now();
        let t = &state.tenant;
        if t.clock == self.clock {
            return Vec::new();
        }
        let mut by_url: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for sub in state.subscriptions.iter().filter(|s| s.live(now)) {
            for (change, entity) in self.changes_for(state, sub) {
                if !sub.change_types.iter().any(|c| c == change) {
                    continue;
                }
                by_url
                    .entry(sub.notification_url.clone())
                    .or_default()
                    .push(notification(app, sub, change, &entity));
            }
        }
        by_url
            .into_iter()
            .map(|(url, value)| Job {
                url,
                body: json!({ "value": value }),
            })
            .collect()
    }

    fn kind_of(&self, r: &Rec) -> &'static str {
        if self.existed.contains(r.id()) {
            "updated"
        } else {
            "created"
        }
    }

    /// `(changeType, entity)` pairs for one subscription.
    fn changes_for(&self, state: &State, sub: &Subscription) -> Vec<(&'static str, Entity)> {
        let t = &state.tenant;
        let since = self.clock;
        let owner = sub.owner.as_str();
        let mut out = Vec::new();
        let mut seen_deleted = HashSet::new();
        match sub.kind {
            Kind::Messages => {
                let in_scope = |folder: &str| sub.target.as_deref().is_none_or(|f| f == folder);
                for m in t
                    .messages
                    .iter()
                    .filter(|m| m.version > since && m.owner == owner && in_scope(&m.parent))
                {
                    out.push((self.kind_of(m), Entity::outlook(owner, "Message", m)));
                }
                for s in t.tombstones.iter().filter(|s| s.version > since) {
                    let Some(folder) = s.scope.strip_prefix("msgs|") else {
                        continue;
                    };
                    let folder_owner = t.mail_folders.iter().find(|f| f.id() == folder);
                    if folder_owner.is_some_and(|f| f.owner == owner) && in_scope(folder) {
                        out.push(("deleted", Entity::gone(owner, "Message", &s.id)));
                    }
                }
            }
            Kind::Events => {
                for e in t
                    .events
                    .iter()
                    .filter(|e| e.version > since && e.owner == owner)
                {
                    out.push((self.kind_of(e), Entity::outlook(owner, "Event", e)));
                }
                let scopes = [format!("events|{owner}"), format!("eventsall|{owner}")];
                for s in t.tombstones.iter().filter(|s| s.version > since) {
                    if scopes.contains(&s.scope) && seen_deleted.insert(s.id.clone()) {
                        out.push(("deleted", Entity::gone(owner, "Event", &s.id)));
                    }
                }
            }
            Kind::Contacts => {
                for c in t
                    .contacts
                    .iter()
                    .filter(|c| c.version > since && c.owner == owner)
                {
                    out.push((self.kind_of(c), Entity::outlook(owner, "Contact", c)));
                }
                for s in t.tombstones.iter().filter(|s| s.version > since) {
                    let moved_not_gone = t.contacts.iter().any(|c| c.id() == s.id);
                    if crate::contacts::scope_owner(&s.scope) == Some(owner)
                        && !moved_not_gone
                        && seen_deleted.insert(s.id.clone())
                    {
                        out.push(("deleted", Entity::gone(owner, "Contact", &s.id)));
                    }
                }
            }
            Kind::Drive => {
                let drive = sub.target.as_deref().unwrap_or_default();
                let scope = format!("drive|{drive}");
                let changed = t
                    .items
                    .iter()
                    .any(|i| i.version > since && i.owner == drive)
                    || t.tombstones
                        .iter()
                        .any(|s| s.version > since && s.scope == scope);
                if changed {
                    let root = t
                        .items
                        .iter()
                        .find(|i| i.owner == drive && i.parent.is_empty())
                        .map(|i| i.id().to_string())
                        .unwrap_or_default();
                    out.push((
                        "updated",
                        Entity {
                            resource: sub.resource.trim_start_matches('/').to_string(),
                            odata_type: "#Microsoft.Graph.DriveItem",
                            odata_id: format!("drives/{drive}/root"),
                            etag: None,
                            id: root,
                        },
                    ));
                }
            }
            Kind::Users => {
                let wanted = |id: &str| sub.target.as_deref().is_none_or(|u| u == id);
                for u in t
                    .users
                    .iter()
                    .filter(|u| u.version > since && wanted(u.id()))
                {
                    // creating a user is reported as updated too
                    out.push(("updated", Entity::user(u.id())));
                }
                for s in t
                    .tombstones
                    .iter()
                    .filter(|s| s.version > since && s.scope == "users" && wanted(&s.id))
                {
                    out.push(("deleted", Entity::user(&s.id)));
                }
            }
        }
        out
    }
}

/// What a notification names.
struct Entity {
    resource: String,
    odata_type: &'static str,
    odata_id: String,
    etag: Option<String>,
    id: String,
}

impl Entity {
    /// An Outlook item, as webhooks.md writes one:
    /// `users/{user}/messages/{id}` and `Users/{user}/Messages/{id}`.
    fn outlook(owner: &str, type_name: &'static str, r: &Rec) -> Entity {
        let mut e = Entity::gone(owner, type_name, r.id());
        e.etag = r
            .data
            .get("@odata.etag")
            .and_then(Value::as_str)
            .map(str::to_string);
        e
    }

    fn gone(owner: &str, type_name: &'static str, id: &str) -> Entity {
        let (odata_type, plural) = match type_name {
            "Message" => ("#Microsoft.Graph.Message", "Messages"),
            "Event" => ("#Microsoft.Graph.Event", "Events"),
            _ => ("#Microsoft.Graph.Contact", "Contacts"),
        };
        Entity {
            resource: format!("users/{owner}/{}/{id}", plural.to_ascii_lowercase()),
            odata_type,
            odata_id: format!("Users/{owner}/{plural}/{id}"),
            etag: None,
            id: id.to_string(),
        }
    }

    fn user(id: &str) -> Entity {
        Entity {
            resource: format!("users/{id}"),
            odata_type: "#Microsoft.Graph.User",
            odata_id: format!("Users/{id}"),
            etag: None,
            id: id.to_string(),
        }
    }
}

fn notification(app: &crate::App, sub: &Subscription, change: &str, e: &Entity) -> Value {
    let mut data = json!({
        "@odata.type": e.odata_type,
        "@odata.id": e.odata_id,
        "id": e.id,
    });
    if let Some(etag) = &e.etag {
        data["@odata.etag"] = json!(etag);
    }
    json!({
        "id": app.new_guid(),
        "subscriptionId": sub.id,
        "subscriptionExpirationDateTime": datetime::iso_z(sub.expiration),
        "clientState": sub.client_state,
        "changeType": change,
        "resource": e.resource,
        "tenantId": app.tenant_id,
        "resourceData": data,
    })
}

/// The lifecycle notification for `event`.
pub(crate) fn lifecycle(sub: &Subscription, event: &str, tenant_id: &str) -> Value {
    json!({
        "value": [{
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": datetime::iso_z(sub.expiration),
            "tenantId": tenant_id,
            "clientState": sub.client_state,
            "lifecycleEvent": event,
        }]
    })
}
