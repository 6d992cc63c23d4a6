//! Built-in checks for named string formats ([`Format`]). The `date-time`
//! parameter type is checked in [`crate::datetime`].
//!
//! Each check returns whether the value is acceptable; [`describe`] says in
//! words what is allowed, for the error message.

use url::Url;

use crate::definition::Format;

/// Whether `value` has the named format.
///
/// ```
/// use switchboard_core::definition::Format;
/// use switchboard_core::render::format::{describe, matches};
///
/// assert!(matches(Format::TenantId, "contoso.onmicrosoft.com"));
/// assert!(!matches(Format::TenantId, "common"));
/// assert!(describe(Format::TenantId).contains("GUID"));
/// ```
pub fn matches(format: Format, value: &str) -> bool {
    match format {
        Format::Guid => is_guid(value),
        Format::UserId => is_guid(value) || is_upn(value),
        Format::Email => is_email(value),
        Format::Hostname => is_hostname(value),
        Format::Url => is_http_url(value),
        Format::TenantId => is_guid(value) || is_domain(value),
    }
}

/// What a value of the format looks like, for error messages.
pub fn describe(format: Format) -> &'static str {
    match format {
        Format::Guid => "must be a GUID such as 6e7b768e-07e2-4810-8459-485f84f8f204",
        Format::UserId => {
            "must be a user's object ID (a GUID) or user principal name such as \
             adele@contoso.com or adele_fabrikam.com#EXT#@contoso.onmicrosoft.com"
        }
        Format::Email => "must be an e-mail address such as adele@contoso.com",
        Format::Hostname => "must be a DNS host name such as graph.microsoft.com",
        Format::Url => "must be an absolute http or https URL",
        Format::TenantId => {
            "must be a directory (tenant) ID GUID or a domain name such as \
             contoso.onmicrosoft.com (not common, organizations or consumers)"
        }
    }
}

/// `8-4-4-4-12` hexadecimal digits: the hyphenated form only (`uuid`
/// also reads braced, URN and plain-hex forms). Only the shape is checked,
/// nothing decoded, so no lookup table is read on a call's path.
pub(crate) fn is_guid(value: &str) -> bool {
    value.len() == 36
        && value.bytes().enumerate().all(|(at, b)| match at {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// A DNS host name: dot-separated labels of letters, digits and inner
/// hyphens, each 1 to 63 characters, 253 in all.
pub(crate) fn is_hostname(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 253
        && value.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// A host name with at least two labels (`contoso.com`), whose last label is
/// not all digits (so an IPv4 address is not taken for a domain).
pub(crate) fn is_domain(value: &str) -> bool {
    is_hostname(value)
        && value.contains('.')
        && value
            .rsplit('.')
            .next()
            .is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()))
}

/// A user principal name: `name@domain`, where the name uses the characters
/// Microsoft Entra ID allows (letters, digits, `' . - _ ! # ^ ~`) and does not
/// start or end with a dot. Guest UPNs (`adele_fabrikam.com#EXT#@...`) fit.
pub(crate) fn is_upn(value: &str) -> bool {
    let Some((local, domain)) = value.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 113
        && !local.starts_with('.')
        && !local.ends_with('.')
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"'.-_!#^~".contains(&b))
        && is_domain(domain)
}

/// An e-mail address: a dot-atom local part (RFC 5322) `@` a domain.
pub(crate) fn is_email(value: &str) -> bool {
    let Some((local, domain)) = value.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && local.split('.').all(|atom| {
            !atom.is_empty()
                && atom
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~-".contains(&b))
        })
        && is_domain(domain)
}

/// An absolute `http` or `https` URL with a host.
pub(crate) fn is_http_url(value: &str) -> bool {
    Url::parse(value)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid() {
        assert!(is_guid("6e7b768e-07e2-4810-8459-485f84f8f204"));
        assert!(is_guid("6E7B768E-07E2-4810-8459-485F84F8F204"));
        assert!(!is_guid("6e7b768e07e248108459485f84f8f204"));
        assert!(!is_guid("6e7b768e-07e2-4810-8459-485f84f8f20g"));
        assert!(!is_guid("{6e7b768e-07e2-4810-8459-485f84f8f204}"));
        // 36 characters, hyphens in the wrong places or doubled.
        assert!(!is_guid("6e7b768-e07e2-4810-8459-485f84f8f204"));
        assert!(!is_guid("6e7b768e-07e2-4810-8459--85f84f8f204"));
        assert!(!is_guid("6e7b768e-07e2-4810-8459-485f84f8f2-4"));
        assert!(!is_guid("6e7b768e+07e2-4810-8459-485f84f8f204"));
        assert!(!is_guid("6e7b768e-07e2-4810-8459-485f84f8f20é"));
        assert!(!is_guid(""));
    }

    proptest::proptest! {
        /// The shape check agrees with the `uuid` crate's parser on its
        /// hyphenated form, for GUIDs, for strings of 34 to 38 hex digits,
        /// hyphens and a few other characters, and for any text.
        #[test]
        fn guid_agrees_with_uuid_on_the_hyphenated_form(
            value in proptest::prop_oneof![
                "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
                "[0-9a-fA-F\\-gG{}é]{34,38}",
                ".{0,40}",
            ]
        ) {
            let parsed = value.len() == 36 && uuid::Uuid::try_parse(&value).is_ok();
            proptest::prop_assert_eq!(is_guid(&value), parsed);
        }
    }

    #[test]
    fn user_id_accepts_guids_upns_and_guest_upns() {
        for ok in [
            "6e7b768e-07e2-4810-8459-485f84f8f204",
            "adele@contoso.com",
            "AdeleV@contoso.onmicrosoft.com",
            "adele_fabrikam.com#EXT#@contoso.onmicrosoft.com",
            "o'neil.k-x~y^z!@contoso.com",
        ] {
            assert!(matches(Format::UserId, ok), "{ok}");
        }
        for bad in [
            "",
            "adele",
            "adele@",
            "@contoso.com",
            "adele@contoso",
            ".adele@contoso.com",
            "ad/ele@contoso.com",
            "ad%2Fele@contoso.com",
            "adele@contoso.com/../x",
            "adele?@contoso.com",
            "ad ele@contoso.com",
        ] {
            assert!(!matches(Format::UserId, bad), "{bad}");
        }
    }

    #[test]
    fn tenant_id_refuses_the_multi_tenant_aliases() {
        assert!(matches(
            Format::TenantId,
            "6e7b768e-07e2-4810-8459-485f84f8f204"
        ));
        assert!(matches(Format::TenantId, "contoso.onmicrosoft.com"));
        assert!(matches(Format::TenantId, "contoso.com"));
        for bad in [
            "common",
            "organizations",
            "consumers",
            "contoso",
            "10.0.0.1",
            "contoso..com",
            "-contoso.com",
            "contoso.com/",
        ] {
            assert!(!matches(Format::TenantId, bad), "{bad}");
        }
    }

    #[test]
    fn email_hostname_url() {
        assert!(is_email("adele+news@contoso.com"));
        assert!(!is_email("adele@@contoso.com"));
        assert!(!is_email("adele..v@contoso.com"));
        assert!(!is_email("adele@localhost"));
        assert!(is_hostname("graph.microsoft.com"));
        assert!(is_hostname("localhost"));
        assert!(!is_hostname("graph_microsoft.com"));
        assert!(!is_hostname("graph.microsoft.com."));
        assert!(!is_hostname(&format!("{}.com", "a".repeat(64))));
        assert!(is_http_url("https://contoso.sharepoint.com/sites/x"));
        assert!(!is_http_url("ftp://contoso.com/x"));
        assert!(!is_http_url("/relative/path"));
    }
}
