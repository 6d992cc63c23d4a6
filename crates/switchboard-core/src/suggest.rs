//! "Did you mean ...?": the known word closest to a mistyped one.
//!
//! One similarity measure (Jaro-Winkler) for every suggestion switchboard
//! makes: definition fields and values, method ids, and the CLI's
//! connector ids, variants and categories.
//!
//! ```
//! use switchboard_core::suggest::{closest, similar};
//!
//! let known = ["users.list_users", "users.get_user", "mail.send_mail"];
//! assert_eq!(similar("users.list_user", known), Some("users.list_users"));
//! assert_eq!(similar("calendars", known), None);
//! assert_eq!(closest("calendars", known).is_some(), true);
//! ```

/// How similar a word must be to count as a likely typo.
const LIKELY: f64 = 0.8;

/// The element of `known` closest to `word`, however far (`None` only
/// when `known` is empty).
pub fn closest<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (strsim::jaro_winkler(word, k), k))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

/// The element of `known` that `word` is likely a typo of, if any.
pub fn similar<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (strsim::jaro_winkler(word, k), k))
        .filter(|(score, _)| *score > LIKELY)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}
