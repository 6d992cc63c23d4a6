//! A one-shot loopback redirect listener for consent in a browser.
//!
//! `switchboard install --listen` binds `127.0.0.1:0`, uses
//! `http://127.0.0.1:PORT/callback` as the redirect URI (Microsoft Entra,
//! like the sandbox, accepts loopback redirect URIs on any port), and waits
//! for the browser to come back. The first request to `/callback` is
//! answered with a short page and its URL returned; anything else gets 404.

use std::time::Duration;

use switchboard_core::{Error, ErrorKind, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The path the browser is sent back to.
const CALLBACK_PATH: &str = "/callback";

/// The most of a request head read.
const MAX_HEAD: usize = 16 * 1024;

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

    /// Wait (at most `timeout`) for the browser's callback; returns the full
    /// callback URL with its query.
    pub async fn wait(self, timeout: Duration) -> Result<String> {
        let accept = async {
            loop {
                let (stream, _) = self.listener.accept().await.map_err(|e| {
                    Error::new(ErrorKind::Transport, "the loopback listener failed").with_source(e)
                })?;
                if let Some(target) = serve_one(stream).await {
                    return Ok(format!(
                        "{}{}",
                        self.redirect_uri.trim_end_matches(CALLBACK_PATH),
                        target
                    ));
                }
            }
        };
        tokio::time::timeout(timeout, accept).await.map_err(|_| {
            Error::new(
                ErrorKind::Consent,
                format!(
                    "no browser came back to {} within {} s; run `switchboard complete <installation> --callback URL` with the URL the browser ended on",
                    self.redirect_uri,
                    timeout.as_secs()
                ),
            )
        })?
    }
}

/// Read one request; answer it. Returns the request target when it was the
/// callback.
async fn serve_one(mut stream: TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head);
    let target = text
        .lines()
        .next()
        .and_then(|line| {
            let mut parts = line.split_whitespace();
            match (parts.next(), parts.next()) {
                (Some("GET"), Some(target)) => Some(target.to_string()),
                _ => None,
            }
        })
        .filter(|t| t == CALLBACK_PATH || t.starts_with(&format!("{CALLBACK_PATH}?")));
    let (status, body) = match &target {
        Some(_) => (
            "200 OK",
            "<!doctype html><title>switchboard</title><p>switchboard received the answer. You can close this window and return to the terminal.</p>",
        ),
        None => ("404 Not Found", "not found"),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
    target
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_the_callback_url_and_ignores_other_paths() {
        let lb = Loopback::bind().await.unwrap();
        let redirect = lb.redirect_uri().to_string();
        assert!(redirect.starts_with("http://127.0.0.1:") && redirect.ends_with("/callback"));
        let origin = redirect.trim_end_matches("/callback").to_string();
        let waiting = tokio::spawn(lb.wait(Duration::from_secs(10)));
        let http = reqwest::Client::new();
        let other = http
            .get(format!("{origin}/favicon.ico"))
            .send()
            .await
            .unwrap();
        assert_eq!(other.status().as_u16(), 404);
        let ok = http
            .get(format!("{redirect}?code=abc&state=xyz"))
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status().as_u16(), 200);
        assert!(ok.text().await.unwrap().contains("close this window"));
        let got = waiting.await.unwrap().unwrap();
        assert_eq!(got, format!("{redirect}?code=abc&state=xyz"));
    }

    #[tokio::test]
    async fn gives_up_after_the_timeout_with_advice() {
        let lb = Loopback::bind().await.unwrap();
        let err = lb.wait(Duration::from_millis(50)).await.unwrap_err();
        assert!(err.to_string().contains("switchboard complete"), "{err}");
    }
}
