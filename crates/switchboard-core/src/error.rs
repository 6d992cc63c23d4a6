//! The one public error type.
//!
//! Every fallible operation in switchboard returns [`Error`]: a struct with a
//! [`ErrorKind`] that says what class of problem happened, a message that says
//! what to do about it, and optional details from the remote service (HTTP
//! status, the service's error code and message, request ids).
//!
//! Response bodies are never stored in an error: they may carry tokens.
//!
//! ```
//! use switchboard_core::{Error, ErrorKind};
//!
//! let err = Error::invalid_argument("top", "must be an integer between 1 and 999");
//! assert_eq!(err.kind(), ErrorKind::InvalidArgument);
//! assert_eq!(err.to_string(), "invalid argument `top`: must be an integer between 1 and 999");
//! ```

use std::fmt;
use std::time::Duration;

use crate::untrusted_text::{sanitize_identifier, sanitize_message};

/// A `Result` whose error is switchboard's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The class of an [`Error`]: what a caller branches on.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// An argument or setting the caller gave is not allowed; the message names it.
    InvalidArgument,
    /// A connector definition is malformed or inconsistent.
    InvalidDefinition,
    /// The credential was refused (HTTP 401 after one refresh).
    Unauthorized,
    /// The installation must be re-authenticated by a person (grant expired,
    /// revoked, or consent withdrawn).
    NeedsReauth,
    /// The credential is valid but lacks a permission (HTTP 403).
    Forbidden,
    /// The resource does not exist (HTTP 404).
    NotFound,
    /// The request conflicts with the resource's state (HTTP 409 / 412).
    Conflict,
    /// The service asked us to slow down for longer than the retry policy allows.
    Throttled,
    /// A transient failure persisted after every allowed retry.
    Transient,
    /// A request that may already have taken effect failed in a way that does
    /// not tell whether it did (a POST after a timeout or a 5xx). Not retried.
    OutcomeUnknown,
    /// A link from the service (next page, delta, redirect) points somewhere a
    /// credential must not go; nothing was sent.
    UntrustedLink,
    /// Any other error status from the service.
    Remote,
    /// The request could not be sent or the response not read.
    Transport,
    /// The response could not be decoded.
    Decode,
    /// The OAuth consent or authorization flow failed or was refused.
    Consent,
    /// A configuration problem of the platform or app registration (wrong
    /// client secret, unknown application, tenant problems).
    Configuration,
    /// Stored state could not be read or written.
    Storage,
}

impl ErrorKind {
    /// A short lower-case label, stable for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::InvalidDefinition => "invalid_definition",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::NeedsReauth => "needs_reauth",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Throttled => "throttled",
            ErrorKind::Transient => "transient",
            ErrorKind::OutcomeUnknown => "outcome_unknown",
            ErrorKind::UntrustedLink => "untrusted_link",
            ErrorKind::Remote => "remote",
            ErrorKind::Transport => "transport",
            ErrorKind::Decode => "decode",
            ErrorKind::Consent => "consent",
            ErrorKind::Configuration => "configuration",
            ErrorKind::Storage => "storage",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the remote service said about a failed request.
///
/// Filled from Graph's error format
/// `{"error":{"code","message","innerError":{"request-id","client-request-id","date"}}}`
/// or an OAuth token error body. Never holds the raw body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RemoteDetails {
    /// HTTP status code.
    pub status: Option<u16>,
    /// The service's error code (`ErrorAccessDenied`, `invalid_grant`...).
    pub code: Option<String>,
    /// The innermost more specific code, when the service nests them.
    pub inner_code: Option<String>,
    /// The service's human message, when it is safe to show.
    pub message: Option<String>,
    /// The `request-id` the service assigned, for support tickets.
    pub request_id: Option<String>,
    /// The `client-request-id` echoed back.
    pub client_request_id: Option<String>,
    /// The service's `date` for the failure.
    pub date: Option<String>,
}

impl RemoteDetails {
    /// Details with just a status code.
    pub fn status(status: u16) -> Self {
        RemoteDetails {
            status: Some(status),
            ..Default::default()
        }
    }

    /// The details with every piece of the service's text made safe to
    /// show ([`crate::untrusted_text`]): the message through
    /// [`sanitize_message`], codes, ids and the date through
    /// [`sanitize_identifier`]. [`Error::with_remote`] applies it.
    ///
    /// ```
    /// use switchboard_core::error::RemoteDetails;
    ///
    /// let mut details = RemoteDetails::status(400);
    /// details.code = Some("Bad\u{1b}]0;title\u{7}Request".into());
    /// details.request_id = Some("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln".into());
    /// let safe = details.sanitized();
    /// assert_eq!(safe.code.as_deref(), Some("Bad ]0;title Request"));
    /// assert_eq!(safe.request_id.as_deref(), Some("[redacted]"));
    /// ```
    pub fn sanitized(self) -> Self {
        let id = |text: Option<String>| text.map(|t| sanitize_identifier(&t));
        RemoteDetails {
            status: self.status,
            code: id(self.code),
            inner_code: id(self.inner_code),
            message: self.message.map(|m| sanitize_message(&m)),
            request_id: id(self.request_id),
            client_request_id: id(self.client_request_id),
            date: id(self.date),
        }
    }
}

/// switchboard's error: a kind, a message that says what happened and what
/// to do, and optional remote details and source.
///
/// One pointer wide: what it says is boxed, so a `Result` that succeeds
/// carries no room for an error. Every call's results pass through a
/// dozen `?`s and async states, and an error kept inline (120 bytes) made
/// each of them move and reserve that much.
pub struct Error {
    inner: Box<Inner>,
}

/// What an [`Error`] says.
struct Inner {
    kind: ErrorKind,
    message: String,
    field: Option<String>,
    remote: Option<RemoteDetails>,
    retry_after: Option<Duration>,
    permissions: Vec<String>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// An error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                field: None,
                remote: None,
                retry_after: None,
                permissions: Vec::new(),
                source: None,
            }),
        }
    }

    /// An [`ErrorKind::InvalidArgument`] that names the field and says what is allowed.
    ///
    /// ```
    /// let err = switchboard_core::Error::invalid_argument("tenant_id", "must be a GUID or a domain name");
    /// assert_eq!(err.field(), Some("tenant_id"));
    /// ```
    pub fn invalid_argument(field: impl Into<String>, allowed: impl Into<String>) -> Self {
        let field = field.into();
        let mut err = Error::new(
            ErrorKind::InvalidArgument,
            format!("invalid argument `{field}`: {}", allowed.into()),
        );
        err.inner.field = Some(field);
        err
    }

    /// Attach remote details (status, code, request id), made safe to
    /// show first ([`RemoteDetails::sanitized`]).
    pub fn with_remote(mut self, remote: RemoteDetails) -> Self {
        self.inner.remote = Some(remote.sanitized());
        self
    }

    /// Attach how long the service asked us to wait.
    pub fn with_retry_after(mut self, wait: Duration) -> Self {
        self.inner.retry_after = Some(wait);
        self
    }

    /// Attach the permissions the failed method declares (for 403s).
    pub fn with_permissions(mut self, permissions: Vec<String>) -> Self {
        self.inner.permissions = permissions;
        self
    }

    /// Attach the field the error is about.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.inner.field = Some(field.into());
        self
    }

    /// Attach an underlying cause. The cause must not carry secrets in its
    /// Display or Debug.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.inner.source = Some(Box::new(source));
        self
    }

    /// The class of the error.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The message without remote details.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The argument, setting or definition field the error is about.
    pub fn field(&self) -> Option<&str> {
        self.inner.field.as_deref()
    }

    /// What the remote service said.
    pub fn remote(&self) -> Option<&RemoteDetails> {
        self.inner.remote.as_ref()
    }

    /// The HTTP status, when the error came from a response.
    pub fn status(&self) -> Option<u16> {
        self.inner.remote.as_ref().and_then(|r| r.status)
    }

    /// How long the service asked to wait (throttling).
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// The permissions the method declares for the variant (on Forbidden).
    pub fn permissions(&self) -> &[String] {
        &self.inner.permissions
    }

    /// Whether a person must re-authenticate the installation.
    pub fn needs_reauth(&self) -> bool {
        matches!(
            self.inner.kind,
            ErrorKind::NeedsReauth | ErrorKind::Unauthorized
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.message)?;
        if let Some(remote) = &self.inner.remote {
            let mut parts = Vec::new();
            if let Some(status) = remote.status {
                parts.push(format!("HTTP {status}"));
            }
            if let Some(code) = &remote.code {
                match &remote.inner_code {
                    Some(inner) if inner != code => parts.push(format!("code {code}/{inner}")),
                    _ => parts.push(format!("code {code}")),
                }
            }
            if let Some(message) = &remote.message {
                parts.push(format!("\"{message}\""));
            }
            if let Some(id) = &remote.request_id {
                parts.push(format!("request-id {id}"));
            }
            if let Some(id) = &remote.client_request_id {
                parts.push(format!("client-request-id {id}"));
            }
            if let Some(date) = &remote.date {
                parts.push(format!("date {date}"));
            }
            if !parts.is_empty() {
                write!(f, " ({})", parts.join(", "))?;
            }
        }
        if let Some(wait) = self.inner.retry_after {
            write!(f, "; retry after {}s", wait.as_secs_f64().ceil() as u64)?;
        }
        if !self.inner.permissions.is_empty() {
            write!(
                f,
                "; the method needs one of these permissions granted: {}",
                self.inner.permissions.join(", ")
            )?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.inner.kind)
            .field("message", &self.inner.message);
        if let Some(field) = &self.inner.field {
            d.field("field", field);
        }
        if let Some(remote) = &self.inner.remote {
            d.field("remote", remote);
        }
        if let Some(wait) = &self.inner.retry_after {
            d.field("retry_after", wait);
        }
        if !self.inner.permissions.is_empty() {
            d.field("permissions", &self.inner.permissions);
        }
        if let Some(source) = &self.inner.source {
            d.field("source", &source.to_string());
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|s| s.as_ref() as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_includes_remote_details_and_permissions() {
        let err = Error::new(ErrorKind::Forbidden, "the call was refused")
            .with_remote(RemoteDetails {
                status: Some(403),
                code: Some("Authorization_RequestDenied".into()),
                message: Some("Insufficient privileges".into()),
                request_id: Some("abc-123".into()),
                ..Default::default()
            })
            .with_permissions(vec!["User.Read.All".into()]);
        let text = err.to_string();
        assert_eq!(
            text,
            "the call was refused (HTTP 403, code Authorization_RequestDenied, \"Insufficient privileges\", request-id abc-123); the method needs one of these permissions granted: User.Read.All"
        );
        assert_eq!(err.status(), Some(403));
    }

    #[test]
    fn an_error_is_one_pointer_wide() {
        // a `Result` that succeeds must not carry room for the error
        assert_eq!(size_of::<Error>(), size_of::<usize>());
        assert_eq!(size_of::<Result<()>>(), size_of::<usize>());
    }

    #[test]
    fn throttled_display_says_how_long() {
        let err = Error::new(ErrorKind::Throttled, "throttled")
            .with_retry_after(Duration::from_millis(1500));
        assert_eq!(err.to_string(), "throttled; retry after 2s");
    }
}
