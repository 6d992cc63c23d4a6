//! Hostile strings and bytes.
//!
//! ```
//! use proptest::strategy::{Strategy, ValueTree};
//! use proptest::test_runner::TestRunner;
//!
//! let mut runner = TestRunner::deterministic();
//! let s = switchboard_hostile::text::short_text().new_tree(&mut runner).unwrap().current();
//! assert!(s.chars().count() < 64);
//! ```

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

/// The longest string [`long_text`] builds, in bytes (about).
pub const MAX_LONG_BYTES: usize = 64 * 1024;

/// Characters that break parsers and terminals: delimiters of headers,
/// URLs and JSON, quotes and escapes, control characters (NUL, ESC, DEL,
/// NEL), invisible and bidi-override characters, a BOM, the replacement
/// character, the last code point, and multi-byte letters.
pub const NASTY_CHARS: &[char] = &[
    '"',
    '\\',
    '\'',
    ',',
    ';',
    '=',
    '<',
    '>',
    ':',
    '#',
    '%',
    '&',
    '?',
    '/',
    '.',
    '-',
    '+',
    '{',
    '}',
    '[',
    ']',
    '(',
    ')',
    '@',
    '*',
    ' ',
    '\t',
    '\r',
    '\n',
    '\0',
    '\u{1b}',
    '\u{7}',
    '\u{7f}',
    '\u{85}',
    '\u{a0}',
    '\u{200b}',
    '\u{202e}',
    '\u{2066}',
    '\u{2028}',
    '\u{3000}',
    '\u{feff}',
    '\u{fffd}',
    '\u{10ffff}',
    'é',
    'ß',
    'İ',
    '漢',
    '😀',
];

/// One character: mostly [`NASTY_CHARS`] and plain ASCII, sometimes any.
pub fn nasty_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => select(NASTY_CHARS),
        3 => proptest::char::range('!', '~'),
        1 => proptest::char::range('a', 'z'),
        1 => proptest::char::range('0', '9'),
        1 => any::<char>(),
    ]
}

/// A short string (up to 64 characters) of [`nasty_char`]s.
pub fn short_text() -> impl Strategy<Value = String> {
    vec(nasty_char(), 0..64).prop_map(|chars| chars.into_iter().collect())
}

/// A long string: a short piece repeated up to about [`MAX_LONG_BYTES`].
pub fn long_text() -> impl Strategy<Value = String> {
    (short_text(), 1usize..=MAX_LONG_BYTES).prop_map(|(piece, times)| {
        let piece = if piece.is_empty() {
            "A".to_string()
        } else {
            piece
        };
        piece.repeat((times / piece.len()).max(1))
    })
}

/// Any text: short nasty strings most of the time, arbitrary Unicode, and
/// now and then a long one.
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => short_text(),
        2 => any::<String>(),
        1 => long_text(),
    ]
}

/// Text that mostly looks like `shape` (a list of plausible values) with
/// nasty characters spliced in, dropped or appended.
pub fn near(shape: &'static [&'static str]) -> impl Strategy<Value = String> {
    (
        select(shape),
        short_text(),
        any::<prop::sample::Index>(),
        0u8..4,
    )
        .prop_map(|(base, extra, at, how)| {
            let cut = floor_char_boundary(base, at.index(base.len() + 1));
            match how {
                0 => base.to_string(),
                1 => format!("{}{extra}{}", &base[..cut], &base[cut..]),
                2 => base[..cut].to_string(),
                _ => format!("{base}{extra}"),
            }
        })
}

/// Bytes: arbitrary, or [`text`] with invalid UTF-8 spliced in.
pub fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => vec(any::<u8>(), 0..256),
        2 => text().prop_map(String::into_bytes),
        2 => (text(), vec(invalid_utf8(), 1..4), any::<prop::sample::Index>()).prop_map(
            |(text, bad, at)| {
                let mut out = text.into_bytes();
                let at = at.index(out.len() + 1);
                let tail = out.split_off(at);
                for piece in bad {
                    out.extend_from_slice(piece);
                }
                out.extend_from_slice(&tail);
                out
            }
        ),
    ]
}

/// Byte sequences that are not UTF-8: lone continuation bytes, truncated
/// sequences, overlong encodings, encoded surrogates, bytes never used.
fn invalid_utf8() -> impl Strategy<Value = &'static [u8]> {
    select(INVALID_UTF8)
}

const INVALID_UTF8: &[&[u8]] = &[
    &[0x80],
    &[0xbf],
    &[0xc0, 0xaf],
    &[0xc3],
    &[0xe2, 0x82],
    &[0xed, 0xa0, 0x80],
    &[0xf0, 0x9f, 0x98],
    &[0xf4, 0x90, 0x80, 0x80],
    &[0xfe],
    &[0xff, 0xff],
];

/// The largest index `<= at` that is a char boundary of `s`.
pub fn floor_char_boundary(s: &str, at: usize) -> usize {
    let mut at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Something that looks like a token, to plant in an answer and look for
/// in what comes out: a JWT (`eyJ...`) or a long opaque string.
///
/// ```
/// use proptest::strategy::{Strategy, ValueTree};
/// use proptest::test_runner::TestRunner;
///
/// let mut runner = TestRunner::deterministic();
/// let secret = switchboard_hostile::text::planted_secret().new_tree(&mut runner).unwrap().current();
/// assert!(secret.len() >= 48);
/// ```
pub fn planted_secret() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9_-]{48,80}",
        (
            "[A-Za-z0-9_-]{8,40}",
            "[A-Za-z0-9_-]{8,40}",
            "[A-Za-z0-9_-]{8,40}"
        )
            .prop_map(|(a, b, c)| format!("eyJ{a}.{b}.{c}")),
    ]
}
