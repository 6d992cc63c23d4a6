//! The request governor against the sandbox (which keeps Graph's Outlook
//! limits) and wiremock: what the service received and what callers got,
//! in one engine, in two engines sharing a SQLite store, and in two
//! processes sharing one.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures::future::join_all;
use serde_json::Value;
use switchboard_core::governor::Governor;
use switchboard_core::{Arguments, Engine, ErrorKind, InstallationContext};
use switchboard_microsoft365_sandbox::{SandboxConfig, SandboxHandle};
use switchboard_store::{KeyRing, Store};
use switchboard_tests::{
    Limits, context, engine, graph_app_admissions, mailbox_metrics, sandbox_with_token,
};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn sandbox(seed: u64, latency_ms: u64) -> (SandboxHandle, String) {
    sandbox_with_token(SandboxConfig::new(seed).with_latency(Duration::from_millis(latency_ms)))
        .await
}

fn app(sb: &SandboxHandle) -> String {
    sb.client().client_id.to_ascii_lowercase()
}

fn list(user: &str) -> Arguments {
    Arguments::new().set("user_id", user).set("top", 1)
}

async fn calls(
    engine: &Engine,
    ctx: &InstallationContext,
    user: &str,
    n: usize,
) -> Vec<switchboard_core::Result<switchboard_core::Response>> {
    join_all((0..n).map(|_| engine.call(ctx, "mail.list_messages", list(user)))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_engine_keeps_four_in_flight_per_mailbox_and_the_sandbox_refuses_nothing() {
    let (sb, token) = sandbox(170, 40).await;
    let users = sb.users();
    let (a, b) = (users[0].id.clone(), users[1].id.clone());
    let engine = engine(Governor::new(), Limits::Declared);
    let ctx = context(&engine, sb.base_url(), sb.tenant_id(), &token);
    let (ra, rb) = tokio::join!(calls(&engine, &ctx, &a, 30), calls(&engine, &ctx, &b, 30));
    assert!(
        ra.iter().chain(&rb).all(|r| r.is_ok()),
        "{:?}",
        ra.iter().find(|r| r.is_err())
    );

    let stats = sb.limit_stats();
    assert_eq!(stats.throttled.total(), 0, "{stats:?}");
    for user in [&a, &b] {
        let m = stats.mailbox(&app(&sb), user).unwrap();
        assert_eq!(m.requests, 30);
        assert_eq!(m.max_in_flight, 4, "four at a time, not fewer, not more");
    }
    let metrics = mailbox_metrics(&engine);
    assert_eq!(metrics.len(), 2, "{metrics:?}");
    for m in &metrics {
        assert_eq!((m.admitted, m.in_flight, m.waiting), (30, 0, 0), "{m:?}");
        assert!(m.waited >= 26, "all but the first four waited: {m:?}");
        assert!(
            m.key
                .starts_with("microsoft365/outlook_mailbox/microsoft365/mailbox/"),
            "{}",
            m.key
        );
    }
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_declared_limits_the_same_calls_meet_mailbox_concurrency_429s() {
    let (sb, token) = sandbox(171, 40).await;
    let a = sb.users()[0].id.clone();
    let engine = engine(Governor::new(), Limits::Removed);
    let ctx = context(&engine, sb.base_url(), sb.tenant_id(), &token);
    let _ = calls(&engine, &ctx, &a, 30).await;
    let stats = sb.limit_stats();
    assert!(stats.throttled.concurrency > 0, "{stats:?}");
    assert!(engine.governor().metrics().is_empty());
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_waiting_call_sends_nothing() {
    let (sb, token) = sandbox(172, 0).await;
    let a = sb.users()[0].id.clone();
    let engine = engine(Governor::new(), Limits::Declared);
    let ctx = context(&engine, sb.base_url(), sb.tenant_id(), &token);
    sb.hold_requests(Duration::from_secs(30));
    let held: Vec<_> = (0..4)
        .map(|_| {
            let (engine, ctx, a) = (engine.clone(), ctx.clone(), a.clone());
            tokio::spawn(async move { engine.call(&ctx, "mail.list_messages", list(&a)).await })
        })
        .collect();
    // The four are in flight (held by the sandbox) before the fifth starts:
    // tasks are not admitted in the order they were spawned.
    wait_for(|| {
        mailbox_metrics(&engine)
            .first()
            .is_some_and(|m| m.in_flight == 4)
    })
    .await;
    let fifth = {
        let (engine, ctx, a) = (engine.clone(), ctx.clone(), a.clone());
        tokio::spawn(async move { engine.call(&ctx, "mail.list_messages", list(&a)).await })
    };
    wait_for(|| {
        mailbox_metrics(&engine)
            .first()
            .is_some_and(|m| m.in_flight == 4 && m.waiting == 1)
    })
    .await;
    fifth.abort();
    assert!(fifth.await.unwrap_err().is_cancelled());
    assert_eq!(mailbox_metrics(&engine)[0].waiting, 0);
    sb.release_requests();
    for call in held {
        call.await.unwrap().unwrap();
    }
    let path = format!("/users/{a}/messages");
    assert_eq!(
        sb.request_log().iter().filter(|r| r.path == path).count(),
        4
    );
    assert_eq!(mailbox_metrics(&engine)[0].admitted, 4);
    sb.shutdown().await;
}

async fn wait_for(mut ready: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(20);
    while !ready() {
        assert!(Instant::now() < until, "condition not reached in 20 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------- nodes

struct SharedStore {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    ring_spec: String,
}

impl SharedStore {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        SharedStore {
            _dir: dir,
            path,
            ring_spec: KeyRing::generate_entry("k1").unwrap(),
        }
    }

    async fn governor(&self, node: &str, ttl: Duration) -> Governor {
        let store = Store::open(
            &format!("sqlite:{}", self.path.display()),
            KeyRing::parse(&self.ring_spec).unwrap(),
        )
        .await
        .unwrap();
        Governor::builder()
            .store(Arc::new(store))
            .node(node)
            .lease_ttl(ttl)
            .build()
    }

    fn node(
        &self,
        sb: &SandboxHandle,
        token: &str,
        name: &str,
        ttl_ms: u64,
        calls: usize,
        user: &str,
    ) -> tokio::process::Child {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_governor-node"))
            .args([
                self.path.to_str().unwrap(),
                sb.base_url(),
                sb.tenant_id(),
                token,
                name,
                &ttl_ms.to_string(),
                &calls.to_string(),
                user,
            ])
            .env("SWITCHBOARD_TEST_RING", &self.ring_spec)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    }
}

async fn report(child: tokio::process::Child) -> Value {
    let out = child.wait_with_output().await.unwrap();
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_sqlite_store_keep_four_in_flight_together() {
    let (sb, token) = sandbox(173, 30).await;
    let a = sb.users()[0].id.clone();
    let store = SharedStore::new();
    // the store exists (and is migrated) before the processes open it
    drop(store.governor("setup", Duration::from_secs(10)).await);
    let one = store.node(&sb, &token, "process-1", 10_000, 40, &a);
    let two = store.node(&sb, &token, "process-2", 10_000, 40, &a);
    let (one, two) = tokio::join!(report(one), report(two));
    assert_eq!(
        (one["ok"].as_u64(), two["ok"].as_u64()),
        (Some(40), Some(40)),
        "{one} {two}"
    );
    eprintln!("process 1: {one}\nprocess 2: {two}");
    let stats = sb.limit_stats();
    assert_eq!(stats.throttled.total(), 0, "{stats:?}");
    let m = stats.mailbox(&app(&sb), &a).unwrap();
    assert_eq!(m.requests, 80);
    assert!(m.max_in_flight <= 4 && m.max_in_flight >= 2, "{m:?}");
    sb.shutdown().await;
}

/// Two engines, each with a governor on its own connection to one shared
/// store, 30 concurrent calls each on one mailbox: the sandbox sees at most
/// 4 in flight and refuses nothing.
async fn two_engines_keep_four_in_flight_together(a: Store, b: Store, seed: u64) {
    let (sb, token) = sandbox(seed, 30).await;
    let user = sb.users()[0].id.clone();
    let governed = |store: Store, node: &str| {
        engine(
            Governor::builder()
                .store(Arc::new(store))
                .node(node)
                .build(),
            Limits::Declared,
        )
    };
    let (one, two) = (governed(a, "engine-1"), governed(b, "engine-2"));
    let (ctx1, ctx2) = (
        context(&one, sb.base_url(), sb.tenant_id(), &token),
        context(&two, sb.base_url(), sb.tenant_id(), &token),
    );
    let (r1, r2) = tokio::join!(calls(&one, &ctx1, &user, 30), calls(&two, &ctx2, &user, 30));
    assert!(
        r1.iter().chain(&r2).all(|r| r.is_ok()),
        "{:?}",
        r1.iter().chain(&r2).find(|r| r.is_err())
    );
    let stats = sb.limit_stats();
    assert_eq!(stats.throttled.total(), 0, "{stats:?}");
    let m = stats.mailbox(&app(&sb), &user).unwrap();
    assert_eq!(m.requests, 60);
    assert!(m.max_in_flight <= 4, "{m:?}");
    for engine in [&one, &two] {
        assert_eq!(mailbox_metrics(engine)[0].admitted, 30);
    }
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engines_on_one_sqlite_store_keep_four_in_flight_together() {
    let shared = SharedStore::new();
    let open = || async {
        Store::open(
            &format!("sqlite:{}", shared.path.display()),
            KeyRing::parse(&shared.ring_spec).unwrap(),
        )
        .await
        .unwrap()
    };
    let (a, b) = (open().await, open().await);
    two_engines_keep_four_in_flight_together(a, b, 175).await;
}

/// Needs `SWITCHBOARD_TEST_DATABASE_URL` (`scripts/test.sh` runs the
/// `postgres_` tests as their own stage, or reports it skipped).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_engines_keep_four_in_flight_together() {
    use switchboard_store::postgres::{PostgresOptions, PostgresStore};
    let url = match std::env::var("SWITCHBOARD_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "SWITCHBOARD_TEST_DATABASE_URL is not set: this test needs PostgreSQL \
             (eval \"$(bash scripts/postgres-ci.sh)\" starts a throwaway server and sets it)"
        ),
    };
    let ring = KeyRing::generate_entry("k1").unwrap();
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let open = || async {
        Store::Postgres(
            PostgresStore::connect_with(
                &url,
                KeyRing::parse(&ring).unwrap(),
                PostgresOptions::default().with_schema(&schema),
            )
            .await
            .unwrap(),
        )
    };
    let (a, b) = (open().await, open().await);
    two_engines_keep_four_in_flight_together(a, b, 176).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_processs_slots_come_back_when_its_lease_runs_out() {
    let (sb, token) = sandbox(174, 0).await;
    let a = sb.users()[0].id.clone();
    let store = SharedStore::new();
    drop(store.governor("setup", Duration::from_secs(10)).await);
    sb.hold_requests(Duration::from_secs(30));
    let mut doomed = store.node(&sb, &token, "doomed", 2_000, 4, &a);
    wait_for(|| {
        sb.limit_stats()
            .mailbox(&app(&sb), &a)
            .is_some_and(|m| m.in_flight == 4)
    })
    .await;
    doomed.kill().await.unwrap();
    let killed_at = Instant::now();
    sb.release_requests();

    let survivor = engine(
        store.governor("survivor", Duration::from_secs(2)).await,
        Limits::Declared,
    );
    let ctx = context(&survivor, sb.base_url(), sb.tenant_id(), &token);
    let results = calls(&survivor, &ctx, &a, 4).await;
    let waited = killed_at.elapsed();
    assert!(results.iter().all(|r| r.is_ok()));
    // the dead process's lease (2 s) held its four slots until it ran out
    assert!(waited >= Duration::from_millis(1_000), "{waited:?}");
    assert!(waited < Duration::from_secs(8), "{waited:?}");
    assert_eq!(sb.limit_stats().throttled.total(), 0);
    sb.shutdown().await;
}

// ---------------------------------------------------------------- holds

const ADELE: &str = "6e7b768e-07e2-4810-8459-485f84f8f204";

async fn graph_mock(retry_after: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/6e7b768e-07e2-4810-8459-485f84f8f204/messages"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", retry_after)
                .set_body_json(serde_json::json!({"error": {"code": "ApplicationThrottled", "message": "Application is over its MailboxConcurrency limit."}})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(
            "/v1.0/users/6e7b768e-07e2-4810-8459-485f84f8f204/messages",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"value": []})))
        .mount(&server)
        .await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_on_one_node_holds_the_key_for_the_other_until_retry_after_passes() {
    let server = graph_mock("2").await;
    let store = SharedStore::new();
    let node_a = engine(
        store.governor("a", Duration::from_secs(10)).await,
        Limits::Declared,
    );
    let node_b = engine(
        store.governor("b", Duration::from_secs(10)).await,
        Limits::Declared,
    );
    let ctx_a = context(&node_a, &server.uri(), "contoso.example", "t");
    let ctx_b = context(&node_b, &server.uri(), "contoso.example", "t");
    let started = Instant::now();
    let first = tokio::spawn({
        let (e, c) = (node_a.clone(), ctx_a.clone());
        async move { e.call(&c, "mail.list_messages", list(ADELE)).await }
    });
    wait_for(|| {
        mailbox_metrics(&node_a)
            .first()
            .is_some_and(|m| m.holds == 1)
    })
    .await;
    let second = node_b.call(&ctx_b, "mail.list_messages", list(ADELE)).await;
    let b_done = started.elapsed();
    first.await.unwrap().unwrap();
    second.unwrap();
    // b sent nothing while the key was held: it went after the 2 s
    assert!(b_done >= Duration::from_millis(1_500), "{b_done:?}");
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 3, "a's 429, a's retry, b's one request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_retry_after_holds_the_key_no_longer_than_the_cap() {
    let server = graph_mock("99999999999999999999").await;
    let store = SharedStore::new();
    let node = engine(
        store.governor("a", Duration::from_secs(10)).await,
        Limits::Declared,
    );
    let ctx = context(&node, &server.uri(), "contoso.example", "t");
    let err = node
        .call(&ctx, "mail.list_messages", list(ADELE))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Throttled);
    let cap = SystemTime::now() + switchboard_core::governor::MAX_HOLD;
    let held = mailbox_metrics(&node)[0].held_until.unwrap();
    assert!(held <= cap, "{held:?}");
    // only the mailbox's key is held, not Graph's global key of the app
    let global = node
        .governor()
        .metrics()
        .into_iter()
        .find(|m| m.key.contains("/graph_app/"))
        .unwrap();
    assert_eq!((global.holds, global.held_until), (0, None), "{global:?}");
    let conn = rusqlite::Connection::open(&store.path).unwrap();
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM limit_holds", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 1);
    let until: i64 = conn
        .query_row("SELECT held_until FROM limit_holds", [], |r| r.get(0))
        .unwrap();
    let cap_ms = cap
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(until <= cap_ms + 1_000, "{until} vs {cap_ms}");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

// ---------------------------------------------------------------- downloads

/// A Graph stand-in whose photo downloads send their headers and the first
/// half of the body at once, and the second half only when the test opens
/// the gate; it records each request line it received.
struct GatedDownloads {
    base: String,
    requests: Arc<std::sync::Mutex<Vec<String>>>,
    gate: Arc<tokio::sync::Semaphore>,
}

const PHOTO: &[u8] = b"\xff\xd8\xff\xe0JFIF-body-end";

impl GatedDownloads {
    async fn start() -> GatedDownloads {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(std::sync::Mutex::new(Vec::new()));
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let (log, open) = (requests.clone(), gate.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let (log, open) = (log.clone(), open.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
                        if socket.read(&mut byte).await.unwrap_or(0) == 0 {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    let line = String::from_utf8_lossy(&head);
                    log.lock()
                        .unwrap()
                        .push(line.lines().next().unwrap_or_default().to_string());
                    let (first, rest) = PHOTO.split_at(PHOTO.len() / 2);
                    // one request per connection, and said so: a client
                    // that pooled the connection would lose a request to
                    // its close and retry it (one more admission)
                    let headers = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: image/jpeg\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        PHOTO.len()
                    );
                    let _ = socket.write_all(headers.as_bytes()).await;
                    let _ = socket.write_all(first).await;
                    let _ = socket.flush().await;
                    if let Ok(permit) = open.acquire().await {
                        permit.forget();
                        let _ = socket.write_all(rest).await;
                    }
                });
            }
        });
        GatedDownloads {
            base,
            requests,
            gate,
        }
    }

    fn received(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_download_holds_its_slot_until_the_body_ends_or_is_dropped() {
    use futures::StreamExt;
    let server = GatedDownloads::start().await;
    let node = engine(Governor::new(), Limits::Declared);
    let ctx = context(&node, &server.base, "contoso.example", "t");
    let photo = || Arguments::new().set("user_id", ADELE);
    // four downloads whose headers have come, none with its body read
    let mut streams = Vec::new();
    for _ in 0..4 {
        let stream = node
            .call_stream(&ctx, "users.get_photo", photo())
            .await
            .unwrap();
        streams.push(stream);
    }
    let mailbox = || mailbox_metrics(&node).remove(0);
    let in_flight = || mailbox().in_flight;
    assert_eq!(in_flight(), 4, "the slots are held after the headers came");
    // the first half of a body read: still in flight
    let chunk = streams[0].next().await.unwrap().unwrap();
    assert!(!chunk.is_empty() && chunk.len() < PHOTO.len());
    assert_eq!(in_flight(), 4);

    // a fifth download waits for a slot and sends nothing meanwhile
    let fifth = tokio::spawn({
        let (node, ctx) = (node.clone(), ctx.clone());
        async move {
            node.call_stream(&ctx, "users.get_photo", photo())
                .await
                .map(|_| ())
        }
    });
    wait_for(|| mailbox().waiting == 1).await;
    assert_eq!(server.received(), 4);
    assert!(!fifth.is_finished());

    // the server sends the rest of every body; one body read to its end
    // gives its slot back, and the fifth goes
    server.gate.add_permits(8);
    let mut first = streams.remove(0);
    let mut body = chunk.to_vec();
    while let Some(chunk) = first.next().await {
        body.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(body, PHOTO);
    fifth.await.unwrap().unwrap();
    assert_eq!(server.received(), 5);

    // dropped streams give theirs back too (the fifth's was dropped at once)
    drop(first);
    assert_eq!(in_flight(), 3);
    streams.clear();
    assert_eq!(in_flight(), 0);
    let m = mailbox();
    assert_eq!((m.admitted, m.waited, m.waiting), (5, 1, 0), "{m:?}");
    assert!(
        server
            .requests
            .lock()
            .unwrap()
            .iter()
            .all(|l| l == &format!("GET /v1.0/users/{ADELE}/photo/$value HTTP/1.1")),
        "{:?}",
        server.requests.lock().unwrap()
    );
}

// ---------------------------------------------------------------- app scope

/// A Graph that answers every GET with an empty list, and an engine with
/// the shipped definitions and their declared limits.
async fn empty_graph() -> (MockServer, Engine) {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"value": []})))
        .mount(&server)
        .await;
    (server, engine(Governor::new(), Limits::Declared))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphs_global_limit_is_one_key_for_every_installation_of_the_app() {
    let (server, node) = empty_graph().await;
    // two customers' installations: different tenants, one app
    let contoso = context(&node, &server.uri(), "contoso.example", "t1");
    let fabrikam = context(&node, &server.uri(), "fabrikam.example", "t2");
    for ctx in [&contoso, &fabrikam] {
        for _ in 0..3 {
            node.call(ctx, "users.list_users", Arguments::new())
                .await
                .unwrap();
            node.call(ctx, "mail.list_messages", list(ADELE))
                .await
                .unwrap();
        }
    }
    // one key for every call of both installations
    assert_eq!(
        graph_app_admissions(&node),
        vec![("microsoft365/graph_app/microsoft365/app/".to_string(), 12)]
    );
    // Outlook's limit stays per mailbox (the same mailbox id here)
    assert_eq!(mailbox_metrics(&node)[0].admitted, 6);
    assert_eq!(server.received_requests().await.unwrap().len(), 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_context_given_another_app_after_its_first_call_counts_under_the_new_app() {
    // the app-wide key is built once per context and kept; a context
    // changed after its first call must not keep the old app's key
    let (server, node) = empty_graph().await;
    let ctx = context(&node, &server.uri(), "contoso.example", "t1");
    for _ in 0..2 {
        node.call(&ctx, "users.list_users", Arguments::new())
            .await
            .unwrap();
    }
    let ctx = ctx.with_limit_app("app-b");
    node.call(&ctx, "users.list_users", Arguments::new())
        .await
        .unwrap();
    assert_eq!(
        graph_app_admissions(&node),
        vec![
            ("microsoft365/graph_app/app-b/app/".to_string(), 1),
            ("microsoft365/graph_app/microsoft365/app/".to_string(), 2),
        ]
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailboxes_the_engine_no_longer_calls_are_forgotten() {
    // a call to each of 1,100 mailboxes, then, once their blocks are past
    // their 5 s use-by time, a call to each of 1,100 others: the governor
    // keeps the second thousand and the app-wide key, not the first
    let (server, node) = empty_graph().await;
    let ctx = context(&node, &server.uri(), "contoso.example", "t1");
    let mailbox = |round: u32, i: u32| format!("r{round}-u{i}@contoso.example");
    for i in 0..1_100 {
        node.call(&ctx, "mail.list_messages", list(&mailbox(0, i)))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(5_200)).await;
    for i in 0..1_100 {
        node.call(&ctx, "mail.list_messages", list(&mailbox(1, i)))
            .await
            .unwrap();
    }
    let kept = mailbox_metrics(&node);
    assert!(
        !kept.iter().any(|m| m.key.contains("/r0-u")),
        "the first thousand mailboxes are still kept"
    );
    assert_eq!(
        kept.len(),
        1_100,
        "every mailbox of the second thousand is kept"
    );
    assert_eq!(
        graph_app_admissions(&node),
        vec![(
            "microsoft365/graph_app/microsoft365/app/".to_string(),
            2_200
        )]
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 2_200);
}
