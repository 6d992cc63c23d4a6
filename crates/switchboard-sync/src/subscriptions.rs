//! [`SubscriptionManager`]: change-notification subscriptions created,
//! renewed before they expire, and kept alive through lifecycle events.
//!
//! Facts from `docs-current/concepts/change-notifications-lifecycle-events.md`
//! (ms.date 12/20/2024): `reauthorizationRequired` is answered by
//! reauthorizing or renewing (renewing "also reauthorizes"); after
//! `subscriptionRemoved` the app creates the subscription again and syncs
//! with a delta query for what it missed; `missed` (Outlook messages,
//! events, contacts) means some notifications were not delivered: sync
//! with a delta query.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use switchboard_core::engine::InstallationContext;
use switchboard_core::{Arguments, Error, ErrorKind, InstallationId, Result};
use switchboard_installations::lifecycle::Installations;

use crate::lease::SyncLeases;
use crate::secret_entry;
use crate::subscription::{
    SubscriptionRecord, SubscriptionStore, SubscriptionTarget, check_subscription_id,
    client_state_name, rfc3339,
};

/// The methods a connector declares for subscriptions (Microsoft 365's
/// `definitions/subscriptions.json`).
const CREATE: &str = "subscriptions.create_subscription";
const RENEW: &str = "subscriptions.renew_subscription";
const DELETE: &str = "subscriptions.delete_subscription";

/// How much shorter than the resource's maximum lifetime an expiration is
/// asked for, so that clocks a little apart never make Graph refuse it.
pub const CLOCK_SLACK: Duration = Duration::from_secs(60);

/// How long one node holds a subscription while it renews or recreates it.
const LEASE_TTL: Duration = Duration::from_secs(60);

/// How many due subscriptions one sweep looks at, at most.
pub const MAX_SWEEP: usize = 500;

/// The longest sweep horizon accepted: 30 days.
pub const MAX_WITHIN: Duration = Duration::from_secs(30 * 24 * 3600);

/// Where the manager reads the time (tests move it; the sandbox has a
/// clock of its own).
pub type Now = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// What a lifecycle event led to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LifecycleOutcome {
    /// `reauthorizationRequired`: the subscription was renewed (which
    /// reauthorizes it) until the new expiry.
    Renewed(SubscriptionRecord),
    /// `subscriptionRemoved`: a new subscription replaces the removed one;
    /// sync its delta method for what was missed in between.
    Recreated {
        /// The id of the removed subscription.
        removed: String,
        /// Its replacement.
        record: SubscriptionRecord,
    },
    /// `missed`: some notifications were not delivered; sync the
    /// record's delta method (see [`SubscriptionManager::sync_request`]).
    SyncNeeded(SubscriptionRecord),
    /// Another node is handling this subscription right now, or it is not
    /// ours (any more): nothing was done.
    Skipped,
}

/// What one [`SubscriptionManager::renew_due`] sweep did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct RenewReport {
    /// Subscriptions renewed.
    pub renewed: Vec<SubscriptionRecord>,
    /// Subscriptions the service no longer had, created again (old id, new record).
    pub recreated: Vec<(String, SubscriptionRecord)>,
    /// Held by another node, or already renewed by one.
    pub skipped: usize,
    /// Failures, by subscription id.
    pub failed: Vec<(String, Error)>,
}

/// Creates, renews and recreates an installation's change-notification
/// subscriptions; one per process, shared by its tasks.
///
/// Every action on an existing subscription (renewal, lifecycle handling)
/// first takes a lease on it in the shared store, so two nodes never renew
/// or recreate the same subscription at once.
///
/// ```no_run
/// # async fn run(manager: switchboard_sync::SubscriptionManager, ctx: switchboard_core::InstallationContext) -> switchboard_core::Result<()> {
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
/// let record = manager.create(&ctx, target).await?;
/// // every few minutes, on any node:
/// let report = manager.renew_due(Duration::from_secs(3600)).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SubscriptionManager {
    installations: Installations,
    records: Arc<dyn SubscriptionStore>,
    leases: Arc<dyn SyncLeases>,
    holder: String,
    now: Now,
}

impl std::fmt::Debug for SubscriptionManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriptionManager")
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

impl SubscriptionManager {
    /// A manager over the installations' store, the subscription records
    /// and the leases (all shared by every node).
    pub fn new(
        installations: Installations,
        records: Arc<dyn SubscriptionStore>,
        leases: Arc<dyn SyncLeases>,
    ) -> SubscriptionManager {
        SubscriptionManager {
            installations,
            records,
            leases,
            holder: format!("subscriptions-{}", InstallationId::new_random()),
            now: Arc::new(SystemTime::now),
        }
    }

    /// Hold leases as `holder` (a node name).
    pub fn with_holder(mut self, holder: impl Into<String>) -> SubscriptionManager {
        self.holder = holder.into();
        self
    }

    /// Read the time from `now` instead of the system clock.
    pub fn with_clock(mut self, now: Now) -> SubscriptionManager {
        self.now = now;
        self
    }

    /// The subscription records.
    pub fn records(&self) -> &Arc<dyn SubscriptionStore> {
        &self.records
    }

    /// Creates a subscription for the installation of `ctx`, expiring at
    /// the target's maximum lifetime (less [`CLOCK_SLACK`]), with a fresh
    /// high-entropy `clientState` kept encrypted with the installation's
    /// secrets. The service validates the notification URLs before it
    /// answers, so the receiver must be up.
    pub async fn create(
        &self,
        ctx: &InstallationContext,
        target: SubscriptionTarget,
    ) -> Result<SubscriptionRecord> {
        let installation = ctx.installation_id();
        let client_state = new_client_state();
        let expires = self.expiry_for(&target)?;
        let args = Arguments::new()
            .set("change_type", target.change_types.clone())
            .set("notification_url", target.notification_url.clone())
            .set(
                "lifecycle_notification_url",
                target.lifecycle_notification_url.clone(),
            )
            .set("resource", target.resource.clone())
            .set("expiration_date_time", rfc3339(expires)?)
            .set("client_state", client_state.clone());
        let created = self
            .installations
            .engine()
            .call(ctx, CREATE, args)
            .await?
            .into_json()?;
        let id = created["id"].as_str().unwrap_or_default().to_string();
        check_subscription_id(&id).map_err(|_| {
            Error::new(
                ErrorKind::Decode,
                "the service created a subscription but its answer has no usable `id`",
            )
        })?;
        let expires_at = parse_expiry(&created).unwrap_or(expires);
        let record = SubscriptionRecord::new(id.clone(), installation, target, expires_at);
        let stored = async {
            secret_entry::store(
                self.installations.store(),
                installation,
                &client_state_name(&id),
                Some(&client_state),
            )
            .await?;
            self.records.put_subscription(&record).await
        }
        .await;
        if let Err(e) = stored {
            // a subscription nobody can verify is worse than none
            let _ = self
                .installations
                .engine()
                .call(ctx, DELETE, Arguments::new().set("subscription_id", id))
                .await;
            return Err(e);
        }
        tracing::info!(installation = %installation, subscription = %record.id, resource = %record.target.name, "subscription created");
        Ok(record)
    }

    /// Moves the subscription's expiry to its maximum lifetime from now
    /// (which also reauthorizes it).
    pub async fn renew(&self, ctx: &InstallationContext, id: &str) -> Result<SubscriptionRecord> {
        let record = self.own_record(ctx.installation_id(), id).await?;
        self.renew_record(ctx, record).await
    }

    /// Deletes the subscription at the service (one that is already gone
    /// there is fine) and forgets it here.
    pub async fn delete(&self, ctx: &InstallationContext, id: &str) -> Result<()> {
        let record = self.own_record(ctx.installation_id(), id).await?;
        match self
            .installations
            .engine()
            .call(
                ctx,
                DELETE,
                Arguments::new().set("subscription_id", record.id.clone()),
            )
            .await
        {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        self.forget(&record).await
    }

    /// Renews every subscription expiring within `within` (at most
    /// [`MAX_SWEEP`] per call, soonest first). Safe to run on every node at
    /// once: each subscription is renewed under a lease, and one renewed
    /// by another node meanwhile is skipped. A subscription the service no
    /// longer has (it expired) is created again.
    pub async fn renew_due(&self, within: Duration) -> Result<RenewReport> {
        if within > MAX_WITHIN {
            return Err(Error::invalid_argument("within", "must be at most 30 days"));
        }
        let horizon = switchboard_core::bounds::later((self.now)(), within);
        let due = self
            .records
            .subscriptions_expiring(horizon, MAX_SWEEP)
            .await?;
        let mut report = RenewReport::default();
        for record in due {
            let id = record.id.clone();
            match self.renew_one(record, horizon).await {
                Ok(Swept::Renewed(r)) => report.renewed.push(r),
                Ok(Swept::Recreated(old, r)) => report.recreated.push((old, r)),
                Ok(Swept::Skipped) => report.skipped += 1,
                Err(e) => {
                    tracing::warn!(subscription = %id, error = %e, "a subscription was not renewed");
                    report.failed.push((id, e));
                }
            }
        }
        Ok(report)
    }

    /// Acts on a lifecycle event for subscription `id` (already verified by
    /// the receiver): see [`LifecycleOutcome`]. Under the subscription's
    /// lease, so duplicates delivered to two nodes act once.
    pub async fn handle_lifecycle(&self, id: &str, event: &str) -> Result<LifecycleOutcome> {
        let Some(record) = self.records.get_subscription(id).await? else {
            return Ok(LifecycleOutcome::Skipped);
        };
        if event == "missed" {
            return Ok(LifecycleOutcome::SyncNeeded(record));
        }
        if !matches!(event, "reauthorizationRequired" | "subscriptionRemoved") {
            return Err(Error::invalid_argument(
                "lifecycleEvent",
                "must be reauthorizationRequired, subscriptionRemoved or missed",
            ));
        }
        let installation = record.installation;
        let id = record.id.clone();
        let outcome = self
            .under_lease(installation, &id, async || {
                let ctx = self.installations.context(installation).await?;
                if event == "reauthorizationRequired" {
                    Ok(LifecycleOutcome::Renewed(
                        self.renew_record(&ctx, record).await?,
                    ))
                } else {
                    let removed = record.id.clone();
                    let record = self.recreate(&ctx, record).await?;
                    Ok(LifecycleOutcome::Recreated { removed, record })
                }
            })
            .await?;
        Ok(outcome.unwrap_or(LifecycleOutcome::Skipped))
    }

    /// The delta method and arguments that read what `record` watches, if
    /// its target names one.
    pub fn sync_request(record: &SubscriptionRecord) -> Option<(String, Arguments)> {
        let method = record.target.delta_method.clone()?;
        let mut args = Arguments::new();
        for (name, value) in &record.target.delta_args {
            args = args.set(name.clone(), value.clone());
        }
        Some((method, args))
    }

    async fn renew_one(&self, record: SubscriptionRecord, horizon: SystemTime) -> Result<Swept> {
        let installation = record.installation;
        let swept = self
            .under_lease(installation, &record.id, async || {
                // another node may have renewed it between the listing and the lease
                let Some(current) = self.records.get_subscription(&record.id).await? else {
                    return Ok(Swept::Skipped);
                };
                if current.expires_at >= horizon {
                    return Ok(Swept::Skipped);
                }
                let ctx = self.installations.context(installation).await?;
                match self.renew_record(&ctx, current.clone()).await {
                    Ok(r) => Ok(Swept::Renewed(r)),
                    Err(e) if e.kind() == ErrorKind::NotFound => {
                        let old = current.id.clone();
                        Ok(Swept::Recreated(old, self.recreate(&ctx, current).await?))
                    }
                    Err(e) => Err(e),
                }
            })
            .await?;
        Ok(swept.unwrap_or(Swept::Skipped))
    }

    /// Runs `work` holding the lease on subscription `id`; `None` when
    /// another node holds it. The lease is given up afterwards either way.
    async fn under_lease<T>(
        &self,
        installation: InstallationId,
        id: &str,
        work: impl AsyncFnOnce() -> Result<T>,
    ) -> Result<Option<T>> {
        let lease = lease_name(id);
        if !self
            .leases
            .try_lease(installation, &lease, &self.holder, LEASE_TTL)
            .await?
        {
            return Ok(None);
        }
        let result = work().await;
        if let Err(e) = self
            .leases
            .release_lease(installation, &lease, &self.holder)
            .await
        {
            tracing::warn!(error = %e, "a subscription lease was not released; it expires by itself");
        }
        result.map(Some)
    }

    async fn renew_record(
        &self,
        ctx: &InstallationContext,
        mut record: SubscriptionRecord,
    ) -> Result<SubscriptionRecord> {
        let expires = self.expiry_for(&record.target)?;
        let renewed = self
            .installations
            .engine()
            .call(
                ctx,
                RENEW,
                Arguments::new()
                    .set("subscription_id", record.id.clone())
                    .set("expiration_date_time", rfc3339(expires)?),
            )
            .await?
            .into_json()?;
        record.expires_at = parse_expiry(&renewed).unwrap_or(expires);
        self.records.put_subscription(&record).await?;
        tracing::info!(subscription = %record.id, "subscription renewed");
        Ok(record)
    }

    async fn recreate(
        &self,
        ctx: &InstallationContext,
        record: SubscriptionRecord,
    ) -> Result<SubscriptionRecord> {
        let created = self.create(ctx, record.target.clone()).await?;
        self.forget(&record).await?;
        Ok(created)
    }

    async fn forget(&self, record: &SubscriptionRecord) -> Result<()> {
        self.records.delete_subscription(&record.id).await?;
        secret_entry::store(
            self.installations.store(),
            record.installation,
            &client_state_name(&record.id),
            None,
        )
        .await
    }

    async fn own_record(
        &self,
        installation: InstallationId,
        id: &str,
    ) -> Result<SubscriptionRecord> {
        check_subscription_id(id)?;
        match self.records.get_subscription(id).await? {
            Some(r) if r.installation == installation => Ok(r),
            _ => Err(Error::new(
                ErrorKind::NotFound,
                format!("installation {installation} has no subscription `{id}` here"),
            )),
        }
    }

    fn expiry_for(&self, target: &SubscriptionTarget) -> Result<SystemTime> {
        let lifetime = target.max_lifetime();
        if lifetime <= CLOCK_SLACK * 2 {
            return Err(Error::invalid_argument(
                "max_lifetime",
                "must be more than two minutes",
            ));
        }
        Ok(switchboard_core::bounds::later(
            (self.now)(),
            lifetime - CLOCK_SLACK,
        ))
    }
}

enum Swept {
    Renewed(SubscriptionRecord),
    Recreated(String, SubscriptionRecord),
    Skipped,
}

fn lease_name(id: &str) -> String {
    format!("subscription:{id}")
}

/// Two version-4 UUIDs: 244 bits from the OS's generator, as 64 hex
/// characters (Graph allows 128).
fn new_client_state() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// `expirationDateTime` of a subscription the service answered with.
fn parse_expiry(subscription: &Value) -> Option<SystemTime> {
    let text = subscription["expirationDateTime"].as_str()?;
    if text.len() > 64 {
        return None;
    }
    let ts: jiff::Timestamp = text.parse().ok()?;
    SystemTime::try_from(ts).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Platforms run the sweep and lifecycle handling in spawned tasks.
    #[allow(dead_code)]
    fn futures_are_send(manager: &SubscriptionManager) {
        fn is_send<T: Send>(_: T) {}
        is_send(manager.renew_due(Duration::from_secs(60)));
        is_send(manager.handle_lifecycle("id", "missed"));
    }
}
