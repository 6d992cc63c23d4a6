//! The trickier definitions rendered through the core renderer: what would
//! reach Graph for the path-based OneDrive address, search, the principal of
//! each variant, Prefer preferences and the upload payload. (The per-method
//! wiremock tests through the engine come with the engine.)

use switchboard_core::Arguments;
use switchboard_core::render::{RenderContext, RenderedRequest, RequestBody, render};
use url::Url;

mod common;

fn rendered(
    method: &str,
    variant: &str,
    args: Arguments,
) -> switchboard_core::Result<RenderedRequest> {
    let def = common::connector();
    // The definition's base URL is a template over the cloud's Graph
    // origin: the global cloud's.
    let base: Url = switchboard_microsoft365::cloud::Cloud::Global
        .endpoints()
        .base_url;
    let ctx = RenderContext {
        connector: &def,
        method: def.method(method).unwrap(),
        variant: def.variant(variant).unwrap(),
        base_url: &base,
    };
    render(&ctx, &args)
}

fn prefer(req: &RenderedRequest) -> Vec<&str> {
    req.headers
        .get_all("prefer")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect()
}

#[test]
fn get_item_by_path_encodes_each_segment_between_the_colons() {
    let req = rendered(
        "onedrive.get_item_by_path",
        "application",
        Arguments::new()
            .set("user_id", "adele@contoso.com")
            .set("item_path", "Reports 2026/Q1 plan.xlsx"),
    )
    .unwrap();
    assert_eq!(req.method, http::Method::GET);
    assert_eq!(
        req.url.as_str(),
        "https://graph.microsoft.com/v1.0/users/adele@contoso.com/drive/root:/Reports%202026/Q1%20plan.xlsx:"
    );
    // A segment cannot climb out of the drive root.
    let err = rendered(
        "onedrive.get_item_by_path",
        "delegated",
        Arguments::new().set("item_path", "Reports/../../other"),
    )
    .unwrap_err();
    assert_eq!(err.field(), Some("item_path"));
}

#[test]
fn search_puts_the_text_in_the_odata_literal_and_refuses_a_quote() {
    let req = rendered(
        "onedrive.search",
        "delegated",
        Arguments::new().set("query", "budget").set("top", 5),
    )
    .unwrap();
    assert_eq!(
        req.url.as_str(),
        "https://graph.microsoft.com/v1.0/me/drive/root/search(q='budget')?%24top=5"
    );
    let err = rendered(
        "onedrive.search",
        "delegated",
        Arguments::new().set("query", "o'brien"),
    )
    .unwrap_err();
    assert_eq!(err.field(), Some("query"));
}

#[test]
fn guest_user_principal_names_reach_the_path_encoded() {
    let req = rendered(
        "mail.list_messages",
        "application",
        Arguments::new().set("user_id", "guest_example.com#EXT#@contoso.onmicrosoft.com"),
    )
    .unwrap();
    assert_eq!(
        req.url.path(),
        "/v1.0/users/guest_example.com%23EXT%23@contoso.onmicrosoft.com/messages"
    );
}

#[test]
fn calendar_view_sends_the_window_and_the_timezone_preference() {
    let req = rendered(
        "calendars.calendar_view",
        "delegated",
        Arguments::new()
            .set("start", "2026-11-22T00:00:00Z")
            .set("end", "2026-11-29T00:00:00Z")
            .set("prefer_timezone", "Pacific Standard Time"),
    )
    .unwrap();
    let query: Vec<(String, String)> = req.url.query_pairs().into_owned().collect();
    assert_eq!(
        query,
        [
            (
                "startDateTime".to_string(),
                "2026-11-22T00:00:00Z".to_string()
            ),
            (
                "endDateTime".to_string(),
                "2026-11-29T00:00:00Z".to_string()
            ),
        ]
    );
    assert_eq!(prefer(&req), ["outlook.timezone=\"Pacific Standard Time\""]);
    let err = rendered(
        "calendars.calendar_view",
        "delegated",
        Arguments::new().set("start", "2026-11-22T00:00:00Z"),
    )
    .unwrap_err();
    assert_eq!(err.field(), Some("end"));
    let err = rendered(
        "calendars.calendar_view",
        "delegated",
        Arguments::new()
            .set("start", "2026-11-22T00:00:00Z")
            .set("end", "2026-11-29T00:00:00Z")
            .set("prefer_timezone", "UTC\", odata.maxpagesize=\"1"),
    )
    .unwrap_err();
    assert_eq!(err.field(), Some("prefer_timezone"));
}

#[test]
fn events_delta_sends_each_preference_as_its_own_header() {
    let req = rendered(
        "calendars.events_delta",
        "delegated",
        Arguments::new()
            .set("start", "2026-11-22T00:00:00Z")
            .set("end", "2026-11-29T00:00:00Z")
            .set("prefer_max_page_size", 50)
            .set("prefer_timezone", "UTC"),
    )
    .unwrap();
    assert_eq!(req.url.path(), "/v1.0/me/calendarView/delta");
    let mut sent = prefer(&req);
    sent.sort();
    assert_eq!(sent, ["odata.maxpagesize=50", "outlook.timezone=\"UTC\""]);
}

#[test]
fn get_message_takes_only_the_two_body_types() {
    let args = Arguments::new()
        .set("message_id", "AAMk=")
        .set("prefer_body_type", "text");
    let req = rendered("mail.get_message", "delegated", args).unwrap();
    assert_eq!(prefer(&req), ["outlook.body-content-type=\"text\""]);
    let args = Arguments::new()
        .set("message_id", "AAMk=")
        .set("prefer_body_type", "outlook.body-content-type=\"text\"");
    assert_eq!(
        rendered("mail.get_message", "delegated", args)
            .unwrap_err()
            .field(),
        Some("prefer_body_type")
    );
}

#[test]
fn create_folder_sends_the_folder_facet_and_conflict_behaviour() {
    let req = rendered(
        "onedrive.create_folder",
        "delegated",
        Arguments::new()
            .set("parent_id", "root")
            .set("name", "Invoices")
            .set("conflict_behavior", "rename"),
    )
    .unwrap();
    assert_eq!(req.url.path(), "/v1.0/me/drive/items/root/children");
    assert_eq!(
        req.body,
        RequestBody::Json(serde_json::json!({
            "name": "Invoices", "folder": {}, "@microsoft.graph.conflictBehavior": "rename"
        }))
    );
}

#[test]
fn small_upload_sends_the_bytes_to_the_parent_and_file_path() {
    let req = rendered(
        "onedrive.upload_small",
        "delegated",
        Arguments::new()
            .set("parent_id", "root")
            .set("file_path", "notes/today.txt")
            .with_content(&b"hello"[..]),
    )
    .unwrap();
    assert_eq!(req.method, http::Method::PUT);
    assert_eq!(
        req.url.path(),
        "/v1.0/me/drive/items/root:/notes/today.txt:/content"
    );
    assert!(
        matches!(req.body, RequestBody::Bytes { ref content, .. } if content.as_ref() == b"hello")
    );
}

#[test]
fn find_meeting_times_is_refused_in_the_application_variant() {
    let err = rendered(
        "calendars.find_meeting_times",
        "application",
        Arguments::new().set("user_id", "adele@contoso.com"),
    )
    .unwrap_err();
    assert_eq!(err.kind(), switchboard_core::ErrorKind::InvalidArgument);
}

#[test]
fn create_event_passes_the_transaction_id_in_the_body() {
    let start = serde_json::json!({"dateTime": "2026-11-22T09:00:00", "timeZone": "UTC"});
    let end = serde_json::json!({"dateTime": "2026-11-22T10:00:00", "timeZone": "UTC"});
    let req = rendered(
        "calendars.create_event",
        "application",
        Arguments::new()
            .set("user_id", "6e7b768e-07e2-4810-8459-485f84f8f204")
            .set("subject", "Planning")
            .set("start", start.clone())
            .set("end", end.clone())
            .set("transaction_id", "7E163156-7762-4BEB-A1C6-729EA81755A7"),
    )
    .unwrap();
    assert_eq!(
        req.url.path(),
        "/v1.0/users/6e7b768e-07e2-4810-8459-485f84f8f204/events"
    );
    assert_eq!(
        req.body,
        RequestBody::Json(serde_json::json!({
            "subject": "Planning", "start": start, "end": end,
            "transactionId": "7E163156-7762-4BEB-A1C6-729EA81755A7"
        }))
    );
}
