//! Arithmetic on times and durations that cannot panic.
//!
//! `SystemTime + Duration` panics when the sum cannot be represented, and a
//! duration can come from the network (a token's `expires_in`, a
//! `Retry-After`) or from a user's settings. Every such sum in switchboard
//! goes through [`later`], which never panics. Numbers from the network are
//! clamped where they are parsed as well (token lifetimes to
//! [`crate::auth::response::MAX_TOKEN_LIFETIME`], `Retry-After` to
//! [`crate::engine::retry::MAX_RETRY_AFTER`]), so the fallback below is only reached
//! by values nobody should send; it exists so that no value can crash.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use switchboard_core::bounds::later;
//!
//! let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! assert_eq!(later(now, Duration::from_secs(60)), now + Duration::from_secs(60));
//! // u64::MAX seconds cannot be added: the time itself comes back, no panic
//! assert_eq!(later(now, Duration::from_secs(u64::MAX)), now);
//! ```

use std::time::{Duration, SystemTime};

/// `t + d`, or `t` itself when the sum cannot be represented.
///
/// Returning `t` is the cautious answer for every use in switchboard: an
/// expiry at `t` means "refresh now", a quiet period or a lease ending at
/// `t` means "no wait".
pub fn later(t: SystemTime, d: Duration) -> SystemTime {
    t.checked_add(d).unwrap_or(t)
}

/// `t + d` on tokio's clock, or `None` when it cannot be represented (no
/// deadline then: the other limits still apply).
///
/// ```
/// use std::time::Duration;
/// use switchboard_core::bounds::instant_after;
///
/// let now = tokio::time::Instant::now();
/// assert!(instant_after(now, Duration::from_secs(1)).is_some());
/// assert!(instant_after(now, Duration::MAX).is_none());
/// ```
pub fn instant_after(t: tokio::time::Instant, d: Duration) -> Option<tokio::time::Instant> {
    t.checked_add(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn later_never_panics_and_never_goes_back(secs in any::<u64>(), nanos in 0u32..1_000_000_000, base in 0u64..10_000_000_000) {
            let t = SystemTime::UNIX_EPOCH + Duration::from_secs(base);
            let d = Duration::new(secs, nanos);
            let sum = later(t, d);
            prop_assert!(sum >= t);
            if let Some(exact) = t.checked_add(d) {
                prop_assert_eq!(sum, exact);
            }
        }
    }
}
