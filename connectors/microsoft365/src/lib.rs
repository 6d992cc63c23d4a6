//! Microsoft 365 over Microsoft Graph v1.0, for switchboard.
//!
//! One set of declarative method definitions (`definitions/*.json`, embedded
//! in the binary) serves two auth variants:
//!
//! - **delegated**: OAuth 2 authorization code with PKCE, acting as the
//!   signed-in user; paths written `/{principal}/...` become `/me/...`;
//! - **application**: OAuth 2 client credentials on the customer's tenant
//!   after an administrator's consent; `/{principal}/...` becomes
//!   `/users/{user_id}/...` and `user_id` is a required argument.
//!
//! ```
//! use switchboard_core::Registry;
//!
//! let mut registry = Registry::new();
//! switchboard_microsoft365::register(&mut registry).unwrap();
//! let m365 = registry.get("microsoft365").unwrap();
//! assert!(m365.definition().method("users.list_users").is_some());
//! ```
#![deny(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod aadsts;
pub mod advanced_query;
pub mod application;
pub mod cloud;
pub mod delegated;
pub mod identity;
pub mod install_flow;
pub mod large_upload;
pub mod permissions;
pub mod small_upload;
pub mod subscription_resources;
pub mod tenant;
pub mod token_tenant;

use std::sync::Arc;

use switchboard_core::connector::Connector;
use switchboard_core::definition::load::load_sources;
use switchboard_core::definition::{ConnectorDefinition, MethodDefinition, Pagination};
use switchboard_core::render::RenderedRequest;
use switchboard_core::{Arguments, Registry, Result};

/// The definition files, embedded so a built binary needs no files beside it.
/// Names are as reported by validation.
pub const DEFINITION_FILES: &[(&str, &str)] = &[
    (
        "definitions/connector.json",
        include_str!("../definitions/connector.json"),
    ),
    (
        "definitions/users.json",
        include_str!("../definitions/users.json"),
    ),
    (
        "definitions/calendars.json",
        include_str!("../definitions/calendars.json"),
    ),
    (
        "definitions/mail.json",
        include_str!("../definitions/mail.json"),
    ),
    (
        "definitions/onedrive.json",
        include_str!("../definitions/onedrive.json"),
    ),
    (
        "definitions/contacts.json",
        include_str!("../definitions/contacts.json"),
    ),
    (
        "definitions/subscriptions.json",
        include_str!("../definitions/subscriptions.json"),
    ),
];

/// The Microsoft 365 connector. Its endpoints are the default, data-driven
/// ones: the definition's `deployments` (the clouds) chosen by the
/// installation's `cloud` (and `login_url` + `graph_url` for a custom
/// cloud), `base_url` `{api_origin}/v1.0`, and the chosen cloud's Graph
/// host as the only host a token goes to.
#[derive(Debug, Clone)]
pub struct Microsoft365 {
    definition: ConnectorDefinition,
}

impl Microsoft365 {
    /// Load and validate the embedded definitions.
    pub fn new() -> Result<Self> {
        let definition = load_sources(DEFINITION_FILES).map_err(|p| p.into_error())?;
        Ok(Microsoft365 { definition })
    }
}

impl Connector for Microsoft365 {
    fn definition(&self) -> &ConnectorDefinition {
        &self.definition
    }

    /// Directory-object lists (category `users`, not delta) get Graph's
    /// advanced query parameters when their arguments need them. (The
    /// simple upload's 4 MiB limit is data, checked by the engine: see
    /// [`small_upload`].)
    fn prepare(
        &self,
        method: &MethodDefinition,
        _args: &Arguments,
        request: &mut RenderedRequest,
    ) -> Result<()> {
        if method.category == "users" && method.pagination == Pagination::OdataNextLink {
            advanced_query::apply(request);
        }
        Ok(())
    }
}

/// The Microsoft 365 connector with its install flow (delegated and
/// application variants), to register with a switchboard once.
///
/// ```
/// let connector = switchboard_microsoft365::connector().unwrap();
/// assert_eq!(connector.id(), "microsoft365");
/// assert!(connector.flow().is_some());
/// ```
pub fn connector() -> Result<switchboard_installations::installable::InstallableConnector> {
    Ok(
        switchboard_installations::installable::InstallableConnector::new(
            Arc::new(Microsoft365::new()?),
            Arc::new(install_flow::Microsoft365Flow::new()),
        ),
    )
}

/// Add the Microsoft 365 connector to a registry.
pub fn register(registry: &mut Registry) -> Result<()> {
    registry.register(Arc::new(Microsoft365::new()?))
}
