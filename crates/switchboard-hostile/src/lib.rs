//! Generators of hostile input for switchboard's property tests.
//!
//! Everything switchboard parses from the network or from a file a user
//! hands it (token responses, error bodies, headers, continuations,
//! definition files, key files) is fuzzed by `hostile_input` property
//! tests in each crate. The generators they share live here, so each
//! crate's test says *what* it feeds a parser, not how to make it nasty:
//!
//! * [`text`]: strings full of delimiters, quotes, escapes, control and
//!   bidi characters, and now and then a very long one; [`bytes`] adds
//!   invalid UTF-8;
//! * [`json`]: JSON *text* with numbers of every magnitude (`1e308`,
//!   `2^64`, `-1`, `1e400`, 400 digits), lone surrogate escapes, deep
//!   nesting and truncation, shaped around the field names a parser looks
//!   for; and [`serde_json::Value`]s for APIs that take one;
//! * [`mutate`]: random structural mutations of a valid document (drop,
//!   replace, retype, move a subtree elsewhere, nest deeply);
//! * [`http`]: HTTP dates from the year 0 to 99999, in every format and
//!   malformed;
//! * [`h2_server`]: an HTTP/2 server that resets streams (a refused
//!   stream, an internal error);
//! * [`check`]: what must hold of an error built from hostile input
//!   (short, no control or bidi characters, no planted secret).
//!
//! [`config`] sets a target's case count: small by default so the whole
//! pass adds seconds to `cargo test`, multiplied by the
//! `SWITCHBOARD_FUZZ_SCALE` environment variable for a longer campaign.
//!
//! ```
//! use proptest::test_runner::TestRunner;
//! use switchboard_hostile::{config, json};
//!
//! // In a test file: `proptest! { #![proptest_config(config(64))] ... }`.
//! let mut runner = TestRunner::new(config(64));
//! runner
//!     .run(&json::object(&["access_token", "expires_in"]), |body| {
//!         let _ = serde_json::from_str::<serde_json::Value>(&body); // must not panic
//!         Ok(())
//!     })
//!     .unwrap();
//! //! ```

pub mod bomb;
pub mod check;
pub mod h2_server;
pub mod http;
pub mod json;
pub mod mutate;
pub mod raw;
pub mod server;
pub mod text;

use proptest::test_runner::Config;

/// The environment variable that multiplies every target's case count
/// (`SWITCHBOARD_FUZZ_SCALE=100` runs a hundred times as many cases).
pub const SCALE_ENV: &str = "SWITCHBOARD_FUZZ_SCALE";

/// A proptest configuration running `cases` cases, times
/// [`SCALE_ENV`] when it is set to a positive whole number.
///
/// ```
/// assert!(switchboard_hostile::config(10).cases >= 10);
/// ```
pub fn config(cases: u32) -> Config {
    let scale = std::env::var(SCALE_ENV)
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(1);
    Config {
        cases: cases.saturating_mul(scale),
        ..Config::default()
    }
}
