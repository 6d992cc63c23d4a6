//! The connectors this binary knows: the built-in ones, plus any loaded at
//! run time from `--connectors-dir` (definitions only, no Rust hooks).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use switchboard_core::connector::{Connector, DefinitionConnector};
use switchboard_core::definition::load::load_connectors_dir;
use switchboard_core::definition::{ConnectorDefinition, MethodDefinition};
use switchboard_core::{Error, ErrorKind, Registry, Result};

/// The `--connectors-dir` of this run, set once before any command runs.
static CONNECTORS_DIR: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Remember `--connectors-dir` for [`builtin`]. Only the first call counts.
pub fn set_connectors_dir(dir: Option<PathBuf>) {
    let _ = CONNECTORS_DIR.set(dir);
}

/// A registry with every built-in connector and, when `--connectors-dir`
/// was given, every connector found there.
pub fn builtin() -> Result<Registry> {
    let mut registry = Registry::new();
    switchboard_microsoft365::register(&mut registry)?;
    switchboard_github::register(&mut registry)?;
    if let Some(Some(dir)) = CONNECTORS_DIR.get() {
        register_dir(&mut registry, dir)?;
    }
    Ok(registry)
}

/// Load the connectors under `dir` (see
/// [`switchboard_core::definition::load::load_connectors_dir`]) and register each as a
/// definition-only connector. An id already registered (a built-in one, or
/// twice in the directory) is an error naming the id.
pub fn register_dir(registry: &mut Registry, dir: &Path) -> Result<Vec<String>> {
    let definitions = load_connectors_dir(dir).map_err(|problems| {
        Error::new(
            ErrorKind::InvalidDefinition,
            format!(
                "the connectors in --connectors-dir {} have {} problem(s):\n{problems}",
                dir.display(),
                problems.len()
            ),
        )
    })?;
    let mut ids = Vec::with_capacity(definitions.len());
    for def in definitions {
        let id = def.id.clone();
        if registry.get(&id).is_some() {
            return Err(Error::invalid_argument(
                "--connectors-dir",
                format!(
                    "{} defines connector `{id}`, which is already registered (built in, or defined twice); give it another id",
                    dir.display()
                ),
            ));
        }
        registry.register(Arc::new(DefinitionConnector::new(def)))?;
        ids.push(id);
    }
    Ok(ids)
}

/// The connector `id` of `registry`; an unknown id is an error for
/// `field` with a suggestion.
pub fn connector<'a>(
    registry: &'a Registry,
    id: &str,
    field: &str,
) -> Result<&'a Arc<dyn Connector>> {
    registry.get(id).ok_or_else(|| {
        let known: Vec<&str> = registry.iter().map(|c| c.id()).collect();
        crate::typos::unknown(field, "a connector", id, &known)
    })
}

/// Checks that `variant` is one of `def`'s auth variants.
pub fn check_variant(def: &ConnectorDefinition, variant: &str) -> Result<()> {
    if def.variant(variant).is_some() {
        return Ok(());
    }
    let known: Vec<&str> = def.auth_variants.iter().map(|v| v.id.as_str()).collect();
    Err(crate::typos::unknown(
        "--variant",
        &format!("a variant of {}", def.id),
        variant,
        &known,
    ))
}

/// Checks that `category` is one of `def`'s categories.
pub fn check_category(def: &ConnectorDefinition, category: &str, field: &str) -> Result<()> {
    if def.categories.iter().any(|k| k.id == category) {
        return Ok(());
    }
    let known: Vec<&str> = def.categories.iter().map(|k| k.id.as_str()).collect();
    Err(crate::typos::unknown(
        field,
        &format!("a category of {}", def.id),
        category,
        &known,
    ))
}

/// The method `method` of `def`; an unknown id is an error for `field`
/// with a suggestion.
pub fn method<'a>(
    def: &'a ConnectorDefinition,
    method: &str,
    field: &str,
) -> Result<&'a MethodDefinition> {
    if let Some(found) = def.method(method) {
        return Ok(found);
    }
    let hint = crate::typos::hint(method, def.methods.iter().map(|m| m.id.as_str()));
    // the methods are many: point to the list instead of printing it
    Err(Error::invalid_argument(
        field,
        format!(
            "`{method}` is not a method of {id}; {hint}(`switchboard methods {id}` lists them)",
            id = def.id
        ),
    ))
}
