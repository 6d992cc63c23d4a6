//! RFC 8288 `Link` headers: finding the `rel="next"` target for
//! `link_header` pagination (GitHub, GitLab and many other REST APIs).
//!
//! A `Link` header holds comma-separated link values, each a URI reference
//! in angle brackets followed by `;`-separated parameters:
//!
//! ```text
//! Link: <https://api.github.com/repositories/1/issues?page=2>; rel="next",
//!       <https://api.github.com/repositories/1/issues?page=5>; rel="last"
//! ```
//!
//! The `rel` parameter may be quoted or not, and may list several relation
//! types separated by spaces (`rel="next last"`); relation types compare
//! case-insensitively. A response may carry several `Link` header lines.
//!
//! The target returned here is **not** trusted: the pager resolves it
//! against the page's URL and it passes the installation's host allow-list
//! ([`crate::engine::hosts`]) before anything is sent to it.
//!
//! ```
//! use http::{HeaderMap, HeaderValue};
//! use switchboard_core::headers::link::next_link;
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("link", HeaderValue::from_static(
//!     r#"<https://api.github.com/user/repos?page=2>; rel="next", <https://api.github.com/user/repos?page=9>; rel="last""#,
//! ));
//! assert_eq!(next_link(&headers).as_deref(), Some("https://api.github.com/user/repos?page=2"));
//! assert_eq!(next_link(&HeaderMap::new()), None);
//! ```

use http::HeaderMap;
use http::header::LINK;

/// The target of the first link with relation type `next` among every
/// `Link` header line, if any. Values that are not valid UTF-8 or not
/// well-formed link values are skipped.
pub fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| find_rel(v, "next"))
}

/// The target of the first link in one `Link` header value whose `rel`
/// includes `relation` (case-insensitive).
///
/// ```
/// use switchboard_core::headers::link::find_rel;
///
/// let value = r#"<https://example.com/a?x=1,2>; title="a, b"; rel=next"#;
/// assert_eq!(find_rel(value, "next").as_deref(), Some("https://example.com/a?x=1,2"));
/// assert_eq!(find_rel(value, "prev"), None);
/// ```
pub fn find_rel(value: &str, relation: &str) -> Option<String> {
    let mut rest = value;
    loop {
        let (target, params, after) = next_link_value(rest)?;
        if params
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case("rel"))
            .take(1) // RFC 8288 §3.3: only the first rel parameter counts
            .any(|(_, rels)| {
                rels.split_ascii_whitespace()
                    .any(|r| r.eq_ignore_ascii_case(relation))
            })
        {
            return Some(target.to_string());
        }
        rest = after;
    }
}

/// A link value's parameters: `(name, value)`, value unquoted.
type Params = Vec<(String, String)>;

/// Parse one link value at the start of `input` (leading commas and spaces
/// skipped): its target, its parameters and the rest of the input.
fn next_link_value(input: &str) -> Option<(&str, Params, &str)> {
    let input = input.trim_start_matches(|c: char| c == ',' || c.is_ascii_whitespace());
    let after_open = input.strip_prefix('<')?;
    let close = after_open.find('>')?;
    let target = after_open[..close].trim();
    let mut rest = &after_open[close + 1..];
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start();
        let Some(after_semi) = rest.strip_prefix(';') else {
            break;
        };
        let after_semi = after_semi.trim_start();
        let name_end = after_semi
            .find(|c: char| c == '=' || c == ';' || c == ',' || c.is_ascii_whitespace())
            .unwrap_or(after_semi.len());
        let name = after_semi[..name_end].to_string();
        let mut tail = after_semi[name_end..].trim_start();
        let mut value = String::new();
        if let Some(after_eq) = tail.strip_prefix('=') {
            let after_eq = after_eq.trim_start();
            if let Some(quoted) = after_eq.strip_prefix('"') {
                let (unquoted, rest) = crate::headers::quoted_string::read_quoted(quoted);
                value = unquoted;
                tail = rest;
            } else {
                let end = after_eq.find([';', ',']).unwrap_or(after_eq.len());
                value = after_eq[..end].trim().to_string();
                tail = &after_eq[end..];
            }
        }
        params.push((name, value));
        rest = tail;
    }
    Some((target, params, rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn github_style_header() {
        let v = r#"<https://api.github.com/repositories/1300192/issues?page=2>; rel="prev", <https://api.github.com/repositories/1300192/issues?page=4>; rel="next", <https://api.github.com/repositories/1300192/issues?page=515>; rel="last", <https://api.github.com/repositories/1300192/issues?page=1>; rel="first""#;
        assert_eq!(
            find_rel(v, "next").as_deref(),
            Some("https://api.github.com/repositories/1300192/issues?page=4")
        );
        assert_eq!(
            find_rel(v, "first").as_deref(),
            Some("https://api.github.com/repositories/1300192/issues?page=1")
        );
    }

    #[test]
    fn several_relations_unquoted_and_case() {
        assert_eq!(
            find_rel("</p2>; rel=\"last NEXT\"", "next").as_deref(),
            Some("/p2")
        );
        assert_eq!(find_rel("</p2>;rel=Next", "next").as_deref(), Some("/p2"));
        assert_eq!(find_rel("</p2>; rel=nextish", "next"), None);
        // only the first rel parameter counts
        assert_eq!(find_rel("</p2>; rel=prev; rel=next", "next"), None);
    }

    #[test]
    fn quoted_parameters_with_commas_and_escapes() {
        let v = r#"</a>; title="x, \"y\"; z"; rel="prev", </b>; rel="next""#;
        assert_eq!(find_rel(v, "next").as_deref(), Some("/b"));
        assert_eq!(find_rel(v, "prev").as_deref(), Some("/a"));
    }

    #[test]
    fn malformed_values_give_nothing() {
        assert_eq!(find_rel("", "next"), None);
        assert_eq!(find_rel("https://x/p2; rel=next", "next"), None);
        assert_eq!(find_rel("<https://x/p2; rel=next", "next"), None);
        assert_eq!(find_rel("<https://x/p2>", "next"), None);
        assert_eq!(find_rel("<https://x/p2>; rel", "next"), None);
    }

    #[test]
    fn several_header_lines() {
        let mut headers = HeaderMap::new();
        headers.append(LINK, HeaderValue::from_static("</first>; rel=first"));
        headers.append(LINK, HeaderValue::from_static("</second>; rel=next"));
        assert_eq!(next_link(&headers).as_deref(), Some("/second"));
    }
}
