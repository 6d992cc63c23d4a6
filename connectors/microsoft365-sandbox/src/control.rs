//! The sandbox's own control endpoints, under `/_sandbox` (not Graph; no
//! token needed, as the sandbox listens on loopback only):
//!
//! - `GET /_sandbox/clock` → `{"now": "2030-01-01T00:00:00Z", "offsetSeconds": 0}`;
//! - `POST /_sandbox/clock?advance=PT2H` (or `advance=7200`, seconds) moves
//!   the sandbox clock ahead (`crate::clock`) and answers like `GET`;
//! - `POST /_sandbox/lifecycle?subscription={id}&event={event}` sends the
//!   lifecycle notification `missed`, `reauthorizationRequired` or
//!   `subscriptionRemoved` to the subscription's `lifecycleNotificationUrl`
//!   and answers once the receiver did: `{"subscriptionId", "lifecycleEvent",
//!   "receiverStatus"}`. `subscriptionRemoved` removes the subscription
//!   first; `reauthorizationRequired` pauses its notifications until it is
//!   renewed or reauthorized. Graph sends `missed` and
//!   `subscriptionRemoved` only for messages, events and contacts, and so
//!   does the sandbox;
//! - `POST /_sandbox/notifications/flush` waits (up to 30 seconds) until
//!   every queued notification was sent and answers the counts
//!   `{"idle", "delivered", "failed", "dropped"}`.
//!
//! Errors use Graph's error body with a code and a message naming the
//! parameter.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::errors::GraphError;
use crate::{App, clock, datetime, notifications, subscriptions};

/// The longest a flush waits.
const FLUSH_LIMIT: Duration = Duration::from_secs(30);

type Params = Query<std::collections::HashMap<String, String>>;

fn invalid(message: impl Into<String>) -> GraphError {
    GraphError::bad_request("invalidRequest", message)
}

fn respond(app: &App, result: Result<Value, GraphError>) -> Response {
    match result {
        Ok(v) => (StatusCode::OK, axum::Json(v)).into_response(),
        Err(e) => e.into_response_with(&app.new_guid(), None),
    }
}

fn clock_json(app: &App) -> Value {
    json!({
        "now": datetime::iso_z(app.now()),
        "offsetSeconds": app.clock.offset(),
    })
}

/// Moves the sandbox clock `secs` ahead and keeps the offset in the state.
pub(crate) fn advance(app: &App, secs: i64) -> Result<i64, GraphError> {
    let offset = app.clock.advance(secs).ok_or_else(|| {
        invalid(format!(
            "advance must be zero or more seconds, and the clock at most {} days ahead in all",
            clock::MAX_OFFSET_SECS / datetime::DAY
        ))
    })?;
    app.lock().clock_offset = offset;
    Ok(offset)
}

/// `GET /_sandbox/clock`.
pub(crate) async fn get_clock(State(app): State<Arc<App>>) -> Response {
    respond(&app, Ok(clock_json(&app)))
}

/// `POST /_sandbox/clock?advance=...`.
pub(crate) async fn post_clock(State(app): State<Arc<App>>, Query(q): Params) -> Response {
    let result = q
        .get("advance")
        .and_then(|v| clock::parse_advance(v))
        .ok_or_else(|| {
            invalid("advance is required: whole seconds (7200) or an ISO 8601 duration (PT2H, P8D)")
        })
        .and_then(|secs| advance(&app, secs))
        .map(|_| clock_json(&app));
    respond(&app, result)
}

/// Sends lifecycle `event` for `subscription`; the receiver's status.
pub(crate) async fn send_lifecycle(
    app: &App,
    subscription: &str,
    event: &str,
) -> Result<u16, GraphError> {
    const EVENTS: &[&str] = &["missed", "reauthorizationRequired", "subscriptionRemoved"];
    let event = EVENTS
        .iter()
        .find(|e| e.eq_ignore_ascii_case(event))
        .ok_or_else(|| invalid(format!("event must be one of {}", EVENTS.join(", "))))?;
    let (url, body) = {
        let mut state = app.lock();
        subscriptions::prune(&mut state, app.now());
        let idx = state
            .subscriptions
            .iter()
            .position(|s| s.id.eq_ignore_ascii_case(subscription))
            .ok_or_else(|| {
                GraphError::not_found(
                    "ResourceNotFound",
                    format!("subscription: no live subscription has the id '{subscription}'"),
                )
            })?;
        let sub = &state.subscriptions[idx];
        let url = sub.lifecycle_notification_url.clone().ok_or_else(|| {
            invalid("subscription: it was created without a lifecycleNotificationUrl, so Graph would send it no lifecycle notification")
        })?;
        if !sub.kind.rules().lifecycle.contains(event) {
            return Err(invalid(format!(
                "event: Graph sends {event} only for messages, events and contacts"
            )));
        }
        let body = notifications::lifecycle(sub, event, &app.tenant_id);
        match *event {
            "subscriptionRemoved" => {
                state.subscriptions.remove(idx);
            }
            "reauthorizationRequired" => state.subscriptions[idx].needs_reauthorization = true,
            _ => {}
        }
        (url, body)
    };
    app.notifications.post(&url, &body).await.map_err(|why| {
        GraphError::new(
            StatusCode::BAD_GATEWAY,
            "lifecycleNotDelivered",
            format!("the lifecycle notification was not delivered to {url}: {why}"),
        )
    })
}

/// `POST /_sandbox/lifecycle?subscription=..&event=..`.
pub(crate) async fn post_lifecycle(State(app): State<Arc<App>>, Query(q): Params) -> Response {
    let (Some(sub), Some(event)) = (q.get("subscription"), q.get("event")) else {
        return respond(
            &app,
            Err(invalid(
                "subscription (an id) and event (missed, reauthorizationRequired or subscriptionRemoved) are required",
            )),
        );
    };
    let result = send_lifecycle(&app, sub, event).await.map(|status| {
        json!({"subscriptionId": sub, "lifecycleEvent": event, "receiverStatus": status})
    });
    respond(&app, result)
}

/// `POST /_sandbox/notifications/flush`.
pub(crate) async fn post_flush(State(app): State<Arc<App>>) -> Response {
    let idle = app.notifications.wait_idle(FLUSH_LIMIT).await;
    let c = app.notifications.counts();
    respond(
        &app,
        Ok(json!({
            "idle": idle,
            "delivered": c.delivered,
            "failed": c.failed,
            "dropped": c.dropped,
        })),
    )
}
