//! Headers that only the engine and the HTTP client write.
//!
//! Request framing (`Content-Length`, `Transfer-Encoding`, `Expect`),
//! connection management (`Connection`, `Keep-Alive`, `TE`, `Trailer`,
//! `Upgrade`), routing (`Host`) and credentials (`Authorization`,
//! `Proxy-Authorization`, `Cookie`) are never taken from data: a connector
//! definition may not declare them (validation says so) and a stored
//! continuation that carries one is refused. A wrong `Content-Length` would
//! leave the request hanging, a `Host` would route it elsewhere, a credential
//! header would outlive the engine's rules for stripping it.
//!
//! ```
//! use switchboard_core::definition::reserved_headers::is_reserved;
//!
//! assert!(is_reserved("Content-Length") && is_reserved("host") && is_reserved("AUTHORIZATION"));
//! assert!(!is_reserved("ConsistencyLevel") && !is_reserved("Prefer") && !is_reserved("Accept"));
//! ```

/// The reserved header names, lower case.
pub const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "connection",
    "content-length",
    "cookie",
    "expect",
    "host",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether `name` is one of [`RESERVED_HEADERS`] (any case).
pub fn is_reserved(name: &str) -> bool {
    RESERVED_HEADERS
        .iter()
        .any(|reserved| reserved.eq_ignore_ascii_case(name))
}
