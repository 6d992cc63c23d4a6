//! `switchboard connectors`

use std::process::ExitCode;

use serde::Serialize;
use switchboard_core::Result;

use crate::cli::Output;
use crate::output::{emit_rows, table};
use crate::registry;

#[derive(Serialize)]
struct ConnectorRow<'a> {
    id: &'a str,
    name: &'a str,
    version: &'a str,
    variants: Vec<&'a str>,
    methods: usize,
    description: &'a str,
}

pub fn run(output: Output) -> Result<ExitCode> {
    let registry = registry::builtin()?;
    let rows: Vec<ConnectorRow<'_>> = registry
        .iter()
        .map(|c| {
            let d = c.definition();
            ConnectorRow {
                id: &d.id,
                name: &d.name,
                version: &d.version,
                variants: d.auth_variants.iter().map(|v| v.id.as_str()).collect(),
                methods: d.methods.len(),
                description: &d.description,
            }
        })
        .collect();
    emit_rows(output, &rows, |rows| {
        let cells = rows
            .iter()
            .map(|r| {
                vec![
                    r.id.to_string(),
                    r.name.to_string(),
                    r.version.to_string(),
                    r.variants.join(", "),
                    r.methods.to_string(),
                ]
            })
            .collect();
        table(&["ID", "NAME", "VERSION", "VARIANTS", "METHODS"], cells)
    })?;
    Ok(ExitCode::SUCCESS)
}
