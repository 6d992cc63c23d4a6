//! The text of an HTML body, as Graph shows it in `bodyPreview`.
//!
//! Graph's previews are the body's text content: the document head,
//! scripts and styles left out, runs of spaces and line breaks in the
//! source folded to one space, a line break (`\r\n`) for `<br>`, a blank
//! line between blocks (paragraphs, divisions, headings, list items, table
//! rows), character references decoded, cut to the first 255 characters.
//! Microsoft's examples (for instance in the reference for
//! `message: createForward`, docs-2021-07) show `"PFA\r\n\r\nThanks,\r\nRob"`
//! for a body of two paragraphs, the second with a line break.

/// How many characters a preview keeps (Graph: "the first 255 characters
/// of the message body").
const PREVIEW_CHARS: usize = 255;

/// Elements whose content is not text.
const SKIPPED: &[&str] = &["head", "script", "style", "title", "template"];

/// Elements that start and end a block of text.
const BLOCKS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "body",
    "dd",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "html",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "tr",
    "ul",
];

/// What separates two pieces of text.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Gap {
    None,
    Space,
    Line,
    Block,
}

/// `bodyPreview` for an HTML (or plain text) body.
pub(crate) fn preview(html: &str) -> String {
    text_of(html).chars().take(PREVIEW_CHARS).collect()
}

/// The text content of `html`.
pub(crate) fn text_of(html: &str) -> String {
    let mut out = String::new();
    let mut gap = Gap::None;
    let mut skipping: Option<String> = None;
    let mut rest = html;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            if skipping.is_none() {
                push_text(&mut out, &mut gap, rest);
            }
            break;
        };
        if skipping.is_none() {
            push_text(&mut out, &mut gap, &rest[..lt]);
        }
        rest = &rest[lt..];
        // a comment ends at `-->`; a tag at the next `>`
        let (tag, after) = if let Some(comment) = rest.strip_prefix("<!--") {
            match comment.find("-->") {
                Some(end) => ("", &comment[end + 3..]),
                None => ("", ""),
            }
        } else {
            match rest.find('>') {
                Some(end) => (&rest[1..end], &rest[end + 1..]),
                // a lone `<` is text
                None => {
                    if skipping.is_none() {
                        push_text(&mut out, &mut gap, rest);
                    }
                    break;
                }
            }
        };
        rest = after;
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if let Some(skipped) = &skipping {
            if closing && *skipped == name {
                skipping = None;
            }
            continue;
        }
        if name.is_empty() {
            // `<!doctype ...>`, `<?xml ...?>`, a comment, or `< ` as text
            if !tag.starts_with(['!', '?']) && !tag.is_empty() {
                push_text(&mut out, &mut gap, "<");
                push_text(&mut out, &mut gap, tag);
                push_text(&mut out, &mut gap, ">");
            }
            continue;
        }
        if !closing && !tag.ends_with('/') && SKIPPED.contains(&name.as_str()) {
            skipping = Some(name);
            continue;
        }
        if name == "br" {
            gap = gap.max(Gap::Line);
        } else if BLOCKS.contains(&name.as_str()) {
            gap = Gap::Block;
        } else if name == "td" || name == "th" {
            gap = gap.max(Gap::Space);
        }
    }
    out
}

/// Appends source text: whitespace folded, references decoded, the
/// pending gap written first (none at the very start).
fn push_text(out: &mut String, gap: &mut Gap, text: &str) {
    let decoded = decode_references(text);
    for (i, word) in decoded.split(is_html_space).enumerate() {
        if i > 0 {
            *gap = (*gap).max(Gap::Space);
        }
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push_str(match *gap {
                Gap::None => "",
                Gap::Space => " ",
                Gap::Line => "\r\n",
                Gap::Block => "\r\n\r\n",
            });
        }
        *gap = Gap::None;
        out.push_str(word);
    }
}

/// HTML's whitespace (a no-break space is not).
fn is_html_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c')
}

/// Decodes character references: numeric ones and the common named ones.
/// Anything else is left as written.
fn decode_references(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest[1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
            .map(|i| i + 1)
            .unwrap_or(rest.len());
        let name = &rest[1..end];
        let decoded = if let Some(num) = name.strip_prefix('#') {
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => num.parse::<u32>().ok(),
            };
            code.and_then(char::from_u32)
                .filter(|c| *c != '\0')
                .map(String::from)
        } else {
            named(name).map(String::from)
        };
        match decoded {
            Some(d) => {
                out.push_str(&d);
                rest = &rest[end..];
                rest = rest.strip_prefix(';').unwrap_or(rest);
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn named(name: &str) -> Option<&'static str> {
    Some(match name {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        "nbsp" => "\u{a0}",
        "copy" => "©",
        "reg" => "®",
        "trade" => "™",
        "hellip" => "…",
        "ndash" => "–",
        "mdash" => "—",
        "lsquo" => "‘",
        "rsquo" => "’",
        "ldquo" => "“",
        "rdquo" => "”",
        "euro" => "€",
        "bull" => "•",
        "middot" => "·",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_separated_and_tags_dropped() {
        assert_eq!(
            text_of("<html><body><p>Daily stand-up</p></body></html>"),
            "Daily stand-up"
        );
        assert_eq!(
            text_of("<p>PFA</p><p>Thanks,<br>Rob</p>"),
            "PFA\r\n\r\nThanks,\r\nRob"
        );
        assert_eq!(
            text_of("<div>one</div><div>two <b>bold</b>text</div>"),
            "one\r\n\r\ntwo boldtext"
        );
    }

    #[test]
    fn the_head_scripts_and_styles_are_not_text() {
        let html = "<html>\r\n<head>\r\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\r\n<style>p{color:red}</style></head>\r\n<body>\r\nDoes mid month work for you?\r\n<script>alert(1)</script></body>\r\n</html>\r\n";
        assert_eq!(text_of(html), "Does mid month work for you?");
    }

    #[test]
    fn references_are_decoded_and_whitespace_folded() {
        assert_eq!(
            text_of("<p>Fish &amp; chips &lt;today&gt;&nbsp;&#8364;5 &#x263A; &bogus; & more</p>"),
            "Fish & chips <today>\u{a0}€5 ☺ &bogus; & more"
        );
        assert_eq!(text_of("  a \n\t b  "), "a b");
        assert_eq!(text_of("<!-- hidden --><p>x</p><!doctype html>"), "x");
        assert_eq!(text_of("1 < 2 and 3 > 2"), "1 < 2 and 3 > 2");
    }

    #[test]
    fn previews_stop_at_255_characters() {
        let long = format!("<p>{}</p>", "é".repeat(300));
        assert_eq!(preview(&long).chars().count(), 255);
    }
}
