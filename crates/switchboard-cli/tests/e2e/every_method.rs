//! Every method of the Microsoft 365 connector, in both variants where
//! Microsoft supports it, through `switchboard call` against the sandbox.
//!
//! The script below calls each method with real arguments (ids found by
//! earlier calls) and checks what came back. [`Coverage`] records each
//! method id called and, at the end, compares them with the connector's
//! definitions: a method that is added to the definitions without being
//! added here fails the test.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use switchboard_microsoft365_sandbox::SandboxConfig;

use crate::harness::Env;

/// Calls methods of one installation and remembers which.
struct Coverage<'a> {
    env: &'a Env,
    id: String,
    variant: &'static str,
    /// `user_id=...` for the application variant (its methods act on a user).
    principal: Vec<String>,
    seen: BTreeSet<String>,
}

impl Coverage<'_> {
    /// `switchboard call <id> <method> [user_id] params... [extra flags] --output json`.
    async fn call_with(&mut self, method: &str, params: &[String], flags: &[&str]) -> Value {
        let mut args: Vec<String> = vec!["call".into(), self.id.clone(), method.into()];
        let needs_user = !matches!(
            method,
            "users.list_users" | "users.delta" | "calendars.find_meeting_times"
        ) && !method.starts_with("subscriptions.");
        let principal = if needs_user {
            self.principal.clone()
        } else {
            Vec::new()
        };
        for p in principal.iter().chain(params) {
            args.push("--param".into());
            args.push(p.clone());
        }
        args.extend(flags.iter().map(|s| s.to_string()));
        args.extend(["--output".to_string(), "json".to_string()]);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = self.env.cli.run(&refs).await;
        assert_eq!(run.code(), 0, "{} variant: {run}", self.variant);
        self.seen.insert(method.to_string());
        if run.out.stdout.is_empty() {
            Value::Null
        } else {
            run.json()
        }
    }

    async fn call(&mut self, method: &str, params: &[String]) -> Value {
        self.call_with(method, params, &[]).await
    }

    async fn list(&mut self, method: &str, params: &[String]) -> Vec<Value> {
        let v = self.call_with(method, params, &["--all"]).await;
        v.as_array()
            .unwrap_or_else(|| panic!("{method}: not a list: {v}"))
            .clone()
    }
}

fn p(name: &str, value: impl std::fmt::Display) -> String {
    format!("{name}={value}")
}

/// The CLI's own format: whole seconds, UTC.
fn iso(t: SystemTime) -> String {
    switchboard_core::datetime::format_utc(t)
}

fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_string()
}

async fn exercise(cov: &mut Coverage<'_>, me_mail: &str, other_mail: &str) {
    let dir = tempfile::tempdir().unwrap();
    let now = SystemTime::now();
    let from = iso(now - Duration::from_secs(24 * 3600));
    let to = iso(now + Duration::from_secs(14 * 24 * 3600));

    // Users
    let users = cov.list("users.list_users", &[p("top", 5)]).await;
    assert!(users.len() >= 10);
    // $filter with $orderby is an advanced query: the sandbox refuses it
    // without ConsistencyLevel and $count, so this passes only when the
    // connector's advanced-query hook adds them.
    let initial = users[0]["displayName"].as_str().unwrap()[..1].to_string();
    let sorted = cov
        .list(
            "users.list_users",
            &[
                p("filter", format!("startswith(displayName,'{initial}')")),
                p("orderby", "displayName"),
                p("select", "displayName"),
            ],
        )
        .await;
    let names: Vec<&str> = sorted
        .iter()
        .map(|u| u["displayName"].as_str().unwrap())
        .collect();
    assert!(
        !names.is_empty() && names.iter().all(|n| n.starts_with(&initial)),
        "{names:?}"
    );
    let mut expected = names.clone();
    expected.sort_by_key(|n| n.to_lowercase());
    assert_eq!(names, expected);
    let me = cov.call("users.get_user", &[]).await;
    assert_eq!(me["mail"], me_mail);
    let manager = cov.call("users.get_manager", &[]).await;
    assert!(manager["displayName"].is_string(), "{manager}");
    let reports = cov.list("users.list_direct_reports", &[]).await;
    assert!(!reports.is_empty());
    let groups = cov.list("users.list_member_of", &[]).await;
    assert!(!groups.is_empty());
    let photo = dir.path().join("photo.png");
    cov.call_with("users.get_photo", &[], &["--out", photo.to_str().unwrap()])
        .await;
    assert!(std::fs::read(&photo).unwrap().starts_with(b"\x89PNG"));
    let delta = cov.list("users.delta", &[]).await;
    assert_eq!(delta.len(), users.len());

    // Calendars
    let calendars = cov.list("calendars.list_calendars", &[]).await;
    let calendar = id_of(&calendars[0]);
    let got = cov
        .call("calendars.get_calendar", &[p("calendar_id", &calendar)])
        .await;
    assert_eq!(got["id"], calendar.as_str());
    let cal_groups = cov.list("calendars.list_calendar_groups", &[]).await;
    let group = id_of(&cal_groups[0]);
    cov.list(
        "calendars.list_group_calendars",
        &[p("calendar_group_id", group)],
    )
    .await;
    let events = cov.list("calendars.list_events", &[p("top", 10)]).await;
    assert!(!events.is_empty());
    cov.list(
        "calendars.list_calendar_events",
        &[p("calendar_id", &calendar)],
    )
    .await;
    let view = cov
        .list(
            "calendars.calendar_view",
            &[p("start", &from), p("end", &to)],
        )
        .await;
    assert!(!view.is_empty());
    let invited = events
        .iter()
        .find(|e| {
            e["organizer"]["emailAddress"]["address"]
                .as_str()
                .is_some_and(|a| !a.eq_ignore_ascii_case(me_mail))
        })
        .map(id_of)
        .expect("an event someone else organises");
    let slot = |h: u64| json!({"dateTime": iso(now + Duration::from_secs(3 * 24 * 3600 + h * 3600)).trim_end_matches('Z'), "timeZone": "UTC"});
    let created = cov
        .call(
            "calendars.create_event",
            &[
                p("subject", "e2e planning"),
                p("start", slot(0)),
                p("end", slot(1)),
                p(
                    "attendees",
                    json!([{"emailAddress": {"address": other_mail}, "type": "required"}]),
                ),
            ],
        )
        .await;
    let event = id_of(&created);
    let got = cov
        .call("calendars.get_event", &[p("event_id", &event)])
        .await;
    assert_eq!(got["subject"], "e2e planning");
    let updated = cov
        .call(
            "calendars.update_event",
            &[p("event_id", &event), p("subject", "e2e planning (moved)")],
        )
        .await;
    assert_eq!(updated["subject"], "e2e planning (moved)");
    for m in [
        "calendars.accept_event",
        "calendars.tentatively_accept_event",
        "calendars.decline_event",
    ] {
        cov.call(m, &[p("event_id", &invited), p("send_response", false)])
            .await;
    }
    cov.call(
        "calendars.cancel_event",
        &[p("event_id", &event), p("comment", "no longer needed")],
    )
    .await;
    let doomed = cov
        .call(
            "calendars.create_event",
            &[
                p("subject", "e2e doomed"),
                p("start", slot(2)),
                p("end", slot(3)),
            ],
        )
        .await;
    cov.call("calendars.delete_event", &[p("event_id", id_of(&doomed))])
        .await;
    let schedule = cov
        .call(
            "calendars.get_schedule",
            &[
                p("schedules", json!([me_mail, other_mail])),
                p("start_time", slot(0)),
                p("end_time", slot(8)),
            ],
        )
        .await;
    assert_eq!(schedule["value"].as_array().unwrap().len(), 2);
    if cov.variant == "delegated" {
        let times = cov
            .call(
                "calendars.find_meeting_times",
                &[
                    p(
                        "attendees",
                        json!([{"emailAddress": {"address": other_mail}, "type": "required"}]),
                    ),
                    p("meeting_duration", "PT30M"),
                ],
            )
            .await;
        assert!(times["meetingTimeSuggestions"].is_array(), "{times}");
    }
    cov.list(
        "calendars.events_delta",
        &[p("start", &from), p("end", &to)],
    )
    .await;

    // Mail
    let folders = cov.list("mail.list_mail_folders", &[]).await;
    assert!(folders.iter().any(|f| f["displayName"] == "Inbox"));
    cov.list("mail.list_child_folders", &[p("folder_id", "inbox")])
        .await;
    let inbox = cov
        .list("mail.list_folder_messages", &[p("folder_id", "inbox")])
        .await;
    assert!(inbox.len() >= 4);
    let all = cov.list("mail.list_messages", &[p("top", 10)]).await;
    assert!(all.len() >= inbox.len());
    cov.list("mail.messages_delta", &[p("folder_id", "inbox")])
        .await;
    let settings = cov.call("mail.get_mailbox_settings", &[]).await;
    assert!(settings["timeZone"].is_string(), "{settings}");
    let m0 = id_of(&inbox[0]);
    let got = cov.call("mail.get_message", &[p("message_id", &m0)]).await;
    assert_eq!(got["id"], m0.as_str());
    cov.list("mail.list_attachments", &[p("message_id", &m0)])
        .await;
    let draft = cov
        .call(
            "mail.create_draft",
            &[
                p("subject", "e2e draft"),
                p(
                    "to_recipients",
                    json!([{"emailAddress": {"address": other_mail}}]),
                ),
            ],
        )
        .await;
    let draft = id_of(&draft);
    cov.call(
        "mail.add_attachment",
        &[
            p("message_id", &draft),
            p("odata_type", "#microsoft.graph.fileAttachment"),
            p("name", "notes.txt"),
            p("content_bytes", "aGVsbG8="),
        ],
    )
    .await;
    cov.call("mail.send_draft", &[p("message_id", &draft)])
        .await;
    cov.call(
        "mail.send_mail",
        &[p(
            "message",
            json!({"subject": "e2e mail", "toRecipients": [{"emailAddress": {"address": other_mail}}]}),
        )],
    )
    .await;
    cov.call(
        "mail.reply",
        &[p("message_id", &m0), p("comment", "Thanks")],
    )
    .await;
    cov.call(
        "mail.reply_all",
        &[p("message_id", &m0), p("comment", "Thanks all")],
    )
    .await;
    cov.call(
        "mail.forward",
        &[
            p("message_id", &m0),
            p(
                "to_recipients",
                json!([{"emailAddress": {"address": other_mail}}]),
            ),
        ],
    )
    .await;
    let moved = cov
        .call(
            "mail.move_message",
            &[
                p("message_id", id_of(&inbox[1])),
                p("destination_id", "deleteditems"),
            ],
        )
        .await;
    assert!(moved["id"].is_string(), "{moved}");
    cov.call("mail.delete_message", &[p("message_id", id_of(&inbox[2]))])
        .await;
    let sent = cov
        .list(
            "mail.list_folder_messages",
            &[p("folder_id", "sentitems"), p("top", 50)],
        )
        .await;
    assert!(
        sent.iter().any(|m| m["subject"] == "e2e mail"),
        "a sent message lands in Sent Items"
    );

    // OneDrive
    let drive = cov.call("onedrive.get_drive", &[]).await;
    assert!(drive["id"].is_string());
    let root = cov.list("onedrive.list_root_children", &[]).await;
    let folder = root
        .iter()
        .find(|i| i["folder"].is_object())
        .map(id_of)
        .unwrap();
    let file = root
        .iter()
        .find(|i| i["name"] == "welcome.txt")
        .map(id_of)
        .unwrap();
    cov.list("onedrive.list_children", &[p("item_id", &folder)])
        .await;
    let item = cov.call("onedrive.get_item", &[p("item_id", &file)]).await;
    let root_id = item["parentReference"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no parent id: {item}"))
        .to_string();
    let by_path = cov
        .call(
            "onedrive.get_item_by_path",
            &[p("item_path", "welcome.txt")],
        )
        .await;
    assert_eq!(by_path["id"], item["id"]);
    let found = cov.list("onedrive.search", &[p("query", "welcome")]).await;
    assert!(found.iter().any(|i| i["name"] == "welcome.txt"));
    cov.list("onedrive.delta", &[]).await;
    let downloaded = dir.path().join("welcome.txt");
    cov.call_with(
        "onedrive.download",
        &[p("item_id", &file)],
        &["--out", downloaded.to_str().unwrap()],
    )
    .await;
    assert_eq!(
        std::fs::metadata(&downloaded).unwrap().len(),
        item["size"].as_u64().unwrap()
    );
    let local = dir.path().join("hello.txt");
    std::fs::write(&local, b"hello from the e2e test").unwrap();
    let uploaded = cov
        .call_with(
            "onedrive.upload_small",
            &[
                p("parent_id", &root_id),
                p("file_path", format!("hello-{}.txt", cov.variant)),
            ],
            &["--file", local.to_str().unwrap()],
        )
        .await;
    assert_eq!(uploaded["size"], 23);
    let uploaded = id_of(&uploaded);
    std::fs::write(&local, b"replaced").unwrap();
    let replaced = cov
        .call_with(
            "onedrive.replace_content",
            &[p("item_id", &uploaded)],
            &["--file", local.to_str().unwrap()],
        )
        .await;
    assert_eq!(replaced["size"], 8);
    let session = cov
        .call(
            "onedrive.create_upload_session",
            &[
                p("parent_id", &root_id),
                p("file_path", format!("big-{}.bin", cov.variant)),
            ],
        )
        .await;
    assert!(session["uploadUrl"].is_string(), "{session}");
    let new_folder = cov
        .call(
            "onedrive.create_folder",
            &[
                p("parent_id", &root_id),
                p("name", format!("e2e folder {}", cov.variant)),
            ],
        )
        .await;
    assert!(new_folder["folder"].is_object());
    let renamed = cov
        .call(
            "onedrive.update_item",
            &[
                p("item_id", &uploaded),
                p("name", format!("renamed-{}.txt", cov.variant)),
            ],
        )
        .await;
    assert_eq!(renamed["name"], format!("renamed-{}.txt", cov.variant));
    cov.call(
        "onedrive.copy_item",
        &[
            p("item_id", &uploaded),
            p("name", format!("copy-{}.txt", cov.variant)),
        ],
    )
    .await;
    cov.list("onedrive.list_permissions", &[p("item_id", &file)])
        .await;
    let link = cov
        .call(
            "onedrive.create_sharing_link",
            &[
                p("item_id", &file),
                p("type", "view"),
                p("scope", "organization"),
            ],
        )
        .await;
    assert!(link["link"]["webUrl"].is_string(), "{link}");
    cov.call("onedrive.delete_item", &[p("item_id", &uploaded)])
        .await;
}

/// A notification endpoint on loopback that passes Graph's validation
/// handshake (echoes `validationToken` as text/plain) and accepts
/// notifications with 202. Returns its URL.
async fn receiver() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/notify", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let n = conn.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let target = head.split_whitespace().nth(1).unwrap_or("").to_string();
                let token = url::Url::parse(&format!("http://x{target}"))
                    .ok()
                    .and_then(|u| {
                        u.query_pairs()
                            .find(|(k, _)| k == "validationToken")
                            .map(|(_, v)| v.into_owned())
                    });
                let reply = match token {
                    Some(t) => format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{t}",
                        t.len()
                    ),
                    None => {
                        "HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                            .to_string()
                    }
                };
                let _ = conn.write_all(reply.as_bytes()).await;
            });
        }
    });
    url
}

/// Contacts and change-notification subscriptions.
async fn exercise_contacts_and_subscriptions(cov: &mut Coverage<'_>, mailbox: &str) {
    let folders = cov.list("contacts.list_contact_folders", &[]).await;
    let default = folders
        .iter()
        .find(|f| f["displayName"] == "Contacts")
        .map(id_of)
        .unwrap_or_else(|| panic!("no Contacts folder in {folders:?}"));
    let got = cov
        .call("contacts.get_contact_folder", &[p("folder_id", &default)])
        .await;
    assert_eq!(got["displayName"], "Contacts");
    let folder = cov
        .call(
            "contacts.create_contact_folder",
            &[p("display_name", format!("e2e {}", cov.variant))],
        )
        .await;
    let folder_id = id_of(&folder);
    let in_folder = cov
        .call(
            "contacts.create_folder_contact",
            &[
                p("folder_id", &folder_id),
                p("given_name", "Folder"),
                p("surname", "Person"),
            ],
        )
        .await;
    let listed = cov
        .list(
            "contacts.list_folder_contacts",
            &[p("folder_id", &folder_id)],
        )
        .await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], in_folder["id"]);
    let contact = cov
        .call(
            "contacts.create_contact",
            &[p("given_name", "Pavel"), p("surname", "Bansky")],
        )
        .await;
    let contact_id = id_of(&contact);
    let updated = cov
        .call(
            "contacts.update_contact",
            &[p("contact_id", &contact_id), p("job_title", "Engineer")],
        )
        .await;
    assert_eq!(updated["jobTitle"], "Engineer");
    let got = cov
        .call("contacts.get_contact", &[p("contact_id", &contact_id)])
        .await;
    assert_eq!(got["givenName"], "Pavel");
    let all = cov.list("contacts.list_contacts", &[]).await;
    assert!(all.iter().any(|c| c["id"] == contact_id.as_str()));
    let delta = cov
        .list("contacts.contacts_delta", &[p("folder_id", &default)])
        .await;
    assert!(delta.iter().any(|c| c["id"] == contact_id.as_str()));
    cov.call("contacts.delete_contact", &[p("contact_id", &contact_id)])
        .await;
    cov.call(
        "contacts.delete_contact_folder",
        &[p("folder_id", &folder_id)],
    )
    .await;

    // subscriptions: the sandbox validates the receiver before creating one
    let url = receiver().await;
    let soon = iso(SystemTime::now() + Duration::from_secs(3600));
    let later = iso(SystemTime::now() + Duration::from_secs(7200));
    let sub = cov
        .call(
            "subscriptions.create_subscription",
            &[
                p("change_type", "created,updated"),
                p("notification_url", &url),
                p("lifecycle_notification_url", &url),
                p("resource", format!("{mailbox}/contacts")),
                p("expiration_date_time", &soon),
                p("client_state", "e2e-client-state"),
            ],
        )
        .await;
    let sub_id = id_of(&sub);
    let subs = cov.list("subscriptions.list_subscriptions", &[]).await;
    assert!(subs.iter().any(|s| s["id"] == sub_id.as_str()), "{subs:?}");
    let got = cov
        .call(
            "subscriptions.get_subscription",
            &[p("subscription_id", &sub_id)],
        )
        .await;
    assert_eq!(got["resource"], format!("{mailbox}/contacts"));
    let renewed = cov
        .call(
            "subscriptions.renew_subscription",
            &[
                p("subscription_id", &sub_id),
                p("expiration_date_time", &later),
            ],
        )
        .await;
    assert_eq!(renewed["id"], sub_id.as_str());
    cov.call(
        "subscriptions.reauthorize_subscription",
        &[p("subscription_id", &sub_id)],
    )
    .await;
    cov.call(
        "subscriptions.delete_subscription",
        &[p("subscription_id", &sub_id)],
    )
    .await;
}

fn expected_methods(variant: &str) -> BTreeSet<String> {
    let connector = switchboard_microsoft365::Microsoft365::new().unwrap();
    let def = switchboard_core::Connector::definition(&connector).clone();
    def.methods
        .iter()
        .filter(|m| m.supports(variant, &def.auth_variants))
        .map(|m| m.id.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_method_in_both_variants() {
    let env = Env::start(SandboxConfig::new(41)).await;
    let users = env.sandbox.users();
    // a VP: has a manager, direct reports, a photo and invitations
    let me = users[1].clone();
    let other = users[4].clone();

    let delegated = env
        .install_delegated_as(&[], Some(&me.user_principal_name))
        .await;
    let application = env.install_application(&[]).await;
    for (variant, id, principal) in [
        ("delegated", delegated, Vec::new()),
        ("application", application, vec![p("user_id", &me.id)]),
    ] {
        let mut cov = Coverage {
            env: &env,
            id,
            variant,
            principal,
            seen: BTreeSet::new(),
        };
        exercise(&mut cov, &me.mail, &other.mail).await;
        let mailbox = match variant {
            "delegated" => "me".to_string(),
            _ => format!("users/{}", me.id),
        };
        exercise_contacts_and_subscriptions(&mut cov, &mailbox).await;
        let expected = expected_methods(variant);
        let missing: Vec<&String> = expected.difference(&cov.seen).collect();
        assert!(
            missing.is_empty(),
            "{variant}: methods the test does not call: {missing:?}"
        );
        let unexpected: Vec<&String> = cov.seen.difference(&expected).collect();
        assert!(unexpected.is_empty(), "{variant}: {unexpected:?}");
    }
    env.sandbox.shutdown().await;
}
