//! docs/authoring.md keeps up with the definition format: every field and
//! every enumerated value of the JSON Schema is explained in the guide, and
//! the commands it gives exist.

use std::path::Path;

use serde_json::Value;
use switchboard_core::definition::schema::definition_schema;

fn guide() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/authoring.md"))
        .unwrap()
}

#[test]
fn every_schema_field_and_value_is_in_the_guide() {
    let guide = guide();
    let schema = definition_schema();
    let defs = schema["$defs"].as_object().unwrap();
    let mut missing = Vec::new();
    for (name, def) in defs {
        if let Some(properties) = def["properties"].as_object() {
            for field in properties.keys() {
                if !guide.contains(&format!("`{field}`")) {
                    missing.push(format!("{name}.{field}"));
                }
            }
        }
        for choice in def["oneOf"]
            .as_array()
            .or_else(|| def["anyOf"].as_array())
            .into_iter()
            .flatten()
        {
            let values: Vec<&Value> = match &choice["const"] {
                Value::Null => choice["enum"].as_array().into_iter().flatten().collect(),
                one => vec![one],
            };
            for value in values {
                let Some(text) = value.as_str() else { continue };
                if !guide.contains(&format!("`{text}`")) {
                    missing.push(format!("{name} value {text}"));
                }
            }
        }
        for value in def["enum"].as_array().into_iter().flatten() {
            if let Some(text) = value.as_str()
                && !guide.contains(&format!("`{text}`"))
            {
                missing.push(format!("{name} value {text}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/authoring.md does not mention: {}",
        missing.join(", ")
    );
}

#[test]
fn the_guide_links_the_schema_and_names_the_kit() {
    let guide = guide();
    assert!(guide.contains("(schema/connector-definition.schema.json)"));
    for needle in [
        "switchboard new connector",
        "switchboard validate",
        "--connectors-dir",
        "features = [\"testing\"]",
        "check_definition_files",
        "Harness::start",
        "check_compatibility",
        "idempotency_key",
        "value_template",
        "path_style",
    ] {
        assert!(
            guide.contains(needle),
            "the guide does not mention {needle}"
        );
    }
}
