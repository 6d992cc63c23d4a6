//! Built-in checks for named string formats ([`Format`]) and for the
//! `date-time` parameter type.
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

/// `8-4-4-4-12` hexadecimal digits.
pub(crate) fn is_guid(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()))
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

/// What a date-time looks like, for error messages.
pub(crate) const DATE_TIME_ALLOWED: &str = "must be an ISO 8601 / RFC 3339 date and time such as \
     2026-11-22T09:00:00Z, 2026-11-22T09:00:00+01:00 or 2026-11-22T09:00:00.0000000";

/// An ISO 8601 / RFC 3339 date and time: `YYYY-MM-DDTHH:MM:SS`, an optional
/// fraction of 1 to 9 digits, and an optional offset (`Z` or `±HH:MM`).
/// Graph's `dateTimeTimeZone` values carry no offset, so it is optional.
pub(crate) fn is_date_time(value: &str) -> bool {
    let b = value.as_bytes();
    if b.len() < 19 {
        return false;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(range)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        part.iter()
            .try_fold(0u32, |acc, d| Some(acc * 10 + u32::from(d - b'0')))
    };
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = (
        digits(0..4),
        digits(5..7),
        digits(8..10),
        digits(11..13),
        digits(14..16),
        digits(17..19),
    ) else {
        return false;
    };
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return false;
    }
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return false;
    }
    let mut rest = &b[19..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let len = fraction.iter().take_while(|d| d.is_ascii_digit()).count();
        if !(1..=9).contains(&len) {
            return false;
        }
        rest = &fraction[len..];
    }
    match rest {
        [] | [b'Z'] | [b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            let two = |a: u8, b: u8| {
                (a.is_ascii_digit() && b.is_ascii_digit())
                    .then(|| u32::from(a - b'0') * 10 + u32::from(b - b'0'))
            };
            two(*h1, *h2).is_some_and(|h| h <= 23) && two(*m1, *m2).is_some_and(|m| m <= 59)
        }
        _ => false,
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        _ => 28,
    }
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

    #[test]
    fn date_times() {
        for ok in [
            "2026-11-22T09:00:00Z",
            "2026-11-22T09:00:00.0000000",
            "2026-11-22T09:00:00",
            "2026-11-22T09:00:00.5+01:00",
            "2026-11-22T09:00:00-08:00",
            "2024-02-29T23:59:59z",
            "2026-11-22t09:00:00Z",
        ] {
            assert!(is_date_time(ok), "{ok}");
        }
        for bad in [
            "",
            "2026-11-22",
            "2026-11-22 09:00:00Z",
            "2026-13-22T09:00:00Z",
            "2025-02-29T09:00:00Z",
            "2026-11-31T09:00:00Z",
            "2026-11-22T24:00:00Z",
            "2026-11-22T09:60:00Z",
            "2026-11-22T09:00:00.Z",
            "2026-11-22T09:00:00.0000000000Z",
            "2026-11-22T09:00:00+1:00",
            "2026-11-22T09:00:00+24:00",
            "2026-11-22T09:00:00Zjunk",
            "２026-11-22T09:00:00Z",
        ] {
            assert!(!is_date_time(bad), "{bad}");
        }
    }
}
