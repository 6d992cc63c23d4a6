//! Issues: listing across `Link` pages, getting one, creating one (the
//! body as GitHub expects it, never retried), and GitHub's error bodies
//! mapped to switchboard errors.

use std::sync::Arc;

use serde_json::json;
use switchboard_core::ErrorKind;
use switchboard_core::testing::{Expect, Harness, Reply};
use switchboard_github::GitHub;

async fn harness() -> Harness {
    Harness::builder(Arc::new(GitHub::new().unwrap()))
        .token("ghp_classic_test")
        .start()
        .await
}

#[tokio::test]
async fn list_issues_reads_two_pages_through_the_link_header() {
    let h = harness().await;
    let next = h.url("/repositories/1296269/issues?state=all&per_page=2&page=2");
    h.call("issues.list_issues")
        .args(json!({"owner": "octocat", "repo": "Hello-World", "state": "all", "per_page": 2}))
        .sends(
            Expect::get("/repos/octocat/Hello-World/issues")
                .query("state", "all")
                .query("per_page", "2")
                .header("authorization", "Bearer ghp_classic_test")
                .header("accept", "application/vnd.github+json"),
            Reply::json(200, json!([{"number": 1347}, {"number": 1346}])).header(
                "link",
                format!(r#"<{next}>; rel="next", <{next}>; rel="last""#),
            ),
        )
        // GitHub's next links may use another path (the repository id):
        // the link is followed as given, on the same host.
        .sends(
            Expect::get("/repositories/1296269/issues")
                .query("state", "all")
                .query("per_page", "2")
                .query("page", "2")
                .header("x-github-api-version", "2022-11-28"),
            Reply::json(200, json!([{"number": 1345}])).header(
                "link",
                format!(
                    r#"<{}>; rel="prev""#,
                    h.url("/repositories/1296269/issues?page=1")
                ),
            ),
        )
        .yields(json!([{"number": 1347}, {"number": 1346}, {"number": 1345}]))
        .await;
}

#[tokio::test]
async fn get_issue_returns_the_issue() {
    let h = harness().await;
    let issue = json!({"number": 7, "title": "Found a bug", "state": "open"});
    let response = h
        .call("issues.get_issue")
        .args(json!({"owner": "octocat", "repo": "Hello-World", "issue_number": 7}))
        .sends(
            Expect::get("/repos/octocat/Hello-World/issues/7"),
            Reply::json(200, issue.clone()),
        )
        .response()
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json().unwrap(), &issue);
}

#[tokio::test]
async fn create_issue_sends_the_json_body() {
    let h = harness().await;
    let created = json!({"number": 1348, "title": "Found a bug", "labels": [{"name": "bug"}]});
    let response = h
        .call("issues.create_issue")
        .args(json!({
            "owner": "octocat", "repo": "Hello-World",
            "title": "Found a bug", "body": "I'm having a problem with this.",
            "labels": ["bug"], "assignees": ["octocat"]
        }))
        .sends(
            Expect::post("/repos/octocat/Hello-World/issues")
                .header("content-type", "application/json")
                .json(json!({
                    "title": "Found a bug", "body": "I'm having a problem with this.",
                    "labels": ["bug"], "assignees": ["octocat"]
                })),
            Reply::json(201, created.clone()),
        )
        .response()
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.json().unwrap(), &created);
}

#[tokio::test]
async fn create_issue_is_not_retried_after_a_server_error() {
    // Even with retries allowed, a POST that failed with 502 may have
    // created the issue: it is sent once and reported as outcome unknown.
    let h = Harness::builder(Arc::new(GitHub::new().unwrap()))
        .retry_policy(switchboard_core::RetryPolicy {
            max_retries: 3,
            initial_backoff: std::time::Duration::from_millis(1),
            ..Default::default()
        })
        .start()
        .await;
    let err = h
        .call("issues.create_issue")
        .args(json!({"owner": "octocat", "repo": "Hello-World", "title": "Once"}))
        .sends(
            Expect::post("/repos/octocat/Hello-World/issues").json(json!({"title": "Once"})),
            Reply::json(502, json!({"message": "Server Error"})),
        )
        .fails()
        .await;
    assert_eq!(err.kind(), ErrorKind::OutcomeUnknown, "{err}");
}

#[tokio::test]
async fn a_missing_repository_is_not_found_with_githubs_message() {
    let h = harness().await;
    let err = h
        .call("issues.get_issue")
        .args(json!({"owner": "octocat", "repo": "nope", "issue_number": 1}))
        .sends(
            Expect::get("/repos/octocat/nope/issues/1"),
            Reply::json(
                404,
                json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest/issues/issues#get-an-issue", "status": "404"}),
            ),
        )
        .fails()
        .await;
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.status(), Some(404));
    assert_eq!(err.remote().unwrap().message.as_deref(), Some("Not Found"));
    assert!(err.to_string().contains("issues.get_issue"), "{err}");
}

#[tokio::test]
async fn a_validation_failure_is_a_bad_request_with_githubs_message() {
    let h = harness().await;
    let err = h
        .call("issues.create_issue")
        .args(json!({"owner": "octocat", "repo": "Hello-World", "title": "x", "milestone": 99}))
        .sends(
            Expect::post("/repos/octocat/Hello-World/issues").json(json!({"title": "x", "milestone": 99})),
            Reply::json(
                422,
                json!({"message": "Validation Failed",
                       "errors": [{"resource": "Issue", "field": "milestone", "code": "invalid"}],
                       "documentation_url": "https://docs.github.com/rest/issues/issues#create-an-issue"}),
            ),
        )
        .fails()
        .await;
    assert_eq!(err.kind(), ErrorKind::Remote);
    assert_eq!(err.status(), Some(422));
    let text = err.to_string();
    assert!(text.contains("bad request"), "{text}");
    assert!(text.contains("\"Validation Failed\""), "{text}");
}

#[tokio::test]
async fn path_arguments_cannot_escape_their_segment() {
    let h = harness().await;
    for (owner, repo) in [
        ("octocat", "../../user"),
        ("octo/cat", "x"),
        ("octocat", "a?b"),
    ] {
        let err = h
            .call("issues.list_issues")
            .args(json!({"owner": owner, "repo": repo}))
            .fails()
            .await;
        assert_eq!(
            err.kind(),
            ErrorKind::InvalidArgument,
            "{owner}/{repo}: {err}"
        );
    }
}

#[tokio::test]
async fn a_refused_token_is_unauthorized() {
    let h = harness().await;
    let err = h
        .call("issues.get_issue")
        .args(json!({"owner": "octocat", "repo": "Hello-World", "issue_number": 7}))
        .sends(
            Expect::get("/repos/octocat/Hello-World/issues/7"),
            Reply::json(401, json!({"message": "Bad credentials"})),
        )
        .fails()
        .await;
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(err.needs_reauth());
}
