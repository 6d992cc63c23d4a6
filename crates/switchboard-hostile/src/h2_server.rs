//! A cleartext HTTP/2 server (prior knowledge) that resets streams with a
//! reason of its choosing: the protocol-level refusals wiremock, an
//! HTTP/1.1 server, cannot send. A client reaches it with
//! `reqwest::ClientBuilder::http2_prior_knowledge`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use tokio::net::TcpListener;

/// The server; it runs until the test's runtime ends.
pub struct H2Server {
    pub addr: SocketAddr,
    streams: Arc<AtomicUsize>,
}

impl H2Server {
    /// Reset the first `resets` streams with `reason`, then answer every
    /// later one with `status` and `body` (`application/json`).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use switchboard_hostile::h2_server::H2Server;
    ///
    /// let server = H2Server::resetting(h2::Reason::REFUSED_STREAM, 1, 200, "{}").await;
    /// assert_eq!(server.streams(), 0);
    /// # });
    /// ```
    pub async fn resetting(
        reason: h2::Reason,
        resets: usize,
        status: u16,
        body: &'static str,
    ) -> H2Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        let streams = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&streams);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let seen = Arc::clone(&seen);
                tokio::spawn(async move {
                    let Ok(mut connection) = h2::server::handshake(tcp).await else {
                        return;
                    };
                    while let Some(Ok((_request, mut respond))) = connection.accept().await {
                        if seen.fetch_add(1, Ordering::SeqCst) < resets {
                            respond.send_reset(reason);
                            continue;
                        }
                        let response = http::Response::builder()
                            .status(status)
                            .header("content-type", "application/json")
                            .body(())
                            .expect("response head");
                        if let Ok(mut stream) = respond.send_response(response, false) {
                            let _ = stream.send_data(Bytes::from_static(body.as_bytes()), true);
                        }
                    }
                });
            }
        });
        H2Server { addr, streams }
    }

    /// `http://127.0.0.1:port`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many streams (requests) the server was sent.
    pub fn streams(&self) -> usize {
        self.streams.load(Ordering::SeqCst)
    }
}
