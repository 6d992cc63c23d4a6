//! Microsoft 365 over Microsoft Graph v1.0.
#![deny(clippy::unwrap_used)]

pub mod aadsts;
pub mod application;
pub mod cloud;
pub mod delegated;
pub mod identity;
pub mod tenant;
pub mod token_tenant;
