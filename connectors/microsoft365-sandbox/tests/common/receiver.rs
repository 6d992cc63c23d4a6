//! A notification receiver for tests: a real HTTP server on loopback that
//! answers Graph's validation handshake (or fails it on purpose) and
//! records every request it gets, so a test asserts what arrived and how
//! often.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;
use tokio::sync::Notify;

/// How the receiver answers validation requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validation {
    /// 200, text/plain, the decoded token: what Graph wants.
    Echo,
    /// Echoes the token still percent-encoded, as a receiver that forgot
    /// to decode the query would.
    Encoded,
    /// 200 with the right body but `application/json`.
    WrongContentType,
    /// 500.
    Fail,
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Received {
    /// The decoded `validationToken`, for a validation request.
    pub fn validation_token(&self) -> Option<String> {
        let q = self.query.as_deref()?;
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "validationToken")
            .map(|(_, v)| v.into_owned())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

struct Inner {
    validation: Mutex<Validation>,
    /// Statuses for the next notification POSTs (202 once empty).
    statuses: Mutex<VecDeque<u16>>,
    log: Mutex<Vec<Received>>,
    arrived: Notify,
}

/// A running receiver.
#[derive(Clone)]
pub struct Receiver {
    base: String,
    inner: Arc<Inner>,
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let received = Received {
        path: uri.path().to_string(),
        query: query.clone(),
        content_type: headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string(),
        body: body.to_vec(),
    };
    let token = received.validation_token();
    inner.log.lock().unwrap().push(received);
    inner.arrived.notify_waiters();
    if let Some(token) = token {
        let mode = *inner.validation.lock().unwrap();
        return match mode {
            Validation::Echo => {
                (StatusCode::OK, [("content-type", "text/plain")], token).into_response()
            }
            Validation::Encoded => {
                let raw = query.unwrap_or_default();
                let encoded = raw.trim_start_matches("validationToken=").to_string();
                (StatusCode::OK, [("content-type", "text/plain")], encoded).into_response()
            }
            Validation::WrongContentType => (
                StatusCode::OK,
                [("content-type", "application/json")],
                token,
            )
                .into_response(),
            Validation::Fail => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        };
    }
    let status = inner.statuses.lock().unwrap().pop_front().unwrap_or(202);
    StatusCode::from_u16(status).unwrap().into_response()
}

impl Receiver {
    pub async fn start(validation: Validation) -> Receiver {
        let inner = Arc::new(Inner {
            validation: Mutex::new(validation),
            statuses: Mutex::new(VecDeque::new()),
            log: Mutex::new(Vec::new()),
            arrived: Notify::new(),
        });
        let app = Router::new()
            .route("/{*path}", post(handle))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { base, inner }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Answers the next notification POSTs with these statuses.
    pub fn answer_next(&self, statuses: &[u16]) {
        self.inner.statuses.lock().unwrap().extend(statuses);
    }

    pub fn set_validation(&self, v: Validation) {
        *self.inner.validation.lock().unwrap() = v;
    }

    /// Everything received so far.
    pub fn all(&self) -> Vec<Received> {
        self.inner.log.lock().unwrap().clone()
    }

    /// Validation requests received so far.
    pub fn validations(&self) -> Vec<Received> {
        self.all()
            .into_iter()
            .filter(|r| r.validation_token().is_some())
            .collect()
    }

    /// Notification POSTs (not validations) received at `path`.
    pub fn posts(&self, path: &str) -> Vec<Received> {
        self.all()
            .into_iter()
            .filter(|r| r.validation_token().is_none() && r.path == path)
            .collect()
    }

    /// The notifications (`value[]` items) posted to `path`, in order.
    pub fn notifications(&self, path: &str) -> Vec<Value> {
        self.posts(path)
            .iter()
            .flat_map(|r| r.json()["value"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    /// Waits until at least `n` notification POSTs reached `path` (at most
    /// 20 seconds, then the test fails naming what arrived).
    pub async fn wait_posts(&self, path: &str, n: usize) -> Vec<Received> {
        let wait = async {
            loop {
                let arrived = self.inner.arrived.notified();
                tokio::pin!(arrived);
                arrived.as_mut().enable();
                let got = self.posts(path);
                if got.len() >= n {
                    return got;
                }
                arrived.await;
            }
        };
        match tokio::time::timeout(Duration::from_secs(20), wait).await {
            Ok(got) => got,
            Err(_) => panic!(
                "waited for {n} notification POSTs to {path}; got {:?}",
                self.posts(path)
                    .iter()
                    .map(|r| String::from_utf8_lossy(&r.body).to_string())
                    .collect::<Vec<_>>()
            ),
        }
    }
}
