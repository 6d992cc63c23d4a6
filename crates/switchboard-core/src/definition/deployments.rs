//! Per-deployment origins declared as data: the `deployments` object of a
//! connector.
//!
//! Some services run the same API in several places, each with its own
//! identity service and API host: Microsoft's national clouds, a vendor's
//! EU and US regions, a customer's own server. A connector declares them
//! once; an install setting (`parameter`, such as `cloud` or `region`)
//! chooses one, and templates use the chosen deployment's origins:
//!
//! | placeholder | is replaced by | allowed at |
//! |---|---|---|
//! | `{identity_origin}` | the identity service's origin (`https://login.example.com`) | the start of an `oauth2` endpoint |
//! | `{api_origin}` | the API's origin (`https://api.example.com`) | the start of `base_url` or a variant's `scope_prefix` |
//!
//! An origin is written as it is (scheme, host and port, checked when the
//! definition is validated or, for a deployment whose origins come from
//! settings, when the installation is checked); every other placeholder is
//! still checked and percent-encoded. A deployment's origins are either
//! fixed in the definition (`identity_origin`, `api_origin`) or read from
//! install settings (`identity_origin_setting`, `api_origin_setting`): https,
//! or plain http on a loopback host only.
//!
//! **Hosts.** With deployments, `allowed_hosts` and `identity_hosts` list
//! every fixed deployment's API and identity hosts (the validator checks
//! it); an installation's credentials go only to *its* deployment's API
//! host, and its client secret only to its deployment's identity host.
//!
//! ```
//! use serde_json::json;
//! use switchboard_core::definition::deployments::Deployments;
//!
//! let deployments: Deployments = serde_json::from_value(json!({
//!     "parameter": "region", "default": "us",
//!     "options": [
//!         {"id": "us", "identity_origin": "https://login.example.com", "api_origin": "https://api.example.com"},
//!         {"id": "eu", "aliases": ["europe"], "identity_origin": "https://login.example.eu", "api_origin": "https://api.example.eu"},
//!         {"id": "self_hosted", "identity_origin_setting": "login_origin", "api_origin_setting": "api_origin"}
//!     ]
//! })).unwrap();
//! let settings = json!({"region": " Europe "}).as_object().unwrap().clone();
//! let chosen = deployments.resolve(&settings).unwrap();
//! assert_eq!(chosen.id(), "eu");
//! assert_eq!(chosen.api_host(), "api.example.eu");
//!
//! let settings = json!({"region": "self_hosted", "login_origin": "https://login.corp.example",
//!     "api_origin": "http://evil.example"}).as_object().unwrap().clone();
//! assert_eq!(deployments.resolve(&settings).unwrap_err().field(), Some("api_origin"));
//! ```

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

use crate::error::{Error, Result};
use crate::untrusted_text::sanitize_identifier;

/// The placeholder replaced by the chosen deployment's identity origin.
pub const IDENTITY_ORIGIN: &str = "identity_origin";
/// The placeholder replaced by the chosen deployment's API origin.
pub const API_ORIGIN: &str = "api_origin";
/// Both origin placeholders.
pub const ORIGIN_PLACEHOLDERS: [&str; 2] = [IDENTITY_ORIGIN, API_ORIGIN];

/// The deployments a connector's service runs in, and the setting that
/// chooses one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Deployments {
    /// The install setting naming the deployment: `cloud` (an installation's
    /// cloud, which every installation has) or a declared, non-secret string
    /// install parameter (`region`).
    pub parameter: String,
    /// The deployment used when the setting is absent (an `id` of `options`).
    pub default: String,
    /// The deployments, each with its origins.
    pub options: Vec<Deployment>,
}

/// One deployment: its name and its identity and API origins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    /// The name stored and shown (`global`, `eu`): lower-case letters,
    /// digits, `_` and `-`.
    pub id: String,
    /// Other names accepted for it (`public`, `gcc_high`). Names are
    /// compared ignoring case and surrounding spaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// The identity service's origin (`https://login.example.com`: scheme,
    /// host, optional port; no path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_origin: Option<String>,
    /// The API's origin (`https://api.example.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_origin: Option<String>,
    /// Instead of `identity_origin`: the install setting holding it (a
    /// custom deployment), checked when the installation is (https, or http
    /// on a loopback host only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_origin_setting: Option<String>,
    /// Instead of `api_origin`: the install setting holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_origin_setting: Option<String>,
    /// Where the origins come from (the service's documentation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl Deployment {
    /// Whether `name` (trimmed, any case) is this deployment's id or alias.
    pub fn answers_to(&self, name: &str) -> bool {
        let wanted = name.trim().to_ascii_lowercase();
        self.id == wanted
            || self
                .aliases
                .iter()
                .any(|a| a.to_ascii_lowercase() == wanted)
    }

    /// Whether an origin comes from an install setting.
    pub fn reads_settings(&self) -> bool {
        self.identity_origin_setting.is_some() || self.api_origin_setting.is_some()
    }
}

/// The deployment an installation uses, with its origins checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChosenDeployment {
    id: String,
    identity_origin: Url,
    api_origin: Url,
}

impl ChosenDeployment {
    /// A deployment chosen by hand: `id` and two origins, each checked
    /// like a setting's (https, or http on loopback; origin only).
    ///
    /// ```
    /// use switchboard_core::definition::deployments::ChosenDeployment;
    /// let chosen = ChosenDeployment::new("custom", "http://127.0.0.1:9", "https://graph.example.com").unwrap();
    /// assert_eq!(chosen.api_origin_text(), "https://graph.example.com");
    /// assert!(ChosenDeployment::new("custom", "http://login.example.com", "https://g.example.com").is_err());
    /// ```
    pub fn new(id: &str, identity_origin: &str, api_origin: &str) -> Result<Self> {
        Ok(ChosenDeployment {
            id: id.to_string(),
            identity_origin: check_origin(IDENTITY_ORIGIN, identity_origin)?,
            api_origin: check_origin(API_ORIGIN, api_origin)?,
        })
    }

    /// The deployment's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The identity origin as a URL (path `/`).
    pub fn identity_origin(&self) -> &Url {
        &self.identity_origin
    }

    /// The API origin as a URL (path `/`).
    pub fn api_origin(&self) -> &Url {
        &self.api_origin
    }

    /// The identity origin as written in a template: no trailing slash.
    pub fn identity_origin_text(&self) -> String {
        self.identity_origin.origin().ascii_serialization()
    }

    /// The API origin as written in a template: no trailing slash.
    pub fn api_origin_text(&self) -> String {
        self.api_origin.origin().ascii_serialization()
    }

    /// The identity service's host.
    pub fn identity_host(&self) -> String {
        self.identity_origin
            .host_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The API's host: the only host an installation's credential goes to.
    pub fn api_host(&self) -> String {
        self.api_origin.host_str().unwrap_or_default().to_string()
    }

    /// The text of an origin placeholder (`identity_origin`, `api_origin`).
    pub fn placeholder(&self, name: &str) -> Option<String> {
        match name {
            IDENTITY_ORIGIN => Some(self.identity_origin_text()),
            API_ORIGIN => Some(self.api_origin_text()),
            _ => None,
        }
    }
}

impl Deployments {
    /// The install settings deployments read origins from (`login_url`...).
    pub fn origin_settings(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for option in &self.options {
            for name in [&option.identity_origin_setting, &option.api_origin_setting]
                .into_iter()
                .flatten()
            {
                if !out.contains(&name.as_str()) {
                    out.push(name);
                }
            }
        }
        out
    }

    /// The deployment a name or alias means (case and surrounding spaces
    /// ignored); a typo gets a suggestion.
    pub fn option(&self, name: &str) -> Result<&Deployment> {
        if let Some(found) = self.options.iter().find(|o| o.answers_to(name)) {
            return Ok(found);
        }
        let wanted = name.trim().to_ascii_lowercase();
        let all = self.options.iter().flat_map(|o| {
            std::iter::once(o.id.as_str()).chain(o.aliases.iter().map(String::as_str))
        });
        let hint = crate::suggest::similar(&wanted, all)
            .and_then(|alias| self.options.iter().find(|o| o.answers_to(alias)))
            .map(|o| format!("did you mean `{}`? ", o.id))
            .unwrap_or_default();
        let ids: Vec<&str> = self.options.iter().map(|o| o.id.as_str()).collect();
        let custom: Vec<String> = self
            .options
            .iter()
            .filter(|o| o.reads_settings())
            .map(|o| {
                let names: Vec<String> = [&o.identity_origin_setting, &o.api_origin_setting]
                    .into_iter()
                    .flatten()
                    .map(|s| format!("`{s}`"))
                    .collect();
                format!("; `{}` needs {}", o.id, names.join(" and "))
            })
            .collect();
        Err(Error::invalid_argument(
            self.parameter.as_str(),
            format!(
                "`{}` is not a {}; {hint}(known: {}{})",
                sanitize_identifier(name.trim()),
                self.parameter,
                ids.join(", "),
                custom.join("")
            ),
        ))
    }

    /// The deployment an installation's settings choose, by one set of
    /// rules:
    ///
    /// - the setting `parameter` names a deployment (id or alias); a
    ///   deployment with fixed origins takes no origin settings;
    /// - a deployment whose origins come from settings needs them all;
    /// - without the setting: the `default`, or the deployment whose
    ///   origins come from settings when such settings are given.
    ///
    /// Anything else is an error naming the setting at fault.
    pub fn resolve(&self, settings: &Map<String, Value>) -> Result<ChosenDeployment> {
        let text = |name: &str| -> Result<Option<&str>> {
            match settings.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(Error::invalid_argument(name, "must be a string")),
            }
        };
        let origin_settings = self.origin_settings();
        let mut given: Vec<&str> = Vec::new();
        for name in origin_settings.iter().copied() {
            if text(name)?.is_some() {
                given.push(name);
            }
        }
        let option = match text(&self.parameter)? {
            Some(name) => self.option(name)?,
            None if !given.is_empty() => self
                .options
                .iter()
                .find(|o| o.reads_settings())
                .unwrap_or_else(|| unreachable!("origin settings come from an option")),
            None => self.option(&self.default)?,
        };
        let mine = [&option.identity_origin_setting, &option.api_origin_setting];
        if let Some(stray) = given
            .iter()
            .find(|g| !mine.iter().any(|m| m.as_deref() == Some(**g)))
        {
            let owner = self
                .options
                .iter()
                .find(|o| {
                    o.identity_origin_setting.as_deref() == Some(*stray)
                        || o.api_origin_setting.as_deref() == Some(*stray)
                })
                .map_or("", |o| o.id.as_str());
            return Err(Error::invalid_argument(
                *stray,
                format!(
                    "is only allowed with {} `{owner}` (this installation uses `{}`)",
                    self.parameter, option.id
                ),
            ));
        }
        let pick = |fixed: &Option<String>,
                    setting: &Option<String>,
                    what: &str|
         -> Result<(String, String)> {
            match (fixed, setting) {
                (Some(origin), _) => Ok((what.to_string(), origin.clone())),
                (None, Some(setting)) => match text(setting)? {
                    Some(value) => Ok((setting.clone(), value.to_string())),
                    None => Err(Error::invalid_argument(
                        setting.as_str(),
                        format!(
                            "is required with {} `{}` (the {what}, such as {})",
                            self.parameter,
                            option.id,
                            if what.starts_with("identity") {
                                "https://login.example.com"
                            } else {
                                "https://api.example.com"
                            }
                        ),
                    )),
                },
                (None, None) => Err(Error::invalid_argument(
                    self.parameter.as_str(),
                    format!("deployment `{}` declares no {what}", option.id),
                )),
            }
        };
        let (identity_field, identity) = pick(
            &option.identity_origin,
            &option.identity_origin_setting,
            "identity service's origin",
        )?;
        let (api_field, api) = pick(&option.api_origin, &option.api_origin_setting, "API origin")?;
        Ok(ChosenDeployment {
            id: option.id.clone(),
            identity_origin: check_origin(&identity_field, &identity)?,
            api_origin: check_origin(&api_field, &api)?,
        })
    }
}

/// An origin: an absolute `https` URL (plain `http` only on a loopback
/// host: `127.0.0.1`, `::1`, `localhost`) with a host and nothing after
/// it but an optional port. The error names `field`.
///
/// ```
/// use switchboard_core::definition::deployments::check_origin;
/// assert!(check_origin("login_url", "https://login.example.com").is_ok());
/// assert!(check_origin("login_url", "http://[::1]:8080/").is_ok());
/// for bad in ["http://login.example.com", "https://login.example.com/x", "https://u@h.example.com",
///             "https://h.example.com?q", "ftp://h.example.com", "login.example.com"] {
///     assert_eq!(check_origin("login_url", bad).unwrap_err().field(), Some("login_url"), "{bad}");
/// }
/// ```
pub fn check_origin(field: &str, value: &str) -> Result<Url> {
    let url = Url::parse(value).map_err(|_| {
        Error::invalid_argument(
            field,
            "must be an absolute URL such as https://login.example.com",
        )
    })?;
    let host = url
        .host_str()
        .ok_or_else(|| Error::invalid_argument(field, "must name a host"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(host) => {}
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

/// `localhost`, or a loopback IP address (brackets allowed).
pub fn is_loopback(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn clouds() -> Deployments {
        serde_json::from_value(json!({
            "parameter": "cloud", "default": "global",
            "options": [
                {"id": "global", "aliases": ["public"], "identity_origin": "https://login.example.com", "api_origin": "https://api.example.com"},
                {"id": "gov", "identity_origin": "https://login.example.us", "api_origin": "https://api.example.us"},
                {"id": "custom", "identity_origin_setting": "login_url", "api_origin_setting": "graph_url"}
            ]
        }))
        .unwrap()
    }

    fn resolve(v: Value) -> Result<ChosenDeployment> {
        clouds().resolve(v.as_object().unwrap())
    }

    #[test]
    fn names_aliases_and_the_default_choose_a_deployment() {
        assert_eq!(resolve(json!({})).unwrap().id(), "global");
        assert_eq!(
            resolve(json!({"cloud": " PUBLIC "})).unwrap().id(),
            "global"
        );
        let gov = resolve(json!({"cloud": "gov"})).unwrap();
        assert_eq!(gov.api_host(), "api.example.us");
        assert_eq!(gov.identity_origin_text(), "https://login.example.us");
        let err = resolve(json!({"cloud": "govv"})).unwrap_err();
        assert_eq!(err.field(), Some("cloud"));
        assert!(err.to_string().contains("did you mean `gov`?"), "{err}");
        assert!(
            err.to_string()
                .contains("`custom` needs `login_url` and `graph_url`"),
            "{err}"
        );
        let err = resolve(json!({"cloud": 7})).unwrap_err();
        assert_eq!(err.field(), Some("cloud"));
    }

    #[test]
    fn origins_from_settings_are_checked_and_only_for_their_deployment() {
        let custom = resolve(json!({"cloud": "custom", "login_url": "http://127.0.0.1:1", "graph_url": "http://[::1]:2"})).unwrap();
        assert_eq!(custom.api_origin_text(), "http://[::1]:2");
        // without a name, origin settings mean the custom deployment
        let implied = resolve(
            json!({"login_url": "https://l.example.org", "graph_url": "https://g.example.org"}),
        )
        .unwrap();
        assert_eq!(implied.id(), "custom");
        let err =
            resolve(json!({"cloud": "custom", "login_url": "http://127.0.0.1:1"})).unwrap_err();
        assert_eq!(err.field(), Some("graph_url"));
        let err =
            resolve(json!({"cloud": "gov", "graph_url": "https://g.example.org"})).unwrap_err();
        assert_eq!(err.field(), Some("graph_url"));
        assert!(
            err.to_string().contains("only allowed with cloud `custom`"),
            "{err}"
        );
        for hostile in [
            "http://10.0.0.1",
            "https://evil.example/path",
            "https://user:pw@evil.example",
            "https://evil.example?x=1",
            "https://evil.example#f",
            "javascript:alert(1)",
            "http://localhost.evil.example",
            "",
        ] {
            let err = resolve(json!({"cloud": "custom", "login_url": hostile, "graph_url": "https://g.example.org"})).unwrap_err();
            assert_eq!(err.field(), Some("login_url"), "{hostile:?}");
        }
    }
}
