//! `POST /v1.0/$batch`: JSON batching, as `concepts/json-batching.md`
//! describes it (2021-07 and 02/2025 pages) with the Outlook rules of
//! `includes/throttling-outlook.md` (01/2025).
//!
//! - A batch holds 1 to 20 requests, each with an `id` (unique in the
//!   batch, compared without case), a `method`, a `url` relative to `/v1.0`
//!   and optionally `headers`, `body` and `dependsOn`. Anything else about
//!   the batch that is wrong (more than 20, a duplicate id, a missing
//!   method or url, an absolute url, a `$batch` inside the batch, a body
//!   without `Content-Type`, a `dependsOn` naming no request of the batch
//!   or going round in a circle) answers 400 and runs nothing.
//! - A `body` is JSON when the request's `Content-Type` is JSON, else a
//!   base64 string; response bodies come back the same way.
//! - Every request goes through the sandbox's own Graph pipeline with the
//!   batch's `Authorization`: the same handlers, permission checks, faults,
//!   throttling limits (each request counts against its mailbox and app)
//!   and service time as if it were sent alone, and the request log shows
//!   it.
//! - Without `dependsOn`, at most 4 requests of a batch run at a time, as
//!   Graph sends Outlook; with any `dependsOn`, the batch runs one request
//!   at a time in dependency order (Microsoft's tip: a batch is either fully
//!   sequential or fully parallel). A request whose dependency failed
//!   (status 400 or more, or itself 424) is not run and answers 424.
//! - Responses come in the order they finish, matched by `id`. A throttled
//!   request answers 429 with its own `Retry-After` header; the batch itself
//!   answers 200 (01/2025 docs) or, configured so, 424 (2021-07 docs).
//!
//! Microsoft documents the statuses but not the error messages of refused
//! batches; the wording here is the sandbox's.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use futures::StreamExt as _;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::{Map, Value, json};

use crate::errors::GraphError;
use crate::graph;
use crate::request::{self, Reply, ReplyBody};
use crate::{App, faults};

/// The most requests in one batch.
pub(crate) const MAX_REQUESTS: usize = 20;

/// How many requests of an unordered batch run at a time.
const PARALLEL: usize = 4;

/// The largest response body read back into a batch response.
const ITEM_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// Characters a batch `url` may hold that a request line may not
/// (Microsoft's own example has spaces in a `$filter`).
const URL_UNSAFE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'|')
    .add(b'\\')
    .add(b'^');

/// One request of a batch, checked.
struct Item {
    id: String,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    /// Indexes of the requests it depends on.
    depends_on: Vec<usize>,
}

/// `/v1.0/$batch`, any method.
pub(crate) async fn entry(
    State(app): State<Arc<App>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = app.new_guid();
    let client_request_id = graph::client_request_id(&headers);
    let outcome = run(&app, &method, &headers, &body)
        .await
        .map(|(status, responses)| {
            let reply = Reply {
                status,
                body: ReplyBody::Json(json!({ "responses": responses })),
                headers: Vec::new(),
            };
            (reply, Vec::new())
        });
    graph::finish(
        &app,
        &method,
        "/$batch",
        &request_id,
        client_request_id.as_deref(),
        outcome,
    )
}

async fn run(
    app: &Arc<App>,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(StatusCode, Vec<Value>), GraphError> {
    if method != Method::POST {
        return Err(GraphError::method_not_allowed());
    }
    if let Some(fault) = app.faults.decide() {
        return Err(faults::error(fault, app.faults.retry_after_secs()));
    }
    app.authenticate(headers)?;
    let items = parse(headers.get(header::AUTHORIZATION), body)?;
    let responses = execute(app, items).await;
    let throttled = responses.iter().any(|r| r["status"] == 429);
    let status = if throttled {
        StatusCode::from_u16(app.limits.config().throttled_batch_status.status())
            .unwrap_or(StatusCode::OK)
    } else {
        StatusCode::OK
    };
    Ok((status, responses))
}

fn invalid(message: impl Into<String>) -> GraphError {
    GraphError::bad_request("BadRequest", message)
}

/// Checks the whole batch before anything runs.
fn parse(authorization: Option<&HeaderValue>, body: &[u8]) -> Result<Vec<Item>, GraphError> {
    let doc: Value = serde_json::from_slice(body).map_err(|_| {
        invalid("Invalid batch payload: the body must be a JSON object with a 'requests' array.")
    })?;
    let requests = doc
        .get("requests")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            invalid(
                "Invalid batch payload: the body must be a JSON object with a 'requests' array.",
            )
        })?;
    if requests.is_empty() || requests.len() > MAX_REQUESTS {
        return Err(invalid(format!(
            "A batch holds from 1 to {MAX_REQUESTS} requests; this one has {}.",
            requests.len()
        )));
    }
    let mut items = Vec::with_capacity(requests.len());
    let mut ids: HashMap<String, usize> = HashMap::new();
    for (i, request) in requests.iter().enumerate() {
        let request = request
            .as_object()
            .ok_or_else(|| invalid(format!("requests[{i}] must be an object.")))?;
        let item = parse_item(i, request, authorization)?;
        if ids.insert(item.id.to_lowercase(), i).is_some() {
            return Err(invalid(format!(
                "requests[{i}].id '{}' is used twice; ids must be unique in a batch (without regard to case).",
                item.id
            )));
        }
        items.push(item);
    }
    for (i, request) in requests.iter().enumerate() {
        let Some(deps) = request.get("dependsOn").filter(|v| !v.is_null()) else {
            continue;
        };
        let deps = deps.as_array().ok_or_else(|| {
            invalid(format!(
                "requests[{i}].dependsOn must be an array of request ids."
            ))
        })?;
        for dep in deps {
            let index = dep
                .as_str()
                .and_then(|d| ids.get(&d.to_lowercase()))
                .copied()
                .ok_or_else(|| {
                    invalid(format!(
                        "requests[{i}].dependsOn names {dep}, which is no request of this batch."
                    ))
                })?;
            if index == i {
                return Err(invalid(format!(
                    "requests[{i}].dependsOn names the request itself."
                )));
            }
            if !items[i].depends_on.contains(&index) {
                items[i].depends_on.push(index);
            }
        }
    }
    if order(&items).is_none() {
        return Err(invalid(
            "The batch's dependsOn go round in a circle; no request could run first.",
        ));
    }
    Ok(items)
}

fn parse_item(
    i: usize,
    request: &Map<String, Value>,
    authorization: Option<&HeaderValue>,
) -> Result<Item, GraphError> {
    let id = request
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| invalid(format!("requests[{i}].id is required: a non-empty string.")))?
        .to_string();
    let method = request
        .get("method")
        .and_then(Value::as_str)
        .map(str::to_ascii_uppercase)
        .and_then(|m| match m.as_str() {
            "GET" => Some(Method::GET),
            "POST" => Some(Method::POST),
            "PUT" => Some(Method::PUT),
            "PATCH" => Some(Method::PATCH),
            "DELETE" => Some(Method::DELETE),
            _ => None,
        })
        .ok_or_else(|| {
            invalid(format!(
                "requests[{i}].method is required: GET, POST, PUT, PATCH or DELETE."
            ))
        })?;
    let url = request.get("url").and_then(Value::as_str).ok_or_else(|| {
        invalid(format!(
            "requests[{i}].url is required: a URL relative to /v1.0, such as /me/messages."
        ))
    })?;
    let uri = item_uri(i, url)?;
    let mut headers = HeaderMap::new();
    match request.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (name, value) in map {
                let bad = || {
                    invalid(format!(
                        "requests[{i}].headers.{name} must be a valid header with a string value."
                    ))
                };
                let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
                let value = value
                    .as_str()
                    .and_then(|v| HeaderValue::from_str(v).ok())
                    .ok_or_else(bad)?;
                headers.append(name, value);
            }
        }
        Some(_) => {
            return Err(invalid(format!(
                "requests[{i}].headers must be an object of header names and string values."
            )));
        }
    }
    // the batch's credentials, whatever the request says
    headers.remove(header::AUTHORIZATION);
    if let Some(auth) = authorization {
        headers.insert(header::AUTHORIZATION, auth.clone());
    }
    let body = item_body(i, request.get("body"), &headers)?;
    Ok(Item {
        id,
        method,
        uri,
        headers,
        body,
        depends_on: Vec::new(),
    })
}

/// `/v1.0` + the request's relative URL.
fn item_uri(i: usize, url: &str) -> Result<Uri, GraphError> {
    let url = url.trim();
    let path_part = url.split('?').next().unwrap_or("");
    let lower = path_part.to_ascii_lowercase();
    if url.is_empty() {
        return Err(invalid(format!(
            "requests[{i}].url is required: a URL relative to /v1.0, such as /me/messages."
        )));
    }
    if lower.contains("://")
        || lower.starts_with("//")
        || lower.starts_with("https:")
        || lower.starts_with("http:")
    {
        return Err(invalid(format!(
            "requests[{i}].url must be relative to the batch's version (such as /users), not an absolute URL."
        )));
    }
    let relative = if url.starts_with('/') {
        url.to_string()
    } else {
        format!("/{url}")
    };
    let uri: Uri = format!("/v1.0{}", utf8_percent_encode(&relative, URL_UNSAFE))
        .parse()
        .map_err(|_| invalid(format!("requests[{i}].url is not a valid relative URL.")))?;
    let first = request::segments(uri.path().strip_prefix("/v1.0").unwrap_or(""))
        .into_iter()
        .next();
    if first.is_some_and(|s| s.eq_ignore_ascii_case("$batch")) {
        return Err(invalid(format!(
            "requests[{i}].url: a batch cannot hold another $batch."
        )));
    }
    Ok(uri)
}

/// The request body: JSON for a JSON `Content-Type`, else base64.
fn item_body(i: usize, body: Option<&Value>, headers: &HeaderMap) -> Result<Bytes, GraphError> {
    let Some(body) = body.filter(|b| !b.is_null()) else {
        return Ok(Bytes::new());
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            invalid(format!(
                "requests[{i}] has a body but no Content-Type header; add one to its headers."
            ))
        })?;
    if is_json(content_type) {
        return Ok(Bytes::from(body.to_string()));
    }
    let text = body.as_str().ok_or_else(|| {
        invalid(format!(
            "requests[{i}].body must be base64 for Content-Type {content_type} (JSON only with a JSON Content-Type)."
        ))
    })?;
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text).ok())
        .map(Bytes::from)
        .ok_or_else(|| invalid(format!("requests[{i}].body is not valid base64.")))
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// The order a sequential batch runs in: dependencies first, else as
/// given. `None` when the dependencies go round in a circle.
fn order(items: &[Item]) -> Option<Vec<usize>> {
    let mut done = vec![false; items.len()];
    let mut out = Vec::with_capacity(items.len());
    while out.len() < items.len() {
        let next =
            (0..items.len()).find(|&i| !done[i] && items[i].depends_on.iter().all(|&d| done[d]))?;
        done[next] = true;
        out.push(next);
    }
    Some(out)
}

async fn execute(app: &Arc<App>, items: Vec<Item>) -> Vec<Value> {
    if items.iter().all(|i| i.depends_on.is_empty()) {
        return futures::stream::iter(items.into_iter().map(|item| run_item(app, item)))
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
    }
    let Some(order) = order(&items) else {
        return Vec::new();
    };
    let ids: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
    let mut statuses: Vec<Option<u64>> = vec![None; items.len()];
    let mut slots: Vec<Option<Item>> = items.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(slots.len());
    for index in order {
        let Some(item) = slots[index].take() else {
            continue;
        };
        let failed = item
            .depends_on
            .iter()
            .find(|&&d| statuses[d].is_none_or(|s| s >= 400));
        let response = match failed {
            Some(&d) => failed_dependency(app, &item.id, &ids[d]).await,
            None => run_item(app, item).await,
        };
        statuses[index] = response["status"].as_u64();
        out.push(response);
    }
    out
}

async fn run_item(app: &Arc<App>, item: Item) -> Value {
    let response = graph::handle(app.clone(), item.method, item.uri, item.headers, item.body).await;
    item_response(&item.id, response).await
}

async fn failed_dependency(app: &App, id: &str, dependency: &str) -> Value {
    let error = GraphError::new(
        StatusCode::FAILED_DEPENDENCY,
        "FailedDependency",
        format!("The request depends on request '{dependency}', which failed."),
    );
    item_response(id, error.into_response_with(&app.new_guid(), None)).await
}

/// `Content-Type` → `Content-Type`, `retry-after` → `Retry-After`.
fn header_case(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(c) => c.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// A response as a batch carries it: id, status, headers and the body as
/// JSON (or base64 when it is not JSON).
async fn item_response(id: &str, response: Response) -> Value {
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, ITEM_BODY_LIMIT)
        .await
        .unwrap_or_default();
    let mut headers = Map::new();
    for (name, value) in &parts.headers {
        if name == header::CONTENT_LENGTH {
            continue;
        }
        if let Ok(v) = value.to_str() {
            headers.insert(header_case(name.as_str()), json!(v));
        }
    }
    let json_body = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_json);
    let mut out = json!({
        "id": id,
        "status": parts.status.as_u16(),
        "headers": headers,
    });
    if !bytes.is_empty() {
        out["body"] = match json_body {
            true => {
                serde_json::from_slice(&bytes).unwrap_or_else(|_| json!(STANDARD.encode(&bytes)))
            }
            false => json!(STANDARD.encode(&bytes)),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_json(v: Value) -> Result<Vec<Item>, GraphError> {
        parse(None, v.to_string().as_bytes())
    }

    fn message(v: Value) -> String {
        match parse_json(v) {
            Ok(_) => panic!("accepted"),
            Err(e) => {
                assert_eq!(e.status, StatusCode::BAD_REQUEST);
                e.message
            }
        }
    }

    #[test]
    fn relative_urls_with_spaces_are_accepted_and_absolute_ones_refused() {
        let items = parse_json(json!({"requests": [
            {"id": "1", "method": "get", "url": "users?$filter=city eq null&$count=true"},
            {"id": "2", "method": "GET", "url": "/me/messages?$filter=from/emailAddress/address eq 'https://x'"},
        ]}))
        .unwrap();
        assert_eq!(items[0].method, Method::GET);
        assert_eq!(items[0].uri.path(), "/v1.0/users");
        assert_eq!(
            items[0].uri.query(),
            Some("$filter=city%20eq%20null&$count=true")
        );
        assert_eq!(items[1].uri.path(), "/v1.0/me/messages");
        for url in [
            "https://graph.microsoft.com/v1.0/me",
            "//evil.example/me",
            "http:/me",
        ] {
            let m = message(json!({"requests": [{"id": "1", "method": "GET", "url": url}]}));
            assert!(m.contains("not an absolute URL"), "{url}: {m}");
        }
        let m = message(json!({"requests": [{"id": "1", "method": "POST", "url": "/$BATCH"}]}));
        assert!(m.contains("another $batch"), "{m}");
    }

    #[test]
    fn bodies_need_a_content_type_and_are_json_or_base64() {
        let items = parse_json(json!({"requests": [
            {"id": "a", "method": "POST", "url": "/me/messages", "body": {"subject": "x"},
             "headers": {"Content-Type": "application/json"}},
            {"id": "b", "method": "PUT", "url": "/me/photo/$value", "body": "aGVsbG8",
             "headers": {"content-type": "image/jpeg"}},
        ]}))
        .unwrap();
        assert_eq!(&items[0].body[..], br#"{"subject":"x"}"#);
        assert_eq!(&items[1].body[..], b"hello");
        let m = message(
            json!({"requests": [{"id": "1", "method": "POST", "url": "/me/messages", "body": {}}]}),
        );
        assert!(m.contains("no Content-Type"), "{m}");
        let m = message(
            json!({"requests": [{"id": "1", "method": "PUT", "url": "/x", "body": "%%%",
            "headers": {"Content-Type": "image/png"}}]}),
        );
        assert!(m.contains("not valid base64"), "{m}");
    }

    #[test]
    fn ids_methods_and_dependencies_are_checked() {
        let one = |extra: Value| {
            let mut r = json!({"id": "1", "method": "GET", "url": "/me"});
            if let (Some(r), Some(extra)) = (r.as_object_mut(), extra.as_object()) {
                r.extend(extra.clone());
            }
            r
        };
        assert!(message(json!({"requests": []})).contains("from 1 to 20"));
        let many: Vec<Value> = (0..21)
            .map(|n| json!({"id": n.to_string(), "method": "GET", "url": "/me"}))
            .collect();
        assert!(message(json!({"requests": many})).contains("this one has 21"));
        assert!(message(json!({"requests": [{"id": "A", "method": "GET", "url": "/me"}, {"id": "a", "method": "GET", "url": "/me"}]})).contains("used twice"));
        assert!(message(json!({"requests": [one(json!({"id": ""}))]})).contains("id is required"));
        assert!(message(json!({"requests": [one(json!({"id": 7}))]})).contains("id is required"));
        assert!(
            message(json!({"requests": [one(json!({"method": "HEAD"}))]}))
                .contains("method is required")
        );
        assert!(
            message(json!({"requests": [{"id": "1", "method": "GET"}]}))
                .contains("url is required")
        );
        assert!(
            message(json!({"requests": [one(json!({"headers": {"a": 1}}))]})).contains("headers.a")
        );
        assert!(
            message(json!({"requests": [one(json!({"dependsOn": ["9"]}))]}))
                .contains("no request of this batch")
        );
        assert!(
            message(json!({"requests": [one(json!({"dependsOn": ["1"]}))]})).contains("itself")
        );
        let circle = json!({"requests": [
            {"id": "1", "method": "GET", "url": "/me", "dependsOn": ["2"]},
            {"id": "2", "method": "GET", "url": "/me", "dependsOn": ["1"]},
        ]});
        assert!(message(circle).contains("circle"));
        assert!(message(json!([1, 2])).contains("'requests' array"));
        let items = parse_json(json!({"requests": [
            {"id": "3", "method": "GET", "url": "/me", "dependsOn": ["2"]},
            {"id": "2", "method": "GET", "url": "/me"},
        ]}))
        .unwrap();
        assert_eq!(order(&items), Some(vec![1, 0]));
    }

    #[test]
    fn the_batchs_credentials_replace_the_requests() {
        let auth = HeaderValue::from_static("Bearer batch");
        let items = parse(
            Some(&auth),
            json!({"requests": [{"id": "1", "method": "GET", "url": "/me",
                "headers": {"Authorization": "Bearer other", "ConsistencyLevel": "eventual"}}]})
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(items[0].headers[header::AUTHORIZATION], "Bearer batch");
        assert_eq!(items[0].headers["consistencylevel"], "eventual");
        assert_eq!(header_case("retry-after"), "Retry-After");
    }
}
