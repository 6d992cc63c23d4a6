//! Two nodes (two engines, two lifecycle services, two store instances)
//! on one database: 200 concurrent calls that find an expired access token
//! make exactly one token request, and both nodes end with the same stored
//! token. On SQLite, and on PostgreSQL in the `postgres_*` twin (which needs
//! `SWITCHBOARD_TEST_DATABASE_URL`).

mod lifecycle_support;

use std::time::{Duration, SystemTime};

use lifecycle_support::*;
use secrecy::ExposeSecret;
use serde_json::json;
use switchboard_core::Arguments;
use switchboard_core::credential::AccessToken;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn two_engines_two_hundred_calls_one_token_request(stores: Stores) {
    let kind = stores.kind;
    let server = MockServer::start().await;
    catch_all(&server).await;
    let node_a = service(stores.a.clone(), "node-a", CLIENT_SECRET);
    let node_b = service(stores.b.clone(), "node-b", CLIENT_SECRET);
    let id = active_delegated(&node_a, &server, "acct-n", "code-1", "rt-1").await;

    // the stored access token has expired
    let current = stores.a.load_secrets(id).await.unwrap().unwrap();
    let mut secrets = current.value;
    secrets.access_token = Some(AccessToken::new(
        jwt("expired"),
        Some(SystemTime::now() - Duration::from_secs(60)),
    ));
    stores
        .a
        .store_secrets(id, current.version, secrets)
        .await
        .unwrap();

    let fresh = jwt("fresh");
    Mock::given(method("POST"))
        .and(path(token_path()))
        .and(wiremock::matchers::body_string_contains(
            "grant_type=refresh_token",
        ))
        .and(wiremock::matchers::body_string_contains(
            "refresh_token=rt-1",
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(token_json(&fresh, Some("rt-2")))
                .set_delay(Duration::from_millis(300)),
        )
        .named("the one refresh")
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/me"))
        .and(header("authorization", format!("Bearer {fresh}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "u-1"})))
        .named("GET /me")
        .expect(200)
        .mount(&server)
        .await;

    let ctx_a = node_a.context(id).await.unwrap();
    let ctx_b = node_b.context(id).await.unwrap();
    let mut calls = Vec::new();
    for i in 0..200 {
        let (svc, ctx) = if i % 2 == 0 {
            (node_a.clone(), ctx_a.clone())
        } else {
            (node_b.clone(), ctx_b.clone())
        };
        calls.push(tokio::spawn(async move {
            svc.engine()
                .call(&ctx, "users.get_user", Arguments::new())
                .await
        }));
    }
    for call in calls {
        let response = call.await.unwrap().unwrap();
        assert_eq!(response.status(), 200, "{kind}");
    }
    server.verify().await;
    let refreshes = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == token_path())
        .count();
    // one code exchange at install, one refresh for the 200 calls
    assert_eq!(refreshes, 2, "{kind}");
    let a = stores.a.load_secrets(id).await.unwrap().unwrap();
    let b = stores.b.load_secrets(id).await.unwrap().unwrap();
    assert_eq!(a.version, b.version, "{kind}");
    for stored in [a.value, b.value] {
        assert_eq!(stored.access_token.unwrap().secret(), fresh, "{kind}");
        assert_eq!(stored.refresh_token.unwrap().expose_secret(), "rt-2");
    }
    for svc in [&node_a, &node_b] {
        assert_eq!(
            svc.get(id).await.unwrap().status,
            switchboard_installations::install::InstallationStatus::Active
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_engines_two_hundred_calls_one_token_request_on_sqlite() {
    two_engines_two_hundred_calls_one_token_request(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_engines_two_hundred_calls_one_token_request() {
    two_engines_two_hundred_calls_one_token_request(postgres().await).await;
}
