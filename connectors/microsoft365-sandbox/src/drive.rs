//! OneDrive: drives, items by id or by path (`root:/a/b:`), children,
//! search, delta, downloads (302 to a pre-authenticated URL on another
//! origin), small uploads, folders, moves, copies, sharing links and
//! invitations.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::datetime::{self, DAY};
use crate::errors::GraphError;
use crate::generated::{Rng, obj};
use crate::odata::{self, ListOptions};
use crate::request::{Ctx, Reply};
use crate::state::{Rec, Tenant};
use crate::{App, upload_session};

/// Largest simple upload the sandbox accepts (4 MiB; use an upload session above).
pub(crate) const MAX_SIMPLE_UPLOAD: usize = 4 * 1024 * 1024;

/// How long download URLs stay valid.
const DOWNLOAD_LIFETIME: i64 = 3600;

fn mime_for(name: &str) -> &'static str {
    let ext = name.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "txt" => "text/plain",
        "md" => "text/markdown",
        "csv" => "text/csv",
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "pdf" => "application/pdf",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        _ => "application/octet-stream",
    }
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn identity_of(t: &Tenant, user: &str) -> Value {
    let u = t.user(user);
    json!({"user": {
        "id": user,
        "displayName": u.map(|u| u.str("displayName")).unwrap_or(""),
        "email": u.map(|u| u.str("mail")).unwrap_or(""),
    }})
}

fn new_item(rng: &mut Rng, name: &str, at: i64, by: &Value, web_base: &str) -> Map<String, Value> {
    let id = rng.drive_item_id();
    let tag = rng.change_key();
    let when = datetime::iso_z(at);
    obj(json!({
        "id": id,
        "name": name,
        "createdDateTime": when,
        "lastModifiedDateTime": when,
        "eTag": format!("\"{{{}}},1\"", &tag[11..]),
        "cTag": format!("\"c:{{{}}},1\"", &tag[11..]),
        "webUrl": format!("{web_base}/{}", name.replace(' ', "%20")),
        "createdBy": by,
        "lastModifiedBy": by,
        "fileSystemInfo": {"createdDateTime": when, "lastModifiedDateTime": when},
        "size": 0,
    }))
}

fn set_content(t: &mut Tenant, id: &str, data: &mut Map<String, Value>, bytes: Bytes, mime: &str) {
    let digest = Sha256::digest(&bytes);
    data.insert("size".into(), json!(bytes.len()));
    data.insert(
        "file".into(),
        json!({"mimeType": mime, "hashes": {
            "sha256Hash": hex_upper(&digest),
            "crc32Hash": format!("{:08X}", crate::generated::crc32(&bytes)),
        }}),
    );
    t.contents.insert(id.to_string(), bytes);
}

fn web_base(t: &Tenant, owner: &str) -> String {
    let nick = t
        .user(owner)
        .map(|u| u.str("mailNickname").replace('.', "_"))
        .unwrap_or_default();
    format!("https://switchboardsandbox-my.sharepoint.com/personal/{nick}/Documents")
}

/// Seeds a OneDrive for `owner`.
pub(crate) fn seed_drive(t: &mut Tenant, rng: &mut Rng, owner: &str, index: usize, now: i64) {
    let drive_id = rng.drive_id();
    let web = web_base(t, owner);
    let by = identity_of(t, owner);
    let created = now - 200 * DAY;
    t.drives.push(Rec {
        owner: owner.into(),
        parent: String::new(),
        data: obj(json!({
            "id": drive_id,
            "driveType": "business",
            "name": "OneDrive",
            "description": "",
            "createdDateTime": datetime::iso_z(created),
            "lastModifiedDateTime": datetime::iso_z(now - DAY),
            "webUrl": web,
            "createdBy": {"user": {"displayName": "System Account"}},
            "owner": by,
            "quota": {"deleted": 0, "remaining": 1_099_511_627_776u64, "state": "normal", "total": 1_099_511_627_776u64, "used": 0},
        })),
        version: 1,
    });
    let mut root = new_item(rng, "root", created, &by, &web);
    root.insert("root".into(), json!({}));
    root.insert("folder".into(), json!({"childCount": 0}));
    root.insert("webUrl".into(), json!(web));
    let root_id = root["id"].as_str().unwrap_or_default().to_string();
    t.items.push(Rec {
        owner: drive_id.clone(),
        parent: String::new(),
        data: root,
        version: 1,
    });
    let name = t.users[index].str("displayName").to_string();
    let folder = |t: &mut Tenant, rng: &mut Rng, parent: &str, name: &str, k: i64| -> String {
        let mut d = new_item(rng, name, created + k * DAY, &by, &web);
        d.insert("folder".into(), json!({"childCount": 0}));
        let id = d["id"].as_str().unwrap_or_default().to_string();
        t.items.push(Rec {
            owner: drive_id.clone(),
            parent: parent.into(),
            data: d,
            version: 1,
        });
        id
    };
    let docs = folder(t, rng, &root_id, "Documents", 1);
    let pics = folder(t, rng, &root_id, "Pictures", 2);
    let notes = folder(t, rng, &docs, "Notes", 3);
    let archive = folder(t, rng, &root_id, "Archive", 4);
    let file =
        |t: &mut Tenant, rng: &mut Rng, parent: &str, fname: &str, bytes: Vec<u8>, k: i64| {
            let mut d = new_item(rng, fname, now - k * 3600, &by, &web);
            let id = d["id"].as_str().unwrap_or_default().to_string();
            set_content(t, &id, &mut d, Bytes::from(bytes), mime_for(fname));
            t.items.push(Rec {
                owner: drive_id.clone(),
                parent: parent.into(),
                data: d,
                version: 1,
            });
        };
    file(
        t,
        rng,
        &root_id,
        "welcome.txt",
        format!("Welcome to the OneDrive of {name}.\n").into_bytes(),
        50,
    );
    file(
        t,
        rng,
        &docs,
        "Quarterly report.txt",
        format!("Quarterly report\nPrepared by {name}\nRevenue grew in every region.\n")
            .into_bytes(),
        30,
    );
    file(
        t,
        rng,
        &docs,
        "Budget.csv",
        b"category,amount\ntravel,1200\nsoftware,5400\ntraining,800\n".to_vec(),
        20,
    );
    file(
        t,
        rng,
        &notes,
        "meeting-notes.md",
        b"# Meeting notes\n\n- agree the roadmap\n- review the budget\n".to_vec(),
        10,
    );
    file(
        t,
        rng,
        &pics,
        "logo.png",
        crate::generated::png_square(16, [200, 60, 40]),
        40,
    );
    for k in 0..30 {
        file(
            t,
            rng,
            &archive,
            &format!("record-{k:02}.txt"),
            format!("Archived record {k} of {name}\n").into_bytes(),
            100 + k,
        );
    }
}

// ---------------------------------------------------------------- presentation

fn item_path(t: &Tenant, rec: &Rec) -> (String, Option<String>) {
    // "/drive/root:" + path of the parent; the parent's id.
    let mut names = Vec::new();
    let mut cur = rec.parent.clone();
    let parent_id = if rec.parent.is_empty() {
        None
    } else {
        Some(rec.parent.clone())
    };
    while let Some(p) = t
        .items
        .iter()
        .find(|i| i.owner == rec.owner && i.id() == cur)
    {
        if p.parent.is_empty() {
            break;
        }
        names.push(p.str("name").to_string());
        cur = p.parent.clone();
    }
    names.reverse();
    let path = if names.is_empty() {
        "/drive/root:".to_string()
    } else {
        format!("/drive/root:/{}", names.join("/"))
    };
    (path, parent_id)
}

fn subtree_size(t: &Tenant, drive: &str, id: &str) -> u64 {
    t.items
        .iter()
        .filter(|i| i.owner == drive && i.parent == id)
        .map(|i| {
            if i.data.contains_key("folder") {
                subtree_size(t, drive, i.id())
            } else {
                i.data["size"].as_u64().unwrap_or(0)
            }
        })
        .sum()
}

/// The Graph JSON of a drive item, with what Graph computes filled in.
pub(crate) fn present_item(app: &App, t: &Tenant, rec: &Rec) -> Value {
    let mut d = rec.data.clone();
    let (path, parent_id) = item_path(t, rec);
    let mut pr = json!({"driveType": "business", "driveId": rec.owner});
    if let Some(pid) = parent_id {
        pr["id"] = json!(pid);
        pr["path"] = json!(path);
        if let Some(p) = t
            .items
            .iter()
            .find(|i| i.owner == rec.owner && i.id() == pid)
        {
            pr["name"] = json!(p.str("name"));
        }
    }
    d.insert("parentReference".into(), pr);
    if d.contains_key("folder") {
        let count = t
            .items
            .iter()
            .filter(|i| i.owner == rec.owner && i.parent == rec.id())
            .count();
        d.insert("folder".into(), json!({"childCount": count}));
        d.insert("size".into(), json!(subtree_size(t, &rec.owner, rec.id())));
    } else if d.contains_key("file") {
        let token = app.signer.seal(
            "download",
            &json!({"i": rec.id(), "d": rec.owner, "e": datetime::now() + DOWNLOAD_LIFETIME}),
        );
        let mut out = Map::new();
        out.insert(
            "@microsoft.graph.downloadUrl".into(),
            json!(format!("{}/download/{token}", app.download_origin)),
        );
        out.extend(d);
        d = out;
    }
    Value::Object(d)
}

// ---------------------------------------------------------------- addressing

enum Addr {
    Item(String),
    Missing { parent: String, name: String },
}

fn root_id(t: &Tenant, drive: &str) -> Result<String, GraphError> {
    t.items
        .iter()
        .find(|i| i.owner == drive && i.parent.is_empty())
        .map(|i| i.id().to_string())
        .ok_or_else(GraphError::drive_not_found)
}

fn child_named(t: &Tenant, drive: &str, parent: &str, name: &str) -> Option<String> {
    t.items
        .iter()
        .find(|i| {
            i.owner == drive && i.parent == parent && i.str("name").eq_ignore_ascii_case(name)
        })
        .map(|i| i.id().to_string())
}

fn walk(t: &Tenant, drive: &str, from: &str, path: &[String]) -> Result<Addr, GraphError> {
    let mut cur = from.to_string();
    for (i, name) in path.iter().enumerate() {
        match child_named(t, drive, &cur, name) {
            Some(id) => cur = id,
            None if i + 1 == path.len() => {
                return Ok(Addr::Missing {
                    parent: cur,
                    name: name.clone(),
                });
            }
            None => return Err(GraphError::drive_not_found()),
        }
    }
    Ok(Addr::Item(cur))
}

/// Splits `root:/a/b:/rest` (already split on `/`) into the path and the rest.
fn split_path(first_tail: &str, segs: &[String]) -> (Vec<String>, Vec<String>) {
    let mut path = Vec::new();
    let mut rest_start = segs.len();
    if !first_tail.is_empty() {
        // `root:a` is not a Graph form; treat the tail as a name anyway.
        path.push(first_tail.trim_end_matches(':').to_string());
        if first_tail.ends_with(':') {
            return (path, segs.to_vec());
        }
    }
    for (i, s) in segs.iter().enumerate() {
        if let Some(stripped) = s.strip_suffix(':') {
            if !stripped.is_empty() {
                path.push(stripped.to_string());
            }
            rest_start = i + 1;
            break;
        }
        path.push(s.clone());
    }
    (
        path,
        segs.get(rest_start..)
            .map(<[String]>::to_vec)
            .unwrap_or_default(),
    )
}

fn check_owner(ctx: &Ctx, t: &Tenant, drive: &str) -> Result<(), GraphError> {
    let d = t
        .drives
        .iter()
        .find(|d| d.id() == drive)
        .ok_or_else(GraphError::drive_not_found)?;
    if let Some(me) = &ctx.caller.user_id
        && &d.owner != me
    {
        return Err(GraphError::new(
            StatusCode::FORBIDDEN,
            "accessDenied",
            "Access denied",
        ));
    }
    Ok(())
}

/// `/{principal}/drive...` and `/{principal}/drives`.
pub(crate) fn by_user(
    ctx: &mut Ctx,
    t: &mut Tenant,
    user: &str,
    rest: &[String],
) -> Result<Reply, GraphError> {
    let drive = t
        .drives
        .iter()
        .find(|d| d.owner == user)
        .map(|d| d.id().to_string())
        .ok_or_else(|| {
            GraphError::new(
                StatusCode::NOT_FOUND,
                "ResourceNotFound",
                "User's mysite not found.",
            )
        })?;
    if rest[0].eq_ignore_ascii_case("drives") {
        if rest.len() > 1 {
            return by_drive_id(ctx, t, &rest[1], &rest[2..]);
        }
        if ctx.method != Method::GET {
            return Err(GraphError::method_not_allowed());
        }
        ctx.require("GET /me/drives")?;
        let items: Vec<Value> = t
            .drives
            .iter()
            .filter(|d| d.owner == user)
            .map(|d| Value::Object(d.data.clone()))
            .collect();
        let opts = ListOptions {
            default_page: 200,
            max_top: 1000,
            default_select: None,
            type_name: "microsoft.graph.drive",
            directory: false,
        };
        return Ok(Reply::json(odata::list(
            ctx,
            &format!("users('{user}')/drives"),
            items,
            &opts,
            None,
        )?));
    }
    drive_routes(
        ctx,
        t,
        &drive,
        &rest[1..],
        &format!("users('{user}')/drive"),
    )
}

/// `/drives/{drive-id}...`.
pub(crate) fn by_drive_id(
    ctx: &mut Ctx,
    t: &mut Tenant,
    drive: &str,
    rest: &[String],
) -> Result<Reply, GraphError> {
    check_owner(ctx, t, drive)?;
    drive_routes(ctx, t, drive, rest, &format!("drives('{drive}')"))
}

fn drive_routes(
    ctx: &mut Ctx,
    t: &mut Tenant,
    drive: &str,
    segs: &[String],
    context: &str,
) -> Result<Reply, GraphError> {
    let Some(first) = segs.first() else {
        if ctx.method != Method::GET {
            return Err(GraphError::method_not_allowed());
        }
        ctx.require("GET /me/drive")?;
        let d = t
            .drives
            .iter()
            .find(|d| d.id() == drive)
            .ok_or_else(GraphError::drive_not_found)?;
        let mut v = odata::select(
            &Value::Object(d.data.clone()),
            ctx.query.select.as_deref(),
            None,
        );
        let used: u64 = t
            .contents
            .iter()
            .filter(|(id, _)| t.items.iter().any(|i| i.owner == drive && i.id() == *id))
            .map(|(_, b)| b.len() as u64)
            .sum();
        if v.get("quota").is_some() {
            v["quota"]["used"] = json!(used);
            v["quota"]["remaining"] = json!(1_099_511_627_776u64 - used);
        }
        v["@odata.context"] = json!(ctx.context_url(&format!("{context}/$entity")));
        return Ok(Reply::json(v));
    };
    let lower = first.to_ascii_lowercase();
    let root = root_id(t, drive)?;
    let (addr, kind, rest): (Addr, &str, Vec<String>) = if lower == "root" {
        (Addr::Item(root.clone()), "root", segs[1..].to_vec())
    } else if let Some(tail) = lower.strip_prefix("root:") {
        let tail_orig = &first[5..];
        let _ = tail;
        let (path, rest) = split_path(tail_orig, &segs[1..]);
        (walk(t, drive, &root, &path)?, "path", rest)
    } else if lower == "items" {
        let Some(id) = segs.get(1) else {
            return Err(GraphError::no_segment("items"));
        };
        // Graph takes `root` as an alias of the root folder's id wherever an
        // item id goes (`/drives/{id}/items/root/children`,
        // `/me/drive/items/root`, `/items/root:/path:`); Microsoft's SDKs
        // reach the root that way (`items.by_drive_item_id("root")`). The
        // reference docs show only `/root`, so this is observed behaviour.
        if id.eq_ignore_ascii_case("root") {
            return item_routes(ctx, t, drive, Addr::Item(root), "root", &segs[2..]);
        }
        if id.eq_ignore_ascii_case("root:") {
            let (path, rest) = split_path("", &segs[2..]);
            let addr = walk(t, drive, &root, &path)?;
            return item_routes(ctx, t, drive, addr, "path", &rest);
        }
        if let Some(id) = id.strip_suffix(':') {
            if !t.items.iter().any(|i| i.owner == drive && i.id() == id) {
                return Err(GraphError::drive_not_found());
            }
            let (path, rest) = split_path("", &segs[2..]);
            (walk(t, drive, id, &path)?, "path", rest)
        } else {
            if !t
                .items
                .iter()
                .any(|i| i.owner == drive && i.id() == id.as_str())
            {
                // Permission first, then existence.
                ctx.require("GET /me/drive/items/{id}")?;
                return Err(GraphError::drive_not_found());
            }
            (Addr::Item(id.clone()), "items", segs[2..].to_vec())
        }
    } else if lower == "sharedwithme" || lower == "sharedwithme()" {
        if ctx.method != Method::GET {
            return Err(GraphError::method_not_allowed());
        }
        ctx.require("GET /me/drive/sharedWithMe")?;
        return shared_with_me(ctx, t, drive);
    } else {
        return Err(GraphError::no_segment(first));
    };
    item_routes(ctx, t, drive, addr, kind, &rest)
}

fn item_index(t: &Tenant, drive: &str, id: &str) -> Result<usize, GraphError> {
    t.items
        .iter()
        .position(|i| i.owner == drive && i.id() == id)
        .ok_or_else(GraphError::drive_not_found)
}

fn existing(addr: &Addr) -> Result<&str, GraphError> {
    match addr {
        Addr::Item(id) => Ok(id),
        Addr::Missing { .. } => Err(GraphError::drive_not_found()),
    }
}

fn item_routes(
    ctx: &mut Ctx,
    t: &mut Tenant,
    drive: &str,
    addr: Addr,
    kind: &str,
    rest: &[String],
) -> Result<Reply, GraphError> {
    let lower: Vec<String> = rest.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lower.iter().map(String::as_str).collect();
    let m = ctx.method.clone();
    let item_context = format!("drives('{drive}')/items/$entity");
    match (m, l.as_slice()) {
        (Method::GET, []) => {
            ctx.require(match kind {
                "root" => "GET /me/drive/root",
                "path" => "GET /me/drive/root:/{id}",
                _ => "GET /me/drive/items/{id}",
            })?;
            let id = existing(&addr)?;
            let rec = t.items[item_index(t, drive, id)?].clone();
            let mut v = odata::select(
                &present_item(&ctx.app, t, &rec),
                ctx.query.select.as_deref(),
                None,
            );
            v["@odata.context"] = json!(ctx.context_url(&item_context));
            Ok(Reply::json(v))
        }
        (Method::PATCH, []) => {
            ctx.require("PATCH /me/drive/items/{id}")?;
            let id = existing(&addr)?.to_string();
            update_item(ctx, t, drive, &id)
        }
        (Method::DELETE, []) => {
            ctx.require("DELETE /me/drive/items/{id}")?;
            let id = existing(&addr)?.to_string();
            let idx = item_index(t, drive, &id)?;
            if t.items[idx].parent.is_empty() {
                return Err(GraphError::new(
                    StatusCode::FORBIDDEN,
                    "accessDenied",
                    "The root folder can't be deleted.",
                ));
            }
            delete_tree(t, drive, &id);
            Ok(Reply::no_content())
        }
        (Method::GET, ["children"]) => {
            ctx.require(if kind == "root" {
                "GET /me/drive/root/children"
            } else {
                "GET /me/drive/items/{id}/children"
            })?;
            let id = existing(&addr)?.to_string();
            let recs: Vec<Rec> = t
                .items
                .iter()
                .filter(|i| i.owner == drive && i.parent == id)
                .cloned()
                .collect();
            let mut items: Vec<Value> = recs.iter().map(|r| present_item(&ctx.app, t, r)).collect();
            items.sort_by(|a, b| odata::compare(&a["name"], &b["name"]));
            let opts = ListOptions {
                default_page: 200,
                max_top: 1000,
                default_select: None,
                type_name: "microsoft.graph.driveItem",
                directory: false,
            };
            Ok(Reply::json(odata::list(
                ctx,
                &format!("drives('{drive}')/items('{id}')/children"),
                items,
                &opts,
                None,
            )?))
        }
        (Method::POST, ["children"]) => {
            ctx.require("POST /me/drive/items/{id}/children")?;
            let id = existing(&addr)?.to_string();
            create_folder(ctx, t, drive, &id)
        }
        (Method::GET, ["content"]) => {
            ctx.require("GET /me/drive/items/{id}/content")?;
            let id = existing(&addr)?;
            let rec = &t.items[item_index(t, drive, id)?];
            if !rec.data.contains_key("file") {
                return Err(GraphError::bad_request(
                    "invalidRequest",
                    "Folders have no content to download.",
                ));
            }
            let token = ctx.app.signer.seal(
                "download",
                &json!({"i": id, "d": drive, "e": datetime::now() + DOWNLOAD_LIFETIME}),
            );
            Ok(Reply::redirect(format!(
                "{}/download/{token}",
                ctx.app.download_origin
            )))
        }
        (Method::PUT, ["content"]) => {
            ctx.require("PUT /me/drive/items/{id}/content")?;
            put_content(ctx, t, drive, addr)
        }
        (Method::POST, ["createuploadsession"]) => {
            ctx.require("POST /me/drive/items/{id}/createUploadSession")?;
            let input = if ctx.body.is_empty() {
                json!({})
            } else {
                ctx.json_body()?
            };
            let behavior = input
                .pointer("/item/@microsoft.graph.conflictBehavior")
                .and_then(Value::as_str)
                .unwrap_or("replace")
                .to_string();
            let target = match addr {
                Addr::Item(id) => {
                    let rec = &t.items[item_index(t, drive, &id)?];
                    if rec.data.contains_key("folder") {
                        return Err(GraphError::bad_request(
                            "invalidRequest",
                            "An upload session targets a file: address it as items/{parent-id}:/{name}: or root:/{path}:.",
                        ));
                    }
                    upload_session::Target::DriveItem {
                        drive: drive.into(),
                        parent: rec.parent.clone(),
                        name: rec.str("name").into(),
                        behavior: "replace".into(),
                    }
                }
                Addr::Missing { parent, name } => {
                    validate_name(&name)?;
                    upload_session::Target::DriveItem {
                        drive: drive.into(),
                        parent,
                        name,
                        behavior,
                    }
                }
            };
            let mut body = upload_session::create(ctx, target, None)?;
            body["@odata.context"] = json!(ctx.context_url("microsoft.graph.uploadSession"));
            Ok(Reply::json(body))
        }
        (Method::POST, ["copy"]) => {
            ctx.require("POST /me/drive/items/{id}/copy")?;
            let id = existing(&addr)?.to_string();
            copy_item(ctx, t, drive, &id)
        }
        (Method::GET, ["permissions"]) => {
            ctx.require("GET /me/drive/items/{id}/permissions")?;
            let id = existing(&addr)?.to_string();
            item_index(t, drive, &id)?;
            let items: Vec<Value> = t
                .permissions
                .iter()
                .filter(|p| p.parent == id)
                .map(|p| Value::Object(p.data.clone()))
                .collect();
            let opts = ListOptions {
                default_page: 200,
                max_top: 1000,
                default_select: None,
                type_name: "microsoft.graph.permission",
                directory: false,
            };
            Ok(Reply::json(odata::list(
                ctx,
                &format!("drives('{drive}')/items('{id}')/permissions"),
                items,
                &opts,
                None,
            )?))
        }
        (Method::GET, ["permissions", _]) => {
            ctx.require("GET /me/drive/items/{id}/permissions")?;
            let id = existing(&addr)?.to_string();
            let p = t
                .permissions
                .iter()
                .find(|p| p.parent == id && p.id() == rest[1])
                .ok_or_else(GraphError::drive_not_found)?;
            let mut v = Value::Object(p.data.clone());
            v["@odata.context"] = json!(ctx.context_url(&format!(
                "drives('{drive}')/items('{id}')/permissions/$entity"
            )));
            Ok(Reply::json(v))
        }
        (Method::DELETE, ["permissions", _]) => {
            ctx.require("DELETE /me/drive/items/{id}/permissions/{id}")?;
            let id = existing(&addr)?.to_string();
            let before = t.permissions.len();
            t.permissions
                .retain(|p| !(p.parent == id && p.id() == rest[1]));
            if before == t.permissions.len() {
                return Err(GraphError::drive_not_found());
            }
            let v = t.tick();
            if let Ok(i) = item_index(t, drive, &id) {
                t.items[i].version = v;
            }
            Ok(Reply::no_content())
        }
        (Method::POST, ["createlink"]) => {
            ctx.require("POST /me/drive/items/{id}/createLink")?;
            let id = existing(&addr)?.to_string();
            create_link(ctx, t, drive, &id)
        }
        (Method::POST, ["invite"]) => {
            ctx.require("POST /me/drive/items/{id}/invite")?;
            let id = existing(&addr)?.to_string();
            invite(ctx, t, drive, &id)
        }
        (Method::GET, ["delta" | "delta()"]) if kind == "root" => {
            ctx.require("GET /me/drive/root/delta")?;
            delta(ctx, t, drive)
        }
        (Method::GET, [s]) if s.starts_with("search(") => {
            ctx.require("GET /me/drive/root/search(q={value})")?;
            let id = existing(&addr)?.to_string();
            let q = parse_search(&rest[0]).ok_or_else(|| {
                GraphError::bad_request(
                    "invalidRequest",
                    "search needs q='text', for example search(q='report').",
                )
            })?;
            let mut under = vec![id.clone()];
            let mut found = Vec::new();
            while let Some(p) = under.pop() {
                for i in t.items.iter().filter(|i| i.owner == drive && i.parent == p) {
                    if i.data.contains_key("folder") {
                        under.push(i.id().to_string());
                    }
                    if i.str("name").to_lowercase().contains(&q.to_lowercase()) {
                        found.push(i.clone());
                    }
                }
            }
            let mut items: Vec<Value> =
                found.iter().map(|r| present_item(&ctx.app, t, r)).collect();
            items.sort_by(|a, b| odata::compare(&a["name"], &b["name"]));
            let opts = ListOptions {
                default_page: 200,
                max_top: 1000,
                default_select: None,
                type_name: "microsoft.graph.driveItem",
                directory: false,
            };
            Ok(Reply::json(odata::list(
                ctx,
                "Collection(driveItem)",
                items,
                &opts,
                None,
            )?))
        }
        (
            _,
            []
            | [
                "children"
                | "content"
                | "createuploadsession"
                | "copy"
                | "permissions"
                | "createlink"
                | "invite",
                ..,
            ],
        ) => Err(GraphError::method_not_allowed()),
        _ => Err(GraphError::no_segment(
            rest.last().map(String::as_str).unwrap_or(""),
        )),
    }
}

fn parse_search(seg: &str) -> Option<String> {
    let inner = seg.strip_prefix("search(")?.strip_suffix(')')?;
    let v = inner
        .split_once('=')
        .map(|(_, v)| v)
        .unwrap_or(inner)
        .trim();
    let v = v
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .unwrap_or(v);
    Some(v.replace("''", "'"))
}

fn validate_name(name: &str) -> Result<(), GraphError> {
    if name.trim().is_empty()
        || name.chars().any(|c| "\"*:<>?/\\|".contains(c))
        || name.ends_with('.')
    {
        return Err(GraphError::bad_request(
            "invalidRequest",
            format!(
                "The name '{name}' is empty or contains characters OneDrive does not allow (\" * : < > ? / \\ |)."
            ),
        ));
    }
    Ok(())
}

/// Resolves a name conflict under `parent`: the name to use and the item
/// it replaces, if any.
fn resolve_conflict(
    t: &Tenant,
    drive: &str,
    parent: &str,
    name: &str,
    behavior: &str,
) -> Result<(String, Option<String>), GraphError> {
    let Some(existing) = child_named(t, drive, parent, name) else {
        return Ok((name.to_string(), None));
    };
    match behavior.to_ascii_lowercase().as_str() {
        "replace" => Ok((name.to_string(), Some(existing))),
        "rename" => {
            let (stem, ext) = match name.rsplit_once('.') {
                Some((s, e)) if !s.is_empty() => (s.to_string(), format!(".{e}")),
                _ => (name.to_string(), String::new()),
            };
            for n in 1.. {
                let candidate = format!("{stem} {n}{ext}");
                if child_named(t, drive, parent, &candidate).is_none() {
                    return Ok((candidate, None));
                }
            }
            Ok((name.to_string(), None))
        }
        _ => Err(GraphError::new(
            StatusCode::CONFLICT,
            "nameAlreadyExists",
            format!("The specified item name already exists. Name: {name}"),
        )),
    }
}

fn delete_tree(t: &mut Tenant, drive: &str, id: &str) {
    let children: Vec<String> = t
        .items
        .iter()
        .filter(|i| i.owner == drive && i.parent == id)
        .map(|i| i.id().to_string())
        .collect();
    for c in children {
        delete_tree(t, drive, &c);
    }
    t.items.retain(|i| !(i.owner == drive && i.id() == id));
    t.contents.remove(id);
    t.permissions.retain(|p| p.parent != id);
    t.bury(&format!("drive|{drive}"), id);
}

fn caller_identity(ctx: &Ctx, t: &Tenant, drive: &str) -> Value {
    match &ctx.caller.user_id {
        Some(u) => identity_of(t, u),
        None => {
            let owner = t
                .drives
                .iter()
                .find(|d| d.id() == drive)
                .map(|d| d.owner.clone())
                .unwrap_or_default();
            let mut v = identity_of(t, &owner);
            v["application"] = json!({"displayName": "switchboard sandbox app"});
            v
        }
    }
}

fn create_folder(
    ctx: &mut Ctx,
    t: &mut Tenant,
    drive: &str,
    parent: &str,
) -> Result<Reply, GraphError> {
    let input = ctx.json_body()?;
    let name = input["name"].as_str().unwrap_or("").to_string();
    validate_name(&name)?;
    let pidx = item_index(t, drive, parent)?;
    if !t.items[pidx].data.contains_key("folder") {
        return Err(GraphError::bad_request(
            "invalidRequest",
            "Items can only be created inside a folder.",
        ));
    }
    if input.get("folder").is_none() {
        return Err(GraphError::bad_request(
            "invalidRequest",
            "A new item needs a 'folder' facet (files are created by uploading content).",
        ));
    }
    let behavior = input["@microsoft.graph.conflictBehavior"]
        .as_str()
        .unwrap_or("fail")
        .to_string();
    let (name, replaced) = resolve_conflict(t, drive, parent, &name, &behavior)?;
    if let Some(old) = replaced {
        delete_tree(t, drive, &old);
    }
    let owner = t
        .drives
        .iter()
        .find(|d| d.id() == drive)
        .map(|d| d.owner.clone())
        .unwrap_or_default();
    let by = caller_identity(ctx, t, drive);
    let web = web_base(t, &owner);
    let mut d = new_item(&mut t.rng, &name, datetime::now(), &by, &web);
    d.insert("folder".into(), json!({"childCount": 0}));
    let id = d["id"].as_str().unwrap_or_default().to_string();
    let v = t.tick();
    t.items.push(Rec {
        owner: drive.into(),
        parent: parent.into(),
        data: d,
        version: v,
    });
    let rec = t.items[item_index(t, drive, &id)?].clone();
    let mut out = present_item(&ctx.app, t, &rec);
    out["@odata.context"] = json!(ctx.context_url(&format!("drives('{drive}')/items/$entity")));
    Ok(Reply::created(out))
}

/// A file to write into a drive.
pub(crate) struct FileWrite<'a> {
    pub drive: &'a str,
    pub parent: &'a str,
    pub name: &'a str,
    /// `fail`, `replace` or `rename`.
    pub behavior: &'a str,
    pub bytes: Bytes,
    pub mime: Option<&'a str>,
}

/// Writes a file under its parent (or over the item it replaces). Returns
/// whether a new item was created, and the item.
pub(crate) fn write_file(
    app: &App,
    t: &mut Tenant,
    by: Value,
    w: FileWrite,
) -> Result<(bool, Value), GraphError> {
    let FileWrite {
        drive,
        parent,
        name,
        behavior,
        bytes,
        mime,
    } = w;
    let pidx = item_index(t, drive, parent)?;
    if !t.items[pidx].data.contains_key("folder") {
        return Err(GraphError::bad_request(
            "invalidRequest",
            "Files can only be created inside a folder.",
        ));
    }
    let (name, replaced) = resolve_conflict(t, drive, parent, name, behavior)?;
    let mime = mime
        .filter(|m| !m.is_empty() && *m != "application/octet-stream")
        .unwrap_or_else(|| mime_for(&name))
        .to_string();
    let v = t.tick();
    let (created, id) = match replaced {
        Some(id) => {
            let idx = item_index(t, drive, &id)?;
            if t.items[idx].data.contains_key("folder") {
                return Err(GraphError::new(
                    StatusCode::CONFLICT,
                    "nameAlreadyExists",
                    format!("A folder named {name} already exists."),
                ));
            }
            let mut data = t.items[idx].data.clone();
            set_content(t, &id, &mut data, bytes, &mime);
            let now = datetime::iso_z(datetime::now());
            let tag = t.rng.change_key();
            data.insert("lastModifiedDateTime".into(), json!(now));
            data.insert("lastModifiedBy".into(), by);
            data.insert("eTag".into(), json!(format!("\"{{{}}},2\"", &tag[11..])));
            data.insert("cTag".into(), json!(format!("\"c:{{{}}},2\"", &tag[11..])));
            t.items[idx].data = data;
            t.items[idx].version = v;
            (false, id)
        }
        None => {
            let owner = t
                .drives
                .iter()
                .find(|d| d.id() == drive)
                .map(|d| d.owner.clone())
                .unwrap_or_default();
            let web = web_base(t, &owner);
            let mut d = new_item(&mut t.rng, &name, datetime::now(), &by, &web);
            let id = d["id"].as_str().unwrap_or_default().to_string();
            set_content(t, &id, &mut d, bytes, &mime);
            t.items.push(Rec {
                owner: drive.into(),
                parent: parent.into(),
                data: d,
                version: v,
            });
            (true, id)
        }
    };
    let rec = t.items[item_index(t, drive, &id)?].clone();
    Ok((created, present_item(app, t, &rec)))
}

fn put_content(
    ctx: &mut Ctx,
    t: &mut Tenant,
    drive: &str,
    addr: Addr,
) -> Result<Reply, GraphError> {
    if ctx.body.len() > MAX_SIMPLE_UPLOAD {
        return Err(GraphError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "requestTooLarge",
            "Simple uploads are limited to 4 MiB; upload larger files through an upload session (createUploadSession).",
        ));
    }
    let mime = ctx
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let behavior = ctx
        .query
        .param("@microsoft.graph.conflictBehavior")
        .unwrap_or("replace")
        .to_string();
    let by = caller_identity(ctx, t, drive);
    let (parent, name, behavior) = match addr {
        Addr::Item(id) => {
            let rec = &t.items[item_index(t, drive, &id)?];
            if rec.data.contains_key("folder") {
                return Err(GraphError::bad_request(
                    "invalidRequest",
                    "A folder's content can't be replaced; address a file.",
                ));
            }
            (
                rec.parent.clone(),
                rec.str("name").to_string(),
                "replace".to_string(),
            )
        }
        Addr::Missing { parent, name } => {
            validate_name(&name)?;
            (parent, name, behavior)
        }
    };
    let body = ctx.body.clone();
    let write = FileWrite {
        drive,
        parent: &parent,
        name: &name,
        behavior: &behavior,
        bytes: body,
        mime: mime.as_deref(),
    };
    let (created, mut item) = write_file(&ctx.app, t, by, write)?;
    item["@odata.context"] = json!(ctx.context_url(&format!("drives('{drive}')/items/$entity")));
    Ok(if created {
        Reply::created(item)
    } else {
        Reply::json(item)
    })
}

fn update_item(ctx: &mut Ctx, t: &mut Tenant, drive: &str, id: &str) -> Result<Reply, GraphError> {
    let input = ctx.json_body()?;
    let idx = item_index(t, drive, id)?;
    if t.items[idx].parent.is_empty() && input.get("name").is_some() {
        return Err(GraphError::bad_request(
            "invalidRequest",
            "The root folder can't be renamed.",
        ));
    }
    let mut parent = t.items[idx].parent.clone();
    if let Some(p) = input.pointer("/parentReference/id").and_then(Value::as_str) {
        let pidx = item_index(t, drive, p).map_err(|_| {
            GraphError::bad_request(
                "invalidRequest",
                "parentReference.id names no folder in this drive.",
            )
        })?;
        if !t.items[pidx].data.contains_key("folder") {
            return Err(GraphError::bad_request(
                "invalidRequest",
                "parentReference.id must be a folder.",
            ));
        }
        // Not into itself or a descendant.
        let mut cur = p.to_string();
        loop {
            if cur == id {
                return Err(GraphError::bad_request(
                    "invalidRequest",
                    "An item can't be moved into itself or one of its descendants.",
                ));
            }
            match t.items.iter().find(|i| i.owner == drive && i.id() == cur) {
                Some(i) if !i.parent.is_empty() => cur = i.parent.clone(),
                _ => break,
            }
        }
        parent = p.to_string();
    }
    let name = match input.get("name") {
        Some(n) => {
            let n = n.as_str().unwrap_or("").to_string();
            validate_name(&n)?;
            n
        }
        None => t.items[idx].str("name").to_string(),
    };
    if let Some(other) = child_named(t, drive, &parent, &name)
        && other != id
    {
        return Err(GraphError::new(
            StatusCode::CONFLICT,
            "nameAlreadyExists",
            format!("The specified item name already exists. Name: {name}"),
        ));
    }
    let v = t.tick();
    let by = caller_identity(ctx, t, drive);
    let rec = &mut t.items[idx];
    rec.parent = parent;
    rec.data.insert("name".into(), json!(name));
    if let Some(d) = input.get("description") {
        rec.data.insert("description".into(), d.clone());
    }
    rec.data.insert(
        "lastModifiedDateTime".into(),
        json!(datetime::iso_z(datetime::now())),
    );
    rec.data.insert("lastModifiedBy".into(), by);
    rec.version = v;
    let rec = rec.clone();
    let mut out = present_item(&ctx.app, t, &rec);
    out["@odata.context"] = json!(ctx.context_url(&format!("drives('{drive}')/items/$entity")));
    Ok(Reply::json(out))
}

/// Who a copy is made by, where its web URLs point, and its version.
struct CopyStamp<'a> {
    by: &'a Value,
    web: &'a str,
    version: u64,
}

fn copy_tree(
    t: &mut Tenant,
    from_drive: &str,
    id: &str,
    to: (&str, &str),
    name: &str,
    stamp: &CopyStamp,
) -> Result<String, GraphError> {
    let (to_drive, parent) = to;
    let (by, web, v) = (stamp.by, stamp.web, stamp.version);
    let src = t.items[item_index(t, from_drive, id)?].clone();
    let mut d = new_item(&mut t.rng, name, datetime::now(), by, web);
    let new_id = d["id"].as_str().unwrap_or_default().to_string();
    if src.data.contains_key("folder") {
        d.insert("folder".into(), json!({"childCount": 0}));
    } else if let Some(bytes) = t.contents.get(id).cloned() {
        let mime = src
            .data
            .get("file")
            .and_then(|f| f["mimeType"].as_str())
            .unwrap_or("application/octet-stream")
            .to_string();
        set_content(t, &new_id, &mut d, bytes, &mime);
    }
    t.items.push(Rec {
        owner: to_drive.into(),
        parent: parent.into(),
        data: d,
        version: v,
    });
    let children: Vec<(String, String)> = t
        .items
        .iter()
        .filter(|i| i.owner == from_drive && i.parent == id)
        .map(|i| (i.id().to_string(), i.str("name").to_string()))
        .collect();
    for (cid, cname) in children {
        copy_tree(t, from_drive, &cid, (to_drive, &new_id), &cname, stamp)?;
    }
    Ok(new_id)
}

fn copy_item(ctx: &mut Ctx, t: &mut Tenant, drive: &str, id: &str) -> Result<Reply, GraphError> {
    let input = if ctx.body.is_empty() {
        json!({})
    } else {
        ctx.json_body()?
    };
    let idx = item_index(t, drive, id)?;
    let src_name = t.items[idx].str("name").to_string();
    let src_parent = t.items[idx].parent.clone();
    let to_drive = input
        .pointer("/parentReference/driveId")
        .and_then(Value::as_str)
        .unwrap_or(drive)
        .to_string();
    check_owner(ctx, t, &to_drive).map_err(|_| {
        GraphError::bad_request(
            "invalidRequest",
            "parentReference.driveId names no drive this caller can write to.",
        )
    })?;
    let to_parent = match input.pointer("/parentReference/id").and_then(Value::as_str) {
        Some(p) => p.to_string(),
        None if to_drive == drive => src_parent,
        None => root_id(t, &to_drive)?,
    };
    let pidx = item_index(t, &to_drive, &to_parent).map_err(|_| {
        GraphError::bad_request("invalidRequest", "parentReference.id names no folder.")
    })?;
    if !t.items[pidx].data.contains_key("folder") {
        return Err(GraphError::bad_request(
            "invalidRequest",
            "parentReference.id must be a folder.",
        ));
    }
    let name = input["name"]
        .as_str()
        .map(str::to_string)
        .unwrap_or(src_name);
    validate_name(&name)?;
    let behavior = ctx
        .query
        .param("@microsoft.graph.conflictBehavior")
        .unwrap_or("fail")
        .to_string();
    let (name, replaced) = resolve_conflict(t, &to_drive, &to_parent, &name, &behavior)?;
    if let Some(old) = replaced {
        delete_tree(t, &to_drive, &old);
    }
    let owner = t
        .drives
        .iter()
        .find(|d| d.id() == to_drive)
        .map(|d| d.owner.clone())
        .unwrap_or_default();
    let web = web_base(t, &owner);
    let by = caller_identity(ctx, t, &to_drive);
    let v = t.tick();
    let stamp = CopyStamp {
        by: &by,
        web: &web,
        version: v,
    };
    let new_id = copy_tree(t, drive, id, (&to_drive, &to_parent), &name, &stamp)?;
    let token = ctx
        .app
        .signer
        .seal("monitor", &json!({"r": new_id, "d": to_drive}));
    Ok(Reply::accepted().header(header::LOCATION, ctx.absolute(&format!("/monitor/{token}"))))
}

/// `GET /monitor/{token}`: the status of a copy (always finished).
pub(crate) async fn monitor(State(app): State<Arc<App>>, Path(token): Path<String>) -> Response {
    match app.signer.open("monitor", &token) {
        Some(p) => axum::Json(json!({
            "operation": "ItemCopy",
            "percentageComplete": 100.0,
            "resourceId": p["r"],
            "status": "completed",
        }))
        .into_response(),
        None => GraphError::drive_not_found().into_response_with(&app.new_guid(), None),
    }
}

fn create_link(ctx: &mut Ctx, t: &mut Tenant, drive: &str, id: &str) -> Result<Reply, GraphError> {
    let input = ctx.json_body()?;
    let kind = input["type"].as_str().unwrap_or("");
    if !matches!(kind, "view" | "edit" | "embed") {
        return Err(GraphError::bad_request(
            "invalidRequest",
            "type must be one of view, edit, embed.",
        ));
    }
    let scope = input["scope"].as_str().unwrap_or("anonymous");
    if !matches!(scope, "anonymous" | "organization" | "users") {
        return Err(GraphError::bad_request(
            "invalidRequest",
            "scope must be one of anonymous, organization, users.",
        ));
    }
    item_index(t, drive, id)?;
    if let Some(p) = t.permissions.iter().find(|p| {
        p.parent == id
            && p.data
                .get("link")
                .is_some_and(|l| l["type"] == kind && l["scope"] == scope)
    }) {
        let mut v = Value::Object(p.data.clone());
        v["@odata.context"] = json!(ctx.context_url("microsoft.graph.permission"));
        return Ok(Reply::json(v));
    }
    let pid = crate::tokens::b64url(&t.rng.next_u64().to_le_bytes());
    let share = format!(
        "u!{}",
        crate::tokens::b64url(format!("{drive}/{id}/{pid}").as_bytes())
    );
    let data = obj(json!({
        "id": pid,
        "roles": [if kind == "edit" { "write" } else { "read" }],
        "shareId": share,
        "hasPassword": input.get("password").is_some(),
        "expirationDateTime": input.get("expirationDateTime").cloned().unwrap_or(Value::Null),
        "link": {
            "scope": scope,
            "type": kind,
            "webUrl": format!("https://switchboardsandbox-my.sharepoint.com/:u:/g/personal/{}", pid),
            "preventsDownload": false,
        },
    }));
    let v = t.tick();
    t.permissions.push(Rec {
        owner: drive.into(),
        parent: id.into(),
        data: data.clone(),
        version: v,
    });
    let idx = item_index(t, drive, id)?;
    t.items[idx].version = v;
    let mut out = Value::Object(data);
    out["@odata.context"] = json!(ctx.context_url("microsoft.graph.permission"));
    Ok(Reply::created(out))
}

fn invite(ctx: &mut Ctx, t: &mut Tenant, drive: &str, id: &str) -> Result<Reply, GraphError> {
    let input = ctx.json_body()?;
    let recipients = input["recipients"].as_array().cloned().unwrap_or_default();
    if recipients.is_empty() {
        return Err(GraphError::bad_request(
            "invalidRequest",
            "recipients must list at least one recipient.",
        ));
    }
    let roles = input["roles"].as_array().cloned().unwrap_or_default();
    if roles.is_empty()
        || roles
            .iter()
            .any(|r| !matches!(r.as_str(), Some("read" | "write")))
    {
        return Err(GraphError::bad_request(
            "invalidRequest",
            "roles must be [\"read\"] or [\"write\"].",
        ));
    }
    item_index(t, drive, id)?;
    let mut out = Vec::new();
    let v = t.tick();
    for r in recipients {
        let email = r["email"].as_str().unwrap_or("").to_string();
        if !email.contains('@') {
            return Err(GraphError::bad_request(
                "invalidRequest",
                "each recipient needs an email.",
            ));
        }
        let user = t
            .user_by_address(&email)
            .map(|u| (u.id().to_string(), u.str("displayName").to_string()));
        let pid = crate::tokens::b64url(&t.rng.next_u64().to_le_bytes());
        let granted = match &user {
            Some((uid, name)) => json!({"user": {"id": uid, "displayName": name, "email": email}}),
            None => json!({"user": {"displayName": email, "email": email}}),
        };
        let data = obj(json!({
            "id": pid,
            "roles": roles,
            "grantedTo": granted,
            "grantedToV2": granted,
            "invitation": {"email": email, "signInRequired": input["requireSignIn"].as_bool().unwrap_or(true)},
        }));
        out.push(Value::Object(data.clone()));
        t.permissions.push(Rec {
            owner: drive.into(),
            parent: id.into(),
            data,
            version: v,
        });
    }
    Ok(Reply::json(json!({
        "@odata.context": ctx.context_url("Collection(permission)"),
        "value": out,
    })))
}

fn shared_with_me(ctx: &mut Ctx, t: &mut Tenant, drive: &str) -> Result<Reply, GraphError> {
    let me = t
        .drives
        .iter()
        .find(|d| d.id() == drive)
        .map(|d| d.owner.clone())
        .unwrap_or_default();
    let shared: Vec<(String, String)> = t
        .permissions
        .iter()
        .filter(|p| {
            p.data
                .get("grantedTo")
                .and_then(|g| g.pointer("/user/id"))
                .and_then(Value::as_str)
                == Some(me.as_str())
        })
        .map(|p| (p.owner.clone(), p.parent.clone()))
        .collect();
    let mut items = Vec::new();
    for (d, id) in shared {
        let Ok(idx) = item_index(t, &d, &id) else {
            continue;
        };
        let rec = t.items[idx].clone();
        let full = present_item(&ctx.app, t, &rec);
        let mut remote = json!({
            "id": full["id"], "name": full["name"], "size": full["size"], "webUrl": full["webUrl"],
            "createdBy": full["createdBy"], "lastModifiedBy": full["lastModifiedBy"],
            "parentReference": {"driveId": d, "driveType": "business"},
            "shared": {"owner": full["createdBy"]},
        });
        for facet in ["file", "folder"] {
            if let Some(f) = full.get(facet) {
                remote[facet] = f.clone();
            }
        }
        items.push(json!({
            "id": full["id"], "name": full["name"], "size": full["size"], "webUrl": full["webUrl"],
            "createdDateTime": full["createdDateTime"], "lastModifiedDateTime": full["lastModifiedDateTime"],
            "remoteItem": remote,
        }));
    }
    let opts = ListOptions {
        default_page: 200,
        max_top: 1000,
        default_select: None,
        type_name: "microsoft.graph.driveItem",
        directory: false,
    };
    Ok(Reply::json(odata::list(
        ctx,
        "Collection(driveItem)",
        items,
        &opts,
        None,
    )?))
}

fn delta(ctx: &mut Ctx, t: &mut Tenant, drive: &str) -> Result<Reply, GraphError> {
    let scope = format!("drive|{drive}");
    let cursor = odata::delta_cursor(ctx, &scope)?;
    let recs: Vec<Rec> = t
        .items
        .iter()
        .filter(|i| i.owner == drive && i.version > cursor.since)
        .cloned()
        .collect();
    // Parents before children, as OneDrive orders delta results.
    let depth = |r: &Rec| -> usize {
        let mut d = 0;
        let mut cur = r.parent.clone();
        while let Some(p) = t.items.iter().find(|i| i.owner == drive && i.id() == cur) {
            d += 1;
            cur = p.parent.clone();
        }
        d
    };
    let mut entries: Vec<(u64, usize, Value)> = recs
        .iter()
        .map(|r| (r.version, depth(r), present_item(&ctx.app, t, r)))
        .collect();
    entries.extend(
        t.tombstones
            .iter()
            .filter(|s| s.scope == scope && cursor.reports_removal(s.version))
            .map(|s| {
                (
                    s.version,
                    0,
                    json!({
                        "@odata.type": "#microsoft.graph.driveItem",
                        "id": s.id,
                        "deleted": {"state": "deleted"},
                        "parentReference": {"driveId": drive, "driveType": "business"},
                    }),
                )
            }),
    );
    entries.sort_by_key(|(v, d, _)| (*v, *d));
    let entries = entries.into_iter().map(|(_, _, e)| e).collect();
    let body = odata::delta_page(
        ctx,
        "Collection(driveItem)",
        &scope,
        &cursor,
        entries,
        200,
        None,
    );
    Ok(Reply::json(body))
}

/// `GET /download/{token}` on the download origin: the bytes of a file,
/// for a pre-authenticated link. Requests that carry an `Authorization`
/// header are refused: a client must not forward its token here.
pub(crate) async fn download(
    State(app): State<Arc<App>>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let request_id = app.new_guid();
    if headers.contains_key(header::AUTHORIZATION) {
        return GraphError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "This is a pre-authenticated download URL: send it without an Authorization header.",
        )
        .into_response_with(&request_id, None);
    }
    let Some(p) = app.signer.open("download", &token) else {
        return GraphError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "The download URL is invalid.",
        )
        .into_response_with(&request_id, None);
    };
    if p["e"].as_i64().unwrap_or(0) < datetime::now() {
        return GraphError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "The download URL has expired; ask for a new one.",
        )
        .into_response_with(&request_id, None);
    }
    let id = p["i"].as_str().unwrap_or("");
    let drive = p["d"].as_str().unwrap_or("");
    let found = {
        let st = app.lock();
        let t = &st.tenant;
        t.items
            .iter()
            .find(|i| i.owner == drive && i.id() == id)
            .and_then(|i| {
                Some((
                    t.contents.get(id)?.clone(),
                    i.str("name").to_string(),
                    i.data
                        .get("file")
                        .and_then(|f| f["mimeType"].as_str())
                        .unwrap_or("application/octet-stream")
                        .to_string(),
                ))
            })
    };
    let Some((bytes, name, mime)) = found else {
        return GraphError::drive_not_found().into_response_with(&request_id, None);
    };
    let total = bytes.len();
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.split_once('-'))
        .and_then(|(a, b)| {
            let start: usize = a.parse().ok()?;
            let end: usize = if b.is_empty() {
                total.checked_sub(1)?
            } else {
                b.parse::<usize>().ok()?.min(total.checked_sub(1)?)
            };
            (start <= end).then_some((start, end))
        });
    let (status, body) = match range {
        Some((s, e)) => (StatusCode::PARTIAL_CONTENT, bytes.slice(s..=e)),
        None => (StatusCode::OK, bytes),
    };
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&mime) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}\"",
        name.replace('"', "")
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some((s, e)) = range
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {s}-{e}/{total}"))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    resp
}
