//! Redirect rules. The HTTP client never follows redirects; the engine does,
//! by these rules:
//!
//! * at most [`MAX_REDIRECTS`] hops;
//! * `303 See Other` (and `301`/`302` after a POST) become a GET without a body;
//!   `307`/`308` keep the method and body;
//! * a redirect to the **same origin** is followed with the credential, after
//!   the target passes the host allow-list;
//! * a redirect to **another origin** is followed only when the method
//!   declares `follow_cross_origin_redirects` (OneDrive downloads answer 302
//!   to a pre-authenticated URL), and then with **no** credential headers,
//!   for this hop and every later one. Otherwise it is an
//!   [`ErrorKind::UntrustedLink`] error and nothing is sent.
//!
//! ```
//! use switchboard_core::engine::redirect::{is_redirect, MAX_REDIRECTS};
//!
//! assert!(is_redirect(302));
//! assert!(!is_redirect(304));
//! assert_eq!(MAX_REDIRECTS, 5);
//! ```

use http::header::{AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION};
use http::{HeaderMap, HeaderValue, Method};
use url::Url;

use crate::engine::hosts::{HostPolicy, describe_origin};
use crate::error::{Error, ErrorKind, Result};

/// The most redirects followed for one request.
pub const MAX_REDIRECTS: usize = 5;

/// Whether a status is a redirect the engine follows (when it has a `Location`).
pub fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// The method of the next hop, and whether the body is sent again.
pub(crate) fn next_method(status: u16, method: &Method) -> (Method, bool) {
    match status {
        303 if method != Method::HEAD => (Method::GET, false),
        301 | 302 if method == Method::POST => (Method::GET, false),
        _ => (method.clone(), true),
    }
}

/// Resolve a `Location` header against the URL that answered with it.
pub(crate) fn resolve_location(current: &Url, location: &HeaderValue) -> Result<Url> {
    let text = location.to_str().map_err(|_| {
        Error::new(
            ErrorKind::Decode,
            "the service answered with a redirect whose Location header is not valid text; nothing was sent",
        )
    })?;
    current.join(text).map_err(|_| {
        Error::new(
            ErrorKind::Decode,
            "the service answered with a redirect whose Location is not a valid URL; nothing was sent",
        )
    })
}

/// Decide whether the hop from `current` to `target` may be followed, and
/// whether it carries the credential. Checked before anything is sent.
pub(crate) fn plan_hop(
    hosts: &HostPolicy,
    current: &Url,
    target: &Url,
    credentialed: bool,
    follow_cross_origin: bool,
) -> Result<bool> {
    let same_origin = current.origin() == target.origin();
    if credentialed && same_origin {
        hosts.check_credentialed(target)?;
        return Ok(true);
    }
    if !same_origin && !follow_cross_origin {
        return Err(Error::new(
            ErrorKind::UntrustedLink,
            format!(
                "the service redirected to another origin, {}, which this method does not follow; nothing was sent",
                describe_origin(target)
            ),
        ));
    }
    hosts.check_uncredentialed(target)?;
    Ok(false)
}

/// Remove every header that can carry a credential.
pub(crate) fn strip_credentials(headers: &mut HeaderMap) {
    headers.remove(AUTHORIZATION);
    headers.remove(PROXY_AUTHORIZATION);
    headers.remove(COOKIE);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::Endpoints;

    fn hosts() -> HostPolicy {
        HostPolicy::new(&Endpoints {
            base_url: Url::parse("https://graph.microsoft.com/v1.0").unwrap(),
            allowed_hosts: vec!["graph.microsoft.com".into()],
        })
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn methods_after_redirects() {
        assert_eq!(next_method(303, &Method::POST), (Method::GET, false));
        assert_eq!(next_method(303, &Method::PATCH), (Method::GET, false));
        assert_eq!(next_method(302, &Method::POST), (Method::GET, false));
        assert_eq!(next_method(302, &Method::GET), (Method::GET, true));
        assert_eq!(next_method(307, &Method::POST), (Method::POST, true));
        assert_eq!(next_method(308, &Method::PUT), (Method::PUT, true));
    }

    #[test]
    fn locations_resolve_relative_to_the_current_url() {
        let cur = url("https://graph.microsoft.com/v1.0/me/drive/items/1/content");
        let to = resolve_location(&cur, &HeaderValue::from_static("/v1.0/other")).unwrap();
        assert_eq!(to.as_str(), "https://graph.microsoft.com/v1.0/other");
        let err = resolve_location(&cur, &HeaderValue::from_static("http://[::1")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode);
    }

    #[test]
    fn hops() {
        let h = hosts();
        let cur = url("https://graph.microsoft.com/v1.0/a");
        // Same origin keeps the credential.
        assert!(
            plan_hop(
                &h,
                &cur,
                &url("https://graph.microsoft.com/v1.0/b"),
                true,
                false
            )
            .unwrap()
        );
        // Cross origin without opt-in is refused.
        let err = plan_hop(
            &h,
            &cur,
            &url("https://contoso.sharepoint.com/f"),
            true,
            false,
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UntrustedLink);
        // With opt-in: followed without the credential.
        assert!(
            !plan_hop(
                &h,
                &cur,
                &url("https://contoso.sharepoint.com/f"),
                true,
                true
            )
            .unwrap()
        );
        // A downgrade to http is refused even with opt-in.
        assert!(
            plan_hop(
                &h,
                &cur,
                &url("http://contoso.sharepoint.com/f"),
                true,
                true
            )
            .is_err()
        );
        assert!(
            plan_hop(
                &h,
                &cur,
                &url("http://graph.microsoft.com/v1.0/b"),
                true,
                true
            )
            .is_err()
        );
        // Once uncredentialed, coming back to the origin does not restore it.
        let sp = url("https://contoso.sharepoint.com/f");
        assert!(
            !plan_hop(
                &h,
                &sp,
                &url("https://contoso.sharepoint.com/g"),
                false,
                true
            )
            .unwrap()
        );
        assert!(!plan_hop(&h, &sp, &cur, false, true).unwrap());
    }

    #[test]
    fn credential_headers_are_stripped() {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        headers.insert(COOKIE, HeaderValue::from_static("a=b"));
        headers.insert("accept", HeaderValue::from_static("application/json"));
        strip_credentials(&mut headers);
        assert_eq!(headers.len(), 1);
    }
}
