//! The connectors this binary knows.

use switchboard_core::{Registry, Result};

/// A registry with every built-in connector.
pub fn builtin() -> Result<Registry> {
    let mut registry = Registry::new();
    switchboard_microsoft365::register(&mut registry)?;
    Ok(registry)
}
