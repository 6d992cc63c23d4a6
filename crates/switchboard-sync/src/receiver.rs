//! [`Receiver`]: the endpoint Graph posts change and lifecycle
//! notifications to, as a plain function over `http` types that a platform
//! mounts in its own server.
//!
//! Facts from `docs-current/concepts/change-notifications-delivery-webhooks.md`
//! and `.../includes/change-notifications-delivery-notificationurl-validation.md`:
//! a validation request is a POST with `?validationToken=...`, answered
//! within 10 seconds with 200, `Content-Type: text/plain` and the decoded
//! token as the body; a notification batch (`{"value": [...]}`) is answered
//! with a 2xx, `202 Accepted` when the work is queued, within 10 seconds
//! (any other answer makes Graph retry for up to 4 hours, so duplicates
//! happen); each notification carries the subscription's `clientState`,
//! which the receiver compares with the one it set.

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderValue, Request, Response, StatusCode, header};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use subtle::ConstantTimeEq;
use switchboard_core::InstallationId;
use switchboard_installations::install::InstallationStore;

use crate::secret_entry;
use crate::subscription::{
    SubscriptionRecord, SubscriptionStore, check_subscription_id, client_state_name,
};

/// The largest notification body read (1 MiB): Graph's basic
/// notifications are about 1 KB each.
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;

/// The most notifications taken from one body.
pub const DEFAULT_MAX_NOTIFICATIONS: usize = 1000;

/// The longest validation token echoed.
pub const MAX_VALIDATION_TOKEN: usize = 1024;

/// One verified notification: a change, or a lifecycle event.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Notification {
    /// A resource changed.
    Change {
        /// The subscription (as stored).
        subscription: SubscriptionRecord,
        /// `created`, `updated` or `deleted`.
        change_type: String,
        /// The changed resource's path, as Graph sent it.
        resource: String,
        /// The changed item's id, when Graph sent one.
        resource_id: Option<String>,
    },
    /// A lifecycle event: `reauthorizationRequired`, `subscriptionRemoved`
    /// or `missed` (see `SubscriptionManager::handle_lifecycle`).
    Lifecycle {
        /// The subscription (as stored).
        subscription: SubscriptionRecord,
        /// The event's name.
        event: String,
    },
}

impl Notification {
    /// The subscription it is about.
    pub fn subscription(&self) -> &SubscriptionRecord {
        match self {
            Notification::Change { subscription, .. }
            | Notification::Lifecycle { subscription, .. } => subscription,
        }
    }

    /// The installation it is for.
    pub fn installation(&self) -> InstallationId {
        self.subscription().installation
    }
}

/// What a request brought: the answer to send, and the notifications that
/// passed every check (hand them to a queue; the answer does not wait).
#[derive(Debug)]
#[non_exhaustive]
pub struct Received {
    /// Send this back.
    pub response: Response<String>,
    /// Verified notifications, in the body's order.
    pub notifications: Vec<Notification>,
    /// Notifications refused (unknown subscription, wrong `clientState`,
    /// malformed), counted but not said apart.
    pub refused: usize,
}

/// Verifies what Graph posts and hands out typed notifications.
///
/// ```no_run
/// # async fn run(receiver: switchboard_sync::Receiver, request: http::Request<bytes::Bytes>) {
/// let received = receiver.receive(&request).await;
/// for n in received.notifications {
///     println!("{:?}", n);
/// }
/// let response = received.response; // send it back
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Receiver {
    records: Arc<dyn SubscriptionStore>,
    secrets: Arc<dyn InstallationStore>,
    max_body: usize,
    max_notifications: usize,
}

impl Receiver {
    /// A receiver that looks subscriptions up in `records` and their
    /// `clientState` in the installations' secrets.
    pub fn new(
        records: Arc<dyn SubscriptionStore>,
        secrets: Arc<dyn InstallationStore>,
    ) -> Receiver {
        Receiver {
            records,
            secrets,
            max_body: DEFAULT_MAX_BODY,
            max_notifications: DEFAULT_MAX_NOTIFICATIONS,
        }
    }

    /// Read at most `bytes` of a body (default [`DEFAULT_MAX_BODY`]).
    pub fn with_max_body(mut self, bytes: usize) -> Receiver {
        self.max_body = bytes;
        self
    }

    /// Take at most `count` notifications from a body (default
    /// [`DEFAULT_MAX_NOTIFICATIONS`]); a body with more is refused whole.
    pub fn with_max_notifications(mut self, count: usize) -> Receiver {
        self.max_notifications = count;
        self
    }

    /// The largest body this receiver reads: give it to your server's body
    /// limit so a larger one is never buffered.
    pub fn max_body(&self) -> usize {
        self.max_body
    }

    /// Answers one request. A `validationToken` in the query is echoed
    /// (`200 text/plain`); otherwise the body must be a notification batch
    /// no larger than the cap: each notification's subscription must be
    /// known here and its `clientState` equal (in constant time) to the one
    /// stored. The answer is `202` when at least one notification passed
    /// (or the batch was empty), `403` when every one was refused, `413`
    /// for a body over the cap, `400` for one that is not a batch, `405`
    /// for anything but POST. Nothing in an answer says which check failed.
    pub async fn receive<B: AsRef<[u8]>>(&self, request: &Request<B>) -> Received {
        if request.method() != http::Method::POST {
            return answer(StatusCode::METHOD_NOT_ALLOWED, 0);
        }
        if let Some(token) = validation_token(request.uri().query()) {
            return match token {
                Some(token) => Received {
                    response: text(StatusCode::OK, token),
                    notifications: Vec::new(),
                    refused: 0,
                },
                None => answer(StatusCode::BAD_REQUEST, 0),
            };
        }
        let body = request.body().as_ref();
        if body.len() > self.max_body {
            return answer(StatusCode::PAYLOAD_TOO_LARGE, 0);
        }
        let Some(items) = batch(body, self.max_notifications) else {
            return answer(StatusCode::BAD_REQUEST, 0);
        };
        let mut notifications = Vec::with_capacity(items.len());
        let mut refused = 0;
        let mut known = HashMap::new();
        for item in &items {
            match self.verify(item, &mut known).await {
                Some(n) => notifications.push(n),
                None => refused += 1,
            }
        }
        if refused > 0 {
            tracing::warn!(
                refused,
                accepted = notifications.len(),
                "notifications refused"
            );
        }
        let status = if notifications.is_empty() && refused > 0 {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::ACCEPTED
        };
        let mut received = answer(status, refused);
        received.notifications = notifications;
        received
    }

    /// The record and `clientState` of subscription `id`, looked up once
    /// per batch.
    async fn lookup(&self, id: &str) -> Option<(SubscriptionRecord, SecretString)> {
        let record = self.records.get_subscription(id).await.ok()??;
        let stored = secret_entry::load(&self.secrets, record.installation, &client_state_name(id))
            .await
            .ok()??;
        Some((record, stored))
    }

    async fn verify(&self, item: &Value, known: &mut Known) -> Option<Notification> {
        let id = item["subscriptionId"].as_str()?;
        check_subscription_id(id).ok()?;
        let given = item["clientState"].as_str()?;
        if !known.contains_key(id) {
            let found = self.lookup(id).await;
            known.insert(id.to_string(), found);
        }
        let (record, stored) = known.get(id)?.as_ref()?;
        if !bool::from(stored.expose_secret().as_bytes().ct_eq(given.as_bytes())) {
            return None;
        }
        let record = record.clone();
        if let Some(event) = item["lifecycleEvent"].as_str() {
            if !matches!(
                event,
                "reauthorizationRequired" | "subscriptionRemoved" | "missed"
            ) {
                return None;
            }
            return Some(Notification::Lifecycle {
                subscription: record,
                event: event.to_string(),
            });
        }
        let change_type = item["changeType"].as_str()?;
        if !matches!(change_type, "created" | "updated" | "deleted") {
            return None;
        }
        let resource = bounded(item["resource"].as_str()?)?;
        let resource_id = match item["resourceData"]["id"].as_str() {
            Some(id) => Some(bounded(id)?),
            None => None,
        };
        Some(Notification::Change {
            subscription: record,
            change_type: change_type.to_string(),
            resource,
            resource_id,
        })
    }
}

/// Lookups of one batch, by subscription id.
type Known = HashMap<String, Option<(SubscriptionRecord, SecretString)>>;

/// The longest resource path or id kept from a notification.
const MAX_FIELD: usize = 2048;

fn bounded(text: &str) -> Option<String> {
    (text.len() <= MAX_FIELD && !text.chars().any(char::is_control)).then(|| text.to_string())
}

/// `None`: no token asked for; `Some(None)`: one that cannot be echoed.
fn validation_token(query: Option<&str>) -> Option<Option<String>> {
    let query = query?;
    let (_, token) = url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "validationToken")?;
    let ok = !token.is_empty()
        && token.len() <= MAX_VALIDATION_TOKEN
        && !token.chars().any(char::is_control);
    Some(ok.then(|| token.into_owned()))
}

/// The notifications of a body: `{"value": [objects]}` with at most `max`.
fn batch(body: &[u8], max: usize) -> Option<Vec<Value>> {
    let mut parsed: Value = serde_json::from_slice(body).ok()?;
    let Value::Array(items) = parsed.get_mut("value")?.take() else {
        return None;
    };
    (items.len() <= max && items.iter().all(Value::is_object)).then_some(items)
}

fn text(status: StatusCode, body: String) -> Response<String> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn answer(status: StatusCode, refused: usize) -> Received {
    Received {
        response: text(status, String::new()),
        notifications: Vec::new(),
        refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_tokens_are_decoded_and_bounded() {
        assert_eq!(validation_token(None), None);
        assert_eq!(validation_token(Some("a=b")), None);
        assert_eq!(
            validation_token(Some("validationToken=Validation%3A+Testing%2Fclient")),
            Some(Some("Validation: Testing/client".to_string()))
        );
        let long = format!("validationToken={}", "x".repeat(MAX_VALIDATION_TOKEN + 1));
        assert_eq!(validation_token(Some(&long)), Some(None));
        assert_eq!(validation_token(Some("validationToken=a%0Ab")), Some(None));
    }

    #[test]
    fn batches_are_objects_under_value_and_capped() {
        assert_eq!(batch(br#"{"value":[{},{}]}"#, 2).map(|v| v.len()), Some(2));
        assert!(batch(br#"{"value":[{},{},{}]}"#, 2).is_none());
        assert!(batch(br#"{"value":[1]}"#, 2).is_none());
        assert!(batch(br#"{"value":{}}"#, 2).is_none());
        assert!(batch(b"[", 2).is_none());
    }
}
