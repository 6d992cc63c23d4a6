//! Turning an unsuccessful response into an [`Error`].
//!
//! The status decides the [`ErrorKind`]; the body, when it is Graph's error
//! format
//! `{"error":{"code","message","innerError":{"request-id","client-request-id","date"}}}`
//! (inner errors may nest), an OAuth error (`{"error","error_description"}`)
//! or a plain `{"message": "..."}` (GitHub and many REST APIs), fills the
//! [`RemoteDetails`]. The raw body is never kept: it may carry
//! tokens. The service's text is kept only after
//! [`RemoteDetails::sanitized`] (unsafe characters neutralised, anything
//! that looks like a token redacted, shortened).
//!
//! ```
//! use switchboard_core::engine::classify::parse_remote_details;
//!
//! let body = br#"{"error":{"code":"Request_ResourceNotFound","message":"Resource 'x' does not exist.",
//!   "innerError":{"date":"2026-05-01T10:00:00","request-id":"r-1","client-request-id":"c-1"}}}"#;
//! let details = parse_remote_details(404, body);
//! assert_eq!(details.code.as_deref(), Some("Request_ResourceNotFound"));
//! assert_eq!(details.request_id.as_deref(), Some("r-1"));
//! ```

use std::time::Duration;

use serde_json::Value;

use crate::error::{Error, ErrorKind, RemoteDetails};

/// How deep nested `innerError`s are followed.
const MAX_INNER_DEPTH: usize = 16;

/// Parse what a service said about a failure from its error body. Bodies
/// that are not JSON or not a known error shape give only the status.
pub fn parse_remote_details(status: u16, body: &[u8]) -> RemoteDetails {
    let mut details = RemoteDetails::status(status);
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return details;
    };
    match value.get("error") {
        Some(Value::Object(error)) => {
            details.code = string_field(error, "code");
            details.message = string_field(error, "message").filter(|m| !m.is_empty());
            let mut current = error;
            for _ in 0..MAX_INNER_DEPTH {
                let Some(Value::Object(inner)) = ["innerError", "innererror", "InnerError"]
                    .iter()
                    .find_map(|k| current.get(*k))
                else {
                    break;
                };
                if let Some(code) = string_field(inner, "code") {
                    details.inner_code = Some(code);
                }
                if details.message.is_none() {
                    details.message = string_field(inner, "message").filter(|m| !m.is_empty());
                }
                details.request_id = details
                    .request_id
                    .take()
                    .or_else(|| string_field(inner, "request-id"));
                details.client_request_id = details
                    .client_request_id
                    .take()
                    .or_else(|| string_field(inner, "client-request-id"));
                details.date = details.date.take().or_else(|| string_field(inner, "date"));
                current = inner;
            }
        }
        Some(Value::String(code)) => {
            // OAuth 2 error response (RFC 6749 section 5.2), as Microsoft
            // identity platform sends it.
            details.code = Some(code.clone());
            details.message = value
                .get("error_description")
                .and_then(Value::as_str)
                .map(str::to_string);
            details.request_id = value
                .get("trace_id")
                .and_then(Value::as_str)
                .map(str::to_string);
            details.client_request_id = value
                .get("correlation_id")
                .and_then(Value::as_str)
                .map(str::to_string);
            details.date = value
                .get("timestamp")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        _ => {
            // A top-level `message` (GitHub, GitLab and many REST APIs:
            // `{"message": "Not Found", "documentation_url": "..."}`).
            details.message = value
                .get("message")
                .and_then(Value::as_str)
                .filter(|m| !m.is_empty())
                .map(str::to_string);
        }
    }
    details.sanitized()
}

fn string_field(obj: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    obj.get(key).and_then(Value::as_str).map(str::to_string)
}

/// The kind of error an unsuccessful, final status is.
pub fn kind_for_status(status: u16) -> ErrorKind {
    match status {
        401 => ErrorKind::Unauthorized,
        403 => ErrorKind::Forbidden,
        404 | 410 => ErrorKind::NotFound,
        409 | 412 => ErrorKind::Conflict,
        429 => ErrorKind::Throttled,
        _ => ErrorKind::Remote,
    }
}

/// What the engine knows about the call that failed, for the error message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Failed<'a> {
    pub method_id: &'a str,
    pub variant_id: &'a str,
    pub permissions: &'a [String],
}

/// Why the engine stopped, beyond the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A final status: the kind follows from it.
    Final,
    /// Retries or budget exhausted.
    Exhausted { retries: u32 },
    /// The outcome of a non-idempotent request is unknown.
    OutcomeUnknown,
    /// The service asked to wait longer than the policy allows.
    WaitTooLong,
    /// 401 after the credential was asked for a new token.
    Unauthorized,
}

/// Build the error for an unsuccessful response.
pub(crate) fn response_error(
    failed: Failed<'_>,
    verdict: Verdict,
    details: RemoteDetails,
    wait: Option<Duration>,
) -> Error {
    let status = details.status.unwrap_or(0);
    let m = failed.method_id;
    let (kind, message) = match verdict {
        Verdict::OutcomeUnknown => (
            ErrorKind::OutcomeUnknown,
            format!(
                "`{m}` may or may not have taken effect: the service failed without saying whether it did, and the request was not resent because repeating it is unsafe; check the resource's state before trying again"
            ),
        ),
        Verdict::WaitTooLong => (
            ErrorKind::Throttled,
            format!(
                "the service is throttling `{m}` and asked for a wait longer than the retry policy allows; try again after the wait"
            ),
        ),
        Verdict::Exhausted { retries } if status == 429 => (
            ErrorKind::Throttled,
            format!(
                "the service kept throttling `{m}` through {retries} retries; slow down and try again later"
            ),
        ),
        Verdict::Exhausted { retries } => (
            ErrorKind::Transient,
            format!(
                "`{m}` kept failing with a temporary error through {retries} retries; try again later"
            ),
        ),
        Verdict::Unauthorized => (
            ErrorKind::Unauthorized,
            format!(
                "the service refused the installation's credential for `{m}` even after a fresh token was requested; the installation needs to be re-authenticated"
            ),
        ),
        Verdict::Final => {
            let kind = kind_for_status(status);
            let message = match kind {
                ErrorKind::Unauthorized => format!(
                    "the service refused the credential for `{m}`; the installation needs to be re-authenticated"
                ),
                ErrorKind::Forbidden => format!(
                    "the service refused `{m}` for lack of permission: the `{}` variant needs one of the permissions listed below granted (application permissions need an administrator's consent)",
                    failed.variant_id
                ),
                ErrorKind::NotFound => format!(
                    "`{m}` found nothing at that address; check the identifiers passed as arguments"
                ),
                ErrorKind::Conflict => format!(
                    "`{m}` conflicts with the current state of the resource (it changed or already exists); read it again and retry"
                ),
                ErrorKind::Throttled => format!("the service is throttling `{m}`; try again later"),
                _ if status == 400 || status == 422 => format!(
                    "the service rejected `{m}` as a bad request; check the arguments against the service's message"
                ),
                _ if status >= 500 => format!(
                    "the service failed to handle `{m}`; try again later, and quote the request-id if it persists"
                ),
                _ => format!("the service refused `{m}`"),
            };
            (kind, message)
        }
    };
    let mut error = Error::new(kind, message).with_remote(details);
    if kind == ErrorKind::Forbidden && !failed.permissions.is_empty() {
        error = error.with_permissions(failed.permissions.to_vec());
    }
    if let Some(wait) = wait
        && kind == ErrorKind::Throttled
    {
        error = error.with_retry_after(wait);
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_error_with_nested_inner_errors() {
        let body = br#"{"error":{"code":"InvalidRequest","message":"Outer message",
            "innerError":{"code":"middle","request-id":"rid","client-request-id":"cid","date":"2026-01-01T00:00:00",
              "innerError":{"code":"innermost","innerError":{"message":"deep"}}}}}"#;
        let d = parse_remote_details(400, body);
        assert_eq!(d.status, Some(400));
        assert_eq!(d.code.as_deref(), Some("InvalidRequest"));
        assert_eq!(d.inner_code.as_deref(), Some("innermost"));
        assert_eq!(d.message.as_deref(), Some("Outer message"));
        assert_eq!(d.request_id.as_deref(), Some("rid"));
        assert_eq!(d.client_request_id.as_deref(), Some("cid"));
        assert_eq!(d.date.as_deref(), Some("2026-01-01T00:00:00"));
    }

    #[test]
    fn deeply_nested_or_cyclic_looking_bodies_terminate() {
        let mut body = String::from(r#"{"code":"leaf"}"#);
        for i in 0..100 {
            body = format!(r#"{{"code":"c{i}","innerError":{body}}}"#);
        }
        let wrapped = format!(r#"{{"error":{body}}}"#);
        let d = parse_remote_details(500, wrapped.as_bytes());
        assert_eq!(d.code.as_deref(), Some("c99"));
        // Only MAX_INNER_DEPTH levels are walked.
        assert_eq!(d.inner_code.as_deref(), Some("c83"));
        // Deeper than serde_json's recursion limit: only the status, no panic.
        for i in 100..300 {
            body = format!(r#"{{"code":"c{i}","innerError":{body}}}"#);
        }
        let wrapped = format!(r#"{{"error":{body}}}"#);
        assert_eq!(
            parse_remote_details(500, wrapped.as_bytes()),
            RemoteDetails::status(500)
        );
    }

    #[test]
    fn oauth_errors_and_garbage() {
        let d = parse_remote_details(
            400,
            br#"{"error":"invalid_grant","error_description":"AADSTS70000: bad grant","trace_id":"t","correlation_id":"c"}"#,
        );
        assert_eq!(d.code.as_deref(), Some("invalid_grant"));
        assert_eq!(d.message.as_deref(), Some("AADSTS70000: bad grant"));
        assert_eq!(d.request_id.as_deref(), Some("t"));
        assert_eq!(
            parse_remote_details(502, b"<html>bad gateway</html>"),
            RemoteDetails::status(502)
        );
        assert_eq!(parse_remote_details(500, b""), RemoteDetails::status(500));
        assert_eq!(
            parse_remote_details(500, b"[1,2]"),
            RemoteDetails::status(500)
        );
        let d = parse_remote_details(
            422,
            br#"{"message":"Validation Failed","errors":[{"resource":"Issue","code":"missing_field","field":"title"}],"documentation_url":"https://docs.github.com/rest"}"#,
        );
        assert_eq!(d.message.as_deref(), Some("Validation Failed"));
        assert_eq!(d.code, None);
        assert_eq!(d.status, Some(422));
    }

    #[test]
    fn forbidden_names_the_variant_permissions() {
        let perms = vec![
            "User.Read.All".to_string(),
            "Directory.Read.All".to_string(),
        ];
        let err = response_error(
            Failed {
                method_id: "users.list_users",
                variant_id: "application",
                permissions: &perms,
            },
            Verdict::Final,
            RemoteDetails::status(403),
            None,
        );
        assert_eq!(err.kind(), ErrorKind::Forbidden);
        assert_eq!(err.permissions(), perms.as_slice());
        assert!(
            err.to_string()
                .contains("User.Read.All, Directory.Read.All")
        );
        assert!(err.to_string().contains("`application`"));
    }

    #[test]
    fn status_kinds() {
        assert_eq!(kind_for_status(401), ErrorKind::Unauthorized);
        assert_eq!(kind_for_status(404), ErrorKind::NotFound);
        assert_eq!(kind_for_status(409), ErrorKind::Conflict);
        assert_eq!(kind_for_status(412), ErrorKind::Conflict);
        assert_eq!(kind_for_status(400), ErrorKind::Remote);
        assert_eq!(kind_for_status(500), ErrorKind::Remote);
    }
}
