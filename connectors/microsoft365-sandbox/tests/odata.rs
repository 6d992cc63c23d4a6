//! OData query options as Graph applies them.

mod common;

use common::*;
use reqwest::Method;

#[tokio::test]
async fn top_pages_through_absolute_next_links_with_opaque_skiptokens() {
    let sb = start(20).await;
    let token = user_token(&sb).await;
    let r = get(&sb, &token, "/users?$top=5").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["value"].as_array().unwrap().len(), 5);
    assert!(
        r.body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("/v1.0/$metadata#users")
    );
    let next = r.body["@odata.nextLink"].as_str().unwrap();
    assert!(
        next.starts_with(&format!("{}/v1.0/users?", sb.graph_url())),
        "{next}"
    );
    assert!(next.contains("$skiptoken="));
    assert!(next.contains("$top=5"));
    let (all, pages) = all_pages(&sb, &token, "/users?$top=5", &[]).await;
    assert_eq!(all.len(), sb.users().len());
    assert_eq!(pages, 3);
    let mut ids: Vec<_> = all
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), sb.users().len());
    // A tampered skiptoken is refused.
    let bad = next.replace("$skiptoken=", "$skiptoken=x");
    assert_eq!(get(&sb, &token, &bad).await.status, 400);
    // $top out of range.
    assert_eq!(get(&sb, &token, "/users?$top=0").await.status, 400);
    sb.shutdown().await;
}

#[tokio::test]
async fn select_filter_orderby_and_count() {
    let sb = start(21).await;
    let token = user_token(&sb).await;
    let users = sb.users();
    // $select returns exactly the selected properties of directory objects
    // (no `id` unless selected) and names them in the context URL.
    let r = get(&sb, &token, "/users?$select=displayName,department").await;
    let first = r.body["value"][0].as_object().unwrap();
    let mut keys: Vec<_> = first.keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["department", "displayName"]);
    assert!(
        r.body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("/v1.0/$metadata#users(displayName,department)"),
        "{}",
        r.body["@odata.context"]
    );
    let r = get(&sb, &token, "/users?$select=id,mail").await;
    let mut keys: Vec<_> = r.body["value"][0]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    keys.sort();
    assert_eq!(keys, ["id", "mail"]);
    let r = get(&sb, &token, "/me?$select=displayName").await;
    assert_eq!(
        r.body
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>(),
        ["@odata.context", "displayName"]
    );
    assert!(
        r.body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("/v1.0/$metadata#users(displayName)/$entity")
    );
    // Outlook items keep their id under $select.
    let r = get(&sb, &token, "/me/messages?$select=subject&$top=1").await;
    assert!(r.body["value"][0]["id"].is_string());
    assert!(
        r.body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("/messages(subject)")
    );
    // Default properties without $select: no department.
    let r = get(&sb, &token, "/users").await;
    assert!(r.body["value"][0].get("department").is_none());
    assert!(r.body["value"][0].get("userPrincipalName").is_some());
    // eq and startswith.
    let target = &users[4];
    let r = get(
        &sb,
        &token,
        &format!("/users?$filter=displayName eq '{}'", target.display_name),
    )
    .await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["value"][0]["id"], target.id.as_str());
    let prefix = &target.display_name[..2];
    let r = get(
        &sb,
        &token,
        &format!("/users?$filter=startswith(displayName,'{prefix}')"),
    )
    .await;
    let expected = users
        .iter()
        .filter(|u| {
            u.display_name
                .to_lowercase()
                .starts_with(&prefix.to_lowercase())
        })
        .count();
    assert_eq!(r.body["value"].as_array().unwrap().len(), expected);
    // ne and endswith need ConsistencyLevel: eventual and $count=true.
    let r = get(&sb, &token, "/users?$filter=userType ne 'Guest'").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["code"], "Request_UnsupportedQuery");
    let r = call(
        &sb,
        &token,
        Method::GET,
        "/users?$filter=userType ne 'Guest'&$count=true",
        None,
        &[("ConsistencyLevel", "eventual")],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["@odata.count"], users.len() - 1);
    // Without the header, $count=true is ignored on directory objects
    // (aad-advanced-queries.md): no @odata.count, no error.
    let r = get(&sb, &token, "/users?$count=true").await;
    assert_eq!(r.status, 200);
    assert!(r.body.get("@odata.count").is_none());
    // $orderby.
    let r = get(
        &sb,
        &token,
        "/users?$orderby=displayName desc&$select=displayName",
    )
    .await;
    let names: Vec<String> = r.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["displayName"].as_str().unwrap().to_lowercase())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(names, sorted);
    // An unknown property is a 400 naming it.
    let r = get(&sb, &token, "/users?$select=nosuchthing").await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nosuchthing")
    );
    // $search needs ConsistencyLevel.
    let first_name = target.display_name.split(' ').next().unwrap();
    assert_eq!(
        get(
            &sb,
            &token,
            &format!("/users?$search=\"displayName:{first_name}\"")
        )
        .await
        .status,
        400
    );
    let r = call(
        &sb,
        &token,
        Method::GET,
        &format!("/users?$search=\"displayName:{first_name}\""),
        None,
        &[("ConsistencyLevel", "eventual")],
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(
        r.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["id"] == target.id.as_str())
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn messages_filter_and_maxpagesize_preference() {
    let sb = start(22).await;
    let token = user_token(&sb).await;
    let r = call(
        &sb,
        &token,
        Method::GET,
        "/me/mailFolders/inbox/messages",
        None,
        &[("Prefer", "odata.maxpagesize=7")],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["value"].as_array().unwrap().len(), 7);
    assert_eq!(r.headers["preference-applied"], "odata.maxpagesize=7");
    let received: Vec<&str> = r.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["receivedDateTime"].as_str().unwrap())
        .collect();
    let mut sorted = received.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(received, sorted, "newest first");
    let r = get(
        &sb,
        &token,
        "/me/messages?$filter=isRead eq false&$top=100&$count=true",
    )
    .await;
    assert!(
        r.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["isRead"] == false)
    );
    assert_eq!(
        r.body["@odata.count"].as_u64().unwrap() as usize,
        r.body["value"].as_array().unwrap().len()
    );
    let r = get(
        &sb,
        &token,
        "/me/messages?$filter=hasAttachments eq true&$select=subject,hasAttachments",
    )
    .await;
    assert!(!r.body["value"].as_array().unwrap().is_empty());
    for m in r.body["value"].as_array().unwrap() {
        assert_eq!(m["hasAttachments"], true);
        assert!(m.get("body").is_none());
    }
    sb.shutdown().await;
}

/// `$skip` is not supported on directory objects, and `$filter` with
/// `$orderby` is an advanced query: without `ConsistencyLevel: eventual`
/// and `$count=true` Graph answers 400 `Request_UnsupportedQuery`.
#[tokio::test]
async fn users_refuse_skip_and_filter_with_orderby_outside_advanced_queries() {
    let sb = start(27).await;
    let token = user_token(&sb).await;
    let users = sb.users();
    let r = get(&sb, &token, "/users?$skip=2").await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "Request_BadRequest");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("$skip")
    );
    // Outlook collections page with $skip.
    let all = get(&sb, &token, "/me/messages?$top=3").await;
    let skipped = get(&sb, &token, "/me/messages?$top=2&$skip=1").await;
    assert_eq!(skipped.status, 200);
    assert_eq!(skipped.body["value"][0]["id"], all.body["value"][1]["id"]);

    let prefix = &users[0].display_name[..1];
    let query = format!("/users?$filter=startswith(displayName,'{prefix}')&$orderby=displayName");
    let r = get(&sb, &token, &query).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "Request_UnsupportedQuery");
    // The header alone is not enough: $count=true too.
    let r = call(
        &sb,
        &token,
        Method::GET,
        &query,
        None,
        &[("ConsistencyLevel", "eventual")],
    )
    .await;
    assert_eq!(r.status, 400);
    let r = call(
        &sb,
        &token,
        Method::GET,
        &format!("{query}&$count=true"),
        None,
        &[("ConsistencyLevel", "eventual")],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let names: Vec<&str> = r.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["displayName"].as_str().unwrap())
        .collect();
    let mut expected: Vec<&str> = users
        .iter()
        .filter(|u| {
            u.display_name
                .to_lowercase()
                .starts_with(&prefix.to_lowercase())
        })
        .map(|u| u.display_name.as_str())
        .collect();
    expected.sort_by_key(|n| n.to_lowercase());
    assert!(!expected.is_empty());
    assert_eq!(names, expected);
    assert_eq!(r.body["@odata.count"], expected.len());
    // $filter alone and $orderby alone work by default.
    assert_eq!(
        get(&sb, &token, &query.replace("&$orderby=displayName", ""))
            .await
            .status,
        200
    );
    assert_eq!(
        get(&sb, &token, "/users?$orderby=displayName").await.status,
        200
    );
    sb.shutdown().await;
}
