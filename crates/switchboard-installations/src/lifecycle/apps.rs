//! The platform's own OAuth app registrations, by name.
//!
//! A platform registers its app once (client id and secret) and every
//! installation that uses [`ClientCredentials::Platform`] refers to it by
//! name; an installation may instead bring its own client id (in the record)
//! and secret (in its encrypted secrets). [`AppCredentials`] is that
//! registry; [`AppCredential`] the resolved client an install flow uses.
//!
//! ```
//! use switchboard_installations::lifecycle::apps::{AppCredential, AppCredentials};
//!
//! let apps = AppCredentials::new()
//!     .with("default", AppCredential::new("11111111-2222-3333-4444-555555555555").with_client_secret("s3cret"));
//! let app = apps.get("default").unwrap();
//! assert_eq!(app.client_id(), "11111111-2222-3333-4444-555555555555");
//! assert!(!format!("{apps:?}").contains("s3cret"));
//! assert!(apps.get("other").is_err());
//! ```

use std::collections::BTreeMap;
use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use crate::install::{ClientCredentials, InstallationSecrets};
use switchboard_core::error::{Error, ErrorKind, Result};

/// One OAuth client: its id and, for confidential clients, its secret.
/// Debug never shows the secret.
#[derive(Clone)]
pub struct AppCredential {
    client_id: String,
    client_secret: Option<SecretString>,
}

impl AppCredential {
    /// A client by its id, without a secret (public client).
    pub fn new(client_id: impl Into<String>) -> Self {
        AppCredential {
            client_id: client_id.into(),
            client_secret: None,
        }
    }

    /// The same client with a secret.
    pub fn with_client_secret(mut self, secret: impl Into<String>) -> Self {
        self.client_secret = Some(SecretString::from(secret.into()));
        self
    }

    /// The same client with an optional secret.
    pub fn with_optional_secret(mut self, secret: Option<SecretString>) -> Self {
        self.client_secret = secret;
        self
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The client secret, if any. Handle with care: never log it.
    pub fn client_secret(&self) -> Option<&str> {
        self.client_secret.as_ref().map(|s| s.expose_secret())
    }
}

impl fmt::Debug for AppCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppCredential")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// The platform's app registrations by name.
#[derive(Clone, Default)]
pub struct AppCredentials {
    apps: BTreeMap<String, AppCredential>,
}

impl AppCredentials {
    /// No apps.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same registry with `app` under `name` (replacing one of that name).
    pub fn with(mut self, name: impl Into<String>, app: AppCredential) -> Self {
        self.apps.insert(name.into(), app);
        self
    }

    /// Add or replace `app` under `name`.
    pub fn insert(&mut self, name: impl Into<String>, app: AppCredential) {
        self.apps.insert(name.into(), app);
    }

    /// The app called `name`, or a [`ErrorKind::Configuration`] error that
    /// lists the configured names.
    pub fn get(&self, name: &str) -> Result<&AppCredential> {
        self.apps.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.apps.keys().map(String::as_str).collect();
            Error::new(
                ErrorKind::Configuration,
                format!(
                    "no platform app credentials are configured under the name `{name}`; configured: {}",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            )
            .with_field("client")
        })
    }

    /// The names configured.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.apps.keys().map(String::as_str)
    }

    /// The client an installation uses: the platform's app it names, or
    /// its own client id with the secret from its secrets.
    pub fn resolve(
        &self,
        client: &ClientCredentials,
        secrets: &InstallationSecrets,
    ) -> Result<AppCredential> {
        match client {
            ClientCredentials::Platform { name } => self.get(name).cloned(),
            ClientCredentials::Installation { client_id } => {
                Ok(AppCredential::new(client_id.clone())
                    .with_optional_secret(secrets.client_secret.clone()))
            }
        }
    }
}

impl fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.apps.iter()).finish()
    }
}
