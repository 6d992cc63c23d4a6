//! What "test connection" found, in words an administrator can act on.
//!
//! ```
//! use switchboard_core::{Error, ErrorKind};
//! use switchboard_installations::lifecycle::report::ConnectionReport;
//!
//! let err = Error::new(ErrorKind::Forbidden, "refused").with_permissions(vec!["User.Read.All".into()]);
//! let report = ConnectionReport::failed(Some("users.list_users".into()), &err);
//! assert!(!report.ok);
//! assert!(report.message.contains("User.Read.All"));
//! ```

use serde::Serialize;

use crate::install::InstallationStatus;
use switchboard_core::error::{Error, ErrorKind};

/// The outcome of a connection test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ConnectionReport {
    /// Whether the grant works.
    pub ok: bool,
    /// The method that was called, if one was.
    pub method_id: Option<String>,
    /// What was found, and what to do, in words.
    pub message: String,
    /// The error class when it failed (`forbidden`, `configuration`...).
    pub error_kind: Option<String>,
    /// Permissions one of which is missing (403).
    pub missing_permissions: Vec<String>,
    /// The service's error code (`Authorization_RequestDenied`, `AADSTS7000215`...).
    pub code: Option<String>,
    /// The HTTP status of the failure, if any.
    pub http_status: Option<u16>,
    /// The service's request id, for support.
    pub request_id: Option<String>,
    /// The installation's status after the test.
    pub status: Option<InstallationStatus>,
}

impl ConnectionReport {
    /// A passed test.
    pub fn passed(method_id: Option<String>, message: impl Into<String>) -> Self {
        ConnectionReport {
            ok: true,
            method_id,
            message: message.into(),
            error_kind: None,
            missing_permissions: Vec::new(),
            code: None,
            http_status: None,
            request_id: None,
            status: None,
        }
    }

    /// A test that could not run because of the installation's state.
    pub fn not_ready(status: InstallationStatus, message: impl Into<String>) -> Self {
        ConnectionReport {
            ok: false,
            status: Some(status),
            ..ConnectionReport::passed(None, message)
        }
    }

    /// A failed test, explained from the error.
    pub fn failed(method_id: Option<String>, err: &Error) -> Self {
        let remote = err.remote();
        let code = remote.and_then(|r| r.inner_code.clone().or_else(|| r.code.clone()));
        let status = err.status();
        let what = method_id
            .as_deref()
            .map(|m| format!("`{m}`"))
            .unwrap_or_else(|| "the token request".into());
        let message = match err.kind() {
            ErrorKind::Forbidden => {
                let perms = err.permissions();
                if perms.is_empty() {
                    format!(
                        "the connection works, but the grant lacks a permission {what} needs (HTTP 403); grant the connector's permissions and consent again"
                    )
                } else {
                    format!(
                        "the connection works, but the grant lacks the permission {what} needs (HTTP 403): grant one of {} (application permissions need an administrator's consent), then test again",
                        perms.join(", ")
                    )
                }
            }
            ErrorKind::Unauthorized => format!(
                "the service refused the installation's token for {what} (HTTP 401) even after a fresh one was issued; re-authenticate the installation, and check that the app registration and tenant are the ones consented"
            ),
            ErrorKind::NeedsReauth => format!(
                "{}; re-authenticate the installation (a new consent link is issued)",
                err.message()
            ),
            ErrorKind::Configuration | ErrorKind::Consent => err.message().to_string(),
            ErrorKind::Throttled | ErrorKind::Transient => format!(
                "the service is busy or unavailable ({}); the grant was not checked, try again later",
                err.message()
            ),
            ErrorKind::Transport => format!(
                "the service could not be reached ({}); check the network and the installation's cloud endpoints",
                err.message()
            ),
            _ => err.to_string(),
        };
        let message = match &code {
            Some(c) if !message.contains(c.as_str()) => format!("{message} [{c}]"),
            _ => message,
        };
        ConnectionReport {
            ok: false,
            method_id,
            message,
            error_kind: Some(err.kind().as_str().to_string()),
            missing_permissions: if err.kind() == ErrorKind::Forbidden {
                err.permissions().to_vec()
            } else {
                Vec::new()
            },
            code,
            http_status: status,
            request_id: remote.and_then(|r| r.request_id.clone()),
            status: None,
        }
    }
}
