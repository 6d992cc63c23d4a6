//! Microsoft clouds: which login host issues tokens and which Graph host
//! receives them.
//!
//! **The clouds are data.** `definitions/connector.json` declares them as
//! the connector's `deployments` (chosen by the installation's `cloud`,
//! with their aliases), and its variants' `oauth2` endpoints and
//! `scope_prefix` are templates over the chosen cloud's origins
//! (`{identity_origin}/{tenant_id}/oauth2/v2.0/token`). [`Cloud`] is a
//! typed view over that data: every origin it returns is read from the
//! embedded definition; no login or Graph URL is written in this crate's
//! code. The table below is what the definition declares:
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
//! **Sources.** Global, US Government L4/L5 and China Graph hosts: Graph
//! docs, `concepts/deployments.md` (2021-07, "Microsoft Graph national
//! cloud deployments"); login hosts: the same page, except China (above).
//! The v2.0 endpoints (`/{tenant}/oauth2/v2.0/authorize`, `/token`):
//! `concepts/auth-v2-user.md` and `auth-v2-service.md` (2021-07). The admin
//! consent endpoint `/{tenant}/v2.0/adminconsent` (v2.0, with `scope`) is
//! the identity platform's v2.0 form; the 2021 Graph page shows the older
//! `/{tenant}/adminconsent`, which takes no `scope`.
//!
//! **One way to read an installation's cloud**: [`Cloud::from_parts`], from
//! the cloud's name and the `login_url` / `graph_url` settings, which asks
//! the definition's deployments ([`Deployments::resolve`], the rules every
//! connector with deployments follows). Every entry point goes through it:
//! the connector's endpoints (the default, data-driven ones, used by
//! `Engine::installation` and the lifecycle service) and the install flow's
//! credentials, so a token of one cloud is never sent to another cloud's
//! Graph host.
//!
//! ```
//! use switchboard_microsoft365::cloud::Cloud;
//!
//! let cloud = Cloud::from_name("usgov").unwrap();
//! assert_eq!(cloud.default_scope(), "https://graph.microsoft.us/.default");
//! assert_eq!(cloud.scope("User.Read"), "https://graph.microsoft.us/User.Read");
//! assert_eq!(cloud.endpoints().allowed_hosts, vec!["graph.microsoft.us".to_string()]);
//! ```

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde_json::Value;
use switchboard_core::connector::{Endpoints, Settings};
use switchboard_core::definition::ConnectorDefinition;
use switchboard_core::definition::deployments::{ChosenDeployment, Deployments, check_origin};
use switchboard_core::definition::oauth2::OAuth2Auth;
use switchboard_core::render::url_template::fill_in;
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

/// The connector file's header (variants, deployments), parsed once. The
/// same text is validated whenever the connector is built
/// ([`crate::Microsoft365::new`]); a unit test keeps it parseable.
static HEADER: LazyLock<ConnectorDefinition> = LazyLock::new(|| {
    serde_json::from_str(crate::DEFINITION_FILES[0].1)
        .unwrap_or_else(|e| unreachable!("the embedded connector.json parses: {e}"))
});

/// The national clouds' origins, checked once from the definition.
static FIXED: LazyLock<BTreeMap<&'static str, ChosenDeployment>> = LazyLock::new(|| {
    let deployments = deployments();
    deployments
        .options
        .iter()
        .filter(|o| !o.reads_settings())
        .map(|o| {
            let mut settings = Settings::new();
            settings.insert(CLOUD.into(), Value::String(o.id.clone()));
            let chosen = deployments
                .resolve(&settings)
                .unwrap_or_else(|e| unreachable!("cloud {} of the definition resolves: {e}", o.id));
            (o.id.as_str(), chosen)
        })
        .collect()
});

/// The connector file's header: variants and deployments (what the
/// install flow reads).
pub(crate) fn header() -> &'static ConnectorDefinition {
    &HEADER
}

/// The clouds as the definition declares them.
fn deployments() -> &'static Deployments {
    HEADER
        .deployments
        .as_ref()
        .unwrap_or_else(|| unreachable!("the embedded connector.json declares deployments"))
}

/// A variant's declared `oauth2` object (`delegated`, `application`).
pub(crate) fn declared_oauth(variant: &str) -> Result<&'static OAuth2Auth> {
    HEADER
        .variant(variant)
        .and_then(|v| v.oauth2.as_ref())
        .ok_or_else(|| {
            Error::invalid_argument(
                "variant",
                format!("`{variant}` is not a Microsoft 365 variant; use delegated or application"),
            )
        })
}

/// The cloud names as the definition declares them: each canonical name
/// (the one stored and shown), then the aliases also accepted. Names are
/// compared ignoring case and surrounding spaces. `custom` (explicit
/// endpoints) is a name too.
///
/// ```
/// use switchboard_microsoft365::cloud::cloud_names;
/// let names = cloud_names();
/// assert_eq!(names[0].0, "global");
/// assert!(names.iter().any(|(name, aliases)| *name == "usgov" && aliases.contains(&"gcc_high")));
/// ```
pub fn cloud_names() -> Vec<(&'static str, Vec<&'static str>)> {
    deployments()
        .options
        .iter()
        .map(|o| {
            (
                o.id.as_str(),
                o.aliases.iter().map(String::as_str).collect(),
            )
        })
        .collect()
}

/// The canonical name of a cloud name or alias ([`cloud_names`]): `global`,
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
    deployments().option(name).map(|o| o.id.as_str())
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
            login: check_origin(LOGIN_URL, login_url)?,
            graph: check_origin(GRAPH_URL, graph_url)?,
        })
    }
}

impl Cloud {
    /// A national cloud by name or alias ([`canonical_name`]): `global`,
    /// `usgov` (L4), `usgov-dod` (L5) or `china`. `custom` needs its URLs:
    /// see [`Cloud::from_parts`].
    pub fn from_name(name: &str) -> Result<Cloud> {
        Cloud::from_parts(Some(name), None, None)
    }

    /// The cloud of a name and a custom cloud's URLs, by the definition's
    /// deployment rules ([`Deployments::resolve`]):
    ///
    /// - a national cloud's name, without URLs;
    /// - `custom` with both `login_url` and `graph_url`;
    /// - no name: `global`, or `custom` when URLs are given.
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
        let mut settings = Settings::new();
        for (key, value) in [(CLOUD, name), (LOGIN_URL, login), (GRAPH_URL, graph)] {
            if let Some(value) = value {
                settings.insert(key.into(), Value::String(value.into()));
            }
        }
        Cloud::from_settings(&settings)
    }

    /// The canonical name ([`cloud_names`]).
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
        let chosen = deployments().resolve(settings)?;
        Ok(match chosen.id() {
            "usgov" => Cloud::UsGovernment,
            "usgov-dod" => Cloud::UsGovernmentDod,
            "china" => Cloud::China,
            "global" => Cloud::Global,
            _ => Cloud::Custom(CustomCloud {
                login: chosen.identity_origin().clone(),
                graph: chosen.api_origin().clone(),
            }),
        })
    }

    /// The cloud's origins as the definition's templates use them.
    pub fn deployment(&self) -> ChosenDeployment {
        match self {
            Cloud::Custom(c) => ChosenDeployment::new("custom", c.login.as_str(), c.graph.as_str())
                .unwrap_or_else(|e| unreachable!("a custom cloud's origins were checked: {e}")),
            national => FIXED.get(national.name()).cloned().unwrap_or_else(|| {
                unreachable!("the definition declares cloud {}", national.name())
            }),
        }
    }

    /// The login (authority) base URL.
    pub fn login_url(&self) -> Url {
        self.deployment().identity_origin().clone()
    }

    /// The Graph base URL (origin).
    pub fn graph_url(&self) -> Url {
        self.deployment().api_origin().clone()
    }

    /// The authority as a string without trailing slash (part of the
    /// token cache key).
    pub fn authority(&self) -> String {
        self.deployment().identity_origin_text()
    }

    /// A Graph permission as a scope of this cloud: the delegated variant's
    /// declared `scope_prefix` (`{api_origin}/`) filled, then the
    /// permission (`https://graph.microsoft.com/User.Read`). OpenID Connect
    /// scopes (`openid`, `offline_access`, `profile`, `email`) stay as they
    /// are.
    pub fn scope(&self, permission: &str) -> String {
        if OIDC_SCOPES.contains(&permission) {
            return permission.to_string();
        }
        let prefix = HEADER
            .variant("delegated")
            .and_then(|v| v.scope_prefix.as_deref())
            .unwrap_or("{api_origin}/");
        let origin = self.deployment().api_origin_text();
        format!("{}{permission}", prefix.replace("{api_origin}", &origin))
    }

    /// `{graph}/.default`: every permission consented for the application.
    pub fn default_scope(&self) -> String {
        self.scope(".default")
    }

    /// Where Graph calls go and which hosts may receive the bearer token:
    /// the definition's `base_url` on the cloud's Graph origin, and that
    /// host alone.
    pub fn endpoints(&self) -> Endpoints {
        let deployment = self.deployment();
        let base_url = fill_in(&HEADER.base_url, &Settings::new(), Some(&deployment))
            .unwrap_or_else(|e| unreachable!("the base URL needs only the cloud: {e}"));
        Endpoints {
            base_url,
            allowed_hosts: vec![deployment.api_host()],
        }
    }

    /// A declared endpoint template (`{identity_origin}/{tenant_id}/...`)
    /// for this cloud and tenant; the tenant is checked and encoded like
    /// every templated value.
    pub fn endpoint(&self, template: &str, tenant: &crate::tenant::TenantId) -> Result<Url> {
        let mut settings = Settings::new();
        settings.insert(
            "tenant_id".into(),
            Value::String(tenant.as_str().to_string()),
        );
        fill_in(template, &settings, Some(&self.deployment()))
    }

    /// The delegated variant's declared `authorization_url`:
    /// `{login}/{tenant}/oauth2/v2.0/authorize`.
    pub fn authorize_url(&self, tenant: &crate::tenant::TenantId) -> Result<Url> {
        let template = declared_oauth("delegated")?
            .authorization_url
            .as_deref()
            .unwrap_or_default();
        self.endpoint(template, tenant)
    }

    /// The variants' declared `token_url`: `{login}/{tenant}/oauth2/v2.0/token`.
    pub fn token_url(&self, tenant: &crate::tenant::TenantId) -> Result<Url> {
        self.endpoint(&declared_oauth("delegated")?.token_url, tenant)
    }

    /// The application variant's declared `admin_consent_url`:
    /// `{login}/{tenant}/v2.0/adminconsent`.
    pub fn admin_consent_url(&self, tenant: &crate::tenant::TenantId) -> Result<Url> {
        let template = declared_oauth("application")?
            .admin_consent_url
            .as_deref()
            .unwrap_or_default();
        self.endpoint(template, tenant)
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
    fn the_definition_declares_every_cloud_and_each_variants_urls() {
        let names: Vec<&str> = cloud_names().iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["global", "usgov", "usgov-dod", "china", "custom"]);
        let tenant = crate::tenant::TenantId::for_application("contoso.onmicrosoft.com").unwrap();
        let cloud = Cloud::UsGovernmentDod;
        assert_eq!(
            cloud.authorize_url(&tenant).unwrap().as_str(),
            "https://login.microsoftonline.us/contoso.onmicrosoft.com/oauth2/v2.0/authorize"
        );
        assert_eq!(
            cloud.token_url(&tenant).unwrap().as_str(),
            "https://login.microsoftonline.us/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(
            Cloud::China.admin_consent_url(&tenant).unwrap().as_str(),
            "https://login.partner.microsoftonline.cn/contoso.onmicrosoft.com/v2.0/adminconsent"
        );
        assert_eq!(cloud.authority(), "https://login.microsoftonline.us");
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
