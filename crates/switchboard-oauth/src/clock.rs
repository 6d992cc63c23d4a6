//! Time, injectable: the token cache, the `state` store and the token
//! endpoint's `Retry-After` all ask a [`Clock`], so tests can move time
//! forward without sleeping.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use switchboard_oauth::clock::{Clock, ManualClock};
//!
//! let clock = ManualClock::new(SystemTime::UNIX_EPOCH);
//! clock.advance(Duration::from_secs(60));
//! assert_eq!(clock.now(), SystemTime::UNIX_EPOCH + Duration::from_secs(60));
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// A future returned by [`Clock::sleep`].
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Where the auth machinery gets the time of day and how it waits.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;

    /// Wait for `duration`.
    fn sleep(&self, duration: Duration) -> Sleep;
}

/// The real clock: [`SystemTime::now`] and [`tokio::time::sleep`].
///
/// ```
/// use switchboard_oauth::clock::{Clock, SystemClock};
/// assert!(SystemClock.now() > std::time::SystemTime::UNIX_EPOCH);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock that moves only when told to (tests). `sleep` advances the clock
/// by the requested duration and returns at once, so code that waits for a
/// `Retry-After` runs instantly and deterministically.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use switchboard_oauth::clock::{Clock, ManualClock};
///
/// let clock = ManualClock::new(SystemTime::UNIX_EPOCH);
/// let other = clock.clone(); // clones share one time line
/// other.advance(Duration::from_secs(5));
/// assert_eq!(clock.now(), SystemTime::UNIX_EPOCH + Duration::from_secs(5));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<SystemTime>>,
}

impl ManualClock {
    /// A clock that reads `start` until advanced.
    pub fn new(start: SystemTime) -> Self {
        ManualClock {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// Move the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now = switchboard_core::bounds::later(*now, by);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        self.advance(duration);
        Box::pin(std::future::ready(()))
    }
}
