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
}
