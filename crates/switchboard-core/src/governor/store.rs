//! Where the governor's shares of a limit are kept: [`LimitStore`].
//!
//! Every node that shares a store keeps a limit together through three
//! operations, each one short transaction:
//! - [`LimitStore::lease`]: a node's share of a concurrency cap, as a lease
//!   that expires unless renewed (a crashed node's slots come back);
//! - [`LimitStore::take`]: a block of a rolling-window budget (requests or
//!   bytes), recorded with the time it was taken;
//! - [`LimitStore::hold`]: a key refused by the service until a time
//!   (a 429's `Retry-After`), seen by every node at its next lease.
//!
//! [`MemoryLimitStore`] keeps them in this process (one node); the
//! `switchboard-store` crate keeps them in SQLite and PostgreSQL.
//!
//! ```
//! use std::time::Duration;
//! use switchboard_core::governor::store::{LeaseRequest, LimitStore, MemoryLimitStore};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = MemoryLimitStore::default();
//! let req = |node: &str, want| LeaseRequest {
//!     key: "k".into(), node: node.into(), want, cap: 4, ttl: Duration::from_secs(10),
//! };
//! assert_eq!(store.lease(&req("a", 3)).await.unwrap().slots, 3);
//! // b wants 3 more: only 1 is left of the 4
//! let b = store.lease(&req("b", 3)).await.unwrap();
//! assert_eq!((b.slots, b.others_wanting), (1, 0));
//! // a learns that another node wants more than it holds
//! assert_eq!(store.lease(&req("a", 3)).await.unwrap().others_wanting, 1);
//! # });
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tokio::time::Instant;

use super::cells::SweepMark;
use crate::error::Result;

/// A node asks for its share of a key's concurrency cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRequest {
    /// The limit key.
    pub key: String,
    /// The node asking (unique per process).
    pub node: String,
    /// How many slots the node wants to hold in all (0: give its lease back).
    pub want: u32,
    /// The cap all nodes' live leases share.
    pub cap: u32,
    /// How long the lease lives unless renewed.
    pub ttl: Duration,
}

/// What a node holds after [`LimitStore::lease`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LeaseGrant {
    /// The slots the node now holds: `want`, or what the other live leases
    /// leave of the cap if that is less.
    pub slots: u32,
    /// How many other nodes hold fewer slots than they want.
    pub others_wanting: u32,
    /// Until when the key is held after the service refused it.
    pub held_until: Option<SystemTime>,
}

/// A node takes a block of a rolling-window budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakeRequest {
    /// The budget's key.
    pub key: String,
    /// The node taking.
    pub node: String,
    /// How much it would like (requests or bytes).
    pub amount: u64,
    /// What the window holds.
    pub limit: u64,
    /// The window's length: at most a day ([`MAX_WINDOW_SECS`], the
    /// longest a definition may declare); a store may forget blocks older
    /// than that.
    ///
    /// [`MAX_WINDOW_SECS`]: crate::definition::limits::MAX_WINDOW_SECS
    pub window: Duration,
}

/// What [`LimitStore::take`] gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TakeGrant {
    /// How much was taken (0 to `amount`), counted in the window from now.
    pub granted: u64,
    /// When `granted` is less than asked: when the window has room again.
    pub retry_at: Option<SystemTime>,
}

/// Where the nodes sharing limits keep their shares. Implementations run
/// each operation atomically (one transaction).
#[async_trait]
pub trait LimitStore: Send + Sync + std::fmt::Debug {
    /// Set the node's lease on `key` to what it wants, as far as the other
    /// live (unexpired) leases leave room under the cap; expired leases are
    /// forgotten. `want` 0 removes the node's lease.
    async fn lease(&self, request: &LeaseRequest) -> Result<LeaseGrant>;

    /// Take up to `amount` of a rolling-window budget: what the blocks
    /// taken by every node in the last `window` leave of `limit`.
    async fn take(&self, request: &TakeRequest) -> Result<TakeGrant>;

    /// Hold `key` until `until` (a later hold already there stays).
    async fn hold(&self, key: &str, until: SystemTime) -> Result<()>;
}

/// Milliseconds since the Unix epoch, as the stores keep times.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use switchboard_core::governor::store::{from_millis, to_millis};
/// let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
/// assert_eq!(from_millis(to_millis(t)), t);
/// ```
pub fn to_millis(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The time `ms` milliseconds after the Unix epoch (negative: the epoch).
pub fn from_millis(ms: i64) -> SystemTime {
    crate::bounds::later(
        SystemTime::UNIX_EPOCH,
        Duration::from_millis(u64::try_from(ms).unwrap_or(0)),
    )
}

/// Milliseconds of a duration, saturating.
pub fn duration_millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The grant rule every store applies, given the other nodes' live leases
/// as `(slots, want)`: the node gets what it wants as far as the cap
/// allows.
///
/// ```
/// use switchboard_core::governor::store::grant_slots;
/// // cap 4, another node holds 3 and wants 4: 1 is left
/// assert_eq!(grant_slots(4, 4, &[(3, 4)]).slots, 1);
/// assert_eq!(grant_slots(4, 4, &[(3, 4)]).others_wanting, 1);
/// ```
pub fn grant_slots(want: u32, cap: u32, others: &[(u32, u32)]) -> LeaseGrant {
    let used: u32 = others
        .iter()
        .fold(0u32, |sum, (slots, _)| sum.saturating_add(*slots));
    LeaseGrant {
        slots: want.min(cap.saturating_sub(used)),
        others_wanting: others
            .iter()
            .filter(|(slots, want)| want > slots)
            .count()
            .try_into()
            .unwrap_or(u32::MAX),
        held_until: None,
    }
}

/// The limits of one process, kept in memory: for a governor that does
/// not share its limits with other nodes. What has run out (expired
/// leases, blocks past their window, past holds) is dropped as its maps
/// grow, so keys met once do not stay for the life of the process.
#[derive(Debug, Default)]
pub struct MemoryLimitStore {
    state: Mutex<MemoryState>,
}

#[derive(Debug, Default)]
struct MemoryState {
    /// key → node → (slots, want, expires)
    leases: HashMap<String, HashMap<String, (u32, u32, Instant)>>,
    /// key → blocks taken
    taken: HashMap<String, Taken>,
    holds: HashMap<String, Instant>,
    /// When the maps are next cleared of what has run out.
    mark: SweepMark,
}

/// The blocks taken on one key: (when, amount), oldest first, counted
/// over `window` (the last take's).
#[derive(Debug, Default)]
struct Taken {
    window: Duration,
    blocks: VecDeque<(Instant, u64)>,
}

impl MemoryState {
    fn len(&self) -> usize {
        self.leases.len() + self.taken.len() + self.holds.len()
    }

    /// Once the maps have grown to their sweep mark, drop what has run out
    /// at `now` (expired leases, blocks past their window, past holds): a
    /// process reaches keys without end (a mailbox each), and a key it
    /// left keeps nothing anyone counts.
    fn sweep(&mut self, now: Instant) {
        if !self.mark.due(self.len()) {
            return;
        }
        self.leases.retain(|_, nodes| {
            nodes.retain(|_, (_, _, expires)| *expires > now);
            !nodes.is_empty()
        });
        self.taken.retain(|_, taken| {
            taken
                .blocks
                .back()
                .is_some_and(|(at, _)| after(*at, taken.window) > now)
        });
        self.holds.retain(|_, until| *until > now);
        self.mark.swept(self.len());
    }
}

/// The memory store runs on tokio's clock (so tests can pause it); these
/// convert to and from the wall-clock times of the trait.
fn wall(at: Instant) -> SystemTime {
    let now = Instant::now();
    match at.checked_duration_since(now) {
        Some(ahead) => crate::bounds::later(SystemTime::now(), ahead),
        None => SystemTime::now(),
    }
}

fn local(at: SystemTime) -> Instant {
    let ahead = at.duration_since(SystemTime::now()).unwrap_or_default();
    let now = Instant::now();
    crate::bounds::instant_after(now, ahead).unwrap_or(now)
}

fn after(t: Instant, d: Duration) -> Instant {
    crate::bounds::instant_after(t, d).unwrap_or(t)
}

#[async_trait]
impl LimitStore for MemoryLimitStore {
    async fn lease(&self, request: &LeaseRequest) -> Result<LeaseGrant> {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.sweep(now);
        let held_until = state
            .holds
            .get(&request.key)
            .copied()
            .filter(|t| *t > now)
            .map(wall);
        let leases = state.leases.entry(request.key.clone()).or_default();
        leases.retain(|_, (_, _, expires)| *expires > now);
        let others: Vec<(u32, u32)> = leases
            .iter()
            .filter(|(node, _)| **node != request.node)
            .map(|(_, (slots, want, _))| (*slots, *want))
            .collect();
        let mut grant = grant_slots(request.want, request.cap, &others);
        if request.want == 0 {
            leases.remove(&request.node);
        } else {
            leases.insert(
                request.node.clone(),
                (grant.slots, request.want, after(now, request.ttl)),
            );
        }
        grant.held_until = held_until;
        Ok(grant)
    }

    async fn take(&self, request: &TakeRequest) -> Result<TakeGrant> {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.sweep(now);
        let taken = state.taken.entry(request.key.clone()).or_default();
        taken.window = request.window;
        let blocks = &mut taken.blocks;
        while blocks
            .front()
            .is_some_and(|(at, _)| after(*at, request.window) <= now)
        {
            blocks.pop_front();
        }
        let used: u64 = blocks.iter().fold(0, |s, (_, a)| s.saturating_add(*a));
        let granted = request.amount.min(request.limit.saturating_sub(used));
        if granted > 0 {
            blocks.push_back((now, granted));
        }
        let retry_at = (granted < request.amount)
            .then(|| {
                blocks
                    .front()
                    .map(|(at, _)| wall(after(*at, request.window)))
            })
            .flatten();
        Ok(TakeGrant { granted, retry_at })
    }

    async fn hold(&self, key: &str, until: SystemTime) -> Result<()> {
        let until = local(until);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.sweep(Instant::now());
        let entry = state.holds.entry(key.to_string()).or_insert(until);
        if *entry < until {
            *entry = until;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::governor::cells::SWEEP_FROM;

    fn take(key: &str, amount: u64, limit: u64, window_secs: u64) -> TakeRequest {
        TakeRequest {
            key: key.to_string(),
            node: "n".to_string(),
            amount,
            limit,
            window: Duration::from_secs(window_secs),
        }
    }

    fn entries(store: &MemoryLimitStore) -> usize {
        store.state.lock().unwrap().len()
    }

    #[tokio::test(start_paused = true)]
    async fn what_has_run_out_is_dropped_as_the_maps_grow_and_what_counts_stays() {
        let store = MemoryLimitStore::default();
        // a key whose window (1 h) is still counting what it took
        let granted = store.take(&take("counted", 5, 5, 3_600)).await.unwrap();
        assert_eq!(granted.granted, 5);
        store
            .hold("held", wall(Instant::now() + Duration::from_secs(3_600)))
            .await
            .unwrap();
        // 6,000 keys with a 1 s window, a thousand at a time, 2 s apart
        for round in 0..6 {
            for i in 0..1_000 {
                store
                    .take(&take(&format!("m{round}-{i}"), 1, 10, 1))
                    .await
                    .unwrap();
            }
            tokio::time::advance(Duration::from_secs(2)).await;
        }
        assert!(
            entries(&store) <= 2 * SWEEP_FROM,
            "{} entries",
            entries(&store)
        );
        // the hour-long window still counts the five: nothing left to take
        let again = store.take(&take("counted", 1, 5, 3_600)).await.unwrap();
        assert_eq!(again.granted, 0);
        assert!(store.state.lock().unwrap().holds.contains_key("held"));
    }
}
