//! Dates and times: the one place switchboard parses and prints them, with
//! [jiff](https://docs.rs/jiff).
//!
//! A `date-time` value (a definition's default, a caller's argument) is
//! checked by [`is_date_time`]; what it may look like is [`DATE_TIME_FORM`].
//! Both the definition validator and the argument renderer use them, so a
//! default a definition may declare is exactly a value a caller may pass.
//!
//! What Graph accepts: its `dateTime` query parameters (`calendarView`'s
//! `startDateTime`, ...) are ISO 8601 with an offset, and "if no timezone
//! offset is included in the value, it is interpreted as UTC"; the
//! `dateTime` of a `dateTimeTimeZone` carries no offset at all
//! (`2017-08-29T04:00:00.0000000`, with the zone beside it). Sources:
//! Microsoft Graph v1.0 docs, `api/user-list-calendarview.md` and
//! `resources/datetimetimezone.md`. So the offset is optional here.
//!
//! ```
//! use switchboard_core::datetime::{format_utc, is_date_time};
//! use std::time::{Duration, UNIX_EPOCH};
//!
//! assert!(is_date_time("2026-11-22T09:00:00Z"));
//! assert!(is_date_time("2026-11-22T09:00:00")); // UTC for Graph
//! assert!(!is_date_time("2026-11-22 09:00"));
//! let t = UNIX_EPOCH + Duration::from_secs(1_709_210_096);
//! assert_eq!(format_utc(t), "2024-02-29T12:34:56Z");
//! ```

use std::time::SystemTime;

use jiff::Timestamp;
use jiff::fmt::temporal::{Pieces, PiecesOffset};

/// What a `date-time` value looks like, for error messages ("must be ...",
/// "expected ...").
pub const DATE_TIME_FORM: &str = "an ISO 8601 / RFC 3339 date and time such as \
     2026-11-22T09:00:00Z, 2026-11-22T09:00:00+01:00 or 2026-11-22T09:00:00.0000000";

/// Whether `value` is a date and time in RFC 3339's layout, the offset
/// optional: `YYYY-MM-DDTHH:MM:SS`, a fraction of 1 to 9 digits, then
/// nothing (UTC for Graph), `Z` or `±HH:MM` (hours up to 23). The date must
/// exist (no February 30th). Other ISO 8601 forms (a space for `T`, the
/// basic `20261122T090000`, a date alone, an offset without a colon, a time
/// zone annotation) are refused: Graph is not documented to take them.
///
/// ```
/// use switchboard_core::datetime::is_date_time;
/// assert!(is_date_time("2024-02-29T23:59:59.5+05:30"));
/// assert!(!is_date_time("2025-02-29T09:00:00Z"));
/// ```
pub fn is_date_time(value: &str) -> bool {
    let b = value.as_bytes();
    // RFC 3339's extended layout; jiff checks the numbers and the calendar
    let layout = b.len() >= 19
        && b[4] == b'-'
        && b[7] == b'-'
        && matches!(b[10], b'T' | b't')
        && b[13] == b':'
        && b[16] == b':'
        && b[..19]
            .iter()
            .enumerate()
            .all(|(i, c)| matches!(i, 4 | 7 | 10 | 13 | 16) || c.is_ascii_digit());
    if !layout {
        return false;
    }
    let Ok(pieces) = Pieces::parse(value) else {
        return false;
    };
    if pieces.time().is_none() || pieces.time_zone_annotation().is_some() {
        return false;
    }
    // the fraction uses a period, as RFC 3339 writes it
    let tail = &b[19..];
    if tail.first() == Some(&b',') {
        return false;
    }
    match pieces.offset() {
        None | Some(PiecesOffset::Zulu) => true,
        Some(PiecesOffset::Numeric(numeric)) => {
            let seconds = numeric.offset().seconds().unsigned_abs();
            // `±HH:MM`, with the colon, whole minutes, under a day
            let text = &b[b.len().saturating_sub(6)..];
            text.len() == 6
                && matches!(text[0], b'+' | b'-')
                && text[3] == b':'
                && seconds % 60 == 0
                && seconds < 24 * 3600
        }
        Some(_) => false,
    }
}

/// `2026-05-01T09:00:00Z`: an instant in UTC, whole seconds (the fraction
/// is dropped). Instants outside jiff's range (years -9999 to 9999) are
/// shown as the nearest bound.
///
/// ```
/// use switchboard_core::datetime::format_utc;
/// assert_eq!(format_utc(std::time::UNIX_EPOCH), "1970-01-01T00:00:00Z");
/// ```
pub fn format_utc(t: SystemTime) -> String {
    let ts = Timestamp::try_from(t).unwrap_or_else(|_| {
        if t < SystemTime::UNIX_EPOCH {
            Timestamp::MIN
        } else {
            Timestamp::MAX
        }
    });
    let whole = Timestamp::from_second(ts.as_second()).unwrap_or(ts);
    whole.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn date_times() {
        for ok in [
            "2026-11-22T09:00:00Z",
            "2026-11-22T09:00:00.0000000",
            "2026-11-22T09:00:00",
            "2026-11-22T09:00:00.5+01:00",
            "2026-11-22T09:00:00-08:00",
            "2024-02-29T23:59:59z",
            "2026-11-22t09:00:00Z",
            "2026-11-22T09:00:00.123456789+23:59",
        ] {
            assert!(is_date_time(ok), "{ok}");
        }
        for bad in [
            "",
            "2026-11-22",
            "2026-11-22 09:00:00Z",
            "20261122T090000Z",
            "2026-13-22T09:00:00Z",
            "2025-02-29T09:00:00Z",
            "2026-11-31T09:00:00Z",
            "2026-11-22T24:00:00Z",
            "2026-11-22T09:60:00Z",
            "2026-11-22T09:00:00.Z",
            "2026-11-22T09:00:00,5Z",
            "2026-11-22T09:00:00.0000000000Z",
            "2026-11-22T09:00:00+1:00",
            "2026-11-22T09:00:00+0100",
            "2026-11-22T09:00:00+01",
            "2026-11-22T09:00:00+24:00",
            "2026-11-22T09:00:00+01:00:30",
            "2026-11-22T09:00:00Zjunk",
            "2026-11-22T09:00:00Z[Europe/Paris]",
            "２026-11-22T09:00:00Z",
            "+002026-11-22T09:00:00Z",
        ] {
            assert!(!is_date_time(bad), "{bad}");
        }
    }

    #[test]
    fn formats_utc_whole_seconds() {
        assert_eq!(format_utc(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_709_210_096_900); // leap year
        assert_eq!(format_utc(t), "2024-02-29T12:34:56Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_735_689_599);
        assert_eq!(format_utc(t), "2024-12-31T23:59:59Z");
        // before the epoch: the real date, not 1970
        let t = UNIX_EPOCH - Duration::from_secs(86_400);
        assert_eq!(format_utc(t), "1969-12-31T00:00:00Z");
        // what is printed parses back
        assert!(is_date_time(&format_utc(SystemTime::now())));
    }
}
