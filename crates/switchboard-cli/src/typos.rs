//! Errors for names the user mistyped: what was given, the likely meant
//! one ("did you mean"), and every name allowed.

use switchboard_core::Error;
use switchboard_core::suggest::similar;

/// An invalid-argument error for `field` (the flag or argument as the
/// user typed it): `word` is not a `what`.
///
/// The message reads ``invalid argument `--variant`: `delegatd` is not a
/// variant of microsoft365; did you mean `delegated`? (known: delegated,
/// application)``.
pub fn unknown(field: &str, what: &str, word: &str, known: &[&str]) -> Error {
    Error::invalid_argument(
        field,
        format!(
            "`{word}` is not {what}; {}(known: {})",
            hint(word, known.iter().copied()),
            known.join(", ")
        ),
    )
}

/// `did you mean `x`? ` when `word` looks like a typo of a known word,
/// else nothing.
pub fn hint<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    similar(word, known)
        .map(|s| format!("did you mean `{s}`? "))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_likely_name_and_lists_them_all() {
        let err = unknown(
            "CONNECTOR",
            "a connector",
            "microsoft356",
            &["github", "microsoft365"],
        );
        assert_eq!(err.field(), Some("CONNECTOR"));
        assert_eq!(
            err.to_string(),
            "invalid argument `CONNECTOR`: `microsoft356` is not a connector; did you mean `microsoft365`? (known: github, microsoft365)"
        );
        let err = unknown("--category", "a category", "zzz", &["mail", "users"]);
        assert!(!err.to_string().contains("did you mean"), "{err}");
    }
}
