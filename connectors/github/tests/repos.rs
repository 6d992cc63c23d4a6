//! Repositories: the token goes out as a bearer token with GitHub's
//! headers, and records of a top-level array stream across `Link` pages.

use std::sync::Arc;

use serde_json::json;
use switchboard_core::testing::{Expect, Harness, Reply};
use switchboard_github::GitHub;

async fn harness() -> Harness {
    Harness::builder(Arc::new(GitHub::new().unwrap()))
        .variant("personal_access_token")
        .token("github_pat_test")
        .start()
        .await
}

/// GitHub's headers, on every request.
fn github(expect: Expect) -> Expect {
    expect
        .header("authorization", "Bearer github_pat_test")
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28")
        .header("user-agent", "switchboard-github")
}

#[tokio::test]
async fn list_repositories_follows_link_header_pages() {
    let h = harness().await;
    let page2 = h.url("/user/repos?per_page=2&sort=updated&page=2");
    h.call("repos.list_repositories")
        .args(json!({"per_page": 2, "sort": "updated", "affiliation": ["owner", "collaborator"]}))
        .sends(
            github(Expect::get("/user/repos"))
                .query("per_page", "2")
                .query("sort", "updated")
                .query("affiliation", "owner,collaborator"),
            Reply::json(
                200,
                json!([{"id": 1, "full_name": "octo/one"}, {"id": 2, "full_name": "octo/two"}]),
            )
            .header(
                "link",
                format!(r#"<{page2}>; rel="next", <{page2}>; rel="last""#),
            ),
        )
        .sends(
            github(Expect::get("/user/repos"))
                .query("per_page", "2")
                .query("sort", "updated")
                .query("page", "2"),
            Reply::json(200, json!([{"id": 3, "full_name": "octo/three"}])),
        )
        .yields(json!([
            {"id": 1, "full_name": "octo/one"},
            {"id": 2, "full_name": "octo/two"},
            {"id": 3, "full_name": "octo/three"}
        ]))
        .await;
}

#[tokio::test]
async fn a_bad_argument_sends_nothing() {
    let h = harness().await;
    let err = h
        .call("repos.list_repositories")
        .args(json!({"visibility": "secret"}))
        .fails()
        .await;
    assert_eq!(err.field(), Some("visibility"), "{err}");
    assert!(err.to_string().contains("private"), "{err}");
}
