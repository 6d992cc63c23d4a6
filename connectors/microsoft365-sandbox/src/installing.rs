//! Installing against the sandbox from code: the install request that
//! points the Microsoft 365 connector at this sandbox, and a consent that
//! says yes the way a person in a browser would.
//!
//! ```no_run
//! # async fn run() -> switchboard_core::Result<()> {
//! use switchboard_microsoft365_sandbox::{Sandbox, SandboxConfig};
//!
//! let sandbox = Sandbox::start(SandboxConfig::new(7)).await?;
//! let request = sandbox.install_request("acct-42", "application");
//! // sb.install(request) gives a consent URL; the sandbox's consent page
//! // answers with the redirect back to the platform:
//! # let consent_url = url::Url::parse("http://127.0.0.1/").unwrap();
//! let callback = sandbox.consent(&consent_url).await?;
//! # Ok(()) }
//! ```

use switchboard_core::{Error, ErrorKind, Result};
use switchboard_installations::lifecycle::InstallRequest;
use url::Url;

use crate::server::SandboxHandle;

impl SandboxHandle {
    /// An install of the Microsoft 365 connector's `variant` for `account`
    /// on this sandbox: its tenant, its login and Graph URLs (cloud
    /// `custom`) and its registered app as the installation's own client.
    pub fn install_request(&self, account: &str, variant: &str) -> InstallRequest {
        let app = self.client();
        InstallRequest::new(account, "microsoft365", variant)
            .setting("tenant_id", self.tenant_id())
            .cloud("custom")
            .setting("login_url", self.login_url())
            .setting("graph_url", self.graph_url())
            .own_client(
                app.client_id.clone(),
                Some(app.client_secret.expose().to_string()),
            )
    }

    /// Open a consent link as a browser would and say yes (the sandbox
    /// signs in its first user, or consents as its administrator), without
    /// following the redirect back: returns the URL the browser would be
    /// sent to (the redirect URI with `code`/`admin_consent` and `state`).
    pub async fn consent(&self, consent_url: &Url) -> Result<String> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                Error::new(ErrorKind::Configuration, "could not build an HTTP client")
                    .with_source(e)
            })?;
        let response = http.get(consent_url.as_str()).send().await.map_err(|e| {
            Error::new(ErrorKind::Transport, "could not open the consent link")
                .with_source(e.without_url())
        })?;
        let status = response.status();
        if !status.is_redirection() {
            return Err(Error::new(
                ErrorKind::Consent,
                format!("the consent page answered HTTP {status} instead of redirecting back"),
            ));
        }
        response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| Error::new(ErrorKind::Consent, "the consent redirect has no Location"))
    }
}
