//! Delegated install with a loopback callback: a person signs in in their
//! browser, Microsoft identity redirects back to a listener on
//! `127.0.0.1`, and the platform finishes the install from that request.
//! Then read the signed-in user's inbox.
//!
//! Runs against the offline sandbox; the "browser" is a plain HTTP client
//! that follows the redirects, as a person's browser would:
//!
//! ```sh
//! cargo run -p switchboard-examples --example delegated_loopback
//! ```
//!
//! Microsoft Entra accepts `http://127.0.0.1/<path>` redirect URIs on any
//! port, which is what desktop tools and this example rely on.

use std::time::Duration;

use futures::TryStreamExt;
use serde::Deserialize;
use switchboard::{Arguments, MemoryStore, Switchboard};
use switchboard_microsoft365_sandbox::{Sandbox, SandboxConfig};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// The fields of a Graph message this program reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Message {
    subject: Option<String>,
    received_date_time: Option<String>,
}

/// The longest request line the listener reads.
const MAX_REQUEST_LINE: u64 = 16 * 1024;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sandbox = Sandbox::start(SandboxConfig::new(7)).await?;

    // The loopback listener the browser is sent back to.
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let redirect_uri = format!(
        "http://127.0.0.1:{}/callback",
        listener.local_addr()?.port()
    );

    let sb = Switchboard::builder()
        .store(MemoryStore::new())
        .connector(switchboard_microsoft365::connector()?)
        .redirect_uri(&redirect_uri)
        .build()?;
    let started = sb
        .install(sandbox.install_request("acct-7", "delegated"))
        .await?;
    println!("open this link to sign in: {}", started.consent_link()?);

    // The person's browser: opens the link and follows the redirects, the
    // last of which lands on our listener.
    let browser = tokio::spawn({
        let url = started.consent_link()?.clone();
        async move { reqwest::get(url.as_str()).await?.text().await }
    });

    // Wait for the callback: one request line, bounded in size and time.
    let (socket, _) = tokio::time::timeout(Duration::from_secs(60), listener.accept()).await??;
    let (read, mut write) = socket.into_split();
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        BufReader::new(read.take(MAX_REQUEST_LINE)).read_line(&mut line),
    )
    .await??;
    // "GET /callback?code=...&state=... HTTP/1.1"
    let target = line
        .split_whitespace()
        .nth(1)
        .ok_or("the callback request had no target")?;
    let installation = sb.complete(&format!("http://127.0.0.1{target}")).await;
    let page = match &installation {
        Ok(_) => "Signed in. You can close this window.",
        Err(_) => "Sign-in failed. Return to the application.",
    };
    write
        .write_all(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                page.len()
            )
            .as_bytes(),
        )
        .await?;
    drop(write);
    let installation = installation?;
    println!("the browser showed: {}", browser.await??);
    println!(
        "installation {} is {}",
        installation.id, installation.status
    );

    // Act as the signed-in user: the newest messages of the inbox.
    let client = sb.installation(installation.id).await?;
    let messages: Vec<Message> = client
        .stream_as::<Message>(
            "mail.list_folder_messages",
            Arguments::new().set("folder_id", "inbox").set("top", 10),
        )
        .try_collect()
        .await?;
    if messages.is_empty() {
        return Err("the signed-in user's inbox is empty".into());
    }
    for message in &messages {
        println!(
            "{}  {}",
            message.received_date_time.as_deref().unwrap_or("-"),
            message.subject.as_deref().unwrap_or("(no subject)")
        );
    }
    println!("{} messages", messages.len());
    sandbox.shutdown().await;
    Ok(())
}
