//! Dates and times as Graph writes them, without a date library.
//!
//! Instants are `i64` seconds since the Unix epoch, in UTC. Time zones are a
//! small table of fixed offsets (Windows and IANA names): daylight saving is
//! not modelled, which is enough for a sandbox whose data it generates itself.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds in a day.
pub(crate) const DAY: i64 = 86_400;

/// The current instant.
pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Days since 1970-01-01 for a civil date (proleptic Gregorian).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let d = i64::from(d);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days in a month.
pub(crate) fn days_in_month(y: i64, m: u32) -> u32 {
    let next = if m == 12 {
        days_from_civil(y + 1, 1, 1)
    } else {
        days_from_civil(y, m + 1, 1)
    };
    (next - days_from_civil(y, m, 1)) as u32
}

/// Day of the week of a day number: 0 = Sunday.
pub(crate) fn weekday(days: i64) -> u32 {
    (days + 4).rem_euclid(7) as u32
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

fn split(ts: i64) -> (i64, u32, u32, i64, i64, i64) {
    let days = ts.div_euclid(DAY);
    let secs = ts.rem_euclid(DAY);
    let (y, m, d) = civil_from_days(days);
    (y, m, d, secs / 3600, (secs % 3600) / 60, secs % 60)
}

/// `2021-07-15T14:00:00Z`: Graph's format for `...DateTime` properties.
pub(crate) fn iso_z(ts: i64) -> String {
    let (y, m, d, hh, mm, ss) = split(ts);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
}

/// `2021-07-15T14:00:00.0000000`: the wall-clock form inside a
/// `dateTimeTimeZone`, for an instant shown at `offset` seconds from UTC.
pub(crate) fn wall_clock(ts: i64, offset: i64) -> String {
    let (y, m, d, hh, mm, ss) = split(ts + offset);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.0000000")
}

/// `2021-07-15`: a date.
pub(crate) fn date_string(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `2021-07-15 10:22:33Z`: the timestamp format of Microsoft identity errors.
pub(crate) fn identity_timestamp(ts: i64) -> String {
    let (y, m, d, hh, mm, ss) = split(ts);
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02}Z")
}

/// Parses `YYYY-MM-DD` into a day number.
pub(crate) fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i64 = s.get(0..4)?.parse().ok()?;
    let m: u32 = s.get(5..7)?.parse().ok()?;
    let d: u32 = s.get(8..10)?.parse().ok()?;
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// A parsed ISO 8601 date-time: the wall-clock instant as if it were UTC,
/// and the explicit offset if the text carried one (`Z` or `±hh:mm`).
pub(crate) fn parse_iso(s: &str) -> Option<(i64, Option<i64>)> {
    let s = s.trim();
    if s.len() == 10 {
        return parse_date(s).map(|d| (d * DAY, None));
    }
    let (date, rest) = s.split_at_checked(10)?;
    let days = parse_date(date)?;
    let rest = rest.strip_prefix('T').or_else(|| rest.strip_prefix(' '))?;
    // Split the time from an offset.
    let (time, offset) = if let Some(t) = rest.strip_suffix('Z').or_else(|| rest.strip_suffix('z'))
    {
        (t, Some(0))
    } else if let Some(pos) = rest.rfind(['+', '-']) {
        let (t, off) = rest.split_at(pos);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let off = &off[1..];
        let (h, m) = off
            .split_once(':')
            .unwrap_or((off.get(0..2)?, off.get(2..).unwrap_or("0")));
        let h: i64 = h.parse().ok()?;
        let m: i64 = if m.is_empty() { 0 } else { m.parse().ok()? };
        (t, Some(sign * (h * 3600 + m * 60)))
    } else {
        (rest, None)
    };
    let time = time.split('.').next()?;
    let mut parts = time.split(':');
    let hh: i64 = parts.next()?.parse().ok()?;
    let mm: i64 = parts.next()?.parse().ok()?;
    let ss: i64 = match parts.next() {
        Some(p) => p.parse().ok()?,
        None => 0,
    };
    if parts.next().is_some() || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    Some((days * DAY + hh * 3600 + mm * 60 + ss, offset))
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
    }
}
