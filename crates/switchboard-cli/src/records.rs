//! JSON records as table rows: a few telling columns, nested values shown
//! the way a person reads them (an email address, a date and time zone).

use comfy_table::Table;
use serde_json::Value;

use crate::output::{kv_table, table};

/// Columns shown first when records have them, in this order.
const PREFERRED: &[&str] = &[
    "displayName",
    "name",
    "subject",
    "userPrincipalName",
    "mail",
    "jobTitle",
    "start",
    "end",
    "from",
    "receivedDateTime",
    "size",
    "lastModifiedDateTime",
    "id",
];

/// The most columns a default record table has.
const MAX_COLUMNS: usize = 6;

/// The longest cell in a table; longer values are cut in the middle.
const MAX_CELL: usize = 80;

/// The columns of a default record table: preferred keys first, then
/// other plain keys in the order the records have them.
pub fn default_columns(records: &[Value]) -> Vec<String> {
    let mut keys: Vec<&str> = Vec::new();
    for record in records {
        if let Value::Object(map) = record {
            for k in map.keys() {
                if !k.starts_with('@') && !keys.contains(&k.as_str()) {
                    keys.push(k);
                }
            }
        }
    }
    let mut columns: Vec<String> = PREFERRED
        .iter()
        .filter(|p| keys.contains(p))
        .take(MAX_COLUMNS)
        .map(|p| p.to_string())
        .collect();
    for k in keys {
        if columns.len() >= MAX_COLUMNS {
            break;
        }
        let plain = records.iter().all(|r| {
            r.get(k)
                .is_none_or(|v| !matches!(v, Value::Object(_) | Value::Array(_)))
        });
        if plain && !columns.iter().any(|c| c == k) {
            columns.push(k.to_string());
        }
    }
    if columns.is_empty() {
        columns.push("value".to_string());
    }
    columns
}

/// A record table with the given columns (default: [`default_columns`]).
pub fn record_table(records: &[Value], columns: Option<&[String]>) -> Table {
    let columns = match columns {
        Some(c) if !c.is_empty() => c.to_vec(),
        _ => default_columns(records),
    };
    let rows = records
        .iter()
        .map(|r| {
            columns
                .iter()
                .map(|c| match r {
                    Value::Object(_) => r.get(c).map(cell).unwrap_or_default(),
                    other if c == "value" => cell(other),
                    _ => String::new(),
                })
                .collect()
        })
        .collect();
    let header: Vec<&str> = columns.iter().map(String::as_str).collect();
    table(&header, rows)
}

/// One object as a name / value table (top-level fields, `@odata` ones left out).
pub fn object_table(value: &Value) -> Table {
    let rows = match value {
        Value::Object(map) => map
            .iter()
            .filter(|(k, _)| !k.starts_with('@'))
            .map(|(k, v)| vec![k.clone(), cell(v)])
            .collect(),
        other => vec![vec!["value".to_string(), cell(other)]],
    };
    kv_table(rows)
}

/// A value as a table cell.
pub fn cell(value: &Value) -> String {
    shorten(&full_cell(value))
}

fn full_cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => items.iter().map(full_cell).collect::<Vec<_>>().join(", "),
        Value::Object(map) => {
            // dateTimeTimeZone: "2024-05-01T09:00:00 (UTC)"
            if let Some(Value::String(dt)) = map.get("dateTime") {
                let dt = dt.split('.').next().unwrap_or(dt);
                return match map.get("timeZone").and_then(Value::as_str) {
                    Some(tz) => format!("{dt} ({tz})"),
                    None => dt.to_string(),
                };
            }
            // recipient: {"emailAddress": {"name", "address"}}
            if let Some(inner) = map.get("emailAddress") {
                return full_cell(inner);
            }
            if let Some(Value::String(address)) = map.get("address") {
                return match map.get("name").and_then(Value::as_str) {
                    Some(name) if !name.is_empty() && name != address => {
                        format!("{name} <{address}>")
                    }
                    _ => address.clone(),
                };
            }
            for key in ["displayName", "name", "id"] {
                if let Some(Value::String(s)) = map.get(key) {
                    return s.clone();
                }
            }
            serde_json::to_string(value).unwrap_or_default()
        }
    }
}

fn shorten(text: &str) -> String {
    let count = text.chars().count();
    if count <= MAX_CELL {
        return text.to_string();
    }
    let head: String = text.chars().take(MAX_CELL / 2 - 1).collect();
    let tail: String = text.chars().skip(count - (MAX_CELL / 2 - 1)).collect();
    format!("{head}…{tail}")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn preferred_columns_first_and_nested_values_readable() {
        let records = vec![json!({
            "@odata.etag": "W/1",
            "id": "AAMk",
            "subject": "Plan",
            "from": {"emailAddress": {"name": "Ada", "address": "ada@example.com"}},
            "start": {"dateTime": "2024-05-01T09:00:00.0000000", "timeZone": "UTC"},
            "isRead": false,
            "body": {"content": "x"}
        })];
        assert_eq!(
            default_columns(&records),
            ["subject", "start", "from", "id", "isRead"]
        );
        let text = record_table(&records, None).to_string();
        assert!(text.contains("Ada <ada@example.com>"), "{text}");
        assert!(text.contains("2024-05-01T09:00:00 (UTC)"), "{text}");
        assert!(!text.contains("etag"), "{text}");
    }

    #[test]
    fn long_values_are_cut_in_the_middle() {
        let long = "a".repeat(50) + &"b".repeat(50);
        let c = cell(&Value::String(long));
        assert_eq!(c.chars().count(), 79);
        assert!(c.starts_with("aaa") && c.ends_with("bbb") && c.contains('…'));
    }
}
