//! GitHub for switchboard: repositories and issues through the GitHub REST
//! API, with a personal access token.
//!
//! [`connector`] gives it with the generic install flow of definition-only
//! connectors: the token is a secret install parameter.
//!
//! This connector is data only: its definitions (`definitions/*.json`,
//! embedded in the binary) use the core's `link_header` pagination for
//! GitHub's `Link: <...>; rel="next"` pages, a top-level array as the
//! records (`"records": ""`), and default headers for GitHub's media type,
//! API version and User-Agent. It needs no Rust hook; the [`GitHub`] type
//! exists so a hook can be added later without changing how it is
//! registered.
//!
//! ```
//! use switchboard_core::Registry;
//!
//! let mut registry = Registry::new();
//! switchboard_github::register(&mut registry).unwrap();
//! let github = registry.get("github").unwrap();
//! assert!(github.definition().method("issues.list_issues").is_some());
//! ```
#![deny(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::sync::Arc;

use switchboard_core::connector::Connector;
use switchboard_core::definition::ConnectorDefinition;
use switchboard_core::definition::load::load_sources;
use switchboard_core::{Registry, Result};

/// The definition files, embedded; names are as validation reports them.
pub const DEFINITION_FILES: &[(&str, &str)] = &[
    (
        "definitions/connector.json",
        include_str!("../definitions/connector.json"),
    ),
    (
        "definitions/repos.json",
        include_str!("../definitions/repos.json"),
    ),
    (
        "definitions/issues.json",
        include_str!("../definitions/issues.json"),
    ),
];

/// The GitHub connector.
#[derive(Debug, Clone)]
pub struct GitHub {
    definition: ConnectorDefinition,
}

impl GitHub {
    /// Load and validate the embedded definitions.
    ///
    /// ```
    /// let github = switchboard_github::GitHub::new().unwrap();
    /// # use switchboard_core::Connector;
    /// assert_eq!(github.definition().version, "1.0.0");
    /// ```
    pub fn new() -> Result<Self> {
        let definition = load_sources(DEFINITION_FILES).map_err(|p| p.into_error())?;
        Ok(GitHub { definition })
    }
}

impl Connector for GitHub {
    fn definition(&self) -> &ConnectorDefinition {
        &self.definition
    }
}

/// The GitHub connector with its install flow, to register with a
/// switchboard once. The personal access token is the install parameter
/// `token` (secret: stored encrypted, never shown); no consent is needed,
/// so the installation is active as soon as it is stored.
///
/// ```
/// let connector = switchboard_github::connector().unwrap();
/// assert_eq!(connector.id(), "github");
/// assert!(connector.flow().is_some());
/// ```
pub fn connector() -> Result<switchboard_installations::installable::InstallableConnector> {
    Ok(
        switchboard_installations::installable::InstallableConnector::with_definition_flow(
            Arc::new(GitHub::new()?),
        ),
    )
}

/// Add the GitHub connector to a registry.
pub fn register(registry: &mut Registry) -> Result<()> {
    registry.register(Arc::new(GitHub::new()?))
}
