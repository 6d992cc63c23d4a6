//! Install flows end to end through the binary: application (admin consent
//! link, `complete --callback`) and delegated (`--listen` on a loopback
//! redirect URI), then `test`, `installations`, `call` and `uninstall`.

use serde_json::Value;
use switchboard_microsoft365_sandbox::SandboxConfig;

use crate::harness::Env;

#[tokio::test]
async fn application_install_complete_test_call_uninstall() {
    let env = Env::start(SandboxConfig::new(11)).await;
    let cli = &env.cli;
    let id = env.install_application(&[]).await;
    // the key file was created beside the store, mode 0600
    assert!(cli.key_file().exists());

    let report = cli.json(&["test", &id]).await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["method_id"], "users.list_users");

    let listed = cli.json(&["installations"]).await;
    let rows = listed.as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["id"], id.as_str());
    assert_eq!(rows[0]["variant"], "application");
    assert_eq!(rows[0]["cloud"], "custom");
    assert_eq!(rows[0]["status"], "active");

    let users = cli
        .json(&["call", &id, "users.list_users", "--param", "top=5", "--all"])
        .await;
    let expected: Vec<String> = env.sandbox.users().into_iter().map(|u| u.id).collect();
    let got: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, expected, "--all reads every page, in order");
    let log = env.sandbox.request_log();
    let pages = log
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/users")
        .count();
    assert_eq!(pages, expected.len().div_ceil(5) + 1, "{log:?}"); // + the connection test

    // NDJSON: one record a line, every page
    let lines = cli
        .ok(&[
            "call",
            &id,
            "users.list_users",
            "--param",
            "top=5",
            "--all",
            "--output",
            "ndjson",
        ])
        .await
        .ndjson();
    assert_eq!(lines.len(), expected.len());
    assert_eq!(lines[0]["id"], expected[0].as_str());

    // without --all: the first page only, and a hint on stderr
    let first = cli
        .run(&[
            "call",
            &id,
            "users.list_users",
            "--param",
            "top=5",
            "--output",
            "json",
        ])
        .await;
    assert_eq!(first.code(), 0, "{first}");
    assert_eq!(first.json().as_array().unwrap().len(), 5);
    assert!(first.stderr().contains("--all"), "{first}");

    // a table for people
    let table = cli
        .ok(&[
            "call",
            &id,
            "users.get_user",
            "--param",
            &format!("user_id={}", expected[0]),
        ])
        .await;
    assert!(table.stdout().contains("displayName"), "{table}");

    // no secret reaches the terminal or the database file in clear
    let secret = env.sandbox.client().client_secret.expose().to_string();
    let db = std::fs::read(cli.dir().join("store.db")).unwrap();
    assert!(!String::from_utf8_lossy(&db).contains(&secret));
    assert!(!table.stdout().contains(&secret) && !table.stderr().contains(&secret));

    let gone = cli.json(&["uninstall", &id]).await;
    assert_eq!(gone["status"], "uninstalled");
    let after = cli.run(&["call", &id, "users.list_users"]).await;
    assert_ne!(after.code(), 0, "{after}");
    assert!(after.stderr().contains("uninstalled"), "{after}");
    env.sandbox.shutdown().await;
}

#[tokio::test]
async fn delegated_install_listens_on_loopback_and_finishes_by_itself() {
    let env = Env::start(SandboxConfig::new(12)).await;
    let id = env.install_delegated(&[]).await;
    let me = env.cli.json(&["call", &id, "users.get_user"]).await;
    let first = &env.sandbox.users()[0];
    assert_eq!(
        me["id"],
        first.id.as_str(),
        "the sandbox consents as its first user"
    );
    let report = env.cli.json(&["test", &id]).await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["method_id"], "users.get_user");
    // GET /me twice (call + test), nothing else
    let log = env.sandbox.request_log();
    assert_eq!(
        log.iter()
            .map(|r| (r.method.as_str(), r.path.as_str()))
            .collect::<Vec<_>>(),
        [("GET", "/me"), ("GET", "/me")]
    );
    env.sandbox.shutdown().await;
}

#[tokio::test]
async fn complete_with_a_used_link_and_bad_ids_are_clear_errors() {
    let env = Env::start(SandboxConfig::new(13)).await;
    let cli = &env.cli;
    let args = env.install_args("delegated");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = cli.json(&args).await;
    let id = started["installation"]["id"].as_str().unwrap().to_string();
    let callback = crate::harness::follow(started["consent_url"].as_str().unwrap()).await;
    // the redirect URI is the callback URL without its query
    assert!(
        callback.starts_with("http://localhost/callback?"),
        "{callback}"
    );
    let done = cli.json(&["complete", &id, "--callback", &callback]).await;
    assert_eq!(done["status"], "active");

    let again = cli.run(&["complete", &id, "--callback", &callback]).await;
    assert_ne!(again.code(), 0, "{again}");
    assert!(again.stderr().contains("cannot become active"), "{again}");

    let bad = cli.run(&["test", "not-a-uuid"]).await;
    assert_eq!(bad.code(), 1, "{bad}");
    assert!(bad.stderr().contains("installation"), "{bad}");

    let twice = cli.run(&args).await;
    assert_ne!(twice.code(), 0, "{twice}");
    assert!(
        twice.stderr().contains(&id),
        "the error names the existing installation: {twice}"
    );

    let missing_client = cli
        .run(&[
            "install",
            "microsoft365",
            "--variant",
            "delegated",
            "--tenant",
            "contoso.onmicrosoft.com",
        ])
        .await;
    assert_eq!(missing_client.code(), 1, "{missing_client}");
    assert!(
        missing_client.stderr().contains("--client-id"),
        "{missing_client}"
    );
    let _: Value = done;
    env.sandbox.shutdown().await;
}
