//! A Microsoft that misbehaves on purpose, for the binary to meet.
//!
//! [`FakeIdentity`] is a wiremock server standing in for the Microsoft
//! identity platform: it answers the client-credentials token request, so
//! an application-variant installation can be completed with a callback
//! built from the consent link (as an administrator's browser would end
//! on). Graph itself is whatever the test points `--graph-url` at: a
//! wiremock server with hostile answers, or a [`RawServer`] for what
//! wiremock cannot do (a body cut in the middle).

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::harness::Cli;

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
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path_regex(r"^/[^/]+/oauth2/v2\.0/token$"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "token_type": "Bearer",
                "expires_in": 3599,
                "access_token": "fake-access-token"
            })))
            .mount(&server)
            .await;
        FakeIdentity { server }
    }

    /// Install the application variant with Graph at `graph_url` and
    /// complete the admin consent; returns the installation id.
    pub async fn install_application(&self, cli: &Cli, graph_url: &str) -> String {
        let login = self.server.uri();
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
                &login,
                "--graph-url",
                graph_url,
                "--client-id",
                "11112222-3333-4444-5555-666677778888",
                "--client-secret",
                "fake-client-secret",
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

/// A raw HTTP/1.1 server that answers every request with the same bytes
/// and then closes the connection, recording each request line.
pub struct RawServer {
    pub url: String,
    requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl RawServer {
    pub async fn start(response: Vec<u8>) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let response = Arc::new(response);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let (seen, response) = (seen.clone(), response.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let line = String::from_utf8_lossy(&head)
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    seen.lock().unwrap().push(line);
                    let _ = stream.write_all(&response).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        RawServer {
            url,
            requests,
            task,
        }
    }

    /// The request lines received so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
