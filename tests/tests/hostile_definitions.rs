//! Hostile definition files: the shipped connectors' definitions (Microsoft
//! 365 and GitHub) with random structural mutations (fields dropped,
//! replaced by values of the wrong type or of extreme size, moved, nested
//! deeply), files truncated, dropped or replaced by junk.
//!
//! The loader returns the definition or every problem, each naming a file
//! that was given and a JSON pointer, never panics; problem messages hold
//! no control or bidi characters. A definition that loads can be
//! registered, built into an engine and rendered with any arguments
//! without panicking, and rendering never blames the definition
//! (validation caught everything). `SWITCHBOARD_FUZZ_SCALE` multiplies the
//! case counts (see docs/engine.md).

use std::sync::Arc;

use proptest::prelude::*;
use serde_json::{Map, Value};
use switchboard_core::connector::{DefinitionConnector, Registry};
use switchboard_core::definition::load::load_sources;
use switchboard_core::definition::validate::MAX_PROBLEM_CHARS;
use switchboard_core::render::{RenderContext, render};
use switchboard_core::untrusted_text::is_unsafe_char;
use switchboard_core::{Arguments, Engine, ErrorKind};
use switchboard_hostile::{config, json as hostile_json, mutate, text};

/// Field names of the definition format, and values it gives meaning to.
const DEFINITION_KEYS: &[&str] = &[
    "id",
    "name",
    "version",
    "description",
    "base_url",
    "install_parameters",
    "auth_variants",
    "kind",
    "principal",
    "path",
    "parameters",
    "allowed_hosts",
    "default_headers",
    "headers",
    "categories",
    "methods",
    "category",
    "http_method",
    "pagination",
    "records",
    "permissions",
    "variants",
    "in",
    "type",
    "required",
    "default",
    "enum",
    "minimum",
    "maximum",
    "wire_name",
    "style",
    "value_template",
    "pattern",
    "format",
    "items",
    "idempotent",
    "idempotency_key",
    "response",
    "follow_cross_origin_redirects",
    "odata_delta",
    "link_header",
    "{principal}",
    "Content-Length",
];

type Files = Vec<(String, String)>;

fn shipped(files: &[(&str, &str)]) -> Files {
    files
        .iter()
        .map(|(name, text)| (name.to_string(), text.to_string()))
        .collect()
}

/// One file of a connector, as a person or a broken tool may leave it.
fn damaged_file(name: String, text: String) -> BoxedStrategy<Option<(String, String)>> {
    let Ok(value) = serde_json::from_str::<Value>(&text) else {
        return Just(Some((name, text))).boxed();
    };
    let keep = Just(Some((name.clone(), text.clone())));
    let mutated = {
        let name = name.clone();
        (mutate::mutated(value, DEFINITION_KEYS, 4), any::<bool>()).prop_map(move |(v, pretty)| {
            let text = if pretty {
                serde_json::to_string_pretty(&v).unwrap_or_default()
            } else {
                v.to_string()
            };
            Some((name.clone(), text))
        })
    };
    let truncated = {
        let name = name.clone();
        any::<prop::sample::Index>().prop_map(move |at| {
            let cut = text::floor_char_boundary(&text, at.index(text.len()));
            Some((name.clone(), text[..cut].to_string()))
        })
    };
    let junk = {
        let name = name.clone();
        hostile_json::object(DEFINITION_KEYS).prop_map(move |t| Some((name.clone(), t)))
    };
    prop_oneof![
        4 => keep,
        6 => mutated,
        1 => truncated,
        1 => junk,
        1 => Just(None),
    ]
    .boxed()
}

/// A connector's files (one of the shipped ones), each kept or damaged.
fn connector_files() -> impl Strategy<Value = Files> {
    prop_oneof![
        Just(shipped(switchboard_microsoft365::DEFINITION_FILES)),
        Just(shipped(switchboard_github::DEFINITION_FILES)),
    ]
    .prop_flat_map(|files| {
        files
            .into_iter()
            .map(|(name, text)| damaged_file(name, text))
            .collect::<Vec<_>>()
    })
    .prop_map(|files| files.into_iter().flatten().collect())
}

/// A connector's files with a few values of one of them changed but not
/// their types: what loads is the shipped definition with odd values.
fn lightly_damaged_files() -> impl Strategy<Value = Files> {
    prop_oneof![
        Just(shipped(switchboard_microsoft365::DEFINITION_FILES)),
        Just(shipped(switchboard_github::DEFINITION_FILES)),
    ]
    .prop_flat_map(|files| {
        let count = files.len();
        (Just(files), 0..count)
    })
    .prop_flat_map(|(files, which)| {
        let value: Value = serde_json::from_str(&files[which].1).unwrap_or(Value::Null);
        (Just(files), Just(which), mutate::perturbed(value, 1))
    })
    .prop_map(|(mut files, which, value)| {
        files[which].1 = value.to_string();
        files
    })
}

fn load(
    files: &Files,
) -> Result<switchboard_core::ConnectorDefinition, switchboard_core::Problems> {
    let sources: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    load_sources(&sources)
}

proptest! {
    #![proptest_config(config(48))]

    /// Any damage: the definition, or every problem at a file that was
    /// given (or the connector file it lacks), with a pointer and a message
    /// safe to print.
    #[test]
    fn damaged_definitions_give_problems_not_panics(files in connector_files()) {
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        match load(&files) {
            Ok(def) => {
                prop_assert!(switchboard_core::definition::validate::validate(&def).is_empty());
            }
            Err(problems) => {
                prop_assert!(!problems.is_empty());
                for problem in problems.iter() {
                    prop_assert!(
                        names.contains(&problem.file.as_str()) || problem.file == "connector.json",
                        "{} is not a given file", problem.file
                    );
                    prop_assert!(problem.pointer.is_empty() || problem.pointer.starts_with('/'), "{}", problem.pointer);
                    prop_assert!(!problem.message.is_empty());
                    let shown = problem.to_string();
                    prop_assert!(!shown.chars().any(is_unsafe_char), "an unsafe character reached {:?}", shown);
                    prop_assert!(problem.message.chars().count() <= MAX_PROBLEM_CHARS + 1);
                }
                let _ = problems.to_string();
            }
        }
    }

    /// A definition that loads is usable: it registers, builds into an
    /// engine, and renders every method with any arguments, failing only
    /// on the arguments.
    #[test]
    fn loaded_definitions_render_any_arguments(
        files in prop_oneof![1 => connector_files(), 3 => lightly_damaged_files()],
        values in proptest::collection::vec(hostile_json::any_value(&["value", "id"]), 0..8),
        base in prop_oneof![
            Just("https://graph.microsoft.com/v1.0".to_string()),
            Just("http://127.0.0.1:9/base/".to_string()),
        ],
    ) {
        let Ok(def) = load(&files) else {
            return Ok(());
        };
        let mut registry = Registry::new();
        registry.register(Arc::new(DefinitionConnector::new(def.clone()))).unwrap();
        Engine::builder(registry).build().unwrap();
        let base_url = url::Url::parse(&base).unwrap();
        for method in &def.methods {
            for variant in &def.auth_variants {
                let mut args = Map::new();
                for (parameter, value) in method.parameters.iter().zip(&values) {
                    args.insert(parameter.name.clone(), value.clone());
                }
                let ctx = RenderContext { connector: &def, method, variant, base_url: &base_url };
                if let Err(err) = render(&ctx, &Arguments::from_map(args)) {
                    prop_assert_ne!(err.kind(), ErrorKind::InvalidDefinition, "{}: {}", method.id, err);
                }
            }
        }
    }
}
