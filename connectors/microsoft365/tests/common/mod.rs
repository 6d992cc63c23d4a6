//! Shared by the integration tests.
//!
//! * [`connector`]: the shipped definitions, parsed with serde straight into
//!   the core types (no loader needed);
//! * the engine harness: an [`Engine`] with the real [`Microsoft365`]
//!   connector, installation contexts for both variants pointed at a
//!   wiremock server, request matchers that pin a request down exactly, and
//!   the Microsoft docs response fixtures (`fixtures/responses`, sources in
//!   `fixtures/responses/SOURCES.md`).
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use switchboard_core::Arguments;
use switchboard_core::InstallationId;
use switchboard_core::connector::{Connector, Endpoints, Registry};
use switchboard_core::credential::{AccessToken, Credential, StaticCredential};
use switchboard_core::definition::{ConnectorDefinition, MethodFile};
use switchboard_core::engine::response::Response;
use switchboard_core::engine::retry::{Jitter, RetryPolicy};
use switchboard_core::engine::{Engine, InstallationContext};
use switchboard_core::paging::Continuation;
use switchboard_microsoft365::Microsoft365;
use url::Url;
use wiremock::matchers::{any, method, path};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

const INST_1: InstallationId = InstallationId::from_u128(1);

/// connector.json with the methods of every category file appended.
pub fn connector() -> ConnectorDefinition {
    let mut def: ConnectorDefinition =
        serde_json::from_str(include_str!("../../definitions/connector.json")).unwrap();
    for text in [
        include_str!("../../definitions/users.json"),
        include_str!("../../definitions/calendars.json"),
        include_str!("../../definitions/mail.json"),
        include_str!("../../definitions/onedrive.json"),
    ] {
        let file: MethodFile = serde_json::from_str(text).unwrap();
        def.methods.extend(file.methods);
    }
    def
}

/// The bearer token the static credential hands out.
pub const TOKEN: &str = "graph-access-token";
/// An application-variant user by object id.
pub const USER_ID: &str = "87d349ed-44d7-43e1-9a83-5f2406dee5bd";
/// A guest's user principal name (`#EXT#` must travel as `%23EXT%23`).
pub const GUEST_UPN: &str = "adele_fabrikam.com#EXT#@contoso.onmicrosoft.com";
pub const GUEST_UPN_IN_PATH: &str = "adele_fabrikam.com%23EXT%23@contoso.onmicrosoft.com";

/// Who a call acts as: the signed-in user (delegated, `/me`) or a user the
/// application names (`/users/{user_id}`).
#[derive(Debug, Clone, Copy)]
pub enum Who {
    Me,
    User(&'static str),
}

/// Both variants, the application one on a guest.
pub const BOTH: [Who; 2] = [Who::Me, Who::User(GUEST_UPN)];
/// Both variants, the application one on an object id.
pub const BOTH_BY_ID: [Who; 2] = [Who::Me, Who::User(USER_ID)];

impl Who {
    pub fn variant(self) -> &'static str {
        match self {
            Who::Me => "delegated",
            Who::User(_) => "application",
        }
    }

    /// The principal as it reaches the server's path.
    pub fn principal_path(self) -> String {
        match self {
            Who::Me => "/me".into(),
            Who::User(u) => format!("/users/{}", u.replace('#', "%23")),
        }
    }
}

/// Deterministic, quick retries.
pub fn policy() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        initial_backoff: Duration::from_millis(10),
        jitter: Jitter::None,
        ..RetryPolicy::default()
    }
}

pub fn registry() -> Registry {
    let mut registry = Registry::new();
    switchboard_microsoft365::register(&mut registry).unwrap();
    registry
}

pub fn engine() -> Engine {
    engine_with(policy(), None)
}

pub fn engine_with(policy: RetryPolicy, read_timeout: Option<Duration>) -> Engine {
    Engine::builder(registry())
        .retry_policy(policy)
        .read_timeout(read_timeout)
        .build()
        .unwrap()
}

/// Graph on the mock server: base URL `{server}/v1.0`, loopback allowed.
pub fn endpoints(server: &MockServer) -> Endpoints {
    Endpoints {
        base_url: Url::parse(&format!("{}/v1.0", server.uri())).unwrap(),
        allowed_hosts: vec!["127.0.0.1".into()],
    }
}

pub fn static_credential() -> Arc<dyn Credential> {
    Arc::new(StaticCredential::new(AccessToken::new(TOKEN, None)))
}

pub fn ctx(server: &MockServer, who: Who) -> InstallationContext {
    ctx_with(server, who, static_credential())
}

pub fn ctx_with(
    server: &MockServer,
    who: Who,
    credential: Arc<dyn Credential>,
) -> InstallationContext {
    InstallationContext::new(
        INST_1,
        "microsoft365",
        who.variant(),
        endpoints(server),
        credential,
    )
}

/// A mock server whose catch-all fails the test on any request no other
/// mock expected.
pub async fn server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(599).set_body_string("unexpected request"))
        .with_priority(u8::MAX)
        .named("catch-all: no request other than the expected ones")
        .expect(0)
        .mount(&server)
        .await;
    server
}

/// A Microsoft docs response body from `tests/fixtures/responses`.
pub fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/responses/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// The query exactly: these pairs (decoded), in any order, and no others.
pub struct ExactQuery(pub Vec<(String, String)>);

impl Match for ExactQuery {
    fn matches(&self, request: &Request) -> bool {
        let mut got: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
        let mut want = self.0.clone();
        got.sort();
        want.sort();
        got == want
    }
}

/// These headers with exactly these values (all values of the name, joined
/// by `, `), and none of the optional Graph headers that are not listed.
pub struct ExactHeaders(pub Vec<(String, String)>);

/// Headers a method sends only when asked to; absent unless expected.
const OPTIONAL_HEADERS: &[&str] = &["prefer", "consistencylevel", "if-match", "content-type"];

impl Match for ExactHeaders {
    fn matches(&self, request: &Request) -> bool {
        for (name, value) in &self.0 {
            let got: Vec<&str> = request
                .headers
                .get_all(name.as_str())
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            if got.join(", ") != *value {
                return false;
            }
        }
        OPTIONAL_HEADERS.iter().all(|h| {
            self.0.iter().any(|(n, _)| n.eq_ignore_ascii_case(h))
                || !request.headers.contains_key(*h)
        })
    }
}

/// The body is exactly this JSON, or empty.
pub struct ExactBody(pub Option<Value>);

impl Match for ExactBody {
    fn matches(&self, request: &Request) -> bool {
        match &self.0 {
            None => request.body.is_empty(),
            Some(want) => {
                serde_json::from_slice::<Value>(&request.body).is_ok_and(|got| got == *want)
            }
        }
    }
}

/// The raw body is exactly these bytes.
pub struct RawBody(pub Vec<u8>);

impl Match for RawBody {
    fn matches(&self, request: &Request) -> bool {
        request.body == self.0
    }
}

/// One method call and the exact request it must produce.
#[derive(Debug, Clone)]
pub struct Case {
    pub method_id: &'static str,
    pub http: &'static str,
    /// The path after `/v1.0`, with `{principal}` for the variant's principal.
    pub path: &'static str,
    pub args: Value,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
    pub raw: Option<(Vec<u8>, &'static str)>,
}

impl Case {
    pub fn new(method_id: &'static str, http: &'static str, path: &'static str) -> Self {
        Case {
            method_id,
            http,
            path,
            args: json!({}),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            raw: None,
        }
    }

    pub fn get(method_id: &'static str, path: &'static str) -> Self {
        Self::new(method_id, "GET", path)
    }

    pub fn post(method_id: &'static str, path: &'static str) -> Self {
        Self::new(method_id, "POST", path)
    }

    /// The caller's arguments (a JSON object).
    pub fn args(mut self, args: Value) -> Self {
        self.args = args;
        self
    }

    /// The exact query that must reach the server (decoded pairs).
    pub fn query(mut self, pairs: &[(&str, &str)]) -> Self {
        self.query = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self
    }

    /// A header that must reach the server with exactly this value.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// The exact JSON body that must reach the server.
    pub fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    /// Binary content passed to the method and expected on the wire.
    pub fn content(mut self, bytes: Vec<u8>, content_type: &'static str) -> Self {
        self.raw = Some((bytes, content_type));
        self
    }

    pub fn full_path(&self, who: Who) -> String {
        format!(
            "/v1.0{}",
            self.path.replace("{principal}", &who.principal_path())
        )
    }

    pub fn arguments(&self, who: Who) -> Arguments {
        let mut map = self.args.as_object().cloned().unwrap_or_default();
        if let Who::User(user) = who
            && self.path.contains("{principal}")
        {
            map.insert("user_id".into(), Value::from(user));
        }
        let args = Arguments::from_map(map);
        match &self.raw {
            Some((bytes, _)) => args.with_content(bytes.clone()),
            None => args,
        }
    }

    /// A mock that matches exactly this case's request.
    pub fn mock(&self, who: Who, query: &[(String, String)]) -> wiremock::MockBuilder {
        let mut headers = self.headers.clone();
        headers.push(("authorization".into(), format!("Bearer {TOKEN}")));
        headers.push(("accept".into(), "application/json".into()));
        let builder = Mock::given(method(self.http))
            .and(path(self.full_path(who)))
            .and(ExactQuery(query.to_vec()));
        match (&self.body, &self.raw) {
            (Some(body), _) => {
                headers.push(("content-type".into(), "application/json".into()));
                builder
                    .and(ExactHeaders(headers))
                    .and(ExactBody(Some(body.clone())))
            }
            (None, Some((bytes, content_type))) => {
                headers.push(("content-type".into(), content_type.to_string()));
                builder
                    .and(ExactHeaders(headers))
                    .and(RawBody(bytes.clone()))
            }
            (None, None) => builder.and(ExactHeaders(headers)).and(ExactBody(None)),
        }
    }
}

/// Send `case` once through the engine against a fresh server that answers
/// with `respond`; the request must match exactly, once.
pub async fn call(who: Who, case: &Case, respond: ResponseTemplate) -> Response {
    let server = server().await;
    case.mock(who, &case.query)
        .respond_with(respond)
        .named(format!("{} ({})", case.method_id, who.variant()))
        .expect(1)
        .mount(&server)
        .await;
    let response = engine()
        .call(&ctx(&server, who), case.method_id, case.arguments(who))
        .await
        .unwrap_or_else(|e| panic!("{} ({}): {e}", case.method_id, who.variant()));
    server.verify().await;
    response
}

/// JSON answer.
pub fn json_response(status: u16, body: &Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

/// How a paged listing ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The second page has no link: the listing is complete.
    Complete,
    /// The second page carries `@odata.deltaLink`: the next sync round.
    DeltaLink,
}

/// What a paged call returned.
pub struct Listing {
    pub records: Vec<Value>,
    pub continuation: Option<Continuation>,
    /// The delta link the last page carried, on the mock server.
    pub delta_link: String,
}

/// Stream a paged method over two pages: the first answered with `page1`
/// (its `@odata.nextLink` rewritten to the mock server, the same path with
/// a `$skiptoken`), the second with `page2` (links removed, and a
/// `@odata.deltaLink` on the mock server when `ending` says so). Both
/// requests must match exactly, once each, with the method's headers.
pub async fn paged(who: Who, case: &Case, page1: Value, page2: Value, ending: Ending) -> Listing {
    let server = server().await;
    let full = case.full_path(who);
    let next_link = format!("{}{full}?$skiptoken=page-2-token", server.uri());
    let delta_link = format!("{}{full}?$deltatoken=round-2-token", server.uri());
    let mut first = page1;
    strip_links(&mut first);
    first["@odata.nextLink"] = Value::from(next_link);
    let mut second = page2;
    strip_links(&mut second);
    if ending == Ending::DeltaLink {
        second["@odata.deltaLink"] = Value::from(delta_link.clone());
    }
    case.mock(who, &case.query)
        .respond_with(json_response(200, &first))
        .named(format!("{} page 1 ({})", case.method_id, who.variant()))
        .expect(1)
        .mount(&server)
        .await;
    let page2_query = vec![("$skiptoken".to_string(), "page-2-token".to_string())];
    let mut page2_case = case.clone();
    page2_case.body = None;
    page2_case
        .mock(who, &page2_query)
        .respond_with(json_response(200, &second))
        .named(format!("{} page 2 ({})", case.method_id, who.variant()))
        .expect(1)
        .mount(&server)
        .await;
    let mut stream = engine().stream(&ctx(&server, who), case.method_id, case.arguments(who));
    let mut records = Vec::new();
    while let Some(record) = stream.next().await {
        records
            .push(record.unwrap_or_else(|e| panic!("{} ({}): {e}", case.method_id, who.variant())));
    }
    let continuation = stream.continuation();
    server.verify().await;
    let mut expected: Vec<Value> = Vec::new();
    for page in [&first, &second] {
        expected.extend(page["value"].as_array().cloned().unwrap_or_default());
    }
    assert_eq!(
        records,
        expected,
        "{} ({}): records of both pages",
        case.method_id,
        who.variant()
    );
    Listing {
        records,
        continuation,
        delta_link,
    }
}

fn strip_links(page: &mut Value) {
    if let Some(map) = page.as_object_mut() {
        map.remove("@odata.nextLink");
        map.remove("@odata.deltaLink");
    }
}

/// Whether the connector offers `method_id` in `who`'s variant.
pub fn supports(method_id: &str, who: Who) -> bool {
    let m365 = Microsoft365::new().unwrap();
    let def = m365.definition();
    def.method(method_id)
        .unwrap()
        .supports(who.variant(), &def.auth_variants)
}
