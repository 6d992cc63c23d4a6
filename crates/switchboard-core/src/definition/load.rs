//! Loading a connector definition from its files.
//!
//! A connector is one `connector.json` (a [`ConnectorDefinition`], whose
//! `methods` may be empty) plus any number of method files
//! (`{"methods": [...]}`, a [`MethodFile`]). The method files' methods are
//! appended to the connector's own, in file order.
//!
//! A connector crate embeds its files with `include_str!` and calls
//! [`load_sources`], so a built binary needs no files beside it; third-party
//! connectors are loaded from a directory at run time with [`load_dir`].
//!
//! Loading parses every file, then validates the whole definition
//! ([`crate::definition::validate`]): every problem is returned at once, each naming its
//! file and a JSON pointer into it.
//!
//! ```
//! use switchboard_core::definition::load::load_sources;
//!
//! let connector = r#"{
//!   "id": "example", "name": "Example", "version": "1.0.0", "description": "An example",
//!   "base_url": "https://api.example.com", "allowed_hosts": ["api.example.com"],
//!   "auth_variants": [{"id": "token", "name": "Token", "kind": "bearer_token"}],
//!   "categories": [{"id": "things", "name": "Things"}]
//! }"#;
//! let things = r#"{"methods": [{"id": "things.list_things", "category": "things",
//!   "name": "List things", "description": "Lists things.", "http_method": "GET", "path": "/thing"}]}"#;
//!
//! let def = load_sources(&[("definitions/connector.json", connector), ("definitions/things.json", things)]).unwrap();
//! assert_eq!(def.methods.len(), 1);
//!
//! let broken = things.replace("\"path\"", "\"pathh\"");
//! let problems = load_sources(&[("definitions/connector.json", connector), ("definitions/things.json", &broken)])
//!     .unwrap_err();
//! assert!(problems.to_string().starts_with(
//!     "definitions/things.json: /methods/0/pathh: unknown field \"pathh\": did you mean \"path\"?"
//! ));
//! ```

use std::path::Path;

use crate::files::{ReadLimitedError, read_limited_string};

/// The largest definition file [`load_dir`] reads: 4 MiB (the Microsoft
/// 365 connector's largest file is about 31 KB). Larger files are reported
/// as problems, unread.
pub const MAX_DEFINITION_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// The most definition bytes [`load_dir`] reads for one connector, over
/// all its files: 16 MiB.
pub const MAX_CONNECTOR_BYTES: u64 = 16 * 1024 * 1024;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::definition::validate::{
    Origins, Problem, Problems, closest, escape_pointer_token, validate_methods_only,
    validate_with_origins,
};
use crate::definition::{ConnectorDefinition, MethodDefinition, MethodFile};

/// Load a connector from named JSON texts: `(file name as reported, text)`.
///
/// Exactly one source is the connector file: the one whose name ends with
/// `connector.json`, or else the only one with an `id`. The others are
/// method files, appended in the order given.
///
/// ```
/// use switchboard_core::definition::load::load_sources;
///
/// let problems = load_sources(&[("connector.json", "{\"id\": ")]).unwrap_err();
/// assert_eq!(
///     problems.to_string(),
///     "connector.json: malformed JSON at line 1 column 7: EOF while parsing a value"
/// );
/// ```
pub fn load_sources(sources: &[(&str, &str)]) -> Result<ConnectorDefinition, Problems> {
    let mut problems = Vec::new();
    let mut parsed: Vec<(&str, Option<Value>)> = Vec::with_capacity(sources.len());
    for (name, text) in sources {
        match serde_json::from_str::<Value>(text) {
            Ok(value) => parsed.push((name, Some(value))),
            Err(err) => {
                problems.push(malformed(name, &err));
                parsed.push((name, None));
            }
        }
    }

    let connector_index = match choose_connector(&parsed) {
        Ok(index) => Some(index),
        Err(problem) => {
            problems.push(problem);
            None
        }
    };

    let mut header: Option<ConnectorDefinition> = None;
    let mut connector_file = String::from("connector.json");
    let mut methods: Vec<(MethodDefinition, String, usize)> = Vec::new();
    let mut file_methods: Vec<(MethodDefinition, String, usize)> = Vec::new();

    for (index, (name, value)) in parsed.into_iter().enumerate() {
        let Some(value) = value else { continue };
        let is_connector = connector_index == Some(index);
        let Some((rest, method_values)) = split_methods(name, value, &mut problems) else {
            continue;
        };
        if is_connector {
            connector_file = name.to_string();
            match deserialize::<ConnectorDefinition>(rest, name, "") {
                Ok(def) => header = Some(def),
                Err(problem) => problems.push(problem),
            }
        } else if let Err(problem) = deserialize::<MethodFile>(rest, name, "") {
            problems.push(problem);
        }
        let target = if is_connector {
            &mut methods
        } else {
            &mut file_methods
        };
        for (i, method) in method_values.into_iter().enumerate() {
            match deserialize::<MethodDefinition>(method, name, &format!("/methods/{i}")) {
                Ok(method) => target.push((method, name.to_string(), i)),
                Err(problem) => problems.push(problem),
            }
        }
    }
    methods.extend(file_methods);

    let mut origins = Origins::new(connector_file);
    let methods: Vec<MethodDefinition> = methods
        .into_iter()
        .map(|(method, file, index)| {
            origins.push_method(file, index);
            method
        })
        .collect();
    let Some(mut def) = header else {
        // Without a connector, still report what the methods alone show.
        problems.extend(validate_methods_only(methods, &origins));
        return Err(Problems::from(problems));
    };
    def.methods = methods;
    problems.extend(validate_with_origins(&def, &origins));
    if problems.is_empty() {
        Ok(def)
    } else {
        Err(Problems::from(problems))
    }
}

/// Load every `*.json` file of a directory, sorted by name. Files are
/// reported as the directory's last component and the file name
/// (`definitions/mail.json`).
///
/// ```no_run
/// let def = switchboard_core::definition::load::load_dir(std::path::Path::new("connectors/microsoft365/definitions"))?;
/// println!("{} methods", def.methods.len());
/// # Ok::<(), switchboard_core::definition::validate::Problems>(())
/// ```
pub fn load_dir(path: &Path) -> Result<ConnectorDefinition, Problems> {
    let dir_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .or_else(|| {
            std::fs::canonicalize(path)
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        })
        .unwrap_or_else(|| path.display().to_string());
    let unreadable = |what: String| Problems::from(vec![Problem::new(dir_name.clone(), "", what)]);

    let entries = std::fs::read_dir(path).map_err(|err| {
        unreadable(format!(
            "cannot read the definitions directory {}: {err}",
            path.display()
        ))
    })?;
    let mut files: Vec<std::path::PathBuf> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|err| {
            unreadable(format!(
                "cannot read the definitions directory {}: {err}",
                path.display()
            ))
        })?;
        let file = entry.path();
        if file.extension().is_some_and(|e| e == "json") && file.is_file() {
            files.push(file);
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    if files.is_empty() {
        return Err(unreadable(format!(
            "{} holds no .json definition files: add a connector.json",
            path.display()
        )));
    }

    let mut texts: Vec<(String, String)> = Vec::with_capacity(files.len());
    let mut problems = Vec::new();
    let mut left = MAX_CONNECTOR_BYTES;
    for file in &files {
        let file_name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = format!("{dir_name}/{file_name}");
        let limit = MAX_DEFINITION_FILE_BYTES.min(left);
        match read_limited_string(file, limit) {
            Ok(text) => {
                left -= text.len() as u64;
                texts.push((name, text));
            }
            Err(ReadLimitedError::TooLarge { .. }) if limit < MAX_DEFINITION_FILE_BYTES => {
                problems.push(Problem::new(
                    name,
                    "",
                    format!(
                        "the connector's definition files together exceed {MAX_CONNECTOR_BYTES} bytes, the most that is read; split the connector or trim its files"
                    ),
                ));
                break;
            }
            Err(err @ ReadLimitedError::TooLarge { .. }) => problems.push(Problem::new(
                name,
                "",
                format!("the file {err}, the most a definition file may hold; split its methods into several files"),
            )),
            Err(err) => problems.push(Problem::new(
                name,
                "",
                format!("cannot read the file: {err}"),
            )),
        }
    }
    let sources: Vec<(&str, &str)> = texts
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    match load_sources(&sources) {
        Ok(def) if problems.is_empty() => Ok(def),
        Ok(_) => Err(Problems::from(problems)),
        Err(more) => {
            problems.extend(more);
            Err(Problems::from(problems))
        }
    }
}

/// `malformed JSON at line L column C: what`.
fn malformed(file: &str, err: &serde_json::Error) -> Problem {
    let text = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    let what = text.strip_suffix(&suffix).unwrap_or(&text);
    Problem::new(
        file,
        "",
        format!(
            "malformed JSON at line {} column {}: {what}",
            err.line(),
            err.column()
        ),
    )
}

/// The index of the connector file among the parsed sources.
fn choose_connector(parsed: &[(&str, Option<Value>)]) -> Result<usize, Problem> {
    let by_name: Vec<usize> = parsed
        .iter()
        .enumerate()
        .filter(|(_, (name, _))| name.ends_with("connector.json"))
        .map(|(i, _)| i)
        .collect();
    match by_name.as_slice() {
        [one] => return Ok(*one),
        [first, ..] => {
            let names: Vec<&str> = by_name.iter().map(|i| parsed[*i].0).collect();
            return Err(Problem::new(
                parsed[*first].0,
                "",
                format!(
                    "several connector files ({}): keep exactly one connector.json and put methods in other files",
                    names.join(", ")
                ),
            ));
        }
        [] => {}
    }
    let with_id: Vec<usize> = parsed
        .iter()
        .enumerate()
        .filter(|(_, (_, value))| value.as_ref().and_then(|v| v.get("id")).is_some())
        .map(|(i, _)| i)
        .collect();
    match with_id.as_slice() {
        [one] => Ok(*one),
        [] => {
            let names: Vec<&str> = parsed.iter().map(|(n, _)| *n).collect();
            let among = if names.is_empty() {
                "no files were given".to_string()
            } else {
                format!("none of {} is one", names.join(", "))
            };
            Err(Problem::new(
                "connector.json",
                "",
                format!(
                    "no connector file: {among}; add a connector.json with id, name, version, description, base_url, auth_variants, allowed_hosts and categories"
                ),
            ))
        }
        [first, ..] => {
            let names: Vec<&str> = with_id.iter().map(|i| parsed[*i].0).collect();
            Err(Problem::new(
                parsed[*first].0,
                "",
                format!(
                    "several files have an id ({}), so the connector file is unclear: name it connector.json",
                    names.join(", ")
                ),
            ))
        }
    }
}

/// Take the `methods` array out of a file's object (leaving `[]` in its
/// place), so the file and each method are deserialized separately and a
/// problem in one method does not hide the others.
fn split_methods(
    file: &str,
    value: Value,
    problems: &mut Vec<Problem>,
) -> Option<(Value, Vec<Value>)> {
    let Value::Object(mut object) = value else {
        problems.push(Problem::new(
            file,
            "",
            "a definition file must be a JSON object: a connector (with id, name, ...) or {\"methods\": [...]}",
        ));
        return None;
    };
    let methods = match object.remove("methods") {
        Some(Value::Array(methods)) => {
            object.insert("methods".into(), Value::Array(Vec::new()));
            methods
        }
        Some(other) => {
            // Left in place: deserializing reports its wrong type.
            object.insert("methods".into(), other);
            Vec::new()
        }
        None => Vec::new(),
    };
    Some((Value::Object(object), methods))
}

/// Deserialize `value` (found at `base` in `file`) and turn a failure into
/// a problem at the exact pointer.
fn deserialize<T: DeserializeOwned>(value: Value, file: &str, base: &str) -> Result<T, Problem> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|err| {
        let mut pointer = base.to_string();
        for segment in err.path().iter() {
            match segment {
                serde_path_to_error::Segment::Seq { index } => {
                    pointer.push('/');
                    pointer.push_str(&index.to_string());
                }
                serde_path_to_error::Segment::Map { key } => {
                    pointer.push('/');
                    pointer.push_str(&escape_pointer_token(key));
                }
                serde_path_to_error::Segment::Enum { .. }
                | serde_path_to_error::Segment::Unknown => {}
            }
        }
        Problem::new(file, pointer, explain(&err.into_inner().to_string()))
    })
}

/// Reword serde's messages: name the closest known field or value.
fn explain(message: &str) -> String {
    let quoted = backticked(message);
    let (what, plural) = if message.starts_with("unknown field") {
        ("field", "fields")
    } else if message.starts_with("unknown variant") {
        ("value", "values")
    } else if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|m| m.strip_suffix('`'))
    {
        return format!("missing required field \"{field}\"");
    } else {
        return message.to_string();
    };
    let Some((word, known)) = quoted.split_first() else {
        return message.to_string();
    };
    let list = known.join(", ");
    match closest(word, known.iter().map(String::as_str)) {
        Some(best) => format!(
            "unknown {what} \"{word}\": did you mean \"{best}\"? (allowed {plural}: {list})"
        ),
        None => format!("unknown {what} \"{word}\": no {plural} are allowed here"),
    }
}

/// The `backticked` words of a serde message, in order.
fn backticked(message: &str) -> Vec<String> {
    message
        .split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s.to_string())
        .collect()
}

/// Where a connector's definition files are inside `dir`: `dir` itself when
/// it holds a `connector.json`, or its `definitions/` folder (a connector
/// crate's layout).
fn definitions_in(dir: &Path) -> Option<std::path::PathBuf> {
    if dir.join("connector.json").is_file() {
        Some(dir.to_path_buf())
    } else if dir.join("definitions").join("connector.json").is_file() {
        Some(dir.join("definitions"))
    } else {
        None
    }
}

/// Load every connector found under `dir`, for connectors that need no Rust
/// hook (wrap each in a [`crate::connector::DefinitionConnector`]).
///
/// `dir` is one connector when it (or its `definitions/` folder) holds a
/// `connector.json`; otherwise each of its subdirectories that does is one
/// connector, in name order, and subdirectories without one are skipped.
/// Every connector is validated; the problems of all of them are returned
/// together, each prefixed with its connector's directory.
///
/// ```
/// use switchboard_core::definition::load::load_connectors_dir;
///
/// let root = tempfile::tempdir().unwrap();
/// let dir = root.path().join("example");
/// std::fs::create_dir(&dir).unwrap();
/// std::fs::write(dir.join("connector.json"), r#"{
///   "id": "example", "name": "Example", "version": "1.0.0", "description": "An example",
///   "base_url": "https://api.example.com", "allowed_hosts": ["api.example.com"],
///   "auth_variants": [{"id": "token", "name": "Token", "kind": "bearer_token"}],
///   "categories": [{"id": "things", "name": "Things"}]
/// }"#).unwrap();
/// let found = load_connectors_dir(root.path()).unwrap();
/// assert_eq!(found.len(), 1);
/// assert_eq!(found[0].id, "example");
/// // the connector's own directory works too
/// assert_eq!(load_connectors_dir(&dir).unwrap()[0].id, "example");
/// ```
pub fn load_connectors_dir(dir: &Path) -> Result<Vec<ConnectorDefinition>, Problems> {
    let shown = dir.display().to_string();
    if let Some(definitions) = definitions_in(dir) {
        return load_dir(&definitions)
            .map(|def| vec![def])
            .map_err(|p| prefixed(&shown, p));
    }
    let entries = std::fs::read_dir(dir).map_err(|err| {
        Problems::from(vec![Problem::new(
            shown.clone(),
            "",
            format!("cannot read the connectors directory: {err}"),
        )])
    })?;
    let mut dirs: Vec<std::path::PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut found = Vec::new();
    let mut problems = Vec::new();
    for sub in dirs {
        let Some(definitions) = definitions_in(&sub) else {
            continue;
        };
        match load_dir(&definitions) {
            Ok(def) => found.push(def),
            Err(p) => problems.extend(prefixed(&sub.display().to_string(), p)),
        }
    }
    if !problems.is_empty() {
        return Err(Problems::from(problems));
    }
    if found.is_empty() {
        return Err(Problems::from(vec![Problem::new(
            shown,
            "",
            "holds no connector: expected a connector.json in it, in its definitions/ folder, or in its subdirectories",
        )]));
    }
    Ok(found)
}

/// The problems with their file names prefixed by the connector's directory.
fn prefixed(dir: &str, problems: Problems) -> Problems {
    Problems::from(
        problems
            .into_iter()
            .map(|mut p| {
                p.file = format!("{dir}: {}", p.file);
                p
            })
            .collect::<Vec<_>>(),
    )
}
