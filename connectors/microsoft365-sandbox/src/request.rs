//! What a Graph handler gets and gives: the request context (`Ctx`: the
//! caller, the parsed query, `Prefer`, the body), the reply before Graph's
//! common headers, the caller a token names, the permission table and how
//! permissions imply one another. The router (`crate::graph`) builds a
//! `Ctx` and dispatches to the area modules, which answer with a `Reply`;
//! this module imports none of them.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderName, Method, StatusCode, header};
use bytes::Bytes;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde_json::Value;

use crate::App;
use crate::datetime;
use crate::errors::GraphError;
use crate::query::{Prefs, Query};
use crate::subscription::Pending;

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
    Pending(Box<Pending>),
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
    pub(crate) fn pending(p: Box<Pending>) -> Reply {
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
        self.link_keeping(
            |k| !k.eq_ignore_ascii_case("$skiptoken") && !k.eq_ignore_ascii_case("$deltatoken"),
            key,
            value,
        )
    }

    /// A delta or next link: only `$select` is kept beside the token (the
    /// token carries the rest).
    pub(crate) fn delta_link(&self, key: &str, value: &str) -> String {
        self.link_keeping(|k| k.eq_ignore_ascii_case("$select"), key, value)
    }

    /// This request's URL with the query parameters `keep` accepts, then
    /// `key=value`.
    fn link_keeping(&self, keep: impl Fn(&str) -> bool, key: &str, value: &str) -> String {
        let mut parts: Vec<String> = self
            .query
            .params
            .iter()
            .filter(|(k, _)| keep(k))
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
