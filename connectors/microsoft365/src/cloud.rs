//! Microsoft clouds: which login host issues tokens and which Graph host
//! receives them.
//!
//! | cloud | login | Graph |
//! |---|---|---|
//! | [`Cloud::Global`] | `login.microsoftonline.com` | `graph.microsoft.com` |
//! | [`Cloud::UsGovernment`] (L4, GCC High) | `login.microsoftonline.us` | `graph.microsoft.us` |
//! | [`Cloud::UsGovernmentDod`] (L5, DoD) | `login.microsoftonline.us` | `dod-graph.microsoft.us` |
//! | [`Cloud::China`] (21Vianet) | `login.partner.microsoftonline.cn` | `microsoftgraph.chinacloudapi.cn` |
//! | [`Cloud::Custom`] | given | given |
//!
//! **China login host.** Microsoft's sources disagree: the Graph
//! "national cloud deployments" page (2021) lists `login.chinacloudapi.cn`,
//! while the Microsoft Entra "national clouds" page of the identity
//! platform (docs.azure.cn, `authentication-national-cloud`, updated 2026)
//! lists `login.partner.microsoftonline.cn` as the authentication endpoint
//! of Microsoft Entra operated by 21Vianet and uses it in its authorize and
//! token examples. We follow the identity platform's own, newer page: it is
//! the authority on where tokens come from, and `login.chinacloudapi.cn`
//! appears only in older SDK enums and the older Graph page. A platform that
//! needs the other host can configure it with [`Cloud::Custom`].
//!
//! The cloud also decides where bearer tokens may go ([`Cloud::endpoints`]:
//! the Graph host only) and how scopes are spelled
//! (`https://graph.microsoft.us/User.Read`, `https://graph.microsoft.us/.default`).
//!
//! **One way to read an installation's cloud**: [`Cloud::from_parts`], from
//! the cloud's name and the `login_url` / `graph_url` settings. Every entry
//! point goes through it: the connector's endpoints hook
//! ([`Cloud::from_settings`], used by `Engine::installation` and the
//! lifecycle service) and the install flow's credentials, so a token of one
//! cloud is never sent to another cloud's Graph host.
//!
//! ```
//! use switchboard_microsoft365::cloud::Cloud;
//!
//! let cloud = Cloud::from_name("usgov").unwrap();
//! assert_eq!(cloud.default_scope(), "https://graph.microsoft.us/.default");
//! assert_eq!(cloud.scope("User.Read"), "https://graph.microsoft.us/User.Read");
//! assert_eq!(cloud.endpoints().allowed_hosts, vec!["graph.microsoft.us".to_string()]);
//! ```

use std::net::IpAddr;

use serde_json::Value;
use switchboard_core::connector::{Endpoints, Settings};
use switchboard_core::{Error, Result};
use url::Url;

/// OpenID Connect scopes, sent without a resource prefix.
const OIDC_SCOPES: [&str; 4] = ["openid", "offline_access", "profile", "email"];

/// The setting naming the cloud (`global`, `usgov`, `china`, `custom`...).
pub const CLOUD: &str = "cloud";
/// The identity origin of a custom cloud.
pub const LOGIN_URL: &str = "login_url";
/// The Graph origin of a custom cloud.
pub const GRAPH_URL: &str = "graph_url";

/// The cloud names: each row is the canonical name (the one stored and
/// shown), then the aliases also accepted. Names are compared ignoring
/// case and surrounding spaces. `custom` (explicit endpoints) is a name too.
pub const CLOUD_NAMES: &[(&str, &[&str])] = &[
    ("global", &["public"]),
    (
        "usgov",
        &["us_government", "us_government_l4", "gcc_high", "gcc-high"],
    ),
    (
        "usgov-dod",
        &["usgov_dod", "us_government_dod", "us_government_l5", "dod"],
    ),
    ("china", &["21vianet"]),
    ("custom", &[]),
];

/// The canonical name of a cloud name or alias ([`CLOUD_NAMES`]): `global`,
/// `usgov`, `usgov-dod`, `china` or `custom`. Case and surrounding spaces
/// do not matter; a typo gets a suggestion.
///
/// ```
/// use switchboard_microsoft365::cloud::canonical_name;
/// assert_eq!(canonical_name(" USGov ").unwrap(), "usgov");
/// assert_eq!(canonical_name("US_Government_DoD").unwrap(), "usgov-dod");
/// assert_eq!(canonical_name("mars").unwrap_err().field(), Some("cloud"));
/// let err = canonical_name("usgovv").unwrap_err();
/// assert!(err.to_string().contains("did you mean `usgov`?"), "{err}");
/// ```
pub fn canonical_name(name: &str) -> Result<&'static str> {
    let wanted = name.trim().to_ascii_lowercase();
    for (canonical, aliases) in CLOUD_NAMES {
        if *canonical == wanted || aliases.contains(&wanted.as_str()) {
            return Ok(canonical);
        }
    }
    let all = CLOUD_NAMES
        .iter()
        .flat_map(|(c, a)| std::iter::once(*c).chain(a.iter().copied()));
    let hint = switchboard_core::suggest::similar(&wanted, all)
        .and_then(|alias| canonical_name(alias).ok())
        .map(|c| format!("did you mean `{c}`? "))
        .unwrap_or_default();
    let names: Vec<&str> = CLOUD_NAMES.iter().map(|(c, _)| *c).collect();
    Err(Error::invalid_argument(
        CLOUD,
        format!(
            "`{}` is not a cloud; {hint}(known: {}; `custom` needs `{LOGIN_URL}` and `{GRAPH_URL}`)",
            name.trim(),
            names.join(", ")
        ),
    ))
}

/// A Microsoft cloud (national cloud or explicit endpoints).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cloud {
    /// The global service.
    Global,
    /// US Government L4 (GCC High).
    UsGovernment,
    /// US Government L5 (DoD).
    UsGovernmentDod,
    /// China, operated by 21Vianet.
    China,
    /// Explicit login and Graph base URLs (sovereign deployments, the
    /// sandbox, tests).
    Custom(CustomCloud),
}

/// Explicit endpoints. `https` only, except loopback hosts (`127.0.0.1`,
/// `::1`, `localhost`) which may use plain `http`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomCloud {
    login: Url,
    graph: Url,
}

impl CustomCloud {
    /// Explicit login and Graph base URLs (origins: scheme, host, port).
    ///
    /// ```
    /// use switchboard_microsoft365::cloud::CustomCloud;
    /// assert!(CustomCloud::new("http://127.0.0.1:8080", "http://127.0.0.1:8081").is_ok());
    /// let err = CustomCloud::new("http://login.example.com", "https://graph.example.com").unwrap_err();
    /// assert_eq!(err.field(), Some("login_url"));
    /// ```
    pub fn new(login_url: &str, graph_url: &str) -> Result<Self> {
        Ok(CustomCloud {
            login: origin_url("login_url", login_url)?,
            graph: origin_url("graph_url", graph_url)?,
        })
    }
}

fn origin_url(field: &str, value: &str) -> Result<Url> {
    let url = Url::parse(value).map_err(|_| {
        Error::invalid_argument(
            field,
            "must be an absolute URL such as https://login.example.com",
        )
    })?;
    let host = url
        .host_str()
        .ok_or_else(|| Error::invalid_argument(field, "must name a host"))?;
    let loopback = is_loopback(host);
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err(Error::invalid_argument(
                field,
                "must use https (plain http is allowed only for a loopback host such as 127.0.0.1)",
            ));
        }
    }
    if !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
        || !(url.path() == "/" || url.path().is_empty())
    {
        return Err(Error::invalid_argument(
            field,
            "must be an origin only (scheme, host and optional port), without user, path, query or fragment",
        ));
    }
    Ok(url)
}

fn is_loopback(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn fixed(url: &str) -> Url {
    // The fixed cloud URLs are constants that parse.
    Url::parse(url).unwrap_or_else(|_| unreachable!("constant cloud URL {url} parses"))
}

impl Cloud {
    /// A national cloud by name or alias ([`canonical_name`]): `global`,
    /// `usgov` (L4), `usgov-dod` (L5) or `china`. `custom` needs its URLs:
    /// see [`Cloud::from_parts`].
    pub fn from_name(name: &str) -> Result<Cloud> {
        Cloud::from_parts(Some(name), None, None)
    }

    /// The cloud of a name and a custom cloud's URLs, by one set of rules:
    ///
    /// - a national cloud's name, without URLs;
    /// - `custom` with both `login_url` and `graph_url`;
    /// - no name: `global`, or `custom` when both URLs are given.
    ///
    /// Anything else is an error naming the field at fault.
    ///
    /// ```
    /// use switchboard_microsoft365::cloud::Cloud;
    /// assert_eq!(Cloud::from_parts(Some("china"), None, None).unwrap(), Cloud::China);
    /// assert_eq!(Cloud::from_parts(None, None, None).unwrap(), Cloud::Global);
    /// let custom = Cloud::from_parts(Some("custom"), Some("http://127.0.0.1:9"), Some("http://127.0.0.1:9")).unwrap();
    /// assert_eq!(custom.graph_url().as_str(), "http://127.0.0.1:9/");
    /// let err = Cloud::from_parts(Some("custom"), Some("http://127.0.0.1:9"), None).unwrap_err();
    /// assert_eq!(err.field(), Some("graph_url"));
    /// let err = Cloud::from_parts(Some("global"), Some("https://login.example.com"), None).unwrap_err();
    /// assert_eq!(err.field(), Some("login_url"));
    /// ```
    pub fn from_parts(
        name: Option<&str>,
        login: Option<&str>,
        graph: Option<&str>,
    ) -> Result<Cloud> {
        let name = match name {
            Some(name) => canonical_name(name)?,
            None if login.is_some() || graph.is_some() => "custom",
            None => "global",
        };
        match (name, login, graph) {
            ("custom", Some(login), Some(graph)) => {
                Ok(Cloud::Custom(CustomCloud::new(login, graph)?))
            }
            ("custom", None, _) => Err(Error::invalid_argument(
                LOGIN_URL,
                "is required with cloud `custom` (the identity service's origin, such as https://login.example.com)",
            )),
            ("custom", _, None) => Err(Error::invalid_argument(
                GRAPH_URL,
                "is required with cloud `custom` (the Graph origin, such as https://graph.example.com)",
            )),
            (name, Some(_), _) | (name, _, Some(_)) => {
                let field = if login.is_some() {
                    LOGIN_URL
                } else {
                    GRAPH_URL
                };
                Err(Error::invalid_argument(
                    field,
                    format!(
                        "is only allowed with cloud `custom` (this installation uses `{name}`)"
                    ),
                ))
            }
            ("usgov", None, None) => Ok(Cloud::UsGovernment),
            ("usgov-dod", None, None) => Ok(Cloud::UsGovernmentDod),
            ("china", None, None) => Ok(Cloud::China),
            _ => Ok(Cloud::Global),
        }
    }

    /// The canonical name ([`CLOUD_NAMES`]).
    ///
    /// ```
    /// use switchboard_microsoft365::cloud::Cloud;
    /// assert_eq!(Cloud::from_name("us_government_l5").unwrap().name(), "usgov-dod");
    /// ```
    pub fn name(&self) -> &'static str {
        match self {
            Cloud::Global => "global",
            Cloud::UsGovernment => "usgov",
            Cloud::UsGovernmentDod => "usgov-dod",
            Cloud::China => "china",
            Cloud::Custom(_) => "custom",
        }
    }

    /// The cloud an installation's settings select: [`CLOUD`] (default
    /// `global`), and [`LOGIN_URL`] + [`GRAPH_URL`] for a custom cloud.
    /// The connector's endpoints hook reads the cloud this way.
    ///
    /// ```
    /// use serde_json::json;
    /// use switchboard_microsoft365::cloud::Cloud;
    /// let settings = json!({"cloud": "china"}).as_object().unwrap().clone();
    /// assert_eq!(Cloud::from_settings(&settings).unwrap(), Cloud::China);
    /// let settings = json!({"cloud": "custom", "login_url": "http://127.0.0.1:8400",
    ///     "graph_url": "http://127.0.0.1:8401"}).as_object().unwrap().clone();
    /// assert_eq!(Cloud::from_settings(&settings).unwrap().graph_url().as_str(), "http://127.0.0.1:8401/");
    /// ```
    pub fn from_settings(settings: &Settings) -> Result<Cloud> {
        let text = |name: &str| -> Result<Option<&str>> {
            match settings.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(Error::invalid_argument(name, "must be a string")),
            }
        };
        Cloud::from_parts(text(CLOUD)?, text(LOGIN_URL)?, text(GRAPH_URL)?)
    }

    /// The login (authority) base URL.
    pub fn login_url(&self) -> Url {
        match self {
            Cloud::Global => fixed("https://login.microsoftonline.com/"),
            Cloud::UsGovernment | Cloud::UsGovernmentDod => {
                fixed("https://login.microsoftonline.us/")
            }
            Cloud::China => fixed("https://login.partner.microsoftonline.cn/"),
            Cloud::Custom(c) => c.login.clone(),
        }
    }

    /// The Graph base URL (origin).
    pub fn graph_url(&self) -> Url {
        match self {
            Cloud::Global => fixed("https://graph.microsoft.com/"),
            Cloud::UsGovernment => fixed("https://graph.microsoft.us/"),
            Cloud::UsGovernmentDod => fixed("https://dod-graph.microsoft.us/"),
            Cloud::China => fixed("https://microsoftgraph.chinacloudapi.cn/"),
            Cloud::Custom(c) => c.graph.clone(),
        }
    }

    /// The authority as a string without trailing slash (part of the
    /// token cache key).
    pub fn authority(&self) -> String {
        self.login_url().as_str().trim_end_matches('/').to_string()
    }

    fn graph_origin(&self) -> String {
        self.graph_url().as_str().trim_end_matches('/').to_string()
    }

    /// A Graph permission as a scope of this cloud
    /// (`https://graph.microsoft.com/User.Read`). OpenID Connect scopes
    /// (`openid`, `offline_access`, `profile`, `email`) stay as they are.
    pub fn scope(&self, permission: &str) -> String {
        if OIDC_SCOPES.contains(&permission) {
            return permission.to_string();
        }
        format!("{}/{}", self.graph_origin(), permission)
    }

    /// `{graph}/.default`: every permission consented for the application.
    pub fn default_scope(&self) -> String {
        self.scope(".default")
    }

    /// Where Graph calls go and which hosts may receive the bearer token:
    /// the cloud's Graph host, and nothing else.
    pub fn endpoints(&self) -> Endpoints {
        let graph = self.graph_url();
        let base_url = graph
            .join("v1.0")
            .unwrap_or_else(|_| unreachable!("joining a constant path to an origin"));
        Endpoints {
            base_url,
            allowed_hosts: graph.host_str().map(str::to_string).into_iter().collect(),
        }
    }

    fn tenant_url(&self, tenant: &str, path: &str) -> Result<Url> {
        // The tenant was validated (GUID, domain, `organizations`, `common`).
        self.login_url()
            .join(&format!("{tenant}/{path}"))
            .map_err(|_| Error::invalid_argument("tenant_id", "cannot form a login URL"))
    }

    /// `{login}/{tenant}/oauth2/v2.0/authorize`.
    pub fn authorize_url(&self, tenant: &crate::tenant::TenantId) -> Result<Url> {
        self.tenant_url(tenant.as_str(), "oauth2/v2.0/authorize")
    }

    /// `{login}/{tenant}/oauth2/v2.0/token`.
    pub fn token_url(&self, tenant: &crate::tenant::TenantId) -> Result<Url> {
        self.tenant_url(tenant.as_str(), "oauth2/v2.0/token")
    }

    /// `{login}/{tenant}/v2.0/adminconsent`.
    pub fn admin_consent_url(&self, tenant: &crate::tenant::TenantId) -> Result<Url> {
        self.tenant_url(tenant.as_str(), "v2.0/adminconsent")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_clouds_have_their_hosts() {
        let cases = [
            (
                Cloud::Global,
                "login.microsoftonline.com",
                "graph.microsoft.com",
            ),
            (
                Cloud::UsGovernment,
                "login.microsoftonline.us",
                "graph.microsoft.us",
            ),
            (
                Cloud::UsGovernmentDod,
                "login.microsoftonline.us",
                "dod-graph.microsoft.us",
            ),
            (
                Cloud::China,
                "login.partner.microsoftonline.cn",
                "microsoftgraph.chinacloudapi.cn",
            ),
        ];
        for (cloud, login, graph) in cases {
            assert_eq!(cloud.login_url().host_str(), Some(login));
            assert_eq!(cloud.endpoints().allowed_hosts, vec![graph.to_string()]);
            assert_eq!(
                cloud.endpoints().base_url.as_str(),
                format!("https://{graph}/v1.0")
            );
            assert_eq!(cloud.default_scope(), format!("https://{graph}/.default"));
        }
        assert_eq!(Cloud::Global.scope("offline_access"), "offline_access");
    }

    #[test]
    fn custom_cloud_allows_http_only_on_loopback() {
        assert!(CustomCloud::new("http://[::1]:9", "http://localhost:8").is_ok());
        let err = CustomCloud::new("https://login.example.com", "http://10.0.0.1").unwrap_err();
        assert_eq!(err.field(), Some("graph_url"));
        let err =
            CustomCloud::new("https://login.example.com/x?y", "https://g.example.com").unwrap_err();
        assert_eq!(err.field(), Some("login_url"));
        assert_eq!(Cloud::from_name("mars").unwrap_err().field(), Some("cloud"));
        assert_eq!(
            Cloud::from_name("custom").unwrap_err().field(),
            Some("login_url")
        );
        assert_eq!(Cloud::from_name("usgov").unwrap(), Cloud::UsGovernment);
        assert_eq!(
            Cloud::from_name("us_government_l5").unwrap(),
            Cloud::UsGovernmentDod
        );
    }
}
