//! OneDrive through the engine against wiremock, in both variants: the exact
//! request that reaches Graph and what the caller gets back (Microsoft docs
//! bodies); downloads follow the 302 to another origin without the bearer
//! token and stream; simple uploads stop at 4 MiB; copy hands back the
//! monitor URL. (Large uploads: `large_upload.rs`.)

mod common;

use common::*;
use futures::StreamExt;
use serde_json::json;
use switchboard_core::paging::ContinuationKind;
use switchboard_core::{Arguments, ErrorKind};
use switchboard_microsoft365::small_upload::SMALL_UPLOAD_LIMIT;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Match, Mock, Request, ResponseTemplate};

const ITEM: &str = "01BYE5RZ6QN3ZWBTUFOFD3GSPGOHDJD36K";
const PARENT: &str = "01BYE5RZ5MYLM2SMX75ZBIPQZIHT6OAYPB";

fn get_item_path(suffix: &str) -> &'static str {
    Box::leak(format!("{{principal}}/drive/items/{ITEM}{suffix}").into_boxed_str())
}

#[tokio::test]
async fn get_drive() {
    for who in BOTH {
        let case = Case::get("onedrive.get_drive", "{principal}/drive")
            .args(json!({"select": ["id", "driveType", "quota"]}))
            .query(&[("$select", "id,driveType,quota")]);
        let body = fixture("drive-get");
        assert_eq!(
            call(who, &case, json_response(200, &body)).await.json(),
            Some(&body)
        );
    }
}

#[tokio::test]
async fn list_root_children() {
    for who in BOTH {
        let case = Case::get(
            "onedrive.list_root_children",
            "{principal}/drive/root/children",
        )
        .args(json!({"top": 4, "orderby": ["name"]}))
        .query(&[("$top", "4"), ("$orderby", "name")]);
        let f = fixture("driveitem-list-children");
        let listing = paged(who, &case, f.clone(), f, Ending::Complete).await;
        assert_eq!(listing.records.len(), 8);
    }
}

#[tokio::test]
async fn list_children() {
    for who in BOTH_BY_ID {
        let case = Case::get("onedrive.list_children", get_item_path("/children"))
            .args(json!({"item_id": ITEM, "expand": "thumbnails"}))
            .query(&[("$expand", "thumbnails")]);
        let f = fixture("driveitem-list-children");
        paged(who, &case, f.clone(), f, Ending::Complete).await;
    }
}

#[tokio::test]
async fn get_item() {
    for who in BOTH {
        let case = Case::get("onedrive.get_item", get_item_path(""))
            .args(json!({"item_id": ITEM, "select": ["id", "name", "size"]}))
            .query(&[("$select", "id,name,size")]);
        let body = fixture("driveitem-get");
        assert_eq!(
            call(who, &case, json_response(200, &body)).await.json(),
            Some(&body)
        );
    }
}

#[tokio::test]
async fn get_item_by_path_encodes_each_segment() {
    for who in BOTH {
        let case = Case::get(
            "onedrive.get_item_by_path",
            "{principal}/drive/root:/Reports%202026/Q1%20plan.xlsx:",
        )
        .args(json!({"item_path": "Reports 2026/Q1 plan.xlsx"}));
        let body = fixture("driveitem-get");
        assert_eq!(
            call(who, &case, json_response(200, &body)).await.json(),
            Some(&body)
        );
    }
}

#[tokio::test]
async fn search() {
    for who in BOTH {
        let case = Case::get(
            "onedrive.search",
            "{principal}/drive/root/search(q='Contoso%20Project')",
        )
        .args(json!({"query": "Contoso Project", "top": 5}))
        .query(&[("$top", "5")]);
        let f = fixture("driveitem-search");
        let listing = paged(who, &case, f.clone(), f, Ending::Complete).await;
        assert_eq!(listing.records.len(), 4);
    }
}

#[tokio::test]
async fn drive_delta_ends_with_the_delta_link() {
    for who in BOTH {
        let case = Case::get("onedrive.delta", "{principal}/drive/root/delta")
            .args(json!({"select": ["id", "name", "deleted"], "prefer_max_page_size": 100}))
            .query(&[("$select", "id,name,deleted")])
            .header("Prefer", "odata.maxpagesize=100");
        let listing = paged(
            who,
            &case,
            fixture("driveitem-delta"),
            fixture("driveitem-delta-last"),
            Ending::DeltaLink,
        )
        .await;
        assert_eq!(listing.records.len(), 5);
        let next = listing.continuation.unwrap();
        assert_eq!(next.kind(), ContinuationKind::Delta);
        assert_eq!(next.expose_link(), listing.delta_link);
    }
}

/// `token=latest`: no items, only the link the next round starts from.
#[tokio::test]
async fn drive_delta_from_now_asks_for_the_latest_token() {
    for who in BOTH {
        let case = Case::get("onedrive.delta", "{principal}/drive/root/delta")
            .args(json!({"token": "latest"}))
            .query(&[("token", "latest")]);
        let listing = delta_from_now(who, &case, fixture("driveitem-delta-latest")).await;
        assert!(listing.records.is_empty());
        let next = listing.continuation.unwrap();
        assert_eq!(next.kind(), ContinuationKind::Delta);
        assert_eq!(next.expose_link(), listing.delta_link);
    }
}

/// No Authorization header at all.
struct NoAuthorization;

impl Match for NoAuthorization {
    fn matches(&self, request: &Request) -> bool {
        !request.headers.contains_key("authorization")
    }
}

/// Graph answers `content` with 302 to a pre-authenticated URL on another
/// origin (a second server here); the engine follows it without the token.
#[tokio::test]
async fn download_follows_the_redirect_to_another_origin_without_the_token() {
    for who in BOTH {
        let graph = server().await;
        let files = server().await;
        let location = format!(
            "{}/personal/adele/download.aspx?tempauth=pre-authenticated",
            files.uri()
        );
        let case = Case::get("onedrive.download", get_item_path("/content"))
            .args(json!({"item_id": ITEM}));
        case.mock(who, &[])
            .respond_with(ResponseTemplate::new(302).insert_header("Location", location.as_str()))
            .expect(1)
            .mount(&graph)
            .await;
        let content = b"The quick brown fox jumps over the lazy dog".to_vec();
        Mock::given(method("GET"))
            .and(path("/personal/adele/download.aspx"))
            .and(query_param("tempauth", "pre-authenticated"))
            .and(NoAuthorization)
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_raw(content.clone(), "application/octet-stream"),
            )
            .expect(1)
            .mount(&files)
            .await;
        let response = engine()
            .call(&ctx(&graph, who), case.method_id, case.arguments(who))
            .await
            .unwrap();
        assert_eq!(response.bytes().map(|b| b.to_vec()), Some(content));
        graph.verify().await;
        files.verify().await;
        // The file server saw no credential of any kind.
        for request in files.received_requests().await.unwrap() {
            assert!(request.headers.get("authorization").is_none());
            assert!(request.headers.get("cookie").is_none());
        }
    }
}

/// A multi-MiB download arrives chunk by chunk through `call_stream`.
#[tokio::test]
async fn download_streams_a_large_file_in_chunks() {
    let graph = server().await;
    let files = server().await;
    let who = Who::User(GUEST_UPN);
    let size = 6 * 1024 * 1024;
    let content: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let case =
        Case::get("onedrive.download", get_item_path("/content")).args(json!({"item_id": ITEM}));
    case.mock(who, &[])
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("Location", format!("{}/dl/big.bin", files.uri()).as_str()),
        )
        .expect(1)
        .mount(&graph)
        .await;
    Mock::given(method("GET"))
        .and(path("/dl/big.bin"))
        .and(NoAuthorization)
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(content.clone(), "application/octet-stream"),
        )
        .expect(1)
        .mount(&files)
        .await;
    let mut stream = engine()
        .call_stream(&ctx(&graph, who), case.method_id, case.arguments(who))
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.content_length(), Some(size as u64));
    let mut received = Vec::with_capacity(size);
    let mut chunks = 0usize;
    let mut largest = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        chunks += 1;
        largest = largest.max(chunk.len());
        received.extend_from_slice(&chunk);
    }
    assert_eq!(received.len(), size);
    assert!(received == content, "the bytes arrive intact and in order");
    assert!(chunks > 10, "streamed in {chunks} chunks");
    assert!(
        largest < size / 4,
        "no chunk holds the whole file (largest {largest})"
    );
    graph.verify().await;
    files.verify().await;
}

#[tokio::test]
async fn upload_small_puts_the_bytes() {
    for who in BOTH {
        let bytes = b"The contents of the file goes here.".to_vec();
        let case = Case::new(
            "onedrive.upload_small",
            "PUT",
            Box::leak(
                format!("{{principal}}/drive/items/{PARENT}:/Notes/FileB.txt:/content")
                    .into_boxed_str(),
            ),
        )
        .args(json!({"parent_id": PARENT, "file_path": "Notes/FileB.txt"}))
        .content(bytes, "application/octet-stream");
        let body = fixture("driveitem-put-content");
        let response = call(who, &case, json_response(201, &body)).await;
        assert_eq!(response.status(), 201);
        assert_eq!(response.json(), Some(&body));
    }
}

#[tokio::test]
async fn replace_content_puts_the_bytes() {
    for who in BOTH_BY_ID {
        let case = Case::new("onedrive.replace_content", "PUT", get_item_path("/content"))
            .args(json!({"item_id": ITEM}))
            .content(vec![7u8; SMALL_UPLOAD_LIMIT], "application/octet-stream");
        let body = fixture("driveitem-put-content-replace");
        assert_eq!(
            call(who, &case, json_response(200, &body)).await.json(),
            Some(&body)
        );
    }
}

/// One byte over 4 MiB: a clear error that points at the large upload,
/// and nothing is sent.
#[tokio::test]
async fn upload_small_over_4_mib_is_refused_before_sending() {
    for method_id in ["onedrive.upload_small", "onedrive.replace_content"] {
        let server = server().await;
        let args = if method_id == "onedrive.upload_small" {
            Arguments::new()
                .set("parent_id", PARENT)
                .set("file_path", "big.bin")
        } else {
            Arguments::new().set("item_id", ITEM)
        }
        .with_content(vec![0u8; SMALL_UPLOAD_LIMIT + 1]);
        let err = engine()
            .call(&ctx(&server, Who::Me), method_id, args)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert_eq!(err.field(), Some("content"));
        let text = err.to_string();
        assert!(text.contains("4194304"), "{text}");
        assert!(text.contains("LargeUpload"), "{text}");
        assert!(text.contains("onedrive.create_upload_session"), "{text}");
        server.verify().await;
    }
}

#[tokio::test]
async fn create_upload_session() {
    for who in BOTH {
        let case = Case::post(
            "onedrive.create_upload_session",
            Box::leak(format!("{{principal}}/drive/items/{PARENT}:/largefile.dat:/createUploadSession").into_boxed_str()),
        )
        .args(json!({"parent_id": PARENT, "file_path": "largefile.dat", "item": {"@microsoft.graph.conflictBehavior": "rename", "name": "largefile.dat"}}))
        .body(json!({"item": {"@microsoft.graph.conflictBehavior": "rename", "name": "largefile.dat"}}));
        let body = fixture("driveitem-createuploadsession");
        assert_eq!(
            call(who, &case, json_response(200, &body)).await.json(),
            Some(&body)
        );
    }
}

#[tokio::test]
async fn create_folder_with_conflict_behaviour() {
    for who in BOTH {
        let case = Case::post(
            "onedrive.create_folder",
            Box::leak(format!("{{principal}}/drive/items/{PARENT}/children").into_boxed_str()),
        )
        .args(json!({"parent_id": PARENT, "name": "New Folder", "conflict_behavior": "rename"}))
        .body(json!({"name": "New Folder", "folder": {}, "@microsoft.graph.conflictBehavior": "rename"}));
        let body = fixture("driveitem-post-children");
        let response = call(who, &case, json_response(201, &body)).await;
        assert_eq!(response.status(), 201);
        assert_eq!(response.json(), Some(&body));
    }
}

#[tokio::test]
async fn delete_item_with_if_match() {
    for who in BOTH {
        let case = Case::new("onedrive.delete_item", "DELETE", get_item_path(""))
            .args(json!({"item_id": ITEM, "if_match": "\"{ABC123},1\""}))
            .header("If-Match", "\"{ABC123},1\"");
        assert_eq!(
            call(who, &case, ResponseTemplate::new(204)).await.status(),
            204
        );
    }
}

#[tokio::test]
async fn rename_an_item() {
    for who in BOTH {
        let case = Case::new("onedrive.update_item", "PATCH", get_item_path(""))
            .args(json!({"item_id": ITEM, "name": "new-file-name.docx"}))
            .body(json!({"name": "new-file-name.docx"}));
        let body = fixture("driveitem-update");
        assert_eq!(
            call(who, &case, json_response(200, &body)).await.json(),
            Some(&body)
        );
    }
}

#[tokio::test]
async fn move_an_item() {
    for who in BOTH_BY_ID {
        let case = Case::new("onedrive.update_item", "PATCH", get_item_path(""))
            .args(json!({"item_id": ITEM, "parent_reference": {"id": "{new-parent-folder-id}"}, "name": "new-item-name.txt"}))
            .body(json!({"parentReference": {"id": "{new-parent-folder-id}"}, "name": "new-item-name.txt"}));
        let body = fixture("driveitem-move");
        assert_eq!(
            call(who, &case, json_response(200, &body)).await.json(),
            Some(&body)
        );
    }
}

/// Copy is asynchronous: 202 with the monitor URL in `Location`, which the
/// caller gets back (it is not a redirect to follow).
#[tokio::test]
async fn copy_returns_the_monitor_url() {
    let monitor =
        "https://contoso.sharepoint.com/_api/v2.0/monitor/4A3407B5-88FC-4504-8B21-0AABD3412717";
    for who in BOTH {
        let case = Case::post("onedrive.copy_item", get_item_path("/copy"))
            .args(json!({"item_id": ITEM, "parent_reference": {"driveId": "6F7D00BF-FC4D-4E62-9769-6AEA81F3A21B", "id": "DCD0D3AD-8989-4F23-A5A2-2C086050513F"}, "name": "contoso plan (copy).txt"}))
            .body(json!({"parentReference": {"driveId": "6F7D00BF-FC4D-4E62-9769-6AEA81F3A21B", "id": "DCD0D3AD-8989-4F23-A5A2-2C086050513F"}, "name": "contoso plan (copy).txt"}));
        let response = call(
            who,
            &case,
            ResponseTemplate::new(202).insert_header("Location", monitor),
        )
        .await;
        assert_eq!(response.status(), 202);
        assert_eq!(response.header("location"), Some(monitor));
        assert_eq!(response.json(), None);
    }
}

#[tokio::test]
async fn list_permissions() {
    for who in BOTH {
        let case = Case::get("onedrive.list_permissions", get_item_path("/permissions"))
            .args(json!({"item_id": ITEM}));
        let f = fixture("driveitem-list-permissions");
        let listing = paged(who, &case, f.clone(), f, Ending::Complete).await;
        assert_eq!(listing.records.len(), 6);
    }
}

#[tokio::test]
async fn create_sharing_link() {
    for who in BOTH {
        let case = Case::post("onedrive.create_sharing_link", get_item_path("/createLink"))
            .args(json!({"item_id": ITEM, "type": "view", "scope": "anonymous", "password": "ThisIsMyPrivatePassword"}))
            .body(json!({"type": "view", "scope": "anonymous", "password": "ThisIsMyPrivatePassword"}));
        let body = fixture("driveitem-createlink");
        let response = call(who, &case, json_response(201, &body)).await;
        assert_eq!(
            response.json().unwrap()["link"]["webUrl"],
            "https://1drv.ms/A6913278E564460AA616C71B28AD6EB6"
        );
    }
}
