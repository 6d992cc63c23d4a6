//! Upload sessions: `createUploadSession` hands out an `uploadUrl` on the
//! sandbox's host (outside `/v1.0`) with an opaque token; chunks are `PUT`
//! there with `Content-Range` and no `Authorization` header.
//!
//! Rules, as OneDrive states them: every chunk but the last is a multiple
//! of 327,680 bytes (320 KiB) and under 60 MiB; a chunk must start at the
//! next expected byte; until the last chunk the answer is 202 with
//! `nextExpectedRanges`; the last chunk gets 201 (new file) or 200
//! (replaced file) with the driveItem. A chunk whose body did not arrive
//! whole is not kept, so a client resumes from `nextExpectedRanges`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

use crate::errors::GraphError;
use crate::upload_session::{Target, status_body};
use crate::{App, datetime, drive, mail};

/// The unit chunk sizes must be a multiple of.
pub(crate) const CHUNK_UNIT: usize = 327_680;
/// The largest chunk accepted.
pub(crate) const MAX_CHUNK: usize = 60 * 1024 * 1024;
fn invalid_range(message: impl Into<String>) -> GraphError {
    GraphError::bad_request("invalidRange", message)
}

/// Parses `bytes a-b/total` (total may be `*`).
fn content_range(headers: &HeaderMap) -> Result<(usize, usize, Option<usize>), GraphError> {
    let raw = headers
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            invalid_range("A Content-Range header (bytes start-end/total) is required.")
        })?;
    let spec = raw
        .trim()
        .strip_prefix("bytes ")
        .ok_or_else(|| invalid_range("Content-Range must start with 'bytes '."))?;
    let (range, total) = spec
        .split_once('/')
        .ok_or_else(|| invalid_range("Content-Range must be bytes start-end/total."))?;
    let (a, b) = range
        .split_once('-')
        .ok_or_else(|| invalid_range("Content-Range must be bytes start-end/total."))?;
    let start: usize = a
        .trim()
        .parse()
        .map_err(|_| invalid_range("Content-Range start is not a number."))?;
    let end: usize = b
        .trim()
        .parse()
        .map_err(|_| invalid_range("Content-Range end is not a number."))?;
    let total = match total.trim() {
        "*" => None,
        t => Some(
            t.parse()
                .map_err(|_| invalid_range("Content-Range total is not a number."))?,
        ),
    };
    if end < start {
        return Err(invalid_range("Content-Range end is before its start."));
    }
    Ok((start, end, total))
}

enum Outcome {
    Progress(Value),
    Complete(Target, Value, Vec<u8>),
}

/// `PUT|GET|DELETE /upload/{token}`.
pub(crate) async fn handle(
    State(app): State<Arc<App>>,
    Path(token): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = app.new_guid();
    let outlook = app
        .uploads
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&token)
        .and_then(|s| s.outlook.clone());
    // an attachment's chunks count against its mailbox's limits
    let slot = match &outlook {
        Some((app_id, mailbox)) => {
            let bytes = if method == Method::PUT {
                body.len() as u64
            } else {
                0
            };
            match app.limits.admit(app_id, Some(mailbox), bytes) {
                Ok(slot) => Some(slot),
                Err(e) => return e.into_response_with(&request_id, None),
            }
        }
        None => None,
    };
    if slot.is_some() {
        app.pacing.service_time().await;
    }
    match handle_inner(&app, &token, &method, &headers, body) {
        Ok(r) => r,
        Err(e) => e.into_response_with(&request_id, None),
    }
}

fn handle_inner(
    app: &App,
    token: &str,
    method: &Method,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, GraphError> {
    if headers.contains_key(header::AUTHORIZATION) {
        return Err(GraphError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Upload URLs are pre-authenticated: send chunks without an Authorization header.",
        ));
    }
    let not_found = || {
        GraphError::new(
            StatusCode::NOT_FOUND,
            "itemNotFound",
            "The upload session was not found or has expired.",
        )
    };
    let outcome = {
        let mut uploads = app.uploads.lock().unwrap_or_else(|e| e.into_inner());
        let now = datetime::now();
        uploads.retain(|_, s| s.expires > now);
        match *method {
            Method::GET => {
                let s = uploads.get(token).ok_or_else(not_found)?;
                return Ok(axum::Json(status_body(s)).into_response());
            }
            Method::DELETE => {
                uploads.remove(token).ok_or_else(not_found)?;
                return Ok(StatusCode::NO_CONTENT.into_response());
            }
            Method::PUT => {}
            _ => return Err(GraphError::method_not_allowed()),
        }
        let s = uploads.get_mut(token).ok_or_else(not_found)?;
        let (start, end, total) = content_range(headers)?;
        if end - start + 1 != body.len() {
            return Err(invalid_range(format!(
                "The Content-Range header length ({}) does not match the provided number of bytes ({}).",
                end - start + 1,
                body.len()
            )));
        }
        let total = total
            .or(s.size.map(|n| n as usize))
            .ok_or_else(|| invalid_range("Content-Range must give the total size."))?;
        if let Some(declared) = s.size
            && declared as usize != total
        {
            return Err(invalid_range(format!(
                "The total size {total} differs from the session's size {declared}."
            )));
        }
        if end >= total {
            return Err(invalid_range("Content-Range ends past the total size."));
        }
        if start != s.received.len() {
            let mut e = GraphError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "invalidRange",
                format!(
                    "The fragment must start at byte {}, the next expected range.",
                    s.received.len()
                ),
            );
            e.retry_after = None;
            return Err(e);
        }
        let last = end + 1 == total;
        if body.len() > MAX_CHUNK {
            return Err(invalid_range("Fragments must be smaller than 60 MiB."));
        }
        if !last && !body.len().is_multiple_of(CHUNK_UNIT) {
            return Err(invalid_range(format!(
                "Fragments must be a multiple of {CHUNK_UNIT} bytes (320 KiB), except the last one; this one has {} bytes.",
                body.len()
            )));
        }
        s.received.extend_from_slice(&body);
        if last {
            let s = uploads.remove(token).ok_or_else(not_found)?;
            Outcome::Complete(s.target, s.by, s.received)
        } else {
            Outcome::Progress(status_body(s))
        }
    };
    match outcome {
        Outcome::Progress(v) => Ok((StatusCode::ACCEPTED, axum::Json(v)).into_response()),
        Outcome::Complete(target, by, bytes) => {
            let mut st = app.lock();
            let t = &mut st.tenant;
            match target {
                Target::DriveItem {
                    drive,
                    parent,
                    name,
                    behavior,
                } => {
                    let write = drive::FileWrite {
                        drive: &drive,
                        parent: &parent,
                        name: &name,
                        behavior: &behavior,
                        bytes: Bytes::from(bytes),
                        mime: None,
                    };
                    let (created, item) = drive::write_file(app, t, by, write)?;
                    let status = if created {
                        StatusCode::CREATED
                    } else {
                        StatusCode::OK
                    };
                    Ok((status, axum::Json(item)).into_response())
                }
                Target::Attachment {
                    owner,
                    message_id,
                    name,
                    content_type,
                } => {
                    mail::finish_attachment_upload(
                        t,
                        &owner,
                        &message_id,
                        &name,
                        &content_type,
                        &bytes,
                    )?;
                    Ok(StatusCode::CREATED.into_response())
                }
            }
        }
    }
}
