//! Tables for people, JSON for scripts.

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;

/// A table with a header row that wraps to the terminal's width.
pub fn table(header: &[&str], rows: Vec<Vec<String>>) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().copied());
    for row in rows {
        table.add_row(row);
    }
    table
}

/// Pretty JSON on stdout.
pub fn print_json<T: Serialize>(value: &T) -> Result<(), switchboard_core::Error> {
    let text = serde_json::to_string_pretty(value).map_err(|e| {
        switchboard_core::Error::new(
            switchboard_core::ErrorKind::Decode,
            format!("could not write JSON output: {e}"),
        )
    })?;
    println!("{text}");
    Ok(())
}
