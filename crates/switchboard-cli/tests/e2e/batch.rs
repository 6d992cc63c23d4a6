//! `switchboard batch <installation> --file calls.ndjson` against the
//! sandbox: the calls go as `$batch` requests, one NDJSON line per call.

use switchboard_microsoft365_sandbox::SandboxConfig;

use crate::harness::Env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_from_a_file_run_as_batches_and_print_one_line_each() {
    let env = Env::start(SandboxConfig::new(190)).await;
    let id = env.install_application(&[]).await;
    let users = env.sandbox.users();
    let mut lines = Vec::new();
    for i in 0..22 {
        lines.push(format!(
            "{{\"method\": \"users.get_user\", \"params\": {{\"user_id\": \"{}\"}}}}",
            users[i % users.len()].id
        ));
    }
    // a call that fails, and one that depends on it
    lines.push(
        "{\"method\": \"users.get_user\", \"params\": {\"user_id\": \"00000000-0000-0000-0000-000000000000\"}}"
            .into(),
    );
    lines.push(format!(
        "{{\"method\": \"mail.list_messages\", \"params\": {{\"user_id\": \"{}\", \"top\": 1}}, \"depends_on\": [22]}}",
        users[0].id
    ));
    let file = env.cli.dir().join("calls.ndjson");
    std::fs::write(&file, lines.join("\n")).unwrap();

    let run = env
        .cli
        .run(&["batch", &id, "--file", file.to_str().unwrap()])
        .await;
    assert_eq!(
        run.code(),
        2,
        "a failed call: the remote exit code\n{}",
        run.stderr()
    );
    let out = run.ndjson();
    assert_eq!(out.len(), 24);
    for (i, line) in out.iter().enumerate().take(22) {
        assert_eq!(line["call"], i);
        assert_eq!(line["status"], 200, "{line}");
        assert_eq!(line["body"]["id"], users[i % users.len()].id.as_str());
    }
    assert_eq!(out[22]["error"]["kind"], "not_found", "{}", out[22]);
    assert_eq!(out[23]["error"]["status"], 424, "{}", out[23]);
    let log = env.sandbox.request_log();
    assert_eq!(
        log.iter().filter(|r| r.path == "/$batch").count(),
        2,
        "20 + 4 calls"
    );

    let bad = env.cli.dir().join("bad.ndjson");
    std::fs::write(&bad, "{\"method\": \"users.get_user\"}\nnot json\n").unwrap();
    let run = env
        .cli
        .run(&["batch", &id, "--file", bad.to_str().unwrap()])
        .await;
    assert_eq!(run.code(), 1);
    assert!(
        run.stderr().contains("line 2: not JSON"),
        "{}",
        run.stderr()
    );
}
