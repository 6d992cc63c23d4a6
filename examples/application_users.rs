//! Application install, then stream users: what a platform does when a
//! customer's administrator connects their Microsoft 365 tenant.
//!
//! Runs against the offline sandbox (a local Microsoft identity and Graph
//! with a seeded tenant), on an encrypted SQLite store in a temporary
//! directory:
//!
//! ```sh
//! cargo run -p switchboard-examples --example application_users
//! ```
//!
//! Against a real tenant the steps are the same; only the install request
//! (the customer's tenant id, your app registration) and the consent (a
//! person opening `consent_url`) differ.

use futures::TryStreamExt;
use serde::Deserialize;
use switchboard::{Arguments, KeyRing, Store, Switchboard};
use switchboard_microsoft365_sandbox::{Sandbox, SandboxConfig};

/// The fields of a Graph user this program reads (Graph sends more).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct User {
    id: String,
    display_name: String,
    mail: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sandbox = Sandbox::start(SandboxConfig::new(7)).await?;

    // The platform's store: SQLite, secrets encrypted with a master key.
    // (In production: `KeyRing::from_env()` and a lasting path, or PostgreSQL.)
    let dir = tempfile::tempdir()?;
    let spec = format!("sqlite:{}", dir.path().join("switchboard.db").display());
    let store = Store::open(&spec, KeyRing::generate("k1")?).await?;

    let sb = Switchboard::builder()
        .store(store)
        .connector(switchboard_microsoft365::connector()?)
        .redirect_uri("http://127.0.0.1/callback")
        .build()?;

    // 1. Install: the installation is stored pending consent.
    let started = sb
        .install(sandbox.install_request("acct-42", "application"))
        .await?;
    println!("installation {} created", started.installation.id);
    println!("an administrator would open: {}", started.consent_link()?);

    // 2. The administrator consents; the callback comes back to the platform.
    let callback = sandbox.consent(started.consent_link()?).await?;
    let installation = sb.complete(&callback).await?;
    println!(
        "installation {} is {}",
        installation.id, installation.status
    );

    // 3. Act for the installation: stream every user, typed.
    let client = sb.installation(installation.id).await?;
    let report = client.test().await?;
    if !report.ok {
        return Err(format!("the connection test failed: {}", report.message).into());
    }
    println!("connection test: {}", report.message);
    let mut users = client.stream_as::<User>("users.list_users", Arguments::new().set("top", 5));
    let mut count = 0;
    while let Some(user) = users.try_next().await? {
        count += 1;
        let mail = user.mail.as_deref().unwrap_or("-");
        println!(
            "{:>3}. {:<28} {:<40} {}",
            count, user.display_name, mail, user.id
        );
    }
    if count == 0 {
        return Err("the sandbox tenant listed no users".into());
    }
    println!("{count} users, in pages of 5");
    sandbox.shutdown().await;
    Ok(())
}
