//! Large uploads through an upload session: the session is created through
//! the engine (with the bearer token), fragments go through the engine's
//! pipeline to the pre-authenticated upload URL on another origin with
//! `Content-Range` and **no** Authorization header, the engine's retry
//! table resends a failed fragment, the upload resumes from
//! `nextExpectedRanges` when the service refuses a range it already has
//! (416), gives up (and cancels the session) as the engine's retry policy
//! says, and refuses bad fragment sizes and untrusted upload URLs before
//! sending anything.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use serde_json::{Value, json};
use switchboard_core::ErrorKind;
use switchboard_microsoft365::large_upload::{LargeUpload, Progress, UploadSource};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const TOTAL: u64 = 3 * 1024 * 1024; // 3,145,728
const CHUNK: u64 = 3 * 327_680; // 983,040
/// The fragment during which the connection drops.
const DROP_AT: u64 = CHUNK;
/// How much of that fragment is sent before the drop, and how much of it
/// the service keeps (a whole number of 320 KiB units).
const SENT_BEFORE_DROP: usize = 700_000;
const KEPT_OF_DROPPED: u64 = 2 * 327_680;

fn file() -> Vec<u8> {
    (0..TOTAL).map(|i| (i * 7 % 253) as u8).collect()
}

fn drive_item() -> Value {
    // The final answer of docs page driveitem-createuploadsession.md.
    json!({"id": "912310013A123", "name": "largefile.vhd", "size": TOTAL, "file": {}})
}

/// One request the upload host received.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    method: String,
    path: String,
    content_range: Option<String>,
    authorization: bool,
    body_len: usize,
    dropped: bool,
}

#[derive(Default)]
struct UploadHost {
    file: Vec<u8>,
    have: u64,
    dropped_once: bool,
    seen: Vec<Seen>,
}

/// A tiny HTTP/1.1 upload host on a raw socket, so it can close the
/// connection in the middle of a fragment's body (wiremock cannot). It
/// keeps what it received in order, answers 202 with `nextExpectedRanges`,
/// 201 with the item at the end, and its status on GET.
async fn start_upload_host() -> (String, Arc<Mutex<UploadHost>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = Arc::new(Mutex::new(UploadHost {
        file: vec![0; TOTAL as usize],
        ..Default::default()
    }));
    let shared = state.clone();
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            let state = shared.clone();
            tokio::spawn(async move { serve(socket, state).await });
        }
    });
    (
        format!("http://{addr}/up/fe6987415ace7X4e1eF866337?tempauth=session-secret"),
        state,
    )
}

async fn serve(socket: TcpStream, state: Arc<Mutex<UploadHost>>) {
    let mut reader = BufReader::new(socket);
    let mut line = String::new();
    if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut content_length = 0usize;
    let mut content_range = None;
    let mut authorization = false;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).await.unwrap();
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap();
        let value = value.trim().to_string();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => content_length = value.parse().unwrap(),
            "content-range" => content_range = Some(value),
            "authorization" | "proxy-authorization" | "cookie" => authorization = true,
            _ => {}
        }
    }
    let (status, body) = match method.as_str() {
        "PUT" => {
            let range = content_range.clone().unwrap();
            let spec = range.trim_start_matches("bytes ");
            let (span, _) = spec.split_once('/').unwrap();
            let (start, end) = span.split_once('-').unwrap();
            let (start, end): (u64, u64) = (start.parse().unwrap(), end.parse().unwrap());
            let drop_now = {
                let s = state.lock().unwrap();
                start == DROP_AT && !s.dropped_once
            };
            if drop_now {
                // Take part of the fragment, keep whole 320 KiB units of it,
                // then close the connection without answering.
                let mut partial = vec![0u8; SENT_BEFORE_DROP];
                reader.read_exact(&mut partial).await.unwrap();
                let mut s = state.lock().unwrap();
                let kept = KEPT_OF_DROPPED as usize;
                s.file[start as usize..start as usize + kept].copy_from_slice(&partial[..kept]);
                s.have = start + KEPT_OF_DROPPED;
                s.dropped_once = true;
                s.seen.push(Seen {
                    method,
                    path,
                    content_range,
                    authorization,
                    body_len: SENT_BEFORE_DROP,
                    dropped: true,
                });
                return; // drops the socket mid-body
            }
            let mut body = vec![0u8; content_length];
            reader.read_exact(&mut body).await.unwrap();
            let mut s = state.lock().unwrap();
            s.seen.push(Seen {
                method,
                path,
                content_range,
                authorization,
                body_len: body.len(),
                dropped: false,
            });
            if start != s.have || end + 1 - start != body.len() as u64 {
                (
                    416,
                    json!({"error": {"code": "invalidRange", "message": "Unexpected range"}}),
                )
            } else {
                s.file[start as usize..=end as usize].copy_from_slice(&body);
                s.have = end + 1;
                if s.have == TOTAL {
                    (201, drive_item())
                } else {
                    (
                        202,
                        json!({"expirationDateTime": "2015-01-29T09:21:55.523Z", "nextExpectedRanges": [format!("{}-", s.have)]}),
                    )
                }
            }
        }
        "GET" => {
            let mut s = state.lock().unwrap();
            let have = s.have;
            s.seen.push(Seen {
                method,
                path,
                content_range,
                authorization,
                body_len: 0,
                dropped: false,
            });
            (
                200,
                json!({"expirationDateTime": "2015-01-29T09:21:55.523Z", "nextExpectedRanges": [format!("{have}-")]}),
            )
        }
        _ => {
            let mut s = state.lock().unwrap();
            s.seen.push(Seen {
                method,
                path,
                content_range,
                authorization,
                body_len: 0,
                dropped: false,
            });
            (204, Value::Null)
        }
    };
    let body = if body.is_null() {
        Vec::new()
    } else {
        serde_json::to_vec(&body).unwrap()
    };
    let mut socket = reader.into_inner();
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(&body).await.unwrap();
    socket.shutdown().await.ok();
}

/// Graph's side: the session is created once, with the bearer token.
async fn graph_creating_session(who: Who, upload_url: &str) -> MockServer {
    let graph = server().await;
    let case = Case::post(
        "onedrive.create_upload_session",
        "{principal}/drive/items/root:/Backups/largefile.vhd:/createUploadSession",
    )
    .body(json!({"item": {"@microsoft.graph.conflictBehavior": "replace"}}));
    case.mock(who, &[])
        .respond_with(json_response(
            200,
            &json!({"uploadUrl": upload_url, "expirationDateTime": "2015-01-29T09:21:55.523Z"}),
        ))
        .expect(1)
        .mount(&graph)
        .await;
    graph
}

fn session_args(who: Who) -> switchboard_core::Arguments {
    let mut args = switchboard_core::Arguments::new()
        .set("parent_id", "root")
        .set("file_path", "Backups/largefile.vhd")
        .set(
            "item",
            json!({"@microsoft.graph.conflictBehavior": "replace"}),
        );
    if let Who::User(user) = who {
        args = args.set("user_id", user);
    }
    args
}

fn put(range: &str, len: usize, dropped: bool) -> (String, Option<String>, usize, bool) {
    ("PUT".into(), Some(range.into()), len, dropped)
}

/// The test: 3 MiB in fragments of 983,040 bytes; the connection
/// drops while the second fragment is on the wire, after the service kept
/// 655,360 bytes of it. The engine resends the fragment (a PUT is safe to
/// repeat); the service refuses the range it partly has (416); the upload
/// reads the session status and resumes at byte 1,638,400, not at the
/// fragment's start and not from zero.
#[tokio::test]
async fn a_3_mib_file_resumes_from_next_expected_ranges_after_the_connection_drops() {
    for (who, from_reader) in [(Who::Me, false), (Who::User(GUEST_UPN), true)] {
        let (upload_url, host) = start_upload_host().await;
        let graph = graph_creating_session(who, &upload_url).await;
        let progress = Arc::new(Mutex::new(Vec::new()));
        let seen_progress = progress.clone();
        let content = file();
        let upload = if from_reader {
            LargeUpload::new(
                engine(),
                ctx(&graph, who),
                session_args(who),
                std::io::Cursor::new(content.clone()),
                TOTAL,
            )
        } else {
            LargeUpload::new(
                engine(),
                ctx(&graph, who),
                session_args(who),
                UploadSource::from(content.clone()),
                TOTAL,
            )
        };
        let item = upload
            .chunk_size(CHUNK)
            .on_progress(move |p: Progress| seen_progress.lock().unwrap().push(p.uploaded))
            .run()
            .await
            .unwrap();
        assert_eq!(item, drive_item());
        graph.verify().await;

        let host = host.lock().unwrap();
        let seen: Vec<_> = host
            .seen
            .iter()
            .map(|s| {
                (
                    s.method.clone(),
                    s.content_range.clone(),
                    s.body_len,
                    s.dropped,
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                put("bytes 0-983039/3145728", 983_040, false),
                put("bytes 983040-1966079/3145728", SENT_BEFORE_DROP, true),
                put("bytes 983040-1966079/3145728", 983_040, false),
                ("GET".into(), None, 0, false),
                put("bytes 1638400-2621439/3145728", 983_040, false),
                put("bytes 2621440-3145727/3145728", 524_288, false),
            ]
        );
        assert!(
            host.seen.iter().all(|s| !s.authorization),
            "no request to the upload URL carries a credential"
        );
        assert!(
            host.seen
                .iter()
                .all(|s| s.path == "/up/fe6987415ace7X4e1eF866337?tempauth=session-secret")
        );
        assert!(host.file == content, "the service holds exactly the file");
        assert_eq!(
            *progress.lock().unwrap(),
            vec![983_040, 1_638_400, 2_621_440, TOTAL]
        );
    }
}

#[tokio::test]
async fn fragment_sizes_must_be_multiples_of_320_kib_under_60_mib() {
    for bad in [0, 1_000_000, 327_679, 60 * 1024 * 1024, 200 * 327_680] {
        let graph = server().await;
        let err = LargeUpload::new(
            engine(),
            ctx(&graph, Who::Me),
            session_args(Who::Me),
            UploadSource::from(file()),
            TOTAL,
        )
        .chunk_size(bad)
        .run()
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad}");
        assert_eq!(err.field(), Some("chunk_size"));
        assert!(err.to_string().contains("327680"), "{err}");
        graph.verify().await; // nothing was sent, not even the session
    }
}

/// The upload host keeps failing: the engine resends the fragment (no
/// status read in between: nothing says the service has more of it);
/// after the policy's retries the session is cancelled with DELETE.
#[tokio::test]
async fn it_gives_up_after_the_policys_retries_and_cancels_the_session() {
    let uploads = server().await;
    let upload_url = format!("{}/up/session-2?tempauth=secret", uploads.uri());
    let graph = graph_creating_session(Who::Me, &upload_url).await;
    Mock::given(method("PUT"))
        .and(path("/up/session-2"))
        .and(NoCredential)
        .respond_with(ResponseTemplate::new(503))
        .expect(1 + policy().max_retries as u64)
        .mount(&uploads)
        .await;
    Mock::given(method("GET"))
        .and(path("/up/session-2"))
        .and(NoCredential)
        .respond_with(json_response(200, &json!({"nextExpectedRanges": ["0-"]})))
        .expect(0)
        .mount(&uploads)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/up/session-2"))
        .and(NoCredential)
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&uploads)
        .await;
    let err = LargeUpload::new(
        engine(),
        ctx(&graph, Who::Me),
        session_args(Who::Me),
        UploadSource::from(file()),
        TOTAL,
    )
    .chunk_size(CHUNK)
    .run()
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient);
    assert!(err.to_string().contains("cancelled"), "{err}");
    assert!(
        !err.to_string().contains("secret"),
        "the upload URL is a secret: {err}"
    );
    uploads.verify().await;
    graph.verify().await;
    let ranges: Vec<String> = uploads
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "PUT")
        .map(|r| {
            r.headers
                .get("content-range")
                .unwrap()
                .to_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        ranges.iter().all(|r| r == "bytes 0-983039/3145728"),
        "{ranges:?}"
    );
}

/// A service that accepts every fragment (202) but always asks for the
/// first byte again makes no progress: that counts as a failure, so the
/// upload stops after the policy's retries instead of uploading for ever.
#[tokio::test]
async fn a_service_that_never_moves_forward_is_given_up_on() {
    let uploads = server().await;
    let upload_url = format!("{}/up/session-3?tempauth=secret", uploads.uri());
    let graph = graph_creating_session(Who::Me, &upload_url).await;
    Mock::given(method("PUT"))
        .and(path("/up/session-3"))
        .and(NoCredential)
        .respond_with(json_response(202, &json!({"nextExpectedRanges": ["0-"]})))
        .expect(1 + policy().max_retries as u64)
        .mount(&uploads)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/up/session-3"))
        .and(NoCredential)
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&uploads)
        .await;
    let upload = LargeUpload::new(
        engine(),
        ctx(&graph, Who::Me),
        session_args(Who::Me),
        UploadSource::from(file()),
        TOTAL,
    )
    .chunk_size(CHUNK)
    .run();
    let err = tokio::time::timeout(std::time::Duration::from_secs(120), upload)
        .await
        .expect("the upload stopped instead of sending the same fragment for ever")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient);
    assert!(err.to_string().contains("no progress"), "{err}");
    assert!(err.to_string().contains("cancelled"), "{err}");
    uploads.verify().await;
    graph.verify().await;
}

/// An expired session (404) ends the upload; there is nothing to cancel.
#[tokio::test]
async fn an_expired_session_is_not_found_and_not_cancelled() {
    let uploads = server().await;
    let upload_url = format!("{}/up/session-3", uploads.uri());
    let graph = graph_creating_session(Who::User(USER_ID), &upload_url).await;
    Mock::given(method("PUT"))
        .and(path("/up/session-3"))
        .and(NoCredential)
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&uploads)
        .await;
    let err = LargeUpload::new(
        engine(),
        ctx(&graph, Who::User(USER_ID)),
        session_args(Who::User(USER_ID)),
        UploadSource::from(file()),
        TOTAL,
    )
    .chunk_size(CHUNK)
    .run()
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    uploads.verify().await;
    graph.verify().await;
}

/// The upload URL gets no token, but it must still be a proper https host
/// name on the default port (loopback only for loopback installations).
#[tokio::test]
async fn untrusted_upload_urls_are_refused_before_any_fragment() {
    for url in [
        "https://10.1.2.3/up/session",
        "http://uploads.contoso.example/up/session",
        "https://uploads.contoso.example:8443/up/session",
        "https://user@uploads.contoso.example/up/session",
        "https://intranet/up/session",
    ] {
        let graph = graph_creating_session(Who::Me, url).await;
        let err = LargeUpload::new(
            engine(),
            ctx(&graph, Who::Me),
            session_args(Who::Me),
            UploadSource::from(file()),
            TOTAL,
        )
        .chunk_size(CHUNK)
        .run()
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UntrustedLink, "{url}");
        assert!(!err.to_string().contains("/up/session"), "{err}");
        graph.verify().await;
    }
}

/// No credential header of any kind.
struct NoCredential;

impl wiremock::Match for NoCredential {
    fn matches(&self, request: &Request) -> bool {
        !request.headers.contains_key("authorization") && !request.headers.contains_key("cookie")
    }
}

/// A `Retry-After` longer than the policy's `max_wait` fails fast as
/// Throttled, carrying the wait, and the session is cancelled.
#[tokio::test]
async fn a_retry_after_beyond_the_policy_fails_fast_and_cancels() {
    let uploads = server().await;
    let upload_url = format!("{}/up/session-4", uploads.uri());
    let graph = graph_creating_session(Who::Me, &upload_url).await;
    Mock::given(method("PUT"))
        .and(path("/up/session-4"))
        .and(NoCredential)
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "3600"))
        .expect(1)
        .mount(&uploads)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/up/session-4"))
        .and(NoCredential)
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&uploads)
        .await;
    let err = LargeUpload::new(
        engine(),
        ctx(&graph, Who::Me),
        session_args(Who::Me),
        UploadSource::from(file()),
        TOTAL,
    )
    .chunk_size(CHUNK)
    .run()
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Throttled);
    assert_eq!(
        err.retry_after(),
        Some(std::time::Duration::from_secs(3600))
    );
    uploads.verify().await;
    graph.verify().await;
}

/// A 429 with a short `Retry-After` is waited out and the fragment resent
/// by the engine; the upload carries on from where the service says.
#[tokio::test]
async fn a_throttled_fragment_is_retried_from_the_session_status() {
    let uploads = server().await;
    let upload_url = format!("{}/up/session-5", uploads.uri());
    let graph = graph_creating_session(Who::Me, &upload_url).await;
    let small: u64 = 327_680 + 100;
    Mock::given(method("PUT"))
        .and(path("/up/session-5"))
        .and(wiremock::matchers::header(
            "content-range",
            "bytes 0-327679/327780",
        ))
        .and(NoCredential)
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&uploads)
        .await;
    Mock::given(method("GET"))
        .and(path("/up/session-5"))
        .and(NoCredential)
        .respond_with(json_response(200, &json!({"nextExpectedRanges": ["0-"]})))
        .expect(0)
        .mount(&uploads)
        .await;
    Mock::given(method("PUT"))
        .and(path("/up/session-5"))
        .and(wiremock::matchers::header(
            "content-range",
            "bytes 0-327679/327780",
        ))
        .and(NoCredential)
        .respond_with(json_response(
            202,
            &json!({"nextExpectedRanges": ["327680-"]}),
        ))
        .expect(1)
        .mount(&uploads)
        .await;
    Mock::given(method("PUT"))
        .and(path("/up/session-5"))
        .and(wiremock::matchers::header(
            "content-range",
            "bytes 327680-327779/327780",
        ))
        .and(NoCredential)
        .respond_with(json_response(201, &drive_item()))
        .expect(1)
        .mount(&uploads)
        .await;
    let content: Vec<u8> = file()[..small as usize].to_vec();
    let item = LargeUpload::new(
        engine(),
        ctx(&graph, Who::Me),
        session_args(Who::Me),
        UploadSource::from(content),
        small,
    )
    .chunk_size(327_680)
    .run()
    .await
    .unwrap();
    assert_eq!(item, drive_item());
    uploads.verify().await;
    graph.verify().await;
}

/// Microsoft asks upload clients to retry 500 and 502 too: the engine's
/// retry table does for a fragment (a resumable request), where it would
/// not for a method call. The same fragment is resent, with no credential.
#[tokio::test]
async fn a_fragment_is_resent_after_500_and_502() {
    let uploads = server().await;
    let upload_url = format!("{}/up/session-6?tempauth=secret", uploads.uri());
    let graph = graph_creating_session(Who::Me, &upload_url).await;
    let small: u64 = 327_680;
    for status in [500, 502] {
        Mock::given(method("PUT"))
            .and(path("/up/session-6"))
            .and(NoCredential)
            .respond_with(ResponseTemplate::new(status))
            .up_to_n_times(1)
            .expect(1)
            .mount(&uploads)
            .await;
    }
    Mock::given(method("PUT"))
        .and(path("/up/session-6"))
        .and(NoCredential)
        .respond_with(json_response(201, &drive_item()))
        .expect(1)
        .mount(&uploads)
        .await;
    let content: Vec<u8> = file()[..small as usize].to_vec();
    let item = LargeUpload::new(
        engine(),
        ctx(&graph, Who::Me),
        session_args(Who::Me),
        UploadSource::from(content),
        small,
    )
    .chunk_size(327_680)
    .run()
    .await
    .unwrap();
    assert_eq!(item, drive_item());
    uploads.verify().await;
    graph.verify().await;
    let requests = uploads.received_requests().await.unwrap();
    let seen: Vec<(String, String)> = requests
        .iter()
        .map(|r| {
            (
                r.method.to_string(),
                r.headers
                    .get("content-range")
                    .map(|v| v.to_str().unwrap().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect();
    let fragment = ("PUT".to_string(), "bytes 0-327679/327680".to_string());
    assert_eq!(seen, vec![fragment.clone(), fragment.clone(), fragment]);
}

/// A final status (the drive is full: 507) is not retried; the session is
/// cancelled and the error gives the upload's advice with what the service
/// said, and no part of the upload URL.
#[tokio::test]
async fn a_final_status_cancels_with_the_uploads_advice() {
    let uploads = server().await;
    let upload_url = format!("{}/up/session-7?tempauth=secret", uploads.uri());
    let graph = graph_creating_session(Who::Me, &upload_url).await;
    Mock::given(method("PUT"))
        .and(path("/up/session-7"))
        .and(NoCredential)
        .respond_with(json_response(
            507,
            &json!({"error": {"code": "quotaLimitReached", "message": "Insufficient Space Available"}}),
        ))
        .expect(1)
        .mount(&uploads)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/up/session-7"))
        .and(NoCredential)
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&uploads)
        .await;
    let err = LargeUpload::new(
        engine(),
        ctx(&graph, Who::Me),
        session_args(Who::Me),
        UploadSource::from(file()),
        TOTAL,
    )
    .chunk_size(CHUNK)
    .run()
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Remote);
    assert_eq!(err.status(), Some(507));
    let text = err.to_string();
    assert!(text.contains("no space left"), "{text}");
    assert!(text.contains("cancelled"), "{text}");
    assert!(text.contains("quotaLimitReached"), "{text}");
    assert!(
        !text.contains("secret") && !text.contains("session-7"),
        "{text}"
    );
    uploads.verify().await;
    graph.verify().await;
}
