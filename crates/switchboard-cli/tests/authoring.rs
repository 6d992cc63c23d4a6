//! The authoring commands, run as the built binary: `new connector`
//! scaffolds a crate whose definitions validate, and `--connectors-dir`
//! loads definitions at run time for `connectors`, `methods` and `validate`.
//! (Building and testing a scaffolded crate is the end-to-end test in the
//! switchboard-tests crate.)

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn switchboard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .env_remove("SWITCHBOARD_CONNECTORS_DIR")
        .output()
        .expect("the switchboard binary runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn core_path() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../switchboard-core")
        .display()
        .to_string()
}

fn scaffold(dir: &Path, name: &str) {
    let out = switchboard(&[
        "new",
        "connector",
        name,
        "--dir",
        dir.to_str().unwrap(),
        "--core-path",
        &core_path(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn new_connector_writes_a_crate_whose_definitions_validate() {
    let dir = tempfile::tempdir().unwrap();
    scaffold(dir.path(), "acme-crm");
    let root = dir.path().join("acme-crm");
    for file in [
        "Cargo.toml",
        "definitions/connector.json",
        "definitions/items.json",
        "src/lib.rs",
        "src/hooks.rs",
        "tests/definitions.rs",
        "tests/items.rs",
    ] {
        assert!(root.join(file).is_file(), "{file} missing");
    }
    let cargo = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(cargo.contains("name = \"switchboard-acme-crm\""), "{cargo}");
    assert!(cargo.contains("[workspace]"), "{cargo}");
    assert!(cargo.contains("features = [\"testing\"]"), "{cargo}");

    // the crate directory and its definitions/ both validate
    for target in [root.clone(), root.join("definitions")] {
        let out = switchboard(&["validate", target.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out));
        assert!(
            text(&out).contains("acme-crm 0.1.0 is valid (1 methods)"),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn new_connector_refuses_bad_names_and_existing_directories() {
    let dir = tempfile::tempdir().unwrap();
    let out = switchboard(&[
        "new",
        "connector",
        "Acme CRM",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("`name`"), "{}", text(&out));
    // nothing was written
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    scaffold(dir.path(), "acme");
    let out = switchboard(&[
        "new",
        "connector",
        "acme",
        "--dir",
        dir.path().to_str().unwrap(),
        "--core-path",
        &core_path(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("already exists"), "{}", text(&out));
}

#[test]
fn connectors_dir_adds_definition_connectors_to_connectors_and_methods() {
    let dir = tempfile::tempdir().unwrap();
    scaffold(dir.path(), "acme");
    let d = dir.path().to_str().unwrap();

    let out = switchboard(&["--connectors-dir", d, "connectors", "--output", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["acme", "github", "microsoft365"]);

    // the flag is global: after the command too
    let out = switchboard(&["methods", "acme", "--output", "json", "--connectors-dir", d]);
    assert!(out.status.success(), "{}", text(&out));
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["id"], "items.list_items");
    assert_eq!(rows[0]["path"], "/items");
    assert_eq!(rows[0]["variant"], "api_token");

    // without the flag the connector is unknown
    let out = switchboard(&["methods", "acme"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    // a directory of connectors validates as a whole
    let out = switchboard(&["validate", d]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn connectors_dir_problems_and_id_clashes_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    scaffold(dir.path(), "acme");
    let connector = dir.path().join("acme/definitions/connector.json");
    let broken = std::fs::read_to_string(&connector)
        .unwrap()
        .replace("\"version\": \"0.1.0\"", "\"version\": \"0.1\"");
    std::fs::write(&connector, broken).unwrap();
    let d = dir.path().to_str().unwrap();
    let out = switchboard(&["--connectors-dir", d, "connectors"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("definitions/connector.json: /version:"),
        "{}",
        text(&out)
    );

    // a runtime connector may not take a built-in connector's id
    let clash = tempfile::tempdir().unwrap();
    scaffold(clash.path(), "github");
    let out = switchboard(&[
        "--connectors-dir",
        clash.path().to_str().unwrap(),
        "connectors",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("`github`"), "{}", text(&out));
    assert!(text(&out).contains("already registered"), "{}", text(&out));
}
