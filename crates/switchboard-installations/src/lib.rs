//! switchboard-installations: one account's install of one connector
//! variant, and its whole life.
//!
//! - [`install`]: the [`Installation`](install::Installation) record, its
//!   status and allowed transitions, its secrets, and the one
//!   [`InstallationStore`](install::InstallationStore) trait every store
//!   implements (in memory here; SQLite and PostgreSQL in
//!   `switchboard-store`);
//! - [`installable`]: a connector and its install flow, registered once;
//! - [`lifecycle`]: install, consent, complete, test, re-authenticate,
//!   disable, enable, uninstall, and the connector's
//!   [`InstallFlow`](lifecycle::flow::InstallFlow) hooks;
//! - [`shared_token`]: one token refresh per installation across every
//!   node sharing a store;
//! - [`versioning`]: a definition of another major version is reported,
//!   never applied silently.
//!
//! ```
//! use switchboard_installations::install::{Installation, InstallationStatus};
//!
//! let inst = Installation::new("acct-42", "microsoft365", "1.0.0", "delegated");
//! assert_eq!(inst.status, InstallationStatus::PendingConsent);
//! ```
#![deny(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod install;
pub mod installable;
pub mod lifecycle;
pub mod modify;
pub mod shared_token;
#[cfg(test)]
mod test_store;
pub mod versioning;
