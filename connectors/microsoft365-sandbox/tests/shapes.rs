//! Response property names checked against Microsoft's type list, and the
//! shipped permission table against Microsoft's permission catalogue. Both
//! references are small fixtures in `tests/fixtures` (sources in
//! `tests/fixtures/SOURCES.md`; `scripts/reference-fixtures.sh` regenerates
//! them from the reference data when it sits beside the repository).

mod common;

use std::collections::{HashMap, HashSet};

use common::*;
use serde_json::Value;

/// Type name → every property and navigation name, with base types folded in.
fn load_types() -> HashMap<String, HashSet<String>> {
    let mut out: HashMap<String, HashSet<String>> = HashMap::new();
    let v: Value = serde_json::from_str(include_str!("fixtures/types.json")).unwrap();
    for (name, t) in v["microsoft.graph"].as_object().unwrap() {
        let set = out.entry(name.clone()).or_default();
        for key in ["properties", "navigationProperties"] {
            for p in t[key].as_array().unwrap() {
                set.insert(p.as_str().unwrap().to_string());
            }
        }
    }
    // Base types are not folded into the reference lists.
    let bases: &[(&str, &[&str])] = &[
        ("user", &["directoryObject", "entity"]),
        ("group", &["directoryObject", "entity"]),
        ("message", &["outlookItem", "entity"]),
        ("event", &["outlookItem", "entity"]),
        ("mailFolder", &["entity"]),
        ("calendar", &["entity"]),
        ("calendarGroup", &["entity"]),
        ("driveItem", &["baseItem", "entity"]),
        ("drive", &["baseItem", "entity"]),
        ("fileAttachment", &["attachment", "entity"]),
        ("permission", &["entity"]),
        ("profilePhoto", &["entity"]),
        ("attendee", &["attendeeBase", "recipient"]),
    ];
    for (t, chain) in bases {
        let mut all = out.get(*t).cloned().unwrap_or_default();
        for b in *chain {
            all.extend(out.get(*b).cloned().unwrap_or_default());
        }
        out.insert(t.to_string(), all);
    }
    out
}

fn check(types: &HashMap<String, HashSet<String>>, type_name: &str, value: &Value, what: &str) {
    let allowed = types
        .get(type_name)
        .unwrap_or_else(|| panic!("no reference type {type_name}"));
    for key in value.as_object().unwrap().keys() {
        if key.starts_with('@') {
            continue;
        }
        assert!(
            allowed.contains(key),
            "{what}: property '{key}' is not on microsoft.graph.{type_name}"
        );
    }
}

fn check_nested(
    types: &HashMap<String, HashSet<String>>,
    value: &Value,
    nested: &[(&str, &str)],
    what: &str,
) {
    for (prop, t) in nested {
        match &value[*prop] {
            Value::Object(_) => check(types, t, &value[*prop], &format!("{what}.{prop}")),
            Value::Array(items) => {
                for i in items {
                    check(types, t, i, &format!("{what}.{prop}[]"));
                }
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn graph_responses_use_the_reference_property_names() {
    let types = load_types();
    let sb = start(80).await;
    let token = user_token(&sb).await;
    let user = get(&sb, &token, "/users?$select=*").await.body["value"][0].clone();
    check(&types, "user", &user, "user");
    let groups = get(&sb, &token, "/me/memberOf").await;
    for g in groups.body["value"].as_array().unwrap() {
        check(&types, "group", g, "memberOf");
    }
    check(
        &types,
        "profilePhoto",
        &get(&sb, &token, "/me/photo").await.body,
        "photo",
    );

    let msgs = get(&sb, &token, "/me/messages?$top=30").await;
    for m in msgs.body["value"].as_array().unwrap() {
        check(&types, "message", m, "message");
        check_nested(
            &types,
            m,
            &[
                ("body", "itemBody"),
                ("from", "recipient"),
                ("toRecipients", "recipient"),
                ("flag", "followupFlag"),
            ],
            "message",
        );
    }
    let with_att = msgs.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["hasAttachments"] == true)
        .unwrap();
    let atts = get(
        &sb,
        &token,
        &format!(
            "/me/messages/{}/attachments",
            with_att["id"].as_str().unwrap()
        ),
    )
    .await;
    for a in atts.body["value"].as_array().unwrap() {
        check(&types, "fileAttachment", a, "attachment");
    }
    for f in get(&sb, &token, "/me/mailFolders").await.body["value"]
        .as_array()
        .unwrap()
    {
        check(&types, "mailFolder", f, "mailFolder");
    }
    check(
        &types,
        "mailboxSettings",
        &get(&sb, &token, "/me/mailboxSettings").await.body,
        "mailboxSettings",
    );

    for c in get(&sb, &token, "/me/calendars").await.body["value"]
        .as_array()
        .unwrap()
    {
        check(&types, "calendar", c, "calendar");
    }
    for g in get(&sb, &token, "/me/calendarGroups").await.body["value"]
        .as_array()
        .unwrap()
    {
        check(&types, "calendarGroup", g, "calendarGroup");
    }
    let day = today();
    let view = get(
        &sb,
        &token,
        &format!(
            "/me/calendarView?startDateTime={}&endDateTime={}&$top=100",
            iso(day - 7 * 86_400),
            iso(day + 7 * 86_400)
        ),
    )
    .await;
    for e in view.body["value"].as_array().unwrap() {
        check(&types, "event", e, "event");
        check_nested(
            &types,
            e,
            &[
                ("start", "dateTimeTimeZone"),
                ("end", "dateTimeTimeZone"),
                ("location", "location"),
                ("attendees", "attendee"),
                ("organizer", "recipient"),
                ("responseStatus", "responseStatus"),
                ("body", "itemBody"),
            ],
            "event",
        );
    }
    let events = get(&sb, &token, "/me/events?$top=100").await;
    let master = events.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "seriesMaster")
        .unwrap();
    check_nested(
        &types,
        master,
        &[("recurrence", "patternedRecurrence")],
        "event",
    );
    check_nested(
        &types,
        &master["recurrence"],
        &[
            ("pattern", "recurrencePattern"),
            ("range", "recurrenceRange"),
        ],
        "recurrence",
    );

    let drive = get(&sb, &token, "/me/drive").await.body;
    check(&types, "drive", &drive, "drive");
    check_nested(
        &types,
        &drive,
        &[("quota", "quota"), ("owner", "identitySet")],
        "drive",
    );
    for i in get(&sb, &token, "/me/drive/root/children").await.body["value"]
        .as_array()
        .unwrap()
    {
        check(&types, "driveItem", i, "driveItem");
        check_nested(
            &types,
            i,
            &[
                ("parentReference", "itemReference"),
                ("file", "file"),
                ("folder", "folder"),
                ("fileSystemInfo", "fileSystemInfo"),
                ("createdBy", "identitySet"),
            ],
            "driveItem",
        );
    }
    let item = get(&sb, &token, "/me/drive/root:/welcome.txt").await.body;
    let link = post(
        &sb,
        &token,
        &format!(
            "/me/drive/items/{}/createLink",
            item["id"].as_str().unwrap()
        ),
        serde_json::json!({"type": "edit", "scope": "anonymous"}),
    )
    .await;
    check(&types, "permission", &link.body, "permission");
    check_nested(&types, &link.body, &[("link", "sharingLink")], "permission");
    let session = post(
        &sb,
        &token,
        "/me/drive/root:/x.bin:/createUploadSession",
        serde_json::json!({}),
    )
    .await;
    check(&types, "uploadSession", &session.body, "uploadSession");
    sb.shutdown().await;
}

#[test]
fn the_shipped_permission_table_matches_microsofts_catalogue() {
    let catalogue: Value =
        serde_json::from_str(include_str!("fixtures/permission-catalogue.json")).unwrap();
    let shipped: Value = serde_json::from_str(include_str!("../data/permissions.json")).unwrap();
    let ops = shipped["operations"].as_object().unwrap();
    let endpoints = catalogue["endpoints"].as_array().unwrap();
    assert_eq!(ops.len(), endpoints.len());
    for e in endpoints {
        let key = format!(
            "{} {}",
            e["method"].as_str().unwrap(),
            e["delegated_path"].as_str().unwrap()
        );
        let op = ops
            .get(&key)
            .unwrap_or_else(|| panic!("{key} missing from data/permissions.json"));
        for (ours, theirs) in [
            ("delegated", "delegated_work_all"),
            ("application", "application_all"),
        ] {
            let listed: Vec<&Value> = e[theirs].as_array().unwrap().iter().collect();
            // Every permission Microsoft lists is there; additions only where documented.
            for p in &listed {
                assert!(
                    op[ours].as_array().unwrap().contains(p),
                    "{key} {ours} lacks {p}"
                );
            }
            if op[ours].as_array().unwrap().len() != listed.len() {
                assert!(
                    op.get("same_as").is_some() || op.get("note").is_some(),
                    "{key} {ours} differs without a note"
                );
            }
        }
    }
}
