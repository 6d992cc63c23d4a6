//! Request limits a service keeps, declared as data so the engine keeps
//! them first (see [`crate::governor`]).
//!
//! A connector lists its limits once in `limits`; each names what it is
//! kept per ([`LimitScope`]), a concurrency cap and rolling-window budgets
//! of requests and of uploaded bytes. A limit governs the methods of the
//! categories it names and every method that lists its id in the method's
//! own `limits`.
//!
//! ```
//! use switchboard_core::definition::limits::{LimitDefinition, LimitScope};
//!
//! let limit: LimitDefinition = serde_json::from_value(serde_json::json!({
//!     "id": "outlook_mailbox",
//!     "scope": "mailbox",
//!     "resource_parameter": "user_id",
//!     "categories": ["mail", "calendars"],
//!     "concurrency": 4,
//!     "requests": {"limit": 10000, "window_secs": 600},
//!     "upload_bytes": {"limit": 150000000, "window_secs": 300}
//! })).unwrap();
//! assert_eq!(limit.scope, LimitScope::Mailbox);
//! assert_eq!(limit.requests.unwrap().limit, 10_000);
//! ```

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The largest concurrency cap a limit may declare.
pub const MAX_CONCURRENCY: u32 = 10_000;

/// The largest budget of a window (requests or bytes): 2^53, so that it
/// survives a JSON number and a database's BIGINT alike.
pub const MAX_BUDGET: u64 = 1 << 53;

/// The longest window a budget may declare: one day.
pub const MAX_WINDOW_SECS: u64 = 24 * 60 * 60;

/// One limit of the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitDefinition {
    /// Identifier, snake_case (`outlook_mailbox`); methods name it in their `limits`.
    pub id: String,
    /// What the limit is kept per: the app and one of these.
    pub scope: LimitScope,
    /// For `mailbox` and `drive`: the argument that names the resource
    /// (`user_id`). When a call does not give it (a delegated call on
    /// `/me`), the resource is the installation's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_parameter: Option<String>,
    /// Every method of these categories is governed by the limit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// The most requests in flight at once per key (1 to 10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub concurrency: Option<u32>,
    /// The most requests per rolling window, per key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<Budget>,
    /// The most bytes of request bodies (POST, PUT, PATCH) per rolling
    /// window, per key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_bytes: Option<Budget>,
    /// Where the numbers come from (a documentation page and its date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// A budget per rolling window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// How many (requests, or bytes) the window holds: 1 to 2^53.
    #[schemars(range(min = 1, max = 9007199254740992_u64))]
    pub limit: u64,
    /// The window's length in seconds: 1 to 86400 (one day).
    #[schemars(range(min = 1, max = 86400))]
    pub window_secs: u64,
}

/// What a limit is kept per, besides the app.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LimitScope {
    /// The app, across every tenant.
    App,
    /// The app in one tenant (the installation's `tenant_id` setting).
    Tenant,
    /// The app on one mailbox (Outlook's limits).
    Mailbox,
    /// The app on one drive (OneDrive).
    Drive,
}

impl LimitScope {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitScope::App => "app",
            LimitScope::Tenant => "tenant",
            LimitScope::Mailbox => "mailbox",
            LimitScope::Drive => "drive",
        }
    }

    /// Whether a resource argument names what the limit is kept per.
    pub fn per_resource(self) -> bool {
        matches!(self, LimitScope::Mailbox | LimitScope::Drive)
    }
}

impl LimitDefinition {
    /// Whether the limit governs a method of this category that lists
    /// these limit ids.
    ///
    /// ```
    /// # use switchboard_core::definition::limits::LimitDefinition;
    /// let l: LimitDefinition = serde_json::from_value(serde_json::json!({
    ///     "id": "outlook_mailbox", "scope": "mailbox", "categories": ["mail"], "concurrency": 4
    /// })).unwrap();
    /// assert!(l.governs("mail", &[]));
    /// assert!(l.governs("users", &["outlook_mailbox".to_string()]));
    /// assert!(!l.governs("users", &[]));
    /// ```
    pub fn governs(&self, category: &str, method_limits: &[String]) -> bool {
        self.categories.iter().any(|c| c == category) || method_limits.contains(&self.id)
    }

    /// Whether the limit keeps anything (a cap or a budget).
    pub fn keeps_anything(&self) -> bool {
        self.concurrency.is_some() || self.requests.is_some() || self.upload_bytes.is_some()
    }
}
