//! Parsers for the HTTP header grammars the engine reads from services:
//! `WWW-Authenticate` challenges ([`challenge`]), RFC 8288 `Link` headers
//! ([`link`]) and the quoted strings both use ([`quoted_string`]).
//!
//! Every parser takes untrusted bytes and returns `None` or an error for
//! anything it does not understand; none of them panics or allocates more
//! than its input's size.
//!
//! ```
//! use switchboard_core::headers::quoted_string::read_quoted;
//!
//! // the opening quote is already consumed
//! assert_eq!(read_quoted(r#"a \"b\"" rest"#), ("a \"b\"".to_string(), " rest"));
//! ```

pub mod challenge;
pub mod link;
pub mod quoted_string;
