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
//! 3. The service answers each fragment with `nextExpectedRanges`; the next
//!    fragment starts where it says. After a failure (a dropped connection,
//!    a timeout, 429 or 5xx) the session's status is read (GET on the upload
//!    URL) and the upload resumes from its `nextExpectedRanges`.
//! 4. Failures are retried like the engine retries: at most
//!    [`RetryPolicy::max_retries`](switchboard_core::RetryPolicy) in a row
//!    for one fragment, waiting `Retry-After` when the service sent one
//!    (failing fast when it asks for more than the policy's `max_wait`),
//!    jittered exponential backoff otherwise, within the policy's total
//!    budget. When it gives up, or on a final error, the session is
//!    cancelled (DELETE on the upload URL).
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
use std::time::Duration;
use switchboard_core::engine::retry::GiveUp;

use serde_json::Value;
use switchboard_core::{Arguments, Engine, Error, ErrorKind, InstallationContext, Result};
use tokio::io::AsyncRead;
use tokio::time::Instant;
use tracing::Instrument;
use url::Url;

pub use source::UploadSource;

use ranges::next_expected;
use session::{Answer, UploadUrl};

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
        self.ctx.hosts().check_uncredentialed(url.url())?;
        let client = self.engine.http_client().clone();
        let result = self.send_fragments(&client, &url).await;
        match result {
            Ok(item) => Ok(item),
            Err(Stopped::Gone(err)) => Err(err),
            Err(Stopped::Cancel(err)) => {
                session::cancel(&client, &url).await;
                Err(err)
            }
        }
    }

    async fn send_fragments(
        &mut self,
        client: &reqwest::Client,
        url: &UploadUrl,
    ) -> std::result::Result<Value, Stopped> {
        let total = self.total_len;
        let mut retries = Retries::new(self.engine.retry_policy().clone());
        let mut offset: u64 = 0;
        let mut resync = false;
        loop {
            if resync {
                match session::status(client, url).await {
                    Answer::Ok { body, .. } => {
                        resync = false;
                        if let Some(next) = next_expected(&body) {
                            tracing::debug!(next, "resuming from the session's status");
                            offset = next;
                        }
                        self.report(offset);
                    }
                    Answer::Status { status: 404, .. } => {
                        return Err(Stopped::Gone(session::status_error(
                            404,
                            "the upload session",
                        )));
                    }
                    Answer::Status {
                        status,
                        retry_after,
                    } if retryable(status) => {
                        retries.wait(Some(status), retry_after).await?;
                        continue;
                    }
                    Answer::Status { status, .. } => {
                        return Err(Stopped::Cancel(session::status_error(
                            status,
                            "the upload session",
                        )));
                    }
                    Answer::Transport(e) => {
                        tracing::debug!("reading the session status failed");
                        retries.wait_transport(e).await?;
                        continue;
                    }
                }
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
            match session::put(client, url, offset, bytes, total).await {
                Answer::Ok { status, body } if status == 200 || status == 201 => {
                    self.report(total);
                    return Ok(body);
                }
                Answer::Ok { body, .. } => {
                    let next = next_expected(&body).unwrap_or(offset + len);
                    if next > offset {
                        retries.reset();
                    } else {
                        // The service took the fragment but wants the same
                        // bytes (or earlier ones) again: no progress. Counted
                        // like a failure, so a service that never moves
                        // forward cannot keep the upload going for ever.
                        retries.wait_for("no progress", None).await?;
                    }
                    offset = next;
                    self.report(offset);
                }
                Answer::Status { status: 404, .. } => {
                    return Err(Stopped::Gone(session::status_error(
                        404,
                        "the upload session",
                    )));
                }
                Answer::Status {
                    status,
                    retry_after,
                } if retryable(status) || status == 416 => {
                    tracing::debug!(
                        status,
                        "fragment failed; will resume from the session status"
                    );
                    retries.wait(Some(status), retry_after).await?;
                    resync = true;
                }
                Answer::Status { status, .. } => {
                    return Err(Stopped::Cancel(session::status_error(
                        status,
                        "the upload service",
                    )));
                }
                Answer::Transport(e) => {
                    tracing::debug!(
                        "fragment failed in transit; will resume from the session status"
                    );
                    retries.wait_transport(e).await?;
                    resync = true;
                }
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

/// Failures in a row for the current fragment, judged by the engine's policy.
struct Retries {
    policy: switchboard_core::RetryPolicy,
    started: Instant,
    in_a_row: u32,
}

impl Retries {
    fn new(policy: switchboard_core::RetryPolicy) -> Self {
        Retries {
            policy,
            started: Instant::now(),
            in_a_row: 0,
        }
    }

    fn reset(&mut self) {
        self.in_a_row = 0;
    }

    async fn wait(
        &mut self,
        status: Option<u16>,
        retry_after: Option<Duration>,
    ) -> std::result::Result<(), Stopped> {
        let what = match status {
            Some(s) => format!("HTTP {s}"),
            None => "a connection failure".to_string(),
        };
        self.wait_for(&what, retry_after).await
    }

    /// Wait before another try after `what`, or stop as the policy says.
    async fn wait_for(
        &mut self,
        what: &str,
        retry_after: Option<Duration>,
    ) -> std::result::Result<(), Stopped> {
        let wait = match self
            .policy
            .next_wait(self.in_a_row, retry_after, self.started.elapsed())
        {
            Ok(wait) => wait,
            Err(GiveUp::WaitTooLong(wait)) => {
                return Err(Stopped::Cancel(
                    Error::new(
                        ErrorKind::Throttled,
                        format!(
                            "the upload service asked to wait {} s, longer than the retry policy allows; the upload was cancelled, try again later",
                            wait.as_secs()
                        ),
                    )
                    .with_retry_after(wait),
                ));
            }
            Err(_) if self.in_a_row >= self.policy.max_retries => {
                return Err(Stopped::Cancel(Error::new(
                    ErrorKind::Transient,
                    format!(
                        "the upload failed with {what} through {} retries; the upload session was cancelled, try again later",
                        self.in_a_row
                    ),
                )));
            }
            Err(_) => {
                return Err(Stopped::Cancel(Error::new(
                    ErrorKind::Transient,
                    format!(
                        "the upload failed with {what} and its retry time budget ran out; the upload session was cancelled"
                    ),
                )));
            }
        };
        self.in_a_row += 1;
        tracing::warn!(reason = %what, wait_ms = wait.as_millis() as u64, retry = self.in_a_row, "retrying the upload after a wait");
        tokio::time::sleep(wait).await;
        Ok(())
    }

    async fn wait_transport(&mut self, error: reqwest::Error) -> std::result::Result<(), Stopped> {
        self.wait(None, None)
            .await
            .map_err(|stopped| match stopped {
                Stopped::Cancel(e) => Stopped::Cancel(e.with_source(error)),
                other => other,
            })
    }
}

fn retryable(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
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
