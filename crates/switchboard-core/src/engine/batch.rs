//! JSON batching: many calls in few requests ([`Engine::batch`]).
//!
//! Each call is validated and rendered like a single call; the calls are
//! sent in batches of at most the connector's `batch.max_requests` (Graph:
//! 20), in an order that keeps every `depends_on` call before its
//! dependants. A dependency in the same batch is sent as `dependsOn`; one
//! in an earlier batch has already answered, and a call whose dependency
//! failed is not sent (it fails with status 424, as the service would
//! answer it).
//!
//! Each answer is classified like a single call's: a 429 (or a 503 the
//! retry policy retries) is sent again, alone in a later batch, after its
//! own `Retry-After` (calls that depended on it and were answered 424 go
//! with it); a POST or PATCH answered 500, 502, 503 without `Retry-After`
//! or 504 fails with `OutcomeUnknown` and is never resent. Both throttling
//! envelopes Microsoft documented are read: the batch answered 200 (docs of
//! 2025) or 424 (docs of 2021) with the throttled requests inside.
//!
//! The batch request goes through the pipeline like any request (host
//! check, token, redirects, retries of the batch itself); its one token is
//! asked for the union of its calls' permissions, so every call is
//! authorized as it would be alone. Its calls count
//! against the governor: per limit key, one request and its body bytes per
//! call, and concurrency slots for as many calls as the service runs at
//! once (up to 4 of an unordered batch, Graph's Outlook rule; one when the
//! batch is ordered with `dependsOn`).
//!
//! Everything in the answer is bounded: its size (the engine's response
//! cap), the number of answers (unknown or repeated ids are ignored), each
//! status (100 to 599) and header; a call the answer says nothing about
//! fails with a `Decode` error, or `OutcomeUnknown` when it was not safe
//! to repeat.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HeaderName};
use http::{HeaderMap, HeaderValue, Method};
use serde_json::{Map, Value, json};
use tracing::Instrument;

use crate::arguments::Arguments;
use crate::definition::ResponseKind;
use crate::engine::classify::{Verdict, parse_remote_details, response_error};
use crate::engine::response::{Response, ResponseBody, select_headers};
use crate::engine::retry::{Decision, RetryAfterHeader, Stop, Trouble, decide, parse_retry_after};
use crate::error::{Error, ErrorKind, Result};
use crate::governor::Demand;

use super::Engine;
use super::context::InstallationContext;
use super::pipeline::{decode_json, read_body};
use super::plan::{Outgoing, Plan};

/// The most calls one [`Engine::batch`] takes.
pub const MAX_BATCH_CALLS: usize = 10_000;

/// How many calls of an unordered batch the service runs at once (Graph
/// sends Outlook up to 4 requests of a batch at a time).
const PARALLEL_IN_BATCH: u32 = 4;

/// The most headers read from one answer.
const MAX_ITEM_HEADERS: usize = 64;

/// One call of a batch: a method, its arguments and the calls (by their
/// index in the list) that must succeed before it runs.
///
/// ```
/// use switchboard_core::Arguments;
/// use switchboard_core::engine::BatchCall;
///
/// let create = BatchCall::new("calendars.create_event", Arguments::new());
/// let list = BatchCall::new("calendars.list_events", Arguments::new()).after(0);
/// assert_eq!(list.depends_on, vec![0]);
/// assert!(create.depends_on.is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct BatchCall {
    /// The method id.
    pub method: String,
    /// Its arguments.
    pub args: Arguments,
    /// Indexes of calls of the same list that must succeed first.
    pub depends_on: Vec<usize>,
}

impl BatchCall {
    /// A call with no dependency.
    pub fn new(method: impl Into<String>, args: Arguments) -> Self {
        BatchCall {
            method: method.into(),
            args,
            depends_on: Vec::new(),
        }
    }

    /// The same call, run after call `index` succeeded.
    pub fn after(mut self, index: usize) -> Self {
        self.depends_on.push(index);
        self
    }
}

/// A call ready to go into a batch.
struct Item {
    plan: Plan,
    outgoing: Outgoing,
    /// The request's `url` relative to the base URL.
    relative: String,
    retries: u32,
}

/// What became of one call in one batch.
enum Outcome {
    /// Boxed: a response is large beside a wait.
    Done(Box<Result<Response>>),
    Again(Duration),
}

impl Engine {
    /// Run `calls` as JSON batches and give each call's result, in the
    /// order of `calls`. The outer error is for the batch as a whole (the
    /// connector takes no batches, no calls, more than
    /// [`MAX_BATCH_CALLS`]); everything about one call is in its result.
    /// See [`crate::engine::batch`].
    pub async fn batch(
        &self,
        ctx: &InstallationContext,
        calls: Vec<BatchCall>,
    ) -> Result<Vec<Result<Response>>> {
        let span = self.call_span(ctx, "$batch");
        self.run_batch(ctx, calls).instrument(span).await
    }

    async fn run_batch(
        &self,
        ctx: &InstallationContext,
        calls: Vec<BatchCall>,
    ) -> Result<Vec<Result<Response>>> {
        let connector = self.connector(ctx.connector_id())?;
        let Some(batch) = connector.definition().batch.clone() else {
            return Err(Error::invalid_argument(
                "calls",
                format!(
                    "connector `{}` declares no JSON batching; run the calls one by one",
                    ctx.connector_id()
                ),
            ));
        };
        if calls.is_empty() || calls.len() > MAX_BATCH_CALLS {
            return Err(Error::invalid_argument(
                "calls",
                format!(
                    "a batch takes 1 to {MAX_BATCH_CALLS} calls; {} were given",
                    calls.len()
                ),
            ));
        }
        let n = calls.len();
        let mut results: Vec<Option<Result<Response>>> = (0..n).map(|_| None).collect();
        let mut items: Vec<Option<Item>> = Vec::with_capacity(n);
        let mut deps: Vec<Vec<usize>> = Vec::with_capacity(n);
        for (index, call) in calls.iter().enumerate() {
            let mut own = call.depends_on.clone();
            own.sort_unstable();
            own.dedup();
            if let Some(bad) = own.iter().find(|d| **d >= n || **d == index) {
                results[index] = Some(Err(Error::invalid_argument(
                    "depends_on",
                    format!(
                        "call {index} depends on {bad}, which is not another call of the batch (0 to {})",
                        n - 1
                    ),
                )));
                own.clear();
            }
            deps.push(own);
            items.push(match self.batch_item(ctx, call) {
                Ok(item) => Some(item),
                Err(e) => {
                    results[index].get_or_insert(Err(e));
                    None
                }
            });
        }
        let order = topological(&deps);
        for (index, result) in results.iter_mut().enumerate() {
            if !order.contains(&index) {
                result.get_or_insert_with(|| {
                    Err(Error::invalid_argument(
                        "depends_on",
                        format!("call {index} is in a circle of dependencies; it was not sent"),
                    ))
                });
            }
        }
        let started = tokio::time::Instant::now();
        let max = usize::try_from(batch.max_requests).unwrap_or(20).max(1);
        let batch_url = base_join(&ctx.endpoints().base_url, &batch.path);
        loop {
            // fail the calls whose dependency failed
            for &i in &order {
                if results[i].is_none()
                    && let Some(&dep) = deps[i]
                        .iter()
                        .find(|d| matches!(results[**d], Some(Err(_))))
                {
                    results[i] = Some(Err(Error::new(
                        ErrorKind::Remote,
                        format!(
                            "call {i} was not sent: call {dep}, which it depends on, failed (424 Failed Dependency)"
                        ),
                    )
                    .with_remote(crate::error::RemoteDetails::status(424))));
                }
            }
            let mut chunk: Vec<usize> = Vec::new();
            for &i in &order {
                if chunk.len() == max {
                    break;
                }
                let ready = results[i].is_none()
                    && deps[i]
                        .iter()
                        .all(|d| matches!(results[*d], Some(Ok(_))) || chunk.contains(d));
                if ready {
                    chunk.push(i);
                }
            }
            if chunk.is_empty() {
                break;
            }
            let outcomes = self
                .send_batch(ctx, &batch_url, &chunk, &items, &deps, started)
                .await;
            let mut wait = Duration::ZERO;
            for (i, outcome) in outcomes {
                match outcome {
                    Outcome::Done(result) => results[i] = Some(*result),
                    Outcome::Again(w) => {
                        wait = wait.max(w);
                        if let Some(item) = items[i].as_mut() {
                            item.retries += 1;
                        }
                    }
                }
            }
            if !wait.is_zero() {
                tracing::warn!(
                    wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    "batch calls throttled; sending them again after a wait"
                );
                tokio::time::sleep(wait).await;
            }
        }
        Ok(results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| Err(Error::new(ErrorKind::Remote, "the call was not sent")))
            })
            .collect())
    }

    fn batch_item(&self, ctx: &InstallationContext, call: &BatchCall) -> Result<Item> {
        let plan = self.plan(ctx, &call.method)?;
        let outgoing = self.prepare(ctx, &plan, &call.args)?;
        let base = &ctx.endpoints().base_url;
        let base_path = base.path().trim_end_matches('/');
        let relative = (outgoing.url.origin() == base.origin())
            .then(|| outgoing.url.path().strip_prefix(base_path))
            .flatten()
            .filter(|rest| rest.starts_with('/'))
            .map(|rest| match outgoing.url.query() {
                Some(q) => format!("{rest}?{q}"),
                None => rest.to_string(),
            })
            .ok_or_else(|| {
                Error::invalid_argument(
                    "method",
                    format!(
                        "`{}` does not go to the installation's base URL, so it cannot be batched",
                        call.method
                    ),
                )
            })?;
        Ok(Item {
            plan,
            outgoing,
            relative,
            retries: 0,
        })
    }

    /// Send one batch and classify each answer.
    async fn send_batch(
        &self,
        ctx: &InstallationContext,
        url: &url::Url,
        chunk: &[usize],
        items: &[Option<Item>],
        deps: &[Vec<usize>],
        started: tokio::time::Instant,
    ) -> Vec<(usize, Outcome)> {
        let members: Vec<(usize, &Item)> = chunk
            .iter()
            .filter_map(|&i| items[i].as_ref().map(|item| (i, item)))
            .collect();
        let ordered = members
            .iter()
            .any(|(i, _)| deps[*i].iter().any(|d| chunk.contains(d)));
        let body = json!({
            "requests": members
                .iter()
                .map(|(i, item)| request_json(*i, item, &deps[*i], chunk))
                .collect::<Vec<_>>()
        });
        let fail_all = |error: &Error| -> Vec<(usize, Outcome)> {
            members
                .iter()
                .map(|(i, _)| (*i, Outcome::Done(Box::new(Err(copy_error(error))))))
                .collect()
        };
        let Some((_, first)) = members.first() else {
            return Vec::new();
        };
        // the calls count against the governor, key by key in one order
        let permits = match self.admit_batch(ctx, &members, ordered).await {
            Ok(p) => p,
            Err(e) => return fail_all(&e),
        };
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let outgoing = Outgoing {
            method: Method::POST,
            url: url.clone(),
            headers,
            body: Some(Bytes::from(body.to_string())),
            idempotent: members.iter().all(|(_, item)| item.outgoing.idempotent),
            resumable: false,
            credentialed: true,
            keys: None,
            batch: true,
        };
        let plan = batch_plan(&members, &first.plan);
        let mut received = match self.execute(ctx, &plan, &outgoing).await {
            Ok(r) => r,
            Err(e) => return fail_all(&e),
        };
        let read = read_body(&mut received, "$batch", self.inner.max_response_bytes).await;
        drop(received);
        let bytes = match read {
            Ok(b) => b,
            Err(e) => return fail_all(&e),
        };
        drop(permits);
        let answers = match decode_json(&bytes, "$batch").and_then(|v| answers_of(&v, chunk)) {
            Ok(a) => a,
            Err(e) => {
                return members
                    .iter()
                    .map(|(i, item)| (*i, Outcome::Done(Box::new(Err(unanswered(&e, item))))))
                    .collect();
            }
        };
        // first the calls sent again; then those answered 424 because of them
        let mut out: Vec<(usize, Outcome)> = Vec::with_capacity(members.len());
        let mut again: Vec<usize> = Vec::new();
        for (i, item) in &members {
            let Some(answer) = answers.get(i) else {
                let e = Error::new(
                    ErrorKind::Decode,
                    format!("the batch answer has no response for call {i}"),
                );
                out.push((*i, Outcome::Done(Box::new(Err(unanswered(&e, item))))));
                continue;
            };
            let outcome = self.classify_answer(item, answer, started).await;
            if matches!(outcome, Outcome::Again(_)) {
                again.push(*i);
            }
            out.push((*i, outcome));
        }
        for (i, outcome) in out.iter_mut() {
            let answered_424 = answers.get(i).is_some_and(|a| a.status == 424);
            if answered_424
                && matches!(outcome, Outcome::Done(result) if result.is_err())
                && deps[*i].iter().any(|d| again.contains(d))
            {
                *outcome = Outcome::Again(Duration::ZERO);
            }
        }
        out
    }

    async fn admit_batch(
        &self,
        ctx: &InstallationContext,
        members: &[(usize, &Item)],
        ordered: bool,
    ) -> Result<Vec<crate::governor::Permit>> {
        let mut per_key: BTreeMap<&str, (&crate::governor::Rules, Demand)> = BTreeMap::new();
        for (_, item) in members {
            let bytes = item.outgoing.body.as_ref().map_or(0, |b| b.len() as u64);
            for key in item.outgoing.keys.iter().flat_map(|k| k.as_slice()) {
                let entry = per_key.entry(&key.key).or_insert((
                    &key.rules,
                    Demand {
                        slots: 0,
                        requests: 0,
                        bytes: 0,
                    },
                ));
                entry.1.requests += 1;
                entry.1.bytes = entry.1.bytes.saturating_add(bytes);
                let parallel = if ordered { 1 } else { PARALLEL_IN_BATCH };
                entry.1.slots = (entry.1.slots + 1).min(parallel);
            }
        }
        let installation = ctx.installation_text();
        let mut permits = Vec::with_capacity(per_key.len());
        for (key, (rules, demand)) in per_key {
            permits.push(
                self.inner
                    .governor
                    .admit_shared(key, rules, installation, demand)
                    .await?,
            );
        }
        Ok(permits)
    }

    async fn classify_answer(
        &self,
        item: &Item,
        answer: &Answer,
        started: tokio::time::Instant,
    ) -> Outcome {
        let method = item.plan.method();
        if answer.status < 400 {
            let body = match (&answer.body, method.response) {
                (None | Some(Value::Null), _) => ResponseBody::Empty,
                (Some(Value::String(text)), ResponseKind::Bytes) => {
                    match base64::engine::general_purpose::STANDARD.decode(text) {
                        Ok(bytes) => ResponseBody::Bytes(Bytes::from(bytes)),
                        Err(_) => ResponseBody::Json(Value::String(text.clone())),
                    }
                }
                (Some(value), _) => ResponseBody::Json(value.clone()),
            };
            return Outcome::Done(Box::new(Ok(Response::new(
                answer.status,
                select_headers(&answer.headers),
                body,
            ))));
        }
        let retry_after = match answer.headers.get(http::header::RETRY_AFTER) {
            None => RetryAfterHeader::default(),
            Some(v) => RetryAfterHeader {
                present: true,
                wait: v
                    .to_str()
                    .ok()
                    .and_then(|v| parse_retry_after(v, std::time::SystemTime::now())),
            },
        };
        let trouble = Trouble::Status(answer.status);
        if answer.status == 429
            && let Some(wait) = retry_after.wait
        {
            super::govern::hold(&self.inner.governor, item.outgoing.keys.as_ref(), wait).await;
        }
        let decision = decide(
            &self.inner.retry,
            trouble,
            item.outgoing.idempotent,
            retry_after,
            item.retries,
            started.elapsed(),
        );
        let (verdict, wait) = match decision {
            Decision::Retry(wait) => return Outcome::Again(wait),
            Decision::Stop(Stop::Final) => (Verdict::Final, retry_after.wait),
            Decision::Stop(Stop::OutcomeUnknown) => (Verdict::OutcomeUnknown, None),
            Decision::Stop(Stop::Exhausted { wait }) => (
                Verdict::Exhausted {
                    retries: item.retries,
                },
                wait,
            ),
            Decision::Stop(Stop::WaitTooLong(wait)) => (Verdict::WaitTooLong, Some(wait)),
        };
        let body = answer
            .body
            .as_ref()
            .map(|b| serde_json::to_vec(b).unwrap_or_default())
            .unwrap_or_default();
        let mut details = parse_remote_details(answer.status, &body);
        if details.request_id.is_none() {
            details.request_id = answer
                .headers
                .get("request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
        }
        Outcome::Done(Box::new(Err(response_error(
            item.plan.failed(),
            verdict,
            details,
            wait,
        ))))
    }
}

/// `base` with `path` appended to its path (Graph's base ends in `/v1.0`).
fn base_join(base: &url::Url, path: &str) -> url::Url {
    let mut url = base.clone();
    let joined = format!("{}{}", base.path().trim_end_matches('/'), path);
    url.set_path(&joined);
    url.set_query(None);
    url
}

/// The calls in an order where every call comes after its dependencies
/// (by index among equals); calls in a circle are left out.
fn topological(deps: &[Vec<usize>]) -> Vec<usize> {
    let n = deps.len();
    let mut waiting: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut dependants: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, d) in deps.iter().enumerate() {
        for &j in d {
            dependants[j].push(i);
        }
    }
    let mut ready: std::collections::BTreeSet<usize> =
        (0..n).filter(|i| waiting[*i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &k in &dependants[i] {
            waiting[k] -= 1;
            if waiting[k] == 0 {
                ready.insert(k);
            }
        }
    }
    order
}

/// The plan the batch request goes out with: the first call's, asking for
/// a token that covers every call's permissions (their union, in order of
/// first mention), since one token goes with all of them.
fn batch_plan(members: &[(usize, &Item)], first: &Plan) -> Plan {
    let mut scopes: Vec<String> = Vec::new();
    for (_, item) in members {
        for scope in item.plan.scopes().iter() {
            if !scopes.contains(scope) {
                scopes.push(scope.clone());
            }
        }
    }
    if scopes.as_slice() == first.scopes().as_ref() {
        return first.clone();
    }
    first.clone().with_scopes(scopes.into())
}

fn request_json(index: usize, item: &Item, deps: &[usize], chunk: &[usize]) -> Value {
    let mut request = Map::new();
    request.insert("id".into(), Value::String(index.to_string()));
    request.insert(
        "method".into(),
        Value::String(item.outgoing.method.to_string()),
    );
    request.insert("url".into(), Value::String(item.relative.clone()));
    let mut headers = Map::new();
    for (name, value) in &item.outgoing.headers {
        if name == CONTENT_LENGTH || name == ACCEPT {
            continue;
        }
        if let Ok(v) = value.to_str() {
            headers.insert(name.as_str().to_string(), Value::String(v.to_string()));
        }
    }
    if let Some(body) = &item.outgoing.body {
        let json_body = item
            .outgoing
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/json"));
        let value = if json_body {
            serde_json::from_slice(body).unwrap_or(Value::Null)
        } else {
            Value::String(base64::engine::general_purpose::STANDARD.encode(body))
        };
        request.insert("body".into(), value);
    }
    if !headers.is_empty() {
        request.insert("headers".into(), Value::Object(headers));
    }
    let inside: Vec<Value> = deps
        .iter()
        .filter(|d| chunk.contains(d))
        .map(|d| Value::String(d.to_string()))
        .collect();
    if !inside.is_empty() {
        request.insert("dependsOn".into(), Value::Array(inside));
    }
    Value::Object(request)
}

/// One response of a batch answer.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Option<Value>,
}

/// The answers of a batch response by call index: only ids of the chunk,
/// the first answer of each.
fn answers_of(value: &Value, chunk: &[usize]) -> Result<HashMap<usize, Answer>> {
    let malformed = |what: &str| {
        Error::new(
            ErrorKind::Decode,
            format!("the batch answer is not a JSON batch response: {what}"),
        )
    };
    let responses = value
        .get("responses")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("it has no `responses` array"))?;
    let mut out = HashMap::new();
    for response in responses {
        let Some(index) = response
            .get("id")
            .and_then(Value::as_str)
            .and_then(|id| id.parse::<usize>().ok())
            .filter(|i| chunk.contains(i))
        else {
            tracing::debug!("a batch answer names no call of the batch; ignored");
            continue;
        };
        if out.contains_key(&index) {
            continue;
        }
        let Some(status) = response
            .get("status")
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok())
            .filter(|s| (100..=599).contains(s))
        else {
            continue;
        };
        let mut headers = HeaderMap::new();
        if let Some(map) = response.get("headers").and_then(Value::as_object) {
            for (name, value) in map.iter().take(MAX_ITEM_HEADERS) {
                if let (Ok(name), Some(Ok(value))) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    value.as_str().map(HeaderValue::from_str),
                ) {
                    headers.append(name, value);
                }
            }
        }
        out.insert(
            index,
            Answer {
                status,
                headers,
                body: response.get("body").cloned(),
            },
        );
    }
    Ok(out)
}

/// A call the batch answer does not account for: unsafe to repeat means
/// its outcome is unknown.
fn unanswered(cause: &Error, item: &Item) -> Error {
    if item.outgoing.idempotent {
        copy_error(cause)
    } else {
        Error::new(
            ErrorKind::OutcomeUnknown,
            format!(
                "`{}` may or may not have taken effect: {cause}; it was not sent again because repeating it is unsafe",
                item.plan.method().id
            ),
        )
    }
}

/// The same error for another call of the batch (errors are not Clone).
fn copy_error(error: &Error) -> Error {
    let mut copy = Error::new(error.kind(), error.to_string());
    if let Some(remote) = error.remote() {
        copy = copy.with_remote(remote.clone());
    }
    copy
}
