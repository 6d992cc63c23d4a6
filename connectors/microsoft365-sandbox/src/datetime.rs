//! Dates and times as Graph writes them, with jiff (the project's one date
//! library) doing the calendar.
//!
//! Instants are `i64` seconds since the Unix epoch, in UTC; days are day
//! numbers since 1970-01-01. Time zones are a small table of fixed offsets
//! (Windows and IANA names): daylight saving is not modelled, which is
//! enough for a sandbox whose data it generates itself. Instants outside
//! jiff's years -9999 to 9999 are taken as the nearest bound.

use std::time::{SystemTime, UNIX_EPOCH};

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time};
use jiff::fmt::temporal::{Pieces, PiecesOffset};
use jiff::tz::Offset;

/// Seconds in a day.
pub(crate) const DAY: i64 = 86_400;

/// The current instant.
pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The instant `ts`, clamped to what jiff represents.
fn timestamp(ts: i64) -> Timestamp {
    Timestamp::from_second(ts).unwrap_or(if ts < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// The civil date and time `offset` seconds from UTC at the instant `ts`.
fn civil_at(ts: i64, offset: i64) -> DateTime {
    let offset = i32::try_from(offset)
        .ok()
        .and_then(|o| Offset::from_seconds(o).ok())
        .unwrap_or(Offset::UTC);
    offset.to_datetime(timestamp(ts))
}

/// The instant of a civil date and time read as UTC.
fn utc_seconds(dt: DateTime) -> i64 {
    Offset::UTC
        .to_timestamp(dt)
        .map(Timestamp::as_second)
        .unwrap_or(0)
}

fn date_of(days: i64) -> Date {
    civil_at(days.saturating_mul(DAY), 0).date()
}

fn day_number(date: Date) -> i64 {
    utc_seconds(date.to_datetime(Time::midnight())).div_euclid(DAY)
}

/// Days since 1970-01-01 for a civil date (0 for a date that does not exist).
#[cfg(test)]
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let date = (|| {
        Date::new(
            i16::try_from(y).ok()?,
            i8::try_from(m).ok()?,
            i8::try_from(d).ok()?,
        )
        .ok()
    })();
    date.map(day_number).unwrap_or(0)
}

/// The civil date of a day number.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let date = date_of(z);
    (
        i64::from(date.year()),
        u32::try_from(date.month()).unwrap_or(1),
        u32::try_from(date.day()).unwrap_or(1),
    )
}

/// Days in a month (0 for a month that does not exist).
pub(crate) fn days_in_month(y: i64, m: u32) -> u32 {
    (|| {
        Date::new(i16::try_from(y).ok()?, i8::try_from(m).ok()?, 1)
            .ok()
            .map(|d| u32::try_from(d.days_in_month()).unwrap_or(0))
    })()
    .unwrap_or(0)
}

/// Day of the week of a day number: 0 = Sunday.
pub(crate) fn weekday(days: i64) -> u32 {
    u32::try_from(date_of(days).weekday().to_sunday_zero_offset()).unwrap_or(0)
}

/// Graph's names of the days of the week, Sunday first.
pub(crate) const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

/// The index of a Graph day name.
pub(crate) fn weekday_index(name: &str) -> Option<u32> {
    WEEKDAYS
        .iter()
        .position(|d| d.eq_ignore_ascii_case(name))
        .map(|i| i as u32)
}

/// `2021-07-15T14:00:00Z`: Graph's format for `...DateTime` properties.
pub(crate) fn iso_z(ts: i64) -> String {
    civil_at(ts, 0).strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `2021-07-15T14:00:00.0000000`: the wall-clock form inside a
/// `dateTimeTimeZone`, for an instant shown at `offset` seconds from UTC.
pub(crate) fn wall_clock(ts: i64, offset: i64) -> String {
    civil_at(ts, offset)
        .strftime("%Y-%m-%dT%H:%M:%S.0000000")
        .to_string()
}

/// `2021-07-15`: a date.
pub(crate) fn date_string(days: i64) -> String {
    date_of(days).strftime("%Y-%m-%d").to_string()
}

/// `2021-07-15 10:22:33Z`: the timestamp format of Microsoft identity errors.
pub(crate) fn identity_timestamp(ts: i64) -> String {
    civil_at(ts, 0).strftime("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// Parses `YYYY-MM-DD` into a day number.
pub(crate) fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    s.parse::<Date>().ok().map(day_number)
}

/// A parsed ISO 8601 date-time: the wall-clock instant as if it were UTC,
/// and the explicit offset if the text carried one (`Z` or `±hh:mm`). A
/// date alone is its midnight; seconds and a fraction are optional.
pub(crate) fn parse_iso(s: &str) -> Option<(i64, Option<i64>)> {
    let s = s.trim();
    // four-digit years only: `+002021-...` is not a Graph form
    if s.as_bytes().get(4) != Some(&b'-') {
        return None;
    }
    let pieces = Pieces::parse(s).ok()?;
    let wall = pieces
        .date()
        .to_datetime(pieces.time().unwrap_or(Time::midnight()));
    let offset = match pieces.offset() {
        None => None,
        Some(PiecesOffset::Zulu) => Some(0),
        Some(PiecesOffset::Numeric(n)) => Some(i64::from(n.offset().seconds())),
        Some(_) => return None,
    };
    Some((utc_seconds(wall), offset))
}

/// Parses an ISO instant; text without an offset is read as UTC.
pub(crate) fn parse_instant(s: &str) -> Option<i64> {
    parse_iso(s).map(|(t, off)| t - off.unwrap_or(0))
}

/// The fixed UTC offset, in seconds, of a Windows or IANA time zone name.
pub(crate) fn zone_offset(name: &str) -> Option<i64> {
    const ZONES: &[(&str, i64)] = &[
        ("UTC", 0),
        ("Etc/UTC", 0),
        ("Etc/GMT", 0),
        ("GMT Standard Time", 0),
        ("Greenwich Standard Time", 0),
        ("Europe/London", 0),
        ("Pacific Standard Time", -8 * 3600),
        ("America/Los_Angeles", -8 * 3600),
        ("Mountain Standard Time", -7 * 3600),
        ("America/Denver", -7 * 3600),
        ("Central Standard Time", -6 * 3600),
        ("America/Chicago", -6 * 3600),
        ("Eastern Standard Time", -5 * 3600),
        ("America/New_York", -5 * 3600),
        ("W. Europe Standard Time", 3600),
        ("Romance Standard Time", 3600),
        ("Central Europe Standard Time", 3600),
        ("Central European Standard Time", 3600),
        ("Europe/Berlin", 3600),
        ("Europe/Paris", 3600),
        ("E. Europe Standard Time", 2 * 3600),
        ("FLE Standard Time", 2 * 3600),
        ("India Standard Time", 5 * 3600 + 1800),
        ("Asia/Kolkata", 5 * 3600 + 1800),
        ("China Standard Time", 8 * 3600),
        ("Asia/Shanghai", 8 * 3600),
        ("Tokyo Standard Time", 9 * 3600),
        ("Asia/Tokyo", 9 * 3600),
        ("AUS Eastern Standard Time", 10 * 3600),
        ("Australia/Sydney", 10 * 3600),
    ];
    ZONES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name.trim()))
        .map(|(_, o)| *o)
}

/// Parses a `dateTimeTimeZone` object into an instant.
pub(crate) fn parse_dtz(value: &serde_json::Value) -> Result<i64, String> {
    let dt = value
        .get("dateTime")
        .and_then(|v| v.as_str())
        .ok_or_else(|| "dateTime is required".to_string())?;
    let tz = value
        .get("timeZone")
        .and_then(|v| v.as_str())
        .unwrap_or("UTC");
    let offset = zone_offset(tz).ok_or_else(|| format!("time zone '{tz}' is not supported"))?;
    let (wall, explicit) =
        parse_iso(dt).ok_or_else(|| format!("'{dt}' is not an ISO 8601 date-time"))?;
    Ok(match explicit {
        Some(off) => wall - off,
        None => wall - offset,
    })
}

/// A `dateTimeTimeZone` object for an instant in the zone `tz`.
pub(crate) fn dtz(ts: i64, tz: &str) -> serde_json::Value {
    let offset = zone_offset(tz).unwrap_or(0);
    serde_json::json!({ "dateTime": wall_clock(ts, offset), "timeZone": tz })
}

/// Parses an ISO 8601 duration such as `PT1H30M` into seconds (weeks,
/// days, hours, minutes and seconds; no years or months). `None` for text
/// that is not one, or whose value does not fit in an `i64`.
pub(crate) fn parse_duration(s: &str) -> Option<i64> {
    let s = s.strip_prefix('P')?;
    let (days_part, time_part) = match s.split_once('T') {
        Some((d, t)) => (d, t),
        None => (s, ""),
    };
    let mut total = 0i64;
    for (part, units) in [
        (days_part, &[('W', 7 * DAY), ('D', DAY)][..]),
        (time_part, &[('H', 3600), ('M', 60), ('S', 1)][..]),
    ] {
        let mut num = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() {
                num.push(c);
                continue;
            }
            let n: i64 = num.parse().ok()?;
            num.clear();
            let unit = units.iter().find(|(u, _)| *u == c)?.1;
            total = total.checked_add(n.checked_mul(unit)?)?;
        }
        if !num.is_empty() {
            return None;
        }
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for days in [-1000, 0, 1, 18_000, 19_000, 20_000, 40_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(weekday(0), 4); // Thursday
    }

    #[test]
    fn parses_graph_forms() {
        let t = parse_instant("2021-07-15T14:00:00Z").unwrap();
        assert_eq!(iso_z(t), "2021-07-15T14:00:00Z");
        assert_eq!(parse_instant("2021-07-15T14:00:00.0000000").unwrap(), t);
        assert_eq!(parse_instant("2021-07-15T16:00:00+02:00").unwrap(), t);
        assert_eq!(wall_clock(t, -8 * 3600), "2021-07-15T06:00:00.0000000");
        let v = serde_json::json!({"dateTime": "2021-07-15T07:00:00", "timeZone": "Pacific Standard Time"});
        assert_eq!(parse_dtz(&v).unwrap(), t + 3600);
        assert_eq!(parse_duration("PT1H30M"), Some(5400));
        assert_eq!(parse_duration("P1W2DT3S"), Some(9 * DAY + 3));
        // too large for an i64 of seconds: refused, not a panic
        assert_eq!(parse_duration("PT99999999999999999999S"), None);
        assert_eq!(parse_duration("P999999999999999D"), None);
        assert_eq!(parse_duration("PT5"), None);
        assert_eq!(parse_duration("P1H"), None);
        assert!(parse_instant("2021-13-01T00:00:00Z").is_none());
        assert!(parse_instant("2021-02-29T00:00:00Z").is_none());
        assert_eq!(parse_instant("2021-07-15 14:00Z"), Some(t));
        assert_eq!(parse_instant("2021-07-15"), Some(t - 14 * 3600));
        assert_eq!(identity_timestamp(t), "2021-07-15 14:00:00Z");
        assert_eq!(date_string(days_from_civil(2024, 2, 29)), "2024-02-29");
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2023, 2), 28);
        // hostile sizes clamp instead of overflowing or panicking
        // (jiff's bounds: the last and first instants of years 9999 and -9999)
        assert!(
            iso_z(i64::MAX).starts_with("9999-12-"),
            "{}",
            iso_z(i64::MAX)
        );
        assert!(iso_z(i64::MIN).contains("9999-01-0"), "{}", iso_z(i64::MIN));
        assert_eq!(wall_clock(t, i64::MAX), "2021-07-15T14:00:00.0000000");
    }
}
