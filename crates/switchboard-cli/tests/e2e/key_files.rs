//! Issue 11's key-file rows replayed through the binary: a missing key
//! file for a store with secrets, a key file others can read, rotations
//! racing in several processes, a rotation killed mid-way, and TLS
//! refusals for PostgreSQL.

use std::path::Path;
use std::process::Stdio;
use switchboard_core::InstallationId;

use switchboard_installations::install::{Installation, InstallationSecrets, InstallationStore};
use switchboard_store::{MasterKeys, OpenOptions, Store};

use crate::harness::Cli;

/// Installations with secrets in the CLI's store, written through the
/// library with the CLI's key file.
async fn seed(cli: &Cli, count: usize) -> Vec<InstallationId> {
    let store = open(cli).await;
    let mut ids = Vec::new();
    for i in 0..count {
        let inst = store
            .create(
                Installation::new(format!("acct-{i}"), "microsoft365", "1.0.0", "application"),
                InstallationSecrets::default()
                    .with_client_secret(format!("cs-{i}"))
                    .with_refresh_token(format!("rt-{i}")),
            )
            .await
            .unwrap();
        ids.push(inst.id);
    }
    ids
}

async fn open(cli: &Cli) -> Store {
    Store::open_with(
        &cli.store_spec(),
        MasterKeys::File(cli.key_file()),
        OpenOptions::default(),
    )
    .await
    .unwrap()
    .store
}

/// Every seeded installation's secrets read back.
async fn assert_readable(cli: &Cli, ids: &[InstallationId]) {
    let store = open(cli).await;
    for id in ids {
        let secrets = store.load_secrets(*id).await.unwrap().unwrap().value;
        assert!(secrets.client_secret.is_some() && secrets.refresh_token.is_some());
    }
}

fn key_ids(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split(':').next().unwrap().to_string())
        .collect()
}

fn assert_unique(ids: &[String]) {
    let mut sorted = ids.to_vec();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len(), "duplicate key ids: {ids:?}");
}

#[tokio::test]
async fn a_missing_key_file_is_refused_for_a_store_with_secrets() {
    let cli = Cli::new();
    let ids = seed(&cli, 1).await;
    let key_file = cli.key_file();
    let backup = std::fs::read(&key_file).unwrap();
    std::fs::remove_file(&key_file).unwrap();
    for args in [
        vec!["installations", "--account", "acct-0"],
        vec!["keys", "rotate"],
    ] {
        let run = cli.run(&args).await;
        assert_eq!(run.code(), 1, "{run}");
        let err = run.stderr();
        assert!(
            err.contains(&format!(
                "the key file {} does not exist",
                key_file.display()
            )),
            "{run}"
        );
        assert!(err.contains("master key(s) `k1`"), "{run}");
        assert!(err.contains("Restore"), "{run}");
        assert!(err.contains("SWITCHBOARD_MASTER_KEYS"), "{run}");
        assert!(!key_file.exists(), "no key file was created: {run}");
    }
    // a key file that lacks the store's key is refused the same way
    std::fs::write(
        &key_file,
        "k2:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
    )
    .unwrap();
    set_mode(&key_file, 0o600);
    let run = cli.run(&["installations", "--account", "acct-0"]).await;
    assert_eq!(run.code(), 1, "{run}");
    assert!(run.stderr().contains("`k1`, which the key file"), "{run}");
    // restored from the backup: it works again
    std::fs::write(&key_file, backup).unwrap();
    cli.ok(&["installations", "--account", "acct-0"]).await;
    assert_readable(&cli, &ids).await;
}

fn set_mode(path: &Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let _ = (path, mode);
}

#[cfg(unix)]
#[tokio::test]
async fn a_key_file_others_can_read_is_refused_unless_allowed() {
    let cli = Cli::new();
    seed(&cli, 1).await;
    let key_file = cli.key_file();
    set_mode(&key_file, 0o644);
    let run = cli.run(&["installations", "--account", "acct-0"]).await;
    assert_eq!(run.code(), 1, "{run}");
    assert!(run.stderr().contains("has mode 0644"), "{run}");
    assert!(
        run.stderr()
            .contains(&format!("chmod 600 {}", key_file.display())),
        "{run}"
    );
    assert!(
        run.stderr()
            .contains("SWITCHBOARD_ALLOW_READABLE_KEY_FILE=1"),
        "{run}"
    );
    let allowed = Cli::new().env("SWITCHBOARD_ALLOW_READABLE_KEY_FILE", "1");
    let mut cmd = allowed.command(&["installations", "--account", "acct-0"]);
    cmd.env("SWITCHBOARD_STORE", cli.store_spec());
    let out = cmd.output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("warning: the key file"), "{stderr}");
    assert!(stderr.contains("mode 0644"), "{stderr}");
    // a bad value of the variable names it
    let bad = Cli::new().env("SWITCHBOARD_ALLOW_READABLE_KEY_FILE", "yes");
    let run = bad.run(&["installations"]).await;
    assert_eq!(run.code(), 1, "{run}");
    assert!(
        run.stderr().contains("SWITCHBOARD_ALLOW_READABLE_KEY_FILE"),
        "{run}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotations_in_four_processes_at_once_keep_every_key_unique() {
    let cli = Cli::new();
    let ids = seed(&cli, 5).await;
    let rounds = 20;
    for round in 0..rounds {
        let children: Vec<_> = (0..4)
            .map(|_| {
                cli.command(&["keys", "rotate", "--output", "json"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().await.unwrap();
            assert!(
                out.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert_unique(&key_ids(&cli.key_file()));
    }
    let ids_in_file = key_ids(&cli.key_file());
    assert_eq!(ids_in_file.len(), 1 + 4 * rounds, "{ids_in_file:?}");
    assert_readable(&cli, &ids).await;
    let last = cli.json(&["keys", "rotate"]).await;
    assert_eq!(last["rewritten"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_killed_mid_way_leaves_a_usable_store() {
    let cli = Cli::new();
    let ids = seed(&cli, 40).await;
    for attempt in 0..12u64 {
        let mut child = cli
            .command(&["keys", "rotate"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // kill -9 at a different point of each rotation
        tokio::time::sleep(std::time::Duration::from_millis(5 + attempt * 7)).await;
        let pid = child.id().map(|p| p.to_string());
        if let Some(pid) = pid {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid])
                .status();
        }
        let _ = child.wait().await;
        assert_unique(&key_ids(&cli.key_file()));
        assert_readable(&cli, &ids).await;
    }
    // and a rotation afterwards completes and rewrites everything
    let report = cli.json(&["keys", "rotate"]).await;
    assert_eq!(report["failed"].as_array().unwrap().len(), 0, "{report}");
    assert_eq!(
        report["rewritten"].as_u64().unwrap() + report["already_current"].as_u64().unwrap(),
        40
    );
    assert_readable(&cli, &ids).await;
    let leftovers: Vec<String> = std::fs::read_dir(cli.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn postgres_tls_refusals_name_the_cause() {
    // Named postgres_tls_*: scripts/test.sh runs it only with the TLS URL
    // and reports it skipped otherwise; on its own it fails without it.
    let Ok(url) = std::env::var("SWITCHBOARD_TEST_DATABASE_TLS_URL") else {
        panic!(
            "SWITCHBOARD_TEST_DATABASE_TLS_URL is not set: this test needs PostgreSQL with TLS \
             (eval \"$(bash scripts/postgres-ci.sh)\" starts one and sets it)"
        );
    };
    let cli = Cli::new().env(
        "SWITCHBOARD_MASTER_KEYS",
        &switchboard_store::KeyRing::generate_entry("k1").unwrap(),
    );
    let by_ip = url.replace("@localhost:", "@127.0.0.1:");
    let run = cli
        .run(&["installations", "--store", &by_ip, "--account", "nobody"])
        .await;
    assert_eq!(run.code(), 1, "{run}");
    assert!(
        run.stderr().contains("not valid for the host `127.0.0.1`"),
        "{run}"
    );
    let bad_mode = url.replace("sslmode=verify-full", "sslmode=verify_full");
    let run = cli
        .run(&["installations", "--store", &bad_mode, "--account", "nobody"])
        .await;
    assert_eq!(run.code(), 1, "{run}");
    assert!(
        run.stderr()
            .contains("`sslmode`: `verify_full` is not supported: use disable, prefer, require, verify-ca or verify-full"),
        "{run}"
    );
}
