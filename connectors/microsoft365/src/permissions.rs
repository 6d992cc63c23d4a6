//! Consent: the least set of Microsoft Graph permissions the enabled methods
//! need, as the scopes a token request asks for and as the list an
//! administrator grants in the app registration.
//!
//! Each method declares, per variant, the permissions that let it run, least
//! privileged first (checked against Microsoft's reference by
//! `tests/catalogue.rs`). The plan for a set of enabled methods is built in
//! three steps:
//!
//! 1. take the **first** permission of every enabled method the variant
//!    supports (methods a variant lacks, such as `findMeetingTimes` in the
//!    application variant, are reported in [`ConsentPlan::unsupported`] when
//!    they came in through a category, and are an error when named directly);
//! 2. remove duplicates;
//! 3. drop a permission that another one in the set **implies**, as long as
//!    every enabled method still has one of its declared permissions in the
//!    set. A permission implies another of the same resource when its access
//!    level is at least as high (`ReadBasic` < `Read` < `ReadWrite`; other
//!    levels such as `Send` only imply themselves) and its reach is at least as
//!    wide (own mailbox or drive < `.Shared` < `.All`). Application
//!    permissions are tenant-wide whatever their suffix, so there `Mail.Read`
//!    implies `Mail.ReadBasic.All`. The name rule only proposes a drop; the
//!    methods' declared lists, which come from Microsoft's reference, decide.
//!
//! The delegated variant then asks for each permission as a resource-qualified
//! scope (`https://graph.microsoft.com/Mail.Read`) plus the variant's extra
//! scopes (`offline_access` always, for a refresh token). The application
//! variant asks for `{graph}/.default`, which yields whatever an administrator
//! granted; [`ConsentPlan::permissions`] is that list. The Graph resource is a
//! parameter because national clouds use other hosts
//! (`https://graph.microsoft.us`, `https://microsoftgraph.chinacloudapi.cn`).
//!
//! ```
//! # fn main() -> switchboard_core::Result<()> {
//! use switchboard_microsoft365::permissions::{consent_plan, Enabled, default_graph_resource};
//! # let def: switchboard_core::ConnectorDefinition = serde_json::from_value(serde_json::json!({
//! #   "id": "m", "name": "M", "version": "1.0.0", "description": "d",
//! #   "base_url": "https://graph.microsoft.com/v1.0", "allowed_hosts": ["graph.microsoft.com"],
//! #   "auth_variants": [{"id": "delegated", "name": "D", "kind": "oauth2_authorization_code",
//! #                      "principal": {"path": "/me"}, "extra_scopes": ["offline_access"]}],
//! #   "categories": [{"id": "mail", "name": "Mail"}],
//! #   "methods": [
//! #     {"id": "mail.list_messages", "category": "mail", "name": "L", "description": "d", "http_method": "GET",
//! #      "path": "/{principal}/messages", "permissions": {"delegated": ["Mail.ReadBasic", "Mail.Read", "Mail.ReadWrite"]}},
//! #     {"id": "mail.create_draft", "category": "mail", "name": "C", "description": "d", "http_method": "POST",
//! #      "path": "/{principal}/messages", "permissions": {"delegated": ["Mail.ReadWrite"]}}
//! #   ]
//! # })).unwrap();
//! // `def` holds mail.list_messages (Mail.ReadBasic first) and mail.create_draft (Mail.ReadWrite).
//! let plan = consent_plan(&def, "delegated", &Enabled::categories(["mail"]), &default_graph_resource())?;
//! assert_eq!(plan.permissions, ["Mail.ReadWrite"]);
//! assert_eq!(plan.scopes, ["https://graph.microsoft.com/Mail.ReadWrite", "offline_access"]);
//! # Ok(()) }
//! ```

use std::collections::BTreeSet;
use std::fmt::Write as _;

use switchboard_core::definition::{AuthVariant, ConnectorDefinition, MethodDefinition};
use switchboard_core::{Error, ErrorKind, Result};
use url::Url;

/// Microsoft Graph's resource in the default (global) cloud, as the
/// definition declares it (`https://graph.microsoft.com`).
///
/// ```
/// use switchboard_microsoft365::permissions::default_graph_resource;
/// assert_eq!(default_graph_resource(), "https://graph.microsoft.com");
/// ```
pub fn default_graph_resource() -> String {
    crate::cloud::Cloud::Global.deployment().api_origin_text()
}

/// The scope every refreshable delegated installation asks for.
pub const OFFLINE_ACCESS: &str = "offline_access";

/// Which methods an installation enables: whole categories, single methods,
/// or everything. Categories and methods add up.
///
/// ```
/// use switchboard_microsoft365::permissions::Enabled;
///
/// let enabled = Enabled::categories(["mail"]).and_method("users.get_user");
/// assert!(!enabled.is_all());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Enabled {
    all: bool,
    categories: BTreeSet<String>,
    methods: BTreeSet<String>,
}

impl Enabled {
    /// Every method of the connector.
    pub fn all() -> Self {
        Enabled {
            all: true,
            ..Enabled::default()
        }
    }

    /// Every method of these categories.
    pub fn categories<I, S>(ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Enabled {
            categories: ids.into_iter().map(Into::into).collect(),
            ..Enabled::default()
        }
    }

    /// These methods, by id.
    pub fn methods<I, S>(ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Enabled {
            methods: ids.into_iter().map(Into::into).collect(),
            ..Enabled::default()
        }
    }

    /// Also every method of this category.
    pub fn and_category(mut self, id: impl Into<String>) -> Self {
        self.categories.insert(id.into());
        self
    }

    /// Also this method.
    pub fn and_method(mut self, id: impl Into<String>) -> Self {
        self.methods.insert(id.into());
        self
    }

    /// Whether every method is enabled.
    pub fn is_all(&self) -> bool {
        self.all
    }
}

/// What an installation of one variant must ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentPlan {
    /// The variant's id.
    pub variant: String,
    /// Enabled methods the variant offers, in definition order.
    pub methods: Vec<String>,
    /// Methods enabled through a category that the variant does not offer.
    pub unsupported: Vec<String>,
    /// The least set of permissions, sorted: what the user consents to
    /// (delegated) or what an administrator grants (application).
    pub permissions: Vec<String>,
    /// The `scope` of the token request: resource-qualified permissions plus
    /// the variant's extra scopes (delegated), or `{graph}/.default`
    /// (application).
    pub scopes: Vec<String>,
}

/// Compute the consent plan for `variant` and the `enabled` methods.
///
/// `graph_resource` is the Graph origin of the installation's cloud
/// (`https://graph.microsoft.com`); plain `http` is accepted only for
/// loopback hosts (sandbox, tests). Fails with
/// [`ErrorKind::InvalidArgument`] for an unknown variant, category or method,
/// or a method named directly that the variant does not offer.
///
/// ```
/// # fn main() -> switchboard_core::Result<()> {
/// use switchboard_microsoft365::permissions::{consent_plan, Enabled};
/// # let def: switchboard_core::ConnectorDefinition = serde_json::from_value(serde_json::json!({
/// #   "id": "m", "name": "M", "version": "1.0.0", "description": "d",
/// #   "base_url": "https://graph.microsoft.us/v1.0", "allowed_hosts": ["graph.microsoft.us"],
/// #   "auth_variants": [{"id": "application", "name": "A", "kind": "oauth2_client_credentials",
/// #                      "principal": {"path": "/users/{user_id}", "parameters": [
/// #                        {"name": "user_id", "in": "path", "type": "string", "required": true}]}}],
/// #   "categories": [{"id": "mail", "name": "Mail"}],
/// #   "methods": [{"id": "mail.send_mail", "category": "mail", "name": "S", "description": "d",
/// #      "http_method": "POST", "path": "/{principal}/sendMail", "permissions": {"application": ["Mail.Send"]}}]
/// # })).unwrap();
/// let plan = consent_plan(&def, "application", &Enabled::all(), "https://graph.microsoft.us")?;
/// assert_eq!(plan.scopes, ["https://graph.microsoft.us/.default"]);
/// assert_eq!(plan.permissions, ["Mail.Send"]);
/// # Ok(()) }
/// ```
pub fn consent_plan(
    definition: &ConnectorDefinition,
    variant: &str,
    enabled: &Enabled,
    graph_resource: &str,
) -> Result<ConsentPlan> {
    let resource = graph_origin(graph_resource)?;
    let auth = definition.variant(variant).ok_or_else(|| {
        Error::invalid_argument(
            "variant",
            format!(
                "`{variant}` is not a variant of {}; use one of: {}",
                definition.id,
                variant_ids(definition)
            ),
        )
    })?;
    if !auth.uses_permissions() {
        return Err(Error::invalid_argument(
            "variant",
            format!("`{variant}` does not authenticate with OAuth permissions"),
        ));
    }
    let (methods, unsupported) = enabled_methods(definition, auth, enabled)?;
    let permissions = least_set(&methods, variant)?;
    let scopes = if auth.is_client_credentials() {
        vec![format!("{resource}/.default")]
    } else {
        let mut scopes: Vec<String> = permissions
            .iter()
            .map(|p| format!("{resource}/{p}"))
            .collect();
        for extra in &auth.extra_scopes {
            if !scopes.contains(extra) {
                scopes.push(extra.clone());
            }
        }
        if !scopes.iter().any(|s| s == OFFLINE_ACCESS) {
            scopes.push(OFFLINE_ACCESS.to_string());
        }
        scopes
    };
    Ok(ConsentPlan {
        variant: variant.to_string(),
        methods: methods.iter().map(|m| m.id.clone()).collect(),
        unsupported,
        permissions,
        scopes,
    })
}

fn variant_ids(definition: &ConnectorDefinition) -> String {
    definition
        .auth_variants
        .iter()
        .map(|v| v.id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The Graph origin without a trailing slash; https, or http on loopback.
fn graph_origin(graph_resource: &str) -> Result<String> {
    const ALLOWED: &str = "must be the Graph origin of the cloud, such as https://graph.microsoft.com \
                           (http only for a loopback host), without path, query or fragment";
    let url = Url::parse(graph_resource)
        .map_err(|_| Error::invalid_argument("graph_resource", ALLOWED))?;
    let loopback = matches!(
        url.host(),
        Some(url::Host::Ipv4(ip)) if ip.is_loopback()
    ) || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
        || url.host_str() == Some("localhost");
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
    if !scheme_ok
        || url.host_str().is_none()
        || !url.username().is_empty()
        || url.password().is_some()
        || url.path() != "/"
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(Error::invalid_argument("graph_resource", ALLOWED));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

type Selected<'a> = (Vec<&'a MethodDefinition>, Vec<String>);

fn enabled_methods<'a>(
    definition: &'a ConnectorDefinition,
    auth: &AuthVariant,
    enabled: &Enabled,
) -> Result<Selected<'a>> {
    for category in &enabled.categories {
        if !definition.categories.iter().any(|c| &c.id == category) {
            let known: Vec<&str> = definition
                .categories
                .iter()
                .map(|c| c.id.as_str())
                .collect();
            return Err(Error::invalid_argument(
                "category",
                format!(
                    "`{category}` is not a category; use one of: {}",
                    known.join(", ")
                ),
            ));
        }
    }
    for id in &enabled.methods {
        let method = definition.method(id).ok_or_else(|| {
            Error::invalid_argument(
                "method",
                format!("`{id}` is not a method of {}", definition.id),
            )
        })?;
        if !method.supports(&auth.id, &definition.auth_variants) {
            return Err(Error::invalid_argument(
                "method",
                format!(
                    "`{id}` is not available in the {} variant (Microsoft offers no permission for it there)",
                    auth.id
                ),
            ));
        }
    }
    let mut methods = Vec::new();
    let mut unsupported = Vec::new();
    for method in &definition.methods {
        let wanted = enabled.all
            || enabled.categories.contains(&method.category)
            || enabled.methods.contains(&method.id);
        if !wanted {
            continue;
        }
        if method.supports(&auth.id, &definition.auth_variants) {
            methods.push(method);
        } else {
            unsupported.push(method.id.clone());
        }
    }
    Ok((methods, unsupported))
}

fn least_set(methods: &[&MethodDefinition], variant: &str) -> Result<Vec<String>> {
    let mut chosen = BTreeSet::new();
    for method in methods {
        let first = method.permissions_for(variant).first().ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidDefinition,
                format!(
                    "method `{}` declares no permissions for the {variant} variant",
                    method.id
                ),
            )
        })?;
        chosen.insert(first.clone());
    }
    let tenant_wide = variant == "application";
    let covered = |set: &BTreeSet<String>| {
        methods
            .iter()
            .all(|m| m.permissions_for(variant).iter().any(|p| set.contains(p)))
    };
    loop {
        let mut candidates: Vec<String> = chosen.iter().cloned().collect();
        // Try the weakest permissions first.
        candidates.sort_by_key(|p| Permission::parse(p).strength(tenant_wide));
        let dropped = candidates.into_iter().find(|weaker| {
            let implied = chosen
                .iter()
                .any(|stronger| implies(stronger, weaker, tenant_wide));
            let mut without = chosen.clone();
            without.remove(weaker);
            implied && covered(&without)
        });
        match dropped {
            Some(p) => {
                chosen.remove(&p);
            }
            None => break,
        }
    }
    Ok(chosen.into_iter().collect())
}

/// Whether permission `stronger` allows everything `weaker` does, by the
/// naming rule described in the module docs. `tenant_wide` is true for
/// application permissions.
///
/// ```
/// use switchboard_microsoft365::permissions::implies;
///
/// assert!(implies("Mail.ReadWrite", "Mail.Read", false));
/// assert!(implies("Files.Read.All", "Files.Read", false));
/// assert!(!implies("Mail.Send", "Mail.Read", false));
/// assert!(!implies("User.ReadBasic.All", "User.Read", false));
/// assert!(implies("Mail.Read", "Mail.ReadBasic.All", true));
/// ```
pub fn implies(stronger: &str, weaker: &str, tenant_wide: bool) -> bool {
    if stronger == weaker {
        return false;
    }
    let (s, w) = (Permission::parse(stronger), Permission::parse(weaker));
    if s.resource != w.resource {
        return false;
    }
    let level_ok = match (s.level_rank(), w.level_rank()) {
        (Some(a), Some(b)) => a >= b,
        _ => s.level == w.level,
    };
    let reach_ok = match (s.reach_rank(tenant_wide), w.reach_rank(tenant_wide)) {
        (Some(a), Some(b)) => a >= b,
        _ => false,
    };
    level_ok && reach_ok
}

struct Permission<'a> {
    resource: &'a str,
    level: &'a str,
    reach: &'a str,
}

impl<'a> Permission<'a> {
    fn parse(name: &'a str) -> Self {
        let mut parts = name.splitn(3, '.');
        Permission {
            resource: parts.next().unwrap_or(""),
            level: parts.next().unwrap_or(""),
            reach: parts.next().unwrap_or(""),
        }
    }

    fn level_rank(&self) -> Option<u8> {
        match self.level {
            "ReadBasic" => Some(0),
            "Read" => Some(1),
            "ReadWrite" => Some(2),
            _ => None,
        }
    }

    fn reach_rank(&self, tenant_wide: bool) -> Option<u8> {
        match (self.reach, tenant_wide) {
            ("" | "All", true) => Some(2),
            ("", false) => Some(0),
            ("Shared", _) => Some(1),
            ("All", false) => Some(2),
            _ => None,
        }
    }

    fn strength(&self, tenant_wide: bool) -> (u8, u8) {
        (
            self.level_rank().unwrap_or(u8::MAX),
            self.reach_rank(tenant_wide).unwrap_or(u8::MAX),
        )
    }
}

/// Marker comments around the generated table in
/// `docs/connectors/microsoft365.md`.
pub const TABLE_BEGIN: &str = "<!-- BEGIN GENERATED: permission table (SWITCHBOARD_UPDATE_DOCS=1 cargo test -p switchboard-microsoft365) -->";
/// See [`TABLE_BEGIN`].
pub const TABLE_END: &str = "<!-- END GENERATED: permission table -->";

/// The permission table of the docs, in Markdown: per category, each method
/// with its HTTP method, path and permissions per variant (the first one is
/// the one consent asks for; the others also work), followed by what
/// enabling a whole category asks for in each variant.
///
/// ```
/// # let def: switchboard_core::ConnectorDefinition = serde_json::from_value(serde_json::json!({
/// #   "id": "m", "name": "M", "version": "1.0.0", "description": "d",
/// #   "base_url": "https://graph.microsoft.com/v1.0", "allowed_hosts": ["graph.microsoft.com"],
/// #   "auth_variants": [{"id": "delegated", "name": "D", "kind": "oauth2_authorization_code",
/// #                      "principal": {"path": "/me"}, "extra_scopes": ["offline_access"]}],
/// #   "categories": [{"id": "mail", "name": "Mail"}],
/// #   "methods": [{"id": "mail.send_mail", "category": "mail", "name": "Send mail", "description": "d",
/// #      "http_method": "POST", "path": "/{principal}/sendMail", "permissions": {"delegated": ["Mail.Send"]}}]
/// # })).unwrap();
/// let table = switchboard_microsoft365::permissions::permission_table(&def).unwrap();
/// assert!(table.contains("| `mail.send_mail` | Send mail | `POST /{principal}/sendMail` | **Mail.Send** |"));
/// ```
pub fn permission_table(definition: &ConnectorDefinition) -> Result<String> {
    let variants: Vec<&AuthVariant> = definition
        .auth_variants
        .iter()
        .filter(|v| v.uses_permissions())
        .collect();
    let mut out = String::new();
    let header = |out: &mut String, first: &[&str]| {
        let cols: Vec<String> = first
            .iter()
            .map(|s| s.to_string())
            .chain(variants.iter().map(|v| capitalise(&v.id)))
            .collect();
        let _ = writeln!(out, "| {} |", cols.join(" | "));
        let _ = writeln!(out, "|{}", "---|".repeat(cols.len()));
    };
    for category in &definition.categories {
        let _ = writeln!(out, "### {}\n", category.name);
        header(&mut out, &["Method", "Name", "Request"]);
        for method in definition
            .methods
            .iter()
            .filter(|m| m.category == category.id)
        {
            let cells: Vec<String> = variants
                .iter()
                .map(|v| {
                    if !method.supports(&v.id, &definition.auth_variants) {
                        return "not available".to_string();
                    }
                    method
                        .permissions_for(&v.id)
                        .iter()
                        .enumerate()
                        .map(|(i, p)| {
                            if i == 0 {
                                format!("**{p}**")
                            } else {
                                p.clone()
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .collect();
            let _ = writeln!(
                out,
                "| `{}` | {} | `{} {}` | {} |",
                method.id,
                method.name,
                method.http_method,
                method.path,
                cells.join(" | ")
            );
        }
        out.push('\n');
    }
    let _ = writeln!(out, "### Asked for when a whole category is enabled\n");
    header(&mut out, &["Categories"]);
    let mut rows: Vec<(String, Enabled)> = definition
        .categories
        .iter()
        .map(|c| (c.name.clone(), Enabled::categories([c.id.clone()])))
        .collect();
    rows.push(("All".to_string(), Enabled::all()));
    let resource = default_graph_resource();
    for (name, enabled) in rows {
        let cells = variants
            .iter()
            .map(|v| {
                consent_plan(definition, &v.id, &enabled, &resource)
                    .map(|plan| plan.permissions.join(", "))
            })
            .collect::<Result<Vec<_>>>()?;
        let _ = writeln!(out, "| {name} | {} |", cells.join(" | "));
    }
    Ok(out)
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Replace what lies between [`TABLE_BEGIN`] and [`TABLE_END`] in `document`
/// with `table`. Fails with [`ErrorKind::InvalidArgument`] when the markers
/// are missing or out of order.
///
/// ```
/// use switchboard_microsoft365::permissions::{replace_table, TABLE_BEGIN, TABLE_END};
///
/// let doc = format!("intro\n{TABLE_BEGIN}\nold\n{TABLE_END}\nend\n");
/// let new = replace_table(&doc, "| new |\n").unwrap();
/// assert_eq!(new, format!("intro\n{TABLE_BEGIN}\n\n| new |\n\n{TABLE_END}\nend\n"));
/// ```
pub fn replace_table(document: &str, table: &str) -> Result<String> {
    let (before, rest) = document.split_once(TABLE_BEGIN).ok_or_else(|| {
        Error::invalid_argument("document", format!("must contain the marker {TABLE_BEGIN}"))
    })?;
    let (_, after) = rest.split_once(TABLE_END).ok_or_else(|| {
        Error::invalid_argument(
            "document",
            format!("must contain the marker {TABLE_END} after {TABLE_BEGIN}"),
        )
    })?;
    Ok(format!(
        "{before}{TABLE_BEGIN}\n\n{}\n\n{TABLE_END}{after}",
        table.trim_end()
    ))
}

/// The generated table currently in `document`, if the markers are there.
///
/// ```
/// use switchboard_microsoft365::permissions::{current_table, TABLE_BEGIN, TABLE_END};
///
/// let doc = format!("{TABLE_BEGIN}\n\n| t |\n\n{TABLE_END}\n");
/// assert_eq!(current_table(&doc), Some("| t |"));
/// ```
pub fn current_table(document: &str) -> Option<&str> {
    let (_, rest) = document.split_once(TABLE_BEGIN)?;
    let (table, _) = rest.split_once(TABLE_END)?;
    Some(table.trim())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use switchboard_core::definition::MethodFile;

    /// The global cloud's Graph resource, written out (the code reads it
    /// from the definition: [`default_graph_resource`]).
    const GLOBAL_GRAPH_RESOURCE: &str = "https://graph.microsoft.com";

    #[test]
    fn the_default_graph_resource_is_the_global_clouds() {
        assert_eq!(default_graph_resource(), GLOBAL_GRAPH_RESOURCE);
    }

    fn connector() -> ConnectorDefinition {
        let mut def: ConnectorDefinition =
            serde_json::from_str(include_str!("../definitions/connector.json")).unwrap();
        for (name, text) in crate::DEFINITION_FILES {
            if *name == "definitions/connector.json" {
                continue;
            }
            let file: MethodFile = serde_json::from_str(text).unwrap();
            def.methods.extend(file.methods);
        }
        def
    }

    fn plan(variant: &str, enabled: Enabled) -> ConsentPlan {
        consent_plan(&connector(), variant, &enabled, GLOBAL_GRAPH_RESOURCE).unwrap()
    }

    #[test]
    fn delegated_mail_asks_for_resource_qualified_scopes_and_offline_access() {
        let plan = plan("delegated", Enabled::categories(["mail"]));
        // Mail.ReadBasic is covered by Mail.Read; Mail.Read stays because
        // get_message and list_attachments are not granted by Mail.ReadWrite.
        assert_eq!(
            plan.permissions,
            [
                "Mail.Read",
                "Mail.ReadWrite",
                "Mail.Send",
                "MailboxSettings.Read"
            ]
        );
        assert_eq!(
            plan.scopes,
            [
                "https://graph.microsoft.com/Mail.Read",
                "https://graph.microsoft.com/Mail.ReadWrite",
                "https://graph.microsoft.com/Mail.Send",
                "https://graph.microsoft.com/MailboxSettings.Read",
                "offline_access",
                "openid",
            ]
        );
        assert!(plan.unsupported.is_empty());
        assert_eq!(plan.methods.len(), 17);
    }

    #[test]
    fn a_read_only_selection_asks_only_for_the_least_permission() {
        let plan = plan(
            "delegated",
            Enabled::methods(["mail.list_messages", "mail.list_mail_folders"]),
        );
        assert_eq!(plan.permissions, ["Mail.ReadBasic"]);
        let plan = super::consent_plan(
            &connector(),
            "application",
            &Enabled::methods(["mail.list_messages"]),
            GLOBAL_GRAPH_RESOURCE,
        )
        .unwrap();
        assert_eq!(plan.permissions, ["Mail.ReadBasic.All"]);
        assert_eq!(plan.scopes, ["https://graph.microsoft.com/.default"]);
    }

    #[test]
    fn readwrite_covers_read_of_the_same_resource() {
        let plan = plan("delegated", Enabled::categories(["onedrive"]));
        assert_eq!(plan.permissions, ["Files.ReadWrite"]);
        let plan = self::plan("application", Enabled::categories(["onedrive"]));
        // Files.ReadWrite.All covers every method, the upload session included.
        assert_eq!(plan.permissions, ["Files.ReadWrite.All"]);
    }

    #[test]
    fn application_permissions_are_tenant_wide_whatever_their_suffix() {
        let plan = plan(
            "application",
            Enabled::methods(["mail.list_messages", "mail.get_message"]),
        );
        // Mail.Read (application) reads every mailbox in full, so it covers Mail.ReadBasic.All.
        assert_eq!(plan.permissions, ["Mail.Read"]);
    }

    #[test]
    fn a_permission_is_kept_when_the_stronger_one_does_not_grant_a_method() {
        // users.list_member_of is granted by User.Read but not by User.Read.All
        // in Microsoft's reference, so both stay.
        let plan = plan("delegated", Enabled::categories(["users"]));
        // User.ReadBasic.All (list users) is covered by User.Read.All.
        assert_eq!(plan.permissions, ["User.Read", "User.Read.All"]);
        let plan = self::plan("application", Enabled::categories(["users"]));
        assert_eq!(
            plan.permissions,
            [
                "Directory.Read.All",
                "ProfilePhoto.Read.All",
                "User.Read.All"
            ]
        );
        let plan = self::plan(
            "delegated",
            Enabled::methods(["users.get_user", "users.get_manager"]),
        );
        assert_eq!(plan.permissions, ["User.Read.All"]);
    }

    #[test]
    fn application_calendars_skip_find_meeting_times_and_report_it() {
        let plan = plan("application", Enabled::categories(["calendars"]));
        assert_eq!(plan.unsupported, ["calendars.find_meeting_times"]);
        assert_eq!(plan.permissions, ["Calendars.Read", "Calendars.ReadWrite"]);
        let delegated = self::plan("delegated", Enabled::categories(["calendars"]));
        assert_eq!(
            delegated.permissions,
            [
                "Calendars.Read",
                "Calendars.Read.Shared",
                "Calendars.ReadWrite"
            ]
        );
    }

    #[test]
    fn every_pair_of_methods_stays_covered_in_both_variants() {
        let def = connector();
        for variant in ["delegated", "application"] {
            let ids: Vec<&str> = def
                .methods
                .iter()
                .filter(|m| m.supports(variant, &def.auth_variants))
                .map(|m| m.id.as_str())
                .collect();
            for a in &ids {
                for b in &ids {
                    let plan = consent_plan(
                        &def,
                        variant,
                        &Enabled::methods([*a, *b]),
                        GLOBAL_GRAPH_RESOURCE,
                    )
                    .unwrap();
                    for id in [a, b] {
                        let declared = def.method(id).unwrap().permissions_for(variant);
                        assert!(
                            declared.iter().any(|p| plan.permissions.contains(p)),
                            "{variant}: {a} + {b} -> {:?} leaves {id} without a permission",
                            plan.permissions
                        );
                    }
                }
            }
            let all = consent_plan(&def, variant, &Enabled::all(), GLOBAL_GRAPH_RESOURCE).unwrap();
            for id in &ids {
                let declared = def.method(id).unwrap().permissions_for(variant);
                assert!(
                    declared.iter().any(|p| all.permissions.contains(p)),
                    "{variant}: all leaves {id} uncovered"
                );
            }
        }
    }

    #[test]
    fn the_graph_resource_follows_the_cloud() {
        let def = connector();
        let us = consent_plan(
            &def,
            "delegated",
            &Enabled::methods(["users.get_user"]),
            "https://graph.microsoft.us/",
        )
        .unwrap();
        assert_eq!(us.scopes[0], "https://graph.microsoft.us/User.Read");
        let cn = consent_plan(
            &def,
            "application",
            &Enabled::all(),
            "https://microsoftgraph.chinacloudapi.cn",
        )
        .unwrap();
        assert_eq!(
            cn.scopes,
            ["https://microsoftgraph.chinacloudapi.cn/.default"]
        );
        let sandbox = consent_plan(
            &def,
            "application",
            &Enabled::all(),
            "http://127.0.0.1:8080",
        )
        .unwrap();
        assert_eq!(sandbox.scopes, ["http://127.0.0.1:8080/.default"]);
        for bad in [
            "http://graph.microsoft.com",
            "https://graph.microsoft.com/v1.0",
            "graph.microsoft.com",
            "https://graph.microsoft.com/?x=1",
        ] {
            let err = consent_plan(&def, "delegated", &Enabled::all(), bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad}");
            assert_eq!(err.field(), Some("graph_resource"), "{bad}");
        }
    }

    #[test]
    fn bad_selections_name_the_field_and_what_is_allowed() {
        let def = connector();
        let err = consent_plan(&def, "robot", &Enabled::all(), GLOBAL_GRAPH_RESOURCE).unwrap_err();
        assert_eq!(err.field(), Some("variant"));
        assert!(
            err.message().contains("delegated, application"),
            "{}",
            err.message()
        );
        let err = consent_plan(
            &def,
            "delegated",
            &Enabled::categories(["crm"]),
            GLOBAL_GRAPH_RESOURCE,
        )
        .unwrap_err();
        assert_eq!(err.field(), Some("category"));
        assert!(
            err.message()
                .contains("users, calendars, mail, onedrive, contacts, subscriptions"),
            "{}",
            err.message()
        );
        let err = consent_plan(
            &def,
            "delegated",
            &Enabled::methods(["mail.nope"]),
            GLOBAL_GRAPH_RESOURCE,
        )
        .unwrap_err();
        assert_eq!(err.field(), Some("method"));
        let err = consent_plan(
            &def,
            "application",
            &Enabled::methods(["calendars.find_meeting_times"]),
            GLOBAL_GRAPH_RESOURCE,
        )
        .unwrap_err();
        assert_eq!(err.field(), Some("method"));
        assert!(
            err.message()
                .contains("not available in the application variant"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn nothing_enabled_asks_only_for_the_extra_scopes() {
        let plan = plan("delegated", Enabled::default());
        assert!(plan.permissions.is_empty());
        assert_eq!(plan.scopes, ["offline_access", "openid"]);
    }

    #[test]
    fn implication_follows_level_and_reach() {
        assert!(implies("Calendars.ReadWrite", "Calendars.ReadBasic", false));
        assert!(implies("Calendars.Read.Shared", "Calendars.Read", false));
        assert!(!implies("Calendars.Read", "Calendars.Read.Shared", false));
        assert!(!implies("Calendars.Read", "Calendars.Read", false));
        assert!(!implies("Files.ReadWrite", "Files.Read.All", false));
        assert!(implies("Files.ReadWrite.All", "Files.Read.All", true));
        assert!(!implies("Sites.ReadWrite.All", "Files.ReadWrite.All", true));
        assert!(!implies("MailboxSettings.ReadWrite", "Mail.Read", false));
        assert!(!implies("User.ReadWrite.CrossCloud", "User.Read", true));
    }

    #[test]
    fn the_table_lists_every_method_once_with_its_first_permission_in_bold() {
        let def = connector();
        let table = permission_table(&def).unwrap();
        for m in &def.methods {
            assert_eq!(
                table.matches(&format!("| `{}` |", m.id)).count(),
                1,
                "{}",
                m.id
            );
        }
        assert!(table.contains(
            "| `calendars.find_meeting_times` | Find meeting times | `POST /{principal}/findMeetingTimes` | \
             **Calendars.Read.Shared**, Calendars.ReadWrite.Shared | not available |"
        ));
        assert!(
            table.contains("| Mail | Mail.Read, Mail.ReadWrite, Mail.Send, MailboxSettings.Read |")
        );
    }
}
