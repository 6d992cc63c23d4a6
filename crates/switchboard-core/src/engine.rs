//! The engine: executes a connector's methods for an installation.
//!
//! Build one [`Engine`] per process ([`Engine::builder`]); it owns the one
//! shared HTTP client (rustls, gzip, connect and read timeouts, automatic
//! redirects **off**) and the connector [`Registry`].
//!
//! Every attempt has a deadline for its headers and, when the body is
//! held in memory, its body ([`EngineBuilder::attempt_deadline`], default
//! 100 s); a buffered body is capped after decompression
//! ([`EngineBuilder::max_response_bytes`], default 64 MiB, or the method's
//! own `max_response_bytes`). Streamed bodies ([`Engine::call_stream`])
//! have the deadline for their headers and the read timeout between
//! chunks, and no cap: see [`crate::wire`]. An
//! [`InstallationContext`] says for whom a call is made: installation,
//! connector, variant, endpoints and credential.
//!
//! Every request, next pages and retries included, goes through one pipeline:
//!
//! validate arguments → render URL → host allow-list → token → send
//! (redirects handled here) → classify → retry / refresh → decode → select
//! records → next page.
//!
//! * [`Engine::call`]: one response, JSON or bytes, decoded in memory.
//! * [`Engine::call_stream`]: one response whose body is streamed (downloads).
//! * [`Engine::stream`]: the records of a paged method as a
//!   [`RecordStream`]; [`Engine::resume`] continues from a [`Continuation`].
//!
//! A token is fetched from the installation's [`Credential`] before every
//! attempt, with the method's permissions for the variant as scopes. After a
//! 401 the credential is asked once more with the refused token (and a
//! claims challenge, if the 401 carried one); a second 401 is an
//! [`ErrorKind::Unauthorized`] error.
//!
//! ```
//! use std::sync::Arc;
//! use switchboard_core::connector::{DefinitionConnector, Endpoints, Registry};
//! use switchboard_core::credential::{AccessToken, StaticCredential};
//! use switchboard_core::definition::ConnectorDefinition;
//! use switchboard_core::engine::{Engine, InstallationContext};
//!
//! let def: ConnectorDefinition = serde_json::from_str(r#"{
//!   "id": "example", "name": "Example", "version": "1.0.0", "description": "Example",
//!   "base_url": "https://api.example.com", "allowed_hosts": ["api.example.com"],
//!   "auth_variants": [{"id": "token", "name": "Token", "kind": "bearer_token"}],
//!   "categories": [{"id": "things", "name": "Things"}]
//! }"#).unwrap();
//! let mut registry = Registry::new();
//! registry.register(Arc::new(DefinitionConnector::new(def))).unwrap();
//! let engine = Engine::builder(registry).build().unwrap();
//! let ctx = engine
//!     .installation(
//!         "inst-1",
//!         "example",
//!         "token",
//!         Default::default(),
//!         Arc::new(StaticCredential::new(AccessToken::new("t", None))),
//!     )
//!     .unwrap();
//! assert_eq!(ctx.endpoints().base_url.as_str(), "https://api.example.com/");
//! ```

mod prepared;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RETRY_AFTER, WWW_AUTHENTICATE,
};
use http::{HeaderMap, HeaderValue, Method};
use serde_json::Value;
use tracing::Instrument;
use url::Url;

use crate::arguments::Arguments;
use crate::challenge::insufficient_claims;
use crate::classify::{Failed, Verdict, parse_remote_details, response_error};
use crate::connector::{Connector, Endpoints, Registry, Settings};
use crate::credential::{AccessToken, Credential, TokenRequest};
use crate::definition::{
    AuthVariant, ConnectorDefinition, MethodDefinition, Pagination, ResponseKind,
};
use crate::error::{Error, ErrorKind, Result};
use crate::hosts::HostPolicy;
use crate::paging::{
    Continuation, ContinuationKind, DEFAULT_MAX_PAGES, PageStream, RecordStream, Walk,
};
use crate::redirect::{
    MAX_REDIRECTS, is_redirect, next_method, plan_hop, resolve_location, strip_credentials,
};
use crate::render::{RenderContext, RequestBody, render_with};
use crate::response::{ByteStream, Response, ResponseBody, select_headers};
use crate::retry::{
    Decision, RetryAfterHeader, RetryPolicy, Stop, Trouble, decide, parse_retry_after,
};
use crate::retry_wait::{RetryObserver, RetryWait};
use crate::wire::{
    DEFAULT_ATTEMPT_DEADLINE, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TOKEN_DEADLINE, Failure,
    WireError, host_label, read_capped, read_prefix, within,
};

use prepared::{PreparedConnector, PreparedMethod, prepare_registry};

/// The most of an error body read to find the service's error details.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Settings for an [`Engine`].
///
/// ```
/// use std::time::Duration;
/// use switchboard_core::connector::Registry;
/// use switchboard_core::engine::Engine;
/// use switchboard_core::retry::RetryPolicy;
///
/// let engine = Engine::builder(Registry::new())
///     .retry_policy(RetryPolicy { max_retries: 2, ..RetryPolicy::default() })
///     .connect_timeout(Some(Duration::from_secs(5)))
///     .attempt_deadline(Some(Duration::from_secs(30)))
///     .max_response_bytes(8 * 1024 * 1024)
///     .max_pages(500)
///     .build()
///     .unwrap();
/// assert_eq!(engine.retry_policy().max_retries, 2);
/// assert_eq!(engine.attempt_deadline(), Some(Duration::from_secs(30)));
/// ```
#[derive(Debug, Clone)]
pub struct EngineBuilder {
    registry: Registry,
    retry: RetryPolicy,
    connect_timeout: Option<Duration>,
    read_timeout: Option<Duration>,
    pool_idle_timeout: Option<Duration>,
    attempt_deadline: Option<Duration>,
    token_deadline: Option<Duration>,
    max_response_bytes: u64,
    user_agent: String,
    max_pages: usize,
    on_retry_wait: Option<RetryObserver>,
}

impl EngineBuilder {
    /// Call `observer` just before each wait for a retry (after a 429, a
    /// 503, a lost connection...), for example to tell a person what the
    /// program waits for. See [`crate::retry_wait`].
    pub fn on_retry_wait(mut self, observer: impl Fn(&RetryWait) + Send + Sync + 'static) -> Self {
        self.on_retry_wait = Some(RetryObserver::new(observer));
        self
    }

    /// The retry policy (default: [`RetryPolicy::default`]).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Time allowed to open a connection (default 10 s; `None`: no limit).
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time allowed between two reads of a response (default 60 s; `None`:
    /// no limit). A timeout counts as an ambiguous failure: idempotent
    /// requests are retried, others fail with `OutcomeUnknown`. For a
    /// streamed download this is the idle timeout between chunks.
    pub fn read_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// The deadline of one attempt: connecting, sending, the response's
    /// headers and, for a response held in memory, its whole body (default
    /// [`DEFAULT_ATTEMPT_DEADLINE`], 100 s; `None`: none). Unlike the read
    /// timeout it cannot be stretched by a server that trickles a byte now
    /// and then. Passing it before the headers is a timeout (retried for
    /// idempotent requests, `OutcomeUnknown` for others); passing it while
    /// the body is read fails the call with [`ErrorKind::Transport`],
    /// naming the host. A retry starts a new deadline.
    pub fn attempt_deadline(mut self, deadline: Option<Duration>) -> Self {
        self.attempt_deadline = deadline;
        self
    }

    /// The deadline of one token request, headers and body, for the OAuth
    /// adapter [`Engine::oauth_http`] hands out (default
    /// [`DEFAULT_TOKEN_DEADLINE`], 30 s; `None`: none).
    pub fn token_deadline(mut self, deadline: Option<Duration>) -> Self {
        self.token_deadline = deadline;
        self
    }

    /// The most bytes (after decompression) of a response held in memory:
    /// JSON bodies and `bytes` responses of [`Engine::call`] (default
    /// [`DEFAULT_MAX_RESPONSE_BYTES`], 64 MiB). A method's own
    /// `max_response_bytes` replaces it for that method. Streamed
    /// downloads ([`Engine::call_stream`]) are not held and not capped.
    pub fn max_response_bytes(mut self, bytes: u64) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// How long an idle pooled connection is kept (default 90 s; `None`: for ever).
    pub fn pool_idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.pool_idle_timeout = timeout;
        self
    }

    /// The `User-Agent` sent with every request.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// The default cap on pages per stream (default [`DEFAULT_MAX_PAGES`]).
    pub fn max_pages(mut self, max_pages: usize) -> Self {
        self.max_pages = max_pages;
        self
    }

    /// Build the engine and its HTTP client.
    pub fn build(self) -> Result<Engine> {
        let mut client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .gzip(true)
            .user_agent(self.user_agent)
            .pool_idle_timeout(self.pool_idle_timeout)
            .referer(false);
        if let Some(t) = self.connect_timeout {
            client = client.connect_timeout(t);
        }
        if let Some(t) = self.read_timeout {
            client = client.read_timeout(t);
        }
        let client = client.build().map_err(|e| {
            Error::new(
                ErrorKind::Configuration,
                "the HTTP client could not be built (TLS roots or settings)",
            )
            .with_source(e.without_url())
        })?;
        Ok(Engine {
            inner: Arc::new(EngineInner {
                client,
                prepared: prepare_registry(&self.registry),
                registry: self.registry,
                retry: self.retry,
                attempt_deadline: self.attempt_deadline,
                token_deadline: self.token_deadline,
                max_response_bytes: self.max_response_bytes.max(1),
                max_pages: self.max_pages.max(1),
                on_retry_wait: self.on_retry_wait,
            }),
        })
    }
}

/// Executes connector methods for installations. Cheap to clone (shared).
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

struct EngineInner {
    client: reqwest::Client,
    registry: Registry,
    /// The registry's connectors with per-method work done once.
    prepared: BTreeMap<String, Arc<PreparedConnector>>,
    retry: RetryPolicy,
    attempt_deadline: Option<Duration>,
    token_deadline: Option<Duration>,
    max_response_bytes: u64,
    max_pages: usize,
    on_retry_wait: Option<RetryObserver>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field(
                "connectors",
                &self
                    .inner
                    .registry
                    .iter()
                    .map(|c| c.id().to_string())
                    .collect::<Vec<_>>(),
            )
            .field("retry", &self.inner.retry)
            .field("attempt_deadline", &self.inner.attempt_deadline)
            .field("max_response_bytes", &self.inner.max_response_bytes)
            .field("max_pages", &self.inner.max_pages)
            .finish()
    }
}

/// For whom a call is made: one installation of one connector variant.
///
/// Cheap to clone. Debug shows ids, endpoints and setting *names* only; the
/// credential's own Debug must redact (the [`Credential`] types here do).
#[derive(Clone)]
pub struct InstallationContext {
    inner: Arc<ContextInner>,
}

#[derive(Clone)]
struct ContextInner {
    installation_id: Arc<str>,
    connector_id: String,
    variant_id: String,
    endpoints: Endpoints,
    hosts: HostPolicy,
    credential: Arc<dyn Credential>,
    settings: Settings,
}

impl InstallationContext {
    /// A context from its parts. Prefer [`Engine::installation`], which
    /// checks the connector and variant and asks the connector for the
    /// endpoints.
    pub fn new(
        installation_id: impl Into<String>,
        connector_id: impl Into<String>,
        variant_id: impl Into<String>,
        endpoints: Endpoints,
        credential: Arc<dyn Credential>,
    ) -> Self {
        let hosts = HostPolicy::new(&endpoints);
        InstallationContext {
            inner: Arc::new(ContextInner {
                installation_id: Arc::from(installation_id.into()),
                connector_id: connector_id.into(),
                variant_id: variant_id.into(),
                endpoints,
                hosts,
                credential,
                settings: Settings::new(),
            }),
        }
    }

    /// The same context with these settings (install parameters).
    pub fn with_settings(mut self, settings: Settings) -> Self {
        Arc::make_mut(&mut self.inner).settings = settings;
        self
    }

    /// The installation id.
    pub fn installation_id(&self) -> &str {
        &self.inner.installation_id
    }

    /// The connector id.
    pub fn connector_id(&self) -> &str {
        &self.inner.connector_id
    }

    /// The auth variant id.
    pub fn variant_id(&self) -> &str {
        &self.inner.variant_id
    }

    /// Base URL and allowed hosts.
    pub fn endpoints(&self) -> &Endpoints {
        &self.inner.endpoints
    }

    /// The host allow-list built from the endpoints.
    pub fn hosts(&self) -> &HostPolicy {
        &self.inner.hosts
    }

    /// The installation's settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The credential.
    pub fn credential(&self) -> &Arc<dyn Credential> {
        &self.inner.credential
    }
}

impl fmt::Debug for InstallationContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstallationContext")
            .field("installation_id", &self.inner.installation_id)
            .field("connector_id", &self.inner.connector_id)
            .field("variant_id", &self.inner.variant_id)
            .field(
                "base_url",
                &self.inner.endpoints.base_url.origin().ascii_serialization(),
            )
            .field("hosts", &self.inner.hosts)
            .field("credential", &self.inner.credential)
            .field("settings", &self.inner.settings.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A resolved method call: which connector, method and variant.
pub(crate) struct Plan {
    prepared: Arc<PreparedConnector>,
    method_index: usize,
    variant_index: usize,
}

impl Plan {
    fn connector(&self) -> &dyn Connector {
        self.prepared.connector.as_ref()
    }

    fn prepared_method(&self) -> &PreparedMethod {
        &self.prepared.methods[self.method_index]
    }

    pub(crate) fn definition(&self) -> &ConnectorDefinition {
        self.connector().definition()
    }

    pub(crate) fn method(&self) -> &MethodDefinition {
        &self.connector().definition().methods[self.method_index]
    }

    pub(crate) fn variant(&self) -> &AuthVariant {
        &self.connector().definition().auth_variants[self.variant_index]
    }

    /// The method's permissions for the variant: the scopes asked for.
    pub(crate) fn scopes(&self) -> &Arc<[String]> {
        &self.prepared_method().scopes[self.variant_index]
    }

    fn failed(&self) -> Failed<'_> {
        Failed {
            method_id: &self.method().id,
            variant_id: &self.variant().id,
            permissions: self.scopes().as_ref(),
        }
    }
}

/// A request ready for the pipeline (no credential yet).
#[derive(Clone)]
pub(crate) struct Outgoing {
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Option<Bytes>,
    /// Whether repeating the request is safe: the method is idempotent, or
    /// its idempotency key argument was given (`transactionId`).
    pub(crate) idempotent: bool,
}

/// The URL's path and query can be secret (`$skiptoken`): only the origin shows.
impl fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outgoing")
            .field("method", &self.method)
            .field("origin", &self.url.origin().ascii_serialization())
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body", &self.body.as_ref().map(Bytes::len))
            .finish()
    }
}

/// Where each send gets its headers (before the credential): the first
/// send may take a prepared map; every later one (a retry, a redirect hop)
/// gets a fresh map from `again`.
struct RequestHeaders<'a> {
    first: Option<HeaderMap>,
    again: &'a (dyn Fn() -> Result<HeaderMap> + Sync),
}

impl RequestHeaders<'_> {
    fn next(&mut self) -> Result<HeaderMap> {
        match self.first.take() {
            Some(headers) => Ok(headers),
            None => (self.again)(),
        }
    }
}

/// A response whose headers arrived within its attempt's deadline; its
/// body is read under the same deadline.
pub(crate) struct Received {
    pub(crate) response: reqwest::Response,
    /// The attempt's deadline and its length (for messages).
    deadline: Option<(tokio::time::Instant, Duration)>,
}

/// A transport failure and the host it happened with.
struct Lost {
    error: WireError,
    host: String,
}

/// How one attempt ended.
enum Attempt {
    /// A final, successful (non-error) response.
    Done(Received),
    /// 401 on a request that carried the credential.
    Refused {
        token: AccessToken,
        claims: Option<String>,
        response: Received,
    },
    /// An error response or a transport failure the retry policy judges.
    Failed {
        trouble: Trouble,
        retry_after: RetryAfterHeader,
        response: Option<Received>,
        transport: Option<Lost>,
        redirected: bool,
    },
}

impl Engine {
    /// Start building an engine around a registry of connectors.
    pub fn builder(registry: Registry) -> EngineBuilder {
        EngineBuilder {
            registry,
            retry: RetryPolicy::default(),
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(60)),
            pool_idle_timeout: Some(Duration::from_secs(90)),
            attempt_deadline: Some(DEFAULT_ATTEMPT_DEADLINE),
            token_deadline: Some(DEFAULT_TOKEN_DEADLINE),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            user_agent: format!("switchboard/{}", env!("CARGO_PKG_VERSION")),
            max_pages: DEFAULT_MAX_PAGES,
            on_retry_wait: None,
        }
    }

    /// The shared HTTP client (automatic redirects off). OAuth token
    /// requests go through it too, so one connection pool serves everything.
    pub fn http_client(&self) -> &reqwest::Client {
        &self.inner.client
    }

    /// The connectors this engine knows.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    /// The default cap on pages per stream.
    pub fn max_pages(&self) -> usize {
        self.inner.max_pages
    }

    /// The deadline of one attempt ([`EngineBuilder::attempt_deadline`]).
    pub fn attempt_deadline(&self) -> Option<Duration> {
        self.inner.attempt_deadline
    }

    /// The engine-wide cap on a buffered body ([`EngineBuilder::max_response_bytes`]).
    pub fn max_response_bytes(&self) -> u64 {
        self.inner.max_response_bytes
    }

    /// The OAuth adapter over the engine's client, with the engine's token
    /// deadline ([`EngineBuilder::token_deadline`]): hand it to the auth
    /// services so token requests share the pool and the limits.
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard_core::{Engine, Registry};
    ///
    /// let engine = Engine::builder(Registry::new())
    ///     .token_deadline(Some(Duration::from_secs(5)))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(engine.oauth_http().deadline(), Some(Duration::from_secs(5)));
    /// ```
    pub fn oauth_http(&self) -> crate::auth::http::OAuthHttpClient {
        crate::auth::http::OAuthHttpClient::new(self.inner.client.clone())
            .with_deadline(self.inner.token_deadline)
    }

    /// The cap on a buffered body of `plan`'s method: its own, or the engine's.
    fn response_cap(&self, plan: &Plan) -> u64 {
        plan.method()
            .max_response_bytes
            .unwrap_or(self.inner.max_response_bytes)
    }

    /// A context for an installation: checks that the connector and variant
    /// exist and asks the connector for the endpoints of these settings.
    pub fn installation(
        &self,
        installation_id: impl Into<String>,
        connector_id: &str,
        variant_id: &str,
        settings: Settings,
        credential: Arc<dyn Credential>,
    ) -> Result<InstallationContext> {
        let connector = self.connector(connector_id)?;
        let def = connector.definition();
        if def.variant(variant_id).is_none() {
            return Err(Error::invalid_argument(
                "variant",
                format!(
                    "connector `{connector_id}` has no variant `{variant_id}`; it has: {}",
                    def.auth_variants
                        .iter()
                        .map(|v| v.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let endpoints = connector.endpoints(&settings)?;
        Ok(InstallationContext::new(
            installation_id,
            connector_id,
            variant_id,
            endpoints,
            credential,
        )
        .with_settings(settings))
    }

    fn connector(&self, connector_id: &str) -> Result<Arc<dyn Connector>> {
        self.inner
            .registry
            .get(connector_id)
            .cloned()
            .ok_or_else(|| self.unknown_connector(connector_id))
    }

    fn unknown_connector(&self, connector_id: &str) -> Error {
        Error::invalid_argument(
            "connector",
            format!(
                "no connector `{connector_id}` is registered; registered: {}",
                self.inner
                    .registry
                    .iter()
                    .map(|c| c.id().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    }

    /// Resolve connector, method and variant for a call.
    pub(crate) fn plan(&self, ctx: &InstallationContext, method_id: &str) -> Result<Plan> {
        let Some(prepared) = self.inner.prepared.get(ctx.connector_id()) else {
            return Err(self.unknown_connector(ctx.connector_id()));
        };
        let prepared = Arc::clone(prepared);
        let def = prepared.connector.definition();
        let Some(method_index) = def.methods.iter().position(|m| m.id == method_id) else {
            let suggestion =
                crate::suggest::similar(method_id, def.methods.iter().map(|m| m.id.as_str()))
                    .map(|id| format!("; did you mean `{id}`?"))
                    .unwrap_or_default();
            return Err(Error::invalid_argument(
                "method",
                format!(
                    "connector `{}` has no method `{method_id}`{suggestion}",
                    def.id
                ),
            ));
        };
        let Some(variant_index) = def
            .auth_variants
            .iter()
            .position(|v| v.id == ctx.variant_id())
        else {
            return Err(Error::invalid_argument(
                "variant",
                format!(
                    "connector `{}` has no variant `{}`",
                    def.id,
                    ctx.variant_id()
                ),
            ));
        };
        if !def.methods[method_index].supports(ctx.variant_id(), &def.auth_variants) {
            return Err(Error::invalid_argument(
                "method",
                format!(
                    "`{method_id}` is not available to installations using the `{}` variant",
                    ctx.variant_id()
                ),
            ));
        }
        Ok(Plan {
            prepared,
            method_index,
            variant_index,
        })
    }

    /// Validate and render the arguments, then let the connector adjust the request.
    fn prepare(
        &self,
        ctx: &InstallationContext,
        plan: &Plan,
        args: &Arguments,
    ) -> Result<Outgoing> {
        let render_ctx = RenderContext {
            connector: plan.definition(),
            method: plan.method(),
            variant: plan.variant(),
            base_url: &ctx.endpoints().base_url,
        };
        let fixed_headers = plan.prepared_method().headers.as_ref();
        let mut rendered = render_with(&render_ctx, args, fixed_headers)?;
        plan.connector()
            .prepare(plan.method(), args, &mut rendered)?;
        let mut headers = rendered.headers;
        let body = match rendered.body {
            RequestBody::Empty => None,
            RequestBody::Json(value) => {
                let bytes = serde_json::to_vec(&value).map_err(|e| {
                    Error::new(
                        ErrorKind::InvalidArgument,
                        "the request body could not be written as JSON",
                    )
                    .with_source(e)
                })?;
                if !headers.contains_key(CONTENT_TYPE) {
                    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                }
                Some(Bytes::from(bytes))
            }
            RequestBody::Bytes {
                content,
                content_type,
            } => {
                let value = HeaderValue::from_str(&content_type).map_err(|_| {
                    Error::invalid_argument(
                        "content_type",
                        "must be a valid header value such as `text/plain`",
                    )
                })?;
                headers.insert(CONTENT_TYPE, value);
                Some(content)
            }
        };
        Ok(Outgoing {
            method: rendered.method,
            url: rendered.url,
            headers,
            body,
            idempotent: plan.method().is_idempotent_for(args),
        })
    }

    fn call_span(&self, ctx: &InstallationContext, method_id: &str) -> tracing::Span {
        tracing::info_span!(
            "switchboard.call",
            method = %method_id,
            installation = %ctx.installation_id(),
            connector = %ctx.connector_id(),
            variant = %ctx.variant_id(),
        )
    }

    /// Call a method once and return its response, body decoded in memory
    /// (JSON, or bytes for methods whose response kind is `bytes`). For a
    /// paged method this is the first page; use [`Engine::stream`] for records.
    pub async fn call(
        &self,
        ctx: &InstallationContext,
        method_id: &str,
        args: Arguments,
    ) -> Result<Response> {
        let span = self.call_span(ctx, method_id);
        async {
            let plan = self.plan(ctx, method_id)?;
            let received = self.prepare_and_execute(ctx, &plan, &args).await?;
            let status = received.response.status().as_u16();
            let headers = select_headers(received.response.headers());
            let bytes = read_body(received, &plan.method().id, self.response_cap(&plan)).await?;
            let body = if bytes.is_empty() {
                ResponseBody::Empty
            } else {
                match plan.method().response {
                    ResponseKind::Bytes => ResponseBody::Bytes(bytes),
                    _ => ResponseBody::Json(decode_json(&bytes, &plan.method().id)?),
                }
            };
            Ok(Response::new(status, headers, body))
        }
        .instrument(span)
        .await
    }

    /// Call a method once and stream its response body (file downloads):
    /// nothing is buffered beyond the current chunk. Retries and redirects
    /// happen before the body starts; a failure while reading the body is
    /// a [`ErrorKind::Transport`] error from the stream.
    pub async fn call_stream(
        &self,
        ctx: &InstallationContext,
        method_id: &str,
        args: Arguments,
    ) -> Result<ByteStream> {
        let span = self.call_span(ctx, method_id);
        async {
            let plan = self.plan(ctx, method_id)?;
            let received = self.prepare_and_execute(ctx, &plan, &args).await?;
            Ok(ByteStream::from_reqwest(received.response))
        }
        .instrument(span)
        .await
    }

    /// Stream the records of a method across its pages. Errors (bad
    /// arguments included) arrive as the stream's first item. See
    /// [`RecordStream`].
    pub fn stream(
        &self,
        ctx: &InstallationContext,
        method_id: &str,
        args: Arguments,
    ) -> RecordStream {
        let span = self.call_span(ctx, method_id);
        let walk = span.in_scope(|| {
            let plan = self.plan(ctx, method_id)?;
            let outgoing = self.prepare(ctx, &plan, &args)?;
            let pagination = plan.method().pagination;
            Ok::<_, Error>(Walk::new(
                self.clone(),
                ctx.clone(),
                Arc::new(plan),
                outgoing,
                pagination,
                span.clone(),
            ))
        });
        RecordStream::new(match walk {
            Ok(walk) => PageStream::new(walk),
            Err(err) => PageStream::failed(err),
        })
    }

    /// Continue a listing or a delta sync from a [`Continuation`]. The
    /// continuation must belong to this installation; its link passes the
    /// host allow-list before anything is sent.
    pub fn resume(&self, ctx: &InstallationContext, continuation: &Continuation) -> RecordStream {
        let span = self.call_span(ctx, continuation.method_id());
        let walk = span.in_scope(|| {
            if continuation.installation_id() != ctx.installation_id() {
                return Err(Error::invalid_argument(
                    "continuation",
                    "it belongs to another installation; resume it with the installation that started the listing",
                ));
            }
            let plan = self.plan(ctx, continuation.method_id())?;
            let pagination = match continuation.kind() {
                ContinuationKind::Delta => Pagination::OdataDelta,
                _ => match plan.method().pagination {
                    Pagination::None => Pagination::OdataNextLink,
                    other => other,
                },
            };
            let outgoing = continuation.to_outgoing()?;
            Ok(Walk::new(
                self.clone(),
                ctx.clone(),
                Arc::new(plan),
                outgoing,
                pagination,
                span.clone(),
            ))
        });
        RecordStream::new(match walk {
            Ok(walk) => PageStream::new(walk),
            Err(err) => PageStream::failed(err),
        })
    }

    /// Execute and decode a JSON page. Also returns the target of the
    /// response's `Link: <...>; rel="next"` header, if any (untrusted: the
    /// pager resolves it and the host allow-list checks it before use).
    pub(crate) async fn fetch_json(
        &self,
        ctx: &InstallationContext,
        plan: &Plan,
        outgoing: &Outgoing,
    ) -> Result<(Value, Option<String>)> {
        let received = self.execute(ctx, plan, outgoing).await?;
        let next = match plan.method().pagination {
            Pagination::LinkHeader => crate::link_header::next_link(received.response.headers()),
            _ => None,
        };
        let bytes = read_body(received, &plan.method().id, self.response_cap(plan)).await?;
        if bytes.is_empty() {
            return Ok((Value::Null, next));
        }
        Ok((decode_json(&bytes, &plan.method().id)?, next))
    }

    /// Prepare a call and run it through the pipeline. The first send takes
    /// the prepared headers as they are; a retry or a redirect hop, which
    /// needs them again, prepares the request again from the arguments.
    async fn prepare_and_execute(
        &self,
        ctx: &InstallationContext,
        plan: &Plan,
        args: &Arguments,
    ) -> Result<Received> {
        let mut outgoing = self.prepare(ctx, plan, args)?;
        let prepared = std::mem::take(&mut outgoing.headers);
        let rebuild = || self.prepare(ctx, plan, args).map(|again| again.headers);
        let mut headers = RequestHeaders {
            first: Some(prepared),
            again: &rebuild,
        };
        self.execute_with(ctx, plan, &outgoing, &mut headers).await
    }

    /// The pipeline from the host check to a successful response: token,
    /// send with redirects, classify, refresh once on 401, retry by policy.
    pub(crate) async fn execute(
        &self,
        ctx: &InstallationContext,
        plan: &Plan,
        outgoing: &Outgoing,
    ) -> Result<Received> {
        let copy = || Ok(outgoing.headers.clone());
        let mut headers = RequestHeaders {
            first: None,
            again: &copy,
        };
        self.execute_with(ctx, plan, outgoing, &mut headers).await
    }

    async fn execute_with(
        &self,
        ctx: &InstallationContext,
        plan: &Plan,
        outgoing: &Outgoing,
        headers: &mut RequestHeaders<'_>,
    ) -> Result<Received> {
        let policy = &self.inner.retry;
        let started = tokio::time::Instant::now();
        let method = plan.method();
        let mut retries: u32 = 0;
        let mut attempt: u32 = 0;
        let mut reauth: Option<(AccessToken, Option<String>)> = None;
        let mut reauthed = false;
        loop {
            attempt += 1;
            let span = tracing::debug_span!(
                "switchboard.attempt",
                method = %method.id,
                attempt,
                status = tracing::field::Empty,
                wait_ms = tracing::field::Empty,
            );
            let outcome = self
                .attempt(ctx, plan, outgoing, headers, reauth.take(), &span)
                .instrument(span.clone())
                .await?;
            match outcome {
                Attempt::Done(response) => return Ok(response),
                Attempt::Refused {
                    token,
                    claims,
                    response,
                } => {
                    if reauthed {
                        return Err(error_from_response(
                            response,
                            plan,
                            Verdict::Unauthorized,
                            None,
                        )
                        .await);
                    }
                    reauthed = true;
                    span.in_scope(|| {
                        tracing::debug!(
                            claims_challenge = claims.is_some(),
                            "credential refused; asking for a new token"
                        )
                    });
                    reauth = Some((token, claims));
                }
                Attempt::Failed {
                    trouble,
                    retry_after,
                    response,
                    transport,
                    redirected,
                } => {
                    let mut decision = decide(
                        policy,
                        trouble,
                        outgoing.idempotent,
                        retry_after,
                        retries,
                        started.elapsed(),
                    );
                    if redirected && !outgoing.idempotent {
                        // The request may have had its effect before the redirect.
                        if let Decision::Retry(_) = decision {
                            decision = Decision::Stop(Stop::OutcomeUnknown);
                        }
                    }
                    match decision {
                        Decision::Retry(wait) => {
                            let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
                            span.record("wait_ms", wait_ms);
                            span.in_scope(|| {
                                tracing::warn!(
                                    reason = trouble_label(trouble),
                                    wait_ms,
                                    retry = retries + 1,
                                    "retrying after a wait"
                                )
                            });
                            drop(response);
                            if let Some(observer) = &self.inner.on_retry_wait {
                                observer.notify(&RetryWait::new(
                                    &method.id,
                                    ctx.installation_id(),
                                    retries + 1,
                                    policy.max_retries,
                                    wait,
                                    trouble,
                                    retry_after.wait.is_some(),
                                ));
                            }
                            tokio::time::sleep(wait).await;
                            retries += 1;
                        }
                        Decision::Stop(stop) => {
                            let (verdict, wait) = match stop {
                                Stop::Final => (Verdict::Final, retry_after.wait),
                                Stop::OutcomeUnknown => (Verdict::OutcomeUnknown, None),
                                Stop::Exhausted { wait } => (Verdict::Exhausted { retries }, wait),
                                Stop::WaitTooLong(wait) => (Verdict::WaitTooLong, Some(wait)),
                            };
                            span.in_scope(|| {
                                tracing::debug!(
                                    reason = trouble_label(trouble),
                                    ?verdict,
                                    "giving up"
                                )
                            });
                            return Err(match response {
                                Some(response) => {
                                    error_from_response(response, plan, verdict, wait).await
                                }
                                None => transport_error(plan, verdict, transport),
                            });
                        }
                    }
                }
            }
        }
    }

    /// One attempt: host check, token, send and follow redirects.
    async fn attempt(
        &self,
        ctx: &InstallationContext,
        plan: &Plan,
        outgoing: &Outgoing,
        request_headers: &mut RequestHeaders<'_>,
        reauth: Option<(AccessToken, Option<String>)>,
        span: &tracing::Span,
    ) -> Result<Attempt> {
        ctx.hosts().check_credentialed(&outgoing.url)?;
        let mut request = TokenRequest::new(
            Arc::clone(&ctx.inner.installation_id),
            Arc::clone(plan.scopes()),
        );
        if let Some((rejected, claims)) = reauth {
            request = request.with_rejected(rejected);
            if let Some(claims) = claims {
                request = request.with_claims(claims);
            }
        }
        let token = ctx.credential().token(&request).await?;
        // The deadline starts once the token is in hand (a token request
        // has its own) and covers every hop of the attempt.
        let deadline = self.inner.attempt_deadline.and_then(|limit| {
            crate::bounds::instant_after(tokio::time::Instant::now(), limit).map(|at| (at, limit))
        });
        // Built for the first hop; a redirect hop that keeps the credential
        // builds its own.
        let mut bearer = Some(bearer_header(&token)?);

        let follow_cross_origin = plan.method().follow_cross_origin_redirects;
        // Redirect hops replace these; the first hop uses the outgoing request's.
        let mut hop_url: Option<Url> = None;
        let mut method = outgoing.method.clone();
        let mut body = outgoing.body.clone();
        let mut credentialed = true;
        let mut redirected = false;
        for hop in 0..=MAX_REDIRECTS {
            let url = hop_url.as_ref().unwrap_or(&outgoing.url);
            let mut headers = request_headers.next()?;
            if credentialed {
                let value = match bearer.take() {
                    Some(value) => value,
                    None => bearer_header(&token)?,
                };
                headers.insert(AUTHORIZATION, value);
            } else {
                strip_credentials(&mut headers);
            }
            if redirected && body.is_none() {
                headers.remove(CONTENT_TYPE);
                headers.remove(CONTENT_LENGTH);
            }
            let mut request = reqwest::Request::new(method.clone(), url.clone());
            *request.headers_mut() = headers;
            if let Some(body) = &body {
                *request.body_mut() = Some(body.clone().into());
            }
            let sent = within(deadline, async {
                self.inner
                    .client
                    .execute(request)
                    .await
                    .map_err(WireError::from_reqwest)
            });
            let response = match sent.await {
                Ok(response) => response,
                Err(error) => {
                    let trouble = trouble_of(error.failure);
                    span.in_scope(|| {
                        tracing::debug!(reason = trouble_label(trouble), "request failed")
                    });
                    return Ok(Attempt::Failed {
                        trouble,
                        retry_after: RetryAfterHeader::default(),
                        response: None,
                        transport: Some(Lost {
                            error,
                            host: host_label(url),
                        }),
                        redirected,
                    });
                }
            };
            let response = Received { response, deadline };
            let status = response.response.status().as_u16();
            span.record("status", status);
            if is_redirect(status)
                && let Some(location) = response.response.headers().get(LOCATION)
            {
                if hop == MAX_REDIRECTS {
                    return Err(Error::new(
                        ErrorKind::Remote,
                        format!(
                            "`{}` was redirected more than {MAX_REDIRECTS} times; stopped",
                            plan.method().id
                        ),
                    )
                    .with_remote(crate::error::RemoteDetails::status(status)));
                }
                let target = resolve_location(url, location)?;
                let keep_credential =
                    plan_hop(ctx.hosts(), url, &target, credentialed, follow_cross_origin)?;
                span.in_scope(|| {
                    tracing::debug!(
                        status,
                        hop = hop + 1,
                        credentials = keep_credential,
                        host = target.host_str().unwrap_or_default(),
                        "following redirect"
                    )
                });
                let (next, keep_body) = next_method(status, &method);
                method = next;
                if !keep_body {
                    body = None;
                }
                credentialed = keep_credential;
                redirected = true;
                hop_url = Some(target);
                continue;
            }
            if status == 401 && credentialed {
                let claims = response
                    .response
                    .headers()
                    .get_all(WWW_AUTHENTICATE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .find_map(insufficient_claims);
                return Ok(Attempt::Refused {
                    token,
                    claims,
                    response,
                });
            }
            if status < 400 {
                return Ok(Attempt::Done(response));
            }
            let retry_after = retry_after_of(response.response.headers());
            return Ok(Attempt::Failed {
                trouble: Trouble::Status(status),
                retry_after,
                response: Some(response),
                transport: None,
                redirected,
            });
        }
        // The loop returns on every path; this is only reached if MAX_REDIRECTS were negative.
        Err(Error::new(ErrorKind::Remote, "too many redirects"))
    }
}

/// `Authorization: Bearer <token>`, marked sensitive, written straight
/// into the header's bytes.
fn bearer_header(token: &AccessToken) -> Result<HeaderValue> {
    const PREFIX: &[u8] = b"Bearer ";
    let secret = token.secret().as_bytes();
    let mut bytes = bytes::BytesMut::with_capacity(PREFIX.len() + secret.len());
    bytes.extend_from_slice(PREFIX);
    bytes.extend_from_slice(secret);
    let mut value = HeaderValue::from_maybe_shared(bytes.freeze()).map_err(|_| {
        Error::new(
            ErrorKind::Configuration,
            "the credential returned a token that cannot be sent in a header",
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

fn retry_after_of(headers: &HeaderMap) -> RetryAfterHeader {
    match headers.get(RETRY_AFTER) {
        None => RetryAfterHeader::default(),
        Some(value) => RetryAfterHeader {
            present: true,
            wait: value
                .to_str()
                .ok()
                .and_then(|v| parse_retry_after(v, SystemTime::now())),
        },
    }
}

/// What a transport failure means for retrying: a name that does not
/// resolve is final; a failed connection sent nothing; a timeout or the
/// deadline may have reached the service.
fn trouble_of(failure: Failure) -> Trouble {
    match failure {
        Failure::Resolve => Trouble::Resolve,
        Failure::Refused | Failure::Connect => Trouble::Connect,
        Failure::Timeout | Failure::Deadline(_) => Trouble::Timeout,
        _ => Trouble::Transport,
    }
}

fn trouble_label(trouble: Trouble) -> String {
    match trouble {
        Trouble::Status(s) => format!("status {s}"),
        Trouble::Resolve => "host name does not resolve".into(),
        Trouble::Connect => "connection failed".into(),
        Trouble::Timeout => "timed out".into(),
        Trouble::Transport => "transport error".into(),
    }
}

/// Build the error for an unsuccessful response, reading (a bounded part of)
/// its body for the service's error details. The body itself is not kept.
async fn error_from_response(
    received: Received,
    plan: &Plan,
    verdict: Verdict,
    wait: Option<Duration>,
) -> Error {
    let Received {
        mut response,
        deadline,
    } = received;
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let request_id = header("request-id");
    let client_request_id = header("client-request-id");
    let wait = wait.or_else(|| retry_after_of(response.headers()).wait);
    let body = read_prefix(&mut response, MAX_ERROR_BODY, deadline).await;
    let mut details = parse_remote_details(status, &body);
    if details.request_id.is_none() {
        details.request_id = request_id;
    }
    if details.client_request_id.is_none() {
        details.client_request_id = client_request_id;
    }
    response_error(plan.failed(), verdict, details, wait)
}

fn transport_error(plan: &Plan, verdict: Verdict, lost: Option<Lost>) -> Error {
    let m = &plan.method().id;
    let (what, source) = match lost {
        Some(Lost { error, host }) => (error.failure.describe(&host), error.source),
        None => (
            "the connection failed while the request was in flight".into(),
            None,
        ),
    };
    let error = match verdict {
        Verdict::OutcomeUnknown => Error::new(
            ErrorKind::OutcomeUnknown,
            format!(
                "`{m}` may or may not have taken effect: {what}, and the request was not resent because repeating it is unsafe; check the resource's state before trying again"
            ),
        ),
        Verdict::Exhausted { retries } => Error::new(
            ErrorKind::Transient,
            format!(
                "`{m}` failed: {what}, through {retries} retries; check the network and try again later"
            ),
        ),
        _ => Error::new(ErrorKind::Transport, format!("`{m}` failed: {what}")),
    };
    match source {
        Some(source) => error.with_source(source),
        None => error,
    }
}

/// The whole body of a response held in memory: at most `cap` bytes after
/// decompression, before the attempt's deadline.
async fn read_body(received: Received, method_id: &str, cap: u64) -> Result<Bytes> {
    let Received {
        mut response,
        deadline,
    } = received;
    read_capped(&mut response, cap, deadline)
        .await
        .map_err(|e| {
            // named only on failure: no allocation on the way to success
            let what = e.failure.describe(&host_label(response.url()));
            let error = match e.failure {
                Failure::TooLarge(_) => Error::new(
                    ErrorKind::Decode,
                    format!(
                        "the response to `{method_id}` was not read: {what}; raise the method's `max_response_bytes` or the engine's (EngineBuilder::max_response_bytes), or stream it"
                    ),
                )
                .with_field("max_response_bytes"),
                Failure::Deadline(_) => Error::new(
                    ErrorKind::Transport,
                    format!(
                        "the response to `{method_id}` was not read to the end: {what}; raise it with EngineBuilder::attempt_deadline if the service is merely slow"
                    ),
                ),
                _ => Error::new(
                    ErrorKind::Transport,
                    format!("the response to `{method_id}` was not read to the end: {what}"),
                ),
            };
            match e.source {
                Some(source) => error.with_source(source),
                None => error,
            }
        })
}

fn decode_json(bytes: &[u8], method_id: &str) -> Result<Value> {
    serde_json::from_slice(bytes).map_err(|e| {
        Error::new(
            ErrorKind::Decode,
            format!("the response to `{method_id}` is not valid JSON"),
        )
        .with_source(e)
    })
}
