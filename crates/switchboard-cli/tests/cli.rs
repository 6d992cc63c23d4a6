//! The CLI's contract, tested by running the built binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn switchboard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .output()
        .expect("the switchboard binary runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn definitions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../connectors/microsoft365/definitions")
}

#[test]
fn connectors_lists_microsoft365() {
    let out = switchboard(&["connectors", "--output", "json"]);
    assert!(out.status.success(), "{out:?}");
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["github", "microsoft365"]);
    assert_eq!(
        list[0]["variants"],
        serde_json::json!(["personal_access_token", "oauth_app"])
    );
    assert_eq!(
        list[1]["variants"],
        serde_json::json!(["delegated", "application"])
    );
}

#[test]
fn methods_json_resolves_the_principal_per_variant() {
    for (variant, expected_path) in [("delegated", "/me"), ("application", "/users/{user_id}")] {
        let out = switchboard(&[
            "methods",
            "microsoft365",
            "--variant",
            variant,
            "--output",
            "json",
        ]);
        assert!(out.status.success(), "{out:?}");
        let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
        let rows = rows.as_array().unwrap();
        assert!(!rows.is_empty());
        for row in rows {
            for key in [
                "id",
                "category",
                "name",
                "http_method",
                "path",
                "pagination",
            ] {
                assert!(row[key].is_string(), "{key} missing in {row}");
            }
            assert!(row["permissions"].is_array());
            assert_eq!(row["variant"], variant);
        }
        let get_user = rows.iter().find(|r| r["id"] == "users.get_user").unwrap();
        assert_eq!(get_user["path"], expected_path);
        assert_eq!(get_user["http_method"], "GET");
        let list_users = rows.iter().find(|r| r["id"] == "users.list_users").unwrap();
        assert_eq!(list_users["path"], "/users");
        assert_eq!(list_users["pagination"], "odata_next_link");
        assert!(!list_users["permissions"].as_array().unwrap().is_empty());
    }
}

#[test]
fn methods_table_and_filters() {
    let out = switchboard(&["methods", "microsoft365", "--category", "users"]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    assert!(text.contains("users.list_users"), "{text}");
    assert!(text.contains("/users/{user_id}"), "{text}");

    let out = switchboard(&["methods", "microsoft365", "--variant", "robot"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--variant") && err.contains("delegated, application"),
        "{err}"
    );

    let out = switchboard(&["methods", "nope"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn validate_accepts_the_shipped_definitions() {
    let out = switchboard(&["validate", definitions_dir().to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("microsoft365"));
}

#[test]
fn validate_reports_a_broken_copy_with_file_pointer_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("definitions");
    std::fs::create_dir(&copy).unwrap();
    for entry in std::fs::read_dir(definitions_dir()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
    }
    // Break users.json: the second method's path uses an undeclared placeholder.
    let users_path = copy.join("users.json");
    let mut users: Value =
        serde_json::from_str(&std::fs::read_to_string(&users_path).unwrap()).unwrap();
    users["methods"][1]["path"] = Value::from("/users/{nobody_id}");
    std::fs::write(&users_path, serde_json::to_string_pretty(&users).unwrap()).unwrap();

    let out = switchboard(&["validate", copy.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.contains("nobody_id"))
        .unwrap_or_else(|| panic!("no problem line names the placeholder: {text}"));
    assert!(
        line.starts_with("definitions/users.json: /methods/1/path: "),
        "{line}"
    );
}

#[test]
fn permissions_computes_the_consent_set() {
    let out = switchboard(&[
        "permissions",
        "microsoft365",
        "--variant",
        "delegated",
        "--category",
        "users",
        "--output",
        "json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let scopes: Vec<&str> = plan["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(scopes.contains(&"offline_access"), "{scopes:?}");
    assert!(
        scopes.contains(&"https://graph.microsoft.com/User.Read"),
        "{scopes:?}"
    );
    assert!(scopes.iter().all(|s| !s.contains("Mail")), "{scopes:?}");

    let out = switchboard(&[
        "permissions",
        "microsoft365",
        "--variant",
        "application",
        "--method",
        "mail.send_mail",
        "--output",
        "json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        plan["scopes"],
        serde_json::json!(["https://graph.microsoft.com/.default"])
    );
    assert_eq!(plan["permissions"], serde_json::json!(["Mail.Send"]));

    let out = switchboard(&[
        "permissions",
        "microsoft365",
        "--variant",
        "application",
        "--method",
        "calendars.find_meeting_times",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

#[test]
fn ndjson_prints_one_row_a_line_and_output_is_global() {
    let out = switchboard(&["--output", "ndjson", "methods", "microsoft365"]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let json = switchboard(&["methods", "microsoft365", "--output", "json"]);
    let array: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(Value::Array(rows), array);
}

#[test]
fn usage_errors_exit_1_and_help_exits_0() {
    let out = switchboard(&["call"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let out = switchboard(&["--help"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(stdout(&out).contains("quickstart"));
}
