//! Engine overhead benchmark: one process, one local HTTP server.
//!
//! * per call: `Engine::call` against a hand-written reqwest request doing
//!   the same work (same client settings, bearer header, default headers,
//!   status check, JSON decode); p50/p90/p99 over many interleaved calls;
//! * paging: streaming 100,000 records over 1,000 pages with
//!   `Engine::stream` against a hand-written next-link loop;
//! * memory: peak RSS growth while the engine streams (VmHWM, reset through
//!   /proc/self/clear_refs where the kernel allows it).
//!
//! The server is a few lines of tokio on its own thread and runtime (not
//! wiremock, which would be the bottleneck), serving precomputed bodies.
//!
//! Run: `cargo bench -p switchboard-core --bench engine`
//! (`-- --quick` for a shorter run).

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use switchboard_core::Arguments;
use switchboard_core::connector::{DefinitionConnector, Endpoints, Registry};
use switchboard_core::credential::{AccessToken, StaticCredential};
use switchboard_core::definition::ConnectorDefinition;
use switchboard_core::engine::{Engine, InstallationContext};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const PAGES: usize = 1_000;
const PER_PAGE: usize = 100;
const TOKEN: &str = "bench-token-0123456789abcdef";

struct Bodies {
    user: Vec<u8>,
    pages: Vec<Vec<u8>>,
}

fn response(body: &str) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

fn bodies(port: u16) -> Bodies {
    let user = response(
        &json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
            "id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd",
            "displayName": "Adele Vance", "givenName": "Adele", "surname": "Vance",
            "mail": "AdeleV@contoso.example", "userPrincipalName": "AdeleV@contoso.example",
            "jobTitle": "Retail Manager", "officeLocation": "18/2111",
            "businessPhones": ["+1 425 555 0109"], "preferredLanguage": "en-US"
        })
        .to_string(),
    );
    let pages = (1..=PAGES)
        .map(|page| {
            let records: Vec<Value> = (0..PER_PAGE)
                .map(|i| {
                    let n = (page - 1) * PER_PAGE + i;
                    json!({"id": format!("{n:08}-0000-4000-8000-000000000000"),
                           "displayName": format!("User {n}"),
                           "mail": format!("user{n}@contoso.example"), "jobTitle": "Engineer"})
                })
                .collect();
            let mut body = json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users", "value": records});
            if page < PAGES {
                body["@odata.nextLink"] = Value::String(format!(
                    "http://127.0.0.1:{port}/v1.0/items?$skiptoken={}",
                    page + 1
                ));
            }
            response(&body.to_string())
        })
        .collect();
    Bodies { user, pages }
}

/// Serve keep-alive HTTP/1.1 GETs with precomputed responses.
async fn serve(listener: TcpListener, bodies: Arc<Bodies>) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            continue;
        };
        let _ = socket.set_nodelay(true);
        let bodies = bodies.clone();
        tokio::spawn(async move {
            let mut buf = Vec::with_capacity(4096);
            let mut chunk = [0u8; 4096];
            loop {
                let end = loop {
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break end + 4;
                    }
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                buf.drain(..end);
                let target = head.split_whitespace().nth(1).unwrap_or("/");
                let body: &[u8] = if target.starts_with("/v1.0/users/") {
                    &bodies.user
                } else if target.starts_with("/v1.0/items") {
                    let page = target
                        .split("skiptoken=")
                        .nth(1)
                        .and_then(|n| n.parse::<usize>().ok())
                        .unwrap_or(1);
                    &bodies.pages[page.clamp(1, PAGES) - 1]
                } else {
                    b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"
                };
                if socket.write_all(body).await.is_err() {
                    return;
                }
            }
        });
    }
}

fn definition() -> ConnectorDefinition {
    serde_json::from_value(json!({
        "id": "bench", "name": "Bench", "version": "1.0.0", "description": "Benchmark connector",
        "base_url": "https://graph.microsoft.com/v1.0", "allowed_hosts": ["graph.microsoft.com"],
        "default_headers": {"Accept": "application/json"},
        "auth_variants": [{"id": "delegated", "name": "Delegated", "kind": "oauth2_authorization_code"}],
        "categories": [{"id": "users", "name": "Users"}],
        "methods": [
            {"id": "users.get_user", "category": "users", "name": "Get user", "description": "One user.",
             "http_method": "GET", "path": "/users/{id}",
             "parameters": [{"name": "id", "in": "path", "type": "string"}],
             "permissions": {"delegated": ["User.Read"]}},
            {"id": "users.list_items", "category": "users", "name": "List", "description": "Paged.",
             "http_method": "GET", "path": "/items", "headers": {"ConsistencyLevel": "eventual"},
             "pagination": "odata_next_link", "records": "/value",
             "permissions": {"delegated": ["User.Read"]}}
        ]
    }))
    .expect("bench definition")
}

/// The hand-written equivalent of `users.get_user`: build the URL with the
/// id percent-encoded, send with the bearer token, check, decode.
async fn raw_call(client: &reqwest::Client, base: &str, id: &str) -> Value {
    let url = format!(
        "{base}/users/{}",
        percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC)
    );
    raw_call_url(client, &url).await
}

async fn raw_call_url(client: &reqwest::Client, url: &str) -> Value {
    let response = client
        .get(url)
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("raw send");
    assert!(response.status().is_success());
    let bytes = response.bytes().await.expect("raw body");
    serde_json::from_slice(&bytes).expect("raw json")
}

/// The hand-written equivalent of streaming `users.list_items`.
async fn raw_stream(client: &reqwest::Client, first: &str) -> usize {
    let mut next = Some(first.to_string());
    let mut count = 0;
    while let Some(url) = next.take() {
        let response = client
            .get(&url)
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("accept", "application/json")
            .header("consistencylevel", "eventual")
            .send()
            .await
            .expect("raw send");
        assert!(response.status().is_success());
        let bytes = response.bytes().await.expect("raw body");
        let mut page: Value = serde_json::from_slice(&bytes).expect("raw json");
        next = page
            .get("@odata.nextLink")
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(Value::Array(records)) = page.get_mut("value").map(Value::take) {
            for record in records {
                std::hint::black_box(&record);
                count += 1;
            }
        }
    }
    count
}

async fn engine_stream(engine: &Engine, ctx: &InstallationContext) -> usize {
    let mut stream = engine.stream(ctx, "users.list_items", Arguments::new());
    let mut count = 0;
    while let Some(record) = stream.next().await {
        std::hint::black_box(&record.expect("engine record"));
        count += 1;
    }
    count
}

/// CPU time the calling thread has run, in nanoseconds (Linux schedstat).
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Reset the peak RSS counter (Linux >= 4.0); false when not allowed.
fn reset_peak() -> bool {
    std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/self/clear_refs")
        .and_then(|mut f| f.write_all(b"5"))
        .is_ok()
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, per_round, stream_runs) = if quick { (4, 500, 3) } else { (10, 2_000, 9) };

    // Server on its own thread and runtime.
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    std_listener.set_nonblocking(true).expect("nonblocking");
    let port = std_listener.local_addr().expect("addr").port();
    let bodies = Arc::new(bodies(port));
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("server runtime");
        rt.block_on(async move {
            let listener = TcpListener::from_std(std_listener).expect("listener");
            serve(listener, bodies).await;
        });
    });

    // Client side: one current-thread runtime for both contenders.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    rt.block_on(async move {
        let mut registry = Registry::new();
        registry
            .register(Arc::new(DefinitionConnector::new(definition())))
            .expect("register");
        let engine = Engine::builder(registry).build().expect("engine");
        // The same client settings as the engine's, for the raw side.
        let raw = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .gzip(true)
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(60))
            .build()
            .expect("raw client");
        let base = format!("http://127.0.0.1:{port}/v1.0");
        let ctx = InstallationContext::new(
            switchboard_core::InstallationId::from_u128(1),
            "bench",
            "delegated",
            Endpoints {
                base_url: url::Url::parse(&base).expect("base"),
                allowed_hosts: vec!["127.0.0.1".into()],
            },
            Arc::new(StaticCredential::new(AccessToken::new(TOKEN, None))),
        );
        let user_url = format!("{base}/users/adele");

        // Warm up both connection pools and code paths.
        for _ in 0..500 {
            raw_call(&raw, &base, "adele").await;
            engine
                .call(&ctx, "users.get_user", Arguments::new().set("id", "adele"))
                .await
                .expect("engine call");
        }

        // Profiling aid: `-- --only-engine-calls N` / `--only-raw-calls N` loop one side.
        let args: Vec<String> = std::env::args().collect();
        for (flag, engine_side) in [("--only-engine-calls", true), ("--only-raw-calls", false)] {
            if let Some(n) = args
                .iter()
                .position(|a| a == flag)
                .and_then(|i| args.get(i + 1))
                .and_then(|n| n.parse::<usize>().ok())
            {
                for _ in 0..n {
                    if engine_side {
                        let r = engine
                            .call(&ctx, "users.get_user", Arguments::new().set("id", "adele"))
                            .await
                            .expect("engine call");
                        std::hint::black_box(r);
                    } else {
                        std::hint::black_box(raw_call(&raw, &base, "adele").await);
                    }
                }
                return;
            }
        }

        // Diagnostic: client-thread CPU of raw, raw plus `render`, and the engine.
        if args.iter().any(|a| a == "--cpu-breakdown") {
            let def = definition();
            let base_url = url::Url::parse(&base).expect("base");
            let rctx = switchboard_core::render::RenderContext {
                connector: &def,
                method: &def.methods[0],
                variant: &def.auth_variants[0],
                base_url: &base_url,
            };
            for round in 0..3 {
                let n = 20_000;
                let c0 = thread_cpu_ns().unwrap_or(0);
                for _ in 0..n {
                    std::hint::black_box(raw_call(&raw, &base, "adele").await);
                }
                let c1 = thread_cpu_ns().unwrap_or(0);
                for _ in 0..n {
                    let args = Arguments::new().set("id", "adele");
                    let r = switchboard_core::render::render(&rctx, &args).expect("render");
                    std::hint::black_box(raw_call_url(&raw, r.url.as_str()).await);
                }
                let c2 = thread_cpu_ns().unwrap_or(0);
                for _ in 0..n {
                    let r = engine
                        .call(&ctx, "users.get_user", Arguments::new().set("id", "adele"))
                        .await
                        .expect("engine call");
                    std::hint::black_box(r);
                }
                let c3 = thread_cpu_ns().unwrap_or(0);
                let per = |a: u64, b: u64| (b - a) as f64 / n as f64 / 1e3;
                println!(
                    "round {round}: raw {:.2} µs, raw+render {:.2} µs, engine {:.2} µs",
                    per(c0, c1),
                    per(c1, c2),
                    per(c2, c3)
                );
            }
            return;
        }

        // CPU cost of the steps before sending, without I/O.
        {
            let def = definition();
            let base_url = url::Url::parse(&base).expect("base");
            let rctx = switchboard_core::render::RenderContext {
                connector: &def,
                method: &def.methods[0],
                variant: &def.auth_variants[0],
                base_url: &base_url,
            };
            let n = 200_000u32;
            let t = Instant::now();
            for _ in 0..n {
                let args = Arguments::new().set("id", "adele");
                std::hint::black_box(switchboard_core::render::render(&rctx, &args).expect("render"));
            }
            println!("render: {:.2} µs/call", t.elapsed().as_secs_f64() * 1e6 / n as f64);
            let t = Instant::now();
            for _ in 0..n {
                let u: url::Url = std::hint::black_box(&user_url).parse().expect("url");
                std::hint::black_box(u);
            }
            println!("raw url parse: {:.2} µs/call", t.elapsed().as_secs_f64() * 1e6 / n as f64);
        }

        // Per-call latency, interleaved in rounds.
        // Wall time per call, alternating raw and engine call by call (the
        // order flips each time) so both see the same machine noise.
        let mut raw_times = Vec::with_capacity(rounds * per_round);
        let mut engine_times = Vec::with_capacity(rounds * per_round);
        for i in 0..rounds * per_round {
            for engine_side in [i % 2 == 0, i % 2 != 0] {
                let t = Instant::now();
                if engine_side {
                    let response = engine
                        .call(&ctx, "users.get_user", Arguments::new().set("id", "adele"))
                        .await
                        .expect("engine call");
                    std::hint::black_box(response);
                    engine_times.push(t.elapsed());
                } else {
                    std::hint::black_box(raw_call(&raw, &base, "adele").await);
                    raw_times.push(t.elapsed());
                }
            }
        }
        // Client-thread CPU time, in blocks.
        let (mut raw_cpu, mut engine_cpu) = (0u64, 0u64);
        for _ in 0..rounds {
            let cpu = thread_cpu_ns().unwrap_or(0);
            for _ in 0..per_round {
                std::hint::black_box(raw_call(&raw, &base, "adele").await);
            }
            raw_cpu += thread_cpu_ns().unwrap_or(0).saturating_sub(cpu);
            let cpu = thread_cpu_ns().unwrap_or(0);
            for _ in 0..per_round {
                let response = engine
                    .call(&ctx, "users.get_user", Arguments::new().set("id", "adele"))
                    .await
                    .expect("engine call");
                std::hint::black_box(response);
            }
            engine_cpu += thread_cpu_ns().unwrap_or(0).saturating_sub(cpu);
        }
        raw_times.sort();
        engine_times.sort();
        println!("per call ({} calls each)", raw_times.len());
        println!("  {:<8} {:>9} {:>9} {:>9}", "", "p50 µs", "p90 µs", "p99 µs");
        for (name, times) in [("raw", &raw_times), ("engine", &engine_times)] {
            println!(
                "  {:<8} {:>9.1} {:>9.1} {:>9.1}",
                name,
                micros(percentile(times, 0.5)),
                micros(percentile(times, 0.9)),
                micros(percentile(times, 0.99))
            );
        }
        let ratio = percentile(&engine_times, 0.5).as_secs_f64() / percentile(&raw_times, 0.5).as_secs_f64();
        println!("  p50 ratio engine/raw: {ratio:.3} (target <= 1.05)");
        let calls = raw_times.len() as f64;
        println!(
            "  client-thread CPU per call: raw {:.1} µs, engine {:.1} µs (engine overhead {:.1} µs)",
            raw_cpu as f64 / calls / 1e3,
            engine_cpu as f64 / calls / 1e3,
            (engine_cpu as f64 - raw_cpu as f64) / calls / 1e3
        );

        // Paging throughput: best of several alternating runs.
        let first = format!("{base}/items");
        assert_eq!(raw_stream(&raw, &first).await, PAGES * PER_PAGE);
        assert_eq!(engine_stream(&engine, &ctx).await, PAGES * PER_PAGE);
        let mut raw_runs = Vec::new();
        let mut engine_runs = Vec::new();
        for run in 0..stream_runs {
            for engine_side in [run % 2 == 0, run % 2 != 0] {
                let t = Instant::now();
                if engine_side {
                    assert_eq!(engine_stream(&engine, &ctx).await, PAGES * PER_PAGE);
                    engine_runs.push(t.elapsed());
                } else {
                    assert_eq!(raw_stream(&raw, &first).await, PAGES * PER_PAGE);
                    raw_runs.push(t.elapsed());
                }
            }
        }
        raw_runs.sort();
        engine_runs.sort();
        let raw_best = raw_runs[0];
        let engine_best = engine_runs[0];
        let raw_median = raw_runs[raw_runs.len() / 2];
        let engine_median = engine_runs[engine_runs.len() / 2];
        let records = (PAGES * PER_PAGE) as f64;
        let raw_rate = records / raw_best.as_secs_f64();
        let engine_rate = records / engine_best.as_secs_f64();
        println!("paging ({} records over {} pages, best of {stream_runs} alternating runs)", PAGES * PER_PAGE, PAGES);
        println!("  raw      {:>8.0} ms  {:>10.0} records/s", raw_best.as_secs_f64() * 1e3, raw_rate);
        println!("  engine   {:>8.0} ms  {:>10.0} records/s", engine_best.as_secs_f64() * 1e3, engine_rate);
        println!("  throughput ratio engine/raw: {:.3} (target >= 0.9)", engine_rate / raw_rate);
        println!(
            "  medians: raw {:.0} ms, engine {:.0} ms, ratio {:.3}",
            raw_median.as_secs_f64() * 1e3,
            engine_median.as_secs_f64() * 1e3,
            raw_median.as_secs_f64() / engine_median.as_secs_f64()
        );

        // Peak RSS growth while the engine streams everything once more.
        let rss_before = status_kb("VmRSS:").unwrap_or(0);
        let reset = reset_peak();
        let hwm_before = status_kb("VmHWM:").unwrap_or(0);
        assert_eq!(engine_stream(&engine, &ctx).await, PAGES * PER_PAGE);
        let hwm_after = status_kb("VmHWM:").unwrap_or(0);
        let growth_kb = hwm_after.saturating_sub(rss_before.max(if reset { 0 } else { hwm_before }));
        println!("memory while streaming {} records", PAGES * PER_PAGE);
        println!(
            "  VmRSS before {rss_before} kB, VmHWM before {hwm_before} kB (peak reset: {reset}), VmHWM after {hwm_after} kB"
        );
        println!("  peak RSS growth: {:.1} MB (target < 30 MB)", growth_kb as f64 / 1024.0);

        // Control: the same records collected into a Vec (what streaming
        // avoids), to show the measurement does see memory that is held.
        if reset_peak() {
            let rss_before = status_kb("VmRSS:").unwrap_or(0);
            let mut all = Vec::new();
            let mut stream = engine.stream(&ctx, "users.list_items", Arguments::new());
            while let Some(record) = stream.next().await {
                all.push(record.expect("engine record"));
            }
            let hwm_after = status_kb("VmHWM:").unwrap_or(0);
            println!(
                "  control, all {} records collected: peak RSS growth {:.1} MB",
                all.len(),
                hwm_after.saturating_sub(rss_before) as f64 / 1024.0
            );
        }
    });
}
