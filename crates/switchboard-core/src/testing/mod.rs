//! A test kit for connector crates (cargo feature `testing`).
//!
//! Add it as a dev-dependency of your connector crate:
//!
//! ```toml
//! [dev-dependencies]
//! switchboard-core = { path = "...", features = ["testing"] }
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! ```
//!
//! It gives you
//!
//! * [`Harness`]: a wiremock server on 127.0.0.1 with a catch-all mock that
//!   fails on any request nobody expected, your connector installed against
//!   it with a static bearer token, and a way to say in a few lines
//!   "calling method M with these arguments sends this request and yields
//!   these records". Every expected request is asserted (method, path,
//!   query, headers, body, the bearer token) **with its call count**.
//! * [`check_definition_files`] / [`check_definition_dir`]: every
//!   definition file against the JSON Schema and the validation rules, all
//!   problems reported at once.
//!
//! ```no_run
//! use std::sync::Arc;
//! use serde_json::json;
//! use switchboard_core::connector::DefinitionConnector;
//! use switchboard_core::testing::{Expect, Harness, Reply, check_definition_dir};
//!
//! # async fn demo() {
//! let def = check_definition_dir("definitions");
//! let h = Harness::start(Arc::new(DefinitionConnector::new(def))).await;
//! h.call("things.list_things")
//!     .args(json!({"limit": 2}))
//!     .sends(
//!         Expect::get("/things").query("limit", "2"),
//!         Reply::json(200, json!({"items": [{"id": 1}, {"id": 2}]})),
//!     )
//!     .yields(json!([{"id": 1}, {"id": 2}]))
//!     .await;
//! # }
//! ```
//!
//! The harness panics (it is for tests) with a report that lists what was
//! expected and every request the server received.

mod definitions;
mod expect;
mod harness;

pub use definitions::{check_definition_dir, check_definition_files, definition_problems};
pub use expect::{Expect, Reply};
pub use harness::{Call, Harness, HarnessBuilder};

/// The wiremock crate, re-exported so connector tests need no extra dependency.
pub use wiremock;
