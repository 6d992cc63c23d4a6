//! Mail: folders, messages, drafts, sending, replies, forwards, moves,
//! attachments, per-folder message delta and mailbox settings.
//!
//! Sending puts a copy in the sender's Sent Items and delivers a copy to the
//! Inbox of every recipient who is a user of the tenant. Moving a message
//! gives it a new id, as Exchange does; the folder it left reports it as
//! `@removed` in its delta.

use axum::http::{Method, StatusCode};
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::datetime::{self, DAY};
use crate::errors::GraphError;
use crate::generated::{Rng, obj};
use crate::html_text;
use crate::odata::{self, ListOptions};
use crate::request::{Ctx, Reply};
use crate::state::{Rec, Tenant};
use crate::upload_session;

/// Largest attachment accepted in one POST (Graph: 3 MB; larger ones need an upload session).
const MAX_SIMPLE_ATTACHMENT: usize = 3 * 1024 * 1024;

/// A recipient object.
pub(crate) fn recipient(name: &str, address: &str) -> Value {
    json!({"emailAddress": {"name": name, "address": address}})
}

/// The default mailbox settings of a seeded user.
pub(crate) fn default_mailbox_settings() -> Value {
    json!({
        "archiveFolder": "",
        "timeZone": "UTC",
        "automaticRepliesSetting": {
            "status": "disabled",
            "externalAudience": "all",
            "internalReplyMessage": "",
            "externalReplyMessage": "",
            "scheduledStartDateTime": {"dateTime": "2030-01-01T00:00:00.0000000", "timeZone": "UTC"},
            "scheduledEndDateTime": {"dateTime": "2030-01-02T00:00:00.0000000", "timeZone": "UTC"}
        },
        "language": {"locale": "en-US", "displayName": "English (United States)"},
        "workingHours": {
            "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
            "startTime": "08:00:00.0000000",
            "endTime": "17:00:00.0000000",
            "timeZone": {"name": "UTC"}
        },
        "dateFormat": "yyyy-MM-dd",
        "timeFormat": "HH:mm",
        "userPurpose": "user",
        "delegateMeetingMessageDeliveryOptions": "sendToDelegateOnly"
    })
}

fn folder_json(id: &str, name: &str, parent: &str) -> Map<String, Value> {
    obj(json!({
        "id": id,
        "displayName": name,
        "parentFolderId": parent,
        "childFolderCount": 0,
        "unreadItemCount": 0,
        "totalItemCount": 0,
        "isHidden": false,
    }))
}

/// What a message is made of.
pub(crate) struct MessageSpec {
    pub subject: String,
    pub body_html: String,
    pub from: Value,
    pub to: Vec<Value>,
    pub cc: Vec<Value>,
    pub bcc: Vec<Value>,
    pub at: i64,
    pub is_read: bool,
    pub is_draft: bool,
    pub importance: String,
}

fn new_message(rng: &mut Rng, folder: &str, s: MessageSpec) -> Map<String, Value> {
    let id = rng.outlook_id();
    let ck = rng.change_key();
    let conv = format!("AAQkAG{}", &rng.outlook_id()[6..30]);
    let at = datetime::iso_z(s.at);
    obj(json!({
        "@odata.etag": format!("W/\"{ck}\""),
        "id": id,
        "createdDateTime": at,
        "lastModifiedDateTime": at,
        "changeKey": ck,
        "categories": [],
        "receivedDateTime": at,
        "sentDateTime": if s.is_draft { Value::Null } else { json!(at) },
        "hasAttachments": false,
        "internetMessageId": format!("<{}@{}>", &id[6..26], crate::generated::DOMAIN),
        "subject": s.subject,
        "bodyPreview": html_text::preview(&s.body_html),
        "importance": s.importance,
        "parentFolderId": folder,
        "conversationId": conv,
        "conversationIndex": "AQHXeSbQ",
        "isDeliveryReceiptRequested": false,
        "isReadReceiptRequested": false,
        "isRead": s.is_read,
        "isDraft": s.is_draft,
        "webLink": format!("https://outlook.office365.com/owa/?ItemID={}&exvsurl=1&viewmodel=ReadMessageItem", id),
        "inferenceClassification": "focused",
        "body": {"contentType": "html", "content": s.body_html},
        "sender": s.from,
        "from": s.from,
        "toRecipients": s.to,
        "ccRecipients": s.cc,
        "bccRecipients": s.bcc,
        "replyTo": [],
        "flag": {"flagStatus": "notFlagged"},
    }))
}

fn attachment_json(
    rng: &mut Rng,
    name: &str,
    content_type: &str,
    bytes: &[u8],
    at: i64,
    inline: bool,
) -> Map<String, Value> {
    obj(json!({
        "@odata.type": "#microsoft.graph.fileAttachment",
        "id": format!("AAMkAGAtt{}", &rng.outlook_id()[6..40]),
        "lastModifiedDateTime": datetime::iso_z(at),
        "name": name,
        "contentType": content_type,
        "size": bytes.len(),
        "isInline": inline,
        "contentId": Value::Null,
        "contentLocation": Value::Null,
        "contentBytes": base64::engine::general_purpose::STANDARD.encode(bytes),
    }))
}

const SUBJECTS: &[&str] = &[
    "Quarterly planning notes",
    "Budget review for next month",
    "Customer visit on Thursday",
    "Release checklist",
    "Lunch and learn: observability",
    "Travel approval",
    "Updated onboarding guide",
    "Incident follow-up",
    "Design review feedback",
    "Contract renewal",
    "Team offsite ideas",
    "Weekly metrics",
];

/// Seeds a mailbox for `owner`.
pub(crate) fn seed_mailbox(t: &mut Tenant, rng: &mut Rng, owner: &str, index: usize, now: i64) {
    let root = rng.outlook_id();
    t.well_known_folders
        .insert(format!("{owner}|msgfolderroot"), root.clone());
    let mut ids = std::collections::HashMap::new();
    for (well_known, name) in [
        ("archive", "Archive"),
        ("deleteditems", "Deleted Items"),
        ("drafts", "Drafts"),
        ("inbox", "Inbox"),
        ("junkemail", "Junk Email"),
        ("outbox", "Outbox"),
        ("sentitems", "Sent Items"),
    ] {
        let id = rng.outlook_id();
        t.mail_folders.push(Rec {
            owner: owner.into(),
            parent: root.clone(),
            data: folder_json(&id, name, &root),
            version: 1,
        });
        t.well_known_folders
            .insert(format!("{owner}|{well_known}"), id.clone());
        ids.insert(well_known, id);
    }
    let inbox = ids["inbox"].clone();
    let projects = rng.outlook_id();
    t.mail_folders.push(Rec {
        owner: owner.into(),
        parent: inbox.clone(),
        data: folder_json(&projects, "Projects", &inbox),
        version: 1,
    });

    let me = t.users[index].clone();
    let me_r = recipient(me.str("displayName"), me.str("mail"));
    let others: Vec<(String, String)> = t
        .users
        .iter()
        .filter(|u| u.id() != owner)
        .map(|u| (u.str("displayName").to_string(), u.str("mail").to_string()))
        .collect();
    let add = |t: &mut Tenant,
               rng: &mut Rng,
               folder: &str,
               k: usize,
               incoming: bool,
               draft: bool| {
        let (name, addr) = others[(k + index) % others.len()].clone();
        let subject = SUBJECTS[(k * 7 + index) % SUBJECTS.len()].to_string();
        let body = format!(
            "<html><body><p>Hi {},</p><p>{subject}: here are the details we discussed. Item {k} of the thread.</p><p>Thanks,<br>{}</p></body></html>",
            if incoming {
                me.str("givenName")
            } else {
                name.split(' ').next().unwrap_or("")
            },
            if incoming {
                name.as_str()
            } else {
                me.str("displayName")
            }
        );
        let at = now - (k as i64 * 3 + 1) * 3600 - (index as i64) * 60;
        let spec = MessageSpec {
            subject,
            body_html: body,
            from: if incoming {
                recipient(&name, &addr)
            } else {
                me_r.clone()
            },
            to: if incoming {
                vec![me_r.clone()]
            } else {
                vec![recipient(&name, &addr)]
            },
            cc: Vec::new(),
            bcc: Vec::new(),
            at,
            is_read: !incoming || k > 5,
            is_draft: draft,
            importance: if k.is_multiple_of(9) {
                "high".into()
            } else {
                "normal".into()
            },
        };
        let mut data = new_message(rng, folder, spec);
        if incoming && k.is_multiple_of(4) {
            data.insert("hasAttachments".into(), json!(true));
            let id = data
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let text = format!("Notes for message {k}.\nOwner: {}\n", me.str("displayName"));
            let a = attachment_json(
                rng,
                &format!("notes-{k}.txt"),
                "text/plain",
                text.as_bytes(),
                at,
                false,
            );
            t.attachments.push(Rec {
                owner: owner.into(),
                parent: id.clone(),
                data: a,
                version: 1,
            });
            if k.is_multiple_of(8) {
                let png = crate::generated::png_square(8, [20, 120, 200]);
                let a = attachment_json(rng, "chart.png", "image/png", &png, at, false);
                t.attachments.push(Rec {
                    owner: owner.into(),
                    parent: id,
                    data: a,
                    version: 1,
                });
            }
        }
        t.messages.push(Rec {
            owner: owner.into(),
            parent: folder.to_string(),
            data,
            version: 1,
        });
    };
    for k in 0..24 {
        add(t, rng, &inbox, k, true, false);
    }
    for k in 0..5 {
        add(t, rng, &ids["sentitems"], k + 1, false, false);
    }
    for k in 0..2 {
        add(t, rng, &ids["drafts"], k, false, true);
    }
    for k in 0..3 {
        add(t, rng, &projects, k + 30, true, false);
    }
    for k in 0..2 {
        add(t, rng, &ids["deleteditems"], k + 40, true, false);
    }
    let _ = DAY;
}

// ---------------------------------------------------------------- presentation

fn present_folder(t: &Tenant, f: &Rec) -> Value {
    let mut d = f.data.clone();
    let id = f.id();
    let total = t.messages.iter().filter(|m| m.parent == id).count();
    let unread = t
        .messages
        .iter()
        .filter(|m| m.parent == id && m.data.get("isRead") == Some(&json!(false)))
        .count();
    let children = t.mail_folders.iter().filter(|c| c.parent == id).count();
    d.insert("totalItemCount".into(), json!(total));
    d.insert("unreadItemCount".into(), json!(unread));
    d.insert("childFolderCount".into(), json!(children));
    Value::Object(d)
}

fn present_message(ctx: &mut Ctx, m: &Rec) -> Value {
    let mut d = m.data.clone();
    if let Some(true) = ctx.body_as_text()
        && let Some(body) = d.get("body").cloned()
        && body["contentType"] == "html"
    {
        let text = html_text::text_of(body["content"].as_str().unwrap_or(""));
        d.insert(
            "body".into(),
            json!({"contentType": "text", "content": text}),
        );
    }
    Value::Object(d)
}

fn find_folder<'a>(t: &'a Tenant, owner: &str, key: &str) -> Result<&'a Rec, GraphError> {
    let id = t
        .well_known_folders
        .get(&format!("{owner}|{}", key.to_ascii_lowercase()))
        .cloned()
        .unwrap_or_else(|| key.to_string());
    t.mail_folders
        .iter()
        .find(|f| f.owner == owner && f.id() == id)
        .ok_or_else(GraphError::outlook_not_found)
}

fn message_index(t: &Tenant, owner: &str, id: &str) -> Result<usize, GraphError> {
    t.messages
        .iter()
        .position(|m| m.owner == owner && m.id() == id)
        .ok_or_else(GraphError::outlook_not_found)
}

fn folder_id(t: &Tenant, owner: &str, well_known: &str) -> String {
    t.well_known_folders
        .get(&format!("{owner}|{well_known}"))
        .cloned()
        .unwrap_or_default()
}

fn message_search(item: &Value, text: &str) -> bool {
    let text = text.to_lowercase();
    [
        "subject",
        "bodyPreview",
        "from/emailAddress/address",
        "from/emailAddress/name",
    ]
    .iter()
    .any(|p| {
        odata::lookup(item, p)
            .and_then(Value::as_str)
            .is_some_and(|v| v.to_lowercase().contains(&text))
    })
}

// ---------------------------------------------------------------- dispatch

/// `/{principal}/messages...`, `/mailFolders...`, `/sendMail`, `/mailboxSettings`.
pub(crate) fn handle(
    ctx: &mut Ctx,
    t: &mut Tenant,
    user: &str,
    rest: &[String],
) -> Result<Reply, GraphError> {
    let lower: Vec<String> = rest.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lower.iter().map(String::as_str).collect();
    let m = ctx.method.clone();
    match (m, l.as_slice()) {
        (Method::GET, ["messages"]) => {
            ctx.require("GET /me/messages")?;
            let items: Vec<Value> = {
                let recs: Vec<Rec> = t
                    .messages
                    .iter()
                    .filter(|x| x.owner == user)
                    .cloned()
                    .collect();
                recs.iter().map(|r| present_message(ctx, r)).collect()
            };
            list_messages(ctx, &format!("users('{user}')/messages"), items)
        }
        (Method::POST, ["messages"]) => {
            ctx.require("POST /me/messages")?;
            let drafts = folder_id(t, user, "drafts");
            create_draft(ctx, t, user, &drafts)
        }
        (_, ["messages", _, ..]) => message_ops(ctx, t, user, &rest[1], &rest[2..]),
        (Method::GET, ["mailfolders"]) => {
            ctx.require("GET /me/mailFolders")?;
            let root = folder_id(t, user, "msgfolderroot");
            let items: Vec<Value> = t
                .mail_folders
                .iter()
                .filter(|f| f.owner == user && f.parent == root)
                .map(|f| present_folder(t, f))
                .collect();
            let opts = ListOptions::outlook("microsoft.graph.mailFolder");
            Ok(Reply::json(odata::list(
                ctx,
                &format!("users('{user}')/mailFolders"),
                items,
                &opts,
                None,
            )?))
        }
        (Method::GET, ["mailfolders", "delta" | "delta()"]) => {
            ctx.require("GET /me/mailFolders/delta")?;
            let scope = format!("folders|{user}");
            let cursor = odata::delta_cursor(ctx, &scope)?;
            let mut entries: Vec<(u64, Value)> = t
                .mail_folders
                .iter()
                .filter(|f| f.owner == user && f.version > cursor.since)
                .map(|f| (f.version, present_folder(t, f)))
                .collect();
            entries.extend(
                t.tombstones
                    .iter()
                    .filter(|s| s.scope == scope && cursor.reports_removal(s.version))
                    .map(|s| {
                        (
                            s.version,
                            json!({"id": s.id, "@removed": {"reason": "deleted"}}),
                        )
                    }),
            );
            entries.sort_by_key(|(v, _)| *v);
            let entries = entries.into_iter().map(|(_, e)| e).collect();
            let body = odata::delta_page(
                ctx,
                "Collection(mailFolder)",
                &scope,
                &cursor,
                entries,
                10,
                None,
            );
            Ok(Reply::json(body))
        }
        (Method::GET, ["mailfolders", _]) => {
            ctx.require("GET /me/mailFolders/{id}")?;
            let f = find_folder(t, user, &rest[1])?;
            let mut v = odata::select(&present_folder(t, f), ctx.query.select.as_deref(), None);
            v["@odata.context"] =
                json!(ctx.context_url(&format!("users('{user}')/mailFolders/$entity")));
            Ok(Reply::json(v))
        }
        (Method::GET, ["mailfolders", _, "childfolders"]) => {
            ctx.require("GET /me/mailFolders/{id}/childFolders")?;
            let parent = find_folder(t, user, &rest[1])?.id().to_string();
            let items: Vec<Value> = t
                .mail_folders
                .iter()
                .filter(|f| f.owner == user && f.parent == parent)
                .map(|f| present_folder(t, f))
                .collect();
            let opts = ListOptions::outlook("microsoft.graph.mailFolder");
            Ok(Reply::json(odata::list(
                ctx,
                &format!("users('{user}')/mailFolders('{parent}')/childFolders"),
                items,
                &opts,
                None,
            )?))
        }
        (Method::GET, ["mailfolders", _, "messages"]) => {
            ctx.require("GET /me/mailFolders/{id}/messages")?;
            let fid = find_folder(t, user, &rest[1])?.id().to_string();
            let recs: Vec<Rec> = t
                .messages
                .iter()
                .filter(|x| x.owner == user && x.parent == fid)
                .cloned()
                .collect();
            let items = recs.iter().map(|r| present_message(ctx, r)).collect();
            list_messages(
                ctx,
                &format!("users('{user}')/mailFolders('{fid}')/messages"),
                items,
            )
        }
        (Method::POST, ["mailfolders", _, "messages"]) => {
            ctx.require("POST /me/messages")?;
            let fid = find_folder(t, user, &rest[1])?.id().to_string();
            create_draft(ctx, t, user, &fid)
        }
        (Method::GET, ["mailfolders", _, "messages", "delta" | "delta()"]) => {
            ctx.require("GET /me/mailFolders/{id}/messages/delta")?;
            let fid = find_folder(t, user, &rest[1])?.id().to_string();
            let scope = format!("msgs|{fid}");
            let cursor = odata::delta_cursor(ctx, &scope)?;
            let recs: Vec<Rec> = t
                .messages
                .iter()
                .filter(|x| x.owner == user && x.parent == fid && x.version > cursor.since)
                .cloned()
                .collect();
            let mut entries: Vec<(u64, Value)> = recs
                .iter()
                .map(|r| (r.version, present_message(ctx, r)))
                .collect();
            entries.extend(t.tombstones.iter().filter(|s| s.scope == scope && cursor.reports_removal(s.version)).map(|s| {
                (s.version, json!({"@odata.type": "#microsoft.graph.message", "id": s.id, "@removed": {"reason": "deleted"}}))
            }));
            entries.sort_by_key(|(v, _)| *v);
            let entries = entries.into_iter().map(|(_, e)| e).collect();
            let body = odata::delta_page(
                ctx,
                "Collection(message)",
                &scope,
                &cursor,
                entries,
                10,
                None,
            );
            Ok(Reply::json(body))
        }
        (_, ["mailfolders", _, "messages", _, ..]) => {
            find_folder(t, user, &rest[1])?;
            message_ops(ctx, t, user, &rest[3], &rest[4..])
        }
        (Method::POST, ["sendmail"]) => {
            ctx.require("POST /me/sendMail")?;
            send_mail(ctx, t, user)
        }
        (Method::GET, ["mailboxsettings"]) => {
            ctx.require("GET /me/mailboxSettings")?;
            let mut v = t
                .mailbox_settings
                .get(user)
                .cloned()
                .unwrap_or_else(default_mailbox_settings);
            v = odata::select(&v, ctx.query.select.as_deref(), None);
            if let Value::Object(m) = &mut v {
                let mut out = Map::new();
                out.insert(
                    "@odata.context".into(),
                    json!(ctx.context_url(&format!("users('{user}')/mailboxSettings"))),
                );
                out.extend(std::mem::take(m));
                v = Value::Object(out);
            }
            Ok(Reply::json(v))
        }
        (Method::PATCH, ["mailboxsettings"]) => {
            ctx.require("PATCH /me/mailboxSettings")?;
            let patch = ctx.json_body()?;
            let Some(patch) = patch.as_object() else {
                return Err(GraphError::bad_request(
                    "ErrorInvalidRequest",
                    "The request body must be a JSON object.",
                ));
            };
            let settings = t
                .mailbox_settings
                .entry(user.to_string())
                .or_insert_with(default_mailbox_settings);
            for (k, v) in patch {
                if k.starts_with('@') {
                    continue;
                }
                if settings.get(k).is_none() {
                    return Err(GraphError::bad_request(
                        "ErrorInvalidProperty",
                        format!(
                            "The property '{k}' does not exist on type 'microsoft.graph.mailboxSettings'."
                        ),
                    ));
                }
                settings[k] = v.clone();
            }
            let mut v = settings.clone();
            v["@odata.context"] =
                json!(ctx.context_url(&format!("users('{user}')/mailboxSettings")));
            Ok(Reply::json(v))
        }
        (
            _,
            [
                "messages" | "mailfolders" | "sendmail" | "mailboxsettings",
                ..,
            ],
        ) => Err(GraphError::method_not_allowed()),
        _ => Err(GraphError::no_segment(
            rest.last().map(String::as_str).unwrap_or(""),
        )),
    }
}

fn list_messages(ctx: &mut Ctx, context: &str, mut items: Vec<Value>) -> Result<Reply, GraphError> {
    // Outlook's default order: newest first.
    items.sort_by(|a, b| {
        odata::compare(&b["receivedDateTime"], &a["receivedDateTime"])
            .then_with(|| odata::compare(&a["id"], &b["id"]))
    });
    let opts = ListOptions::outlook("microsoft.graph.message");
    Ok(Reply::json(odata::list(
        ctx,
        context,
        items,
        &opts,
        Some(&message_search),
    )?))
}

fn create_draft(
    ctx: &mut Ctx,
    t: &mut Tenant,
    user: &str,
    folder: &str,
) -> Result<Reply, GraphError> {
    let input = ctx.json_body()?;
    let me = t
        .user(user)
        .cloned()
        .ok_or_else(|| GraphError::user_not_found(user))?;
    let me_r = recipient(me.str("displayName"), me.str("mail"));
    let spec = spec_from_input(&input, me_r, true, datetime::now())?;
    let mut data = new_message(&mut t.rng, folder, spec);
    data.insert("isRead".into(), json!(true));
    let id = data["id"].as_str().unwrap_or_default().to_string();
    let v = t.tick();
    t.messages.push(Rec {
        owner: user.into(),
        parent: folder.into(),
        data,
        version: v,
    });
    if let Some(atts) = input.get("attachments").and_then(Value::as_array) {
        for a in atts {
            add_attachment_from(t, user, &id, a)?;
        }
    }
    let idx = message_index(t, user, &id)?;
    let rec = t.messages[idx].clone();
    let mut out = present_message(ctx, &rec);
    out["@odata.context"] = json!(ctx.context_url(&format!("users('{user}')/messages/$entity")));
    Ok(Reply::created(out))
}

fn recipients(input: &Value, key: &str) -> Result<Vec<Value>, GraphError> {
    let Some(v) = input.get(key) else {
        return Ok(Vec::new());
    };
    let Some(list) = v.as_array() else {
        return Err(GraphError::bad_request(
            "ErrorInvalidRecipients",
            format!("'{key}' must be an array of recipients."),
        ));
    };
    list.iter()
        .map(|r| {
            let addr = r
                .pointer("/emailAddress/address")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !addr.contains('@') {
                return Err(GraphError::bad_request(
                    "ErrorInvalidRecipients",
                    format!(
                        "At least one recipient isn't valid: '{addr}' is not an email address."
                    ),
                ));
            }
            let name = r
                .pointer("/emailAddress/name")
                .and_then(Value::as_str)
                .unwrap_or(addr);
            Ok(recipient(name, addr))
        })
        .collect()
}

fn spec_from_input(
    input: &Value,
    from: Value,
    draft: bool,
    at: i64,
) -> Result<MessageSpec, GraphError> {
    let body = input
        .get("body")
        .cloned()
        .unwrap_or(json!({"contentType": "text", "content": ""}));
    let content = body["content"].as_str().unwrap_or("").to_string();
    let html = if body["contentType"]
        .as_str()
        .is_some_and(|c| c.eq_ignore_ascii_case("html"))
    {
        content
    } else {
        format!(
            "<html><body><p>{}</p></body></html>",
            content.replace('&', "&amp;").replace('<', "&lt;")
        )
    };
    Ok(MessageSpec {
        subject: input["subject"].as_str().unwrap_or("").to_string(),
        body_html: html,
        from,
        to: recipients(input, "toRecipients")?,
        cc: recipients(input, "ccRecipients")?,
        bcc: recipients(input, "bccRecipients")?,
        at,
        is_read: true,
        is_draft: draft,
        importance: input["importance"].as_str().unwrap_or("normal").to_string(),
    })
}

fn add_attachment_from(
    t: &mut Tenant,
    user: &str,
    message_id: &str,
    a: &Value,
) -> Result<Value, GraphError> {
    let kind = a["@odata.type"]
        .as_str()
        .unwrap_or("#microsoft.graph.fileAttachment");
    if !kind.eq_ignore_ascii_case("#microsoft.graph.fileAttachment") {
        return Err(GraphError::bad_request(
            "ErrorInvalidRequest",
            "Only file attachments are supported by the sandbox.",
        ));
    }
    let name = a["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            GraphError::bad_request(
                "ErrorInvalidRequest",
                "The attachment's 'name' is required.",
            )
        })?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(a["contentBytes"].as_str().unwrap_or(""))
        .map_err(|_| {
            GraphError::bad_request("ErrorInvalidRequest", "'contentBytes' must be base64.")
        })?;
    if bytes.len() > MAX_SIMPLE_ATTACHMENT {
        return Err(GraphError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "ErrorRequestEntityTooLarge",
            "The attachment is larger than 3 MB; attach it through an upload session (attachments/createUploadSession).",
        ));
    }
    let ct = a["contentType"]
        .as_str()
        .unwrap_or("application/octet-stream")
        .to_string();
    let data = attachment_json(
        &mut t.rng,
        name,
        &ct,
        &bytes,
        datetime::now(),
        a["isInline"].as_bool().unwrap_or(false),
    );
    let out = Value::Object(data.clone());
    let v = t.tick();
    t.attachments.push(Rec {
        owner: user.into(),
        parent: message_id.into(),
        data,
        version: v,
    });
    if let Ok(i) = message_index(t, user, message_id) {
        t.messages[i]
            .data
            .insert("hasAttachments".into(), json!(true));
        t.messages[i].version = v;
    }
    Ok(out)
}

/// Stores an attachment uploaded through an upload session.
pub(crate) fn finish_attachment_upload(
    t: &mut Tenant,
    user: &str,
    message_id: &str,
    name: &str,
    content_type: &str,
    bytes: &[u8],
) -> Result<(), GraphError> {
    message_index(t, user, message_id)?;
    let data = attachment_json(
        &mut t.rng,
        name,
        content_type,
        bytes,
        datetime::now(),
        false,
    );
    let v = t.tick();
    t.attachments.push(Rec {
        owner: user.into(),
        parent: message_id.into(),
        data,
        version: v,
    });
    if let Ok(i) = message_index(t, user, message_id) {
        t.messages[i]
            .data
            .insert("hasAttachments".into(), json!(true));
        t.messages[i].version = v;
    }
    Ok(())
}

/// Puts a new message in `folder`, returning its id.
fn store(
    t: &mut Tenant,
    owner: &str,
    folder: &str,
    spec: MessageSpec,
    attachments: &[Rec],
) -> String {
    let mut data = new_message(&mut t.rng, folder, spec);
    let id = data["id"].as_str().unwrap_or_default().to_string();
    if !attachments.is_empty() {
        data.insert("hasAttachments".into(), json!(true));
    }
    let v = t.tick();
    t.messages.push(Rec {
        owner: owner.into(),
        parent: folder.into(),
        data,
        version: v,
    });
    for a in attachments {
        let mut copy = a.data.clone();
        copy.insert(
            "id".into(),
            json!(format!("AAMkAGAtt{}", &t.rng.outlook_id()[6..40])),
        );
        t.attachments.push(Rec {
            owner: owner.into(),
            parent: id.clone(),
            data: copy,
            version: v,
        });
    }
    id
}

/// Sends `spec` from `sender`: a copy in Sent Items (when `save`) and one in
/// the Inbox of each recipient in the tenant.
pub(crate) fn deliver(
    t: &mut Tenant,
    sender: &str,
    spec: &MessageSpec,
    attachments: &[Rec],
    save: bool,
) -> Result<(), GraphError> {
    if spec.to.is_empty() && spec.cc.is_empty() && spec.bcc.is_empty() {
        return Err(GraphError::bad_request(
            "ErrorInvalidRecipients",
            "At least one recipient isn't valid., A message can't be sent because it contains no recipients.",
        ));
    }
    let now = datetime::now();
    let clone_spec = |s: &MessageSpec, read: bool| MessageSpec {
        subject: s.subject.clone(),
        body_html: s.body_html.clone(),
        from: s.from.clone(),
        to: s.to.clone(),
        cc: s.cc.clone(),
        bcc: Vec::new(),
        at: now,
        is_read: read,
        is_draft: false,
        importance: s.importance.clone(),
    };
    if save {
        let sent = folder_id(t, sender, "sentitems");
        let mut s = clone_spec(spec, true);
        s.bcc = spec.bcc.clone();
        store(t, sender, &sent, s, attachments);
    }
    let mut delivered = std::collections::HashSet::new();
    for r in spec.to.iter().chain(&spec.cc).chain(&spec.bcc) {
        let addr = r
            .pointer("/emailAddress/address")
            .and_then(Value::as_str)
            .unwrap_or("");
        let Some(u) = t.user_by_address(addr).map(|u| u.id().to_string()) else {
            continue;
        };
        if !delivered.insert(u.clone()) {
            continue;
        }
        let inbox = folder_id(t, &u, "inbox");
        store(t, &u, &inbox, clone_spec(spec, false), attachments);
    }
    Ok(())
}

fn send_mail(ctx: &mut Ctx, t: &mut Tenant, user: &str) -> Result<Reply, GraphError> {
    let input = ctx.json_body()?;
    let Some(message) = input.get("message").filter(|m| m.is_object()) else {
        return Err(GraphError::bad_request(
            "ErrorInvalidRequest",
            "The 'message' parameter is required.",
        ));
    };
    let save = input
        .get("saveToSentItems")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let me = t
        .user(user)
        .cloned()
        .ok_or_else(|| GraphError::user_not_found(user))?;
    let spec = spec_from_input(
        message,
        recipient(me.str("displayName"), me.str("mail")),
        false,
        datetime::now(),
    )?;
    // Attachments sent inline with the message.
    let mut atts = Vec::new();
    if let Some(list) = message.get("attachments").and_then(Value::as_array) {
        for a in list {
            let name = a["name"].as_str().unwrap_or("attachment");
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(a["contentBytes"].as_str().unwrap_or(""))
                .map_err(|_| {
                    GraphError::bad_request("ErrorInvalidRequest", "'contentBytes' must be base64.")
                })?;
            let ct = a["contentType"]
                .as_str()
                .unwrap_or("application/octet-stream");
            atts.push(Rec {
                owner: user.into(),
                parent: String::new(),
                data: attachment_json(&mut t.rng, name, ct, &bytes, datetime::now(), false),
                version: 0,
            });
        }
    }
    deliver(t, user, &spec, &atts, save)?;
    Ok(Reply::accepted())
}

fn message_ops(
    ctx: &mut Ctx,
    t: &mut Tenant,
    user: &str,
    id: &str,
    rest: &[String],
) -> Result<Reply, GraphError> {
    let lower: Vec<String> = rest.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lower.iter().map(String::as_str).collect();
    let m = ctx.method.clone();
    match (m, l.as_slice()) {
        (Method::GET, []) => {
            ctx.require("GET /me/messages/{id}")?;
            let rec = t.messages[message_index(t, user, id)?].clone();
            let full = present_message(ctx, &rec);
            let mut v = odata::select(&full, ctx.query.select.as_deref(), None);
            if ctx
                .query
                .expand
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case("attachments"))
            {
                v["attachments"] = Value::Array(
                    t.attachments
                        .iter()
                        .filter(|a| a.parent == id)
                        .map(|a| Value::Object(a.data.clone()))
                        .collect(),
                );
            }
            v["@odata.context"] =
                json!(ctx.context_url(&format!("users('{user}')/messages/$entity")));
            Ok(Reply::json(v))
        }
        (Method::PATCH, []) => {
            ctx.require("PATCH /me/messages/{id}")?;
            let idx = message_index(t, user, id)?;
            let patch = ctx.json_body()?;
            let Some(patch) = patch.as_object() else {
                return Err(GraphError::bad_request(
                    "ErrorInvalidRequest",
                    "The request body must be a JSON object.",
                ));
            };
            const WRITABLE: &[&str] = &[
                "subject",
                "body",
                "toRecipients",
                "ccRecipients",
                "bccRecipients",
                "replyTo",
                "importance",
                "isRead",
                "categories",
                "flag",
                "inferenceClassification",
                "isDeliveryReceiptRequested",
                "isReadReceiptRequested",
            ];
            for (k, _) in patch.iter().filter(|(k, _)| !k.starts_with('@')) {
                if !WRITABLE.contains(&k.as_str()) {
                    return Err(GraphError::bad_request(
                        "ErrorInvalidPropertyRequest",
                        format!("The property '{k}' can't be updated."),
                    ));
                }
            }
            for r in ["toRecipients", "ccRecipients", "bccRecipients"] {
                recipients(&Value::Object(patch.clone()), r)?;
            }
            let v = t.tick();
            let ck = t.rng.change_key();
            let rec = &mut t.messages[idx];
            for (k, val) in patch.iter().filter(|(k, _)| !k.starts_with('@')) {
                rec.data.insert(k.clone(), val.clone());
            }
            if let Some(html) = patch.get("body").and_then(|b| b["content"].as_str()) {
                rec.data
                    .insert("bodyPreview".into(), json!(html_text::preview(html)));
            }
            rec.data.insert(
                "lastModifiedDateTime".into(),
                json!(datetime::iso_z(datetime::now())),
            );
            rec.data.insert("changeKey".into(), json!(ck));
            rec.data
                .insert("@odata.etag".into(), json!(format!("W/\"{ck}\"")));
            rec.version = v;
            let rec = rec.clone();
            let mut out = present_message(ctx, &rec);
            out["@odata.context"] =
                json!(ctx.context_url(&format!("users('{user}')/messages/$entity")));
            Ok(Reply::json(out))
        }
        (Method::DELETE, []) => {
            ctx.require("DELETE /me/messages/{id}")?;
            let idx = message_index(t, user, id)?;
            let rec = t.messages.remove(idx);
            t.attachments.retain(|a| a.parent != id);
            t.bury(&format!("msgs|{}", rec.parent), id);
            Ok(Reply::no_content())
        }
        (Method::GET, ["$value"]) => {
            ctx.require("GET /me/messages/{id}/$value")?;
            let rec = &t.messages[message_index(t, user, id)?];
            Ok(Reply::bytes("text/plain", Bytes::from(mime(rec))))
        }
        (Method::POST, ["send"]) => {
            ctx.require("POST /me/messages/{id}/send")?;
            let idx = message_index(t, user, id)?;
            let rec = t.messages[idx].clone();
            if rec.data.get("isDraft") != Some(&json!(true)) {
                return Err(GraphError::bad_request(
                    "ErrorInvalidOperation",
                    "Only draft messages can be sent.",
                ));
            }
            let spec = spec_from_rec(&rec);
            let atts: Vec<Rec> = t
                .attachments
                .iter()
                .filter(|a| a.parent == id)
                .cloned()
                .collect();
            deliver(t, user, &spec, &atts, true)?;
            t.messages.remove(idx);
            t.attachments.retain(|a| a.parent != id);
            t.bury(&format!("msgs|{}", rec.parent), id);
            Ok(Reply::accepted())
        }
        (Method::POST, [action @ ("reply" | "replyall" | "forward")]) => {
            ctx.require(match *action {
                "reply" => "POST /me/messages/{id}/reply",
                "replyall" => "POST /me/messages/{id}/replyAll",
                _ => "POST /me/messages/{id}/forward",
            })?;
            let rec = t.messages[message_index(t, user, id)?].clone();
            let input = if ctx.body.is_empty() {
                json!({})
            } else {
                ctx.json_body()?
            };
            let me = t
                .user(user)
                .cloned()
                .ok_or_else(|| GraphError::user_not_found(user))?;
            let spec = respond(&rec, &me, action, &input)?;
            let atts: Vec<Rec> = if *action == "forward" {
                t.attachments
                    .iter()
                    .filter(|a| a.parent == id)
                    .cloned()
                    .collect()
            } else {
                Vec::new()
            };
            deliver(t, user, &spec, &atts, true)?;
            Ok(Reply::accepted())
        }
        (Method::POST, [action @ ("createreply" | "createreplyall" | "createforward")]) => {
            ctx.require("POST /me/messages/{id}/createReply")?;
            let rec = t.messages[message_index(t, user, id)?].clone();
            let input = if ctx.body.is_empty() {
                json!({})
            } else {
                ctx.json_body()?
            };
            let me = t
                .user(user)
                .cloned()
                .ok_or_else(|| GraphError::user_not_found(user))?;
            let kind = match *action {
                "createreply" => "reply",
                "createreplyall" => "replyall",
                _ => "forward",
            };
            let mut spec = respond(&rec, &me, kind, &input).or_else(|e| {
                if kind == "forward" {
                    let mut s = spec_from_rec(&rec);
                    s.subject = format!("FW: {}", rec.str("subject"));
                    s.to = Vec::new();
                    s.from = recipient(me.str("displayName"), me.str("mail"));
                    Ok(s)
                } else {
                    Err(e)
                }
            })?;
            spec.is_draft = true;
            let drafts = folder_id(t, user, "drafts");
            let new_id = store(t, user, &drafts, spec, &[]);
            let rec = t.messages[message_index(t, user, &new_id)?].clone();
            let mut out = present_message(ctx, &rec);
            out["@odata.context"] =
                json!(ctx.context_url(&format!("users('{user}')/messages/$entity")));
            Ok(Reply::created(out))
        }
        (Method::POST, [action @ ("move" | "copy")]) => {
            ctx.require("POST /me/messages/{id}/move")?;
            let input = ctx.json_body()?;
            let dest_key = input["destinationId"].as_str().ok_or_else(|| {
                GraphError::bad_request(
                    "ErrorInvalidRequest",
                    "The 'destinationId' parameter is required.",
                )
            })?;
            let dest = find_folder(t, user, dest_key)?.id().to_string();
            let idx = message_index(t, user, id)?;
            let old = t.messages[idx].clone();
            let new_id = t.rng.outlook_id();
            let v = t.tick();
            let mut data = old.data.clone();
            data.insert("id".into(), json!(new_id));
            data.insert("parentFolderId".into(), json!(dest));
            data.insert(
                "lastModifiedDateTime".into(),
                json!(datetime::iso_z(datetime::now())),
            );
            if *action == "move" {
                t.messages.remove(idx);
                for a in t.attachments.iter_mut().filter(|a| a.parent == id) {
                    a.parent = new_id.clone();
                }
                t.bury(&format!("msgs|{}", old.parent), id);
            } else {
                let copies: Vec<Rec> = t
                    .attachments
                    .iter()
                    .filter(|a| a.parent == id)
                    .cloned()
                    .collect();
                for mut a in copies {
                    a.parent = new_id.clone();
                    t.attachments.push(a);
                }
            }
            let v2 = t.tick().max(v);
            t.messages.push(Rec {
                owner: user.into(),
                parent: dest,
                data,
                version: v2,
            });
            let rec = t.messages[message_index(t, user, &new_id)?].clone();
            let mut out = present_message(ctx, &rec);
            out["@odata.context"] =
                json!(ctx.context_url(&format!("users('{user}')/messages/$entity")));
            Ok(Reply::created(out))
        }
        (Method::GET, ["attachments"]) => {
            ctx.require("GET /me/messages/{id}/attachments")?;
            message_index(t, user, id)?;
            let items: Vec<Value> = t
                .attachments
                .iter()
                .filter(|a| a.parent == id)
                .map(|a| Value::Object(a.data.clone()))
                .collect();
            let opts = ListOptions::outlook("microsoft.graph.attachment");
            Ok(Reply::json(odata::list(
                ctx,
                &format!("users('{user}')/messages('{id}')/attachments"),
                items,
                &opts,
                None,
            )?))
        }
        (Method::POST, ["attachments"]) => {
            ctx.require("POST /me/messages/{id}/attachments")?;
            message_index(t, user, id)?;
            let input = ctx.json_body()?;
            let mut out = add_attachment_from(t, user, id, &input)?;
            out["@odata.context"] = json!(ctx.context_url(&format!(
                "users('{user}')/messages('{id}')/attachments/$entity"
            )));
            Ok(Reply::created(out))
        }
        (Method::POST, ["attachments", "createuploadsession"]) => {
            ctx.require("POST /me/messages/{id}/attachments/createUploadSession")?;
            message_index(t, user, id)?;
            let input = ctx.json_body()?;
            let item = input
                .get("AttachmentItem")
                .or_else(|| input.get("attachmentItem"))
                .cloned()
                .unwrap_or(Value::Null);
            let name = item["name"]
                .as_str()
                .filter(|n| !n.is_empty())
                .ok_or_else(|| {
                    GraphError::bad_request(
                        "ErrorInvalidRequest",
                        "AttachmentItem.name is required.",
                    )
                })?;
            let size = item["size"].as_u64().ok_or_else(|| {
                GraphError::bad_request("ErrorInvalidRequest", "AttachmentItem.size is required.")
            })?;
            let ct = item["contentType"]
                .as_str()
                .unwrap_or("application/octet-stream");
            let target = upload_session::Target::Attachment {
                owner: user.to_string(),
                message_id: id.to_string(),
                name: name.to_string(),
                content_type: ct.to_string(),
            };
            let session = upload_session::create(ctx, target, Some(size))?;
            let mut body = session;
            body["@odata.context"] = json!(ctx.context_url("microsoft.graph.uploadSession"));
            Ok(Reply::created(body))
        }
        (Method::GET, ["attachments", _]) => {
            ctx.require("GET /me/messages/{id}/attachments/{id}")?;
            message_index(t, user, id)?;
            let a = t
                .attachments
                .iter()
                .find(|a| a.parent == id && a.id() == rest[1])
                .ok_or_else(GraphError::outlook_not_found)?;
            let mut v = odata::select(
                &Value::Object(a.data.clone()),
                ctx.query.select.as_deref(),
                None,
            );
            v["@odata.context"] = json!(ctx.context_url(&format!(
                "users('{user}')/messages('{id}')/attachments/$entity"
            )));
            Ok(Reply::json(v))
        }
        (Method::DELETE, ["attachments", _]) => {
            ctx.require("POST /me/messages/{id}/attachments")?;
            message_index(t, user, id)?;
            let before = t.attachments.len();
            t.attachments
                .retain(|a| !(a.parent == id && a.id() == rest[1]));
            if before == t.attachments.len() {
                return Err(GraphError::outlook_not_found());
            }
            Ok(Reply::no_content())
        }
        _ => Err(GraphError::no_segment(
            rest.last().map(String::as_str).unwrap_or(id),
        )),
    }
}

fn spec_from_rec(rec: &Rec) -> MessageSpec {
    let arr = |k: &str| {
        rec.data
            .get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    MessageSpec {
        subject: rec.str("subject").to_string(),
        body_html: rec
            .data
            .get("body")
            .and_then(|b| b["content"].as_str())
            .unwrap_or("")
            .to_string(),
        from: rec.data.get("from").cloned().unwrap_or(Value::Null),
        to: arr("toRecipients"),
        cc: arr("ccRecipients"),
        bcc: arr("bccRecipients"),
        at: datetime::now(),
        is_read: true,
        is_draft: false,
        importance: rec.str("importance").to_string(),
    }
}

/// A reply, reply-all or forward of `rec` by `me`: `comment` above the
/// quoted original, and the writeable properties of `message` (subject,
/// body, recipients, importance) over the defaults (message-reply.md,
/// message-forward.md, docs-2021-07).
fn respond(rec: &Rec, me: &Rec, kind: &str, input: &Value) -> Result<MessageSpec, GraphError> {
    let my_addr = me.str("mail").to_lowercase();
    let comment = input["comment"].as_str().unwrap_or("");
    let message = input.get("message").filter(|m| m.is_object());
    let original = rec
        .data
        .get("body")
        .and_then(|b| b["content"].as_str())
        .unwrap_or("");
    let quoted = format!(
        "<html><body><p>{}</p><hr><p>From: {}<br>Subject: {}</p>{}</body></html>",
        comment.replace('<', "&lt;"),
        rec.data
            .get("from")
            .and_then(|f| f.pointer("/emailAddress/address"))
            .and_then(Value::as_str)
            .unwrap_or(""),
        rec.str("subject"),
        original
    );
    let sender = rec.data.get("from").cloned().unwrap_or(Value::Null);
    let not_me = |r: &Value| {
        r.pointer("/emailAddress/address")
            .and_then(Value::as_str)
            .map(str::to_lowercase)
            != Some(my_addr.clone())
    };
    let (prefix, to, cc) = match kind {
        "reply" => ("RE: ", vec![sender], Vec::new()),
        "replyall" => {
            let mut to = vec![sender];
            to.extend(
                rec.data
                    .get("toRecipients")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|r| not_me(r)),
            );
            let cc = rec
                .data
                .get("ccRecipients")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|r| not_me(r))
                .collect();
            ("RE: ", to, cc)
        }
        _ => {
            // "Specify either the toRecipients parameter or the toRecipients
            // property of the message parameter. Specifying both or
            // specifying neither will return an HTTP 400 Bad Request
            // error." (message-forward.md, docs-2021-07)
            let to = recipients(input, "toRecipients")?;
            let in_message = recipients(message.unwrap_or(&Value::Null), "toRecipients")?;
            if !to.is_empty() && !in_message.is_empty() {
                return Err(GraphError::bad_request(
                    "ErrorInvalidRequest",
                    "Specify either 'toRecipients' or the toRecipients of 'message', not both.",
                ));
            }
            let to = if to.is_empty() { in_message } else { to };
            if to.is_empty() {
                return Err(GraphError::bad_request(
                    "ErrorInvalidRecipients",
                    "At least one recipient isn't valid., A message can't be sent because it contains no recipients.",
                ));
            }
            ("FW: ", to, Vec::new())
        }
    };
    let to: Vec<Value> = to.into_iter().filter(|r| !r.is_null()).collect();
    let mut spec = MessageSpec {
        subject: format!("{prefix}{}", rec.str("subject")),
        body_html: quoted,
        from: recipient(me.str("displayName"), me.str("mail")),
        to,
        cc,
        bcc: Vec::new(),
        at: datetime::now(),
        is_read: true,
        is_draft: false,
        importance: "normal".into(),
    };
    if let Some(message) = message {
        // "You can specify either a comment or the body property of the
        // message parameter. Specifying both will return an HTTP 400 Bad
        // Request error." (message-reply.md, message-forward.md and the
        // createReply/createForward pages, docs-2021-07)
        if !comment.is_empty() && message.get("body").is_some() {
            return Err(GraphError::bad_request(
                "ErrorInvalidRequest",
                "Specify either 'comment' or the body of 'message', not both.",
            ));
        }
        let given = spec_from_input(message, Value::Null, false, spec.at)?;
        if message.get("subject").is_some() {
            spec.subject = given.subject;
        }
        if message.get("body").is_some() {
            spec.body_html = given.body_html;
        }
        if !given.to.is_empty() {
            spec.to = given.to;
        }
        if message.get("ccRecipients").is_some() {
            spec.cc = given.cc;
        }
        if message.get("bccRecipients").is_some() {
            spec.bcc = given.bcc;
        }
        if message.get("importance").is_some() {
            spec.importance = given.importance;
        }
    }
    Ok(spec)
}

fn mime(rec: &Rec) -> String {
    let addr = |v: Option<&Value>| {
        v.and_then(|r| r.pointer("/emailAddress/address"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let to: Vec<String> = rec
        .data
        .get("toRecipients")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|r| addr(Some(r))).collect())
        .unwrap_or_default();
    format!(
        "From: {}\r\nTo: {}\r\nSubject: {}\r\nDate: {}\r\nMessage-ID: {}\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=\"utf-8\"\r\n\r\n{}\r\n",
        addr(rec.data.get("from")),
        to.join(", "),
        rec.str("subject"),
        rec.str("receivedDateTime"),
        rec.str("internetMessageId"),
        rec.data
            .get("body")
            .and_then(|b| b["content"].as_str())
            .unwrap_or("")
    )
}
