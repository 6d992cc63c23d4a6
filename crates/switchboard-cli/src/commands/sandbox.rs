//! `switchboard sandbox`: the offline Microsoft 365 stand-in, until Ctrl-C.
//!
//! stdout, line by line (scripts read the first line, and the second with
//! `--tls`):
//! 1. the base URL (`http://127.0.0.1:PORT`), which is both the login URL
//!    and the Graph URL of a `--cloud custom` installation;
//! 2. with `--tls`, the path of the certificate's PEM;
//!
//! then `name: value` lines with the tenant and the app registration that
//! an installation against the sandbox needs.

use std::process::ExitCode;

use switchboard_core::Result;
use switchboard_microsoft365_sandbox::{Sandbox, SandboxConfig};

use crate::cli::SandboxArgs;
use crate::output::println_out;

pub async fn run(args: SandboxArgs) -> Result<ExitCode> {
    let mut config = SandboxConfig::new(args.seed)
        .with_faults(args.throttle_rate, args.fail_rate)
        .with_retry_after_secs(args.retry_after);
    config.port = Some(args.port);
    config.tls = args.tls;
    config.tls_cert_path = args.cert_path;
    let sandbox = Sandbox::start(config).await?;
    println_out(sandbox.base_url())?;
    if let Some(cert) = sandbox.cert_pem_path() {
        println_out(&cert.display().to_string())?;
    }
    let client = sandbox.client();
    let users = sandbox.users();
    let mut info = vec![
        format!("tenant_id: {}", sandbox.tenant_id()),
        format!("tenant_domain: {}", sandbox.tenant_domain()),
        format!("client_id: {}", client.client_id),
        // the sandbox's own, seeded, offline-only secret: printed so that
        // `switchboard install` can be pointed at it
        format!("client_secret: {}", client.client_secret.expose()),
        format!(
            "redirect_uris: {} (loopback: any port)",
            client.redirect_uris.join(", ")
        ),
        format!("users: {}", users.len()),
    ];
    if let Some(first) = users.first() {
        info.push(format!(
            "first_user: {} ({})",
            first.user_principal_name, first.id
        ));
    }
    info.push(format!(
        "try: switchboard install microsoft365 --variant application --cloud custom --login-url {url} --graph-url {url} --tenant {tenant} --client-id {id} --client-secret <client_secret>",
        url = sandbox.base_url(),
        tenant = sandbox.tenant_id(),
        id = client.client_id,
    ));
    for line in info {
        println_out(&line)?;
    }
    eprintln!("sandbox running; press Ctrl-C to stop");
    let stopped = tokio::signal::ctrl_c().await;
    sandbox.shutdown().await;
    if let Err(e) = stopped {
        return Err(switchboard_core::Error::new(
            switchboard_core::ErrorKind::Transport,
            "could not wait for Ctrl-C",
        )
        .with_source(e));
    }
    Ok(ExitCode::SUCCESS)
}
