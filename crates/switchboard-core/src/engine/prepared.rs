//! Per-method work done once, when the engine is built, instead of on
//! every call: for each variant, whether it may call the method, the scopes
//! it asks for and its [`MethodTemplate`] (principal resolved, path template
//! parsed, patterns compiled, default and fixed headers parsed).

use std::collections::HashMap;
use std::sync::Arc;

use crate::connector::{Connector, Registry};
use crate::definition::{ConnectorDefinition, MethodDefinition};
use crate::engine::govern::{PreparedLimit, prepare_limits};
use crate::render::MethodTemplate;

use super::placement::CredentialSlot;

/// A connector with its methods prepared.
pub(crate) struct PreparedConnector {
    pub(crate) connector: Arc<dyn Connector>,
    pub(crate) methods: Vec<PreparedMethod>,
    /// Each method's index in the definition, by method id.
    pub(crate) method_index: HashMap<String, usize>,
    /// Where each variant's credential goes, by the variant's index.
    pub(crate) slots: Vec<CredentialSlot>,
}

/// One method, prepared.
pub(crate) struct PreparedMethod {
    /// The method for each variant, by the variant's index in the
    /// definition: what one call reads of it, side by side.
    pub(crate) variants: Box<[PreparedVariant]>,
    /// The connector's limits that govern the method (empty: none, and
    /// the admit stage costs nothing).
    pub(crate) limits: Box<[PreparedLimit]>,
}

/// One method for one variant, prepared.
pub(crate) struct PreparedVariant {
    /// Whether the variant may call the method
    /// ([`MethodDefinition::supports`], asked once here, not per call).
    pub(crate) supported: bool,
    /// The method's permissions for the variant: shared with every
    /// `TokenRequest` without copying.
    pub(crate) scopes: Arc<[String]>,
    /// The method's request for the variant. `None` when the variant
    /// cannot call it: the call prepares it again, which reports why.
    pub(crate) template: Option<MethodTemplate>,
}

/// The registry's connectors, prepared: found by id, or by index once a
/// context has bound to one ([`super::context::Binding`]).
pub(crate) struct PreparedRegistry {
    /// Ordered by id, as [`Registry::iter`] gives them.
    connectors: Vec<Arc<PreparedConnector>>,
}

impl PreparedRegistry {
    /// The connector of this id and its index.
    pub(crate) fn find(&self, connector_id: &str) -> Option<(usize, &Arc<PreparedConnector>)> {
        let index = self
            .connectors
            .binary_search_by(|prepared| prepared.connector.id().cmp(connector_id))
            .ok()?;
        Some((index, self.connectors.get(index)?))
    }

    /// The connector at an index [`PreparedRegistry::find`] gave.
    pub(crate) fn get(&self, index: usize) -> Option<&Arc<PreparedConnector>> {
        self.connectors.get(index)
    }
}

/// Prepare every connector of the registry.
pub(crate) fn prepare_registry(registry: &Registry) -> PreparedRegistry {
    let connectors: Vec<Arc<PreparedConnector>> = registry
        .iter()
        .map(|connector| {
            let def = connector.definition();
            let methods = def
                .methods
                .iter()
                .map(|method| prepare_method(def, method))
                .collect();
            // The first of two methods with one id wins, as a scan would find it.
            let mut method_index = HashMap::new();
            for (index, method) in def.methods.iter().enumerate() {
                method_index.entry(method.id.clone()).or_insert(index);
            }
            Arc::new(PreparedConnector {
                connector: Arc::clone(connector),
                methods,
                method_index,
                slots: def
                    .auth_variants
                    .iter()
                    .map(|v| CredentialSlot::new(&v.placement()))
                    .collect(),
            })
        })
        .collect();
    PreparedRegistry { connectors }
}

fn prepare_method(def: &ConnectorDefinition, method: &MethodDefinition) -> PreparedMethod {
    PreparedMethod {
        variants: def
            .auth_variants
            .iter()
            .map(|variant| PreparedVariant {
                supported: method.supports(&variant.id, &def.auth_variants),
                scopes: Arc::from(method.permissions_for(&variant.id)),
                template: MethodTemplate::new(def, method, variant).ok(),
            })
            .collect(),
        limits: prepare_limits(def, method),
    }
}
