//! Endpoints always come from the installation's cloud, through every entry
//! point: `Engine::installation` with Microsoft 365 settings, and the
//! lifecycle service's contexts. A China or custom-cloud installation never
//! resolves to the global Graph host, and its token can never be sent
//! there. Custom clouds are wiremock servers on loopback that must receive
//! the calls; China cannot be reached offline, so its endpoints and host
//! allow-list are checked instead.

mod lifecycle_support;

use std::sync::Arc;
use switchboard_core::InstallationId;

use lifecycle_support::*;
use serde_json::{Value, json};
use switchboard_core::connector::Settings;
use switchboard_core::credential::{AccessToken, StaticCredential};
use switchboard_core::{Arguments, ErrorKind};
use switchboard_installations::install::InstallationStatus;
use url::Url;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CHINA_GRAPH: &str = "microsoftgraph.chinacloudapi.cn";

fn settings(value: Value) -> Settings {
    value.as_object().unwrap().clone()
}

fn static_token() -> Arc<StaticCredential> {
    Arc::new(StaticCredential::new(AccessToken::new(
        "static-token",
        None,
    )))
}

/// The global host (and any other) is refused for the context's token.
fn assert_only_host(ctx: &switchboard_core::InstallationContext, host: &str) {
    assert_eq!(ctx.endpoints().allowed_hosts, vec![host.to_string()]);
    let global = Url::parse("https://graph.microsoft.com/v1.0/users").unwrap();
    let err = ctx.hosts().check_credentialed(&global).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UntrustedLink);
}

#[test]
fn engine_installation_in_china_uses_chinas_graph_host() {
    let engine = engine();
    for variant in ["delegated", "application"] {
        let ctx = engine
            .installation(
                InstallationId::new_random(),
                "microsoft365",
                variant,
                settings(json!({"cloud": "china", "tenant_id": TENANT})),
                static_token(),
            )
            .unwrap();
        assert_eq!(
            ctx.endpoints().base_url.as_str(),
            format!("https://{CHINA_GRAPH}/v1.0")
        );
        assert_only_host(&ctx, CHINA_GRAPH);
    }
    // and the other national clouds by their names and aliases
    for (cloud, host) in [
        ("usgov", "graph.microsoft.us"),
        ("us_government_dod", "dod-graph.microsoft.us"),
        ("global", "graph.microsoft.com"),
    ] {
        let ctx = engine
            .installation(
                InstallationId::new_random(),
                "microsoft365",
                "application",
                settings(json!({"cloud": cloud})),
                static_token(),
            )
            .unwrap();
        assert_eq!(
            ctx.endpoints().allowed_hosts,
            vec![host.to_string()],
            "{cloud}"
        );
    }
}

#[tokio::test]
async fn engine_installation_in_a_custom_cloud_calls_its_graph_server() {
    let graph = MockServer::start().await;
    catch_all(&graph).await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users"))
        .and(header("authorization", "Bearer static-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": [{"id": "u-1"}]})))
        .expect(2)
        .mount(&graph)
        .await;
    let engine = engine();
    // `cloud: custom` with both URLs, and both URLs without a cloud name
    for with_name in [true, false] {
        let mut value = json!({"login_url": "http://127.0.0.1:9", "graph_url": graph.uri()});
        if with_name {
            value["cloud"] = json!("custom");
        }
        let ctx = engine
            .installation(
                InstallationId::new_random(),
                "microsoft365",
                "application",
                settings(value),
                static_token(),
            )
            .unwrap();
        assert_eq!(
            ctx.endpoints().base_url.as_str(),
            format!("{}/v1.0", graph.uri())
        );
        assert_only_host(&ctx, "127.0.0.1");
        let response = engine
            .call(&ctx, "users.list_users", Arguments::new())
            .await
            .unwrap();
        assert_eq!(response.json().unwrap()["value"][0]["id"], "u-1");
    }
    graph.verify().await;
}

#[test]
fn engine_installation_refuses_a_cloud_it_cannot_place() {
    let engine = engine();
    let field = |value: Value| {
        engine
            .installation(
                InstallationId::new_random(),
                "microsoft365",
                "application",
                settings(value),
                static_token(),
            )
            .unwrap_err()
            .field()
            .map(str::to_string)
    };
    assert_eq!(
        field(json!({"cloud": "custom"})).as_deref(),
        Some("login_url")
    );
    assert_eq!(
        field(json!({"cloud": "custom", "login_url": "http://127.0.0.1:9"})).as_deref(),
        Some("graph_url")
    );
    assert_eq!(
        field(json!({"cloud": "china", "graph_url": "http://127.0.0.1:9"})).as_deref(),
        Some("graph_url")
    );
    assert_eq!(field(json!({"cloud": "mars"})).as_deref(), Some("cloud"));
    assert_eq!(
        field(json!({"cloud": "custom", "login_url": "http://127.0.0.1:9", "graph_url": "http://10.0.0.1"}))
            .as_deref(),
        Some("graph_url")
    );
}

#[tokio::test]
async fn lifecycle_contexts_in_a_custom_cloud_call_its_graph_server() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    let stores = memory();
    let svc = service(stores.a.clone(), "node-a", CLIENT_SECRET);
    let started = svc
        .install(request(&server, "acct", "application"))
        .await
        .unwrap();
    let state = query_param(started.consent_link().unwrap(), "state").unwrap();
    let token = jwt("custom-cloud");
    token_mock(
        "client_credentials",
        "client_id=",
        token_json(&token, None),
        200,
    )
    .expect(1)
    .mount(&server)
    .await;
    let id = started.installation.id;
    svc.complete(
        id,
        &format!("{REDIRECT}?admin_consent=True&tenant={TENANT}&state={state}"),
    )
    .await
    .unwrap();
    let ctx = svc.context(id).await.unwrap();
    assert_eq!(
        ctx.endpoints().base_url.as_str(),
        format!("{}/v1.0", server.uri())
    );
    assert_only_host(&ctx, "127.0.0.1");
    Mock::given(method("GET"))
        .and(path("/v1.0/users"))
        .and(header("authorization", format!("Bearer {token}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": [{"id": "u-1"}]})))
        .expect(1)
        .mount(&server)
        .await;
    let users = svc
        .engine()
        .call(&ctx, "users.list_users", Arguments::new())
        .await
        .unwrap();
    assert_eq!(users.json().unwrap()["value"][0]["id"], "u-1");
    server.verify().await;
}

#[tokio::test]
async fn lifecycle_contexts_in_china_use_chinas_hosts() {
    let stores = memory();
    let svc = service(stores.a.clone(), "node-a", CLIENT_SECRET);
    for variant in ["delegated", "application"] {
        let started = svc
            .install(
                switchboard_installations::lifecycle::InstallRequest::new(
                    "acct",
                    "microsoft365",
                    variant,
                )
                .cloud("china")
                .setting("tenant_id", TENANT),
            )
            .await
            .unwrap();
        // consent goes to China's identity service, for China's Graph
        assert_eq!(
            started.consent_link().unwrap().host_str(),
            Some("login.partner.microsoftonline.cn"),
            "{variant}"
        );
        let scope = query_param(started.consent_link().unwrap(), "scope").unwrap();
        assert!(
            scope.contains(&format!("https://{CHINA_GRAPH}/")),
            "{scope}"
        );
        // made active in the store (consent needs China's real service)
        let mut inst = started.installation.clone();
        inst.status = InstallationStatus::Active;
        stores.a.update(&inst).await.unwrap();
        let ctx = svc.context(inst.id).await.unwrap();
        assert_eq!(
            ctx.endpoints().base_url.as_str(),
            format!("https://{CHINA_GRAPH}/v1.0"),
            "{variant}"
        );
        assert_only_host(&ctx, CHINA_GRAPH);
    }
}
