//! A loopback redirect listener for consent in a browser.
//!
//! `switchboard install --listen` binds `127.0.0.1:0`, uses
//! `http://127.0.0.1:PORT/callback` as the redirect URI (Microsoft Entra,
//! like the sandbox, accepts loopback redirect URIs on any port), and waits
//! for the browser to come back.
//!
//! Any local program can reach that port, so the listener trusts nothing
//! it is sent. A request to `/callback` is the answer only when the caller
//! says so (the consent's one-time `state`, see
//! `ConsentStarted::is_callback_for`); any other `/callback` request is
//! answered 400, noted on stderr, and the listener keeps waiting until
//! the answer or the overall timeout. Other paths get 404. Each
//! connection is served on its own task and bounded: its request head may
//! hold [`MAX_HEAD`] bytes (431 beyond) and must arrive within
//! [`CONNECTION_DEADLINE`] (408 after); at most [`MAX_CONNECTIONS`] are
//! served at once, further ones are closed unanswered until one finishes.

use std::sync::Arc;
use std::time::Duration;

use switchboard_core::{Error, ErrorKind, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// The path the browser is sent back to.
const CALLBACK_PATH: &str = "/callback";

/// The most of a request head read.
pub const MAX_HEAD: usize = 16 * 1024;

/// How long one connection may take to send its request head.
pub const CONNECTION_DEADLINE: Duration = Duration::from_secs(10);

/// Connections served at the same time.
pub const MAX_CONNECTIONS: usize = 32;

/// Decides whether a `/callback` URL is the awaited answer.
type Judge = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// A bound listener and its redirect URI.
#[derive(Debug)]
pub struct Loopback {
    listener: TcpListener,
    redirect_uri: String,
}

impl Loopback {
    /// Bind a free loopback port.
    pub async fn bind() -> Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.map_err(|e| {
            Error::new(ErrorKind::Transport, "could not listen on a loopback port").with_source(e)
        })?;
        let port = listener
            .local_addr()
            .map_err(|e| {
                Error::new(ErrorKind::Transport, "could not read the listener's port")
                    .with_source(e)
            })?
            .port();
        Ok(Loopback {
            listener,
            redirect_uri: format!("http://127.0.0.1:{port}{CALLBACK_PATH}"),
        })
    }

    /// `http://127.0.0.1:PORT/callback`.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// Wait (at most `timeout`) for the callback that `is_answer` accepts
    /// (given the full callback URL); returns that URL. Other callbacks are
    /// answered 400 and waiting goes on.
    pub async fn wait(
        self,
        timeout: Duration,
        is_answer: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) -> Result<String> {
        let judge: Judge = Arc::new(is_answer);
        let origin = self
            .redirect_uri
            .trim_end_matches(CALLBACK_PATH)
            .to_string();
        let (found, mut answers) = mpsc::channel::<String>(1);
        let mut connections = JoinSet::new();
        let accept = async {
            loop {
                tokio::select! {
                    Some(url) = answers.recv() => return Ok(url),
                    accepted = self.listener.accept() => {
                        let (stream, _) = accepted.map_err(|e| {
                            Error::new(ErrorKind::Transport, "the loopback listener failed")
                                .with_source(e)
                        })?;
                        while connections.try_join_next().is_some() {}
                        if connections.len() >= MAX_CONNECTIONS {
                            drop(stream);
                            continue;
                        }
                        let (judge, found, origin) = (judge.clone(), found.clone(), origin.clone());
                        connections.spawn(async move {
                            if let Some(url) = serve(stream, &origin, judge.as_ref()).await {
                                let _ = found.send(url).await;
                            }
                        });
                    }
                }
            }
        };
        let result = tokio::time::timeout(timeout, accept).await.map_err(|_| {
            Error::new(
                ErrorKind::Consent,
                format!(
                    "no browser came back to {} within {} s; run `switchboard complete <installation> --callback URL` with the URL the browser ended on",
                    self.redirect_uri,
                    timeout.as_secs()
                ),
            )
        })?;
        connections.abort_all();
        result
    }
}

/// What one request turned out to be.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// The awaited callback (its full URL).
    Answer(String),
    /// A callback that is not the answer (wrong, missing or repeated state).
    NotTheAnswer,
    /// Some other path or method.
    NotFound,
    /// A head larger than [`MAX_HEAD`].
    TooLarge,
    /// Not even a request line.
    Malformed,
}

/// Serve one connection within [`CONNECTION_DEADLINE`]; the callback URL
/// when it was the answer.
async fn serve(
    mut stream: TcpStream,
    origin: &str,
    judge: &(dyn Fn(&str) -> bool + Send + Sync),
) -> Option<String> {
    let verdict = match tokio::time::timeout(CONNECTION_DEADLINE, read_head(&mut stream)).await {
        Ok(Some(head)) => judge_head(&head, origin, judge),
        Ok(None) => Verdict::TooLarge,
        Err(_) => {
            respond(&mut stream, "408 Request Timeout", "request timeout").await;
            return None;
        }
    };
    let (status, body) = match &verdict {
        Verdict::Answer(_) => (
            "200 OK",
            "<!doctype html><title>switchboard</title><p>switchboard received the answer. You can close this window and return to the terminal.</p>",
        ),
        Verdict::NotTheAnswer => {
            eprintln!(
                "ignored a request to {CALLBACK_PATH} that does not carry this consent's state (a forged or stale link?); still waiting for the browser"
            );
            (
                "400 Bad Request",
                "<!doctype html><title>switchboard</title><p>This is not the answer switchboard is waiting for: the link is not from the consent in progress. Open the consent link the terminal printed.</p>",
            )
        }
        Verdict::NotFound => ("404 Not Found", "not found"),
        Verdict::TooLarge => ("431 Request Header Fields Too Large", "request too large"),
        Verdict::Malformed => ("400 Bad Request", "bad request"),
    };
    let deadline = tokio::time::timeout(CONNECTION_DEADLINE, respond(&mut stream, status, body));
    let _ = deadline.await;
    match verdict {
        Verdict::Answer(url) => Some(url),
        _ => None,
    }
}

/// The request head (up to the blank line), or `None` when it passes
/// [`MAX_HEAD`]. A connection closed early gives what arrived.
async fn read_head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return None;
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    (head.len() <= MAX_HEAD).then_some(head)
}

fn judge_head(head: &[u8], origin: &str, judge: &(dyn Fn(&str) -> bool + Send + Sync)) -> Verdict {
    let text = String::from_utf8_lossy(head);
    let Some(line) = text.lines().next() else {
        return Verdict::Malformed;
    };
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Verdict::Malformed;
    };
    let path = target.split('?').next().unwrap_or_default();
    if method != "GET" || path != CALLBACK_PATH {
        return Verdict::NotFound;
    }
    let url = format!("{origin}{target}");
    if judge(&url) {
        Verdict::Answer(url)
    } else {
        Verdict::NotTheAnswer
    }
}

async fn respond(stream: &mut TcpStream, status: &str, body: &str) {
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
    // Read what the client is still sending (a head past MAX_HEAD) for a
    // moment before closing: closing with unread input resets the
    // connection, and the client might never see the answer.
    let mut rest = [0u8; 4096];
    let drain = async {
        let mut left = 4 * MAX_HEAD;
        while left > 0 {
            match stream.read(&mut rest).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(url: &str) -> bool {
        url.ends_with("state=right")
    }

    #[test]
    fn requests_are_judged_by_path_and_the_callers_test() {
        let origin = "http://127.0.0.1:5000";
        let head = |line: &str| format!("{line}\r\nhost: x\r\n\r\n").into_bytes();
        assert_eq!(
            judge_head(
                &head("GET /callback?code=a&state=right HTTP/1.1"),
                origin,
                &judge
            ),
            Verdict::Answer(format!("{origin}/callback?code=a&state=right"))
        );
        for not_the_answer in [
            "GET /callback?code=a&state=wrong HTTP/1.1",
            "GET /callback?code=a HTTP/1.1",
            "GET /callback HTTP/1.1",
        ] {
            assert_eq!(
                judge_head(&head(not_the_answer), origin, &judge),
                Verdict::NotTheAnswer,
                "{not_the_answer}"
            );
        }
        for elsewhere in [
            "GET /favicon.ico HTTP/1.1",
            "GET /callbackx?state=right HTTP/1.1",
            "POST /callback?state=right HTTP/1.1",
        ] {
            assert_eq!(
                judge_head(&head(elsewhere), origin, &judge),
                Verdict::NotFound
            );
        }
        assert_eq!(judge_head(b"", origin, &judge), Verdict::Malformed);
        assert_eq!(
            judge_head(b"GET\r\n\r\n", origin, &judge),
            Verdict::Malformed
        );
    }

    #[tokio::test]
    async fn returns_the_answer_after_ignoring_the_rest() {
        let lb = Loopback::bind().await.unwrap();
        let redirect = lb.redirect_uri().to_string();
        assert!(redirect.starts_with("http://127.0.0.1:") && redirect.ends_with("/callback"));
        let origin = redirect.trim_end_matches("/callback").to_string();
        let waiting = tokio::spawn(lb.wait(Duration::from_secs(10), judge));
        let http = reqwest::Client::new();
        let get = |url: String| {
            let http = http.clone();
            async move { http.get(url).send().await.unwrap() }
        };
        assert_eq!(get(format!("{origin}/favicon.ico")).await.status(), 404);
        let forged = get(format!("{redirect}?code=abc&state=wrong")).await;
        assert_eq!(forged.status(), 400);
        assert!(forged.text().await.unwrap().contains("not the answer"));
        let ok = get(format!("{redirect}?code=abc&state=right")).await;
        assert_eq!(ok.status(), 200);
        assert!(ok.text().await.unwrap().contains("close this window"));
        let got = waiting.await.unwrap().unwrap();
        assert_eq!(got, format!("{redirect}?code=abc&state=right"));
    }

    #[tokio::test]
    async fn gives_up_after_the_timeout_with_advice() {
        let lb = Loopback::bind().await.unwrap();
        let err = lb.wait(Duration::from_millis(50), judge).await.unwrap_err();
        assert!(err.to_string().contains("switchboard complete"), "{err}");
    }
}
