//! Cross-crate and end-to-end tests live in `tests/tests/`; this library
//! holds what they share with the `governor-node` binary: an engine for
//! the Microsoft 365 connector pointed at a sandbox (or any Graph stand-in)
//! with an app-only token.

use std::sync::Arc;

use serde_json::json;
use switchboard_core::connector::{Endpoints, Registry, Settings};
use switchboard_core::credential::{AccessToken, StaticCredential};
use switchboard_core::definition::{ConnectorDefinition, MethodDefinition};
use switchboard_core::governor::Governor;
use switchboard_core::render::RenderedRequest;
use switchboard_core::{Arguments, Connector, Engine, InstallationContext};

/// The Microsoft 365 connector (its hooks included) with a definition
/// that declares no limits: what a client without a governor sends.
#[derive(Debug)]
struct WithoutLimits {
    inner: switchboard_microsoft365::Microsoft365,
    definition: ConnectorDefinition,
}

impl Connector for WithoutLimits {
    fn definition(&self) -> &ConnectorDefinition {
        &self.definition
    }

    fn endpoints(&self, settings: &Settings) -> switchboard_core::Result<Endpoints> {
        self.inner.endpoints(settings)
    }

    fn prepare(
        &self,
        method: &MethodDefinition,
        args: &Arguments,
        request: &mut RenderedRequest,
    ) -> switchboard_core::Result<()> {
        self.inner.prepare(method, args, request)
    }
}

/// A client that never follows redirects.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client")
}

/// An app-only access token from a sandbox: the administrator grants
/// consent, then the app asks with its secret (client credentials).
pub async fn sandbox_app_token(
    base_url: &str,
    tenant_id: &str,
    client_id: &str,
    client_secret: &str,
) -> String {
    let mut consent =
        url::Url::parse(&format!("{base_url}/{tenant_id}/v2.0/adminconsent")).expect("a URL");
    consent
        .query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", "http://127.0.0.1:8400/callback")
        .append_pair("state", "s");
    let resp = client().get(consent).send().await.expect("consent");
    assert_eq!(resp.status(), 302, "admin consent");
    let scope = format!("{base_url}/.default");
    let resp = client()
        .post(format!("{base_url}/{tenant_id}/oauth2/v2.0/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "client_credentials")
                .append_pair("client_id", client_id)
                .append_pair("client_secret", client_secret)
                .append_pair("scope", &scope)
                .finish(),
        )
        .send()
        .await
        .expect("token");
    let body: serde_json::Value = resp.json().await.expect("token JSON");
    body["access_token"]
        .as_str()
        .expect("an access token")
        .to_string()
}

/// A sandbox started with `config`, and an app-only token for it.
pub async fn sandbox_with_token(
    config: switchboard_microsoft365_sandbox::SandboxConfig,
) -> (switchboard_microsoft365_sandbox::SandboxHandle, String) {
    let sb = switchboard_microsoft365_sandbox::Sandbox::start(config)
        .await
        .expect("a sandbox");
    let token = sandbox_app_token(
        sb.base_url(),
        sb.tenant_id(),
        &sb.client().client_id,
        sb.client().client_secret.expose(),
    )
    .await;
    (sb, token)
}

/// Whether the engine keeps the connector's declared limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limits {
    /// The definitions as shipped (Outlook's limits declared).
    Declared,
    /// The definitions with their limits taken out.
    Removed,
}

/// An engine with the Microsoft 365 definitions and this governor.
pub fn engine(governor: Governor, limits: Limits) -> Engine {
    let connector =
        switchboard_microsoft365::Microsoft365::new().expect("the Microsoft 365 connector");
    let mut registry = Registry::new();
    match limits {
        Limits::Declared => registry.register(Arc::new(connector)),
        Limits::Removed => {
            let mut definition = connector.definition().clone();
            definition.limits.clear();
            for m in &mut definition.methods {
                m.limits.clear();
            }
            registry.register(Arc::new(WithoutLimits {
                inner: connector,
                definition,
            }))
        }
    }
    .expect("register");
    Engine::builder(registry)
        .governor(governor)
        .build()
        .expect("an engine")
}

/// A new application installation's context whose Graph and login are at
/// `base_url` (a loopback stand-in), with a fixed token.
pub fn context(
    engine: &Engine,
    base_url: &str,
    tenant_id: &str,
    token: &str,
) -> InstallationContext {
    let settings = json!({
        "tenant_id": tenant_id,
        "cloud": "custom",
        "login_url": base_url,
        "graph_url": base_url,
    });
    let serde_json::Value::Object(settings) = settings else {
        unreachable!("an object literal")
    };
    engine
        .installation(
            switchboard_core::InstallationId::new_random(),
            "microsoft365",
            "application",
            settings,
            Arc::new(StaticCredential::new(AccessToken::new(token, None))),
        )
        .expect("an installation context")
}

/// The governor's metrics of the Outlook mailbox keys (the shipped
/// definitions also declare Graph's global limit per app).
pub fn mailbox_metrics(engine: &Engine) -> Vec<switchboard_core::governor::KeyMetrics> {
    engine
        .governor()
        .metrics()
        .into_iter()
        .filter(|m| m.key.contains("/outlook_mailbox/"))
        .collect()
}

/// Graph's global limit's keys in `engine`'s governor, each with the calls
/// admitted on it, by key.
pub fn graph_app_admissions(engine: &Engine) -> Vec<(String, u64)> {
    engine
        .governor()
        .metrics()
        .into_iter()
        .filter(|m| m.key.contains("/graph_app/"))
        .map(|m| (m.key, m.admitted))
        .collect()
}
