//! The shipped definitions pass the JSON Schema and the validation rules,
//! and the embedded copy is what the connector serves.

use switchboard_core::Connector;
use switchboard_core::definition::Pagination;
use switchboard_core::testing::{check_definition_dir, check_definition_files};

#[test]
fn embedded_definitions_pass_schema_and_validation() {
    let def = check_definition_files(switchboard_github::DEFINITION_FILES);
    let ids: Vec<&str> = def.methods.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "repos.list_repositories",
            "issues.list_issues",
            "issues.get_issue",
            "issues.create_issue"
        ]
    );
    assert_eq!(
        def.method("issues.list_issues").unwrap().pagination,
        Pagination::LinkHeader
    );
    assert_eq!(def.default_headers["X-GitHub-Api-Version"], "2022-11-28");
}

#[test]
fn the_definitions_directory_loads_like_the_embedded_files() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/definitions");
    let from_dir = check_definition_dir(dir);
    let connector = switchboard_github::GitHub::new().unwrap();
    // Same methods; load order differs (the directory is sorted by name).
    let mut a: Vec<_> = from_dir.methods.iter().map(|m| m.id.clone()).collect();
    let mut b: Vec<_> = connector
        .definition()
        .methods
        .iter()
        .map(|m| m.id.clone())
        .collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
}
