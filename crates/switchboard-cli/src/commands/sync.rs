//! `switchboard sync <installation> <method> [--param ..] [--reset]`:
//! prints the changes since the last run and commits the checkpoint after
//! each page (switchboard-sync).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use switchboard_core::Arguments;
use switchboard_sync::{Change, SyncLeases, Syncer};

use crate::call::{method_of, parse_params};
use crate::cli::{Global, Output, SyncArgs};
use crate::exit::CliResult;
use crate::output::{eprintln_human, print_json, print_json_line, println_out};
use crate::service;
use crate::store::StoreLocation;

/// A change as printed: `{"change": "upsert", "record": {..}}`,
/// `{"change": "delete", "id": .., "reason": ..}`, `{"change": "reset"}`.
pub(crate) fn as_json(change: &Change) -> Value {
    match change {
        Change::Upsert(record) => json!({"change": "upsert", "record": record}),
        Change::Delete { id, reason } => json!({"change": "delete", "id": id, "reason": reason}),
        Change::Reset => json!({"change": "reset"}),
        _ => json!({"change": "unknown"}),
    }
}

fn as_line(change: &Change) -> String {
    match change {
        Change::Upsert(record) => format!("upsert  {}", record["id"].as_str().unwrap_or("(no id)")),
        Change::Delete { id, .. } => format!("delete  {id}"),
        Change::Reset => "reset   (the delta state expired: a full round follows)".to_string(),
        _ => "unknown change".to_string(),
    }
}

pub async fn run(global: &Global, args: SyncArgs) -> CliResult {
    let (service, inst) = service::open_installation(global, &args.installation, None).await?;
    let ctx = match service.context(inst.id).await {
        Ok(ctx) => ctx,
        Err(err) => return Err(service::refused(&service, inst.id, err).await),
    };
    let method = method_of(service.engine(), &ctx, &args.method)?;
    let params = parse_params(Some(&method), &args.params)?;
    let leases: Arc<dyn SyncLeases> = Arc::new(
        StoreLocation::resolve(global.store.as_deref())?
            .open()
            .await?,
    );
    let mut syncer = Syncer::new(service.engine().clone(), service.store().clone(), leases);
    if let Some(seconds) = args.lease_ttl {
        syncer = syncer.with_lease_ttl(Duration::from_secs(seconds))?;
    }
    let mut run = syncer
        .start(&ctx, &args.method, Arguments::from_map(params), args.reset)
        .await?;
    let mut all = Vec::new();
    let (mut upserts, mut deletes) = (0usize, 0usize);
    while let Some(page) = run.next_page().await? {
        for change in page.changes() {
            match change {
                Change::Upsert(_) => upserts += 1,
                Change::Delete { .. } => deletes += 1,
                _ => {}
            }
            match global.output {
                Output::Ndjson => print_json_line(&as_json(change))?,
                Output::Json => all.push(as_json(change)),
                Output::Table => println_out(&as_line(change))?,
            }
        }
        // printed first, committed second: a crash re-prints, never skips
        run.ack(page).await?;
    }
    run.finish().await?;
    match global.output {
        Output::Json => print_json(&all)?,
        Output::Ndjson => {}
        Output::Table => eprintln_human(&format!(
            "{upserts} upserted, {deletes} deleted; checkpoint saved: the next run starts from here"
        )),
    }
    Ok(ExitCode::SUCCESS)
}
