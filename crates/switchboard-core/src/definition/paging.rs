//! Cursor and counter paging declared as data: where a page's next cursor
//! is and which query parameter carries it ([`CursorPaging`], for
//! `"pagination": "cursor"`), or which parameter counts offsets or pages
//! and when the listing ends ([`CounterPaging`], for `"pagination": "offset"`
//! and `"pagination": "page"`).
//!
//! The next request is always a GET of the page's URL with that one query
//! parameter replaced, so loop detection, the page limit and continuations
//! work as they do for next links (see [`crate::paging`]).
//!
//! ```
//! use switchboard_core::definition::MethodDefinition;
//! use switchboard_core::definition::paging::StopRule;
//!
//! let slack: MethodDefinition = serde_json::from_value(serde_json::json!({
//!     "id": "users.list_users", "category": "users", "name": "List users",
//!     "description": "Members of the workspace.", "http_method": "GET", "path": "/users.list",
//!     "pagination": "cursor", "records": "/members",
//!     "cursor": {"pointer": "/response_metadata/next_cursor", "parameter": "cursor"}
//! })).unwrap();
//! assert_eq!(slack.cursor.unwrap().parameter, "cursor");
//!
//! let counted: MethodDefinition = serde_json::from_value(serde_json::json!({
//!     "id": "items.list_items", "category": "items", "name": "List items",
//!     "description": "Items, 100 a page.", "http_method": "GET", "path": "/items",
//!     "pagination": "offset", "records": "/items",
//!     "counter": {"parameter": "offset", "size_parameter": "limit", "size": 100,
//!                 "stop": "total", "total": "/meta/total"}
//! })).unwrap();
//! assert_eq!(counted.counter.unwrap().stop, StopRule::Total);
//! ```

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The longest cursor a page may return, in bytes: 4096. A cursor travels
/// in the next request's URL, and servers commonly refuse URLs over 8 KiB;
/// a longer cursor ends the walk with a `Decode` error rather than being
/// sent. Fixed: a service that needs more is a case for a new release.
pub const MAX_CURSOR_BYTES: usize = 4096;

/// The largest page size or start value a counter may declare: 2^53, so
/// it survives a JSON number.
pub const MAX_COUNTER_VALUE: u64 = 1 << 53;

/// Cursor paging (`"pagination": "cursor"`): each page's body holds the
/// cursor of the next page; it is sent as a query parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CursorPaging {
    /// JSON pointer to the next cursor in a page's body
    /// (`/response_metadata/next_cursor`). A string; absent, `null` or
    /// empty ends the listing.
    pub pointer: String,
    /// The query parameter that carries the cursor on the next request
    /// (`cursor`, `starting_after`).
    pub parameter: String,
    /// JSON pointer to a boolean in a page's body: `false`, `null` or
    /// absent ends the listing even when a cursor is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_more: Option<String>,
}

/// Counter paging (`"pagination": "offset"` or `"page"`): a query
/// parameter counts records (offset) or pages (page number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CounterPaging {
    /// The query parameter that carries the offset or page number.
    pub parameter: String,
    /// The first request's value. Absent: 0 for `offset`, 1 for `page`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 9007199254740992u64))]
    pub start: Option<u64>,
    /// The query parameter that carries the page size (`limit`,
    /// `per_page`). Absent: the service's page size is fixed, and `size`
    /// says what it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_parameter: Option<String>,
    /// Records per page, from 1 to 2^53.
    #[schemars(range(min = 1, max = 9007199254740992u64))]
    pub size: u64,
    /// When the listing ends (an empty page always ends it).
    #[serde(default)]
    pub stop: StopRule,
    /// For `"stop": "total"`: JSON pointer to the total number of records
    /// in a page's body (`/meta/total`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<String>,
    /// For `"stop": "has_more"`: JSON pointer to a boolean in a page's
    /// body; `false`, `null` or absent ends the listing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_more: Option<String>,
}

/// When a counted listing ends. An empty page ends it whatever the rule.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StopRule {
    /// A page with fewer records than `size`.
    #[default]
    ShortPage,
    /// An empty page only (for services whose pages may come short).
    EmptyPage,
    /// The records counted so far reach the number at `total`.
    Total,
    /// The boolean at `has_more` is not `true`.
    HasMore,
}

impl StopRule {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            StopRule::ShortPage => "short_page",
            StopRule::EmptyPage => "empty_page",
            StopRule::Total => "total",
            StopRule::HasMore => "has_more",
        }
    }
}
