//! Action parameters are matched without regard to case.
//!
//! Graph's metadata names the parameters of its actions in PascalCase
//! (`Message`, `SaveToSentItems`, `Comment`, `DestinationId`, `Schedules`),
//! and Microsoft's SDKs send them so; the docs write them in camelCase
//! (`message`, `saveToSentItems`). Graph accepts both. The sandbox's
//! handlers read the camelCase names, so before routing, the top-level keys
//! of a POSTed action's JSON body are renamed to the names below when they
//! match one without regard to case. Nested objects (the `message` itself)
//! keep their property names.
//!
//! The parameter lists are those of the request bodies in the v1.0 OpenAPI
//! descriptions (`openapi-v1.0-2023/Users.Actions.yml`, `Files.yml`,
//! `Mail.yml`, `Calendar.yml` in the reference data), for each action the
//! sandbox serves.

use bytes::Bytes;
use serde_json::{Map, Value};

/// Action name (lower case) → its parameters as the sandbox reads them.
/// An action name that several types share (`copy`, `forward`,
/// `createUploadSession`) lists the parameters of all of them.
const ACTIONS: &[(&str, &[&str])] = &[
    ("sendmail", &["message", "saveToSentItems"]),
    ("reply", &["message", "comment"]),
    ("replyall", &["message", "comment"]),
    ("forward", &["toRecipients", "message", "comment"]),
    ("createreply", &["message", "comment"]),
    ("createreplyall", &["message", "comment"]),
    ("createforward", &["toRecipients", "message", "comment"]),
    ("move", &["destinationId"]),
    ("copy", &["destinationId", "parentReference", "name"]),
    ("accept", &["sendResponse", "comment"]),
    ("decline", &["proposedNewTime", "sendResponse", "comment"]),
    (
        "tentativelyaccept",
        &["proposedNewTime", "sendResponse", "comment"],
    ),
    ("cancel", &["comment"]),
    (
        "getschedule",
        &[
            "schedules",
            "startTime",
            "endTime",
            "availabilityViewInterval",
        ],
    ),
    (
        "findmeetingtimes",
        &[
            "attendees",
            "locationConstraint",
            "timeConstraint",
            "meetingDuration",
            "maxCandidates",
            "isOrganizerOptional",
            "returnSuggestionReasons",
            "minimumAttendeePercentage",
        ],
    ),
    (
        "createuploadsession",
        &["item", "deferCommit", "attachmentItem"],
    ),
    (
        "createlink",
        &[
            "type",
            "scope",
            "expirationDateTime",
            "password",
            "message",
            "retainInheritedPermissions",
        ],
    ),
    (
        "invite",
        &[
            "requireSignIn",
            "roles",
            "sendInvitation",
            "message",
            "recipients",
            "retainInheritedPermissions",
            "expirationDateTime",
            "password",
        ],
    ),
];

/// The parameters of the action that `last_segment` names, if it names one
/// (with or without the `microsoft.graph.` namespace).
fn parameters(last_segment: &str) -> Option<&'static [&'static str]> {
    let lower = last_segment.to_ascii_lowercase();
    let name = lower.strip_prefix("microsoft.graph.").unwrap_or(&lower);
    ACTIONS
        .iter()
        .find(|(action, _)| *action == name)
        .map(|(_, params)| *params)
}

/// The body of a POST to `last_segment` with its action parameters renamed
/// to the sandbox's spelling. Anything else (not an action, not a JSON
/// object, no key to rename) is returned as it came.
pub(crate) fn canonical(last_segment: &str, body: Bytes) -> Bytes {
    let Some(params) = parameters(last_segment) else {
        return body;
    };
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&body) else {
        return body;
    };
    let needs_renaming = fields
        .keys()
        .any(|k| params.iter().any(|p| p.eq_ignore_ascii_case(k) && p != k));
    if !needs_renaming {
        return body;
    }
    let mut out = Map::with_capacity(fields.len());
    for (key, value) in fields {
        let name = params
            .iter()
            .find(|p| p.eq_ignore_ascii_case(&key))
            .map(|p| p.to_string())
            .unwrap_or(key);
        out.insert(name, value);
    }
    Bytes::from(Value::Object(out).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn renamed(segment: &str, body: Value) -> Value {
        let out = canonical(segment, Bytes::from(body.to_string()));
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn pascal_case_parameters_get_the_docs_spelling() {
        let v = renamed(
            "sendMail",
            json!({"Message": {"subject": "s", "Body": 1}, "SaveToSentItems": false}),
        );
        assert_eq!(
            v,
            json!({"message": {"subject": "s", "Body": 1}, "saveToSentItems": false})
        );
        let v = renamed(
            "microsoft.graph.getSchedule",
            json!({"Schedules": ["a@b.example"], "StartTime": {}, "EndTime": {}, "AvailabilityViewInterval": 30}),
        );
        assert_eq!(
            v,
            json!({"schedules": ["a@b.example"], "startTime": {}, "endTime": {}, "availabilityViewInterval": 30})
        );
    }

    #[test]
    fn other_keys_paths_and_bodies_are_left_alone() {
        assert_eq!(
            renamed("move", json!({"DestinationId": "inbox", "Other": 1})),
            json!({"destinationId": "inbox", "Other": 1})
        );
        // not an action
        assert_eq!(
            renamed("messages", json!({"Subject": "x"})),
            json!({"Subject": "x"})
        );
        // not a JSON object
        let raw = Bytes::from_static(b"not json");
        assert_eq!(canonical("reply", raw.clone()), raw);
    }
}
