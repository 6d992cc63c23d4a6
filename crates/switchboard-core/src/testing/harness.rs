//! The [`Harness`]: a connector installed against a wiremock server.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use serde_json::Value;
use url::Url;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::expect::{Expect, ExpectMatcher, Reply, describe};
use crate::arguments::Arguments;
use crate::connector::{Connector, Endpoints, Registry, Settings};
use crate::credential::{AccessToken, StaticCredential};
use crate::engine::response::Response;
use crate::engine::retry::{Jitter, RetryPolicy};
use crate::engine::{Engine, InstallationContext};
use crate::error::Error;

/// The installation id the harness uses.
pub const INSTALLATION_ID: crate::InstallationId =
    crate::InstallationId::from_u128(0x7e57_0000_0000_4000_8000_0000_0000_0001);
/// The bearer token the harness installs (a fake one).
pub const TOKEN: &str = "test-token";

/// Settings for a [`Harness`]; see [`Harness::builder`].
#[derive(Debug)]
pub struct HarnessBuilder {
    connector: Arc<dyn Connector>,
    variant: Option<String>,
    settings: Settings,
    token: String,
    retry: RetryPolicy,
}

impl HarnessBuilder {
    /// The auth variant to install (default: the definition's first).
    pub fn variant(mut self, variant: impl Into<String>) -> Self {
        self.variant = Some(variant.into());
        self
    }

    /// An install parameter (`tenant_id`, `subdomain`...). Settings the base
    /// URL template uses are needed to learn its path.
    pub fn setting(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.settings.insert(name.into(), value.into());
        self
    }

    /// The static bearer token (default [`TOKEN`]).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = token.into();
        self
    }

    /// The retry policy (default: no retries, so every expected request is
    /// sent exactly once; no jitter).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Start the mock server and install the connector against it.
    ///
    /// # Panics
    ///
    /// When the variant is unknown or the settings do not give a base URL:
    /// this is a test helper.
    pub async fn start(self) -> Harness {
        let def = self.connector.definition();
        let variant = match self.variant {
            Some(v) => v,
            None => match def.auth_variants.first() {
                Some(v) => v.id.clone(),
                None => panic!("connector `{}` declares no auth variant", def.id),
            },
        };
        if def.variant(&variant).is_none() {
            panic!("connector `{}` has no auth variant `{variant}`", def.id);
        }
        let real = match self.connector.endpoints(&self.settings) {
            Ok(endpoints) => endpoints,
            Err(err) => panic!(
                "the connector's endpoints could not be built from the harness settings (add them with .setting(...)): {err}"
            ),
        };
        let server = MockServer::start().await;
        mount_catch_all(&server).await;
        let base_path = real.base_url.path().trim_end_matches('/').to_string();
        let base_url = match Url::parse(&format!("{}{base_path}", server.uri())) {
            Ok(url) => url,
            Err(err) => panic!("the mock server's URL is not valid: {err}"),
        };
        let mut registry = Registry::new();
        if let Err(err) = registry.register(self.connector.clone()) {
            panic!("the connector could not be registered: {err}");
        }
        let engine = match Engine::builder(registry)
            .retry_policy(self.retry)
            .connect_timeout(None)
            .read_timeout(None)
            .pool_idle_timeout(None)
            .attempt_deadline(None)
            .build()
        {
            Ok(engine) => engine,
            Err(err) => panic!("the engine could not be built: {err}"),
        };
        let credential = Arc::new(StaticCredential::new(AccessToken::new(
            self.token.clone(),
            None,
        )));
        let ctx = InstallationContext::new(
            INSTALLATION_ID,
            def.id.clone(),
            variant,
            Endpoints {
                base_url,
                allowed_hosts: vec!["127.0.0.1".into()],
            },
            credential,
        )
        .with_settings(self.settings);
        Harness {
            server,
            engine,
            ctx,
            base_path,
            bearer: format!("Bearer {}", self.token),
        }
    }
}

/// A connector installed against a wiremock server on 127.0.0.1, with a
/// static bearer token and a catch-all mock that fails the test on any
/// request nobody expected.
///
/// ```no_run
/// use std::sync::Arc;
/// use serde_json::json;
/// use switchboard_core::testing::{Expect, Harness, Reply};
/// # async fn demo(connector: Arc<dyn switchboard_core::Connector>) {
/// let h = Harness::builder(connector).variant("token").start().await;
/// let issue = h
///     .call("issues.get_issue")
///     .args(json!({"owner": "octo", "repo": "hello", "issue_number": 7}))
///     .sends(Expect::get("/repos/octo/hello/issues/7"), Reply::json(200, json!({"number": 7})))
///     .yields(json!([{"number": 7}]))
///     .await;
/// # }
/// ```
#[derive(Debug)]
pub struct Harness {
    server: MockServer,
    engine: Engine,
    ctx: InstallationContext,
    base_path: String,
    bearer: String,
}

impl Harness {
    /// Settings for a harness around `connector`.
    pub fn builder(connector: Arc<dyn Connector>) -> HarnessBuilder {
        HarnessBuilder {
            connector,
            variant: None,
            settings: Settings::new(),
            token: TOKEN.to_string(),
            retry: RetryPolicy {
                max_retries: 0,
                initial_backoff: Duration::from_millis(10),
                jitter: Jitter::None,
                ..RetryPolicy::default()
            },
        }
    }

    /// A harness with the defaults: first variant, no settings, [`TOKEN`].
    pub async fn start(connector: Arc<dyn Connector>) -> Harness {
        Self::builder(connector).start().await
    }

    /// The mock server, for tests that drive the engine themselves. While
    /// a [`Call`] runs, the harness owns it: every request must match one
    /// of the call's expectations, and the server is reset (mocks and
    /// recorded requests; the catch-all is mounted again) when it ends.
    pub fn server(&self) -> &MockServer {
        &self.server
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The installation.
    pub fn context(&self) -> &InstallationContext {
        &self.ctx
    }

    /// The absolute URL of `path_and_query` under the installation's base
    /// URL, for next-page links in replies.
    ///
    /// ```no_run
    /// # async fn demo(h: switchboard_core::testing::Harness) {
    /// let next = h.url("/user/repos?page=2"); // http://127.0.0.1:PORT/user/repos?page=2
    /// # }
    /// ```
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{}{path_and_query}", self.server.uri(), self.base_path)
    }

    /// Start describing a call of `method_id`.
    pub fn call(&self, method_id: &str) -> Call<'_> {
        Call {
            harness: self,
            method_id: method_id.to_string(),
            args: Arguments::new(),
            exchanges: Vec::new(),
        }
    }
}

/// One call: its arguments, the requests it must send (each answered by a
/// [`Reply`]), and what it must give. Finish with [`Call::yields`],
/// [`Call::records`], [`Call::response`] or [`Call::fails`].
#[derive(Debug)]
#[must_use = "a Call does nothing until one of yields/records/response/fails is awaited"]
pub struct Call<'h> {
    harness: &'h Harness,
    method_id: String,
    args: Arguments,
    exchanges: Vec<(Expect, Reply, u64)>,
}

impl Call<'_> {
    /// The arguments, as a JSON object (`json!({"owner": "octo"})`).
    ///
    /// # Panics
    ///
    /// When `args` is not an object.
    pub fn args(mut self, args: Value) -> Self {
        match args {
            Value::Object(map) => self.args = Arguments::from_map(map),
            Value::Null => self.args = Arguments::new(),
            other => panic!("call arguments must be a JSON object, not {other}"),
        }
        self
    }

    /// The arguments, as [`Arguments`] (for binary content).
    pub fn arguments(mut self, args: Arguments) -> Self {
        self.args = args;
        self
    }

    /// The call sends a request matching `expect` exactly once, and the
    /// server answers `reply`. Give one per page, in order.
    pub fn sends(self, expect: Expect, reply: impl Into<Reply>) -> Self {
        self.sends_times(expect, reply, 1)
    }

    /// The call sends a request matching `expect` exactly `times` times
    /// (retries), each answered by `reply`.
    pub fn sends_times(mut self, expect: Expect, reply: impl Into<Reply>, times: u64) -> Self {
        self.exchanges.push((expect, reply.into(), times));
        self
    }

    /// Run the call as a record stream across its pages, assert that it
    /// yields exactly `expected` (a JSON array of records), and return them.
    pub async fn yields(self, expected: Value) -> Vec<Value> {
        let method_id = self.method_id.clone();
        let records = self.records().await;
        let got = Value::Array(records.clone());
        assert!(
            got == expected,
            "`{method_id}` yielded\n  {got}\ninstead of\n  {expected}"
        );
        records
    }

    /// Run the call as a record stream across its pages and return the
    /// records (panics on an error, with the report).
    pub async fn records(self) -> Vec<Value> {
        let harness = self.harness;
        let method_id = self.method_id.clone();
        let args = self.args.clone();
        self.run(async move {
            harness
                .engine
                .stream(&harness.ctx, &method_id, args)
                .try_collect::<Vec<Value>>()
                .await
        })
        .await
        .unwrap_or_else(|(err, report)| panic!("the call failed: {err}\n{report}"))
    }

    /// Run the call once ([`Engine::call`]) and return the response
    /// (panics on an error, with the report).
    pub async fn response(self) -> Response {
        let harness = self.harness;
        let method_id = self.method_id.clone();
        let args = self.args.clone();
        self.run(async move { harness.engine.call(&harness.ctx, &method_id, args).await })
            .await
            .unwrap_or_else(|(err, report)| panic!("the call failed: {err}\n{report}"))
    }

    /// Run the call as a record stream and return the error that ended it
    /// (panics if it succeeds). The expected requests are still asserted.
    pub async fn fails(self) -> Error {
        let harness = self.harness;
        let method_id = self.method_id.clone();
        let args = self.args.clone();
        match self
            .run(async move {
                harness
                    .engine
                    .stream(&harness.ctx, &method_id, args)
                    .try_collect::<Vec<Value>>()
                    .await
            })
            .await
        {
            Ok(records) => panic!(
                "the call succeeded with {} record(s), but an error was expected",
                records.len()
            ),
            Err((err, _)) => err,
        }
    }

    /// Mount the expectations, run `body`, and check that every expected
    /// request arrived as often as expected and nothing else did. The
    /// server is reset afterwards (mocks and recorded requests), keeping
    /// only the catch-all, so cases do not see each other's mocks.
    async fn run<T>(
        self,
        body: impl std::future::Future<Output = Result<T, Error>>,
    ) -> Result<T, (Error, String)> {
        let h = self.harness;
        let matchers: Vec<ExpectMatcher> = self
            .exchanges
            .iter()
            .map(|(expect, _, _)| ExpectMatcher {
                expect: expect.clone(),
                base_path: h.base_path.clone(),
                bearer: h.bearer.clone(),
            })
            .collect();
        for (i, ((expect, reply, times), matcher)) in
            self.exchanges.iter().zip(&matchers).enumerate()
        {
            // Earlier exchanges first: identical requests (pages of the
            // same URL, retries) are answered in the order given.
            let priority = u8::try_from(i + 1).unwrap_or(u8::MAX - 1).min(u8::MAX - 1);
            Mock::given(matcher.clone())
                .respond_with(reply.clone().into_template())
                .up_to_n_times(*times)
                .expect(*times)
                .with_priority(priority)
                .named(format!("`{}` request #{}: {expect}", self.method_id, i + 1))
                .mount(&h.server)
                .await;
        }

        let outcome = body.await;

        let received: Vec<wiremock::Request> =
            h.server.received_requests().await.unwrap_or_default();
        // Which exchange answered each request, as wiremock decides it:
        // the first (by priority) that matches and has answers left.
        let mut used = vec![0u64; self.exchanges.len()];
        let mut unmatched = 0usize;
        for request in &received {
            let hit =
                self.exchanges
                    .iter()
                    .zip(&matchers)
                    .enumerate()
                    .find(|(i, ((_, _, times), m))| {
                        used[*i] < *times && m.mismatches(request).is_empty()
                    });
            match hit {
                Some((i, _)) => used[i] += 1,
                None => unmatched += 1,
            }
        }
        let mut problems = Vec::new();
        for (i, ((expect, _, times), n)) in self.exchanges.iter().zip(&used).enumerate() {
            if n != times {
                problems.push(format!(
                    "expected request #{} arrived {n} time(s) instead of {times}:\n    {}",
                    i + 1,
                    expect.to_string().replace('\n', "\n    ")
                ));
            }
        }
        if unmatched > 0 {
            problems.push(format!("{unmatched} request(s) matched no expectation"));
        }
        let mut report = String::new();
        if !problems.is_empty() || outcome.is_err() {
            let _ = writeln!(report, "call of `{}`:", self.method_id);
            for p in &problems {
                let _ = writeln!(report, "  - {p}");
            }
            let _ = writeln!(report, "  requests the server received:");
            if received.is_empty() {
                let _ = writeln!(report, "    (none)");
            }
            for (n, request) in received.iter().enumerate() {
                let _ = writeln!(report, "    {}. {}", n + 1, describe(request));
                for (i, matcher) in matchers.iter().enumerate() {
                    let why = matcher.mismatches(request);
                    if !why.is_empty() {
                        let _ = writeln!(
                            report,
                            "       not expected request #{}: {}",
                            i + 1,
                            why.join("; ")
                        );
                    }
                }
            }
        }
        // Checked above; start the next case from a clean server.
        h.server.reset().await;
        mount_catch_all(&h.server).await;
        if !problems.is_empty() {
            panic!("{report}");
        }
        outcome.map_err(|err| (err, report))
    }
}

/// A mock that answers 599 to any request no expectation matched, and must
/// never be hit.
async fn mount_catch_all(server: &MockServer) {
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(599).set_body_string("no expectation matched this request"),
        )
        .with_priority(u8::MAX)
        .named("catch-all: any request nobody expected")
        .expect(0)
        .mount(server)
        .await;
}
