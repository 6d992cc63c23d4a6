//! The `Connector` trait a connector crate implements, and the `Registry`
//! that finds connectors by id.
//!
//! A connector is mostly data (its [`ConnectorDefinition`]); the trait's
//! hooks cover what data cannot say, such as choosing endpoints from a
//! setting (Microsoft 365's national clouds) or adjusting a request.
//!
//! ```
//! use std::sync::Arc;
//! use switchboard_core::connector::{DefinitionConnector, Registry};
//! use switchboard_core::definition::ConnectorDefinition;
//!
//! let def: ConnectorDefinition = serde_json::from_str(r#"{
//!   "id": "example", "name": "Example", "version": "1.0.0", "description": "Example",
//!   "base_url": "https://api.example.com", "allowed_hosts": ["api.example.com"],
//!   "auth_variants": [{"id": "token", "name": "Token", "kind": "bearer_token"}],
//!   "categories": [{"id": "things", "name": "Things"}]
//! }"#).unwrap();
//! let mut registry = Registry::new();
//! registry.register(Arc::new(DefinitionConnector::new(def))).unwrap();
//! assert!(registry.get("example").is_some());
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};
use url::Url;

use crate::arguments::Arguments;
use crate::definition::{ConnectorDefinition, MethodDefinition};
use crate::error::{Error, ErrorKind, Result};
use crate::render::RenderedRequest;

/// An installation's settings (install parameters by name).
pub type Settings = Map<String, Value>;

/// Where an installation's requests go, and which hosts may receive its
/// credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Base URL method paths are appended to.
    pub base_url: Url,
    /// Exact host names a credential may be sent to over https on the
    /// default port. A loopback `http` base URL is allowed for its own
    /// origin only (sandbox, tests).
    pub allowed_hosts: Vec<String>,
}

/// What a connector crate implements: its definition plus hooks.
pub trait Connector: Send + Sync + std::fmt::Debug {
    /// The connector's definition (all methods included).
    fn definition(&self) -> &ConnectorDefinition;

    /// The connector id.
    fn id(&self) -> &str {
        &self.definition().id
    }

    /// Endpoints for an installation's settings. The default fills the
    /// definition's `base_url` template from the settings (with the chosen
    /// deployment's `{api_origin}` when the definition declares
    /// `deployments`), moves it to the `local_api_origin` setting when one
    /// is set (a loopback fake; see [`crate::local_origins`]; its host is
    /// then the only allowed host), and uses the definition's
    /// `allowed_hosts`, or with deployments the chosen deployment's API
    /// host alone.
    fn endpoints(&self, settings: &Settings) -> Result<Endpoints> {
        let def = self.definition();
        let deployment = def.deployment(settings)?;
        let base_url =
            crate::render::url_template::fill_in(&def.base_url, settings, deployment.as_ref())?;
        let local = crate::local_origins::LocalOrigins::from_settings(settings)?;
        let declared = match &deployment {
            Some(chosen) => vec![chosen.api_host()],
            None => def.allowed_hosts.clone(),
        };
        Ok(Endpoints {
            base_url: local.api_url(base_url),
            allowed_hosts: local.api_hosts(&declared),
        })
    }

    /// Adjust a rendered request before it is sent (add a header that
    /// depends on the arguments, say). The default changes nothing.
    fn prepare(
        &self,
        method: &MethodDefinition,
        args: &Arguments,
        request: &mut RenderedRequest,
    ) -> Result<()> {
        let _ = (method, args, request);
        Ok(())
    }
}

/// A connector that is only data: no hooks beyond the defaults. Used for
/// connectors loaded from a directory at run time.
#[derive(Debug, Clone)]
pub struct DefinitionConnector {
    definition: ConnectorDefinition,
}

impl DefinitionConnector {
    /// Wrap a (validated) definition.
    pub fn new(definition: ConnectorDefinition) -> Self {
        DefinitionConnector { definition }
    }
}

impl Connector for DefinitionConnector {
    fn definition(&self) -> &ConnectorDefinition {
        &self.definition
    }
}

/// Connectors by id.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    connectors: BTreeMap<String, Arc<dyn Connector>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a connector. Its id must not be taken.
    pub fn register(&mut self, connector: Arc<dyn Connector>) -> Result<()> {
        let id = connector.id().to_string();
        if self.connectors.contains_key(&id) {
            return Err(Error::new(
                ErrorKind::InvalidDefinition,
                format!("a connector with id `{id}` is already registered"),
            ));
        }
        self.connectors.insert(id, connector);
        Ok(())
    }

    /// The connector with this id.
    pub fn get(&self, id: &str) -> Option<&Arc<dyn Connector>> {
        self.connectors.get(id)
    }

    /// All connectors, ordered by id.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Connector>> {
        self.connectors.values()
    }
}
