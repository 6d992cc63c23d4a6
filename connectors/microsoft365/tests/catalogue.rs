//! Every Microsoft 365 method checked against Microsoft's own facts.
//!
//! * Its HTTP method and path, resolved for each variant it supports
//!   (`/{principal}` becomes `/me` or `/users/{user_id}`), must match the
//!   operation it is mapped to in `fixtures/catalogue.json` (derived from the
//!   reference endpoint catalogue), or, for the few methods the catalogue
//!   lacks, the paths written below next to the docs page that backs them.
//! * Every permission it declares must exist in Microsoft's permissions
//!   reference (`fixtures/permissions-subset.json`) with the variant's scheme
//!   (DelegatedWork for delegated, Application for application) and grant that
//!   path and HTTP method; the first one, the one consent asks for, must be
//!   one Microsoft marks as least privileged there.
//! * A method that leaves out the application variant must be one Microsoft
//!   offers no application permission for, and the other way round.
//!
//! The checks live in `check`, which returns every problem; the last tests
//! feed it broken definitions to show it notices.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use switchboard_core::definition::{ConnectorDefinition, HttpMethod, MethodDefinition};
use switchboard_microsoft365::subscription_resources::SubscriptionResources;

mod common;
use common::connector;

/// Which catalogue operation (its `operation` field) each method performs.
const CATALOGUE_OPERATIONS: &[(&str, &str)] = &[
    ("users.list_users", "list users"),
    ("users.get_user", "get signed-in user / user"),
    ("users.get_manager", "get manager"),
    ("users.list_direct_reports", "list direct reports"),
    ("users.list_member_of", "list memberOf"),
    ("users.get_photo", "get photo bytes"),
    ("users.delta", "users delta"),
    ("calendars.list_calendars", "list calendars"),
    ("calendars.list_calendar_groups", "list calendar groups"),
    ("calendars.list_group_calendars", "list calendars in group"),
    ("calendars.list_events", "list events"),
    ("calendars.list_calendar_events", "list events in calendar"),
    (
        "calendars.calendar_view",
        "calendarView (startDateTime,endDateTime required)",
    ),
    ("calendars.get_event", "get event"),
    ("calendars.create_event", "create event"),
    ("calendars.update_event", "update event"),
    ("calendars.delete_event", "delete event"),
    ("calendars.accept_event", "accept"),
    ("calendars.decline_event", "decline"),
    ("calendars.tentatively_accept_event", "tentativelyAccept"),
    ("calendars.cancel_event", "cancel (organizer)"),
    ("calendars.get_schedule", "getSchedule (free/busy)"),
    ("calendars.find_meeting_times", "findMeetingTimes"),
    ("calendars.events_delta", "calendarView delta"),
    ("mail.list_messages", "list messages"),
    ("mail.list_folder_messages", "list messages in folder"),
    ("mail.list_mail_folders", "list mail folders"),
    ("mail.list_child_folders", "list child folders"),
    ("mail.get_message", "get message"),
    ("mail.send_mail", "sendMail"),
    ("mail.create_draft", "create draft"),
    ("mail.send_draft", "send draft"),
    ("mail.reply", "reply"),
    ("mail.reply_all", "replyAll"),
    ("mail.forward", "forward"),
    ("mail.move_message", "move"),
    ("mail.delete_message", "delete message"),
    ("mail.list_attachments", "list attachments"),
    ("mail.add_attachment", "add attachment (<3MB)"),
    ("mail.messages_delta", "messages delta (per folder)"),
    ("mail.get_mailbox_settings", "get mailboxSettings"),
    ("onedrive.get_drive", "get drive"),
    ("onedrive.list_root_children", "list root children"),
    ("onedrive.list_children", "list children"),
    ("onedrive.get_item", "get item"),
    ("onedrive.get_item_by_path", "get item by path"),
    ("onedrive.search", "search"),
    ("onedrive.delta", "delta"),
    ("onedrive.download", "download content (302)"),
    ("onedrive.replace_content", "upload small (PUT content)"),
    ("onedrive.create_folder", "create folder"),
    ("onedrive.delete_item", "delete item"),
    ("onedrive.update_item", "update/rename/move item"),
    ("onedrive.copy_item", "copy item"),
    ("onedrive.list_permissions", "list permissions"),
    ("onedrive.create_sharing_link", "createLink"),
];

/// A method the catalogue has no operation for, with the Microsoft Graph docs
/// page that documents its paths (v1.0 API reference, `docs-2021-07` in the
/// reference data) and the paths as that page writes them.
struct DocsBacked {
    method: &'static str,
    docs_page: &'static str,
    http_method: &'static str,
    delegated_path: &'static str,
    application_path: &'static str,
}

const NOT_IN_CATALOGUE: &[DocsBacked] = &[
    // The catalogue only has the default calendar (`/me/calendar`).
    DocsBacked {
        method: "calendars.get_calendar",
        docs_page: "api-reference/v1.0/api/calendar-get.md",
        http_method: "GET",
        delegated_path: "/me/calendars/{id}",
        application_path: "/users/{id | userPrincipalName}/calendars/{id}",
    },
    // The catalogue's small upload replaces an existing item's content; this
    // one creates the file under a parent ("upload a new file").
    DocsBacked {
        method: "onedrive.upload_small",
        docs_page: "api-reference/v1.0/api/driveitem-put-content.md",
        http_method: "PUT",
        delegated_path: "/me/drive/items/{parent-id}:/{filename}:/content",
        application_path: "/users/{user-id}/drive/items/{parent-id}:/{filename}:/content",
    },
    // Same parent-and-name addressing as the small upload, so a caller can
    // switch to a session by file size without changing its arguments. The
    // page documents `items/{itemId}/createUploadSession`, where the item may
    // be addressed by path; permissions.json keys this exact form.
    DocsBacked {
        method: "onedrive.create_upload_session",
        docs_page: "api-reference/v1.0/api/driveitem-createuploadsession.md",
        http_method: "POST",
        delegated_path: "/me/drive/items/{itemId}:/{fileName}:/createUploadSession",
        application_path: "/users/{userId}/drive/items/{itemId}:/{fileName}:/createUploadSession",
    },
    // Contacts: the catalogue covers Users, Calendars, Mail and OneDrive only.
    // Pages from docs-current (microsoft-graph-docs-contrib, see the
    // reference's docs-current/SOURCE.txt); the folder operations it has no
    // page for are the paths of the 2023 OpenAPI file PersonalContacts.yml,
    // which models `/me` as `/users/{user-id}`.
    DocsBacked {
        method: "contacts.list_contact_folders",
        docs_page: "docs-current api-reference/v1.0/api/user-list-contactfolders.md",
        http_method: "GET",
        delegated_path: "/me/contactFolders",
        application_path: "/users/{id | userPrincipalName}/contactFolders",
    },
    DocsBacked {
        method: "contacts.get_contact_folder",
        docs_page: "docs-current api-reference/v1.0/api/contactfolder-get.md",
        http_method: "GET",
        delegated_path: "/me/contactFolders/{id}",
        application_path: "/users/{id | userPrincipalName}/contactFolders/{id}",
    },
    DocsBacked {
        method: "contacts.create_contact_folder",
        docs_page: "docs-current api-reference/v1.0/api/user-post-contactfolders.md",
        http_method: "POST",
        delegated_path: "/me/contactFolders",
        application_path: "/users/{id | userPrincipalName}/contactFolders",
    },
    DocsBacked {
        method: "contacts.delete_contact_folder",
        docs_page: "openapi-v1.0-2023/PersonalContacts.yml (users.DeleteContactFolders)",
        http_method: "DELETE",
        delegated_path: "/me/contactFolders/{contactFolder-id}",
        application_path: "/users/{user-id}/contactFolders/{contactFolder-id}",
    },
    DocsBacked {
        method: "contacts.list_contacts",
        docs_page: "docs-current api-reference/v1.0/api/user-list-contacts.md",
        http_method: "GET",
        delegated_path: "/me/contacts",
        application_path: "/users/{id | userPrincipalName}/contacts",
    },
    DocsBacked {
        method: "contacts.list_folder_contacts",
        docs_page: "docs-current api-reference/v1.0/api/user-list-contacts.md",
        http_method: "GET",
        delegated_path: "/me/contactfolders/{Id}/contacts",
        application_path: "/users/{id | userPrincipalName}/contactfolders/{id}/contacts",
    },
    DocsBacked {
        method: "contacts.get_contact",
        docs_page: "docs-current api-reference/v1.0/api/contact-get.md",
        http_method: "GET",
        delegated_path: "/me/contacts/{id}",
        application_path: "/users/{id | userPrincipalName}/contacts/{id}",
    },
    DocsBacked {
        method: "contacts.create_contact",
        docs_page: "docs-current api-reference/v1.0/api/user-post-contacts.md",
        http_method: "POST",
        delegated_path: "/me/contacts",
        application_path: "/users/{id | userPrincipalName}/contacts",
    },
    DocsBacked {
        method: "contacts.create_folder_contact",
        docs_page: "openapi-v1.0-2023/PersonalContacts.yml (users.contactFolders.CreateContacts)",
        http_method: "POST",
        delegated_path: "/me/contactFolders/{contactFolder-id}/contacts",
        application_path: "/users/{user-id}/contactFolders/{contactFolder-id}/contacts",
    },
    DocsBacked {
        method: "contacts.update_contact",
        docs_page: "docs-current api-reference/v1.0/api/contact-update.md",
        http_method: "PATCH",
        delegated_path: "/me/contacts/{id}",
        application_path: "/users/{id | userPrincipalName}/contacts/{id}",
    },
    DocsBacked {
        method: "contacts.delete_contact",
        docs_page: "docs-current api-reference/v1.0/api/contact-delete.md",
        http_method: "DELETE",
        delegated_path: "/me/contacts/{id}",
        application_path: "/users/{id | userPrincipalName}/contacts/{id}",
    },
    DocsBacked {
        method: "contacts.contacts_delta",
        docs_page: "docs-current api-reference/v1.0/api/contact-delta.md",
        http_method: "GET",
        delegated_path: "/me/contactFolders/{id}/contacts/delta",
        application_path: "/users/{id}/contactFolders/{id}/contacts/delta",
    },
    // Subscriptions (docs-2021-07): one endpoint for every principal.
    DocsBacked {
        method: "subscriptions.create_subscription",
        docs_page: "api-reference/v1.0/api/subscription-post-subscriptions.md",
        http_method: "POST",
        delegated_path: "/subscriptions",
        application_path: "/subscriptions",
    },
    DocsBacked {
        method: "subscriptions.list_subscriptions",
        docs_page: "api-reference/v1.0/api/subscription-list.md",
        http_method: "GET",
        delegated_path: "/subscriptions",
        application_path: "/subscriptions",
    },
    DocsBacked {
        method: "subscriptions.get_subscription",
        docs_page: "api-reference/v1.0/api/subscription-get.md",
        http_method: "GET",
        delegated_path: "/subscriptions/{id}",
        application_path: "/subscriptions/{id}",
    },
    DocsBacked {
        method: "subscriptions.renew_subscription",
        docs_page: "api-reference/v1.0/api/subscription-update.md",
        http_method: "PATCH",
        delegated_path: "/subscriptions/{id}",
        application_path: "/subscriptions/{id}",
    },
    DocsBacked {
        method: "subscriptions.reauthorize_subscription",
        docs_page: "docs-current concepts/change-notifications-lifecycle-events.md",
        http_method: "POST",
        delegated_path: "/subscriptions/{id}/reauthorize",
        application_path: "/subscriptions/{id}/reauthorize",
    },
    DocsBacked {
        method: "subscriptions.delete_subscription",
        docs_page: "api-reference/v1.0/api/subscription-delete.md",
        http_method: "DELETE",
        delegated_path: "/subscriptions/{subscription-id}",
        application_path: "/subscriptions/{subscription-id}",
    },
];

/// Subscribing needs the permission that reads the subscribed resource, and
/// `permissions.json` keys nothing for `/subscriptions`. The permissions of
/// each resource (`data/subscription_resources.json`) are checked as
/// grants of `GET` on the path that reads it, and the first one against the
/// least permission the create-subscription page names for that resource
/// (`api-reference/v1.0/api/subscription-post-subscriptions.md`,
/// docs-2021-07): `(resource, "GET", path with {p} for the principal,
/// delegated, application)`. The page writes the application permission for
/// messages as `Mail.ReadBasic`; its name in the Application scheme is
/// `Mail.ReadBasic.All`.
const SUBSCRIBED_RESOURCES: &[(&str, &str, &str, &str, &str)] = &[
    (
        "messages",
        "GET",
        "{p}/mailFolders/{id}/messages",
        "Mail.ReadBasic",
        "Mail.ReadBasic.All",
    ),
    (
        "events",
        "GET",
        "{p}/events",
        "Calendars.Read",
        "Calendars.Read",
    ),
    (
        "contacts",
        "GET",
        "{p}/contacts",
        "Contacts.Read",
        "Contacts.Read",
    ),
    (
        "drive",
        "GET",
        "{p}/drive/root",
        "Files.ReadWrite.All",
        "Files.ReadWrite.All",
    ),
    ("users", "GET", "/users", "User.Read.All", "User.Read.All"),
];

/// The subscription methods: Graph authorizes each with the permission of
/// the subscribed resource (subscription-post-subscriptions.md, -get.md,
/// -update.md, -delete.md, -list.md, docs-2021-07). The definition format
/// cannot tie a permission to the `resource` argument, so each lists the
/// first permission of every resource of subscription_resources.json, in
/// its order; `check` holds them to exactly that.
const SUBSCRIPTION_METHODS: &[&str] = &[
    "subscriptions.create_subscription",
    "subscriptions.list_subscriptions",
    "subscriptions.get_subscription",
    "subscriptions.renew_subscription",
    "subscriptions.reauthorize_subscription",
    "subscriptions.delete_subscription",
];

/// Permissions whose grant is checked on another path than the method's own,
/// because Microsoft's reference does not key the method's path for it.
/// `(method, variant, permission or "*", http method, path with {p} for the
/// principal, why)`.
const GRANT_ELSEWHERE: &[(&str, &str, &str, &str, &str, &str)] = &[
    (
        "calendars.get_calendar",
        "*",
        "*",
        "GET",
        "{p}/calendars",
        "permissions.json keys GET only for the calendar collection; calendar-get.md names the same permissions",
    ),
    (
        "onedrive.create_upload_session",
        "application",
        "Files.ReadWrite.All",
        "PUT",
        "{p}/drive/items/{id}:/{id}:/content",
        "the reference marks Sites.ReadWrite.All for application upload sessions (a known wrong marker); \
         Files.ReadWrite.All grants writing the same file's content",
    ),
];

struct Reference {
    catalogue: Vec<Value>,
    permissions: serde_json::Map<String, Value>,
}

fn reference() -> Reference {
    let catalogue: Value = serde_json::from_str(include_str!("fixtures/catalogue.json")).unwrap();
    let permissions: Value =
        serde_json::from_str(include_str!("fixtures/permissions-subset.json")).unwrap();
    Reference {
        catalogue: catalogue["endpoints"].as_array().unwrap().clone(),
        permissions: permissions["permissions"].as_object().unwrap().clone(),
    }
}

/// Lower-case, every `{placeholder}` as `{id}`, no OData string quotes, no
/// trailing `:` closing a path-based address (Graph treats it as optional).
fn normalise(path: &str) -> String {
    let mut out = String::new();
    let mut in_placeholder = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_placeholder = true;
                out.push_str("{id}");
            }
            '}' => in_placeholder = false,
            '\'' => {}
            _ if in_placeholder => {}
            _ => out.extend(c.to_lowercase()),
        }
    }
    if out.ends_with(':') {
        out.pop();
    }
    out
}

fn scheme(variant: &str) -> &'static str {
    match variant {
        "delegated" => "DelegatedWork",
        "application" => "Application",
        other => panic!("no permission scheme for variant {other}"),
    }
}

/// Resolved, normalised path of a method for a variant.
fn resolved(def: &ConnectorDefinition, method: &MethodDefinition, variant: &str) -> String {
    let principal = def.variant(variant).and_then(|v| v.principal.as_ref());
    normalise(&method.resolved_path(principal))
}

impl Reference {
    /// Permissions (with their markers) that grant `http` on `path` in `scheme`.
    fn grants(&self, path: &str, http: &str, scheme: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (name, perm) in &self.permissions {
            for set in perm["pathSets"].as_array().into_iter().flatten() {
                let has = |key: &str, want: &str| {
                    set[key]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(want)))
                };
                if !has("schemeKeys", scheme) || !has("methods", http) {
                    continue;
                }
                for (p, mark) in set["paths"].as_object().into_iter().flatten() {
                    if normalise(p) == path {
                        out.insert(name.clone(), mark.as_str().unwrap_or("").to_string());
                    }
                }
            }
        }
        out
    }

    /// Like `grants`, with the documented fallbacks for paths the reference
    /// does not key: `/photo/$value` is granted like `/photo` (catalogue note),
    /// and a delegated `/me/...` path like `/users/{id}/...` (the reference
    /// keys some delegated grants, e.g. calendarView and replyAll, only there).
    fn grants_with_fallbacks(
        &self,
        path: &str,
        http: &str,
        scheme: &str,
    ) -> (String, BTreeMap<String, String>) {
        let mut candidates = vec![path.to_string()];
        if let Some(base) = path.strip_suffix("/$value") {
            candidates.push(base.to_string());
        }
        for c in candidates.clone() {
            if let Some(rest) = c.strip_prefix("/me") {
                candidates.push(format!("/users/{{id}}{rest}"));
            }
        }
        for c in candidates {
            let found = self.grants(&c, http, scheme);
            if !found.is_empty() {
                return (c, found);
            }
        }
        (path.to_string(), BTreeMap::new())
    }

    fn has_scheme(&self, permission: &str, scheme: &str) -> bool {
        self.permissions
            .get(permission)
            .is_some_and(|p| p["schemes"].get(scheme).is_some())
    }
}

fn least(mark: &str, scheme: &str) -> bool {
    mark.strip_prefix("least=")
        .is_some_and(|s| s.split(',').any(|x| x.trim() == scheme))
}

/// Every problem found, one line each.
fn check(def: &ConnectorDefinition, reference: &Reference) -> Vec<String> {
    let mut problems = Vec::new();
    let catalogue_op = |op: &str| {
        reference
            .catalogue
            .iter()
            .find(|e| e["operation"].as_str() == Some(op))
    };
    let subscriptions = SubscriptionResources::embedded().unwrap();
    let mut seen = BTreeSet::new();
    for method in &def.methods {
        let id = method.id.as_str();
        seen.insert(id);
        let variants = method.supported_variants(&def.auth_variants);
        let http = method.http_method.as_str();

        // 1. HTTP method and path.
        let mapped = CATALOGUE_OPERATIONS.iter().find(|(m, _)| *m == id);
        let docs = NOT_IN_CATALOGUE.iter().find(|d| d.method == id);
        match (mapped, docs) {
            (Some(_), Some(_)) => problems.push(format!("{id}: both mapped and listed as not in the catalogue")),
            (None, None) => problems.push(format!(
                "{id}: not mapped to a catalogue operation nor listed in NOT_IN_CATALOGUE with its docs page"
            )),
            (Some((_, op)), None) => match catalogue_op(op) {
                None => problems.push(format!("{id}: catalogue has no operation `{op}`")),
                Some(entry) => {
                    if entry["method"].as_str() != Some(http) {
                        problems.push(format!("{id}: HTTP method {http}, catalogue says {}", entry["method"]));
                    }
                    for variant in ["delegated", "application"] {
                        let key = format!("{variant}_path");
                        let theirs = normalise(entry[key.as_str()].as_str().unwrap_or(""));
                        let app_least_empty = entry["application_least"]
                            .as_array()
                            .is_none_or(Vec::is_empty)
                            && entry["note"].as_str().is_some_and(|n| n.contains("Application permissions NOT supported"));
                        if !variants.contains(&variant) {
                            if variant == "application" && !app_least_empty {
                                problems.push(format!(
                                    "{id}: leaves out the application variant, but Microsoft offers an application permission"
                                ));
                            }
                            continue;
                        }
                        if variant == "application" && app_least_empty {
                            problems.push(format!(
                                "{id}: offers the application variant, which Microsoft does not support"
                            ));
                        }
                        let ours = resolved(def, method, variant);
                        // A user's drive is a drive: the catalogue writes some
                        // application paths as /drives/{id}/..., ours go
                        // through /users/{id}/drive/... (which the permission
                        // check below confirms Microsoft keys).
                        let alias = theirs
                            .strip_prefix("/drives/{id}/")
                            .is_some_and(|rest| ours == format!("/users/{{id}}/drive/{rest}"));
                        if ours != theirs && !alias {
                            problems.push(format!("{id} ({variant}): path {ours}, catalogue says {theirs}"));
                        }
                    }
                }
            },
            (None, Some(d)) => {
                if d.http_method != http {
                    problems.push(format!("{id}: HTTP method {http}, {} says {}", d.docs_page, d.http_method));
                }
                for (variant, theirs) in [("delegated", d.delegated_path), ("application", d.application_path)] {
                    if variants.contains(&variant) {
                        let ours = resolved(def, method, variant);
                        if ours != normalise(theirs) {
                            problems.push(format!(
                                "{id} ({variant}): path {ours}, {} says {}",
                                d.docs_page,
                                normalise(theirs)
                            ));
                        }
                    }
                }
            }
        }

        // 2. Permissions.
        if SUBSCRIPTION_METHODS.contains(&id) {
            for variant in &variants {
                let want: Vec<&str> = subscriptions
                    .iter()
                    .filter_map(|r| r.permissions_for(variant).first().map(String::as_str))
                    .collect();
                let declared: Vec<&str> = method
                    .permissions_for(variant)
                    .iter()
                    .map(String::as_str)
                    .collect();
                if declared != want {
                    problems.push(format!(
                        "{id} ({variant}): lists {declared:?}, but subscriptions need the first permission of each subscription resource: {want:?}"
                    ));
                }
            }
            continue;
        }
        for variant in &variants {
            let scheme = scheme(variant);
            let declared = method.permissions_for(variant);
            if declared.is_empty() {
                problems.push(format!("{id} ({variant}): no permissions declared"));
            }
            let path = resolved(def, method, variant);
            for (i, perm) in declared.iter().enumerate() {
                if !reference.has_scheme(perm, scheme) {
                    problems.push(format!("{id} ({variant}): {perm} is not a {scheme} permission in Microsoft's reference"));
                    continue;
                }
                let elsewhere = GRANT_ELSEWHERE.iter().find(|(m, v, p, ..)| {
                    *m == id && (*v == "*" || v == variant) && (*p == "*" || p == perm)
                });
                let (checked_path, grants) = match elsewhere {
                    Some((_, _, _, h, p, _)) => {
                        let principal = def
                            .variant(variant)
                            .and_then(|v| v.principal.as_ref())
                            .map(|p| p.path.as_str())
                            .unwrap_or("");
                        let p = normalise(&p.replace("{p}", principal));
                        (p.clone(), reference.grants(&p, h, scheme))
                    }
                    None => reference.grants_with_fallbacks(&path, http, scheme),
                };
                match grants.get(perm) {
                    None => problems.push(format!(
                        "{id} ({variant}): {perm} does not grant {http} {checked_path} in Microsoft's reference (granted by: {})",
                        grants.keys().cloned().collect::<Vec<_>>().join(", ")
                    )),
                    Some(mark) if i == 0 && !least(mark, scheme) => {
                        let least_ones: Vec<_> = grants.iter().filter(|(_, m)| least(m, scheme)).map(|(n, _)| n.clone()).collect();
                        problems.push(format!(
                            "{id} ({variant}): first permission {perm} is not marked least privileged for {http} {checked_path} (least: {})",
                            least_ones.join(", ")
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
    }
    for (m, _) in CATALOGUE_OPERATIONS {
        if !seen.contains(m) {
            problems.push(format!(
                "{m}: mapped in CATALOGUE_OPERATIONS but not defined"
            ));
        }
    }
    for d in NOT_IN_CATALOGUE {
        if !seen.contains(d.method) {
            problems.push(format!(
                "{}: listed in NOT_IN_CATALOGUE but not defined",
                d.method
            ));
        }
    }
    problems
}

/// Every problem with the permissions of the subscription resources: each
/// must exist in the variant's scheme and grant reading the resource, and
/// the first must be the one subscription-post-subscriptions.md names.
fn check_subscription_resources(
    def: &ConnectorDefinition,
    resources: &SubscriptionResources,
    reference: &Reference,
) -> Vec<String> {
    let mut problems = Vec::new();
    let listed: Vec<&str> = resources.iter().map(|r| r.id.as_str()).collect();
    let documented: Vec<&str> = SUBSCRIBED_RESOURCES.iter().map(|r| r.0).collect();
    if listed != documented {
        problems.push(format!(
            "subscription_resources.json lists {listed:?}, SUBSCRIBED_RESOURCES documents {documented:?}"
        ));
    }
    for (id, http, read_path, delegated, application) in SUBSCRIBED_RESOURCES {
        let Some(resource) = resources.get(id) else {
            continue;
        };
        for (variant, least_documented) in [("delegated", delegated), ("application", application)]
        {
            let scheme = scheme(variant);
            let principal = def
                .variant(variant)
                .and_then(|v| v.principal.as_ref())
                .map(|p| p.path.as_str())
                .unwrap_or("");
            let path = normalise(&read_path.replace("{p}", principal));
            let (checked, grants) = reference.grants_with_fallbacks(&path, http, scheme);
            let declared = resource.permissions_for(variant);
            if declared.first().map(String::as_str) != Some(*least_documented) {
                problems.push(format!(
                    "{id} ({variant}): first permission {:?}, subscription-post-subscriptions.md names {least_documented}",
                    declared.first()
                ));
            }
            for perm in declared {
                if !reference.has_scheme(perm, scheme) {
                    problems.push(format!("{id} ({variant}): {perm} is not a {scheme} permission in Microsoft's reference"));
                } else if !grants.contains_key(perm) {
                    problems.push(format!(
                        "{id} ({variant}): {perm} does not grant {http} {checked} in Microsoft's reference"
                    ));
                }
            }
        }
    }
    problems
}

#[test]
fn subscription_resources_ask_for_the_permission_that_reads_them() {
    let resources = SubscriptionResources::embedded().unwrap();
    let problems = check_subscription_resources(&connector(), &resources, &reference());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_wrong_subscription_permission_is_reported() {
    let text = switchboard_microsoft365::subscription_resources::SUBSCRIPTION_RESOURCES_FILE.1;
    let mut file: Value = serde_json::from_str(text).unwrap();
    // Calendars.ReadBasic reads events but is not what subscribing needs;
    // Mail.Send does not read contacts at all.
    file["resources"][1]["permissions"]["delegated"] = serde_json::json!(["Calendars.ReadBasic"]);
    file["resources"][2]["permissions"]["application"] =
        serde_json::json!(["Contacts.Read", "Mail.Send"]);
    let resources = SubscriptionResources::parse(&file.to_string()).unwrap();
    let problems = check_subscription_resources(&connector(), &resources, &reference());
    assert_eq!(
        problems,
        [
            "events (delegated): first permission Some(\"Calendars.ReadBasic\"), subscription-post-subscriptions.md names Calendars.Read",
            "contacts (application): Mail.Send does not grant GET /users/{id}/contacts in Microsoft's reference",
        ]
    );
}

#[test]
fn a_subscription_method_without_every_resources_permission_is_reported() {
    let problems = with_method(
        |m| {
            m.permissions
                .insert("delegated".into(), vec!["Mail.ReadBasic".into()]);
        },
        "subscriptions.renew_subscription",
    );
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with(
            "subscriptions.renew_subscription (delegated): lists [\"Mail.ReadBasic\"]"
        ),
        "{problems:?}"
    );
}

#[test]
fn every_method_matches_microsofts_paths_and_permissions() {
    let def = connector();
    let problems = check(&def, &reference());
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn the_method_set_is_the_one_issue_5_asks_for() {
    let def = connector();
    let ids: BTreeSet<&str> = def.methods.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids.len(), def.methods.len(), "duplicate method ids");
    assert_eq!(
        def.methods.len(),
        CATALOGUE_OPERATIONS.len() + NOT_IN_CATALOGUE.len()
    );
    for m in &def.methods {
        assert!(
            m.id.starts_with(&format!("{}.", m.category)),
            "{} is not in its category",
            m.id
        );
        assert!(
            def.categories.iter().any(|c| c.id == m.category),
            "{}: unknown category",
            m.id
        );
    }
    // Only findMeetingTimes lacks the application variant.
    let delegated_only: Vec<&str> = def
        .methods
        .iter()
        .filter(|m| !m.supports("application", &def.auth_variants))
        .map(|m| m.id.as_str())
        .collect();
    assert_eq!(delegated_only, ["calendars.find_meeting_times"]);
    assert!(
        def.methods
            .iter()
            .all(|m| m.supports("delegated", &def.auth_variants))
    );
}

#[test]
fn resolved_paths_use_the_principal_of_each_variant() {
    let def = connector();
    let list = def.method("mail.list_folder_messages").unwrap();
    let principal = |v: &str| def.variant(v).and_then(|v| v.principal.as_ref());
    assert_eq!(
        list.resolved_path(principal("delegated")),
        "/me/mailFolders/{folder_id}/messages"
    );
    assert_eq!(
        list.resolved_path(principal("application")),
        "/users/{user_id}/mailFolders/{folder_id}/messages"
    );
    let names: Vec<&str> = list
        .resolved_parameters(principal("application"))
        .iter()
        .filter(|p| p.location == switchboard_core::definition::ParameterLocation::Path)
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["user_id", "folder_id"]);
    // Directory-wide methods do not act as a principal.
    assert_eq!(
        def.method("users.delta")
            .unwrap()
            .resolved_path(principal("application")),
        "/users/delta"
    );
}

#[test]
fn normalise_makes_placeholder_spelling_irrelevant() {
    assert_eq!(
        normalise("/users/{id | userPrincipalName}/calendars/{id}"),
        "/users/{id}/calendars/{id}"
    );
    assert_eq!(
        normalise("/me/drive/root/search(q='{query}')"),
        "/me/drive/root/search(q={id})"
    );
    assert_eq!(
        normalise("/me/drive/root:/{item_path}:"),
        "/me/drive/root:/{id}"
    );
    assert_eq!(
        normalise("/me/calendarView/delta"),
        "/me/calendarview/delta"
    );
}

// --- the checks notice mistakes -------------------------------------------------

fn with_method(f: impl FnOnce(&mut MethodDefinition), id: &str) -> Vec<String> {
    let mut def = connector();
    let method = def.methods.iter_mut().find(|m| m.id == id).unwrap();
    f(method);
    check(&def, &reference())
}

#[test]
fn a_wrong_path_is_reported() {
    let problems = with_method(
        |m| m.path = "/{principal}/mailFolders/{folder_id}/mesages".into(),
        "mail.list_folder_messages",
    );
    assert!(
        problems.iter().any(|p| p.starts_with(
            "mail.list_folder_messages (delegated): path /me/mailfolders/{id}/mesages"
        )),
        "{problems:?}"
    );
    // The permissions no longer grant the misspelt path either.
    assert!(
        problems
            .iter()
            .any(|p| p.contains("does not grant GET /me/mailfolders/{id}/mesages")),
        "{problems:?}"
    );
}

#[test]
fn a_wrong_http_method_is_reported() {
    let problems = with_method(
        |m| m.http_method = HttpMethod::Put,
        "calendars.update_event",
    );
    assert!(
        problems
            .iter()
            .any(|p| p == "calendars.update_event: HTTP method PUT, catalogue says \"PATCH\""),
        "{problems:?}"
    );
}

#[test]
fn a_permission_that_does_not_grant_the_path_is_reported() {
    let problems = with_method(
        |m| {
            m.permissions.insert(
                "delegated".into(),
                vec!["Mail.ReadBasic".into(), "Mail.Send".into()],
            );
        },
        "mail.list_messages",
    );
    assert_eq!(
        problems,
        [
            "mail.list_messages (delegated): Mail.Send does not grant GET /me/messages in Microsoft's reference \
          (granted by: Mail.Read, Mail.ReadBasic, Mail.ReadWrite)"
        ]
    );
}

#[test]
fn a_permission_of_the_wrong_scheme_is_reported() {
    // Mail.ReadBasic.All is the application permission; delegated has none of that name.
    let problems = with_method(
        |m| {
            m.permissions
                .insert("delegated".into(), vec!["Mail.ReadBasic.All".into()]);
        },
        "mail.list_messages",
    );
    assert_eq!(
        problems,
        [
            "mail.list_messages (delegated): Mail.ReadBasic.All is not a DelegatedWork permission in Microsoft's reference"
        ]
    );
}

#[test]
fn a_broader_first_permission_is_reported() {
    let problems = with_method(
        |m| {
            m.permissions.insert(
                "delegated".into(),
                vec!["Calendars.Read".into(), "Calendars.ReadBasic".into()],
            );
        },
        "calendars.get_event",
    );
    assert_eq!(
        problems,
        [
            "calendars.get_event (delegated): first permission Calendars.Read is not marked least privileged \
          for GET /me/events/{id} (least: Calendars.ReadBasic)"
        ]
    );
}

#[test]
fn an_application_variant_microsoft_does_not_support_is_reported() {
    let problems = with_method(
        |m| {
            m.variants = vec![];
            m.permissions
                .insert("application".into(), vec!["Calendars.ReadWrite".into()]);
        },
        "calendars.find_meeting_times",
    );
    assert!(
        problems.iter().any(|p| p == "calendars.find_meeting_times: offers the application variant, which Microsoft does not support"),
        "{problems:?}"
    );
}

#[test]
fn a_missing_application_variant_is_reported() {
    let problems = with_method(
        |m| {
            m.permissions.remove("application");
        },
        "mail.send_mail",
    );
    assert_eq!(
        problems,
        [
            "mail.send_mail: leaves out the application variant, but Microsoft offers an application permission"
        ]
    );
}

#[test]
fn the_definitions_pass_the_core_validation() {
    let files = [
        (
            "definitions/connector.json",
            include_str!("../definitions/connector.json"),
        ),
        (
            "definitions/users.json",
            include_str!("../definitions/users.json"),
        ),
        (
            "definitions/calendars.json",
            include_str!("../definitions/calendars.json"),
        ),
        (
            "definitions/mail.json",
            include_str!("../definitions/mail.json"),
        ),
        (
            "definitions/onedrive.json",
            include_str!("../definitions/onedrive.json"),
        ),
        (
            "definitions/contacts.json",
            include_str!("../definitions/contacts.json"),
        ),
        (
            "definitions/subscriptions.json",
            include_str!("../definitions/subscriptions.json"),
        ),
    ];
    match switchboard_core::definition::load::load_sources(&files) {
        Ok(def) => assert_eq!(def.methods.len(), connector().methods.len()),
        Err(problems) => panic!("{}", problems.into_error()),
    }
}
