//! The connector test harness fails a test when the requests differ from
//! what it says: a wrong query, a missing expected request, an extra
//! request, a body or header that differs. Its report names the difference.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use serde_json::{Value, json};
use switchboard_core::connector::DefinitionConnector;
use switchboard_core::definition::ConnectorDefinition;
use switchboard_core::testing::{Expect, Harness, Reply};

fn connector() -> Arc<DefinitionConnector> {
    let def: ConnectorDefinition = serde_json::from_value(json!({
        "id": "things", "name": "Things", "version": "1.0.0", "description": "d",
        "base_url": "https://api.example.com/v2", "allowed_hosts": ["api.example.com"],
        "default_headers": {"Accept": "application/json"},
        "auth_variants": [{"id": "token", "name": "Token", "kind": "bearer_token"}],
        "categories": [{"id": "things", "name": "Things"}],
        "methods": [
            {"id": "things.list_things", "category": "things", "name": "List", "description": "d",
             "http_method": "GET", "path": "/things",
             "parameters": [{"name": "limit", "in": "query", "type": "integer"}],
             "pagination": "link_header", "records": ""},
            {"id": "things.create_thing", "category": "things", "name": "Create", "description": "d",
             "http_method": "POST", "path": "/things",
             "parameters": [{"name": "name", "in": "body", "type": "string", "required": true}]}
        ]
    }))
    .unwrap();
    Arc::new(DefinitionConnector::new(def))
}

/// Run a future that must panic; return the panic message.
async fn panic_message(f: impl std::future::Future<Output = ()>) -> String {
    match AssertUnwindSafe(f).catch_unwind().await {
        Ok(()) => panic!("the harness accepted requests that differ from the expectation"),
        Err(payload) => payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default(),
    }
}

#[tokio::test]
async fn a_matching_call_passes_and_paths_are_relative_to_the_base_url() {
    let h = Harness::start(connector()).await;
    let records = h
        .call("things.list_things")
        .args(json!({"limit": 1}))
        .sends(
            Expect::get("/things")
                .query("limit", "1")
                .header("accept", "application/json"),
            Reply::json(200, json!([{"id": 1}])).header(
                "link",
                format!("<{}>; rel=next", h.url("/things?limit=1&page=2")),
            ),
        )
        .sends(
            Expect::get("/things")
                .query("limit", "1")
                .query("page", "2"),
            Reply::json(200, json!([{"id": 2}])),
        )
        .yields(json!([{"id": 1}, {"id": 2}]))
        .await;
    assert_eq!(records.len(), 2);
    assert!(h.url("/x").ends_with("/v2/x"));
    // the server is clean for the next call: only its own expectations count
    h.call("things.create_thing")
        .args(json!({"name": "n"}))
        .sends(
            Expect::post("/things").json(json!({"name": "n"})),
            Reply::json(201, json!({"id": 3})),
        )
        .yields(json!([{"id": 3}]))
        .await;
}

#[tokio::test]
async fn a_different_query_fails_with_a_report() {
    let h = Harness::start(connector()).await;
    let message = panic_message(async {
        h.call("things.list_things")
            .args(json!({"limit": 5}))
            .sends(
                Expect::get("/things").query("limit", "1"),
                Reply::json(200, json!([])),
            )
            .records()
            .await;
    })
    .await;
    assert!(
        message.contains("arrived 0 time(s) instead of 1"),
        "{message}"
    );
    assert!(message.contains("matched no expectation"), "{message}");
    assert!(message.contains("GET /v2/things?limit=5"), "{message}");
    assert!(
        message.contains("query [(\"limit\", \"5\")] instead of [(\"limit\", \"1\")]"),
        "{message}"
    );
}

#[tokio::test]
async fn an_unexpected_next_page_fails() {
    let h = Harness::start(connector()).await;
    let message = panic_message(async {
        h.call("things.list_things")
            .sends(
                Expect::get("/things"),
                Reply::json(200, json!([{"id": 1}]))
                    .header("link", format!("<{}>; rel=next", h.url("/things?page=2"))),
            )
            .records()
            .await;
    })
    .await;
    assert!(
        message.contains("1 request(s) matched no expectation"),
        "{message}"
    );
    assert!(message.contains("GET /v2/things?page=2"), "{message}");
}

#[tokio::test]
async fn an_expected_request_that_never_comes_fails() {
    let h = Harness::start(connector()).await;
    let message = panic_message(async {
        // the argument is refused before anything is sent
        let _ = h
            .call("things.create_thing")
            .sends(
                Expect::post("/things").json(json!({"name": "n"})),
                Reply::status(201),
            )
            .fails()
            .await;
    })
    .await;
    assert!(
        message.contains("request #1 arrived 0 time(s) instead of 1"),
        "{message}"
    );
    assert!(message.contains("(none)"), "{message}");
}

#[tokio::test]
async fn a_different_body_or_header_fails() {
    let h = Harness::start(connector()).await;
    let message = panic_message(async {
        h.call("things.create_thing")
            .args(json!({"name": "real"}))
            .sends(
                Expect::post("/things").json(json!({"name": "expected"})),
                Reply::json(201, json!({})),
            )
            .records()
            .await;
    })
    .await;
    assert!(
        message.contains(r#"json body {"name":"real"} instead of {"name":"expected"}"#),
        "{message}"
    );

    let message = panic_message(async {
        h.call("things.create_thing")
            .args(json!({"name": "n"}))
            .sends(
                Expect::post("/things")
                    .header("accept", "text/plain")
                    .json(json!({"name": "n"})),
                Reply::json(201, json!({})),
            )
            .records()
            .await;
    })
    .await;
    assert!(
        message.contains("header accept: [\"application/json\"] instead of \"text/plain\""),
        "{message}"
    );
}

#[tokio::test]
async fn the_bearer_token_is_part_of_every_expectation() {
    let h = Harness::builder(connector())
        .token("secret-a")
        .start()
        .await;
    let records: Vec<Value> = h
        .call("things.list_things")
        .sends(
            Expect::get("/things").header("authorization", "Bearer secret-a"),
            Reply::json(200, json!([])),
        )
        .records()
        .await;
    assert!(records.is_empty());
}
