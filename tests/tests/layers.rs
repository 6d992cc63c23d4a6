//! The layering rule, checked on the sources: within a crate, no two
//! modules import each other. Two modules that are not nested in one
//! another (`engine` and `paging`, `engine::pipeline` and
//! `engine::stream`) may depend on each other in one direction only; a
//! module's own submodules count as the module.
//!
//! References are read from `use crate::...`, `crate::...` paths and
//! `super::...` paths in code (comments and doc links do not count).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The crates whose modules are checked: every crate of the workspace.
fn crate_roots() -> Vec<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut roots = Vec::new();
    for group in ["crates", "connectors"] {
        let Ok(entries) = fs::read_dir(workspace.join(group)) else {
            continue;
        };
        for entry in entries.flatten() {
            let src = entry.path().join("src");
            if src.join("lib.rs").exists() || src.join("main.rs").exists() {
                roots.push(src);
            }
        }
    }
    roots.sort();
    roots
}

/// `src/a/b.rs` and `src/a/b/mod.rs` are module `["a", "b"]`; `lib.rs` and
/// `main.rs` are the root `[]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") || !parts.is_empty() && stem != "mod" {
        parts.push(stem.to_string());
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without comments (line comments, doc comments and
/// block comments) and without string literals' contents.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut prev = ' ';
                for c in chars.by_ref() {
                    if prev == '*' && c == '/' {
                        break;
                    }
                    prev = c;
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        break;
                    }
                }
                out.push_str("\"\"");
            }
            _ => out.push(c),
        }
    }
    out
}

fn ident(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// The module-like part of a path: its leading lower-case segments
/// (`engine::stream::RecordStream` gives `engine::stream`).
fn module_path(text: &str) -> Vec<String> {
    let mut path = Vec::new();
    let mut rest = text;
    loop {
        let name = ident(rest);
        if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            break;
        }
        path.push(name.to_string());
        match rest[name.len()..].strip_prefix("::") {
            Some(next) => rest = next,
            None => break,
        }
    }
    path
}

/// The module paths after `prefix` (`crate::` or `super::`), including
/// each item of a brace group `crate::{a, b::c}`.
fn paths_after(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().last();
        rest = &rest[at + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue; // `foo_crate::`, `super::super::`
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let path = module_path(item.trim());
                if !path.is_empty() {
                    found.push(path);
                }
            }
        } else {
            let path = module_path(rest);
            if !path.is_empty() {
                found.push(path);
            }
        }
    }
    found
}

/// Every module of one crate and the module paths it refers to.
fn references(src: &Path) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut refs: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for file in files {
        let module = module_of(src, &file);
        let code = code_only(&fs::read_to_string(&file).expect("readable source"));
        let entry = refs.entry(module.clone()).or_default();
        for path in paths_after(&code, "crate::") {
            entry.insert(path);
        }
        if let Some((_, parent)) = module.split_last() {
            for path in paths_after(&code, "super::") {
                let mut target = parent.to_vec();
                target.extend(path);
                entry.insert(target);
            }
        }
    }
    refs
}

fn is_within(path: &[String], module: &[String]) -> bool {
    path.len() >= module.len() && path[..module.len()] == *module
}

/// Pairs of modules, neither inside the other, that refer to each other
/// (counting everything inside each).
fn mutual_imports(refs: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<(String, String)> {
    let modules: Vec<&Vec<String>> = refs.keys().filter(|m| !m.is_empty()).collect();
    let refers = |a: &[String], b: &[String]| {
        refs.iter()
            .any(|(from, targets)| is_within(from, a) && targets.iter().any(|t| is_within(t, b)))
    };
    let mut found = Vec::new();
    for (i, a) in modules.iter().enumerate() {
        for b in &modules[i + 1..] {
            // siblings only: same parent
            if a.len() != b.len() || a[..a.len() - 1] != b[..b.len() - 1] {
                continue;
            }
            if refers(a, b) && refers(b, a) {
                found.push((a.join("::"), b.join("::")));
            }
        }
    }
    found
}

#[test]
fn no_two_modules_of_a_crate_import_each_other() {
    let roots = crate_roots();
    assert!(roots.len() >= 8, "found only {roots:?}");
    let mut problems = Vec::new();
    for src in &roots {
        let found = mutual_imports(&references(src));
        for (a, b) in found {
            problems.push(format!(
                "{}: `{a}` and `{b}` import each other",
                src.display()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_check_sees_a_cycle_when_there_is_one() {
    let mut refs: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    let m = |s: &str| s.split("::").map(str::to_string).collect::<Vec<_>>();
    refs.entry(m("engine::stream"))
        .or_default()
        .insert(m("paging"));
    refs.entry(m("paging")).or_default().insert(m("engine"));
    refs.entry(m("engine")).or_default();
    refs.entry(m("render")).or_default().insert(m("engine"));
    assert_eq!(
        mutual_imports(&refs),
        vec![("engine".to_string(), "paging".to_string())]
    );
    let code = code_only(
        "use crate::{engine::stream::Walk, paging}; // crate::render\nlet s = \"crate::x\"; crate::bounds::later(1);",
    );
    assert_eq!(
        paths_after(&code, "crate::"),
        vec![m("engine::stream"), m("paging"), m("bounds::later")]
    );
}
