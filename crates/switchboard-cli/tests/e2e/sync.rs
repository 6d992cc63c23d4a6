//! `switchboard sync`: changes since the last run through the binary, with
//! the checkpoint kept in the store between runs.

use std::time::Duration;

use switchboard_microsoft365_sandbox::SandboxConfig;

use crate::harness::Env;

#[tokio::test]
async fn sync_prints_everything_then_only_changes_and_resets_on_an_expired_token() {
    let env = Env::start(
        SandboxConfig::new(90).with_delta_token_max_age(Some(Duration::from_secs(3600))),
    )
    .await;
    let id = env.install_application(&[]).await;
    let sync = |extra: &'static [&'static str]| {
        let mut args = vec!["sync", id.as_str(), "users.delta", "--output", "ndjson"];
        args.extend_from_slice(extra);
        args
    };
    let first = env
        .cli
        .ok(&sync(&["--param", "prefer_max_page_size=3"]))
        .await
        .ndjson();
    let users = env.sandbox.users().len();
    assert_eq!(first.len(), users, "every user once: {first:?}");
    assert!(first.iter().all(|c| c["change"] == "upsert"));

    // nothing changed: nothing printed, one request
    let before = env.sandbox.request_log().len();
    let none = env
        .cli
        .ok(&sync(&["--param", "prefer_max_page_size=3"]))
        .await
        .ndjson();
    assert!(none.is_empty(), "{none:?}");
    assert_eq!(env.sandbox.request_log().len() - before, 1);

    // a rename and a removal: exactly those
    let renamed = env.sandbox.users()[1].id.clone();
    let removed = env.sandbox.users()[2].id.clone();
    env.sandbox.rename_user(&renamed, "Renamed Person").unwrap();
    env.sandbox.remove_user(&removed).unwrap();
    let changes = env
        .cli
        .ok(&sync(&["--param", "prefer_max_page_size=3"]))
        .await
        .ndjson();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(
        changes
            .iter()
            .any(|c| c["change"] == "upsert" && c["record"]["id"] == renamed.as_str())
    );
    assert!(
        changes
            .iter()
            .any(|c| c["change"] == "delete" && c["id"] == removed.as_str())
    );

    // the delta token expires: reset first, then the full set
    env.sandbox
        .advance_clock(Duration::from_secs(7200))
        .unwrap();
    let again = env
        .cli
        .ok(&sync(&["--param", "prefer_max_page_size=3"]))
        .await
        .ndjson();
    assert_eq!(again[0]["change"], "reset", "{again:?}");
    let upserted: Vec<_> = again.iter().filter(|c| c["change"] == "upsert").collect();
    assert_eq!(upserted.len(), users - 1, "{again:?}");
    // a full round has only what exists: no removal from before it
    assert_eq!(again.len(), 1 + upserted.len(), "{again:?}");
    assert!(
        upserted
            .iter()
            .all(|c| c["record"]["id"] != removed.as_str())
    );

    // not a delta method: refused, nothing sent
    let before = env.sandbox.request_log().len();
    let run = env.cli.run(&["sync", &id, "users.list_users"]).await;
    assert_eq!(run.code(), 1, "{run}");
    assert!(run.stderr().contains("not a delta method"), "{run}");
    assert_eq!(env.sandbox.request_log().len(), before);
    env.sandbox.shutdown().await;
}

/// Issue 16's crash case through the binary: a `sync` killed mid-way (after
/// its first page was printed and acknowledged) and run again loses nothing
/// and prints at most one page twice.
#[tokio::test]
async fn a_sync_killed_mid_way_resumes_losing_nothing_and_repeating_at_most_one_page() {
    use std::collections::BTreeSet;
    use std::process::Stdio;
    use tokio::io::{AsyncBufReadExt, BufReader};

    const PAGE: usize = 3;
    // each request takes 300 ms, so the process is still walking when killed
    let env = Env::start(SandboxConfig::new(91).with_latency(Duration::from_millis(300))).await;
    let id = env.install_application(&[]).await;
    let args = [
        "sync",
        id.as_str(),
        "users.delta",
        "--output",
        "ndjson",
        "--param",
        "prefer_max_page_size=3",
    ];
    let ids_of = |changes: &[serde_json::Value]| -> Vec<String> {
        changes
            .iter()
            .map(|c| c["record"]["id"].as_str().unwrap().to_owned())
            .collect()
    };

    // first run, with a 5 s lease: read one record of the second page, then
    // kill the process (it cannot release its lease)
    let first_args: Vec<&str> = args.iter().copied().chain(["--lease-ttl", "5"]).collect();
    let mut child = env
        .cli
        .command(&first_args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut first = Vec::new();
    while first.len() < PAGE + 1 {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("a line within 30 s")
            .unwrap()
            .expect("the sync is still running");
        first.push(serde_json::from_str::<serde_json::Value>(&line).unwrap());
    }
    child.kill().await.unwrap();
    // what the process printed before it died was delivered too, read or
    // not: under load it may have printed (and acknowledged) the rest of the
    // second page before the kill landed
    while let Some(line) = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the pipe closes once the process is dead")
        .unwrap()
    {
        first.push(serde_json::from_str::<serde_json::Value>(&line).unwrap());
    }
    let first = ids_of(&first);

    // while the dead process's lease lasts, another run is refused
    let refused = env.cli.run(&args).await;
    assert_eq!(refused.code(), 2, "{}", refused.stderr());
    assert!(
        refused.stderr().contains("another node is syncing"),
        "{}",
        refused.stderr()
    );
    // second run once the lease has run out, to the end
    tokio::time::sleep(Duration::from_millis(5500)).await;
    let second = ids_of(&env.cli.ok(&args).await.ndjson());
    let users: BTreeSet<String> = env.sandbox.users().iter().map(|u| u.id.clone()).collect();
    let seen: BTreeSet<String> = first.iter().chain(&second).cloned().collect();
    assert_eq!(seen, users, "nothing lost across the kill");
    let repeated = second.iter().filter(|id| first.contains(id)).count();
    assert!(
        repeated <= PAGE,
        "at most one page printed twice, got {repeated}: {first:?} then {second:?}"
    );
    assert!(
        second.len() <= users.len() - PAGE,
        "the second run resumed after the acknowledged first page: {second:?}"
    );
}
