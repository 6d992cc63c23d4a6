//! The sandbox's own endpoints under `/_sandbox/`, for tests and
//! benchmarks (Microsoft has nothing like them; they need no token, and
//! the sandbox listens on loopback only):
//!
//! - `GET /_sandbox/stats`: the throttling counters, per app and mailbox
//!   and per app ([`crate::LimitStats`] as JSON);
//! - `DELETE /_sandbox/stats`: sets the counters back to zero (windows and
//!   requests in flight are kept);
//! - `GET /_sandbox/clock` → `{"now": "2030-01-01T00:00:00Z",
//!   "clock_offset_secs": 0}`;
//! - `POST /_sandbox/clock` `{"advance_secs": N}`: moves the sandbox clock
//!   forward (`crate::clock`: subscriptions expire, delta tokens age) and
//!   the limits clock with it (throttling windows pass without waiting for
//!   them); answers like `GET`;
//! - `POST /_sandbox/hold` `{"max_secs": N}` (body optional, default 30,
//!   at most 600): Graph requests let through from now on stay in flight
//!   until `POST /_sandbox/release` or for `max_secs`;
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

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::errors::GraphError;
use crate::pacing::MAX_HOLD;
use crate::{App, clock, datetime, notifications, subscriptions};

/// The default time limit of a hold.
const DEFAULT_HOLD: Duration = Duration::from_secs(30);

/// The longest a flush waits.
const FLUSH_LIMIT: Duration = Duration::from_secs(30);

/// The most the clock moves in one call: a year.
const MAX_ADVANCE_SECS: u64 = 365 * 24 * 3600;

/// The routes under `/_sandbox/`.
pub(crate) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/_sandbox/stats", get(stats).delete(reset_stats))
        .route("/_sandbox/clock", get(get_clock).post(post_clock))
        .route("/_sandbox/hold", post(hold))
        .route("/_sandbox/release", post(release))
        .route("/_sandbox/lifecycle", post(post_lifecycle))
        .route("/_sandbox/notifications/flush", post(post_flush))
}

async fn stats(State(app): State<Arc<App>>) -> Response {
    axum::Json(app.limits.stats()).into_response()
}

async fn reset_stats(State(app): State<Arc<App>>) -> Response {
    app.limits.reset_stats();
    StatusCode::NO_CONTENT.into_response()
}

fn refuse(app: &App, message: String) -> Response {
    GraphError::bad_request("BadRequest", message).into_response_with(&app.new_guid(), None)
}

/// The body as a JSON object (an empty body is an empty object).
fn object(body: &Bytes) -> Result<serde_json::Map<String, Value>, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err("the body must be a JSON object".to_string()),
    }
}

/// A whole number of seconds from `field`, from 0 to `max`.
fn seconds(
    map: &serde_json::Map<String, Value>,
    field: &str,
    max: u64,
) -> Result<Option<u64>, String> {
    match map.get(field) {
        None => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) if n <= max => Ok(Some(n)),
            _ => Err(format!(
                "{field} must be a whole number of seconds from 0 to {max}"
            )),
        },
    }
}

fn clock_json(app: &App) -> Value {
    json!({
        "now": datetime::iso_z(app.now()),
        "clock_offset_secs": app.clock.offset(),
    })
}

/// Moves the sandbox clock, and the limits clock with it, `secs` ahead;
/// the offset is kept in the state.
pub(crate) fn advance(app: &App, secs: u64) -> Result<i64, String> {
    let offset = i64::try_from(secs)
        .ok()
        .and_then(|s| app.clock.advance(s))
        .ok_or_else(|| {
            format!(
                "advance_secs: the clock may run at most {} days ahead in all",
                clock::MAX_OFFSET_SECS / datetime::DAY
            )
        })?;
    app.limits.advance_clock(Duration::from_secs(secs));
    app.lock().clock_offset = offset;
    Ok(offset)
}

async fn get_clock(State(app): State<Arc<App>>) -> Response {
    axum::Json(clock_json(&app)).into_response()
}

async fn post_clock(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let advanced = object(&body)
        .and_then(|map| {
            seconds(&map, "advance_secs", MAX_ADVANCE_SECS)?
                .ok_or_else(|| "advance_secs is required".to_string())
        })
        .and_then(|secs| advance(&app, secs));
    match advanced {
        Ok(_) => axum::Json(clock_json(&app)).into_response(),
        Err(message) => refuse(&app, message),
    }
}

async fn hold(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let max = object(&body).and_then(|map| seconds(&map, "max_secs", MAX_HOLD.as_secs()));
    match max {
        Ok(max) => {
            let max = max.map_or(DEFAULT_HOLD, Duration::from_secs);
            app.pacing.hold(max);
            axum::Json(json!({"held": true, "max_secs": max.as_secs()})).into_response()
        }
        Err(message) => refuse(&app, message),
    }
}

async fn release(State(app): State<Arc<App>>) -> Response {
    app.pacing.release();
    axum::Json(json!({"held": false})).into_response()
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
async fn post_lifecycle(
    State(app): State<Arc<App>>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let (Some(sub), Some(event)) = (q.get("subscription"), q.get("event")) else {
        return respond(
            &app,
            Err(invalid(
                "subscription (an id) and event (missed, reauthorizationRequired or subscriptionRemoved) are required",
            )),
        );
    };
    let result = send_lifecycle(&app, sub, event).await.map(
        |status| json!({"subscriptionId": sub, "lifecycleEvent": event, "receiverStatus": status}),
    );
    respond(&app, result)
}

/// `POST /_sandbox/notifications/flush`.
async fn post_flush(State(app): State<Arc<App>>) -> Response {
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

fn invalid(message: impl Into<String>) -> GraphError {
    GraphError::bad_request("invalidRequest", message)
}

fn respond(app: &App, result: Result<Value, GraphError>) -> Response {
    match result {
        Ok(v) => (StatusCode::OK, axum::Json(v)).into_response(),
        Err(e) => e.into_response_with(&app.new_guid(), None),
    }
}
