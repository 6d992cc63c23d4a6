//! Tracing: a span per call (method, installation, connector, variant), a
//! span per page of a stream, and a span per attempt (method, attempt
//! number, status, wait), with a warning for each retry.

mod support;

use futures::TryStreamExt;
use serde_json::{Value, json};
use support::*;
use switchboard_core::Arguments;
use wiremock::matchers::{path, query_param};
use wiremock::{Mock, ResponseTemplate};

/// The lines of `logs` that close a span whose name is `span`.
fn closes<'a>(logs: &'a str, span: &str) -> Vec<&'a str> {
    logs.lines()
        .filter(|l| l.ends_with("close") || l.contains(": close "))
        .filter(|l| {
            l.rsplit_once(": switchboard_core")
                .is_some_and(|(spans, _)| {
                    let innermost = spans.rsplit("}:").next().unwrap_or("");
                    innermost
                        .find("switchboard.")
                        .is_some_and(|i| innermost[i..].starts_with(span))
                })
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn call_and_attempt_spans_carry_method_attempt_status_and_wait() {
    let (captured, guard) = capture_tracing();
    let server = server().await;
    Mock::given(path("/v1.0/users/adele"))
        .respond_with(sequence(vec![
            ResponseTemplate::new(503).insert_header("Retry-After", "3"),
            json(200, json!({"id": "adele"})),
        ]))
        .expect(2)
        .mount(&server)
        .await;
    engine()
        .call(
            &ctx(&server, RecordingCredential::new()),
            "users.get_user",
            Arguments::new().set("id", "adele"),
        )
        .await
        .unwrap();
    drop(guard);
    let logs = captured.text();

    let calls = closes(&logs, "switchboard.call{");
    assert_eq!(calls.len(), 1, "{logs}");
    assert!(
        calls[0].contains(
            "switchboard.call{method=users.get_user installation=00000000-0000-0000-0000-000000000001 connector=testsvc variant=delegated}"
        ),
        "{}",
        calls[0]
    );
    let attempts = closes(&logs, "switchboard.attempt{");
    assert_eq!(attempts.len(), 2, "{logs}");
    assert!(
        attempts[0].contains(
            "switchboard.attempt{method=users.get_user attempt=1 status=503 wait_ms=3000}"
        ),
        "{}",
        attempts[0]
    );
    assert!(
        attempts[1].contains("switchboard.attempt{method=users.get_user attempt=2 status=200}"),
        "{}",
        attempts[1]
    );
    let warnings: Vec<_> = logs
        .lines()
        .filter(|l| l.contains(" WARN ") && l.contains("retrying after a wait"))
        .collect();
    assert_eq!(warnings.len(), 1, "{logs}");
    assert!(
        warnings[0].contains(r#"reason="status 503" wait_ms=3000 retry=1"#),
        "{}",
        warnings[0]
    );
}

#[tokio::test]
async fn streams_have_a_span_per_page_inside_the_call_span() {
    let (captured, guard) = capture_tracing();
    let server = server().await;
    Mock::given(path("/v1.0/users"))
        .and(NoQuery("$skiptoken"))
        .respond_with(json(
            200,
            json!({"value": [{"id": "1"}],
            "@odata.nextLink": format!("{}/v1.0/users?$skiptoken=p2", server.uri())}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/v1.0/users"))
        .and(query_param("$skiptoken", "p2"))
        .respond_with(json(200, json!({"value": [{"id": "2"}]})))
        .expect(1)
        .mount(&server)
        .await;
    let records: Vec<Value> = engine()
        .stream(
            &ctx(&server, RecordingCredential::new()),
            "users.list_users",
            Arguments::new(),
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(records.len(), 2);
    drop(guard);
    let logs = captured.text();
    let pages = closes(&logs, "switchboard.page{");
    assert_eq!(pages.len(), 2, "{logs}");
    assert!(
        pages[0].contains("switchboard.call{method=users.list_users"),
        "{}",
        pages[0]
    );
    assert!(
        pages[0].contains("switchboard.page{page=1}"),
        "{}",
        pages[0]
    );
    assert!(
        pages[1].contains("switchboard.page{page=2}"),
        "{}",
        pages[1]
    );
    let attempts = closes(&logs, "switchboard.attempt{");
    assert_eq!(attempts.len(), 2, "{logs}");
    assert!(attempts[1].contains("switchboard.page{page=2}:switchboard.attempt{method=users.list_users attempt=1 status=200}"), "{}", attempts[1]);
}
