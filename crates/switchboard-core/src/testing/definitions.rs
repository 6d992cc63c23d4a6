//! Checking definition files against the JSON Schema and the validation
//! rules, for a connector crate's tests.

use std::path::Path;

use serde_json::Value;

use crate::definition::ConnectorDefinition;
use crate::definition::load::load_sources;
use crate::definition::schema::definition_schema;

/// Every problem in a connector's definition files: each file against the
/// JSON Schema (`file: /pointer: schema: ...`), then the whole connector
/// against the loader's validation rules (`file: /pointer: ...`). Empty
/// when all is well.
///
/// ```
/// use switchboard_core::testing::definition_problems;
///
/// let connector = r#"{"id": "example", "name": "Example", "version": "1.0", "description": "d",
///   "base_url": "https://api.example.com", "allowed_hosts": ["api.example.com"],
///   "auth_variants": [{"id": "token", "name": "Token", "kind": "bearer_token"}],
///   "categories": [{"id": "things", "name": "Things"}]}"#;
/// let problems = definition_problems(&[("connector.json", connector)]);
/// assert_eq!(problems, vec![
///     "connector.json: /version: \"1.0\" is not a semantic version: use MAJOR.MINOR.PATCH such as 1.2.0".to_string()
/// ]);
/// ```
pub fn definition_problems(files: &[(&str, &str)]) -> Vec<String> {
    let mut problems = Vec::new();
    match jsonschema::validator_for(&definition_schema()) {
        Ok(validator) => {
            for (name, text) in files {
                // Malformed JSON is reported by the loader below.
                let Ok(instance) = serde_json::from_str::<Value>(text) else {
                    continue;
                };
                for error in validator.iter_errors(&instance) {
                    problems.push(format!(
                        "{name}: {}: schema: {error}",
                        error.instance_path()
                    ));
                }
            }
        }
        Err(err) => problems.push(format!("the JSON Schema could not be compiled: {err}")),
    }
    if let Err(more) = load_sources(files) {
        problems.extend(more.iter().map(ToString::to_string));
    }
    problems
}

/// Check a connector's definition files (as embedded with `include_str!`)
/// and return the loaded definition.
///
/// # Panics
///
/// With every problem, one a line, when there is any.
///
/// ```
/// use switchboard_core::testing::check_definition_files;
///
/// let def = check_definition_files(&[("connector.json", r#"{"id": "example", "name": "Example",
///   "version": "1.0.0", "description": "d", "base_url": "https://api.example.com",
///   "allowed_hosts": ["api.example.com"],
///   "auth_variants": [{"id": "token", "name": "Token", "kind": "bearer_token"}],
///   "categories": [{"id": "things", "name": "Things"}]}"#)]);
/// assert_eq!(def.id, "example");
/// ```
pub fn check_definition_files(files: &[(&str, &str)]) -> ConnectorDefinition {
    let problems = definition_problems(files);
    if !problems.is_empty() {
        panic!(
            "the connector definition has {} problem(s):\n{}",
            problems.len(),
            problems.join("\n")
        );
    }
    match load_sources(files) {
        Ok(def) => def,
        Err(problems) => panic!("the connector definition has problems:\n{problems}"),
    }
}

/// Check every `*.json` file of a directory (as [`crate::definition::load::load_dir`]
/// reads it) and return the loaded definition.
///
/// # Panics
///
/// With every problem, one a line, or when the directory cannot be read.
pub fn check_definition_dir(dir: impl AsRef<Path>) -> ConnectorDefinition {
    let dir = dir.as_ref();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => panic!("cannot read {}: {err}", dir.display()),
    };
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json") && p.is_file())
        .collect();
    paths.sort();
    let dir_name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string());
    let mut files = Vec::with_capacity(paths.len());
    for path in &paths {
        let name = format!(
            "{dir_name}/{}",
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        match std::fs::read_to_string(path) {
            Ok(text) => files.push((name, text)),
            Err(err) => panic!("cannot read {}: {err}", path.display()),
        }
    }
    let sources: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    check_definition_files(&sources)
}
