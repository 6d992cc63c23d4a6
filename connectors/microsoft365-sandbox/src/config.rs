//! How a sandbox is started: seed, port, fault rates, TLS and the app
//! registrations it knows.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use switchboard_core::{Error, Result};

use crate::generated::Rng;
use crate::limits::LimitsConfig;
use crate::pacing::MAX_LATENCY;

/// A client secret: shown in no `Debug` output.
///
/// ```
/// use switchboard_microsoft365_sandbox::ClientSecret;
///
/// let s = ClientSecret::new("s3cret");
/// assert_eq!(format!("{s:?}"), "ClientSecret(<redacted>)");
/// assert_eq!(s.expose(), "s3cret");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        ClientSecret(value.into())
    }

    /// The secret value, for sending it to the token endpoint.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

/// An app registration the sandbox's identity endpoints accept.
///
/// Redirect URIs match exactly, except loopback ones (`http://localhost`,
/// `http://127.0.0.1`) which, as in Microsoft Entra, match any port.
///
/// ```
/// use switchboard_microsoft365_sandbox::ClientRegistration;
///
/// let app = ClientRegistration::seeded(42);
/// assert_eq!(app.client_id.len(), 36);
/// assert!(app.application_permissions.iter().any(|p| p == "Mail.ReadWrite"));
/// ```
#[derive(Debug, Clone)]
pub struct ClientRegistration {
    /// The application (client) id.
    pub client_id: String,
    /// The client secret value.
    pub client_secret: ClientSecret,
    /// The display name shown in errors.
    pub name: String,
    /// Allowed redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Application permissions (app roles) an administrator grants through
    /// the admin consent URL; they become the `roles` of app-only tokens.
    pub application_permissions: Vec<String>,
}

/// The application permissions the default registration asks for: enough
/// for every operation of the Microsoft 365 connector.
pub const DEFAULT_APPLICATION_PERMISSIONS: &[&str] = &[
    "User.Read.All",
    "Directory.Read.All",
    "Calendars.ReadWrite",
    "Mail.ReadWrite",
    "Mail.Send",
    "MailboxSettings.ReadWrite",
    "Files.ReadWrite.All",
    "Contacts.ReadWrite",
];

impl ClientRegistration {
    /// The registration derived from a seed: a GUID client id, a secret,
    /// loopback redirect URIs and [`DEFAULT_APPLICATION_PERMISSIONS`].
    pub fn seeded(seed: u64) -> Self {
        let mut rng = Rng::new(seed ^ 0x00C1_1EA7);
        let client_id = rng.guid();
        let secret: String = (0..40)
            .map(|_| {
                const A: &[u8] =
                    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789~._-";
                A[rng.below(A.len() as u64) as usize] as char
            })
            .collect();
        ClientRegistration {
            client_id,
            client_secret: ClientSecret::new(secret),
            name: "switchboard sandbox app".to_string(),
            redirect_uris: vec![
                "http://localhost/callback".to_string(),
                "http://127.0.0.1/callback".to_string(),
            ],
            application_permissions: DEFAULT_APPLICATION_PERMISSIONS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }

    /// Whether `uri` is one of the registered redirect URIs.
    pub fn allows_redirect(&self, uri: &str) -> bool {
        let Ok(given) = url::Url::parse(uri) else {
            return false;
        };
        self.redirect_uris.iter().any(|r| {
            let Ok(reg) = url::Url::parse(r) else {
                return false;
            };
            let loopback = matches!(reg.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
            if loopback && reg.scheme() == "http" {
                given.scheme() == "http"
                    && given.host_str() == reg.host_str()
                    && given.path() == reg.path()
                    && given.query().is_none()
            } else {
                r == uri
            }
        })
    }
}

/// How to start a [`crate::Sandbox`].
///
/// ```
/// use switchboard_microsoft365_sandbox::SandboxConfig;
///
/// let config = SandboxConfig::new(7).with_faults(0.3, 0.1);
/// assert_eq!(config.seed, 7);
/// assert!(config.validate().is_ok());
/// assert!(SandboxConfig::new(7).with_faults(1.5, 0.0).validate().is_err());
/// ```
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Seeds the tenant, the ids, the signing key and the fault plan.
    pub seed: u64,
    /// The port for identity and Graph; `Some(0)` picks a free one. `None`
    /// picks a free one too, except that a sandbox restored from its
    /// [`state_file`](Self::state_file) takes the port it had, so that
    /// installations made against it reach it again.
    pub port: Option<u16>,
    /// The fraction of Graph requests answered 429 (0 to 1).
    pub throttle_rate: f64,
    /// The fraction of Graph requests answered 503 or 504 (0 to 1).
    pub fail_rate: f64,
    /// The `Retry-After` seconds sent with injected 429 and 503 answers
    /// (default 1; 0 lets tests retry at once).
    pub retry_after_secs: u64,
    /// Serve https with a self-signed certificate generated at start.
    pub tls: bool,
    /// Where to write the certificate's PEM with `tls` (default: a file in
    /// the system's temporary directory named after the port).
    pub tls_cert_path: Option<PathBuf>,
    /// The app registrations; empty means one, [`ClientRegistration::seeded`].
    pub clients: Vec<ClientRegistration>,
    /// Lifetime of access tokens (`expires_in`).
    pub token_lifetime: Duration,
    /// Lifetime of refresh tokens.
    pub refresh_token_lifetime: Duration,
    /// Keep the tenant, app registrations, consents, tokens and data in
    /// this file across restarts (see the crate's `state_file` docs: what
    /// is kept, when it is written). When the file exists the sandbox is
    /// restored from it, and [`seed`](Self::seed) only drives the fault
    /// plan. `None` (the default): everything lives in memory.
    pub state_file: Option<PathBuf>,
    /// Start from the seed even though the state file exists, and replace it.
    pub reset_state: bool,
    /// The largest state file read or written (default
    /// [`crate::DEFAULT_STATE_MAX_BYTES`]).
    pub state_max_bytes: u64,
    /// How long a delta or skip token stays usable, by the sandbox clock
    /// (default [`DEFAULT_DELTA_TOKEN_MAX_AGE`], Microsoft's documented
    /// limit for directory objects; Outlook's depends on a cache). An older
    /// token is answered `410 Gone` as Graph does: `syncStateNotFound` for
    /// messages, events and contacts, `resyncRequired` with a `Location`
    /// for users, `resyncChangesApplyDifferences` with a `Location` for
    /// drives. `None`: tokens never expire.
    pub delta_token_max_age: Option<Duration>,
    /// Graph's throttling limits (default: Microsoft's numbers; see
    /// [`LimitsConfig`]). `retry_after_secs` is also the `Retry-After` of
    /// MailboxConcurrency refusals.
    pub limits: LimitsConfig,
    /// How long every Graph request takes to serve, at most one minute
    /// (default 0): requests stay in flight that long, so the concurrency
    /// limits are reached as against Graph.
    pub latency: Duration,
    /// Users added after the seeded twelve (default 0, at most
    /// [`MAX_EXTRA_USERS`]), each with a seeded mailbox and nothing else:
    /// for load tests that need many mailboxes. They come from their own
    /// random stream, so the seeded users and their data do not change.
    pub extra_users: usize,
}

/// The most users [`SandboxConfig::with_extra_users`] adds.
pub const MAX_EXTRA_USERS: usize = 1_000;

/// Seven days: how long Microsoft says directory delta tokens last
/// (`concepts/delta-query-overview.md`, "Token duration").
pub const DEFAULT_DELTA_TOKEN_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

impl SandboxConfig {
    /// A plain-http sandbox on a free port with no faults.
    pub fn new(seed: u64) -> Self {
        SandboxConfig {
            seed,
            port: None,
            throttle_rate: 0.0,
            fail_rate: 0.0,
            retry_after_secs: 1,
            tls: false,
            tls_cert_path: None,
            clients: Vec::new(),
            token_lifetime: Duration::from_secs(3599),
            refresh_token_lifetime: Duration::from_secs(90 * 24 * 3600),
            state_file: None,
            reset_state: false,
            state_max_bytes: crate::DEFAULT_STATE_MAX_BYTES,
            delta_token_max_age: Some(DEFAULT_DELTA_TOKEN_MAX_AGE),
            limits: LimitsConfig::default(),
            latency: Duration::ZERO,
            extra_users: 0,
        }
    }

    /// Adds `count` users, each with a mailbox, after the seeded ones.
    ///
    /// ```
    /// use switchboard_microsoft365_sandbox::SandboxConfig;
    ///
    /// assert!(SandboxConfig::new(7).with_extra_users(20).validate().is_ok());
    /// assert!(SandboxConfig::new(7).with_extra_users(1_001).validate().is_err());
    /// ```
    pub fn with_extra_users(mut self, count: usize) -> Self {
        self.extra_users = count;
        self
    }

    /// Sets how long delta tokens last (`None`: for ever).
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard_microsoft365_sandbox::SandboxConfig;
    ///
    /// let config = SandboxConfig::new(7).with_delta_token_max_age(Some(Duration::from_secs(3600)));
    /// assert!(config.validate().is_ok());
    /// assert!(SandboxConfig::new(7).with_delta_token_max_age(Some(Duration::ZERO)).validate().is_err());
    /// ```
    pub fn with_delta_token_max_age(mut self, age: Option<Duration>) -> Self {
        self.delta_token_max_age = age;
        self
    }

    /// Sets Graph's throttling limits.
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard_microsoft365_sandbox::{LimitsConfig, SandboxConfig};
    ///
    /// // 100 requests per 2 seconds per app and mailbox, so tests run fast
    /// let config = SandboxConfig::new(7)
    ///     .with_limits(LimitsConfig::default().with_outlook_window(100, Duration::from_secs(2)));
    /// assert_eq!(config.limits.outlook_window_requests, 100);
    /// assert!(config.validate().is_ok());
    /// ```
    pub fn with_limits(mut self, limits: LimitsConfig) -> Self {
        self.limits = limits;
        self
    }

    /// Sets how long every Graph request takes to serve.
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchboard_microsoft365_sandbox::SandboxConfig;
    ///
    /// let slow = SandboxConfig::new(7).with_latency(Duration::from_millis(50));
    /// assert!(slow.validate().is_ok());
    /// assert!(SandboxConfig::new(7).with_latency(Duration::from_secs(61)).validate().is_err());
    /// ```
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Keeps the sandbox's state in `path` across restarts; `reset` starts
    /// from the seed and replaces what the file held.
    ///
    /// ```
    /// use switchboard_microsoft365_sandbox::SandboxConfig;
    ///
    /// let config = SandboxConfig::new(7).with_state_file("/tmp/sandbox.json", false);
    /// assert!(config.state_file.is_some() && !config.reset_state);
    /// ```
    pub fn with_state_file(mut self, path: impl Into<PathBuf>, reset: bool) -> Self {
        self.state_file = Some(path.into());
        self.reset_state = reset;
        self
    }

    /// Sets the fault rates.
    pub fn with_faults(mut self, throttle_rate: f64, fail_rate: f64) -> Self {
        self.throttle_rate = throttle_rate;
        self.fail_rate = fail_rate;
        self
    }

    /// Sets the `Retry-After` seconds of injected faults.
    ///
    /// ```
    /// use switchboard_microsoft365_sandbox::SandboxConfig;
    ///
    /// let fast = SandboxConfig::new(7).with_faults(0.3, 0.1).with_retry_after_secs(0);
    /// assert_eq!(fast.retry_after_secs, 0);
    /// assert_eq!(SandboxConfig::new(7).retry_after_secs, 1);
    /// ```
    pub fn with_retry_after_secs(mut self, secs: u64) -> Self {
        self.retry_after_secs = secs;
        self
    }

    /// Adds an app registration (the first one added replaces the seeded default).
    pub fn with_client(mut self, client: ClientRegistration) -> Self {
        self.clients.push(client);
        self
    }

    /// Checks the settings; the error names the field and what is allowed.
    pub fn validate(&self) -> Result<()> {
        for (name, rate) in [
            ("throttle_rate", self.throttle_rate),
            ("fail_rate", self.fail_rate),
        ] {
            if !rate.is_finite() || !(0.0..=1.0).contains(&rate) {
                return Err(Error::invalid_argument(
                    name,
                    "must be a number from 0 to 1",
                ));
            }
        }
        if self.throttle_rate + self.fail_rate > 1.0 {
            return Err(Error::invalid_argument(
                "fail_rate",
                "throttle_rate + fail_rate must not exceed 1",
            ));
        }
        if self.retry_after_secs > 3600 {
            return Err(Error::invalid_argument(
                "retry_after_secs",
                "must be from 0 to 3600 seconds",
            ));
        }
        if self.state_max_bytes < 1024 * 1024 {
            return Err(Error::invalid_argument(
                "state_max_bytes",
                "must be at least 1 MiB (1048576 bytes)",
            ));
        }
        if let Some(age) = self.delta_token_max_age
            && !(1..=crate::clock::MAX_OFFSET_SECS as u64).contains(&age.as_secs())
        {
            return Err(Error::invalid_argument(
                "delta_token_max_age",
                "must be from 1 second to 10 years (or none: tokens never expire)",
            ));
        }
        if self.token_lifetime.as_secs() == 0 {
            return Err(Error::invalid_argument(
                "token_lifetime",
                "must be at least one second",
            ));
        }
        if self.latency > MAX_LATENCY {
            return Err(Error::invalid_argument(
                "latency",
                "must be from 0 to 60 seconds",
            ));
        }
        if self.extra_users > MAX_EXTRA_USERS {
            return Err(Error::invalid_argument(
                "extra_users",
                format!("must be from 0 to {MAX_EXTRA_USERS}"),
            ));
        }
        self.limits.validate()?;
        let mut seen = std::collections::HashSet::new();
        for c in &self.clients {
            if c.client_id.trim().is_empty() {
                return Err(Error::invalid_argument(
                    "clients.client_id",
                    "must not be empty",
                ));
            }
            if !seen.insert(c.client_id.to_ascii_lowercase()) {
                return Err(Error::invalid_argument(
                    "clients.client_id",
                    format!(
                        "'{}' is registered twice; client ids must be unique",
                        c.client_id
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig::new(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirects_match_any_port() {
        let c = ClientRegistration::seeded(1);
        assert!(c.allows_redirect("http://127.0.0.1:53121/callback"));
        assert!(c.allows_redirect("http://localhost/callback"));
        assert!(!c.allows_redirect("http://127.0.0.1:53121/other"));
        assert!(!c.allows_redirect("https://evil.example/callback"));
    }
}
