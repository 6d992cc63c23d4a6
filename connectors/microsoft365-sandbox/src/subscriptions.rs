//! Change-notification subscriptions: `/v1.0/subscriptions`.
//!
//! Creating one is checked the way Graph checks it: a resource the sandbox
//! can watch (a mailbox's or mail folder's messages, events, contacts, a
//! drive's root, the directory's users or one user), change types that
//! resource reports, an `expirationDateTime` in the future and within the
//! resource's maximum lifetime (by the sandbox clock, `crate::clock`), a
//! `clientState` of at most 128 characters, an https `notificationUrl` (and
//! `lifecycleNotificationUrl`): the sandbox also accepts plain http to
//! 127.0.0.1, [::1] or localhost, since it runs on loopback and so do test
//! receivers. The caller needs the permission that reads the resource.
//! Before the subscription exists, each URL must pass Graph's validation
//! handshake (`crate::notifications::validate_endpoint`); a duplicate (same
//! application, resource and change types) is `409 Conflict`.
//!
//! `PATCH` renews (only `expirationDateTime`, within the same limit),
//! `POST /subscriptions/{id}/reauthorize` answers a `reauthorizationRequired`
//! event, `DELETE` ends it, `GET` lists what the calling application created
//! (for the signed-in user only, with delegated tokens). Expired
//! subscriptions are gone, as in Graph. Rich notifications
//! (`includeResourceData`) are refused: the sandbox sends basic ones.
//!
//! Limits (from `docs-current/concepts/includes/change-notifications-subscription-lifetime.md`,
//! 11/07/2024, and `docs-2021-07/.../subscription-post-subscriptions.md` for
//! permissions): messages, events and contacts 10,080 minutes; drives
//! 42,300; users 41,760. At most [`MAX_SUBSCRIPTIONS`] live at once.

use std::sync::Arc;

use axum::http::{Method, StatusCode};

use serde_json::{Map, Value, json};

use crate::App;
use crate::datetime;
use crate::errors::GraphError;
use crate::notifications;
use crate::request::{Ctx, Reply};
use crate::state::{State, Tenant};
use crate::subscription::{Kind, Pending, Subscription};

/// At most this many subscriptions live in one sandbox.
pub(crate) const MAX_SUBSCRIPTIONS: usize = 1000;

/// Longest `clientState` (subscription.md: 128 characters).
const MAX_CLIENT_STATE: usize = 128;

/// Longest notification URL and resource accepted.
const MAX_URL_LEN: usize = 2048;
const MAX_RESOURCE_LEN: usize = 1024;

/// Forgets subscriptions that expired.
pub(crate) fn prune(state: &mut State, now: i64) {
    state.subscriptions.retain(|s| s.expiration > now);
}

fn invalid(message: impl Into<String>) -> GraphError {
    GraphError::bad_request("InvalidRequest", message)
}

fn not_found() -> GraphError {
    GraphError::not_found("ResourceNotFound", "The object was not found.")
}

/// Whether `url` may receive notifications: https anywhere, or http on
/// loopback (the sandbox's allowance for local receivers).
pub(crate) fn check_url(field: &str, url: &str) -> Result<(), GraphError> {
    let bad = || {
        invalid(format!(
            "{field} must be an absolute https URL of at most {MAX_URL_LEN} characters (the sandbox also accepts http to 127.0.0.1, [::1] or localhost)."
        ))
    };
    if url.len() > MAX_URL_LEN {
        return Err(bad());
    }
    let parsed = url::Url::parse(url).map_err(|_| bad())?;
    if !parsed.username().is_empty() || parsed.password().is_some() || parsed.fragment().is_some() {
        return Err(bad());
    }
    match (parsed.scheme(), parsed.host()) {
        ("https", Some(_)) => Ok(()),
        ("http", Some(url::Host::Ipv4(ip))) if ip.is_loopback() => Ok(()),
        ("http", Some(url::Host::Ipv6(ip))) if ip.is_loopback() => Ok(()),
        ("http", Some(url::Host::Domain(d))) if d.eq_ignore_ascii_case("localhost") => Ok(()),
        _ => Err(bad()),
    }
}

/// Reads a resource path: `(kind, owner, target)`.
fn parse_resource(
    ctx: &Ctx,
    t: &Tenant,
    resource: &str,
) -> Result<(Kind, String, Option<String>), GraphError> {
    let unsupported = || {
        invalid(format!(
            "resource '{resource}' is not one the sandbox can watch: me/messages, me/mailFolders('{{id}}')/messages, me/events, me/contacts, me/drive/root, drives/{{id}}/root, users or users/{{id}} (users/{{id}}/... in place of me/...)."
        ))
    };
    if resource.len() > MAX_RESOURCE_LEN || resource.contains(['?', '#']) {
        return Err(unsupported());
    }
    let segs: Vec<&str> = resource
        .trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lower.iter().map(String::as_str).collect();
    let user_of = |key: &str| -> Result<String, GraphError> {
        t.user(key)
            .map(|u| u.id().to_string())
            .ok_or_else(|| GraphError::user_not_found(key))
    };
    // the directory
    match l.as_slice() {
        ["users"] => return Ok((Kind::Users, String::new(), None)),
        ["users", _] => {
            let id = user_of(segs[1])?;
            return Ok((Kind::Users, String::new(), Some(id)));
        }
        ["drives", _, "root"] => {
            let drive = t
                .drives
                .iter()
                .find(|d| d.id() == segs[1])
                .ok_or_else(GraphError::drive_not_found)?;
            return Ok((
                Kind::Drive,
                drive.owner.clone(),
                Some(drive.id().to_string()),
            ));
        }
        _ => {}
    }
    // a mailbox or a drive
    let (owner, rest) = match l.as_slice() {
        ["me", ..] => {
            let Some(me) = ctx.caller.user_id.clone() else {
                return Err(GraphError::bad_request(
                    "BadRequest",
                    "/me request is only valid with delegated authentication flow.",
                ));
            };
            (me, &l[1..])
        }
        ["users", _, ..] => (user_of(segs[1])?, &l[2..]),
        _ => return Err(unsupported()),
    };
    let offset = l.len() - rest.len();
    match rest {
        ["messages"] => Ok((Kind::Messages, owner, None)),
        ["events"] => Ok((Kind::Events, owner, None)),
        ["contacts"] => Ok((Kind::Contacts, owner, None)),
        ["drive", "root"] => {
            let drive = t
                .drives
                .iter()
                .find(|d| d.owner == owner)
                .map(|d| d.id().to_string())
                .ok_or_else(GraphError::drive_not_found)?;
            Ok((Kind::Drive, owner, Some(drive)))
        }
        [folder, "messages"] if folder.starts_with("mailfolders(") => {
            let raw = segs[offset];
            let key = raw
                .get("mailFolders(".len()..raw.len().saturating_sub(1))
                .map(|k| k.trim_matches('\''))
                .filter(|k| raw.ends_with(')') && !k.is_empty())
                .ok_or_else(unsupported)?;
            let id = mail_folder(t, &owner, key)?;
            Ok((Kind::Messages, owner, Some(id)))
        }
        ["mailfolders", _, "messages"] => {
            let id = mail_folder(t, &owner, segs[offset + 1])?;
            Ok((Kind::Messages, owner, Some(id)))
        }
        _ => Err(unsupported()),
    }
}

/// A mail folder's id from its id or well-known name.
fn mail_folder(t: &Tenant, owner: &str, key: &str) -> Result<String, GraphError> {
    let id = t
        .well_known_folders
        .get(&format!("{owner}|{}", key.to_ascii_lowercase()))
        .cloned()
        .unwrap_or_else(|| key.to_string());
    t.mail_folders
        .iter()
        .find(|f| f.owner == owner && f.id() == id)
        .map(|f| f.id().to_string())
        .ok_or_else(GraphError::outlook_not_found)
}

/// Parses `changeType`: known, allowed for the kind, no repeats.
fn change_types(text: &str, kind: Kind) -> Result<Vec<String>, GraphError> {
    let allowed = kind.rules().change_types;
    let mut out: Vec<String> = Vec::new();
    for part in text.split(',').map(str::trim) {
        if !allowed.contains(&part) || out.iter().any(|p| p == part) {
            return Err(invalid(format!(
                "changeType '{text}' is not valid for {}: use {} (comma-separated, each once).",
                kind.name(),
                allowed.join(", ")
            )));
        }
        out.push(part.to_string());
    }
    Ok(out)
}

/// Checks an expiration against the kind's limit at `now`.
fn expiration(value: Option<&Value>, kind: Kind, now: i64) -> Result<i64, GraphError> {
    let max = kind.rules().max_minutes;
    let at = value
        .and_then(Value::as_str)
        .and_then(datetime::parse_instant)
        .ok_or_else(|| {
            invalid("expirationDateTime is required: a date and time such as 2030-01-01T00:00:00Z.")
        })?;
    if at <= now || at > now + max * 60 {
        return Err(invalid(format!(
            "expirationDateTime must be in the future and at most {max} minutes from now for {} (now is {}).",
            kind.name(),
            datetime::iso_z(now)
        )));
    }
    Ok(at)
}

/// Whether the caller may see and manage `s`.
fn visible(ctx: &Ctx, s: &Subscription) -> bool {
    s.application_id.eq_ignore_ascii_case(&ctx.caller.app_id)
        && match &ctx.caller.user_id {
            Some(me) => s.delegated && &s.creator_id == me,
            None => true,
        }
}

/// Refuses the caller unless it holds a permission that lets it subscribe
/// to `kind` (Graph asks the same to manage the subscription later).
fn require_kind(ctx: &Ctx, kind: Kind) -> Result<(), GraphError> {
    let rules = kind.rules();
    ctx.require_one_of(if ctx.caller.is_app() {
        rules.application
    } else {
        rules.delegated
    })
}

/// `/subscriptions...`.
pub(crate) fn handle(
    ctx: &mut Ctx,
    state: &mut State,
    segs: &[String],
) -> Result<Reply, GraphError> {
    let now = ctx.app.now();
    prune(state, now);
    match (ctx.method.clone(), segs.len()) {
        (Method::GET, 1) => {
            let mut value = Vec::new();
            for s in state.subscriptions.iter().filter(|s| visible(ctx, s)) {
                if require_kind(ctx, s.kind).is_ok() {
                    value.push(s.to_json());
                }
            }
            Ok(Reply::json(json!({
                "@odata.context": ctx.context_url("subscriptions"),
                "value": value,
            })))
        }
        (Method::POST, 1) => create(ctx, state, now),
        (method, 2 | 3) => {
            let id = segs[1].as_str();
            let idx = state
                .subscriptions
                .iter()
                .position(|s| s.id.eq_ignore_ascii_case(id) && visible(ctx, s))
                .ok_or_else(not_found)?;
            require_kind(ctx, state.subscriptions[idx].kind)?;
            let action = segs.get(2).map(|s| s.to_ascii_lowercase());
            match (method, action.as_deref()) {
                (Method::GET, None) => {
                    let mut v = crate::odata::select(
                        &state.subscriptions[idx].to_json(),
                        ctx.query.select.as_deref(),
                        None,
                    );
                    v["@odata.context"] = json!(ctx.context_url("subscriptions/$entity"));
                    Ok(Reply::json(v))
                }
                (Method::PATCH, None) => {
                    let body = ctx.json_body()?;
                    let Some(map) = body.as_object() else {
                        return Err(invalid("The request body must be a JSON object."));
                    };
                    if let Some(k) = map
                        .keys()
                        .find(|k| !k.starts_with('@') && *k != "expirationDateTime")
                    {
                        return Err(invalid(format!(
                            "'{k}' cannot be changed here: the sandbox renews subscriptions by expirationDateTime only."
                        )));
                    }
                    let s = &mut state.subscriptions[idx];
                    s.expiration = expiration(map.get("expirationDateTime"), s.kind, now)?;
                    s.needs_reauthorization = false;
                    Ok(Reply::json(s.to_json()))
                }
                (Method::POST, Some("reauthorize")) => {
                    state.subscriptions[idx].needs_reauthorization = false;
                    Ok(Reply::no_content())
                }
                (Method::DELETE, None) => {
                    state.subscriptions.remove(idx);
                    Ok(Reply::no_content())
                }
                (_, Some(other)) if other != "reauthorize" => Err(GraphError::no_segment(&segs[2])),
                _ => Err(GraphError::method_not_allowed()),
            }
        }
        _ => Err(GraphError::method_not_allowed()),
    }
}

const KNOWN_FIELDS: &[&str] = &[
    "changeType",
    "notificationUrl",
    "lifecycleNotificationUrl",
    "resource",
    "expirationDateTime",
    "clientState",
    "latestSupportedTlsVersion",
    "includeResourceData",
    "encryptionCertificate",
    "encryptionCertificateId",
];

fn string_field<'a>(
    body: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, GraphError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(format!("{name} must be a string."))),
    }
}

fn create(ctx: &mut Ctx, state: &mut State, now: i64) -> Result<Reply, GraphError> {
    let body = ctx.json_body()?;
    let Some(body) = body.as_object() else {
        return Err(invalid("The request body must be a JSON object."));
    };
    if let Some(k) = body
        .keys()
        .find(|k| !k.starts_with('@') && !KNOWN_FIELDS.contains(&k.as_str()))
    {
        return Err(GraphError::bad_request(
            "RequestBodyRead",
            format!("The property '{k}' does not exist on type 'microsoft.graph.subscription'."),
        ));
    }
    if body.get("includeResourceData") == Some(&Value::Bool(true)) {
        return Err(invalid(
            "includeResourceData is not supported by the sandbox: it sends basic notifications (no encrypted content).",
        ));
    }
    let resource = string_field(body, "resource")?
        .ok_or_else(|| invalid("resource is required."))?
        .to_string();
    let (kind, owner, target) = parse_resource(ctx, &state.tenant, &resource)?;
    require_kind(ctx, kind)?;
    if let Some(me) = &ctx.caller.user_id
        && kind != Kind::Users
        && &owner != me
    {
        // delegated permissions reach only the signed-in user's items
        return Err(GraphError::access_denied());
    }
    let change_types = change_types(
        string_field(body, "changeType")?.ok_or_else(|| invalid("changeType is required."))?,
        kind,
    )?;
    let expiration = expiration(body.get("expirationDateTime"), kind, now)?;
    let notification_url = string_field(body, "notificationUrl")?
        .ok_or_else(|| invalid("notificationUrl is required."))?
        .to_string();
    check_url("notificationUrl", &notification_url)?;
    let lifecycle_notification_url =
        string_field(body, "lifecycleNotificationUrl")?.map(str::to_string);
    if let Some(u) = &lifecycle_notification_url {
        check_url("lifecycleNotificationUrl", u)?;
    }
    let client_state = string_field(body, "clientState")?.map(str::to_string);
    if client_state
        .as_ref()
        .is_some_and(|c| c.chars().count() > MAX_CLIENT_STATE)
    {
        return Err(invalid(format!(
            "clientState must be at most {MAX_CLIENT_STATE} characters."
        )));
    }
    let tls = string_field(body, "latestSupportedTlsVersion")?.unwrap_or("v1_2");
    if !["v1_0", "v1_1", "v1_2", "v1_3"].contains(&tls) {
        return Err(invalid(
            "latestSupportedTlsVersion must be v1_0, v1_1, v1_2 or v1_3.",
        ));
    }
    let sub = Subscription {
        id: ctx.app.new_guid(),
        resource,
        kind,
        owner,
        target,
        change_types,
        notification_url,
        lifecycle_notification_url,
        client_state,
        expiration,
        application_id: ctx.caller.app_id.clone(),
        creator_id: ctx.caller.object_id.clone(),
        delegated: !ctx.caller.is_app(),
        latest_supported_tls_version: tls.to_string(),
        needs_reauthorization: false,
    };
    admissible(state, &sub)?;
    Ok(Reply::pending(Box::new(Pending { sub })))
}

/// Refuses a duplicate or one subscription too many.
fn admissible(state: &State, sub: &Subscription) -> Result<(), GraphError> {
    if let Some(dup) = state.subscriptions.iter().find(|s| {
        s.application_id.eq_ignore_ascii_case(&sub.application_id)
            && s.kind == sub.kind
            && s.owner == sub.owner
            && s.target == sub.target
            && s.creator_id == sub.creator_id
            && s.change_types.len() == sub.change_types.len()
            && s.change_types.iter().all(|c| sub.change_types.contains(c))
    }) {
        return Err(GraphError::new(
            StatusCode::CONFLICT,
            "InvalidRequest",
            format!(
                "Subscription Id {} already exists for the requested combination.",
                dup.id
            ),
        ));
    }
    if state.subscriptions.len() >= MAX_SUBSCRIPTIONS {
        return Err(GraphError::new(
            StatusCode::FORBIDDEN,
            "quotaLimitReached",
            format!("The sandbox holds at most {MAX_SUBSCRIPTIONS} subscriptions."),
        ));
    }
    Ok(())
}

/// Finishes a create: validates each endpoint (outside the state lock),
/// then stores the subscription and answers 201.
pub(crate) async fn complete(app: &Arc<App>, pending: Pending) -> Result<Reply, GraphError> {
    let sub = pending.sub;
    let mut urls = vec![sub.notification_url.clone()];
    if let Some(u) = &sub.lifecycle_notification_url
        && !urls.contains(u)
    {
        urls.push(u.clone());
    }
    for url in &urls {
        notifications::validate_endpoint(app, url)
            .await
            .map_err(|why| {
                GraphError::bad_request(
                    "ValidationError",
                    format!(
                        "Subscription validation request failed: {url} must answer the validation request with 200 OK, Content-Type text/plain and the validation token as the body within 10 seconds; {why}."
                    ),
                )
            })?;
    }
    let mut state = app.lock();
    prune(&mut state, app.now());
    admissible(&state, &sub)?;
    let json = sub.to_json();
    state.subscriptions.push(sub);
    let mut out = json;
    out["@odata.context"] = json!(format!(
        "{}/v1.0/$metadata#subscriptions/$entity",
        app.base_url
    ));
    Ok(Reply::created(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_urls() {
        for ok in [
            "https://example.com/hook",
            "https://example.com:8443/hook?x=1",
            "http://127.0.0.1:9000/hook",
            "http://localhost/hook",
            "http://[::1]:80/",
        ] {
            assert!(check_url("notificationUrl", ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com/hook",
            "http://10.0.0.1/hook",
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "https://example.com/#frag",
            "/relative",
            &format!("https://example.com/{}", "a".repeat(2100)),
        ] {
            let err = check_url("notificationUrl", bad).unwrap_err();
            assert!(err.message.contains("notificationUrl"), "{bad}");
        }
    }

    #[test]
    fn change_types_per_kind() {
        assert_eq!(
            change_types("created,updated", Kind::Messages).unwrap(),
            ["created", "updated"]
        );
        assert!(change_types("created", Kind::Drive).is_err());
        assert!(change_types("updated,updated", Kind::Events).is_err());
        assert!(change_types("", Kind::Contacts).is_err());
        assert!(change_types("updated,deleted", Kind::Users).is_ok());
    }

    #[test]
    fn expirations_within_the_limit() {
        let now = 1_000_000;
        let at = |s: i64| json!(datetime::iso_z(s));
        assert_eq!(
            expiration(Some(&at(now + 3600)), Kind::Events, now).unwrap(),
            now + 3600
        );
        assert!(expiration(Some(&at(now + 10_080 * 60)), Kind::Contacts, now).is_ok());
        assert!(expiration(Some(&at(now + 10_080 * 60 + 1)), Kind::Contacts, now).is_err());
        assert!(expiration(Some(&at(now + 42_300 * 60)), Kind::Drive, now).is_ok());
        assert!(expiration(Some(&at(now)), Kind::Users, now).is_err());
        assert!(expiration(Some(&json!("tomorrow")), Kind::Users, now).is_err());
        assert!(expiration(None, Kind::Users, now).is_err());
    }
}
