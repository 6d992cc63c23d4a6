//! One refresh across nodes: two "nodes" (each its own store instance,
//! OAuth context and in-process token cache) on one database, with the
//! real OAuth credential against a wiremock token endpoint.
//!
//! Each scenario runs on SQLite, and on PostgreSQL in its `postgres_*`
//! twin (which needs `SWITCHBOARD_TEST_DATABASE_URL`; see `database_url`).

mod database_url;

use std::sync::Arc;
use std::time::{Duration, SystemTime};
use switchboard_core::InstallationId;

use oauth2::{ClientId, ClientSecret, TokenUrl};
use secrecy::ExposeSecret;
use serde_json::json;
use switchboard_core::credential::{AccessToken, Credential, TokenRequest};
use switchboard_installations::install::{Installation, InstallationSecrets, InstallationStore};
use switchboard_installations::lifecycle::grants::InstallationGrants;
use switchboard_installations::shared_token::{SharedTokenCredential, SharedTokenPolicy};
use switchboard_oauth::client::OAuthClient;
use switchboard_oauth::context::AuthContext;
use switchboard_oauth::oauth_credential::{Grant, InstallationIdentity, OAuthCredential};
use switchboard_oauth::provider::Provider;
use switchboard_store::postgres::{PostgresOptions, PostgresStore};
use switchboard_store::sqlite::SqliteStore;
use switchboard_store::{KeyRing, Store};
use wiremock::matchers::{any, body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[derive(Debug)]
struct PassThrough;

impl Provider for PassThrough {
    fn scopes(&self, permissions: &[String]) -> Vec<String> {
        permissions.to_vec()
    }
}

async fn catch_all(server: &MockServer) {
    Mock::given(any())
        .respond_with(ResponseTemplate::new(599))
        .with_priority(250)
        .named("unexpected request")
        .expect(0)
        .mount(server)
        .await;
}

async fn token_endpoint(server: &MockServer, old_rt: &str, access: &str, new_rt: &str) {
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains(format!("refresh_token={old_rt}")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({
                    "token_type": "Bearer",
                    "expires_in": 3600,
                    "access_token": access,
                    "refresh_token": new_rt,
                }))
                .set_delay(Duration::from_millis(300)),
        )
        .named("token refresh")
        .expect(1)
        .mount(server)
        .await;
}

/// A node: its own OAuth context (token cache) over its own store instance.
fn node(
    store: &Store,
    server: &MockServer,
    installation: InstallationId,
    name: &str,
) -> SharedTokenCredential {
    node_with(
        store,
        server,
        installation,
        name,
        SharedTokenPolicy::default().with_poll_interval(Duration::from_millis(10)),
    )
}

fn node_with(
    store: &Store,
    server: &MockServer,
    installation: InstallationId,
    name: &str,
    policy: SharedTokenPolicy,
) -> SharedTokenCredential {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let ctx = AuthContext::new(
        http,
        Arc::new(InstallationGrants::new(Arc::new(store.clone()))),
    );
    let client = OAuthClient::new(
        ctx.http.clone(),
        ClientId::new("client-1".into()),
        Some(ClientSecret::new("client-secret-value".into())),
        TokenUrl::new(format!("{}/token", server.uri())).unwrap(),
    );
    let oauth = OAuthCredential::new(
        ctx,
        client,
        InstallationIdentity::new(installation, "https://login.example.test", "tenant-a"),
        Grant::RefreshToken,
        Arc::new(PassThrough),
    );
    SharedTokenCredential::new(Arc::new(oauth), Arc::new(store.clone()), installation, name)
        .with_policy(policy)
}

/// Two store instances on one fresh SQLite file (kept while the directory lives).
async fn sqlite_pair(keys: &str) -> (Store, Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let open = || async {
        Store::Sqlite(
            SqliteStore::open(&path, KeyRing::parse(keys).unwrap())
                .await
                .unwrap(),
        )
    };
    (open().await, open().await, dir)
}

/// Two store instances on one fresh PostgreSQL schema.
async fn postgres_pair(keys: &str) -> (Store, Store) {
    let url = database_url::required();
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let open = || async {
        Store::Postgres(
            PostgresStore::connect_with(
                &url,
                KeyRing::parse(keys).unwrap(),
                PostgresOptions::default().with_schema(&schema),
            )
            .await
            .unwrap(),
        )
    };
    (open().await, open().await)
}

/// A `#[tokio::test]` per store for a scenario `async fn(kind, store_a, store_b)`:
/// `<scenario>_on_sqlite` and `postgres_<scenario>`.
macro_rules! on_both_stores {
    ($scenario:ident, $sqlite:ident, $postgres:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $sqlite() {
            let keys = KeyRing::generate_entry("k1").unwrap();
            let (a, b, _dir) = sqlite_pair(&keys).await;
            $scenario("sqlite", a, b).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $postgres() {
            let keys = KeyRing::generate_entry("k1").unwrap();
            let (a, b) = postgres_pair(&keys).await;
            $scenario("postgres", a, b).await;
        }
    };
}

async fn installation_with_expired_token(store: &Store, rt: &str) -> InstallationId {
    let expired = SystemTime::now() - Duration::from_secs(60);
    store
        .create(
            Installation::new("acct", "microsoft365", "1.0.0", "delegated"),
            InstallationSecrets::default()
                .with_refresh_token(rt)
                .with_access_token(AccessToken::new("at-expired", Some(expired))),
        )
        .await
        .unwrap()
        .id
}

/// 200 concurrent calls, half on each node, find an expired token: exactly
/// one token request is made, every call gets the new token, and both nodes
/// read the same stored access and rotated refresh token.
async fn two_nodes_two_hundred_calls_one_token_request(kind: &str, store_a: Store, store_b: Store) {
    let server = MockServer::start().await;
    catch_all(&server).await;
    token_endpoint(&server, "rt-1", "at-new", "rt-2").await;
    let id = installation_with_expired_token(&store_a, "rt-1").await;
    let node_a = Arc::new(node(&store_a, &server, id, "node-a"));
    let node_b = Arc::new(node(&store_b, &server, id, "node-b"));
    let mut calls = Vec::new();
    for i in 0..200 {
        let cred = if i % 2 == 0 {
            node_a.clone()
        } else {
            node_b.clone()
        };
        calls.push(tokio::spawn(async move {
            cred.token(&TokenRequest::new(id, vec!["User.Read".into()]))
                .await
        }));
    }
    for call in calls {
        let token = call.await.unwrap().unwrap();
        assert_eq!(token.secret(), "at-new", "{kind}");
    }
    server.verify().await;
    assert_eq!(server.received_requests().await.unwrap().len(), 1, "{kind}");
    for store in [&store_a, &store_b] {
        let stored = store.load_secrets(id).await.unwrap().unwrap().value;
        assert_eq!(stored.access_token.unwrap().secret(), "at-new", "{kind}");
        assert_eq!(
            stored.refresh_token.unwrap().expose_secret(),
            "rt-2",
            "{kind}"
        );
    }
}

on_both_stores!(
    two_nodes_two_hundred_calls_one_token_request,
    two_nodes_two_hundred_calls_one_token_request_on_sqlite,
    postgres_two_nodes_two_hundred_calls_one_token_request
);

/// A node that took the lease and crashed blocks the others only until the
/// lease's time limit; then one of them refreshes, once.
async fn a_crashed_lease_holder_blocks_only_until_its_lease_expires(
    kind: &str,
    store_a: Store,
    store_b: Store,
) {
    let server = MockServer::start().await;
    catch_all(&server).await;
    token_endpoint(&server, "rt-1", "at-after-crash", "rt-2").await;
    let id = installation_with_expired_token(&store_a, "rt-1").await;
    // the crashed node's lease: 400 ms
    assert!(
        store_a
            .try_lock_refresh(id, "crashed-node", Duration::from_millis(400))
            .await
            .unwrap()
    );
    let survivor = node(&store_b, &server, id, "node-b");
    let token = survivor
        .token(&TokenRequest::new(id, vec!["User.Read".into()]))
        .await
        .unwrap();
    assert_eq!(token.secret(), "at-after-crash", "{kind}");
    server.verify().await;
    let stored = store_a.load_secrets(id).await.unwrap().unwrap().value;
    assert_eq!(
        stored.refresh_token.unwrap().expose_secret(),
        "rt-2",
        "{kind}"
    );
}

on_both_stores!(
    a_crashed_lease_holder_blocks_only_until_its_lease_expires,
    a_crashed_lease_holder_blocks_only_until_its_lease_expires_on_sqlite,
    postgres_a_crashed_lease_holder_blocks_only_until_its_lease_expires
);

/// A token answer for `rt-1` that never comes (the request hangs): the
/// holder that sent it is then killed.
async fn stalled_token_endpoint(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("refresh_token=rt-1"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3600)))
        .up_to_n_times(1)
        .with_priority(1)
        .named("the dead holder's token request")
        .expect(1)
        .mount(server)
        .await;
}

async fn token_requests(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

/// Wait (bounded) until the server has seen `n` requests.
async fn until_requests(server: &MockServer, n: usize) {
    tokio::time::timeout(Duration::from_secs(30), async {
        while token_requests(server).await < n {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the token request arrived");
}

/// A holder that dies in the middle of its refresh (its task aborted while
/// its token request is in flight) stops renewing its short lease, so the
/// lease lapses and the waiting calls go on: one of them refreshes, once,
/// for all of them, on both nodes. The waiters' patience (10 s) is below the
/// old fixed lease of 30 s, so they cannot have waited for one.
async fn a_holder_that_dies_mid_refresh_is_taken_over_once_its_short_lease_lapses(
    kind: &str,
    store_a: Store,
    store_b: Store,
) {
    let server = MockServer::start().await;
    catch_all(&server).await;
    stalled_token_endpoint(&server).await;
    token_endpoint(&server, "rt-1", "at-after-death", "rt-2").await;
    let id = installation_with_expired_token(&store_a, "rt-1").await;
    let policy = SharedTokenPolicy::default()
        .with_lease(Duration::from_millis(500))
        .with_poll_interval(Duration::from_millis(10))
        .with_max_wait(Duration::from_secs(10));
    let doomed = Arc::new(node_with(&store_a, &server, id, "doomed", policy));
    let request = TokenRequest::new(id, vec!["User.Read".into()]);
    let holder = {
        let (doomed, request) = (doomed.clone(), request.clone());
        tokio::spawn(async move { doomed.token(&request).await })
    };
    until_requests(&server, 1).await;
    holder.abort();
    assert!(holder.await.unwrap_err().is_cancelled());

    let node_a = Arc::new(node_with(&store_a, &server, id, "node-a", policy));
    let node_b = Arc::new(node_with(&store_b, &server, id, "node-b", policy));
    let mut calls = Vec::new();
    for i in 0..20 {
        let cred = if i % 2 == 0 {
            node_a.clone()
        } else {
            node_b.clone()
        };
        let request = request.clone();
        calls.push(tokio::spawn(async move { cred.token(&request).await }));
    }
    for call in calls {
        let token = call.await.unwrap().unwrap();
        assert_eq!(token.secret(), "at-after-death", "{kind}");
    }
    server.verify().await;
    // the dead holder's request and exactly one more
    assert_eq!(token_requests(&server).await, 2, "{kind}");
    let stored = store_b.load_secrets(id).await.unwrap().unwrap().value;
    assert_eq!(
        stored.refresh_token.unwrap().expose_secret(),
        "rt-2",
        "{kind}"
    );
}

on_both_stores!(
    a_holder_that_dies_mid_refresh_is_taken_over_once_its_short_lease_lapses,
    a_holder_that_dies_mid_refresh_is_taken_over_once_its_short_lease_lapses_on_sqlite,
    postgres_a_holder_that_dies_mid_refresh_is_taken_over_once_its_short_lease_lapses
);

/// A live holder whose token request takes several lease times keeps its
/// lease by renewing it: the other calls wait and get its token, and only
/// one token request is made.
async fn a_live_holder_renews_its_lease_through_a_slow_refresh(
    kind: &str,
    store_a: Store,
    store_b: Store,
) {
    let server = MockServer::start().await;
    catch_all(&server).await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("refresh_token=rt-1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({
                    "token_type": "Bearer", "expires_in": 3600,
                    "access_token": "at-slow", "refresh_token": "rt-2",
                }))
                // four lease times
                .set_delay(Duration::from_secs(4)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let id = installation_with_expired_token(&store_a, "rt-1").await;
    let policy = SharedTokenPolicy::default()
        .with_lease(Duration::from_secs(1))
        .with_poll_interval(Duration::from_millis(10));
    let holder = Arc::new(node_with(&store_a, &server, id, "holder", policy));
    let waiter = Arc::new(node_with(&store_b, &server, id, "waiter", policy));
    let request = TokenRequest::new(id, vec!["User.Read".into()]);
    let first = {
        let (holder, request) = (holder.clone(), request.clone());
        tokio::spawn(async move { holder.token(&request).await })
    };
    until_requests(&server, 1).await;
    let mut waiting = Vec::new();
    for _ in 0..10 {
        let (waiter, request) = (waiter.clone(), request.clone());
        waiting.push(tokio::spawn(async move { waiter.token(&request).await }));
    }
    assert_eq!(first.await.unwrap().unwrap().secret(), "at-slow", "{kind}");
    for call in waiting {
        assert_eq!(call.await.unwrap().unwrap().secret(), "at-slow", "{kind}");
    }
    server.verify().await;
    assert_eq!(token_requests(&server).await, 1, "{kind}");
}

on_both_stores!(
    a_live_holder_renews_its_lease_through_a_slow_refresh,
    a_live_holder_renews_its_lease_through_a_slow_refresh_on_sqlite,
    postgres_a_live_holder_renews_its_lease_through_a_slow_refresh
);

/// A token the service refused (401) is not handed out again: the caller
/// that reports it gets one refresh, the stored token is replaced.
async fn a_refused_stored_token_is_refreshed_once(kind: &str, store_a: Store, store_b: Store) {
    let server = MockServer::start().await;
    catch_all(&server).await;
    token_endpoint(&server, "rt-1", "at-second", "rt-2").await;
    let fresh = SystemTime::now() + Duration::from_secs(3600);
    let id = store_a
        .create(
            Installation::new("acct", "microsoft365", "1.0.0", "delegated"),
            InstallationSecrets::default()
                .with_refresh_token("rt-1")
                .with_access_token(AccessToken::new("at-first", Some(fresh))),
        )
        .await
        .unwrap()
        .id;
    let cred = node(&store_b, &server, id, "node-b");
    let request = TokenRequest::new(id, vec!["User.Read".into()]);
    // still valid: served from the store, no token request
    assert_eq!(cred.token(&request).await.unwrap().secret(), "at-first");
    let refused = request.with_rejected(AccessToken::new("at-first", Some(fresh)));
    assert_eq!(
        cred.token(&refused).await.unwrap().secret(),
        "at-second",
        "{kind}"
    );
    server.verify().await;
    let stored = store_a.load_secrets(id).await.unwrap().unwrap().value;
    assert_eq!(stored.access_token.unwrap().secret(), "at-second");
}

on_both_stores!(
    a_refused_stored_token_is_refreshed_once,
    a_refused_stored_token_is_refreshed_once_on_sqlite,
    postgres_a_refused_stored_token_is_refreshed_once
);
