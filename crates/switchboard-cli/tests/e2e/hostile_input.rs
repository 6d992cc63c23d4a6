//! Hostile input replayed through the binary (issue 11's CLI rows): a
//! download cut mid-body, escape sequences and bidi controls in remote
//! text, endless or huge files handed to `--file` and as the key file,
//! and forged requests on the `install --listen` callback port.

use std::time::Duration;

use serde_json::json;
use switchboard_microsoft365_sandbox::SandboxConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::fake_microsoft::{FakeIdentity, RawServer, USER};
use crate::harness::{Cli, Env};

fn as_user() -> String {
    format!("user_id={USER}")
}

/// Temporary files a download left beside `name` in `dir`.
fn leftovers(dir: &std::path::Path, name: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&format!(".{name}.")))
        .collect()
}

// --- downloads ---------------------------------------------------------------------

/// `call ID onedrive.download ... --out OUT` with extra arguments.
async fn download(cli: &Cli, id: &str, out: &str, extra: &[&str]) -> crate::harness::Run {
    let user = as_user();
    let mut args = vec![
        "call",
        id,
        "onedrive.download",
        "--param",
        &user,
        "--param",
        "item_id=01ABC",
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    cli.run(&args).await
}

#[tokio::test]
async fn a_download_cut_mid_body_leaves_the_old_file_as_it_was() {
    let identity = FakeIdentity::start().await;
    let mut cut = b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: 1048576\r\n\r\n".to_vec();
    cut.extend(std::iter::repeat_n(b'n', 300_000));
    let graph = RawServer::closing(cut).await;
    let cli = Cli::new();
    let id = identity.install_application(&cli, &graph.base()).await;
    let old = b"the old, complete content\n";
    let out = cli.dir().join("existing.txt");
    std::fs::write(&out, old).unwrap();
    let fresh = cli.dir().join("fresh.txt");
    for target in [&out, &fresh] {
        let run = download(&cli, &id, target.to_str().unwrap(), &[]).await;
        assert_eq!(run.code(), 2, "{run}");
        assert!(
            run.stderr()
                .contains("the download stopped after 300000 of 1048576 bytes"),
            "{run}"
        );
        assert!(
            run.stderr()
                .contains(&format!("{} was left as it was", target.display())),
            "{run}"
        );
    }
    assert_eq!(
        std::fs::read(&out).unwrap(),
        old,
        "the old bytes are intact"
    );
    assert!(!fresh.exists(), "no partial new file");
    assert!(leftovers(cli.dir(), "existing.txt").is_empty());
    assert!(leftovers(cli.dir(), "fresh.txt").is_empty());
    // one GET each, not retried, sent to Graph's content path
    let expected = format!("GET /v1.0/users/{USER}/drive/items/01ABC/content HTTP/1.1");
    assert_eq!(graph.request_lines(), [expected.clone(), expected]);
}

#[tokio::test]
async fn a_whole_download_replaces_the_file_and_keeps_its_mode() {
    let identity = FakeIdentity::start().await;
    let graph = RawServer::closing(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: 12\r\n\r\nnew content\n"
            .to_vec(),
    )
    .await;
    let cli = Cli::new();
    let id = identity.install_application(&cli, &graph.base()).await;
    let out = cli.dir().join("existing.txt");
    std::fs::write(&out, b"the old content, longer than the new\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o640)).unwrap();
    }
    let run = download(&cli, &id, out.to_str().unwrap(), &["--output", "json"]).await;
    assert_eq!(run.code(), 0, "{run}");
    let saved = run.json();
    assert_eq!(saved["bytes"], 12);
    assert_eq!(std::fs::read(&out).unwrap(), b"new content\n");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }
    assert!(leftovers(cli.dir(), "existing.txt").is_empty());
    // a device is written in place, never renamed over
    #[cfg(unix)]
    {
        let run = download(&cli, &id, "/dev/null", &[]).await;
        assert_eq!(run.code(), 0, "{run}");
    }
    assert_eq!(graph.request_lines().len(), if cfg!(unix) { 2 } else { 1 });
}

// --- terminal output -------------------------------------------------------------

/// Title change, screen clear, cursor moves, bell, a C1 CSI, DEL, and the
/// bidi overrides and isolates that reorder what a person reads.
const HOSTILE: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}[1;1H\u{1b}[5AInvoice \u{202e}fdp.exe\u{202c} \u{2066}x\u{2069}\u{9b}31m\u{7f}\r\nEnd";

/// Bytes that must never reach a terminal from remote text.
fn assert_terminal_safe(bytes: &[u8], context: &str) {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let bad: Vec<char> = text
        .chars()
        .filter(|&c| {
            (c.is_control() && c != '\n')
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
        })
        .collect();
    assert!(
        bad.is_empty(),
        "{context}: {bad:?} reached stdout/stderr:\n{text}"
    );
}

async fn hostile_graph() -> MockServer {
    let graph = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v1.0/users/{USER}/messages")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "value": [{
                "id": "AAMk1",
                "subject": HOSTILE,
                "from": {"emailAddress": {"name": "Mallory \u{202e}eciffo", "address": "m@example.com"}},
                "receivedDateTime": "2026-05-01T09:00:00Z"
            }]
        })))
        .mount(&graph)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v1.0/users/{USER}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": USER,
            "displayName": HOSTILE,
            "\u{1b}[31mkey": "a hostile field name"
        })))
        .mount(&graph)
        .await;
    let graph_error = json!({"error": {
        "code": "ErrorAccessDenied",
        "message": format!("Access is denied. {HOSTILE}"),
        "innerError": {"request-id": "\u{1b}[2Jreq-1", "date": "2026-05-01T09:00:00"}
    }});
    Mock::given(method("GET"))
        .and(path("/v1.0/users"))
        .respond_with(ResponseTemplate::new(403).set_body_json(graph_error.clone()))
        .mount(&graph)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v1.0/users/{USER}/mailFolders")))
        .respond_with(ResponseTemplate::new(403).set_body_json(graph_error))
        .mount(&graph)
        .await;
    graph
}

#[tokio::test]
async fn tables_reports_and_errors_neutralise_escape_sequences_and_bidi_controls() {
    let identity = FakeIdentity::start().await;
    let graph = hostile_graph().await;
    let cli = Cli::new();
    let id = identity.install_application(&cli, &graph.uri()).await;
    let user = as_user();

    // a record table: the subject shown with visible escapes, one line
    let run = cli
        .ok(&["call", &id, "mail.list_messages", "--param", &user])
        .await;
    assert_terminal_safe(&run.out.stdout, "record table");
    let table = run.stdout();
    assert!(table.contains("\\u{1b}]0;pwned\\u{7}\\u{1b}[2J"), "{table}");
    assert!(
        table.contains("Invoice \\u{202e}fdp.exe\\u{202c}"),
        "{table}"
    );
    assert!(table.contains("\\u{9b}31m\\u{7f}\\r\\nEnd"), "{table}");
    assert!(table.contains("Mallory \\u{202e}eciffo"), "{table}");

    // JSON and NDJSON stay exact
    let json = cli
        .json(&["call", &id, "mail.list_messages", "--param", &user])
        .await;
    assert_eq!(json[0]["subject"], HOSTILE);
    let lines = cli
        .ok(&[
            "call",
            &id,
            "mail.list_messages",
            "--param",
            &user,
            "--output",
            "ndjson",
        ])
        .await
        .ndjson();
    assert_eq!(lines[0]["subject"], HOSTILE);

    // a name/value table: values and field names
    let run = cli
        .ok(&["call", &id, "users.get_user", "--param", &user])
        .await;
    assert_terminal_safe(&run.out.stdout, "object table");
    assert!(run.stdout().contains("\\u{1b}[31mkey"), "{run}");

    // an error quoting the service's message
    let run = cli
        .run(&["call", &id, "mail.list_mail_folders", "--param", &user])
        .await;
    assert_eq!(run.code(), 2, "{run}");
    assert_terminal_safe(&run.out.stderr, "error message");
    // (the engine already blanks C0 controls in Graph's message; the
    // request-id and the bidi controls are left to the terminal layer)
    assert!(
        run.stderr().contains("Invoice \\u{202e}fdp.exe\\u{202c}"),
        "{run}"
    );
    assert!(run.stderr().contains("\\u{1b}[2Jreq-1"), "{run}");

    // the connection test's report: a table for people, JSON exact
    let run = cli.run(&["test", &id]).await;
    assert_eq!(run.code(), 2, "{run}");
    assert_terminal_safe(&run.out.stdout, "test report");
    assert!(run.stdout().contains("ErrorAccessDenied"), "{run}");
    assert!(run.stdout().contains("\\u{1b}[2Jreq-1"), "{run}");
    let run = cli.run(&["test", &id, "--output", "json"]).await;
    let report = run.json();
    assert_eq!(report["request_id"], "\u{1b}[2Jreq-1");
}

// --- files handed to --file and as the key file -----------------------------------

#[tokio::test]
async fn upload_small_reads_no_more_than_its_limit_and_sends_nothing_over_it() {
    let identity = FakeIdentity::start().await;
    let graph = MockServer::start().await;
    Mock::given(method("PUT"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"id": "01NEW", "size": 4194304})),
        )
        .mount(&graph)
        .await;
    let cli = Cli::new();
    let id = identity.install_application(&cli, &graph.uri()).await;
    let tokens_before = identity.request_count().await;
    let upload = |file: String| {
        let (id, cli) = (id.clone(), &cli);
        async move {
            cli.run(&[
                "call",
                &id,
                "onedrive.upload_small",
                "--param",
                &as_user(),
                "--param",
                "parent_id=root",
                "--param",
                "file_path=big.bin",
                "--file",
                &file,
            ])
            .await
        }
    };

    // endless: /dev/zero is read to 4 MiB + 1 byte and refused
    let sparse = cli.dir().join("sparse.bin");
    std::fs::File::create(&sparse)
        .unwrap()
        .set_len(1 << 40)
        .unwrap();
    let over = cli.dir().join("over.bin");
    std::fs::write(&over, vec![1u8; 4 * 1024 * 1024 + 1]).unwrap();
    let mut files = vec![sparse.display().to_string(), over.display().to_string()];
    if cfg!(unix) {
        files.push("/dev/zero".to_string());
    }
    for file in &files {
        let run = upload(file.clone()).await;
        assert_eq!(run.code(), 1, "{run}");
        let err = run.stderr();
        assert!(
            err.contains(&format!(
                "invalid argument `--file`: {file} holds more than 4194304 bytes, the most `onedrive.upload_small` takes; nothing was sent"
            )),
            "{run}"
        );
        assert!(err.contains("onedrive.create_upload_session"), "{run}");
    }
    assert_eq!(
        graph.received_requests().await.unwrap().len(),
        0,
        "nothing reached Graph"
    );
    assert_eq!(
        identity.request_count().await,
        tokens_before,
        "not even a token request"
    );

    // exactly the limit is read whole and sent once
    let exact = cli.dir().join("exact.bin");
    std::fs::write(&exact, vec![7u8; 4 * 1024 * 1024]).unwrap();
    let run = upload(exact.display().to_string()).await;
    assert_eq!(run.code(), 0, "{run}");
    let sent = graph.received_requests().await.unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].url.path(),
        format!("/v1.0/users/{USER}/drive/items/root:/big.bin:/content")
    );
    assert_eq!(sent[0].body.len(), 4 * 1024 * 1024);

    // a method that takes no file refuses --file without reading it
    let run = cli
        .run(&[
            "call",
            &id,
            "users.get_user",
            "--param",
            &as_user(),
            "--file",
            "/dev/zero",
        ])
        .await;
    assert_eq!(run.code(), 1, "{run}");
    assert!(
        run.stderr()
            .contains("`users.get_user` takes no file content"),
        "{run}"
    );
    assert_eq!(graph.received_requests().await.unwrap().len(), 1);
}

#[cfg(unix)]
#[tokio::test]
async fn an_endless_key_file_is_refused_unread() {
    let cli = Cli::new().env("SWITCHBOARD_KEY_FILE", "/dev/zero");
    // a store to read (an empty file is an empty SQLite database): without
    // one, `installations` reads no key file at all
    std::fs::write(cli.dir().join("store.db"), b"").unwrap();
    let run = cli.run(&["installations"]).await;
    assert_eq!(run.code(), 1, "{run}");
    assert!(
        run.stderr()
            .contains("key file /dev/zero is not a regular file"),
        "{run}"
    );
}

// --- the install --listen callback port --------------------------------------------

/// Send raw bytes to the listener; the status line of its answer.
async fn send_raw(origin: &str, request: &[u8]) -> String {
    let addr = origin.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_callbacks_are_ignored_and_the_real_consent_completes() {
    let env = Env::start(SandboxConfig::new(17)).await;
    let listening = env.listen_delegated(&[]).await;
    let redirect = listening.redirect.clone();
    let origin = redirect.trim_end_matches("/callback").to_string();
    let http = reqwest::Client::new();

    // a connection that never finishes its request stays open meanwhile
    let addr = origin.trim_start_matches("http://").to_string();
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /callback?state=").await.unwrap();

    for (url, status) in [
        (format!("{redirect}?code=x&state=wrong"), 400),
        (format!("{redirect}?code=x"), 400),
        (redirect.clone(), 400),
        (format!("{redirect}?error=access_denied&state=forged"), 400),
        (format!("{origin}/random/path?code=x"), 404),
    ] {
        let answer = http.get(&url).send().await.unwrap();
        assert_eq!(answer.status().as_u16(), status, "{url}");
    }
    let huge = format!(
        "GET /callback?code=x HTTP/1.1\r\nx-filler: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    assert_eq!(
        send_raw(&origin, huge.as_bytes()).await,
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    assert_eq!(
        send_raw(&origin, b"POST /callback?state=x HTTP/1.1\r\n\r\n").await,
        "HTTP/1.1 404 Not Found"
    );

    // the real consent still completes, with the slow connection open
    let (id, stderr) = listening.consent_in_browser(None).await;
    let noted = stderr
        .lines()
        .filter(|l| l.starts_with("ignored a request to /callback"))
        .count();
    assert_eq!(noted, 4, "{stderr}");
    let me = env.cli.json(&["call", &id, "users.get_user"]).await;
    assert_eq!(me["id"], env.sandbox.users()[0].id.as_str());
    // the slow connection was closed when the listener finished
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), slow.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the slow connection was not closed");
    env.sandbox.shutdown().await;
}
