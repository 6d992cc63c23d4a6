//! One table of exit codes: every installation command run against an
//! installation in every state (and an id the store does not hold). When
//! the state refuses the command, the code says the state, whichever the
//! command: 3 a person must consent (pending consent, needs
//! re-authentication), 4 switched off (disabled, uninstalled), 1 the
//! command does not apply (to an active installation) or the id is unknown.

use std::collections::BTreeMap;

use futures::future::join_all;
use switchboard_microsoft365_sandbox::SandboxConfig;

use crate::harness::{Env, follow};

const COMMANDS: [&str; 7] = [
    "call",
    "test",
    "reauth",
    "disable",
    "enable",
    "uninstall",
    "complete",
];
const STATES: [&str; 6] = [
    "pending_consent",
    "active",
    "needs_reauth",
    "disabled",
    "uninstalled",
    "unknown",
];

/// The expected code of each command (columns, in `COMMANDS` order) in
/// each state (rows, in `STATES` order): the table in docs/cli.md.
const EXPECTED: [[i32; 7]; 6] = [
    // call test reauth disable enable uninstall complete
    [3, 3, 0, 0, 3, 0, 0], // pending_consent
    [0, 0, 0, 0, 1, 0, 1], // active
    [3, 3, 0, 0, 3, 0, 3], // needs_reauth
    [4, 4, 4, 4, 0, 0, 4], // disabled
    [4, 4, 4, 4, 4, 4, 4], // uninstalled
    [1, 1, 1, 1, 1, 1, 1], // unknown
];

/// An installation of `account`, made through the binary, in `state`;
/// with the callback URL that completes its consent when it is pending.
async fn installation_in(env: &Env, account: &str, state: &str) -> (String, Option<String>) {
    let cli = &env.cli;
    let delegated = || {
        let mut args = env.install_args("delegated");
        args.extend(["--account".to_string(), account.to_string()]);
        args
    };
    match state {
        "pending_consent" => {
            let args = delegated();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let started = cli.json(&args).await;
            let id = started["installation"]["id"].as_str().unwrap().to_string();
            let callback = follow(started["consent_url"].as_str().unwrap()).await;
            (id, Some(callback))
        }
        "active" => (env.install_application(&["--account", account]).await, None),
        "needs_reauth" => {
            // delegated, completed; made needs_reauth below, once for all
            let args = delegated();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let started = cli.json(&args).await;
            let id = started["installation"]["id"].as_str().unwrap().to_string();
            let callback = follow(started["consent_url"].as_str().unwrap()).await;
            cli.json(&["complete", &id, "--callback", &callback]).await;
            (id, None)
        }
        "disabled" | "uninstalled" => {
            let id = env.install_application(&["--account", account]).await;
            let command = if state == "disabled" {
                "disable"
            } else {
                "uninstall"
            };
            cli.ok(&[command, &id]).await;
            (id, None)
        }
        _ => ("6f1d1c7e-9c7a-4c1e-8d55-0b7e1a2f3c4d".to_string(), None),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_exits_by_the_installation_state() {
    let env = Env::start(SandboxConfig::new(44)).await;
    let cli = &env.cli;

    // one installation per (state, command): most commands change the state
    let mut made: BTreeMap<(&str, &str), (String, Option<String>)> = BTreeMap::new();
    for state in STATES {
        let env = &env;
        let pairs = join_all(COMMANDS.iter().map(|c| async move {
            let account = format!("{state}-{c}");
            (*c, installation_in(env, &account, state).await)
        }))
        .await;
        for (command, inst) in pairs {
            made.insert((state, command), inst);
        }
    }
    // grants lost: the next call of each delegated installation finds out
    env.sandbox.expire_all_tokens();
    env.sandbox.expire_refresh_tokens();
    for command in COMMANDS {
        let (id, _) = &made[&("needs_reauth", command)];
        let run = cli.run(&["call", id, "users.list_users"]).await;
        assert_eq!(run.code(), 3, "{run}");
    }
    for state in STATES.iter().filter(|s| **s != "unknown") {
        for command in COMMANDS {
            let account = format!("{state}-{command}");
            let listed = cli.json(&["installations", "--account", &account]).await;
            let (id, _) = &made[&(*state, command)];
            let row = listed
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["id"] == id.as_str())
                .unwrap();
            assert_eq!(row["status"], *state, "{row}");
        }
    }

    let mut got = [[0i32; 7]; 6];
    let mut runs = Vec::new();
    for (row, state) in STATES.iter().enumerate() {
        for (column, command) in COMMANDS.iter().enumerate() {
            let (id, callback) = &made[&(*state, *command)];
            let callback = callback
                .clone()
                .unwrap_or_else(|| "http://localhost/callback?code=x&state=y".to_string());
            let args: Vec<String> = match *command {
                "call" => vec!["call".into(), id.clone(), "users.list_users".into()],
                "complete" => vec!["complete".into(), id.clone(), "--callback".into(), callback],
                other => vec![other.into(), id.clone()],
            };
            let run = cli
                .run(&args.iter().map(String::as_str).collect::<Vec<_>>())
                .await;
            got[row][column] = run.code();
            runs.push(run);
        }
    }
    let report: Vec<String> = runs.iter().map(|r| r.to_string()).collect();
    assert_eq!(got, EXPECTED, "{}", report.join("\n"));

    // the words match the codes
    for run in &runs {
        let err = format!("{}{}", run.stdout(), run.stderr());
        assert!(!err.contains("it was uninstalled"), "{run}");
        match run.code() {
            1 if run.args[1].starts_with("6f1d1c7e") => {
                assert!(err.contains("there is no installation"), "{run}")
            }
            4 => assert!(
                err.contains("disabled") || err.contains("uninstalled"),
                "{run}"
            ),
            _ => {}
        }
    }
    env.sandbox.shutdown().await;
}
