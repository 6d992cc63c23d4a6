//! Calendars, calendar groups and events through the engine against
//! wiremock, in every variant each method supports: the exact request that
//! reaches Graph and what the caller gets back (Microsoft docs bodies).

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use switchboard_core::engine::retry::RetryPolicy;
use switchboard_core::paging::ContinuationKind;
use switchboard_core::{Arguments, ErrorKind};
use wiremock::ResponseTemplate;

const PST: &str = "outlook.timezone=\"Pacific Standard Time\"";
const CAL: &str = "AAMkAGI2TGuLAAA=";
const GROUP: &str = "AAMkAGI2TGvAAA=";
const EVENT: &str = "AAMkAGI1AAAt9AHjAAA=";

fn paged_list(method: &'static str, path: &'static str) -> Case {
    Case::get(method, path)
        .args(json!({"top": 10, "select": ["id", "name"], "orderby": ["name"]}))
        .query(&[("$top", "10"), ("$select", "id,name"), ("$orderby", "name")])
}

#[tokio::test]
async fn list_calendars() {
    for who in BOTH {
        let case = paged_list("calendars.list_calendars", "{principal}/calendars");
        let f = fixture("user-list-calendars");
        let listing = paged(who, &case, f.clone(), f, Ending::Complete).await;
        assert_eq!(listing.records.len(), 2);
    }
}

#[tokio::test]
async fn get_calendar() {
    for who in BOTH_BY_ID {
        let case = Case::get(
            "calendars.get_calendar",
            "{principal}/calendars/AAMkAGI2TGuLAAA=",
        )
        .args(json!({"calendar_id": CAL}));
        let body = fixture("calendar-get");
        assert_eq!(
            call(who, &case, json_response(200, &body)).await.json(),
            Some(&body)
        );
    }
}

#[tokio::test]
async fn list_calendar_groups() {
    for who in BOTH {
        let case = paged_list(
            "calendars.list_calendar_groups",
            "{principal}/calendarGroups",
        );
        let f = fixture("user-list-calendargroups");
        paged(who, &case, f.clone(), f, Ending::Complete).await;
    }
}

#[tokio::test]
async fn list_group_calendars() {
    for who in BOTH {
        let case = Case::get(
            "calendars.list_group_calendars",
            "{principal}/calendarGroups/AAMkAGI2TGvAAA=/calendars",
        )
        .args(json!({"calendar_group_id": GROUP}));
        let f = fixture("calendargroup-list-calendars");
        let listing = paged(who, &case, f.clone(), f, Ending::Complete).await;
        assert_eq!(listing.records.len(), 2);
    }
}

#[tokio::test]
async fn list_events_with_a_time_zone() {
    for who in BOTH {
        let case = Case::get("calendars.list_events", "{principal}/events")
            .args(json!({"select": ["subject", "organizer", "start", "end"], "prefer_timezone": "Pacific Standard Time", "skip": 0}))
            .query(&[("$select", "subject,organizer,start,end"), ("$skip", "0")])
            .header("Prefer", PST);
        let f = fixture("user-list-events");
        paged(who, &case, f.clone(), f, Ending::Complete).await;
    }
}

#[tokio::test]
async fn list_calendar_events() {
    for who in BOTH_BY_ID {
        let case = Case::get(
            "calendars.list_calendar_events",
            "{principal}/calendars/AAMkAGI2TGuLAAA=/events",
        )
        .args(json!({"calendar_id": CAL, "filter": "importance eq 'high'"}))
        .query(&[("$filter", "importance eq 'high'")]);
        let f = fixture("calendar-list-events");
        paged(who, &case, f.clone(), f, Ending::Complete).await;
    }
}

#[tokio::test]
async fn calendar_view_sends_the_window() {
    for who in BOTH {
        let case = Case::get("calendars.calendar_view", "{principal}/calendarView")
            .args(json!({"start": "2017-01-01T19:00:00-08:00", "end": "2017-01-07T19:00:00-08:00", "prefer_timezone": "Pacific Standard Time"}))
            .query(&[
                ("startDateTime", "2017-01-01T19:00:00-08:00"),
                ("endDateTime", "2017-01-07T19:00:00-08:00"),
            ])
            .header("Prefer", PST);
        let f = fixture("user-list-calendarview");
        paged(who, &case, f.clone(), f, Ending::Complete).await;
    }
}

#[tokio::test]
async fn calendar_view_without_end_is_refused_and_nothing_is_sent() {
    let server = server().await;
    let err = engine()
        .call(
            &ctx(&server, Who::Me),
            "calendars.calendar_view",
            Arguments::new().set("start", "2017-01-01T19:00:00-08:00"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(err.field(), Some("end"));
    server.verify().await;
}

#[tokio::test]
async fn get_event() {
    for who in BOTH {
        let case = Case::get("calendars.get_event", "{principal}/events/AAMkAGI1AAAt9AHjAAA=")
            .args(json!({"event_id": EVENT, "select": ["subject", "body"], "prefer_timezone": "Pacific Standard Time"}))
            .query(&[("$select", "subject,body")])
            .header("Prefer", PST);
        let body = fixture("event-get");
        assert_eq!(
            call(who, &case, json_response(200, &body)).await.json(),
            Some(&body)
        );
    }
}

fn event_args() -> Value {
    json!({
        "subject": "Let's go for lunch",
        "body": {"contentType": "HTML", "content": "Does noon work for you?"},
        "start": {"dateTime": "2017-04-15T12:00:00", "timeZone": "Pacific Standard Time"},
        "end": {"dateTime": "2017-04-15T14:00:00", "timeZone": "Pacific Standard Time"},
        "location": {"displayName": "Harry's Bar"},
        "attendees": [{"emailAddress": {"address": "samanthab@contoso.onmicrosoft.com", "name": "Samantha Booth"}, "type": "required"}],
        "allow_new_time_proposals": true,
        "transaction_id": "7E163156-7762-4BEB-A1C6-729EA81755A7"
    })
}

fn event_wire() -> Value {
    json!({
        "subject": "Let's go for lunch",
        "body": {"contentType": "HTML", "content": "Does noon work for you?"},
        "start": {"dateTime": "2017-04-15T12:00:00", "timeZone": "Pacific Standard Time"},
        "end": {"dateTime": "2017-04-15T14:00:00", "timeZone": "Pacific Standard Time"},
        "location": {"displayName": "Harry's Bar"},
        "attendees": [{"emailAddress": {"address": "samanthab@contoso.onmicrosoft.com", "name": "Samantha Booth"}, "type": "required"}],
        "allowNewTimeProposals": true,
        "transactionId": "7E163156-7762-4BEB-A1C6-729EA81755A7"
    })
}

#[tokio::test]
async fn create_event() {
    for who in BOTH {
        let mut args = event_args();
        args["prefer_timezone"] = json!("Pacific Standard Time");
        let case = Case::post("calendars.create_event", "{principal}/events")
            .args(args)
            .header("Prefer", PST)
            .body(event_wire());
        let body = fixture("user-post-events");
        let response = call(who, &case, json_response(201, &body)).await;
        assert_eq!(response.status(), 201);
        assert_eq!(response.json(), Some(&body));
    }
}

/// With `transactionId` the POST is safe to repeat: a 504 is retried.
#[tokio::test]
async fn create_event_with_a_transaction_id_is_retried_after_504() {
    let server = server().await;
    let case = Case::post("calendars.create_event", "{principal}/events")
        .args(event_args())
        .body(event_wire());
    case.mock(Who::Me, &[])
        .respond_with(ResponseTemplate::new(504))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    let body = fixture("user-post-events");
    case.mock(Who::Me, &[])
        .respond_with(json_response(201, &body))
        .with_priority(2)
        .expect(1)
        .mount(&server)
        .await;
    let response = engine()
        .call(
            &ctx(&server, Who::Me),
            case.method_id,
            case.arguments(Who::Me),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.json(), Some(&body));
    server.verify().await;
}

/// Without it a 504 leaves the outcome unknown and nothing is resent.
#[tokio::test]
async fn create_event_without_a_transaction_id_is_not_retried() {
    let server = server().await;
    let mut args = event_args();
    args.as_object_mut().unwrap().remove("transaction_id");
    let mut wire = event_wire();
    wire.as_object_mut().unwrap().remove("transactionId");
    let case = Case::post("calendars.create_event", "{principal}/events")
        .args(args)
        .body(wire);
    case.mock(Who::User(USER_ID), &[])
        .respond_with(ResponseTemplate::new(504))
        .expect(1)
        .mount(&server)
        .await;
    let err = engine()
        .call(
            &ctx(&server, Who::User(USER_ID)),
            case.method_id,
            case.arguments(Who::User(USER_ID)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::OutcomeUnknown);
    server.verify().await;
}

#[tokio::test]
async fn update_event() {
    for who in BOTH_BY_ID {
        let case = Case::new("calendars.update_event", "PATCH", "{principal}/events/AAMkAGI1AAAt9AHjAAA=")
            .args(json!({"event_id": EVENT, "is_reminder_on": true, "reminder_minutes_before_start": 15, "importance": "high"}))
            .body(json!({"isReminderOn": true, "reminderMinutesBeforeStart": 15, "importance": "high"}));
        let body = fixture("event-update");
        assert_eq!(
            call(who, &case, json_response(200, &body)).await.json(),
            Some(&body)
        );
    }
}

#[tokio::test]
async fn delete_event_answers_204() {
    for who in BOTH {
        let case = Case::new(
            "calendars.delete_event",
            "DELETE",
            "{principal}/events/AAMkAGI1AAAt9AHjAAA=",
        )
        .args(json!({"event_id": EVENT}));
        let response = call(who, &case, ResponseTemplate::new(204)).await;
        assert_eq!(response.status(), 204);
        assert_eq!(response.json(), None);
    }
}

#[tokio::test]
async fn responses_to_an_invitation_answer_202() {
    for (method, action, extra_args, extra_wire) in [
        ("calendars.accept_event", "accept", json!({}), json!({})),
        (
            "calendars.decline_event",
            "decline",
            json!({"proposed_new_time": {"start": {"dateTime": "2019-12-02T18:00:00", "timeZone": "Pacific Standard Time"}, "end": {"dateTime": "2019-12-02T19:00:00", "timeZone": "Pacific Standard Time"}}}),
            json!({"proposedNewTime": {"start": {"dateTime": "2019-12-02T18:00:00", "timeZone": "Pacific Standard Time"}, "end": {"dateTime": "2019-12-02T19:00:00", "timeZone": "Pacific Standard Time"}}}),
        ),
        (
            "calendars.tentatively_accept_event",
            "tentativelyAccept",
            json!({}),
            json!({}),
        ),
    ] {
        for who in BOTH {
            let mut args =
                json!({"event_id": EVENT, "comment": "comment-value", "send_response": true});
            let mut wire = json!({"comment": "comment-value", "sendResponse": true});
            for (k, v) in extra_args.as_object().unwrap() {
                args[k] = v.clone();
            }
            for (k, v) in extra_wire.as_object().unwrap() {
                wire[k] = v.clone();
            }
            let path: &'static str =
                Box::leak(format!("{{principal}}/events/{EVENT}/{action}").into_boxed_str());
            let case = Case::post(method, path).args(args).body(wire);
            let response = call(who, &case, ResponseTemplate::new(202)).await;
            assert_eq!(response.status(), 202, "{method}");
        }
    }
}

#[tokio::test]
async fn cancel_event_answers_202() {
    for who in BOTH_BY_ID {
        let case = Case::post(
            "calendars.cancel_event",
            "{principal}/events/AAMkAGI1AAAt9AHjAAA=/cancel",
        )
        .args(json!({"event_id": EVENT, "comment": "Cancelling for this week due to all hands"}))
        .body(json!({"comment": "Cancelling for this week due to all hands"}));
        assert_eq!(
            call(who, &case, ResponseTemplate::new(202)).await.status(),
            202
        );
    }
}

#[tokio::test]
async fn get_schedule() {
    for who in BOTH {
        let case = Case::post("calendars.get_schedule", "{principal}/calendar/getSchedule")
            .args(json!({
                "schedules": ["adelev@contoso.onmicrosoft.com", "meganb@contoso.onmicrosoft.com"],
                "start_time": {"dateTime": "2019-03-15T09:00:00", "timeZone": "Pacific Standard Time"},
                "end_time": {"dateTime": "2019-03-15T18:00:00", "timeZone": "Pacific Standard Time"},
                "availability_view_interval": 60,
                "prefer_timezone": "Pacific Standard Time"
            }))
            .header("Prefer", PST)
            .body(json!({
                "schedules": ["adelev@contoso.onmicrosoft.com", "meganb@contoso.onmicrosoft.com"],
                "startTime": {"dateTime": "2019-03-15T09:00:00", "timeZone": "Pacific Standard Time"},
                "endTime": {"dateTime": "2019-03-15T18:00:00", "timeZone": "Pacific Standard Time"},
                "availabilityViewInterval": 60
            }));
        let body = fixture("calendar-getschedule");
        let response = call(who, &case, json_response(200, &body)).await;
        assert_eq!(response.json().unwrap()["value"], body["value"]);
    }
}

fn find_meeting_times_case() -> Case {
    Case::post("calendars.find_meeting_times", "{principal}/findMeetingTimes")
        .args(json!({
            "attendees": [{"type": "required", "emailAddress": {"name": "Alex Wilbur", "address": "alexw@contoso.onmicrosoft.com"}}],
            "meeting_duration": "PT1H",
            "max_candidates": 5,
            "prefer_timezone": "Pacific Standard Time"
        }))
        .header("Prefer", PST)
        .body(json!({
            "attendees": [{"type": "required", "emailAddress": {"name": "Alex Wilbur", "address": "alexw@contoso.onmicrosoft.com"}}],
            "meetingDuration": "PT1H",
            "maxCandidates": 5
        }))
}

#[tokio::test]
async fn find_meeting_times_in_delegated() {
    let body = fixture("user-findmeetingtimes");
    let response = call(
        Who::Me,
        &find_meeting_times_case(),
        json_response(200, &body),
    )
    .await;
    assert_eq!(response.json(), Some(&body));
}

/// Microsoft grants no application permission for findMeetingTimes: the
/// application variant refuses it with a clear error and sends nothing.
#[tokio::test]
async fn find_meeting_times_in_application_is_refused_and_nothing_is_sent() {
    assert!(!supports(
        "calendars.find_meeting_times",
        Who::User(USER_ID)
    ));
    let server = server().await;
    let case = find_meeting_times_case();
    let err = engine()
        .call(
            &ctx(&server, Who::User(USER_ID)),
            case.method_id,
            case.arguments(Who::User(USER_ID)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(err.field(), Some("method"));
    let text = err.to_string();
    assert!(text.contains("calendars.find_meeting_times"), "{text}");
    assert!(text.contains("application"), "{text}");
    server.verify().await;
}

#[tokio::test]
async fn events_delta_ends_with_the_delta_link() {
    for who in BOTH {
        let case = Case::get("calendars.events_delta", "{principal}/calendarView/delta")
            .args(json!({"start": "2016-12-01T00:00:00Z", "end": "2016-12-30T00:00:00Z", "prefer_max_page_size": 2, "prefer_timezone": "Pacific Standard Time"}))
            .query(&[
                ("startDateTime", "2016-12-01T00:00:00Z"),
                ("endDateTime", "2016-12-30T00:00:00Z"),
            ])
            // Two preferences: two Prefer header lines.
            .header("Prefer", &format!("{PST}, odata.maxpagesize=2"));
        let f = fixture("event-delta");
        let listing = paged(who, &case, f.clone(), f, Ending::DeltaLink).await;
        let next = listing.continuation.unwrap();
        assert_eq!(next.kind(), ContinuationKind::Delta);
        assert_eq!(next.expose_link(), listing.delta_link);
    }
}

/// The read timeout counts as an ambiguous failure: for an unkeyed POST
/// the engine does not resend.
#[tokio::test]
async fn create_event_timing_out_is_outcome_unknown() {
    let server = server().await;
    let mut args = event_args();
    args.as_object_mut().unwrap().remove("transaction_id");
    let mut wire = event_wire();
    wire.as_object_mut().unwrap().remove("transactionId");
    let case = Case::post("calendars.create_event", "{principal}/events")
        .args(args)
        .body(wire);
    case.mock(Who::Me, &[])
        .respond_with(
            json_response(201, &fixture("user-post-events")).set_delay(Duration::from_secs(2)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let err = engine_with(RetryPolicy { ..policy() }, Some(Duration::from_millis(300)))
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
