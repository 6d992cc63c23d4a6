//! Tables for people, JSON and NDJSON for scripts.
//!
//! Tables go to stdout and wrap to the terminal's width; when stdout is not
//! a terminal nothing is wrapped, so ids and links stay whole in pipes. JSON is pretty-printed, one document per
//! command; NDJSON is one compact JSON value a line. Both are stable for
//! scripts: fields are only ever added.

use std::io::Write;

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;
use switchboard_core::{Error, ErrorKind, Result};

use crate::cli::Output;
use crate::terminal_text;

/// A table with a header row that wraps to the terminal's width. Every
/// header and cell is made safe for a terminal ([`terminal_text::one_line`]).
pub fn table(header: &[&str], rows: Vec<Vec<String>>) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(
            header
                .iter()
                .map(|h| terminal_text::one_line(h).into_owned()),
        );
    add_rows(&mut table, rows);
    table
}

/// A two-column table of names and values, without a header; cells are
/// made safe for a terminal like [`table`]'s.
pub fn kv_table(rows: Vec<Vec<String>>) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    add_rows(&mut table, rows);
    table
}

fn add_rows(table: &mut Table, rows: Vec<Vec<String>>) {
    for row in rows {
        table.add_row(
            row.into_iter()
                .map(|cell| match terminal_text::one_line(&cell) {
                    std::borrow::Cow::Borrowed(_) => cell,
                    std::borrow::Cow::Owned(safe) => safe,
                }),
        );
    }
}

/// A human message on stderr (errors, warnings, notes that may quote
/// remote text), made safe for a terminal ([`terminal_text::lines`]).
pub fn eprintln_human(text: &str) {
    eprintln!("{}", terminal_text::lines(text));
}

fn encode_error(e: serde_json::Error) -> Error {
    Error::new(
        ErrorKind::Decode,
        format!("could not write JSON output: {e}"),
    )
}

/// Pretty JSON on stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(encode_error)?;
    println_out(&text)
}

/// One compact JSON line on stdout.
pub fn print_json_line<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    let text = serde_json::to_string(value).map_err(encode_error)?;
    println_out(&text)
}

/// A line on stdout; a closed pipe (`| head`) is not an error worth a panic.
pub fn println_out(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        // the reader went away (`| head`): nothing more is wanted
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(Error::new(ErrorKind::Transport, "could not write to stdout").with_source(e)),
    }
}

/// Rows in the chosen format: a table built by `to_table`, a JSON array, or
/// one JSON line per row.
pub fn emit_rows<T: Serialize>(
    output: Output,
    rows: &[T],
    to_table: impl FnOnce(&[T]) -> Table,
) -> Result<()> {
    match output {
        Output::Table => println_out(&to_table(rows).to_string()),
        Output::Json => print_json(rows),
        Output::Ndjson => {
            for row in rows {
                print_json_line(row)?;
            }
            Ok(())
        }
    }
}

/// One document in the chosen format (`to_table` for people).
pub fn emit_one<T: Serialize>(
    output: Output,
    value: &T,
    to_table: impl FnOnce(&T) -> String,
) -> Result<()> {
    match output {
        Output::Table => println_out(&to_table(value)),
        Output::Json => print_json(value),
        Output::Ndjson => print_json_line(value),
    }
}
