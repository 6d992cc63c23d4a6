//! The Graph front door: fault injection, token validation, principal
//! resolution (`/me`, `/users/{id or UPN}`, `/drives/{id}`), permission
//! checks and dispatch to the area modules.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde_json::Value;

use crate::App;
use crate::errors::GraphError;
use crate::notifications::Watch;
use crate::odata::{Prefs, Query};
use crate::state::Tenant;
use crate::{
    action_parameters, calendars, contacts, datetime, drive, faults, limits, mail, subscriptions,
    users,
};

/// The JSON content type Graph answers with.
pub(crate) const JSON_CONTENT_TYPE: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// Characters escaped in the query strings of links we build.
const QUERY_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'$')
    .remove(b',')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b':');

/// Who a token says is calling.
#[derive(Clone)]
pub(crate) struct Caller {
    /// The signed-in user for delegated tokens; `None` for app-only tokens.
    pub user_id: Option<String>,
    /// `scp` (delegated) or `roles` (application) values.
    pub permissions: Vec<String>,
    /// The app (client) id the token was issued to (`appid`, lower case):
    /// throttling limits are kept per app.
    pub app_id: String,
    /// The signed-in user's or the service principal's object id (`oid`).
    pub object_id: String,
}

impl Caller {
    pub(crate) fn is_app(&self) -> bool {
        self.user_id.is_none()
    }
}

/// The permissions that grant each operation, from Microsoft's reference.
pub(crate) struct PermissionTable {
    ops: HashMap<String, (Vec<String>, Vec<String>)>,
}

impl PermissionTable {
    /// Loads the table shipped in `data/permissions.json`.
    pub(crate) fn load() -> PermissionTable {
        let raw: Value =
            serde_json::from_str(include_str!("../data/permissions.json")).unwrap_or(Value::Null);
        let mut ops = HashMap::new();
        if let Some(map) = raw.get("operations").and_then(Value::as_object) {
            for (k, v) in map {
                let list = |name: &str| -> Vec<String> {
                    v.get(name)
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(|s| s.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default()
                };
                ops.insert(k.clone(), (list("delegated"), list("application")));
            }
        }
        PermissionTable { ops }
    }

    /// Whether `name` is a permission some operation accepts (or one the
    /// identity endpoint knows).
    pub(crate) fn is_known(&self, name: &str) -> bool {
        name.eq_ignore_ascii_case("User.Read")
            || self.ops.values().any(|(d, a)| {
                d.iter()
                    .chain(a.iter())
                    .any(|p| p.eq_ignore_ascii_case(name))
            })
    }

    /// The delegated and application permissions that grant `op`.
    pub(crate) fn get(&self, op: &str) -> Option<&(Vec<String>, Vec<String>)> {
        self.ops.get(op)
    }
}

/// A response before the common headers are added.
pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: ReplyBody,
    pub headers: Vec<(HeaderName, String)>,
}

pub(crate) enum ReplyBody {
    Json(Value),
    Empty,
    Bytes(String, Bytes),
    /// A subscription that exists once its endpoints pass validation,
    /// which happens after the state lock is released (`handle`).
    Pending(Box<subscriptions::Pending>),
}

impl Reply {
    pub(crate) fn json(v: Value) -> Reply {
        Reply {
            status: StatusCode::OK,
            body: ReplyBody::Json(v),
            headers: Vec::new(),
        }
    }
    pub(crate) fn created(v: Value) -> Reply {
        Reply {
            status: StatusCode::CREATED,
            body: ReplyBody::Json(v),
            headers: Vec::new(),
        }
    }
    pub(crate) fn no_content() -> Reply {
        Reply {
            status: StatusCode::NO_CONTENT,
            body: ReplyBody::Empty,
            headers: Vec::new(),
        }
    }
    pub(crate) fn accepted() -> Reply {
        Reply {
            status: StatusCode::ACCEPTED,
            body: ReplyBody::Empty,
            headers: Vec::new(),
        }
    }
    pub(crate) fn bytes(content_type: &str, b: Bytes) -> Reply {
        Reply {
            status: StatusCode::OK,
            body: ReplyBody::Bytes(content_type.to_string(), b),
            headers: Vec::new(),
        }
    }
    pub(crate) fn redirect(location: String) -> Reply {
        Reply {
            status: StatusCode::FOUND,
            body: ReplyBody::Empty,
            headers: vec![(header::LOCATION, location)],
        }
    }
    pub(crate) fn pending(p: Box<subscriptions::Pending>) -> Reply {
        Reply {
            status: StatusCode::ACCEPTED,
            body: ReplyBody::Pending(p),
            headers: Vec::new(),
        }
    }
    pub(crate) fn header(mut self, name: HeaderName, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }
}

/// Everything a Graph handler needs to know about the request.
pub(crate) struct Ctx {
    pub app: Arc<App>,
    pub method: Method,
    /// The path after `/v1.0`, as sent.
    pub raw_path: String,
    /// The path after `/v1.0`, lower-cased: binds skip tokens to their query.
    pub path_key: String,
    pub query: Query,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub caller: Caller,
    pub prefs: Prefs,
    /// Values for `Preference-Applied`.
    pub applied: Vec<String>,
    /// `ConsistencyLevel: eventual` was sent.
    pub eventual: bool,
    /// The tenant's change counter when the request was taken.
    pub clock: u64,
}

impl Ctx {
    /// Refuses the call unless the token carries a permission that grants `op`
    /// (an operation key of `data/permissions.json`, such as `GET /me/messages`).
    pub(crate) fn require(&self, op: &str) -> Result<(), GraphError> {
        let Some((delegated, application)) = self.app.permissions.get(op) else {
            tracing::warn!(op, "operation missing from the permission table");
            return Err(GraphError::insufficient_privileges());
        };
        let allowed = if self.caller.is_app() {
            application
        } else {
            delegated
        };
        self.require_one_of(allowed)
    }

    /// Refuses the call unless the token carries one of `allowed` (or a
    /// broader permission of the same resource).
    pub(crate) fn require_one_of<S: AsRef<str>>(&self, allowed: &[S]) -> Result<(), GraphError> {
        if self
            .caller
            .permissions
            .iter()
            .any(|p| allowed.iter().any(|a| implies(p, a.as_ref())))
        {
            Ok(())
        } else {
            Err(GraphError::insufficient_privileges())
        }
    }

    /// The request body as JSON.
    pub(crate) fn json_body(&self) -> Result<Value, GraphError> {
        if self.body.is_empty() {
            return Err(GraphError::bad_request(
                "BadRequest",
                "Empty Payload. JSON content expected.",
            ));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            GraphError::bad_request(
                "BadRequest",
                format!("Unable to read JSON request payload: {e}"),
            )
        })
    }

    /// `{graph}/v1.0/$metadata#{context}`.
    pub(crate) fn context_url(&self, context: &str) -> String {
        format!("{}/v1.0/$metadata#{context}", self.app.base_url)
    }

    /// This request's URL with `key=value` instead of any earlier skip or
    /// delta token.
    pub(crate) fn link_with(&self, key: &str, value: &str) -> String {
        let mut parts: Vec<String> = self
            .query
            .params
            .iter()
            .filter(|(k, _)| {
                !k.eq_ignore_ascii_case("$skiptoken") && !k.eq_ignore_ascii_case("$deltatoken")
            })
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    utf8_percent_encode(k, QUERY_ESCAPE),
                    utf8_percent_encode(v, QUERY_ESCAPE)
                )
            })
            .collect();
        parts.push(format!(
            "{key}={}",
            utf8_percent_encode(value, QUERY_ESCAPE)
        ));
        format!(
            "{}/v1.0{}?{}",
            self.app.base_url,
            self.raw_path,
            parts.join("&")
        )
    }

    /// A delta or next link: only `$select` is kept beside the token (the
    /// token carries the rest).
    pub(crate) fn delta_link(&self, key: &str, value: &str) -> String {
        let mut parts: Vec<String> = self
            .query
            .params
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("$select"))
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    utf8_percent_encode(k, QUERY_ESCAPE),
                    utf8_percent_encode(v, QUERY_ESCAPE)
                )
            })
            .collect();
        parts.push(format!(
            "{key}={}",
            utf8_percent_encode(value, QUERY_ESCAPE)
        ));
        format!(
            "{}/v1.0{}?{}",
            self.app.base_url,
            self.raw_path,
            parts.join("&")
        )
    }

    /// The time zone events are shown in (`Prefer: outlook.timezone`).
    pub(crate) fn timezone(&mut self) -> String {
        if let Some(tz) = self.prefs.timezone.clone()
            && datetime::zone_offset(&tz).is_some()
        {
            let applied = format!("outlook.timezone=\"{tz}\"");
            if !self.applied.contains(&applied) {
                self.applied.push(applied);
            }
            return tz;
        }
        "UTC".to_string()
    }

    /// Whether message bodies should be shown as text
    /// (`Prefer: outlook.body-content-type`).
    pub(crate) fn body_as_text(&mut self) -> Option<bool> {
        let t = self.prefs.body_text?;
        let applied = format!(
            "outlook.body-content-type=\"{}\"",
            if t { "text" } else { "html" }
        );
        if !self.applied.contains(&applied) {
            self.applied.push(applied);
        }
        Some(t)
    }

    /// An absolute URL on the sandbox's main origin.
    pub(crate) fn absolute(&self, path: &str) -> String {
        format!("{}{path}", self.app.base_url)
    }
}

/// Whether holding permission `have` grants what `need` grants: the same
/// permission, or a broader one of the same resource (`ReadWrite` covers
/// `Read` and `ReadBasic`, `Read` covers `ReadBasic`, and an `.All`
/// permission covers the signed-in-user form).
pub(crate) fn implies(have: &str, need: &str) -> bool {
    if have.eq_ignore_ascii_case(need) {
        return true;
    }
    fn parts(p: &str) -> Option<(String, u8, bool)> {
        let lower = p.to_ascii_lowercase();
        let (rest, all) = match lower.strip_suffix(".all") {
            Some(r) => (r.to_string(), true),
            None => (lower, false),
        };
        let (resource, access) = rest.rsplit_once('.')?;
        let rank = match access {
            "readbasic" => 0,
            "read" => 1,
            "readwrite" => 2,
            _ => return None,
        };
        Some((resource.to_string(), rank, all))
    }
    match (parts(have), parts(need)) {
        (Some((r1, a1, all1)), Some((r2, a2, all2))) => r1 == r2 && a1 >= a2 && (all1 || !all2),
        _ => false,
    }
}

/// Decodes path segments (`%23EXT%23` → `#EXT#`).
///
/// The path is percent-decoded before it is split, as Graph does: an
/// encoded `/` (`%2F`) separates segments too. Microsoft's SDKs rely on it
/// when they put `root:/folder/file.txt:` into an item-id template and
/// encode it whole (`items/root%3A%2Ffolder%2Ffile.txt%3A/content`).
pub(crate) fn segments(path: &str) -> Vec<String> {
    percent_decode_str(path)
        .decode_utf8_lossy()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

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

#[cfg(test)]
mod tests {
    use super::implies;

    #[test]
    fn broader_permissions_imply_narrower_ones() {
        assert!(implies("Mail.ReadWrite", "Mail.Read"));
        assert!(implies("Mail.Read", "Mail.ReadBasic"));
        assert!(implies("Files.ReadWrite.All", "Files.Read"));
        assert!(implies("User.Read.All", "User.ReadBasic.All"));
        assert!(!implies("Mail.Read", "Mail.ReadWrite"));
        assert!(!implies("Mail.ReadWrite", "Mail.Send"));
        assert!(!implies("Files.ReadWrite", "Files.Read.All"));
        assert!(!implies("Calendars.ReadWrite", "Mail.Read"));
    }
}
