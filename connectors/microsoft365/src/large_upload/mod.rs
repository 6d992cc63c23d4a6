//! OneDrive's large file upload through an upload session.
//!
//! 1. The session is created **through the engine**
//!    (`onedrive.create_upload_session`: validation, host allow-list, token,
//!    retries) with the caller's arguments (`parent_id`, `file_path`,
//!    optionally `item` with `@microsoft.graph.conflictBehavior`, and
//!    `user_id` in the application variant).
//! 2. The file is sent in fragments with `Content-Range` to the session's
//!    `uploadUrl`. Fragments are a multiple of 327,680 bytes (320 KiB) and
//!    under 60 MiB, as Microsoft requires; only the last may be shorter.
//! 3. Every request to the session (PUT a fragment, GET its status, DELETE
//!    it) goes through the engine's pipeline
//!    ([`Engine::send_link`](switchboard_core::Engine::send_link)) on behalf
//!    of `onedrive.create_upload_session`, so the engine's one retry table
//!    applies: a fragment is resent after a failed connection, a timeout,
//!    429 or any of 500, 502, 503 and 504 (Microsoft asks upload clients to
//!    retry 5xx; the engine's table retries 500 and 502 only for requests
//!    marked [`resumable`](switchboard_core::engine::LinkRequest::resumable)),
//!    honouring `Retry-After` within the policy's `max_wait`, with jittered
//!    backoff, within [`RetryPolicy::max_retries`](switchboard_core::RetryPolicy)
//!    and the total budget.
//! 4. The service answers each fragment with `nextExpectedRanges`; the next
//!    fragment starts where it says. A fragment refused with 416 (the
//!    service already had some of its bytes, e.g. after a connection dropped
//!    mid-fragment and the engine resent it) makes the upload read the
//!    session's status (GET on the upload URL) and resume from its
//!    `nextExpectedRanges`. Fragments that move the upload no further (416,
//!    or a 202 asking for the same bytes again) count against the policy's
//!    `max_retries` in a row.
//! 5. When a request fails for good (retries spent, a final status, a
//!    `Retry-After` beyond the policy), the session is cancelled (DELETE on
//!    the upload URL) and the error says so; a 404 means the session is
//!    already gone, so nothing is cancelled.
//!
//! **No Authorization header** goes to the upload URL: it is
//! pre-authenticated, on another host than Graph (`*.sharepoint.com`,
//! `*.up.1drv.com`). Because no credential is sent, the URL need not be on
//! the installation's allow-list; it must pass the same check the engine
//! applies to cross-origin redirects it follows without credentials
//! ([`HostPolicy::check_uncredentialed`](switchboard_core::engine::hosts::HostPolicy::check_uncredentialed)):
//! `https` on the default port, a host name (no IP literal, no local name),
//! no user info; plain http and other loopback ports only for an
//! installation that itself runs on loopback (sandbox, tests). The URL
//! carries its own token, so it is treated as a secret: never logged or
//! put in an error.
//!
//! ```no_run
//! use switchboard_core::{Arguments, Engine, InstallationContext};
//! use switchboard_microsoft365::large_upload::LargeUpload;
//!
//! # async fn run(engine: Engine, ctx: InstallationContext) -> switchboard_core::Result<()> {
//! let file = tokio::fs::File::open("video.mp4").await.map_err(|e| {
//!     switchboard_core::Error::new(switchboard_core::ErrorKind::InvalidArgument, "no file").with_source(e)
//! })?;
//! let len = file.metadata().await.map(|m| m.len()).unwrap_or(0);
//! let args = Arguments::new()
//!     .set("parent_id", "root")
//!     .set("file_path", "Videos/video.mp4")
//!     .set("item", serde_json::json!({"@microsoft.graph.conflictBehavior": "rename"}));
//! let item = LargeUpload::new(engine, ctx, args, file, len)
//!     .chunk_size(16 * 327_680)
//!     .on_progress(|p| println!("{} of {} bytes", p.uploaded, p.total))
//!     .run()
//!     .await?;
//! println!("uploaded {}", item["id"]);
//! # Ok(()) }
//! ```

mod ranges;
mod session;
mod source;

use std::fmt;
use std::sync::Arc;
use switchboard_core::engine::retry::GiveUp;

use serde_json::Value;
use switchboard_core::{Arguments, Engine, Error, ErrorKind, InstallationContext, Result};
use tokio::io::AsyncRead;
use tokio::time::Instant;
use tracing::Instrument;
use url::Url;

pub use source::UploadSource;

use ranges::next_expected;
use session::UploadUrl;

/// The unit fragments are made of: 320 KiB.
pub const FRAGMENT_UNIT: u64 = 327_680;
/// Fragments must be smaller than this: 60 MiB.
pub const FRAGMENT_LIMIT: u64 = 60 * 1024 * 1024;
/// The default fragment size: 16 × 320 KiB = 5 MiB.
pub const DEFAULT_CHUNK_SIZE: u64 = 16 * FRAGMENT_UNIT;
/// The engine method that creates the session.
pub const CREATE_SESSION_METHOD: &str = "onedrive.create_upload_session";

/// How far an upload has come: bytes the service has confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Bytes the service has received.
    pub uploaded: u64,
    /// The file's length.
    pub total: u64,
}

type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// A large upload; see the [module documentation](self).
pub struct LargeUpload {
    engine: Engine,
    ctx: InstallationContext,
    args: Arguments,
    source: UploadSource,
    total_len: u64,
    chunk_size: u64,
    progress: Option<ProgressFn>,
}

impl fmt::Debug for LargeUpload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LargeUpload")
            .field("installation", &self.ctx.installation_id())
            .field("args", &self.args)
            .field("source", &self.source)
            .field("total_len", &self.total_len)
            .field("chunk_size", &self.chunk_size)
            .finish()
    }
}

/// Anything the upload can read its content from.
pub trait IntoUploadSource {
    /// The source.
    fn into_upload_source(self) -> UploadSource;
}

impl<R: AsyncRead + Send + Unpin + 'static> IntoUploadSource for R {
    fn into_upload_source(self) -> UploadSource {
        UploadSource::reader(self)
    }
}

impl IntoUploadSource for UploadSource {
    fn into_upload_source(self) -> UploadSource {
        self
    }
}

impl LargeUpload {
    /// An upload of `total_len` bytes from `source` (any `AsyncRead`, or
    /// an [`UploadSource`] such as `UploadSource::from(bytes)`), with the
    /// arguments of `onedrive.create_upload_session`.
    pub fn new(
        engine: Engine,
        ctx: InstallationContext,
        args: Arguments,
        source: impl IntoUploadSource,
        total_len: u64,
    ) -> Self {
        LargeUpload {
            engine,
            ctx,
            args,
            source: source.into_upload_source(),
            total_len,
            chunk_size: DEFAULT_CHUNK_SIZE,
            progress: None,
        }
    }

    /// The fragment size: a multiple of 327,680 bytes, under 60 MiB
    /// (default [`DEFAULT_CHUNK_SIZE`]). Checked by [`LargeUpload::run`].
    pub fn chunk_size(mut self, bytes: u64) -> Self {
        self.chunk_size = bytes;
        self
    }

    /// Called with the confirmed byte count after each fragment.
    pub fn on_progress(mut self, callback: impl Fn(Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(callback));
        self
    }

    /// Run the upload; returns the created driveItem.
    pub async fn run(self) -> Result<Value> {
        let span = tracing::info_span!(
            "switchboard.large_upload",
            installation = %self.ctx.installation_id(),
            total = self.total_len,
            chunk_size = self.chunk_size,
        );
        self.run_inner().instrument(span).await
    }

    async fn run_inner(mut self) -> Result<Value> {
        check_chunk_size(self.chunk_size)?;
        if self.total_len == 0 {
            return Err(Error::invalid_argument(
                "total_len",
                "must be at least 1 byte; upload an empty file with `onedrive.upload_small`",
            ));
        }
        let created = self
            .engine
            .call(&self.ctx, CREATE_SESSION_METHOD, self.args.clone())
            .await?
            .into_json()?;
        let url = upload_url(&created)?;
        // before anything is read from the source (the pipeline checks
        // every request to the URL again)
        self.ctx.hosts().check_uncredentialed(url.url())?;
        match self.send_fragments(&url).await {
            Ok(item) => Ok(item),
            Err(Stopped::Gone(err)) => Err(err),
            Err(Stopped::Cancel(err)) => {
                session::cancel(&self.engine, &self.ctx, &url).await;
                Err(cancelled(err))
            }
        }
    }

    async fn send_fragments(&mut self, url: &UploadUrl) -> std::result::Result<Value, Stopped> {
        let total = self.total_len;
        let mut stalls = Stalls::new(self.engine.retry_policy().clone());
        let mut offset: u64 = 0;
        let mut resync = false;
        loop {
            if resync {
                let answer = session::status(&self.engine, &self.ctx, url)
                    .await
                    .map_err(|e| stopped(e, "the upload session"))?;
                resync = false;
                if let Some(next) = next_expected(&answer.body) {
                    tracing::debug!(next, "resuming from the session's status");
                    offset = next;
                }
                self.report(offset);
            }
            if offset >= total {
                return Err(Stopped::Cancel(Error::new(
                    ErrorKind::OutcomeUnknown,
                    "the upload service has every byte but did not return the file; check whether the item exists before uploading again",
                )));
            }
            let len = self.chunk_size.min(total - offset);
            let bytes = self
                .source
                .range(offset, len)
                .await
                .map_err(Stopped::Cancel)?;
            tracing::debug!(start = offset, len, "sending fragment");
            match session::put(&self.engine, &self.ctx, url, offset, bytes, total).await {
                Ok(answer) if answer.status == 200 || answer.status == 201 => {
                    self.report(total);
                    return Ok(answer.body);
                }
                Ok(answer) => {
                    let next = next_expected(&answer.body).unwrap_or(offset + len);
                    if next > offset {
                        stalls.reset();
                    } else {
                        // The service took the fragment but wants the same
                        // bytes (or earlier ones) again: no progress. Counted,
                        // so a service that never moves forward cannot keep
                        // the upload going for ever.
                        stalls.wait_for("no progress").await?;
                    }
                    offset = next;
                    self.report(offset);
                }
                Err(e) if e.status() == Some(416) => {
                    // The service has other bytes than this fragment assumed
                    // (a resent fragment it had already received): read the
                    // missing ranges and resume from them.
                    tracing::debug!("fragment refused (416); resuming from the session status");
                    stalls.wait_for("HTTP 416").await?;
                    resync = true;
                }
                Err(e) => return Err(stopped(e, "the upload service")),
            }
        }
    }

    fn report(&self, uploaded: u64) {
        if let Some(cb) = &self.progress {
            cb(Progress {
                uploaded: uploaded.min(self.total_len),
                total: self.total_len,
            });
        }
    }
}

/// Why the fragment loop stopped without the item.
enum Stopped {
    /// The session is gone: nothing to cancel.
    Gone(Error),
    /// Cancel the session, then report this.
    Cancel(Error),
}

/// How a failed request to the session ends the upload: the engine has
/// already retried what its retry table retries. A status the upload
/// protocol gives a meaning to gets the upload's advice, keeping what the
/// service said.
fn stopped(error: Error, what: &str) -> Stopped {
    let Some(status @ (404 | 409 | 413 | 416 | 507)) = error.status() else {
        return Stopped::Cancel(error);
    };
    let mut advised = session::status_error(status, what);
    if let Some(remote) = error.remote() {
        advised = advised.with_remote(remote.clone());
    }
    let advised = advised.with_source(error);
    if status == 404 {
        Stopped::Gone(advised)
    } else {
        Stopped::Cancel(advised)
    }
}

/// The same error, saying the session was cancelled.
fn cancelled(error: Error) -> Error {
    let mut out = Error::new(
        error.kind(),
        format!("{}; the upload session was cancelled", error.message()),
    );
    if let Some(remote) = error.remote() {
        out = out.with_remote(remote.clone());
    }
    if let Some(wait) = error.retry_after() {
        out = out.with_retry_after(wait);
    }
    out.with_source(error)
}

/// Fragments in a row that moved the upload no further (a 202 asking for
/// the same bytes again, a 416), bounded and spaced by the engine's retry
/// policy. Failed requests are not counted here: the engine retried them.
struct Stalls {
    policy: switchboard_core::RetryPolicy,
    started: Instant,
    in_a_row: u32,
}

impl Stalls {
    fn new(policy: switchboard_core::RetryPolicy) -> Self {
        Stalls {
            policy,
            started: Instant::now(),
            in_a_row: 0,
        }
    }

    fn reset(&mut self) {
        self.in_a_row = 0;
    }

    /// Wait before another try after `what`, or stop as the policy says.
    async fn wait_for(&mut self, what: &str) -> std::result::Result<(), Stopped> {
        let wait = match self
            .policy
            .next_wait(self.in_a_row, None, self.started.elapsed())
        {
            Ok(wait) => wait,
            Err(GiveUp::Exhausted { .. }) if self.in_a_row >= self.policy.max_retries => {
                return Err(Stopped::Cancel(Error::new(
                    ErrorKind::Transient,
                    format!(
                        "the upload stalled ({what}) through {} retries",
                        self.in_a_row
                    ),
                )));
            }
            Err(_) => {
                return Err(Stopped::Cancel(Error::new(
                    ErrorKind::Transient,
                    format!("the upload stalled ({what}) and its retry time budget ran out"),
                )));
            }
        };
        self.in_a_row += 1;
        tracing::warn!(reason = %what, wait_ms = wait.as_millis() as u64, retry = self.in_a_row, "retrying the upload after a wait");
        tokio::time::sleep(wait).await;
        Ok(())
    }
}

/// Check a fragment size: a positive multiple of 327,680 bytes under 60 MiB.
///
/// ```
/// use switchboard_microsoft365::large_upload::check_chunk_size;
///
/// assert!(check_chunk_size(983_040).is_ok());
/// assert_eq!(check_chunk_size(1_000_000).unwrap_err().field(), Some("chunk_size"));
/// ```
pub fn check_chunk_size(bytes: u64) -> Result<()> {
    if bytes == 0 || !bytes.is_multiple_of(FRAGMENT_UNIT) || bytes >= FRAGMENT_LIMIT {
        return Err(Error::invalid_argument(
            "chunk_size",
            format!(
                "is {bytes} bytes; it must be a multiple of {FRAGMENT_UNIT} bytes (320 KiB) and under {FRAGMENT_LIMIT} bytes (60 MiB), for example {DEFAULT_CHUNK_SIZE}"
            ),
        ));
    }
    Ok(())
}

fn upload_url(session: &Value) -> Result<UploadUrl> {
    let text = session
        .get("uploadUrl")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Decode,
                "the upload session answer has no `uploadUrl`",
            )
        })?;
    let url = Url::parse(text).map_err(|_| {
        Error::new(
            ErrorKind::Decode,
            "the upload session's `uploadUrl` is not a valid absolute URL",
        )
    })?;
    Ok(UploadUrl::new(url))
}
