//! `--throttle-rate 0.3 --fail-rate 0.1`: every read still succeeds
//! through retries, and no POST reaches the service twice (a POST is only
//! tried again after an answer that proves it was not applied: 429, or 503
//! with Retry-After).

use switchboard_microsoft365_sandbox::SandboxConfig;

use crate::harness::Env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_succeed_through_faults_and_posts_are_never_repeated() {
    // Retry-After: 0 keeps the test fast; the CLI's retry policy (10
    // retries, 5 ms backoff) comes from SWITCHBOARD_MAX_RETRIES and
    // SWITCHBOARD_RETRY_BACKOFF_MS in the harness.
    let env = Env::start(
        SandboxConfig::new(31)
            .with_faults(0.3, 0.1)
            .with_retry_after_secs(0),
    )
    .await;
    let id = env.install_application(&[]).await;
    let user = env.sandbox.users()[0].id.clone();
    let as_user = format!("user_id={user}");

    let reads: Vec<Vec<&str>> = vec![
        vec!["users.list_users", "--param", "top=2", "--all"],
        vec!["users.get_user", "--param", &as_user],
        vec!["users.list_direct_reports", "--param", &as_user, "--all"],
        vec!["calendars.list_calendars", "--param", &as_user, "--all"],
        vec![
            "calendars.list_events",
            "--param",
            &as_user,
            "--param",
            "top=3",
            "--all",
        ],
        vec!["mail.list_mail_folders", "--param", &as_user, "--all"],
        vec![
            "mail.list_messages",
            "--param",
            &as_user,
            "--param",
            "top=5",
            "--all",
        ],
        vec!["onedrive.list_root_children", "--param", &as_user, "--all"],
        vec!["onedrive.get_drive", "--param", &as_user],
        vec!["users.delta", "--all"],
    ];
    for read in &reads {
        let mut args = vec!["call", id.as_str()];
        args.extend(read.iter().copied());
        args.extend(["--output", "json"]);
        let run = env.cli.run(&args).await;
        assert_eq!(run.code(), 0, "a read failed despite retries: {run}");
    }

    let mut outcomes = Vec::new();
    for i in 0..8 {
        let before = env.sandbox.request_log().len();
        let message = format!(
            r#"message={{"subject":"fault probe {i}","toRecipients":[{{"emailAddress":{{"address":"{}"}}}}]}}"#,
            env.sandbox.users()[1].mail
        );
        let run = env
            .cli
            .run(&[
                "call",
                &id,
                "mail.send_mail",
                "--param",
                &as_user,
                "--param",
                &message,
            ])
            .await;
        let log = env.sandbox.request_log();
        let posts: Vec<u16> = log[before..]
            .iter()
            .filter(|r| r.method == "POST")
            .map(|r| r.status)
            .collect();
        // attempts that may have been applied: a success or an ambiguous 504
        let maybe_applied = posts
            .iter()
            .filter(|s| matches!(s, 200..=299 | 504))
            .count();
        assert!(
            maybe_applied <= 1,
            "a POST was sent again after it may have been applied: {posts:?}"
        );
        // everything before the last attempt was a fault that applied nothing
        for s in &posts[..posts.len() - 1] {
            assert!(matches!(s, 429 | 503), "retried after {s}: {posts:?}");
        }
        match run.code() {
            0 => assert_eq!(posts.last(), Some(&202), "{run}"),
            2 => assert!(run.stderr().to_lowercase().contains("outcome"), "{run}"),
            other => panic!("unexpected exit {other}: {run}"),
        }
        outcomes.push(run.code());
    }
    let counts = env.sandbox.fault_counts();
    assert!(counts.throttled > 0, "the run saw throttling: {counts:?}");
    assert!(
        counts.unavailable + counts.gateway_timeouts > 0,
        "the run saw server errors: {counts:?}"
    );
    assert!(outcomes.contains(&0), "{outcomes:?}");
    env.sandbox.shutdown().await;
}
