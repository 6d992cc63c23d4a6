//! An upload session as `createUploadSession` opens it (OneDrive items
//! and message attachments): what it will write, what it received, until
//! when it lives. The areas open sessions here; `crate::uploads` receives
//! the chunks and, on the last one, hands the bytes back to the area.

use serde_json::{Value, json};

use crate::datetime;
use crate::errors::GraphError;
use crate::request::Ctx;

const SESSION_LIFETIME: i64 = 24 * 3600;

/// What an upload session writes when it completes.
#[derive(Clone)]
pub(crate) enum Target {
    DriveItem {
        drive: String,
        parent: String,
        name: String,
        behavior: String,
    },
    Attachment {
        owner: String,
        message_id: String,
        name: String,
        content_type: String,
    },
}

/// An open upload session.
pub(crate) struct UploadSession {
    pub(crate) target: Target,
    /// Who created it (for `createdBy`), as Graph identity JSON.
    pub(crate) by: Value,
    pub(crate) size: Option<u64>,
    pub(crate) received: Vec<u8>,
    pub(crate) expires: i64,
    /// (app, mailbox) for a message attachment: its chunks go to Outlook
    /// and count against that mailbox's throttling limits.
    pub(crate) outlook: Option<(String, String)>,
}

/// Graph's answer for a session in progress.
pub(crate) fn status_body(s: &UploadSession) -> Value {
    json!({
        "expirationDateTime": datetime::iso_z(s.expires),
        "nextExpectedRanges": [format!("{}-", s.received.len())],
    })
}

/// Opens a session and returns Graph's `uploadSession` JSON.
pub(crate) fn create(ctx: &Ctx, target: Target, size: Option<u64>) -> Result<Value, GraphError> {
    let n = ctx.app.uploads_counter();
    let token = ctx.app.signer.opaque_id("upload", n);
    let by = match &ctx.caller.user_id {
        Some(u) => json!({"user": {"id": u}}),
        None => json!({"application": {"displayName": "switchboard sandbox app"}}),
    };
    let outlook = match &target {
        Target::Attachment { owner, .. } => Some((ctx.caller.app_id.clone(), owner.clone())),
        Target::DriveItem { .. } => None,
    };
    let session = UploadSession {
        target,
        by,
        size,
        received: Vec::new(),
        expires: datetime::now() + SESSION_LIFETIME,
        outlook,
    };
    let body = json!({
        "uploadUrl": format!("{}/upload/{token}", ctx.app.base_url),
        "expirationDateTime": datetime::iso_z(session.expires),
        "nextExpectedRanges": ["0-"],
    });
    ctx.app
        .uploads
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(token, session);
    Ok(body)
}
