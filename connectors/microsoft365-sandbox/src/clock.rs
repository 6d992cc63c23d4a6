//! The sandbox clock: the real time plus an offset that only moves
//! forward, so tests can let subscriptions expire and delta tokens age
//! without waiting.
//!
//! It dates what change notifications and delta queries depend on:
//! subscriptions' `expirationDateTime` (checked at creation and renewal,
//! and expired subscriptions stop delivering), the age of delta and skip
//! tokens (`SandboxConfig::delta_token_max_age`), and the
//! `subscriptionExpirationDateTime` of notifications. Access tokens, upload
//! sessions and the dates written into records keep the real clock, so
//! moving the sandbox clock does not sign clients out.
//!
//! Moved by `POST /_sandbox/clock` `{"advance_secs": 7200}` and
//! [`SandboxHandle::advance_clock`](crate::SandboxHandle::advance_clock)
//! (which move Graph's throttling windows too, `crate::limits`); read by
//! `GET /_sandbox/clock`. The offset is kept in the state file.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::datetime;

/// The furthest the clock may be moved ahead: ten years.
pub(crate) const MAX_OFFSET_SECS: i64 = 10 * 366 * datetime::DAY;

/// The offset, shared by every handler.
pub(crate) struct Clock {
    offset: AtomicI64,
}

impl Clock {
    pub(crate) fn new(offset: i64) -> Clock {
        Clock {
            offset: AtomicI64::new(offset.clamp(0, MAX_OFFSET_SECS)),
        }
    }

    /// The sandbox's current instant (Unix seconds).
    pub(crate) fn now(&self) -> i64 {
        datetime::now().saturating_add(self.offset())
    }

    /// How far ahead of the real clock it runs, in seconds.
    pub(crate) fn offset(&self) -> i64 {
        self.offset.load(Ordering::SeqCst)
    }

    /// Moves the clock `secs` ahead and returns the new offset; `None`
    /// (and no change) when `secs` is negative or the offset would pass
    /// [`MAX_OFFSET_SECS`].
    pub(crate) fn advance(&self, secs: i64) -> Option<i64> {
        if secs < 0 {
            return None;
        }
        self.offset
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |o| {
                o.checked_add(secs).filter(|n| *n <= MAX_OFFSET_SECS)
            })
            .ok()
            .map(|old| old + secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_moves_forward_within_bounds() {
        let c = Clock::new(0);
        assert_eq!(c.advance(7200), Some(7200));
        assert_eq!(c.advance(-1), None);
        assert_eq!(c.advance(i64::MAX), None);
        assert_eq!(c.advance(MAX_OFFSET_SECS), None);
        assert_eq!(c.offset(), 7200);
        assert!(c.now() >= datetime::now() + 7200);
        assert_eq!(Clock::new(-5).offset(), 0);
    }
}
