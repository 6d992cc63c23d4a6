//! `switchboard installations`, `test`, `uninstall`, `disable`, `enable`.

use std::process::ExitCode;

use switchboard_core::{Error, Result};
use switchboard_installations::install::InstallationStatus;
use switchboard_installations::lifecycle::report::ConnectionReport;

use crate::cli::Global;
use crate::exit::{self, CliResult};
use crate::installation_view::{InstallationRow, detail_table, list_table};
use crate::output::{emit_one, emit_rows, eprintln_human, kv_table};
use crate::service;
use crate::store::StoreLocation;

/// Lists without creating anything: no store, directory or key file
/// appears when there is none yet.
pub async fn list(global: &Global, account: &str) -> Result<ExitCode> {
    let Some((service, location)) = service::open_read_only(global).await? else {
        let rows: Vec<InstallationRow> = Vec::new();
        emit_rows(global.output, &rows, list_table)?;
        if global.output == crate::cli::Output::Table {
            let location = StoreLocation::resolve(global.store.as_deref())?;
            eprintln!(
                "nothing is stored yet ({} does not exist): `switchboard install` makes the first installation",
                location.display()
            );
        }
        return Ok(ExitCode::SUCCESS);
    };
    let mut rows = Vec::new();
    let mut unreadable: Vec<Error> = Vec::new();
    for item in service.list_by_account(account).await? {
        match item {
            Ok(inst) => rows.push(InstallationRow::from(&inst)),
            Err(e) => unreadable.push(e),
        }
    }
    emit_rows(global.output, &rows, list_table)?;
    for e in &unreadable {
        eprintln_human(&format!("warning: an installation could not be read: {e}"));
    }
    if rows.is_empty() && global.output == crate::cli::Output::Table {
        eprintln!(
            "account `{account}` has no installations in {} (use --account to name another)",
            location.display()
        );
    }
    Ok(if unreadable.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::REMOTE)
    })
}

/// How a failed connection test exits: an installation not ready by its
/// state ([`exit::code_for_status`]), else by the error's kind.
fn report_code(report: &ConnectionReport) -> u8 {
    if report.ok {
        return 0;
    }
    match report.error_kind.as_deref() {
        Some("needs_reauth" | "unauthorized" | "consent") => exit::REAUTH,
        Some("invalid_argument" | "configuration") => exit::BAD_INPUT,
        Some(_) => exit::REMOTE,
        None => match report.status {
            Some(status) => exit::code_for_status(status),
            None => exit::BAD_INPUT,
        },
    }
}

pub async fn test(global: &Global, installation: &str) -> CliResult {
    let (service, inst) = service::open_installation(global, installation, None).await?;
    let report = service.test_connection(inst.id).await?;
    emit_one(global.output, &report, |r| {
        let mut rows = vec![
            vec![
                "result".to_string(),
                if r.ok { "ok" } else { "failed" }.to_string(),
            ],
            vec!["message".to_string(), r.message.clone()],
        ];
        if let Some(m) = &r.method_id {
            rows.push(vec!["method".into(), m.clone()]);
        }
        if !r.missing_permissions.is_empty() {
            rows.push(vec![
                "missing permissions".into(),
                r.missing_permissions.join(", "),
            ]);
        }
        if let Some(code) = &r.code {
            rows.push(vec!["error code".into(), code.clone()]);
        }
        if let Some(s) = r.http_status {
            rows.push(vec!["http status".into(), s.to_string()]);
        }
        if let Some(id) = &r.request_id {
            rows.push(vec!["request id".into(), id.clone()]);
        }
        if let Some(s) = r.status {
            rows.push(vec!["installation status".into(), s.to_string()]);
        }
        kv_table(rows).to_string()
    })?;
    Ok(ExitCode::from(report_code(&report)))
}

/// What a status change does.
#[derive(Debug, Clone, Copy)]
pub enum Change {
    Uninstall,
    Disable,
    Enable,
}

pub async fn change(global: &Global, installation: &str, change: Change) -> CliResult {
    let (service, inst) = service::open_installation(global, installation, None).await?;
    let id = inst.id;
    let changed = match change {
        Change::Uninstall => service.uninstall(id).await,
        Change::Disable => service.disable(id).await,
        Change::Enable => service.enable(id).await,
    };
    let inst = match changed {
        Ok(inst) => inst,
        Err(err) => return Err(service::refused(&service, id, err).await),
    };
    let row = InstallationRow::from(&inst);
    emit_one(global.output, &row, |r| {
        let note = match change {
            Change::Uninstall => "tokens and secrets erased; the record is kept as a tombstone",
            Change::Disable => "calls are refused until `switchboard enable`",
            Change::Enable if inst.status == InstallationStatus::PendingConsent => {
                "no grant is stored: run `switchboard reauth` for a consent link"
            }
            Change::Enable => "calls are allowed again",
        };
        detail_table(r, vec![("note".into(), note.into())]).to_string()
    })?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_tests_exit_by_what_a_person_must_do() {
        let mut r = ConnectionReport::passed(None, "fine");
        assert_eq!(report_code(&r), 0);
        r.ok = false;
        r.error_kind = Some("forbidden".into());
        assert_eq!(report_code(&r), exit::REMOTE);
        r.error_kind = Some("needs_reauth".into());
        assert_eq!(report_code(&r), exit::REAUTH);
        let pending = ConnectionReport::not_ready(InstallationStatus::PendingConsent, "consent");
        assert_eq!(report_code(&pending), exit::REAUTH);
        let disabled = ConnectionReport::not_ready(InstallationStatus::Disabled, "off");
        assert_eq!(report_code(&disabled), exit::SWITCHED_OFF);
    }
}
