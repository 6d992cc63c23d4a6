//! An offline stand-in for Microsoft identity and Microsoft Graph v1.0.
//!
//! The sandbox serves, on loopback only:
//! - Microsoft identity at `/{tenant}/oauth2/v2.0/authorize`, `/token`,
//!   `/{tenant}/v2.0/adminconsent` and the OpenID discovery document;
//! - Microsoft Graph at `/v1.0/...` for the Users, Calendars, Mail and
//!   OneDrive operations of the Microsoft 365 connector, backed by an
//!   in-memory tenant generated from a seed;
//! - upload session URLs (`/upload/...`, no `Authorization` header wanted)
//!   and, on a second origin, pre-authenticated download URLs;
//! - JSON batching at `/v1.0/$batch` (`batch`);
//! - its own counters and controls under `/_sandbox/` (`control`): the
//!   throttling statistics, the limits clock, and a hold that keeps Graph
//!   requests in flight.
//!
//! It keeps Graph's throttling limits (`limits`, [`LimitsConfig`]):
//! Outlook's 4 requests in flight, 10,000 requests per 10 minutes and
//! 150 MB of uploads per 5 minutes per app and mailbox, and the global
//! 130,000 requests per 10 seconds per app, each configurable.
//!
//! It checks permissions the way Graph does (the token's `scp` or `roles`
//! must hold a permission that grants the operation), speaks OData (paging,
//! `$select`, `$filter`, `$orderby`, `$count`, `$search`, delta queries,
//! `Prefer`), and can inject throttling and server errors deterministically.
//! Microsoft's own client libraries accept it: `scripts/conformance.sh`
//! drives it with Python `msal` and `msgraph-sdk` (nonce, `client_info`
//! and `response_mode` as MSAL expects them; action parameters in any case;
//! `root` as an item id; the directory's advanced-query rules).
//!
//! Where the sandbox knowingly differs from Microsoft:
//! - tokens are HS256 JWTs signed with a key derived from the seed (the
//!   JWKS document is empty); `aud` is Graph's application id;
//! - a refresh token can be redeemed once (Entra tolerates reuse for a
//!   while), so clients that fail to store the rotated token are caught;
//! - client credentials before admin consent fail with AADSTS700016, as for
//!   a multi-tenant app with no service principal in the tenant;
//! - time zones are fixed offsets (no daylight saving);
//! - drive delta reports deletions with the `deleted` facet (OneDrive's
//!   form); the other delta queries use `@removed`;
//! - a permission also grants what a narrower one of the same resource
//!   grants (`Mail.ReadWrite` covers `Mail.Read`), since Microsoft's lists
//!   omit some broader permissions;
//! - a request refused by a throttling limit uses none of its budgets, and
//!   a MailboxConcurrency refusal carries the configured `retry_after_secs`
//!   (Microsoft documents neither);
//! - the error messages of refused `$batch` requests are the sandbox's own
//!   (Microsoft documents only their status, 400).
//!
//! ```no_run
//! # async fn demo() -> switchboard_core::Result<()> {
//! use switchboard_microsoft365_sandbox::{Sandbox, SandboxConfig};
//!
//! let sandbox = Sandbox::start(SandboxConfig::new(42)).await?;
//! println!("{}", sandbox.base_url());
//! let token_url = format!("{}/{}/oauth2/v2.0/token", sandbox.login_url(), sandbox.tenant_id());
//! # let _ = token_url;
//! sandbox.shutdown().await;
//! # Ok(()) }
//! ```
#![recursion_limit = "256"]
#![deny(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod action_parameters;
mod base64_map;
mod batch;
mod calendars;
mod clock;
mod config;
mod contacts;
mod control;
mod datetime;
mod drive;
mod errors;
mod faults;
mod generated;
mod graph;
mod html_text;
mod identity;
mod identity_state;
mod installing;
mod limits;
mod mail;
mod notifications;
mod odata;
mod pacing;
mod query;
mod request;
mod seed;
mod server;
mod state;
mod state_file;
mod subscription;
mod subscriptions;
mod tls;
mod tokens;
mod upload_session;
mod uploads;
mod users;

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

pub use config::{
    ClientRegistration, ClientSecret, DEFAULT_APPLICATION_PERMISSIONS, DEFAULT_DELTA_TOKEN_MAX_AGE,
    MAX_EXTRA_USERS, SandboxConfig,
};
pub use limits::{
    AppStats, LimitStats, LimitsConfig, MailboxStats, ThrottleCounts, ThrottledBatchStatus,
};
pub use notifications::NotificationCounts;
pub use server::{FaultCounts, RequestRecord, Sandbox, SandboxHandle, SeededUser};
pub use state_file::DEFAULT_STATE_MAX_BYTES;

use crate::faults::Faults;
use crate::limits::Limits;
use crate::pacing::Pacing;
use crate::request::PermissionTable;
use crate::state::State;
use crate::state_file::Persistence;
use crate::tokens::Signer;

/// The running sandbox's shared state.
pub(crate) struct App {
    /// `http(s)://127.0.0.1:PORT`: identity, Graph and upload URLs.
    pub base_url: String,
    /// The second origin, for pre-authenticated downloads.
    pub download_origin: String,
    pub signer: Signer,
    pub permissions: PermissionTable,
    pub faults: Faults,
    /// Graph's throttling limits and their counters.
    pub limits: Limits,
    /// Artificial service time and the hold for tests.
    pub pacing: Pacing,
    pub clients: Vec<ClientRegistration>,
    pub tenant_id: String,
    pub tenant_domain: String,
    pub token_lifetime: u64,
    pub refresh_token_lifetime: u64,
    state: Mutex<State>,
    log: Mutex<Vec<RequestRecord>>,
    /// Open upload sessions by token. Never locked while waiting for `state`.
    pub(crate) uploads: Mutex<std::collections::HashMap<String, upload_session::UploadSession>>,
    ids: AtomicU64,
    upload_ids: AtomicU64,
    /// Where the state is saved, with a state file.
    pub(crate) persistence: Option<Arc<Persistence>>,
    /// The sandbox clock (real time plus an offset tests move).
    pub(crate) clock: clock::Clock,
    /// How long delta tokens last, in seconds (`None`: for ever).
    pub(crate) delta_token_max_age: Option<i64>,
    /// Sends change and lifecycle notifications.
    pub(crate) notifications: notifications::Dispatcher,
}

/// The state lock's guard: taking the state mutably marks it changed, so
/// the state file is written soon after.
pub(crate) struct StateGuard<'a> {
    guard: MutexGuard<'a, State>,
    persistence: Option<&'a Persistence>,
}

impl Deref for StateGuard<'_> {
    type Target = State;

    fn deref(&self) -> &State {
        &self.guard
    }
}

impl DerefMut for StateGuard<'_> {
    fn deref_mut(&mut self) -> &mut State {
        if let Some(p) = self.persistence.take() {
            p.mark_changed();
        }
        &mut self.guard
    }
}

impl App {
    /// The state lock (a panic elsewhere does not make it unusable).
    pub(crate) fn lock(&self) -> StateGuard<'_> {
        StateGuard {
            guard: self.state.lock().unwrap_or_else(|e| e.into_inner()),
            persistence: self.persistence.as_deref(),
        }
    }

    /// Writes the state file now if the state changed since the last write
    /// (nothing to do without a state file). Expired grants and tokens are
    /// forgotten first.
    pub(crate) async fn save_state(&self) -> switchboard_core::Result<()> {
        let Some(persistence) = &self.persistence else {
            return Ok(());
        };
        if !persistence.take_changed() {
            return Ok(());
        }
        let snapshot = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            state.identity.prune(datetime::now());
            state.clone()
        };
        persistence
            .write(snapshot, self.upload_ids.load(Ordering::Relaxed))
            .await
    }

    /// The sandbox clock's current instant (Unix seconds).
    pub(crate) fn now(&self) -> i64 {
        self.clock.now()
    }

    /// A fresh GUID for request ids, trace ids and correlation ids.
    pub(crate) fn new_guid(&self) -> String {
        let n = self.ids.fetch_add(1, Ordering::Relaxed);
        let id = self.signer.opaque_id("guid", n);
        let bytes = tokens::b64url_decode(&id).unwrap_or_default();
        let h: String = bytes.iter().take(16).map(|b| format!("{b:02x}")).collect();
        if h.len() < 32 {
            return "00000000-0000-4000-8000-000000000000".to_string();
        }
        format!(
            "{}-{}-4{}-8{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        )
    }

    /// Records a Graph request (method, path without query, status).
    pub(crate) fn log_request(&self, method: &str, path: &str, status: u16) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.push(RequestRecord {
            method: method.to_string(),
            path: path.to_string(),
            status,
        });
    }

    /// The next upload session number.
    pub(crate) fn uploads_counter(&self) -> u64 {
        self.upload_ids.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn request_log(&self) -> Vec<RequestRecord> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
