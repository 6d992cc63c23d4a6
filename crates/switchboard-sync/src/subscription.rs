//! A change-notification subscription as switchboard keeps it: what was
//! subscribed to for which installation, until when, and where the store
//! every node shares keeps these records ([`SubscriptionStore`]).
//!
//! The record holds nothing secret. The subscription's `clientState` is kept
//! with the installation's secrets (encrypted at rest, bound to the
//! installation, erased on uninstall) under [`client_state_name`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use switchboard_core::{Error, InstallationId, Result};

/// The longest subscription id accepted (Graph's are GUIDs).
pub const MAX_SUBSCRIPTION_ID_LEN: usize = 128;

/// What to subscribe to and what to do about it: the resource path Graph
/// watches, the change types, the two URLs Graph posts to, the resource's
/// maximum lifetime, and the delta method that reads what a notification
/// (or a `missed` lifecycle event) announced.
///
/// ```
/// use std::time::Duration;
/// use switchboard_sync::SubscriptionTarget;
///
/// let target = SubscriptionTarget::new(
///     "messages",
///     "users/adele@contoso.com/mailFolders('inbox')/messages",
///     "created,updated,deleted",
///     "https://platform.example/graph/notify",
///     Duration::from_secs(10_080 * 60),
/// );
/// assert_eq!(target.lifecycle_notification_url, "https://platform.example/graph/notify");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SubscriptionTarget {
    /// A short name for people (`messages`, `events`...).
    pub name: String,
    /// The resource path Graph watches.
    pub resource: String,
    /// Comma-separated change types (`created,updated,deleted`).
    pub change_types: String,
    /// Where Graph posts change notifications.
    pub notification_url: String,
    /// Where Graph posts lifecycle notifications (always set; by default
    /// the notification URL).
    pub lifecycle_notification_url: String,
    /// The resource's maximum lifetime, in seconds.
    pub max_lifetime_secs: u64,
    /// The delta method that reads the resource's changes, if any.
    pub delta_method: Option<String>,
    /// Its arguments.
    pub delta_args: serde_json::Map<String, serde_json::Value>,
}

impl SubscriptionTarget {
    /// A target whose lifecycle notifications go to `notification_url` too.
    pub fn new(
        name: impl Into<String>,
        resource: impl Into<String>,
        change_types: impl Into<String>,
        notification_url: impl Into<String>,
        max_lifetime: Duration,
    ) -> SubscriptionTarget {
        let notification_url = notification_url.into();
        SubscriptionTarget {
            name: name.into(),
            resource: resource.into(),
            change_types: change_types.into(),
            lifecycle_notification_url: notification_url.clone(),
            notification_url,
            max_lifetime_secs: max_lifetime.as_secs(),
            delta_method: None,
            delta_args: serde_json::Map::new(),
        }
    }

    /// Send lifecycle notifications elsewhere.
    pub fn with_lifecycle_url(mut self, url: impl Into<String>) -> SubscriptionTarget {
        self.lifecycle_notification_url = url.into();
        self
    }

    /// The delta method (and its arguments) that reads the changes.
    pub fn with_delta(
        mut self,
        method_id: impl Into<String>,
        args: serde_json::Map<String, serde_json::Value>,
    ) -> SubscriptionTarget {
        self.delta_method = Some(method_id.into());
        self.delta_args = args;
        self
    }

    /// The maximum lifetime.
    pub fn max_lifetime(&self) -> Duration {
        Duration::from_secs(self.max_lifetime_secs)
    }
}

/// One live subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscriptionRecord {
    /// The service's subscription id.
    pub id: String,
    /// The installation it acts for.
    pub installation: InstallationId,
    /// What it watches.
    pub target: SubscriptionTarget,
    /// When it ends unless renewed.
    pub expires_at: SystemTime,
}

impl SubscriptionRecord {
    /// A record.
    pub fn new(
        id: impl Into<String>,
        installation: InstallationId,
        target: SubscriptionTarget,
        expires_at: SystemTime,
    ) -> SubscriptionRecord {
        SubscriptionRecord {
            id: id.into(),
            installation,
            target,
            expires_at,
        }
    }
}

/// `t` as Graph writes times: `2026-12-01T10:00:00Z` (whole seconds, UTC).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// let t = SystemTime::UNIX_EPOCH + Duration::from_secs(86_400);
/// assert_eq!(switchboard_sync::rfc3339(t).unwrap(), "1970-01-02T00:00:00Z");
/// ```
pub fn rfc3339(t: SystemTime) -> Result<String> {
    let ts = jiff::Timestamp::try_from(t)
        .map_err(|_| Error::invalid_argument("time", "is out of range"))?;
    Ok(ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// The name of a subscription's `clientState` among the installation's
/// secrets.
pub fn client_state_name(subscription_id: &str) -> String {
    format!("subscription:{subscription_id}")
}

/// Checks a subscription id from the network or a user: 1 to
/// [`MAX_SUBSCRIPTION_ID_LEN`] characters of `[A-Za-z0-9-]`.
pub fn check_subscription_id(id: &str) -> Result<()> {
    if id.is_empty()
        || id.len() > MAX_SUBSCRIPTION_ID_LEN
        || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(Error::invalid_argument(
            "subscription_id",
            format!("must be 1 to {MAX_SUBSCRIPTION_ID_LEN} letters, digits or hyphens"),
        ));
    }
    Ok(())
}

/// Where subscription records live: the store every node shares
/// (`switchboard_store::Store` implements it in a `subscriptions` table).
#[async_trait]
pub trait SubscriptionStore: Send + Sync + std::fmt::Debug {
    /// Insert or replace the record with `record.id`.
    async fn put_subscription(&self, record: &SubscriptionRecord) -> Result<()>;

    /// The record with `id`, if any.
    async fn get_subscription(&self, id: &str) -> Result<Option<SubscriptionRecord>>;

    /// The records of `installation`, soonest expiry first.
    async fn subscriptions_of(
        &self,
        installation: InstallationId,
    ) -> Result<Vec<SubscriptionRecord>>;

    /// At most `limit` records expiring before `before`, soonest first.
    async fn subscriptions_expiring(
        &self,
        before: SystemTime,
        limit: usize,
    ) -> Result<Vec<SubscriptionRecord>>;

    /// Remove the record with `id` (nothing if there is none).
    async fn delete_subscription(&self, id: &str) -> Result<()>;
}

/// [`SubscriptionStore`] in process memory, for tests and single processes.
#[derive(Debug, Default)]
pub struct MemorySubscriptionStore {
    records: Mutex<HashMap<String, SubscriptionRecord>>,
}

impl MemorySubscriptionStore {
    fn sorted(&self, keep: impl Fn(&SubscriptionRecord) -> bool) -> Vec<SubscriptionRecord> {
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<_> = records.values().filter(|r| keep(r)).cloned().collect();
        out.sort_by(|a, b| a.expires_at.cmp(&b.expires_at).then(a.id.cmp(&b.id)));
        out
    }
}

#[async_trait]
impl SubscriptionStore for MemorySubscriptionStore {
    async fn put_subscription(&self, record: &SubscriptionRecord) -> Result<()> {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        records.insert(record.id.clone(), record.clone());
        Ok(())
    }

    async fn get_subscription(&self, id: &str) -> Result<Option<SubscriptionRecord>> {
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        Ok(records.get(id).cloned())
    }

    async fn subscriptions_of(
        &self,
        installation: InstallationId,
    ) -> Result<Vec<SubscriptionRecord>> {
        Ok(self.sorted(|r| r.installation == installation))
    }

    async fn subscriptions_expiring(
        &self,
        before: SystemTime,
        limit: usize,
    ) -> Result<Vec<SubscriptionRecord>> {
        let mut out = self.sorted(|r| r.expires_at < before);
        out.truncate(limit);
        Ok(out)
    }

    async fn delete_subscription(&self, id: &str) -> Result<()> {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        records.remove(id);
        Ok(())
    }
}
