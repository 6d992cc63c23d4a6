//! Mail: sending lands in Sent Items and in recipients' inboxes; drafts,
//! replies, forwards, moves, attachments, Prefer body type, mailbox settings.

mod common;

use base64::Engine as _;
use common::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn send_mail_lands_in_sent_items_and_the_recipients_inbox() {
    let sb = start(40).await;
    let users = sb.users();
    let token = user_token(&sb).await; // signed in as users[0]
    let sent_before = get(&sb, &token, "/me/mailFolders/sentitems/messages?$top=100")
        .await
        .body["value"]
        .as_array()
        .unwrap()
        .len();
    let r = post(
        &sb,
        &token,
        "/me/sendMail",
        json!({"message": {
            "subject": "Lunch on Friday?",
            "body": {"contentType": "Text", "content": "Shall we try the new place?"},
            "toRecipients": [{"emailAddress": {"address": users[1].mail}}],
            "attachments": [{"@odata.type": "#microsoft.graph.fileAttachment", "name": "menu.txt", "contentType": "text/plain",
                              "contentBytes": base64::engine::general_purpose::STANDARD.encode(b"soup\nbread\n")}]
        }, "saveToSentItems": true}),
    )
    .await;
    assert_eq!(r.status, 202);
    assert!(r.bytes.is_empty());
    let sent = get(&sb, &token, "/me/mailFolders/sentitems/messages?$top=100")
        .await
        .body["value"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(sent.len(), sent_before + 1);
    let copy = sent
        .iter()
        .find(|m| m["subject"] == "Lunch on Friday?")
        .unwrap();
    assert_eq!(copy["isDraft"], false);
    assert_eq!(
        copy["toRecipients"][0]["emailAddress"]["address"],
        users[1].mail.as_str()
    );
    assert_eq!(copy["hasAttachments"], true);
    // The recipient (application token reads their mailbox) got it unread.
    let app = app_token(&sb).await;
    let inbox = get(
        &sb,
        &app,
        &format!(
            "/users/{}/mailFolders/inbox/messages?$filter=subject eq 'Lunch on Friday?'",
            users[1].id
        ),
    )
    .await;
    let got = &inbox.body["value"][0];
    assert_eq!(got["isRead"], false);
    assert_eq!(
        got["from"]["emailAddress"]["address"],
        users[0].mail.as_str()
    );
    let atts = get(
        &sb,
        &app,
        &format!(
            "/users/{}/messages/{}/attachments",
            users[1].id,
            got["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(atts.body["value"][0]["name"], "menu.txt");
    assert_eq!(
        atts.body["value"][0]["@odata.type"],
        "#microsoft.graph.fileAttachment"
    );
    // No recipients: ErrorInvalidRecipients, and nothing stored.
    let r = post(
        &sb,
        &token,
        "/me/sendMail",
        json!({"message": {"subject": "nobody"}}),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["code"], "ErrorInvalidRecipients");
    let sent = get(&sb, &token, "/me/mailFolders/sentitems/messages?$top=100")
        .await
        .body["value"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(sent, sent_before + 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn drafts_send_reply_forward_move_and_delete() {
    let sb = start(41).await;
    let users = sb.users();
    let token = user_token(&sb).await;
    let r = post(&sb, &token, "/me/messages", json!({"subject": "Draft plan", "body": {"contentType": "HTML", "content": "<p>v1</p>"}, "toRecipients": [{"emailAddress": {"address": users[2].mail}}]})).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["isDraft"], true);
    let draft = r.body["id"].as_str().unwrap().to_string();
    let drafts = get(&sb, &token, "/me/mailFolders/drafts/messages?$top=50").await;
    assert!(
        drafts.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == draft.as_str())
    );
    let r = call(
        &sb,
        &token,
        Method::PATCH,
        &format!("/me/messages/{draft}"),
        Some(json!({"subject": "Draft plan v2"})),
        &[],
    )
    .await;
    assert_eq!(r.body["subject"], "Draft plan v2");
    let r = post(&sb, &token, &format!("/me/messages/{draft}/attachments"), json!({"@odata.type": "#microsoft.graph.fileAttachment", "name": "a.txt", "contentBytes": "aGVsbG8="})).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["size"], 5);
    let r = post(
        &sb,
        &token,
        &format!("/me/messages/{draft}/send"),
        json!({}),
    )
    .await;
    assert_eq!(r.status, 202);
    assert_eq!(
        get(&sb, &token, &format!("/me/messages/{draft}"))
            .await
            .status,
        404
    );
    let sent = get(
        &sb,
        &token,
        "/me/mailFolders/sentitems/messages?$filter=subject eq 'Draft plan v2'",
    )
    .await;
    assert_eq!(sent.body["value"][0]["hasAttachments"], true);

    let inbox = get(&sb, &token, "/me/mailFolders/inbox/messages?$top=1").await;
    let first = inbox.body["value"][0].clone();
    let id = first["id"].as_str().unwrap();
    let r = post(
        &sb,
        &token,
        &format!("/me/messages/{id}/reply"),
        json!({"comment": "Thanks!"}),
    )
    .await;
    assert_eq!(r.status, 202);
    let subject = format!("RE: {}", first["subject"].as_str().unwrap());
    let sent = get(
        &sb,
        &token,
        &format!(
            "/me/mailFolders/sentitems/messages?$filter=subject eq '{}'",
            subject.replace('\'', "''")
        ),
    )
    .await;
    assert_eq!(sent.body["value"][0]["toRecipients"][0], first["from"]);
    let r = post(
        &sb,
        &token,
        &format!("/me/messages/{id}/forward"),
        json!({"comment": "FYI", "toRecipients": [{"emailAddress": {"address": users[3].mail}}]}),
    )
    .await;
    assert_eq!(r.status, 202);
    let r = post(
        &sb,
        &token,
        &format!("/me/messages/{id}/forward"),
        json!({"comment": "FYI"}),
    )
    .await;
    assert_eq!(r.status, 400);
    let r = post(
        &sb,
        &token,
        &format!("/me/messages/{id}/createReply"),
        json!({}),
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["isDraft"], true);
    // Move into the Inbox's child folder, then delete.
    let child = get(&sb, &token, "/me/mailFolders/inbox/childFolders").await;
    assert_eq!(child.body["value"][0]["displayName"], "Projects");
    let projects = child.body["value"][0]["id"].as_str().unwrap();
    let r = post(
        &sb,
        &token,
        &format!("/me/messages/{id}/move"),
        json!({"destinationId": projects}),
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["parentFolderId"], projects);
    let new_id = r.body["id"].as_str().unwrap();
    assert_eq!(
        get(&sb, &token, &format!("/me/messages/{id}")).await.status,
        404
    );
    let r = call(
        &sb,
        &token,
        Method::DELETE,
        &format!("/me/messages/{new_id}"),
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        get(&sb, &token, &format!("/me/messages/{new_id}"))
            .await
            .status,
        404
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn prefer_text_bodies_folders_and_mailbox_settings() {
    let sb = start(42).await;
    let token = user_token(&sb).await;
    let list = get(&sb, &token, "/me/messages?$top=1").await;
    let id = list.body["value"][0]["id"].as_str().unwrap();
    assert_eq!(list.body["value"][0]["body"]["contentType"], "html");
    let r = call(
        &sb,
        &token,
        Method::GET,
        &format!("/me/messages/{id}"),
        None,
        &[("Prefer", "outlook.body-content-type=\"text\"")],
    )
    .await;
    assert_eq!(r.body["body"]["contentType"], "text");
    assert!(!r.body["body"]["content"].as_str().unwrap().contains('<'));
    assert_eq!(
        r.headers["preference-applied"],
        "outlook.body-content-type=\"text\""
    );
    let raw = get(&sb, &token, &format!("/me/messages/{id}/$value")).await;
    assert!(String::from_utf8_lossy(&raw.bytes).contains("Subject: "));
    let folders = get(&sb, &token, "/me/mailFolders").await;
    let names: Vec<&str> = folders.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["displayName"].as_str().unwrap())
        .collect();
    for n in ["Inbox", "Sent Items", "Drafts", "Deleted Items"] {
        assert!(names.contains(&n), "{names:?}");
    }
    let inbox = get(&sb, &token, "/me/mailFolders/Inbox").await;
    assert_eq!(inbox.body["totalItemCount"], 24);
    assert_eq!(inbox.body["childFolderCount"], 1);
    let s = get(&sb, &token, "/me/mailboxSettings").await;
    assert_eq!(s.body["timeZone"], "UTC");
    let r = call(
        &sb,
        &token,
        Method::PATCH,
        "/me/mailboxSettings",
        Some(json!({"timeZone": "Pacific Standard Time"})),
        &[],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        get(&sb, &token, "/me/mailboxSettings").await.body["timeZone"],
        "Pacific Standard Time"
    );
    sb.shutdown().await;
}

/// The messages of a folder of the signed-in user, newest first.
async fn folder(
    sb: &switchboard_microsoft365_sandbox::SandboxHandle,
    token: &str,
    name: &str,
) -> Vec<serde_json::Value> {
    get(
        sb,
        token,
        &format!("/me/mailFolders/{name}/messages?$top=200"),
    )
    .await
    .body["value"]
        .as_array()
        .unwrap()
        .clone()
}

/// Action parameters written as Graph's metadata names them (`Message`,
/// `SaveToSentItems`, `Comment`, `ToRecipients`, `DestinationId`), as
/// Microsoft's SDKs send them, are read like the docs' camelCase names:
/// none is refused, none is dropped.
#[tokio::test]
async fn mail_actions_accept_parameter_names_in_any_case() {
    let sb = start(47).await;
    let users = sb.users();
    let token = user_token(&sb).await; // users[0]
    let app = app_token(&sb).await;
    let sent_before = folder(&sb, &token, "sentitems").await.len();
    let r = post(
        &sb,
        &token,
        "/me/sendMail",
        json!({"Message": {
            "subject": "Pascal case",
            "body": {"contentType": "Text", "content": "sent the SDK's way"},
            "toRecipients": [{"emailAddress": {"address": users[1].mail}}]
        }, "SaveToSentItems": false}),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    // SaveToSentItems=false was honoured; the recipient got it.
    assert_eq!(folder(&sb, &token, "sentitems").await.len(), sent_before);
    let inbox = get(
        &sb,
        &app,
        &format!(
            "/users/{}/mailFolders/inbox/messages?$filter=subject eq 'Pascal case'",
            users[1].id
        ),
    )
    .await;
    assert_eq!(inbox.body["value"].as_array().unwrap().len(), 1);

    let original = folder(&sb, &token, "inbox").await[0].clone();
    let id = original["id"].as_str().unwrap().to_string();
    let subject = original["subject"].as_str().unwrap().to_string();
    // reply: the Comment is in the sent reply; Message's ccRecipients too.
    let r = post(
        &sb,
        &token,
        &format!("/me/messages/{id}/reply"),
        json!({"Comment": "Works for me.", "Message": {"ccRecipients": [{"emailAddress": {"address": users[2].mail}}]}}),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let sent = folder(&sb, &token, "sentitems").await;
    let reply = sent
        .iter()
        .find(|m| m["subject"] == format!("RE: {subject}").as_str())
        .expect("the reply is in Sent Items");
    let full = get(
        &sb,
        &token,
        &format!("/me/messages/{}", reply["id"].as_str().unwrap()),
    )
    .await;
    assert!(
        full.body["body"]["content"]
            .as_str()
            .unwrap()
            .contains("Works for me.")
    );
    assert_eq!(
        full.body["ccRecipients"][0]["emailAddress"]["address"],
        users[2].mail.as_str()
    );
    // replyAll with a Message body instead of a comment.
    let r = post(
        &sb,
        &token,
        &format!("/me/messages/{id}/replyAll"),
        json!({"Message": {"body": {"contentType": "Text", "content": "Body from the message parameter"}}}),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let sent = folder(&sb, &token, "sentitems").await;
    assert!(sent.iter().any(|m| {
        m["bodyPreview"]
            .as_str()
            .unwrap_or("")
            .contains("Body from the message parameter")
    }));
    // Both a comment and a message body: 400, as the docs say.
    let r = post(
        &sb,
        &token,
        &format!("/me/messages/{id}/reply"),
        json!({"comment": "x", "message": {"body": {"contentType": "Text", "content": "y"}}}),
    )
    .await;
    assert_eq!(r.status, 400);

    // forward: ToRecipients and Comment.
    let r = post(
        &sb,
        &token,
        &format!("/me/messages/{id}/forward"),
        json!({"Comment": "FYI, see below.", "ToRecipients": [{"emailAddress": {"address": users[3].mail}}]}),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let got = get(
        &sb,
        &app,
        &format!(
            "/users/{}/mailFolders/inbox/messages?$filter=subject eq 'FW: {}'",
            users[3].id,
            subject.replace('\'', "''")
        ),
    )
    .await;
    let forwarded = &got.body["value"].as_array().unwrap()[0];
    assert!(
        forwarded["body"]["content"]
            .as_str()
            .unwrap()
            .contains("FYI, see below.")
    );
    // Recipients both as a parameter and in the message: 400.
    let r = post(
        &sb,
        &token,
        &format!("/me/messages/{id}/forward"),
        json!({"toRecipients": [{"emailAddress": {"address": users[3].mail}}],
               "message": {"toRecipients": [{"emailAddress": {"address": users[2].mail}}]}}),
    )
    .await;
    assert_eq!(r.status, 400);

    // createReply: the Comment is in the draft.
    let r = post(
        &sb,
        &token,
        &format!("/me/messages/{id}/createReply"),
        json!({"Comment": "Draft comment"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(
        r.body["body"]["content"]
            .as_str()
            .unwrap()
            .contains("Draft comment")
    );

    // copy and move: DestinationId.
    let r = post(
        &sb,
        &token,
        &format!("/me/messages/{id}/copy"),
        json!({"DestinationId": "drafts"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let drafts = get(&sb, &token, "/me/mailFolders/drafts").await.body["id"].clone();
    assert_eq!(r.body["parentFolderId"], drafts);
    let r = post(
        &sb,
        &token,
        &format!("/me/messages/{id}/move"),
        json!({"DestinationId": "archive"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let archive = get(&sb, &token, "/me/mailFolders/archive").await.body["id"].clone();
    assert_eq!(r.body["parentFolderId"], archive);
    assert_eq!(
        get(&sb, &token, &format!("/me/messages/{id}")).await.status,
        404
    );
    sb.shutdown().await;
}
