//! `switchboard install`, `complete` and `reauth`: consent links and callbacks.

use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;
use switchboard_core::files::read_limited_string;
use switchboard_core::local_origins;
use switchboard_core::{Error, Result};
use switchboard_installations::lifecycle::{ConsentStarted, InstallRequest, Installations};

use crate::cli::{ConsentReturn, Global, InstallArgs, ReauthArgs};
use crate::exit::CliResult;
use crate::installation_view::{InstallationRow, detail_table};
use crate::loopback::Loopback;
use crate::output::emit_one;
use crate::service::{self, DEFAULT_REDIRECT_URI};
use crate::{registry, typos};

/// The JSON of `install` and `reauth`. `consent_url` is `null` when the
/// variant needs no consent (its credential came with the install).
#[derive(Serialize)]
struct Started {
    installation: InstallationRow,
    consent_url: Option<String>,
    redirect_uri: String,
}

fn print_started(global: &Global, started: &ConsentStarted, redirect_uri: &str) -> Result<()> {
    let out = Started {
        installation: InstallationRow::from(&started.installation),
        consent_url: started.consent_url.as_ref().map(|url| url.to_string()),
        redirect_uri: redirect_uri.to_string(),
    };
    let who = if started.installation.variant == "application" {
        "an administrator of the tenant"
    } else {
        "the user"
    };
    emit_one(global.output, &out, |o| {
        let Some(consent_url) = &o.consent_url else {
            let table = detail_table(&o.installation, Vec::new());
            return format!(
                "{table}\nno consent needed: the credential came with the install; the installation is active"
            );
        };
        // the link on a line of its own: a table cell would wrap it
        let table = detail_table(
            &o.installation,
            vec![("redirect uri".into(), o.redirect_uri.clone())],
        );
        format!(
            "{table}\nconsent link for {who} (one use):\n{}\nthen: {} complete {} --callback '<URL the browser ended on>'",
            consent_url,
            crate::program::invocation(),
            o.installation.id
        )
    })
}

fn print_installation(
    global: &Global,
    inst: &switchboard_installations::install::Installation,
) -> Result<()> {
    let row = InstallationRow::from(inst);
    emit_one(global.output, &row, |r| {
        detail_table(r, Vec::new()).to_string()
    })
}

/// The installation settings' names, as the flags that set them.
const FLAGS: &[(&str, &str)] = &[
    ("tenant_id", "--tenant"),
    ("tenant", "--tenant"),
    ("cloud", "--cloud"),
    ("login_url", "--login-url"),
    ("graph_url", "--graph-url"),
    ("client_id", "--client-id"),
    ("client_secret", "--client-secret-file"),
    ("variant", "--variant"),
    ("connector", "CONNECTOR"),
    ("account", "--account"),
    ("enable", "--enable"),
    ("redirect_uri", "--redirect-uri"),
];

/// `err` with the setting it names replaced by the flag the user typed
/// (`tenant_id` becomes `--tenant`).
fn in_flag_terms(err: Error) -> Error {
    let Some((_, flag)) = err
        .field()
        .and_then(|f| FLAGS.iter().find(|(setting, _)| *setting == f))
    else {
        return err;
    };
    let mut message = err.message().to_string();
    for (setting, flag) in FLAGS {
        message = message.replace(&format!("`{setting}`"), &format!("`{flag}`"));
    }
    if *flag == "--client-secret-file" {
        message.push_str(&format!(
            "; give it with {}, --client-secret-file PATH or --client-secret-stdin",
            service::CLIENT_SECRET_ENV
        ));
    }
    Error::new(err.kind(), message).with_field(*flag)
}

/// The most of a secret file or standard input read.
const MAX_SECRET_BYTES: usize = 64 * 1024;

/// A secret read from a file (at most [`MAX_SECRET_BYTES`]); `field` names
/// the flag in errors.
fn secret_from_file(field: &str, path: &std::path::Path, what: &str) -> Result<String> {
    read_limited_string(path, MAX_SECRET_BYTES as u64).map_err(|e| {
        Error::invalid_argument(
            field,
            format!("{} {e} (the file holds the {what} only)", path.display()),
        )
    })
}

/// The first line of standard input (at most [`MAX_SECRET_BYTES`]).
fn secret_from_stdin(field: &str) -> Result<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(MAX_SECRET_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::invalid_argument(field, format!("cannot read standard input: {e}")))?;
    if bytes.len() > MAX_SECRET_BYTES {
        return Err(Error::invalid_argument(
            field,
            format!(
                "standard input has more than {MAX_SECRET_BYTES} bytes; give the secret value only"
            ),
        ));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::invalid_argument(field, "standard input is not UTF-8 text"))?;
    Ok(text.lines().next().unwrap_or_default().to_string())
}

/// The app's client secret: `--client-secret-file`, `--client-secret-stdin`,
/// else `SWITCHBOARD_CLIENT_SECRET`. Never from the command line.
fn client_secret(args: &InstallArgs) -> Result<Option<String>> {
    if args.client_secret.is_some() {
        return Err(Error::invalid_argument(
            "--client-secret",
            format!(
                "a secret on the command line shows in the process list and the shell's history; set {}, or pass --client-secret-file PATH or --client-secret-stdin",
                service::CLIENT_SECRET_ENV
            ),
        ));
    }
    let (field, text) = if let Some(path) = &args.client_secret_file {
        let text = secret_from_file("--client-secret-file", path, "client secret value")?;
        ("--client-secret-file", text)
    } else if args.client_secret_stdin {
        (
            "--client-secret-stdin",
            secret_from_stdin("--client-secret-stdin")?,
        )
    } else {
        match std::env::var(service::CLIENT_SECRET_ENV) {
            Ok(v) if !v.trim().is_empty() => (service::CLIENT_SECRET_ENV, v),
            _ => return Ok(None),
        }
    };
    let secret = text.trim();
    if secret.is_empty() {
        return Err(Error::invalid_argument(field, "the client secret is empty"));
    }
    Ok(Some(secret.to_string()))
}

/// `NAME=VALUE` split at the first `=`.
fn name_value<'a>(flag: &str, item: &'a str) -> Result<(&'a str, &'a str)> {
    item.split_once('=')
        .filter(|(name, _)| !name.is_empty())
        .ok_or_else(|| Error::invalid_argument(flag, "expected NAME=VALUE"))
}

/// The install parameters of `--param`, `--secret-env`, `--secret-file`
/// and `--secret-stdin`, checked against the definition: a secret given
/// with `--param` is refused (it would show in the process list). The
/// reserved settings `local_api_origin` / `local_identity_origin` pass
/// through to the install flow, which accepts only loopback origins.
fn install_parameters(
    def: &switchboard_core::ConnectorDefinition,
    args: &InstallArgs,
) -> Result<Vec<(String, String)>> {
    let declared = |flag: &str, name: &str| {
        def.install_parameters
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| {
                let known: Vec<&str> = def
                    .install_parameters
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect();
                Error::invalid_argument(
                    flag,
                    format!(
                        "`{name}` is not an install parameter of {}; {}(install parameters: {})",
                        def.id,
                        typos::hint(name, known.iter().copied()),
                        known.join(", ")
                    ),
                )
            })
    };
    let mut out = Vec::new();
    for item in &args.params {
        let (name, value) = name_value("--param", item)?;
        // The loopback overrides are settings of every definition-driven
        // connector, not install parameters; the install flow checks them.
        let reserved = local_origins::SETTINGS.contains(&name)
            && !def.install_parameters.iter().any(|p| p.name == name);
        if !reserved && declared("--param", name)?.secret {
            return Err(Error::invalid_argument(
                "--param",
                format!(
                    "`{name}` is a secret: on the command line it would show in the process list and the shell's history; use --secret-env {name}=VARIABLE, --secret-file {name}=PATH or --secret-stdin {name}"
                ),
            ));
        }
        out.push((name.to_string(), value.to_string()));
    }
    let mut secrets: Vec<(&str, &str, String)> = Vec::new();
    for item in &args.secret_env {
        let (name, var) = name_value("--secret-env", item)?;
        let value = std::env::var(var).map_err(|_| {
            Error::invalid_argument(
                "--secret-env",
                format!("environment variable {var} is not set"),
            )
        })?;
        secrets.push(("--secret-env", name, value));
    }
    for item in &args.secret_file {
        let (name, path) = name_value("--secret-file", item)?;
        let value = secret_from_file("--secret-file", std::path::Path::new(path), "secret value")?;
        secrets.push(("--secret-file", name, value));
    }
    if let Some(name) = &args.secret_stdin {
        secrets.push(("--secret-stdin", name, secret_from_stdin("--secret-stdin")?));
    }
    for (flag, name, value) in secrets {
        declared(flag, name)?;
        let value = value.trim();
        if value.is_empty() {
            return Err(Error::invalid_argument(
                flag,
                format!("the secret `{name}` is empty"),
            ));
        }
        out.push((name.to_string(), value.to_string()));
    }
    Ok(out)
}

/// The install request, checked in the order a person reads the command:
/// the connector, its variant, the tenant, what to enable, the app.
fn request(args: &InstallArgs) -> Result<InstallRequest> {
    let registry = registry::builtin()?;
    let def = registry::connector(&registry, &args.connector, "CONNECTOR")?.definition();
    let variant = args.variant.as_deref().ok_or_else(|| {
        let known: Vec<&str> = def.auth_variants.iter().map(|v| v.id.as_str()).collect();
        Error::invalid_argument(
            "--variant",
            format!("is required: one of {}", known.join(", ")),
        )
    })?;
    registry::check_variant(def, variant)?;
    for item in &args.enable {
        if def.method(item).is_none() && !def.categories.iter().any(|c| c.id == *item) {
            let categories: Vec<&str> = def.categories.iter().map(|c| c.id.as_str()).collect();
            let methods = def.methods.iter().map(|m| m.id.as_str());
            return Err(Error::invalid_argument(
                "--enable",
                format!(
                    "`{item}` is neither a category nor a method of {id}; {}(categories: {}; `switchboard methods {id}` lists the methods)",
                    typos::hint(item, categories.iter().copied().chain(methods)),
                    categories.join(", "),
                    id = def.id
                ),
            ));
        }
    }
    let parameters = install_parameters(def, args)?;
    let oauth = def.variant(variant).is_some_and(|v| v.uses_permissions());
    if !oauth {
        // The credential came with the install parameters: no tenant, app
        // or consent.
        let mut req = InstallRequest::new(&args.account, &args.connector, variant);
        for (name, value) in parameters {
            req = req.setting(name, value);
        }
        if !args.enable.is_empty() {
            req = req.enable(args.enable.iter().cloned());
        }
        return Ok(req);
    }
    // A variant that declares its OAuth as data (kind `oauth2`) has no
    // directory tenant unless its URLs use one (then it is a `--param`),
    // or its connector requires one (Microsoft 365: `--tenant`).
    let requires_tenant = def
        .install_parameters
        .iter()
        .any(|p| p.name == "tenant_id" && p.required);
    let declared = !requires_tenant
        && def
            .variant(variant)
            .is_some_and(|v| v.kind == switchboard_core::definition::AuthKind::Oauth2);
    let mut req = InstallRequest::new(&args.account, &args.connector, variant);
    match (args.tenant.as_deref(), declared) {
        (Some(tenant), _) => {
            req = req
                .setting("tenant_id", tenant.to_string())
                .cloud(args.cloud.clone());
        }
        (None, true) => {}
        (None, false) => {
            return Err(Error::invalid_argument(
                "--tenant",
                "is required: the customer's directory (tenant) ID, a GUID or a verified domain such as contoso.onmicrosoft.com",
            ));
        }
    }
    for (name, value) in parameters {
        req = req.setting(name, value);
    }
    if let Some(url) = &args.login_url {
        req = req.setting("login_url", url.clone());
    }
    if let Some(url) = &args.graph_url {
        req = req.setting("graph_url", url.clone());
    }
    if !args.enable.is_empty() {
        req = req.enable(args.enable.iter().cloned());
    }
    let secret = client_secret(args)?;
    match &args.client_id {
        Some(id) => req = req.own_client(id.clone(), secret),
        None if std::env::var_os(service::CLIENT_ID_ENV).is_none() => {
            return Err(Error::invalid_argument(
                "--client-id",
                format!(
                    "is required: the app registration's application (client) ID, or set {} for the platform's app",
                    service::CLIENT_ID_ENV
                ),
            ));
        }
        None => {}
    }
    Ok(req)
}

/// Where consent returns: with `--listen` a loopback listener and its
/// redirect URI, else `--redirect-uri` (default [`DEFAULT_REDIRECT_URI`]).
async fn consent_return(args: &ConsentReturn) -> Result<(Option<Loopback>, String)> {
    if args.listen {
        let loopback = Loopback::bind().await?;
        let redirect = loopback.redirect_uri().to_string();
        return Ok((Some(loopback), redirect));
    }
    let redirect = args
        .redirect_uri
        .clone()
        .unwrap_or_else(|| DEFAULT_REDIRECT_URI.to_string());
    Ok((None, redirect))
}

/// Print the consent link; with a listener, wait for the browser's
/// callback and finish consent.
async fn consent(
    global: &Global,
    service: &Installations,
    started: &ConsentStarted,
    (loopback, redirect): (Option<Loopback>, String),
    timeout: u64,
) -> CliResult {
    print_started(global, started, &redirect)?;
    let (Some(loopback), Some(_)) = (loopback, &started.consent_url) else {
        return Ok(ExitCode::SUCCESS);
    };
    eprintln!("waiting up to {timeout} s for the browser to come back to {redirect} ...");
    let id = started.installation.id;
    // only the callback of this consent ends the wait (forged ones are ignored)
    let expected = started.clone();
    let callback = loopback
        .wait(Duration::from_secs(timeout), move |url| {
            expected.is_callback_for(url)
        })
        .await?;
    let active = match service.complete(id, &callback).await {
        Ok(active) => active,
        Err(err) => return Err(service::refused(service, id, err).await),
    };
    eprintln!("consent completed; the installation is {}", active.status);
    print_installation(global, &active)?;
    Ok(ExitCode::SUCCESS)
}

pub async fn install(global: &Global, args: InstallArgs) -> CliResult {
    let req = request(&args)?;
    let back = consent_return(&args.consent).await?;
    let service = service::open(global, Some(&back.1)).await?;
    let started = service.install(req).await.map_err(in_flag_terms)?;
    consent(global, &service, &started, back, args.consent.timeout).await
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
) -> CliResult {
    let redirect = redirect_uri
        .or_else(|| redirect_of(callback))
        .unwrap_or_else(|| DEFAULT_REDIRECT_URI.to_string());
    let (service, inst) = service::open_installation(global, installation, Some(&redirect)).await?;
    let active = match service.complete(inst.id, callback).await {
        Ok(active) => active,
        Err(err) => return Err(service::refused(&service, inst.id, err).await),
    };
    print_installation(global, &active)?;
    Ok(ExitCode::SUCCESS)
}

/// `reauth`: a new consent link, printed, or with `--listen` followed to
/// the end on a loopback redirect URI (the listener `install --listen` uses).
pub async fn reauth(global: &Global, args: ReauthArgs) -> CliResult {
    let back = consent_return(&args.consent).await?;
    let (service, inst) =
        service::open_installation(global, &args.installation, Some(&back.1)).await?;
    let started = match service.reauthenticate(inst.id).await {
        Ok(started) => started,
        Err(err) => return Err(service::refused(&service, inst.id, err).await),
    };
    consent(global, &service, &started, back, args.consent.timeout).await
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
