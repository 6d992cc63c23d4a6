//! [`InstallableConnector`]: a connector and the way it is installed, the
//! one thing a platform registers per connector.
//!
//! ```
//! use std::sync::Arc;
//! use switchboard_core::connector::DefinitionConnector;
//! use switchboard_core::definition::ConnectorDefinition;
//! use switchboard_installations::installable::InstallableConnector;
//!
//! let def: ConnectorDefinition = serde_json::from_str(r#"{
//!   "id": "example", "name": "Example", "version": "1.0.0",
//!   "description": "An example connector",
//!   "base_url": "https://api.example.com", "allowed_hosts": ["api.example.com"],
//!   "auth_variants": [{"id": "token", "name": "API token", "kind": "bearer_token"}],
//!   "categories": [{"id": "things", "name": "Things"}], "methods": []
//! }"#).unwrap();
//! let connector = InstallableConnector::without_flow(Arc::new(DefinitionConnector::new(def)));
//! assert_eq!(connector.id(), "example");
//! assert!(connector.flow().is_none());
//! ```

use std::fmt;
use std::sync::Arc;

use switchboard_core::Connector;
use switchboard_core::connector::DefinitionConnector;
use switchboard_core::definition::ConnectorDefinition;

use crate::lifecycle::flow::InstallFlow;
use crate::lifecycle::generic_flow::DefinitionFlow;

/// A connector (its definition and hooks) with its install flow, if it
/// has one. Cheap to clone.
#[derive(Clone)]
pub struct InstallableConnector {
    connector: Arc<dyn Connector>,
    flow: Option<Arc<dyn InstallFlow>>,
}

impl InstallableConnector {
    /// A connector installed through `flow`. The flow must be for the same
    /// connector id (checked when a switchboard is built).
    pub fn new(connector: Arc<dyn Connector>, flow: Arc<dyn InstallFlow>) -> Self {
        InstallableConnector {
            connector,
            flow: Some(flow),
        }
    }

    /// A connector described only by its definition, installed through
    /// the generic [`DefinitionFlow`]: its `api_key`, `bearer_token` and
    /// `basic` variants take their credential as a secret install
    /// parameter and need no consent.
    ///
    /// ```
    /// use switchboard_core::definition::ConnectorDefinition;
    /// use switchboard_installations::installable::InstallableConnector;
    ///
    /// let def: ConnectorDefinition = serde_json::from_value(serde_json::json!({
    ///   "id": "acme", "name": "Acme", "version": "1.0.0", "description": "Acme CRM",
    ///   "base_url": "https://api.acme.example", "allowed_hosts": ["api.acme.example"],
    ///   "install_parameters": [{"name": "api_key", "label": "API key", "required": true, "secret": true}],
    ///   "auth_variants": [{"id": "key", "name": "API key", "kind": "api_key",
    ///     "api_key": {"parameter": "api_key", "in": "header", "name": "X-Api-Key"}}],
    ///   "categories": [{"id": "things", "name": "Things"}]
    /// })).unwrap();
    /// let connector = InstallableConnector::from_definition(def);
    /// assert!(connector.flow().is_some());
    /// ```
    pub fn from_definition(definition: ConnectorDefinition) -> Self {
        Self::with_definition_flow(Arc::new(DefinitionConnector::new(definition)))
    }

    /// `connector` (hooks and all) installed through the generic
    /// [`DefinitionFlow`] of its definition.
    pub fn with_definition_flow(connector: Arc<dyn Connector>) -> Self {
        let flow = DefinitionFlow::new(Arc::new(connector.definition().clone()));
        InstallableConnector::new(connector, Arc::new(flow))
    }

    /// A connector with no install flow of its own: its methods can be
    /// called with a context made by hand, but it cannot be installed.
    pub fn without_flow(connector: Arc<dyn Connector>) -> Self {
        InstallableConnector {
            connector,
            flow: None,
        }
    }

    /// The connector's id.
    pub fn id(&self) -> &str {
        &self.connector.definition().id
    }

    /// The connector.
    pub fn connector(&self) -> &Arc<dyn Connector> {
        &self.connector
    }

    /// The install flow.
    pub fn flow(&self) -> Option<&Arc<dyn InstallFlow>> {
        self.flow.as_ref()
    }
}

impl fmt::Debug for InstallableConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstallableConnector")
            .field("id", &self.id())
            .field("version", &self.connector.definition().version)
            .field("installable", &self.flow.is_some())
            .finish()
    }
}
