//! `switchboard notifications serve --port P`: the notification receiver
//! (Graph's validation handshake, verified batches) and the renewal loop in
//! one process. Prints one JSON line per event: a change notification, a
//! lifecycle event and what was done about it, the changes a delta sync
//! brought after `missed` or `subscriptionRemoved`, each renewal.
//!
//! `switchboard notifications renew --within S`: the same renewal sweep,
//! once.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use switchboard_core::Result;
use switchboard_installations::lifecycle::Installations;
use switchboard_sync::{
    LifecycleOutcome, Notification, Now, Receiver, RenewReport, SubscriptionManager,
    SubscriptionRecord, Syncer, axum_router,
};

use super::subscriptions::{as_json, manager};
use super::sync::as_json as change_json;
use crate::cli::{ClockArgs, Global};
use crate::exit::{CliResult, Failure, REMOTE};
use crate::output::{emit_one, eprintln_human, print_json_line};

/// Verified notifications waiting to be printed, at most.
const QUEUE: usize = 1024;

pub async fn serve(
    global: &Global,
    addr: SocketAddr,
    within: Duration,
    every: Duration,
    clock: ClockArgs,
) -> CliResult {
    let (service, store, manager) = manager(global).await?;
    let manager = manager.with_clock(now(clock));
    let receiver = Receiver::new(Arc::new(store.clone()), Arc::new(store.clone()));
    let (router, mut queue) = axum_router(receiver, QUEUE);
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        switchboard_core::Error::invalid_argument("port", format!("cannot listen on {addr}: {e}"))
    })?;
    let local = listener.local_addr().map_err(|e| {
        switchboard_core::Error::invalid_argument("port", format!("cannot listen on {addr}: {e}"))
    })?;
    print_json_line(&json!({"listening": format!("http://{local}/")}))?;
    eprintln_human(&format!(
        "receiving notifications on http://{local}/ (Graph needs https: put a TLS proxy in front); renewing subscriptions that expire within {} s, every {} s; Ctrl-C stops",
        within.as_secs(),
        every.as_secs()
    ));
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let syncer = Syncer::new(
        service.engine().clone(),
        service.store().clone(),
        Arc::new(store.clone()),
    );
    let worker = Worker {
        service,
        manager,
        syncer,
    };
    let mut ticks = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = ticks.tick() => worker.renew(within).await?,
            next = queue.recv() => match next {
                Some(n) => worker.handle(n).await?,
                None => break,
            },
        }
    }
    server.abort();
    Ok(ExitCode::SUCCESS)
}

/// One renewal sweep: prints the report (`renewed`, `recreated`, `failed`
/// and the number `skipped` because another node renewed them), and fails
/// with exit code 2 when any renewal failed.
pub async fn renew(global: &Global, within: Duration, clock: ClockArgs) -> CliResult {
    let (_, _, manager) = manager(global).await?;
    let report = manager.with_clock(now(clock)).renew_due(within).await?;
    let json = json!({
        "renewed": report.renewed.iter().map(as_json).collect::<Vec<_>>(),
        "recreated": report
            .recreated
            .iter()
            .map(|(old, record)| json!({"replaces": old, "subscription": as_json(record)}))
            .collect::<Vec<_>>(),
        "failed": failures(&report),
        "skipped": report.skipped,
    });
    emit_one(global.output, &json, |_| {
        let mut text = format!(
            "renewed {}, recreated {}, failed {}, skipped {} (renewed meanwhile by another node)",
            report.renewed.len(),
            report.recreated.len(),
            report.failed.len(),
            report.skipped
        );
        for (id, error) in &report.failed {
            text.push_str(&format!("\n{id}: {error}"));
        }
        text
    })?;
    match report.failed.first() {
        None => Ok(ExitCode::SUCCESS),
        Some((id, error)) => Err(Failure::with_code(
            switchboard_core::Error::new(
                error.kind(),
                format!(
                    "{} of {} subscriptions were not renewed (first: {id}: {error})",
                    report.failed.len(),
                    report.failed.len() + report.renewed.len() + report.recreated.len()
                ),
            ),
            REMOTE,
        )),
    }
}

/// The failures of a sweep as printed.
fn failures(report: &RenewReport) -> Vec<Value> {
    report
        .failed
        .iter()
        .map(|(id, error)| json!({"subscription": id, "error": error.to_string()}))
        .collect()
}

/// The clock renewal goes by: this machine's, `--clock-offset` ahead.
fn now(clock: ClockArgs) -> Now {
    let offset = Duration::from_secs(clock.clock_offset);
    Arc::new(move || switchboard_core::bounds::later(SystemTime::now(), offset))
}

struct Worker {
    service: Installations,
    manager: SubscriptionManager,
    syncer: Syncer,
}

impl Worker {
    async fn renew(&self, within: Duration) -> Result<()> {
        let report = self.manager.renew_due(within).await?;
        for record in &report.renewed {
            print_json_line(&json!({"renewed": as_json(record)}))?;
        }
        for (old, record) in &report.recreated {
            print_json_line(&json!({"recreated": as_json(record), "replaces": old}))?;
        }
        for (id, error) in &report.failed {
            print_json_line(&json!({"renewal_failed": id, "error": error.to_string()}))?;
        }
        Ok(())
    }

    async fn handle(&self, notification: Notification) -> Result<()> {
        match notification {
            Notification::Change {
                subscription,
                change_type,
                resource,
                resource_id,
            } => print_json_line(&json!({
                "notification": "change",
                "subscription": subscription.id,
                "installation": subscription.installation.to_string(),
                "change_type": change_type,
                "resource": resource,
                "resource_id": resource_id,
            })),
            Notification::Lifecycle {
                subscription,
                event,
            } => self.lifecycle(&subscription, &event).await,
            _ => Ok(()),
        }
    }

    async fn lifecycle(&self, subscription: &SubscriptionRecord, event: &str) -> Result<()> {
        let line = |outcome: &str, extra: Value| {
            json!({
                "notification": "lifecycle",
                "event": event,
                "subscription": subscription.id,
                "outcome": outcome,
                "detail": extra,
            })
        };
        match self.manager.handle_lifecycle(&subscription.id, event).await {
            Ok(LifecycleOutcome::Renewed(record)) => {
                print_json_line(&line("renewed", as_json(&record)))
            }
            Ok(LifecycleOutcome::Recreated { record, .. }) => {
                print_json_line(&line("recreated", as_json(&record)))?;
                self.sync(&record).await
            }
            Ok(LifecycleOutcome::SyncNeeded(record)) => {
                print_json_line(&line("sync", Value::Null))?;
                self.sync(&record).await
            }
            Ok(_) => print_json_line(&line("skipped", Value::Null)),
            Err(e) => print_json_line(&line("failed", json!(e.to_string()))),
        }
    }

    /// Runs the record's delta sync, printing each change with the
    /// subscription it came from; the checkpoint is the one `switchboard
    /// sync` uses with the same method and arguments.
    async fn sync(&self, record: &SubscriptionRecord) -> Result<()> {
        let Some((method, args)) = SubscriptionManager::sync_request(record) else {
            return Ok(());
        };
        let ctx = self.service.context(record.installation).await?;
        let mut run = self.syncer.start(&ctx, &method, args, false).await?;
        while let Some(page) = run.next_page().await? {
            for change in page.changes() {
                let mut line = change_json(change);
                line["subscription"] = json!(record.id);
                print_json_line(&line)?;
            }
            run.ack(page).await?;
        }
        run.finish().await
    }
}
