//! `switchboard new connector <name> [--dir D] [--core-path P]`: scaffold
//! a connector crate that builds, validates and passes its tests as
//! generated. See docs/authoring.md.

use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use switchboard_core::{Error, ErrorKind, Result};

/// Where this binary's own switchboard-core sources were, at build time.
const BUILT_FROM_CORE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../switchboard-core");

/// The files of a new connector crate, `{{...}}` placeholders unfilled.
const TEMPLATES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("new/Cargo.toml.tmpl")),
    (".gitignore", "/target\n"),
    ("README.md", include_str!("new/README.md.tmpl")),
    (
        "definitions/connector.json",
        include_str!("new/connector.json.tmpl"),
    ),
    (
        "definitions/items.json",
        include_str!("new/items.json.tmpl"),
    ),
    ("src/lib.rs", include_str!("new/lib.rs.tmpl")),
    ("src/hooks.rs", include_str!("new/hooks.rs.tmpl")),
    (
        "tests/definitions.rs",
        include_str!("new/definitions.rs.tmpl"),
    ),
    ("tests/items.rs", include_str!("new/items.rs.tmpl")),
];

pub fn connector(name: &str, dir: &Path, core_path: Option<&Path>) -> Result<ExitCode> {
    check_name(name)?;
    let target = dir.join(name);
    if target.exists() {
        return Err(Error::invalid_argument(
            "name",
            format!(
                "{} already exists; choose another name or --dir",
                target.display()
            ),
        ));
    }
    let core = core_dependency_path(dir, core_path)?;
    let files = render(name, &core);
    for (relative, text) in &files {
        let path = target.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
        }
        std::fs::write(&path, text).map_err(|e| io_error(&path, e))?;
    }
    println!(
        "created connector crate switchboard-{name} in {}",
        target.display()
    );
    println!("  switchboard-core: {core}");
    println!("next:");
    println!("  cd {}", target.display());
    println!("  switchboard validate definitions");
    println!("  cargo test");
    Ok(ExitCode::SUCCESS)
}

/// The connector id rule of the definition format (`acme-crm`, `zendesk`).
fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name.len() <= 64;
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_argument(
            "name",
            format!(
                "`{name}` is not a valid connector id: use lower-case letters, digits, '-' and '_', starting with a letter (such as acme-crm), at most 64 characters"
            ),
        ))
    }
}

/// The text of the `path = "..."` for switchboard-core in the new crate,
/// relative to the new crate's directory when possible.
fn core_dependency_path(dir: &Path, given: Option<&Path>) -> Result<String> {
    let crate_dir = absolute(&dir.join("new-connector"))?;
    let core = match given {
        Some(path) => {
            let path = absolute(path)?;
            if !path.join("Cargo.toml").is_file() {
                return Err(Error::invalid_argument(
                    "--core-path",
                    format!(
                        "{} has no Cargo.toml: give the switchboard-core crate's directory (crates/switchboard-core in the switchboard repository)",
                        path.display()
                    ),
                ));
            }
            path
        }
        None => {
            let found = crate_dir
                .ancestors()
                .skip(1)
                .map(|a| a.join("crates").join("switchboard-core"))
                .find(|c| c.join("Cargo.toml").is_file());
            match found {
                Some(core) => core,
                None if Path::new(BUILT_FROM_CORE).join("Cargo.toml").is_file() => {
                    absolute(Path::new(BUILT_FROM_CORE))?
                }
                None => {
                    return Err(Error::invalid_argument(
                        "--core-path",
                        "switchboard-core was not found in an ancestor of --dir (as crates/switchboard-core); give its directory with --core-path",
                    ));
                }
            }
        }
    };
    let core = normalise(&core);
    let path = match relative_to(&core, &normalise(&crate_dir)) {
        Some(relative) => relative,
        None => core,
    };
    Ok(path.to_string_lossy().replace('\\', "/"))
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|e| io_error(path, e))
}

/// `.` and `..` removed lexically.
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `target` relative to `base` (both absolute and normalised), when they
/// share a root.
fn relative_to(target: &Path, base: &Path) -> Option<PathBuf> {
    let t: Vec<Component<'_>> = target.components().collect();
    let b: Vec<Component<'_>> = base.components().collect();
    if t.first() != b.first() {
        return None;
    }
    let common = t.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c);
    }
    Some(out)
}

/// The files with placeholders filled: `{{id}}` (connector id),
/// `{{crate}}` (package name), `{{lib}}` (library name), `{{type}}` (the
/// connector type's name), `{{core_path}}`.
fn render(name: &str, core_path: &str) -> Vec<(String, String)> {
    let crate_name = format!("switchboard-{name}");
    let lib = crate_name.replace('-', "_");
    let type_name: String = name
        .split(['-', '_'])
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<String>()
        + "Connector";
    let display = name
        .split(['-', '_'])
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    TEMPLATES
        .iter()
        .map(|(path, text)| {
            let text = text
                .replace("{{id}}", name)
                .replace("{{name}}", &display)
                .replace("{{crate}}", &crate_name)
                .replace("{{lib}}", &lib)
                .replace("{{type}}", &type_name)
                .replace("{{core_path}}", core_path);
            (path.to_string(), text)
        })
        .collect()
}

fn io_error(path: &Path, err: std::io::Error) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!("could not write {}: {err}", path.display()),
    )
    .with_source(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_connector_id_rule() {
        assert!(check_name("acme-crm").is_ok());
        assert!(check_name("zendesk2").is_ok());
        for bad in ["", "Acme", "1password", "acme crm", "acme/crm", "../x"] {
            let err = check_name(bad).unwrap_err();
            assert_eq!(err.field(), Some("name"), "{bad}");
        }
    }

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative_to(Path::new("/w/crates/core"), Path::new("/w/connectors/acme")).unwrap(),
            PathBuf::from("../../crates/core")
        );
        assert_eq!(
            normalise(Path::new("/a/b/../c/./d")),
            PathBuf::from("/a/c/d")
        );
    }

    #[test]
    fn core_is_found_in_an_ancestor_of_the_target_directory() {
        let root = tempfile::tempdir().unwrap();
        let core = root.path().join("crates/switchboard-core");
        std::fs::create_dir_all(&core).unwrap();
        std::fs::write(core.join("Cargo.toml"), "[package]\n").unwrap();
        let connectors = root.path().join("connectors");
        std::fs::create_dir_all(&connectors).unwrap();
        assert_eq!(
            core_dependency_path(&connectors, None).unwrap(),
            "../../crates/switchboard-core"
        );
        let err = core_dependency_path(&connectors, Some(&root.path().join("nope"))).unwrap_err();
        assert_eq!(err.field(), Some("--core-path"));
    }

    #[test]
    fn templates_are_filled() {
        let files = render("acme-crm", "../core");
        for (path, text) in &files {
            assert!(!text.contains("{{"), "{path} keeps a placeholder");
        }
        let cargo = &files.iter().find(|(p, _)| p == "Cargo.toml").unwrap().1;
        assert!(cargo.contains("name = \"switchboard-acme-crm\""));
        assert!(cargo.contains("path = \"../core\""));
        assert!(cargo.contains("[workspace]"));
        let lib = &files.iter().find(|(p, _)| p == "src/lib.rs").unwrap().1;
        assert!(lib.contains("pub struct AcmeCrmConnector"));
    }
}
