//! `switchboard sandbox`: the offline Microsoft 365 stand-in, until Ctrl-C
//! (or SIGTERM).
//!
//! stdout, line by line (scripts read the first line, and the second with
//! `--tls`):
//! 1. the base URL (`http://127.0.0.1:PORT`), which is both the login URL
//!    and the Graph URL of a `--cloud custom` installation;
//! 2. with `--tls`, the path of the certificate's PEM;
//!
//! then `name: value` lines: the state file and whether it was restored,
//! the tenant and the app registration that an installation against the
//! sandbox needs, and last a `try:` line with a command that works as
//! printed.
//!
//! The state (tenant, app registration, consents, tokens, data) is kept in
//! `--state FILE`, by default `sandbox-state.json` in the user's data
//! directory, so installations made against the sandbox keep working after
//! a restart; `--reset` starts over, `--no-state` keeps nothing.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use switchboard_core::{Error, ErrorKind, Result};
use switchboard_microsoft365_sandbox::{
    LimitsConfig, Sandbox, SandboxConfig, SandboxHandle, ThrottledBatchStatus,
};

use crate::cli::{SandboxArgs, SandboxLimitArgs};
use crate::output::println_out;
use crate::program::{invocation, path_hint, shell_quote};
use crate::service::CLIENT_SECRET_ENV;
use crate::store::data_dir;

/// The state file's name in the data directory.
const DEFAULT_STATE_FILE: &str = "sandbox-state.json";

/// The seed when none is given.
const DEFAULT_SEED: u64 = 42;

/// Where the state is kept: `--state`, else the data directory's file;
/// `None` with `--no-state`.
fn state_file(args: &SandboxArgs) -> Result<Option<PathBuf>> {
    if args.no_state {
        return Ok(None);
    }
    match &args.state {
        Some(path) => Ok(Some(path.clone())),
        None => Ok(Some(data_dir()?.join(DEFAULT_STATE_FILE))),
    }
}

fn config(args: &SandboxArgs) -> Result<SandboxConfig> {
    let mut config = SandboxConfig::new(args.seed.unwrap_or(DEFAULT_SEED))
        .with_faults(args.throttle_rate, args.fail_rate)
        .with_retry_after_secs(args.retry_after);
    config.port = args.port;
    config.tls = args.tls;
    config.tls_cert_path = args.cert_path.clone();
    config.token_lifetime = Duration::from_secs(args.token_lifetime);
    config.state_max_bytes = args.state_max_mb.saturating_mul(1024 * 1024);
    config.latency = Duration::from_millis(args.limits.latency_ms);
    config.limits = limits(&args.limits);
    if let Some(path) = state_file(args)? {
        config = config.with_state_file(path, args.reset);
    }
    Ok(config)
}

/// Graph's limits, with the numbers given on the command line in place of
/// Microsoft's (the sandbox checks them at start).
fn limits(args: &SandboxLimitArgs) -> LimitsConfig {
    let mut limits = if args.no_limits {
        LimitsConfig::off()
    } else {
        LimitsConfig::default()
    };
    let secs = Duration::from_secs;
    if let Some(n) = args.outlook_concurrency {
        limits.outlook_concurrency = n;
    }
    if let Some(n) = args.outlook_window_requests {
        limits.outlook_window_requests = n;
    }
    if let Some(s) = args.outlook_window_secs {
        limits.outlook_window = secs(s);
    }
    if let Some(n) = args.outlook_upload_bytes {
        limits.outlook_upload_bytes = n;
    }
    if let Some(s) = args.outlook_upload_window_secs {
        limits.outlook_upload_window = secs(s);
    }
    if let Some(n) = args.global_requests {
        limits.global_requests = n;
    }
    if let Some(s) = args.global_window_secs {
        limits.global_window = secs(s);
    }
    if args.batch_throttled_status == "424" {
        limits.throttled_batch_status = ThrottledBatchStatus::FailedDependency;
    }
    limits
}

pub async fn run(args: SandboxArgs) -> Result<ExitCode> {
    let sandbox = Sandbox::start(config(&args)?).await?;
    if let Some(seed) = args.seed
        && sandbox.restored()
        && seed != sandbox.seed()
    {
        eprintln!(
            "note: the state was restored, so --seed {seed} is not used (the tenant was made from seed {}); add --reset to start over from seed {seed}",
            sandbox.seed()
        );
    }
    // listen for the signals before saying we run: a script may send one
    // as soon as it has read the banner
    let stop = StopSignal::listen()?;
    describe(&sandbox)?;
    if let Some(hint) = path_hint() {
        eprintln!("{hint}");
    }
    eprintln!("sandbox running; press Ctrl-C to stop");
    let stopped = stop.wait().await;
    sandbox.shutdown().await;
    stopped.map(|()| ExitCode::SUCCESS)
}

/// The banner on stdout.
fn describe(sandbox: &SandboxHandle) -> Result<()> {
    println_out(sandbox.base_url())?;
    if let Some(cert) = sandbox.cert_pem_path() {
        println_out(&cert.display().to_string())?;
    }
    let client = sandbox.client();
    let users = sandbox.users();
    let mut info = Vec::new();
    match sandbox.state_file() {
        Some(path) => {
            info.push(format!("state_file: {}", path.display()));
            info.push(format!(
                "state: {}",
                if sandbox.restored() {
                    "restored (tenant, app, consents, tokens and data as they were)"
                } else {
                    "new"
                }
            ));
        }
        None => info.push("state: in memory only (--no-state)".to_string()),
    }
    info.extend([
        format!("tenant_id: {}", sandbox.tenant_id()),
        format!("tenant_domain: {}", sandbox.tenant_domain()),
        format!("client_id: {}", client.client_id),
        // the sandbox's own offline secret: printed so that `switchboard
        // install` can be pointed at it
        format!("client_secret: {}", client.client_secret.expose()),
        format!(
            "redirect_uris: {} (loopback: any port)",
            client.redirect_uris.join(", ")
        ),
        format!("users: {}", users.len()),
    ]);
    if let Some(first) = users.first() {
        info.push(format!(
            "first_user: {} ({})",
            first.user_principal_name, first.id
        ));
    }
    info.push(format!("throttling: {}", throttling(sandbox)));
    // the secret goes in the environment, never in argv
    info.push(format!(
        "try: {CLIENT_SECRET_ENV}={secret} {program} install microsoft365 --variant application --cloud custom --login-url {url} --graph-url {url} --tenant {tenant} --client-id {id}",
        secret = shell_quote(client.client_secret.expose()),
        program = invocation(),
        url = sandbox.base_url(),
        tenant = sandbox.tenant_id(),
        id = client.client_id,
    ));
    for line in info {
        println_out(&line)?;
    }
    Ok(())
}

/// The limits the sandbox keeps, in one line, and where its counters are.
fn throttling(sandbox: &SandboxHandle) -> String {
    let l = sandbox.limits();
    let mut outlook = Vec::new();
    if l.outlook_concurrency > 0 {
        outlook.push(format!("{} in flight", l.outlook_concurrency));
    }
    if l.outlook_window_requests > 0 {
        outlook.push(format!(
            "{} requests/{} s",
            l.outlook_window_requests,
            l.outlook_window.as_secs()
        ));
    }
    if l.outlook_upload_bytes > 0 {
        outlook.push(format!(
            "{} upload bytes/{} s",
            l.outlook_upload_bytes,
            l.outlook_upload_window.as_secs()
        ));
    }
    let outlook = if outlook.is_empty() {
        "none".to_string()
    } else {
        format!("{} per app and mailbox", outlook.join(", "))
    };
    let global = if l.global_requests > 0 {
        format!(
            "{} requests/{} s per app",
            l.global_requests,
            l.global_window.as_secs()
        )
    } else {
        "none".to_string()
    };
    format!(
        "Outlook: {outlook}; global: {global}; counters at {}/_sandbox/stats",
        sandbox.base_url()
    )
}

/// Ctrl-C (SIGINT) or, on Unix, SIGTERM: either stops the sandbox
/// cleanly, saving its state. Listening starts when this is made.
struct StopSignal {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

fn signal_error(e: std::io::Error) -> Error {
    Error::new(ErrorKind::Transport, "could not listen for Ctrl-C").with_source(e)
}

impl StopSignal {
    fn listen() -> Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(StopSignal {
                interrupt: signal(SignalKind::interrupt()).map_err(signal_error)?,
                terminate: signal(SignalKind::terminate()).map_err(signal_error)?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(StopSignal {})
        }
    }

    async fn wait(self) -> Result<()> {
        #[cfg(unix)]
        {
            let StopSignal {
                mut interrupt,
                mut terminate,
            } = self;
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            Ok(())
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await.map_err(signal_error)
        }
    }
}
