//! Checks of what a parser produced, shared by the crates' property tests.
//!
//! ```
//! use switchboard_hostile::check::presentable;
//!
//! let unsafe_char = |c: char| c.is_control();
//! assert!(presentable("the service refused `m` (HTTP 400)", 100, unsafe_char, &["eyJsecret"]).is_ok());
//! assert!(presentable("token eyJsecret leaked", 100, unsafe_char, &["eyJsecret"]).is_err());
//! assert!(presentable("bell\u{7}", 100, unsafe_char, &[]).is_err());
//! ```

use proptest::test_runner::TestCaseError;

/// `shown` (an error's Display, say) is at most `max_chars` characters,
/// holds no character `is_unsafe` refuses, and none of `secrets`.
pub fn presentable(
    shown: &str,
    max_chars: usize,
    is_unsafe: impl Fn(char) -> bool,
    secrets: &[&str],
) -> Result<(), TestCaseError> {
    let chars = shown.chars().count();
    if chars > max_chars {
        let start: String = shown.chars().take(200).collect();
        return Err(TestCaseError::fail(format!(
            "{chars} characters, more than {max_chars}: {start}…"
        )));
    }
    if let Some(c) = shown.chars().find(|c| is_unsafe(*c)) {
        return Err(TestCaseError::fail(format!(
            "the unsafe character {c:?} reached {shown:?}"
        )));
    }
    if let Some(secret) = secrets
        .iter()
        .find(|s| !s.is_empty() && shown.contains(**s))
    {
        return Err(TestCaseError::fail(format!(
            "{secret:?} leaked into {shown:?}"
        )));
    }
    Ok(())
}
