//! Contacts and contact folders: seeded data, paging, `$select`, create,
//! update, delete (a folder with what it holds), permissions, and what is
//! refused.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

async fn patch(
    sb: &switchboard_microsoft365_sandbox::SandboxHandle,
    token: &str,
    path: &str,
    body: Value,
) -> Resp {
    call(sb, token, Method::PATCH, path, Some(body), &[]).await
}

async fn delete(
    sb: &switchboard_microsoft365_sandbox::SandboxHandle,
    token: &str,
    path: &str,
) -> Resp {
    call(sb, token, Method::DELETE, path, None, &[]).await
}

/// The default folder's id and the Suppliers folder's id.
async fn folders(
    sb: &switchboard_microsoft365_sandbox::SandboxHandle,
    token: &str,
    who: &str,
) -> (String, String) {
    let r = get(sb, token, &format!("{who}/contactFolders")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let list = r.body["value"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    let id = |name: &str| {
        list.iter()
            .find(|f| f["displayName"] == name)
            .unwrap_or_else(|| panic!("no {name} folder in {list:?}"))["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (default, suppliers) = (id("Contacts"), id("Suppliers"));
    let s = list
        .iter()
        .find(|f| f["displayName"] == "Suppliers")
        .unwrap();
    assert_eq!(
        s["parentFolderId"],
        default.as_str(),
        "Suppliers is inside Contacts"
    );
    (default, suppliers)
}

#[tokio::test]
async fn seeded_contacts_page_and_select() {
    let sb = start(60).await;
    let token = user_token(&sb).await;
    let (default, suppliers) = folders(&sb, &token, "/me").await;
    // 12 contacts in the default folder: two pages at Outlook's default of 10
    let (all, pages) = all_pages(&sb, &token, "/me/contacts", &[]).await;
    assert_eq!((all.len(), pages), (12, 2));
    assert!(all.iter().all(|c| c["parentFolderId"] == default.as_str()));
    assert!(
        all.iter()
            .all(|c| c["emailAddresses"][0]["address"].is_string())
    );
    // $select keeps id and the asked properties only
    let r = get(&sb, &token, "/me/contacts?$select=displayName&$top=3").await;
    assert_eq!(r.status, 200);
    let first = &r.body["value"][0];
    let keys: Vec<&String> = first.as_object().unwrap().keys().collect();
    assert!(
        keys.iter()
            .all(|k| ["id", "displayName", "@odata.etag"].contains(&k.as_str())),
        "{keys:?}"
    );
    assert_eq!(r.body["value"].as_array().unwrap().len(), 3);
    // the folder's own listing
    let (in_folder, _) = all_pages(
        &sb,
        &token,
        &format!("/me/contactFolders/{suppliers}/contacts"),
        &[],
    )
    .await;
    assert_eq!(in_folder.len(), 3);
    // one by id, wherever it is
    let id = in_folder[0]["id"].as_str().unwrap();
    let r = get(&sb, &token, &format!("/me/contacts/{id}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["parentFolderId"], suppliers.as_str());
    sb.shutdown().await;
}

#[tokio::test]
async fn create_update_and_delete_a_contact() {
    let sb = start(61).await;
    let token = user_token(&sb).await;
    let (default, suppliers) = folders(&sb, &token, "/me").await;
    let r = post(
        &sb,
        &token,
        "/me/contacts",
        json!({"givenName": "Pavel", "surname": "Bansky", "emailAddresses": [{"address": "pavelb@contoso.com", "name": "Pavel Bansky"}], "businessPhones": ["+1 732 555 0102"]}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.body["displayName"], "Pavel Bansky",
        "built from the name fields"
    );
    assert_eq!(r.body["parentFolderId"], default.as_str());
    let id = r.body["id"].as_str().unwrap().to_string();
    let (all, _) = all_pages(&sb, &token, "/me/contacts", &[]).await;
    assert_eq!(all.len(), 13);

    let r = patch(
        &sb,
        &token,
        &format!("/me/contacts/{id}"),
        json!({"homeAddress": {"street": "123 Some street", "city": "Seattle", "state": "WA", "postalCode": "98121"}, "birthday": "1974-07-22T00:00:00Z"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["homeAddress"]["city"], "Seattle");
    assert_eq!(
        r.body["givenName"], "Pavel",
        "other properties keep their values"
    );
    let r = get(&sb, &token, &format!("/me/contacts/{id}")).await;
    assert_eq!(r.body["birthday"], "1974-07-22T00:00:00Z");

    // moving it to another folder
    let r = patch(
        &sb,
        &token,
        &format!("/me/contacts/{id}"),
        json!({"parentFolderId": suppliers}),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = get(
        &sb,
        &token,
        &format!("/me/contactFolders/{suppliers}/contacts/{id}"),
    )
    .await;
    assert_eq!(r.status, 200, "reachable through its new folder");
    let r = get(
        &sb,
        &token,
        &format!("/me/contactFolders/{default}/contacts/{id}"),
    )
    .await;
    assert_eq!(r.status, 404, "and not through the old one");

    let r = delete(&sb, &token, &format!("/me/contacts/{id}")).await;
    assert_eq!(r.status, 204);
    assert_eq!(
        get(&sb, &token, &format!("/me/contacts/{id}")).await.status,
        404
    );
    assert_eq!(
        delete(&sb, &token, &format!("/me/contacts/{id}"))
            .await
            .status,
        404
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn folders_are_created_and_deleted_with_their_contacts() {
    let sb = start(62).await;
    let token = user_token(&sb).await;
    let (default, _) = folders(&sb, &token, "/me").await;
    let r = post(
        &sb,
        &token,
        "/me/contactFolders",
        json!({"displayName": "Important contacts"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["parentFolderId"], default.as_str());
    let folder = r.body["id"].as_str().unwrap().to_string();
    // the same name twice is a conflict
    let r = post(
        &sb,
        &token,
        "/me/contactFolders",
        json!({"displayName": "important CONTACTS"}),
    )
    .await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (409, Some("ErrorFolderExists"))
    );
    // a folder inside it, and a contact in each
    let r = post(
        &sb,
        &token,
        "/me/contactFolders",
        json!({"displayName": "Inner", "parentFolderId": folder}),
    )
    .await;
    assert_eq!(r.status, 201);
    let inner = r.body["id"].as_str().unwrap().to_string();
    for f in [&folder, &inner] {
        let r = post(
            &sb,
            &token,
            &format!("/me/contactFolders/{f}/contacts"),
            json!({"givenName": "Ada"}),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.body["parentFolderId"], f.as_str());
    }
    let r = get(&sb, &token, &format!("/me/contactFolders/{folder}")).await;
    assert_eq!(r.body["displayName"], "Important contacts");
    assert_eq!(
        delete(&sb, &token, &format!("/me/contactFolders/{folder}"))
            .await
            .status,
        204
    );
    assert_eq!(
        get(&sb, &token, &format!("/me/contactFolders/{folder}"))
            .await
            .status,
        404
    );
    assert_eq!(
        get(&sb, &token, &format!("/me/contactFolders/{inner}"))
            .await
            .status,
        404
    );
    // the default folder cannot go
    let r = delete(&sb, &token, &format!("/me/contactFolders/{default}")).await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (400, Some("ErrorDeleteDistinguishedFolder"))
    );
    let (all, _) = all_pages(&sb, &token, "/me/contacts", &[]).await;
    assert_eq!(all.len(), 12, "the default folder kept its contacts");
    sb.shutdown().await;
}

#[tokio::test]
async fn bad_bodies_are_refused_with_the_property_named() {
    let sb = start(63).await;
    let token = user_token(&sb).await;
    for (body, code, needle) in [
        (
            json!({"givenName": "A", "planet": "Mars"}),
            "RequestBodyRead",
            "planet",
        ),
        (json!({"givenName": 7}), "RequestBodyRead", "givenName"),
        (
            json!({"emailAddresses": [{"address": "a@x"}, {"address": "b@x"}, {"address": "c@x"}, {"address": "d@x"}]}),
            "ErrorInvalidArgument",
            "3",
        ),
        (
            json!({"homeAddress": {"planet": "Mars"}}),
            "RequestBodyRead",
            "physicalAddress",
        ),
        (
            json!({"birthday": "someday"}),
            "RequestBodyRead",
            "birthday",
        ),
        (
            json!(["not", "an", "object"]),
            "ErrorInvalidRequest",
            "object",
        ),
    ] {
        let r = post(&sb, &token, "/me/contacts", body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(r.body["error"]["code"], code, "{body}");
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(needle),
            "{body}: {}",
            r.body
        );
    }
    let r = post(
        &sb,
        &token,
        "/me/contactFolders",
        json!({"displayName": ""}),
    )
    .await;
    assert_eq!(r.status, 400);
    let r = post(
        &sb,
        &token,
        "/me/contactFolders",
        json!({"displayName": "x".repeat(256)}),
    )
    .await;
    assert_eq!(r.status, 400);
    let (all, _) = all_pages(&sb, &token, "/me/contacts", &[]).await;
    assert_eq!(all.len(), 12, "nothing was created");
    sb.shutdown().await;
}

#[tokio::test]
async fn contacts_need_the_contacts_permission_and_stay_in_their_mailbox() {
    let sb = start(64).await;
    // a delegated token without Contacts.*
    let body = delegated(&sb, "https://graph.microsoft.com/User.Read https://graph.microsoft.com/Mail.Read offline_access", None).await;
    let token = body["access_token"].as_str().unwrap();
    let r = get(&sb, token, "/me/contacts").await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (403, Some("Authorization_RequestDenied"))
    );
    // Contacts.Read reads but does not write
    let body = delegated(
        &sb,
        "https://graph.microsoft.com/Contacts.Read offline_access",
        None,
    )
    .await;
    let reader = body["access_token"].as_str().unwrap();
    assert_eq!(get(&sb, reader, "/me/contacts").await.status, 200);
    assert_eq!(
        post(&sb, reader, "/me/contacts", json!({"givenName": "A"}))
            .await
            .status,
        403
    );
    // another user's contacts: not with delegated permissions
    let users = sb.users();
    let r = get(&sb, reader, &format!("/users/{}/contacts", users[3].id)).await;
    assert_eq!(r.status, 403);
    // the application reaches any mailbox
    let app = app_token(&sb).await;
    let (theirs, _) = all_pages(&sb, &app, &format!("/users/{}/contacts", users[3].id), &[]).await;
    assert_eq!(theirs.len(), 12);
    let (default, _) = folders(&sb, &app, &format!("/users/{}", users[3].id)).await;
    assert!(
        theirs
            .iter()
            .all(|c| c["parentFolderId"] == default.as_str())
    );
    sb.shutdown().await;
}
