//! What a newcomer meets in the first hour, through the binary: printed
//! commands that work as given, "did you mean", messages in flag terms,
//! `reauth --listen`, read-only commands that create nothing, help with
//! examples and only the options that apply, secrets never from argv,
//! retry waits said out loud, one set of cloud names, and readable mail
//! and event previews.

use std::process::Stdio;

use serde_json::Value;
use switchboard_microsoft365_sandbox::SandboxConfig;
use tokio::io::AsyncWriteExt;

use crate::harness::{Cli, Env, SandboxChild, binary};

#[tokio::test]
async fn the_sandbox_banner_prints_a_command_that_works_as_given() {
    // not on the PATH: the banner names the binary by its full path
    let sandbox = SandboxChild::spawn(&["--no-state"]).await;
    let try_line = sandbox.lines.last().unwrap().clone();
    let command = try_line.strip_prefix("try: ").unwrap();
    assert!(
        command.contains(&format!("{} install microsoft365", binary())),
        "{command}"
    );
    assert!(
        !command.contains("--client-secret "),
        "no secret in argv: {command}"
    );
    let cli = Cli::new();
    let out = cli
        .shell(&format!("{command} --output json"))
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{command}: {out:?}");
    let started: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(started["installation"]["status"], "pending_consent");
    assert_eq!(started["installation"]["variant"], "application");
    assert_eq!(sandbox.interrupt().await, 0);

    // on the PATH: the banner says `switchboard`
    let bin_dir = tempfile::tempdir().unwrap();
    let link = bin_dir.path().join("switchboard");
    std::os::unix::fs::symlink(binary(), &link).unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let sandbox = SandboxChild::spawn_with_env(&["--no-state"], &[("PATH", &path)]).await;
    let try_line = sandbox.lines.last().unwrap();
    assert!(
        try_line.contains(" switchboard install microsoft365"),
        "{try_line}"
    );
    assert_eq!(sandbox.interrupt().await, 0);
}

#[tokio::test]
async fn typos_get_a_suggestion_and_messages_name_the_flags_typed() {
    let cli = Cli::new();
    // the connector is checked before anything else is asked for
    let run = cli.run(&["install", "microsoft356"]).await;
    assert_eq!(run.code(), 1, "{run}");
    assert!(
        run.stderr().contains("did you mean `microsoft365`?"),
        "{run}"
    );
    assert!(
        !run.stderr().contains("--variant") && !run.stderr().contains("--client-id"),
        "{run}"
    );
    let typos: [(&[&str], &str); 6] = [
        (
            &["install", "microsoft365", "--variant", "delegatd"],
            "`--variant`: `delegatd` is not a variant of microsoft365; did you mean `delegated`?",
        ),
        (
            &["methods", "microsoft356"],
            "`CONNECTOR`: `microsoft356` is not a connector; did you mean `microsoft365`?",
        ),
        (
            &["methods", "microsoft365", "--category", "mial"],
            "`--category`: `mial` is not a category of microsoft365; did you mean `mail`?",
        ),
        (
            &["methods", "microsoft365", "--variant", "aplication"],
            "did you mean `application`?",
        ),
        (
            &[
                "permissions",
                "microsoft365",
                "--variant",
                "delegated",
                "--method",
                "users.list_user",
            ],
            "`--method`: `users.list_user` is not a method of microsoft365; did you mean `users.list_users`?",
        ),
        (
            &[
                "install",
                "microsoft365",
                "--variant",
                "delegated",
                "--enable",
                "calendar",
            ],
            "`--enable`: `calendar` is neither a category nor a method of microsoft365; did you mean `calendars`?",
        ),
    ];
    for (args, expected) in typos {
        let run = cli.run(args).await;
        assert_eq!(run.code(), 1, "{run}");
        assert!(run.stderr().contains(expected), "{run}");
    }
    let run = cli
        .run(&[
            "install",
            "microsoft365",
            "--variant",
            "application",
            "--tenant",
            "common",
            "--client-id",
            "11111111-2222-3333-4444-555555555555",
        ])
        .await;
    assert_eq!(run.code(), 1, "{run}");
    assert!(run.stderr().contains("`--tenant`"), "{run}");
    assert!(!run.stderr().contains("tenant_id"), "{run}");
    let run = cli
        .run(&[
            "install",
            "microsoft365",
            "--variant",
            "application",
            "--tenant",
            "contoso.onmicrosoft.com",
            "--client-id",
            "11111111-2222-3333-4444-555555555555",
            "--cloud",
            "custom",
        ])
        .await;
    assert!(run.stderr().contains("`--login-url`"), "{run}");
    assert!(!run.stderr().contains("login_url"), "{run}");

    // a method typo on a real installation
    let env = Env::start(SandboxConfig::new(61)).await;
    let id = env.install_application(&[]).await;
    let run = env.cli.run(&["call", &id, "users.list_user"]).await;
    assert_eq!(run.code(), 1, "{run}");
    assert!(
        run.stderr().contains("did you mean `users.list_users`?"),
        "{run}"
    );
    assert!(env.sandbox.request_log().is_empty(), "nothing was sent");

    // a garbled key variable is named
    let garbled = Cli::new().env("SWITCHBOARD_MASTER_KEYS", "garbage");
    let args = env.install_args("application");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = garbled.run(&args).await;
    assert_eq!(run.code(), 1, "{run}");
    assert!(run.stderr().contains("SWITCHBOARD_MASTER_KEYS"), "{run}");
    env.sandbox.shutdown().await;
}

#[tokio::test]
async fn reauth_listen_waits_for_the_browser_and_finishes() {
    let env = Env::start(SandboxConfig::new(62)).await;
    let id = env.install_delegated(&[]).await;
    env.sandbox.expire_refresh_tokens();
    env.sandbox.expire_all_tokens();
    let lost = env.cli.run(&["call", &id, "users.get_user"]).await;
    assert_eq!(lost.code(), 3, "{lost}");
    let listening = env.cli.listen(&["reauth", &id, "--listen"]).await;
    assert_eq!(listening.started["installation"]["id"], id.as_str());
    assert_eq!(
        listening.started["installation"]["status"],
        "pending_consent"
    );
    let (active, stderr) = listening.consent_in_browser(None).await;
    assert_eq!(active, id);
    assert!(stderr.contains("consent completed"), "{stderr}");
    let me = env.cli.json(&["call", &id, "users.get_user"]).await;
    assert_eq!(me["id"], env.sandbox.users()[0].id.as_str());
    env.sandbox.shutdown().await;
}

#[tokio::test]
async fn read_only_commands_create_no_store_directory_or_key_file() {
    let cli = Cli::new();
    let store_dir = cli.dir().join("data");
    let spec = format!("sqlite:{}", store_dir.join("store.db").display());
    let defs = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../connectors/microsoft365/definitions"
    );
    let unknown = "6f1d1c7e-9c7a-4c1e-8d55-0b7e1a2f3c4d";
    // (command, whether it takes --store)
    let commands: Vec<(Vec<&str>, bool)> = vec![
        (vec!["installations"], true),
        (vec!["installations", "--output", "json"], true),
        (vec!["call", unknown, "users.list_users"], true),
        (vec!["test", unknown], true),
        (vec!["disable", unknown], true),
        (vec!["connectors"], false),
        (vec!["methods", "microsoft365"], false),
        (
            vec!["permissions", "microsoft365", "--variant", "delegated"],
            false,
        ),
        (vec!["validate", defs], false),
        (vec!["keys", "generate"], false),
    ];
    for (args, takes_store) in commands {
        if takes_store {
            let mut with_store = args.clone();
            with_store.extend(["--store", &spec]);
            let run = cli.run(&with_store).await;
            assert!(run.code() <= 1, "{run}");
            assert!(
                !store_dir.exists(),
                "{with_store:?} created {}",
                store_dir.display()
            );
        }
        // and nothing in the default store's place either
        let run = cli.run(&args).await;
        assert!(run.code() <= 1, "{run}");
        assert!(!cli.dir().join("store.db").exists(), "{args:?}");
        assert!(!cli.key_file().exists(), "{args:?} created the key file");
        assert!(!cli.dir().join("xdg").exists(), "{args:?}");
    }
    let run = cli.run(&["test", unknown]).await;
    assert_eq!(run.code(), 1, "an unknown id is bad input: {run}");
    let listed = cli.json(&["installations"]).await;
    assert_eq!(listed, serde_json::json!([]));
}

#[tokio::test]
async fn every_help_has_examples_and_lists_only_the_options_that_apply() {
    let cli = Cli::new();
    let commands: &[&[&str]] = &[
        &[],
        &["connectors"],
        &["methods"],
        &["permissions"],
        &["validate"],
        &["sandbox"],
        &["install"],
        &["complete"],
        &["call"],
        &["test"],
        &["installations"],
        &["uninstall"],
        &["reauth"],
        &["disable"],
        &["enable"],
        &["quickstart"],
        &["keys"],
        &["keys", "rotate"],
        &["keys", "generate"],
        &["new"],
        &["new", "connector"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let help = cli.ok(&args).await.stdout();
        assert!(help.contains("Examples:"), "{args:?}:\n{help}");
        let example = format!("switchboard {}", command.join(" "));
        assert!(help.contains(example.trim_end()), "{args:?}:\n{help}");
    }
    let call = cli.ok(&["call", "--help"]).await.stdout();
    let (own, global) = call.split_once("Global options:").expect("a heading");
    assert!(
        global.contains("--store") && global.contains("--max-retries"),
        "{call}"
    );
    assert!(!own.contains("--store"), "{call}");
    let sandbox = cli.ok(&["sandbox", "--help"]).await.stdout();
    for (meaningless, value) in [
        ("--store", "sqlite:x.db"),
        ("--max-retries", "1"),
        ("--retry-backoff-ms", "1"),
        ("--output", "json"),
    ] {
        assert!(
            !sandbox.contains(meaningless),
            "{meaningless} in:\n{sandbox}"
        );
        let run = cli.run(&["sandbox", meaningless, value]).await;
        assert_eq!(run.code(), 1, "{run}");
        assert!(run.stderr().contains("means nothing to `sandbox`"), "{run}");
    }
    let generate = cli.ok(&["keys", "generate", "--help"]).await.stdout();
    assert!(!generate.contains("--store"), "{generate}");
    let rotate = cli.ok(&["keys", "rotate", "--help"]).await.stdout();
    assert!(rotate.contains("--store"), "{rotate}");
}

#[tokio::test]
async fn client_secrets_come_from_a_file_stdin_or_the_environment_never_argv() {
    let env = Env::start(SandboxConfig::new(63)).await;
    let secret = env.target.client_secret.clone();
    let mut args = env.install_args("application");
    let at = args
        .iter()
        .position(|a| a == "--client-secret-file")
        .unwrap();
    args.drain(at..at + 2);

    let mut on_argv = args.clone();
    on_argv.extend(["--client-secret".to_string(), secret.clone()]);
    let on_argv: Vec<&str> = on_argv.iter().map(String::as_str).collect();
    let run = env.cli.run(&on_argv).await;
    assert_eq!(run.code(), 1, "{run}");
    for way in [
        "SWITCHBOARD_CLIENT_SECRET",
        "--client-secret-file",
        "--client-secret-stdin",
    ] {
        assert!(run.stderr().contains(way), "{run}");
    }
    assert!(
        !run.stderr().contains(&secret),
        "the secret is not echoed: {run}"
    );
    assert_eq!(
        env.cli.json(&["installations"]).await,
        serde_json::json!([])
    );

    // standard input
    let mut stdin_args = args.clone();
    stdin_args.extend(["--client-secret-stdin", "--output", "json"].map(String::from));
    let stdin_args: Vec<&str> = stdin_args.iter().map(String::as_str).collect();
    let mut child = env
        .cli
        .command(&stdin_args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{secret}\n").as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success(), "{out:?}");
    let started: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = started["installation"]["id"].as_str().unwrap().to_string();
    let callback = crate::harness::follow(started["consent_url"].as_str().unwrap()).await;
    env.cli
        .json(&["complete", &id, "--callback", &callback])
        .await;
    // the secret read from stdin is the one the token endpoint accepts
    let report = env.cli.json(&["test", &id]).await;
    assert_eq!(report["ok"], true, "{report}");

    // the environment (another account: one installation per account and tenant)
    let with_env = Cli::new().env("SWITCHBOARD_CLIENT_SECRET", &secret);
    let mut env_args = args.clone();
    env_args.extend(["--account", "other"].map(String::from));
    let env_args: Vec<&str> = env_args.iter().map(String::as_str).collect();
    let started = with_env.json(&env_args).await;
    let id = started["installation"]["id"].as_str().unwrap().to_string();
    let callback = crate::harness::follow(started["consent_url"].as_str().unwrap()).await;
    with_env
        .json(&["complete", &id, "--callback", &callback])
        .await;
    assert_eq!(with_env.json(&["test", &id]).await["ok"], true);

    // an empty file is refused by name
    let empty = env.cli.dir().join("empty.txt");
    std::fs::write(&empty, "\n").unwrap();
    let mut empty_args = args.clone();
    empty_args.extend([
        "--client-secret-file".to_string(),
        empty.display().to_string(),
    ]);
    let empty_args: Vec<&str> = empty_args.iter().map(String::as_str).collect();
    let run = Cli::new().run(&empty_args).await;
    assert_eq!(run.code(), 1, "{run}");
    assert!(run.stderr().contains("--client-secret-file"), "{run}");
    env.sandbox.shutdown().await;
}

/// A sandbox that throttles 40 % of Graph requests (seed 64: some of the
/// ones below), an application installation, and the 429s so far.
async fn throttling(retry_after_secs: u64) -> (Env, String, u64) {
    let env = Env::start(
        SandboxConfig::new(64)
            .with_faults(0.4, 0.0)
            .with_retry_after_secs(retry_after_secs),
    )
    .await;
    let id = env.install_application(&[]).await;
    let before = env.sandbox.fault_counts().throttled;
    (env, id, before)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_retry_wait_is_said_with_its_length_and_reason() {
    let (env, id, before) = throttling(0).await;
    let run = env
        .cli
        .ok(&[
            "call",
            &id,
            "users.list_users",
            "--param",
            "top=2",
            "--all",
            "--output",
            "json",
        ])
        .await;
    let throttled = env.sandbox.fault_counts().throttled - before;
    assert!(throttled > 0, "seed 64 throttles some of these requests");
    let stderr = run.stderr();
    let waits: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("waiting "))
        .collect();
    assert_eq!(waits.len() as u64, throttled, "one line per wait: {run}");
    let (length, rest) = waits[0]
        .strip_prefix("waiting ")
        .unwrap()
        .split_once(" for the service: ")
        .unwrap_or_else(|| panic!("{run}"));
    let (number, unit) = length.split_once(' ').unwrap();
    assert!(
        number.parse::<f64>().is_ok() && ["ms", "s"].contains(&unit),
        "{length}"
    );
    assert_eq!(rest, "throttled (HTTP 429); retry 1 of 10", "{run}");
    env.sandbox.shutdown().await;
}

/// On a terminal the wait is the progress line's label. `script` (util-linux,
/// always there on Debian) gives the CLI a pseudo-terminal.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_terminal_the_spinner_says_what_it_waits_for() {
    let (env, id, before) = throttling(1).await;
    let line = format!(
        "{} call {id} users.list_users --param top=5 --all --output json",
        binary()
    );
    let mut command = env.cli.shell("");
    let envs: Vec<_> = command
        .as_std_mut()
        .get_envs()
        .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned())))
        .collect();
    let out = tokio::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .envs(envs)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    assert!(
        env.sandbox.fault_counts().throttled > before,
        "the call was throttled"
    );
    assert!(
        screen.contains(
            "users.list_users: waiting 1 s for the service: throttled (HTTP 429); retry 1 of 10"
        ),
        "{screen}"
    );
    env.sandbox.shutdown().await;
}

#[tokio::test]
async fn one_set_of_cloud_names_with_aliases() {
    let cli = Cli::new();
    let install = |cloud: &'static str, account: &'static str| {
        [
            "install",
            "microsoft365",
            "--variant",
            "delegated",
            "--tenant",
            "contoso.onmicrosoft.us",
            "--client-id",
            "11111111-2222-3333-4444-555555555555",
            "--cloud",
            cloud,
            "--account",
            account,
        ]
    };
    let canonical = cli.json(&install("usgov", "a")).await;
    let alias = cli.json(&install("us_government", "b")).await;
    for started in [&canonical, &alias] {
        assert_eq!(started["installation"]["cloud"], "usgov", "{started}");
        assert!(
            started["consent_url"]
                .as_str()
                .unwrap()
                .starts_with("https://login.microsoftonline.us/"),
            "{started}"
        );
    }
    let dod = cli.json(&install("US_Government_DOD", "c")).await;
    assert_eq!(dod["installation"]["cloud"], "usgov-dod");
    let run = cli.run(&install("usgovv", "d")).await;
    assert_eq!(run.code(), 1, "{run}");
    assert!(run.stderr().contains("`--cloud`"), "{run}");
    assert!(run.stderr().contains("did you mean `usgov`?"), "{run}");
}

#[tokio::test]
async fn previews_are_the_text_of_the_body() {
    let env = Env::start(SandboxConfig::new(65)).await;
    let id = env.install_delegated(&[]).await;
    let events = env
        .cli
        .json(&["call", &id, "calendars.list_events", "--param", "top=20"])
        .await;
    let events = events.as_array().unwrap();
    assert!(!events.is_empty());
    for event in events {
        let preview = event["bodyPreview"].as_str().unwrap();
        assert!(
            !preview.contains('<') && !preview.contains("html"),
            "{event}"
        );
        assert_eq!(preview, event["subject"].as_str().unwrap(), "{event}");
    }
    let draft = env
        .cli
        .json(&[
            "call",
            &id,
            "mail.create_draft",
            "--param",
            "subject=Preview",
            "--param",
            r#"body={"contentType":"html","content":"<html><head><style>p{}</style></head><body><p>One</p><p>Fish &amp; chips<br>at&nbsp;noon</p></body></html>"}"#,
        ])
        .await;
    assert_eq!(
        draft["bodyPreview"], "One\r\n\r\nFish & chips\r\nat\u{a0}noon",
        "{draft}"
    );
    env.sandbox.shutdown().await;
}
