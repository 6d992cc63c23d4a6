//! A Microsoft that misbehaves on purpose, for the binary to meet.
//!
//! [`FakeIdentity`] is a wiremock server standing in for the Microsoft
//! identity platform: it answers the client-credentials token request, so
//! an application-variant installation can be completed with a callback
//! built from the consent link (as an administrator's browser would end
//! on). Graph itself is whatever the test points `--graph-url` at: a
//! wiremock server with hostile answers, or a [`RawServer`] for what
//! wiremock cannot do (a body cut in the middle or trickling, an endless
//! one). `RawServer` and the gzip bombs are switchboard-core's test
//! helpers, shared rather than copied.

use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::harness::Cli;

pub use switchboard_hostile::raw::RawServer;
pub use switchboard_hostile::{bomb, raw};

/// The tenant of every fake installation.
pub const TENANT: &str = "6b1c2d3e-0000-4000-8000-00000000aa11";

/// A user id for `user_id` arguments.
pub const USER: &str = "0d7e6a4b-1111-4222-8333-444455556666";

/// The identity platform: token requests succeed.
pub struct FakeIdentity {
    pub server: MockServer,
}

impl FakeIdentity {
    pub async fn start() -> Self {
        FakeIdentity::answering(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "token_type": "Bearer",
            "expires_in": 3599,
            "access_token": "fake-access-token"
        })))
        .await
    }

    /// Token requests get `answer` (unless a test mounts a mock of higher
    /// priority than wiremock's default, 5, on [`FakeIdentity::server`]).
    pub async fn answering(answer: ResponseTemplate) -> Self {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path_regex(r"^/[^/]+/oauth2/v2\.0/token$"))
            .respond_with(answer)
            .mount(&server)
            .await;
        FakeIdentity { server }
    }

    /// Install the application variant with Graph at `graph_url` and
    /// complete the admin consent; returns the installation id.
    pub async fn install_application(&self, cli: &Cli, graph_url: &str) -> String {
        let (id, callback) = begin_application(cli, &self.server.uri(), graph_url).await;
        let done = cli.json(&["complete", &id, "--callback", &callback]).await;
        assert_eq!(done["status"], "active");
        id
    }

    /// Requests the identity server received so far.
    pub async fn request_count(&self) -> usize {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .len()
    }
}

/// `install` of the application variant with the identity service at
/// `login` and Graph at `graph_url`: the installation id and the callback
/// an administrator's browser would bring back after consenting.
pub async fn begin_application(cli: &Cli, login: &str, graph_url: &str) -> (String, String) {
    let client_id = "11112222-3333-4444-5555-666677778888";
    let secret_file = cli.secret_file(client_id, "fake-client-secret");
    let started = cli
        .json(&[
            "install",
            "microsoft365",
            "--variant",
            "application",
            "--tenant",
            TENANT,
            "--cloud",
            "custom",
            "--login-url",
            login,
            "--graph-url",
            graph_url,
            "--client-id",
            client_id,
            "--client-secret-file",
            secret_file.to_str().unwrap(),
        ])
        .await;
    let id = started["installation"]["id"].as_str().unwrap().to_string();
    let consent = url::Url::parse(started["consent_url"].as_str().unwrap()).unwrap();
    let state = consent
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let callback =
        format!("http://localhost/callback?admin_consent=True&tenant={TENANT}&state={state}");
    (id, callback)
}
