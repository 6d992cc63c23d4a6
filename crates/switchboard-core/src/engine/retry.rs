//! Retry policy as data, `Retry-After` parsing, and the decision whether a
//! failed attempt is tried again.
//!
//! Defaults: at most 4 retries, exponential backoff from 1 second with full
//! jitter, each wait capped at 5 minutes, 10 minutes in total. 429, 503, 504
//! and failed connections (refused, unreachable, TLS, connect timeout:
//! nothing was sent) are retried; a host name that does not resolve is not
//! (a wrong endpoint or a broken resolver does not mend in seconds, and
//! retrying would only delay the error). A request that may already have had
//! its effect is not: POST and PATCH (unless the method declares itself
//! idempotent) are retried only on 429, or on 503 carrying `Retry-After`;
//! after a timeout, 500, 502 or 504 they fail with
//! [`ErrorKind::OutcomeUnknown`](crate::ErrorKind::OutcomeUnknown).
//!
//! `Retry-After` is honoured as seconds or as an HTTP date. A negative, past
//! or malformed value is ignored (the backoff wait is used instead); values
//! are clamped to [`MAX_RETRY_AFTER`]; a value above the policy's
//! [`max_wait`](RetryPolicy::max_wait) fails fast with a
//! [`Throttled`](crate::ErrorKind::Throttled) error that carries the wait.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use switchboard_core::engine::retry::{parse_retry_after, RetryPolicy};
//!
//! let policy = RetryPolicy::default();
//! assert_eq!(policy.max_retries, 4);
//! assert_eq!(parse_retry_after("7", SystemTime::now()), Some(Duration::from_secs(7)));
//! assert_eq!(parse_retry_after("-1", SystemTime::now()), None);
//! ```

use std::time::{Duration, SystemTime};

use rand::Rng;

/// The longest `Retry-After` the parser reports; larger values are clamped.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// How failed attempts are retried.
///
/// ```
/// use std::time::Duration;
/// use switchboard_core::engine::retry::{Jitter, RetryPolicy};
///
/// let quick = RetryPolicy {
///     max_retries: 2,
///     initial_backoff: Duration::from_millis(100),
///     jitter: Jitter::None,
///     ..RetryPolicy::default()
/// };
/// assert_eq!(quick.backoff(0), Duration::from_millis(100));
/// assert_eq!(quick.backoff(1), Duration::from_millis(200));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0: never retry).
    pub max_retries: u32,
    /// The first backoff wait; each further retry doubles it.
    pub initial_backoff: Duration,
    /// The longest single wait. A `Retry-After` above it fails fast.
    pub max_wait: Duration,
    /// The longest time a call may spend on attempts and waits before it
    /// gives up.
    pub total_budget: Duration,
    /// How backoff waits are randomised.
    pub jitter: Jitter,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 4,
            initial_backoff: Duration::from_secs(1),
            max_wait: Duration::from_secs(5 * 60),
            total_budget: Duration::from_secs(10 * 60),
            jitter: Jitter::Full,
        }
    }
}

/// How backoff waits are randomised.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Jitter {
    /// "Full jitter": a uniformly random wait between zero and the
    /// exponential backoff, so many clients do not retry in lockstep.
    #[default]
    Full,
    /// The exponential backoff exactly (deterministic; for tests).
    None,
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn never() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        }
    }

    /// The exponential backoff before retry number `retry + 1`, before
    /// jitter: `initial_backoff * 2^retry`, at most `max_wait`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.min(31));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_wait)
    }

    /// The wait before retry number `retry + 1` when the service gave no
    /// usable `Retry-After`: the backoff with this policy's jitter.
    pub fn backoff_wait(&self, retry: u32) -> Duration {
        let base = self.backoff(retry);
        match self.jitter {
            Jitter::None => base,
            Jitter::Full => {
                let nanos = u64::try_from(base.as_nanos()).unwrap_or(u64::MAX);
                Duration::from_nanos(rand::rng().random_range(0..=nanos))
            }
        }
    }
}

/// Parse a `Retry-After` value: delay seconds (`120`) or an HTTP date
/// (`Wed, 21 Oct 2026 07:28:00 GMT`), relative to `now`.
///
/// Returns `None` for a negative, past, malformed or empty value. Never
/// panics; a result is at most [`MAX_RETRY_AFTER`].
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use switchboard_core::engine::retry::{parse_retry_after, MAX_RETRY_AFTER};
///
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
/// assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(30)));
/// assert_eq!(parse_retry_after("99999999999999999999999", now), Some(MAX_RETRY_AFTER));
/// assert_eq!(parse_retry_after("soon", now), None);
/// ```
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        // All digits: delay seconds. Too many digits for u64 is "enormous".
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    match when.duration_since(now) {
        Ok(wait) if !wait.is_zero() => Some(wait.min(MAX_RETRY_AFTER)),
        _ => None,
    }
}

/// What went wrong with one attempt, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trouble {
    /// The service answered with this (non-success) status.
    Status(u16),
    /// The host name does not resolve: nothing was sent, and trying again
    /// in a few seconds will not help.
    Resolve,
    /// The connection could not be made: nothing reached the service.
    Connect,
    /// The request was (perhaps) sent but the response timed out.
    Timeout,
    /// Another transport failure after the request may have been sent.
    Transport,
}

/// A `Retry-After` header as seen on a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct RetryAfterHeader {
    /// The header was present (whatever its value).
    pub present: bool,
    /// Its value, when it parsed to a wait in the future.
    pub wait: Option<Duration>,
}

/// Why an attempt is not retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The failure is final (a 404, a 400...): classify it by status.
    Final,
    /// A request that may already have had its effect failed ambiguously.
    OutcomeUnknown,
    /// Retries or the time budget ran out; the last wait asked for, if any.
    Exhausted { wait: Option<Duration> },
    /// The service asked for a wait above the policy's cap.
    WaitTooLong(Duration),
}

/// Whether a request may be sent again after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repeat {
    /// It may already have had its effect (a POST, a PATCH).
    Unsafe,
    /// Repeating it has no further effect (GET, PUT, DELETE...).
    Safe,
    /// Safe, and its protocol says to repeat it after any server error
    /// (500, 502, 503, 504): an upload session's fragment, which Microsoft
    /// asks clients to retry on 5xx (driveitem-createuploadsession, "Best
    /// practices").
    Resumable,
}

impl From<bool> for Repeat {
    /// `true`: idempotent.
    fn from(idempotent: bool) -> Self {
        if idempotent {
            Repeat::Safe
        } else {
            Repeat::Unsafe
        }
    }
}

/// Retry after a wait, or stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Retry(Duration),
    Stop(Stop),
}

/// Decide what to do after a failed attempt.
///
/// `retries_done` counts the retries already made; `elapsed` is the time
/// since the call's first attempt started.
pub(crate) fn decide(
    policy: &RetryPolicy,
    trouble: Trouble,
    repeat: impl Into<Repeat>,
    retry_after: RetryAfterHeader,
    retries_done: u32,
    elapsed: Duration,
) -> Decision {
    let repeat = repeat.into();
    let idempotent = repeat != Repeat::Unsafe;
    let retryable = match trouble {
        Trouble::Status(429) => true,
        Trouble::Status(500 | 502) => repeat == Repeat::Resumable,
        Trouble::Status(503) => idempotent || retry_after.present,
        Trouble::Status(504) => idempotent,
        Trouble::Connect => true,
        Trouble::Timeout | Trouble::Transport => idempotent,
        Trouble::Status(_) | Trouble::Resolve => false,
    };
    if !retryable {
        let ambiguous = matches!(
            trouble,
            Trouble::Status(500 | 502 | 503 | 504) | Trouble::Timeout | Trouble::Transport
        );
        return Decision::Stop(if ambiguous && !idempotent {
            Stop::OutcomeUnknown
        } else {
            Stop::Final
        });
    }
    let asked = match trouble {
        Trouble::Status(429 | 503) => retry_after.wait,
        _ => None,
    };
    match policy.next_wait(retries_done, asked, elapsed) {
        Ok(wait) => Decision::Retry(wait),
        Err(GiveUp::WaitTooLong(wait)) => Decision::Stop(Stop::WaitTooLong(wait)),
        Err(GiveUp::Exhausted { wait }) => Decision::Stop(Stop::Exhausted { wait }),
    }
}

/// Why [`RetryPolicy::next_wait`] says not to retry.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUp {
    /// The service asked for a wait above [`RetryPolicy::max_wait`]: fail
    /// fast with this wait instead of sleeping through it.
    WaitTooLong(Duration),
    /// Retries or the time budget ran out; the wait that would have come next
    /// (or the one the service asked for), if any.
    Exhausted {
        /// The wait that was not taken.
        wait: Option<Duration>,
    },
}

impl RetryPolicy {
    /// How long to wait before retrying a failed attempt that is safe to
    /// repeat, or why not to retry: the service's `asked` wait
    /// (`Retry-After`) if any, else jittered exponential backoff; never
    /// above [`Self::max_wait`], never past [`Self::max_retries`] or
    /// [`Self::total_budget`] (`elapsed` is the time since the first attempt).
    ///
    /// Whether a failure is retryable at all (idempotency, status) is the
    /// caller's decision; this is the policy's arithmetic, shared by the
    /// engine and by transfers that send outside it (upload sessions).
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard_core::engine::retry::{GiveUp, Jitter, RetryPolicy};
    ///
    /// let policy = RetryPolicy { jitter: Jitter::None, ..RetryPolicy::default() };
    /// assert_eq!(policy.next_wait(0, None, Duration::ZERO), Ok(Duration::from_secs(1)));
    /// assert_eq!(policy.next_wait(1, Some(Duration::from_secs(7)), Duration::ZERO), Ok(Duration::from_secs(7)));
    /// let too_long = Duration::from_secs(3600);
    /// assert_eq!(policy.next_wait(0, Some(too_long), Duration::ZERO), Err(GiveUp::WaitTooLong(too_long)));
    /// assert_eq!(policy.next_wait(4, None, Duration::ZERO), Err(GiveUp::Exhausted { wait: None }));
    /// ```
    pub fn next_wait(
        &self,
        retries_done: u32,
        asked: Option<Duration>,
        elapsed: Duration,
    ) -> Result<Duration, GiveUp> {
        if let Some(wait) = asked
            && wait > self.max_wait
        {
            return Err(GiveUp::WaitTooLong(wait));
        }
        if retries_done >= self.max_retries {
            return Err(GiveUp::Exhausted { wait: asked });
        }
        let wait = asked.unwrap_or_else(|| self.backoff_wait(retries_done));
        if elapsed.saturating_add(wait) > self.total_budget {
            return Err(GiveUp::Exhausted { wait: Some(wait) });
        }
        Ok(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fixed() -> RetryPolicy {
        RetryPolicy {
            jitter: Jitter::None,
            ..RetryPolicy::default()
        }
    }

    const NO_HEADER: RetryAfterHeader = RetryAfterHeader {
        present: false,
        wait: None,
    };

    fn header(secs: u64) -> RetryAfterHeader {
        RetryAfterHeader {
            present: true,
            wait: Some(Duration::from_secs(secs)),
        }
    }

    #[test]
    fn defaults_match_the_documented_policy() {
        let p = RetryPolicy::default();
        assert_eq!(p.max_retries, 4);
        assert_eq!(p.initial_backoff, Duration::from_secs(1));
        assert_eq!(p.max_wait, Duration::from_secs(300));
        assert_eq!(p.total_budget, Duration::from_secs(600));
        assert_eq!(p.jitter, Jitter::Full);
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = fixed();
        let waits: Vec<u64> = (0..12).map(|r| p.backoff(r).as_secs()).collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(p.backoff(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn full_jitter_stays_within_the_backoff() {
        let p = RetryPolicy::default();
        for retry in 0..6 {
            for _ in 0..50 {
                assert!(p.backoff_wait(retry) <= p.backoff(retry));
            }
        }
    }

    #[test]
    fn idempotent_requests_retry_429_503_504_and_connection_failures() {
        let p = fixed();
        for t in [
            Trouble::Status(429),
            Trouble::Status(503),
            Trouble::Status(504),
            Trouble::Connect,
            Trouble::Timeout,
        ] {
            assert_eq!(
                decide(&p, t, true, NO_HEADER, 0, Duration::ZERO),
                Decision::Retry(Duration::from_secs(1)),
                "{t:?}"
            );
        }
        assert_eq!(
            decide(&p, Trouble::Resolve, true, NO_HEADER, 0, Duration::ZERO),
            Decision::Stop(Stop::Final)
        );
        assert_eq!(
            decide(&p, Trouble::Resolve, false, NO_HEADER, 0, Duration::ZERO),
            Decision::Stop(Stop::Final)
        );
        for status in [400, 401, 403, 404, 409, 500, 502] {
            assert_eq!(
                decide(
                    &p,
                    Trouble::Status(status),
                    true,
                    NO_HEADER,
                    0,
                    Duration::ZERO
                ),
                Decision::Stop(Stop::Final),
                "{status}"
            );
        }
    }

    /// An upload session's fragment also retries 500 and 502, as Microsoft
    /// asks; nothing else changes (408, 501, 507 stay final).
    #[test]
    fn resumable_requests_also_retry_500_and_502() {
        let p = fixed();
        for t in [
            Trouble::Status(500),
            Trouble::Status(502),
            Trouble::Status(503),
            Trouble::Status(504),
            Trouble::Status(429),
            Trouble::Connect,
            Trouble::Timeout,
            Trouble::Transport,
        ] {
            assert_eq!(
                decide(&p, t, Repeat::Resumable, NO_HEADER, 0, Duration::ZERO),
                Decision::Retry(Duration::from_secs(1)),
                "{t:?}"
            );
        }
        for status in [400, 404, 408, 409, 416, 501, 507] {
            assert_eq!(
                decide(
                    &p,
                    Trouble::Status(status),
                    Repeat::Resumable,
                    NO_HEADER,
                    0,
                    Duration::ZERO
                ),
                Decision::Stop(Stop::Final),
                "{status}"
            );
        }
        // the same budget as every request
        assert_eq!(
            decide(
                &p,
                Trouble::Status(500),
                Repeat::Resumable,
                NO_HEADER,
                4,
                Duration::ZERO
            ),
            Decision::Stop(Stop::Exhausted { wait: None })
        );
    }

    #[test]
    fn non_idempotent_requests_are_not_resent_when_the_outcome_is_unknown() {
        let p = fixed();
        for t in [
            Trouble::Status(500),
            Trouble::Status(502),
            Trouble::Status(503),
            Trouble::Status(504),
            Trouble::Timeout,
            Trouble::Transport,
        ] {
            assert_eq!(
                decide(&p, t, false, NO_HEADER, 0, Duration::ZERO),
                Decision::Stop(Stop::OutcomeUnknown),
                "{t:?}"
            );
        }
        // 429 and 503 with Retry-After are retried; connection failures too.
        assert_eq!(
            decide(
                &p,
                Trouble::Status(429),
                false,
                NO_HEADER,
                0,
                Duration::ZERO
            ),
            Decision::Retry(Duration::from_secs(1))
        );
        assert_eq!(
            decide(
                &p,
                Trouble::Status(503),
                false,
                header(3),
                0,
                Duration::ZERO
            ),
            Decision::Retry(Duration::from_secs(3))
        );
        assert_eq!(
            decide(&p, Trouble::Connect, false, NO_HEADER, 0, Duration::ZERO),
            Decision::Retry(Duration::from_secs(1))
        );
        // A 503 whose Retry-After did not parse still "carries" it.
        let malformed = RetryAfterHeader {
            present: true,
            wait: None,
        };
        assert_eq!(
            decide(
                &p,
                Trouble::Status(503),
                false,
                malformed,
                1,
                Duration::ZERO
            ),
            Decision::Retry(Duration::from_secs(2))
        );
        assert_eq!(
            decide(
                &p,
                Trouble::Status(404),
                false,
                NO_HEADER,
                0,
                Duration::ZERO
            ),
            Decision::Stop(Stop::Final)
        );
    }

    #[test]
    fn retry_after_above_the_cap_fails_fast() {
        let p = fixed();
        assert_eq!(
            decide(
                &p,
                Trouble::Status(429),
                true,
                header(301),
                0,
                Duration::ZERO
            ),
            Decision::Stop(Stop::WaitTooLong(Duration::from_secs(301)))
        );
        assert_eq!(
            decide(
                &p,
                Trouble::Status(429),
                true,
                header(300),
                0,
                Duration::ZERO
            ),
            Decision::Retry(Duration::from_secs(300))
        );
    }

    #[test]
    fn retries_and_budget_run_out() {
        let p = fixed();
        assert_eq!(
            decide(&p, Trouble::Status(503), true, NO_HEADER, 4, Duration::ZERO),
            Decision::Stop(Stop::Exhausted { wait: None })
        );
        assert_eq!(
            decide(
                &p,
                Trouble::Status(429),
                true,
                header(10),
                4,
                Duration::ZERO
            ),
            Decision::Stop(Stop::Exhausted {
                wait: Some(Duration::from_secs(10))
            })
        );
        assert_eq!(
            decide(
                &p,
                Trouble::Status(429),
                true,
                header(200),
                1,
                Duration::from_secs(500)
            ),
            Decision::Stop(Stop::Exhausted {
                wait: Some(Duration::from_secs(200))
            })
        );
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after(" 12 ", now),
            Some(Duration::from_secs(12))
        );
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("1.5", now), None);
        assert_eq!(parse_retry_after("", now), None);
        assert_eq!(parse_retry_after("+5", now), None);
        assert_eq!(
            parse_retry_after(&httpdate::fmt_http_date(now - Duration::from_secs(60)), now),
            None
        );
        assert_eq!(
            parse_retry_after(&httpdate::fmt_http_date(now + Duration::from_secs(90)), now),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(
            parse_retry_after("Fri, 31 Dec 9999 99:99:99 GMT", now),
            None
        );
    }

    proptest! {
        #[test]
        fn retry_after_never_panics_and_is_bounded(value in ".{0,64}", secs in 0u64..4_000_000_000) {
            let now = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
            if let Some(wait) = parse_retry_after(&value, now) {
                prop_assert!(wait <= MAX_RETRY_AFTER);
            }
        }

        #[test]
        fn numeric_retry_after_is_bounded(n in any::<i128>()) {
            let wait = parse_retry_after(&n.to_string(), SystemTime::now());
            if n < 0 {
                prop_assert_eq!(wait, None);
            } else {
                let wait = wait.unwrap();
                prop_assert!(wait <= MAX_RETRY_AFTER);
            }
        }

        #[test]
        fn date_retry_after_is_bounded(offset in -10_000_000_000i64..10_000_000_000i64) {
            let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
            let when = if offset >= 0 {
                now.checked_add(Duration::from_secs(offset as u64))
            } else {
                now.checked_sub(Duration::from_secs(offset.unsigned_abs()))
            };
            if let Some(when) = when.filter(|w| *w >= SystemTime::UNIX_EPOCH) {
                // httpdate can only format years 1970..=9999.
                if when < SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_799) {
                    let wait = parse_retry_after(&httpdate::fmt_http_date(when), now);
                    if offset <= 0 {
                        prop_assert_eq!(wait, None);
                    } else {
                        prop_assert!(wait.unwrap() <= MAX_RETRY_AFTER);
                    }
                }
            }
        }

        #[test]
        fn any_header_gives_a_bounded_wait_or_fails_fast(value in ".{0,40}", retries in 0u32..10, idempotent in any::<bool>()) {
            let p = RetryPolicy::default();
            let h = RetryAfterHeader { present: true, wait: parse_retry_after(&value, SystemTime::now()) };
            match decide(&p, Trouble::Status(429), idempotent, h, retries, Duration::ZERO) {
                Decision::Retry(wait) => prop_assert!(wait <= p.max_wait),
                Decision::Stop(Stop::WaitTooLong(wait)) => prop_assert!(wait > p.max_wait && wait <= MAX_RETRY_AFTER),
                Decision::Stop(Stop::Exhausted { .. }) => prop_assert!(retries >= p.max_retries),
                other => prop_assert!(false, "unexpected {:?}", other),
            }
        }
    }
}
