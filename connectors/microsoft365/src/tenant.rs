//! The directory (tenant) ID, checked before any URL is built.
//!
//! **A Rust hook because data can't express it:** the definition's
//! `format: tenant_id` checks the shape, but which special values a variant
//! may use (`common` and `organizations` for delegated sign-in, none for
//! client credentials) depends on the variant's grant and on Microsoft's
//! multi-tenant rules, which the definition format has no words for.
//!
//! - Application variant: a GUID or a domain name only. `common`,
//!   `organizations` and `consumers` are refused: client credentials must
//!   name the customer's tenant.
//! - Delegated variant: also `organizations` or `common` (the user's own
//!   tenant is learned from the first token); never `consumers`.
//!
//! Anything else (spaces, slashes, `..`, `?`, `%`...) is an
//! [`ErrorKind::InvalidArgument`](switchboard_core::ErrorKind::InvalidArgument)
//! naming `tenant_id`. Values are lower-cased (GUIDs and domains are
//! case-insensitive).
//!
//! ```
//! use switchboard_microsoft365::tenant::TenantId;
//!
//! assert!(TenantId::for_application("72F988BF-86F1-41AF-91AB-2D7CD011DB47").unwrap().is_guid());
//! assert!(TenantId::for_application("contoso.onmicrosoft.com").is_ok());
//! assert!(TenantId::for_application("common").is_err());
//! assert!(TenantId::for_delegated("organizations").is_ok());
//! assert_eq!(TenantId::for_delegated("a/../b").unwrap_err().field(), Some("tenant_id"));
//! ```

use std::fmt;

use switchboard_core::{Error, Result};

/// The field name used in errors.
pub const FIELD: &str = "tenant_id";

const WHAT: &str = "must be the directory (tenant) ID as a GUID such as 00000000-0000-0000-0000-000000000000, or a verified domain such as contoso.onmicrosoft.com";

/// A validated tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantId(String);

impl TenantId {
    /// For the application (client credentials) variant.
    pub fn for_application(value: &str) -> Result<TenantId> {
        let lower = value.to_ascii_lowercase();
        if matches!(lower.as_str(), "common" | "organizations" | "consumers") {
            return Err(Error::invalid_argument(
                FIELD,
                format!(
                    "`{lower}` cannot be used by the application variant: it needs the customer's own tenant; {WHAT}"
                ),
            ));
        }
        if is_guid(&lower) || is_domain(&lower) {
            Ok(TenantId(lower))
        } else {
            Err(Error::invalid_argument(FIELD, WHAT))
        }
    }

    /// For the delegated (signed-in user) variant.
    pub fn for_delegated(value: &str) -> Result<TenantId> {
        let lower = value.to_ascii_lowercase();
        match lower.as_str() {
            "common" | "organizations" => Ok(TenantId(lower)),
            "consumers" => Err(Error::invalid_argument(
                FIELD,
                "`consumers` (personal Microsoft accounts) is not supported; use a work or school tenant, `organizations` or `common`",
            )),
            _ if is_guid(&lower) || is_domain(&lower) => Ok(TenantId(lower)),
            _ => Err(Error::invalid_argument(
                FIELD,
                format!("{WHAT}, or `organizations` / `common`"),
            )),
        }
    }

    /// The tenant as used in URLs.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it is a GUID (and can be compared with a token's `tid`).
    pub fn is_guid(&self) -> bool {
        is_guid(&self.0)
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `8-4-4-4-12` hexadecimal digits (the engine's `guid` format).
pub(crate) fn is_guid(s: &str) -> bool {
    switchboard_core::render::format::matches(switchboard_core::definition::Format::Guid, s)
}

/// A DNS name: two or more labels of letters, digits and inner hyphens, a
/// top-level label of letters, at most 253 characters.
fn is_domain(s: &str) -> bool {
    if s.is_empty() || s.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = s.split('.').collect();
    if labels.len() < 2 {
        return false;
    }
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let tld_ok = labels
        .last()
        .is_some_and(|t| t.len() >= 2 && t.bytes().all(|b| b.is_ascii_alphabetic()));
    labels.iter().all(label_ok) && tld_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_url_characters_and_wellknown_names() {
        for bad in [
            "",
            " contoso.com",
            "contoso.com ",
            "con toso.com",
            "a/b.com",
            "..",
            "../x",
            "contoso.com?x=1",
            "contoso.com#x",
            "contoso..com",
            "-a.com",
            "a-.com",
            "a.c0m",
            "contoso",
            "%2e%2e",
            "72f988bf-86f1-41af-91ab-2d7cd011db4",
            "72f988bf86f141af91ab2d7cd011db47",
        ] {
            let err = TenantId::for_delegated(bad).unwrap_err();
            assert_eq!(err.field(), Some("tenant_id"), "{bad:?}");
            assert!(TenantId::for_application(bad).is_err(), "{bad:?}");
        }
        for name in ["common", "organizations", "consumers", "Common"] {
            assert_eq!(
                TenantId::for_application(name).unwrap_err().field(),
                Some("tenant_id")
            );
        }
        assert!(TenantId::for_delegated("consumers").is_err());
        assert_eq!(
            TenantId::for_delegated("Contoso.COM").unwrap().as_str(),
            "contoso.com"
        );
    }
}
