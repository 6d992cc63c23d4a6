//! Install settings checked against the connector's definition.
//!
//! Every declared install parameter is checked for presence (required ones,
//! defaults filled in), type and named format; a setting that is neither
//! declared nor accepted by the connector's install flow is refused, naming
//! it and listing what is allowed. The `tenant_id` format is left to the
//! install flow, because variants differ (a delegated install may use
//! `organizations`, an application install may not).
//!
//! The reserved setting [`ENABLED`] lists the categories and methods an
//! installation enables (default: every method of its variant); consent is
//! asked only for what they need.
//!
//! ```
//! use serde_json::json;
//! use switchboard_core::definition::ConnectorDefinition;
//! use switchboard_installations::lifecycle::settings::check_settings;
//!
//! let def: ConnectorDefinition = serde_json::from_value(json!({
//!   "id": "example", "name": "Example", "version": "1.0.0", "description": "Example",
//!   "base_url": "https://api.example.com", "allowed_hosts": ["api.example.com"],
//!   "install_parameters": [{"name": "region", "label": "Region", "type": "string", "required": true}],
//!   "auth_variants": [{"id": "token", "name": "Token", "kind": "bearer_token"}],
//!   "categories": [{"id": "things", "name": "Things"}]
//! })).unwrap();
//! let ok = json!({"region": "eu"}).as_object().unwrap().clone();
//! assert!(check_settings(&def, &ok, &[]).is_ok());
//! let err = check_settings(&def, &json!({}).as_object().unwrap().clone(), &[]).unwrap_err();
//! assert_eq!(err.field(), Some("region"));
//! let err = check_settings(&def, &json!({"region": "eu", "colour": "red"}).as_object().unwrap().clone(), &[]).unwrap_err();
//! assert_eq!(err.field(), Some("colour"));
//! ```

use serde_json::Value;

use switchboard_core::connector::Settings;
use switchboard_core::definition::{ConnectorDefinition, Format, ParameterType};
use switchboard_core::error::{Error, Result};
use switchboard_core::render::format;

/// The reserved setting naming enabled categories and methods.
pub const ENABLED: &str = "enabled";

/// Check `settings` against `definition`'s install parameters; returns them
/// with defaults filled in. `extra` names settings the install flow accepts.
pub fn check_settings(
    definition: &ConnectorDefinition,
    settings: &Settings,
    extra: &[&str],
) -> Result<Settings> {
    let mut out = settings.clone();
    // A custom deployment's origins are settings the definition declares.
    let origins: Vec<&str> = definition
        .deployments
        .as_ref()
        .map(|d| d.origin_settings())
        .unwrap_or_default();
    for (name, value) in settings {
        let declared = definition
            .install_parameters
            .iter()
            .any(|p| &p.name == name);
        let accepted = extra.contains(&name.as_str()) || origins.contains(&name.as_str());
        if !declared && name != ENABLED && !accepted {
            let mut allowed: Vec<&str> = definition
                .install_parameters
                .iter()
                .map(|p| p.name.as_str())
                .collect();
            allowed.extend(extra.iter().copied());
            allowed.extend(origins.iter().filter(|o| !extra.contains(o)));
            allowed.push(ENABLED);
            return Err(Error::invalid_argument(
                name.as_str(),
                format!(
                    "is not a setting of connector `{}`; allowed: {}",
                    definition.id,
                    allowed.join(", ")
                ),
            ));
        }
        if !declared && !value.is_string() && name != ENABLED {
            return Err(Error::invalid_argument(name.as_str(), "must be a string"));
        }
    }
    for param in &definition.install_parameters {
        let name = param.name.as_str();
        let value = match settings.get(name) {
            None | Some(Value::Null) => match &param.default {
                Some(default) => {
                    out.insert(name.to_string(), default.clone());
                    continue;
                }
                None if param.required => {
                    let label = &param.label;
                    return Err(Error::invalid_argument(
                        name,
                        format!("is required ({label})"),
                    ));
                }
                None => {
                    out.remove(name);
                    continue;
                }
            },
            Some(v) => v,
        };
        let type_ok = match param.kind {
            ParameterType::String | ParameterType::DateTime => value.is_string(),
            ParameterType::Integer => value.is_i64() || value.is_u64(),
            ParameterType::Number => value.is_number(),
            ParameterType::Boolean => value.is_boolean(),
            ParameterType::Array => value.is_array(),
            ParameterType::Object => value.is_object(),
            _ => false,
        };
        if !type_ok {
            return Err(Error::invalid_argument(
                name,
                format!("must be of type {}", param.kind.as_str()),
            ));
        }
        if let (Some(fmt), Some(text)) = (param.format, value.as_str())
            && fmt != Format::TenantId
            && !format::matches(fmt, text)
        {
            return Err(Error::invalid_argument(name, format::describe(fmt)));
        }
    }
    Ok(out)
}

/// The method ids an installation of `variant` enables: every method of
/// the variant when `enabled` is absent, otherwise the methods named and
/// those of the categories named (methods of a category that the variant
/// lacks are skipped; a method named directly that it lacks is an error).
pub fn enabled_methods(
    definition: &ConnectorDefinition,
    variant: &str,
    enabled: Option<&Value>,
) -> Result<Vec<String>> {
    let names: Option<Vec<&str>> = match enabled {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|v| {
                    v.as_str().ok_or_else(|| {
                        Error::invalid_argument(
                            ENABLED,
                            "must be an array of category or method ids",
                        )
                    })
                })
                .collect::<Result<_>>()?,
        ),
        Some(_) => {
            return Err(Error::invalid_argument(
                ENABLED,
                "must be an array of category or method ids",
            ));
        }
    };
    let supported = |m: &&switchboard_core::definition::MethodDefinition| {
        m.supports(variant, &definition.auth_variants)
    };
    let Some(names) = names else {
        return Ok(definition
            .methods
            .iter()
            .filter(supported)
            .map(|m| m.id.clone())
            .collect());
    };
    if names.is_empty() {
        return Err(Error::invalid_argument(
            ENABLED,
            "must name at least one category or method (leave it out to enable everything)",
        ));
    }
    for name in &names {
        let is_category = definition.categories.iter().any(|c| c.id == *name);
        match definition.method(name) {
            Some(m) if !m.supports(variant, &definition.auth_variants) => {
                return Err(Error::invalid_argument(
                    ENABLED,
                    format!("method `{name}` is not available in the `{variant}` variant"),
                ));
            }
            Some(_) => {}
            None if is_category => {}
            None => {
                let categories: Vec<&str> = definition
                    .categories
                    .iter()
                    .map(|c| c.id.as_str())
                    .collect();
                return Err(Error::invalid_argument(
                    ENABLED,
                    format!(
                        "`{name}` is neither a category ({}) nor a method of connector `{}`",
                        categories.join(", "),
                        definition.id
                    ),
                ));
            }
        }
    }
    Ok(definition
        .methods
        .iter()
        .filter(supported)
        .filter(|m| names.contains(&m.id.as_str()) || names.contains(&m.category.as_str()))
        .map(|m| m.id.clone())
        .collect())
}
