//! `switchboard permissions <connector> --variant V`

use std::process::ExitCode;

use serde::Serialize;
use switchboard_core::{Error, Result};
use switchboard_microsoft365::permissions::{Enabled, GLOBAL_GRAPH_RESOURCE, consent_plan};

use crate::cli::Output;
use crate::output::{print_json, table};
use crate::registry;

#[derive(Serialize)]
struct PlanOutput<'a> {
    connector: &'a str,
    variant: &'a str,
    permissions: &'a [String],
    scopes: &'a [String],
    methods: &'a [String],
    unsupported: &'a [String],
}

pub fn run(
    connector: &str,
    variant: &str,
    categories: Vec<String>,
    methods: Vec<String>,
    output: Output,
) -> Result<ExitCode> {
    let registry = registry::builtin()?;
    let found = registry.get(connector).ok_or_else(|| {
        Error::invalid_argument(
            "connector",
            format!("`{connector}` is not a known connector"),
        )
    })?;
    if connector != "microsoft365" {
        return Err(Error::invalid_argument(
            "connector",
            format!("`{connector}` has no consent planner; only microsoft365 does"),
        ));
    }
    let enabled = if categories.is_empty() && methods.is_empty() {
        Enabled::all()
    } else {
        let mut enabled = Enabled::categories(categories);
        for m in methods {
            enabled = enabled.and_method(m);
        }
        enabled
    };
    let plan = consent_plan(found.definition(), variant, &enabled, GLOBAL_GRAPH_RESOURCE)?;
    match output {
        Output::Json => print_json(&PlanOutput {
            connector,
            variant,
            permissions: &plan.permissions,
            scopes: &plan.scopes,
            methods: &plan.methods,
            unsupported: &plan.unsupported,
        })?,
        Output::Table => {
            let rows = plan
                .permissions
                .iter()
                .map(|p| vec![p.clone(), variant.to_string()])
                .collect();
            println!("{}", table(&["PERMISSION", "TYPE"], rows));
            println!("scope to request: {}", plan.scopes.join(" "));
            if !plan.unsupported.is_empty() {
                println!(
                    "not available in the {variant} variant: {}",
                    plan.unsupported.join(", ")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
