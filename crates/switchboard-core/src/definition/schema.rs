//! The JSON Schema of definition files, generated from the Rust types.
//!
//! A definition file is either a whole connector ([`ConnectorDefinition`])
//! or a file of more methods ([`MethodFile`]). The generated schema is
//! committed at `docs/schema/connector-definition.schema.json`, where the
//! shipped definitions' `$schema` keys point, so editors offer completion
//! and checks. A test fails when the committed file is stale; run
//! `SWITCHBOARD_UPDATE_SCHEMA=1 cargo test -p switchboard-core schema` to
//! rewrite it.
//!
//! ```
//! let schema = switchboard_core::definition::schema::definition_schema();
//! assert_eq!(schema["title"], "switchboard connector definition file");
//! assert_eq!(schema["anyOf"].as_array().map(Vec::len), Some(2));
//! ```

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::definition::{ConnectorDefinition, MethodFile};

/// Where the generated schema is committed, relative to the workspace root.
pub const SCHEMA_PATH: &str = "docs/schema/connector-definition.schema.json";

/// A definition file: a connector, or more methods of one.
#[allow(dead_code)] // only its schema is used
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(
    title = "switchboard connector definition file",
    description = "A connector definition (connector.json) or a file of more methods ({\"methods\": [...]}). Generated from switchboard-core's definition types; do not edit by hand."
)]
enum DefinitionFile {
    /// A whole connector: identity, install parameters, auth variants, hosts and methods.
    Connector(Box<ConnectorDefinition>),
    /// More methods of a connector.
    Methods(MethodFile),
}

/// The JSON Schema (draft 2020-12) of a definition file.
///
/// ```
/// let schema = switchboard_core::definition::schema::definition_schema();
/// assert!(schema["$defs"]["MethodDefinition"].is_object());
/// ```
pub fn definition_schema() -> Value {
    schemars::schema_for!(DefinitionFile).to_value()
}

/// The schema as committed: pretty-printed with a trailing newline.
///
/// ```
/// assert!(switchboard_core::definition::schema::definition_schema_text().ends_with("}\n"));
/// ```
pub fn definition_schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&definition_schema()).unwrap_or_default();
    text.push('\n');
    text
}
