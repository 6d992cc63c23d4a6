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
//! chunks, and no cap: see [`crate::engine::wire`]. An
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
//!         switchboard_core::InstallationId::from_u128(1),
//!         "example",
//!         "token",
//!         Default::default(),
//!         Arc::new(StaticCredential::new(AccessToken::new("t", None))),
//!     )
//!     .unwrap();
//! assert_eq!(ctx.endpoints().base_url.as_str(), "https://api.example.com/");
//! ```

mod batch;
pub mod classify;
mod context;
mod govern;
pub mod hosts;
mod limit_key;
mod link;
mod once_per_copy;
mod pipeline;
mod placement;
mod plan;
mod prepared;
pub mod redirect;
pub mod response;
pub mod retry;
pub mod retry_wait;
mod stream;
pub mod wire;

pub use batch::{BatchCall, MAX_BATCH_CALLS};
pub use context::InstallationContext;
pub use link::LinkRequest;
pub use stream::{PageStream, RecordStream};

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::connector::{Connector, Registry, Settings};
use crate::credential::Credential;
use crate::engine::retry::RetryPolicy;
use crate::engine::retry_wait::{RetryObserver, RetryWait};
use crate::engine::wire::{
    DEFAULT_ATTEMPT_DEADLINE, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TOKEN_DEADLINE,
};
use crate::error::{Error, ErrorKind, Result};
use crate::governor::Governor;
use crate::installation_id::InstallationId;
use crate::paging::DEFAULT_MAX_PAGES;
use crate::untrusted_text::sanitize_identifier;

use plan::Plan;
use prepared::{PreparedRegistry, prepare_registry};

/// Settings for an [`Engine`].
///
/// ```
/// use std::time::Duration;
/// use switchboard_core::connector::Registry;
/// use switchboard_core::engine::Engine;
/// use switchboard_core::engine::retry::RetryPolicy;
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
    governor: Governor,
}

impl EngineBuilder {
    /// The governor that keeps the connectors' declared limits (default: a
    /// [`Governor`] for this process alone). Give every engine of a
    /// platform a governor over the shared store
    /// ([`Governor::builder`]`.store(..)`) to keep them across nodes.
    pub fn governor(mut self, governor: Governor) -> Self {
        self.governor = governor;
        self
    }

    /// Call `observer` just before each wait for a retry (after a 429, a
    /// 503, a lost connection...), for example to tell a person what the
    /// program waits for. See [`crate::engine::retry_wait`].
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
    /// no limit): from the request to its headers, then between chunks of
    /// the body. A timeout before the headers counts as an ambiguous
    /// failure: idempotent requests are retried, others fail with
    /// `OutcomeUnknown`. For a streamed download this is the idle timeout
    /// between chunks. The engine keeps it itself, on the attempt's one
    /// timer ([`wire::AttemptClock`]), not in the HTTP client.
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

    /// The engine's HTTP client settings. reqwest's own redirects and
    /// retries are off: the engine follows redirects itself (with its host
    /// checks) and retries by its one policy, so every request sent is one
    /// the governor admitted, the retry observer and the traces see. Off
    /// entirely, not merely never taken: reqwest's retry layer otherwise
    /// copies every request (headers, URI) in case it resends it. The
    /// failures reqwest's default would have resent (an HTTP/2 stream the
    /// server refused, a graceful shutdown) are [`wire::Failure::Declined`],
    /// which the engine's policy resends for any method.
    pub(crate) fn client_builder(&self) -> reqwest::ClientBuilder {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .retry(reqwest::retry::never().max_retries_per_request(0))
            .gzip(true)
            .user_agent(self.user_agent.as_str())
            .pool_idle_timeout(self.pool_idle_timeout)
            .referer(false);
        match self.connect_timeout {
            Some(t) => client.connect_timeout(t),
            None => client,
        }
    }

    /// Build the engine and its HTTP client.
    pub fn build(self) -> Result<Engine> {
        let client = self.client_builder().build().map_err(|e| {
            Error::new(
                ErrorKind::Configuration,
                "the HTTP client could not be built (TLS roots or settings)",
            )
            .with_source(e.without_url())
        })?;
        Ok(Engine {
            inner: Arc::new(EngineInner {
                id: NEXT_ENGINE_ID.fetch_add(1, Ordering::Relaxed),
                client,
                prepared: prepare_registry(&self.registry),
                registry: self.registry,
                retry: self.retry,
                attempt_deadline: self.attempt_deadline,
                read_timeout: self.read_timeout,
                token_deadline: self.token_deadline,
                max_response_bytes: self.max_response_bytes.max(1),
                max_pages: self.max_pages.max(1),
                on_retry_wait: self.on_retry_wait,
                governor: self.governor,
            }),
        })
    }
}

/// Executes connector methods for installations. Cheap to clone (shared).
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

/// The next engine's id.
static NEXT_ENGINE_ID: AtomicU64 = AtomicU64::new(1);

struct EngineInner {
    /// Unique among the process's engines (its clones share it): the
    /// installation contexts' bindings name it.
    id: u64,
    client: reqwest::Client,
    registry: Registry,
    /// The registry's connectors with per-method work done once.
    prepared: PreparedRegistry,
    retry: RetryPolicy,
    attempt_deadline: Option<Duration>,
    read_timeout: Option<Duration>,
    token_deadline: Option<Duration>,
    max_response_bytes: u64,
    max_pages: usize,
    on_retry_wait: Option<RetryObserver>,
    governor: Governor,
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
            .field("read_timeout", &self.inner.read_timeout)
            .field("max_response_bytes", &self.inner.max_response_bytes)
            .field("max_pages", &self.inner.max_pages)
            .finish()
    }
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
            governor: Governor::new(),
        }
    }

    /// The governor keeping the connectors' declared limits: poll
    /// [`Governor::metrics`] for what is in flight and waiting per key.
    pub fn governor(&self) -> &Governor {
        &self.inner.governor
    }

    /// The shared HTTP client (automatic redirects and reqwest's own
    /// retries off, the connect timeout set; the read timeout, the
    /// deadlines and the retries are the engine's, not the client's). OAuth
    /// token requests go through it too, so one connection pool serves
    /// everything. A request sent through it directly is sent once: a
    /// refused HTTP/2 stream comes back as an error
    /// ([`wire::Failure::Declined`]), not resent.
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

    /// The longest wait for data ([`EngineBuilder::read_timeout`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard_core::{Engine, Registry};
    /// let engine = Engine::builder(Registry::new()).build().unwrap();
    /// assert_eq!(engine.read_timeout(), Some(Duration::from_secs(60)));
    /// ```
    pub fn read_timeout(&self) -> Option<Duration> {
        self.inner.read_timeout
    }

    /// The deadline of one attempt ([`EngineBuilder::attempt_deadline`]).
    pub fn attempt_deadline(&self) -> Option<Duration> {
        self.inner.attempt_deadline
    }

    /// The engine-wide cap on a buffered body ([`EngineBuilder::max_response_bytes`]).
    pub fn max_response_bytes(&self) -> u64 {
        self.inner.max_response_bytes
    }

    /// The deadline of a token request ([`EngineBuilder::token_deadline`]);
    /// the OAuth services read it to send token requests through
    /// [`Engine::http_client`] under the same limits.
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard_core::{Engine, Registry};
    ///
    /// let engine = Engine::builder(Registry::new())
    ///     .token_deadline(Some(Duration::from_secs(5)))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(engine.token_deadline(), Some(Duration::from_secs(5)));
    /// ```
    pub fn token_deadline(&self) -> Option<Duration> {
        self.inner.token_deadline
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
        installation_id: InstallationId,
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
                    "connector `{}` has no variant `{}`; it has: {}",
                    def.id,
                    sanitize_identifier(variant_id),
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
                "no connector `{}` is registered; registered: {}",
                sanitize_identifier(connector_id),
                self.inner
                    .registry
                    .iter()
                    .map(|c| c.id().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    }

    #[inline(never)]
    fn call_span(&self, ctx: &InstallationContext, method_id: &str) -> tracing::Span {
        tracing::info_span!(
            "switchboard.call",
            method = %method_id,
            installation = %ctx.installation_id(),
            connector = %ctx.connector_id(),
            variant = %ctx.variant_id(),
        )
    }
}

#[cfg(test)]
mod tests {
    use switchboard_hostile::h2_server::H2Server;

    use super::*;
    use crate::engine::wire::Failure;

    /// What one POST through `client` to a server resetting every stream
    /// with `reason` fails with, and how many streams the server was sent.
    async fn post(client: reqwest::Client, reason: h2::Reason) -> (Failure, usize) {
        let server = H2Server::resetting(reason, usize::MAX, 200, "{}").await;
        let error = client
            .post(format!("{}/v1.0/me/sendMail", server.base()))
            .body("{}")
            .send()
            .await
            .expect_err("every stream is reset");
        (Failure::of(&error), server.streams())
    }

    fn engine_client() -> reqwest::Client {
        Engine::builder(Registry::new())
            .client_builder()
            .http2_prior_knowledge()
            .build()
            .expect("client")
    }

    #[tokio::test]
    async fn a_refused_stream_is_declined_and_the_client_does_not_resend_it_itself() {
        let (failure, streams) = post(engine_client(), h2::Reason::REFUSED_STREAM).await;
        assert_eq!(failure, Failure::Declined);
        assert!(failure.nothing_sent(), "any method may be resent");
        // one stream: the resend is the engine's retry policy's to make
        assert_eq!(streams, 1);

        // reqwest's default client resends a refused stream itself, twice:
        // requests the engine's governor and retry observer would not see
        let default = reqwest::Client::builder()
            .http2_prior_knowledge()
            .build()
            .expect("client");
        let (failure, streams) = post(default, h2::Reason::REFUSED_STREAM).await;
        assert_eq!(failure, Failure::Declined);
        assert_eq!(streams, 3);
    }

    #[tokio::test]
    async fn another_reset_is_a_broken_request_that_may_have_had_its_effect() {
        let (failure, streams) = post(engine_client(), h2::Reason::INTERNAL_ERROR).await;
        assert_eq!(failure, Failure::Broken);
        assert!(!failure.nothing_sent());
        assert_eq!(streams, 1);
    }
}
