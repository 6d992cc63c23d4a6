//! A POST whose definition names an idempotency key (Graph's `transactionId`
//! on event creation) is retried like an idempotent call when the key is
//! given, and never repeated when it is not.

mod support;

use serde_json::json;
use support::*;
use switchboard_core::{Arguments, ErrorKind};
use wiremock::matchers::{body_json, method, path};
use wiremock::{Mock, ResponseTemplate};

#[tokio::test(start_paused = true)]
async fn keyed_post_is_retried_after_504_with_the_same_transaction_id() {
    let server = server().await;
    let body = json!({"subject": "Plan", "transactionId": "7e1c2a"});
    Mock::given(method("POST"))
        .and(path("/v1.0/me/calendar/events"))
        .and(body_json(&body))
        .respond_with(sequence(vec![
            ResponseTemplate::new(504),
            json(201, json!({"id": "AAMk-event", "subject": "Plan"})),
        ]))
        .expect(2)
        .mount(&server)
        .await;
    let response = engine()
        .call(
            &ctx(&server, RecordingCredential::new()),
            "calendars.create_calendar_event",
            Arguments::new()
                .set("subject", "Plan")
                .set("transaction_id", "7e1c2a"),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.json().unwrap()["id"], "AAMk-event");
}

#[tokio::test(start_paused = true)]
async fn the_same_post_without_the_key_is_not_repeated() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/v1.0/me/calendar/events"))
        .respond_with(ResponseTemplate::new(504))
        .expect(1)
        .mount(&server)
        .await;
    let err = engine()
        .call(
            &ctx(&server, RecordingCredential::new()),
            "calendars.create_calendar_event",
            Arguments::new().set("subject", "Plan"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::OutcomeUnknown);
    assert_eq!(err.status(), Some(504));
}
