//! Graph's "advanced queries" on directory objects.
//!
//! Microsoft Graph answers some queries on users and other directory objects
//! only when the request carries `ConsistencyLevel: eventual` and, except for
//! `$search`, the `$count=true` query parameter: `$search`, `$count`,
//! `$filter` with `ne`, `not` or `endsWith`, and `$filter` together with
//! `$orderby` (source: Microsoft Graph docs, "Advanced query capabilities on
//! Azure AD directory objects", `concepts/aad-advanced-queries.md`).
//!
//! Callers should not have to know this, so the connector adds both when the
//! arguments of a directory-object list need them.
//!
//! ```
//! use switchboard_microsoft365::advanced_query::needs_advanced_query;
//!
//! assert!(needs_advanced_query(None, Some("endsWith(mail,'@contoso.com')"), false, false));
//! assert!(!needs_advanced_query(None, Some("accountEnabled eq true"), false, false));
//! ```

use http::HeaderValue;
use switchboard_core::render::RenderedRequest;

/// The header that turns on advanced queries.
pub const CONSISTENCY_LEVEL: &str = "ConsistencyLevel";

/// Whether a directory query with these parts needs the advanced query
/// parameters.
pub fn needs_advanced_query(
    search: Option<&str>,
    filter: Option<&str>,
    orderby: bool,
    count: bool,
) -> bool {
    if search.is_some() || count {
        return true;
    }
    match filter {
        Some(filter) => orderby || filter_is_advanced(filter),
        None => false,
    }
}

/// Whether a `$filter` uses an operator only advanced queries support.
fn filter_is_advanced(filter: &str) -> bool {
    let lower = filter.to_ascii_lowercase();
    lower
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|word| matches!(word, "ne" | "not" | "endswith"))
}

/// Add `ConsistencyLevel: eventual`, and `$count=true` unless the query is
/// a plain `$search`, when the request's query needs them. Returns whether
/// anything was added.
pub fn apply(request: &mut RenderedRequest) -> bool {
    let mut search = None;
    let mut filter = None;
    let mut orderby = false;
    let mut count = false;
    // Only the keys are decoded, and only the values of `$search` and
    // `$filter` (a long `$select` is not copied on every call).
    for pair in request.url.query().unwrap_or_default().split('&') {
        let value = || decoded(pair).1;
        match query_key(pair) {
            Some("$search") => search = Some(value()),
            Some("$filter") => filter = Some(value()),
            Some("$orderby") => orderby = true,
            Some("$count") => count = true,
            _ => {}
        }
    }
    if !needs_advanced_query(search.as_deref(), filter.as_deref(), orderby, count) {
        return false;
    }
    request
        .headers
        .insert(CONSISTENCY_LEVEL, HeaderValue::from_static("eventual"));
    let plain_search = search.is_some() && filter.is_none() && !orderby;
    if !count && !plain_search {
        request.url.query_pairs_mut().append_pair("$count", "true");
    }
    true
}

/// Which of the query options that matter here a `key=value` pair sets.
/// The key is decoded without a copy in the usual case (`%24filter`, as the
/// engine writes it, or `$filter`).
fn query_key(pair: &str) -> Option<&'static str> {
    const KEYS: [&str; 4] = ["$search", "$filter", "$orderby", "$count"];
    let key = pair.split_once('=').map_or(pair, |(key, _)| key);
    let encoded = |s: &str| s.contains(['%', '+']);
    match key.strip_prefix("%24").or_else(|| key.strip_prefix('$')) {
        Some(rest) if !encoded(rest) => KEYS.into_iter().find(|k| &k[1..] == rest),
        _ if !encoded(key) => None,
        _ => {
            let key = decoded(pair).0;
            KEYS.into_iter().find(|k| *k == key)
        }
    }
}

/// A `key=value` pair, form-decoded.
fn decoded(pair: &str) -> (String, String) {
    url::form_urlencoded::parse(pair.as_bytes())
        .next()
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;
    use switchboard_core::render::RequestBody;

    fn request(url: &str) -> RenderedRequest {
        RenderedRequest {
            method: http::Method::GET,
            url: url::Url::parse(url).unwrap(),
            headers: HeaderMap::new(),
            body: RequestBody::Empty,
        }
    }

    #[test]
    fn query_keys_are_recognised_however_they_are_encoded() {
        for (pair, key) in [
            ("%24filter=a+eq+1", Some("$filter")),
            ("$filter=a", Some("$filter")),
            ("%24count=true", Some("$count")),
            ("%24Count=true", None),
            ("%24%73earch=x", Some("$search")),
            ("%2524filter=x", None),
            ("%24select=id%2CdisplayName", None),
            ("filter=a", None),
            ("%24orderby", Some("$orderby")),
            ("", None),
        ] {
            assert_eq!(query_key(pair), key, "{pair}");
        }
        for url in [
            "https://graph.microsoft.com/v1.0/users?$filter=endsWith(mail,'@contoso.com')",
            "https://graph.microsoft.com/v1.0/users?%24%66ilter=endsWith%28mail%2C%27%40contoso.com%27%29",
        ] {
            let mut r = request(url);
            assert!(apply(&mut r), "{url}");
            assert_eq!(r.headers.get(CONSISTENCY_LEVEL).unwrap(), "eventual");
        }
    }

    #[test]
    fn plain_filter_is_left_alone() {
        let mut r =
            request("https://graph.microsoft.com/v1.0/users?%24filter=accountEnabled+eq+true");
        assert!(!apply(&mut r));
        assert!(r.headers.get(CONSISTENCY_LEVEL).is_none());
        assert_eq!(r.url.query(), Some("%24filter=accountEnabled+eq+true"));
    }

    #[test]
    fn search_gets_the_header_but_no_count() {
        let mut r =
            request("https://graph.microsoft.com/v1.0/users?%24search=%22displayName%3Aadele%22");
        assert!(apply(&mut r));
        assert_eq!(r.headers[CONSISTENCY_LEVEL], "eventual");
        assert!(!r.url.query_pairs().any(|(k, _)| k == "$count"));
    }

    #[test]
    fn advanced_filters_get_header_and_count() {
        for filter in [
            "accountEnabled ne true",
            "NOT startsWith(displayName, 'Conf')",
            "endsWith(mail,'@contoso.com')",
        ] {
            let mut r = request("https://graph.microsoft.com/v1.0/users");
            r.url.query_pairs_mut().append_pair("$filter", filter);
            assert!(apply(&mut r), "{filter}");
            assert_eq!(r.headers[CONSISTENCY_LEVEL], "eventual");
            let counts: Vec<_> = r.url.query_pairs().filter(|(k, _)| k == "$count").collect();
            assert_eq!(counts.len(), 1, "{filter}");
            assert_eq!(counts[0].1, "true");
        }
    }

    #[test]
    fn filter_with_orderby_and_explicit_count() {
        let mut r = request("https://graph.microsoft.com/v1.0/users");
        r.url
            .query_pairs_mut()
            .append_pair("$filter", "startsWith(displayName,'a')")
            .append_pair("$orderby", "displayName");
        assert!(apply(&mut r));
        assert!(
            r.url
                .query_pairs()
                .any(|(k, v)| k == "$count" && v == "true")
        );

        let mut r = request("https://graph.microsoft.com/v1.0/users?%24count=true");
        assert!(apply(&mut r));
        assert_eq!(
            r.url.query_pairs().filter(|(k, _)| k == "$count").count(),
            1
        );
    }

    #[test]
    fn words_inside_values_do_not_count_as_operators() {
        assert!(!filter_is_advanced("displayName eq 'Nestor'"));
        assert!(!filter_is_advanced("startsWith(displayName,'Anne')"));
        assert!(filter_is_advanced("displayName ne 'x'"));
    }
}
