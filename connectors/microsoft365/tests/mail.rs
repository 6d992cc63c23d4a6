//! Mail through the engine against wiremock, in both variants: the exact
//! request that reaches Graph and what the caller gets back (Microsoft
//! docs bodies). `sendMail` answers 202 with no body and is never resent
//! after a 5xx or a timeout.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use switchboard_core::ErrorKind;
use switchboard_core::paging::ContinuationKind;
use wiremock::ResponseTemplate;

const MSG: &str = "AAMkADhAAATs28OAAA=";

fn message() -> Value {
    json!({
        "subject": "Meet for lunch?",
        "body": {"contentType": "Text", "content": "The new cafeteria is open."},
        "toRecipients": [{"emailAddress": {"address": "fannyd@contoso.onmicrosoft.com"}}],
        "ccRecipients": [{"emailAddress": {"address": "danas@contoso.onmicrosoft.com"}}]
    })
}

fn send_mail_case() -> Case {
    Case::post("mail.send_mail", "{principal}/sendMail")
        .args(json!({"message": message(), "save_to_sent_items": false}))
        .body(json!({"message": message(), "saveToSentItems": false}))
}

#[tokio::test]
async fn list_messages_with_a_body_preference() {
    for who in BOTH {
        let case = Case::get("mail.list_messages", "{principal}/messages")
            .args(json!({"select": ["sender", "subject"], "top": 25, "prefer_body_type": "text"}))
            .query(&[("$select", "sender,subject"), ("$top", "25")])
            .header("Prefer", "outlook.body-content-type=\"text\"");
        let f = fixture("user-list-messages");
        paged(who, &case, f.clone(), f, Ending::Complete).await;
    }
}

#[tokio::test]
async fn list_messages_with_search() {
    for who in BOTH_BY_ID {
        let case = Case::get("mail.list_messages", "{principal}/messages")
            .args(json!({"search": "\"pizza\""}))
            .query(&[("$search", "\"pizza\"")]);
        let f = fixture("user-list-messages");
        paged(who, &case, f.clone(), f, Ending::Complete).await;
    }
}

#[tokio::test]
async fn list_folder_messages() {
    for who in BOTH {
        let case = Case::get("mail.list_folder_messages", "{principal}/mailFolders/inbox/messages")
            .args(json!({"folder_id": "inbox", "filter": "isRead eq false", "orderby": ["receivedDateTime desc"]}))
            .query(&[("$filter", "isRead eq false"), ("$orderby", "receivedDateTime desc")]);
        let f = fixture("mailfolder-list-messages");
        paged(who, &case, f.clone(), f, Ending::Complete).await;
    }
}

#[tokio::test]
async fn list_mail_folders_including_hidden_ones() {
    for who in BOTH {
        let case = Case::get("mail.list_mail_folders", "{principal}/mailFolders")
            .args(json!({"include_hidden_folders": true}))
            .query(&[("includeHiddenFolders", "true")]);
        let f = fixture("user-list-mailfolders");
        let listing = paged(who, &case, f.clone(), f, Ending::Complete).await;
        assert_eq!(listing.records.len(), 18);
    }
}

#[tokio::test]
async fn list_child_folders() {
    for who in BOTH_BY_ID {
        let case = Case::get(
            "mail.list_child_folders",
            "{principal}/mailFolders/AAMkAGVmMDEzM/childFolders",
        )
        .args(json!({"folder_id": "AAMkAGVmMDEzM"}));
        let f = fixture("mailfolder-list-childfolders");
        paged(who, &case, f.clone(), f, Ending::Complete).await;
    }
}

#[tokio::test]
async fn get_message_as_text() {
    for who in BOTH {
        let case = Case::get("mail.get_message", "{principal}/messages/AAMkADhAAATs28OAAA=")
            .args(json!({"message_id": MSG, "select": ["subject", "body", "bodyPreview", "uniqueBody"], "prefer_body_type": "text"}))
            .query(&[("$select", "subject,body,bodyPreview,uniqueBody")])
            .header("Prefer", "outlook.body-content-type=\"text\"");
        let body = fixture("message-get-text");
        let response = call(who, &case, json_response(200, &body)).await;
        assert_eq!(response.json(), Some(&body));
    }
}

#[tokio::test]
async fn send_mail_answers_202_with_no_body() {
    for who in BOTH {
        let response = call(who, &send_mail_case(), ResponseTemplate::new(202)).await;
        assert_eq!(response.status(), 202);
        assert_eq!(response.json(), None);
    }
}

/// A 504 after `sendMail` may hide a sent message: no retry, OutcomeUnknown.
#[tokio::test]
async fn send_mail_is_never_resent_after_a_504() {
    for who in BOTH {
        let server = server().await;
        let case = send_mail_case();
        case.mock(who, &[])
            .respond_with(ResponseTemplate::new(504))
            .expect(1)
            .mount(&server)
            .await;
        let err = engine()
            .call(&ctx(&server, who), case.method_id, case.arguments(who))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::OutcomeUnknown);
        assert_eq!(err.status(), Some(504));
        server.verify().await;
    }
}

#[tokio::test]
async fn send_mail_is_never_resent_after_a_timeout() {
    let server = server().await;
    let case = send_mail_case();
    case.mock(Who::Me, &[])
        .respond_with(ResponseTemplate::new(202).set_delay(Duration::from_secs(2)))
        .expect(1)
        .mount(&server)
        .await;
    let err = engine_with(policy(), Some(Duration::from_millis(300)))
        .call(
            &ctx(&server, Who::Me),
            case.method_id,
            case.arguments(Who::Me),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::OutcomeUnknown);
    server.verify().await;
}

#[tokio::test]
async fn create_draft() {
    for who in BOTH {
        let case = Case::post("mail.create_draft", "{principal}/messages")
            .args(json!({
                "subject": "Did you see last night's game?",
                "importance": "low",
                "body": {"contentType": "HTML", "content": "They were <b>awesome</b>!"},
                "to_recipients": [{"emailAddress": {"address": "AdeleV@contoso.onmicrosoft.com"}}]
            }))
            .body(json!({
                "subject": "Did you see last night's game?",
                "importance": "low",
                "body": {"contentType": "HTML", "content": "They were <b>awesome</b>!"},
                "toRecipients": [{"emailAddress": {"address": "AdeleV@contoso.onmicrosoft.com"}}]
            }));
        let body = fixture("user-post-messages");
        let response = call(who, &case, json_response(201, &body)).await;
        assert_eq!(response.status(), 201);
        assert_eq!(response.json(), Some(&body));
    }
}

#[tokio::test]
async fn send_draft_answers_202() {
    for who in BOTH {
        let case = Case::post(
            "mail.send_draft",
            "{principal}/messages/AAMkADhAAATs28OAAA=/send",
        )
        .args(json!({"message_id": MSG}));
        assert_eq!(
            call(who, &case, ResponseTemplate::new(202)).await.status(),
            202
        );
    }
}

#[tokio::test]
async fn reply_reply_all_and_forward_answer_202() {
    let recipients = json!([{"emailAddress": {"name": "name-value", "address": "address-value"}}]);
    for (method, action, args, wire) in [
        (
            "mail.reply",
            "reply",
            json!({"comment": "Samantha, Randi, would you name the group please?"}),
            json!({"comment": "Samantha, Randi, would you name the group please?"}),
        ),
        (
            "mail.reply_all",
            "replyAll",
            json!({"comment": "comment-value"}),
            json!({"comment": "comment-value"}),
        ),
        (
            "mail.forward",
            "forward",
            json!({"comment": "comment-value", "to_recipients": recipients}),
            json!({"comment": "comment-value", "toRecipients": recipients}),
        ),
    ] {
        for who in BOTH {
            let mut args = args.clone();
            args["message_id"] = json!(MSG);
            let path: &'static str =
                Box::leak(format!("{{principal}}/messages/{MSG}/{action}").into_boxed_str());
            let case = Case::post(method, path).args(args).body(wire.clone());
            assert_eq!(
                call(who, &case, ResponseTemplate::new(202)).await.status(),
                202,
                "{method}"
            );
        }
    }
}

#[tokio::test]
async fn move_message() {
    for who in BOTH_BY_ID {
        let case = Case::post(
            "mail.move_message",
            "{principal}/messages/AAMkADhAAATs28OAAA=/move",
        )
        .args(json!({"message_id": MSG, "destination_id": "deleteditems"}))
        .body(json!({"destinationId": "deleteditems"}));
        let body = fixture("message-move");
        let response = call(who, &case, json_response(201, &body)).await;
        assert_eq!(response.json(), Some(&body));
    }
}

#[tokio::test]
async fn delete_message_answers_204() {
    for who in BOTH {
        let case = Case::new(
            "mail.delete_message",
            "DELETE",
            "{principal}/messages/AAMkADhAAATs28OAAA=",
        )
        .args(json!({"message_id": MSG}));
        assert_eq!(
            call(who, &case, ResponseTemplate::new(204)).await.status(),
            204
        );
    }
}

#[tokio::test]
async fn list_attachments() {
    for who in BOTH {
        let case = Case::get(
            "mail.list_attachments",
            "{principal}/messages/AAMkADhAAATs28OAAA=/attachments",
        )
        .args(json!({"message_id": MSG, "select": ["name", "size"]}))
        .query(&[("$select", "name,size")]);
        let f = fixture("message-list-attachments");
        paged(who, &case, f.clone(), f, Ending::Complete).await;
    }
}

#[tokio::test]
async fn add_a_small_file_attachment() {
    for who in BOTH {
        let case = Case::post("mail.add_attachment", "{principal}/messages/AAMkADhAAATs28OAAA=/attachments")
            .args(json!({"message_id": MSG, "name": "smile", "content_bytes": "R0lGODdhEAYEAA7", "content_type": "image/gif"}))
            .body(json!({
                "@odata.type": "#microsoft.graph.fileAttachment",
                "name": "smile",
                "contentBytes": "R0lGODdhEAYEAA7",
                "contentType": "image/gif"
            }));
        let body = fixture("message-post-attachments");
        let response = call(who, &case, json_response(201, &body)).await;
        assert_eq!(response.json(), Some(&body));
    }
}

#[tokio::test]
async fn messages_delta_per_folder_ends_with_the_delta_link() {
    for who in BOTH {
        let case = Case::get("mail.messages_delta", "{principal}/mailFolders/inbox/messages/delta")
            .args(json!({"folder_id": "inbox", "select": ["subject", "sender"], "prefer_max_page_size": 2}))
            .query(&[("$select", "subject,sender")])
            .header("Prefer", "odata.maxpagesize=2");
        let f = fixture("message-delta");
        let listing = paged(who, &case, f.clone(), f, Ending::DeltaLink).await;
        let next = listing.continuation.unwrap();
        assert_eq!(next.kind(), ContinuationKind::Delta);
        assert_eq!(next.expose_link(), listing.delta_link);
    }
}

#[tokio::test]
async fn get_mailbox_settings() {
    for who in BOTH {
        let case = Case::get("mail.get_mailbox_settings", "{principal}/mailboxSettings");
        let body = fixture("user-get-mailboxsettings");
        assert_eq!(
            call(who, &case, json_response(200, &body)).await.json(),
            Some(&body)
        );
    }
}
