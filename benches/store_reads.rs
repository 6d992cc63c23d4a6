//! 200 concurrent lookups of one installation on the embedded SQLite store:
//! readers sharing the writer connection (`SqliteOptions::with_readers(0)`,
//! what every read did before the read pool) against the default pool of
//! read-only connections.
//!
//! Two lookups are measured, each as batches of 200 concurrent calls on a
//! multi-threaded runtime with 2 workers:
//!
//! * `store.get(id)`: one record read;
//! * `switchboard.installation(id)`: what a platform calls per request (the
//!   record, the encrypted secrets decrypted, the credential set up).
//!
//! The two stores live side by side (one file each, same content, same
//! process) and the contenders alternate batch by batch. Reported: the
//! median and best batch time, and lookups per second at the median.
//!
//! Run: `cargo bench -p switchboard-benches --bench store_reads` (`-- --quick`
//! for fewer batches). Figures: docs/benchmarks.md.

use std::time::{Duration, Instant};

use switchboard::switchboard_installations::install::InstallationStore;
use switchboard::switchboard_store::sqlite::{SqliteOptions, SqliteStore};
use switchboard::{InstallationId, KeyRing, Store, Switchboard};
use switchboard_microsoft365_sandbox::{Sandbox, SandboxConfig};

const CONCURRENT: usize = 200;

struct Contender {
    name: String,
    store: Store,
    sb: Switchboard,
    id: InstallationId,
    get: Vec<Duration>,
    client: Vec<Duration>,
}

async fn contender(
    sandbox: &switchboard_microsoft365_sandbox::SandboxHandle,
    dir: &std::path::Path,
    readers: usize,
) -> Result<Contender, Box<dyn std::error::Error>> {
    let options = SqliteOptions::default().with_readers(readers);
    let path = dir.join(format!("readers-{readers}.db"));
    let store =
        Store::Sqlite(SqliteStore::open_with(path, KeyRing::generate("k1")?, options).await?);
    let sb = Switchboard::builder()
        .store(store.clone())
        .connector(switchboard_microsoft365::connector()?)
        .redirect_uri("http://127.0.0.1/callback")
        .build()?;
    let started = sb
        .install(sandbox.install_request("acct-bench", "application"))
        .await?;
    let callback = sandbox.consent(started.consent_link()?).await?;
    let installation = sb.complete(&callback).await?;
    let name = if readers == 0 {
        "reads on the writer (before)".to_string()
    } else {
        format!("{readers} read connections (after)")
    };
    Ok(Contender {
        name,
        store,
        sb,
        id: installation.id,
        get: Vec::new(),
        client: Vec::new(),
    })
}

async fn batch_get(c: &Contender) -> Duration {
    let start = Instant::now();
    let calls = (0..CONCURRENT).map(|_| {
        let store = c.store.clone();
        let id = c.id;
        tokio::spawn(async move { store.get(id).await })
    });
    for found in futures::future::join_all(calls).await {
        let found = found.expect("task").expect("get");
        assert_eq!(found.expect("the installation").id, c.id);
    }
    start.elapsed()
}

async fn batch_client(c: &Contender) -> Duration {
    let start = Instant::now();
    let calls = (0..CONCURRENT).map(|_| {
        let sb = c.sb.clone();
        let id = c.id;
        tokio::spawn(async move { sb.installation(id).await.map(|_| ()) })
    });
    for client in futures::future::join_all(calls).await {
        client.expect("task").expect("installation client");
    }
    start.elapsed()
}

fn summary(name: &str, what: &str, times: &mut [Duration]) {
    times.sort();
    let median = times[times.len() / 2];
    let best = times[0];
    let per_second = CONCURRENT as f64 / median.as_secs_f64();
    println!(
        "{what:<26} {name:<30} median {:>8.2} ms  best {:>8.2} ms  {:>9.0} lookups/s",
        median.as_secs_f64() * 1e3,
        best.as_secs_f64() * 1e3,
        per_second
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::args().any(|a| a == "--quick");
    let batches = if quick { 10 } else { 60 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let sandbox = Sandbox::start(SandboxConfig::new(7)).await?;
        let dir = tempfile::tempdir()?;
        let mut contenders = vec![
            contender(&sandbox, dir.path(), 0).await?,
            contender(&sandbox, dir.path(), SqliteOptions::default().readers).await?,
        ];
        // warm up: connections opened, pages cached, blocking threads spawned
        for c in &contenders {
            batch_get(c).await;
            batch_client(c).await;
        }
        for _ in 0..batches {
            for c in &mut contenders {
                let t = batch_get(c).await;
                c.get.push(t);
                let t = batch_client(c).await;
                c.client.push(t);
            }
        }
        println!(
            "{CONCURRENT} concurrent lookups per batch, {batches} batches each, 2 runtime workers"
        );
        for c in &mut contenders {
            summary(&c.name, "store.get(id)", &mut c.get);
        }
        for c in &mut contenders {
            summary(&c.name, "switchboard.installation(id)", &mut c.client);
        }
        Ok(())
    })
}
