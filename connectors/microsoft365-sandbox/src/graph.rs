//! The Graph front door: fault injection, token validation, principal
//! resolution (`/me`, `/users/{id or UPN}`, `/drives/{id}`), permission
//! checks and dispatch to the area modules. What the handlers share (the
//! request context, replies, callers) is in `crate::request`: the router
//! depends on the areas, never the other way round.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::App;
use crate::errors::GraphError;
use crate::notifications::Watch;
use crate::query::{Prefs, Query};
use crate::request::{Ctx, JSON_CONTENT_TYPE, Reply, ReplyBody, segments};
use crate::state::Tenant;
use crate::{
    action_parameters, calendars, contacts, drive, faults, limits, mail, subscriptions, users,
};

/// Handles one request under `/v1.0`.
pub(crate) async fn handle(
    app: Arc<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = app.new_guid();
    let client_request_id = client_request_id(&headers);
    let raw_path = uri.path().strip_prefix("/v1.0").unwrap_or("").to_string();
    let outcome = serve(&app, method.clone(), &uri, &raw_path, headers, body).await;
    finish(
        &app,
        &method,
        &raw_path,
        &request_id,
        client_request_id.as_deref(),
        outcome,
    )
}

/// The caller's `client-request-id`, which Graph echoes back.
pub(crate) fn client_request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The response to a Graph request (`path` after `/v1.0`), with Graph's
/// request ids; logged.
pub(crate) fn finish(
    app: &App,
    method: &Method,
    path: &str,
    request_id: &str,
    client_request_id: Option<&str>,
    outcome: Result<(Reply, Vec<String>), GraphError>,
) -> Response {
    let (status, response) = match outcome {
        Ok((reply, applied)) => (
            reply.status,
            render(reply, applied, request_id, client_request_id),
        ),
        Err(e) => (
            e.status,
            e.into_response_with(request_id, client_request_id),
        ),
    };
    app.log_request(method.as_str(), path, status.as_u16());
    response
}

/// A request's way to its handler: an injected fault, the token, Graph's
/// throttling limits, the service time; each may answer first, and none
/// has an effect on the tenant.
async fn serve(
    app: &Arc<App>,
    method: Method,
    uri: &Uri,
    raw_path: &str,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(Reply, Vec<String>), GraphError> {
    // Faults come first, so a request that gets one has had no effect.
    if let Some(fault) = app.faults.decide() {
        return Err(faults::error(fault, app.faults.retry_after_secs()));
    }
    let caller = app.authenticate(&headers)?;
    let segs = segments(raw_path);
    let mailbox = limits::outlook_mailbox(&app.lock().tenant, caller.user_id.as_deref(), &segs);
    let upload_bytes = match method {
        Method::POST | Method::PUT | Method::PATCH => body.len() as u64,
        _ => 0,
    };
    let _in_flight = app
        .limits
        .admit(&caller.app_id, mailbox.as_deref(), upload_bytes)?;
    app.pacing.service_time().await;
    let query = Query::parse(uri.query())?;
    let prefs = Prefs::parse(
        headers
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    let eventual = headers
        .get("consistencylevel")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("eventual"));
    let body = match (&method, segs.last()) {
        (&Method::POST, Some(last)) => action_parameters::canonical(last, body),
        _ => body,
    };
    let mut ctx = Ctx {
        app: app.clone(),
        method,
        raw_path: raw_path.to_string(),
        path_key: raw_path.to_ascii_lowercase(),
        query,
        headers,
        body,
        caller,
        prefs,
        applied: Vec::new(),
        eventual,
        clock: 0,
    };
    let reply = match dispatch(&mut ctx, &segs)? {
        Reply {
            body: ReplyBody::Pending(pending),
            ..
        } => subscriptions::complete(app, *pending).await?,
        reply => reply,
    };
    Ok((reply, ctx.applied))
}

/// Runs the handler under the state lock.
fn dispatch(ctx: &mut Ctx, segs: &[String]) -> Result<Reply, GraphError> {
    let app = ctx.app.clone();
    let mut guard = app.lock();
    ctx.clock = guard.tenant.clock;
    let watch = Watch::begin(&guard, &ctx.method, app.now());
    let reply = if segs
        .first()
        .is_some_and(|s| s.eq_ignore_ascii_case("subscriptions"))
    {
        subscriptions::handle(ctx, &mut guard, segs)?
    } else {
        route(ctx, &mut guard.tenant, segs)?
    };
    if let Some(watch) = watch {
        app.notifications.enqueue(watch.finish(&app, &guard));
    }
    Ok(reply)
}

fn route(ctx: &mut Ctx, t: &mut Tenant, segs: &[String]) -> Result<Reply, GraphError> {
    let Some(first) = segs.first() else {
        return Err(GraphError::no_segment("v1.0"));
    };
    match first.to_ascii_lowercase().as_str() {
        "me" => {
            let Some(user) = ctx.caller.user_id.clone() else {
                return Err(GraphError::bad_request(
                    "BadRequest",
                    "/me request is only valid with delegated authentication flow.",
                ));
            };
            principal(ctx, t, &user, &segs[1..])
        }
        "users" => {
            if segs.len() == 1 {
                return users::list(ctx, t);
            }
            let second = segs[1].to_ascii_lowercase();
            if matches!(
                second.as_str(),
                "delta" | "delta()" | "microsoft.graph.delta" | "microsoft.graph.delta()"
            ) {
                if segs.len() > 2 {
                    return Err(GraphError::no_segment(&segs[2]));
                }
                return users::delta(ctx, t);
            }
            let Some(user) = t.user(&segs[1]).map(|u| u.id().to_string()) else {
                // Permission is checked before existence, as Graph does.
                ctx.require(if ctx.caller.is_app() {
                    "GET /me"
                } else {
                    "GET /users"
                })?;
                return Err(GraphError::user_not_found(&segs[1]));
            };
            principal(ctx, t, &user, &segs[2..])
        }
        "drives" => {
            let Some(drive_id) = segs.get(1) else {
                return Err(GraphError::no_segment("drives"));
            };
            drive::by_drive_id(ctx, t, drive_id, &segs[2..])
        }
        _ => Err(GraphError::no_segment(first)),
    }
}

/// Areas that a delegated caller may read for another user.
const DIRECTORY_AREAS: &[&str] = &[
    "manager",
    "directreports",
    "memberof",
    "transitivememberof",
    "photo",
];

fn principal(
    ctx: &mut Ctx,
    t: &mut Tenant,
    user: &str,
    rest: &[String],
) -> Result<Reply, GraphError> {
    let area = rest
        .first()
        .map(|s| s.to_ascii_lowercase())
        .unwrap_or_default();
    if let Some(me) = ctx.caller.user_id.clone()
        && me != user
    {
        if area.is_empty() || DIRECTORY_AREAS.contains(&area.as_str()) {
            ctx.require("GET /users")?;
        } else {
            return Err(GraphError::access_denied());
        }
    }
    match area.as_str() {
        "" | "manager" | "directreports" | "memberof" | "transitivememberof" | "photo" => {
            users::user_area(ctx, t, user, rest)
        }
        "calendars" | "calendar" | "calendargroups" | "events" | "calendarview"
        | "findmeetingtimes" => calendars::handle(ctx, t, user, rest),
        "messages" | "mailfolders" | "sendmail" | "mailboxsettings" => {
            mail::handle(ctx, t, user, rest)
        }
        "drive" | "drives" => drive::by_user(ctx, t, user, rest),
        "contacts" | "contactfolders" => contacts::handle(ctx, t, user, rest),
        _ => Err(GraphError::no_segment(&rest[0])),
    }
}

/// The HTTP response for a reply, with Graph's common headers.
fn render(
    reply: Reply,
    applied: Vec<String>,
    request_id: &str,
    client_request_id: Option<&str>,
) -> Response {
    let mut resp = match reply.body {
        ReplyBody::Json(v) => {
            let mut r = (reply.status, v.to_string()).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(JSON_CONTENT_TYPE),
            );
            r
        }
        ReplyBody::Empty => (reply.status, Body::empty()).into_response(),
        ReplyBody::Pending(_) => {
            // `handle` completes every pending reply before rendering
            tracing::error!("a pending reply reached render");
            (StatusCode::INTERNAL_SERVER_ERROR, Body::empty()).into_response()
        }
        ReplyBody::Bytes(ct, b) => {
            let mut r = (reply.status, b).into_response();
            if let Ok(v) = HeaderValue::from_str(&ct) {
                r.headers_mut().insert(header::CONTENT_TYPE, v);
            }
            r
        }
    };
    let h = resp.headers_mut();
    for (k, v) in reply.headers {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("request-id", v);
    }
    if let Some(v) = client_request_id.and_then(|c| HeaderValue::from_str(c).ok()) {
        h.insert("client-request-id", v);
    }
    if !applied.is_empty()
        && let Ok(v) = HeaderValue::from_str(&applied.join(","))
    {
        h.insert("preference-applied", v);
    }
    resp
}
