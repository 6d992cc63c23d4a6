//! Path templates: each `{name}` is replaced by its argument, checked *and*
//! percent-encoded so that no value can add, remove or move a path segment
//! or start a query string or fragment.
//!
//! Encoding alone is not enough: Microsoft Graph decodes `%2F` (and `%3F`,
//! `%23`...) before routing, so a value holding `/`, `\`, `?`, `#`, `%`, a
//! control character, or being empty, `.` or `..` is refused outright.
//!
//! * [`PathStyle::Segment`] (the default): the value is one segment. A
//!   `user_id`-formatted value may hold `#` (guest user principal names end
//!   in `#EXT#`); it is sent as `%23`.
//! * [`PathStyle::Segments`]: a relative path such as OneDrive's
//!   `root:/{item_path}:`. It is split on `/` (one leading `/` is dropped) and
//!   each part is checked and encoded on its own. `:` is refused as well,
//!   because it ends Graph's path-based addressing (and OneDrive does not
//!   allow it in names).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::definition::PathStyle;
use crate::error::{Error, ErrorKind, Result};

/// Bytes that are percent-encoded in a path segment: everything except the
/// RFC 3986 unreserved characters and the harmless `@ ! $ , ; =`.
/// (`'`, `(`, `)`, `*`, `+`, `&`, `:` are encoded: they mean something in
/// OData key syntax, in Graph's path addressing or to some proxies.)
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@')
    .remove(b'!')
    .remove(b'$')
    .remove(b',')
    .remove(b';')
    .remove(b'=');

/// One path argument, as text, with how it is placed.
#[derive(Debug)]
pub(crate) struct PathValue {
    /// The argument as text (a string as is, a number as JSON text).
    pub text: String,
    /// Segment or segments.
    pub style: PathStyle,
    /// Whether `#` is allowed (parameters with `format: user_id`).
    pub allow_hash: bool,
}

/// Fill `template` (starting with `/`) with encoded values.
///
/// A placeholder without a value is a definition error: the caller has
/// already checked that every required argument is present.
pub(crate) fn render_path(template: &str, values: &[(&str, PathValue)]) -> Result<String> {
    let Some(rest) = template.strip_prefix('/') else {
        return Err(definition_error(format!(
            "the path `{template}` does not start with `/`"
        )));
    };
    let mut out = String::with_capacity(template.len() + 32);
    for template_segment in rest.split('/') {
        out.push('/');
        let mut text = template_segment;
        while let Some(open) = text.find('{') {
            out.push_str(&text[..open]);
            let after = &text[open + 1..];
            let Some(close) = after.find('}') else {
                return Err(definition_error(format!(
                    "the path `{template}` has a `{{` without a closing `}}`"
                )));
            };
            let name = &after[..close];
            let Some((_, value)) = values.iter().find(|(n, _)| *n == name) else {
                return Err(definition_error(format!(
                    "the path `{template}` uses {{{name}}}, which is not a path parameter"
                )));
            };
            encode_into(&mut out, name, value)?;
            text = &after[close + 1..];
        }
        out.push_str(text);
    }
    Ok(out)
}

fn definition_error(message: String) -> Error {
    Error::new(ErrorKind::InvalidDefinition, message)
}

/// Check one value and append it, encoded, to `out`.
fn encode_into(out: &mut String, name: &str, value: &PathValue) -> Result<()> {
    match value.style {
        PathStyle::Segment => {
            check_segment(name, &value.text, value.allow_hash, false)?;
            out.extend(utf8_percent_encode(&value.text, SEGMENT));
        }
        PathStyle::Segments => {
            let text = value.text.strip_prefix('/').unwrap_or(&value.text);
            // Check every part before writing any, so a refused value leaves nothing behind.
            for part in text.split('/') {
                check_segment(name, part, false, true)?;
            }
            for (i, part) in text.split('/').enumerate() {
                if i > 0 {
                    out.push('/');
                }
                out.extend(utf8_percent_encode(part, SEGMENT));
            }
        }
    }
    Ok(())
}

/// Refuse what could escape a segment once Graph decodes the path.
fn check_segment(name: &str, part: &str, allow_hash: bool, multi: bool) -> Result<()> {
    let what = if multi {
        "each `/`-separated part of the path"
    } else {
        "the value"
    };
    if part.is_empty() {
        return Err(Error::invalid_argument(
            name,
            format!("{what} must not be empty"),
        ));
    }
    if part == "." || part == ".." {
        return Err(Error::invalid_argument(
            name,
            format!("{what} must not be `.` or `..`"),
        ));
    }
    for c in part.chars() {
        let refused = match c {
            '/' => !multi,
            '#' => !allow_hash,
            ':' => multi,
            '\\' | '?' | '%' => true,
            c => c.is_control(),
        };
        if refused {
            let shown = if c.is_control() {
                format!("control character U+{:04X}", u32::from(c))
            } else {
                format!("`{c}`")
            };
            let refused_list = if multi {
                "`\\`, `?`, `#`, `%`, `:` or control characters"
            } else if allow_hash {
                "`/`, `\\`, `?`, `%` or control characters"
            } else {
                "`/`, `\\`, `?`, `#`, `%` or control characters"
            };
            return Err(Error::invalid_argument(
                name,
                format!("{what} contains {shown}; it must not contain {refused_list}"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(name: &'static str, text: &str, style: PathStyle) -> Vec<(&'static str, PathValue)> {
        Vec::from([(
            name,
            PathValue {
                text: text.into(),
                style,
                allow_hash: false,
            },
        )])
    }

    #[test]
    fn encodes_outside_unreserved_and_safe_sub_delims() {
        let out = render_path(
            "/items/{id}",
            &one("id", "a b'()*+&:é=!$,;@~_-.", PathStyle::Segment),
        )
        .unwrap();
        assert_eq!(out, "/items/a%20b%27%28%29%2A%2B%26%3A%C3%A9=!$,;@~_-.");
    }

    #[test]
    fn unknown_placeholder_and_unclosed_brace_are_definition_errors() {
        let err = render_path("/a/{y}", &one("x", "v", PathStyle::Segment)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
        let err = render_path("/a/{x", &one("x", "v", PathStyle::Segment)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
        let err = render_path("a/{x}", &one("x", "v", PathStyle::Segment)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
    }

    #[test]
    fn segments_refuse_colon_and_empty_parts() {
        for bad in ["a:b", "a//b", "a/", "a/./b", "//a"] {
            let err = render_path("/root:/{p}:", &one("p", bad, PathStyle::Segments)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad}");
        }
        let out = render_path(
            "/root:/{p}:",
            &one("p", "/Docs/Q1 plan.docx", PathStyle::Segments),
        )
        .unwrap();
        assert_eq!(out, "/root:/Docs/Q1%20plan.docx:");
    }
}
