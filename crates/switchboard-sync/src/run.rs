//! A sync run: pages of changes, each committed once acknowledged.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use switchboard_core::InstallationId;
use switchboard_core::definition::Pagination;
use switchboard_core::engine::{Engine, InstallationContext, PageStream};
use switchboard_core::paging::Continuation;
use switchboard_core::{Arguments, Error, ErrorKind, Result};
use switchboard_installations::install::InstallationStore;

use crate::change::Change;
use crate::checkpoint::{self, ResourceKey};
use crate::lease::{LEASE_FIELD, LeaseHold, SyncLeases, is_lease_lost};

/// How long a lease lasts without renewal (default): a node that dies
/// holds its resources at most this long. Every acknowledged page renews it.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(120);

/// The longest lease accepted: an hour.
pub const MAX_LEASE_TTL: Duration = Duration::from_secs(3600);

/// Graph's error codes for a delta state it no longer has
/// (`concepts/errors.md`; `driveitem-delta.md` "Scanning permissions
/// hierarchies" and "Error responses", docs-2021-07).
const RESYNC_CODES: &[&str] = &[
    "syncStateNotFound",
    "resyncRequired",
    "resyncApplyDifferences",
    "resyncUploadDifferences",
    "resyncChangesApplyDifferences",
    "resyncChangesUploadDifferences",
];

/// Whether `err` says the service lost the sync state, so only a full round
/// can go on: `410 Gone` or one of Graph's resync codes.
pub fn needs_resync(err: &Error) -> bool {
    let Some(remote) = err.remote() else {
        return false;
    };
    remote.status == Some(410)
        || [&remote.code, &remote.inner_code]
            .into_iter()
            .flatten()
            .any(|c| RESYNC_CODES.iter().any(|r| r.eq_ignore_ascii_case(c)))
}

/// Runs delta syncs for installations: what the platform builds once and
/// shares.
///
/// ```no_run
/// # async fn example(
/// #     engine: switchboard_core::Engine,
/// #     store: std::sync::Arc<dyn switchboard_installations::install::InstallationStore>,
/// #     leases: std::sync::Arc<dyn switchboard_sync::SyncLeases>,
/// #     ctx: switchboard_core::InstallationContext,
/// # ) -> switchboard_core::Result<()> {
/// use switchboard_core::Arguments;
/// use switchboard_sync::{Change, Syncer};
///
/// let syncer = Syncer::new(engine, store, leases);
/// let mut run = syncer.start(&ctx, "users.delta_users", Arguments::new(), false).await?;
/// while let Some(page) = run.next_page().await? {
///     for change in page.changes() {
///         match change {
///             Change::Upsert(user) => { /* save it */ }
///             Change::Delete { id, .. } => { /* remove it */ }
///             Change::Reset => { /* mark everything for reconciliation */ }
///             _ => {}
///         }
///     }
///     run.ack(page).await?; // the checkpoint is committed here
/// }
/// run.finish().await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Syncer {
    engine: Engine,
    store: Arc<dyn InstallationStore>,
    leases: Arc<dyn SyncLeases>,
    holder: String,
    lease_ttl: Duration,
}

impl Syncer {
    /// A syncer whose leases are held under a fresh random holder id.
    pub fn new(
        engine: Engine,
        store: Arc<dyn InstallationStore>,
        leases: Arc<dyn SyncLeases>,
    ) -> Syncer {
        Syncer {
            engine,
            store,
            leases,
            holder: format!("sync-{}", InstallationId::new_random()),
            lease_ttl: DEFAULT_LEASE_TTL,
        }
    }

    /// Hold leases as `holder` (a node name, for the store's rows).
    pub fn with_holder(mut self, holder: impl Into<String>) -> Syncer {
        self.holder = holder.into();
        self
    }

    /// How long a lease lasts without renewal (1 second to
    /// [`MAX_LEASE_TTL`]; default [`DEFAULT_LEASE_TTL`]).
    pub fn with_lease_ttl(mut self, ttl: Duration) -> Result<Syncer> {
        if ttl < Duration::from_secs(1) || ttl > MAX_LEASE_TTL {
            return Err(Error::invalid_argument(
                "lease_ttl",
                "must be from 1 second to 1 hour",
            ));
        }
        self.lease_ttl = ttl;
        Ok(self)
    }

    /// Starts syncing `method_id` (a delta method) with `args` for the
    /// installation of `ctx`: takes the lease (refused with
    /// [`ErrorKind::Conflict`] while another node holds it) and resumes
    /// from the stored checkpoint, or starts a full round when there is
    /// none or `reset` is asked for (then the first change is
    /// [`Change::Reset`]).
    pub async fn start(
        &self,
        ctx: &InstallationContext,
        method_id: &str,
        args: Arguments,
        reset: bool,
    ) -> Result<SyncRun> {
        let installation = ctx.installation_id();
        self.check_delta_method(ctx, method_id)?;
        let key = ResourceKey::new(method_id, &args);
        if !self
            .leases
            .try_lease(installation, key.as_str(), &self.holder, self.lease_ttl)
            .await?
        {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!(
                    "another node is syncing `{method_id}` for installation {installation}; try again once it is done (its lease ends at most {} s after its last page)",
                    self.lease_ttl.as_secs()
                ),
            ));
        }
        let mut run = SyncRun {
            syncer: self.clone(),
            ctx: ctx.clone(),
            installation,
            key,
            method_id: method_id.to_string(),
            args,
            pages: None,
            reset_pending: reset,
            resynced: reset,
            unacknowledged: None,
            yielded: 0,
            released: false,
        };
        let stored = if reset {
            None
        } else {
            match checkpoint::load(&self.store, installation, &run.key).await {
                Ok(c) => c,
                Err(e) => {
                    run.release().await;
                    return Err(e);
                }
            }
        };
        tracing::info!(
            installation = %installation,
            method = method_id,
            resume = stored.is_some(),
            reset,
            "sync started"
        );
        run.pages = Some(match &stored {
            Some(c) => self.engine.resume(ctx, c).into_pages(),
            None => self
                .engine
                .stream(ctx, method_id, run.args.clone())
                .into_pages(),
        });
        Ok(run)
    }

    fn check_delta_method(&self, ctx: &InstallationContext, method_id: &str) -> Result<()> {
        let connector = self
            .engine
            .registry()
            .get(ctx.connector_id())
            .ok_or_else(|| {
                Error::invalid_argument(
                    "connector",
                    "the installation's connector is not registered",
                )
            })?;
        let method = connector.definition().method(method_id).ok_or_else(|| {
            Error::invalid_argument(
                "method",
                format!(
                    "`{method_id}` is not a method of connector `{}`",
                    ctx.connector_id()
                ),
            )
        })?;
        if method.pagination != Pagination::OdataDelta {
            return Err(Error::invalid_argument(
                "method",
                format!(
                    "`{method_id}` is not a delta method (its pagination is not odata_delta); only delta methods can be synced"
                ),
            ));
        }
        Ok(())
    }
}

/// One page of changes and the checkpoint that follows it.
#[derive(Debug)]
pub struct SyncPage {
    number: u64,
    changes: Vec<Change>,
    checkpoint: Option<Continuation>,
}

impl SyncPage {
    /// The changes, in the service's order.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// The changes, owned.
    pub fn into_changes(self) -> Vec<Change> {
        self.changes
    }

    /// Whether this page ends the round (the next sync starts after it).
    pub fn is_last(&self) -> bool {
        self.checkpoint
            .as_ref()
            .is_some_and(|c| c.kind() == switchboard_core::paging::ContinuationKind::Delta)
    }
}

/// A sync in progress; see [`Syncer::start`]. Delivery is at-least-once: a
/// page is re-delivered after a crash until it was acknowledged, never
/// skipped. Dropping the run without [`finish`](SyncRun::finish) leaves the
/// lease to expire.
#[derive(Debug)]
pub struct SyncRun {
    syncer: Syncer,
    ctx: InstallationContext,
    installation: InstallationId,
    key: ResourceKey,
    method_id: String,
    args: Arguments,
    pages: Option<PageStream>,
    reset_pending: bool,
    resynced: bool,
    unacknowledged: Option<u64>,
    yielded: u64,
    released: bool,
}

impl SyncRun {
    /// The next page of changes; `None` once the round is complete. Refused
    /// while the previous page is not acknowledged. On an expired delta
    /// state the run starts a full round by itself (once) and the next page
    /// begins with [`Change::Reset`]; any other error leaves the checkpoint
    /// where it was.
    pub async fn next_page(&mut self) -> Result<Option<SyncPage>> {
        if let Some(n) = self.unacknowledged {
            return Err(Error::invalid_argument(
                "ack",
                format!(
                    "page {n} was not acknowledged; acknowledge it (SyncRun::ack) before asking for the next one, or stop and the next run delivers it again"
                ),
            ));
        }
        loop {
            let Some(pages) = self.pages.as_mut() else {
                return Ok(None);
            };
            match pages.next().await {
                None => {
                    self.pages = None;
                    return Ok(None);
                }
                Some(Ok(page)) => {
                    let checkpoint = pages.continuation();
                    let mut changes = Vec::with_capacity(page.records().len() + 1);
                    if std::mem::take(&mut self.reset_pending) {
                        changes.push(Change::Reset);
                    }
                    for record in page.into_records() {
                        changes.push(Change::from_record(record)?);
                    }
                    self.yielded += 1;
                    self.unacknowledged = Some(self.yielded);
                    return Ok(Some(SyncPage {
                        number: self.yielded,
                        changes,
                        checkpoint,
                    }));
                }
                Some(Err(err)) if needs_resync(&err) && !self.resynced => {
                    tracing::warn!(
                        installation = %self.installation,
                        method = %self.method_id,
                        code = err.remote().and_then(|r| r.code.as_deref()).unwrap_or(""),
                        "the delta state expired; starting a full resync"
                    );
                    self.resynced = true;
                    self.reset_pending = true;
                    self.pages = Some(
                        self.syncer
                            .engine
                            .stream(&self.ctx, &self.method_id, self.args.clone())
                            .into_pages(),
                    );
                }
                Some(Err(err)) => {
                    self.pages = None;
                    return Err(err);
                }
            }
        }
    }

    /// Acknowledges `page`: its changes are applied, so the checkpoint
    /// after it is committed to the store and the lease renewed. When the
    /// lease was lost (this node stalled past its time and another took
    /// over) nothing is committed: [`ErrorKind::Conflict`].
    pub async fn ack(&mut self, page: SyncPage) -> Result<()> {
        if self.unacknowledged != Some(page.number) {
            return Err(Error::invalid_argument(
                "ack",
                format!(
                    "page {} is not the page awaiting acknowledgement",
                    page.number
                ),
            ));
        }
        let syncer = &self.syncer;
        let lease = LeaseHold {
            installation: self.installation,
            resource: self.key.as_str(),
            holder: &syncer.holder,
            ttl: syncer.lease_ttl,
        };
        checkpoint::commit(
            &syncer.store,
            syncer.leases.as_ref(),
            &lease,
            &self.key,
            page.checkpoint.as_ref(),
        )
        .await
        .map_err(|e| {
            if is_lease_lost(&e) {
                Error::new(
                    ErrorKind::Conflict,
                    format!(
                        "the sync lease on `{}` passed to another node; this page's checkpoint was not committed",
                        self.method_id
                    ),
                )
                .with_field(LEASE_FIELD)
            } else {
                e
            }
        })?;
        self.unacknowledged = None;
        tracing::debug!(installation = %self.installation, method = %self.method_id, page = page.number, "sync checkpoint committed");
        Ok(())
    }

    /// Ends the run and gives the lease up.
    pub async fn finish(mut self) -> Result<()> {
        self.released = true;
        self.syncer
            .leases
            .release_lease(self.installation, self.key.as_str(), &self.syncer.holder)
            .await
    }

    async fn release(&mut self) {
        self.released = true;
        if let Err(e) = self
            .syncer
            .leases
            .release_lease(self.installation, self.key.as_str(), &self.syncer.holder)
            .await
        {
            tracing::warn!(error = %e, "a sync lease was not released; it expires by itself");
        }
    }
}
