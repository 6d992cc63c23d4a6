//! End to end, as docs/authoring.md tells a connector author: scaffold a
//! connector with `switchboard new connector`, validate it with
//! `switchboard validate`, then build and test the generated crate with
//! cargo. The generated crate is a workspace of its own (not a member of
//! ours) that depends on switchboard-core by path; it shares our target
//! directory and our Cargo.lock so the compiled dependencies are reused.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// The target directory this test was built into (`<target>/debug/deps/this`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| workspace_root().join("target"))
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    // Cargo releases the build directory's lock once tests run (cargo test
    // and nextest alike), so the nested builds share our target directory.
    let target = target_dir();
    cmd.env("CARGO_TARGET_DIR", target)
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .env("CARGO_TERM_COLOR", "never");
    cmd
}

fn check(what: &str, out: &Output) -> String {
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what} failed:\n{text}");
    text
}

#[test]
fn a_scaffolded_connector_validates_builds_and_passes_its_tests() {
    let root = workspace_root();

    // 1. the switchboard binary
    let out = cargo()
        .args([
            "build",
            "--quiet",
            "-p",
            "switchboard-cli",
            "--bin",
            "switchboard",
        ])
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .arg("--message-format=json")
        .output()
        .unwrap();
    let text = check("building the switchboard binary", &out);
    let binary = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "switchboard")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("cargo reports the switchboard executable");

    // 2. switchboard new connector acme-crm --dir <tmp> --core-path <ours>
    //    A fixed place, emptied first: the same path on every run keeps the
    //    generated crate's package id, so its artifacts are replaced rather
    //    than piling up in the shared target directory.
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join("scaffold-e2e");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).unwrap();
    }
    std::fs::create_dir_all(&tmp).unwrap();
    let out = Command::new(&binary)
        .args(["new", "connector", "acme-crm", "--dir"])
        .arg(&tmp)
        .arg("--core-path")
        .arg(root.join("crates/switchboard-core"))
        .output()
        .unwrap();
    let text = check("switchboard new connector", &out);
    assert!(
        text.contains("created connector crate switchboard-acme-crm"),
        "{text}"
    );
    let crate_dir = tmp.join("acme-crm");

    // 3. switchboard validate <crate>/definitions
    let out = Command::new(&binary)
        .arg("validate")
        .arg(crate_dir.join("definitions"))
        .output()
        .unwrap();
    let text = check("switchboard validate", &out);
    assert!(
        text.contains("acme-crm 0.1.0 is valid (1 methods)"),
        "{text}"
    );

    // 4. cargo test in the generated crate, with our lock file so the
    //    dependency versions (and so the compiled artifacts) are ours
    std::fs::copy(root.join("Cargo.lock"), crate_dir.join("Cargo.lock")).unwrap();
    let out = cargo()
        .arg("test")
        // no incremental cache for a crate nobody edits
        .env("CARGO_INCREMENTAL", "0")
        .arg("--manifest-path")
        .arg(crate_dir.join("Cargo.toml"))
        .output()
        .unwrap();
    let text = check("cargo test in the generated crate", &out);
    for test in [
        "definitions_pass_schema_and_validation ... ok",
        "list_items_sends_the_limit_and_yields_the_items ... ok",
        "a_limit_out_of_bounds_is_refused_before_anything_is_sent ... ok",
    ] {
        assert!(text.contains(test), "`{test}` missing from:\n{text}");
    }
    assert!(!text.contains("FAILED"), "{text}");
    std::fs::remove_dir_all(&tmp).unwrap();
}
