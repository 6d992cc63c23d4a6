//! Text from elsewhere made safe to print on a terminal.
//!
//! A mail subject, a display name or a service's error message can hold
//! escape sequences (`ESC ]0;title BEL` renames the window, `ESC [2J`
//! clears the screen, `ESC [A` moves the cursor) or Unicode bidirectional
//! controls (U+202E turns `txt.exe` into what reads as `exe.txt`). Human
//! output (tables, the test report, error messages) shows such characters
//! as visible escapes instead of sending them:
//!
//! - C0 controls, DEL and C1 controls (U+0000–U+001F, U+007F–U+009F):
//!   `\t`, `\n` and `\r` as written here, the others as `\u{1b}`;
//! - bidirectional controls (U+061C, U+200E, U+200F, U+202A–U+202E,
//!   U+2066–U+2069) and the line and paragraph separators (U+2028,
//!   U+2029), as `\u{202e}`.
//!
//! A table cell is one line, so `\n` is escaped there too; a message keeps
//! its line breaks. Everything else, including emoji and right-to-left
//! scripts, is printed as it is. JSON and NDJSON output is never changed:
//! JSON escapes C0 controls itself, and scripts get the exact text.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether a character must not reach a terminal as it is.
fn unsafe_char(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{061c}' | '\u{200e}' | '\u{200f}'
        | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        | '\u{2028}' | '\u{2029}')
}

fn escape(text: &str, keep_newlines: bool) -> Cow<'_, str> {
    let needs = |c: char| unsafe_char(c) && !(keep_newlines && c == '\n');
    if !text.chars().any(needs) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !needs(c) {
            out.push(c);
            continue;
        }
        match c {
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            other => {
                let _ = write!(out, "\\u{{{:x}}}", other as u32);
            }
        }
    }
    Cow::Owned(out)
}

/// A table cell or other one-line value: every unsafe character escaped,
/// line breaks included.
pub fn one_line(text: &str) -> Cow<'_, str> {
    escape(text, false)
}

/// A message of one or more lines: unsafe characters escaped, `\n` kept.
pub fn lines(text: &str) -> Cow<'_, str> {
    escape(text, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_bidi_and_keeps_everything_else() {
        let hostile = "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}[1;1HInvoice \u{202e}fdp.exe\u{9b}";
        assert_eq!(
            one_line(hostile),
            "\\u{1b}]0;pwned\\u{7}\\u{1b}[2J\\u{1b}[1;1HInvoice \\u{202e}fdp.exe\\u{9b}"
        );
        assert_eq!(one_line("a\tb\r\nc\u{7f}"), "a\\tb\\r\\nc\\u{7f}");
        assert_eq!(lines("a\nb\rc"), "a\nb\\rc");
        for isolate in ['\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', '\u{200f}'] {
            assert!(one_line(&isolate.to_string()).starts_with("\\u{"));
        }
        let fine = "Ünïcödé 🎉 עברית العربية 日本語 👩‍👩‍👧";
        assert!(matches!(one_line(fine), Cow::Borrowed(_)));
        assert_eq!(one_line(fine), fine);
    }
}
