//! Starting, describing and stopping a sandbox.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use axum::routing::{any, get, post};
use axum_server::Handle;
use switchboard_core::{Error, ErrorKind, Result};
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::{ClientRegistration, SandboxConfig};
use crate::faults::Faults;
use crate::identity_state::IdentityState;
use crate::limits::{LimitStats, Limits, LimitsConfig};
use crate::notifications::{Dispatcher, NotificationCounts, Watch};
use crate::pacing::Pacing;
use crate::request::PermissionTable;
use crate::state::State as SandboxState;
use crate::state_file::{self, Fixed, Persistence, StateLock};
use crate::tokens::Signer;
use crate::{App, batch, control, datetime, drive, graph, identity, seed, tls, uploads};

/// Largest request body: a 60 MiB upload chunk and some.
const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// Starts sandboxes.
///
/// ```no_run
/// # async fn demo() -> switchboard_core::Result<()> {
/// use switchboard_microsoft365_sandbox::{Sandbox, SandboxConfig};
///
/// let sandbox = Sandbox::start(SandboxConfig::new(1)).await?;
/// assert!(sandbox.base_url().starts_with("http://127.0.0.1:"));
/// sandbox.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Sandbox;

/// A seeded user, as tests and the quickstart need to name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeededUser {
    /// The directory object id (a GUID).
    pub id: String,
    /// The user principal name (guests have `#EXT#` in it).
    pub user_principal_name: String,
    /// The display name.
    pub display_name: String,
    /// The mail address.
    pub mail: String,
    /// `Member` or `Guest`.
    pub user_type: String,
}

/// How many faults the sandbox has injected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// 429 responses.
    pub throttled: u64,
    /// 503 responses.
    pub unavailable: u64,
    /// 504 responses.
    pub gateway_timeouts: u64,
}

/// One Graph request the sandbox answered: no query string, no headers, no
/// body (they may carry tokens or links).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// The HTTP method.
    pub method: String,
    /// The path after `/v1.0`, as sent.
    pub path: String,
    /// The status the sandbox answered with (faults included).
    pub status: u16,
}

/// A running sandbox. Dropping it leaves the servers running until the
/// runtime stops; call [`SandboxHandle::shutdown`] to stop them.
pub struct SandboxHandle {
    app: Arc<App>,
    main: Handle<SocketAddr>,
    download: Handle<SocketAddr>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    cert_path: Option<PathBuf>,
    /// The seed the tenant was made from (the state file's when restored).
    seed: u64,
    /// Whether the state came from the state file.
    restored: bool,
    /// Writes the state file after changes; stopped by `stop_saver`.
    saver: Option<tokio::task::JoinHandle<()>>,
    stop_saver: watch::Sender<bool>,
    /// Sends change and lifecycle notifications; aborted at shutdown.
    notifier: tokio::task::JoinHandle<()>,
    /// Held while the sandbox uses its state file.
    _lock: Option<StateLock>,
}

impl std::fmt::Debug for SandboxHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxHandle")
            .field("base_url", &self.app.base_url)
            .field("download_origin", &self.app.download_origin)
            .field("tenant_id", &self.app.tenant_id)
            .finish_non_exhaustive()
    }
}

fn bind(port: u16) -> Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
        Error::new(
            ErrorKind::Configuration,
            format!(
                "could not listen on 127.0.0.1:{port}; choose another port or 0 for a free one"
            ),
        )
        .with_field("port")
        .with_source(e)
    })?;
    listener.set_nonblocking(true).map_err(|e| {
        Error::new(ErrorKind::Transport, "could not configure the listener").with_source(e)
    })?;
    Ok(listener)
}

fn local_port(l: &std::net::TcpListener) -> Result<u16> {
    l.local_addr().map(|a| a.port()).map_err(|e| {
        Error::new(
            ErrorKind::Transport,
            "could not read the listener's address",
        )
        .with_source(e)
    })
}

impl Sandbox {
    /// Starts a sandbox: binds 127.0.0.1 (the configured port or a free
    /// one) plus a second free port for download URLs, and serves until
    /// [`SandboxHandle::shutdown`]. With a [`SandboxConfig::state_file`]
    /// it is restored from that file when it exists, and saves to it.
    pub async fn start(config: SandboxConfig) -> Result<SandboxHandle> {
        config.validate()?;
        let (lock, restored) = match &config.state_file {
            Some(path) => {
                let lock = StateLock::acquire(path)?;
                let restored = if config.reset_state {
                    None
                } else {
                    state_file::load(path, config.state_max_bytes)?
                };
                (Some(lock), restored)
            }
            None => (None, None),
        };
        let (listener, port) = match (config.port, &restored) {
            (Some(port), _) => {
                let l = bind(port)?;
                let p = local_port(&l)?;
                (l, p)
            }
            (None, Some(r)) if r.fixed.port != 0 => {
                let l = bind(r.fixed.port).map_err(|e| {
                    Error::new(
                        ErrorKind::Configuration,
                        format!(
                            "could not listen on 127.0.0.1:{}, the port saved in the state file {} (installations made against this sandbox use it); stop what uses it, or choose a port with --port (0: a free one)",
                            r.fixed.port,
                            config.state_file.as_deref().unwrap_or(Path::new("")).display()
                        ),
                    )
                    .with_field("port")
                    .with_source(e)
                })?;
                (l, r.fixed.port)
            }
            (None, _) => {
                let l = bind(0)?;
                let p = local_port(&l)?;
                (l, p)
            }
        };
        // download links live an hour: the old port is nice to have, not needed
        let download_listener = match restored.as_ref().map(|r| r.fixed.download_port) {
            Some(p) if p != 0 && p != port => bind(p).or_else(|_| bind(0))?,
            _ => bind(0)?,
        };
        let download_port = local_port(&download_listener)?;
        let scheme = if config.tls { "https" } else { "http" };
        let base_url = format!("{scheme}://127.0.0.1:{port}");
        let download_origin = format!("{scheme}://127.0.0.1:{download_port}");
        let cert = match (
            config.tls,
            restored.as_ref().and_then(|r| r.fixed.tls.clone()),
        ) {
            (false, _) => None,
            (true, Some(saved)) => Some(saved),
            (true, None) => Some(tls::generate()?),
        };

        let restored_from = restored.is_some();
        let (seed, clients, state, upload_counter) = match restored {
            Some(r) => (r.fixed.seed, r.fixed.clients, r.state, r.upload_counter),
            None => {
                let clients = if config.clients.is_empty() {
                    vec![ClientRegistration::seeded(config.seed)]
                } else {
                    config.clients.clone()
                };
                let state = SandboxState {
                    tenant: {
                        let now = datetime::now();
                        let mut tenant = seed::build_tenant(config.seed, now);
                        seed::add_mailbox_users(&mut tenant, config.seed, config.extra_users, now);
                        tenant
                    },
                    identity: IdentityState::default(),
                    counter: 0,
                    subscriptions: Vec::new(),
                    clock_offset: 0,
                };
                (config.seed, clients, state, 0)
            }
        };
        let clock_offset = state.clock_offset;
        let persistence = config.state_file.clone().map(|path| {
            Arc::new(Persistence::new(
                path,
                config.state_max_bytes,
                Fixed {
                    seed,
                    port,
                    download_port,
                    tls: cert.clone(),
                    clients: clients.clone(),
                },
            ))
        });
        let app = Arc::new(App {
            base_url,
            download_origin,
            signer: Signer::from_seed(seed),
            permissions: PermissionTable::load(),
            faults: Faults::new(config.seed, config.throttle_rate, config.fail_rate)
                .with_retry_after_secs(config.retry_after_secs),
            limits: Limits::new(config.limits.clone(), config.retry_after_secs),
            pacing: Pacing::new(config.latency),
            clients,
            tenant_id: state.tenant.tenant_id.clone(),
            tenant_domain: state.tenant.domain.clone(),
            token_lifetime: config.token_lifetime.as_secs(),
            refresh_token_lifetime: config.refresh_token_lifetime.as_secs(),
            state: Mutex::new(state),
            log: Mutex::new(Vec::new()),
            uploads: Mutex::new(Default::default()),
            ids: AtomicU64::new(0),
            upload_ids: AtomicU64::new(upload_counter),
            persistence,
            clock: Clock::new(clock_offset),
            delta_token_max_age: config
                .delta_token_max_age
                .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
            notifications: Dispatcher::new()?,
        });
        // written at once: a path that cannot be written fails the start,
        // not the first change
        app.save_state().await?;

        let main_router = main_router(app.clone());
        let download_router = Router::new()
            .route("/download/{token}", get(drive::download))
            .with_state(app.clone());
        let main = Handle::new();
        let download = Handle::new();
        let mut tasks = Vec::new();
        let mut cert_path = None;
        let transport = |e: std::io::Error| {
            Error::new(ErrorKind::Transport, "could not start the sandbox's server").with_source(e)
        };
        if let Some(cert) = cert {
            cert_path = Some(tls::write_pem(
                config.tls_cert_path.as_deref(),
                port,
                &cert.cert_pem,
            )?);
            let rustls = axum_server::tls_rustls::RustlsConfig::from_pem(
                cert.cert_pem.clone().into_bytes(),
                cert.key_pem.clone().into_bytes(),
            )
            .await
            .map_err(transport)?;
            let s1 = axum_server::from_tcp_rustls(listener, rustls.clone())
                .map_err(transport)?
                .handle(main.clone());
            let s2 = axum_server::from_tcp_rustls(download_listener, rustls)
                .map_err(transport)?
                .handle(download.clone());
            tasks.push(tokio::spawn(async move {
                let _ = s1.serve(main_router.into_make_service()).await;
            }));
            tasks.push(tokio::spawn(async move {
                let _ = s2.serve(download_router.into_make_service()).await;
            }));
        } else {
            let s1 = axum_server::from_tcp(listener)
                .map_err(transport)?
                .handle(main.clone());
            let s2 = axum_server::from_tcp(download_listener)
                .map_err(transport)?
                .handle(download.clone());
            tasks.push(tokio::spawn(async move {
                let _ = s1.serve(main_router.into_make_service()).await;
            }));
            tasks.push(tokio::spawn(async move {
                let _ = s2.serve(download_router.into_make_service()).await;
            }));
        }
        let notifier = tokio::spawn(Dispatcher::run(app.clone()));
        let (stop_saver, stop) = watch::channel(false);
        let saver = app
            .persistence
            .is_some()
            .then(|| tokio::spawn(state_file::run_saver(app.clone(), stop)));
        tracing::info!(base_url = %app.base_url, download_origin = %app.download_origin, restored = restored_from, "sandbox listening");
        Ok(SandboxHandle {
            app,
            main,
            download,
            tasks,
            cert_path,
            seed,
            restored: restored_from,
            saver,
            stop_saver,
            notifier,
            _lock: lock,
        })
    }
}

fn main_router(app: Arc<App>) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/authorize", get(identity::authorize))
        .route("/{tenant}/oauth2/v2.0/token", post(identity::token))
        .route("/{tenant}/v2.0/adminconsent", get(identity::admin_consent))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(identity::openid_configuration),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(identity::keys))
        .route("/v1.0", any(graph_entry))
        .route("/v1.0/$batch", any(batch::entry))
        .route("/v1.0/{*rest}", any(graph_entry))
        .merge(control::routes())
        .route("/upload/{token}", any(uploads::handle))
        .route("/monitor/{token}", get(drive::monitor))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(app)
}

async fn graph_entry(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    graph::handle(app, method, uri, headers, body).await
}

impl SandboxHandle {
    /// `http://127.0.0.1:PORT` (or `https://` with TLS): the first line the
    /// `switchboard sandbox` command prints.
    pub fn base_url(&self) -> &str {
        &self.app.base_url
    }

    /// The identity host to use in place of `https://login.microsoftonline.com`.
    pub fn login_url(&self) -> &str {
        &self.app.base_url
    }

    /// The Graph host to use in place of `https://graph.microsoft.com`
    /// (Graph itself is at `{graph_url}/v1.0`).
    pub fn graph_url(&self) -> &str {
        &self.app.base_url
    }

    /// The second origin that serves pre-authenticated download URLs.
    pub fn download_origin(&self) -> &str {
        &self.app.download_origin
    }

    /// The seeded tenant's id (a GUID).
    pub fn tenant_id(&self) -> &str {
        &self.app.tenant_id
    }

    /// The seeded tenant's domain, also accepted in place of its id.
    pub fn tenant_domain(&self) -> &str {
        &self.app.tenant_domain
    }

    /// The first (or only) app registration.
    pub fn client(&self) -> &ClientRegistration {
        &self.app.clients[0]
    }

    /// Every app registration.
    pub fn clients(&self) -> &[ClientRegistration] {
        &self.app.clients
    }

    /// The seeded users, in directory order (the last one is a guest).
    pub fn users(&self) -> Vec<SeededUser> {
        let state = self.app.lock();
        state
            .tenant
            .users
            .iter()
            .map(|u| SeededUser {
                id: u.id().to_string(),
                user_principal_name: u.str("userPrincipalName").to_string(),
                display_name: u.str("displayName").to_string(),
                mail: u.str("mail").to_string(),
                user_type: u.str("userType").to_string(),
            })
            .collect()
    }

    /// Where the TLS certificate's PEM was written (with `tls` only).
    pub fn cert_pem_path(&self) -> Option<&Path> {
        self.cert_path.as_deref()
    }

    /// Makes every access token issued so far expired: the next Graph call
    /// with one gets 401 `InvalidAuthenticationToken`.
    pub fn expire_all_tokens(&self) {
        self.app.lock().identity.epoch += 1;
    }

    /// Makes every refresh token issued so far expired: redeeming one gets
    /// `invalid_grant` with AADSTS700082.
    pub fn expire_refresh_tokens(&self) {
        self.app.lock().identity.refresh_epoch += 1;
    }

    /// Withdraws the administrator's consent for `client_id`: client
    /// credentials then fail as for an application never consented.
    pub fn revoke_admin_consent(&self, client_id: &str) {
        self.app
            .lock()
            .identity
            .admin_consent
            .remove(&client_id.to_ascii_lowercase());
    }

    /// Renames a user (a directory change that `users/delta` reports, and
    /// user subscriptions are notified of).
    pub fn rename_user(&self, id: &str, display_name: &str) -> Result<()> {
        let mut state = self.app.lock();
        let watch = Watch::begin(&state, &axum::http::Method::PATCH, self.app.now());
        let t = &mut state.tenant;
        let v = t.tick();
        let user = t
            .users
            .iter_mut()
            .find(|u| u.id() == id)
            .ok_or_else(|| Error::invalid_argument("id", "must be the id of a seeded user"))?;
        user.data.insert("displayName".into(), display_name.into());
        user.version = v;
        if let Some(w) = watch {
            self.app.notifications.enqueue(w.finish(&self.app, &state));
        }
        Ok(())
    }

    /// Deletes a user from the directory (`users/delta` reports `@removed`;
    /// user subscriptions are notified).
    pub fn remove_user(&self, id: &str) -> Result<()> {
        let mut state = self.app.lock();
        let watch = Watch::begin(&state, &axum::http::Method::DELETE, self.app.now());
        let t = &mut state.tenant;
        let before = t.users.len();
        t.users.retain(|u| u.id() != id);
        if t.users.len() == before {
            return Err(Error::invalid_argument(
                "id",
                "must be the id of a seeded user",
            ));
        }
        t.bury("users", id);
        if let Some(w) = watch {
            self.app.notifications.enqueue(w.finish(&self.app, &state));
        }
        Ok(())
    }

    /// Moves the sandbox clock ahead (subscriptions expire, delta tokens
    /// age); the offset is kept in the state file. Also
    /// `POST /_sandbox/clock`; Graph's throttling windows pass with it.
    pub fn advance_clock(&self, by: Duration) -> Result<()> {
        control::advance(&self.app, by.as_secs())
            .map(|_| ())
            .map_err(|e| Error::invalid_argument("by", e))
    }

    /// How far the sandbox clock runs ahead of the real one.
    pub fn clock_offset(&self) -> Duration {
        Duration::from_secs(u64::try_from(self.app.clock.offset()).unwrap_or(0))
    }

    /// Sends lifecycle `event` (`missed`, `reauthorizationRequired`,
    /// `subscriptionRemoved`) for a subscription and returns the status its
    /// receiver answered. Also `POST /_sandbox/lifecycle`.
    pub async fn lifecycle_event(&self, subscription: &str, event: &str) -> Result<u16> {
        control::send_lifecycle(&self.app, subscription, event)
            .await
            .map_err(|e| Error::invalid_argument("subscription", e.message))
    }

    /// Waits until every queued notification was sent (at most `limit`);
    /// whether that happened. Also `POST /_sandbox/notifications/flush`.
    pub async fn notifications_idle(&self, limit: Duration) -> bool {
        self.app.notifications.wait_idle(limit).await
    }

    /// What the notification sender did so far.
    pub fn notification_counts(&self) -> NotificationCounts {
        self.app.notifications.counts()
    }

    /// The faults injected so far.
    pub fn fault_counts(&self) -> FaultCounts {
        let f = &self.app.faults;
        FaultCounts {
            throttled: f.throttled.load(Ordering::SeqCst),
            unavailable: f.unavailable.load(Ordering::SeqCst),
            gateway_timeouts: f.gateway_timeouts.load(Ordering::SeqCst),
        }
    }

    /// The throttling limits it keeps.
    pub fn limits(&self) -> &LimitsConfig {
        self.app.limits.config()
    }

    /// The throttling counters, as `GET /_sandbox/stats` answers them.
    pub fn limit_stats(&self) -> LimitStats {
        self.app.limits.stats()
    }

    /// Sets the throttling counters back to zero, as `DELETE /_sandbox/stats`.
    pub fn reset_limit_stats(&self) {
        self.app.limits.reset_stats();
    }

    /// Moves the limits clock forward by `by`, as `POST /_sandbox/clock`:
    /// throttling windows pass without waiting. Returns how far ahead the
    /// clock is now.
    pub fn advance_limits_clock(&self, by: Duration) -> Duration {
        self.app.limits.advance_clock(by)
    }

    /// Keeps every Graph request let through from now on in flight, until
    /// [`release_requests`](Self::release_requests) or for `max` (at most
    /// 10 minutes), as `POST /_sandbox/hold`.
    pub fn hold_requests(&self, max: Duration) {
        self.app.pacing.hold(max);
    }

    /// Lets held requests go on, as `POST /_sandbox/release`.
    pub fn release_requests(&self) {
        self.app.pacing.release();
    }

    /// Every Graph request answered so far, in order.
    pub fn request_log(&self) -> Vec<RequestRecord> {
        self.app.request_log()
    }

    /// The seed the tenant was made from: the state file's when the
    /// sandbox was restored from one, else the configured seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Whether the sandbox was restored from its state file (false when it
    /// started from the seed: no state file, none yet, or a reset).
    pub fn restored(&self) -> bool {
        self.restored
    }

    /// The state file, when the sandbox keeps one.
    pub fn state_file(&self) -> Option<&Path> {
        self.app.persistence.as_ref().map(|p| p.path())
    }

    /// Writes the state file now, if anything changed since the last write
    /// (without a state file: nothing to do). The sandbox also saves by
    /// itself shortly after changes and at shutdown.
    pub async fn save_state(&self) -> Result<()> {
        self.app.save_state().await
    }

    /// Stops both listeners and waits for them, then saves the state file
    /// (a failure to save is logged).
    pub async fn shutdown(self) {
        self.main.shutdown();
        self.download.shutdown();
        for t in self.tasks {
            let _ = t.await;
        }
        self.notifier.abort();
        let _ = self.stop_saver.send(true);
        if let Some(saver) = self.saver {
            let _ = saver.await;
        }
    }
}
