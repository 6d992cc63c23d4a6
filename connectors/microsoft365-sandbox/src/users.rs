//! Users: list, get (by id or UPN), manager, direct reports, group
//! memberships, photos and `users/delta`.

use axum::http::{Method, StatusCode};
use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::datetime;
use crate::errors::GraphError;
use crate::generated::obj;
use crate::odata::{self, ListOptions};
use crate::request::{Ctx, Reply};
use crate::state::Tenant;

/// The properties Graph returns for a user when there is no `$select`.
pub(crate) const USER_DEFAULT_SELECT: &[&str] = &[
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
];

/// What a seeded user is made of.
pub(crate) struct UserSpec<'a> {
    pub id: &'a str,
    pub given: &'a str,
    pub surname: &'a str,
    pub upn: &'a str,
    pub mail: &'a str,
    pub job_title: &'a str,
    pub department: &'a str,
    pub office: &'a str,
    pub phone: &'a str,
    pub guest: bool,
    pub created: i64,
}

/// A user's full Graph JSON.
pub(crate) fn user_json(s: UserSpec) -> Map<String, Value> {
    let nick = s.upn.split('@').next().unwrap_or(s.upn).to_string();
    obj(json!({
        "id": s.id,
        "businessPhones": if s.guest { json!([]) } else { json!([s.phone]) },
        "displayName": format!("{} {}", s.given, s.surname),
        "givenName": s.given,
        "jobTitle": s.job_title,
        "mail": s.mail,
        "mobilePhone": if s.guest { Value::Null } else { json!(s.phone.replace("555 01", "555 02")) },
        "officeLocation": if s.guest { Value::Null } else { json!(s.office) },
        "preferredLanguage": "en-US",
        "surname": s.surname,
        "userPrincipalName": s.upn,
        "accountEnabled": true,
        "city": "Redmond",
        "companyName": if s.guest { json!("Fabrikam") } else { json!("Switchboard Sandbox Ltd") },
        "country": "United States",
        "createdDateTime": datetime::iso_z(s.created),
        "department": s.department,
        "employeeId": Value::Null,
        "mailNickname": nick.replace('#', "_"),
        "otherMails": [],
        "proxyAddresses": [format!("SMTP:{}", s.mail)],
        "usageLocation": "US",
        "userType": if s.guest { "Guest" } else { "Member" },
        "externalUserState": if s.guest { json!("Accepted") } else { Value::Null },
        "deletedDateTime": Value::Null,
    }))
}

fn user_search(item: &Value, text: &str) -> bool {
    // `"displayName:ave" OR "mail:ave"`; a bare term searches the name and addresses.
    text.split(" OR ").any(|clause| {
        clause.split(" AND ").all(|term| {
            let term = term.trim().trim_matches('"');
            let (props, needle): (Vec<&str>, &str) = match term.split_once(':') {
                Some((p, n)) => (vec![p], n),
                None => (
                    vec![
                        "displayName",
                        "mail",
                        "userPrincipalName",
                        "givenName",
                        "surname",
                    ],
                    term,
                ),
            };
            let needle = needle.to_lowercase();
            props.iter().any(|p| {
                odata::lookup(item, p)
                    .and_then(Value::as_str)
                    .map(|v| {
                        v.to_lowercase()
                            .split(|c: char| !c.is_alphanumeric())
                            .any(|w| w.starts_with(&needle))
                            || v.to_lowercase().starts_with(&needle)
                    })
                    .unwrap_or(false)
            })
        })
    })
}

fn user_options() -> ListOptions<'static> {
    ListOptions {
        default_page: 100,
        max_top: 999,
        default_select: Some(USER_DEFAULT_SELECT),
        type_name: "microsoft.graph.user",
        directory: true,
    }
}

fn only_get(ctx: &Ctx) -> Result<(), GraphError> {
    if ctx.method == Method::GET {
        Ok(())
    } else {
        Err(GraphError::method_not_allowed())
    }
}

/// `GET /users`.
pub(crate) fn list(ctx: &mut Ctx, t: &mut Tenant) -> Result<Reply, GraphError> {
    only_get(ctx)?;
    ctx.require("GET /users")?;
    let items: Vec<Value> = t
        .users
        .iter()
        .map(|u| Value::Object(u.data.clone()))
        .collect();
    let body = odata::list(ctx, "users", items, &user_options(), Some(&user_search))?;
    Ok(Reply::json(body))
}

/// `GET /users/delta`.
pub(crate) fn delta(ctx: &mut Ctx, t: &mut Tenant) -> Result<Reply, GraphError> {
    only_get(ctx)?;
    ctx.require("GET /users/delta")?;
    let cursor = odata::delta_cursor(ctx, "users")?;
    let mut entries: Vec<(u64, Value)> = t
        .users
        .iter()
        .filter(|u| u.version > cursor.since)
        .map(|u| (u.version, Value::Object(u.data.clone())))
        .collect();
    entries.extend(
        t.tombstones
            .iter()
            .filter(|s| s.scope == "users" && cursor.reports_removal(s.version))
            .map(|s| {
                (
                    s.version,
                    json!({"id": s.id, "@removed": {"reason": "changed"}}),
                )
            }),
    );
    entries.sort_by_key(|(v, _)| *v);
    let entries = entries.into_iter().map(|(_, e)| e).collect();
    let body = odata::delta_page(
        ctx,
        "users",
        "users",
        &cursor,
        entries,
        100,
        Some(USER_DEFAULT_SELECT),
    );
    Ok(Reply::json(body))
}

fn with_type(
    data: &Map<String, Value>,
    type_name: &str,
    default: Option<&[&str]>,
    select: Option<&[String]>,
) -> Value {
    let mut v = odata::select_directory(&Value::Object(data.clone()), select, default);
    if let Value::Object(m) = &mut v {
        let mut out = Map::new();
        out.insert("@odata.type".into(), json!(type_name));
        out.extend(std::mem::take(m));
        return Value::Object(out);
    }
    v
}

/// `/me`, `/users/{id}` and their directory relations.
pub(crate) fn user_area(
    ctx: &mut Ctx,
    t: &mut Tenant,
    user: &str,
    rest: &[String],
) -> Result<Reply, GraphError> {
    only_get(ctx)?;
    let Some(me) = t.user(user).cloned() else {
        return Err(GraphError::user_not_found(user));
    };
    let sub: Vec<String> = rest.iter().map(|s| s.to_ascii_lowercase()).collect();
    let sub: Vec<&str> = sub.iter().map(String::as_str).collect();
    let select = ctx.query.select.clone();
    match sub.as_slice() {
        [] => {
            ctx.require("GET /me")?;
            let mut v = odata::select_directory(
                &Value::Object(me.data.clone()),
                select.as_deref(),
                Some(USER_DEFAULT_SELECT),
            );
            if let Value::Object(m) = &mut v {
                let mut out = Map::new();
                let entity = format!(
                    "{}/$entity",
                    odata::selected_context("users", select.as_deref())
                );
                out.insert("@odata.context".into(), json!(ctx.context_url(&entity)));
                out.extend(std::mem::take(m));
                v = Value::Object(out);
            }
            Ok(Reply::json(v))
        }
        ["manager"] => {
            ctx.require("GET /me/manager")?;
            let manager = t
                .managers
                .get(me.id())
                .and_then(|m| t.user(m))
                .ok_or_else(|| GraphError::user_not_found("manager"))?;
            let mut v = with_type(
                &manager.data,
                "#microsoft.graph.user",
                Some(USER_DEFAULT_SELECT),
                select.as_deref(),
            );
            v["@odata.context"] = json!(ctx.context_url("directoryObjects/$entity"));
            Ok(Reply::json(v))
        }
        ["directreports"] => {
            ctx.require("GET /me/directReports")?;
            let items: Vec<Value> = t
                .users
                .iter()
                .filter(|u| t.managers.get(u.id()).map(String::as_str) == Some(me.id()))
                .map(|u| with_type(&u.data, "#microsoft.graph.user", None, None))
                .collect();
            let opts = ListOptions {
                default_page: 100,
                max_top: 999,
                default_select: Some(USER_DEFAULT_SELECT),
                type_name: "microsoft.graph.directoryObject",
                directory: true,
            };
            Ok(Reply::json(odata::list(
                ctx,
                "directoryObjects",
                items,
                &opts,
                Some(&user_search),
            )?))
        }
        [rel @ ("memberof" | "transitivememberof")] => {
            ctx.require(if *rel == "memberof" {
                "GET /me/memberOf"
            } else {
                "GET /me/transitiveMemberOf"
            })?;
            let items: Vec<Value> = t
                .memberships
                .iter()
                .filter(|(u, _)| u == me.id())
                .filter_map(|(_, g)| t.groups.iter().find(|x| x.id() == g))
                .map(|g| with_type(&g.data, "#microsoft.graph.group", None, None))
                .collect();
            let opts = ListOptions {
                default_page: 100,
                max_top: 999,
                default_select: None,
                type_name: "microsoft.graph.directoryObject",
                directory: true,
            };
            Ok(Reply::json(odata::list(
                ctx,
                "directoryObjects",
                items,
                &opts,
                None,
            )?))
        }
        ["photo"] => {
            ctx.require("GET /me/photo")?;
            let photo = t.photos.get(me.id()).ok_or_else(photo_missing)?;
            Ok(Reply::json(json!({
                "@odata.context": ctx.context_url(&format!("users('{}')/photo/$entity", me.id())),
                "@odata.mediaContentType": "image/png",
                "@odata.mediaEtag": format!("\"{:08X}\"", crate::generated::crc32(photo)),
                "id": "48X48",
                "height": 48,
                "width": 48,
            })))
        }
        ["photo", "$value"] => {
            ctx.require("GET /me/photo/$value")?;
            let photo = t.photos.get(me.id()).ok_or_else(photo_missing)?;
            Ok(Reply::bytes("image/png", Bytes::from(photo.clone())))
        }
        _ => Err(GraphError::no_segment(
            rest.last().map(String::as_str).unwrap_or(""),
        )),
    }
}

fn photo_missing() -> GraphError {
    GraphError::new(
        StatusCode::NOT_FOUND,
        "ImageNotFound",
        "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ImageNotFoundException' was thrown.",
    )
}
