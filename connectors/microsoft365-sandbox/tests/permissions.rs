//! Permission checks (403 Authorization_RequestDenied) and token
//! validation (401 InvalidAuthenticationToken), in Graph's error format.

mod common;

use common::*;
use reqwest::Method;

#[tokio::test]
async fn a_token_without_the_scope_gets_403_in_graphs_format() {
    let sb = start(10).await;
    let token = delegated(&sb, "User.Read", None).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = call(
        &sb,
        &token,
        Method::GET,
        "/me/messages",
        None,
        &[("client-request-id", "abc-123")],
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body["error"]["code"], "Authorization_RequestDenied");
    assert_eq!(
        r.body["error"]["message"],
        "Insufficient privileges to complete the operation."
    );
    let inner = &r.body["error"]["innerError"];
    assert_eq!(inner["client-request-id"], "abc-123");
    assert!(inner["request-id"].is_string() && inner["date"].is_string());
    assert_eq!(r.headers["client-request-id"], "abc-123");
    // The permission it has is enough for /me.
    assert_eq!(get(&sb, &token, "/me").await.status, 200);
    // Any permission that grants the operation passes (Mail.ReadWrite grants reading).
    let token = delegated(&sb, "Mail.ReadWrite", None).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(get(&sb, &token, "/me/messages").await.status, 200);
    // Sending needs Mail.Send, which Mail.ReadWrite does not grant.
    let r = post(&sb, &token, "/me/sendMail", serde_json::json!({"message": {"subject": "x", "toRecipients": [{"emailAddress": {"address": "a@b.example"}}]}})).await;
    assert_eq!(r.status, 403);
    sb.shutdown().await;
}

#[tokio::test]
async fn application_tokens_use_roles_and_cannot_use_me() {
    let sb = start(11).await;
    let token = app_token(&sb).await;
    let user = &sb.users()[0];
    let r = get(&sb, &token, &format!("/users/{}/messages?$top=1", user.id)).await;
    assert_eq!(r.status, 200);
    let r = get(&sb, &token, "/me").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["code"], "BadRequest");
    // findMeetingTimes has no application permission.
    let r = post(
        &sb,
        &token,
        &format!("/users/{}/findMeetingTimes", user.id),
        serde_json::json!({}),
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body["error"]["code"], "Authorization_RequestDenied");
    sb.shutdown().await;
}

#[tokio::test]
async fn an_app_registered_with_fewer_roles_is_refused_what_it_lacks() {
    let mut app = switchboard_microsoft365_sandbox::ClientRegistration::seeded(12);
    app.application_permissions = vec!["User.Read.All".into()];
    let config = switchboard_microsoft365_sandbox::SandboxConfig::new(12).with_client(app);
    let sb = switchboard_microsoft365_sandbox::Sandbox::start(config)
        .await
        .unwrap();
    let token = app_token(&sb).await;
    let user = &sb.users()[1];
    assert_eq!(
        get(&sb, &token, &format!("/users/{}", user.id))
            .await
            .status,
        200
    );
    let r = get(
        &sb,
        &token,
        &format!("/users/{}/drive/root/children", user.id),
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body["error"]["code"], "Authorization_RequestDenied");
    sb.shutdown().await;
}

#[tokio::test]
async fn expired_missing_and_forged_tokens_get_401() {
    let sb = start(13).await;
    let token = user_token(&sb).await;
    assert_eq!(get(&sb, &token, "/me").await.status, 200);
    sb.expire_all_tokens();
    let r = get(&sb, &token, "/me").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"]["code"], "InvalidAuthenticationToken");
    assert!(r.headers.contains_key("www-authenticate"));
    let r = client()
        .get(format!("{}/v1.0/me", sb.graph_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // A token signed by another sandbox (another seed) is not accepted.
    let other = start(14).await;
    let foreign = user_token(&other).await;
    let r = get(&sb, &foreign, "/me").await;
    assert_eq!(r.status, 401);
    // A fresh token works again.
    let token = user_token(&sb).await;
    assert_eq!(get(&sb, &token, "/me").await.status, 200);
    other.shutdown().await;
    sb.shutdown().await;
}

#[tokio::test]
async fn users_by_upn_including_guests_and_other_mailboxes() {
    let sb = start(15).await;
    let token = app_token(&sb).await;
    let users = sb.users();
    let guest = users.iter().find(|u| u.user_type == "Guest").unwrap();
    assert!(guest.user_principal_name.contains("#EXT#"));
    let encoded = guest.user_principal_name.replace('#', "%23").to_uppercase();
    let r = get(&sb, &token, &format!("/users/{encoded}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["id"], guest.id.as_str());
    let r = get(&sb, &token, "/users/nobody@nowhere.example").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"]["code"], "Request_ResourceNotFound");
    // A delegated user cannot read another user's mailbox.
    let me = user_token(&sb).await;
    let r = get(&sb, &me, &format!("/users/{}/messages", users[3].id)).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body["error"]["code"], "ErrorAccessDenied");
    // Unknown messages are Outlook's 404, unknown items OneDrive's.
    let r = get(&sb, &me, "/me/messages/AAMkAGdoesnotexist").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"]["code"], "ErrorItemNotFound");
    let r = get(&sb, &me, "/me/drive/items/01NOSUCHITEM").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"]["code"], "itemNotFound");
    sb.shutdown().await;
}
