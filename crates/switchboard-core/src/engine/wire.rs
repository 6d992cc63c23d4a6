//! What crosses the wire, bounded and explained: the deadline of one
//! attempt, the cap on a buffered body, and transport failures in words
//! that name the host.
//!
//! Everything a response sends is untrusted. The engine and the OAuth
//! adapter read bodies only through [`read_capped`] (a buffered JSON or
//! bytes response: fail beyond the cap) and [`read_prefix`] (an error body:
//! keep the first bytes, drop the rest), both under the attempt's
//! [`AttemptClock`] (its deadline and the read timeout, on one timer).
//!
//! | limit | default | where to change it |
//! |---|---|---|
//! | one attempt, headers and body | [`DEFAULT_ATTEMPT_DEADLINE`] (100 s) | `EngineBuilder::attempt_deadline` |
//! | a wait for data (headers, each chunk; streamed bodies too) | 60 s | `EngineBuilder::read_timeout` |
//! | one token request | [`DEFAULT_TOKEN_DEADLINE`] (30 s) | `EngineBuilder::token_deadline`, `OAuthHttpClient::with_deadline` |
//! | a buffered response, decompressed | [`DEFAULT_MAX_RESPONSE_BYTES`] (64 MiB) | `EngineBuilder::max_response_bytes`, a method's `max_response_bytes` |
//!
//! The cap counts bytes **after** decompression, while they are read: a
//! small gzip body that inflates without end is stopped at the cap, never
//! inflated whole. A `Content-Length` above the cap fails before reading.
//!
//! Transport failures are classified by [`Failure::of`]: a host name that
//! does not resolve ([`Failure::Resolve`]) is a configuration or DNS
//! problem, not retried; a refused or failed connection sent nothing and is
//! retried by the engine's policy, as is a request the service declined
//! unprocessed ([`Failure::Declined`], a refused HTTP/2 stream); a timeout
//! may have reached the service.
//!
//! ```
//! use switchboard_core::engine::wire::{DEFAULT_ATTEMPT_DEADLINE, DEFAULT_MAX_RESPONSE_BYTES};
//! assert_eq!(DEFAULT_ATTEMPT_DEADLINE.as_secs(), 100);
//! assert_eq!(DEFAULT_MAX_RESPONSE_BYTES, 64 * 1024 * 1024);
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::time::{Instant, Sleep};
use url::Url;

/// The default deadline of one attempt: connection, request, response
/// headers and, for buffered responses, the whole body. 100 seconds, the
/// request timeout Microsoft's own Graph SDKs use.
pub const DEFAULT_ATTEMPT_DEADLINE: Duration = Duration::from_secs(100);

/// The default deadline of one token request (a few KiB that the identity
/// service answers in well under a second): 30 seconds.
pub const DEFAULT_TOKEN_DEADLINE: Duration = Duration::from_secs(30);

/// The default cap on a buffered response body, after decompression:
/// 64 MiB, far above any Graph page (999 records of a few KiB).
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

/// The range a method's `max_response_bytes` may declare (a fact of the
/// definition format, kept with it).
pub use crate::definition::METHOD_RESPONSE_BYTES_RANGE;

/// `host` or `host:port` of a URL, for messages: never a path or query,
/// which can carry secrets (`$skiptoken`).
///
/// ```
/// use switchboard_core::engine::wire::host_label;
/// let url = url::Url::parse("https://graph.microsoft.com/v1.0/users?$skiptoken=SECRET").unwrap();
/// assert_eq!(host_label(&url), "graph.microsoft.com");
/// let url = url::Url::parse("http://127.0.0.1:8080/x").unwrap();
/// assert_eq!(host_label(&url), "127.0.0.1:8080");
/// ```
pub fn host_label(url: &Url) -> String {
    let host = url.host_str().unwrap_or("(no host)");
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// What went wrong on the wire.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The host name does not resolve (DNS). Nothing was sent.
    Resolve,
    /// The host refused the connection (nothing listens on the port).
    /// Nothing was sent.
    Refused,
    /// The connection could not be made (unreachable, TLS handshake, connect
    /// timeout). Nothing was sent.
    Connect,
    /// No data for longer than the read timeout; the request may have
    /// reached the service.
    Timeout,
    /// The attempt's deadline passed before the response was complete.
    Deadline(Duration),
    /// The body is larger than the cap (bytes, after decompression).
    TooLarge(u64),
    /// The connection broke while the request or response was in flight.
    Broken,
    /// The service declined the request before processing it, at the
    /// HTTP/2 level: it refused the stream (`REFUSED_STREAM`) or was
    /// shutting the connection down gracefully (`GOAWAY` with `NO_ERROR`).
    /// RFC 9113, section 8.7: such a request was not processed and may be
    /// sent again, whatever its method.
    Declined,
}

impl Failure {
    /// Classify a reqwest error.
    pub fn of(err: &reqwest::Error) -> Failure {
        if declined(err) {
            Failure::Declined
        } else if err.is_dns() {
            Failure::Resolve
        } else if err.is_connect() {
            if refused(err) {
                Failure::Refused
            } else {
                Failure::Connect
            }
        } else if err.is_timeout() {
            Failure::Timeout
        } else {
            Failure::Broken
        }
    }

    /// Whether the service did nothing with the request: it never reached
    /// the service, or the service declined it unprocessed (so any request
    /// may be resent).
    ///
    /// ```
    /// use switchboard_core::engine::wire::Failure;
    /// assert!(Failure::Declined.nothing_sent());
    /// assert!(!Failure::Broken.nothing_sent());
    /// ```
    pub fn nothing_sent(self) -> bool {
        matches!(
            self,
            Failure::Resolve | Failure::Refused | Failure::Connect | Failure::Declined
        )
    }

    /// What happened, naming `host` (see [`host_label`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard_core::engine::wire::Failure;
    /// assert_eq!(
    ///     Failure::Resolve.describe("nonexistent.invalid"),
    ///     "the host name `nonexistent.invalid` does not resolve (DNS)"
    /// );
    /// assert_eq!(
    ///     Failure::Deadline(Duration::from_secs(100)).describe("graph.microsoft.com"),
    ///     "`graph.microsoft.com` did not send the whole response within the deadline of 100s"
    /// );
    /// ```
    pub fn describe(self, host: &str) -> String {
        match self {
            Failure::Resolve => format!("the host name `{host}` does not resolve (DNS)"),
            Failure::Refused => format!("`{host}` refused the connection"),
            Failure::Connect => format!("the connection to `{host}` could not be made"),
            Failure::Timeout => format!("`{host}` stopped sending data (read timeout)"),
            Failure::Deadline(limit) => format!(
                "`{host}` did not send the whole response within the deadline of {}",
                seconds(limit)
            ),
            Failure::TooLarge(cap) => format!(
                "the response from `{host}` is larger than {}, the limit for a response held in memory",
                bytes_label(cap)
            ),
            Failure::Broken => format!("the connection to `{host}` broke in flight"),
            Failure::Declined => format!(
                "`{host}` declined the request unprocessed (HTTP/2 refused stream or graceful shutdown)"
            ),
        }
    }
}

/// The error and the causes under it, outermost first.
fn chain(err: &reqwest::Error) -> impl Iterator<Item = &(dyn std::error::Error + 'static)> {
    std::iter::successors(Some(err as &(dyn std::error::Error + 'static)), |e| {
        e.source()
    })
}

/// Whether the error chain holds an HTTP/2 error by which the server
/// declined the request unprocessed (see [`Failure::Declined`]).
fn declined(err: &reqwest::Error) -> bool {
    chain(err)
        .find_map(|e| e.downcast_ref::<h2::Error>())
        .is_some_and(|h2| {
            let reason = h2.reason();
            h2.is_remote()
                && ((h2.is_reset() && reason == Some(h2::Reason::REFUSED_STREAM))
                    || (h2.is_go_away() && reason == Some(h2::Reason::NO_ERROR)))
        })
}

/// Whether a `ConnectionRefused` I/O error is in the error's chain.
fn refused(err: &reqwest::Error) -> bool {
    chain(err)
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
}

/// `100s`, `1.5s`, `250ms`.
fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{}s", d.as_secs())
    } else if d.as_secs() == 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// A size in words: `64 MiB`, `1500 bytes`.
///
/// ```
/// use switchboard_core::engine::wire::bytes_label;
/// assert_eq!(bytes_label(64 * 1024 * 1024), "64 MiB");
/// assert_eq!(bytes_label(1500), "1500 bytes");
/// ```
pub fn bytes_label(n: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    const KIB: u64 = 1024;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n >= KIB && n.is_multiple_of(KIB) {
        format!("{} KiB", n / KIB)
    } else {
        format!("{n} bytes")
    }
}

/// A failure with its cause, when reqwest gave one.
#[derive(Debug)]
pub struct WireError {
    /// What happened.
    pub failure: Failure,
    /// reqwest's error, its URL removed.
    pub source: Option<reqwest::Error>,
}

impl WireError {
    /// From a reqwest error (its URL is dropped: it may carry secrets).
    pub fn from_reqwest(err: reqwest::Error) -> Self {
        WireError {
            failure: Failure::of(&err),
            source: Some(err.without_url()),
        }
    }

    fn bare(failure: Failure) -> Self {
        WireError {
            failure,
            source: None,
        }
    }
}

/// The clock of one attempt: its deadline and the read timeout (the
/// longest wait for data), kept by **one** timer.
///
/// The timer is armed the first time the attempt has to wait, and set again
/// only when it fires: data arriving ([`AttemptClock::progress`]) just notes
/// the time. When the timer fires, the clock checks what is due: the
/// deadline passed ([`Failure::Deadline`]), no data for the read timeout
/// ([`Failure::Timeout`]), or neither (data came meanwhile), in which case it
/// sets the timer for the new due time. A response thus costs one timer
/// registration however many chunks it comes in; a per-read timeout, reset
/// on each chunk, takes the runtime's timer lock each time, and every
/// registration is shared work for the runtime's threads.
///
/// ```
/// use std::time::Duration;
/// use switchboard_core::engine::wire::{AttemptClock, Failure, WireError};
///
/// let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
/// rt.block_on(async {
///     // no data ever comes: the read timeout passes first
///     let mut clock = AttemptClock::start(Some(Duration::from_secs(5)), Some(Duration::from_millis(20)));
///     let never = std::future::pending::<Result<(), WireError>>();
///     assert_eq!(clock.run(never).await.unwrap_err().failure, Failure::Timeout);
///     // work that is ready at once never arms the timer
///     let mut clock = AttemptClock::start(Some(Duration::from_millis(1)), None);
///     assert_eq!(clock.run(async { Ok::<_, WireError>(7) }).await.unwrap(), 7);
/// });
/// ```
pub struct AttemptClock {
    /// When the attempt must be over, and its length (for messages).
    deadline: Option<(Instant, Duration)>,
    read_timeout: Option<Duration>,
    /// When data last arrived (or the attempt started).
    last_data: Instant,
    /// Armed at the first wait; boxed so the clock moves freely.
    timer: Option<Pin<Box<Sleep>>>,
}

impl AttemptClock {
    /// A clock starting now: `deadline` for the whole attempt,
    /// `read_timeout` for each wait for data (`None`: no limit). A deadline
    /// too far to represent is no deadline.
    pub fn start(deadline: Option<Duration>, read_timeout: Option<Duration>) -> Self {
        let now = Instant::now();
        AttemptClock {
            deadline: deadline
                .and_then(|limit| crate::bounds::instant_after(now, limit).map(|at| (at, limit))),
            read_timeout,
            last_data: now,
            timer: None,
        }
    }

    /// The same clock without the deadline, for a body streamed to the
    /// caller (only the read timeout applies between its chunks).
    pub fn without_deadline(mut self) -> Self {
        self.deadline = None;
        if self.read_timeout.is_none() {
            self.timer = None;
        }
        self
    }

    /// Data arrived: the read timeout counts from now.
    pub fn progress(&mut self) {
        if self.read_timeout.is_some() {
            self.last_data = Instant::now();
        }
    }

    /// The earlier of the deadline and the end of the read timeout.
    fn due(&self) -> Option<Instant> {
        let quiet_until = self
            .read_timeout
            .and_then(|limit| crate::bounds::instant_after(self.last_data, limit));
        match (self.deadline.map(|(at, _)| at), quiet_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// `Ready` with what ran out once the deadline or the read timeout has
    /// passed; `Pending` before, the task then woken when one may have.
    pub fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<Failure> {
        let Some(mut due) = self.due() else {
            return Poll::Pending;
        };
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        loop {
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let now = Instant::now();
            if let Some((at, limit)) = self.deadline
                && at <= now
            {
                return Poll::Ready(Failure::Deadline(limit));
            }
            // data came since the timer was set: wait until the new due time
            let quiet_until = self
                .read_timeout
                .and_then(|limit| crate::bounds::instant_after(self.last_data, limit));
            due = match (self.deadline.map(|(at, _)| at), quiet_until) {
                (_, Some(q)) if q <= now => return Poll::Ready(Failure::Timeout),
                (Some(a), Some(q)) => a.min(q),
                (a, q) => match a.or(q) {
                    Some(d) => d,
                    None => return Poll::Pending,
                },
            };
            timer.as_mut().reset(due);
        }
    }

    /// Run `work` under the clock: its result, or the failure of the
    /// deadline or the read timeout if one passes first. A result counts as
    /// data arriving.
    pub async fn run<T>(
        &mut self,
        work: impl Future<Output = Result<T, WireError>>,
    ) -> Result<T, WireError> {
        let mut work = std::pin::pin!(work);
        let out = std::future::poll_fn(|cx| {
            if let Poll::Ready(out) = work.as_mut().poll(cx) {
                return Poll::Ready(out);
            }
            self.poll_expired(cx)
                .map(|failure| Err(WireError::bare(failure)))
        })
        .await;
        if out.is_ok() {
            self.progress();
        }
        out
    }

    /// The next chunk of `response`'s body under the clock.
    pub async fn next_chunk(
        &mut self,
        response: &mut reqwest::Response,
    ) -> Result<Option<Bytes>, WireError> {
        self.run(async { response.chunk().await.map_err(WireError::from_reqwest) })
            .await
    }
}

impl fmt::Debug for AttemptClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttemptClock")
            .field("deadline", &self.deadline.map(|(_, limit)| limit))
            .field("read_timeout", &self.read_timeout)
            .field("armed", &self.timer.is_some())
            .finish()
    }
}

/// Read a whole body into memory, at most `cap` bytes after decompression,
/// under the attempt's `clock`. Stops reading as soon as the cap is passed.
pub async fn read_capped(
    response: &mut reqwest::Response,
    cap: u64,
    clock: &mut AttemptClock,
) -> Result<Bytes, WireError> {
    if response.content_length().is_some_and(|n| n > cap) {
        return Err(WireError::bare(Failure::TooLarge(cap)));
    }
    // One chunk is the usual case: kept as it is, no copy. A second one
    // starts a buffer sized by the announced length (bounded by the cap).
    // One wait in the loop, so the reading future holds one chunk future.
    let mut first: Option<Bytes> = None;
    let mut body = BytesMut::new();
    while let Some(chunk) = clock.next_chunk(response).await? {
        let held = first.as_ref().map_or(body.len(), Bytes::len);
        if (held as u64).saturating_add(chunk.len() as u64) > cap {
            return Err(WireError::bare(Failure::TooLarge(cap)));
        }
        match first.take() {
            None if body.is_empty() => first = Some(chunk),
            None => body.extend_from_slice(&chunk),
            Some(only) => {
                let hint = response
                    .content_length()
                    .unwrap_or(0)
                    .min(cap)
                    .max((only.len() + chunk.len()) as u64);
                body.reserve(usize::try_from(hint).unwrap_or(0));
                body.extend_from_slice(&only);
                body.extend_from_slice(&chunk);
            }
        }
    }
    Ok(first.unwrap_or_else(|| body.freeze()))
}

/// The first `max` bytes of a body (an error body, read for its details),
/// or fewer when it is shorter, broken off or late (under the attempt's
/// `clock`). Never fails: what was read is what there is.
pub async fn read_prefix(
    response: &mut reqwest::Response,
    max: usize,
    clock: &mut AttemptClock,
) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < max {
        match clock.next_chunk(response).await {
            Ok(Some(chunk)) => {
                let room = max - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            _ => break,
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(bytes_label(64 * 1024 * 1024), "64 MiB");
        assert_eq!(bytes_label(2048), "2 KiB");
        assert_eq!(bytes_label(1500), "1500 bytes");
        assert_eq!(seconds(Duration::from_secs(30)), "30s");
        assert_eq!(seconds(Duration::from_millis(250)), "250ms");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5s");
    }
}
