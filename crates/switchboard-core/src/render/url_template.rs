//! URL templates filled from an installation's settings: a connector's
//! `base_url` and an `oauth2` variant's authorization, token and revocation
//! URLs (`https://login.example.com/{tenant_id}/oauth2/token`).
//!
//! A value in the host (`https://{subdomain}.example.com`) may hold only
//! letters, digits, `-` and `.`. A value in the path is checked and
//! percent-encoded exactly like a method's path parameter (the same
//! [`super::path`] code): it can never add, remove or move a segment or
//! start a query. A missing value is an error naming the setting.
//!
//! With a connector's `deployments` ([`crate::definition::deployments`]),
//! [`fill_in`] also replaces `{identity_origin}` and `{api_origin}` at the
//! very start of a template with the chosen deployment's origin, written as
//! it is: that origin was checked when the definition was validated (or,
//! from a setting, when the deployment was chosen), and it can stand
//! nowhere else.
//!
//! ```
//! use serde_json::{Map, Value};
//! use switchboard_core::render::url_template::fill;
//!
//! let mut settings = Map::new();
//! settings.insert("tenant_id".into(), Value::from("contoso ltd"));
//! let url = fill("https://login.example.com/{tenant_id}/oauth2/token", &settings).unwrap();
//! assert_eq!(url.as_str(), "https://login.example.com/contoso%20ltd/oauth2/token");
//! settings.insert("tenant_id".into(), Value::from("../admin"));
//! assert_eq!(fill("https://login.example.com/{tenant_id}/token", &settings).unwrap_err().field(), Some("tenant_id"));
//! ```

use std::borrow::Cow;

use serde_json::{Map, Value};
use url::Url;

use super::path::{PathValue, encode_into};
use crate::definition::PathStyle;
use crate::definition::deployments::{ChosenDeployment, ORIGIN_PLACEHOLDERS};
use crate::error::{Error, ErrorKind, Result};

/// Fill `template`'s `{name}` placeholders from `settings` (string values)
/// and parse the result.
pub fn fill(template: &str, settings: &Map<String, Value>) -> Result<Url> {
    fill_in(template, settings, None)
}

/// Like [`fill`], with the chosen deployment's origins for a leading
/// `{identity_origin}` or `{api_origin}`.
///
/// ```
/// use serde_json::{Map, Value};
/// use switchboard_core::definition::deployments::ChosenDeployment;
/// use switchboard_core::render::url_template::fill_in;
///
/// let chosen = ChosenDeployment::new("gov", "https://login.example.us", "https://api.example.us").unwrap();
/// let mut settings = Map::new();
/// settings.insert("tenant_id".into(), Value::from("contoso.example"));
/// let url = fill_in("{identity_origin}/{tenant_id}/token", &settings, Some(&chosen)).unwrap();
/// assert_eq!(url.as_str(), "https://login.example.us/contoso.example/token");
/// // an origin only at the start, and a setting of that name is not used
/// settings.insert("api_origin".into(), Value::from("https://evil.example"));
/// assert!(fill_in("https://x.example/{api_origin}", &settings, Some(&chosen)).is_err());
/// assert!(fill_in("{api_origin}/v1", &settings, None).is_err());
/// ```
pub fn fill_in(
    template: &str,
    settings: &Map<String, Value>,
    deployment: Option<&ChosenDeployment>,
) -> Result<Url> {
    let mut owned = None;
    for name in ORIGIN_PLACEHOLDERS {
        let placeholder = format!("{{{name}}}");
        if let Some(rest) = template.strip_prefix(&placeholder) {
            let deployment = deployment.ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidDefinition,
                    format!(
                        "URL template `{template}` uses {placeholder}, but the connector declares no deployments"
                    ),
                )
            })?;
            let origin = deployment.placeholder(name).unwrap_or_default();
            owned = Some(format!("{origin}{rest}"));
        }
    }
    let template = owned.as_deref().unwrap_or(template);
    if let Some(name) = ORIGIN_PLACEHOLDERS
        .iter()
        .find(|n| template.contains(&format!("{{{n}}}")))
    {
        return Err(Error::new(
            ErrorKind::InvalidDefinition,
            format!("URL template `{template}` may use {{{name}}} only at its start"),
        ));
    }
    // Where the path starts: the first `/` after `scheme://`.
    let authority_start = template.find("://").map_or(0, |i| i + 3);
    let path_start = template[authority_start..]
        .find('/')
        .map_or(template.len(), |i| authority_start + i);
    let mut out = String::with_capacity(template.len() + 32);
    let mut position = 0;
    while let Some(open) = template[position..].find('{').map(|i| position + i) {
        out.push_str(&template[position..open]);
        let close = template[open..]
            .find('}')
            .map(|i| open + i)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidDefinition,
                    format!("URL template `{template}` has an unclosed `{{`"),
                )
            })?;
        let name = &template[open + 1..close];
        let value = settings
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| Error::invalid_argument(name, "is required by the connector's URLs"))?;
        if open < path_start {
            if value.is_empty()
                || !value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            {
                return Err(Error::invalid_argument(
                    name,
                    "may contain only letters, digits, `-` and `.`",
                ));
            }
            out.push_str(value);
        } else {
            let path_value = PathValue {
                name,
                text: Cow::Borrowed(value),
                style: PathStyle::Segment,
                allow_hash: false,
            };
            encode_into(&mut out, &path_value)?;
        }
        position = close + 1;
    }
    out.push_str(&template[position..]);
    Url::parse(&out).map_err(|e| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("the URL built from the settings is not valid: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(name: &str, value: &str) -> Map<String, Value> {
        let mut settings = Map::new();
        settings.insert(name.into(), Value::from(value));
        settings
    }

    #[test]
    fn host_values_are_refused_when_they_hold_url_characters() {
        let url = fill(
            "https://{subdomain}.example.com/api",
            &settings("subdomain", "acme"),
        )
        .unwrap();
        assert_eq!(url.as_str(), "https://acme.example.com/api");
        for evil in ["evil.com/x?", "a@b", "a:1", ""] {
            let err = fill(
                "https://{subdomain}.example.com",
                &settings("subdomain", evil),
            )
            .unwrap_err();
            assert_eq!(err.field(), Some("subdomain"), "{evil}");
        }
        let err = fill("https://{missing}.example.com", &Map::new()).unwrap_err();
        assert_eq!(err.field(), Some("missing"));
    }

    #[test]
    fn path_values_are_encoded_like_path_parameters() {
        let template = "https://login.example.com/{tenant_id}/oauth2/token";
        let url = fill(template, &settings("tenant_id", "a b+c@d")).unwrap();
        assert_eq!(
            url.as_str(),
            "https://login.example.com/a%20b%2Bc@d/oauth2/token"
        );
        for evil in ["..", "a/b", "a?x=1", "a#f", "a%2F", "a\\b", "\u{7}"] {
            let err = fill(template, &settings("tenant_id", evil)).unwrap_err();
            assert_eq!(err.field(), Some("tenant_id"), "{evil:?}");
        }
    }
}
