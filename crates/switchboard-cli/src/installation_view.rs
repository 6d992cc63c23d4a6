//! Installations as the CLI shows them: the stable JSON shape and the table.

use std::time::{SystemTime, UNIX_EPOCH};

use comfy_table::Table;
use serde::Serialize;
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
            created_at: rfc3339(i.created_at),
            updated_at: rfc3339(i.updated_at),
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

/// `2026-05-01T09:00:00Z` (UTC, whole seconds).
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn formats_utc_timestamps() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_709_210_096); // leap year, after Feb 29
        assert_eq!(rfc3339(t), "2024-02-29T12:34:56Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_735_689_599);
        assert_eq!(rfc3339(t), "2024-12-31T23:59:59Z");
    }
}
