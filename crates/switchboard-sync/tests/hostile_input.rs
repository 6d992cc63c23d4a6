//! Hostile notification bodies and validation tokens against the
//! `Receiver`: nothing panics, nothing unverified is handed out, every
//! answer is one of the documented statuses, echoed tokens are bounded.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::Request;
use proptest::prelude::*;
use serde_json::{Value, json};
use switchboard_hostile::{config, json as hostile_json, mutate, text};
use switchboard_installations::install::{
    Installation, InstallationSecrets, InstallationStore, MemoryInstallationStore,
};
use switchboard_sync::{
    MemorySubscriptionStore, Notification, Receiver, SubscriptionRecord, SubscriptionStore,
    SubscriptionTarget, client_state_name,
};

const SUB: &str = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9";
const STATE: &str = "the-one-true-client-state";
const KEYS: &[&str] = &[
    "value",
    "subscriptionId",
    "clientState",
    "changeType",
    "resource",
    "resourceData",
    "id",
    "lifecycleEvent",
];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn receiver(rt: &tokio::runtime::Runtime) -> Receiver {
    rt.block_on(async {
        let installs = Arc::new(MemoryInstallationStore::new());
        let inst = installs
            .create(
                Installation::new("acct", "microsoft365", "1.0.0", "application"),
                InstallationSecrets::default().with_continuation(client_state_name(SUB), STATE),
            )
            .await
            .unwrap();
        let records = Arc::new(MemorySubscriptionStore::default());
        records
            .put_subscription(&SubscriptionRecord::new(
                SUB,
                inst.id,
                SubscriptionTarget::new(
                    "messages",
                    "users/u/messages",
                    "created",
                    "https://platform.example/n",
                    Duration::from_secs(600),
                ),
                SystemTime::now() + Duration::from_secs(600),
            ))
            .await
            .unwrap();
        Receiver::new(records, installs).with_max_body(64 * 1024)
    })
}

fn valid_batch() -> Value {
    json!({"value": [
        {"subscriptionId": SUB, "clientState": STATE, "changeType": "created",
         "resource": "users/u/messages/m1", "resourceData": {"id": "m1"}},
        {"subscriptionId": SUB, "clientState": STATE, "lifecycleEvent": "missed"}
    ]})
}

fn post(query: &str, body: Vec<u8>) -> Request<Vec<u8>> {
    Request::post(format!("https://platform.example/n{query}"))
        .body(body)
        .unwrap()
}

/// How many items of `body` name our subscription with our state: the
/// most the receiver may hand out.
fn genuine(body: &Value) -> usize {
    body.get("value")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter(|i| i["subscriptionId"] == SUB && i["clientState"] == STATE)
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn the_valid_batch_passes_whole() {
    let rt = runtime();
    let rx = receiver(&rt);
    let got = rt.block_on(rx.receive(&post("", valid_batch().to_string().into_bytes())));
    assert_eq!(got.response.status(), 202);
    assert_eq!(got.notifications.len(), 2);
    assert!(
        matches!(&got.notifications[1], Notification::Lifecycle { event, .. } if event == "missed")
    );
    assert_eq!(got.refused, 0);
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn mutated_batches_never_hand_out_what_was_not_verified(
        doc in mutate::mutated(valid_batch(), KEYS, 4)
    ) {
        let rt = runtime();
        let rx = receiver(&rt);
        let got = rt.block_on(rx.receive(&post("", doc.to_string().into_bytes())));
        let status = got.response.status().as_u16();
        prop_assert!([202, 400, 403, 413].contains(&status), "{status}");
        prop_assert!(got.notifications.len() <= genuine(&doc));
        for n in &got.notifications {
            prop_assert_eq!(n.subscription().id.as_str(), SUB);
        }
        prop_assert!(got.response.body().is_empty());
    }

    #[test]
    fn hostile_json_text_is_answered_with_a_status(
        body in prop_oneof![hostile_json::object(KEYS), hostile_json::deep_nesting()]
    ) {
        let rt = runtime();
        let rx = receiver(&rt);
        let got = rt.block_on(rx.receive(&post("", body.into_bytes())));
        let status = got.response.status().as_u16();
        prop_assert!([202, 400, 403, 413].contains(&status), "{status}");
        prop_assert!(got.notifications.is_empty());
    }

    #[test]
    fn validation_tokens_are_echoed_only_when_bounded_and_clean(token in text::text()) {
        let rt = runtime();
        let rx = receiver(&rt);
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("validationToken", &token)
            .finish();
        // a URI the http crate refuses (over 64 KiB) never reaches a handler
        let request = Request::post(format!("https://platform.example/n?{query}")).body(Vec::new());
        prop_assume!(request.is_ok());
        let got = rt.block_on(rx.receive(&request.unwrap()));
        let status = got.response.status().as_u16();
        if status == 200 {
            prop_assert_eq!(got.response.body(), &token);
            prop_assert!(token.len() <= switchboard_sync::MAX_VALIDATION_TOKEN);
            prop_assert!(!token.chars().any(char::is_control));
            prop_assert_eq!(
                got.response.headers()["content-type"].to_str().unwrap(),
                "text/plain; charset=utf-8"
            );
        } else {
            prop_assert_eq!(status, 400);
            prop_assert!(got.response.body().is_empty());
        }
    }
}

#[test]
fn oversized_and_overfull_bodies_are_refused_before_any_lookup() {
    let rt = runtime();
    let rx = receiver(&rt).with_max_notifications(3);
    let big = vec![b' '; 64 * 1024 + 1];
    assert_eq!(
        rt.block_on(rx.receive(&post("", big))).response.status(),
        413
    );
    let four = json!({"value": vec![valid_batch()["value"][0].clone(); 4]});
    let got = rt.block_on(rx.receive(&post("", four.to_string().into_bytes())));
    assert_eq!(got.response.status(), 400);
    assert!(got.notifications.is_empty());
    let get = Request::get("https://platform.example/n")
        .body(Vec::new())
        .unwrap();
    assert_eq!(rt.block_on(rx.receive(&get)).response.status(), 405);
}
