//! Both Microsoft identity variants obtain and refresh their tokens
//! *through the engine*: the engine asks the installation's credential
//! (`DelegatedAuth::credential`, `ApplicationAuth::credential`) for a token
//! before each attempt; the token endpoint and Graph are two wiremock
//! servers (a custom cloud). One refresh serves all concurrent callers of
//! an installation, and installations never see each other's tokens.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::{GUEST_UPN, GUEST_UPN_IN_PATH};
use futures::future::join_all;
use oauth2::RefreshToken;
use serde_json::{Value, json};
use switchboard_core::InstallationId;
use switchboard_core::credential::Credential;
use switchboard_core::{Arguments, Engine, InstallationContext};
use switchboard_microsoft365::application::ApplicationAuth;
use switchboard_microsoft365::cloud::{Cloud, CustomCloud};
use switchboard_microsoft365::delegated::DelegatedAuth;
use switchboard_microsoft365::identity::MicrosoftApp;
use switchboard_oauth::clock::ManualClock;
use switchboard_oauth::context::AuthContext;
use switchboard_oauth::grants::{MemoryGrants, StoredGrant};
use wiremock::matchers::{any, body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const INST_1: InstallationId = InstallationId::from_u128(1);
const INST_APP: InstallationId = InstallationId::from_u128(3);

const TENANT: &str = "0d2f1a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b";
const CLIENT_ID: &str = "6731de76-14a6-49ae-97bc-6eba6914391e";
const CLIENT_SECRET: &str = "secret-value~abc";
const REDIRECT: &str = "https://platform.example.test/oauth/callback";

fn token_path() -> String {
    format!("/{TENANT}/oauth2/v2.0/token")
}

fn token_body(access: &str, refresh: Option<&str>) -> Value {
    let mut body = json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": access});
    if let Some(rt) = refresh {
        body["refresh_token"] = json!(rt);
    }
    body
}

async fn strict_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(599))
        .with_priority(u8::MAX)
        .named("unexpected request")
        .expect(0)
        .mount(&server)
        .await;
    server
}

/// Login on one server, Graph on another.
struct Setup {
    login: MockServer,
    graph: MockServer,
    engine: Engine,
    auth: AuthContext,
    clock: ManualClock,
    cloud: Cloud,
}

async fn setup() -> Setup {
    let login = strict_server().await;
    let graph = strict_server().await;
    let engine = common::engine();
    let clock = ManualClock::new(SystemTime::now());
    let auth = AuthContext::with_clock(
        engine.http_client().clone(),
        Arc::new(MemoryGrants::new()),
        Arc::new(clock.clone()),
    );
    let cloud = Cloud::Custom(CustomCloud::new(&login.uri(), &graph.uri()).unwrap());
    Setup {
        login,
        graph,
        engine,
        auth,
        clock,
        cloud,
    }
}

fn app() -> MicrosoftApp {
    MicrosoftApp::new(CLIENT_ID)
        .with_client_secret(CLIENT_SECRET)
        .with_redirect_uri(REDIRECT)
        .unwrap()
}

impl Setup {
    /// A signed-in delegated installation: its refresh token is stored.
    async fn delegated(
        &self,
        installation: InstallationId,
        refresh_token: &str,
    ) -> InstallationContext {
        let grant = StoredGrant::new(Some(RefreshToken::new(refresh_token.into())))
            .with_tenant(Some(TENANT.into()));
        self.auth
            .grants
            .modify_grant(installation, &|g| *g = grant.clone())
            .await
            .unwrap();
        let auth = DelegatedAuth::new(
            self.auth.clone(),
            app(),
            installation,
            self.cloud.clone(),
            TENANT,
        )
        .unwrap();
        self.context(installation, "delegated", Arc::new(auth.credential()))
    }

    fn application(&self, installation: InstallationId) -> InstallationContext {
        let auth = ApplicationAuth::new(
            self.auth.clone(),
            app(),
            installation,
            self.cloud.clone(),
            TENANT,
        )
        .unwrap();
        self.context(installation, "application", Arc::new(auth.credential()))
    }

    fn context(
        &self,
        installation: InstallationId,
        variant: &str,
        credential: Arc<dyn Credential>,
    ) -> InstallationContext {
        // The cloud decides where calls go and which host gets the token.
        InstallationContext::new(
            installation,
            "microsoft365",
            variant,
            self.cloud.endpoints(),
            credential,
        )
    }

    async fn token_requests(&self) -> Vec<std::collections::HashMap<String, String>> {
        self.login
            .received_requests()
            .await
            .unwrap()
            .iter()
            .map(|r| url::form_urlencoded::parse(&r.body).into_owned().collect())
            .collect()
    }
}

fn me() -> Value {
    json!({"id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd", "displayName": "Adele Vance"})
}

#[tokio::test]
async fn delegated_obtains_and_refreshes_its_token_through_the_engine() {
    let s = setup().await;
    for (sent, access, rotated) in [("rt-1", "at-1", "rt-2"), ("rt-2", "at-2", "rt-3")] {
        Mock::given(method("POST"))
            .and(path(token_path()))
            .and(body_string_contains("grant_type=refresh_token"))
            .and(body_string_contains(format!("refresh_token={sent}&")))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(token_body(access, Some(rotated))),
            )
            .expect(1)
            .mount(&s.login)
            .await;
        Mock::given(method("GET"))
            .and(path("/v1.0/me"))
            .and(header("authorization", format!("Bearer {access}").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(me()))
            .expect(1)
            .mount(&s.graph)
            .await;
    }
    let ctx = s.delegated(INST_1, "rt-1").await;
    let first = s
        .engine
        .call(&ctx, "users.get_user", Arguments::new())
        .await
        .unwrap();
    assert_eq!(first.json(), Some(&me()));
    // The access token expires (refreshed 5 minutes early): the next call
    // refreshes with the rotated refresh token.
    s.clock.advance(Duration::from_secs(3599 - 299));
    let second = s
        .engine
        .call(&ctx, "users.get_user", Arguments::new())
        .await
        .unwrap();
    assert_eq!(second.json(), Some(&me()));

    let sent = s.token_requests().await;
    assert_eq!(sent.len(), 2);
    for form in &sent {
        assert_eq!(form["client_id"], CLIENT_ID);
        assert!(
            form["scope"]
                .split(' ')
                .any(|sc| sc == format!("{}/User.Read", s.graph.uri())),
            "{}",
            form["scope"]
        );
    }
    let stored = s.auth.grants.load_grant(INST_1).await.unwrap().unwrap();
    assert_eq!(stored.refresh_token.unwrap().secret(), "rt-3");
    s.login.verify().await;
    s.graph.verify().await;
}

#[tokio::test]
async fn application_obtains_and_refreshes_its_token_through_the_engine() {
    let s = setup().await;
    let default_scope = format!("{}/.default", s.graph.uri());
    for access in ["app-1", "app-2"] {
        Mock::given(method("POST"))
            .and(path(token_path()))
            .and(body_string_contains("grant_type=client_credentials"))
            .respond_with(ResponseTemplate::new(200).set_body_json(token_body(access, None)))
            .up_to_n_times(1)
            .expect(1)
            .mount(&s.login)
            .await;
        Mock::given(method("GET"))
            .and(path(format!(
                "/v1.0/users/{GUEST_UPN_IN_PATH}/mailboxSettings"
            )))
            .and(header("authorization", format!("Bearer {access}").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"timeZone": "UTC"})))
            .expect(1)
            .mount(&s.graph)
            .await;
    }
    let ctx = s.application(INST_APP);
    let args = || Arguments::new().set("user_id", GUEST_UPN);
    let r = s
        .engine
        .call(&ctx, "mail.get_mailbox_settings", args())
        .await
        .unwrap();
    assert_eq!(r.json().unwrap()["timeZone"], "UTC");
    s.clock.advance(Duration::from_secs(3600));
    s.engine
        .call(&ctx, "mail.get_mailbox_settings", args())
        .await
        .unwrap();

    let sent = s.token_requests().await;
    assert_eq!(sent.len(), 2);
    for form in &sent {
        assert_eq!(form["scope"], default_scope);
        assert_eq!(form["client_secret"], CLIENT_SECRET);
    }
    s.login.verify().await;
    s.graph.verify().await;
}

/// 500 concurrent engine calls find the installation's token expired; the
/// token endpoint takes 2 s to answer. Exactly one token request is made
/// and all 500 Graph requests carry the new token.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_concurrent_calls_with_an_expired_token_make_one_token_request() {
    let s = setup().await;
    Mock::given(method("POST"))
        .and(path(token_path()))
        .and(body_string_contains("refresh_token=rt-1&"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("at-old", Some("rt-2"))))
        .expect(1)
        .mount(&s.login)
        .await;
    Mock::given(method("POST"))
        .and(path(token_path()))
        .and(body_string_contains("refresh_token=rt-2&"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(token_body("at-new", Some("rt-3")))
                .set_delay(Duration::from_secs(2)),
        )
        .expect(1)
        .mount(&s.login)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/me"))
        .and(header("authorization", "Bearer at-old"))
        .respond_with(ResponseTemplate::new(200).set_body_json(me()))
        .expect(1)
        .mount(&s.graph)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/me"))
        .and(header("authorization", "Bearer at-new"))
        .respond_with(ResponseTemplate::new(200).set_body_json(me()))
        .expect(500)
        .mount(&s.graph)
        .await;
    let ctx = s.delegated(INST_1, "rt-1").await;
    s.engine
        .call(&ctx, "users.get_user", Arguments::new())
        .await
        .unwrap();
    s.clock.advance(Duration::from_secs(3600));

    let calls = (0..500).map(|_| {
        let engine = s.engine.clone();
        let ctx = ctx.clone();
        tokio::spawn(async move { engine.call(&ctx, "users.get_user", Arguments::new()).await })
    });
    for result in join_all(calls).await {
        assert_eq!(result.unwrap().unwrap().json(), Some(&me()));
    }
    s.login.verify().await;
    s.graph.verify().await;
    let with_new = s
        .graph
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| {
            r.headers
                .get("authorization")
                .is_some_and(|v| v == "Bearer at-new")
        })
        .count();
    assert_eq!(with_new, 500);
    assert_eq!(
        s.token_requests().await.len(),
        2,
        "one sign-in refresh, then one for all 500"
    );
}

/// The token endpoint answers each refresh token with its installation's
/// access token.
struct TokenPerRefreshToken;

impl Respond for TokenPerRefreshToken {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let form: std::collections::HashMap<String, String> =
            url::form_urlencoded::parse(&request.body)
                .into_owned()
                .collect();
        let n = form["refresh_token"].trim_start_matches("rt-");
        ResponseTemplate::new(200).set_body_json(token_body(&format!("at-{n}"), None))
    }
}

/// 50 installations, each with its own refresh token, called concurrently
/// (4 calls each): exactly 50 token requests, one per installation with
/// its own refresh token, and every Graph request carries its own
/// installation's token.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_installations_make_fifty_token_requests_and_never_share_tokens() {
    let s = setup().await;
    Mock::given(method("POST"))
        .and(path(token_path()))
        .and(body_string_contains("grant_type=refresh_token"))
        .respond_with(TokenPerRefreshToken)
        .expect(50)
        .mount(&s.login)
        .await;
    for i in 0..50 {
        Mock::given(method("GET"))
            .and(path("/v1.0/me"))
            .and(header("authorization", format!("Bearer at-{i}").as_str()))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"id": format!("user-{i}")})),
            )
            .expect(4)
            .mount(&s.graph)
            .await;
    }
    let mut contexts = Vec::new();
    for i in 0..50 {
        contexts.push(
            s.delegated(InstallationId::from_u128(100 + i), &format!("rt-{i}"))
                .await,
        );
    }
    let calls = (0..4).flat_map(|_| {
        contexts.iter().enumerate().map(|(i, ctx)| {
            let engine = s.engine.clone();
            let ctx = ctx.clone();
            tokio::spawn(async move {
                let r = engine
                    .call(&ctx, "users.get_user", Arguments::new())
                    .await
                    .unwrap();
                (i, r.json().unwrap()["id"].clone())
            })
        })
    });
    for result in join_all(calls.collect::<Vec<_>>()).await {
        let (i, id) = result.unwrap();
        assert_eq!(
            id,
            json!(format!("user-{i}")),
            "installation {i} got its own user"
        );
    }
    let mut refresh_tokens: Vec<String> = s
        .token_requests()
        .await
        .into_iter()
        .map(|f| f["refresh_token"].clone())
        .collect();
    refresh_tokens.sort();
    let mut expected: Vec<String> = (0..50).map(|i| format!("rt-{i}")).collect();
    expected.sort();
    assert_eq!(
        refresh_tokens, expected,
        "one token request per installation, each with its own refresh token"
    );
    s.login.verify().await;
    s.graph.verify().await;
}

#[tokio::test]
async fn a_batch_asks_for_a_token_that_covers_every_calls_permissions() {
    let s = setup().await;
    Mock::given(method("POST"))
        .and(path(token_path()))
        .and(body_string_contains("grant_type=refresh_token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("at-1", Some("rt-2"))))
        .expect(1)
        .mount(&s.login)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1.0/$batch"))
        .and(header("authorization", "Bearer at-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"responses": [
            {"id": "0", "status": 200, "headers": {"content-type": "application/json"}, "body": me()},
            {"id": "1", "status": 200, "headers": {"content-type": "application/json"}, "body": {"value": []}}
        ]})))
        .expect(1)
        .mount(&s.graph)
        .await;
    let ctx = s.delegated(INST_1, "rt-1").await;
    // the first call needs a user permission, the second a mail one
    let results = s
        .engine
        .batch(
            &ctx,
            vec![
                switchboard_core::engine::BatchCall::new("users.get_user", Arguments::new()),
                switchboard_core::engine::BatchCall::new("mail.list_messages", Arguments::new()),
            ],
        )
        .await
        .unwrap();
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");

    let sent = s.token_requests().await;
    assert_eq!(sent.len(), 1);
    let scopes: Vec<&str> = sent[0]["scope"].split(' ').collect();
    let graph = s.graph.uri();
    for permission in ["User.Read", "Mail.ReadBasic", "Mail.Read"] {
        let scope = format!("{graph}/{permission}");
        assert!(
            scopes.contains(&scope.as_str()),
            "{permission} in {scopes:?}"
        );
    }
    let batch = &s.graph.received_requests().await.unwrap()[0];
    let body: Value = serde_json::from_slice(&batch.body).unwrap();
    assert_eq!(body["requests"].as_array().unwrap().len(), 2);
    s.login.verify().await;
    s.graph.verify().await;
}
