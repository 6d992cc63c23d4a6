//! Calendars: groups, calendar view with recurring occurrences, created
//! events appearing in the view, responses, free/busy and meeting times.

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;

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
