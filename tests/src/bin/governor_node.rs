//! One engine process for the governor's several-process tests: opens the
//! SQLite store, runs `CALLS` concurrent `mail.list_messages` calls on one
//! mailbox through a governor sharing that store, and prints a JSON line:
//! `{"ok": N, "errors": ["..."], "elapsed_ms": T}`.
//!
//! Usage: `governor-node STORE BASE_URL TENANT TOKEN NODE LEASE_TTL_MS CALLS USER_ID`
//! (the token comes from the test; it is a sandbox's, valid for no real service).

use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_core::Arguments;
use switchboard_core::governor::Governor;
use switchboard_store::{KeyRing, Store};
use switchboard_tests::{Limits, context, engine};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [store, base_url, tenant, token, node, ttl_ms, calls, user_id] = args.as_slice() else {
        eprintln!(
            "usage: governor-node STORE BASE_URL TENANT TOKEN NODE LEASE_TTL_MS CALLS USER_ID"
        );
        std::process::exit(2);
    };
    let ring = KeyRing::parse(&std::env::var("SWITCHBOARD_TEST_RING").unwrap_or_default())
        .unwrap_or_else(|e| {
            eprintln!("SWITCHBOARD_TEST_RING: {e}");
            std::process::exit(2)
        });
    let store = Store::open(&format!("sqlite:{store}"), ring)
        .await
        .unwrap_or_else(|e| {
            eprintln!("store: {e}");
            std::process::exit(1)
        });
    let governor = Governor::builder()
        .store(Arc::new(store))
        .node(node.as_str())
        .lease_ttl(Duration::from_millis(ttl_ms.parse().unwrap_or(10_000)))
        .build();
    let engine = engine(governor, Limits::Declared);
    let ctx = context(&engine, base_url, tenant, token);
    let calls: usize = calls.parse().unwrap_or(0);
    let started = Instant::now();
    let results = futures::future::join_all((0..calls).map(|_| {
        let engine = engine.clone();
        let ctx = ctx.clone();
        let args = Arguments::new()
            .set("user_id", user_id.as_str())
            .set("top", 1);
        async move { engine.call(&ctx, "mail.list_messages", args).await }
    }))
    .await;
    let errors: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().err().map(ToString::to_string))
        .collect();
    println!(
        "{}",
        serde_json::json!({
            "ok": results.len() - errors.len(),
            "errors": errors,
            "elapsed_ms": started.elapsed().as_millis() as u64,
        })
    );
}
