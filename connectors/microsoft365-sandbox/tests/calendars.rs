//! Calendars: groups, calendar view with recurring occurrences, created
//! events appearing in the view, responses, free/busy and meeting times.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn calendars_and_groups() {
    let sb = start(50).await;
    let token = user_token(&sb).await;
    let cals = get(&sb, &token, "/me/calendars").await;
    assert_eq!(cals.status, 200);
    assert_eq!(cals.body["value"].as_array().unwrap().len(), 3);
    let default = get(&sb, &token, "/me/calendar").await;
    assert_eq!(default.body["isDefaultCalendar"], true);
    let groups = get(&sb, &token, "/me/calendarGroups").await;
    let names: Vec<&str> = groups.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["My Calendars", "Other Calendars"]);
    let gid = groups.body["value"][0]["id"].as_str().unwrap();
    let in_group = get(&sb, &token, &format!("/me/calendarGroups/{gid}/calendars")).await;
    assert_eq!(in_group.body["value"].as_array().unwrap().len(), 2);
    sb.shutdown().await;
}

#[tokio::test]
async fn calendar_view_expands_recurring_events_and_shows_created_ones() {
    let sb = start(51).await;
    let token = user_token(&sb).await;
    let day = today();
    let view = format!(
        "/me/calendarView?startDateTime={}&endDateTime={}&$top=100",
        iso(day),
        iso(day + 7 * 86_400)
    );
    let r = get(&sb, &token, &view).await;
    assert_eq!(r.status, 200);
    let events = r.body["value"].as_array().unwrap();
    let standups: Vec<_> = events
        .iter()
        .filter(|e| e["subject"] == "Daily stand-up")
        .collect();
    assert_eq!(standups.len(), 5, "one stand-up per working day");
    for s in &standups {
        assert_eq!(s["type"], "occurrence");
        assert!(s["seriesMasterId"].is_string());
        assert_eq!(s["start"]["timeZone"], "UTC");
    }
    assert!(events.iter().all(|e| e["type"] != "seriesMaster"));
    // The view needs its window.
    let r = get(&sb, &token, "/me/calendarView").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["code"], "ErrorInvalidParameter");
    // A new event shows up, in the preferred time zone.
    let r = post(
        &sb,
        &token,
        "/me/events",
        json!({"subject": "Quarterly review", "start": {"dateTime": iso(day + 86_400 + 16 * 3600).trim_end_matches('Z'), "timeZone": "UTC"},
               "end": {"dateTime": iso(day + 86_400 + 17 * 3600).trim_end_matches('Z'), "timeZone": "UTC"},
               "attendees": [{"emailAddress": {"address": sb.users()[1].mail}, "type": "required"}], "transactionId": "tx-1"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let created = r.body["id"].as_str().unwrap().to_string();
    // Retrying the same transactionId creates nothing new.
    let again = post(&sb, &token, "/me/events", json!({"subject": "Quarterly review", "start": {"dateTime": iso(day + 86_400 + 16 * 3600), "timeZone": "UTC"}, "end": {"dateTime": iso(day + 86_400 + 17 * 3600), "timeZone": "UTC"}, "transactionId": "tx-1"})).await;
    assert_eq!(again.body["id"], created.as_str());
    let r = call(
        &sb,
        &token,
        Method::GET,
        &view,
        None,
        &[("Prefer", "outlook.timezone=\"Pacific Standard Time\"")],
    )
    .await;
    let mine: Vec<_> = r.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["id"] == created.as_str())
        .collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["start"]["timeZone"], "Pacific Standard Time");
    assert!(
        mine[0]["start"]["dateTime"]
            .as_str()
            .unwrap()
            .ends_with("T08:00:00.0000000")
    );
    assert_eq!(
        r.headers["preference-applied"],
        "outlook.timezone=\"Pacific Standard Time\""
    );
    // The attendee received the invitation.
    let app = app_token(&sb).await;
    let theirs = get(&sb, &app, &format!("/users/{}/calendarView?startDateTime={}&endDateTime={}&$top=100&$filter=subject eq 'Quarterly review'", sb.users()[1].id, iso(day), iso(day + 7 * 86_400))).await;
    assert_eq!(theirs.body["value"][0]["isOrganizer"], false);
    // Update and delete.
    let r = call(
        &sb,
        &token,
        Method::PATCH,
        &format!("/me/events/{created}"),
        Some(json!({"subject": "Quarterly review (moved)"})),
        &[],
    )
    .await;
    assert_eq!(r.body["subject"], "Quarterly review (moved)");
    assert_eq!(
        call(
            &sb,
            &token,
            Method::DELETE,
            &format!("/me/events/{created}"),
            None,
            &[]
        )
        .await
        .status,
        204
    );
    assert_eq!(
        get(&sb, &token, &format!("/me/events/{created}"))
            .await
            .status,
        404
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn responses_cancel_instances_schedule_and_meeting_times() {
    let sb = start(52).await;
    let token = user_token(&sb).await;
    let day = today();
    let window = format!(
        "startDateTime={}&endDateTime={}",
        iso(day - 3 * 86_400),
        iso(day + 11 * 86_400)
    );
    let events = get(&sb, &token, &format!("/me/calendarView?{window}&$top=200"))
        .await
        .body["value"]
        .as_array()
        .unwrap()
        .clone();
    let invite = events.iter().find(|e| e["isOrganizer"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let own = events
        .iter()
        .find(|e| e["isOrganizer"] == true && e["type"] == "singleInstance")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = post(
        &sb,
        &token,
        &format!("/me/events/{invite}/accept"),
        json!({"comment": "see you", "sendResponse": true}),
    )
    .await;
    assert_eq!(r.status, 202);
    assert_eq!(
        get(&sb, &token, &format!("/me/events/{invite}")).await.body["responseStatus"]["response"],
        "accepted"
    );
    let r = post(&sb, &token, &format!("/me/events/{own}/accept"), json!({})).await;
    assert_eq!(r.status, 400);
    let r = post(
        &sb,
        &token,
        &format!("/me/events/{invite}/cancel"),
        json!({}),
    )
    .await;
    assert_eq!(r.status, 400);
    let r = post(
        &sb,
        &token,
        &format!("/me/events/{own}/cancel"),
        json!({"comment": "sorry"}),
    )
    .await;
    assert_eq!(r.status, 202);
    assert_eq!(
        get(&sb, &token, &format!("/me/events/{own}")).await.status,
        404
    );
    // Instances of the stand-up series; deleting one occurrence hides it.
    let master = events
        .iter()
        .find(|e| e["subject"] == "Daily stand-up")
        .unwrap()["seriesMasterId"]
        .as_str()
        .unwrap()
        .to_string();
    let inst = get(
        &sb,
        &token,
        &format!("/me/events/{master}/instances?{window}&$top=50"),
    )
    .await;
    let occurrences = inst.body["value"].as_array().unwrap().clone();
    assert!(occurrences.len() >= 9);
    let one = occurrences[0]["id"].as_str().unwrap();
    assert_eq!(
        get(&sb, &token, &format!("/me/events/{one}")).await.status,
        200
    );
    assert_eq!(
        call(
            &sb,
            &token,
            Method::DELETE,
            &format!("/me/events/{one}"),
            None,
            &[]
        )
        .await
        .status,
        204
    );
    let inst = get(
        &sb,
        &token,
        &format!("/me/events/{master}/instances?{window}&$top=50"),
    )
    .await;
    assert_eq!(
        inst.body["value"].as_array().unwrap().len(),
        occurrences.len() - 1
    );
    // Free/busy.
    let users = sb.users();
    let r = post(
        &sb,
        &token,
        "/me/calendar/getSchedule",
        json!({
            "schedules": [users[0].mail, "nobody@elsewhere.example"],
            "startTime": {"dateTime": iso(day + 86_400).trim_end_matches('Z'), "timeZone": "UTC"},
            "endTime": {"dateTime": iso(day + 2 * 86_400).trim_end_matches('Z'), "timeZone": "UTC"},
            "availabilityViewInterval": 60
        }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["value"][0]["availabilityView"]
            .as_str()
            .unwrap()
            .len(),
        24
    );
    assert_eq!(
        r.body["value"][1]["error"]["responseCode"],
        "ErrorMailRecipientNotFound"
    );
    let r = post(&sb, &token, "/me/findMeetingTimes", json!({
        "attendees": [{"type": "required", "emailAddress": {"address": users[1].mail}}],
        "timeConstraint": {"timeSlots": [{"start": {"dateTime": iso(day + 86_400 + 8 * 3600), "timeZone": "UTC"}, "end": {"dateTime": iso(day + 86_400 + 18 * 3600), "timeZone": "UTC"}}]},
        "meetingDuration": "PT1H", "maxCandidates": 3
    })).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let s = r.body["meetingTimeSuggestions"].as_array().unwrap();
    assert!(!s.is_empty() && s.len() <= 3);
    assert!(s[0]["meetingTimeSlot"]["start"]["dateTime"].is_string());
    sb.shutdown().await;
}

/// Event actions with parameter names as Graph's metadata writes them
/// (`Comment`, `SendResponse`, `ProposedNewTime`, `Schedules`...): each
/// parameter has its effect. The organizer gets the answer and its comment
/// by mail, a proposed time lands on the organizer's copy, a cancellation
/// reaches every attendee with its comment.
#[tokio::test]
async fn event_actions_accept_parameter_names_in_any_case_and_use_them() {
    let sb = start(58).await;
    let users = sb.users();
    let organizer = user_token(&sb).await; // users[0]
    let app = app_token(&sb).await;
    let day = today();
    let at = |secs: i64| {
        iso(day + 2 * 86_400 + secs)
            .trim_end_matches('Z')
            .to_string()
    };
    let r = post(
        &sb,
        &organizer,
        "/me/events",
        json!({"subject": "Roadmap walkthrough 7",
               "start": {"dateTime": at(15 * 3600), "timeZone": "UTC"},
               "end": {"dateTime": at(16 * 3600), "timeZone": "UTC"},
               "attendees": [{"emailAddress": {"address": users[1].mail}, "type": "required"},
                             {"emailAddress": {"address": users[2].mail}, "type": "optional"}]}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let own = r.body["id"].as_str().unwrap().to_string();
    let sign_in = |i: usize| {
        let upn = users[i].user_principal_name.clone();
        let sb = &sb;
        async move {
            delegated(
                sb,
                "Calendars.ReadWrite Mail.ReadWrite offline_access",
                Some(&upn),
            )
            .await["access_token"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let copy_of = |token: String| {
        let sb = &sb;
        async move {
            let events = get(sb, &token, "/me/events?$top=200").await.body["value"].clone();
            let copy = events
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["subject"] == "Roadmap walkthrough 7")
                .expect("the attendee has the invitation")
                .clone();
            assert_eq!(copy["isOrganizer"], false);
            copy["id"].as_str().unwrap().to_string()
        }
    };
    let first = sign_in(1).await;
    let second = sign_in(2).await;
    let first_copy = copy_of(first.clone()).await;
    let second_copy = copy_of(second.clone()).await;

    let proposed = json!({"start": {"dateTime": at(17 * 3600), "timeZone": "UTC"},
                          "end": {"dateTime": at(18 * 3600), "timeZone": "UTC"}});
    let r = post(
        &sb,
        &first,
        &format!("/me/events/{first_copy}/tentativelyAccept"),
        json!({"Comment": "Could we move it to five?", "SendResponse": true, "ProposedNewTime": proposed}),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let r = post(
        &sb,
        &second,
        &format!("/me/events/{second_copy}/accept"),
        json!({"Comment": "not sent", "SendResponse": false}),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);

    // The organizer's copy: the first attendee's answer and proposal; the
    // second answered without sending a response, so nothing changed there.
    let mine = get(&sb, &organizer, &format!("/me/events/{own}"))
        .await
        .body;
    let attendee = |i: usize| {
        mine["attendees"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["emailAddress"]["address"] == users[i].mail.as_str())
            .unwrap()
            .clone()
    };
    assert_eq!(attendee(1)["status"]["response"], "tentativelyAccepted");
    assert_eq!(attendee(1)["proposedNewTime"], proposed);
    assert_eq!(attendee(2)["status"]["response"], "none");
    // The organizer's inbox: one response, with its comment.
    let inbox = get(&sb, &organizer, "/me/mailFolders/inbox/messages?$top=200").await;
    let responses: Vec<&Value> = inbox.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| {
            m["subject"]
                .as_str()
                .unwrap()
                .ends_with(": Roadmap walkthrough 7")
        })
        .collect();
    assert_eq!(responses.len(), 1, "{responses:?}");
    assert_eq!(responses[0]["subject"], "Tentative: Roadmap walkthrough 7");
    assert!(
        responses[0]["body"]["content"]
            .as_str()
            .unwrap()
            .contains("Could we move it to five?")
    );

    // Cancel: each attendee gets the comment and sees the event cancelled.
    let r = post(
        &sb,
        &organizer,
        &format!("/me/events/{own}/cancel"),
        json!({"Comment": "Postponed to next week."}),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    for i in [1, 2] {
        let got = get(
            &sb,
            &app,
            &format!(
                "/users/{}/mailFolders/inbox/messages?$filter=subject eq 'Canceled: Roadmap walkthrough 7'",
                users[i].id
            ),
        )
        .await;
        let notice = &got.body["value"].as_array().unwrap()[0];
        assert!(
            notice["body"]["content"]
                .as_str()
                .unwrap()
                .contains("Postponed to next week.")
        );
    }
    let theirs = get(&sb, &first, &format!("/me/events/{first_copy}")).await;
    assert_eq!(theirs.body["isCancelled"], true);

    // getSchedule and findMeetingTimes with PascalCase parameters.
    let r = post(
        &sb,
        &organizer,
        "/me/calendar/getSchedule",
        json!({"Schedules": [users[1].mail],
               "StartTime": {"dateTime": at(0), "timeZone": "UTC"},
               "EndTime": {"dateTime": at(86_400), "timeZone": "UTC"},
               "AvailabilityViewInterval": 30}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["value"][0]["scheduleId"], users[1].mail.as_str());
    assert_eq!(
        r.body["value"][0]["availabilityView"]
            .as_str()
            .unwrap()
            .len(),
        48
    );
    let slot = json!({"timeSlots": [{"start": {"dateTime": at(8 * 3600), "timeZone": "UTC"},
                                     "end": {"dateTime": at(18 * 3600), "timeZone": "UTC"}}]});
    let r = post(
        &sb,
        &organizer,
        "/me/findMeetingTimes",
        json!({"Attendees": [{"type": "required", "emailAddress": {"address": users[1].mail}}],
               "TimeConstraint": slot, "MeetingDuration": "PT30M", "MaxCandidates": 2,
               "ReturnSuggestionReasons": true,
               "LocationConstraint": {"isRequired": false, "suggestLocation": false,
                                      "locations": [{"displayName": "Room 4.01"}]}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let s = r.body["meetingTimeSuggestions"].as_array().unwrap();
    assert_eq!(s.len(), 2);
    assert!(s[0]["suggestionReason"].is_string());
    assert_eq!(s[0]["locations"][0]["displayName"], "Room 4.01");
    assert_eq!(
        s[0]["attendeeAvailability"][0]["attendee"]["emailAddress"]["address"],
        users[1].mail.as_str()
    );
    // Without ReturnSuggestionReasons there is no reason.
    let r = post(
        &sb,
        &organizer,
        "/me/findMeetingTimes",
        json!({"timeConstraint": slot, "meetingDuration": "PT30M", "maxCandidates": 1}),
    )
    .await;
    assert!(
        r.body["meetingTimeSuggestions"][0]
            .get("suggestionReason")
            .is_none()
    );
    sb.shutdown().await;
}
