//! The request governor against the sandbox, which keeps Microsoft
//! Graph's Outlook limits (4 requests in flight per app and mailbox) and
//! serves every Graph request in a fixed service time (`SERVICE_TIME`).
//!
//! * **Two engine processes on one SQLite store**: this binary runs itself
//!   twice with `--node` (real OS processes); each runs 100 concurrent
//!   tasks that share its half of the requests, `mail.list_messages` on the
//!   shipped Microsoft 365 definitions, 2,000 requests in all. Once on one
//!   mailbox and once spread over 20; once with the governor (the declared
//!   limits, leases in the shared store) and once without (the limits taken
//!   out of the definitions, each 429 retried after its `Retry-After` as
//!   the engine's retry policy says). Reported: the sandbox's count of
//!   `MailboxConcurrency` 429s, calls that failed, and the time from the
//!   common start to the last call's end against the ideal
//!   (`requests × SERVICE_TIME / (4 × mailboxes)`).
//! * **`$batch` against single calls**: 1,000 reads of messages by id
//!   (`mail.get_message`) in one mailbox, as 100 concurrent single calls
//!   and as one `Engine::batch`; reported: the HTTP requests the sandbox
//!   received and the total time.
//!
//! Run: `cargo bench -p switchboard-benches --bench governor`
//! (`-- --quick`: a fifth of the requests; `-- --mailboxes-only`: no
//! `$batch` comparison; `SWITCHBOARD_BENCH_TICK_MS`: the governors'
//! keeper tick). Method and figures:
//! docs/benchmarks.md.

use std::collections::HashSet;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use switchboard_core::engine::BatchCall;
use switchboard_core::governor::Governor;
use switchboard_core::{Arguments, Engine, InstallationContext};
use switchboard_microsoft365_sandbox::{SandboxConfig, SandboxHandle};
use switchboard_store::{KeyRing, Store};
use switchboard_tests::{Limits, context, engine, sandbox_with_token};

/// How long the sandbox takes to serve every Graph request.
const SERVICE_TIME: Duration = Duration::from_millis(50);
/// Outlook's concurrent requests per app and mailbox.
const OUTLOOK_CONCURRENCY: u32 = 4;
const NODES: usize = 2;
const TASKS_PER_NODE: usize = 100;
const REQUESTS: usize = 2_000;
const MAILBOXES: usize = 20;
const READS: usize = 1_000;
/// How long after the children are spawned they start calling (so both
/// have opened the store and neither runs alone at first).
const START_DELAY: Duration = Duration::from_millis(1_500);

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

// ---------------------------------------------------------------- node

/// One engine process: `--node STORE BASE TENANT TOKEN NAME MODE TASKS
/// CALLS START_AT_MS MAILBOX,...`; prints one JSON line.
async fn node(args: &[String]) {
    let [
        store,
        base,
        tenant,
        token,
        name,
        mode,
        tasks,
        calls,
        start_at,
        mailboxes,
    ] = args
    else {
        eprintln!(
            "usage: governor --node STORE BASE TENANT TOKEN NAME MODE TASKS CALLS START_AT_MS MAILBOXES"
        );
        std::process::exit(2);
    };
    let (governor, limits) = if mode == "governed" {
        let ring = KeyRing::parse(&std::env::var("SWITCHBOARD_BENCH_RING").unwrap_or_default())
            .expect("SWITCHBOARD_BENCH_RING");
        let store = Store::open(&format!("sqlite:{store}"), ring)
            .await
            .expect("the shared store");
        let mut governor = Governor::builder()
            .store(Arc::new(store))
            .node(name.as_str());
        // for experiments: the keeper's tick (default 100 ms)
        if let Some(ms) = std::env::var("SWITCHBOARD_BENCH_TICK_MS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            governor = governor.tick(Duration::from_millis(ms));
        }
        let governor = governor.build();
        (governor, Limits::Declared)
    } else {
        (Governor::new(), Limits::Removed)
    };
    let engine = engine(governor, limits);
    let ctx = context(&engine, base, tenant, token);
    let mailboxes: Arc<Vec<String>> = Arc::new(mailboxes.split(',').map(String::from).collect());
    let tasks: usize = tasks.parse().expect("TASKS");
    let calls: usize = calls.parse().expect("CALLS");
    let start_at = UNIX_EPOCH + Duration::from_millis(start_at.parse().expect("START_AT_MS"));
    if let Ok(wait) = start_at.duration_since(SystemTime::now()) {
        tokio::time::sleep(wait).await;
    }
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..tasks)
        .map(|_| {
            let (engine, ctx, next, mailboxes) =
                (engine.clone(), ctx.clone(), next.clone(), mailboxes.clone());
            tokio::spawn(async move {
                let mut failed = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= calls {
                        return failed;
                    }
                    let args = Arguments::new()
                        .set("user_id", mailboxes[i % mailboxes.len()].as_str())
                        .set("top", 1);
                    if let Err(e) = engine.call(&ctx, "mail.list_messages", args).await {
                        failed.push(e.to_string());
                    }
                }
            })
        })
        .collect();
    let mut failed = Vec::new();
    for worker in workers {
        failed.extend(worker.await.expect("a worker"));
    }
    let end = SystemTime::now();
    let kinds: HashSet<&str> = failed.iter().map(String::as_str).collect();
    println!(
        "{}",
        json!({
            "failed": failed.len(),
            "errors": kinds.into_iter().take(3).collect::<Vec<_>>(),
            "end_ms": unix_ms(end),
            "admitted_waited": engine.governor().metrics().iter().map(|m| m.waited).sum::<u64>(),
        })
    );
}

// ---------------------------------------------------------------- runs

struct Run {
    mailboxes: usize,
    governed: bool,
    requests: u64,
    max_in_flight: u32,
    concurrency_429: u64,
    failed: u64,
    total: Duration,
    /// When each process's last call ended, from the common start.
    ends: Vec<Duration>,
    errors: Vec<String>,
}

async fn two_processes(
    sb: &SandboxHandle,
    token: &str,
    mailboxes: &[String],
    requests: usize,
    governed: bool,
) -> Run {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("store.db");
    let ring = KeyRing::generate_entry("bench").expect("a key");
    // the store exists (and is migrated) before the processes open it
    drop(
        Store::open(
            &format!("sqlite:{}", path.display()),
            KeyRing::parse(&ring).expect("the key"),
        )
        .await
        .expect("the store"),
    );
    sb.reset_limit_stats();
    let start_at = SystemTime::now() + START_DELAY;
    let exe = std::env::current_exe().expect("this binary");
    let children: Vec<_> = (0..NODES)
        .map(|n| {
            let share = requests / NODES + usize::from(n < requests % NODES);
            tokio::process::Command::new(&exe)
                .args([
                    "--node",
                    path.to_str().expect("a UTF-8 path"),
                    sb.base_url(),
                    sb.tenant_id(),
                    token,
                    &format!("process-{n}"),
                    if governed { "governed" } else { "free" },
                    &TASKS_PER_NODE.to_string(),
                    &share.to_string(),
                    &unix_ms(start_at).to_string(),
                    &mailboxes.join(","),
                ])
                .env("SWITCHBOARD_BENCH_RING", &ring)
                .stdout(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .expect("a node process")
        })
        .collect();
    let mut failed = 0;
    let mut ends = Vec::new();
    let mut errors = Vec::new();
    for child in children {
        let out = child.wait_with_output().await.expect("a node's output");
        assert!(out.status.success(), "a node failed: {out:?}");
        let report: Value = serde_json::from_slice(&out.stdout).expect("a node's report");
        failed += report["failed"].as_u64().unwrap_or(0);
        let end = report["end_ms"].as_u64().unwrap_or(0);
        ends.push(Duration::from_millis(end.saturating_sub(unix_ms(start_at))));
        for e in report["errors"].as_array().into_iter().flatten() {
            errors.push(e.as_str().unwrap_or_default().to_string());
        }
    }
    let stats = sb.limit_stats();
    let seen: Vec<_> = mailboxes
        .iter()
        .filter_map(|m| stats.mailbox(&app(sb), m))
        .collect();
    let requests_seen = seen.iter().map(|m| m.requests + m.throttled.total()).sum();
    let max_in_flight = seen.iter().map(|m| m.max_in_flight).max().unwrap_or(0);
    Run {
        mailboxes: mailboxes.len(),
        governed,
        requests: requests_seen,
        max_in_flight,
        concurrency_429: stats.throttled.concurrency,
        failed,
        total: ends.iter().copied().max().unwrap_or_default(),
        ends,
        errors,
    }
}

fn app(sb: &SandboxHandle) -> String {
    sb.client().client_id.to_ascii_lowercase()
}

fn print_run(run: &Run, calls: usize) {
    let slots = OUTLOOK_CONCURRENCY as usize * run.mailboxes;
    let ideal = SERVICE_TIME * u32::try_from(calls.div_ceil(slots)).unwrap_or(u32::MAX);
    println!(
        "| {} | {} | {} | {} | {} | {} | {:.2} s | {:.2} s | {:.1}% |",
        run.mailboxes,
        if run.governed { "governor" } else { "none" },
        run.requests,
        run.max_in_flight,
        run.concurrency_429,
        run.failed,
        run.total.as_secs_f64(),
        ideal.as_secs_f64(),
        (run.total.as_secs_f64() / ideal.as_secs_f64() - 1.0) * 100.0,
    );
    let ends: Vec<String> = run
        .ends
        .iter()
        .map(|e| format!("{:.2} s", e.as_secs_f64()))
        .collect();
    println!("|   | process ends: {} |", ends.join(", "));
    for e in run.errors.iter().take(1) {
        println!("|   | e.g. {e} |");
    }
}

/// 1,000 reads by id of one mailbox's messages: single calls against
/// `$batch`; returns (HTTP requests the sandbox saw, items it served, time).
async fn reads(
    engine: &Engine,
    ctx: &InstallationContext,
    sb: &SandboxHandle,
    user: &str,
    ids: &[String],
    batched: bool,
) -> (usize, usize, Duration, usize) {
    let before = sb.request_log().len();
    let (user, ids): (Arc<str>, Arc<[String]>) = (Arc::from(user), Arc::from(ids));
    let call = move |i: usize| {
        Arguments::new()
            .set("user_id", &*user)
            .set("message_id", ids[i % ids.len()].as_str())
    };
    let started = Instant::now();
    let failed = if batched {
        let calls = (0..READS)
            .map(|i| BatchCall::new("mail.get_message", call(i)))
            .collect();
        let results = engine.batch(ctx, calls).await.expect("the batch");
        results.iter().filter(|r| r.is_err()).count()
    } else {
        let next = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..TASKS_PER_NODE)
            .map(|_| {
                let (engine, ctx, next) = (engine.clone(), ctx.clone(), next.clone());
                let call = call.clone();
                tokio::spawn(async move {
                    let mut failed = 0;
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= READS {
                            return failed;
                        }
                        if engine
                            .call(&ctx, "mail.get_message", call(i))
                            .await
                            .is_err()
                        {
                            failed += 1;
                        }
                    }
                })
            })
            .collect();
        let mut failed = 0;
        for w in workers {
            failed += w.await.expect("a worker");
        }
        failed
    };
    let took = started.elapsed();
    let log = sb.request_log();
    let new = &log[before..];
    let http = if batched {
        new.iter().filter(|r| r.path == "/$batch").count()
    } else {
        new.len()
    };
    let items = new.iter().filter(|r| r.path != "/$batch").count();
    (http, items, took, failed)
}

async fn message_ids(engine: &Engine, ctx: &InstallationContext, user: &str) -> Vec<String> {
    let page = engine
        .call(
            ctx,
            "mail.list_messages",
            Arguments::new()
                .set("user_id", user)
                .set("top", 1000)
                .set("select", json!(["id"])),
        )
        .await
        .expect("the mailbox's messages");
    page.json()
        .and_then(|v| v["value"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m["id"].as_str().map(String::from))
        .collect()
}

async fn bench(quick: bool, only_mailboxes: bool) {
    let requests = if quick { REQUESTS / 5 } else { REQUESTS };
    let config = SandboxConfig::new(17)
        .with_latency(SERVICE_TIME)
        .with_extra_users(MAILBOXES);
    let (sb, token) = sandbox_with_token(config).await;
    let users = sb.users();
    let mailboxes: Vec<String> = users[users.len() - MAILBOXES..]
        .iter()
        .map(|u| u.id.clone())
        .collect();
    println!(
        "sandbox service time {} ms, Outlook limit {OUTLOOK_CONCURRENCY} in flight per mailbox; \
         {NODES} processes x {TASKS_PER_NODE} tasks, {requests} mail.list_messages calls",
        SERVICE_TIME.as_millis()
    );
    println!();
    println!(
        "| mailboxes | limits kept by | requests the sandbox saw | most in flight per mailbox | MailboxConcurrency 429s | calls failed | total | ideal | over ideal |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for count in [1, MAILBOXES] {
        for governed in [true, false] {
            let run = two_processes(&sb, &token, &mailboxes[..count], requests, governed).await;
            print_run(&run, requests);
        }
    }

    if only_mailboxes {
        sb.shutdown().await;
        return;
    }
    let reads_engine = engine(Governor::new(), Limits::Declared);
    let ctx = context(&reads_engine, sb.base_url(), sb.tenant_id(), &token);
    let user = &mailboxes[0];
    let ids = message_ids(&reads_engine, &ctx, user).await;
    assert!(!ids.is_empty(), "the mailbox has messages");
    println!();
    println!(
        "{READS} reads by id of the mailbox's {} messages (mail.get_message), governor on",
        ids.len()
    );
    println!();
    println!("| how | HTTP requests sent | requests served (items) | calls failed | total |");
    println!("|---|---|---|---|---|");
    for batched in [false, true] {
        sb.reset_limit_stats();
        let (http, items, took, failed) =
            reads(&reads_engine, &ctx, &sb, user, &ids, batched).await;
        println!(
            "| {} | {http} | {items} | {failed} | {:.2} s |",
            if batched {
                "`$batch` (20 per batch)"
            } else {
                "single calls, 100 tasks"
            },
            took.as_secs_f64()
        );
        assert_eq!(sb.limit_stats().throttled.total(), 0);
    }
    sb.shutdown().await;
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    if args.get(1).map(String::as_str) == Some("--node") {
        runtime.block_on(node(&args[2..]));
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let only_mailboxes = args.iter().any(|a| a == "--mailboxes-only");
    runtime.block_on(bench(quick, only_mailboxes));
}
