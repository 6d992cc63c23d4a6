//! Microsoft Graph's throttling limits, kept the way Graph keeps them, so
//! that a client (and a request governor) can be tested against them.
//!
//! What Microsoft documents (the reference pages under
//! `microsoft-graph/docs-2021-07` and `docs-current`):
//! - Outlook keeps its limits per app (client id) and mailbox: 10,000
//!   requests in 10 minutes and 4 concurrent requests (both pages); uploads,
//!   the bodies of PATCH, POST and PUT, of 150 MB in 5 minutes
//!   (`includes/throttling-outlook.md`, 01/2025) where the 2021-07
//!   `concepts/throttling.md` said 15 MB in 30 seconds. The newer numbers
//!   are the defaults; every number is configurable.
//! - Graph keeps a global limit per app across all tenants: 130,000
//!   requests per 10 seconds (`concepts/throttling-limits.md`, 01/2025;
//!   the 2021-07 page said 2,000 per second). On by default at that number.
//! - Which resources Outlook serves: mail, calendars, personal contacts,
//!   the profile photo, people, Outlook categories (same include file).
//!   Here: a request under `/me/{area}` or `/users/{id or UPN}/{area}` for
//!   an area in [`OUTLOOK_AREAS`]; its mailbox is that user, whichever way
//!   the user was named.
//!
//! What the sandbox decides where Microsoft does not say:
//! - The checks run in the order global, concurrency, request window,
//!   upload bytes; the first one over its limit answers, and a refused
//!   request uses none of the budgets (so a client that waits as told gets
//!   through).
//! - A request is "over" a window once the window already holds the limit
//!   (the 10,001st request is refused); for upload bytes, once the window
//!   holds at least the budget (the request that crosses it is served).
//! - `Retry-After`: for a window, the seconds until enough of it has
//!   passed for the request to fit (at least 1); for concurrency, the
//!   sandbox's `retry_after_secs` (Outlook does not say).
//! - The bodies: `ApplicationThrottled` with "Application is over its
//!   MailboxConcurrency limit." or "... IncomingBytes limit." (as Graph
//!   sends them in public reports), and the documented `TooManyRequests`
//!   sample for the request window and the global limit.
//!
//! Windows are measured on the limits clock: the monotonic clock plus an
//! offset that tests move forward ([`Limits::advance_clock`]), so a window
//! can pass without waiting for it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;
use switchboard_core::{Error, Result};

use crate::errors::GraphError;
use crate::state::Tenant;

/// The path areas under a user that the Outlook service answers
/// (lower-case): mail, calendars, personal contacts, profile photo,
/// people, Outlook categories and settings.
pub(crate) const OUTLOOK_AREAS: &[&str] = &[
    "messages",
    "mailfolders",
    "sendmail",
    "mailboxsettings",
    "inferenceclassification",
    "calendar",
    "calendars",
    "calendargroups",
    "calendarview",
    "events",
    "findmeetingtimes",
    "reminderview",
    "contacts",
    "contactfolders",
    "people",
    "photo",
    "photos",
    "outlook",
];

/// The largest request budget a window may be given: the sandbox keeps one
/// timestamp per request in the window.
const MAX_WINDOW_REQUESTS: u32 = 10_000_000;

/// The longest window.
const MAX_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// The furthest the limits clock may be moved forward, in all.
const MAX_CLOCK_OFFSET: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// How `$batch` answers when one of its requests was throttled.
///
/// Microsoft's pages disagree: the 2021-07 `concepts/throttling.md` says the
/// batch fails with 424 (Failed Dependency), the 01/2025 page that it
/// succeeds with 200. In both, the throttled request's own response has
/// status 429 and its own `Retry-After` header.
///
/// ```
/// use switchboard_microsoft365_sandbox::ThrottledBatchStatus;
///
/// assert_eq!(ThrottledBatchStatus::default().status(), 200);
/// assert_eq!(ThrottledBatchStatus::FailedDependency.status(), 424);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ThrottledBatchStatus {
    /// 200, as the current docs say (the default).
    #[default]
    Ok,
    /// 424, as the 2021-07 docs say.
    FailedDependency,
}

impl ThrottledBatchStatus {
    /// The batch response's HTTP status.
    pub fn status(self) -> u16 {
        match self {
            ThrottledBatchStatus::Ok => 200,
            ThrottledBatchStatus::FailedDependency => 424,
        }
    }
}

/// The throttling limits a sandbox keeps. A count of 0 switches that limit
/// off. The defaults are Microsoft's current numbers.
///
/// ```
/// use std::time::Duration;
/// use switchboard_microsoft365_sandbox::LimitsConfig;
///
/// let graph = LimitsConfig::default();
/// assert_eq!(graph.outlook_concurrency, 4);
/// assert_eq!(graph.outlook_window_requests, 10_000);
/// assert_eq!(graph.outlook_window, Duration::from_secs(600));
/// assert_eq!(graph.outlook_upload_bytes, 150_000_000);
/// assert_eq!(graph.global_requests, 130_000);
///
/// // scaled down so that a test runs in seconds
/// let fast = LimitsConfig::default().with_outlook_window(100, Duration::from_secs(2));
/// assert!(fast.validate().is_ok());
/// assert!(LimitsConfig::default().with_outlook_window(100, Duration::ZERO).validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LimitsConfig {
    /// Requests one app may have in flight for one mailbox (Outlook: 4).
    pub outlook_concurrency: u32,
    /// Requests one app may make to one mailbox per
    /// [`outlook_window`](Self::outlook_window) (Outlook: 10,000).
    pub outlook_window_requests: u32,
    /// The rolling window of `outlook_window_requests` (Outlook: 10 minutes).
    pub outlook_window: Duration,
    /// Bytes of PATCH, POST and PUT bodies (attachment upload chunks
    /// included) one app may send to one mailbox per
    /// [`outlook_upload_window`](Self::outlook_upload_window)
    /// (Outlook: 150 MB, taken as 150,000,000 bytes).
    pub outlook_upload_bytes: u64,
    /// The rolling window of `outlook_upload_bytes` (Outlook: 5 minutes).
    pub outlook_upload_window: Duration,
    /// Requests one app may make to Graph per
    /// [`global_window`](Self::global_window), every service and tenant
    /// together (Graph: 130,000).
    pub global_requests: u32,
    /// The rolling window of `global_requests` (Graph: 10 seconds).
    pub global_window: Duration,
    /// The status of a `$batch` response with a throttled request in it.
    pub throttled_batch_status: ThrottledBatchStatus,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            outlook_concurrency: 4,
            outlook_window_requests: 10_000,
            outlook_window: Duration::from_secs(600),
            outlook_upload_bytes: 150_000_000,
            outlook_upload_window: Duration::from_secs(300),
            global_requests: 130_000,
            global_window: Duration::from_secs(10),
            throttled_batch_status: ThrottledBatchStatus::Ok,
        }
    }
}

impl LimitsConfig {
    /// Every limit off: the sandbox never throttles by itself (injected
    /// faults aside).
    ///
    /// ```
    /// use switchboard_microsoft365_sandbox::LimitsConfig;
    ///
    /// let off = LimitsConfig::off();
    /// assert_eq!((off.outlook_concurrency, off.global_requests), (0, 0));
    /// ```
    pub fn off() -> Self {
        LimitsConfig {
            outlook_concurrency: 0,
            outlook_window_requests: 0,
            outlook_upload_bytes: 0,
            global_requests: 0,
            ..LimitsConfig::default()
        }
    }

    /// Sets the concurrent requests per app and mailbox (0: off).
    ///
    /// ```
    /// use switchboard_microsoft365_sandbox::LimitsConfig;
    ///
    /// assert_eq!(LimitsConfig::default().with_outlook_concurrency(2).outlook_concurrency, 2);
    /// ```
    pub fn with_outlook_concurrency(mut self, requests: u32) -> Self {
        self.outlook_concurrency = requests;
        self
    }

    /// Sets the request window per app and mailbox (`requests` 0: off).
    pub fn with_outlook_window(mut self, requests: u32, window: Duration) -> Self {
        self.outlook_window_requests = requests;
        self.outlook_window = window;
        self
    }

    /// Sets the upload budget per app and mailbox (`bytes` 0: off).
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard_microsoft365_sandbox::LimitsConfig;
    ///
    /// // the 2021-07 numbers
    /// let old = LimitsConfig::default().with_outlook_uploads(15_000_000, Duration::from_secs(30));
    /// assert!(old.validate().is_ok());
    /// ```
    pub fn with_outlook_uploads(mut self, bytes: u64, window: Duration) -> Self {
        self.outlook_upload_bytes = bytes;
        self.outlook_upload_window = window;
        self
    }

    /// Sets the global request window per app (`requests` 0: off).
    pub fn with_global(mut self, requests: u32, window: Duration) -> Self {
        self.global_requests = requests;
        self.global_window = window;
        self
    }

    /// Sets the status of a `$batch` response with a throttled request in it.
    ///
    /// ```
    /// use switchboard_microsoft365_sandbox::{LimitsConfig, ThrottledBatchStatus};
    ///
    /// let old = LimitsConfig::default()
    ///     .with_throttled_batch_status(ThrottledBatchStatus::FailedDependency);
    /// assert_eq!(old.throttled_batch_status.status(), 424);
    /// ```
    pub fn with_throttled_batch_status(mut self, status: ThrottledBatchStatus) -> Self {
        self.throttled_batch_status = status;
        self
    }

    /// Checks the settings; the error names the field and what is allowed.
    pub fn validate(&self) -> Result<()> {
        for (name, requests, window) in [
            (
                "outlook_window_requests",
                self.outlook_window_requests,
                self.outlook_window,
            ),
            ("global_requests", self.global_requests, self.global_window),
        ] {
            if requests > MAX_WINDOW_REQUESTS {
                return Err(Error::invalid_argument(
                    name,
                    format!("must be from 0 (off) to {MAX_WINDOW_REQUESTS}"),
                ));
            }
            if requests > 0 {
                check_window(window_field(name), window)?;
            }
        }
        if self.outlook_upload_bytes > 0 {
            check_window("outlook_upload_window", self.outlook_upload_window)?;
        }
        Ok(())
    }
}

fn window_field(requests_field: &str) -> &'static str {
    if requests_field == "global_requests" {
        "global_window"
    } else {
        "outlook_window"
    }
}

fn check_window(name: &str, window: Duration) -> Result<()> {
    if window < Duration::from_secs(1) || window > MAX_WINDOW {
        return Err(Error::invalid_argument(
            name,
            "must be from 1 second to 24 hours while its limit is on",
        ));
    }
    Ok(())
}

/// Throttled answers by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ThrottleCounts {
    /// `ApplicationThrottled` / MailboxConcurrency: too many in flight.
    pub concurrency: u64,
    /// The request window of a mailbox was full.
    pub requests: u64,
    /// `ApplicationThrottled` / IncomingBytes: the upload budget was used.
    pub upload_bytes: u64,
    /// The app's global window was full.
    pub global: u64,
}

impl ThrottleCounts {
    /// Every throttled answer.
    ///
    /// ```
    /// use switchboard_microsoft365_sandbox::ThrottleCounts;
    ///
    /// assert_eq!(ThrottleCounts::default().total(), 0);
    /// ```
    pub fn total(&self) -> u64 {
        self.concurrency + self.requests + self.upload_bytes + self.global
    }

    fn add(&mut self, other: &ThrottleCounts) {
        self.concurrency += other.concurrency;
        self.requests += other.requests;
        self.upload_bytes += other.upload_bytes;
        self.global += other.global;
    }
}

/// What one app did to one mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MailboxStats {
    /// The app (client id, lower-case).
    pub app: String,
    /// The mailbox: the user's object id.
    pub mailbox: String,
    /// Requests let through (whatever their answer).
    pub requests: u64,
    /// Requests refused, by limit.
    pub throttled: ThrottleCounts,
    /// Requests in flight now.
    pub in_flight: u32,
    /// The most requests ever in flight at once (since the last reset).
    pub max_in_flight: u32,
    /// Requests in the current request window.
    pub window_requests: u64,
    /// Upload bytes in the current upload window.
    pub window_upload_bytes: u64,
}

/// What one app did, over every mailbox and service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AppStats {
    /// The app (client id, lower-case).
    pub app: String,
    /// Graph requests let through (`$batch` items each count; the batch
    /// itself does not).
    pub requests: u64,
    /// Requests refused by the global limit.
    pub throttled_global: u64,
}

/// The sandbox's throttling counters: what `GET /_sandbox/stats` answers.
///
/// ```
/// use switchboard_microsoft365_sandbox::LimitStats;
///
/// let empty = LimitStats::default();
/// assert_eq!(empty.throttled.total(), 0);
/// assert!(empty.mailbox("app", "user").is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LimitStats {
    /// Per app and mailbox, sorted.
    pub mailboxes: Vec<MailboxStats>,
    /// Per app, sorted.
    pub apps: Vec<AppStats>,
    /// Every throttled answer, by kind.
    pub throttled: ThrottleCounts,
    /// How far the limits clock was moved forward, in seconds.
    pub clock_offset_secs: u64,
}

impl LimitStats {
    /// The counters of `app` (client id, any case) on `mailbox` (user id).
    pub fn mailbox(&self, app: &str, mailbox: &str) -> Option<&MailboxStats> {
        self.mailboxes
            .iter()
            .find(|m| m.app.eq_ignore_ascii_case(app) && m.mailbox.eq_ignore_ascii_case(mailbox))
    }
}

#[derive(Default)]
struct MailboxUsage {
    in_flight: u32,
    max_in_flight: u32,
    window: VecDeque<Instant>,
    uploads: VecDeque<(Instant, u64)>,
    upload_sum: u64,
    requests: u64,
    throttled: ThrottleCounts,
}

#[derive(Default)]
struct AppUsage {
    window: VecDeque<Instant>,
    requests: u64,
    throttled_global: u64,
}

#[derive(Default)]
struct Usage {
    /// (app, mailbox) → usage. Apps are registered clients and mailboxes
    /// are users of the tenant, so the map stays small.
    mailboxes: HashMap<(String, String), MailboxUsage>,
    apps: HashMap<String, AppUsage>,
}

/// The running limits: budgets, in-flight counts and counters.
pub(crate) struct Limits {
    config: LimitsConfig,
    /// `Retry-After` for MailboxConcurrency refusals.
    concurrency_retry_after: u64,
    /// How far the limits clock is ahead of the monotonic clock, in ms.
    offset_ms: AtomicU64,
    /// Unit tests stop the monotonic clock here: only the offset moves.
    #[cfg(test)]
    stopped_at: Option<Instant>,
    usage: Mutex<Usage>,
}

/// A request let through: while it lives, the request counts as in flight
/// for its mailbox.
pub(crate) struct Slot<'a> {
    limits: &'a Limits,
    key: Option<(String, String)>,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let Some(key) = &self.key
            && let Some(m) = self.limits.lock().mailboxes.get_mut(key)
        {
            m.in_flight = m.in_flight.saturating_sub(1);
        }
    }
}

/// Drops the entries that left a window ending at `now`.
fn prune(window: &mut VecDeque<Instant>, now: Instant, length: Duration) {
    while window
        .front()
        .is_some_and(|t| now.duration_since(*t) >= length)
    {
        window.pop_front();
    }
}

/// `Retry-After` seconds for a wait: rounded up, at least 1.
fn retry_secs(wait: Duration) -> u64 {
    wait.as_millis().div_ceil(1000).max(1) as u64
}

/// How long until the entry made at `t` leaves a window of `length`.
fn until_gone(t: Instant, now: Instant, length: Duration) -> Duration {
    (t + length).saturating_duration_since(now)
}

impl MailboxUsage {
    fn prune_uploads(&mut self, now: Instant, length: Duration) {
        while let Some((t, bytes)) = self.uploads.front().copied() {
            if now.duration_since(t) < length {
                break;
            }
            self.upload_sum -= bytes;
            self.uploads.pop_front();
        }
    }

    /// How long until the upload window holds less than `budget`.
    fn upload_wait(&self, now: Instant, length: Duration, budget: u64) -> Duration {
        let mut sum = self.upload_sum;
        for (t, bytes) in &self.uploads {
            sum -= bytes;
            if sum < budget {
                return until_gone(*t, now, length);
            }
        }
        Duration::ZERO
    }
}

impl Limits {
    /// `concurrency_retry_after`: the `Retry-After` seconds of
    /// MailboxConcurrency refusals.
    pub(crate) fn new(config: LimitsConfig, concurrency_retry_after: u64) -> Limits {
        Limits {
            config,
            concurrency_retry_after,
            offset_ms: AtomicU64::new(0),
            #[cfg(test)]
            stopped_at: None,
            usage: Mutex::new(Usage::default()),
        }
    }

    pub(crate) fn config(&self) -> &LimitsConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, Usage> {
        self.usage.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn offset(&self) -> Duration {
        Duration::from_millis(self.offset_ms.load(Ordering::SeqCst))
    }

    /// The limits clock.
    fn now(&self) -> Instant {
        #[cfg(test)]
        let real = self.stopped_at.unwrap_or_else(Instant::now);
        #[cfg(not(test))]
        let real = Instant::now();
        real.checked_add(self.offset()).unwrap_or(real)
    }

    /// Moves the limits clock forward by `by` (windows pass; nothing else
    /// in the sandbox sees it). The offset in all is capped at ten years.
    /// Returns the offset now.
    pub(crate) fn advance_clock(&self, by: Duration) -> Duration {
        let cap = MAX_CLOCK_OFFSET.as_millis() as u64;
        let by = by.as_millis().min(u128::from(cap)) as u64;
        let mut current = self.offset_ms.load(Ordering::SeqCst);
        loop {
            let next = current.saturating_add(by).min(cap);
            match self
                .offset_ms
                .compare_exchange(current, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return Duration::from_millis(next),
                Err(seen) => current = seen,
            }
        }
    }

    /// Lets a request of `app` through, or answers the 429 Graph would.
    /// `mailbox` is the Outlook mailbox it addresses (see
    /// [`outlook_mailbox`]), `None` for other services; `upload_bytes` is
    /// its body's length when it is a PATCH, POST or PUT (else 0).
    pub(crate) fn admit(
        &self,
        app: &str,
        mailbox: Option<&str>,
        upload_bytes: u64,
    ) -> std::result::Result<Slot<'_>, GraphError> {
        let c = &self.config;
        let now = self.now();
        let mut guard = self.lock();
        let Usage { mailboxes, apps } = &mut *guard;
        let app_usage = apps.entry(app.to_string()).or_default();
        if c.global_requests > 0 {
            prune(&mut app_usage.window, now, c.global_window);
            if app_usage.window.len() >= c.global_requests as usize {
                app_usage.throttled_global += 1;
                let wait = app_usage
                    .window
                    .front()
                    .map(|t| until_gone(*t, now, c.global_window))
                    .unwrap_or_default();
                tracing::debug!(app, "global limit: throttled");
                return Err(GraphError::too_many_requests(retry_secs(wait)));
            }
        }
        let key = match mailbox {
            Some(m) => {
                let key = (app.to_string(), m.to_string());
                let mb = mailboxes.entry(key.clone()).or_default();
                if let Some(refused) = self.refusal(mb, now, upload_bytes) {
                    tracing::debug!(app, mailbox = m, code = %refused.message, "Outlook limit: throttled");
                    return Err(refused);
                }
                if c.outlook_window_requests > 0 {
                    mb.window.push_back(now);
                }
                if c.outlook_upload_bytes > 0 && upload_bytes > 0 {
                    mb.uploads.push_back((now, upload_bytes));
                    mb.upload_sum += upload_bytes;
                }
                mb.in_flight += 1;
                mb.max_in_flight = mb.max_in_flight.max(mb.in_flight);
                mb.requests += 1;
                Some(key)
            }
            None => None,
        };
        if c.global_requests > 0 {
            app_usage.window.push_back(now);
        }
        app_usage.requests += 1;
        Ok(Slot { limits: self, key })
    }

    /// The 429 for a request to a mailbox, counted, when one of Outlook's
    /// limits refuses it.
    fn refusal(
        &self,
        mb: &mut MailboxUsage,
        now: Instant,
        upload_bytes: u64,
    ) -> Option<GraphError> {
        let c = &self.config;
        if c.outlook_window_requests > 0 {
            prune(&mut mb.window, now, c.outlook_window);
        }
        if c.outlook_upload_bytes > 0 {
            mb.prune_uploads(now, c.outlook_upload_window);
        }
        if c.outlook_concurrency > 0 && mb.in_flight >= c.outlook_concurrency {
            mb.throttled.concurrency += 1;
            return Some(GraphError::application_throttled(
                "MailboxConcurrency",
                self.concurrency_retry_after,
            ));
        }
        if c.outlook_window_requests > 0 && mb.window.len() >= c.outlook_window_requests as usize {
            mb.throttled.requests += 1;
            let wait = mb
                .window
                .front()
                .map(|t| until_gone(*t, now, c.outlook_window))
                .unwrap_or_default();
            return Some(GraphError::too_many_requests(retry_secs(wait)));
        }
        if c.outlook_upload_bytes > 0 && upload_bytes > 0 && mb.upload_sum >= c.outlook_upload_bytes
        {
            mb.throttled.upload_bytes += 1;
            let wait = mb.upload_wait(now, c.outlook_upload_window, c.outlook_upload_bytes);
            return Some(GraphError::application_throttled(
                "IncomingBytes",
                retry_secs(wait),
            ));
        }
        None
    }

    /// The counters now.
    pub(crate) fn stats(&self) -> LimitStats {
        let c = &self.config;
        let now = self.now();
        let mut guard = self.lock();
        let Usage { mailboxes, apps } = &mut *guard;
        let mut stats = LimitStats {
            clock_offset_secs: self.offset().as_secs(),
            ..LimitStats::default()
        };
        for ((app, mailbox), mb) in mailboxes.iter_mut() {
            prune(&mut mb.window, now, c.outlook_window);
            mb.prune_uploads(now, c.outlook_upload_window);
            stats.throttled.add(&mb.throttled);
            stats.mailboxes.push(MailboxStats {
                app: app.clone(),
                mailbox: mailbox.clone(),
                requests: mb.requests,
                throttled: mb.throttled,
                in_flight: mb.in_flight,
                max_in_flight: mb.max_in_flight,
                window_requests: mb.window.len() as u64,
                window_upload_bytes: mb.upload_sum,
            });
        }
        for (app, usage) in apps.iter() {
            stats.throttled.global += usage.throttled_global;
            stats.apps.push(AppStats {
                app: app.clone(),
                requests: usage.requests,
                throttled_global: usage.throttled_global,
            });
        }
        stats
            .mailboxes
            .sort_by(|a, b| (&a.app, &a.mailbox).cmp(&(&b.app, &b.mailbox)));
        stats.apps.sort_by(|a, b| a.app.cmp(&b.app));
        stats
    }

    /// Sets the counters back to zero: requests, throttled answers and the
    /// most in flight (to what is in flight now). The windows and the
    /// requests in flight are kept: they are what Graph would still count.
    pub(crate) fn reset_stats(&self) {
        let mut guard = self.lock();
        for mb in guard.mailboxes.values_mut() {
            mb.requests = 0;
            mb.throttled = ThrottleCounts::default();
            mb.max_in_flight = mb.in_flight;
        }
        for usage in guard.apps.values_mut() {
            usage.requests = 0;
            usage.throttled_global = 0;
        }
    }
}

/// The mailbox (a user id) that a Graph path addresses through the Outlook
/// service, if it does: `/me/{area}/...` for the signed-in user `me`, or
/// `/users/{id or UPN}/{area}/...` for a user of the tenant, with `area`
/// one of [`OUTLOOK_AREAS`]. `segs` are the path's decoded segments after
/// `/v1.0`.
pub(crate) fn outlook_mailbox(
    tenant: &Tenant,
    me: Option<&str>,
    segs: &[String],
) -> Option<String> {
    let (user, area) = match segs.first()?.to_ascii_lowercase().as_str() {
        "me" => (me?.to_string(), segs.get(1)?),
        "users" => {
            let user = tenant.user(segs.get(1)?)?;
            (user.id().to_string(), segs.get(2)?)
        }
        _ => return None,
    };
    let area = area.to_ascii_lowercase();
    OUTLOOK_AREAS.contains(&area.as_str()).then_some(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Limits on a clock that only moves when told.
    fn limits(config: LimitsConfig) -> Limits {
        Limits {
            stopped_at: Some(Instant::now()),
            ..Limits::new(config, 1)
        }
    }

    #[test]
    fn a_fifth_request_in_flight_is_refused_for_that_mailbox_only() {
        let l = limits(LimitsConfig::default());
        let held: Vec<_> = (0..4)
            .map(|_| l.admit("app", Some("a"), 0).unwrap())
            .collect();
        let refused = l.admit("app", Some("a"), 0).err().unwrap();
        assert_eq!(refused.code, "ApplicationThrottled");
        assert_eq!(
            refused.message,
            "Application is over its MailboxConcurrency limit."
        );
        assert_eq!(refused.retry_after, Some(1));
        // another mailbox, another app: their own budgets
        let _b = l.admit("app", Some("b"), 0).unwrap();
        let _other = l.admit("other", Some("a"), 0).unwrap();
        drop(held);
        let _again = l.admit("app", Some("a"), 0).unwrap();
        let stats = l.stats();
        let a = stats.mailbox("app", "a").unwrap();
        assert_eq!((a.requests, a.throttled.concurrency), (5, 1));
        assert_eq!((a.in_flight, a.max_in_flight), (1, 4));
        assert_eq!(stats.throttled.total(), 1);
    }

    #[test]
    fn a_full_window_refuses_until_the_clock_passes_it() {
        let l = limits(LimitsConfig::default().with_outlook_window(3, Duration::from_secs(10)));
        for _ in 0..3 {
            drop(l.admit("app", Some("a"), 0).unwrap());
        }
        let refused = l.admit("app", Some("a"), 0).err().unwrap();
        assert_eq!(refused.code, "TooManyRequests");
        assert_eq!(refused.retry_after, Some(10));
        l.advance_clock(Duration::from_secs(9));
        assert_eq!(
            l.admit("app", Some("a"), 0).err().unwrap().retry_after,
            Some(1)
        );
        l.advance_clock(Duration::from_secs(1));
        drop(l.admit("app", Some("a"), 0).unwrap());
        let a = l.stats().mailbox("app", "a").cloned().unwrap();
        assert_eq!(
            (a.requests, a.throttled.requests, a.window_requests),
            (4, 2, 1)
        );
    }

    #[test]
    fn uploads_are_refused_once_the_budget_is_used_and_reads_are_not() {
        let l = limits(LimitsConfig::default().with_outlook_uploads(100, Duration::from_secs(30)));
        drop(l.admit("app", Some("a"), 60).unwrap());
        l.advance_clock(Duration::from_secs(5));
        // crosses the budget: served
        drop(l.admit("app", Some("a"), 60).unwrap());
        let refused = l.admit("app", Some("a"), 1).err().unwrap();
        assert_eq!(
            refused.message,
            "Application is over its IncomingBytes limit."
        );
        // the first 60 bytes leave the window in 25 s: 60 < 100 then
        assert_eq!(refused.retry_after, Some(25));
        drop(l.admit("app", Some("a"), 0).unwrap());
        l.advance_clock(Duration::from_secs(25));
        drop(l.admit("app", Some("a"), 1).unwrap());
    }

    #[test]
    fn the_global_limit_counts_every_service_per_app() {
        let l = limits(LimitsConfig::default().with_global(2, Duration::from_secs(10)));
        drop(l.admit("app", None, 0).unwrap());
        drop(l.admit("app", Some("a"), 0).unwrap());
        let refused = l.admit("app", Some("b"), 0).err().unwrap();
        assert_eq!(refused.code, "TooManyRequests");
        drop(l.admit("other", None, 0).unwrap());
        let stats = l.stats();
        assert_eq!(stats.throttled.global, 1);
        // a refused request used nothing of mailbox b
        assert_eq!(stats.mailbox("app", "b"), None);
    }

    #[test]
    fn off_means_never_throttled_and_reset_keeps_in_flight() {
        let l = limits(LimitsConfig::off());
        let held: Vec<_> = (0..50)
            .map(|_| l.admit("app", Some("a"), 1 << 30).unwrap())
            .collect();
        assert_eq!(l.stats().mailbox("app", "a").unwrap().max_in_flight, 50);
        l.reset_stats();
        let a = l.stats().mailbox("app", "a").cloned().unwrap();
        assert_eq!((a.requests, a.in_flight, a.max_in_flight), (0, 50, 50));
        drop(held);
        assert_eq!(l.stats().mailbox("app", "a").unwrap().in_flight, 0);
    }

    #[test]
    fn the_clock_offset_is_capped() {
        let l = limits(LimitsConfig::default());
        assert_eq!(
            l.advance_clock(Duration::from_secs(5)),
            Duration::from_secs(5)
        );
        assert_eq!(l.advance_clock(Duration::MAX), MAX_CLOCK_OFFSET);
        drop(l.admit("app", Some("a"), 0).unwrap());
    }

    #[test]
    fn settings_are_checked() {
        assert!(LimitsConfig::default().validate().is_ok());
        assert!(
            LimitsConfig::off()
                .with_outlook_window(0, Duration::ZERO)
                .validate()
                .is_ok()
        );
        let e = LimitsConfig::default()
            .with_global(5, Duration::from_secs(0))
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("global_window"), "{e}");
        let e = LimitsConfig::default()
            .with_outlook_window(MAX_WINDOW_REQUESTS + 1, Duration::from_secs(1))
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("outlook_window_requests"), "{e}");
        let e = LimitsConfig::default()
            .with_outlook_uploads(1, Duration::from_secs(90_000))
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("outlook_upload_window"), "{e}");
    }
}
