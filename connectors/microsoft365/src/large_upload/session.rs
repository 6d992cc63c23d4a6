//! Requests to an upload session's URL: PUT a fragment, GET the status,
//! DELETE to cancel, each sent through the engine's pipeline
//! ([`Engine::send_link`]) on behalf of `onedrive.create_upload_session`:
//! the engine's one retry table, its redirect handling and its bounded
//! reads. None carries an Authorization header: the URL is pre-authenticated
//! (it holds its own token; Microsoft: "The Authorization header and bearer
//! token should only be sent when issuing the POST during the first step",
//! driveitem-createuploadsession), so it is a secret and is never logged or
//! shown.

use std::fmt;

use bytes::Bytes;
use http::header::CONTENT_RANGE;
use http::{HeaderValue, Method};
use serde_json::Value;
use switchboard_core::engine::LinkRequest;
use switchboard_core::error::RemoteDetails;
use switchboard_core::{Engine, Error, ErrorKind, InstallationContext, ResponseBody, Result};
use url::Url;

use super::CREATE_SESSION_METHOD;
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

    fn request(&self, method: Method, what: &str) -> LinkRequest {
        LinkRequest::new(method, self.0.clone())
            .without_credential()
            .label(format!("{CREATE_SESSION_METHOD} ({what})"))
    }
}

impl fmt::Debug for UploadUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UploadUrl({})", self.0.origin().ascii_serialization())
    }
}

/// A success and its JSON body (`Value::Null` when empty).
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Value,
}

async fn send(engine: &Engine, ctx: &InstallationContext, request: LinkRequest) -> Result<Answer> {
    let response = engine
        .send_link(ctx, CREATE_SESSION_METHOD, request)
        .await?;
    let status = response.status();
    let body = match response.into_body() {
        ResponseBody::Json(value) => value,
        _ => Value::Null,
    };
    Ok(Answer { status, body })
}

/// PUT one fragment: repeated by the engine after a failed connection, a
/// timeout, 429 or any 5xx, as Microsoft asks for upload sessions.
pub(crate) async fn put(
    engine: &Engine,
    ctx: &InstallationContext,
    url: &UploadUrl,
    start: u64,
    bytes: Bytes,
    total: u64,
) -> Result<Answer> {
    let len = bytes.len() as u64;
    let range = HeaderValue::from_str(&content_range(start, len, total)).map_err(|_| {
        Error::new(
            ErrorKind::InvalidArgument,
            "the fragment's range cannot be written",
        )
    })?;
    let request = url
        .request(Method::PUT, "fragment")
        .resumable()
        .header(CONTENT_RANGE, range)
        .body(bytes);
    send(engine, ctx, request).await
}

/// GET the session's status (`nextExpectedRanges`).
pub(crate) async fn status(
    engine: &Engine,
    ctx: &InstallationContext,
    url: &UploadUrl,
) -> Result<Answer> {
    send(engine, ctx, url.request(Method::GET, "status")).await
}

/// DELETE the session. Best effort: the result is only logged.
pub(crate) async fn cancel(engine: &Engine, ctx: &InstallationContext, url: &UploadUrl) {
    match send(engine, ctx, url.request(Method::DELETE, "cancel")).await {
        Ok(answer) => tracing::debug!(status = answer.status, "upload session cancelled"),
        Err(e) => tracing::warn!(
            status = e.status(),
            kind = %e.kind(),
            "the upload session could not be cancelled"
        ),
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
