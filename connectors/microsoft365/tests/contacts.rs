//! Contacts and contact folders through the engine against wiremock, in
//! both variants: the exact request that reaches Graph and what the caller
//! gets back (bodies from Microsoft's contact pages, see
//! fixtures/responses/SOURCES.md).

mod common;

use common::*;
use serde_json::json;
use switchboard_core::ErrorKind;
use switchboard_core::paging::ContinuationKind;
use wiremock::ResponseTemplate;

const FOLDER: &str = "AAMkAGI2TKI5AAA=";
const CONTACT: &str = "AAMkAGI2THk0AAA=";

#[tokio::test]
async fn list_contact_folders() {
    for who in BOTH {
        let case = Case::get(
            "contacts.list_contact_folders",
            "{principal}/contactFolders",
        )
        .args(json!({"select": ["displayName"], "top": 5, "filter": "displayName eq 'Contacts'"}))
        .query(&[
            ("$select", "displayName"),
            ("$top", "5"),
            ("$filter", "displayName eq 'Contacts'"),
        ]);
        let f = fixture("user-list-contactfolders");
        let listing = paged(who, &case, f.clone(), f, Ending::Complete).await;
        assert_eq!(listing.records.len(), 2);
        assert_eq!(listing.records[0]["displayName"], "Contacts");
        assert!(listing.continuation.is_none());
    }
}

#[tokio::test]
async fn get_contact_folder() {
    for who in BOTH_BY_ID {
        let case = Case::get(
            "contacts.get_contact_folder",
            "{principal}/contactFolders/AAMkAGI2TKI5AAA=",
        )
        .args(json!({"folder_id": FOLDER, "select": ["displayName", "parentFolderId"]}))
        .query(&[("$select", "displayName,parentFolderId")]);
        let body = fixture("contactfolder-get");
        let response = call(who, &case, json_response(200, &body)).await;
        assert_eq!(response.json(), Some(&body));
    }
}

#[tokio::test]
async fn create_contact_folder() {
    let parent = "AQMkADIxYjJiYgEzLTFmNjYALTRjYTMtODA1NC0wZDkxZGNmOTcxNTQALgAAA8RJzXYaLKZPlmn0ge0edZkBADa3qi2IMXRNg6RwQSHe_F8AAAIBDgAAAA==";
    for who in BOTH {
        let case = Case::post(
            "contacts.create_contact_folder",
            "{principal}/contactFolders",
        )
        .args(json!({"display_name": "Important contacts", "parent_folder_id": parent}))
        .body(json!({"displayName": "Important contacts", "parentFolderId": parent}));
        let body = fixture("user-post-contactfolders");
        let response = call(who, &case, json_response(201, &body)).await;
        assert_eq!(response.status(), 201);
        assert_eq!(response.json(), Some(&body));
    }
}

#[tokio::test]
async fn create_contact_folder_needs_a_name() {
    let server = server().await;
    let err = engine()
        .call(
            &ctx(&server, Who::Me),
            "contacts.create_contact_folder",
            switchboard_core::Arguments::from_map(serde_json::Map::new()),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(err.field(), Some("display_name"));
    // nothing reached the server (its catch-all expects no request)
    server.verify().await;
}

#[tokio::test]
async fn delete_contact_folder_answers_204() {
    for who in BOTH {
        let case = Case::new(
            "contacts.delete_contact_folder",
            "DELETE",
            "{principal}/contactFolders/AAMkAGI2TKI5AAA=",
        )
        .args(json!({"folder_id": FOLDER}));
        let response = call(who, &case, ResponseTemplate::new(204)).await;
        assert_eq!(response.status(), 204);
        assert_eq!(response.json(), None);
    }
}

#[tokio::test]
async fn list_contacts_filtered_by_address() {
    let filter = "emailAddresses/any(a:a/address eq 'garth@contoso.com')";
    for who in BOTH {
        let case = Case::get("contacts.list_contacts", "{principal}/contacts")
            .args(
                json!({"filter": filter, "select": ["displayName", "emailAddresses"], "skip": 10}),
            )
            .query(&[
                ("$filter", filter),
                ("$select", "displayName,emailAddresses"),
                ("$skip", "10"),
            ]);
        let f = fixture("user-list-contacts");
        let listing = paged(who, &case, f.clone(), f, Ending::Complete).await;
        assert_eq!(listing.records.len(), 2);
        assert_eq!(listing.records[1]["givenName"], "givenName-value");
    }
}

#[tokio::test]
async fn list_folder_contacts() {
    for who in BOTH_BY_ID {
        let case = Case::get(
            "contacts.list_folder_contacts",
            "{principal}/contactFolders/AAMkAGI2TKI5AAA=/contacts",
        )
        .args(json!({"folder_id": FOLDER, "orderby": ["displayName desc"], "top": 50}))
        .query(&[("$orderby", "displayName desc"), ("$top", "50")]);
        let f = fixture("user-list-contacts");
        paged(who, &case, f.clone(), f, Ending::Complete).await;
    }
}

#[tokio::test]
async fn get_contact() {
    let id = "AAMkAGVmMDEzMTM4LTZmYWUtNDdkNC1hMDZiLTU1OGY5OTZhYmY4OABGAAAAAAAiQ8W967B7TKBjgx9rVEURBwAiIsqMbYjsT5e-T7KzowPTAAAAAAEOAAAiIsqMbYjsT5e-T7KzowPTAAAYbuK-AAA=";
    for who in BOTH {
        let path: &'static str = Box::leak(format!("{{principal}}/contacts/{id}").into_boxed_str());
        let case = Case::get("contacts.get_contact", path)
            .args(json!({"contact_id": id, "select": ["displayName", "emailAddresses"]}))
            .query(&[("$select", "displayName,emailAddresses")]);
        let body = fixture("contact-get");
        let response = call(who, &case, json_response(200, &body)).await;
        assert_eq!(response.json(), Some(&body));
        assert_eq!(body["displayName"], "Alex Wilber");
    }
}

#[tokio::test]
async fn create_contact() {
    let addresses = json!([{"address": "pavelb@contoso.com", "name": "Pavel Bansky"}]);
    for who in BOTH {
        let case = Case::post("contacts.create_contact", "{principal}/contacts")
            .args(json!({
                "given_name": "Pavel",
                "surname": "Bansky",
                "email_addresses": addresses,
                "business_phones": ["+1 732 555 0102"]
            }))
            .body(json!({
                "givenName": "Pavel",
                "surname": "Bansky",
                "emailAddresses": addresses,
                "businessPhones": ["+1 732 555 0102"]
            }));
        let body = fixture("user-post-contacts");
        let response = call(who, &case, json_response(201, &body)).await;
        assert_eq!(response.status(), 201);
        assert_eq!(response.json(), Some(&body));
    }
}

#[tokio::test]
async fn more_than_three_email_addresses_are_refused_before_sending() {
    let server = server().await;
    let four: Vec<_> = (0..4)
        .map(|i| json!({"address": format!("p{i}@contoso.com")}))
        .collect();
    let err = engine()
        .call(
            &ctx(&server, Who::Me),
            "contacts.create_contact",
            switchboard_core::Arguments::from_map(
                json!({"given_name": "P", "email_addresses": four})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(err.field(), Some("email_addresses"));
    server.verify().await;
}

#[tokio::test]
async fn create_contact_in_a_folder() {
    for who in BOTH_BY_ID {
        let case = Case::post(
            "contacts.create_folder_contact",
            "{principal}/contactFolders/AAMkAGI2TKI5AAA=/contacts",
        )
        .args(json!({"folder_id": FOLDER, "given_name": "Pavel", "surname": "Bansky", "company_name": "Contoso"}))
        .body(json!({"givenName": "Pavel", "surname": "Bansky", "companyName": "Contoso"}));
        let body = fixture("user-post-contacts");
        let response = call(who, &case, json_response(201, &body)).await;
        assert_eq!(response.json(), Some(&body));
    }
}

#[tokio::test]
async fn update_contact() {
    let address = json!({"street": "123 Some street", "city": "Seattle", "state": "WA", "postalCode": "98121"});
    for who in BOTH {
        let case = Case::new(
            "contacts.update_contact",
            "PATCH",
            "{principal}/contacts/AAMkAGI2THk0AAA=",
        )
        .args(json!({"contact_id": CONTACT, "home_address": address, "birthday": "1974-07-22T00:00:00Z"}))
        .body(json!({"homeAddress": address, "birthday": "1974-07-22T00:00:00Z"}));
        let body = fixture("contact-update");
        let response = call(who, &case, json_response(200, &body)).await;
        assert_eq!(response.json(), Some(&body));
        assert_eq!(body["homeAddress"], address);
    }
}

#[tokio::test]
async fn delete_contact_answers_204() {
    for who in BOTH {
        let case = Case::new(
            "contacts.delete_contact",
            "DELETE",
            "{principal}/contacts/AAMkAGI2THk0AAA=",
        )
        .args(json!({"contact_id": CONTACT}));
        assert_eq!(
            call(who, &case, ResponseTemplate::new(204)).await.status(),
            204
        );
    }
}

#[tokio::test]
async fn contacts_delta_per_folder_ends_with_the_delta_link() {
    for who in BOTH {
        let case = Case::get(
            "contacts.contacts_delta",
            "{principal}/contactFolders/AAMkAGI2TKI5AAA=/contacts/delta",
        )
        .args(json!({"folder_id": FOLDER, "select": ["displayName"], "prefer_max_page_size": 2}))
        .query(&[("$select", "displayName")])
        .header("Prefer", "odata.maxpagesize=2");
        let f = fixture("contact-delta");
        let listing = paged(who, &case, f.clone(), f, Ending::DeltaLink).await;
        assert_eq!(listing.records.len(), 2);
        let next = listing.continuation.unwrap();
        assert_eq!(next.kind(), ContinuationKind::Delta);
        assert_eq!(next.expose_link(), listing.delta_link);
    }
}

/// A folder id cannot add a path segment: `/` is refused or encoded, never
/// sent as a separator.
#[tokio::test]
async fn a_folder_id_cannot_move_the_path() {
    let server = server().await;
    let result = engine()
        .call(
            &ctx(&server, Who::Me),
            "contacts.contacts_delta",
            switchboard_core::Arguments::from_map(
                json!({"folder_id": "../messages"})
                    .as_object()
                    .unwrap()
                    .clone(),
            ),
        )
        .await;
    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert_eq!(err.field(), Some("folder_id"));
    server.verify().await;
}
