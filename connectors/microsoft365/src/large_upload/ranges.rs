//! Byte ranges of an upload session: the `Content-Range` of a fragment and
//! the service's `nextExpectedRanges`.

use serde_json::Value;

/// `bytes {start}-{end}/{total}` for `len` bytes from `start`.
pub(crate) fn content_range(start: u64, len: u64, total: u64) -> String {
    format!("bytes {start}-{}/{total}", start + len - 1)
}

/// The first byte the service still expects, from a session status or a
/// 202 answer: the smallest start of `nextExpectedRanges` (`"26-"`,
/// `"12345-55232"`). `None` when the body names no range.
pub(crate) fn next_expected(body: &Value) -> Option<u64> {
    body.get("nextExpectedRanges")?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .filter_map(|range| range.split('-').next()?.trim().parse::<u64>().ok())
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_range_is_inclusive() {
        assert_eq!(content_range(0, 26, 128), "bytes 0-25/128");
        assert_eq!(
            content_range(983_040, 983_040, 3_145_728),
            "bytes 983040-1966079/3145728"
        );
    }

    #[test]
    fn next_expected_takes_the_smallest_start() {
        assert_eq!(
            next_expected(&json!({"nextExpectedRanges": ["26-"]})),
            Some(26)
        );
        assert_eq!(
            next_expected(&json!({"nextExpectedRanges": ["77829-99375", "12345-55232"]})),
            Some(12345)
        );
        assert_eq!(next_expected(&json!({"nextExpectedRanges": []})), None);
        assert_eq!(next_expected(&json!({"nextExpectedRanges": ["x-"]})), None);
        assert_eq!(next_expected(&json!({})), None);
    }

    /// The range starts a session status may hold: plausible ones, numbers
    /// past `u64`, negative, empty, and anything else.
    fn range() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        use switchboard_hostile::{json::any_value, text::near};
        prop_oneof![
            3 => near(&["26-", "12345-55232", "0-", "-", "18446744073709551616-", "-5-", " 7 -9"]).prop_map(Value::String),
            1 => any_value(&["nextExpectedRanges"]),
        ]
    }

    proptest::proptest! {
        #![proptest_config(switchboard_hostile::config(512))]

        /// Any status body: no panic; the answer is the smallest start that
        /// reads as a byte offset, and there is one exactly when some
        /// entry's start does.
        #[test]
        fn next_expected_is_the_smallest_readable_start(
            ranges in proptest::collection::vec(range(), 0..6),
            wrap in proptest::bool::ANY,
        ) {
            let body = if wrap { json!({"nextExpectedRanges": ranges}) } else { json!({"nextExpectedRanges": ranges.first()}) };
            let starts: Vec<u64> = body["nextExpectedRanges"]
                .as_array()
                .map(|a| a.iter().filter_map(|r| r.as_str()?.split('-').next()?.trim().parse().ok()).collect())
                .unwrap_or_default();
            proptest::prop_assert_eq!(next_expected(&body), starts.iter().copied().min());
        }
    }
}
