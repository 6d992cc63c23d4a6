//! `switchboard sandbox --state FILE`: installations made against the
//! sandbox keep working after it is killed and started again (the
//! delegated one refreshing with the refresh token issued before), and
//! `--reset` forgets them. A damaged state file is refused with its name
//! and the way out; without `--state` the file is in the data directory.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Cli, SandboxChild};

/// Waits until the state file holds `needle`: the sandbox saves half a
/// second after a change, by itself.
async fn saved(path: &Path, needle: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if std::fs::read_to_string(path).is_ok_and(|t| t.contains(needle)) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the state file never held {needle}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The refresh tokens the sandbox's state file holds that were not yet
/// redeemed.
fn unredeemed_refresh_tokens(path: &Path) -> Vec<String> {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["state"]["identity"]["refresh"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, grant)| grant["rotated"] == false)
        .map(|(token, _)| token.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installations_survive_a_killed_sandbox_and_reset_forgets_them() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("sandbox-state.json");
    let state_arg = state.to_str().unwrap();
    // access tokens live a minute, less than the CLI's refresh margin:
    // every call refreshes, so the delegated installation must redeem its
    // refresh token after the restart
    let args = ["--state", state_arg, "--token-lifetime", "60"];
    let sandbox = SandboxChild::spawn(&args).await;
    assert_eq!(sandbox.value("state"), "new");
    assert_eq!(sandbox.value("state_file"), state.display().to_string());
    let target = sandbox.target();
    let cli = Cli::new();
    let app = cli.install_application(&target, &[]).await;
    let delegated = cli.install_delegated(&target, &[], None).await;
    let me = cli.json(&["call", &delegated, "users.get_user"]).await;
    let users = cli
        .json(&["call", &app, "users.list_users", "--param", "top=3"])
        .await;
    assert_eq!(users.as_array().unwrap().len(), 3);
    // data: a file uploaded by the delegated installation to its root folder
    let welcome = cli
        .json(&[
            "call",
            &delegated,
            "onedrive.get_item_by_path",
            "--param",
            "item_path=welcome.txt",
        ])
        .await;
    let root = welcome["parentReference"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let upload = cli.dir().join("notes.txt");
    std::fs::write(&upload, "written before the restart").unwrap();
    let item = cli
        .json(&[
            "call",
            &delegated,
            "onedrive.upload_small",
            "--param",
            &format!("parent_id={root}"),
            "--param",
            "file_path=restart-notes.txt",
            "--file",
            upload.to_str().unwrap(),
        ])
        .await;
    let item_id = item["id"].as_str().unwrap().to_string();
    saved(&state, "restart-notes.txt").await;
    let current = unredeemed_refresh_tokens(&state);
    assert_eq!(
        current.len(),
        1,
        "the delegated installation's refresh token"
    );

    // killed: no chance to save at exit
    assert_eq!(sandbox.signal("KILL").await, -1);
    let sandbox = SandboxChild::spawn(&args).await;
    assert!(
        sandbox.value("state").starts_with("restored"),
        "{:?}",
        sandbox.lines
    );
    assert_eq!(sandbox.base_url(), target.base_url, "the same port again");
    assert_eq!(sandbox.target().client_secret, target.client_secret);

    let again = cli.json(&["call", &delegated, "users.get_user"]).await;
    assert_eq!(again["id"], me["id"]);
    let report = cli.json(&["test", &app]).await;
    assert_eq!(report["ok"], true, "{report}");
    let saved_to = cli.dir().join("downloaded.txt");
    cli.ok(&[
        "call",
        &delegated,
        "onedrive.download",
        "--param",
        &format!("item_id={item_id}"),
        "--out",
        saved_to.to_str().unwrap(),
    ])
    .await;
    assert_eq!(
        std::fs::read_to_string(&saved_to).unwrap(),
        "written before the restart"
    );
    // SIGTERM stops it cleanly, saving the state
    assert_eq!(sandbox.signal("TERM").await, 0);
    let now = unredeemed_refresh_tokens(&state);
    assert_eq!(now.len(), 1, "{now:?}");
    assert_ne!(
        now, current,
        "the refresh token issued before the restart was redeemed after it"
    );

    // --reset: the seed's tenant again (same port, same app), nothing granted
    let port = target.base_url.rsplit(':').next().unwrap().to_string();
    let reset_args = ["--state", state_arg, "--reset", "--port", &port];
    let sandbox = SandboxChild::spawn(&reset_args).await;
    assert_eq!(sandbox.value("state"), "new");
    let forgotten = cli.run(&["call", &delegated, "users.get_user"]).await;
    assert_eq!(forgotten.code(), 3, "{forgotten}");
    assert!(forgotten.stderr().contains("invalid_grant"), "{forgotten}");
    let listed = cli.json(&["installations"]).await;
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == delegated.as_str())
        .unwrap();
    assert_eq!(row["status"], "needs_reauth");
    let app_call = cli.run(&["call", &app, "users.list_users"]).await;
    assert_ne!(app_call.code(), 0, "{app_call}");
    assert!(app_call.stderr().contains("AADSTS700016"), "{app_call}");
    assert_eq!(sandbox.interrupt().await, 0);
}

#[tokio::test]
async fn a_damaged_state_file_is_refused_by_name_and_reset_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    std::fs::write(
        &state,
        "{\"format\": \"switchboard-microsoft365-sandbox-state\"",
    )
    .unwrap();
    let cli = Cli::new();
    let run = cli
        .run(&["sandbox", "--state", state.to_str().unwrap()])
        .await;
    assert_eq!(run.code(), 1, "{run}");
    assert!(run.stderr().contains(&state.display().to_string()), "{run}");
    assert!(run.stderr().contains("--reset"), "{run}");
    std::fs::write(
        &state,
        r#"{"format": "switchboard-microsoft365-sandbox-state", "version": 2}"#,
    )
    .unwrap();
    let run = cli
        .run(&["sandbox", "--state", state.to_str().unwrap()])
        .await;
    assert_eq!(run.code(), 1, "{run}");
    assert!(run.stderr().contains("format version 2"), "{run}");

    let sandbox = SandboxChild::spawn(&["--state", state.to_str().unwrap(), "--reset"]).await;
    assert_eq!(sandbox.value("state"), "new");
    // a second sandbox cannot use the same file
    let second = cli
        .run(&["sandbox", "--state", state.to_str().unwrap(), "--port", "0"])
        .await;
    assert_eq!(second.code(), 1, "{second}");
    assert!(second.stderr().contains("another sandbox"), "{second}");
    assert_eq!(sandbox.interrupt().await, 0);
}

#[tokio::test]
async fn without_state_the_file_is_in_the_data_directory_and_no_state_keeps_none() {
    let sandbox = SandboxChild::spawn(&[]).await;
    let expected = sandbox
        .data_home
        .path()
        .join("switchboard")
        .join("sandbox-state.json");
    assert_eq!(sandbox.value("state_file"), expected.display().to_string());
    assert!(expected.exists());
    assert_eq!(sandbox.interrupt().await, 0);

    let sandbox = SandboxChild::spawn(&["--no-state"]).await;
    assert!(sandbox.value("state").starts_with("in memory"));
    let nothing: Vec<_> = std::fs::read_dir(sandbox.data_home.path())
        .unwrap()
        .collect();
    assert!(nothing.is_empty(), "--no-state writes nothing: {nothing:?}");
    assert_eq!(sandbox.interrupt().await, 0);
}
