//! Calendars: calendars, calendar groups, events (single and recurring),
//! calendar view with occurrences expanded, responses to invitations,
//! cancellation, free/busy (`getSchedule`), `findMeetingTimes` and delta.
//!
//! Events are stored with their start and end in UTC; they are shown in
//! the zone that `Prefer: outlook.timezone` asks for.

use axum::http::Method;
use serde_json::{Map, Value, json};

use crate::datetime::{self, DAY, WEEKDAYS};
use crate::errors::GraphError;
use crate::generated::{Rng, obj};
use crate::html_text;
use crate::mail::{self, recipient};
use crate::odata::{self, ListOptions};
use crate::request::{Ctx, Reply};
use crate::state::{Rec, Tenant};

/// Separates a series master's id from an occurrence's date in occurrence ids.
const OCC: &str = "_OCC";

fn calendar_json(
    rng: &mut Rng,
    name: &str,
    default: bool,
    owner: &Value,
    color: &str,
) -> Map<String, Value> {
    obj(json!({
        "id": rng.outlook_id(),
        "name": name,
        "color": color,
        "hexColor": "",
        "isDefaultCalendar": default,
        "changeKey": rng.change_key(),
        "canShare": true,
        "canViewPrivateItems": true,
        "canEdit": true,
        "allowedOnlineMeetingProviders": ["teamsForBusiness"],
        "defaultOnlineMeetingProvider": "teamsForBusiness",
        "isTallyingResponses": true,
        "isRemovable": !default,
        "owner": owner["emailAddress"],
    }))
}

/// What an event is made of.
pub(crate) struct EventSpec {
    pub subject: String,
    pub body_html: String,
    pub start: i64,
    pub end: i64,
    pub tz: String,
    pub all_day: bool,
    pub location: String,
    pub organizer: Value,
    pub attendees: Vec<Value>,
    pub is_organizer: bool,
    pub recurrence: Option<Value>,
    pub show_as: String,
    pub importance: String,
    pub sensitivity: String,
    pub transaction_id: Option<String>,
    pub ical: Option<String>,
    pub online: bool,
    pub categories: Vec<Value>,
}

fn event_json(rng: &mut Rng, s: EventSpec, now: i64) -> Map<String, Value> {
    let id = rng.outlook_id();
    let ck = rng.change_key();
    let ical = s.ical.unwrap_or_else(|| {
        format!(
            "040000008200E00074C5B7101A82E008{}",
            &crate::tokens::b64url(&rng.next_u64().to_le_bytes())
        )
    });
    let preview = html_text::preview(&s.body_html);
    obj(json!({
        "@odata.etag": format!("W/\"{ck}\""),
        "id": id,
        "createdDateTime": datetime::iso_z(now),
        "lastModifiedDateTime": datetime::iso_z(now),
        "changeKey": ck,
        "categories": s.categories,
        "transactionId": s.transaction_id,
        "originalStartTimeZone": s.tz,
        "originalEndTimeZone": s.tz,
        "iCalUId": ical,
        "reminderMinutesBeforeStart": 15,
        "isReminderOn": true,
        "hasAttachments": false,
        "subject": s.subject,
        "bodyPreview": preview,
        "importance": s.importance,
        "sensitivity": s.sensitivity,
        "isAllDay": s.all_day,
        "isCancelled": false,
        "isOrganizer": s.is_organizer,
        "responseRequested": true,
        "seriesMasterId": Value::Null,
        "showAs": s.show_as,
        "type": if s.recurrence.is_some() { "seriesMaster" } else { "singleInstance" },
        "webLink": format!("https://outlook.office365.com/owa/?itemid={id}&exvsurl=1&path=/calendar/item"),
        "onlineMeetingUrl": Value::Null,
        "isOnlineMeeting": s.online,
        "onlineMeetingProvider": if s.online { "teamsForBusiness" } else { "unknown" },
        "allowNewTimeProposals": true,
        "isDraft": false,
        "hideAttendees": false,
        "responseStatus": {
            "response": if s.is_organizer { "organizer" } else { "notResponded" },
            "time": "0001-01-01T00:00:00Z"
        },
        "body": {"contentType": "html", "content": s.body_html},
        "start": datetime::dtz(s.start, "UTC"),
        "end": datetime::dtz(s.end, "UTC"),
        "location": {
            "displayName": s.location,
            "locationType": "default",
            "uniqueIdType": if s.location.is_empty() { "unknown" } else { "private" },
            "address": {},
            "coordinates": {}
        },
        "locations": if s.location.is_empty() { json!([]) } else {
            json!([{"displayName": s.location, "locationType": "default", "uniqueIdType": "private"}])
        },
        "recurrence": s.recurrence,
        "attendees": s.attendees,
        "organizer": s.organizer,
        "onlineMeeting": if s.online { json!({"joinUrl": format!("https://teams.microsoft.com/l/meetup-join/{id}")}) } else { Value::Null },
    }))
}

fn attendee(name: &str, address: &str, kind: &str, response: &str) -> Value {
    json!({
        "type": kind,
        "status": {"response": response, "time": "0001-01-01T00:00:00Z"},
        "emailAddress": {"name": name, "address": address}
    })
}

const MEETINGS: &[&str] = &[
    "Project sync",
    "Design review",
    "Customer call",
    "Planning session",
    "Hiring debrief",
    "Architecture forum",
    "Budget check-in",
    "Demo rehearsal",
];
const ROOMS: &[&str] = &[
    "Conference Room Adams",
    "Conference Room Baker",
    "Microsoft Teams Meeting",
    "",
];

/// Seeds calendar groups, calendars and events for `owner`.
pub(crate) fn seed_calendars(t: &mut Tenant, rng: &mut Rng, owner: &str, index: usize, today: i64) {
    let me = t.users[index].clone();
    let me_r = recipient(me.str("displayName"), me.str("mail"));
    let mine = rng.outlook_id();
    let other = rng.outlook_id();
    for (id, name) in [(&mine, "My Calendars"), (&other, "Other Calendars")] {
        t.calendar_groups.push(Rec {
            owner: owner.into(),
            parent: String::new(),
            data: obj(json!({"id": id, "name": name, "changeKey": rng.change_key(), "classId": rng.guid()})),
            version: 1,
        });
    }
    let cal = calendar_json(rng, "Calendar", true, &me_r, "auto");
    let cal_id = cal["id"].as_str().unwrap_or_default().to_string();
    t.calendars.push(Rec {
        owner: owner.into(),
        parent: mine.clone(),
        data: cal,
        version: 1,
    });
    let team = calendar_json(rng, "Team Events", false, &me_r, "lightGreen");
    let team_id = team["id"].as_str().unwrap_or_default().to_string();
    t.calendars.push(Rec {
        owner: owner.into(),
        parent: mine,
        data: team,
        version: 1,
    });
    let holidays = calendar_json(rng, "United States holidays", false, &me_r, "lightBlue");
    let holidays_id = holidays["id"].as_str().unwrap_or_default().to_string();
    t.calendars.push(Rec {
        owner: owner.into(),
        parent: other,
        data: holidays,
        version: 1,
    });

    let others: Vec<(String, String)> = t
        .users
        .iter()
        .filter(|u| u.id() != owner)
        .map(|u| (u.str("displayName").to_string(), u.str("mail").to_string()))
        .collect();
    let created = (today - 30) * DAY;
    let base = |subject: &str, start: i64, end: i64| EventSpec {
        subject: subject.to_string(),
        body_html: format!("<html><body><p>{subject}</p></body></html>"),
        start,
        end,
        tz: "UTC".into(),
        all_day: false,
        location: String::new(),
        organizer: me_r.clone(),
        attendees: Vec::new(),
        is_organizer: true,
        recurrence: None,
        show_as: "busy".into(),
        importance: "normal".into(),
        sensitivity: "normal".into(),
        transaction_id: None,
        ical: None,
        online: false,
        categories: Vec::new(),
    };
    let push = |t: &mut Tenant, cal: &str, data: Map<String, Value>| {
        t.events.push(Rec {
            owner: owner.into(),
            parent: cal.to_string(),
            data,
            version: 1,
        });
    };
    // Single meetings from three days ago to ten days ahead, on working days.
    for offset in -3i64..=10 {
        let day = today + offset;
        if matches!(datetime::weekday(day), 0 | 6) {
            continue;
        }
        let count = 1 + rng.below(2) as i64;
        for k in 0..count {
            let hour = 10 + k * 3 + rng.below(2) as i64;
            let start = day * DAY + hour * 3600;
            let (oname, oaddr) = others[rng.below(others.len() as u64) as usize].clone();
            let subject = MEETINGS[rng.below(MEETINGS.len() as u64) as usize];
            let mut s = base(subject, start, start + 3600);
            s.location = rng.pick(ROOMS).to_string();
            s.online = s.location.contains("Teams");
            if (offset + k + index as i64) % 3 == 0 {
                // An invitation from a colleague.
                s.organizer = recipient(&oname, &oaddr);
                s.is_organizer = false;
                s.attendees = vec![attendee(
                    me.str("displayName"),
                    me.str("mail"),
                    "required",
                    "none",
                )];
            } else {
                s.attendees = vec![attendee(&oname, &oaddr, "required", "accepted")];
            }
            let data = event_json(rng, s, created);
            push(t, &cal_id, data);
        }
    }
    // A daily stand-up on working days, every week, with no end.
    let mut standup = base(
        "Daily stand-up",
        (today - 14) * DAY + 9 * 3600 + 1800,
        (today - 14) * DAY + 9 * 3600 + 2700,
    );
    standup.location = "Microsoft Teams Meeting".into();
    standup.online = true;
    standup.recurrence = Some(json!({
        "pattern": {"type": "weekly", "interval": 1, "month": 0, "dayOfMonth": 0,
                    "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
                    "firstDayOfWeek": "sunday", "index": "first"},
        "range": {"type": "noEnd", "startDate": datetime::date_string(today - 14), "endDate": "0001-01-01",
                  "recurrenceTimeZone": "UTC", "numberOfOccurrences": 0}
    }));
    let data = event_json(rng, standup, created);
    push(t, &cal_id, data);
    // A weekly one-to-one with the manager, twenty times.
    let (mname, maddr) = others[index % others.len()].clone();
    let first = today - 7 + ((3 + 7 - datetime::weekday(today - 7) as i64) % 7);
    let mut one = base(
        "One-to-one",
        first * DAY + 15 * 3600,
        first * DAY + 15 * 3600 + 1800,
    );
    one.attendees = vec![attendee(&mname, &maddr, "required", "accepted")];
    one.recurrence = Some(json!({
        "pattern": {"type": "weekly", "interval": 1, "month": 0, "dayOfMonth": 0,
                    "daysOfWeek": [WEEKDAYS[datetime::weekday(first) as usize]], "firstDayOfWeek": "sunday", "index": "first"},
        "range": {"type": "numbered", "startDate": datetime::date_string(first), "endDate": "0001-01-01",
                  "recurrenceTimeZone": "UTC", "numberOfOccurrences": 20}
    }));
    let data = event_json(rng, one, created);
    push(t, &cal_id, data);
    // An all-day team event and a holiday.
    let mut offsite = base("Team offsite", (today + 5) * DAY, (today + 6) * DAY);
    offsite.all_day = true;
    offsite.show_as = "oof".into();
    let data = event_json(rng, offsite, created);
    push(t, &team_id, data);
    let mut holiday = base("Company holiday", (today + 20) * DAY, (today + 21) * DAY);
    holiday.all_day = true;
    holiday.show_as = "free".into();
    let data = event_json(rng, holiday, created);
    push(t, &holidays_id, data);
}

// ---------------------------------------------------------------- recurrence

fn ev_start(data: &Map<String, Value>) -> i64 {
    data.get("start")
        .and_then(|s| datetime::parse_dtz(s).ok())
        .unwrap_or(0)
}

fn ev_end(data: &Map<String, Value>) -> i64 {
    data.get("end")
        .and_then(|s| datetime::parse_dtz(s).ok())
        .unwrap_or(0)
}

fn months_between(a: i64, b: i64) -> i64 {
    let (y1, m1, _) = datetime::civil_from_days(a);
    let (y2, m2, _) = datetime::civil_from_days(b);
    (y2 - y1) * 12 + i64::from(m2) - i64::from(m1)
}

fn pattern_matches(p: &Value, start_day: i64, day: i64) -> bool {
    let interval = p["interval"].as_i64().unwrap_or(1).max(1);
    let (_, month, dom) = datetime::civil_from_days(day);
    let days_of_week: Vec<u32> = p["daysOfWeek"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d.as_str().and_then(datetime::weekday_index))
                .collect()
        })
        .unwrap_or_default();
    let wd = datetime::weekday(day);
    let nth_matches = || {
        let nth = (dom - 1) / 7;
        let is_last = dom + 7 > datetime::days_in_month(datetime::civil_from_days(day).0, month);
        match p["index"].as_str().unwrap_or("first") {
            "first" => nth == 0,
            "second" => nth == 1,
            "third" => nth == 2,
            "fourth" => nth == 3,
            "last" => is_last,
            _ => false,
        }
    };
    match p["type"].as_str().unwrap_or("") {
        "daily" => (day - start_day) % interval == 0,
        "weekly" => {
            let days = if days_of_week.is_empty() {
                vec![datetime::weekday(start_day)]
            } else {
                days_of_week
            };
            let fdow = p["firstDayOfWeek"]
                .as_str()
                .and_then(datetime::weekday_index)
                .unwrap_or(0) as i64;
            let week_start = |d: i64| d - (datetime::weekday(d) as i64 - fdow).rem_euclid(7);
            days.contains(&wd) && ((week_start(day) - week_start(start_day)) / 7) % interval == 0
        }
        "absoluteMonthly" => {
            u64::from(dom) == p["dayOfMonth"].as_u64().unwrap_or(0)
                && months_between(start_day, day) % interval == 0
        }
        "relativeMonthly" => {
            days_of_week.contains(&wd)
                && nth_matches()
                && months_between(start_day, day) % interval == 0
        }
        "absoluteYearly" => {
            u64::from(month) == p["month"].as_u64().unwrap_or(0)
                && u64::from(dom) == p["dayOfMonth"].as_u64().unwrap_or(0)
                && (months_between(start_day, day) / 12) % interval == 0
        }
        "relativeYearly" => {
            u64::from(month) == p["month"].as_u64().unwrap_or(0)
                && days_of_week.contains(&wd)
                && nth_matches()
        }
        _ => false,
    }
}

/// The occurrences of a series master overlapping `[ws, we)`.
fn occurrences(t: &Tenant, master: &Rec, ws: i64, we: i64) -> Vec<Rec> {
    let Some(rec) = master.data.get("recurrence").filter(|r| r.is_object()) else {
        return Vec::new();
    };
    let start = ev_start(&master.data);
    let duration = ev_end(&master.data) - start;
    let time_of_day = start.rem_euclid(DAY);
    let start_day = rec["range"]["startDate"]
        .as_str()
        .and_then(datetime::parse_date)
        .unwrap_or(start.div_euclid(DAY));
    let range_type = rec["range"]["type"].as_str().unwrap_or("noEnd");
    let end_day = match range_type {
        "endDate" => rec["range"]["endDate"]
            .as_str()
            .and_then(datetime::parse_date)
            .unwrap_or(start_day),
        _ => i64::MAX,
    };
    let max_count = if range_type == "numbered" {
        rec["range"]["numberOfOccurrences"].as_u64().unwrap_or(0)
    } else {
        u64::MAX
    };
    let cancelled = t.cancelled_occurrences.get(master.id());
    let last_day = end_day.min(we.div_euclid(DAY) + 1).min(start_day + 3660);
    let mut out = Vec::new();
    let mut count = 0u64;
    let mut day = start_day;
    while day <= last_day && count < max_count {
        if pattern_matches(&rec["pattern"], start_day, day) {
            count += 1;
            let s = day * DAY + time_of_day;
            let e = s + duration;
            let is_cancelled = cancelled.is_some_and(|c| c.contains(&day));
            if s < we && e > ws && !is_cancelled {
                let mut data = master.data.clone();
                let id = format!(
                    "{}{OCC}{}",
                    master.id(),
                    datetime::date_string(day).replace('-', "")
                );
                data.insert("id".into(), json!(id));
                data.insert("type".into(), json!("occurrence"));
                data.insert("seriesMasterId".into(), json!(master.id()));
                data.insert("recurrence".into(), Value::Null);
                data.insert("start".into(), datetime::dtz(s, "UTC"));
                data.insert("end".into(), datetime::dtz(e, "UTC"));
                data.insert("originalStart".into(), json!(datetime::iso_z(s)));
                out.push(Rec {
                    owner: master.owner.clone(),
                    parent: master.parent.clone(),
                    data,
                    version: master.version,
                });
            }
        }
        day += 1;
    }
    out
}

/// Single events, exceptions and expanded occurrences in `[ws, we)`.
fn view(t: &Tenant, user: &str, calendar: Option<&str>, ws: i64, we: i64) -> Vec<Rec> {
    let mut out = Vec::new();
    for e in t
        .events
        .iter()
        .filter(|e| e.owner == user && calendar.is_none_or(|c| e.parent == c))
    {
        if e.str("type") == "seriesMaster" {
            out.extend(occurrences(t, e, ws, we));
        } else if ev_start(&e.data) < we && ev_end(&e.data) > ws {
            out.push(e.clone());
        }
    }
    out.sort_by_key(|e| (ev_start(&e.data), e.id().to_string()));
    out
}

fn present(ctx: &mut Ctx, e: &Rec) -> Value {
    let tz = ctx.timezone();
    let mut d = e.data.clone();
    d.insert("start".into(), datetime::dtz(ev_start(&e.data), &tz));
    d.insert("end".into(), datetime::dtz(ev_end(&e.data), &tz));
    if let Some(true) = ctx.body_as_text()
        && let Some(body) = d.get("body").cloned()
        && body["contentType"] == "html"
    {
        let html = body["content"].as_str().unwrap_or("");
        let mut text = String::new();
        let mut tag = false;
        for c in html.chars() {
            match c {
                '<' => tag = true,
                '>' => tag = false,
                c if !tag => text.push(c),
                _ => {}
            }
        }
        d.insert(
            "body".into(),
            json!({"contentType": "text", "content": text.trim()}),
        );
    }
    Value::Object(d)
}

// ---------------------------------------------------------------- lookups

fn default_calendar(t: &Tenant, user: &str) -> Result<String, GraphError> {
    t.calendars
        .iter()
        .find(|c| c.owner == user && c.data.get("isDefaultCalendar") == Some(&json!(true)))
        .map(|c| c.id().to_string())
        .ok_or_else(GraphError::outlook_not_found)
}

fn calendar<'a>(t: &'a Tenant, user: &str, id: &str) -> Result<&'a Rec, GraphError> {
    t.calendars
        .iter()
        .find(|c| c.owner == user && c.id() == id)
        .ok_or_else(GraphError::outlook_not_found)
}

/// The stored event for an id (an occurrence id gives its series master)
/// and, for occurrences, the occurrence's day.
fn event_index(t: &Tenant, user: &str, id: &str) -> Result<(usize, Option<i64>), GraphError> {
    let (master, day) = match id.rsplit_once(OCC) {
        Some((m, d)) if d.len() == 8 => {
            let day = datetime::parse_date(&format!("{}-{}-{}", &d[0..4], &d[4..6], &d[6..8]));
            (m, day)
        }
        _ => (id, None),
    };
    let idx = t
        .events
        .iter()
        .position(|e| e.owner == user && e.id() == master)
        .ok_or_else(GraphError::outlook_not_found)?;
    Ok((idx, day))
}

fn find_event(t: &Tenant, user: &str, id: &str) -> Result<Rec, GraphError> {
    let (idx, day) = event_index(t, user, id)?;
    let master = &t.events[idx];
    match day {
        None => Ok(master.clone()),
        Some(d) => occurrences(t, master, d * DAY, (d + 1) * DAY)
            .into_iter()
            .find(|o| o.id() == id)
            .ok_or_else(GraphError::outlook_not_found),
    }
}

fn window(ctx: &Ctx) -> Result<(i64, i64), GraphError> {
    let missing = || {
        GraphError::bad_request(
            "ErrorInvalidParameter",
            "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.",
        )
    };
    let s = ctx.query.param("startDateTime").ok_or_else(missing)?;
    let e = ctx.query.param("endDateTime").ok_or_else(missing)?;
    let parse = |v: &str, name: &str| {
        datetime::parse_instant(v).ok_or_else(|| {
            GraphError::bad_request(
                "ErrorInvalidParameter",
                format!("The value '{v}' of parameter '{name}' is not an ISO 8601 date-time."),
            )
        })
    };
    let (ws, we) = (parse(s, "StartDateTime")?, parse(e, "EndDateTime")?);
    if we <= ws {
        return Err(GraphError::bad_request(
            "ErrorInvalidParameter",
            "EndDateTime must be after StartDateTime.",
        ));
    }
    Ok((ws, we))
}

fn list(ctx: &mut Ctx, context: &str, recs: Vec<Rec>) -> Result<Reply, GraphError> {
    let items = recs.iter().map(|r| present(ctx, r)).collect();
    let opts = ListOptions::outlook("microsoft.graph.event");
    Ok(Reply::json(odata::list(ctx, context, items, &opts, None)?))
}

// ---------------------------------------------------------------- dispatch

/// `/{principal}/calendars...`, `/calendar...`, `/calendarGroups...`,
/// `/events...`, `/calendarView...`, `/findMeetingTimes`.
pub(crate) fn handle(
    ctx: &mut Ctx,
    t: &mut Tenant,
    user: &str,
    rest: &[String],
) -> Result<Reply, GraphError> {
    let lower: Vec<String> = rest.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lower.iter().map(String::as_str).collect();
    let m = ctx.method.clone();
    let events_ctx = format!("users('{user}')/events");
    match (m, l.as_slice()) {
        (Method::GET, ["calendars"]) => {
            ctx.require("GET /me/calendars")?;
            let items = t
                .calendars
                .iter()
                .filter(|c| c.owner == user)
                .map(|c| Value::Object(c.data.clone()))
                .collect();
            let opts = ListOptions::outlook("microsoft.graph.calendar");
            Ok(Reply::json(odata::list(
                ctx,
                &format!("users('{user}')/calendars"),
                items,
                &opts,
                None,
            )?))
        }
        (Method::GET, ["calendar"]) => {
            ctx.require("GET /me/calendar")?;
            let id = default_calendar(t, user)?;
            single_calendar(ctx, t, user, &id)
        }
        (Method::GET, ["calendars", _]) => {
            ctx.require("GET /me/calendar")?;
            single_calendar(ctx, t, user, &rest[1])
        }
        (Method::GET, ["calendar", "events"]) => {
            ctx.require("GET /me/events")?;
            let cal = default_calendar(t, user)?;
            calendar_events(ctx, t, user, &cal)
        }
        (Method::GET, ["calendars", _, "events"]) => {
            ctx.require("GET /me/calendars/{id}/events")?;
            let cal = calendar(t, user, &rest[1])?.id().to_string();
            calendar_events(ctx, t, user, &cal)
        }
        (Method::POST, ["calendar", "events"] | ["events"]) => {
            ctx.require("POST /me/events")?;
            let cal = default_calendar(t, user)?;
            create_event(ctx, t, user, &cal)
        }
        (Method::POST, ["calendars", _, "events"]) => {
            ctx.require("POST /me/calendars/{id}/events")?;
            let cal = calendar(t, user, &rest[1])?.id().to_string();
            create_event(ctx, t, user, &cal)
        }
        (Method::GET, ["calendarview"]) => {
            ctx.require("GET /me/calendarView")?;
            let (ws, we) = window(ctx)?;
            let recs = view(t, user, None, ws, we);
            list(ctx, &format!("users('{user}')/calendarView"), recs)
        }
        (Method::GET, ["calendar", "calendarview"]) => {
            ctx.require("GET /me/calendar/calendarView")?;
            let (ws, we) = window(ctx)?;
            let cal = default_calendar(t, user)?;
            let recs = view(t, user, Some(&cal), ws, we);
            list(ctx, &format!("users('{user}')/calendar/calendarView"), recs)
        }
        (Method::GET, ["calendars", _, "calendarview"]) => {
            ctx.require("GET /me/calendar/calendarView")?;
            let (ws, we) = window(ctx)?;
            let cal = calendar(t, user, &rest[1])?.id().to_string();
            let recs = view(t, user, Some(&cal), ws, we);
            list(
                ctx,
                &format!("users('{user}')/calendars('{cal}')/calendarView"),
                recs,
            )
        }
        (
            Method::GET,
            ["calendarview" | "calendar", "delta"] | ["calendar", "calendarview", "delta"],
        ) => {
            ctx.require("GET /me/calendarView/delta")?;
            view_delta(ctx, t, user)
        }
        (Method::POST, ["calendar" | "calendars", .., "getschedule"]) => {
            ctx.require("POST /me/calendar/getSchedule")?;
            get_schedule(ctx, t)
        }
        (Method::GET, ["calendargroups"]) => {
            ctx.require("GET /me/calendarGroups")?;
            let items = t
                .calendar_groups
                .iter()
                .filter(|g| g.owner == user)
                .map(|g| Value::Object(g.data.clone()))
                .collect();
            let opts = ListOptions::outlook("microsoft.graph.calendarGroup");
            Ok(Reply::json(odata::list(
                ctx,
                &format!("users('{user}')/calendarGroups"),
                items,
                &opts,
                None,
            )?))
        }
        (Method::GET, ["calendargroups", _, "calendars"]) => {
            ctx.require("GET /me/calendarGroups/{id}/calendars")?;
            let gid = t
                .calendar_groups
                .iter()
                .find(|g| g.owner == user && g.id() == rest[1])
                .map(|g| g.id().to_string())
                .ok_or_else(GraphError::outlook_not_found)?;
            let items = t
                .calendars
                .iter()
                .filter(|c| c.owner == user && c.parent == gid)
                .map(|c| Value::Object(c.data.clone()))
                .collect();
            let opts = ListOptions::outlook("microsoft.graph.calendar");
            Ok(Reply::json(odata::list(
                ctx,
                &format!("users('{user}')/calendarGroups('{gid}')/calendars"),
                items,
                &opts,
                None,
            )?))
        }
        (Method::GET, ["events"]) => {
            ctx.require("GET /me/events")?;
            let cal = default_calendar(t, user)?;
            calendar_events(ctx, t, user, &cal)
        }
        (Method::GET, ["events", "delta" | "delta()"]) => {
            ctx.require("GET /me/events/delta")?;
            events_delta(ctx, t, user)
        }
        (Method::GET, ["events", _]) => {
            ctx.require("GET /me/events/{id}")?;
            let e = find_event(t, user, &rest[1])?;
            let mut v = odata::select(&present(ctx, &e), ctx.query.select.as_deref(), None);
            v["@odata.context"] = json!(ctx.context_url(&format!("{events_ctx}/$entity")));
            Ok(Reply::json(v))
        }
        (Method::PATCH, ["events", _]) => {
            ctx.require("PATCH /me/events/{id}")?;
            update_event(ctx, t, user, &rest[1])
        }
        (Method::DELETE, ["events", _]) => {
            ctx.require("DELETE /me/events/{id}")?;
            delete_event(t, user, &rest[1])?;
            Ok(Reply::no_content())
        }
        (Method::GET, ["events", _, "instances"]) => {
            ctx.require("GET /me/events/{id}/instances")?;
            let (ws, we) = window(ctx)?;
            let (idx, _) = event_index(t, user, &rest[1])?;
            let master = t.events[idx].clone();
            let recs = if master.str("type") == "seriesMaster" {
                occurrences(t, &master, ws, we)
            } else {
                Vec::new()
            };
            list(
                ctx,
                &format!("users('{user}')/events('{}')/instances", master.id()),
                recs,
            )
        }
        (
            Method::POST,
            [
                "events",
                _,
                action @ ("accept" | "decline" | "tentativelyaccept"),
            ],
        ) => {
            ctx.require(match *action {
                "accept" => "POST /me/events/{id}/accept",
                "decline" => "POST /me/events/{id}/decline",
                _ => "POST /me/events/{id}/tentativelyAccept",
            })?;
            respond(ctx, t, user, &rest[1], action)
        }
        (Method::POST, ["events", _, "cancel"]) => {
            ctx.require("POST /me/events/{id}/cancel")?;
            cancel(ctx, t, user, &rest[1])
        }
        (Method::POST, ["findmeetingtimes"]) => {
            ctx.require("POST /me/findMeetingTimes")?;
            find_meeting_times(ctx, t, user)
        }
        (
            _,
            [
                "calendars" | "calendar" | "calendargroups" | "events" | "calendarview"
                | "findmeetingtimes",
                ..,
            ],
        ) => Err(GraphError::method_not_allowed()),
        _ => Err(GraphError::no_segment(
            rest.last().map(String::as_str).unwrap_or(""),
        )),
    }
}

fn single_calendar(ctx: &mut Ctx, t: &Tenant, user: &str, id: &str) -> Result<Reply, GraphError> {
    let c = calendar(t, user, id)?;
    let mut v = odata::select(
        &Value::Object(c.data.clone()),
        ctx.query.select.as_deref(),
        None,
    );
    v["@odata.context"] = json!(ctx.context_url(&format!("users('{user}')/calendars/$entity")));
    Ok(Reply::json(v))
}

fn calendar_events(ctx: &mut Ctx, t: &Tenant, user: &str, cal: &str) -> Result<Reply, GraphError> {
    let mut recs: Vec<Rec> = t
        .events
        .iter()
        .filter(|e| e.owner == user && e.parent == cal)
        .cloned()
        .collect();
    recs.sort_by_key(|e| (ev_start(&e.data), e.id().to_string()));
    list(ctx, &format!("users('{user}')/events"), recs)
}

fn spec_from_input(
    input: &Value,
    organizer: Value,
    existing: Option<&Map<String, Value>>,
) -> Result<EventSpec, GraphError> {
    let invalid = |m: String| GraphError::bad_request("ErrorInvalidRequest", m);
    let field = |k: &str| input.get(k).or_else(|| existing.and_then(|e| e.get(k)));
    let start_v = field("start").ok_or_else(|| {
        invalid("'start' is required: {\"dateTime\": ..., \"timeZone\": ...}.".into())
    })?;
    let end_v = field("end").ok_or_else(|| {
        invalid("'end' is required: {\"dateTime\": ..., \"timeZone\": ...}.".into())
    })?;
    let tz_err = |m: String| GraphError::bad_request("TimeZoneNotSupportedException", m);
    let start = datetime::parse_dtz(start_v).map_err(|m| tz_err(format!("start: {m}")))?;
    let end = datetime::parse_dtz(end_v).map_err(|m| tz_err(format!("end: {m}")))?;
    if end < start {
        return Err(invalid(
            "The event's end must not be before its start.".into(),
        ));
    }
    let all_day = field("isAllDay").and_then(Value::as_bool).unwrap_or(false);
    if all_day && (start.rem_euclid(DAY) != 0 || end.rem_euclid(DAY) != 0 || end == start) {
        return Err(invalid(
            "An all-day event's start and end must be midnights at least one day apart.".into(),
        ));
    }
    let recurrence = match field("recurrence") {
        Some(r) if r.is_object() => {
            let pt = r["pattern"]["type"].as_str().unwrap_or("");
            if ![
                "daily",
                "weekly",
                "absoluteMonthly",
                "relativeMonthly",
                "absoluteYearly",
                "relativeYearly",
            ]
            .contains(&pt)
            {
                return Err(invalid(format!(
                    "recurrence.pattern.type '{pt}' is not one of daily, weekly, absoluteMonthly, relativeMonthly, absoluteYearly, relativeYearly."
                )));
            }
            let rt = r["range"]["type"].as_str().unwrap_or("");
            if !["endDate", "noEnd", "numbered"].contains(&rt) {
                return Err(invalid(format!(
                    "recurrence.range.type '{rt}' is not one of endDate, noEnd, numbered."
                )));
            }
            if r["range"]["startDate"]
                .as_str()
                .and_then(datetime::parse_date)
                .is_none()
            {
                return Err(invalid(
                    "recurrence.range.startDate must be a date (YYYY-MM-DD).".into(),
                ));
            }
            Some(r.clone())
        }
        _ => None,
    };
    let mut attendees = Vec::new();
    if let Some(list) = field("attendees").and_then(Value::as_array) {
        for a in list {
            let addr = a
                .pointer("/emailAddress/address")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !addr.contains('@') {
                return Err(invalid(format!(
                    "Attendee address '{addr}' is not an email address."
                )));
            }
            let name = a
                .pointer("/emailAddress/name")
                .and_then(Value::as_str)
                .unwrap_or(addr);
            let response = a
                .pointer("/status/response")
                .and_then(Value::as_str)
                .unwrap_or("none");
            attendees.push(attendee(
                name,
                addr,
                a["type"].as_str().unwrap_or("required"),
                response,
            ));
        }
    }
    let body = field("body")
        .cloned()
        .unwrap_or(json!({"contentType": "html", "content": ""}));
    let body_html = if body["contentType"]
        .as_str()
        .is_some_and(|c| c.eq_ignore_ascii_case("text"))
    {
        format!(
            "<html><body><p>{}</p></body></html>",
            body["content"].as_str().unwrap_or("").replace('<', "&lt;")
        )
    } else {
        body["content"].as_str().unwrap_or("").to_string()
    };
    let location = field("location")
        .and_then(|l| l["displayName"].as_str())
        .unwrap_or("")
        .to_string();
    let text = |k: &str, d: &str| field(k).and_then(Value::as_str).unwrap_or(d).to_string();
    Ok(EventSpec {
        subject: text("subject", ""),
        body_html,
        start,
        end,
        tz: start_v["timeZone"].as_str().unwrap_or("UTC").to_string(),
        all_day,
        location,
        organizer,
        attendees,
        is_organizer: true,
        recurrence,
        show_as: text("showAs", "busy"),
        importance: text("importance", "normal"),
        sensitivity: text("sensitivity", "normal"),
        transaction_id: input["transactionId"].as_str().map(str::to_string),
        ical: None,
        online: field("isOnlineMeeting")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        categories: field("categories")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
    })
}

fn touch(t: &mut Tenant, idx: usize) {
    let v = t.tick();
    let ck = t.rng.change_key();
    let e = &mut t.events[idx];
    e.version = v;
    e.data.insert("changeKey".into(), json!(ck));
    e.data
        .insert("@odata.etag".into(), json!(format!("W/\"{ck}\"")));
    e.data.insert(
        "lastModifiedDateTime".into(),
        json!(datetime::iso_z(datetime::now())),
    );
}

fn create_event(ctx: &mut Ctx, t: &mut Tenant, user: &str, cal: &str) -> Result<Reply, GraphError> {
    let input = ctx.json_body()?;
    if let Some(tx) = input["transactionId"].as_str()
        && let Some(existing) = t
            .events
            .iter()
            .find(|e| e.owner == user && e.str("transactionId") == tx)
            .cloned()
    {
        // Graph creates one event per transactionId: a retried POST gets the first one.
        let mut out = present(ctx, &existing);
        out["@odata.context"] = json!(ctx.context_url(&format!("users('{user}')/events/$entity")));
        return Ok(Reply::created(out));
    }
    let me = t
        .user(user)
        .cloned()
        .ok_or_else(|| GraphError::user_not_found(user))?;
    let organizer = recipient(me.str("displayName"), me.str("mail"));
    let spec = spec_from_input(&input, organizer.clone(), None)?;
    let now = datetime::now();
    let attendees = spec.attendees.clone();
    let data = event_json(&mut t.rng, spec, now);
    let ical = data["iCalUId"].clone();
    let id = data["id"].as_str().unwrap_or_default().to_string();
    let v = t.tick();
    t.events.push(Rec {
        owner: user.into(),
        parent: cal.into(),
        data: data.clone(),
        version: v,
    });
    // Invitations land in the attendees' default calendars.
    for a in attendees {
        let addr = a
            .pointer("/emailAddress/address")
            .and_then(Value::as_str)
            .unwrap_or("");
        let Some(uid) = t.user_by_address(addr).map(|u| u.id().to_string()) else {
            continue;
        };
        if uid == user {
            continue;
        }
        let Ok(their_cal) = default_calendar(t, &uid) else {
            continue;
        };
        let mut copy = data.clone();
        copy.insert("id".into(), json!(t.rng.outlook_id()));
        copy.insert("isOrganizer".into(), json!(false));
        copy.insert("iCalUId".into(), ical.clone());
        copy.insert("transactionId".into(), Value::Null);
        copy.insert(
            "responseStatus".into(),
            json!({"response": "notResponded", "time": "0001-01-01T00:00:00Z"}),
        );
        let v = t.tick();
        t.events.push(Rec {
            owner: uid,
            parent: their_cal,
            data: copy,
            version: v,
        });
    }
    let rec = find_event(t, user, &id)?;
    let mut out = present(ctx, &rec);
    out["@odata.context"] = json!(ctx.context_url(&format!("users('{user}')/events/$entity")));
    Ok(Reply::created(out))
}

fn update_event(ctx: &mut Ctx, t: &mut Tenant, user: &str, id: &str) -> Result<Reply, GraphError> {
    let input = ctx.json_body()?;
    let Some(patch) = input.as_object() else {
        return Err(GraphError::bad_request(
            "ErrorInvalidRequest",
            "The request body must be a JSON object.",
        ));
    };
    let (idx, day) = event_index(t, user, id)?;
    if day.is_some() {
        return Err(GraphError::bad_request(
            "ErrorInvalidRequest",
            "The sandbox does not edit single occurrences; update the series master or delete the occurrence.",
        ));
    }
    const WRITABLE: &[&str] = &[
        "subject",
        "body",
        "start",
        "end",
        "location",
        "locations",
        "attendees",
        "isAllDay",
        "showAs",
        "importance",
        "sensitivity",
        "categories",
        "recurrence",
        "isReminderOn",
        "reminderMinutesBeforeStart",
        "isOnlineMeeting",
        "responseRequested",
        "allowNewTimeProposals",
        "hideAttendees",
    ];
    if let Some(k) = patch
        .keys()
        .find(|k| !k.starts_with('@') && !WRITABLE.contains(&k.as_str()))
    {
        return Err(GraphError::bad_request(
            "ErrorInvalidPropertyRequest",
            format!("The property '{k}' can't be updated."),
        ));
    }
    let current = t.events[idx].data.clone();
    let organizer = current.get("organizer").cloned().unwrap_or(Value::Null);
    let spec = spec_from_input(&input, organizer, Some(&current))?;
    {
        let e = &mut t.events[idx];
        for (k, v) in patch.iter().filter(|(k, _)| !k.starts_with('@')) {
            e.data.insert(k.clone(), v.clone());
        }
        e.data
            .insert("start".into(), datetime::dtz(spec.start, "UTC"));
        e.data.insert("end".into(), datetime::dtz(spec.end, "UTC"));
        if patch.contains_key("start") {
            e.data
                .insert("originalStartTimeZone".into(), json!(spec.tz));
            e.data.insert("originalEndTimeZone".into(), json!(spec.tz));
        }
        e.data.insert(
            "body".into(),
            json!({"contentType": "html", "content": spec.body_html}),
        );
        e.data.insert(
            "bodyPreview".into(),
            json!(html_text::preview(&spec.body_html)),
        );
        e.data
            .insert("attendees".into(), Value::Array(spec.attendees));
        e.data.insert(
            "type".into(),
            json!(if spec.recurrence.is_some() {
                "seriesMaster"
            } else {
                "singleInstance"
            }),
        );
        e.data
            .insert("recurrence".into(), spec.recurrence.unwrap_or(Value::Null));
        e.data.insert(
            "location".into(),
            json!({"displayName": spec.location, "locationType": "default", "uniqueIdType": "private", "address": {}, "coordinates": {}}),
        );
    }
    touch(t, idx);
    let rec = t.events[idx].clone();
    let mut out = present(ctx, &rec);
    out["@odata.context"] = json!(ctx.context_url(&format!("users('{user}')/events/$entity")));
    Ok(Reply::json(out))
}

fn delete_event(t: &mut Tenant, user: &str, id: &str) -> Result<(), GraphError> {
    let (idx, day) = event_index(t, user, id)?;
    match day {
        Some(d) => {
            find_event(t, user, id)?;
            let master = t.events[idx].id().to_string();
            t.cancelled_occurrences.entry(master).or_default().insert(d);
            touch(t, idx);
            t.bury(&format!("events|{user}"), id);
        }
        None => {
            let e = t.events.remove(idx);
            t.bury(&format!("events|{user}"), e.id());
            t.bury(&format!("eventsall|{user}"), e.id());
        }
    }
    Ok(())
}

fn respond(
    ctx: &mut Ctx,
    t: &mut Tenant,
    user: &str,
    id: &str,
    action: &str,
) -> Result<Reply, GraphError> {
    let input = if ctx.body.is_empty() {
        json!({})
    } else {
        ctx.json_body()?
    };
    let (idx, _) = event_index(t, user, id)?;
    if t.events[idx].data.get("isOrganizer") == Some(&json!(true)) {
        return Err(GraphError::bad_request(
            "ErrorInvalidRequest",
            "Your request can't be completed. You can't respond to this meeting because you're the meeting organizer.",
        ));
    }
    let (response, verb) = match action {
        "accept" => ("accepted", "Accepted"),
        "decline" => ("declined", "Declined"),
        _ => ("tentativelyAccepted", "Tentative"),
    };
    let send_response = match input.get("sendResponse") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(GraphError::bad_request(
                "ErrorInvalidParameter",
                "'sendResponse' must be true or false.",
            ));
        }
    };
    let comment = comment_of(&input)?;
    // "proposedNewTime ... Valid only for events that allow new time
    // proposals. Setting this parameter requires setting sendResponse to
    // true." (event-decline.md, event-tentativelyaccept.md, docs-2021-07)
    let proposed = match input.get("proposedNewTime").filter(|v| !v.is_null()) {
        Some(_) if action == "accept" => None,
        Some(slot) => {
            if !send_response {
                return Err(GraphError::bad_request(
                    "ErrorInvalidRequest",
                    "'proposedNewTime' requires 'sendResponse' to be true.",
                ));
            }
            if t.events[idx].data.get("allowNewTimeProposals") == Some(&json!(false)) {
                return Err(GraphError::bad_request(
                    "ErrorInvalidRequest",
                    "The organizer doesn't allow new time proposals for this meeting.",
                ));
            }
            for k in ["start", "end"] {
                datetime::parse_dtz(&slot[k]).map_err(|m| {
                    GraphError::bad_request(
                        "ErrorInvalidParameter",
                        format!("proposedNewTime.{k}: {m}"),
                    )
                })?;
            }
            Some(json!({"start": slot["start"], "end": slot["end"]}))
        }
        None => None,
    };
    let now = datetime::iso_z(datetime::now());
    let ical = t.events[idx].str("iCalUId").to_string();
    let subject = t.events[idx].str("subject").to_string();
    let organizer = t.events[idx]
        .data
        .get("organizer")
        .cloned()
        .unwrap_or(Value::Null);
    let me = t
        .user(user)
        .cloned()
        .ok_or_else(|| GraphError::user_not_found(user))?;
    let my_addr = me.str("mail").to_lowercase();
    t.events[idx].data.insert(
        "responseStatus".into(),
        json!({"response": response, "time": now}),
    );
    touch(t, idx);
    if send_response {
        // The organizer's copy records the answer (and any proposed time)...
        for e in t
            .events
            .iter_mut()
            .filter(|e| e.str("iCalUId") == ical && e.data.get("isOrganizer") == Some(&json!(true)))
        {
            if let Some(list) = e.data.get_mut("attendees").and_then(Value::as_array_mut) {
                for a in list {
                    if a.pointer("/emailAddress/address")
                        .and_then(Value::as_str)
                        .map(str::to_lowercase)
                        == Some(my_addr.clone())
                    {
                        a["status"] = json!({"response": response, "time": now});
                        if let Some(slot) = &proposed {
                            a["proposedNewTime"] = slot.clone();
                        }
                    }
                }
            }
        }
        // ...and the organizer gets the response, with the comment, by mail.
        let notice = mail::MessageSpec {
            subject: format!("{verb}: {subject}"),
            body_html: comment_html(comment),
            from: recipient(me.str("displayName"), me.str("mail")),
            to: vec![organizer],
            cc: Vec::new(),
            bcc: Vec::new(),
            at: datetime::now(),
            is_read: true,
            is_draft: false,
            importance: "normal".into(),
        };
        mail::deliver(t, user, &notice, &[], true)?;
    }
    if response == "declined" {
        delete_event(t, user, id)?;
    }
    Ok(Reply::accepted())
}

/// The optional `comment` of an event action: a string or absent.
fn comment_of(input: &Value) -> Result<&str, GraphError> {
    match input.get("comment") {
        None | Some(Value::Null) => Ok(""),
        Some(Value::String(c)) => Ok(c),
        Some(_) => Err(GraphError::bad_request(
            "ErrorInvalidParameter",
            "'comment' must be a string.",
        )),
    }
}

/// The body of a response or cancellation notice: the comment as HTML.
fn comment_html(comment: &str) -> String {
    format!(
        "<html><body><p>{}</p></body></html>",
        comment.replace('&', "&amp;").replace('<', "&lt;")
    )
}

/// `POST /events/{id}/cancel`: the organizer cancels the meeting; each
/// attendee in the tenant gets a cancellation notice with the `comment`
/// ("A comment about the cancellation sent to all the attendees",
/// event-cancel.md, docs-2021-07) and sees the event as cancelled.
fn cancel(ctx: &mut Ctx, t: &mut Tenant, user: &str, id: &str) -> Result<Reply, GraphError> {
    let input = if ctx.body.is_empty() {
        json!({})
    } else {
        ctx.json_body()?
    };
    let comment = comment_of(&input)?;
    let (idx, _) = event_index(t, user, id)?;
    if t.events[idx].data.get("isOrganizer") != Some(&json!(true)) {
        return Err(GraphError::bad_request(
            "ErrorAccessDenied",
            "Your request can't be completed. You need to be an organizer to cancel a meeting.",
        ));
    }
    let ical = t.events[idx].str("iCalUId").to_string();
    let attendees: Vec<Value> = t.events[idx]
        .data
        .get("attendees")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|a| {
                    let address = a.pointer("/emailAddress/address")?.as_str()?;
                    let name = a
                        .pointer("/emailAddress/name")
                        .and_then(Value::as_str)
                        .unwrap_or(address);
                    Some(recipient(name, address))
                })
                .collect()
        })
        .unwrap_or_default();
    if !attendees.is_empty() {
        let me = t
            .user(user)
            .cloned()
            .ok_or_else(|| GraphError::user_not_found(user))?;
        let notice = mail::MessageSpec {
            subject: format!("Canceled: {}", t.events[idx].str("subject")),
            body_html: comment_html(comment),
            from: recipient(me.str("displayName"), me.str("mail")),
            to: attendees,
            cc: Vec::new(),
            bcc: Vec::new(),
            at: datetime::now(),
            is_read: true,
            is_draft: false,
            importance: "high".into(),
        };
        mail::deliver(t, user, &notice, &[], true)?;
    }
    delete_event(t, user, id)?;
    let copies: Vec<usize> = t
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.str("iCalUId") == ical)
        .map(|(i, _)| i)
        .collect();
    for i in copies {
        t.events[i].data.insert("isCancelled".into(), json!(true));
        touch(t, i);
    }
    Ok(Reply::accepted())
}

fn busy_status(e: &Rec) -> Option<u8> {
    match e.str("showAs") {
        "free" => None,
        "tentative" => Some(1),
        "oof" => Some(3),
        "workingElsewhere" => Some(4),
        _ => Some(2),
    }
}

fn get_schedule(ctx: &mut Ctx, t: &Tenant) -> Result<Reply, GraphError> {
    let input = ctx.json_body()?;
    let schedules = input["schedules"].as_array().cloned().unwrap_or_default();
    if schedules.is_empty() {
        return Err(GraphError::bad_request(
            "ErrorInvalidParameter",
            "'schedules' must list at least one address.",
        ));
    }
    let parse = |k: &str| {
        datetime::parse_dtz(&input[k])
            .map_err(|m| GraphError::bad_request("ErrorInvalidParameter", format!("{k}: {m}")))
    };
    let (ws, we) = (parse("startTime")?, parse("endTime")?);
    if we <= ws {
        return Err(GraphError::bad_request(
            "ErrorInvalidParameter",
            "endTime must be after startTime.",
        ));
    }
    let tz = input["startTime"]["timeZone"]
        .as_str()
        .unwrap_or("UTC")
        .to_string();
    let interval = input["availabilityViewInterval"]
        .as_i64()
        .unwrap_or(30)
        .clamp(5, 1440)
        * 60;
    let mut out = Vec::new();
    for s in schedules {
        let addr = s.as_str().unwrap_or("");
        let Some(u) = t.user_by_address(addr) else {
            out.push(json!({
                "scheduleId": addr,
                "availabilityView": "",
                "scheduleItems": [],
                "error": {"message": format!("The specified recipient {addr} could not be found."), "responseCode": "ErrorMailRecipientNotFound"},
            }));
            continue;
        };
        let events: Vec<Rec> = view(t, u.id(), None, ws, we)
            .into_iter()
            .filter(|e| busy_status(e).is_some())
            .collect();
        let mut view_str = String::new();
        let mut slot = ws;
        while slot < we {
            let status = events
                .iter()
                .filter(|e| ev_start(&e.data) < slot + interval && ev_end(&e.data) > slot)
                .filter_map(busy_status)
                .max()
                .unwrap_or(0);
            view_str.push(char::from(b'0' + status));
            slot += interval;
        }
        let items: Vec<Value> = events
            .iter()
            .map(|e| {
                json!({
                    "isPrivate": e.str("sensitivity") == "private",
                    "status": e.str("showAs"),
                    "subject": e.str("subject"),
                    "location": e.data.get("location").and_then(|l| l["displayName"].as_str()).unwrap_or(""),
                    "start": datetime::dtz(ev_start(&e.data), &tz),
                    "end": datetime::dtz(ev_end(&e.data), &tz),
                })
            })
            .collect();
        let settings = t
            .mailbox_settings
            .get(u.id())
            .cloned()
            .unwrap_or(Value::Null);
        out.push(json!({
            "scheduleId": addr,
            "availabilityView": view_str,
            "scheduleItems": items,
            "workingHours": settings["workingHours"],
        }));
    }
    Ok(Reply::json(json!({
        "@odata.context": ctx.context_url("Collection(microsoft.graph.scheduleInformation)"),
        "value": out,
    })))
}

fn find_meeting_times(ctx: &mut Ctx, t: &Tenant, user: &str) -> Result<Reply, GraphError> {
    let input = if ctx.body.is_empty() {
        json!({})
    } else {
        ctx.json_body()?
    };
    let duration = match input["meetingDuration"].as_str() {
        Some(d) => datetime::parse_duration(d)
            .filter(|d| *d > 0)
            .ok_or_else(|| {
                GraphError::bad_request(
                    "ErrorInvalidParameter",
                    format!("meetingDuration '{d}' is not an ISO 8601 duration such as PT1H."),
                )
            })?,
        None => 1800,
    };
    let max = input["maxCandidates"].as_u64().unwrap_or(20).clamp(1, 100) as usize;
    // The optional parameters of user-findmeetingtimes.md (docs-2021-07).
    let flag = |k: &str| match input.get(k) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(GraphError::bad_request(
            "ErrorInvalidParameter",
            format!("'{k}' must be true or false."),
        )),
    };
    let organizer_optional = flag("isOrganizerOptional")?;
    let with_reasons = flag("returnSuggestionReasons")?;
    let minimum = match input.get("minimumAttendeePercentage") {
        None | Some(Value::Null) => 0.0,
        Some(v) => v
            .as_f64()
            .filter(|p| (0.0..=100.0).contains(p))
            .ok_or_else(|| {
                GraphError::bad_request(
                    "ErrorInvalidParameter",
                    "'minimumAttendeePercentage' must be a number from 0 to 100.",
                )
            })?,
    };
    // Suggestions name the locations the organizer asked for.
    let locations: Vec<Value> = input
        .pointer("/locationConstraint/locations")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|l| {
                    json!({
                        "displayName": l["displayName"].as_str().unwrap_or(""),
                        "locationEmailAddress": l["locationEmailAddress"].as_str().unwrap_or(""),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let now = datetime::now();
    let mut slots = Vec::new();
    if let Some(list) = input
        .pointer("/timeConstraint/timeSlots")
        .and_then(Value::as_array)
    {
        for s in list {
            let start = datetime::parse_dtz(&s["start"]).map_err(|m| {
                GraphError::bad_request("ErrorInvalidParameter", format!("timeSlots.start: {m}"))
            })?;
            let end = datetime::parse_dtz(&s["end"]).map_err(|m| {
                GraphError::bad_request("ErrorInvalidParameter", format!("timeSlots.end: {m}"))
            })?;
            slots.push((start, end));
        }
    }
    if slots.is_empty() {
        let today = now.div_euclid(DAY);
        for d in 0..3 {
            slots.push(((today + d) * DAY + 8 * 3600, (today + d) * DAY + 17 * 3600));
        }
    }
    // The organizer must be free too unless they are optional.
    let mut people = if organizer_optional {
        Vec::new()
    } else {
        vec![user.to_string()]
    };
    let mut externals = Vec::new();
    let attendees = input["attendees"].as_array().cloned().unwrap_or_default();
    for a in &attendees {
        let addr = a
            .pointer("/emailAddress/address")
            .and_then(Value::as_str)
            .unwrap_or("");
        match t.user_by_address(addr) {
            Some(u) => people.push(u.id().to_string()),
            None => externals.push(addr.to_string()),
        }
    }
    let tz = ctx.timezone();
    let free = |who: &str, s: i64, e: i64| {
        view(t, who, None, s, e)
            .iter()
            .all(|ev| busy_status(ev).is_none())
    };
    let mut suggestions = Vec::new();
    'outer: for (ws, we) in slots {
        let mut s = ws.max(now - now.rem_euclid(1800) + 1800);
        while s + duration <= we {
            // Every suggestion has all required people free: confidence 100,
            // which meets any minimumAttendeePercentage.
            let confidence = 100.0;
            if people.iter().all(|p| free(p, s, s + duration)) && confidence >= minimum {
                let availability: Vec<Value> = attendees
                    .iter()
                    .map(|a| json!({"attendee": {"type": a["type"].as_str().unwrap_or("required"), "emailAddress": a["emailAddress"]}, "availability": if externals.iter().any(|x| Some(x.as_str()) == a.pointer("/emailAddress/address").and_then(Value::as_str)) { "unknown" } else { "free" }}))
                    .collect();
                let organizer = if free(user, s, s + duration) {
                    "free"
                } else {
                    "busy"
                };
                let mut suggestion = json!({
                    "confidence": confidence,
                    "organizerAvailability": organizer,
                    "meetingTimeSlot": {"start": datetime::dtz(s, &tz), "end": datetime::dtz(s + duration, &tz)},
                    "attendeeAvailability": availability,
                    "locations": locations,
                });
                if with_reasons {
                    suggestion["suggestionReason"] = json!(
                        "Suggested because it is one of the nearest times when all attendees are available."
                    );
                }
                suggestions.push(suggestion);
                if suggestions.len() >= max {
                    break 'outer;
                }
            }
            s += 1800;
        }
    }
    Ok(Reply::json(json!({
        "@odata.context": ctx.context_url("microsoft.graph.meetingTimeSuggestionsResult"),
        "emptySuggestionsReason": if suggestions.is_empty() { "attendeesUnavailable" } else { "" },
        "meetingTimeSuggestions": suggestions,
    })))
}

fn view_delta(ctx: &mut Ctx, t: &Tenant, user: &str) -> Result<Reply, GraphError> {
    let scope = format!("events|{user}");
    let mut cursor = odata::delta_cursor(ctx, &scope)?;
    let (ws, we) = if cursor.fresh {
        let w = window(ctx)?;
        cursor.extra = json!([w.0, w.1]);
        w
    } else {
        (
            cursor.extra[0].as_i64().unwrap_or(0),
            cursor.extra[1].as_i64().unwrap_or(0),
        )
    };
    let recs: Vec<Rec> = view(t, user, None, ws, we)
        .into_iter()
        .filter(|e| e.version > cursor.since)
        .collect();
    let mut entries: Vec<(u64, Value)> =
        recs.iter().map(|r| (r.version, present(ctx, r))).collect();
    entries.extend(
        t.tombstones
            .iter()
            .filter(|s| s.scope == scope && cursor.reports_removal(s.version))
            .map(|s| (s.version, json!({"@odata.type": "#microsoft.graph.event", "id": s.id, "@removed": {"reason": "deleted"}}))),
    );
    entries.sort_by_key(|(v, _)| *v);
    let entries = entries.into_iter().map(|(_, e)| e).collect();
    Ok(Reply::json(odata::delta_page(
        ctx,
        "Collection(event)",
        &scope,
        &cursor,
        entries,
        10,
        None,
    )))
}

fn events_delta(ctx: &mut Ctx, t: &Tenant, user: &str) -> Result<Reply, GraphError> {
    let scope = format!("eventsall|{user}");
    let cursor = odata::delta_cursor(ctx, &scope)?;
    let cal = default_calendar(t, user)?;
    let recs: Vec<Rec> = t
        .events
        .iter()
        .filter(|e| e.owner == user && e.parent == cal && e.version > cursor.since)
        .cloned()
        .collect();
    let mut entries: Vec<(u64, Value)> =
        recs.iter().map(|r| (r.version, present(ctx, r))).collect();
    entries.extend(
        t.tombstones
            .iter()
            .filter(|s| s.scope == scope && cursor.reports_removal(s.version))
            .map(|s| (s.version, json!({"@odata.type": "#microsoft.graph.event", "id": s.id, "@removed": {"reason": "deleted"}}))),
    );
    entries.sort_by_key(|(v, _)| *v);
    let entries = entries.into_iter().map(|(_, e)| e).collect();
    Ok(Reply::json(odata::delta_page(
        ctx,
        "Collection(event)",
        &scope,
        &cursor,
        entries,
        10,
        None,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weekly_pattern_on_working_days() {
        let p = json!({"type": "weekly", "interval": 1, "daysOfWeek": ["monday", "wednesday"], "firstDayOfWeek": "sunday"});
        let monday = datetime::days_from_civil(2024, 1, 1);
        assert!(pattern_matches(&p, monday, monday));
        assert!(!pattern_matches(&p, monday, monday + 1));
        assert!(pattern_matches(&p, monday, monday + 2));
        assert!(pattern_matches(&p, monday, monday + 7));
        let every_other = json!({"type": "weekly", "interval": 2, "daysOfWeek": ["monday"]});
        assert!(!pattern_matches(&every_other, monday, monday + 7));
        assert!(pattern_matches(&every_other, monday, monday + 14));
        let monthly = json!({"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 15});
        assert!(pattern_matches(
            &monthly,
            monday,
            datetime::days_from_civil(2024, 3, 15)
        ));
        let last_friday = json!({"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["friday"], "index": "last"});
        assert!(pattern_matches(
            &last_friday,
            monday,
            datetime::days_from_civil(2024, 1, 26)
        ));
        assert!(!pattern_matches(
            &last_friday,
            monday,
            datetime::days_from_civil(2024, 1, 19)
        ));
    }
}
