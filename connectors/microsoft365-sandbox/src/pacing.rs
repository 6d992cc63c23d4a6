//! How long a Graph request stays in flight: a configured service time
//! (`latency`), and a hold that tests switch on to keep requests in flight
//! until they release them.
//!
//! Without either, the sandbox answers a request in microseconds, so
//! concurrency limits are hard to reach on purpose and impossible to reach
//! deterministically. Both apply after the throttling limits let a request
//! through (it counts as in flight while it waits) and before its handler
//! runs (it has had no effect yet). A hold ends when it is released or
//! after its time limit, so a test that forgets to release cannot hang its
//! clients for ever.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// The longest hold.
pub(crate) const MAX_HOLD: Duration = Duration::from_secs(600);

/// The longest configured latency.
pub(crate) const MAX_LATENCY: Duration = Duration::from_secs(60);

/// Service time and hold for Graph requests.
pub(crate) struct Pacing {
    latency: Duration,
    /// `Some(deadline)` while requests are held.
    hold: watch::Sender<Option<Instant>>,
}

impl Pacing {
    pub(crate) fn new(latency: Duration) -> Pacing {
        Pacing {
            latency,
            hold: watch::Sender::new(None),
        }
    }

    /// Waits while requests are held, then for the configured latency.
    pub(crate) async fn service_time(&self) {
        self.wait_while_held().await;
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
    }

    /// Holds every Graph request let through from now on, until
    /// [`release`](Self::release) or for `max` (capped at [`MAX_HOLD`]).
    pub(crate) fn hold(&self, max: Duration) {
        let deadline = Instant::now() + max.min(MAX_HOLD);
        self.hold.send_replace(Some(deadline));
    }

    /// Lets held requests go on.
    pub(crate) fn release(&self) {
        self.hold.send_replace(None);
    }

    async fn wait_while_held(&self) {
        let mut rx = self.hold.subscribe();
        loop {
            let Some(deadline) = *rx.borrow_and_update() else {
                return;
            };
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { return },
                _ = tokio::time::sleep_until(deadline) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn held_requests_wait_for_the_release_or_the_deadline() {
        let p = std::sync::Arc::new(Pacing::new(Duration::ZERO));
        p.service_time().await;
        p.hold(Duration::from_secs(30));
        let waiting = tokio::spawn({
            let p = p.clone();
            async move { p.service_time().await }
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!waiting.is_finished());
        p.release();
        waiting.await.unwrap();
        p.service_time().await;

        p.hold(Duration::from_secs(30));
        let started = Instant::now();
        p.service_time().await;
        assert_eq!(started.elapsed(), Duration::from_secs(30));
    }
}
