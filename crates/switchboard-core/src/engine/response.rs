//! What a successful call returns: [`Response`] (status, selected headers, a
//! decoded body) or, for content that must not be held in memory whole,
//! [`ByteStream`].
//!
//! Neither shows its body in Debug: a body can carry pre-authenticated links
//! (`@microsoft.graph.downloadUrl`) and other secrets.
//!
//! ```
//! use switchboard_core::engine::response::{Response, ResponseBody};
//!
//! let response = Response::new(200, Default::default(), ResponseBody::Json(serde_json::json!({"id": "1"})));
//! assert_eq!(response.json().unwrap()["id"], "1");
//! assert_eq!(format!("{response:?}"), "Response { status: 200, headers: [], body: \"json\" }");
//! ```

use std::fmt;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;
use http::HeaderMap;
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};

use super::govern::Permits;
use super::wire::{AttemptClock, host_label};

/// Response headers a caller gets; others are dropped.
pub const SELECTED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "content-disposition",
    "content-range",
    "etag",
    "last-modified",
    "location",
    "request-id",
    "client-request-id",
    "preference-applied",
    "odata-version",
    "retry-after",
];

/// Keep only [`SELECTED_HEADERS`].
pub(crate) fn select_headers(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, value) in headers {
        if is_selected(name.as_str()) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// Whether a (lower-case) header name is one of [`SELECTED_HEADERS`]; a
/// `match` rather than a scan, as it runs for every response header.
fn is_selected(name: &str) -> bool {
    matches!(
        name,
        "content-type"
            | "content-length"
            | "content-disposition"
            | "content-range"
            | "etag"
            | "last-modified"
            | "location"
            | "request-id"
            | "client-request-id"
            | "preference-applied"
            | "odata-version"
            | "retry-after"
    )
}

/// A decoded response body.
#[non_exhaustive]
#[derive(Clone, PartialEq)]
pub enum ResponseBody {
    /// No content (202, 204, or an empty body).
    Empty,
    /// A JSON document.
    Json(Value),
    /// Raw bytes (methods whose response kind is `bytes`).
    Bytes(Bytes),
}

impl ResponseBody {
    fn kind(&self) -> &'static str {
        match self {
            ResponseBody::Empty => "empty",
            ResponseBody::Json(_) => "json",
            ResponseBody::Bytes(_) => "bytes",
        }
    }
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResponseBody::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            other => f.write_str(other.kind()),
        }
    }
}

/// A successful response.
///
/// It keeps the response's header map as it arrived (moved, not copied)
/// and shows only [`SELECTED_HEADERS`]: [`Response::header`] looks one up
/// in place; [`Response::headers`] builds the map of selected headers the
/// first time it is asked for.
#[derive(Clone)]
pub struct Response {
    status: u16,
    received: HeaderMap,
    selected: OnceLock<HeaderMap>,
    body: ResponseBody,
}

impl Response {
    /// A response (the engine builds these; tests and hooks may too). Of
    /// `headers`, only [`SELECTED_HEADERS`] are shown.
    pub fn new(status: u16, headers: HeaderMap, body: ResponseBody) -> Self {
        Response {
            status,
            received: headers,
            selected: OnceLock::new(),
            body,
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The selected headers ([`SELECTED_HEADERS`]).
    pub fn headers(&self) -> &HeaderMap {
        self.selected.get_or_init(|| select_headers(&self.received))
    }

    /// One selected header as text (the name in any case).
    ///
    /// ```
    /// use switchboard_core::engine::response::{Response, ResponseBody};
    ///
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("request-id", "0e2b6f3c".parse().unwrap());
    /// headers.insert("x-ms-ags-diagnostic", "{}".parse().unwrap());
    /// let response = Response::new(200, headers, ResponseBody::Empty);
    /// assert_eq!(response.header("Request-Id"), Some("0e2b6f3c"));
    /// assert_eq!(response.header("x-ms-ags-diagnostic"), None);
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        if !SELECTED_HEADERS
            .iter()
            .any(|s| s.eq_ignore_ascii_case(name))
        {
            return None;
        }
        self.received.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body.
    pub fn body(&self) -> &ResponseBody {
        &self.body
    }

    /// The body, consumed.
    pub fn into_body(self) -> ResponseBody {
        self.body
    }

    /// The JSON body, if the body is JSON.
    pub fn json(&self) -> Option<&Value> {
        match &self.body {
            ResponseBody::Json(v) => Some(v),
            _ => None,
        }
    }

    /// The JSON body consumed; `Value::Null` for an empty body, an error for bytes.
    pub fn into_json(self) -> Result<Value> {
        match self.body {
            ResponseBody::Json(v) => Ok(v),
            ResponseBody::Empty => Ok(Value::Null),
            ResponseBody::Bytes(_) => Err(Error::new(
                ErrorKind::Decode,
                "the response holds bytes, not JSON",
            )),
        }
    }

    /// The bytes, if the body is bytes.
    pub fn bytes(&self) -> Option<&Bytes> {
        match &self.body {
            ResponseBody::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers().keys().collect::<Vec<_>>())
            .field("body", &self.body.kind())
            .finish()
    }
}

type ChunkStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>;

/// A successful response whose body is streamed chunk by chunk (file
/// downloads): nothing is buffered beyond the current chunk.
///
/// It is a `Stream` of `Result<Bytes>`. The request governor's permits
/// for the call are held until the body has been read to its end (or
/// failed), or the stream is dropped: a download in progress counts
/// against its keys' concurrency caps as the service counts it. The
/// engine's read timeout applies between chunks: a body that stops coming
/// ends the stream with an [`ErrorKind::Transport`] error naming the host.
pub struct ByteStream {
    status: u16,
    headers: HeaderMap,
    content_length: Option<u64>,
    chunks: ChunkStream,
    /// Given back when the body ends or the stream is dropped.
    permits: Option<Permits>,
    /// The read timeout between chunks (no deadline: a download takes
    /// as long as it takes while data comes).
    clock: AttemptClock,
    /// `host[:port]`, for the message of a timeout.
    host: String,
}

impl ByteStream {
    pub(crate) fn from_reqwest(
        response: reqwest::Response,
        permits: Permits,
        clock: AttemptClock,
    ) -> Self {
        use futures::TryStreamExt;
        let host = host_label(response.url());
        let status = response.status().as_u16();
        let headers = select_headers(response.headers());
        let content_length = response.content_length();
        let chunks = response.bytes_stream().map_err(|e| {
            Error::new(
                ErrorKind::Transport,
                "the response body could not be read to the end",
            )
            .with_source(e.without_url())
        });
        ByteStream {
            status,
            headers,
            content_length,
            chunks: Box::pin(chunks),
            permits: Some(permits),
            clock,
            host,
        }
    }

    /// A byte stream from parts (tests, hooks).
    pub fn new(
        status: u16,
        headers: HeaderMap,
        content_length: Option<u64>,
        chunks: impl Stream<Item = Result<Bytes>> + Send + 'static,
    ) -> Self {
        ByteStream {
            status,
            headers,
            content_length,
            chunks: Box::pin(chunks),
            permits: None,
            clock: AttemptClock::start(None, None),
            host: String::new(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The selected headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The announced length of the body, when known.
    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }
}

impl Stream for ByteStream {
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let next = match this.chunks.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.clock.progress();
                return Poll::Ready(Some(Ok(chunk)));
            }
            Poll::Pending => match this.clock.poll_expired(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(failure) => {
                    // no more chunks: the stream ends after this error
                    this.chunks = Box::pin(futures::stream::empty());
                    Poll::Ready(Some(Err(Error::new(
                        ErrorKind::Transport,
                        format!(
                            "the response body could not be read to the end: {}",
                            failure.describe(&this.host)
                        ),
                    ))))
                }
            },
            ended => ended,
        };
        // the body is over: the request no longer counts as in flight
        this.permits = None;
        next
    }
}

impl fmt::Debug for ByteStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByteStream")
            .field("status", &self.status)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("content_length", &self.content_length)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_match_and_the_list_agree() {
        for name in SELECTED_HEADERS {
            assert!(is_selected(name), "{name}");
        }
        assert!(!is_selected("set-cookie"));
        assert!(!is_selected("authorization"));
        assert!(!is_selected("www-authenticate"));
    }
}
