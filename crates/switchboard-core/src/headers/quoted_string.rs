//! HTTP `quoted-string` (RFC 9110 §5.6.4), shared by the header parsers
//! (`WWW-Authenticate` challenges, `Link`).

/// Read a quoted string whose opening `"` has already been consumed:
/// returns the unescaped value and the input after the closing `"` (or
/// nothing left, when the string is unterminated).
///
/// ```
/// # use switchboard_core::headers::quoted_string::read_quoted;
/// assert_eq!(read_quoted(r#"a \"b\"" rest"#), ("a \"b\"".to_string(), " rest"));
/// assert_eq!(read_quoted("unterminated"), ("unterminated".to_string(), ""));
/// ```
pub fn read_quoted(input: &str) -> (String, &str) {
    let mut value = String::new();
    let mut chars = input.char_indices();
    let mut consumed = input.len();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    value.push(escaped);
                }
            }
            '"' => {
                consumed = i + 1;
                break;
            }
            other => value.push(other),
        }
    }
    (value, &input[consumed..])
}
