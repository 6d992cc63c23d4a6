//! The committed JSON Schema matches the Rust types, and every shipped
//! definition file passes it.

use std::path::{Path, PathBuf};

use switchboard_core::definition::schema::{
    SCHEMA_PATH, definition_schema, definition_schema_text,
};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn schema_committed_file_matches_the_generated_one() {
    let path = workspace_root().join(SCHEMA_PATH);
    let generated = definition_schema_text();
    if std::env::var_os("SWITCHBOARD_UPDATE_SCHEMA").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{SCHEMA_PATH} is out of date with the definition types; regenerate it with \
         `SWITCHBOARD_UPDATE_SCHEMA=1 cargo test -p switchboard-core schema` and commit it"
    );
}

/// Every `connectors/*/definitions/*.json`.
fn shipped_definition_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for connector in std::fs::read_dir(workspace_root().join("connectors")).unwrap() {
        let dir = connector.unwrap().path().join("definitions");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let file = entry.unwrap().path();
            if file.extension().is_some_and(|e| e == "json") {
                files.push(file);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn schema_accepts_every_shipped_definition_file() {
    let validator = jsonschema::validator_for(&definition_schema()).unwrap();
    let files = shipped_definition_files();
    assert!(
        files
            .iter()
            .any(|f| f.ends_with("microsoft365/definitions/connector.json")),
        "no shipped definitions found: {files:?}"
    );
    let mut failures = Vec::new();
    for file in &files {
        let instance: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        for error in validator.iter_errors(&instance) {
            failures.push(format!(
                "{}: {}: {error}",
                file.display(),
                error.instance_path()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn schema_rejects_what_the_model_rejects() {
    let validator = jsonschema::validator_for(&definition_schema()).unwrap();
    let method = serde_json::json!({
        "id": "users.list_users", "category": "users", "name": "List users",
        "description": "Lists users.", "http_method": "GET", "path": "/users"
    });
    assert!(validator.is_valid(&serde_json::json!({"methods": [method.clone()]})));
    let mut unknown = method.clone();
    unknown["pathh"] = serde_json::json!("/users");
    assert!(!validator.is_valid(&serde_json::json!({"methods": [unknown]})));
    let mut bad_verb = method;
    bad_verb["http_method"] = serde_json::json!("FETCH");
    assert!(!validator.is_valid(&serde_json::json!({"methods": [bad_verb]})));
    assert!(!validator.is_valid(&serde_json::json!({"id": "x"})));
}
