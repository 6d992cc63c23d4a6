//! The express lane of a key: requests this node may admit without taking
//! the key's lock.
//!
//! On a key with only a request budget (no concurrency cap, no upload
//! budget in play), every call used to take the key's lock to count itself
//! against the node's blocks. For a key that every call of an app falls
//! under (Graph's global limit), that one lock is shared by every thread of
//! the runtime. While nobody waits in the key's line and no hold is set,
//! the governor moves the rest of a budget block (at most half a block) into
//! the lane, and a call takes its request from it with one atomic
//! compare-and-swap.
//!
//! The lane is one `u64`: the credit (low [`CREDIT_BITS`] bits) and the
//! use-by time of the block it came from, in whole milliseconds after the
//! lane's epoch (rounded down: the lane never outlives its block). Taking
//! reads both at once, so a call never takes credit past its use-by time.
//! The governor empties the lane under the key's lock before anything
//! else looks at the key (a call joining the line, a hold, another
//! admission), and gives what is left back to the node's blocks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Bits of the lane word that hold the credit (16.7 million requests, far
/// above the largest block: 2% of a budget).
const CREDIT_BITS: u32 = 24;
const CREDIT_MASK: u64 = (1 << CREDIT_BITS) - 1;
/// The most milliseconds after the epoch a use-by time can say (40 bits:
/// 34 years).
const MOST_MILLIS: u64 = (1 << (64 - CREDIT_BITS)) - 1;

/// Requests admitted without the key's lock, with the use-by time of
/// their block.
#[derive(Debug)]
pub(super) struct ExpressLane {
    word: AtomicU64,
    epoch: Instant,
}

impl ExpressLane {
    /// An empty lane whose times count from now.
    pub(super) fn new() -> Self {
        ExpressLane {
            word: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// Whole milliseconds from the epoch to `at` (rounded down).
    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis())
            .unwrap_or(u64::MAX)
            .min(MOST_MILLIS)
    }

    /// Take `requests` from the lane at `now`: `true` when the lane held
    /// them and its block is still usable; `false` (nothing taken) when the
    /// call has to go the slow way.
    pub(super) fn take(&self, requests: u64, now: Instant) -> bool {
        let now_ms = self.millis(now);
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            let credit = word & CREDIT_MASK;
            let until_ms = word >> CREDIT_BITS;
            if credit < requests || now_ms >= until_ms {
                return false;
            }
            match self.word.compare_exchange_weak(
                word,
                word - requests,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(seen) => word = seen,
            }
        }
    }

    /// Put up to `credit` requests usable until `until` in the (empty)
    /// lane; how many it took (none when `until` is too near to say in
    /// whole milliseconds).
    pub(super) fn fill(&self, credit: u64, until: Instant) -> u64 {
        let until_ms = self.millis(until);
        let credit = credit.min(CREDIT_MASK);
        if credit == 0 || until_ms == 0 {
            return 0;
        }
        self.word
            .store((until_ms << CREDIT_BITS) | credit, Ordering::Release);
        credit
    }

    /// Empty the lane: the credit left and the use-by time it had.
    pub(super) fn drain(&self) -> (u64, Instant) {
        let word = self.word.swap(0, Ordering::AcqRel);
        let until = self.epoch + Duration::from_millis(word >> CREDIT_BITS);
        (word & CREDIT_MASK, until)
    }

    /// Whether the lane holds credit usable at `now`.
    pub(super) fn usable(&self, now: Instant) -> bool {
        let word = self.word.load(Ordering::Acquire);
        word & CREDIT_MASK > 0 && self.millis(now) < word >> CREDIT_BITS
    }

    /// The credit in the lane now (for metrics).
    pub(super) fn left(&self) -> u64 {
        self.word.load(Ordering::Acquire) & CREDIT_MASK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn takes_what_it_holds_until_its_use_by_time() {
        let lane = ExpressLane::new();
        let now = Instant::now();
        assert!(!lane.take(1, now), "an empty lane admits nothing");
        assert_eq!(lane.fill(3, now + Duration::from_millis(1500)), 3);
        assert!(lane.take(2, now));
        assert!(!lane.take(2, now), "only one left");
        assert!(lane.take(1, now + Duration::from_millis(1499)));
        assert!(!lane.take(1, now), "empty again");
        assert_eq!(lane.fill(5, now + Duration::from_millis(1500)), 5);
        // at and after the use-by time the lane admits nothing
        assert!(!lane.take(1, now + Duration::from_millis(1500)));
        assert!(!lane.take(1, now + Duration::from_secs(60)));
        let (left, until) = lane.drain();
        assert_eq!(left, 5);
        assert_eq!(until, now + Duration::from_millis(1500));
        assert_eq!(lane.left(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn rounds_the_use_by_time_down_and_caps_the_credit() {
        let lane = ExpressLane::new();
        let now = Instant::now();
        // 0.9 ms away rounds to 0: not worth a lane
        assert_eq!(lane.fill(10, now + Duration::from_micros(900)), 0);
        assert!(!lane.take(1, now));
        assert_eq!(
            lane.fill(u64::MAX, now + Duration::from_micros(2900)),
            CREDIT_MASK
        );
        assert!(lane.take(1, now + Duration::from_micros(1999)));
        assert!(
            !lane.take(1, now + Duration::from_micros(2000)),
            "2.9 ms is kept as 2 ms"
        );
        let (left, until) = lane.drain();
        assert_eq!(left, CREDIT_MASK - 1);
        assert_eq!(until, now + Duration::from_millis(2));
    }

    #[test]
    fn two_threads_never_take_more_than_the_lane_held() {
        let lane = std::sync::Arc::new(ExpressLane::new());
        let now = Instant::now();
        assert_eq!(lane.fill(10_000, now + Duration::from_secs(3600)), 10_000);
        let takers: Vec<_> = (0..2)
            .map(|_| {
                let lane = lane.clone();
                std::thread::spawn(move || (0..8_000).filter(|_| lane.take(1, now)).count())
            })
            .collect();
        let taken: usize = takers.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(taken, 10_000);
        assert_eq!(lane.left(), 0);
    }
}
