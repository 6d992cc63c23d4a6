//! Delta queries report later changes and deletions.

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;

/// Runs a delta round to its end: (records, deltaLink).
async fn round(
    sb: &switchboard_microsoft365_sandbox::SandboxHandle,
    token: &str,
    start: &str,
) -> (Vec<serde_json::Value>, String) {
    let mut out = Vec::new();
    let mut link = start.to_string();
    for _ in 0..200 {
        let r = get(sb, token, &link).await;
        assert_eq!(r.status, 200, "{}", r.body);
        out.extend(r.body["value"].as_array().unwrap().iter().cloned());
        if let Some(next) = r.body["@odata.nextLink"].as_str() {
            link = next.to_string();
            continue;
        }
        let delta = r.body["@odata.deltaLink"]
            .as_str()
            .expect("last page has a deltaLink");
        assert!(delta.starts_with(sb.graph_url()));
        return (out, delta.to_string());
    }
    panic!("delta round did not end");
}

#[tokio::test]
async fn message_delta_reports_a_new_message_a_change_and_a_removal() {
    let sb = start(30).await;
    let token = user_token(&sb).await;
    let (first, link) = round(&sb, &token, "/me/mailFolders/inbox/messages/delta").await;
    assert_eq!(first.len(), 24);
    // Nothing changed: an empty round.
    let (none, link) = round(&sb, &token, &link).await;
    assert!(none.is_empty(), "{none:?}");
    // Change one, move another away, and receive a new one.
    let changed = first[0]["id"].as_str().unwrap();
    let moved = first[1]["id"].as_str().unwrap();
    let r = call(
        &sb,
        &token,
        Method::PATCH,
        &format!("/me/messages/{changed}"),
        Some(json!({"isRead": true, "categories": ["Red"]})),
        &[],
    )
    .await;
    assert_eq!(r.status, 200);
    let r = post(
        &sb,
        &token,
        &format!("/me/messages/{moved}/move"),
        json!({"destinationId": "archive"}),
    )
    .await;
    assert_eq!(r.status, 201);
    assert_ne!(r.body["id"], moved, "a move gives a new id");
    let me = get(&sb, &token, "/me").await.body;
    let r = post(&sb, &token, "/me/sendMail", json!({"message": {"subject": "note to self", "body": {"contentType": "text", "content": "hi"}, "toRecipients": [{"emailAddress": {"address": me["mail"]}}]}})).await;
    assert_eq!(r.status, 202);
    let (changes, _) = round(&sb, &token, &link).await;
    let removed: Vec<_> = changes
        .iter()
        .filter(|c| c.get("@removed").is_some())
        .collect();
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0]["id"], moved);
    assert_eq!(removed[0]["@removed"]["reason"], "deleted");
    assert!(
        changes
            .iter()
            .any(|c| c["id"] == changed && c["categories"][0] == "Red")
    );
    assert!(changes.iter().any(|c| c["subject"] == "note to self"));
    assert_eq!(changes.len(), 3);
    sb.shutdown().await;
}

#[tokio::test]
async fn users_delta_reports_a_rename_and_a_removal_with_maxpagesize() {
    let sb = start(31).await;
    let token = user_token(&sb).await;
    let r = call(
        &sb,
        &token,
        Method::GET,
        "/users/delta",
        None,
        &[("Prefer", "odata.maxpagesize=5")],
    )
    .await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 5);
    assert!(
        r.body["@odata.nextLink"]
            .as_str()
            .unwrap()
            .contains("$skiptoken=")
    );
    let (all, link) = round(&sb, &token, "/users/delta").await;
    assert_eq!(all.len(), sb.users().len());
    let users = sb.users();
    sb.rename_user(&users[2].id, "Renamed Person").unwrap();
    sb.remove_user(&users[5].id).unwrap();
    let (changes, link) = round(&sb, &token, &link).await;
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(
        changes
            .iter()
            .any(|c| c["id"] == users[2].id.as_str() && c["displayName"] == "Renamed Person")
    );
    assert!(
        changes
            .iter()
            .any(|c| c["id"] == users[5].id.as_str() && c["@removed"]["reason"] == "changed")
    );
    let (again, _) = round(&sb, &token, &link).await;
    assert!(again.is_empty());
    // A delta token from another query is refused.
    let bad = link.replace("/users/delta", "/me/mailFolders/inbox/messages/delta");
    assert_eq!(get(&sb, &token, &bad).await.status, 410);
    sb.shutdown().await;
}

/// A full round (no token) returns what exists now: a user removed before
/// it began is not reported ("resources that have been created and deleted
/// prior to the initial delta query won't be returned",
/// concepts/delta-query-overview.md); one removed during a tracked round is.
#[tokio::test]
async fn a_full_users_round_after_a_removal_has_exactly_the_live_users() {
    let sb = start(33).await;
    let token = user_token(&sb).await;
    let (_, link) = round(&sb, &token, "/users/delta").await;
    let seeded = sb.users();
    sb.remove_user(&seeded[4].id).unwrap();
    let live = sb.users();
    assert_eq!(live.len(), seeded.len() - 1);
    let (fresh, _) = round(&sb, &token, "/users/delta").await;
    assert_eq!(fresh.len(), live.len(), "{fresh:?}");
    assert!(fresh.iter().all(|u| u.get("@removed").is_none()));
    let mut ids: Vec<&str> = fresh.iter().map(|u| u["id"].as_str().unwrap()).collect();
    let mut expected: Vec<&str> = live.iter().map(|u| u.id.as_str()).collect();
    ids.sort_unstable();
    expected.sort_unstable();
    assert_eq!(ids, expected);
    // the round tracked from before the removal reports it
    let (tracked, _) = round(&sb, &token, &link).await;
    assert_eq!(tracked.len(), 1, "{tracked:?}");
    assert_eq!(tracked[0]["id"], seeded[4].id.as_str());
    assert_eq!(tracked[0]["@removed"]["reason"], "changed");
    sb.shutdown().await;
}

#[tokio::test]
async fn drive_and_calendar_view_delta_report_changes_and_deletions() {
    let sb = start(32).await;
    let token = user_token(&sb).await;
    let (items, drive_link) = round(&sb, &token, "/me/drive/root/delta").await;
    assert!(items.iter().any(|i| i.get("root").is_some()));
    let welcome = items.iter().find(|i| i["name"] == "welcome.txt").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = call(
        &sb,
        &token,
        Method::DELETE,
        &format!("/me/drive/items/{welcome}"),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, 204);
    let r = post(
        &sb,
        &token,
        "/me/drive/root/children",
        json!({"name": "New folder", "folder": {}}),
    )
    .await;
    assert_eq!(r.status, 201);
    let (changes, _) = round(&sb, &token, &drive_link).await;
    assert!(
        changes
            .iter()
            .any(|c| c["id"] == welcome.as_str() && c["deleted"]["state"] == "deleted")
    );
    assert!(changes.iter().any(|c| c["name"] == "New folder"));

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let day = now - now % 86_400;
    let start_s = iso(day);
    let end_s = iso(day + 14 * 86_400);
    let (events, cal_link) = round(
        &sb,
        &token,
        &format!("/me/calendarView/delta?startDateTime={start_s}&endDateTime={end_s}"),
    )
    .await;
    assert!(events.iter().any(|e| e["type"] == "occurrence"));
    let single = events
        .iter()
        .find(|e| e["type"] == "singleInstance" && e["isOrganizer"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = call(
        &sb,
        &token,
        Method::DELETE,
        &format!("/me/events/{single}"),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, 204);
    let start = iso(day + 2 * 86_400 + 13 * 3600);
    let end = iso(day + 2 * 86_400 + 14 * 3600);
    let r = post(&sb, &token, "/me/events", json!({"subject": "Delta check", "start": {"dateTime": start, "timeZone": "UTC"}, "end": {"dateTime": end, "timeZone": "UTC"}})).await;
    assert_eq!(r.status, 201);
    let (changes, _) = round(&sb, &token, &cal_link).await;
    assert!(
        changes
            .iter()
            .any(|c| c["id"] == single.as_str() && c["@removed"]["reason"] == "deleted")
    );
    assert!(changes.iter().any(|c| c["subject"] == "Delta check"));
    sb.shutdown().await;
}

#[tokio::test]
async fn contact_delta_per_folder_reports_creates_updates_and_removals() {
    let sb = start(33).await;
    let token = user_token(&sb).await;
    let folders = get(&sb, &token, "/me/contactFolders").await;
    let default = folders.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["displayName"] == "Contacts")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let start_path = format!("/me/contactFolders/{default}/contacts/delta");
    let (first, link) = round(&sb, &token, &start_path).await;
    assert!(!first.is_empty());
    let created = post(
        &sb,
        &token,
        &format!("/me/contactFolders/{default}/contacts"),
        json!({"givenName": "Ada", "surname": "Lovelace"}),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let gone = first[0]["id"].as_str().unwrap();
    let r = call(
        &sb,
        &token,
        Method::DELETE,
        &format!("/me/contacts/{gone}"),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, 204);
    let (changes, link) = round(&sb, &token, &link).await;
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(
        changes
            .iter()
            .any(|c| c["id"] == created.body["id"] && c["givenName"] == "Ada")
    );
    assert!(
        changes
            .iter()
            .any(|c| c["id"] == gone && c["@removed"]["reason"] == "deleted")
    );
    let (none, _) = round(&sb, &token, &link).await;
    assert!(none.is_empty(), "{none:?}");
    sb.shutdown().await;
}

#[tokio::test]
async fn expired_delta_tokens_are_410_with_each_resources_code() {
    let sb = switchboard_microsoft365_sandbox::Sandbox::start(
        switchboard_microsoft365_sandbox::SandboxConfig::new(34)
            .with_delta_token_max_age(Some(std::time::Duration::from_secs(3600))),
    )
    .await
    .unwrap();
    let token = user_token(&sb).await;
    let (_, messages) = round(&sb, &token, "/me/mailFolders/inbox/messages/delta").await;
    let (_, users) = round(&sb, &token, "/users/delta").await;
    let (_, drive) = round(&sb, &token, "/me/drive/root/delta").await;
    // still fresh
    assert_eq!(get(&sb, &token, &messages).await.status, 200);
    sb.advance_clock(std::time::Duration::from_secs(3601))
        .unwrap();
    let r = get(&sb, &token, &messages).await;
    assert_eq!(r.status, 410, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "syncStateNotFound");
    let r = get(&sb, &token, &users).await;
    assert_eq!(r.status, 410);
    assert_eq!(r.body["error"]["code"], "resyncRequired");
    let location = r.headers["location"].to_str().unwrap().to_string();
    assert!(location.ends_with("/v1.0/users/delta"), "{location}");
    // the Location starts a full round again
    let (again, _) = round(&sb, &token, &location).await;
    assert!(!again.is_empty());
    let r = get(&sb, &token, &drive).await;
    assert_eq!(r.status, 410);
    assert_eq!(r.body["error"]["code"], "resyncChangesApplyDifferences");
    sb.shutdown().await;
}

#[tokio::test]
async fn token_latest_starts_from_now() {
    let sb = start(35).await;
    let token = user_token(&sb).await;
    let r = get(&sb, &token, "/me/drive/root/delta?token=latest").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["value"].as_array().unwrap().is_empty());
    let link = r.body["@odata.deltaLink"].as_str().unwrap().to_string();
    let r = call(
        &sb,
        &token,
        Method::PUT,
        "/me/drive/root:/latest.txt:/content",
        None,
        &[],
    )
    .await;
    assert!(r.status == 201 || r.status == 200, "{}", r.body);
    let (changes, _) = round(&sb, &token, &link).await;
    assert!(
        changes.iter().any(|c| c["name"] == "latest.txt"),
        "{changes:?}"
    );
    // only what changed since: the new file and the folder it went into
    assert!(
        changes
            .iter()
            .all(|c| c["name"] == "latest.txt" || c.get("root").is_some()),
        "{changes:?}"
    );
    sb.shutdown().await;
}
