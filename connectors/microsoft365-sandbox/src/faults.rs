//! Deterministic fault injection for Graph requests.
//!
//! The n-th Graph request of a sandbox gets a fault when a hash of
//! `(seed, n)` falls under the configured rates: `throttle_rate` of requests
//! get 429 with `Retry-After: 1`, `fail_rate` get 503 (with `Retry-After`)
//! or 504. The same seed and the same sequence of requests give the same
//! faults. Identity endpoints, upload URLs and download URLs never get one.
//! The decision is taken before anything else, so a request that got a
//! fault changed nothing.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::StatusCode;

use crate::errors::GraphError;
use crate::generated::Rng;

/// A fault to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    Throttled,
    Unavailable,
    GatewayTimeout,
}

/// The fault plan and its counters.
pub(crate) struct Faults {
    seed: u64,
    throttle_rate: f64,
    fail_rate: f64,
    retry_after_secs: u64,
    counter: AtomicU64,
    pub throttled: AtomicU64,
    pub unavailable: AtomicU64,
    pub gateway_timeouts: AtomicU64,
}

impl Faults {
    pub(crate) fn new(seed: u64, throttle_rate: f64, fail_rate: f64) -> Self {
        Faults {
            seed,
            throttle_rate,
            fail_rate,
            retry_after_secs: 1,
            counter: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            unavailable: AtomicU64::new(0),
            gateway_timeouts: AtomicU64::new(0),
        }
    }

    /// The same plan with another `Retry-After` for 429 and 503 answers.
    pub(crate) fn with_retry_after_secs(mut self, secs: u64) -> Self {
        self.retry_after_secs = secs;
        self
    }

    /// The `Retry-After` seconds sent with 429 and 503 answers.
    pub(crate) fn retry_after_secs(&self) -> u64 {
        self.retry_after_secs
    }

    /// The fault for the request at position `n` (pure: used by tests too).
    pub(crate) fn fault_for(&self, n: u64) -> Option<Fault> {
        let mut rng = Rng::new(self.seed ^ n.wrapping_mul(0xA24B_AED4_963E_E407) ^ 0xFA17);
        let r = rng.unit();
        if r < self.throttle_rate {
            Some(Fault::Throttled)
        } else if r < self.throttle_rate + self.fail_rate {
            if rng.below(2) == 0 {
                Some(Fault::Unavailable)
            } else {
                Some(Fault::GatewayTimeout)
            }
        } else {
            None
        }
    }

    /// Decides the fault for the next Graph request and counts it.
    pub(crate) fn decide(&self) -> Option<Fault> {
        if self.throttle_rate <= 0.0 && self.fail_rate <= 0.0 {
            return None;
        }
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let fault = self.fault_for(n)?;
        let counter = match fault {
            Fault::Throttled => &self.throttled,
            Fault::Unavailable => &self.unavailable,
            Fault::GatewayTimeout => &self.gateway_timeouts,
        };
        counter.fetch_add(1, Ordering::SeqCst);
        tracing::debug!(request = n, ?fault, "injecting a fault");
        Some(fault)
    }
}

/// Graph's answer for a fault, with `Retry-After: retry_after_secs` on
/// 429 and 503.
pub(crate) fn error(fault: Fault, retry_after_secs: u64) -> GraphError {
    match fault {
        Fault::Throttled => GraphError::too_many_requests(retry_after_secs),
        Fault::Unavailable => {
            let mut e = GraphError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "serviceNotAvailable",
                "The service is temporarily unavailable. Retry the request later.",
            );
            e.retry_after = Some(retry_after_secs);
            e
        }
        Fault::GatewayTimeout => GraphError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "GatewayTimeout",
            "The gateway did not receive a response from the service in time.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_roughly_honoured_and_deterministic() {
        let f = Faults::new(42, 0.3, 0.1);
        let plan: Vec<_> = (0..10_000).map(|n| f.fault_for(n)).collect();
        let again: Vec<_> = (0..10_000)
            .map(|n| Faults::new(42, 0.3, 0.1).fault_for(n))
            .collect();
        assert_eq!(plan, again);
        let throttled = plan
            .iter()
            .filter(|f| **f == Some(Fault::Throttled))
            .count();
        let failed = plan
            .iter()
            .filter(|f| matches!(f, Some(Fault::Unavailable | Fault::GatewayTimeout)))
            .count();
        assert!((2700..3300).contains(&throttled), "{throttled}");
        assert!((800..1200).contains(&failed), "{failed}");
        assert!(Faults::new(42, 0.0, 0.0).decide().is_none());
    }
}
