//! Text we did not write, made safe to show.
//!
//! A service's error message, error code or request id, a value in a
//! definition file, an id in a stored row may end up in a log line, a
//! terminal or a support ticket, and whoever wrote it may be hostile or
//! confused: it may carry a token, escape sequences, a right-to-left
//! override or megabytes.
//!
//! * A service's text that goes into an [`Error`](crate::Error) passes
//!   through [`sanitize_message`] or [`sanitize_identifier`]
//!   ([`Error::with_remote`](crate::Error::with_remote) does it for all
//!   [`RemoteDetails`](crate::error::RemoteDetails)): control characters
//!   and invisible or bidi-override characters ([`is_unsafe_char`]) become
//!   spaces, anything that looks like a secret (JWTs, `$skiptoken=` /
//!   `code=` / `access_token=` values, opaque strings of 48 characters or
//!   more) becomes `[redacted]`, messages are cut at [`MAX_MESSAGE_CHARS`]
//!   characters and codes and ids at [`MAX_IDENTIFIER_CHARS`], with `…`
//!   marking the cut. Both are idempotent.
//! * Text quoted back to the author of a file (validation problems) or
//!   printed on a terminal (the CLI's tables) passes through
//!   [`escape_unsafe`]: unsafe characters become visible escapes (`\n`,
//!   `\u{1b}`), nothing else changes, so a person can still find it.
//!
//! ```
//! use switchboard_core::untrusted_text::{escape_unsafe, sanitize_identifier, sanitize_message};
//!
//! assert_eq!(sanitize_message("Invalid $skiptoken=RFNwdAIAAQAAABk6 in request"),
//!            "Invalid $skiptoken=[redacted] in request");
//! assert_eq!(sanitize_message("bad\u{1b}[2J\u{202e}input"), "bad [2J input");
//! assert_eq!(sanitize_identifier(&"x".repeat(500)), "[redacted]");
//! assert_eq!(sanitize_identifier("Request_ResourceNotFound"), "Request_ResourceNotFound");
//! assert_eq!(escape_unsafe("Bad\u{1b}[2JHeader"), "Bad\\u{1b}[2JHeader");
//! ```

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::LazyLock;

use regex::Regex;

/// The longest service message kept in an error, in characters.
pub const MAX_MESSAGE_CHARS: usize = 400;
/// The longest service code, request id or date kept in an error, in
/// characters.
pub const MAX_IDENTIFIER_CHARS: usize = 128;

/// How much of a text is looked at, as a multiple of what is kept: enough
/// that a secret starting inside the kept part is still recognised whole.
const LOOKED_AT_FACTOR: usize = 16;

static JWT: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)]
    Regex::new(r"eyJ[A-Za-z0-9_\-]{4,}(\.[A-Za-z0-9_\-]*){1,2}").expect("valid regex")
});
static PAGING_TOKEN: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)]
    Regex::new(r#"(?i)(\$?(?:skip|delta)token|access_token|refresh_token|id_token|client_secret|code|sig)(=|%3d)[^&\s'"<>]+"#)
        .expect("valid regex")
});
static LONG_OPAQUE: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)]
    Regex::new(r"[A-Za-z0-9_\-+/=.~%]{48,}").expect("valid regex")
});

/// Whether `c` must not reach a terminal or a log line as it is: C0
/// controls, DEL and C1 controls (escape sequences start with ESC or
/// U+009B), the bidirectional controls (U+061C, U+200E, U+200F,
/// U+202A–U+202E, U+2066–U+2069: U+202E turns `txt.exe` into what reads
/// as `exe.txt`) and the line and paragraph separators (U+2028, U+2029).
/// Everything else, emoji sequences and right-to-left scripts included,
/// is fine.
///
/// ```
/// use switchboard_core::untrusted_text::is_unsafe_char;
/// assert!(is_unsafe_char('\u{1b}') && is_unsafe_char('\u{202e}') && is_unsafe_char('\u{85}'));
/// assert!(!is_unsafe_char('é') && !is_unsafe_char(' ') && !is_unsafe_char('\u{200d}'));
/// ```
pub fn is_unsafe_char(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{061c}' | '\u{200e}' | '\u{200f}'
        | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        | '\u{2028}' | '\u{2029}')
}

/// `text` with every [`is_unsafe_char`] written as a visible escape: `\t`,
/// `\n`, `\r` as written here, the others as `\u{1b}`. Unchanged (and not
/// copied) when it has none.
///
/// ```
/// use switchboard_core::untrusted_text::escape_unsafe;
/// assert_eq!(escape_unsafe("a\tb\r\nc\u{7f}"), "a\\tb\\r\\nc\\u{7f}");
/// ```
pub fn escape_unsafe(text: &str) -> Cow<'_, str> {
    escape(text, false)
}

/// [`escape_unsafe`], keeping line breaks (`\n`) as they are: for text of
/// several lines.
///
/// ```
/// use switchboard_core::untrusted_text::escape_unsafe_keeping_lines;
/// assert_eq!(escape_unsafe_keeping_lines("a\nb\rc"), "a\nb\\rc");
/// ```
pub fn escape_unsafe_keeping_lines(text: &str) -> Cow<'_, str> {
    escape(text, true)
}

fn escape(text: &str, keep_newlines: bool) -> Cow<'_, str> {
    let needs = |c: char| is_unsafe_char(c) && !(keep_newlines && c == '\n');
    if !text.chars().any(needs) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if !needs(c) => out.push(c),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            other => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(other));
            }
        }
    }
    Cow::Owned(out)
}

/// A service's human message: unsafe characters neutralised, secrets
/// redacted, at most [`MAX_MESSAGE_CHARS`] characters (plus `…`).
pub fn sanitize_message(message: &str) -> String {
    sanitize(message, MAX_MESSAGE_CHARS)
}

/// A service's error code, request id or date: like [`sanitize_message`],
/// at most [`MAX_IDENTIFIER_CHARS`] characters (plus `…`).
pub fn sanitize_identifier(text: &str) -> String {
    sanitize(text, MAX_IDENTIFIER_CHARS)
}

fn sanitize(text: &str, max_chars: usize) -> String {
    let cleaned: String = text
        .chars()
        .take(max_chars.saturating_mul(LOOKED_AT_FACTOR))
        .map(|c| if is_unsafe_char(c) { ' ' } else { c })
        .collect();
    let step = JWT.replace_all(&cleaned, "[redacted]");
    let step = PAGING_TOKEN.replace_all(&step, "${1}${2}[redacted]");
    let step = LONG_OPAQUE.replace_all(&step, "[redacted]");
    let step = step.trim();
    let mut out: String = step.chars().take(max_chars).collect();
    if out.len() < step.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted() {
        let jwt =
            "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2dyYXBoIn0.c2lnbmF0dXJl";
        assert_eq!(
            sanitize_message(&format!("Token {jwt} expired")),
            "Token [redacted] expired"
        );
        let m = sanitize_message(
            "bad link https://graph.microsoft.com/v1.0/users/delta?$deltatoken=abc123&x=1",
        );
        assert!(!m.contains("abc123"), "{m}");
        let m = sanitize_message("redirect ?code=0.AAAA-secret-code&state=1");
        assert!(!m.contains("AAAA-secret-code"), "{m}");
        assert_eq!(
            sanitize_message("Resource 'abc' does not exist."),
            "Resource 'abc' does not exist."
        );
    }

    #[test]
    fn unsafe_characters_become_spaces() {
        assert_eq!(sanitize_message("line\nbreak\u{7}"), "line break");
        assert_eq!(
            sanitize_identifier("a\u{202e}b\u{2066}c\u{200e}d\u{85}e"),
            "a b c d e"
        );
    }

    #[test]
    fn long_text_is_cut_and_marked() {
        let words = "word ".repeat(1000);
        let m = sanitize_message(&words);
        assert_eq!(m.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(m.ends_with('…'));
        let id = sanitize_identifier(&"ab ".repeat(100));
        assert_eq!(id.chars().count(), MAX_IDENTIFIER_CHARS + 1);
        // an opaque run that starts inside the kept part is redacted whole
        let m = sanitize_message(&format!("{} {}", "w ".repeat(150), "Z".repeat(100_000)));
        assert!(m.ends_with("[redacted]"), "{m}");
        assert!(!m.contains("ZZZZ"));
    }
}
