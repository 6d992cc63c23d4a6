//! The store's key file: created on first use with mode 0600 and announced
//! on stderr; `keys rotate` adds a key and re-encrypts under it.

use crate::harness::Cli;

#[tokio::test]
async fn first_use_creates_the_key_file_and_rotate_adds_keys() {
    let cli = Cli::new();
    let run = cli.ok(&["keys", "rotate", "--output", "json"]).await;
    let key_file = cli.key_file();
    assert!(
        run.stderr().contains(&format!(
            "created the master key file {}",
            key_file.display()
        )),
        "{run}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let first = run.json();
    assert_eq!(first["newest_key"], "k1");
    assert_eq!(first["added_key"], serde_json::Value::Null);

    let second = cli.json(&["keys", "rotate"]).await;
    assert_eq!(second["newest_key"], "k2");
    assert_eq!(second["added_key"], "k2");
    let text = std::fs::read_to_string(&key_file).unwrap();
    assert!(text.lines().any(|l| l.starts_with("k1:")));
    assert!(text.lines().any(|l| l.starts_with("k2:")));
}

#[tokio::test]
async fn generate_prints_an_entry_for_the_environment_variable() {
    let cli = Cli::new();
    let run = cli.ok(&["keys", "generate", "--id", "k7"]).await;
    let entry = run.stdout().trim().to_string();
    assert!(entry.starts_with("k7:"), "{run}");

    // with SWITCHBOARD_MASTER_KEYS set no key file is written
    let cli = Cli::new().env("SWITCHBOARD_MASTER_KEYS", &entry);
    let mut cmd = cli.command(&["keys", "rotate", "--output", "json"]);
    cmd.env("SWITCHBOARD_MASTER_KEYS", &entry);
    let out = cmd.output().await.unwrap();
    assert!(out.status.success(), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["newest_key"], "k7");
    assert_eq!(report["key_source"], "SWITCHBOARD_MASTER_KEYS");
    assert!(!cli.key_file().exists());

    let bad = Cli::new()
        .run(&["keys", "generate", "--id", "no spaces"])
        .await;
    assert_eq!(bad.code(), 1, "{bad}");
}
