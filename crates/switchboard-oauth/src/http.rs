//! Our adapter between the `oauth2` crate and the engine's `reqwest` client.
//!
//! `oauth2` builds token requests as [`http::Request`]s and hands them to an
//! [`oauth2::AsyncHttpClient`]. Its own reqwest integration targets another
//! reqwest version, so [`OAuthHttpClient`] implements the trait over the
//! one client the engine shares (its pool, timeouts and "no redirects"
//! policy apply to token calls too).
//!
//! Only `200`, `400` and `401` answers are handed back to `oauth2` (a token
//! or an OAuth error body, RFC 6749 §5.1 and §5.2). Any other status (429,
//! 5xx, a redirect) becomes [`HttpError::Status`] with the `Retry-After` the
//! server sent, and the body is dropped unread: it is not an OAuth answer
//! and must not reach a message.
//!
//! Each token request has a deadline for its headers and body together
//! (default [`DEFAULT_TOKEN_DEADLINE`], 30 s; [`OAuthHttpClient::with_deadline`],
//! or `EngineBuilder::token_deadline` through `Engine::oauth_http`), and an
//! answer is read to at most 1 MiB after decompression. A failure names the
//! token endpoint's host, never its path. A request the endpoint declines
//! unprocessed (a refused HTTP/2 stream) is sent again at once, twice at
//! most.
//!
//! ```
//! use std::time::Duration;
//! use switchboard_oauth::http::OAuthHttpClient;
//!
//! let client = reqwest::Client::builder()
//!     .redirect(reqwest::redirect::Policy::none())
//!     .build()
//!     .unwrap();
//! let oauth_http = OAuthHttpClient::new(client).with_deadline(Some(Duration::from_secs(10)));
//! assert_eq!(oauth_http.deadline(), Some(Duration::from_secs(10)));
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::HeaderMap;

use switchboard_core::engine::wire::{
    AttemptClock, DEFAULT_TOKEN_DEADLINE, Failure, WireError, bytes_label, host_label, read_capped,
};

use crate::response::TokenAnswerShape;
use switchboard_core::Engine;

/// Token responses larger than this are refused (they are a few KiB).
const MAX_BODY: u64 = 1 << 20;

/// How often a token request the endpoint declined unprocessed (an HTTP/2
/// stream it refused, [`Failure::Declined`]) is sent again at once, under
/// the same deadline. The engine's client has reqwest's own retries off
/// (the engine's policy resends method calls); token requests have no such
/// policy for transport failures, so this keeps the two resends reqwest's
/// default would have made.
const DECLINED_RESENDS: u32 = 2;

/// An [`oauth2::AsyncHttpClient`] over a shared [`reqwest::Client`].
#[derive(Debug, Clone)]
pub struct OAuthHttpClient {
    client: reqwest::Client,
    deadline: Option<Duration>,
    read_timeout: Option<Duration>,
    shape: Option<Arc<TokenAnswerShape>>,
}

impl OAuthHttpClient {
    /// Wrap the engine's client, with the default deadline
    /// ([`DEFAULT_TOKEN_DEADLINE`]). Build it with redirects off
    /// (`reqwest::redirect::Policy::none()`): a token endpoint that
    /// redirects is answered with [`HttpError::Status`].
    pub fn new(client: reqwest::Client) -> Self {
        OAuthHttpClient {
            client,
            deadline: Some(DEFAULT_TOKEN_DEADLINE),
            read_timeout: None,
            shape: None,
        }
    }

    /// The engine's client under the engine's token deadline
    /// ([`Engine::token_deadline`]): token requests share the connection
    /// pool and the limits of every other request.
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard_core::{Engine, Registry};
    /// use switchboard_oauth::http::OAuthHttpClient;
    ///
    /// let engine = Engine::builder(Registry::new())
    ///     .token_deadline(Some(Duration::from_secs(5)))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(OAuthHttpClient::for_engine(&engine).deadline(), Some(Duration::from_secs(5)));
    /// ```
    pub fn for_engine(engine: &Engine) -> Self {
        OAuthHttpClient::new(engine.http_client().clone())
            .with_deadline(engine.token_deadline())
            .with_read_timeout(engine.read_timeout())
    }

    /// The same adapter with another deadline per token request (`None`:
    /// none; the client's own timeouts still apply).
    pub fn with_deadline(mut self, deadline: Option<Duration>) -> Self {
        self.deadline = deadline;
        self
    }

    /// The same adapter with a read timeout: the longest wait for the
    /// answer's headers or its next chunk (default `None`: the deadline
    /// alone bounds a token request). [`OAuthHttpClient::for_engine`] takes
    /// the engine's.
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard_oauth::http::OAuthHttpClient;
    ///
    /// let oauth_http = OAuthHttpClient::new(reqwest::Client::new())
    ///     .with_read_timeout(Some(Duration::from_secs(5)));
    /// assert_eq!(oauth_http.read_timeout(), Some(Duration::from_secs(5)));
    /// ```
    pub fn with_read_timeout(mut self, read_timeout: Option<Duration>) -> Self {
        self.read_timeout = read_timeout;
        self
    }

    /// The read timeout of one token request.
    pub fn read_timeout(&self) -> Option<Duration> {
        self.read_timeout
    }

    /// The same adapter reading answers as `shape` says (a definition's
    /// `token_response`): see [`TokenAnswerShape`].
    pub fn with_answer_shape(mut self, shape: TokenAnswerShape) -> Self {
        self.shape = Some(Arc::new(shape));
        self
    }

    /// The deadline of one token request.
    pub fn deadline(&self) -> Option<Duration> {
        self.deadline
    }

    /// The wrapped client.
    pub fn inner(&self) -> &reqwest::Client {
        &self.client
    }
}

/// Why a token request produced no OAuth answer. Never carries a body,
/// a token or a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The request could not be sent or the answer not read.
    #[error("the token endpoint could not be reached: {0}")]
    Transport(String),
    /// The token endpoint answered with a status that is not an OAuth
    /// answer (429, 5xx, 3xx, 404...).
    #[error("the token endpoint answered HTTP {status}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// What the `Retry-After` header asked for, if anything.
        retry_after: Option<Duration>,
    },
    /// The token endpoint's answer was larger than 1 MiB.
    #[error("the token endpoint's answer is larger than {}", bytes_label(MAX_BODY))]
    TooLarge,
}

type CallFuture<'c> =
    Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, HttpError>> + Send + 'c>>;

impl<'c> oauth2::AsyncHttpClient<'c> for OAuthHttpClient {
    type Error = HttpError;
    type Future = CallFuture<'c>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let mut request = reqwest::Request::try_from(request)
                .map_err(|e| HttpError::Transport(e.without_url().to_string()))?;
            let host = host_label(request.url());
            let mut clock = AttemptClock::start(self.deadline, self.read_timeout);
            let lost = |e: WireError| HttpError::Transport(e.failure.describe(&host));
            let mut resends = 0;
            let mut response = loop {
                // a copy to resend, while a resend is left (a form body clones)
                let spare = (resends < DECLINED_RESENDS)
                    .then(|| request.try_clone())
                    .flatten();
                let sent = clock
                    .run(async {
                        self.client
                            .execute(request)
                            .await
                            .map_err(WireError::from_reqwest)
                    })
                    .await;
                match (sent, spare) {
                    (Ok(response), _) => break response,
                    (Err(e), Some(spare)) if e.failure == Failure::Declined => {
                        resends += 1;
                        tracing::debug!(
                            resends,
                            "token endpoint declined the request unprocessed; resending"
                        );
                        request = spare;
                    }
                    (Err(e), _) => return Err(lost(e)),
                }
            };
            let status = response.status();
            if !matches!(status.as_u16(), 200 | 400 | 401) {
                return Err(HttpError::Status {
                    status: status.as_u16(),
                    retry_after: retry_after(response.headers(), SystemTime::now()),
                });
            }
            let headers = response.headers().clone();
            let body = read_capped(&mut response, MAX_BODY, &mut clock)
                .await
                .map_err(|e| match e.failure {
                    Failure::TooLarge(_) => HttpError::TooLarge,
                    _ => lost(e),
                })?;
            let mut headers = headers;
            let mut status = status;
            let mut body = body.to_vec();
            let content_type = headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            if let Some((new_status, json)) = self
                .shape
                .as_ref()
                .and_then(|shape| shape.normalise(status.as_u16(), content_type, &body))
            {
                status = http::StatusCode::from_u16(new_status).unwrap_or(status);
                body = json;
                headers.insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
            }
            let mut out = http::Response::new(body);
            *out.status_mut() = status;
            *out.headers_mut() = headers;
            Ok(out)
        })
    }
}

/// A response's `Retry-After`, parsed by the engine's rules
/// ([`switchboard_core::engine::retry::parse_retry_after`]: seconds or an HTTP date, capped).
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    switchboard_core::engine::retry::parse_retry_after(value, now)
}
