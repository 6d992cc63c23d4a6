//! `switchboard permissions <connector> --variant V`

use std::process::ExitCode;

use serde::Serialize;
use switchboard_core::{Error, Result};
use switchboard_microsoft365::permissions::{Enabled, consent_plan, default_graph_resource};

use crate::cli::Output;
use crate::output::{emit_one, table};
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
    let found = registry::connector(&registry, connector, "CONNECTOR")?;
    if connector != "microsoft365" {
        return Err(Error::invalid_argument(
            "CONNECTOR",
            format!("`{connector}` has no consent planner; only microsoft365 does"),
        ));
    }
    let def = found.definition();
    registry::check_variant(def, variant)?;
    for c in &categories {
        registry::check_category(def, c, "--category")?;
    }
    for m in &methods {
        registry::method(def, m, "--method")?;
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
    let plan = consent_plan(
        found.definition(),
        variant,
        &enabled,
        &default_graph_resource(),
    )?;
    let out = PlanOutput {
        connector,
        variant,
        permissions: &plan.permissions,
        scopes: &plan.scopes,
        methods: &plan.methods,
        unsupported: &plan.unsupported,
    };
    emit_one(output, &out, |plan| {
        let rows = plan
            .permissions
            .iter()
            .map(|p| vec![p.clone(), variant.to_string()])
            .collect();
        let mut text = table(&["PERMISSION", "TYPE"], rows).to_string();
        text.push_str(&format!("\nscope to request: {}", plan.scopes.join(" ")));
        if !plan.unsupported.is_empty() {
            text.push_str(&format!(
                "\nnot available in the {variant} variant: {}",
                plan.unsupported.join(", ")
            ));
        }
        text
    })?;
    Ok(ExitCode::SUCCESS)
}
