//! Microsoft 365 over Microsoft Graph v1.0.
#![deny(clippy::unwrap_used)]
pub mod permissions;
