//! `switchboard quickstart`: the whole flow offline, in one command.
//!
//! 1. Start the sandbox in-process on a free loopback port.
//! 2. Open a fresh store in a temporary directory (or `--store`).
//! 3. Install Microsoft 365 twice against the sandbox (`--cloud custom`):
//!    delegated (the authorize link is followed with an HTTP client, no
//!    browser: the sandbox consents as its first user and redirects with a
//!    code) and application (the admin consent link is followed the same
//!    way). Both consents are completed through the lifecycle API, exactly
//!    as `switchboard complete` does.
//! 4. Run one method per category and print four tables.
//! 5. Show the commands that do the same against real Microsoft 365.

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use switchboard_core::InstallationId;
use switchboard_core::{Arguments, Error, ErrorKind, InstallationContext, Result};
use switchboard_installations::lifecycle::Installations;
use switchboard_microsoft365_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use switchboard_store::KeyRing;

use crate::call::read_records;
use crate::cli::{Global, Output};
use crate::output::{print_json, println_out};
use crate::records::record_table;
use crate::service::{self, DEFAULT_REDIRECT_URI};
use crate::store::StoreLocation;
use crate::terminal_text;
use switchboard_core::datetime::format_utc;

/// One table of the quickstart.
struct Step {
    title: &'static str,
    variant: &'static str,
    method: &'static str,
    args: Arguments,
    columns: &'static [&'static str],
}

pub async fn run(global: &Global, seed: u64) -> Result<ExitCode> {
    let sandbox = Sandbox::start(SandboxConfig::new(seed)).await?;
    let result = run_with(global, &sandbox).await;
    sandbox.shutdown().await;
    result
}

async fn run_with(global: &Global, sandbox: &SandboxHandle) -> Result<ExitCode> {
    let temp = tempfile::tempdir().map_err(|e| {
        Error::new(ErrorKind::Storage, "could not create a temporary directory").with_source(e)
    })?;
    let (store, store_text) = match global.store.as_deref() {
        Some(spec) => {
            let location = StoreLocation::resolve(Some(spec))?;
            (location.open().await?, location.display())
        }
        None => {
            let location = StoreLocation::resolve(Some(&format!(
                "sqlite:{}",
                temp.path().join("quickstart.db").display()
            )))?;
            // a throwaway store gets a throwaway key, not a key file
            let store = location.open_with(KeyRing::generate("k1")?).await?;
            (store, "a temporary SQLite store".to_string())
        }
    };
    let engine = service::engine(global)?;
    let service = service::installations(engine.clone(), store, Some(DEFAULT_REDIRECT_URI))?;
    let tables = global.output == Output::Table;
    if tables {
        eprintln!(
            "sandbox: {} (tenant {}); store: {store_text}",
            sandbox.base_url(),
            sandbox.tenant_id()
        );
    }

    // one account per run, so a persistent --store can run this again
    let account = format!(
        "quickstart-{}",
        &InstallationId::new_random().as_uuid().simple().to_string()[..8]
    );
    let delegated = install(&service, sandbox, &account, "delegated").await?;
    let application = install(&service, sandbox, &account, "application").await?;
    if tables {
        eprintln!("installed: delegated {delegated}, application {application}");
    }
    let delegated_ctx = service.context(delegated).await?;
    let application_ctx = service.context(application).await?;

    let me = sandbox
        .users()
        .into_iter()
        .next()
        .ok_or_else(|| Error::new(ErrorKind::Remote, "the sandbox has no users"))?;
    let now = SystemTime::now();
    let week = now + Duration::from_secs(7 * 24 * 3600);
    let steps = [
        Step {
            title: "Users",
            variant: "application",
            method: "users.list_users",
            args: Arguments::new().set("top", 10).set(
                "select",
                serde_json::json!(["id", "displayName", "userPrincipalName", "jobTitle"]),
            ),
            columns: &["displayName", "userPrincipalName", "jobTitle"],
        },
        Step {
            title: "Calendar: the next 7 days",
            variant: "delegated",
            method: "calendars.calendar_view",
            args: Arguments::new()
                .set("start", format_utc(now))
                .set("end", format_utc(week))
                .set("top", 10)
                .set("orderby", serde_json::json!(["start/dateTime"])),
            columns: &["subject", "start", "end", "location"],
        },
        Step {
            title: "Mail: inbox",
            variant: "delegated",
            method: "mail.list_folder_messages",
            args: Arguments::new()
                .set("folder_id", "inbox")
                .set("top", 10)
                .set(
                    "select",
                    serde_json::json!(["subject", "from", "receivedDateTime", "isRead"]),
                ),
            columns: &["subject", "from", "receivedDateTime", "isRead"],
        },
        Step {
            title: "OneDrive: root folder",
            variant: "application",
            method: "onedrive.list_root_children",
            args: Arguments::new().set("user_id", me.id.clone()),
            columns: &["name", "size", "lastModifiedDateTime"],
        },
    ];
    let mut json = serde_json::Map::new();
    for step in steps {
        let ctx: &InstallationContext = if step.variant == "delegated" {
            &delegated_ctx
        } else {
            &application_ctx
        };
        let (records, _) =
            read_records(&engine, ctx, step.method, step.args, false, |_| Ok(())).await?;
        if tables {
            let who = if step.variant == "delegated" {
                format!("as {}", me.user_principal_name)
            } else {
                "app-only".to_string()
            };
            // the user principal name comes from the service
            println_out(&terminal_text::lines(&format!(
                "\n{} ({} records; {}, {} variant, {who})",
                step.title,
                records.len(),
                step.method,
                step.variant
            )))?;
            let columns: Vec<String> = step.columns.iter().map(|c| c.to_string()).collect();
            println_out(&record_table(&records, Some(&columns)).to_string())?;
        } else {
            json.insert(step.method.to_string(), serde_json::Value::Array(records));
        }
    }
    match global.output {
        Output::Table => println_out(&real_tenant_help())?,
        Output::Json => print_json(&serde_json::json!({
            "installations": {"delegated": delegated.to_string(), "application": application.to_string()},
            "results": json,
        }))?,
        Output::Ndjson => {
            for (method, records) in json {
                crate::output::print_json_line(
                    &serde_json::json!({"method": method, "records": records}),
                )?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Install one variant against the sandbox and complete its consent by
/// following the consent link's redirect.
async fn install(
    service: &Installations,
    sandbox: &SandboxHandle,
    account: &str,
    variant: &str,
) -> Result<InstallationId> {
    let started = service
        .install(sandbox.install_request(account, variant))
        .await?;
    let callback = sandbox.consent(started.consent_link()?).await?;
    let active = service.complete(started.installation.id, &callback).await?;
    Ok(active.id)
}

fn real_tenant_help() -> String {
    let sb = crate::program::invocation();
    let mut text = format!(
        "
That was the sandbox. The same against real Microsoft 365:

  # 1. In Microsoft Entra ID, register an app. Add the redirect URI
  #    http://127.0.0.1/callback (Entra accepts loopback redirect URIs on any
  #    port); for the application variant, create a client secret and grant
  #    the permissions this lists:
  {sb} permissions microsoft365 --variant application

  # 2. Delegated: a user signs in in the browser; switchboard listens on a
  #    loopback port and finishes by itself
  {sb} install microsoft365 --variant delegated \\
      --tenant contoso.onmicrosoft.com --client-id <application id> --listen

  # 3. Application: an administrator opens the printed admin consent link,
  #    then you pass the URL the browser ended on (the secret comes from the
  #    environment, --client-secret-file or --client-secret-stdin, never argv)
  SWITCHBOARD_CLIENT_SECRET=<secret value> {sb} install microsoft365 \\
      --variant application --tenant <tenant id> --client-id <application id>
  {sb} complete <installation> --callback '<URL the browser ended on>'

  # 4. Check the grant and call methods
  {sb} test <installation>
  {sb} call <installation> users.list_users --param top=5
  {sb} call <installation> mail.list_folder_messages --param folder_id=inbox --all --output ndjson

See docs/cli.md for every command."
    );
    if !crate::program::is_on_path() {
        text.push_str(
            "\n`switchboard` is not on your PATH, so these use the full path of this binary; `cargo install --path crates/switchboard-cli` installs it (the first build takes a few minutes).",
        );
    }
    text
}
