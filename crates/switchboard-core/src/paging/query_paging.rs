//! Cursor and counter paging: the next request is the page's own URL with
//! one query parameter replaced (the cursor read from the page's body, or
//! the offset / page number counted on). Everything else about the walk
//! (the GET, its headers, the loop guard on the request as sent, the page
//! limit, the continuation) is the same as for next links, because the
//! result is just the next URL.
//!
//! Inputs are bounded: a cursor longer than [`MAX_CURSOR_BYTES`] or not a
//! string is a `Decode` error (nothing is sent), counts use checked
//! arithmetic, and a total or `has_more` value of the wrong JSON type is an
//! error rather than a guess. No message quotes a cursor.

use serde_json::Value;
use url::Url;

use crate::definition::Pagination;
use crate::definition::paging::{CounterPaging, CursorPaging, MAX_CURSOR_BYTES, StopRule};
use crate::error::{Error, ErrorKind, Result};

/// Whether a counter counts records (offset) or pages (page number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Count {
    Offset,
    Page,
}

impl Count {
    /// The counter of a pagination kind, if it counts.
    pub(crate) fn of(pagination: Pagination) -> Option<Count> {
        match pagination {
            Pagination::Offset => Some(Count::Offset),
            Pagination::Page => Some(Count::Page),
            _ => None,
        }
    }

    fn default_start(self) -> u64 {
        match self {
            Count::Offset => 0,
            Count::Page => 1,
        }
    }
}

/// The first request of a counted walk: `url` with the counter at its
/// start value and, when declared, the page size.
pub(crate) fn counter_first(count: Count, rule: &CounterPaging, url: &Url) -> Url {
    let start = rule.start.unwrap_or(count.default_start());
    let mut first = with_query_value(url, &rule.parameter, &start.to_string());
    if let Some(size_parameter) = &rule.size_parameter {
        first = with_query_value(&first, size_parameter, &rule.size.to_string());
    }
    first
}

/// The request after the cursor page fetched from `url`, or `None` when
/// the page ends the listing.
pub(crate) fn cursor_next(
    rule: &CursorPaging,
    url: &Url,
    body: &Value,
    method_id: &str,
) -> Result<Option<Url>> {
    if let Some(pointer) = &rule.has_more
        && !more(body, pointer, method_id)?
    {
        return Ok(None);
    }
    let cursor = match body.pointer(&rule.pointer) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(cursor)) if cursor.is_empty() => return Ok(None),
        Some(Value::String(cursor)) => cursor,
        Some(_) => {
            return Err(decode(format!(
                "the cursor at `{}` in a page of `{method_id}` is not a string",
                rule.pointer
            )));
        }
    };
    if cursor.len() > MAX_CURSOR_BYTES {
        return Err(decode(format!(
            "the cursor at `{}` in a page of `{method_id}` is {} bytes long, more than the {MAX_CURSOR_BYTES} a next request may carry",
            rule.pointer,
            cursor.len()
        )));
    }
    Ok(Some(with_query_value(url, &rule.parameter, cursor)))
}

/// The count a counted request carries (its start value when it carries
/// none). A count that is not a whole number can only come from an altered
/// continuation.
pub(crate) fn counter_value(count: Count, rule: &CounterPaging, url: &Url) -> Result<u64> {
    match url
        .query_pairs()
        .find(|(name, _)| name == rule.parameter.as_str())
    {
        None => Ok(rule.start.unwrap_or(count.default_start())),
        Some((_, value)) => value.parse::<u64>().map_err(|_| {
            Error::invalid_argument(
                "continuation",
                format!(
                    "its `{}` is not a count; it was altered",
                    crate::untrusted_text::sanitize_identifier(&rule.parameter)
                ),
            )
        }),
    }
}

/// The request after the counted page fetched from `url` that held
/// `records` records, or `None` when the stop rule (or an empty page) ends
/// the listing.
pub(crate) fn counter_next(
    count: Count,
    rule: &CounterPaging,
    url: &Url,
    body: &Value,
    records: usize,
    method_id: &str,
) -> Result<Option<Url>> {
    let start = rule.start.unwrap_or(count.default_start());
    let current = counter_value(count, rule, url)?;
    let overflow = || {
        decode(format!(
            "the count of `{method_id}`'s pages passed the largest number the counter can hold"
        ))
    };
    let records = u64::try_from(records).map_err(|_| overflow())?;
    if records == 0 {
        return Ok(None);
    }
    let done = match rule.stop {
        StopRule::ShortPage => records < rule.size,
        StopRule::EmptyPage => false,
        StopRule::HasMore => match &rule.has_more {
            Some(pointer) => !more(body, pointer, method_id)?,
            None => return Err(undeclared("has_more", method_id)),
        },
        StopRule::Total => {
            let Some(pointer) = &rule.total else {
                return Err(undeclared("total", method_id));
            };
            let total = match body.pointer(pointer) {
                Some(value) => value.as_u64().ok_or_else(|| {
                    decode(format!(
                        "the total at `{pointer}` in a page of `{method_id}` is not a whole number of 0 or more"
                    ))
                })?,
                None => {
                    return Err(decode(format!(
                        "a page of `{method_id}` has no total at `{pointer}`"
                    )));
                }
            };
            let counted = match count {
                Count::Offset => current.checked_add(records),
                Count::Page => current
                    .checked_sub(start)
                    .and_then(|done| done.checked_add(1))
                    .and_then(|pages| pages.checked_mul(rule.size)),
            }
            .ok_or_else(overflow)?;
            counted >= total
        }
    };
    if done {
        return Ok(None);
    }
    let next = match count {
        Count::Offset => current.checked_add(records),
        Count::Page => current.checked_add(1),
    }
    .ok_or_else(overflow)?;
    Ok(Some(with_query_value(
        url,
        &rule.parameter,
        &next.to_string(),
    )))
}

/// Whether the boolean at `pointer` says more pages follow: `true` yes;
/// `false`, `null` or nothing there no; anything else is an error.
fn more(body: &Value, pointer: &str, method_id: &str) -> Result<bool> {
    match body.pointer(pointer) {
        Some(Value::Bool(more)) => Ok(*more),
        None | Some(Value::Null) => Ok(false),
        Some(_) => Err(decode(format!(
            "the value at `{pointer}` in a page of `{method_id}` is not true or false"
        ))),
    }
}

fn undeclared(field: &str, method_id: &str) -> Error {
    Error::new(
        ErrorKind::InvalidDefinition,
        format!("`{method_id}` stops on `{field}` but its counter declares no `{field}` pointer"),
    )
}

fn decode(message: String) -> Error {
    Error::new(ErrorKind::Decode, message)
}

/// `url` with every `name` query parameter removed and `name=value`
/// appended (form-encoded, as the engine writes every query parameter).
/// `url` with the query parameter `name` set to `value`: any parameter of
/// that name already there is replaced, never repeated (also how a query
/// credential is added at send time, `engine/placement.rs`).
pub(crate) fn with_query_value(url: &Url, name: &str, value: &str) -> Url {
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut next = url.clone();
    next.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair(name, value);
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    fn cursor_rule(has_more: Option<&str>) -> CursorPaging {
        CursorPaging {
            pointer: "/meta/next".into(),
            parameter: "cursor".into(),
            has_more: has_more.map(str::to_string),
        }
    }

    fn counter_rule(stop: StopRule) -> CounterPaging {
        CounterPaging {
            parameter: "offset".into(),
            start: None,
            size_parameter: Some("limit".into()),
            size: 2,
            stop,
            total: Some("/total".into()),
            has_more: Some("/more".into()),
        }
    }

    #[test]
    fn the_cursor_replaces_the_parameter_and_keeps_the_rest() {
        let rule = cursor_rule(None);
        let page = url("https://api.example.com/items?limit=5&cursor=old&q=a%20b");
        let next = cursor_next(&rule, &page, &json!({"meta": {"next": "n&x=1"}}), "m")
            .unwrap()
            .unwrap();
        let pairs: Vec<(String, String)> = next.query_pairs().into_owned().collect();
        assert_eq!(
            pairs,
            [("limit", "5"), ("q", "a b"), ("cursor", "n&x=1")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
        );
    }

    #[test]
    fn a_cursor_ends_when_absent_null_empty_or_has_more_says_so() {
        let page = url("https://api.example.com/items");
        for body in [
            json!({}),
            json!({"meta": {"next": null}}),
            json!({"meta": {"next": ""}}),
        ] {
            assert_eq!(
                cursor_next(&cursor_rule(None), &page, &body, "m").unwrap(),
                None
            );
        }
        let rule = cursor_rule(Some("/more"));
        for more in [json!(false), json!(null)] {
            let body = json!({"meta": {"next": "c"}, "more": more});
            assert_eq!(cursor_next(&rule, &page, &body, "m").unwrap(), None);
        }
        let body = json!({"meta": {"next": "c"}, "more": "yes"});
        let err = cursor_next(&rule, &page, &body, "m").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode);
        assert!(err.to_string().contains("`/more`"), "{err}");
    }

    #[test]
    fn hostile_cursors_are_refused_without_being_quoted() {
        let page = url("https://api.example.com/items");
        let rule = cursor_rule(None);
        for bad in [json!(7), json!(["a"]), json!({"c": 1}), json!(true)] {
            let err = cursor_next(&rule, &page, &json!({"meta": {"next": bad}}), "m").unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Decode);
            assert!(err.to_string().contains("not a string"), "{err}");
        }
        let huge = "Z".repeat(MAX_CURSOR_BYTES + 1);
        let err = cursor_next(&rule, &page, &json!({"meta": {"next": huge}}), "m").unwrap_err();
        assert!(err.to_string().contains("4097 bytes"), "{err}");
        assert!(!err.to_string().contains("ZZZ"), "{err}");
        let longest = "Z".repeat(MAX_CURSOR_BYTES);
        assert!(
            cursor_next(&rule, &page, &json!({"meta": {"next": longest}}), "m")
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn counters_start_advance_and_stop_by_rule() {
        let page0 = counter_first(
            Count::Offset,
            &counter_rule(StopRule::ShortPage),
            &url("https://api.example.com/items?offset=9&q=x"),
        );
        assert_eq!(page0.query(), Some("q=x&offset=0&limit=2"));
        let rule = counter_rule(StopRule::ShortPage);
        let next = counter_next(Count::Offset, &rule, &page0, &json!({}), 2, "m")
            .unwrap()
            .unwrap();
        assert_eq!(next.query(), Some("q=x&limit=2&offset=2"));
        assert_eq!(
            counter_next(Count::Offset, &rule, &next, &json!({}), 1, "m").unwrap(),
            None
        );
        // an empty page ends whatever the rule
        for stop in [StopRule::EmptyPage, StopRule::Total, StopRule::HasMore] {
            assert_eq!(
                counter_next(
                    Count::Offset,
                    &counter_rule(stop),
                    &next,
                    &json!({}),
                    0,
                    "m"
                )
                .unwrap(),
                None
            );
        }
        // total: offset 2 + 2 records reach 4
        let total = counter_rule(StopRule::Total);
        assert!(
            counter_next(Count::Offset, &total, &next, &json!({"total": 5}), 2, "m")
                .unwrap()
                .is_some()
        );
        assert_eq!(
            counter_next(Count::Offset, &total, &next, &json!({"total": 4}), 2, "m").unwrap(),
            None
        );
        // pages: page 3 of size 2 (start 1) has counted 6
        let mut pages = counter_rule(StopRule::Total);
        pages.parameter = "page".into();
        let third = url("https://api.example.com/items?page=3");
        assert_eq!(
            counter_next(Count::Page, &pages, &third, &json!({"total": 6}), 2, "m").unwrap(),
            None
        );
        let fourth = counter_next(Count::Page, &pages, &third, &json!({"total": 7}), 2, "m")
            .unwrap()
            .unwrap();
        assert_eq!(fourth.query(), Some("page=4"));
        let more = counter_rule(StopRule::HasMore);
        assert!(
            counter_next(Count::Offset, &more, &next, &json!({"more": true}), 2, "m")
                .unwrap()
                .is_some()
        );
        assert_eq!(
            counter_next(Count::Offset, &more, &next, &json!({"more": false}), 2, "m").unwrap(),
            None
        );
    }

    #[test]
    fn hostile_counts_are_errors_not_overflows() {
        let rule = counter_rule(StopRule::EmptyPage);
        let at_max = url(&format!(
            "https://api.example.com/items?offset={}",
            u64::MAX
        ));
        let err = counter_next(Count::Offset, &rule, &at_max, &json!({}), 1, "m").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode);
        let altered = url("https://api.example.com/items?offset=-1");
        let err = counter_next(Count::Offset, &rule, &altered, &json!({}), 1, "m").unwrap_err();
        assert_eq!(err.field(), Some("continuation"));
        let total = counter_rule(StopRule::Total);
        for bad in [json!(-1), json!(1.5), json!("9"), json!(null)] {
            let err = counter_next(
                Count::Offset,
                &total,
                &url("https://api.example.com/items?offset=0"),
                &json!({"total": bad}),
                2,
                "m",
            )
            .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Decode, "{bad}");
        }
        let mut pages = counter_rule(StopRule::Total);
        pages.size = u64::MAX;
        let second = url("https://api.example.com/items?offset=3");
        let err =
            counter_next(Count::Page, &pages, &second, &json!({"total": 1}), 2, "m").unwrap_err();
        assert!(err.to_string().contains("largest number"), "{err}");
    }
}
