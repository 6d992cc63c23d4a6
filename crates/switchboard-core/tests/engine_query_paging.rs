//! `cursor`, `offset` and `page` paging declared as data, against a real
//! local server: what the server received on each page (the cursor or
//! count, the page size, the method's own query parameters, the token),
//! what the caller got, how each stop rule ends the walk, loop detection,
//! the page limit, resuming from a continuation, and hostile cursors.

mod support;

use futures::TryStreamExt;
use serde_json::{Value, json};
use support::{NoQuery, RecordingCredential, server};
use switchboard_core::InstallationId;
use switchboard_core::connector::Endpoints;
use switchboard_core::definition::ConnectorDefinition;
use switchboard_core::engine::{Engine, InstallationContext};
use switchboard_core::{Arguments, ErrorKind};
use url::Url;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const INST: InstallationId = InstallationId::from_u128(15);

/// A service with one method per paging kind: Slack-shaped cursors, a
/// cursor with a `has_more` flag, offsets with a total, page numbers with
/// short pages, offsets that stop only on an empty page.
fn definition() -> ConnectorDefinition {
    let method = |id: &str, path: &str, extra: Value| {
        let mut m = json!({
            "id": format!("items.{id}"), "category": "items", "name": id,
            "description": "A paged listing.", "http_method": "GET", "path": path,
            "parameters": [{"name": "team", "in": "query", "type": "string"}]
        });
        for (k, v) in extra.as_object().unwrap() {
            m[k] = v.clone();
        }
        m
    };
    serde_json::from_value(json!({
        "id": "pager", "name": "Paged service", "version": "1.0.0",
        "description": "Cursor and counter paging",
        "base_url": "https://api.example.com",
        "allowed_hosts": ["api.example.com"],
        "auth_variants": [{"id": "token", "name": "Token", "kind": "bearer_token"}],
        "categories": [{"id": "items", "name": "Items"}],
        "methods": [
            method("list_members", "/users.list", json!({
                "pagination": "cursor", "records": "/members",
                "cursor": {"pointer": "/response_metadata/next_cursor", "parameter": "cursor"}})),
            method("list_flagged", "/flagged", json!({
                "pagination": "cursor", "records": "/data",
                "cursor": {"pointer": "/next", "parameter": "after", "has_more": "/has_more"}})),
            method("list_offset", "/offset", json!({
                "pagination": "offset", "records": "/items",
                "counter": {"parameter": "offset", "size_parameter": "limit", "size": 2,
                            "stop": "total", "total": "/meta/total"}})),
            method("list_pages", "/pages", json!({
                "pagination": "page", "records": "",
                "counter": {"parameter": "page", "size_parameter": "per_page", "size": 2}})),
            method("list_until_empty", "/until_empty", json!({
                "pagination": "offset", "records": "/items",
                "counter": {"parameter": "skip", "start": 10, "size": 3, "stop": "empty_page"}}))
        ]
    }))
    .unwrap()
}

fn engine() -> Engine {
    support::engine_for(definition())
}

fn ctx(server: &MockServer) -> InstallationContext {
    InstallationContext::new(
        INST,
        "pager",
        "token",
        Endpoints {
            base_url: Url::parse(&server.uri()).unwrap(),
            allowed_hosts: vec!["127.0.0.1".into()],
        },
        RecordingCredential::new(),
    )
}

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

fn ids(records: &[Value]) -> Vec<i64> {
    records.iter().map(|r| r["id"].as_i64().unwrap()).collect()
}

/// The query of every request the server received (catch-all excluded by
/// its 599 never being hit), as ordered name=value pairs.
async fn queries(server: &MockServer) -> Vec<Vec<(String, String)>> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r: &Request| r.url.query_pairs().into_owned().collect())
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn a_cursor_from_the_body_is_sent_as_the_named_parameter_until_it_is_empty() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/users.list"))
        .and(NoQuery("cursor"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(ok(json!({
            "ok": true, "members": [{"id": 1}, {"id": 2}],
            "response_metadata": {"next_cursor": "dXNlcjpVMDYxTkZUVDI="}
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/users.list"))
        .and(query_param("cursor", "dXNlcjpVMDYxTkZUVDI="))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(ok(json!({
            "ok": true, "members": [{"id": 3}], "response_metadata": {"next_cursor": ""}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let records: Vec<Value> = engine()
        .stream(
            &ctx(&server),
            "items.list_members",
            Arguments::new().set("team", "T1"),
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&records), vec![1, 2, 3]);
    assert_eq!(
        queries(&server).await,
        vec![
            pairs(&[("team", "T1")]),
            pairs(&[("team", "T1"), ("cursor", "dXNlcjpVMDYxTkZUVDI=")]),
        ]
    );
}

#[tokio::test]
async fn a_cursor_with_delimiters_is_one_encoded_value_and_adds_no_parameter() {
    let server = server().await;
    let sly = "a&team=EVIL#x y%2F";
    Mock::given(method("GET"))
        .and(path("/users.list"))
        .and(NoQuery("cursor"))
        .respond_with(ok(json!({
            "members": [{"id": 1}], "response_metadata": {"next_cursor": sly}
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/users.list"))
        .and(query_param("cursor", sly))
        .respond_with(ok(json!({"members": [{"id": 2}], "response_metadata": {}})))
        .expect(1)
        .mount(&server)
        .await;
    let records: Vec<Value> = engine()
        .stream(
            &ctx(&server),
            "items.list_members",
            Arguments::new().set("team", "T1"),
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&records), vec![1, 2]);
    assert_eq!(
        queries(&server).await[1],
        pairs(&[("team", "T1"), ("cursor", sly)])
    );
}

#[tokio::test]
async fn has_more_false_ends_a_cursor_walk_even_with_a_cursor() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/flagged"))
        .and(NoQuery("after"))
        .respond_with(ok(
            json!({"data": [{"id": 1}], "next": "c1", "has_more": true}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/flagged"))
        .and(query_param("after", "c1"))
        .respond_with(ok(
            json!({"data": [{"id": 2}], "next": "c2", "has_more": false}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let records: Vec<Value> = engine()
        .stream(&ctx(&server), "items.list_flagged", Arguments::new())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&records), vec![1, 2]);
    assert_eq!(queries(&server).await.len(), 2);
}

#[tokio::test]
async fn a_cursor_returned_twice_is_an_error_not_an_endless_loop() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/users.list"))
        .and(NoQuery("cursor"))
        .respond_with(ok(
            json!({"members": [{"id": 1}], "response_metadata": {"next_cursor": "SAME"}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/users.list"))
        .and(query_param("cursor", "SAME"))
        .respond_with(ok(
            json!({"members": [{"id": 2}], "response_metadata": {"next_cursor": "SAME"}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let mut stream = engine().stream(&ctx(&server), "items.list_members", Arguments::new());
    assert_eq!(stream.try_next().await.unwrap().unwrap()["id"], 1);
    assert_eq!(stream.try_next().await.unwrap().unwrap()["id"], 2);
    let err = stream.try_next().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Remote, "{err}");
    assert!(err.to_string().contains("already requested"), "{err}");
    assert!(!err.to_string().contains("SAME"), "{err}");
    assert!(stream.try_next().await.unwrap().is_none());
}

#[tokio::test]
async fn hostile_cursors_end_the_walk_before_anything_more_is_sent() {
    let huge = "C".repeat(64 * 1024);
    for (cursor, says) in [
        (json!(huge), "65536 bytes"),
        (json!(12345), "not a string"),
        (json!({"token": "x"}), "not a string"),
        (json!(["x"]), "not a string"),
    ] {
        let server = server().await;
        Mock::given(method("GET"))
            .and(path("/users.list"))
            .respond_with(ok(json!({
                "members": [{"id": 1}], "response_metadata": {"next_cursor": cursor}
            })))
            .expect(1)
            .mount(&server)
            .await;
        let mut stream = engine().stream(&ctx(&server), "items.list_members", Arguments::new());
        assert_eq!(stream.try_next().await.unwrap().unwrap()["id"], 1);
        let err = stream.try_next().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
        assert!(err.to_string().contains(says), "{err}");
        assert!(
            err.to_string().contains("/response_metadata/next_cursor"),
            "{err}"
        );
        assert!(err.to_string().len() < 400, "{err}");
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn the_page_limit_holds_and_a_cursor_walk_resumes_from_its_continuation() {
    let server = server().await;
    for n in 1..=3 {
        let mock = Mock::given(method("GET")).and(path("/users.list"));
        let mock = if n == 1 {
            mock.and(NoQuery("cursor"))
        } else {
            mock.and(query_param("cursor", format!("CUR{n}SECRET")))
        };
        let next = if n < 3 {
            json!(format!("CUR{}SECRET", n + 1))
        } else {
            Value::Null
        };
        mock.respond_with(ok(
            json!({"members": [{"id": n}], "response_metadata": {"next_cursor": next}}),
        ))
        .expect(1)
        .named(format!("page {n}"))
        .mount(&server)
        .await;
    }
    let engine = engine();
    let ctx = ctx(&server);
    let mut stream = engine
        .stream(
            &ctx,
            "items.list_members",
            Arguments::new().set("team", "T9"),
        )
        .with_max_pages(2);
    assert_eq!(stream.try_next().await.unwrap().unwrap()["id"], 1);
    assert_eq!(stream.try_next().await.unwrap().unwrap()["id"], 2);
    let err = stream.try_next().await.unwrap_err();
    assert_eq!(err.field(), Some("max_pages"));
    let continuation = stream.continuation().expect("a continuation to page 3");
    assert!(!format!("{continuation:?}").contains("CUR3SECRET"));
    // Stored and read back, as a platform would.
    let stored = serde_json::to_string(&continuation).unwrap();
    let continuation = serde_json::from_str(&stored).unwrap();
    let rest: Vec<Value> = engine
        .resume(&ctx, &continuation)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&rest), vec![3]);
    assert_eq!(
        queries(&server).await[2],
        pairs(&[("team", "T9"), ("cursor", "CUR3SECRET")])
    );
}

#[tokio::test]
async fn offsets_advance_by_the_records_received_until_the_total_is_reached() {
    let server = server().await;
    for (offset, items, total) in [
        ("0", json!([{"id": 1}, {"id": 2}]), 5),
        ("2", json!([{"id": 3}, {"id": 4}]), 5),
        ("4", json!([{"id": 5}]), 5),
    ] {
        Mock::given(method("GET"))
            .and(path("/offset"))
            .and(query_param("offset", offset))
            .and(query_param("limit", "2"))
            .and(header("authorization", "Bearer tok-1"))
            .respond_with(ok(json!({"items": items, "meta": {"total": total}})))
            .expect(1)
            .named(format!("offset {offset}"))
            .mount(&server)
            .await;
    }
    let records: Vec<Value> = engine()
        .stream(
            &ctx(&server),
            "items.list_offset",
            Arguments::new().set("team", "T1"),
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&records), vec![1, 2, 3, 4, 5]);
    assert_eq!(
        queries(&server).await,
        vec![
            pairs(&[("team", "T1"), ("offset", "0"), ("limit", "2")]),
            pairs(&[("team", "T1"), ("limit", "2"), ("offset", "2")]),
            pairs(&[("team", "T1"), ("limit", "2"), ("offset", "4")]),
        ]
    );
}

#[tokio::test]
async fn the_total_stops_an_offset_walk_without_asking_for_an_empty_page() {
    let server = server().await;
    for (offset, items) in [
        ("0", json!([{"id": 1}, {"id": 2}])),
        ("2", json!([{"id": 3}, {"id": 4}])),
    ] {
        Mock::given(method("GET"))
            .and(path("/offset"))
            .and(query_param("offset", offset))
            .respond_with(ok(json!({"items": items, "meta": {"total": 4}})))
            .expect(1)
            .mount(&server)
            .await;
    }
    let records: Vec<Value> = engine()
        .stream(&ctx(&server), "items.list_offset", Arguments::new())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&records), vec![1, 2, 3, 4]);
    assert_eq!(queries(&server).await.len(), 2);
}

#[tokio::test]
async fn page_numbers_count_from_one_and_a_short_page_ends_the_walk() {
    let server = server().await;
    for (page, items) in [
        ("1", json!([{"id": 1}, {"id": 2}])),
        ("2", json!([{"id": 3}, {"id": 4}])),
        ("3", json!([{"id": 5}])),
    ] {
        Mock::given(method("GET"))
            .and(path("/pages"))
            .and(query_param("page", page))
            .and(query_param("per_page", "2"))
            .respond_with(ok(items))
            .expect(1)
            .mount(&server)
            .await;
    }
    let engine = engine();
    let ctx = ctx(&server);
    let mut pages = engine
        .stream(&ctx, "items.list_pages", Arguments::new())
        .into_pages();
    let first = pages.try_next().await.unwrap().unwrap();
    assert_eq!(ids(first.records()), vec![1, 2]);
    // The continuation after page 1 is the request for page 2.
    let after_first = first.continuation().unwrap();
    assert!(
        after_first.expose_link().ends_with("page=2"),
        "{}",
        after_first.expose_link()
    );
    let rest: Vec<_> = pages.try_collect().await.unwrap();
    assert_eq!(rest.len(), 2);
    assert!(rest[1].continuation().is_none());
    assert_eq!(queries(&server).await.len(), 3);
}

#[tokio::test]
async fn a_counted_walk_resumes_at_its_count_and_refuses_an_altered_one() {
    let server = server().await;
    for (skip, items) in [
        ("10", json!([{"id": 1}])),
        ("11", json!([{"id": 2}])),
        ("12", json!([])),
    ] {
        Mock::given(method("GET"))
            .and(path("/until_empty"))
            .and(query_param("skip", skip))
            .respond_with(ok(json!({"items": items})))
            .expect(1)
            .named(format!("skip {skip}"))
            .mount(&server)
            .await;
    }
    let engine = engine();
    let ctx = ctx(&server);
    // short pages do not end an `empty_page` walk; the page limit does
    let mut stream = engine
        .stream(&ctx, "items.list_until_empty", Arguments::new())
        .with_max_pages(1);
    assert_eq!(stream.try_next().await.unwrap().unwrap()["id"], 1);
    assert_eq!(
        stream.try_next().await.unwrap_err().field(),
        Some("max_pages")
    );
    let continuation = stream.continuation().unwrap();
    assert!(continuation.expose_link().ends_with("skip=11"));
    let rest: Vec<Value> = engine
        .resume(&ctx, &continuation)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&rest), vec![2]);
    assert_eq!(
        queries(&server).await.len(),
        3,
        "the empty page ended the walk"
    );

    let altered: switchboard_core::Continuation = serde_json::from_str(
        &serde_json::to_string(&continuation)
            .unwrap()
            .replace("skip=11", "skip=eleven"),
    )
    .unwrap();
    let mut resumed = engine.resume(&ctx, &altered);
    let err = resumed.try_next().await.unwrap_err();
    assert_eq!(err.field(), Some("continuation"), "{err}");
}

#[tokio::test]
async fn a_call_of_a_counted_method_asks_for_the_first_page_as_a_stream_does() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/pages"))
        .and(query_param("page", "1"))
        .and(query_param("per_page", "2"))
        .respond_with(ok(json!([{"id": 1}, {"id": 2}])))
        .expect(1)
        .mount(&server)
        .await;
    let response = engine()
        .call(&ctx(&server), "items.list_pages", Arguments::new())
        .await
        .unwrap();
    assert_eq!(response.json(), Some(&json!([{"id": 1}, {"id": 2}])));
    assert_eq!(
        queries(&server).await,
        vec![pairs(&[("page", "1"), ("per_page", "2")])]
    );
}
