//! The sandbox's own endpoints under `/_sandbox/`, for tests and
//! benchmarks (Microsoft has nothing like them; they need no token, and
//! the sandbox listens on loopback only):
//!
//! - `GET /_sandbox/stats`: the throttling counters, per app and mailbox
//!   and per app ([`crate::LimitStats`] as JSON);
//! - `DELETE /_sandbox/stats`: sets the counters back to zero (windows and
//!   requests in flight are kept);
//! - `POST /_sandbox/clock` `{"advance_secs": N}`: moves the limits clock
//!   forward, so throttling windows pass without waiting for them;
//!   answers `{"clock_offset_secs": total}`;
//! - `POST /_sandbox/hold` `{"max_secs": N}` (body optional, default 30,
//!   at most 600): Graph requests let through from now on stay in flight
//!   until `POST /_sandbox/release` or for `max_secs`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::App;
use crate::errors::GraphError;
use crate::pacing::MAX_HOLD;

/// The default time limit of a hold.
const DEFAULT_HOLD: Duration = Duration::from_secs(30);

/// The most the clock moves in one call: a year.
const MAX_ADVANCE_SECS: u64 = 365 * 24 * 3600;

/// The routes under `/_sandbox/`.
pub(crate) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/_sandbox/stats", get(stats).delete(reset_stats))
        .route("/_sandbox/clock", post(clock))
        .route("/_sandbox/hold", post(hold))
        .route("/_sandbox/release", post(release))
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

async fn clock(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let secs = object(&body).and_then(|map| {
        seconds(&map, "advance_secs", MAX_ADVANCE_SECS)?
            .ok_or_else(|| "advance_secs is required".to_string())
    });
    match secs {
        Ok(secs) => {
            let offset = app.limits.advance_clock(Duration::from_secs(secs));
            axum::Json(json!({"clock_offset_secs": offset.as_secs()})).into_response()
        }
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
