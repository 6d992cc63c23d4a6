//! Telling the caller that the engine is waiting before a retry.
//!
//! A request that is throttled (429) or meets a transient failure (503, 504,
//! a lost connection) is retried after a wait: the service's `Retry-After`,
//! or the policy's backoff. Those waits can be long, and a program with a
//! person in front of it wants to say so ("waiting 30 s for the service").
//! [`EngineBuilder::on_retry_wait`](crate::EngineBuilder::on_retry_wait)
//! registers an observer that the engine calls with a [`RetryWait`] just
//! before each wait. The observer runs on the calling task: keep it quick
//! (update a progress line, count a metric). The same waits are also
//! logged as `tracing` warnings.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use switchboard_core::connector::Registry;
//! use switchboard_core::engine::Engine;
//! use switchboard_core::engine::retry_wait::RetryWait;
//!
//! let seen: Arc<Mutex<Vec<String>>> = Arc::default();
//! let log = seen.clone();
//! let engine = Engine::builder(Registry::new())
//!     .on_retry_wait(move |wait: &RetryWait| {
//!         log.lock().unwrap().push(wait.to_string());
//!     })
//!     .build()
//!     .unwrap();
//! # let _ = engine;
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::engine::retry::Trouble;
use crate::installation_id::InstallationId;

/// One wait before a retry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryWait {
    /// The method being called (`users.list_users`).
    pub method_id: String,
    /// The installation it is called for.
    pub installation_id: InstallationId,
    /// Which retry follows the wait: 1 for the first.
    pub retry: u32,
    /// The most retries the policy allows.
    pub max_retries: u32,
    /// How long the engine waits.
    pub wait: Duration,
    /// The HTTP status that caused it (429, 503...), or `None` for a
    /// connection failure or a timeout.
    pub status: Option<u16>,
    /// Whether the wait is the service's own `Retry-After`.
    pub asked_by_service: bool,
}

impl RetryWait {
    pub(crate) fn new(
        method_id: &str,
        installation_id: InstallationId,
        retry: u32,
        max_retries: u32,
        wait: Duration,
        trouble: Trouble,
        asked_by_service: bool,
    ) -> Self {
        RetryWait {
            method_id: method_id.to_string(),
            installation_id,
            retry,
            max_retries,
            wait,
            status: match trouble {
                Trouble::Status(s) => Some(s),
                _ => None,
            },
            asked_by_service,
        }
    }

    /// Why the engine waits, in a few words: `throttled (HTTP 429)`,
    /// `service unavailable (HTTP 503)`, `connection failed or timed out`.
    pub fn reason(&self) -> String {
        match self.status {
            Some(429) => "throttled (HTTP 429)".to_string(),
            Some(503) => "service unavailable (HTTP 503)".to_string(),
            Some(504) => "gateway timeout (HTTP 504)".to_string(),
            Some(s) => format!("HTTP {s}"),
            None => "connection failed or timed out".to_string(),
        }
    }
}

impl fmt::Display for RetryWait {
    /// `waiting 3 s for the service: throttled (HTTP 429); retry 1 of 4`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let wait = self.wait;
        let secs = wait.as_secs();
        if wait < Duration::from_secs(1) {
            write!(f, "waiting {} ms", wait.as_millis())?;
        } else if wait.subsec_millis() == 0 || secs >= 10 {
            write!(f, "waiting {secs} s")?;
        } else {
            write!(f, "waiting {:.1} s", wait.as_secs_f64())?;
        }
        write!(
            f,
            " for the service: {}; retry {} of {}",
            self.reason(),
            self.retry,
            self.max_retries
        )
    }
}

/// The observer registered with
/// [`EngineBuilder::on_retry_wait`](crate::EngineBuilder::on_retry_wait).
#[derive(Clone)]
pub(crate) struct RetryObserver(Arc<dyn Fn(&RetryWait) + Send + Sync>);

impl RetryObserver {
    pub(crate) fn new(f: impl Fn(&RetryWait) + Send + Sync + 'static) -> Self {
        RetryObserver(Arc::new(f))
    }

    pub(crate) fn notify(&self, wait: &RetryWait) {
        (self.0)(wait)
    }
}

impl fmt::Debug for RetryObserver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RetryObserver")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_how_long_and_why() {
        let w = RetryWait::new(
            "users.list_users",
            crate::InstallationId::from(uuid::Uuid::nil()),
            1,
            4,
            Duration::from_secs(3),
            Trouble::Status(429),
            true,
        );
        assert_eq!(
            w.to_string(),
            "waiting 3 s for the service: throttled (HTTP 429); retry 1 of 4"
        );
        let w = RetryWait::new(
            "m",
            crate::InstallationId::from(uuid::Uuid::nil()),
            2,
            4,
            Duration::from_millis(1500),
            Trouble::Status(503),
            false,
        );
        assert_eq!(
            w.to_string(),
            "waiting 1.5 s for the service: service unavailable (HTTP 503); retry 2 of 4"
        );
        let w = RetryWait::new(
            "m",
            crate::InstallationId::from(uuid::Uuid::nil()),
            1,
            2,
            Duration::from_millis(20),
            Trouble::Connect,
            false,
        );
        assert_eq!(
            w.to_string(),
            "waiting 20 ms for the service: connection failed or timed out; retry 1 of 2"
        );
    }
}
