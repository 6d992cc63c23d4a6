//! Secret install parameters: the values a definition marks
//! `secret: true` (API keys, personal access tokens, passwords).
//!
//! At install they are taken out of the settings ([`take`]) before the
//! record is stored, so they never reach the plain settings, the record's
//! Debug, a listing or an error; they are kept in the installation's
//! encrypted secrets
//! ([`InstallationSecrets::with_secret_parameter`]) and handed to the
//! install flow in [`FlowContext::secret_parameters`](super::flow::FlowContext)
//! ([`of`]).
//!
//! ```
//! use secrecy::ExposeSecret;
//! use serde_json::json;
//! use switchboard_core::definition::ConnectorDefinition;
//! use switchboard_installations::install::InstallationSecrets;
//! use switchboard_installations::lifecycle::secret_parameters;
//!
//! let def: ConnectorDefinition = serde_json::from_value(json!({
//!   "id": "acme", "name": "Acme", "version": "1.0.0", "description": "Acme CRM",
//!   "base_url": "https://api.acme.example", "allowed_hosts": ["api.acme.example"],
//!   "install_parameters": [
//!     {"name": "region", "label": "Region"},
//!     {"name": "api_key", "label": "API key", "required": true, "secret": true}
//!   ],
//!   "auth_variants": [{"id": "key", "name": "API key", "kind": "api_key",
//!     "api_key": {"parameter": "api_key", "in": "header", "name": "X-Api-Key"}}],
//!   "categories": [{"id": "things", "name": "Things"}]
//! })).unwrap();
//! let mut settings = json!({"region": "eu", "api_key": "k-1"}).as_object().unwrap().clone();
//! let taken = secret_parameters::take(&def, &mut settings).unwrap();
//! assert_eq!(settings.len(), 1); // only `region` stays in the plain settings
//! let secrets = InstallationSecrets::default().with_secret_parameter(&taken[0].0, taken[0].1.clone());
//! assert_eq!(secret_parameters::of(&def, &secrets)["api_key"].expose_secret(), "k-1");
//! ```

use std::collections::BTreeMap;

use secrecy::SecretString;
use serde_json::Value;
use switchboard_core::connector::Settings;
use switchboard_core::definition::ConnectorDefinition;
use switchboard_core::error::{Error, Result};

use crate::install::InstallationSecrets;

/// The longest secret install parameter accepted, in bytes (16 KiB: far
/// above any API key, token or password; a bigger value is a mistake).
pub const MAX_SECRET_BYTES: usize = 16 * 1024;

/// Remove the secret install parameters from `settings` and return them
/// by name. A secret must be a non-empty string of at most
/// [`MAX_SECRET_BYTES`] bytes without control characters; errors name the
/// parameter, never its value.
pub fn take(
    definition: &ConnectorDefinition,
    settings: &mut Settings,
) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for param in definition.install_parameters.iter().filter(|p| p.secret) {
        let Some(value) = settings.remove(&param.name) else {
            continue;
        };
        let text = match value {
            Value::String(text) => text,
            Value::Null => continue,
            _ => {
                return Err(Error::invalid_argument(
                    param.name.as_str(),
                    "is a secret and must be a string",
                ));
            }
        };
        if text.is_empty() || text.len() > MAX_SECRET_BYTES || text.chars().any(char::is_control) {
            return Err(Error::invalid_argument(
                param.name.as_str(),
                format!(
                    "must be 1 to {MAX_SECRET_BYTES} bytes without control characters (the value is secret and not shown)"
                ),
            ));
        }
        out.push((param.name.clone(), text));
    }
    Ok(out)
}

/// The definition's secret install parameters held in `secrets`, by name.
pub fn of(
    definition: &ConnectorDefinition,
    secrets: &InstallationSecrets,
) -> BTreeMap<String, SecretString> {
    definition
        .install_parameters
        .iter()
        .filter(|p| p.secret)
        .filter_map(|p| {
            secrets
                .secret_parameter(&p.name)
                .map(|v| (p.name.clone(), v.clone()))
        })
        .collect()
}
