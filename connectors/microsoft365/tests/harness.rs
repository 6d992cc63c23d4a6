//! Microsoft 365 methods through switchboard-core's connector test harness
//! (the kit third-party connector authors use): each test says what a call
//! sends to Graph and what it yields, in a few lines, against a local mock
//! server with a catch-all that fails on any other request.

use std::sync::Arc;

use serde_json::json;
use switchboard_core::ErrorKind;
use switchboard_core::testing::{Expect, Harness, Reply, check_definition_files};
use switchboard_microsoft365::{DEFINITION_FILES, Microsoft365};

async fn delegated() -> Harness {
    Harness::builder(Arc::new(Microsoft365::new().unwrap()))
        .variant("delegated")
        .start()
        .await
}

async fn application() -> Harness {
    Harness::builder(Arc::new(Microsoft365::new().unwrap()))
        .variant("application")
        .start()
        .await
}

#[test]
fn every_definition_file_passes_schema_and_validation() {
    let def = check_definition_files(DEFINITION_FILES);
    assert_eq!(def.id, "microsoft365");
    assert!(def.methods.len() > 40, "{} methods", def.methods.len());
}

#[tokio::test]
async fn list_users_follows_next_links_with_the_query_on_the_first_page_only() {
    let h = delegated().await;
    let next = h.url("/users?$skiptoken=page2");
    h.call("users.list_users")
        .args(json!({"select": ["id", "displayName"], "top": 2}))
        .sends(
            Expect::get("/users")
                .query("$select", "id,displayName")
                .query("$top", "2")
                .header("accept", "application/json"),
            Reply::json(
                200,
                json!({"value": [{"id": "u1"}, {"id": "u2"}], "@odata.nextLink": next}),
            ),
        )
        .sends(
            Expect::get("/users").query("$skiptoken", "page2"),
            Reply::json(200, json!({"value": [{"id": "u3"}]})),
        )
        .yields(json!([{"id": "u1"}, {"id": "u2"}, {"id": "u3"}]))
        .await;
}

#[tokio::test]
async fn an_advanced_user_filter_gets_consistency_level_and_count_from_the_hook() {
    let h = delegated().await;
    h.call("users.list_users")
        .args(json!({"filter": "endsWith(mail,'@contoso.com')"}))
        .sends(
            Expect::get("/users")
                .query("$filter", "endsWith(mail,'@contoso.com')")
                .query("$count", "true")
                .header("consistencylevel", "eventual"),
            Reply::json(200, json!({"value": [{"id": "u1"}]})),
        )
        .yields(json!([{"id": "u1"}]))
        .await;
}

#[tokio::test]
async fn get_user_acts_as_the_principal_of_each_variant() {
    let h = delegated().await;
    h.call("users.get_user")
        .sends(Expect::get("/me"), Reply::json(200, json!({"id": "me-id"})))
        .yields(json!([{"id": "me-id"}]))
        .await;

    let h = application().await;
    h.call("users.get_user")
        .args(json!({"user_id": "adele@contoso.com"}))
        .sends(
            Expect::get("/users/adele@contoso.com"),
            Reply::json(200, json!({"id": "adele-id"})),
        )
        .yields(json!([{"id": "adele-id"}]))
        .await;
}

#[tokio::test]
async fn send_mail_posts_the_message_with_wire_names_and_accepts_202() {
    let h = application().await;
    let message = json!({
        "subject": "Lunch?",
        "body": {"contentType": "Text", "content": "At noon."},
        "toRecipients": [{"emailAddress": {"address": "alex@contoso.com"}}]
    });
    let response = h
        .call("mail.send_mail")
        .args(json!({"user_id": "adele@contoso.com", "message": message, "save_to_sent_items": false}))
        .sends(
            Expect::post("/users/adele@contoso.com/sendMail")
                .header("content-type", "application/json")
                .json(json!({"message": message, "saveToSentItems": false})),
            Reply::status(202),
        )
        .response()
        .await;
    assert_eq!(response.status(), 202);
}

#[tokio::test]
async fn a_missing_message_is_not_found_with_graphs_code() {
    let h = delegated().await;
    let err = h
        .call("mail.get_message")
        .args(json!({"message_id": "AAMkAD-missing"}))
        .sends(
            Expect::get("/me/messages/AAMkAD-missing"),
            Reply::json(
                404,
                json!({"error": {"code": "ErrorItemNotFound", "message": "The specified object was not found in the store."}}),
            ),
        )
        .fails()
        .await;
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(
        err.remote().unwrap().code.as_deref(),
        Some("ErrorItemNotFound")
    );
}
