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
use std::borrow::Cow;

use crate::error::{Error, Result};

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
pub(crate) struct PathValue<'a> {
    /// The parameter's name (for error messages).
    pub name: &'a str,
    /// The argument as text (a string as is, a number as JSON text).
    pub text: Cow<'a, str>,
    /// Segment or segments.
    pub style: PathStyle,
    /// Whether `#` is allowed (parameters with `format: user_id`).
    pub allow_hash: bool,
}

/// A path template parsed once: literal text and placeholders, each
/// placeholder already tied to its parameter (by the caller's index).
#[derive(Debug, Clone)]
pub(crate) struct PathTemplate {
    pieces: Vec<Piece>,
    /// The template's length, to size the rendered path.
    len: usize,
}

#[derive(Debug, Clone)]
enum Piece {
    Literal(String),
    Value(usize),
}

impl PathTemplate {
    /// Parse `template` (starting with `/`); `parameter` gives the index of
    /// the path parameter a placeholder names. A problem is a definition
    /// error, returned as its message.
    pub(crate) fn parse(
        template: &str,
        parameter: impl Fn(&str) -> Option<usize>,
    ) -> std::result::Result<PathTemplate, String> {
        let Some(rest) = template.strip_prefix('/') else {
            return Err(format!("the path `{template}` does not start with `/`"));
        };
        let mut pieces = Vec::new();
        let mut literal = String::new();
        for template_segment in rest.split('/') {
            literal.push('/');
            let mut text = template_segment;
            while let Some(open) = text.find('{') {
                literal.push_str(&text[..open]);
                let after = &text[open + 1..];
                let Some(close) = after.find('}') else {
                    return Err(format!(
                        "the path `{template}` has a `{{` without a closing `}}`"
                    ));
                };
                let name = &after[..close];
                let Some(index) = parameter(name) else {
                    return Err(format!(
                        "the path `{template}` uses {{{name}}}, which is not a path parameter"
                    ));
                };
                if !literal.is_empty() {
                    pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Value(index));
                text = &after[close + 1..];
            }
            literal.push_str(text);
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Ok(PathTemplate {
            pieces,
            len: template.len(),
        })
    }

    /// The template's length in bytes (a lower bound of the rendered path's).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Append the path to `out`, each placeholder's value (from `value`, by
    /// the index `parse` was given) checked and encoded.
    pub(crate) fn render_into<'a>(
        &self,
        out: &mut String,
        mut value: impl FnMut(usize) -> Result<PathValue<'a>>,
    ) -> Result<()> {
        for piece in &self.pieces {
            match piece {
                Piece::Literal(text) => out.push_str(text),
                Piece::Value(index) => encode_into(out, &value(*index)?)?,
            }
        }
        Ok(())
    }
}

/// Check one value and append it, encoded, to `out`.
pub(crate) fn encode_into(out: &mut String, value: &PathValue<'_>) -> Result<()> {
    let name = value.name;
    match value.style {
        PathStyle::Segment if kept_as_is(&value.text) => out.push_str(&value.text),
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

/// Whether a segment value is written as it is: every byte one that
/// [`SEGMENT`] does not encode and [`check_segment`] accepts, and not `.`
/// or `..` (the usual id, GUID or user principal name: one pass over its
/// bytes, no check to explain, no encoder).
fn kept_as_is(part: &str) -> bool {
    !matches!(part, "" | "." | "..") && part.bytes().all(|b| KEPT[usize::from(b)])
}

/// The bytes [`kept_as_is`] accepts, by value (a table: one load a byte).
static KEPT: [bool; 256] = {
    let mut kept = [false; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        kept[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.' | b'_' | b'~' | b'@' | b'!' | b'$' | b',' | b';' | b'='
            );
        b += 1;
    }
    kept
};

/// Refuse what could escape a segment once Graph decodes the path.
fn check_segment(name: &str, part: &str, allow_hash: bool, multi: bool) -> Result<()> {
    // The usual value (an id, a GUID, a name) is plain ASCII with none of
    // the refused characters: one pass over its bytes, nothing to explain.
    let plain =
        |b: &u8| b.is_ascii_graphic() && !matches!(b, b'/' | b'#' | b':' | b'\\' | b'?' | b'%');
    if !matches!(part, "" | "." | "..") && part.as_bytes().iter().all(plain) {
        return Ok(());
    }
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

    #[test]
    fn the_as_is_path_agrees_with_the_checked_and_encoded_one_for_every_ascii_byte() {
        // a value written as it is must be exactly what the check and the
        // encoder would have written, and nothing the check refuses
        for b in 0u8..=255 {
            let text = format!("a{}b", b as char);
            if kept_as_is(&text) {
                assert!(check_segment("v", &text, false, false).is_ok(), "{b}");
                let encoded: String = utf8_percent_encode(&text, SEGMENT).collect();
                assert_eq!(encoded, text, "byte {b} would have been encoded");
            }
        }
        for refused in ["", ".", "..", "a/b", "a#b", "a%2Fb", "a b", "é"] {
            assert!(!kept_as_is(refused), "{refused:?}");
        }
        assert!(kept_as_is("87d349ed-44d7-43e1-9a83-5f2406dee5bd"));
        assert!(kept_as_is("AdeleV@contoso.onmicrosoft.com"));
    }

    /// Render `template` with one parameter `name` (index 0).
    fn render_path(
        template: &str,
        name: &str,
        text: &str,
        style: PathStyle,
    ) -> std::result::Result<String, Option<Error>> {
        let parsed =
            PathTemplate::parse(template, |n| (n == name).then_some(0)).map_err(|_| None)?;
        let mut out = String::new();
        parsed
            .render_into(&mut out, |_| {
                Ok(PathValue {
                    name,
                    text: Cow::Borrowed(text),
                    style,
                    allow_hash: false,
                })
            })
            .map_err(Some)?;
        Ok(out)
    }

    #[test]
    fn encodes_outside_unreserved_and_safe_sub_delims() {
        let out = render_path(
            "/items/{id}",
            "id",
            "a b'()*+&:é=!$,;@~_-.",
            PathStyle::Segment,
        )
        .unwrap();
        assert_eq!(out, "/items/a%20b%27%28%29%2A%2B%26%3A%C3%A9=!$,;@~_-.");
    }

    #[test]
    fn literal_text_around_placeholders_is_kept() {
        let out = render_path("/users('{id}')/x/{id}:", "id", "a b", PathStyle::Segment).unwrap();
        assert_eq!(out, "/users('a%20b')/x/a%20b:");
    }

    #[test]
    fn unknown_placeholder_and_unclosed_brace_are_definition_errors() {
        for (template, message) in [
            ("/a/{y}", "uses {y}, which is not a path parameter"),
            ("/a/{x", "without a closing"),
            ("a/{x}", "does not start with `/`"),
        ] {
            let err = PathTemplate::parse(template, |n| (n == "x").then_some(0)).unwrap_err();
            assert!(err.contains(message), "{template}: {err}");
        }
    }

    #[test]
    fn segments_refuse_colon_and_empty_parts() {
        for bad in ["a:b", "a//b", "a/", "a/./b", "//a"] {
            let err = render_path("/root:/{p}:", "p", bad, PathStyle::Segments)
                .unwrap_err()
                .expect("an argument error");
            assert_eq!(
                err.kind(),
                crate::error::ErrorKind::InvalidArgument,
                "{bad}"
            );
        }
        let out = render_path(
            "/root:/{p}:",
            "p",
            "/Docs/Q1 plan.docx",
            PathStyle::Segments,
        )
        .unwrap();
        assert_eq!(out, "/root:/Docs/Q1%20plan.docx:");
    }
}
