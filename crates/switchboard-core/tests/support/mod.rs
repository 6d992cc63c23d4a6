//! Shared helpers for the engine's behaviour tests: a small connector whose
//! base URL is a wiremock server, an engine with deterministic retries, a
//! credential that records what it was asked, a catch-all mock that fails
//! the test on any unexpected request, and tracing capture.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{Value, json};
use switchboard_core::InstallationId;
use switchboard_core::connector::{DefinitionConnector, Endpoints, Registry};
use switchboard_core::credential::{AccessToken, Credential, TokenRequest};
use switchboard_core::definition::ConnectorDefinition;
use switchboard_core::engine::retry::{Jitter, RetryPolicy};
use switchboard_core::engine::{Engine, InstallationContext};
use switchboard_core::{Error, ErrorKind};
use url::Url;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

pub const CONNECTOR: &str = "testsvc";
pub const INSTALLATION: InstallationId = InstallationId::from_u128(1);

/// The test connector. Paths mirror Graph's shapes; permissions differ per
/// variant so tests can see which were used.
pub fn definition() -> ConnectorDefinition {
    serde_json::from_value(json!({
        "id": CONNECTOR, "name": "Test service", "version": "1.0.0",
        "description": "A Graph-shaped service for engine tests",
        "base_url": "https://graph.microsoft.com/v1.0",
        "allowed_hosts": ["graph.microsoft.com"],
        "default_headers": {"Accept": "application/json"},
        "auth_variants": [
            {"id": "delegated", "name": "Delegated", "kind": "oauth2_authorization_code",
             "principal": {"path": "/me"}},
            {"id": "application", "name": "Application", "kind": "oauth2_client_credentials",
             "principal": {"path": "/users/{user_id}", "parameters": [
                {"name": "user_id", "in": "path", "type": "string"}]}}
        ],
        "categories": [
            {"id": "users", "name": "Users"}, {"id": "mail", "name": "Mail"},
            {"id": "calendars", "name": "Calendars"}, {"id": "onedrive", "name": "OneDrive"}
        ],
        "methods": [
            {"id": "users.get_user", "category": "users", "name": "Get user", "description": "One user.",
             "http_method": "GET", "path": "/users/{id}",
             "parameters": [{"name": "id", "in": "path", "type": "string"}],
             "permissions": {"delegated": ["User.Read", "User.ReadBasic.All"], "application": ["User.Read.All"]}},
            {"id": "users.get_me", "category": "users", "name": "Get me", "description": "The signed-in user.",
             "http_method": "GET", "path": "/me", "pagination": "odata_next_link",
             "permissions": {"delegated": ["User.Read"]}},
            {"id": "users.list_users", "category": "users", "name": "List users", "description": "All users.",
             "http_method": "GET", "path": "/users",
             "headers": {"ConsistencyLevel": "eventual", "Prefer": "odata.maxpagesize=2"},
             "parameters": [{"name": "top", "in": "query", "type": "integer", "wire_name": "$top"}],
             "pagination": "odata_next_link", "records": "/value",
             "permissions": {"delegated": ["User.ReadBasic.All"], "application": ["User.Read.All"]}},
            {"id": "users.delta_users", "category": "users", "name": "Track user changes", "description": "Delta.",
             "http_method": "GET", "path": "/users/delta",
             "headers": {"Prefer": "return=minimal"},
             "pagination": "odata_delta", "records": "/value",
             "permissions": {"delegated": ["User.Read.All"], "application": ["User.Read.All"]}},
            {"id": "mail.send_mail", "category": "mail", "name": "Send mail", "description": "Send.",
             "http_method": "POST", "path": "/{principal}/sendMail",
             "parameters": [{"name": "message", "in": "body", "type": "object", "required": true}],
             "permissions": {"delegated": ["Mail.Send"], "application": ["Mail.Send"]}},
            {"id": "calendars.create_event", "category": "calendars", "name": "Create event", "description": "Create.",
             "http_method": "POST", "path": "/{principal}/events", "idempotent": true,
             "parameters": [{"name": "subject", "in": "body", "type": "string", "required": true},
                            {"name": "transaction_id", "in": "body", "type": "string", "wire_name": "transactionId"}],
             "permissions": {"delegated": ["Calendars.ReadWrite"], "application": ["Calendars.ReadWrite"]}},
            {"id": "calendars.create_calendar_event", "category": "calendars", "name": "Create event in a calendar",
             "description": "Create; safe to repeat when a transaction id is given.",
             "http_method": "POST", "path": "/{principal}/calendar/events", "idempotency_key": "transaction_id",
             "parameters": [{"name": "subject", "in": "body", "type": "string", "required": true},
                            {"name": "transaction_id", "in": "body", "type": "string", "wire_name": "transactionId"}],
             "permissions": {"delegated": ["Calendars.ReadWrite"], "application": ["Calendars.ReadWrite"]}},
            {"id": "users.update_user", "category": "users", "name": "Update user", "description": "Update.",
             "http_method": "PATCH", "path": "/users/{id}",
             "parameters": [{"name": "id", "in": "path", "type": "string"},
                            {"name": "job_title", "in": "body", "type": "string", "wire_name": "jobTitle"}],
             "permissions": {"delegated": ["User.ReadWrite.All"], "application": ["User.ReadWrite.All"]}},
            {"id": "users.delete_user", "category": "users", "name": "Delete user", "description": "Delete.",
             "http_method": "DELETE", "path": "/users/{id}",
             "parameters": [{"name": "id", "in": "path", "type": "string"}],
             "permissions": {"delegated": ["User.ReadWrite.All"], "application": ["User.ReadWrite.All"]}},
            {"id": "onedrive.download_file", "category": "onedrive", "name": "Download file", "description": "Content.",
             "http_method": "GET", "path": "/{principal}/drive/items/{item_id}/content",
             "parameters": [{"name": "item_id", "in": "path", "type": "string"}],
             "response": "bytes", "follow_cross_origin_redirects": true,
             "permissions": {"delegated": ["Files.Read"], "application": ["Files.Read.All"]}},
            {"id": "onedrive.get_item", "category": "onedrive", "name": "Get item", "description": "Metadata.",
             "http_method": "GET", "path": "/{principal}/drive/items/{item_id}",
             "parameters": [{"name": "item_id", "in": "path", "type": "string"}],
             "permissions": {"delegated": ["Files.Read"], "application": ["Files.Read.All"]}},
            {"id": "onedrive.upload_small", "category": "onedrive", "name": "Upload", "description": "Upload.",
             "http_method": "PUT", "path": "/{principal}/drive/items/{item_id}/content",
             "parameters": [{"name": "item_id", "in": "path", "type": "string"},
                            {"name": "content", "in": "payload", "type": "binary"}],
             "permissions": {"delegated": ["Files.ReadWrite"], "application": ["Files.ReadWrite.All"]}}
        ]
    }))
    .expect("test definition")
}

pub fn registry() -> Registry {
    let mut registry = Registry::new();
    registry
        .register(Arc::new(DefinitionConnector::new(definition())))
        .expect("register");
    registry
}

/// Deterministic retries (no jitter) with the documented defaults otherwise.
pub fn policy() -> RetryPolicy {
    RetryPolicy {
        jitter: Jitter::None,
        ..RetryPolicy::default()
    }
}

/// An engine for tests under paused time: no client timers and no attempt
/// deadline (a pending timer would make tokio's paused clock jump while
/// real I/O is in flight).
pub fn engine() -> Engine {
    engine_with(policy())
}

pub fn engine_with(policy: RetryPolicy) -> Engine {
    engine_of(registry(), policy)
}

/// An engine for one connector defined by `definition`, with deterministic
/// retries and no client timers (see [`engine`]).
pub fn engine_for(definition: ConnectorDefinition) -> Engine {
    let mut registry = Registry::new();
    registry
        .register(Arc::new(DefinitionConnector::new(definition)))
        .expect("register");
    engine_of(registry, policy())
}

/// An engine for these connectors, with deterministic retries and no
/// client timers (see [`engine`]).
pub fn engine_of_registry(registry: Registry) -> Engine {
    engine_of(registry, policy())
}

fn engine_of(registry: Registry, policy: RetryPolicy) -> Engine {
    Engine::builder(registry)
        .retry_policy(policy)
        .connect_timeout(None)
        .read_timeout(None)
        .pool_idle_timeout(None)
        .attempt_deadline(None)
        .build()
        .expect("engine")
}

/// Base URL of the test installation on a mock server.
pub fn base(server: &MockServer) -> Url {
    Url::parse(&format!("{}/v1.0", server.uri())).expect("url")
}

pub fn endpoints(server: &MockServer) -> Endpoints {
    Endpoints {
        base_url: base(server),
        allowed_hosts: vec!["127.0.0.1".into()],
    }
}

pub fn ctx(server: &MockServer, credential: Arc<dyn Credential>) -> InstallationContext {
    InstallationContext::new(
        INSTALLATION,
        CONNECTOR,
        "delegated",
        endpoints(server),
        credential,
    )
}

pub fn app_ctx(server: &MockServer, credential: Arc<dyn Credential>) -> InstallationContext {
    InstallationContext::new(
        INSTALLATION,
        CONNECTOR,
        "application",
        endpoints(server),
        credential,
    )
}

/// A mock that answers 599 to anything no other mock matched, and must
/// never be hit.
pub async fn catch_all(server: &MockServer) {
    Mock::given(any())
        .respond_with(ResponseTemplate::new(599).set_body_string("unexpected request"))
        .with_priority(u8::MAX)
        .named("catch-all: no request other than the expected ones")
        .expect(0)
        .mount(server)
        .await;
}

/// A fresh mock server with the catch-all mounted.
pub async fn server() -> MockServer {
    let server = MockServer::builder().start().await;
    catch_all(&server).await;
    server
}

/// A credential that hands out `tok-1`, and after each refusal `tok-2`,
/// `tok-3`..., recording every request it was given.
#[derive(Debug, Default)]
pub struct RecordingCredential {
    generation: Mutex<u32>,
    requests: Mutex<Vec<TokenRequest>>,
    refuse_refresh: bool,
    prefix: String,
}

impl RecordingCredential {
    pub fn new() -> Arc<Self> {
        Arc::new(RecordingCredential {
            prefix: "tok".into(),
            ..Default::default()
        })
    }

    pub fn with_prefix(prefix: &str) -> Arc<Self> {
        Arc::new(RecordingCredential {
            prefix: prefix.into(),
            ..Default::default()
        })
    }

    /// A credential that cannot refresh: a refused token is final.
    pub fn refusing_refresh() -> Arc<Self> {
        Arc::new(RecordingCredential {
            refuse_refresh: true,
            prefix: "tok".into(),
            ..Default::default()
        })
    }

    pub fn requests(&self) -> Vec<TokenRequest> {
        self.requests.lock().unwrap().clone()
    }

    pub fn calls(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

#[async_trait]
impl Credential for RecordingCredential {
    async fn token(&self, request: &TokenRequest) -> switchboard_core::Result<AccessToken> {
        self.requests.lock().unwrap().push(request.clone());
        let mut generation = self.generation.lock().unwrap();
        if *generation == 0 {
            *generation = 1;
        }
        if request.rejected.is_some() {
            if self.refuse_refresh {
                return Err(Error::new(
                    ErrorKind::NeedsReauth,
                    "the grant was revoked; re-authenticate the installation",
                ));
            }
            *generation += 1;
        }
        Ok(AccessToken::new(
            format!("{}-{}", self.prefix, *generation),
            None,
        ))
    }
}

/// A credential that always fails (the engine must then send nothing).
#[derive(Debug)]
pub struct FailingCredential;

#[async_trait]
impl Credential for FailingCredential {
    async fn token(&self, _request: &TokenRequest) -> switchboard_core::Result<AccessToken> {
        Err(Error::new(
            ErrorKind::NeedsReauth,
            "the installation's consent was withdrawn; re-authenticate it",
        ))
    }
}

/// A JSON response.
pub fn json(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

/// A Graph error body.
pub fn graph_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    json(
        status,
        json!({"error": {"code": code, "message": message,
            "innerError": {"date": "2026-05-01T10:00:00", "request-id": "req-123", "client-request-id": "cli-456"}}}),
    )
}

/// Matches requests that do NOT carry a header.
pub struct NoHeader(pub &'static str);

impl wiremock::Match for NoHeader {
    fn matches(&self, request: &Request) -> bool {
        !request.headers.contains_key(self.0)
    }
}

/// Matches requests with an empty body.
pub struct EmptyBody;

impl wiremock::Match for EmptyBody {
    fn matches(&self, request: &Request) -> bool {
        request.body.is_empty()
    }
}

/// Matches a query parameter's exact absence.
pub struct NoQuery(pub &'static str);

impl wiremock::Match for NoQuery {
    fn matches(&self, request: &Request) -> bool {
        !request.url.query_pairs().any(|(k, _)| k == self.0)
    }
}

/// Captured tracing output, every level, every target.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

pub struct CapturedWriter(Arc<Mutex<Vec<u8>>>);

impl Write for CapturedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = CapturedWriter;
    fn make_writer(&'a self) -> Self::Writer {
        CapturedWriter(self.0.clone())
    }
}

/// Install a subscriber capturing everything (TRACE, all targets, span
/// open/close with their fields) for the current thread.
pub fn capture_tracing() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    (captured, guard)
}

/// A queue of responses served in order by one mock (for sequences).
pub struct Sequence(pub Mutex<VecDeque<ResponseTemplate>>);

impl wiremock::Respond for Sequence {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        self.0
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| ResponseTemplate::new(598).set_body_string("sequence exhausted"))
    }
}

pub fn sequence(responses: Vec<ResponseTemplate>) -> Sequence {
    Sequence(Mutex::new(responses.into()))
}
