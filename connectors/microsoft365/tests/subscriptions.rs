//! Change-notification subscriptions through the engine against wiremock,
//! in both variants (the same `/subscriptions` path for both): the exact
//! request that reaches Graph and what the caller gets back (bodies from
//! Microsoft's subscription pages, see fixtures/responses/SOURCES.md), and
//! the data of `definitions/subscription_resources.json` checked against
//! the method definitions.

mod common;

use common::*;
use serde_json::{Value, json};
use switchboard_core::definition::{HttpMethod, Pagination, ParameterLocation};
use switchboard_core::{Arguments, ErrorKind};
use switchboard_microsoft365::subscription_resources::SubscriptionResources;
use wiremock::ResponseTemplate;

const SUB: &str = "7f105c7d-2dc5-4530-97cd-4e7ae6534c07";

fn args(v: Value) -> Arguments {
    Arguments::from_map(v.as_object().unwrap().clone())
}

fn create_case() -> Case {
    Case::post("subscriptions.create_subscription", "/subscriptions")
        .args(json!({
            "change_type": "created",
            "notification_url": "https://webhook.azurewebsites.net/api/send/myNotifyClient",
            "resource": "me/mailFolders('Inbox')/messages",
            "expiration_date_time": "2016-11-20T18:23:45.9356913Z",
            "client_state": "secretClientValue",
            "latest_supported_tls_version": "v1_2"
        }))
        .body(json!({
            "changeType": "created",
            "notificationUrl": "https://webhook.azurewebsites.net/api/send/myNotifyClient",
            "resource": "me/mailFolders('Inbox')/messages",
            "expirationDateTime": "2016-11-20T18:23:45.9356913Z",
            "clientState": "secretClientValue",
            "latestSupportedTlsVersion": "v1_2"
        }))
}

#[tokio::test]
async fn create_subscription() {
    for who in BOTH {
        let body = fixture("subscription-post-subscriptions");
        let response = call(who, &create_case(), json_response(201, &body)).await;
        assert_eq!(response.status(), 201);
        assert_eq!(response.json(), Some(&body));
    }
}

#[tokio::test]
async fn create_subscription_with_a_lifecycle_url() {
    let case = Case::post("subscriptions.create_subscription", "/subscriptions")
        .args(json!({
            "change_type": "created,updated",
            "notification_url": "https://webhook.azurewebsites.net/api/resourceNotifications",
            "lifecycle_notification_url": "https://webhook.azurewebsites.net/api/lifecycleNotifications",
            "resource": "/users/87d349ed-44d7-43e1-9a83-5f2406dee5bd/messages",
            "expiration_date_time": "2020-03-20T11:00:00Z",
            "client_state": "<secretClientState>"
        }))
        .body(json!({
            "changeType": "created,updated",
            "notificationUrl": "https://webhook.azurewebsites.net/api/resourceNotifications",
            "lifecycleNotificationUrl": "https://webhook.azurewebsites.net/api/lifecycleNotifications",
            "resource": "/users/87d349ed-44d7-43e1-9a83-5f2406dee5bd/messages",
            "expirationDateTime": "2020-03-20T11:00:00Z",
            "clientState": "<secretClientState>"
        }));
    let body = fixture("subscription-post-subscriptions");
    let response = call(Who::User(USER_ID), &case, json_response(201, &body)).await;
    assert_eq!(response.json(), Some(&body));
}

/// Bad subscriptions are refused before anything is sent: a resource that
/// is not one the connector knows (or tries to add a query), a change type
/// Graph does not have, a client state over 128 characters, a notification
/// URL that is not absolute.
#[tokio::test]
async fn bad_subscriptions_are_refused_before_sending() {
    let good = json!({
        "change_type": "created",
        "notification_url": "https://example.com/hook",
        "resource": "me/contacts",
        "expiration_date_time": "2030-01-01T00:00:00Z"
    });
    for (field, value) in [
        ("resource", json!("me/contacts?$filter=x")),
        ("resource", json!("groups/abc/conversations")),
        ("resource", json!("me/mailFolders('a/b')/messages")),
        ("resource", json!("me/../../admin")),
        ("change_type", json!("created,moved")),
        ("change_type", json!("")),
        ("client_state", json!("x".repeat(129))),
        ("notification_url", json!("not a url")),
        ("expiration_date_time", json!("next tuesday")),
    ] {
        let server = server().await;
        let mut a = good.clone();
        a[field] = value.clone();
        let err = engine()
            .call(
                &ctx(&server, Who::Me),
                "subscriptions.create_subscription",
                args(a),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{field}={value}");
        assert_eq!(err.field(), Some(field), "{field}={value}: {err}");
        server.verify().await;
    }
}

#[tokio::test]
async fn list_subscriptions() {
    for who in BOTH {
        let case = Case::get("subscriptions.list_subscriptions", "/subscriptions");
        let f = fixture("subscription-list");
        let listing = paged(who, &case, f.clone(), f, Ending::Complete).await;
        assert_eq!(listing.records.len(), 2);
        assert_eq!(listing.records[0]["changeType"], "updated,deleted");
    }
}

#[tokio::test]
async fn get_subscription() {
    for who in BOTH {
        let case = Case::get(
            "subscriptions.get_subscription",
            "/subscriptions/7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
        )
        .args(json!({"subscription_id": SUB}));
        let body = fixture("subscription-get");
        assert_eq!(
            call(who, &case, json_response(200, &body)).await.json(),
            Some(&body)
        );
    }
}

#[tokio::test]
async fn renew_subscription() {
    for who in BOTH {
        let case = Case::new(
            "subscriptions.renew_subscription",
            "PATCH",
            "/subscriptions/7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
        )
        .args(
            json!({"subscription_id": SUB, "expiration_date_time": "2016-11-22T18:23:45.9356913Z"}),
        )
        .body(json!({"expirationDateTime": "2016-11-22T18:23:45.9356913Z"}));
        let body = fixture("subscription-update");
        let response = call(who, &case, json_response(200, &body)).await;
        assert_eq!(response.json(), Some(&body));
    }
}

#[tokio::test]
async fn reauthorize_subscription_answers_204() {
    for who in BOTH {
        let case = Case::post(
            "subscriptions.reauthorize_subscription",
            "/subscriptions/7f105c7d-2dc5-4530-97cd-4e7ae6534c07/reauthorize",
        )
        .args(json!({"subscription_id": SUB}));
        assert_eq!(
            call(who, &case, ResponseTemplate::new(204)).await.status(),
            204
        );
    }
}

#[tokio::test]
async fn delete_subscription_answers_204() {
    for who in BOTH {
        let case = Case::new(
            "subscriptions.delete_subscription",
            "DELETE",
            "/subscriptions/7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
        )
        .args(json!({"subscription_id": SUB}));
        assert_eq!(
            call(who, &case, ResponseTemplate::new(204)).await.status(),
            204
        );
    }
}

/// A subscription id is a GUID: anything else never reaches the path.
#[tokio::test]
async fn a_subscription_id_must_be_a_guid() {
    for bad in [
        "../users",
        "7f105c7d",
        "7f105c7d-2dc5-4530-97cd-4e7ae6534c07/x",
    ] {
        let server = server().await;
        let err = engine()
            .call(
                &ctx(&server, Who::Me),
                "subscriptions.delete_subscription",
                args(json!({"subscription_id": bad})),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad}");
        assert_eq!(err.field(), Some("subscription_id"));
        server.verify().await;
    }
}

/// Every resource's path, rendered for each variant, is one the create
/// method's `resource` pattern accepts; its delta method exists and is a
/// delta; its change types are ones the create method's `change_type`
/// accepts; its first permission is in the create method's list.
#[tokio::test]
async fn subscription_resources_fit_the_method_definitions() {
    let def = connector();
    let resources = SubscriptionResources::embedded().unwrap();
    let create = def.method("subscriptions.create_subscription").unwrap();
    assert_eq!(create.http_method, HttpMethod::Post);
    let param = |name: &str| {
        create
            .parameters
            .iter()
            .find(|p| p.name == name && p.location == ParameterLocation::Body)
            .unwrap()
    };
    let full = |pattern: &str| regex::Regex::new(&format!("^(?:{pattern})$")).unwrap();
    let resource_re = full(param("resource").pattern.as_deref().unwrap());
    let change_re = full(param("change_type").pattern.as_deref().unwrap());
    for r in resources.iter() {
        for variant in ["delegated", "application"] {
            let path = r
                .resource_for(
                    variant,
                    &[
                        ("user_id", "87d349ed-44d7-43e1-9a83-5f2406dee5bd"),
                        ("folder_id", "inbox"),
                    ],
                )
                .unwrap();
            assert!(resource_re.is_match(&path), "{} ({variant}): {path}", r.id);
            let first = &r.permissions_for(variant)[0];
            assert!(
                create.permissions_for(variant).contains(first),
                "{} ({variant}): {first}",
                r.id
            );
        }
        assert!(change_re.is_match(&r.change_types.join(",")), "{}", r.id);
        let delta = def
            .method(&r.delta_method)
            .unwrap_or_else(|| panic!("{}: no method {}", r.id, r.delta_method));
        assert_eq!(
            delta.pagination,
            Pagination::OdataDelta,
            "{}",
            r.delta_method
        );
    }
    // and the pattern is not a catch-all
    for wrong in [
        "me",
        "me/mailFolders",
        "groups",
        "users/a/b/c",
        "me/events/x",
    ] {
        assert!(!resource_re.is_match(wrong), "{wrong}");
    }
}
