//! `switchboard methods <connector>`

use std::process::ExitCode;

use serde::Serialize;
use switchboard_core::Result;
use switchboard_core::definition::{AuthVariant, ConnectorDefinition, MethodDefinition};

use crate::cli::Output;
use crate::output::{emit_rows, table};
use crate::registry;

/// One method as resolved for one variant: the stable JSON contract of
/// `switchboard methods --output json`.
#[derive(Debug, Serialize)]
pub struct MethodRow {
    pub id: String,
    pub category: String,
    pub name: String,
    pub variant: String,
    pub http_method: String,
    pub path: String,
    pub permissions: Vec<String>,
    pub pagination: String,
}

impl MethodRow {
    fn new(method: &MethodDefinition, variant: &AuthVariant) -> Self {
        MethodRow {
            id: method.id.clone(),
            category: method.category.clone(),
            name: method.name.clone(),
            variant: variant.id.clone(),
            http_method: method.http_method.to_string(),
            path: method.resolved_path(variant.principal.as_ref()),
            permissions: method.permissions_for(&variant.id).to_vec(),
            pagination: method.pagination.as_str().to_string(),
        }
    }
}

/// Methods of `def`, one row per supported variant, filtered.
pub fn rows(
    def: &ConnectorDefinition,
    variant: Option<&str>,
    category: Option<&str>,
) -> Result<Vec<MethodRow>> {
    if let Some(v) = variant {
        registry::check_variant(def, v)?;
    }
    if let Some(c) = category {
        registry::check_category(def, c, "--category")?;
    }
    let mut out = Vec::new();
    for method in &def.methods {
        if category.is_some_and(|c| c != method.category) {
            continue;
        }
        for v in &def.auth_variants {
            if variant.is_some_and(|want| want != v.id)
                || !method.supports(&v.id, &def.auth_variants)
            {
                continue;
            }
            out.push(MethodRow::new(method, v));
        }
    }
    Ok(out)
}

pub fn run(
    connector: &str,
    variant: Option<&str>,
    category: Option<&str>,
    output: Output,
) -> Result<ExitCode> {
    let registry = registry::builtin()?;
    let found = registry::connector(&registry, connector, "CONNECTOR")?;
    let rows = rows(found.definition(), variant, category)?;
    emit_rows(output, &rows, |rows| {
        let cells = rows
            .iter()
            .map(|r| {
                vec![
                    r.id.clone(),
                    r.variant.clone(),
                    r.http_method.clone(),
                    r.path.clone(),
                    r.permissions.join(", "),
                    r.pagination.clone(),
                ]
            })
            .collect();
        table(
            &["METHOD", "VARIANT", "HTTP", "PATH", "PERMISSIONS", "PAGING"],
            cells,
        )
    })?;
    Ok(ExitCode::SUCCESS)
}
