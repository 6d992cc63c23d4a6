//! A raw HTTP/1.1 server for misbehaviour wiremock cannot produce: an
//! answer that trickles in a byte at a time, one that never ends, one cut
//! off mid-body. It runs on the test's own runtime, so under paused time
//! its waits are virtual too.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the server saw and sent.
#[derive(Default)]
struct Seen {
    connections: AtomicUsize,
    sent: AtomicUsize,
    /// Answers that ended because the client went away.
    dropped: AtomicUsize,
    requests: Mutex<Vec<String>>,
}

/// What a connection is answered with.
#[derive(Clone)]
enum Answer {
    /// These bytes, the first `at_once` at once, then one every `gap`.
    Trickle {
        bytes: Arc<Vec<u8>>,
        at_once: usize,
        gap: Duration,
    },
    /// `head`, then `unit` again and again until the client goes away.
    Endless {
        head: Arc<Vec<u8>>,
        unit: Arc<Vec<u8>>,
    },
    /// These bytes at once, then the connection is closed (a body shorter
    /// than its `content-length` is cut off).
    Closing { bytes: Arc<Vec<u8>> },
}

pub struct RawServer {
    pub addr: SocketAddr,
    seen: Arc<Seen>,
}

impl RawServer {
    /// Every connection: read the request, then write `answer`, the first
    /// `at_once` bytes at once and the rest one byte every `gap`.
    pub async fn trickling(answer: Vec<u8>, at_once: usize, gap: Duration) -> RawServer {
        RawServer::start(Answer::Trickle {
            bytes: Arc::new(answer),
            at_once,
            gap,
        })
        .await
    }

    /// Every connection: read the request, write `head`, then `unit` over
    /// and over until the client stops reading and goes away.
    pub async fn endless(head: Vec<u8>, unit: Vec<u8>) -> RawServer {
        RawServer::start(Answer::Endless {
            head: Arc::new(head),
            unit: Arc::new(unit),
        })
        .await
    }

    /// Every connection: read the request, write `answer` at once and
    /// close the connection.
    pub async fn closing(answer: Vec<u8>) -> RawServer {
        RawServer::start(Answer::Closing {
            bytes: Arc::new(answer),
        })
        .await
    }

    async fn start(answer: Answer) -> RawServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Seen::default());
        let shared = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                shared.connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(stream, answer.clone(), shared.clone()));
            }
        });
        RawServer { addr, seen }
    }

    /// A 200 JSON answer whose body (`body_len` bytes of a JSON string)
    /// trickles one byte every `gap` after the head.
    pub async fn trickling_body(body_len: usize, gap: Duration) -> RawServer {
        let mut body = vec![b'"'];
        body.resize(body_len - 1, b'a');
        body.push(b'"');
        let mut answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        let head = answer.len();
        answer.extend_from_slice(&body);
        RawServer::trickling(answer, head, gap).await
    }

    /// An answer whose status line and headers themselves trickle.
    pub async fn trickling_head(gap: Duration) -> RawServer {
        let answer =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
                .to_vec();
        RawServer::trickling(answer, 0, gap).await
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn connections(&self) -> usize {
        self.seen.connections.load(Ordering::SeqCst)
    }

    pub fn bytes_sent(&self) -> usize {
        self.seen.sent.load(Ordering::SeqCst)
    }

    /// How many answers ended because the client went away.
    pub fn dropped(&self) -> usize {
        self.seen.dropped.load(Ordering::SeqCst)
    }

    /// The request line of every request received (`GET /v1.0/users HTTP/1.1`).
    pub fn request_lines(&self) -> Vec<String> {
        self.seen.requests.lock().unwrap().clone()
    }
}

async fn serve(mut stream: TcpStream, answer: Answer, seen: Arc<Seen>) {
    let Some(request_line) = read_request(&mut stream).await else {
        return;
    };
    seen.requests.lock().unwrap().push(request_line);
    let seen = &seen;
    match answer {
        Answer::Trickle {
            bytes,
            at_once,
            gap,
        } => {
            let at_once = at_once.min(bytes.len());
            if !write(&mut stream, &bytes[..at_once], seen).await {
                return;
            }
            for byte in &bytes[at_once..] {
                tokio::time::sleep(gap).await;
                if !write(&mut stream, std::slice::from_ref(byte), seen).await {
                    return;
                }
            }
            // Keep the connection open: the client decides when it is done.
            let mut rest = Vec::new();
            let _ = stream.read_to_end(&mut rest).await;
        }
        Answer::Endless { head, unit } => {
            if !write(&mut stream, &head, seen).await {
                return;
            }
            while write(&mut stream, &unit, seen).await {}
        }
        Answer::Closing { bytes } => {
            if write(&mut stream, &bytes, seen).await {
                let _ = stream.shutdown().await;
            }
        }
    }
}

/// Write and count; `false` (counted as dropped) when the client went away.
async fn write(stream: &mut TcpStream, bytes: &[u8], seen: &Seen) -> bool {
    let ok = stream.write_all(bytes).await.is_ok();
    if ok {
        seen.sent.fetch_add(bytes.len(), Ordering::SeqCst);
    } else {
        seen.dropped.fetch_add(1, Ordering::SeqCst);
    }
    ok
}

/// Read a request's head and its `content-length` body; its first line.
async fn read_request(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    head.lines().next().map(str::to_string)
}

/// A closed port: bound once, then released.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    port
}
