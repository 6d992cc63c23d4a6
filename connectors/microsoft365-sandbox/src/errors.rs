//! Error responses in Microsoft's two formats.
//!
//! Graph: `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`
//! (see `concepts/errors.md` in the Graph docs). Identity (the token
//! endpoint): `{"error","error_description","error_codes","timestamp",
//! "trace_id","correlation_id","error_uri"}` with an `AADSTS` code.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::datetime;

/// A Graph error: status, code and message.
#[derive(Debug, Clone)]
pub(crate) struct GraphError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub retry_after: Option<u64>,
    pub www_authenticate: bool,
    /// A `Location` header (a 410 for an expired delta token names where a
    /// fresh round starts).
    pub location: Option<String>,
    /// More `innerError` members, after `date`, `request-id` and
    /// `client-request-id` (throttling answers carry `code` and `status`).
    pub inner: Vec<(&'static str, &'static str)>,
}

impl GraphError {
    pub(crate) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        GraphError {
            status,
            code: code.to_string(),
            message: message.into(),
            retry_after: None,
            www_authenticate: false,
            location: None,
            inner: Vec::new(),
        }
    }

    /// 429 `TooManyRequests` with `Retry-After`, in the shape of the sample
    /// in Microsoft's throttling guidance (`concepts/throttling.md`, both
    /// the 2021-07 and the 01/2025 pages: `innerError` carries `code`
    /// "429", `message` "Please retry after" and `status` "429").
    pub(crate) fn too_many_requests(retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "Please retry again later.",
        );
        e.retry_after = Some(retry_after_secs);
        e.inner = vec![
            ("code", "429"),
            ("message", "Please retry after"),
            ("status", "429"),
        ];
        e
    }

    /// 429 `ApplicationThrottled`, Outlook's answer when an app is over one
    /// of its limits for a mailbox: `limit` is `MailboxConcurrency` or
    /// `IncomingBytes`. Microsoft's pages do not show this body; its code
    /// and message are as Graph returns them in public reports
    /// (magodo/terraform-provider-outlook#21, alcionai/corso#3695 for
    /// MailboxConcurrency; O365/python-o365#500 for IncomingBytes).
    pub(crate) fn application_throttled(limit: &str, retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "ApplicationThrottled",
            format!("Application is over its {limit} limit."),
        );
        e.retry_after = Some(retry_after_secs);
        e
    }

    /// 400 with a code.
    pub(crate) fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 403 `Authorization_RequestDenied`, what Graph answers when the token
    /// lacks every permission that grants the operation.
    pub(crate) fn insufficient_privileges() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    }

    /// 403 `ErrorAccessDenied` (Outlook's wording for another user's mailbox).
    pub(crate) fn access_denied() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        )
    }

    /// 401 `InvalidAuthenticationToken`.
    pub(crate) fn invalid_token(message: &str) -> Self {
        let mut e = Self::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
        );
        e.www_authenticate = true;
        e
    }

    /// 404 in the wording of the area (`ErrorItemNotFound` for Outlook,
    /// `itemNotFound` for OneDrive, `Request_ResourceNotFound` for the
    /// directory).
    pub(crate) fn not_found(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// Outlook's 404.
    pub(crate) fn outlook_not_found() -> Self {
        Self::not_found(
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
        )
    }

    /// OneDrive's 404.
    pub(crate) fn drive_not_found() -> Self {
        Self::not_found("itemNotFound", "The resource could not be found.")
    }

    /// The directory's 404 for a user id or UPN.
    pub(crate) fn user_not_found(id: &str) -> Self {
        Self::not_found(
            "Request_ResourceNotFound",
            format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            ),
        )
    }

    /// A path Graph does not serve.
    pub(crate) fn no_segment(segment: &str) -> Self {
        Self::bad_request(
            "BadRequest",
            format!("Resource not found for the segment '{segment}'."),
        )
    }

    /// A method Graph does not allow on this path.
    pub(crate) fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Request_BadRequest",
            "The HTTP method is not allowed on this resource.",
        )
    }

    /// Renders the error with Graph's body and headers.
    pub(crate) fn into_response_with(
        self,
        request_id: &str,
        client_request_id: Option<&str>,
    ) -> Response {
        let mut inner = json!({
            "date": datetime::iso_z(datetime::now()).trim_end_matches('Z').to_string() ,
            "request-id": request_id,
            "client-request-id": client_request_id.unwrap_or(request_id),
        });
        for (k, v) in &self.inner {
            inner[*k] = json!(v);
        }
        let body = json!({
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": inner,
            }
        });
        let mut resp = (self.status, axum::Json(body)).into_response();
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(request_id) {
            h.insert("request-id", v);
        }
        if let Some(v) = client_request_id.and_then(|c| HeaderValue::from_str(c).ok()) {
            h.insert("client-request-id", v);
        }
        if let Some(v) = self
            .location
            .as_deref()
            .and_then(|l| HeaderValue::from_str(l).ok())
        {
            h.insert(header::LOCATION, v);
        }
        if let Some(secs) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.www_authenticate {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(
                    "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
                ),
            );
        }
        resp
    }
}

/// An identity (token endpoint) error.
#[derive(Debug, Clone)]
pub(crate) struct IdentityError {
    pub status: StatusCode,
    pub error: &'static str,
    pub code: u32,
    pub description: String,
}

impl IdentityError {
    /// An error with status 400.
    pub(crate) fn new(error: &'static str, code: u32, description: impl Into<String>) -> Self {
        IdentityError {
            status: StatusCode::BAD_REQUEST,
            error,
            code,
            description: description.into(),
        }
    }

    /// An `invalid_client` error (status 401).
    pub(crate) fn invalid_client(code: u32, description: impl Into<String>) -> Self {
        IdentityError {
            status: StatusCode::UNAUTHORIZED,
            ..Self::new("invalid_client", code, description)
        }
    }

    /// The body Microsoft identity sends, with fresh trace and correlation ids.
    pub(crate) fn body(&self, trace_id: &str, correlation_id: &str) -> serde_json::Value {
        let now = datetime::now();
        json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {}",
                self.code,
                self.description,
                datetime::identity_timestamp(now)
            ),
            "error_codes": [self.code],
            "timestamp": datetime::identity_timestamp(now),
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        })
    }

    /// Renders the error as the token endpoint does.
    pub(crate) fn into_response_with(self, trace_id: &str, correlation_id: &str) -> Response {
        let body = self.body(trace_id, correlation_id);
        let mut resp = (self.status, axum::Json(body)).into_response();
        resp.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store, no-cache"),
        );
        resp
    }
}
