//! `link_header` paging (RFC 8288 `Link: <...>; rel="next"`): records of a
//! top-level array stream across pages; the next link passes the host
//! allow-list (nothing is sent to another host); a repeated link is an
//! error; the page cap holds; a stream resumes from its continuation.

mod support;

use std::sync::Arc;

use futures::TryStreamExt;
use serde_json::{Value, json};
use support::{RecordingCredential, catch_all, policy};
use switchboard_core::InstallationId;
use switchboard_core::connector::{DefinitionConnector, Endpoints, Registry};
use switchboard_core::definition::ConnectorDefinition;
use switchboard_core::engine::{Engine, InstallationContext};
use switchboard_core::{Arguments, ErrorKind};
use url::Url;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const INST_1: InstallationId = InstallationId::from_u128(1);

fn definition() -> ConnectorDefinition {
    serde_json::from_value(json!({
        "id": "linky", "name": "Link-paged service", "version": "1.0.0",
        "description": "A GitHub-shaped service",
        "base_url": "https://api.example.com",
        "allowed_hosts": ["api.example.com"],
        "default_headers": {"Accept": "application/vnd.example+json"},
        "auth_variants": [{"id": "token", "name": "Token", "kind": "bearer_token"}],
        "categories": [{"id": "items", "name": "Items"}],
        "methods": [{
            "id": "items.list_items", "category": "items", "name": "List items",
            "description": "Items, paged by Link headers.", "http_method": "GET", "path": "/items",
            "parameters": [{"name": "per_page", "in": "query", "type": "integer"}],
            "pagination": "link_header", "records": ""
        }]
    }))
    .unwrap()
}

fn engine() -> Engine {
    let mut registry = Registry::new();
    registry
        .register(Arc::new(DefinitionConnector::new(definition())))
        .unwrap();
    Engine::builder(registry)
        .retry_policy(policy())
        .connect_timeout(None)
        .read_timeout(None)
        .pool_idle_timeout(None)
        .build()
        .unwrap()
}

fn ctx(server: &MockServer) -> InstallationContext {
    InstallationContext::new(
        INST_1,
        "linky",
        "token",
        Endpoints {
            base_url: Url::parse(&server.uri()).unwrap(),
            allowed_hosts: vec!["127.0.0.1".into()],
        },
        RecordingCredential::new(),
    )
}

async fn server() -> MockServer {
    let server = MockServer::builder().start().await;
    catch_all(&server).await;
    server
}

fn page(records: Value, next: Option<String>) -> ResponseTemplate {
    let mut t = ResponseTemplate::new(200).set_body_json(records);
    if let Some(next) = next {
        t = t.insert_header(
            "link",
            format!(r#"<{next}>; rel="next", <http://127.0.0.1/last>; rel="last""#).as_str(),
        );
    }
    t
}

fn ids(records: &[Value]) -> Vec<i64> {
    records.iter().map(|r| r["id"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn records_of_a_top_level_array_stream_across_link_header_pages() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/items"))
        .and(query_param("per_page", "2"))
        .and(NoParam("page"))
        .and(header("authorization", "Bearer tok-1"))
        .and(header("accept", "application/vnd.example+json"))
        .respond_with(page(
            json!([{"id": 1}, {"id": 2}]),
            Some(format!("{}/items?per_page=2&page=2", server.uri())),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/items"))
        .and(query_param("page", "2"))
        .and(header("authorization", "Bearer tok-1"))
        .and(header("accept", "application/vnd.example+json"))
        .respond_with(page(json!([{"id": 3}]), None))
        .expect(1)
        .mount(&server)
        .await;
    let records: Vec<Value> = engine()
        .stream(
            &ctx(&server),
            "items.list_items",
            Arguments::new().set("per_page", 2),
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&records), vec![1, 2, 3]);
}

#[tokio::test]
async fn a_relative_next_link_resolves_against_the_page_url() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/items"))
        .and(NoParam("page"))
        .respond_with(page(json!([{"id": 1}]), Some("/items?page=2".into())))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/items"))
        .and(query_param("page", "2"))
        .respond_with(page(json!([{"id": 2}]), None))
        .expect(1)
        .mount(&server)
        .await;
    let records: Vec<Value> = engine()
        .stream(&ctx(&server), "items.list_items", Arguments::new())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&records), vec![1, 2]);
}

#[tokio::test]
async fn a_next_link_to_another_host_is_refused_and_nothing_is_sent_there() {
    let server = server().await;
    let elsewhere = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"id": 666}])))
        .expect(0)
        .named("the other host must receive nothing")
        .mount(&elsewhere)
        .await;
    // Another port on loopback is another origin: only the installation's
    // own loopback origin may receive the token.
    Mock::given(method("GET"))
        .and(path("/items"))
        .respond_with(page(
            json!([{"id": 1}]),
            Some(format!("{}/items?page=2", elsewhere.uri())),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let mut stream = engine().stream(&ctx(&server), "items.list_items", Arguments::new());
    assert_eq!(stream.try_next().await.unwrap().unwrap()["id"], 1);
    let err = stream.try_next().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UntrustedLink, "{err}");
    // The message names the origin only, never the link's path or query.
    assert!(!err.to_string().contains("page=2"), "{err}");
}

#[tokio::test]
async fn a_repeated_link_is_an_error_not_an_endless_loop() {
    let server = server().await;
    let again = format!("{}/items?page=2", server.uri());
    Mock::given(method("GET"))
        .and(path("/items"))
        .and(NoParam("page"))
        .respond_with(page(json!([{"id": 1}]), Some(again.clone())))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/items"))
        .and(query_param("page", "2"))
        .respond_with(page(json!([{"id": 2}]), Some(again)))
        .expect(1)
        .mount(&server)
        .await;
    let mut stream = engine().stream(&ctx(&server), "items.list_items", Arguments::new());
    assert_eq!(stream.try_next().await.unwrap().unwrap()["id"], 1);
    assert_eq!(stream.try_next().await.unwrap().unwrap()["id"], 2);
    let err = stream.try_next().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Remote);
    assert!(err.to_string().contains("already returned"), "{err}");
}

#[tokio::test]
async fn the_page_cap_holds_and_the_stream_resumes_from_its_continuation() {
    let server = server().await;
    for n in 1..=3 {
        let next = (n < 3).then(|| format!("{}/items?page={}", server.uri(), n + 1));
        let mock = Mock::given(method("GET")).and(path("/items"));
        let mock = if n == 1 {
            mock.and(NoParam("page"))
        } else {
            mock.and(query_param("page", n.to_string()))
        };
        mock.respond_with(page(json!([{"id": n}]), next))
            .expect(1)
            .named(format!("page {n}"))
            .mount(&server)
            .await;
    }
    let engine = engine();
    let ctx = ctx(&server);
    let mut stream = engine
        .stream(&ctx, "items.list_items", Arguments::new())
        .with_max_pages(2);
    assert_eq!(stream.try_next().await.unwrap().unwrap()["id"], 1);
    assert_eq!(stream.try_next().await.unwrap().unwrap()["id"], 2);
    let err = stream.try_next().await.unwrap_err();
    assert_eq!(err.field(), Some("max_pages"));
    let continuation = stream.continuation().expect("a continuation to page 3");
    let rest: Vec<Value> = engine
        .resume(&ctx, &continuation)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&rest), vec![3]);
}

/// Matches requests without this query parameter.
struct NoParam(&'static str);

impl wiremock::Match for NoParam {
    fn matches(&self, request: &wiremock::Request) -> bool {
        !request.url.query_pairs().any(|(k, _)| k == self.0)
    }
}
