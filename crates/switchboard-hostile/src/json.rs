//! Hostile JSON, as text (what a parser reads off the wire or a file) and
//! as [`Value`]s (for functions that take an already parsed body).
//!
//! Generators take the field names the parser under test looks for, so
//! most documents reach its interesting paths: `object(&["expires_in"])`
//! gives objects whose `expires_in` is `1e308`, `"3599"`, `-1`, `[]`,
//! `18446744073709551616`, a lone surrogate, `{"a":...}` nested, or absent.
//!
//! ```
//! use proptest::strategy::{Strategy, ValueTree};
//! use proptest::test_runner::TestRunner;
//! use switchboard_hostile::json;
//!
//! let mut runner = TestRunner::deterministic();
//! let body = json::object(&["error", "message"]).new_tree(&mut runner).unwrap().current();
//! let _ = serde_json::from_str::<serde_json::Value>(&body); // may or may not parse
//! ```

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value};

use crate::text::{floor_char_boundary, long_text, short_text};

/// The fields of an OAuth token response (RFC 6749 §5.1) and those
/// Microsoft adds: what a token response generator draws its keys from.
pub const TOKEN_RESPONSE_FIELDS: &[&str] = &[
    "access_token",
    "token_type",
    "expires_in",
    "ext_expires_in",
    "refresh_token",
    "scope",
    "id_token",
];

/// The fields of an OAuth error answer (RFC 6749 §5.2) and those Microsoft
/// identity adds (`error_codes`, `trace_id`...).
pub const TOKEN_ERROR_FIELDS: &[&str] = &[
    "error",
    "error_description",
    "error_codes",
    "error_uri",
    "trace_id",
    "correlation_id",
    "timestamp",
    "suberror",
];

/// Number literals at and past every limit: signed zero, `i64`/`u64`
/// edges and one past them, `f64` extremes, out of range exponents, and
/// forms that are not JSON at all (`NaN`, `+1`, `.5`, `01`, `0x10`).
pub const NUMBER_LITERALS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "0.5",
    "-0.5",
    "3599",
    "3599.999",
    "1e30",
    "1E+30",
    "1e308",
    "-1e308",
    "1.7976931348623157e308",
    "1e309",
    "1e400",
    "-1e400",
    "5e-324",
    "1e-400",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "340282366920938463463374607431768211456",
    "NaN",
    "Infinity",
    "-Infinity",
    "+1",
    ".5",
    "1.",
    "-",
    "1e",
    "01",
    "0x10",
];

/// String literals a lenient or careless parser trips on: lone and
/// reversed surrogate escapes, an escaped NUL, invalid escapes, raw
/// control characters, unterminated strings.
pub const STRING_LITERALS: &[&str] = &[
    r#""\ud800""#,
    r#""\udfff\ud800""#,
    r#""\u0000""#,
    r#""\u001b[2J""#,
    r#""\u202e""#,
    r#""\x41""#,
    r#""\uZZZZ""#,
    "\"tab\there\"",
    "\"line\nbreak\"",
    "\"unterminated",
    "\"\\",
    r#""""#,
    r#"" ""#,
];

/// A JSON number literal (or something in its place that is not one).
pub fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(NUMBER_LITERALS).prop_map(str::to_string),
        2 => any::<u64>().prop_map(|n| n.to_string()),
        2 => any::<i64>().prop_map(|n| n.to_string()),
        2 => any::<f64>().prop_map(|f| format!("{f:e}")),
        1 => (any::<bool>(), vec(0u8..10, 20..400), proptest::option::of(-400i32..400)).prop_map(
            |(negative, digits, exponent)| {
                let mut out = String::from(if negative { "-" } else { "" });
                out.extend(digits.iter().map(|d| char::from(b'0' + d)));
                if let Some(e) = exponent {
                    out.push_str(&format!("e{e}"));
                }
                out
            }
        ),
    ]
}

/// A JSON string literal: a short nasty string or any string, escaped
/// properly, or one of [`STRING_LITERALS`]. (Long strings come from
/// [`object`], one per document, to keep generation fast.)
pub fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => short_text().prop_map(quote),
        2 => any::<String>().prop_map(quote),
        1 => select(STRING_LITERALS).prop_map(str::to_string),
    ]
}

/// `s` as a JSON string literal.
pub fn quote(s: impl Into<String>) -> String {
    Value::String(s.into()).to_string()
}

/// An object key: one of `keys` most of the time, else any string.
fn key(keys: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(keys).prop_map(quote),
        1 => string(),
    ]
}

/// Any JSON value as text: numbers of every magnitude, strings, literals,
/// and arrays and objects (keys mostly from `keys`) nested a few levels.
pub fn value(keys: &'static [&'static str]) -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        3 => number(),
        3 => string(),
        1 => select(&["true", "false", "null"][..]).prop_map(str::to_string),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(|items| format!("[{}]", items.join(","))),
            vec((key(keys), inner), 0..6).prop_map(|fields| object_text(&fields)),
        ]
    })
}

fn object_text(fields: &[(String, String)]) -> String {
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    format!("{{{}}}", body.join(","))
}

/// A document meant to be an object with fields from `keys` (repeated,
/// missing, of the wrong type, with hostile values, one of them now and
/// then a very long string), sometimes truncated, nested past any parser's
/// depth limit, or not JSON at all.
pub fn object(keys: &'static [&'static str]) -> impl Strategy<Value = String> {
    let fields = move || vec((key(keys), value(keys)), 0..10);
    prop_oneof![
        8 => fields().prop_map(|f| object_text(&f)),
        1 => (fields(), key(keys), long_text()).prop_map(|(mut f, k, long)| {
            f.push((k, quote(long)));
            object_text(&f)
        }),
        1 => (fields().prop_map(|f| object_text(&f)), any::<prop::sample::Index>()).prop_map(|(doc, at)| {
            let cut = floor_char_boundary(&doc, at.index(doc.len()));
            doc[..cut].to_string()
        }),
        1 => deep_nesting(),
        1 => crate::text::text(),
    ]
}

/// Thousands of nested arrays or objects, closed or not.
pub fn deep_nesting() -> impl Strategy<Value = String> {
    let opener = select(
        &[
            ("[", "]"),
            ("{\"a\":", "}"),
            ("{\"error\":", "}"),
            ("{\"innerError\":", "}"),
            ("[{\"value\":", "}]"),
        ][..],
    );
    (opener, 100usize..20_000, any::<bool>()).prop_map(|((open, close), depth, closed)| {
        let mut out = open.repeat(depth);
        out.push('1');
        if closed {
            out.push_str(&close.repeat(depth));
        }
        out
    })
}

/// Finite `f64`s at the edges (JSON has no NaN or infinity).
const EXTREME_F64: &[f64] = &[
    1e308,
    -1e308,
    f64::MAX,
    f64::MIN,
    f64::MIN_POSITIVE,
    5e-324,
    1e30,
    -1e30,
    0.5,
    -0.0,
    18446744073709551616.0,
];

/// A parsed JSON value with hostile leaves (numbers at every edge, any
/// text) nested a few levels, object keys mostly from `keys`.
pub fn any_value(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        2 => any::<u64>().prop_map(Value::from),
        2 => any::<i64>().prop_map(Value::from),
        2 => select(EXTREME_F64).prop_map(Value::from),
        3 => short_text().prop_map(Value::String),
        1 => any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        let key = prop_oneof![3 => select(keys).prop_map(str::to_string), 1 => short_text()];
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            vec((key, inner), 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// `body` with `secret` set as the value of one of `fields`, chosen by
/// `place` (when `body` is a JSON object; otherwise `body` unchanged).
///
/// ```
/// let planted = switchboard_hostile::json::plant(r#"{"a":1}"#, &["error"], 0, "S3CRET");
/// assert!(planted.contains("S3CRET"));
/// ```
pub fn plant(body: &str, fields: &[&str], place: usize, secret: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(mut map)) => {
            let field = fields[place % fields.len()];
            map.insert(field.to_string(), Value::String(format!("x {secret} y")));
            Value::Object(map).to_string()
        }
        _ => body.to_string(),
    }
}
