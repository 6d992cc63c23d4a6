//! switchboard-sync: "what changed since last time", reliably across
//! restarts and nodes.
//!
//! A [`Syncer`] runs a connector's delta method (pagination `odata_delta`)
//! for an installation and hands back pages of [`Change`]s:
//! `Upsert(record)`, `Delete { id }` (from `@removed` or the drive `deleted`
//! facet) and `Reset` (the service lost the delta state: a full round
//! follows). Guarantees:
//!
//! - **at-least-once**: the checkpoint (the link after a page) is committed
//!   to the installation store only when the consumer acknowledges the page
//!   ([`SyncRun::ack`]); a crash re-delivers at most the page being
//!   processed, never skips one. Consumers apply changes idempotently.
//! - **resync by itself**: `410 Gone`, `syncStateNotFound`,
//!   `resyncRequired` and the drive `resync*` codes start a full round once
//!   per run, announced by [`Change::Reset`]; any other error leaves the
//!   checkpoint where it was.
//! - **secret checkpoints**: a checkpoint is a delta link, which grants
//!   access to data: it is kept with the installation's secrets (encrypted
//!   at rest, bound to the installation), never logged, redacted in Debug.
//! - **one node at a time** per (installation, method and arguments): a
//!   lease in the shared store ([`SyncLeases`]), renewed on every
//!   acknowledgement and taken over when its holder stops renewing.
//!
//! Change notifications: a [`SubscriptionManager`] creates subscriptions
//! (maximum lifetime, a secret `clientState` per subscription kept
//! encrypted), renews them before they expire (`renew_due`, once across
//! nodes) and acts on lifecycle events; a [`Receiver`] answers Graph's
//! validation handshake and verifies notification batches.
#![deny(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

#[cfg(feature = "axum")]
mod axum_route;
mod change;
mod checkpoint;
mod lease;
mod receiver;
mod run;
mod secret_entry;
mod subscription;
mod subscriptions;

#[cfg(feature = "axum")]
pub use axum_route::axum_router;
pub use change::Change;
pub use checkpoint::ResourceKey;
pub use lease::{LEASE_FIELD, LeaseHold, MemorySyncLeases, SyncLeases, is_lease_lost, lease_lost};
pub use receiver::{
    DEFAULT_MAX_BODY, DEFAULT_MAX_NOTIFICATIONS, MAX_VALIDATION_TOKEN, Notification, Received,
    Receiver,
};
pub use run::{DEFAULT_LEASE_TTL, MAX_LEASE_TTL, SyncPage, SyncRun, Syncer, needs_resync};
pub use subscription::{
    MAX_SUBSCRIPTION_ID_LEN, MemorySubscriptionStore, SubscriptionRecord, SubscriptionStore,
    SubscriptionTarget, check_subscription_id, client_state_name, rfc3339,
};
pub use subscriptions::{
    CLOCK_SLACK, LifecycleOutcome, MAX_SWEEP, MAX_WITHIN, Now, RenewReport, SubscriptionManager,
};
