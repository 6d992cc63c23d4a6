//! The in-memory tenant: every record the sandbox serves, and the change
//! counter that delta queries read.
//!
//! Records are kept as Graph JSON objects (property names exactly as Graph
//! writes them) so that `$select`, `$filter` and `$orderby` work on them
//! generically. What Graph computes on the fly (a drive item's
//! `parentReference.path`, a folder's `childCount`) is filled in when a
//! record is shown.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::generated::Rng;
use crate::identity_state::IdentityState;
use crate::subscription::Subscription;

/// One stored Graph object.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Rec {
    /// The user who owns it (empty for directory-wide records).
    pub owner: String,
    /// The container: a mail folder, a calendar, a drive item's parent,
    /// a message for an attachment...
    pub parent: String,
    /// The Graph JSON.
    pub data: Map<String, Value>,
    /// The change counter value when it last changed.
    pub version: u64,
}

impl Rec {
    pub(crate) fn id(&self) -> &str {
        self.data.get("id").and_then(Value::as_str).unwrap_or("")
    }

    pub(crate) fn str(&self, key: &str) -> &str {
        self.data.get(key).and_then(Value::as_str).unwrap_or("")
    }
}

/// A deleted (or moved-away) record, reported by delta queries.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Tombstone {
    /// Which delta scope saw it go (a folder id, a user id, a drive id, `users`).
    pub scope: String,
    pub id: String,
    pub version: u64,
}

/// Where a drive item's bytes live.
pub(crate) type Content = bytes::Bytes;

/// The seeded tenant and everything that changes while the sandbox runs.
/// Saved whole in the state file (`crate::state_file`).
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Tenant {
    pub tenant_id: String,
    pub domain: String,
    /// The change counter: bumped by every write.
    pub clock: u64,
    /// Counter for new ids.
    pub rng: Rng,
    pub users: Vec<Rec>,
    pub groups: Vec<Rec>,
    /// (user id, group id)
    pub memberships: Vec<(String, String)>,
    /// user id → manager's user id
    pub managers: HashMap<String, String>,
    #[serde(with = "crate::base64_map")]
    pub photos: HashMap<String, Vec<u8>>,
    pub mailbox_settings: HashMap<String, Value>,
    /// `owner|wellknownname` → folder id (`inbox`, `sentitems`, `drafts`,
    /// `deleteditems`, `archive`, `msgfolderroot`).
    pub well_known_folders: HashMap<String, String>,
    pub mail_folders: Vec<Rec>,
    pub messages: Vec<Rec>,
    /// parent = message id
    pub attachments: Vec<Rec>,
    pub calendar_groups: Vec<Rec>,
    /// parent = calendar group id
    pub calendars: Vec<Rec>,
    /// parent = calendar id
    pub events: Vec<Rec>,
    /// series master id → cancelled occurrence days
    pub cancelled_occurrences: HashMap<String, BTreeSet<i64>>,
    /// owner = user id
    pub drives: Vec<Rec>,
    /// owner = drive id, parent = parent item id ("" for the root)
    pub items: Vec<Rec>,
    #[serde(with = "crate::base64_map")]
    pub contents: HashMap<String, Content>,
    /// parent = drive item id
    pub permissions: Vec<Rec>,
    pub tombstones: Vec<Tombstone>,
    /// owner = user id, parent = parent folder id ("" for the default
    /// Contacts folder). Absent from state files written before contacts.
    #[serde(default)]
    pub contact_folders: Vec<Rec>,
    /// owner = user id, parent = contact folder id
    #[serde(default)]
    pub contacts: Vec<Rec>,
}

impl Tenant {
    /// Advances the change counter and returns the new value.
    pub(crate) fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// Records that `id` left `scope`.
    pub(crate) fn bury(&mut self, scope: &str, id: &str) {
        let version = self.tick();
        self.tombstones.push(Tombstone {
            scope: scope.to_string(),
            id: id.to_string(),
            version,
        });
    }

    /// Finds a user by object id or user principal name (case-insensitive).
    pub(crate) fn user(&self, key: &str) -> Option<&Rec> {
        self.users.iter().find(|u| {
            u.id().eq_ignore_ascii_case(key) || u.str("userPrincipalName").eq_ignore_ascii_case(key)
        })
    }

    /// Finds a user by mail address or UPN.
    pub(crate) fn user_by_address(&self, address: &str) -> Option<&Rec> {
        self.users.iter().find(|u| {
            u.str("mail").eq_ignore_ascii_case(address)
                || u.str("userPrincipalName").eq_ignore_ascii_case(address)
        })
    }
}

/// Everything behind the sandbox's one lock: what the state file keeps.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct State {
    pub tenant: Tenant,
    pub identity: IdentityState,
    /// Counter for opaque ids.
    pub counter: u64,
    /// Change-notification subscriptions (`crate::subscriptions`).
    #[serde(default)]
    pub subscriptions: Vec<Subscription>,
    /// How many seconds the sandbox clock runs ahead of the real one
    /// (`crate::clock`).
    #[serde(default)]
    pub clock_offset: i64,
}

impl State {
    /// The next value of the opaque-id counter.
    pub(crate) fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }
}
