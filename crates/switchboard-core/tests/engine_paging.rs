//! Paging: records stream across @odata.nextLink lazily, one page at a time;
//! the method's headers go with every page; a repeated link is an error; the
//! page count is capped; delta listings end with a resumable delta link;
//! every page goes through auth and retries.

mod support;

use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};
use support::*;
use switchboard_core::paging::ContinuationKind;
use switchboard_core::{Arguments, Continuation, ErrorKind};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Mount `pages` pages of two records each at /v1.0/users (page 1) and
/// /v1.0/users?$skiptoken=pN, each expected exactly once and only with the
/// method's headers.
async fn mount_pages(server: &MockServer, pages: usize) {
    for n in 1..=pages {
        let next =
            (n < pages).then(|| format!("{}/v1.0/users?$skiptoken=p{}", server.uri(), n + 1));
        let mut body = json!({"value": [{"id": format!("{n}a")}, {"id": format!("{n}b")}]});
        if let Some(next) = next {
            body["@odata.nextLink"] = Value::String(next);
        }
        let mock = Mock::given(method("GET"))
            .and(path("/v1.0/users"))
            .and(header("consistencylevel", "eventual"))
            .and(header("prefer", "odata.maxpagesize=2"))
            .and(header("authorization", "Bearer tok-1"))
            .and(header("accept", "application/json"));
        let mock = if n == 1 {
            mock.and(NoQuery("$skiptoken"))
        } else {
            mock.and(query_param("$skiptoken", format!("p{n}")))
        };
        mock.respond_with(json(200, body))
            .expect(1)
            .named(format!("page {n}"))
            .mount(server)
            .await;
    }
}

fn ids(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn records_stream_across_pages_with_the_method_headers_on_every_page() {
    let server = server().await;
    mount_pages(&server, 3).await;
    let cred = RecordingCredential::new();
    let records: Vec<Value> = engine()
        .stream(
            &ctx(&server, cred.clone()),
            "users.list_users",
            Arguments::new(),
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&records), vec!["1a", "1b", "2a", "2b", "3a", "3b"]);
    // Every page fetched a token of its own.
    assert_eq!(cred.calls(), 3);
}

#[tokio::test]
async fn pages_are_fetched_lazily_one_at_a_time() {
    let server = server().await;
    mount_pages(&server, 3).await;
    let mut stream = engine().stream(
        &ctx(&server, RecordingCredential::new()),
        "users.list_users",
        Arguments::new(),
    );
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        0,
        "nothing before the first poll"
    );
    stream.next().await.unwrap().unwrap();
    stream.next().await.unwrap().unwrap();
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "page 2 is not prefetched"
    );
    stream.next().await.unwrap().unwrap();
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
    let rest: Vec<Value> = stream.try_collect().await.unwrap();
    assert_eq!(ids(&rest), vec!["2b", "3a", "3b"]);
}

#[tokio::test]
async fn into_pages_gives_pages_with_their_continuations() {
    let server = server().await;
    mount_pages(&server, 3).await;
    let pages: Vec<_> = engine()
        .stream(
            &ctx(&server, RecordingCredential::new()),
            "users.list_users",
            Arguments::new(),
        )
        .into_pages()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages.len(), 3);
    assert_eq!(
        pages.iter().map(|p| p.number()).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(ids(pages[1].records()), vec!["2a", "2b"]);
    let after_first = pages[0].continuation().unwrap();
    assert_eq!(after_first.kind(), ContinuationKind::NextPage);
    assert!(after_first.expose_link().ends_with("$skiptoken=p2"));
    assert!(pages[2].continuation().is_none(), "the listing is complete");
}

#[tokio::test]
async fn a_repeated_next_link_is_an_error_not_an_endless_loop() {
    let server = server().await;
    let page2 = format!("{}/v1.0/users?$skiptoken=same", server.uri());
    Mock::given(path("/v1.0/users"))
        .and(NoQuery("$skiptoken"))
        .respond_with(json(
            200,
            json!({"value": [{"id": "1"}], "@odata.nextLink": page2}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/v1.0/users"))
        .and(query_param("$skiptoken", "same"))
        .respond_with(json(
            200,
            json!({"value": [{"id": "2"}], "@odata.nextLink": page2}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let mut stream = engine().stream(
        &ctx(&server, RecordingCredential::new()),
        "users.list_users",
        Arguments::new(),
    );
    assert_eq!(stream.next().await.unwrap().unwrap()["id"], "1");
    assert_eq!(stream.next().await.unwrap().unwrap()["id"], "2");
    let err = stream.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Remote);
    assert!(err.to_string().contains("already returned"), "{err}");
    assert!(stream.next().await.is_none());
}

/// Answers with the same next link each time, spelled differently: another
/// `#fragment` and another case of the scheme every time. The request sent
/// is the same, so the second is a repeat.
struct SameLinkNewSpelling {
    link: String,
    served: std::sync::atomic::AtomicUsize,
}

impl wiremock::Respond for SameLinkNewSpelling {
    fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
        let n = self
            .served
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let scheme = if n.is_multiple_of(2) { "HTTP" } else { "http" };
        let link = format!("{scheme}{}#page-{n}", self.link.trim_start_matches("http"));
        json(
            200,
            json!({"value": [{"id": format!("p{n}")}], "@odata.nextLink": link}),
        )
    }
}

#[tokio::test]
async fn next_links_that_differ_only_by_fragment_or_scheme_case_are_a_repeat() {
    let server = server().await;
    let page2 = format!("{}/v1.0/users?$skiptoken=same", server.uri());
    Mock::given(path("/v1.0/users"))
        .and(NoQuery("$skiptoken"))
        .respond_with(json(
            200,
            json!({"value": [{"id": "first"}], "@odata.nextLink": format!("{page2}#start")}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/v1.0/users"))
        .and(query_param("$skiptoken", "same"))
        .respond_with(SameLinkNewSpelling {
            link: page2.clone(),
            served: Default::default(),
        })
        .expect(1)
        .mount(&server)
        .await;
    let mut pages = engine()
        .stream(
            &ctx(&server, RecordingCredential::new()),
            "users.list_users",
            Arguments::new(),
        )
        .into_pages();
    let first = pages.next().await.unwrap().unwrap();
    // the continuation is the request as sent: no fragment
    assert_eq!(first.continuation().unwrap().expose_link(), page2);
    let second = pages.next().await.unwrap().unwrap();
    assert_eq!(second.records()[0]["id"], "p0");
    let err = pages.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Remote);
    assert!(err.to_string().contains("already returned"), "{err}");
    assert!(pages.next().await.is_none());
    // two requests in all: the first page and page 2, once
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_link_back_to_the_first_page_is_also_a_repeat() {
    let server = server().await;
    Mock::given(path("/v1.0/users"))
        .respond_with(json(
            200,
            json!({"value": [{"id": "1"}], "@odata.nextLink": format!("{}/v1.0/users", server.uri())}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let result: Result<Vec<Value>, _> = engine()
        .stream(
            &ctx(&server, RecordingCredential::new()),
            "users.list_users",
            Arguments::new(),
        )
        .try_collect()
        .await;
    assert_eq!(result.unwrap_err().kind(), ErrorKind::Remote);
}

#[tokio::test]
async fn the_page_cap_stops_the_stream_and_the_continuation_resumes_after_it() {
    let server = server().await;
    mount_pages(&server, 3).await;
    let engine = engine();
    let ctx = ctx(&server, RecordingCredential::new());
    let mut stream = engine
        .stream(&ctx, "users.list_users", Arguments::new())
        .with_max_pages(2);
    let mut seen = Vec::new();
    let err = loop {
        match stream.next().await.unwrap() {
            Ok(record) => seen.push(record),
            Err(err) => break err,
        }
    };
    assert_eq!(ids(&seen), vec!["1a", "1b", "2a", "2b"]);
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(err.field(), Some("max_pages"));
    let continuation = stream.continuation().expect("resume point");
    assert!(continuation.expose_link().ends_with("$skiptoken=p3"));

    // Round-trip through storage, then resume: only page 3 is fetched.
    let stored = serde_json::to_string(&continuation).unwrap();
    let restored: Continuation = serde_json::from_str(&stored).unwrap();
    let rest: Vec<Value> = engine.resume(&ctx, &restored).try_collect().await.unwrap();
    assert_eq!(ids(&rest), vec!["3a", "3b"]);
}

#[tokio::test]
async fn the_engine_wide_page_cap_applies_by_default() {
    let server = server().await;
    mount_pages(&server, 2).await;
    let engine = switchboard_core::Engine::builder(registry())
        .max_pages(1)
        .build()
        .unwrap();
    // Only page 1 is fetched; page 2's mock expects one request, so serve it by resuming.
    let ctx = ctx(&server, RecordingCredential::new());
    let mut stream = engine.stream(&ctx, "users.list_users", Arguments::new());
    let mut n = 0;
    while let Some(item) = stream.next().await {
        match item {
            Ok(_) => n += 1,
            Err(err) => {
                assert_eq!(err.field(), Some("max_pages"));
                break;
            }
        }
    }
    assert_eq!(n, 2);
    let rest: Vec<Value> = engine
        .resume(&ctx, &stream.continuation().unwrap())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&rest), vec!["2a", "2b"]);
}

#[tokio::test]
async fn a_delta_listing_ends_with_its_delta_link_and_resumes_from_it() {
    let server = server().await;
    let uri = server.uri();
    Mock::given(path("/v1.0/users/delta"))
        .and(NoQuery("$skiptoken"))
        .and(NoQuery("$deltatoken"))
        .and(header("prefer", "return=minimal"))
        .respond_with(json(
            200,
            json!({
                "value": [{"id": "u1"}],
                "@odata.nextLink": format!("{uri}/v1.0/users/delta?$skiptoken=d2")
            }),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/v1.0/users/delta"))
        .and(query_param("$skiptoken", "d2"))
        .and(header("prefer", "return=minimal"))
        .respond_with(json(
            200,
            json!({
                "value": [{"id": "u2"}],
                "@odata.deltaLink": format!("{uri}/v1.0/users/delta?$deltatoken=round1")
            }),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/v1.0/users/delta"))
        .and(query_param("$deltatoken", "round1"))
        .and(header("prefer", "return=minimal"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(json(
            200,
            json!({
                "value": [{"id": "u1", "@removed": {"reason": "changed"}}],
                "@odata.deltaLink": format!("{uri}/v1.0/users/delta?$deltatoken=round2")
            }),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let engine = engine();
    let ctx = ctx(&server, RecordingCredential::new());

    let mut stream = engine.stream(&ctx, "users.delta_users", Arguments::new());
    let mut first = Vec::new();
    while let Some(record) = stream.try_next().await.unwrap() {
        first.push(record);
    }
    assert_eq!(ids(&first), vec!["u1", "u2"]);
    let delta = stream.continuation().expect("a delta link");
    assert_eq!(delta.kind(), ContinuationKind::Delta);
    assert_eq!(delta.method_id(), "users.delta_users");
    assert!(delta.expose_link().ends_with("$deltatoken=round1"));
    assert!(!format!("{delta:?}").contains("round1"));

    let restored: Continuation =
        serde_json::from_str(&serde_json::to_string(&delta).unwrap()).unwrap();
    let mut next_round = engine.resume(&ctx, &restored);
    let changes: Vec<Value> = (&mut next_round).try_collect().await.unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["@removed"]["reason"], "changed");
    assert!(
        next_round
            .continuation()
            .unwrap()
            .expose_link()
            .ends_with("round2")
    );
}

#[tokio::test]
async fn a_delta_listing_without_a_delta_link_is_an_error() {
    let server = server().await;
    Mock::given(path("/v1.0/users/delta"))
        .respond_with(json(200, json!({"value": [{"id": "u1"}]})))
        .expect(1)
        .mount(&server)
        .await;
    let mut stream = engine().stream(
        &ctx(&server, RecordingCredential::new()),
        "users.delta_users",
        Arguments::new(),
    );
    assert!(stream.next().await.unwrap().is_ok());
    let err = stream.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(err.to_string().contains("deltaLink"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn every_page_goes_through_retries_and_token_refresh() {
    let server = server().await;
    let uri = server.uri();
    Mock::given(path("/v1.0/users"))
        .and(NoQuery("$skiptoken"))
        .respond_with(json(200, json!({"value": [{"id": "1"}], "@odata.nextLink": format!("{uri}/v1.0/users?$skiptoken=p2")})))
        .expect(1)
        .mount(&server)
        .await;
    // Page 2: throttled once, then the token is refused once, then served.
    Mock::given(path("/v1.0/users"))
        .and(query_param("$skiptoken", "p2"))
        .respond_with(sequence(vec![
            ResponseTemplate::new(429).insert_header("Retry-After", "2"),
            ResponseTemplate::new(401),
            json(200, json!({"value": [{"id": "2"}]})),
        ]))
        .expect(3)
        .mount(&server)
        .await;
    let cred = RecordingCredential::new();
    let records: Vec<Value> = engine()
        .stream(
            &ctx(&server, cred.clone()),
            "users.list_users",
            Arguments::new(),
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&records), vec!["1", "2"]);
    let received = server.received_requests().await.unwrap();
    let last = received.last().unwrap();
    assert_eq!(last.headers.get("authorization").unwrap(), "Bearer tok-2");
    assert_eq!(last.headers.get("consistencylevel").unwrap(), "eventual");
    assert_eq!(cred.calls(), 4);
}

#[tokio::test]
async fn a_partly_read_page_is_read_again_on_resume() {
    let server = server().await;
    let uri = server.uri();
    Mock::given(path("/v1.0/users"))
        .and(NoQuery("$skiptoken"))
        .respond_with(json(200, json!({"value": [{"id": "1a"}, {"id": "1b"}], "@odata.nextLink": format!("{uri}/v1.0/users?$skiptoken=p2")})))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(path("/v1.0/users"))
        .and(query_param("$skiptoken", "p2"))
        .respond_with(json(200, json!({"value": [{"id": "2a"}]})))
        .expect(1)
        .mount(&server)
        .await;
    let engine = engine();
    let ctx = ctx(&server, RecordingCredential::new());
    let mut stream = engine.stream(&ctx, "users.list_users", Arguments::new());
    stream.next().await.unwrap().unwrap();
    let continuation = stream.continuation().unwrap();
    drop(stream);
    let all: Vec<Value> = engine
        .resume(&ctx, &continuation)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids(&all), vec!["1a", "1b", "2a"]);
}

#[tokio::test]
async fn a_continuation_from_another_installation_is_refused() {
    let server = server().await;
    let continuation: Continuation = serde_json::from_value(json!({
        "installation_id": "0d7e6a4b-1111-4222-8333-444455556666", "method_id": "users.list_users", "kind": "next_page",
        "link": format!("{}/v1.0/users?$skiptoken=x", server.uri())
    }))
    .unwrap();
    let mut stream = engine().resume(&ctx(&server, RecordingCredential::new()), &continuation);
    let err = stream.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(err.field(), Some("continuation"));
}

#[tokio::test]
async fn bad_arguments_arrive_as_the_first_item_and_send_nothing() {
    let server = server().await;
    let mut stream = engine().stream(
        &ctx(&server, RecordingCredential::new()),
        "users.list_users",
        Arguments::new().set("top", "many"),
    );
    let err = stream.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(err.field(), Some("top"));
    assert!(stream.next().await.is_none());
}

#[tokio::test]
async fn a_page_without_records_at_the_selector_is_a_decode_error() {
    let server = server().await;
    Mock::given(path("/v1.0/users"))
        .respond_with(json(200, json!({"items": []})))
        .expect(1)
        .mount(&server)
        .await;
    let mut stream = engine().stream(
        &ctx(&server, RecordingCredential::new()),
        "users.list_users",
        Arguments::new(),
    );
    let err = stream.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(err.to_string().contains("/value"), "{err}");
}

#[tokio::test]
async fn a_method_without_paging_yields_its_one_response_as_records() {
    let server = server().await;
    Mock::given(path("/v1.0/users/adele"))
        .respond_with(json(
            200,
            json!({"id": "adele", "@odata.nextLink": "https://evil.example/ignored"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let records: Vec<Value> = engine()
        .stream(
            &ctx(&server, RecordingCredential::new()),
            "users.get_user",
            Arguments::new().set("id", "adele"),
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["id"], "adele");
}

#[tokio::test]
async fn an_error_page_ends_the_stream_with_the_classified_error() {
    let server = server().await;
    Mock::given(path("/v1.0/users"))
        .respond_with(graph_error(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let mut stream = engine().stream(
        &ctx(&server, RecordingCredential::new()),
        "users.list_users",
        Arguments::new(),
    );
    let err = stream.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    assert_eq!(err.permissions(), ["User.ReadBasic.All"]);
    assert!(stream.next().await.is_none());
}
