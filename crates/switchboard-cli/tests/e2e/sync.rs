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
