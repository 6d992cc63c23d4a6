//! Users through the engine against wiremock, in both variants: the exact
//! request that reaches Graph and what the caller gets back, with response
//! bodies from Microsoft's docs.

mod common;

use common::*;
use serde_json::json;
use switchboard_core::ErrorKind;
use switchboard_core::paging::ContinuationKind;
use wiremock::ResponseTemplate;

#[tokio::test]
async fn list_users_pages_through_next_links() {
    // The same path in both variants: the directory, not a principal.
    for who in BOTH {
        let case = Case::get("users.list_users", "/users")
            .args(json!({"top": 2, "select": ["displayName", "mail"], "filter": "accountEnabled eq true"}))
            .query(&[
                ("$top", "2"),
                ("$select", "displayName,mail"),
                ("$filter", "accountEnabled eq true"),
            ]);
        let page = fixture("user-list");
        let listing = paged(who, &case, page.clone(), page, Ending::Complete).await;
        assert_eq!(listing.records.len(), 2);
        assert_eq!(listing.records[0], fixture("user-list")["value"][0]);
        assert!(
            listing.continuation.is_none(),
            "a complete listing has nothing to resume"
        );
    }
}

#[tokio::test]
async fn list_users_with_search_sends_consistency_level_eventual() {
    for who in BOTH {
        // A plain $search needs the header but not $count.
        let case = Case::get("users.list_users", "/users")
            .args(json!({"search": "\"displayName:wa\""}))
            .query(&[("$search", "\"displayName:wa\"")])
            .header("ConsistencyLevel", "eventual");
        let listing = paged(
            who,
            &case,
            fixture("user-list"),
            fixture("user-list"),
            Ending::Complete,
        )
        .await;
        assert_eq!(listing.records.len(), 2);
        // An advanced $filter (endsWith) needs the header and $count=true.
        let case = Case::get("users.list_users", "/users")
            .args(json!({"filter": "endsWith(mail,'@contoso.com')"}))
            .query(&[
                ("$filter", "endsWith(mail,'@contoso.com')"),
                ("$count", "true"),
            ])
            .header("ConsistencyLevel", "eventual");
        paged(
            who,
            &case,
            fixture("user-list"),
            fixture("user-list"),
            Ending::Complete,
        )
        .await;
    }
}

#[tokio::test]
async fn get_user_is_me_or_the_named_user_including_a_guest() {
    for who in [Who::Me, Who::User(USER_ID), Who::User(GUEST_UPN)] {
        let case = Case::get("users.get_user", "{principal}")
            .args(json!({"select": ["displayName", "jobTitle"]}))
            .query(&[("$select", "displayName,jobTitle")]);
        let body = fixture("user-get");
        let response = call(who, &case, json_response(200, &body)).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.json(), Some(&body));
    }
}

#[tokio::test]
async fn guest_upn_reaches_the_path_percent_encoded() {
    let case = Case::get("users.get_user", "{principal}");
    assert_eq!(
        case.full_path(Who::User(GUEST_UPN)),
        format!("/v1.0/users/{GUEST_UPN_IN_PATH}")
    );
    let response = call(
        Who::User(GUEST_UPN),
        &case,
        json_response(200, &fixture("user-get")),
    )
    .await;
    assert_eq!(
        response.json().unwrap()["displayName"],
        fixture("user-get")["displayName"]
    );
}

#[tokio::test]
async fn get_manager() {
    for who in BOTH_BY_ID {
        let case = Case::get("users.get_manager", "{principal}/manager")
            .args(json!({"select": ["id", "displayName"]}))
            .query(&[("$select", "id,displayName")]);
        let body = fixture("user-list-manager");
        let response = call(who, &case, json_response(200, &body)).await;
        assert_eq!(response.json(), Some(&body));
    }
}

#[tokio::test]
async fn list_direct_reports_pages() {
    for who in BOTH {
        let case = Case::get("users.list_direct_reports", "{principal}/directReports");
        let listing = paged(
            who,
            &case,
            fixture("user-list-directreports"),
            fixture("user-list-directreports"),
            Ending::Complete,
        )
        .await;
        assert_eq!(listing.records.len(), 2);
    }
}

#[tokio::test]
async fn list_member_of_pages() {
    for who in BOTH_BY_ID {
        let case = Case::get("users.list_member_of", "{principal}/memberOf")
            .args(json!({"top": 5}))
            .query(&[("$top", "5")]);
        let listing = paged(
            who,
            &case,
            fixture("user-list-memberof"),
            fixture("user-list-memberof"),
            Ending::Complete,
        )
        .await;
        assert_eq!(listing.records[0]["@odata.type"], "#microsoft.graph.group");
    }
}

#[tokio::test]
async fn get_photo_returns_the_bytes() {
    // The docs show no body for `$value`: a JPEG's first bytes stand in.
    let jpeg: Vec<u8> = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00,
    ];
    for who in BOTH {
        let case = Case::get("users.get_photo", "{principal}/photo/$value");
        let response = call(
            who,
            &case,
            ResponseTemplate::new(200).set_body_raw(jpeg.clone(), "image/jpeg"),
        )
        .await;
        assert_eq!(response.bytes().map(|b| b.to_vec()), Some(jpeg.clone()));
        assert_eq!(response.header("content-type"), Some("image/jpeg"));
    }
}

#[tokio::test]
async fn users_delta_ends_with_the_delta_link_continuation() {
    for who in BOTH {
        let case = Case::get("users.delta", "/users/delta")
            .args(json!({"select": ["displayName", "jobTitle", "mobilePhone"], "prefer_max_page_size": 50}))
            .query(&[("$select", "displayName,jobTitle,mobilePhone")])
            .header("Prefer", "odata.maxpagesize=50");
        let listing = paged(
            who,
            &case,
            fixture("user-delta-select"),
            fixture("user-delta"),
            Ending::DeltaLink,
        )
        .await;
        assert_eq!(listing.records.len(), 2);
        let next = listing
            .continuation
            .expect("a delta sync ends with the next round");
        assert_eq!(next.kind(), ContinuationKind::Delta);
        assert_eq!(next.expose_link(), listing.delta_link);
        assert_eq!(next.method_id(), "users.delta");
    }
}

/// `$deltaToken=latest`: the directory's "sync from now".
#[tokio::test]
async fn users_delta_from_now_asks_for_the_latest_token() {
    for who in BOTH {
        let case = Case::get("users.delta", "/users/delta")
            .args(json!({"delta_token": "latest", "select": ["displayName"]}))
            .query(&[("$deltaToken", "latest"), ("$select", "displayName")]);
        let listing = delta_from_now(who, &case, json!({"value": []})).await;
        assert!(listing.records.is_empty());
        let next = listing.continuation.unwrap();
        assert_eq!(next.kind(), ContinuationKind::Delta);
        assert_eq!(next.expose_link(), listing.delta_link);
    }
}

#[tokio::test]
async fn a_bad_argument_is_refused_before_anything_is_sent() {
    let server = server().await;
    let err = engine()
        .call(
            &ctx(&server, Who::User(USER_ID)),
            "users.get_user",
            switchboard_core::Arguments::new().set("user_id", "../../groups"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(err.field(), Some("user_id"));
    server.verify().await;
}
