//! switchboard: reach SaaS APIs on behalf of your customers.
//!
//! One [`Switchboard`] per process owns the engine, the connectors, the
//! store and the installation lifecycle. Install a connector for a
//! customer's account ([`Switchboard::install`], then
//! [`Switchboard::complete`] with the callback), then act for that
//! installation through an [`InstallationClient`]
//! ([`Switchboard::installation`]): `call`, `stream`, `stream_as::<T>`,
//! `pages`, `resume`, `sync`, `test`.
//!
//! ```no_run
//! use futures::TryStreamExt;
//! use switchboard::{Arguments, InstallRequest, KeyRing, Store, Switchboard};
//!
//! # async fn run(callback_url: &str) -> switchboard::Result<()> {
//! let store = Store::open("sqlite:switchboard.db", KeyRing::from_env()?.expect("SWITCHBOARD_MASTER_KEYS")).await?;
//! let sb = Switchboard::builder()
//!     .store(store)
//!     .connector(switchboard_microsoft365::connector()?)
//!     .app(switchboard::AppCredential::new("11111111-2222-3333-4444-555555555555").with_client_secret("from your vault"))
//!     .redirect_uri("https://platform.example/oauth/callback")
//!     .build()?;
//! let started = sb
//!     .install(InstallRequest::new("acct-42", "microsoft365", "application").setting("tenant_id", "contoso.onmicrosoft.com"))
//!     .await?;
//! println!("send the administrator to {}", started.consent_link()?);
//! // ... the administrator consents; your callback handler gets the URL:
//! let installation = sb.complete(callback_url).await?;
//! let client = sb.installation(installation.id).await?;
//! let mut users = client.stream("users.list_users", Arguments::new());
//! while let Some(user) = users.try_next().await? {
//!     println!("{}", user["displayName"]);
//! }
//! # Ok(()) }
//! ```
//!
//! The layers underneath stay public for what the front door does not
//! cover: [`switchboard_core`] (definitions, the engine),
//! [`switchboard_oauth`] (OAuth flows), [`switchboard_installations`]
//! (the lifecycle) and [`switchboard_store`] (SQLite and PostgreSQL).
#![deny(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod client;
pub mod store;
pub mod switchboard;

pub use crate::client::{InstallationClient, TypedStream};
pub use crate::store::{StoreParts, SwitchboardStore};
pub use crate::switchboard::{Switchboard, SwitchboardBuilder};
#[cfg(feature = "axum")]
pub use switchboard_sync::axum_router;
pub use switchboard_sync::{
    Change, LifecycleOutcome, Notification, Received, Receiver, RenewReport, SubscriptionManager,
    SubscriptionRecord, SubscriptionTarget, SyncPage, SyncRun,
};

pub use switchboard_core::paging::{Continuation, Page};
pub use switchboard_core::{
    Arguments, Error, ErrorKind, InstallationId, PageStream, RecordStream, Response, ResponseBody,
    Result,
};
pub use switchboard_installations::install::{
    Installation, InstallationStatus, MemoryInstallationStore as MemoryStore,
};
pub use switchboard_installations::installable::InstallableConnector;
pub use switchboard_installations::lifecycle::apps::{AppCredential, AppCredentials};
pub use switchboard_installations::lifecycle::report::ConnectionReport;
pub use switchboard_installations::lifecycle::{ConsentStarted, InstallRequest};
pub use switchboard_store::{KeyRing, MasterKeys, OpenOptions, Store};

pub use switchboard_core;
pub use switchboard_installations;
pub use switchboard_oauth;
pub use switchboard_store;
pub use switchboard_sync;

/// The README's library example, compiled and run as a doc test against
/// the sandbox.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
