//! The installation lifecycle end to end, with wiremock standing in for
//! Microsoft identity and Graph: delegated and application installs on the
//! memory store, SQLite (and PostgreSQL when configured), refused
//! transitions, test-connection wording, `invalid_grant` → NeedsReauth,
//! and uninstall erasing secrets on disk.

mod lifecycle_support;

use std::sync::Arc;
use std::time::{Duration, SystemTime};
use switchboard_core::InstallationId;

use lifecycle_support::*;
use secrecy::ExposeSecret;
use serde_json::json;
use switchboard_core::credential::AccessToken;
use switchboard_core::{Arguments, ErrorKind};
use switchboard_installations::install::InstallationStatus;
use wiremock::matchers::{header, method, path, query_param as q};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn delegated_lifecycle(stores: Stores) {
    let kind = stores.kind;
    let server = MockServer::start().await;
    catch_all(&server).await;
    let svc = service(stores.a.clone(), "node-a", CLIENT_SECRET);

    // install: the authorize URL asks for the enabled methods' scopes only
    let started = svc
        .install(request(&server, "acct-1", "delegated").enable(["users"]))
        .await
        .unwrap();
    let url = started.consent_link().unwrap();
    assert_eq!(url.path(), format!("/{TENANT}/oauth2/v2.0/authorize"));
    assert_eq!(query_param(url, "client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(query_param(url, "response_type").as_deref(), Some("code"));
    assert_eq!(
        query_param(url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(query_param(url, "redirect_uri").as_deref(), Some(REDIRECT));
    let scope = query_param(url, "scope").unwrap();
    assert!(
        scope.contains(&format!("{}/User.Read", server.uri())),
        "{scope}"
    );
    assert!(scope.contains("offline_access"), "{scope}");
    assert!(!scope.contains("Mail"), "only users are enabled: {scope}");
    assert!(!format!("{started:?}").contains("state="));
    let inst = &started.installation;
    assert_eq!(inst.status, InstallationStatus::PendingConsent, "{kind}");
    assert_eq!(inst.tenant_id.as_deref(), Some(TENANT));
    assert_eq!(inst.cloud, "custom");
    let id = inst.id;
    let state = query_param(url, "state").unwrap();

    // complete: code exchange once, refresh token stored in the same row
    token_mock(
        "authorization_code",
        "code=code-1",
        token_json(&jwt("first"), Some("rt-1")),
        200,
    )
    .named("code exchange")
    .expect(1)
    .mount(&server)
    .await;
    let active = svc
        .complete(id, &format!("{REDIRECT}?code=code-1&state={state}"))
        .await
        .unwrap();
    assert_eq!(active.status, InstallationStatus::Active, "{kind}");
    let secrets = stores.b.load_secrets(id).await.unwrap().unwrap().value;
    assert_eq!(secrets.refresh_token.unwrap().expose_secret(), "rt-1");
    assert!(secrets.pending_authorization.is_none());
    assert!(!secrets.continuations.contains_key("_pending_authorization"));

    // the same callback again: the state was used
    let err = svc
        .complete(id, &format!("{REDIRECT}?code=code-1&state={state}"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");

    // test connection: one refresh (no access token stored yet), GET /me
    let second = jwt("second");
    token_mock(
        "refresh_token",
        "refresh_token=rt-1",
        token_json(&second, Some("rt-2")),
        200,
    )
    .named("refresh")
    .expect(1)
    .mount(&server)
    .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/me"))
        .and(header("authorization", format!("Bearer {second}").as_str()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": "u-1", "displayName": "Adele"})),
        )
        .named("GET /me")
        .expect(2)
        .mount(&server)
        .await;
    let report = svc.test_connection(id).await.unwrap();
    assert!(report.ok, "{kind}: {report:?}");
    assert_eq!(report.method_id.as_deref(), Some("users.get_user"));
    assert_eq!(report.status, Some(InstallationStatus::Active));

    // a call through the context reuses the stored token
    let ctx = svc.context(id).await.unwrap();
    let me = svc
        .engine()
        .call(&ctx, "users.get_user", Arguments::new())
        .await
        .unwrap();
    assert_eq!(me.json().unwrap()["displayName"], "Adele");
    let secrets = stores.b.load_secrets(id).await.unwrap().unwrap().value;
    assert_eq!(secrets.refresh_token.unwrap().expose_secret(), "rt-2");
    assert_eq!(secrets.access_token.unwrap().secret(), second);

    // disable / enable keep the grant
    let disabled = svc.disable(id).await.unwrap();
    assert_eq!(disabled.status, InstallationStatus::Disabled);
    let err = svc.context(id).await.unwrap_err();
    assert!(err.to_string().contains("enable it first"), "{err}");
    assert_eq!(
        svc.enable(id).await.unwrap().status,
        InstallationStatus::Active
    );

    // re-authenticate: grant deleted, a new link; the old state is refused
    let again = svc.reauthenticate(id).await.unwrap();
    assert_eq!(
        again.installation.status,
        InstallationStatus::PendingConsent
    );
    let new_state = query_param(again.consent_link().unwrap(), "state").unwrap();
    assert_ne!(new_state, state);
    let secrets = stores.b.load_secrets(id).await.unwrap().unwrap().value;
    assert!(!secrets.has_grant(), "{kind}: tokens deleted");
    let err = svc
        .complete(id, &format!("{REDIRECT}?code=code-1&state={state}"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Consent);
    assert_eq!(err.field(), Some("state"));
    // ... and did not spoil the new link, completed here by another node
    token_mock(
        "authorization_code",
        "code=code-2",
        token_json(&jwt("third"), Some("rt-3")),
        200,
    )
    .named("second code exchange")
    .expect(1)
    .mount(&server)
    .await;
    let other_node = service(stores.b.clone(), "node-b", CLIENT_SECRET);
    let active = other_node
        .complete(id, &format!("?code=code-2&state={new_state}"))
        .await
        .unwrap();
    assert_eq!(active.status, InstallationStatus::Active, "{kind}");

    // uninstall: tombstone kept, every secret erased
    let gone = svc.uninstall(id).await.unwrap();
    assert_eq!(gone.status, InstallationStatus::Uninstalled);
    let secrets = stores.b.load_secrets(id).await.unwrap().unwrap().value;
    assert!(secrets.refresh_token.is_none() && secrets.access_token.is_none());
    assert!(secrets.continuations.is_empty() && secrets.pending_authorization.is_none());
    let listed = svc.list_by_account("acct-1").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].as_ref().unwrap().status,
        InstallationStatus::Uninstalled
    );
    server.verify().await;
}

#[tokio::test]
async fn delegated_lifecycle_on_the_memory_store() {
    delegated_lifecycle(memory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delegated_lifecycle_on_sqlite() {
    delegated_lifecycle(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_delegated_lifecycle() {
    delegated_lifecycle(postgres().await).await;
}

async fn application_lifecycle(stores: Stores) {
    let kind = stores.kind;
    let server = MockServer::start().await;
    catch_all(&server).await;
    let svc = service(stores.a.clone(), "node-a", CLIENT_SECRET);

    let started = svc
        .install(request(&server, "acct-2", "application"))
        .await
        .unwrap();
    let url = started.consent_link().unwrap();
    assert_eq!(url.path(), format!("/{TENANT}/v2.0/adminconsent"));
    assert_eq!(query_param(url, "client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(
        query_param(url, "scope"),
        Some(format!("{}/.default", server.uri()))
    );
    let state = query_param(url, "state").unwrap();
    let id = started.installation.id;

    // the admin's consent is proven by one client credentials request
    let token = jwt("app");
    token_mock(
        "client_credentials",
        &format!("client_secret={}", CLIENT_SECRET.replace('~', "%7E")),
        token_json(&token, None),
        200,
    )
    .named("client credentials")
    .expect(1)
    .mount(&server)
    .await;
    let active = svc
        .complete(
            id,
            &format!("{REDIRECT}?admin_consent=True&tenant={TENANT}&state={state}"),
        )
        .await
        .unwrap();
    assert_eq!(active.status, InstallationStatus::Active, "{kind}");

    // test connection: GET /users?$top=1 with the token already issued
    Mock::given(method("GET"))
        .and(path("/v1.0/users"))
        .and(q("$top", "1"))
        .and(header("authorization", format!("Bearer {token}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": [{"id": "u-1"}]})))
        .named("GET /users?$top=1")
        .expect(1)
        .mount(&server)
        .await;
    let report = svc.test_connection(id).await.unwrap();
    assert!(report.ok, "{kind}: {report:?}");
    assert_eq!(report.method_id.as_deref(), Some("users.list_users"));
    // Graph's per-app limit is kept per app registration: the key names
    // the installation's client id, and that one call was admitted on it
    assert_eq!(
        switchboard_tests::graph_app_admissions(svc.engine()),
        vec![(format!("microsoft365/graph_app/{CLIENT_ID}/app/"), 1)],
        "{kind}"
    );
    let stored = stores.b.load_secrets(id).await.unwrap().unwrap().value;
    assert_eq!(stored.access_token.unwrap().secret(), token);

    // another node with a wrong platform secret: the report says so
    let wrong = service(stores.b.clone(), "node-b", "wrong-secret");
    stores
        .b
        .store_secrets(
            id,
            stores.b.load_secrets(id).await.unwrap().unwrap().version,
            Default::default(),
        )
        .await
        .unwrap();
    token_mock(
        "client_credentials",
        "client_secret=wrong-secret",
        aadsts("invalid_client", 7000215),
        401,
    )
    .named("wrong secret")
    .expect(1)
    .mount(&server)
    .await;
    let report = wrong.test_connection(id).await.unwrap();
    assert!(!report.ok);
    assert!(
        report.message.contains("client secret is wrong"),
        "{}",
        report.message
    );
    assert!(
        report.message.contains("AADSTS7000215"),
        "{}",
        report.message
    );
    assert_eq!(report.error_kind.as_deref(), Some("configuration"));
    assert_eq!(
        report.status,
        Some(InstallationStatus::Active),
        "a configuration error is not a lost grant"
    );
    assert!(!report.message.contains("wrong-secret"));

    let gone = svc.uninstall(id).await.unwrap();
    assert_eq!(gone.status, InstallationStatus::Uninstalled, "{kind}");
    server.verify().await;
}

#[tokio::test]
async fn application_lifecycle_on_the_memory_store() {
    application_lifecycle(memory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn application_lifecycle_on_sqlite() {
    application_lifecycle(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_application_lifecycle() {
    application_lifecycle(postgres().await).await;
}

/// Transitions from the wrong state are refused with words saying what
/// the installation can do; bad settings name the field. No request is
/// sent for any of them.
#[tokio::test]
async fn wrong_states_and_bad_settings_are_refused_clearly() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    let stores = memory();
    let svc = service(stores.a.clone(), "node-a", CLIENT_SECRET);
    let started = svc
        .install(request(&server, "acct-3", "application"))
        .await
        .unwrap();
    let id = started.installation.id;

    // only a callback with this consent's state is its answer
    let state = query_param(started.consent_link().unwrap(), "state").unwrap();
    let answer = format!("http://localhost/callback?admin_consent=True&state={state}");
    assert!(started.is_callback_for(&answer));
    assert!(started.is_callback_for(&format!("?state={state}&error=access_denied")));
    for forged in [
        "http://localhost/callback?admin_consent=True&state=wrong".to_string(),
        "http://localhost/callback?admin_consent=True".to_string(),
        "http://localhost/callback".to_string(),
        format!("http://localhost/callback?state={state}&state={state}"),
        format!(
            "http://localhost/callback?state={}",
            &state[..state.len() - 1]
        ),
        String::new(),
    ] {
        assert!(!started.is_callback_for(&forged), "{forged}");
    }

    // pending consent: no context, no enable, a test that says why
    let err = svc.context(id).await.unwrap_err();
    assert!(err.to_string().contains("consent has not been completed"));
    let err = svc.enable(id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(
        err.to_string()
            .contains("only a disabled installation can be enabled")
    );
    let report = svc.test_connection(id).await.unwrap();
    assert!(!report.ok);
    assert_eq!(report.status, Some(InstallationStatus::PendingConsent));

    // the same account, connector, variant and tenant again
    let err = svc
        .install(request(&server, "acct-3", "application"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(err.to_string().contains(&id.to_string()), "{err}");

    // disabled: no re-authentication until enabled
    svc.disable(id).await.unwrap();
    let err = svc.reauthenticate(id).await.unwrap_err();
    assert!(err.to_string().contains("enable it"), "{err}");
    let err = svc
        .complete(id, "?admin_consent=True&state=x")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    // enabled without a grant: back to pending consent
    assert_eq!(
        svc.enable(id).await.unwrap().status,
        InstallationStatus::PendingConsent
    );

    // uninstalled is final
    svc.uninstall(id).await.unwrap();
    for err in [
        svc.disable(id).await.unwrap_err(),
        svc.enable(id).await.unwrap_err(),
        svc.uninstall(id).await.unwrap_err(),
        svc.reauthenticate(id).await.unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    }
    assert!(
        svc.uninstall(id)
            .await
            .unwrap_err()
            .to_string()
            .contains("uninstalled is final")
    );
    let err = svc.get(InstallationId::new_random()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);

    // bad input names the field
    let cases = [
        (
            request(&server, "a", "application").setting("tenant_id", "common"),
            "tenant_id",
        ),
        (
            request(&server, "a", "delegated").setting("colour", "red"),
            "colour",
        ),
        (
            switchboard_installations::lifecycle::InstallRequest::new(
                "a",
                "microsoft365",
                "delegated",
            ),
            "tenant_id",
        ),
        (request(&server, "a", "delegated").cloud("mars"), "cloud"),
        (
            request(&server, "a", "delegated").setting("graph_url", "http://graph.example.com"),
            "graph_url",
        ),
        (
            request(&server, "a", "delegated").enable(["users.nope"]),
            "enabled",
        ),
        (request(&server, "a", "both"), "variant"),
    ];
    for (req, field) in cases {
        let err = svc.install(req).await.unwrap_err();
        assert_eq!(err.field(), Some(field), "{err}");
    }
    let err = svc
        .install(request(&server, "a", "delegated").platform_app("partner"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration);
    assert!(err.to_string().contains("`partner`"), "{err}");
    server.verify().await;
}

/// A grant that stopped working (`invalid_grant`, AADSTS70008) moves the
/// installation to NeedsReauth, persisted for every node; further calls
/// are refused without a request; re-authentication is then allowed.
async fn invalid_grant_moves_the_installation_to_needs_reauth_for_every_node(stores: Stores) {
    let kind = stores.kind;
    let server = MockServer::start().await;
    catch_all(&server).await;
    let svc = service(stores.a.clone(), "node-a", CLIENT_SECRET);
    let id = active_delegated(&svc, &server, "acct-4", "code-1", "rt-1").await;
    token_mock(
        "refresh_token",
        "refresh_token=rt-1",
        aadsts("invalid_grant", 70008),
        400,
    )
    .named("expired grant")
    .expect(1)
    .mount(&server)
    .await;
    let report = svc.test_connection(id).await.unwrap();
    assert!(!report.ok);
    assert_eq!(report.error_kind.as_deref(), Some("needs_reauth"));
    assert!(
        report.message.contains("the user must sign in again"),
        "{}",
        report.message
    );
    assert!(
        report.message.contains("re-authenticate"),
        "{}",
        report.message
    );
    assert_eq!(report.code.as_deref(), Some("AADSTS70008"));
    assert_eq!(
        report.status,
        Some(InstallationStatus::NeedsReauth),
        "{kind}"
    );

    // the other node reads the status from the store
    let seen = stores.b.get(id).await.unwrap().unwrap();
    assert_eq!(seen.status, InstallationStatus::NeedsReauth, "{kind}");
    assert!(seen.last_error.unwrap().contains("sign in again"));
    let other = service(stores.b.clone(), "node-b", CLIENT_SECRET);
    let err = other.context(id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NeedsReauth);
    let again = other.reauthenticate(id).await.unwrap();
    assert_eq!(
        again.installation.status,
        InstallationStatus::PendingConsent
    );
    server.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_grant_moves_the_installation_to_needs_reauth_on_sqlite() {
    invalid_grant_moves_the_installation_to_needs_reauth_for_every_node(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_invalid_grant_moves_the_installation_to_needs_reauth() {
    invalid_grant_moves_the_installation_to_needs_reauth_for_every_node(postgres().await).await;
}

/// 403 and 401 from Graph are explained: the missing permission named,
/// the refused token with what to check.
#[tokio::test]
async fn test_connection_explains_forbidden_and_unauthorized() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    let stores = memory();
    let svc = service(stores.a.clone(), "node-a", CLIENT_SECRET);

    // 403: the grant lacks the permission
    let id = active_delegated(&svc, &server, "acct-5", "code-1", "rt-1").await;
    let token = jwt("forbidden");
    token_mock(
        "refresh_token",
        "refresh_token=rt-1",
        token_json(&token, Some("rt-2")),
        200,
    )
    .named("refresh")
    .expect(1)
    .mount(&server)
    .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/me"))
        .and(header("authorization", format!("Bearer {token}").as_str()))
        .respond_with(ResponseTemplate::new(403).set_body_json(graph_error(
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )))
        .named("403 on /me")
        .expect(1)
        .mount(&server)
        .await;
    let report = svc.test_connection(id).await.unwrap();
    assert!(!report.ok);
    assert_eq!(report.error_kind.as_deref(), Some("forbidden"));
    assert_eq!(report.missing_permissions, ["User.Read", "User.Read.All"]);
    assert!(
        report
            .message
            .contains("grant one of User.Read, User.Read.All"),
        "{}",
        report.message
    );
    assert_eq!(report.code.as_deref(), Some("Authorization_RequestDenied"));
    assert_eq!(report.http_status, Some(403));
    assert_eq!(report.request_id.as_deref(), Some("req-123"));
    assert_eq!(report.status, Some(InstallationStatus::Active));
    server.verify().await;

    // 401 even after a fresh token
    let server = MockServer::start().await;
    catch_all(&server).await;
    let id = active_delegated(&svc, &server, "acct-6", "code-9", "rt-9").await;
    // an access token is stored but Graph refuses it
    let stored = stores.a.load_secrets(id).await.unwrap().unwrap();
    let mut value = stored.value;
    value.access_token = Some(AccessToken::new(
        jwt("refused-1"),
        Some(SystemTime::now() + Duration::from_secs(3600)),
    ));
    stores
        .a
        .store_secrets(id, stored.version, value)
        .await
        .unwrap();
    token_mock(
        "refresh_token",
        "refresh_token=rt-9",
        token_json(&jwt("refused-2"), Some("rt-10")),
        200,
    )
    .named("refresh after 401")
    .expect(1)
    .mount(&server)
    .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/me"))
        .respond_with(ResponseTemplate::new(401).set_body_json(graph_error(
            "InvalidAuthenticationToken",
            "Access token validation failure.",
        )))
        .named("401 on /me")
        .expect(2)
        .mount(&server)
        .await;
    let report = svc.test_connection(id).await.unwrap();
    assert!(!report.ok);
    assert_eq!(report.error_kind.as_deref(), Some("unauthorized"));
    assert!(report.message.contains("HTTP 401"), "{}", report.message);
    assert!(
        report.message.contains("re-authenticate"),
        "{}",
        report.message
    );
    server.verify().await;
}

/// A failed consent says why in the installation's last error and leaves
/// it pending: here Microsoft does not know the tenant (AADSTS90002).
#[tokio::test]
async fn a_failed_admin_consent_is_explained_and_stays_pending() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    let stores = memory();
    let svc = service(stores.a.clone(), "node-a", CLIENT_SECRET);
    let started = svc
        .install(request(&server, "acct-7", "application"))
        .await
        .unwrap();
    let state = query_param(started.consent_link().unwrap(), "state").unwrap();
    token_mock(
        "client_credentials",
        "client_id=",
        aadsts("invalid_request", 90002),
        400,
    )
    .named("unknown tenant")
    .expect(1)
    .mount(&server)
    .await;
    let id = started.installation.id;
    let err = svc
        .complete(
            id,
            &format!("?admin_consent=True&tenant={TENANT}&state={state}"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration);
    assert!(err.to_string().contains("tenant was not found"), "{err}");
    let inst = svc.get(id).await.unwrap();
    assert_eq!(inst.status, InstallationStatus::PendingConsent);
    assert!(inst.last_error.unwrap().contains("tenant was not found"));
    server.verify().await;
}

/// Uninstall erases secrets on disk: the SQLite file holds no secret
/// column any more and the plaintext is nowhere in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uninstall_erases_secrets_in_the_sqlite_file() {
    let stores = sqlite().await;
    let server = MockServer::start().await;
    catch_all(&server).await;
    let svc = service(stores.a.clone(), "node-a", CLIENT_SECRET);
    let started = svc
        .install(
            request(&server, "acct-8", "application")
                .own_client(CLIENT_ID, Some("own-secret-ZQ81".into())),
        )
        .await
        .unwrap();
    let id = started.installation.id;
    let file = stores.sqlite_path.clone().unwrap();
    let columns = |id: InstallationId| {
        let conn = rusqlite::Connection::open(&file).unwrap();
        conn.query_row(
            "SELECT client_secret, access_token, refresh_token, continuations FROM installations WHERE id = ?1",
            [id.to_string()],
            |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, String>(3)?,
                ))
            },
        )
        .unwrap()
    };
    let before = columns(id);
    assert!(
        before.0.is_some(),
        "the client secret is stored (encrypted)"
    );
    assert!(before.3.contains("_pending_authorization"));
    svc.uninstall(id).await.unwrap();
    let after = columns(id);
    assert_eq!((after.0, after.1, after.2), (None, None, None));
    assert_eq!(after.3, "{}");
    let mut raw = std::fs::read(&file).unwrap();
    if let Ok(wal) = std::fs::read(file.with_extension("db-wal")) {
        raw.extend(wal);
    }
    let text = String::from_utf8_lossy(&raw);
    assert!(!text.contains("own-secret-ZQ81"));
    assert!(text.contains("uninstalled"), "the tombstone is kept");
    let _ = Arc::clone(&stores.a);
    server.verify().await;
}
