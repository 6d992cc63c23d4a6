//! `switchboard install`, `complete` and `reauth`: consent links and callbacks.

use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;
use switchboard_core::lifecycle::{ConsentStarted, InstallRequest, Installations};
use switchboard_core::{Error, Result};

use crate::cli::{Global, InstallArgs};
use crate::installation_view::{InstallationRow, detail_table};
use crate::loopback::Loopback;
use crate::output::emit_one;
use crate::service::{self, DEFAULT_REDIRECT_URI, installation_id};

/// The JSON of `install` and `reauth`.
#[derive(Serialize)]
struct Started {
    installation: InstallationRow,
    consent_url: String,
    redirect_uri: String,
}

fn print_started(global: &Global, started: &ConsentStarted, redirect_uri: &str) -> Result<()> {
    let out = Started {
        installation: InstallationRow::from(&started.installation),
        consent_url: started.consent_url.to_string(),
        redirect_uri: redirect_uri.to_string(),
    };
    let who = if started.installation.variant == "application" {
        "an administrator of the tenant"
    } else {
        "the user"
    };
    emit_one(global.output, &out, |o| {
        // the link on a line of its own: a table cell would wrap it
        let table = detail_table(
            &o.installation,
            vec![("redirect uri".into(), o.redirect_uri.clone())],
        );
        format!(
            "{table}\nconsent link for {who} (one use):\n{}\nthen: switchboard complete {} --callback '<URL the browser ended on>'",
            o.consent_url, o.installation.id
        )
    })
}

fn print_installation(
    global: &Global,
    inst: &switchboard_core::install::Installation,
) -> Result<()> {
    let row = InstallationRow::from(inst);
    emit_one(global.output, &row, |r| {
        detail_table(r, Vec::new()).to_string()
    })
}

fn request(args: &InstallArgs) -> Result<InstallRequest> {
    let mut req = InstallRequest::new(&args.account, &args.connector, &args.variant)
        .setting("tenant_id", args.tenant.clone())
        .cloud(args.cloud.clone());
    if let Some(url) = &args.login_url {
        req = req.setting("login_url", url.clone());
    }
    if let Some(url) = &args.graph_url {
        req = req.setting("graph_url", url.clone());
    }
    if !args.enable.is_empty() {
        req = req.enable(args.enable.iter().cloned());
    }
    match (&args.client_id, &args.client_secret) {
        (Some(id), secret) => req = req.own_client(id.clone(), secret.clone()),
        (None, _) if std::env::var_os(service::CLIENT_ID_ENV).is_none() => {
            return Err(Error::invalid_argument(
                "--client-id",
                format!(
                    "is required: the app registration's application (client) ID, or set {} for the platform's app",
                    service::CLIENT_ID_ENV
                ),
            ));
        }
        (None, _) => {}
    }
    Ok(req)
}

pub async fn install(global: &Global, args: InstallArgs) -> Result<ExitCode> {
    let req = request(&args)?;
    if args.listen {
        let loopback = Loopback::bind().await?;
        let redirect = loopback.redirect_uri().to_string();
        let service = service::open(global, Some(&redirect)).await?;
        let started = service.install(req).await?;
        print_started(global, &started, &redirect)?;
        eprintln!(
            "waiting up to {} s for the browser to come back to {redirect} ...",
            args.timeout
        );
        let expected = started.clone();
        let callback = loopback
            .wait(Duration::from_secs(args.timeout), move |url| {
                expected.is_callback_for(url)
            })
            .await?;
        let active = service.complete(started.installation.id, &callback).await?;
        eprintln!("consent completed; the installation is {}", active.status);
        print_installation(global, &active)?;
        return Ok(ExitCode::SUCCESS);
    }
    let redirect = args
        .redirect_uri
        .clone()
        .unwrap_or_else(|| DEFAULT_REDIRECT_URI.to_string());
    let service = service::open(global, Some(&redirect)).await?;
    let started = service.install(req).await?;
    print_started(global, &started, &redirect)?;
    Ok(ExitCode::SUCCESS)
}

/// The redirect URI a callback URL came back to: the URL without its query.
fn redirect_of(callback: &str) -> Option<String> {
    let mut url = url::Url::parse(callback.trim()).ok()?;
    url.set_query(None);
    url.set_fragment(None);
    Some(url.to_string())
}

pub async fn complete(
    global: &Global,
    installation: &str,
    callback: &str,
    redirect_uri: Option<String>,
) -> Result<ExitCode> {
    let id = installation_id(installation)?;
    let redirect = redirect_uri
        .or_else(|| redirect_of(callback))
        .unwrap_or_else(|| DEFAULT_REDIRECT_URI.to_string());
    let service: Installations = service::open(global, Some(&redirect)).await?;
    let active = service.complete(id, callback).await?;
    print_installation(global, &active)?;
    Ok(ExitCode::SUCCESS)
}

pub async fn reauth(
    global: &Global,
    installation: &str,
    redirect_uri: Option<String>,
) -> Result<ExitCode> {
    let id = installation_id(installation)?;
    let redirect = redirect_uri.unwrap_or_else(|| DEFAULT_REDIRECT_URI.to_string());
    let service = service::open(global, Some(&redirect)).await?;
    let started = service.reauthenticate(id).await?;
    print_started(global, &started, &redirect)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redirect_uri_is_the_callback_without_its_query() {
        assert_eq!(
            redirect_of("http://127.0.0.1:5123/callback?code=abc&state=xyz").as_deref(),
            Some("http://127.0.0.1:5123/callback")
        );
        assert_eq!(redirect_of("code=abc&state=xyz"), None);
    }
}
