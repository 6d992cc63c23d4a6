//! One change a delta round reports.

use serde_json::Value;
use switchboard_core::{Error, ErrorKind, Result};

/// What changed, in the order the service reported it.
///
/// ```
/// use serde_json::json;
/// use switchboard_sync::Change;
///
/// let gone = Change::from_record(json!({"id": "AAMk1", "@removed": {"reason": "deleted"}})).unwrap();
/// assert_eq!(gone, Change::Delete { id: "AAMk1".into(), reason: Some("deleted".into()) });
/// let kept = Change::from_record(json!({"id": "AAMk2", "subject": "hi"})).unwrap();
/// assert!(matches!(kept, Change::Upsert(_)));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Change {
    /// The record was created or changed: store it (a delta record may
    /// carry only the properties that changed, as Graph documents).
    Upsert(Value),
    /// The record is gone (`@removed` in Outlook and directory deltas, the
    /// `deleted` facet in drive deltas). `reason` is Graph's: `deleted`
    /// (or `changed`: moved out of scope, for directory objects).
    Delete {
        /// The record's id.
        id: String,
        /// Why, when the service said.
        reason: Option<String>,
    },
    /// The service lost the sync state (`410 Gone`, `syncStateNotFound`,
    /// `resyncRequired`...): a full round follows. Records not upserted
    /// again by its end are gone; reconcile then.
    Reset,
}

impl Change {
    /// The change a delta record stands for.
    pub fn from_record(record: Value) -> Result<Change> {
        let removed = record.get("@removed").or_else(|| record.get("deleted"));
        let Some(removed) = removed else {
            return Ok(Change::Upsert(record));
        };
        let id = record
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Decode,
                    "a delta record marked removed has no `id`: the change cannot be applied",
                )
            })?;
        let reason = removed
            .get("reason")
            .or_else(|| removed.get("state"))
            .and_then(Value::as_str)
            .map(str::to_string);
        Ok(Change::Delete {
            id: id.to_string(),
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn drive_deleted_facet_is_a_delete_and_a_removal_without_id_is_refused() {
        let c = Change::from_record(json!({"id": "01B", "deleted": {"state": "deleted"}})).unwrap();
        assert_eq!(
            c,
            Change::Delete {
                id: "01B".into(),
                reason: Some("deleted".into())
            }
        );
        let e = Change::from_record(json!({"@removed": {}})).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Decode);
        assert!(e.message().contains("`id`"));
    }
}
