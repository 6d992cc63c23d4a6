//! The request governor: keeps a service's declared limits before the
//! service has to refuse.
//!
//! A connector declares its limits as data
//! ([`crate::definition::limits`]); the engine asks the governor for a
//! [`Permit`] on every key a request falls under just before it sends the
//! request (the *admit* stage of the pipeline), and the permit is given
//! back when the response has been read.
//!
//! Per key the governor keeps:
//! - a **concurrency cap**: at most `concurrency` requests in flight;
//! - **rolling-window budgets** of requests and of uploaded bytes;
//! - a **hold**: after the service answered 429 with `Retry-After`, nothing
//!   is sent on the key until that time.
//!
//! Calls that cannot go yet wait in a line per key that is fair across
//! installations ([`queue`]); only the call whose turn it is looks at the
//! key again, when capacity comes back (a permit given back) or at the time
//! the budget or hold says: nothing polls in a loop. Dropping a waiting call
//! (cancelling it) takes it out of the line and sends nothing.
//!
//! **Across nodes.** The key's capacity is shared through a
//! [`LimitStore`]: a node holds a *lease* on some of a key's concurrency
//! slots and takes *blocks* of a window's budget, and admits calls within
//! what it holds without asking the store again. Leases expire unless
//! renewed (a crashed node's slots come back after the lease time,
//! [`GovernorBuilder::lease_ttl`], default 10 s); a background task renews
//! them every [`GovernorBuilder::tick`] (default 100 ms; every tick for a
//! key with calls waiting, so a node learns within a tick that another
//! wants its slots), gives back slots a node no longer needs, and shrinks
//! a node's share to a fair part of the cap when another node wants more
//! than it holds. A hold is written to the
//! store, and every node sees it at its next lease. A node that wants slots
//! another node holds asks the store again after 25 ms, doubling to 250 ms.
//!
//! A block of a window's budget is used within a short *use-by* time
//! (a tenth of the window, at most 5 s) and counted by the store over the
//! window plus that time, so the requests a service counts in any window
//! never exceed the budget, whichever node sent them.
//! Blocks grow while a node uses them up quickly (from 100 requests, or
//! 64 KiB of uploads, to 2% of the budget) and shrink when it does not.
//!
//! Without a store ([`Governor::new`]) the same code runs against a
//! [`MemoryLimitStore`]: one process keeps the limits alone.
//!
//! **Idle keys are forgotten.** Calls name keys without end (one per
//! mailbox a platform ever reaches), so as the governor's map of keys
//! grows it drops the keys nobody holds that carry nothing to remember:
//! nothing in flight or waiting, no hold, no budget left to use, no slots
//! leased from a shared store ([`cells`]). The store still counts what the
//! key took in its window, so a key met again gets no more than the window
//! has left; its [`Governor::metrics`] start again from zero.
//!
//! ```
//! use switchboard_core::governor::{Governor, Rules};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let governor = Governor::new();
//! let rules = Rules { concurrency: Some(1), ..Rules::default() };
//! let first = governor.admit("app:mailbox:adele", &rules, "inst-1", 0).await.unwrap();
//! assert_eq!(governor.metrics()[0].in_flight, 1);
//! drop(first);
//! assert_eq!(governor.metrics()[0].in_flight, 0);
//! # });
//! ```

mod cells;
mod express;
mod queue;
pub mod store;

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::definition::limits::{Budget, LimitDefinition};
use crate::error::Result;

use cells::Cells;
use express::ExpressLane;
use queue::{FairQueue, Waiter};
use store::{LeaseRequest, TakeRequest};
pub use store::{LimitStore, MemoryLimitStore};

/// The default lease time of a node's concurrency slots.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(10);

/// The default interval of lease renewal and rebalancing.
pub const DEFAULT_TICK: Duration = Duration::from_millis(100);

/// The longest a 429's `Retry-After` holds a key (longer values are cut).
pub const MAX_HOLD: Duration = Duration::from_secs(15 * 60);

/// How soon a node that got no slots asks the store again, at first and at most.
const POLL_FIRST: Duration = Duration::from_millis(25);
const POLL_MAX: Duration = Duration::from_millis(250);

/// The longest use-by time of a budget block.
const MAX_USE_BY: Duration = Duration::from_secs(5);

/// The requests a node takes from a window's budget at first (or 2% of
/// the budget when that is less); a busy node's blocks grow from there
/// ([`Blocks::next_block`]).
const FIRST_REQUEST_BLOCK: u64 = 100;

/// The upload bytes a node takes from a window's budget at first, beyond
/// what the upload at hand needs (or 2% of the budget when that is less):
/// a hundred JSON bodies of a few hundred bytes, so a node writing to a
/// mailbox asks the store once per block, not once per request.
const FIRST_BYTES_BLOCK: u64 = 64 * 1024;

/// The largest block of a window's budget, as a fraction of it.
const MOST_BLOCK_DIVISOR: u64 = 50;

/// What one admission uses of a key: one request, or a JSON batch's items
/// on that key.
///
/// ```
/// use switchboard_core::governor::Demand;
/// assert_eq!(Demand::request(512), Demand { slots: 1, requests: 1, bytes: 512 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Demand {
    /// Concurrency slots held while in flight (at most the key's cap).
    pub slots: u32,
    /// Requests counted against the request window.
    pub requests: u64,
    /// Bytes of request bodies counted against the upload window.
    pub bytes: u64,
}

impl Demand {
    /// One request carrying `bytes` bytes of body.
    pub fn request(bytes: u64) -> Self {
        Demand {
            slots: 1,
            requests: 1,
            bytes,
        }
    }
}

/// What a key keeps: the numbers of one declared limit.
///
/// ```
/// use switchboard_core::governor::Rules;
/// let def = serde_json::from_value(serde_json::json!({
///     "id": "outlook_mailbox", "scope": "mailbox", "concurrency": 4,
///     "requests": {"limit": 10000, "window_secs": 600}
/// })).unwrap();
/// let rules = Rules::from_definition(&def);
/// assert_eq!(rules.concurrency, Some(4));
/// assert!(rules.upload_bytes.is_none());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rules {
    /// The most requests in flight.
    pub concurrency: Option<u32>,
    /// Requests per rolling window.
    pub requests: Option<Budget>,
    /// Bytes of request bodies per rolling window.
    pub upload_bytes: Option<Budget>,
}

impl Rules {
    /// The numbers of a declared limit.
    pub fn from_definition(limit: &LimitDefinition) -> Self {
        Rules {
            concurrency: limit.concurrency.filter(|n| *n > 0),
            requests: limit.requests.filter(|b| b.limit > 0 && b.window_secs > 0),
            upload_bytes: limit
                .upload_bytes
                .filter(|b| b.limit > 0 && b.window_secs > 0),
        }
    }
}

/// What the governor knows about one key, for a platform to poll
/// ([`Governor::metrics`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyMetrics {
    /// The key (`microsoft365/outlook_mailbox/APP/mailbox/USER`).
    pub key: String,
    /// Requests of this node in flight on the key now.
    pub in_flight: u32,
    /// Calls of this node waiting for the key now.
    pub waiting: usize,
    /// Concurrency slots this node holds (its lease).
    pub slots: u32,
    /// Requests admitted since the governor started.
    pub admitted: u64,
    /// How many of them had to wait.
    pub waited: u64,
    /// Their time spent waiting, in all.
    pub time_waited: Duration,
    /// Times the service answered 429 with a wait on the key.
    pub holds: u64,
    /// Until when the key is held, if it is.
    pub held_until: Option<SystemTime>,
}

/// Builds a [`Governor`].
#[derive(Debug, Clone)]
pub struct GovernorBuilder {
    store: Option<Arc<dyn LimitStore>>,
    node: Option<String>,
    lease_ttl: Duration,
    tick: Duration,
}

impl GovernorBuilder {
    /// Share the limits with every node using this store (SQLite for
    /// several processes, PostgreSQL for several machines).
    pub fn store(mut self, store: Arc<dyn LimitStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// This node's name in the store (default: a random one per governor).
    pub fn node(mut self, node: impl Into<String>) -> Self {
        self.node = Some(node.into());
        self
    }

    /// How long a node's slots are leased unless renewed (default 10 s,
    /// at least 1 s): how long a crashed node's slots stay taken.
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl.max(Duration::from_secs(1));
        self
    }

    /// How often leases are renewed and rebalanced (default 100 ms, from
    /// 10 ms to a third of the lease time).
    pub fn tick(mut self, tick: Duration) -> Self {
        self.tick = tick.max(Duration::from_millis(10));
        self
    }

    /// The governor.
    pub fn build(self) -> Governor {
        let shared = self.store.is_some();
        let store = self
            .store
            .unwrap_or_else(|| Arc::new(MemoryLimitStore::default()));
        let node = self
            .node
            .unwrap_or_else(|| format!("node-{}", uuid::Uuid::new_v4().simple()));
        Governor {
            inner: Arc::new(Inner {
                store,
                shared,
                node,
                lease_ttl: self.lease_ttl,
                tick: self.tick.min(self.lease_ttl / 3),
                keys: Mutex::new(Cells::default()),
                next_ticket: AtomicU64::new(1),
                keeper_started: AtomicBool::new(false),
            }),
        }
    }
}

/// Keeps declared limits per key, for one process or for every node
/// sharing a store. Cheap to clone (shared).
#[derive(Clone)]
pub struct Governor {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn LimitStore>,
    /// Whether other nodes share the store (the keeper runs then).
    shared: bool,
    node: String,
    lease_ttl: Duration,
    tick: Duration,
    /// Keys by name; idle ones are forgotten as the map grows ([`cells`]).
    keys: Mutex<Cells<KeyCell>>,
    next_ticket: AtomicU64,
    keeper_started: AtomicBool,
}

impl fmt::Debug for Governor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Governor")
            .field("node", &self.inner.node)
            .field("shared", &self.inner.shared)
            .field("store", &self.inner.store)
            .field("lease_ttl", &self.inner.lease_ttl)
            .finish()
    }
}

impl Default for Governor {
    fn default() -> Self {
        Governor::new()
    }
}

/// One key: its rules and state.
struct KeyCell {
    key: Arc<str>,
    rules: Rules,
    /// Requests admitted without the lock ([`express`]), on a key with
    /// only a request budget.
    express: ExpressLane,
    state: Mutex<KeyState>,
}

impl KeyCell {
    /// Whether `demand` on this key may go by the express lane: the key
    /// counts requests only (no concurrency cap; no upload budget, or no
    /// bytes to count).
    fn express_fits(&self, demand: Demand) -> bool {
        self.rules.requests.is_some()
            && self.rules.concurrency.is_none()
            && (self.rules.upload_bytes.is_none() || demand.bytes == 0)
    }

    /// Whether the governor may forget this key at `now` (when no caller
    /// holds it): nothing in flight, waiting or asking the store, no hold,
    /// no usable requests or bytes (the store counts what was taken, so a
    /// new cell for the key gets only what the window has left), and, on a
    /// shared store, no slots leased (other nodes count them until the
    /// keeper gives them back). A key whose lock is taken stays.
    fn forgettable(&self, now: Instant, shared: bool) -> bool {
        let Ok(mut state) = self.state.try_lock() else {
            return false;
        };
        state.in_flight == 0
            && state.queue.len() == 0
            && !state.leasing
            && !state.renewing
            && (!shared || state.slots == 0)
            && state.held_until.is_none_or(|t| t <= now)
            && !state.topping_up
            && !self.express.usable(now)
            && state.requests.available(now) == 0
            && state.bytes.available(now) == 0
    }
}

#[derive(Default)]
struct KeyState {
    in_flight: u32,
    /// Slots leased from the store.
    slots: u32,
    /// Admit while `in_flight < local_cap` (≤ slots; less while another
    /// node waits for its fair part).
    local_cap: u32,
    others_wanting: u32,
    requests: Blocks,
    bytes: Blocks,
    held_until: Option<Instant>,
    queue: FairQueue,
    /// The head is talking to the store.
    leasing: bool,
    /// The keeper is renewing the lease: calls are still admitted within
    /// `local_cap` (no more than the renewal asks for), but the head does
    /// not ask the store meanwhile.
    renewing: bool,
    /// Nothing to gain from the store before this (no room, or polling).
    retry_at: Option<Instant>,
    poll: Duration,
    last_lease: Option<Instant>,
    idle_ticks: u32,
    /// Requests put in the express lane since it was last emptied.
    express_granted: u64,
    /// The next request block is being taken from the store ahead of need
    /// ([`Governor::top_up`]): the head waits for it rather than ask too.
    topping_up: bool,
    admitted: u64,
    waited: u64,
    time_waited: Duration,
    holds: u64,
}

/// A wall-clock time on tokio's clock (which tests can pause).
fn local_instant(at: SystemTime) -> Instant {
    let ahead = at.duration_since(SystemTime::now()).unwrap_or_default();
    let now = Instant::now();
    crate::bounds::instant_after(now, ahead).unwrap_or(now)
}

impl KeyState {
    fn lock(cell: &KeyCell) -> MutexGuard<'_, KeyState> {
        cell.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Empty `cell`'s express lane (the lock held): what calls took from it
    /// counts as admitted, what is left goes back to the blocks.
    fn drain_express(&mut self, cell: &KeyCell) {
        let granted = std::mem::take(&mut self.express_granted);
        if granted == 0 {
            return;
        }
        let (left, until) = cell.express.drain();
        self.admitted += granted.saturating_sub(left);
        if left > 0 {
            self.requests.blocks.push_front((until, left));
        }
    }

    /// After an admission with nobody waiting and no hold: move the rest
    /// of the first usable block, at most `most` requests, into `cell`'s
    /// (empty) express lane.
    fn fill_express(&mut self, cell: &KeyCell, now: Instant, most: u64) {
        if self.queue.len() > 0 || self.held_until.is_some() {
            return;
        }
        if let Some((until, left)) = self
            .requests
            .blocks
            .iter_mut()
            .find(|(until, left)| *until > now && *left > 0)
        {
            let moved = cell.express.fill((*left).min(most), *until);
            *left -= moved;
            self.express_granted = moved;
        }
    }
}

/// Blocks taken from a window's budget, each usable until its use-by
/// time, and the size of the next block to take.
#[derive(Default)]
struct Blocks {
    blocks: VecDeque<(Instant, u64)>,
    /// The size of the next block ([`Blocks::next_block`]), and when the
    /// last one was taken.
    next: u64,
    last_take: Option<Instant>,
    /// The last block was taken within the use-by time of the one before:
    /// the node uses this key steadily, and takes its next block ahead of
    /// need ([`Governor::top_up`]). A key called once never is.
    busy: bool,
}

impl Blocks {
    /// How much to take from the store when this node's blocks run out:
    /// `first` at first (or 2% of the budget when that is less), doubling
    /// while each block is used up in under a quarter of its use-by time,
    /// up to 2% of the budget, and halving when one lasted longer than its
    /// use-by time. A busy node asks the store rarely (and its calls rarely
    /// wait behind a store round trip); a quiet one does not hold budget it
    /// will not use.
    fn next_block(&self, budget: Budget, first: u64) -> u64 {
        let most = (budget.limit / MOST_BLOCK_DIVISOR).max(1);
        self.next.clamp(first.min(most), most)
    }

    /// A block of `amount` was taken at `now`, usable until `until`: keep
    /// it, and size the next one.
    fn took(
        &mut self,
        amount: u64,
        until: Option<Instant>,
        budget: Budget,
        first: u64,
        now: Instant,
    ) {
        if let Some(until) = until {
            self.blocks.push_back((until, amount));
        }
        let use_by = use_by(Duration::from_secs(budget.window_secs));
        let current = self.next_block(budget, first);
        let since = self.last_take.map(|at| now.saturating_duration_since(at));
        self.next = match since {
            Some(since) if since < use_by / 4 => current.saturating_mul(2),
            Some(since) if since > use_by => current / 2,
            _ => current,
        };
        self.busy = since.is_some_and(|since| since <= use_by);
        self.last_take = Some(now);
    }

    fn available(&mut self, now: Instant) -> u64 {
        self.blocks
            .retain(|(until, left)| *until > now && *left > 0);
        self.blocks.iter().fold(0, |s, (_, l)| s.saturating_add(*l))
    }

    fn use_up(&mut self, mut amount: u64) {
        for (_, left) in self.blocks.iter_mut() {
            let used = amount.min(*left);
            *left -= used;
            amount -= used;
            if amount == 0 {
                break;
            }
        }
    }
}

/// The use-by time of a block of a window: a tenth of it, at most 5 s.
fn use_by(window: Duration) -> Duration {
    (window / 10).clamp(Duration::from_millis(1), MAX_USE_BY)
}

/// What the head needs from the store before it can go.
#[derive(Debug, Default, Clone, Copy)]
struct Need {
    /// Lease this many slots in all.
    slots: Option<u32>,
    requests: u64,
    bytes: u64,
}

enum Step {
    Admitted,
    /// Wait to be woken, or until this time.
    Wait(Option<Instant>),
    Ask(Need),
}

/// A key's cell in one governor ([`Governor::handle`]), kept by a caller
/// that admits on the key again and again. It keeps the governor's
/// allocation (not the governor) alive, so a handle never matches a later
/// governor at the same address.
#[derive(Clone)]
pub(crate) struct KeyHandle {
    owner: Weak<Inner>,
    cell: Arc<KeyCell>,
}

impl fmt::Debug for KeyHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyHandle")
            .field("key", &self.cell.key)
            .finish()
    }
}

/// Permission to send one request on some keys; given back when dropped.
#[must_use = "the request may be sent while the permit is held"]
pub struct Permit {
    /// The key and the concurrency slots to give back. `None` on a key
    /// without a concurrency cap: such a permit frees nothing anyone waits
    /// for, so it keeps no reference (no shared count touched per call).
    held: Option<(Arc<KeyCell>, u32)>,
}

impl Permit {
    /// A permit for `demand` on `cell`, just admitted.
    fn of(cell: &Arc<KeyCell>, demand: Demand) -> Permit {
        Permit {
            held: cell
                .rules
                .concurrency
                .is_some()
                .then(|| (Arc::clone(cell), demand.slots)),
        }
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("Permit");
        if let Some((cell, slots)) = &self.held {
            out.field("key", &cell.key).field("slots", slots);
        }
        out.finish()
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some((cell, slots)) = &self.held {
            let mut state = KeyState::lock(cell);
            state.in_flight = state.in_flight.saturating_sub(*slots);
            state.queue.wake_head();
        }
    }
}

/// Ends a top-up however its task ends (cancelled too): clears the flag
/// and wakes the head, which may have waited for it.
struct ToppingUp<'a> {
    cell: &'a KeyCell,
}

impl Drop for ToppingUp<'_> {
    fn drop(&mut self) {
        let mut state = KeyState::lock(self.cell);
        state.topping_up = false;
        state.queue.wake_head();
    }
}

/// Takes a waiting call out of its line if it is dropped (cancelled).
struct InLine<'a> {
    cell: &'a KeyCell,
    ticket: u64,
    done: bool,
}

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        if !self.done {
            KeyState::lock(self.cell).queue.remove(self.ticket);
        }
    }
}

/// Clears the `leasing` (or, for the keeper, `renewing`) flag however the
/// store call ends (cancelled too).
struct Asking<'a> {
    cell: &'a KeyCell,
    renewal: bool,
}

impl Drop for Asking<'_> {
    fn drop(&mut self) {
        let mut state = KeyState::lock(self.cell);
        if self.renewal {
            state.renewing = false;
        } else {
            state.leasing = false;
        }
        state.queue.wake_head();
    }
}

impl Governor {
    /// A governor for this process alone.
    pub fn new() -> Self {
        Governor::builder().build()
    }

    /// Start building a governor (a shared store, lease times).
    pub fn builder() -> GovernorBuilder {
        GovernorBuilder {
            store: None,
            node: None,
            lease_ttl: DEFAULT_LEASE_TTL,
            tick: DEFAULT_TICK,
        }
    }

    /// This node's name in the store.
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// What the governor knows about every key it keeps, by key (idle keys
    /// are forgotten as the map grows: see the module's documentation).
    pub fn metrics(&self) -> Vec<KeyMetrics> {
        let mut out: Vec<KeyMetrics> = self
            .cells()
            .iter()
            .map(|cell| {
                let state = KeyState::lock(cell);
                KeyMetrics {
                    key: cell.key.to_string(),
                    in_flight: state.in_flight,
                    waiting: state.queue.len(),
                    slots: state.slots,
                    admitted: state.admitted
                        + state.express_granted.saturating_sub(cell.express.left()),
                    waited: state.waited,
                    time_waited: state.time_waited,
                    holds: state.holds,
                    held_until: state
                        .held_until
                        .and_then(|t| t.checked_duration_since(Instant::now()))
                        .filter(|left| !left.is_zero())
                        .map(|left| crate::bounds::later(SystemTime::now(), left)),
                }
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }

    fn cells(&self) -> Vec<Arc<KeyCell>> {
        self.inner
            .keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    fn cell(&self, key: &str, rules: &Rules) -> Arc<KeyCell> {
        let mut keys = self.inner.keys.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cell) = keys.get(key)
            && cell.rules == *rules
        {
            return Arc::clone(cell);
        }
        let key: Arc<str> = Arc::from(key);
        let cell = Arc::new(KeyCell {
            key: Arc::clone(&key),
            rules: *rules,
            express: ExpressLane::new(),
            state: Mutex::new(KeyState {
                poll: POLL_FIRST,
                ..KeyState::default()
            }),
        });
        // the clock is read only when the map is swept, not per new key
        let shared = self.inner.shared;
        let now = std::cell::OnceCell::new();
        keys.insert(key, Arc::clone(&cell), |idle| {
            idle.forgettable(*now.get_or_init(Instant::now), shared)
        });
        cell
    }

    /// The key's place in this governor, for a caller that admits on the
    /// same key again and again (an installation's app-wide key) and keeps
    /// it to skip the lookup by name.
    pub(crate) fn handle(&self, key: &str, rules: &Rules) -> KeyHandle {
        KeyHandle {
            owner: Arc::downgrade(&self.inner),
            cell: self.cell(key, rules),
        }
    }

    /// Whether `handle` was made by this governor.
    pub(crate) fn made(&self, handle: &KeyHandle) -> bool {
        std::ptr::eq(handle.owner.as_ptr(), Arc::as_ptr(&self.inner))
    }

    /// Wait for the turn of `installation` on `key` and for room under
    /// `rules` for one request carrying `upload_bytes` bytes of body.
    /// Dropping the future while it waits sends nothing and leaves the line.
    pub async fn admit(
        &self,
        key: &str,
        rules: &Rules,
        installation: &str,
        upload_bytes: u64,
    ) -> Result<Permit> {
        let installation: Arc<str> = Arc::from(installation);
        self.admit_shared(key, rules, &installation, Demand::request(upload_bytes))
            .await
    }

    pub(crate) async fn admit_shared(
        &self,
        key: &str,
        rules: &Rules,
        installation: &Arc<str>,
        demand: Demand,
    ) -> Result<Permit> {
        self.admit_cell(self.cell(key, rules), installation, demand)
            .await
    }

    /// [`Governor::admit_shared`] on a key found before ([`Governor::handle`];
    /// a handle of another governor is looked up by name).
    pub(crate) async fn admit_handle(
        &self,
        handle: &KeyHandle,
        installation: &Arc<str>,
        demand: Demand,
    ) -> Result<Permit> {
        let cell = if self.made(handle) {
            Arc::clone(&handle.cell)
        } else {
            self.cell(&handle.cell.key, &handle.cell.rules)
        };
        self.admit_cell(cell, installation, demand).await
    }

    /// A permit on a key found before, at once, when nobody waits on it
    /// and this node holds room for `demand`; `None` when the call has to
    /// wait or ask the store ([`Governor::admit_handle`] then). Not async:
    /// the usual admission builds no waiting future at all.
    pub(crate) fn admit_now(&self, handle: &KeyHandle, demand: Demand) -> Option<Permit> {
        if !self.made(handle) {
            return None;
        }
        self.start_keeper();
        let demand = Self::fitted(&handle.cell.rules, demand);
        self.step_now(&handle.cell, demand)
    }

    /// What can never fit is cut to what fits in an empty key.
    fn fitted(rules: &Rules, demand: Demand) -> Demand {
        Demand {
            slots: demand.slots.clamp(1, rules.concurrency.unwrap_or(u32::MAX)),
            requests: demand
                .requests
                .min(rules.requests.map_or(u64::MAX, |b| b.limit)),
            bytes: demand
                .bytes
                .min(rules.upload_bytes.map_or(u64::MAX, |b| b.limit)),
        }
    }

    /// Admit without joining the line, if nobody waits and there is room:
    /// by the express lane when it holds the requests, else under the lock.
    fn step_now(&self, cell: &Arc<KeyCell>, demand: Demand) -> Option<Permit> {
        if cell.express_fits(demand) && cell.express.take(demand.requests, Instant::now()) {
            return Some(Permit { held: None });
        }
        match self.step(cell, None, demand, None) {
            Step::Admitted => Some(Permit::of(cell, demand)),
            _ => None,
        }
    }

    async fn admit_cell(
        &self,
        cell: Arc<KeyCell>,
        installation: &Arc<str>,
        demand: Demand,
    ) -> Result<Permit> {
        self.start_keeper();
        let demand = Self::fitted(&cell.rules, demand);
        // nobody waits and there is room: go without joining the line
        if let Some(permit) = self.step_now(&cell, demand) {
            return Ok(permit);
        }
        let started = Instant::now();
        let ticket = self.inner.next_ticket.fetch_add(1, Ordering::Relaxed);
        let wake = Arc::new(Notify::new());
        {
            let mut state = KeyState::lock(&cell);
            // nobody passes a call in line by the express lane
            state.drain_express(&cell);
            state.queue.push(
                installation,
                Waiter {
                    ticket,
                    wake: Arc::clone(&wake),
                },
            );
        }
        let mut in_line = InLine {
            cell: &cell,
            ticket,
            done: false,
        };
        let mut waited = false;
        loop {
            let step = self.step(&cell, Some(ticket), demand, waited.then_some(started));
            match step {
                Step::Admitted => {
                    in_line.done = true;
                    if waited {
                        let state = KeyState::lock(&cell);
                        tracing::debug!(
                            key = %cell.key,
                            waited_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                            in_flight = state.in_flight,
                            waiting = state.queue.len(),
                            "governor admitted a request after waiting"
                        );
                    }
                    drop(in_line);
                    return Ok(Permit::of(&cell, demand));
                }
                Step::Wait(until) => {
                    waited = true;
                    match until {
                        Some(at) => {
                            tokio::select! {
                                _ = wake.notified() => {}
                                _ = tokio::time::sleep_until(at) => {}
                            }
                        }
                        None => wake.notified().await,
                    }
                }
                Step::Ask(need) => {
                    let asking = Asking {
                        cell: &cell,
                        renewal: false,
                    };
                    let outcome = self.ask(&cell, need).await;
                    drop(asking);
                    outcome?;
                }
            }
        }
    }

    /// Look at the key once: admit the head, or say what it waits for.
    ///
    /// `ticket` is the call's place in the line (`waiting_since`: when it
    /// joined, once it has had to wait); `None` asks for a call not in
    /// line, which goes only when nobody waits and it needs nothing from
    /// the store (otherwise `Wait`, and it joins the line).
    fn step(
        &self,
        cell: &Arc<KeyCell>,
        ticket: Option<u64>,
        demand: Demand,
        waiting_since: Option<Instant>,
    ) -> Step {
        let mut state = KeyState::lock(cell);
        state.drain_express(cell);
        let turn = match ticket {
            Some(ticket) => state.queue.head() == Some(ticket),
            None => state.queue.len() == 0,
        };
        if !turn || state.leasing {
            return Step::Wait(None);
        }
        let now = Instant::now();
        if let Some(until) = state.held_until {
            if until > now {
                return Step::Wait(Some(until));
            }
            state.held_until = None;
        }
        let rules = &cell.rules;
        let mut need = Need::default();
        let mut blocked_locally = false;
        if let Some(cap) = rules.concurrency
            && state.in_flight.saturating_add(demand.slots) > state.local_cap
        {
            let waiting = u32::try_from(state.queue.len()).unwrap_or(u32::MAX);
            let wanted = cap.min(state.in_flight.saturating_add(waiting.max(demand.slots)));
            if state.slots < cap && state.local_cap == state.slots {
                need.slots = Some(self.fair(&state, cap, wanted));
            } else {
                blocked_locally = true;
            }
        }
        if let Some(budget) = rules.requests {
            let have = state.requests.available(now);
            if have < demand.requests {
                need.requests = (demand.requests - have)
                    .max(state.requests.next_block(budget, FIRST_REQUEST_BLOCK))
                    .max(1);
            }
        }
        let mut bytes_wanted = 0;
        if let Some(budget) = rules.upload_bytes
            && demand.bytes > 0
        {
            bytes_wanted = demand.bytes;
            let have = state.bytes.available(now);
            if have < bytes_wanted {
                need.bytes =
                    (bytes_wanted - have).max(state.bytes.next_block(budget, FIRST_BYTES_BLOCK));
            }
        }
        let asks = need.slots.is_some() || need.requests > 0 || need.bytes > 0;
        if !asks && !blocked_locally {
            if rules.concurrency.is_some() {
                state.in_flight = state.in_flight.saturating_add(demand.slots);
            }
            if rules.requests.is_some() {
                state.requests.use_up(demand.requests);
            }
            if bytes_wanted > 0 {
                state.bytes.use_up(bytes_wanted);
            }
            state.admitted += 1;
            if let Some(since) = waiting_since {
                state.waited += 1;
                state.time_waited = state.time_waited.saturating_add(since.elapsed());
            }
            if ticket.is_some() {
                state.queue.pop_head();
            }
            if let Some(budget) = rules.requests {
                // half a block goes to the lane at a time; once no more
                // than that is left, the next block is taken in the
                // background, so a busy key's calls never line up behind
                // the store
                let block = state.requests.next_block(budget, FIRST_REQUEST_BLOCK);
                let half = (block / 2).max(1);
                if state.requests.busy
                    && state.requests.available(now) <= half
                    && state.retry_at.is_none_or(|at| at <= now)
                {
                    self.top_up(cell, &mut state, block);
                }
                if cell.express_fits(demand) {
                    state.fill_express(cell, now, half);
                }
            }
            return Step::Admitted;
        }
        if ticket.is_none() {
            // not in line: join it before waiting or asking the store
            return Step::Wait(None);
        }
        if (blocked_locally && need.requests == 0 && need.bytes == 0)
            || state.renewing
            || state.topping_up
        {
            // woken when a permit comes back, the renewal or the top-up ends
            return Step::Wait(None);
        }
        if let Some(at) = state.retry_at {
            if at > now {
                return Step::Wait(Some(at));
            }
            state.retry_at = None;
        }
        if blocked_locally {
            need.slots = None;
        }
        state.leasing = true;
        Step::Ask(need)
    }

    /// The slots to ask for: what is wanted, or a fair part of the cap
    /// while other nodes want more than they hold (never less than what is
    /// in flight).
    fn fair(&self, state: &KeyState, cap: u32, wanted: u32) -> u32 {
        let share = if state.others_wanting > 0 {
            (cap / state.others_wanting.saturating_add(1)).max(1)
        } else {
            cap
        };
        let target = if self.inner.shared { wanted } else { cap };
        target.min(share).max(state.in_flight)
    }

    /// Take `cell`'s next request block (`block` requests) from the store
    /// on a task of its own (the lock held by the caller; nothing when a
    /// take is under way or there is no runtime). The calls go on
    /// meanwhile on what is left; one that finds nothing left waits for
    /// this take instead of asking too, and is woken when it ends.
    fn top_up(&self, cell: &Arc<KeyCell>, state: &mut KeyState, block: u64) {
        if state.topping_up || state.leasing {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        state.topping_up = true;
        let need = Need {
            requests: block,
            ..Need::default()
        };
        let (governor, cell) = (self.clone(), Arc::clone(cell));
        runtime.spawn(async move {
            let _ending = ToppingUp { cell: &cell };
            if let Err(error) = governor.ask(&cell, need).await {
                // the next call that finds nothing left asks itself and
                // gets the error
                tracing::debug!(key = %cell.key, %error, "governor could not take a request block ahead of need");
            }
        });
    }

    /// Ask the store for what the head needs (no lock held meanwhile).
    async fn ask(&self, cell: &KeyCell, need: Need) -> Result<()> {
        let store = &self.inner.store;
        let now = Instant::now();
        let mut progress = false;
        let mut retry_at: Option<SystemTime> = None;
        if let Some(want) = need.slots {
            let cap = cell.rules.concurrency.unwrap_or(0);
            let grant = store
                .lease(&LeaseRequest {
                    key: cell.key.to_string(),
                    node: self.inner.node.clone(),
                    want,
                    cap,
                    ttl: self.inner.lease_ttl,
                })
                .await?;
            let mut state = KeyState::lock(cell);
            progress |= grant.slots > state.slots;
            apply_lease(&mut state, cap, grant, now);
        }
        for (need, budget, suffix, first) in [
            (
                need.requests,
                cell.rules.requests,
                "requests",
                FIRST_REQUEST_BLOCK,
            ),
            (
                need.bytes,
                cell.rules.upload_bytes,
                "upload_bytes",
                FIRST_BYTES_BLOCK,
            ),
        ] {
            let Some(budget) = budget.filter(|_| need > 0) else {
                continue;
            };
            let window = Duration::from_secs(budget.window_secs);
            let use_by = use_by(window);
            let grant = store
                .take(&TakeRequest {
                    key: format!("{}#{suffix}", cell.key),
                    node: self.inner.node.clone(),
                    amount: need,
                    limit: budget.limit,
                    window: window.saturating_add(use_by),
                })
                .await?;
            if grant.granted > 0 {
                progress |= grant.granted >= need;
                let mut state = KeyState::lock(cell);
                let blocks = if suffix == "requests" {
                    &mut state.requests
                } else {
                    &mut state.bytes
                };
                let until = crate::bounds::instant_after(now, use_by);
                blocks.took(grant.granted, until, budget, first, now);
            }
            if grant.granted < need {
                retry_at = retry_at.max(grant.retry_at);
            }
        }
        let mut state = KeyState::lock(cell);
        if progress {
            state.poll = POLL_FIRST;
        } else {
            let wait = match retry_at {
                Some(at) => at.duration_since(SystemTime::now()).unwrap_or_default(),
                None => {
                    let poll = state.poll;
                    state.poll = (poll * 2).min(POLL_MAX);
                    poll
                }
            };
            state.retry_at = crate::bounds::instant_after(Instant::now(), wait);
            state.queue.wake_head();
        }
        Ok(())
    }

    /// The service refused `key` until `until` (a 429's `Retry-After`, at
    /// most [`MAX_HOLD`] from now): nothing is sent on it by this node
    /// until then, nor by the others once they see the hold in the store.
    pub async fn hold(&self, key: &str, wait: Duration) -> Result<()> {
        let wait = wait.min(MAX_HOLD);
        let until = crate::bounds::later(SystemTime::now(), wait);
        let cell = {
            let keys = self.inner.keys.lock().unwrap_or_else(|e| e.into_inner());
            keys.get(key).cloned()
        };
        if let Some(cell) = cell {
            let mut state = KeyState::lock(&cell);
            state.drain_express(&cell);
            state.holds += 1;
            let until = local_instant(until);
            if state.held_until.is_none_or(|t| t < until) {
                state.held_until = Some(until);
            }
        }
        tracing::info!(
            key,
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            "governor holds a key the service throttled"
        );
        if self.inner.shared {
            self.inner.store.hold(key, until).await?;
        }
        Ok(())
    }

    /// Start the task that renews leases (shared stores only), once.
    fn start_keeper(&self) {
        // a plain load first: a swap on every call would bounce the flag's
        // cache line between the runtime's threads
        if !self.inner.shared
            || self.inner.keeper_started.load(Ordering::Acquire)
            || self.inner.keeper_started.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let tick = self.inner.tick;
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let mut interval = tokio::time::interval(tick);
                interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    interval.tick().await;
                    let Some(inner) = weak.upgrade() else { return };
                    let governor = Governor { inner };
                    governor.keep().await;
                }
            });
        } else {
            self.inner.keeper_started.store(false, Ordering::Release);
        }
    }

    /// One round of the keeper: renew, shrink or give back each key's lease.
    async fn keep(&self) {
        for cell in self.cells() {
            let Some(cap) = cell.rules.concurrency else {
                continue;
            };
            let now = Instant::now();
            let want = {
                let mut state = KeyState::lock(&cell);
                if state.leasing || state.renewing {
                    continue;
                }
                let waiting = u32::try_from(state.queue.len()).unwrap_or(u32::MAX);
                let demand = cap.min(state.in_flight.saturating_add(waiting));
                if demand == 0 {
                    state.idle_ticks = state.idle_ticks.saturating_add(1);
                } else {
                    state.idle_ticks = 0;
                }
                let stale = state
                    .last_lease
                    .is_none_or(|at| now.duration_since(at) >= self.inner.lease_ttl / 3);
                let want = if demand == 0 && state.idle_ticks > 1 {
                    0
                } else {
                    self.fair(&state, cap, demand.max(state.in_flight))
                        .max(if demand == 0 { state.slots } else { 0 })
                };
                // A node with calls waiting renews every tick: that is how
                // it learns that another node wants slots it holds (the
                // store cannot tell it), and gives them up within a tick
                // or two rather than at the next renewal for staleness.
                let nothing_to_do = want == state.slots
                    && !stale
                    && state.others_wanting == 0
                    && demand <= state.slots
                    && waiting == 0;
                if (state.slots == 0 && want == 0) || nothing_to_do {
                    continue;
                }
                // calls go on being admitted meanwhile, within what the
                // renewal asks for (never less than what is in flight)
                state.renewing = true;
                state.local_cap = state.local_cap.min(want);
                want
            };
            let asking = Asking {
                cell: &cell,
                renewal: true,
            };
            let result = self
                .inner
                .store
                .lease(&LeaseRequest {
                    key: cell.key.to_string(),
                    node: self.inner.node.clone(),
                    want,
                    cap,
                    ttl: self.inner.lease_ttl,
                })
                .await;
            match result {
                Ok(grant) => {
                    let mut state = KeyState::lock(&cell);
                    apply_lease(&mut state, cap, grant, now);
                    state.retry_at = None;
                }
                Err(error) => {
                    tracing::warn!(key = %cell.key, %error, "governor could not renew a lease");
                }
            }
            drop(asking);
        }
    }
}

/// Record a lease the store granted.
fn apply_lease(state: &mut KeyState, cap: u32, grant: store::LeaseGrant, now: Instant) {
    state.slots = grant.slots;
    state.others_wanting = grant.others_wanting;
    // while others wait, admit only up to a fair part: what is in flight
    // above it drains, and the next lease gives the rest back
    state.local_cap = if grant.others_wanting > 0 {
        grant
            .slots
            .min((cap / grant.others_wanting.saturating_add(1)).max(1))
    } else {
        grant.slots
    };
    state.last_lease = Some(now);
    if let Some(until) = grant.held_until.map(local_instant)
        && state.held_until.is_none_or(|t| t < until)
    {
        state.held_until = Some(until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(n: u32) -> Rules {
        Rules {
            concurrency: Some(n),
            ..Rules::default()
        }
    }

    #[tokio::test]
    async fn a_call_waits_for_a_permit_and_goes_when_one_is_given_back() {
        let g = Governor::new();
        let first = g.admit("k", &cap(1), "a", 0).await.unwrap();
        let g2 = g.clone();
        let waiting = tokio::spawn(async move { g2.admit("k", &cap(1), "b", 0).await.map(|_| ()) });
        tokio::task::yield_now().await;
        assert_eq!(g.metrics()[0].waiting, 1);
        assert!(!waiting.is_finished());
        drop(first);
        waiting.await.unwrap().unwrap();
        let m = &g.metrics()[0];
        assert_eq!((m.admitted, m.waited, m.in_flight, m.waiting), (2, 1, 0, 0));
    }

    #[tokio::test]
    async fn a_handle_admits_on_the_same_key_as_its_name() {
        let g = Governor::new();
        let handle = g.handle("k", &cap(1));
        let inst: Arc<str> = Arc::from("a");
        let first = g
            .admit_handle(&handle, &inst, Demand::request(0))
            .await
            .unwrap();
        // the key is full: a call by name waits behind the handle's permit
        let g2 = g.clone();
        let waiting = tokio::spawn(async move { g2.admit("k", &cap(1), "b", 0).await.map(|_| ()) });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        assert_eq!(g.metrics().len(), 1);
        assert_eq!((g.metrics()[0].in_flight, g.metrics()[0].waiting), (1, 1));
        drop(first);
        waiting.await.unwrap().unwrap();
        assert_eq!(g.metrics()[0].admitted, 2);
    }

    #[tokio::test]
    async fn a_handle_of_another_governor_is_looked_up_by_name() {
        let a = Governor::new();
        let b = Governor::new();
        let handle = a.handle("k", &cap(1));
        assert!(a.made(&handle) && !b.made(&handle));
        let inst: Arc<str> = Arc::from("x");
        let permit = b
            .admit_handle(&handle, &inst, Demand::request(0))
            .await
            .unwrap();
        // counted in b, the governor asked, not in a
        assert_eq!(b.metrics()[0].in_flight, 1);
        assert_eq!(a.metrics()[0].in_flight, 0);
        drop(permit);
    }

    #[tokio::test]
    async fn a_call_never_passes_calls_already_waiting() {
        // the no-line path is only for a key nobody waits on: a call that
        // finds room made by a returned permit still goes after the line
        let g = Governor::new();
        let first = g.admit("k", &cap(1), "a", 0).await.unwrap();
        let g2 = g.clone();
        let order = Arc::new(Mutex::new(Vec::new()));
        let o2 = Arc::clone(&order);
        let waiting = tokio::spawn(async move {
            let p = g2.admit("k", &cap(1), "b", 0).await.unwrap();
            o2.lock().unwrap().push("b");
            drop(p);
        });
        tokio::task::yield_now().await;
        assert_eq!(g.metrics()[0].waiting, 1);
        drop(first);
        // before b's task runs again, c arrives: it must queue behind b
        let third = g.admit("k", &cap(1), "c", 0).await.unwrap();
        order.lock().unwrap().push("c");
        drop(third);
        waiting.await.unwrap();
        assert_eq!(*order.lock().unwrap(), vec!["b", "c"]);
    }

    #[tokio::test]
    async fn a_cancelled_waiting_call_leaves_the_line_and_the_next_one_goes() {
        let g = Governor::new();
        let first = g.admit("k", &cap(1), "a", 0).await.unwrap();
        let g2 = g.clone();
        let cancelled =
            tokio::spawn(async move { g2.admit("k", &cap(1), "a", 0).await.map(|_| ()) });
        tokio::task::yield_now().await;
        cancelled.abort();
        let _ = cancelled.await;
        assert_eq!(g.metrics()[0].waiting, 0);
        drop(first);
        let again = g.admit("k", &cap(1), "b", 0).await.unwrap();
        assert_eq!(g.metrics()[0].admitted, 2);
        drop(again);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_window_makes_the_next_call_wait_for_room() {
        let g = Governor::new();
        let rules = Rules {
            requests: Some(Budget {
                limit: 2,
                window_secs: 60,
            }),
            ..Rules::default()
        };
        let start = Instant::now();
        for _ in 0..2 {
            drop(g.admit("k", &rules, "a", 0).await.unwrap());
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        // the window (plus its use-by time) must pass first; paused time
        // advances only as far as the sleep the governor asks for
        drop(g.admit("k", &rules, "a", 0).await.unwrap());
        assert!(start.elapsed() >= Duration::from_secs(60));
        assert_eq!(g.metrics()[0].waited, 1);
    }

    /// A memory store that records every `take` amount, each answered
    /// after `delay` (a store's round trip).
    #[derive(Debug, Default)]
    struct CountingStore {
        inner: MemoryLimitStore,
        takes: Mutex<Vec<u64>>,
        delay: Duration,
    }

    #[async_trait::async_trait]
    impl LimitStore for CountingStore {
        async fn lease(&self, request: &LeaseRequest) -> Result<store::LeaseGrant> {
            self.inner.lease(request).await
        }
        async fn take(&self, request: &TakeRequest) -> Result<store::TakeGrant> {
            self.takes.lock().unwrap().push(request.amount);
            tokio::time::sleep(self.delay).await;
            self.inner.take(request).await
        }
        async fn hold(&self, key: &str, until: SystemTime) -> Result<()> {
            self.inner.hold(key, until).await
        }
    }

    fn budget(limit: u64, window_secs: u64) -> Rules {
        Rules {
            requests: Some(Budget { limit, window_secs }),
            ..Rules::default()
        }
    }

    fn upload_budget(limit: u64, window_secs: u64) -> Rules {
        Rules {
            upload_bytes: Some(Budget { limit, window_secs }),
            ..Rules::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn uploads_take_blocks_of_bytes_not_a_store_take_per_request() {
        let store = Arc::new(CountingStore::default());
        let g = Governor::builder().store(store.clone()).build();
        // Outlook's per mailbox: 150 MB in 5 minutes; 1,000 JSON bodies of 500 B
        let rules = upload_budget(150_000_000, 300);
        for _ in 0..1_000 {
            drop(g.admit("mbx", &rules, "a", 500).await.unwrap());
        }
        // 64 KiB, then doubling while each block goes at once: 4 takes, not 1,000
        let takes = store.takes.lock().unwrap().clone();
        assert_eq!(takes, vec![65_536, 65_536, 131_072, 262_144]);
        assert_eq!(g.metrics()[0].admitted, 1_000);
    }

    #[tokio::test(start_paused = true)]
    async fn an_upload_budget_keeps_a_window_under_its_bytes() {
        let g = Governor::new();
        // 10,000 bytes a minute: ten uploads of 1,000 go at once, the
        // eleventh when the first ones leave the window
        let rules = upload_budget(10_000, 60);
        let start = Instant::now();
        for _ in 0..10 {
            drop(g.admit("mbx", &rules, "a", 1_000).await.unwrap());
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        drop(g.admit("mbx", &rules, "a", 1_000).await.unwrap());
        assert!(
            start.elapsed() >= Duration::from_secs(60),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_budget_admits_by_the_express_lane_until_its_block_expires() {
        let store = Arc::new(CountingStore::default());
        let g = Governor::builder().store(store.clone()).build();
        // 1,000 per 10 s: blocks of 20 (2%), usable for 1 s
        let rules = budget(1_000, 10);
        drop(g.admit("k", &rules, "a", 0).await.unwrap());
        let cell = g.cell("k", &rules);
        assert_eq!(
            cell.express.left(),
            10,
            "half a block is in the lane, the rest (9) kept back"
        );
        for _ in 0..10 {
            drop(g.admit("k", &rules, "a", 0).await.unwrap());
        }
        assert_eq!(cell.express.left(), 0);
        assert_eq!(g.metrics()[0].admitted, 11);
        assert_eq!(store.takes.lock().unwrap().len(), 1);
        // past the block's use-by time the lane admits nothing: the next
        // call takes a new block from the store
        tokio::time::advance(Duration::from_millis(1_001)).await;
        drop(g.admit("k", &rules, "a", 0).await.unwrap());
        assert_eq!(store.takes.lock().unwrap().len(), 2);
        assert_eq!(g.metrics()[0].admitted, 12);
        // the lane never admits more than the blocks held: 20 per take
        for _ in 0..100 {
            drop(g.admit("k", &rules, "a", 0).await.unwrap());
        }
        let takes = store.takes.lock().unwrap().clone();
        assert_eq!(g.metrics()[0].admitted, 112);
        assert!(takes.iter().sum::<u64>() >= 112, "{takes:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_key_takes_its_next_block_ahead_so_no_call_waits_for_the_store() {
        // every take costs 5 ms; a call every millisecond
        let store = Arc::new(CountingStore {
            delay: Duration::from_millis(5),
            ..CountingStore::default()
        });
        let g = Governor::builder().store(store.clone()).build();
        // 1,000 per 10 s: blocks of 20, half of one (10 calls, 10 ms) in
        // the lane at a time
        let rules = budget(1_000, 10);
        let mut slow = Vec::new();
        for call in 0..200 {
            let start = Instant::now();
            drop(g.admit("k", &rules, "a", 0).await.unwrap());
            if start.elapsed() > Duration::ZERO {
                slow.push(call);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // the first two blocks are asked for by the calls that need them
        // (a key called once takes no second block); from the third on,
        // each is taken while half a block is still left
        assert_eq!(slow, [0, 20], "calls that waited for the store");
        let takes = store.takes.lock().unwrap().clone();
        assert!(takes.iter().all(|&t| t == 20), "{takes:?}");
        assert_eq!(takes.len(), 11, "200 calls, one block ahead: {takes:?}");
        let metrics = &g.metrics()[0];
        assert_eq!((metrics.admitted, metrics.waited), (200, 0));
        // a key called once takes one block
        drop(g.admit("once", &rules, "a", 0).await.unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(store.takes.lock().unwrap().len(), 12);
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_empties_the_express_lane_and_nobody_passes_the_line() {
        let g = Governor::new();
        let rules = budget(1_000, 10);
        drop(g.admit("k", &rules, "a", 0).await.unwrap());
        assert_eq!(g.cell("k", &rules).express.left(), 10);
        g.hold("k", Duration::from_secs(5)).await.unwrap();
        assert_eq!(g.cell("k", &rules).express.left(), 0);
        let order = Arc::new(Mutex::new(Vec::new()));
        let start = Instant::now();
        let mut calls = Vec::new();
        for who in ["b", "c"] {
            let (g, order) = (g.clone(), Arc::clone(&order));
            calls.push(tokio::spawn(async move {
                drop(g.admit("k", &budget(1_000, 10), who, 0).await.unwrap());
                order.lock().unwrap().push(who);
            }));
            tokio::task::yield_now().await;
        }
        assert_eq!(g.metrics()[0].waiting, 2);
        for call in calls {
            call.await.unwrap();
        }
        assert_eq!(start.elapsed(), Duration::from_secs(5));
        assert_eq!(*order.lock().unwrap(), ["b", "c"]);
        assert_eq!(g.metrics()[0].admitted, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_node_takes_growing_blocks_up_to_two_percent_of_the_budget() {
        let store = Arc::new(CountingStore::default());
        let g = Governor::builder().store(store.clone()).build();
        // Graph's global limit: 130,000 requests per 10 s (2% = 2,600)
        let rules = Rules {
            requests: Some(Budget {
                limit: 130_000,
                window_secs: 10,
            }),
            ..Rules::default()
        };
        for _ in 0..20_000 {
            drop(g.admit("app", &rules, "a", 0).await.unwrap());
        }
        let takes = store.takes.lock().unwrap().clone();
        // 100, then doubling once a block went in no time, 2,600 at most:
        // not 200 takes of 100
        assert_eq!(&takes[..6], &[100, 100, 200, 400, 800, 1_600]);
        assert!(takes.iter().all(|t| *t <= 2_600), "{takes:?}");
        assert!(takes.len() <= 13, "{} takes: {takes:?}", takes.len());
        assert_eq!(g.metrics()[0].admitted, 20_000);

        // a quiet spell: each block outlives its use-by time (1 s), so the
        // next ones shrink back
        store.takes.lock().unwrap().clear();
        for _ in 0..4 {
            tokio::time::advance(Duration::from_secs(2)).await;
            drop(g.admit("app", &rules, "a", 0).await.unwrap());
        }
        let quiet = store.takes.lock().unwrap().clone();
        assert!(quiet.windows(2).all(|w| w[1] < w[0]), "{quiet:?}");
        assert!(quiet[0] <= 2_600, "{quiet:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_keeps_every_call_back_until_it_passes() {
        let g = Governor::new();
        drop(g.admit("k", &cap(4), "a", 0).await.unwrap());
        g.hold("k", Duration::from_secs(30)).await.unwrap();
        let start = Instant::now();
        drop(g.admit("k", &cap(4), "a", 0).await.unwrap());
        assert!(start.elapsed() >= Duration::from_secs(29));
        assert_eq!(g.metrics()[0].holds, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_huge_hold_is_cut_to_the_maximum() {
        let g = Governor::new();
        drop(g.admit("k", &cap(4), "a", 0).await.unwrap());
        g.hold("k", Duration::from_secs(u64::MAX)).await.unwrap();
        let until = g.metrics()[0].held_until.unwrap();
        let left = until.duration_since(SystemTime::now()).unwrap_or_default();
        assert!(left <= MAX_HOLD, "{left:?}");
    }

    /// Admit (and give back) one call on each of `n` fresh keys.
    async fn churn(g: &Governor, prefix: &str, n: usize, rules: &Rules) {
        for i in 0..n {
            drop(
                g.admit(&format!("{prefix}{i}"), rules, "a", 0)
                    .await
                    .unwrap(),
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn idle_keys_are_forgotten_so_the_keys_kept_stay_bounded() {
        let g = Governor::new();
        let rules = budget(100, 60);
        // 8,000 mailboxes, a thousand at a time, each thousand idle
        // (its blocks past their 5 s use-by time) before the next
        for round in 0..8 {
            churn(&g, &format!("m{round}-"), 1_000, &rules).await;
            tokio::time::advance(Duration::from_secs(6)).await;
        }
        let kept = g.metrics();
        assert!(
            kept.len() <= 2 * cells::SWEEP_FROM,
            "{} keys kept",
            kept.len()
        );
        assert!(
            !kept.iter().any(|m| m.key.starts_with("m0-")),
            "the first thousand were never forgotten"
        );
        assert!(kept.iter().any(|m| m.key.starts_with("m7-")));
    }

    #[tokio::test(start_paused = true)]
    async fn a_held_key_and_a_key_in_use_are_kept_through_sweeps() {
        let g = Governor::new();
        let rules = budget(100, 60);
        drop(g.admit("held", &rules, "a", 0).await.unwrap());
        g.hold("held", Duration::from_secs(120)).await.unwrap();
        let busy = g.admit("busy", &cap(1), "a", 0).await.unwrap();
        for round in 0..4 {
            churn(&g, &format!("m{round}-"), 1_000, &rules).await;
            tokio::time::advance(Duration::from_secs(6)).await;
        }
        assert!(!g.metrics().iter().any(|m| m.key.starts_with("m0-")));
        // the busy key's one slot is still taken: a second call waits
        let g2 = g.clone();
        let second = tokio::spawn(async move { g2.admit("busy", &cap(1), "b", 0).await.map(drop) });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(
            !second.is_finished(),
            "a forgotten key admitted past its cap"
        );
        drop(busy);
        second.await.unwrap().unwrap();
        // the hold (120 s from 24 s ago) still keeps calls back
        let start = Instant::now();
        drop(g.admit("held", &rules, "a", 0).await.unwrap());
        assert!(
            start.elapsed() >= Duration::from_secs(90),
            "{:?}",
            start.elapsed()
        );
        let held = g.metrics().into_iter().find(|m| m.key == "held").unwrap();
        assert_eq!((held.holds, held.admitted), (1, 2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_forgotten_key_gets_only_what_its_window_has_left() {
        let g = Governor::new();
        let rules = budget(3, 60);
        let start = Instant::now();
        for _ in 0..3 {
            drop(g.admit("x", &rules, "a", 0).await.unwrap());
        }
        tokio::time::advance(Duration::from_secs(6)).await;
        churn(&g, "m-", 2 * cells::SWEEP_FROM, &budget(100, 60)).await;
        assert!(
            !g.metrics().iter().any(|m| m.key == "x"),
            "x was not forgotten"
        );
        // the store still counts x's three requests in their window
        drop(g.admit("x", &rules, "a", 0).await.unwrap());
        assert!(
            start.elapsed() >= Duration::from_secs(60),
            "{:?}",
            start.elapsed()
        );
    }
}
