//! Personal contacts: contact folders, contacts and per-folder contact delta.
//!
//! Each user has a default folder named Contacts (created when first needed,
//! so state files from before contacts work too) and folders inside it.
//! `/contacts` is the default folder's contacts; a contact is reached by id
//! through `/contacts/{id}` wherever it is. Deleting a folder deletes the
//! folders and contacts in it; moving a contact (PATCH `parentFolderId`)
//! reports it `@removed` in the delta of the folder it left.
//!
//! Shapes follow the contact and contactFolder pages of the newer Graph
//! documentation (`docs-current/api-reference/v1.0/resources/contact.md`).

use axum::http::{Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::datetime;
use crate::errors::GraphError;
use crate::generated::{Rng, obj};
use crate::odata::{self, ListOptions};
use crate::request::{Ctx, Reply};
use crate::state::{Rec, Tenant};

/// Most e-mail addresses a contact holds (Outlook's three).
const MAX_EMAIL_ADDRESSES: usize = 3;

/// Longest folder name.
const MAX_FOLDER_NAME: usize = 255;

/// String properties a client may set.
const STRINGS: &[&str] = &[
    "assistantName",
    "businessHomePage",
    "companyName",
    "department",
    "displayName",
    "fileAs",
    "generation",
    "givenName",
    "initials",
    "jobTitle",
    "manager",
    "middleName",
    "mobilePhone",
    "nickName",
    "officeLocation",
    "personalNotes",
    "profession",
    "spouseName",
    "surname",
    "title",
    "yomiCompanyName",
    "yomiGivenName",
    "yomiSurname",
];

/// String-list properties a client may set.
const STRING_LISTS: &[&str] = &[
    "businessPhones",
    "categories",
    "children",
    "homePhones",
    "imAddresses",
];

/// Address properties (a physicalAddress each).
const ADDRESSES: &[&str] = &["businessAddress", "homeAddress", "otherAddress"];

/// The properties of a physicalAddress.
const ADDRESS_FIELDS: &[&str] = &["city", "countryOrRegion", "postalCode", "state", "street"];

/// The delta scope of a folder: its owner and id, so a deletion can be
/// matched to its mailbox after the folder itself is gone.
pub(crate) fn scope(owner: &str, folder: &str) -> String {
    format!("contacts|{owner}|{folder}")
}

/// The owner named by a contacts delta scope.
pub(crate) fn scope_owner(scope: &str) -> Option<&str> {
    scope.strip_prefix("contacts|")?.split('|').next()
}

fn folder_json(id: &str, name: &str, parent: &str) -> Map<String, Value> {
    obj(json!({"id": id, "displayName": name, "parentFolderId": parent}))
}

/// A contact with every property Graph returns, empty.
fn blank_contact(rng: &mut Rng, folder: &str, at: i64) -> Map<String, Value> {
    let id = rng.outlook_id();
    let ck = rng.change_key();
    let when = datetime::iso_z(at);
    obj(json!({
        "@odata.etag": format!("W/\"{ck}\""),
        "id": id,
        "createdDateTime": when,
        "lastModifiedDateTime": when,
        "changeKey": ck,
        "categories": [],
        "parentFolderId": folder,
        "birthday": null,
        "fileAs": "",
        "displayName": "",
        "givenName": null,
        "initials": null,
        "middleName": null,
        "nickName": null,
        "surname": null,
        "title": null,
        "yomiGivenName": null,
        "yomiSurname": null,
        "yomiCompanyName": null,
        "generation": null,
        "imAddresses": [],
        "jobTitle": null,
        "companyName": null,
        "department": null,
        "officeLocation": null,
        "profession": null,
        "businessHomePage": null,
        "assistantName": null,
        "manager": null,
        "homePhones": [],
        "mobilePhone": null,
        "businessPhones": [],
        "spouseName": null,
        "personalNotes": "",
        "children": [],
        "emailAddresses": [],
        "homeAddress": {},
        "businessAddress": {},
        "otherAddress": {},
    }))
}

const PEOPLE: &[(&str, &str, &str)] = &[
    ("Garth", "Fort", "Contoso, Inc."),
    ("Pavel", "Bansky", "Contoso, Inc."),
    ("Alex", "Wilber", "Fine Art School"),
    ("Isaiah", "Langer", "Fabrikam"),
    ("Johanna", "Lorenz", "Northwind Traders"),
    ("Lidia", "Holloway", "Adventure Works"),
    ("Miriam", "Graham", "Tailspin Toys"),
    ("Nestor", "Wilke", "Wingtip Toys"),
    ("Patti", "Fernandez", "Litware"),
    ("Lynne", "Robbins", "Proseware"),
    ("Henrietta", "Mueller", "Lucerne Publishing"),
    ("Joni", "Sherman", "Woodgrove Bank"),
    ("Diego", "Siciliani", "Coho Winery"),
    ("Megan", "Bowen", "Trey Research"),
];

/// Seeds a user's contacts: a Contacts folder with 12 contacts (two pages
/// at Outlook's default page size of 10) and a Suppliers folder in it with
/// 3. Uses its own random stream, so adding contacts moved no other id.
pub(crate) fn seed_contacts(t: &mut Tenant, rng: &mut Rng, owner: &str, index: usize, now: i64) {
    let default = ensure_default_folder(t, rng, owner, 1);
    let suppliers = rng.outlook_id();
    t.contact_folders.push(Rec {
        owner: owner.into(),
        parent: default.clone(),
        data: folder_json(&suppliers, "Suppliers", &default),
        version: 1,
    });
    for i in 0..15 {
        let (given, surname, company) = PEOPLE[(index + i) % PEOPLE.len()];
        let folder = if i < 12 { &default } else { &suppliers };
        let mut data = blank_contact(rng, folder, now - (i as i64 + 1) * datetime::DAY);
        let display = format!("{given} {surname}");
        let domain = company
            .split([' ', ','])
            .next()
            .unwrap_or("example")
            .to_lowercase();
        data.insert("givenName".into(), json!(given));
        data.insert("surname".into(), json!(surname));
        data.insert("displayName".into(), json!(display));
        data.insert("fileAs".into(), json!(format!("{surname}, {given}")));
        data.insert("companyName".into(), json!(company));
        data.insert(
            "emailAddresses".into(),
            json!([{"name": display, "address": format!("{}@{domain}.example", given.to_lowercase())}]),
        );
        data.insert(
            "businessPhones".into(),
            json!([format!("+1 425 555 {:04}", rng.below(10_000))]),
        );
        t.contacts.push(Rec {
            owner: owner.into(),
            parent: folder.clone(),
            data,
            version: 1,
        });
    }
}

/// The id of `owner`'s default Contacts folder, made when missing.
fn ensure_default_folder(t: &mut Tenant, rng: &mut Rng, owner: &str, version: u64) -> String {
    if let Some(f) = t
        .contact_folders
        .iter()
        .find(|f| f.owner == owner && f.parent.is_empty())
    {
        return f.id().to_string();
    }
    let id = rng.outlook_id();
    let root = rng.outlook_id();
    t.contact_folders.push(Rec {
        owner: owner.into(),
        parent: String::new(),
        data: folder_json(&id, "Contacts", &root),
        version,
    });
    id
}

fn default_folder(t: &mut Tenant, owner: &str) -> String {
    let mut rng = t.rng.clone();
    let exists = t
        .contact_folders
        .iter()
        .any(|f| f.owner == owner && f.parent.is_empty());
    let version = if exists { 0 } else { t.tick() };
    let id = ensure_default_folder(t, &mut rng, owner, version);
    t.rng = rng;
    id
}

fn find_folder<'a>(t: &'a Tenant, owner: &str, id: &str) -> Result<&'a Rec, GraphError> {
    t.contact_folders
        .iter()
        .find(|f| f.owner == owner && f.id() == id)
        .ok_or_else(GraphError::outlook_not_found)
}

fn contact_index(t: &Tenant, owner: &str, id: &str) -> Result<usize, GraphError> {
    t.contacts
        .iter()
        .position(|c| c.owner == owner && c.id() == id)
        .ok_or_else(GraphError::outlook_not_found)
}

fn body_object(ctx: &Ctx) -> Result<Map<String, Value>, GraphError> {
    match ctx.json_body()? {
        Value::Object(m) => Ok(m),
        _ => Err(GraphError::bad_request(
            "ErrorInvalidRequest",
            "The request body must be a JSON object.",
        )),
    }
}

fn unknown_property(name: &str, type_name: &str) -> GraphError {
    GraphError::bad_request(
        "RequestBodyRead",
        format!(
            "The property '{name}' does not exist on type 'microsoft.graph.{type_name}'. Make sure to only use property names that are defined by the type."
        ),
    )
}

fn wrong_type(name: &str, what: &str) -> GraphError {
    GraphError::bad_request(
        "RequestBodyRead",
        format!("The property '{name}' must be {what}."),
    )
}

/// Checks the writable properties of a contact body and returns them as
/// they are stored (`parentFolderId` is handled by the caller).
fn contact_fields(input: &Map<String, Value>) -> Result<Map<String, Value>, GraphError> {
    let mut out = Map::new();
    for (k, v) in input {
        if k.starts_with('@') || k == "parentFolderId" {
            continue;
        }
        let key = k.as_str();
        if STRINGS.contains(&key) {
            if !(v.is_string() || v.is_null()) {
                return Err(wrong_type(key, "a string"));
            }
        } else if STRING_LISTS.contains(&key) {
            let ok = v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
            if !ok {
                return Err(wrong_type(key, "an array of strings"));
            }
        } else if ADDRESSES.contains(&key) {
            let Some(m) = v.as_object() else {
                return Err(wrong_type(key, "a physicalAddress object"));
            };
            for (f, fv) in m {
                if !ADDRESS_FIELDS.contains(&f.as_str()) {
                    return Err(unknown_property(f, "physicalAddress"));
                }
                if !(fv.is_string() || fv.is_null()) {
                    return Err(wrong_type(f, "a string"));
                }
            }
        } else if key == "emailAddresses" {
            let Some(list) = v.as_array() else {
                return Err(wrong_type(key, "an array of emailAddress objects"));
            };
            if list.len() > MAX_EMAIL_ADDRESSES {
                return Err(GraphError::bad_request(
                    "ErrorInvalidArgument",
                    format!("A contact holds at most {MAX_EMAIL_ADDRESSES} e-mail addresses."),
                ));
            }
            for e in list {
                let Some(m) = e.as_object() else {
                    return Err(wrong_type(key, "an array of emailAddress objects"));
                };
                for (f, fv) in m {
                    if f != "address" && f != "name" {
                        return Err(unknown_property(f, "emailAddress"));
                    }
                    if !(fv.is_string() || fv.is_null()) {
                        return Err(wrong_type(f, "a string"));
                    }
                }
            }
        } else if key == "birthday" {
            let ok = v.is_null() || v.as_str().and_then(datetime::parse_instant).is_some();
            if !ok {
                return Err(wrong_type(
                    key,
                    "a date and time such as 1974-07-22T00:00:00Z",
                ));
            }
        } else {
            return Err(unknown_property(key, "contact"));
        }
        out.insert(k.clone(), v.clone());
    }
    Ok(out)
}

/// What Outlook shows when no display name was given: the name fields.
fn generated_display_name(data: &Map<String, Value>) -> String {
    ["givenName", "middleName", "surname"]
        .iter()
        .filter_map(|k| data.get(*k).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn context(ctx: &Ctx, user: &str, rest: &str) -> Value {
    json!(ctx.context_url(&format!("users('{user}')/{rest}")))
}

fn list_contacts(
    ctx: &mut Ctx,
    t: &Tenant,
    user: &str,
    folder: &str,
    context_path: &str,
) -> Result<Reply, GraphError> {
    let items: Vec<Value> = t
        .contacts
        .iter()
        .filter(|c| c.owner == user && c.parent == folder)
        .map(|c| Value::Object(c.data.clone()))
        .collect();
    let opts = ListOptions::outlook("microsoft.graph.contact");
    Ok(Reply::json(odata::list(
        ctx,
        &format!("users('{user}')/{context_path}"),
        items,
        &opts,
        None,
    )?))
}

fn create_contact(
    ctx: &mut Ctx,
    t: &mut Tenant,
    user: &str,
    folder: &str,
) -> Result<Reply, GraphError> {
    let input = body_object(ctx)?;
    let fields = contact_fields(&input)?;
    let mut data = blank_contact(&mut t.rng, folder, datetime::now());
    data.extend(fields);
    if data["displayName"].as_str().unwrap_or("").is_empty() {
        let name = generated_display_name(&data);
        data.insert("displayName".into(), json!(name));
    }
    let v = t.tick();
    t.contacts.push(Rec {
        owner: user.into(),
        parent: folder.into(),
        data: data.clone(),
        version: v,
    });
    let mut out = Value::Object(data);
    out["@odata.context"] = context(ctx, user, "contacts/$entity");
    Ok(Reply::created(out))
}

/// `/{principal}/contacts...` and `/{principal}/contactFolders...`.
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
        (Method::GET, ["contacts"]) => {
            ctx.require("GET /me/contacts")?;
            let folder = default_folder(t, user);
            list_contacts(ctx, t, user, &folder, "contacts")
        }
        (Method::POST, ["contacts"]) => {
            ctx.require("POST /me/contacts")?;
            let folder = default_folder(t, user);
            create_contact(ctx, t, user, &folder)
        }
        (_, ["contacts", _]) => contact_ops(ctx, t, user, &rest[1], None),
        (Method::GET, ["contactfolders"]) => {
            ctx.require("GET /me/contactFolders")?;
            let default = default_folder(t, user);
            let items: Vec<Value> = t
                .contact_folders
                .iter()
                .filter(|f| f.owner == user && (f.id() == default || f.parent == default))
                .map(|f| Value::Object(f.data.clone()))
                .collect();
            let opts = ListOptions::outlook("microsoft.graph.contactFolder");
            Ok(Reply::json(odata::list(
                ctx,
                &format!("users('{user}')/contactFolders"),
                items,
                &opts,
                None,
            )?))
        }
        (Method::POST, ["contactfolders"]) => {
            ctx.require("POST /me/contactFolders")?;
            create_folder(ctx, t, user)
        }
        (Method::GET, ["contactfolders", _]) => {
            ctx.require("GET /me/contactFolders/{id}")?;
            default_folder(t, user);
            let f = find_folder(t, user, &rest[1])?;
            let mut v = odata::select(
                &Value::Object(f.data.clone()),
                ctx.query.select.as_deref(),
                None,
            );
            v["@odata.context"] = context(ctx, user, "contactFolders/$entity");
            Ok(Reply::json(v))
        }
        (Method::DELETE, ["contactfolders", _]) => {
            ctx.require("DELETE /me/contactFolders/{id}")?;
            delete_folder(t, user, &rest[1])
        }
        (Method::GET, ["contactfolders", _, "contacts"]) => {
            ctx.require("GET /me/contactFolders/{id}/contacts")?;
            default_folder(t, user);
            let fid = find_folder(t, user, &rest[1])?.id().to_string();
            list_contacts(
                ctx,
                t,
                user,
                &fid,
                &format!("contactFolders('{fid}')/contacts"),
            )
        }
        (Method::POST, ["contactfolders", _, "contacts"]) => {
            ctx.require("POST /me/contactFolders/{id}/contacts")?;
            default_folder(t, user);
            let fid = find_folder(t, user, &rest[1])?.id().to_string();
            create_contact(ctx, t, user, &fid)
        }
        (Method::GET, ["contactfolders", _, "contacts", "delta" | "delta()"]) => {
            ctx.require("GET /me/contactFolders/{id}/contacts/delta")?;
            default_folder(t, user);
            let fid = find_folder(t, user, &rest[1])?.id().to_string();
            delta(ctx, t, user, &fid)
        }
        (_, ["contactfolders", _, "contacts", _]) => {
            default_folder(t, user);
            let fid = find_folder(t, user, &rest[1])?.id().to_string();
            contact_ops(ctx, t, user, &rest[3], Some(&fid))
        }
        (_, ["contacts" | "contactfolders", ..]) => Err(GraphError::method_not_allowed()),
        _ => Err(GraphError::no_segment(&rest[rest.len() - 1])),
    }
}

fn create_folder(ctx: &mut Ctx, t: &mut Tenant, user: &str) -> Result<Reply, GraphError> {
    let input = body_object(ctx)?;
    for k in input.keys() {
        if !k.starts_with('@') && k != "displayName" && k != "parentFolderId" {
            return Err(unknown_property(k, "contactFolder"));
        }
    }
    let name = input
        .get("displayName")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or("");
    if name.is_empty() || name.chars().count() > MAX_FOLDER_NAME {
        return Err(GraphError::bad_request(
            "ErrorInvalidRequest",
            format!("displayName is required: 1 to {MAX_FOLDER_NAME} characters."),
        ));
    }
    let default = default_folder(t, user);
    let parent = match input.get("parentFolderId") {
        None | Some(Value::Null) => default,
        Some(Value::String(p)) => find_folder(t, user, p)?.id().to_string(),
        Some(_) => return Err(wrong_type("parentFolderId", "a string")),
    };
    if t.contact_folders.iter().any(|f| {
        f.owner == user && f.parent == parent && f.str("displayName").eq_ignore_ascii_case(name)
    }) {
        return Err(GraphError::new(
            StatusCode::CONFLICT,
            "ErrorFolderExists",
            "A folder with the specified name already exists.",
        ));
    }
    let id = t.rng.outlook_id();
    let v = t.tick();
    let data = folder_json(&id, name, &parent);
    t.contact_folders.push(Rec {
        owner: user.into(),
        parent,
        data: data.clone(),
        version: v,
    });
    let mut out = Value::Object(data);
    out["@odata.context"] = context(ctx, user, "contactFolders/$entity");
    Ok(Reply::created(out))
}

fn delete_folder(t: &mut Tenant, user: &str, id: &str) -> Result<Reply, GraphError> {
    let folder = find_folder(t, user, id)?;
    if folder.parent.is_empty() {
        return Err(GraphError::bad_request(
            "ErrorDeleteDistinguishedFolder",
            "Distinguished folders cannot be deleted.",
        ));
    }
    // the folder and every folder below it
    let mut doomed = vec![folder.id().to_string()];
    let mut i = 0;
    while i < doomed.len() {
        let parent = doomed[i].clone();
        doomed.extend(
            t.contact_folders
                .iter()
                .filter(|f| f.owner == user && f.parent == parent)
                .map(|f| f.id().to_string()),
        );
        i += 1;
    }
    let gone: Vec<(String, String)> = t
        .contacts
        .iter()
        .filter(|c| c.owner == user && doomed.contains(&c.parent))
        .map(|c| (c.parent.clone(), c.id().to_string()))
        .collect();
    t.contacts
        .retain(|c| !(c.owner == user && doomed.contains(&c.parent)));
    t.contact_folders
        .retain(|f| !(f.owner == user && doomed.contains(&f.id().to_string())));
    for (folder, contact) in gone {
        t.bury(&scope(user, &folder), &contact);
    }
    Ok(Reply::no_content())
}

/// `GET/PATCH/DELETE .../contacts/{id}`; `folder` when addressed through
/// a folder, which must then hold it.
fn contact_ops(
    ctx: &mut Ctx,
    t: &mut Tenant,
    user: &str,
    id: &str,
    folder: Option<&str>,
) -> Result<Reply, GraphError> {
    let idx = contact_index(t, user, id)?;
    if folder.is_some_and(|f| t.contacts[idx].parent != f) {
        return Err(GraphError::outlook_not_found());
    }
    match ctx.method.clone() {
        Method::GET => {
            ctx.require("GET /me/contacts/{id}")?;
            let mut v = odata::select(
                &Value::Object(t.contacts[idx].data.clone()),
                ctx.query.select.as_deref(),
                None,
            );
            v["@odata.context"] = context(ctx, user, "contacts/$entity");
            Ok(Reply::json(v))
        }
        Method::PATCH => {
            ctx.require("PATCH /me/contacts/{id}")?;
            let input = body_object(ctx)?;
            let fields = contact_fields(&input)?;
            let new_parent = match input.get("parentFolderId") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) => Some(find_folder(t, user, p)?.id().to_string()),
                Some(_) => return Err(wrong_type("parentFolderId", "a string")),
            };
            let old_parent = t.contacts[idx].parent.clone();
            if let Some(p) = new_parent.as_ref().filter(|p| **p != old_parent) {
                t.bury(&scope(user, &old_parent), id);
                t.contacts[idx].parent = p.clone();
                t.contacts[idx]
                    .data
                    .insert("parentFolderId".into(), json!(p));
            }
            let v = t.tick();
            let ck = t.rng.change_key();
            let rec = &mut t.contacts[idx];
            rec.data.extend(fields);
            rec.data.insert(
                "lastModifiedDateTime".into(),
                json!(datetime::iso_z(datetime::now())),
            );
            rec.data.insert("changeKey".into(), json!(ck));
            rec.data
                .insert("@odata.etag".into(), json!(format!("W/\"{ck}\"")));
            rec.version = v;
            let mut out = Value::Object(rec.data.clone());
            out["@odata.context"] = context(ctx, user, "contacts/$entity");
            Ok(Reply::json(out))
        }
        Method::DELETE => {
            ctx.require("DELETE /me/contacts/{id}")?;
            let rec = t.contacts.remove(idx);
            t.bury(&scope(user, &rec.parent), id);
            Ok(Reply::no_content())
        }
        _ => Err(GraphError::method_not_allowed()),
    }
}

/// `GET .../contactFolders/{id}/contacts/delta`.
fn delta(ctx: &mut Ctx, t: &Tenant, user: &str, folder: &str) -> Result<Reply, GraphError> {
    let scope = scope(user, folder);
    let cursor = odata::delta_cursor(ctx, &scope)?;
    let mut entries: Vec<(u64, Value)> = t
        .contacts
        .iter()
        .filter(|c| c.owner == user && c.parent == folder && c.version > cursor.since)
        .map(|c| (c.version, Value::Object(c.data.clone())))
        .collect();
    entries.extend(
        t.tombstones
            .iter()
            .filter(|s| s.scope == scope && cursor.reports_removal(s.version))
            .map(|s| {
                (
                    s.version,
                    json!({"@odata.type": "#microsoft.graph.contact", "id": s.id, "@removed": {"reason": "deleted"}}),
                )
            }),
    );
    entries.sort_by_key(|(v, _)| *v);
    let entries = entries.into_iter().map(|(_, e)| e).collect();
    Ok(Reply::json(odata::delta_page(
        ctx,
        "Collection(contact)",
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
    fn contact_bodies_are_checked() {
        let ok = obj(json!({
            "givenName": "Pavel",
            "emailAddresses": [{"address": "p@x.com", "name": "P"}],
            "businessPhones": ["+1 555"],
            "homeAddress": {"city": "Seattle"},
            "birthday": "1974-07-22T00:00:00Z",
            "parentFolderId": "ignored here",
        }));
        let fields = contact_fields(&ok).unwrap();
        assert!(!fields.contains_key("parentFolderId"));
        assert_eq!(fields.len(), 5);
        for bad in [
            json!({"nope": 1}),
            json!({"givenName": 5}),
            json!({"businessPhones": "x"}),
            json!({"homeAddress": {"planet": "Mars"}}),
            json!({"emailAddresses": [{}, {}, {}, {}]}),
            json!({"emailAddresses": [{"address": 1}]}),
            json!({"birthday": "someday"}),
        ] {
            assert!(contact_fields(&obj(bad.clone())).is_err(), "{bad}");
        }
    }

    #[test]
    fn scopes_name_their_owner() {
        let s = scope("u1", "AAMkAG=");
        assert_eq!(scope_owner(&s), Some("u1"));
        assert_eq!(scope_owner("msgs|x"), None);
    }
}
