//! Installations as the CLI shows them: the stable JSON shape and the table.

use comfy_table::Table;
use serde::Serialize;
use switchboard_core::datetime::format_utc;
use switchboard_installations::install::Installation;

use crate::output::{kv_table, table};

/// One installation: the JSON contract of `installations`, `install`,
/// `complete` and `uninstall` (fields are only ever added). No secrets.
#[derive(Debug, Clone, Serialize)]
pub struct InstallationRow {
    pub id: String,
    pub account: String,
    pub connector: String,
    pub connector_version: String,
    pub variant: String,
    pub cloud: String,
    pub tenant_id: Option<String>,
    pub status: String,
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub version: u64,
}

impl From<&Installation> for InstallationRow {
    fn from(i: &Installation) -> Self {
        InstallationRow {
            id: i.id.to_string(),
            account: i.account.clone(),
            connector: i.connector_id.clone(),
            connector_version: i.connector_version.clone(),
            variant: i.variant.clone(),
            cloud: i.cloud.clone(),
            tenant_id: i.tenant_id.clone(),
            status: i.status.as_str().to_string(),
            last_error: i.last_error.clone(),
            created_at: format_utc(i.created_at),
            updated_at: format_utc(i.updated_at),
            version: i.version,
        }
    }
}

/// Installations as a table.
pub fn list_table(rows: &[InstallationRow]) -> Table {
    let cells = rows
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                r.connector.clone(),
                r.variant.clone(),
                r.tenant_id.clone().unwrap_or_default(),
                r.cloud.clone(),
                r.status.clone(),
                r.updated_at.clone(),
            ]
        })
        .collect();
    table(
        &[
            "INSTALLATION",
            "CONNECTOR",
            "VARIANT",
            "TENANT",
            "CLOUD",
            "STATUS",
            "UPDATED",
        ],
        cells,
    )
}

/// One installation as name/value rows (plus `extra` rows).
pub fn detail_table(row: &InstallationRow, extra: Vec<(String, String)>) -> Table {
    let mut rows = vec![
        vec!["installation".to_string(), row.id.clone()],
        vec!["account".to_string(), row.account.clone()],
        vec![
            "connector".to_string(),
            format!(
                "{} {} ({})",
                row.connector, row.connector_version, row.variant
            ),
        ],
        vec![
            "tenant".to_string(),
            row.tenant_id.clone().unwrap_or_default(),
        ],
        vec!["cloud".to_string(), row.cloud.clone()],
        vec!["status".to_string(), row.status.clone()],
    ];
    if let Some(e) = &row.last_error {
        rows.push(vec!["last error".to_string(), e.clone()]);
    }
    for (k, v) in extra {
        rows.push(vec![k, v]);
    }
    kv_table(rows)
}
