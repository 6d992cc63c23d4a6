//! Per-method work done once, when the engine is built, instead of on
//! every call: the scopes each variant asks for and the parsed default and
//! fixed headers.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};

use crate::connector::{Connector, Registry};
use crate::definition::{ConnectorDefinition, MethodDefinition};
use crate::engine::govern::{PreparedLimit, prepare_limits};

/// A connector with its methods prepared.
pub(crate) struct PreparedConnector {
    pub(crate) connector: Arc<dyn Connector>,
    pub(crate) methods: Vec<PreparedMethod>,
}

/// One method, prepared.
pub(crate) struct PreparedMethod {
    /// The method's permissions for each variant, by the variant's index in
    /// the definition: shared with every `TokenRequest` without copying.
    pub(crate) scopes: Vec<Arc<[String]>>,
    /// The connector's default headers, then the method's fixed headers,
    /// parsed. `None` when one of them does not parse: rendering then parses
    /// them itself and reports the definition error.
    pub(crate) headers: Option<HeaderMap>,
    /// The connector's limits that govern the method (empty: none, and
    /// the admit stage costs nothing).
    pub(crate) limits: Box<[PreparedLimit]>,
}

/// Prepare every connector of the registry, by connector id.
pub(crate) fn prepare_registry(registry: &Registry) -> BTreeMap<String, Arc<PreparedConnector>> {
    registry
        .iter()
        .map(|connector| {
            let def = connector.definition();
            let methods = def
                .methods
                .iter()
                .map(|method| prepare_method(def, method))
                .collect();
            (
                connector.id().to_string(),
                Arc::new(PreparedConnector {
                    connector: Arc::clone(connector),
                    methods,
                }),
            )
        })
        .collect()
}

fn prepare_method(def: &ConnectorDefinition, method: &MethodDefinition) -> PreparedMethod {
    let scopes = def
        .auth_variants
        .iter()
        .map(|variant| Arc::from(method.permissions_for(&variant.id)))
        .collect();
    PreparedMethod {
        scopes,
        headers: fixed_headers(def, method),
        limits: prepare_limits(def, method),
    }
}

/// Defaults first, then the method's headers, which replace a default of
/// the same name (the order `render` applies them in).
fn fixed_headers(def: &ConnectorDefinition, method: &MethodDefinition) -> Option<HeaderMap> {
    let mut headers = HeaderMap::new();
    for (name, value) in def.default_headers.iter().chain(&method.headers) {
        let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
        let value = HeaderValue::from_str(value).ok()?;
        headers.insert(name, value);
    }
    Some(headers)
}
