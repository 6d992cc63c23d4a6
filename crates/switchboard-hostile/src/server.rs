//! A real local HTTP server whose answer each property-test case sets, and
//! the hostile answers to give it: any status, odd headers, any body.
//!
//! One runtime and one server serve every case of a test binary (keep the
//! [`Stage`] in a `OnceLock`): each case sets the answer, sends, and reads
//! what arrived.
//!
//! ```no_run
//! use std::sync::OnceLock;
//! use switchboard_hostile::server::Stage;
//! use wiremock::ResponseTemplate;
//!
//! static STAGE: OnceLock<Stage> = OnceLock::new();
//! let stage = STAGE.get_or_init(Stage::start);
//! stage.answer_with(ResponseTemplate::new(503));
//! // ... send to stage.server.uri() ...
//! assert!(stage.received().len() <= 1);
//! ```

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use proptest::sample::select;
use wiremock::http::HeaderValue;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::text;

/// A runtime and a server answering every request with the answer set last.
pub struct Stage {
    /// The runtime the server runs on; block on it to send.
    pub runtime: tokio::runtime::Runtime,
    /// The server.
    pub server: MockServer,
    answer: Scripted,
}

#[derive(Clone, Default)]
struct Scripted {
    next: Arc<Mutex<Option<ResponseTemplate>>>,
    received: Arc<Mutex<Vec<Request>>>,
}

impl Respond for Scripted {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request.clone());
        self.next
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .unwrap_or_else(|| ResponseTemplate::new(599))
    }
}

impl Stage {
    /// Start a runtime and a server (answering 599 until told otherwise).
    ///
    /// # Panics
    /// When no runtime or server can be started (a test setup failure).
    pub fn start() -> Stage {
        let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime for the stage");
        let answer = Scripted::default();
        let server = runtime.block_on(async {
            let server = MockServer::start().await;
            Mock::given(wiremock::matchers::any())
                .respond_with(answer.clone())
                .mount(&server)
                .await;
            server
        });
        Stage {
            runtime,
            server,
            answer,
        }
    }

    /// Answer the next requests with `template`; forget earlier requests.
    pub fn answer_with(&self, template: ResponseTemplate) {
        *self
            .answer
            .next
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(template);
        self.answer
            .received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// The requests received since the answer was last set.
    pub fn received(&self) -> Vec<Request> {
        self.answer
            .received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// A response a hostile or confused service may send.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status code (100 to 999).
    pub status: u16,
    /// Headers, values as raw bytes (those that are not valid header
    /// values are left out when sent).
    pub headers: Vec<(&'static str, Vec<u8>)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The answer as the server's response.
    pub fn template(&self) -> ResponseTemplate {
        let mut template = ResponseTemplate::new(self.status).set_body_bytes(self.body.clone());
        for (name, value) in &self.headers {
            if let Ok(value) = HeaderValue::from_bytes(value) {
                template = template.append_header(*name, value);
            }
        }
        template
    }
}

/// The headers a hostile answer sets.
pub const ANSWER_HEADERS: &[&str] = &[
    "request-id",
    "client-request-id",
    "retry-after",
    "www-authenticate",
    "link",
    "location",
    "content-type",
];

/// Answers with `body`: mostly the statuses services use, sometimes any
/// number; header values that are bytes, dates, links, challenges, URLs.
pub fn answer(body: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Answer> {
    let status = prop_oneof![
        4 => select(&[200u16, 201, 204, 301, 302, 303, 307, 308, 400, 401, 403, 404, 409, 412, 429, 500, 502, 503, 504][..]),
        // 1xx are interim answers: one with nothing after it is a silent
        // server, the overall deadline's business, not a parser's.
        1 => 200u16..1000,
    ];
    let header_value = prop_oneof![
        2 => text::bytes(),
        1 => crate::http::date().prop_map(String::into_bytes),
        1 => select(&[
            "/v1.0/users/adele",
            "http://127.0.0.1:1/elsewhere",
            "https://graph.microsoft.com/v1.0/users",
            "//evil.example/x",
            r#"Bearer error="insufficient_claims", claims="e30=""#,
            "</v1.0/users?page=2>; rel=\"next\"",
            "application/json",
            "text/html",
            "99999999999999999999",
        ][..]).prop_map(|s| s.as_bytes().to_vec()),
    ];
    (
        status,
        proptest::collection::vec((select(ANSWER_HEADERS), header_value), 0..5),
        body,
    )
        .prop_map(|(status, headers, body)| Answer {
            status,
            headers,
            body,
        })
}

/// A time "now" may be: any second from 1970 to the year 3000.
pub fn now() -> impl Strategy<Value = SystemTime> {
    (0u64..32_503_680_000).prop_map(|s| UNIX_EPOCH + Duration::from_secs(s))
}
