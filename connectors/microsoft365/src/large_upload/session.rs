//! Requests to an upload session's URL: PUT a fragment, GET the status,
//! DELETE to cancel. None carries an Authorization header: the URL is
//! pre-authenticated (it holds its own token), so it is a secret and is
//! never logged or shown.

use std::fmt;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_RANGE, RETRY_AFTER};
use serde_json::Value;
use switchboard_core::error::RemoteDetails;
use switchboard_core::{Error, ErrorKind};
use url::Url;

use super::ranges::content_range;

/// An upload session's URL. Debug shows the origin only.
#[derive(Clone)]
pub(crate) struct UploadUrl(Url);

impl UploadUrl {
    pub(crate) fn new(url: Url) -> Self {
        UploadUrl(url)
    }

    pub(crate) fn url(&self) -> &Url {
        &self.0
    }
}

impl fmt::Debug for UploadUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UploadUrl({})", self.0.origin().ascii_serialization())
    }
}

/// How one request to the session ended.
#[derive(Debug)]
pub(crate) enum Answer {
    /// A success status and its JSON body (`Value::Null` when empty).
    Ok { status: u16, body: Value },
    /// An error status, with the wait its `Retry-After` asked for, if any.
    Status {
        status: u16,
        retry_after: Option<std::time::Duration>,
    },
    /// The connection failed or timed out: the service may have part of it.
    Transport(reqwest::Error),
}

/// PUT one fragment.
pub(crate) async fn put(
    client: &reqwest::Client,
    url: &UploadUrl,
    start: u64,
    bytes: Bytes,
    total: u64,
) -> Answer {
    let len = bytes.len() as u64;
    let request = client
        .put(url.url().clone())
        .header(CONTENT_RANGE, content_range(start, len, total))
        .header(CONTENT_LENGTH, len)
        .body(bytes);
    send(request).await
}

/// GET the session's status (`nextExpectedRanges`).
pub(crate) async fn status(client: &reqwest::Client, url: &UploadUrl) -> Answer {
    send(client.get(url.url().clone())).await
}

/// DELETE the session. Best effort: the result is only logged.
pub(crate) async fn cancel(client: &reqwest::Client, url: &UploadUrl) {
    match send(client.delete(url.url().clone())).await {
        Answer::Ok { status, .. } => tracing::debug!(status, "upload session cancelled"),
        Answer::Status { status, .. } => {
            tracing::warn!(status, "the upload session could not be cancelled")
        }
        Answer::Transport(_) => tracing::warn!("the upload session could not be cancelled"),
    }
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = match request.send().await {
        Ok(response) => response,
        Err(e) => return Answer::Transport(e.without_url()),
    };
    let status = response.status().as_u16();
    if status >= 300 {
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                switchboard_core::engine::retry::parse_retry_after(v, std::time::SystemTime::now())
            });
        return Answer::Status {
            status,
            retry_after,
        };
    }
    match response.bytes().await {
        Ok(bytes) if bytes.is_empty() => Answer::Ok {
            status,
            body: Value::Null,
        },
        Ok(bytes) => Answer::Ok {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        },
        Err(e) => Answer::Transport(e.without_url()),
    }
}

/// The error for a final status from the session.
pub(crate) fn status_error(status: u16, what: &str) -> Error {
    let (kind, advice) = match status {
        404 => (
            ErrorKind::NotFound,
            "the upload session expired or was cancelled; start the upload again",
        ),
        409 => (
            ErrorKind::Conflict,
            "an item with that name already exists or changed meanwhile; choose another conflict behaviour or name",
        ),
        413 => (
            ErrorKind::InvalidArgument,
            "the fragment or file is larger than the service accepts",
        ),
        416 => (
            ErrorKind::Remote,
            "the service refused the byte range; start the upload again",
        ),
        507 => (
            ErrorKind::Remote,
            "the drive has no space left for this file",
        ),
        _ => (ErrorKind::Remote, "the upload was stopped"),
    };
    Error::new(kind, format!("{what} answered HTTP {status}: {advice}"))
        .with_remote(RemoteDetails::status(status))
}
