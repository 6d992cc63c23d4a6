//! Hostile HTTP header values: dates at and past every edge, in the three
//! formats RFC 9110 §5.6.7 names and malformed.
//!
//! ```
//! use proptest::strategy::{Strategy, ValueTree};
//! use proptest::test_runner::TestRunner;
//!
//! let mut runner = TestRunner::deterministic();
//! let date = switchboard_hostile::http::date().new_tree(&mut runner).unwrap().current();
//! assert!(!date.is_empty());
//! ```

use proptest::prelude::*;
use proptest::sample::select;

const DAYS: &[&str] = &[
    "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", "Monday", "Sunday", "Xyz", "",
];
const MONTHS: &[&str] = &[
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "Foo", "",
];

/// An HTTP date: IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), RFC 850
/// (`Sunday, 06-Nov-94 08:49:37 GMT`) or asctime (`Sun Nov  6 08:49:37
/// 1994`), with fields in and out of range: years 0 to 99999, day 0 to 99,
/// hour 99, leap seconds, wrong weekdays, other zones.
pub fn date() -> impl Strategy<Value = String> {
    let year = prop_oneof![
        3 => 1970u32..2100,
        1 => Just(1969u32),
        1 => Just(9999u32),
        1 => 0u32..=99_999,
    ];
    let fields = (
        select(DAYS),
        0u32..=99,
        select(MONTHS),
        year,
        0u32..=99,
        0u32..=99,
        0u32..=99,
        select(&["GMT", "UTC", "+0000", "PST", ""][..]),
    );
    (fields, 0u8..3).prop_map(
        |((wd, day, mon, year, h, m, s, zone), format)| match format {
            0 => format!("{wd}, {day:02} {mon} {year:04} {h:02}:{m:02}:{s:02} {zone}"),
            1 => format!(
                "{wd}, {day:02}-{mon}-{:02} {h:02}:{m:02}:{s:02} {zone}",
                year % 100
            ),
            _ => format!("{wd} {mon} {day:>2} {h:02}:{m:02}:{s:02} {year}"),
        },
    )
}
