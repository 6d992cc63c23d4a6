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
#![deny(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod change;
mod checkpoint;
mod lease;
mod run;

pub use change::Change;
pub use checkpoint::ResourceKey;
pub use lease::{MemorySyncLeases, SyncLeases};
pub use run::{DEFAULT_LEASE_TTL, MAX_LEASE_TTL, SyncPage, SyncRun, Syncer, needs_resync};
