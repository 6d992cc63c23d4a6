//! No secrets anywhere: across the error paths, neither the captured
//! tracing output (every level, every target, span fields included) nor the
//! Debug or Display of any public value shows an access token, refresh
//! token, client secret, authorization code, pre-authenticated URL,
//! `$skiptoken` or `$deltatoken` value.

mod support;

use std::sync::Mutex;

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use secrecy::SecretString;
use serde_json::{Value, json};
use support::*;
use switchboard_core::InstallationId;
use switchboard_core::credential::{AccessToken, Credential, TokenRequest};
use switchboard_core::engine::InstallationContext;
use switchboard_core::{Arguments, ErrorKind};
use wiremock::matchers::{path, query_param};
use wiremock::{Mock, ResponseTemplate};

const INST_1: InstallationId = InstallationId::from_u128(1);

const SECRETS: &[&str] = &[
    "ACCESS-SECRET",
    "REFRESH-SECRET",
    "CLIENT-SECRET",
    "AUTHCODE-SECRET",
    "SKIP-SECRET",
    "DELTA-SECRET",
    "PREAUTH-SECRET",
    "BODY-SECRET",
    "eyJ0eXAiOiJKV1Qi",
];

/// A credential shaped like the OAuth ones: it holds a refresh token and a
/// client secret (in secrecy's redacting types) and rotates access tokens.
#[derive(Debug)]
struct RefreshingCredential {
    refresh_token: Mutex<SecretString>,
    client_secret: SecretString,
    generation: Mutex<u32>,
}

#[async_trait]
impl Credential for RefreshingCredential {
    async fn token(&self, request: &TokenRequest) -> switchboard_core::Result<AccessToken> {
        let mut generation = self.generation.lock().unwrap();
        if request.rejected.is_some() {
            *generation += 1;
            *self.refresh_token.lock().unwrap() =
                SecretString::from(format!("REFRESH-SECRET-{}", *generation));
        }
        let _ = &self.client_secret;
        Ok(AccessToken::new(
            format!("ACCESS-SECRET-{}", *generation),
            None,
        ))
    }
}

fn credential() -> std::sync::Arc<RefreshingCredential> {
    std::sync::Arc::new(RefreshingCredential {
        refresh_token: Mutex::new(SecretString::from("REFRESH-SECRET-0".to_string())),
        client_secret: SecretString::from("CLIENT-SECRET".to_string()),
        generation: Mutex::new(1),
    })
}

fn assert_clean(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} leaks {secret}:\n{text}");
    }
}

#[tokio::test(start_paused = true)]
async fn no_secret_reaches_logs_debug_or_display_on_any_error_path() {
    let (captured, _guard) = capture_tracing();
    let mut shown: Vec<(String, String)> = Vec::new();
    let mut show = |what: &str, text: String| shown.push((what.to_string(), text));

    let server = server().await;
    let storage = support::server().await;
    let uri = server.uri();
    let jwt = "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJ4In0.c2ln";

    // 401 twice: two access tokens refused.
    Mock::given(path("/v1.0/users/twice401"))
        .respond_with(graph_error(
            401,
            "InvalidAuthenticationToken",
            "Access token has expired.",
        ))
        .expect(2)
        .mount(&server)
        .await;
    // 403 whose message echoes a JWT and an authorization code in a URL.
    Mock::given(path("/v1.0/users/forbidden"))
        .respond_with(graph_error(
            403,
            "Authorization_RequestDenied",
            &format!(
                "Token {jwt} refused; see https://app.example/cb?code=AUTHCODE-SECRET&state=1"
            ),
        ))
        .expect(1)
        .mount(&server)
        .await;
    // 429 with a wait above the cap, then 503 until retries run out.
    Mock::given(path("/v1.0/users/throttled"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "86400"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/v1.0/users/busy"))
        .respond_with(ResponseTemplate::new(503).set_body_string(format!("busy {jwt}")))
        .expect(5)
        .mount(&server)
        .await;
    // A success whose body is not JSON and holds a secret.
    Mock::given(path("/v1.0/users/garbled"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{\"token\":\"BODY-SECRET\""))
        .expect(1)
        .mount(&server)
        .await;
    // A listing: page 1 -> page 2 (trusted skiptoken) -> untrusted skiptoken link.
    Mock::given(path("/v1.0/users"))
        .and(NoQuery("$skiptoken"))
        .respond_with(json(
            200,
            json!({"value": [{"id": "1"}],
            "@odata.nextLink": format!("{uri}/v1.0/users?$skiptoken=SKIP-SECRET-2")}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/v1.0/users"))
        .and(query_param("$skiptoken", "SKIP-SECRET-2"))
        .respond_with(json(
            200,
            json!({"value": [{"id": "2"}],
            "@odata.nextLink": "https://evil.example/v1.0/users?$skiptoken=SKIP-SECRET-3"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    // A delta round that ends with a delta link.
    Mock::given(path("/v1.0/users/delta"))
        .respond_with(json(
            200,
            json!({"value": [{"id": "d"}],
            "@odata.deltaLink": format!("{uri}/v1.0/users/delta?$deltatoken=DELTA-SECRET")}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    // A download redirected to a pre-authenticated URL.
    Mock::given(path("/v1.0/me/drive/items/f1/content"))
        .respond_with(ResponseTemplate::new(302).insert_header(
            "Location",
            format!("{}/dl?tempauth=PREAUTH-SECRET", storage.uri()).as_str(),
        ))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(path("/dl"))
        .and(NoHeader("authorization"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"data".to_vec()))
        .expect(2)
        .mount(&storage)
        .await;

    let engine = engine();
    let cred = credential();
    let ctx = ctx(&server, cred.clone());
    show("engine", format!("{engine:?}"));
    show("context", format!("{ctx:?}"));
    show("credential", format!("{cred:?}"));

    for (id, kind) in [
        ("twice401", ErrorKind::Unauthorized),
        ("forbidden", ErrorKind::Forbidden),
        ("throttled", ErrorKind::Throttled),
        ("busy", ErrorKind::Transient),
        ("garbled", ErrorKind::Decode),
    ] {
        let err = engine
            .call(&ctx, "users.get_user", Arguments::new().set("id", id))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), kind, "{id}");
        show(id, format!("{err}"));
        show(id, format!("{err:?}"));
        let mut source = std::error::Error::source(&err);
        while let Some(s) = source {
            show(id, format!("{s} / {s:?}"));
            source = s.source();
        }
    }
    show("credential after refresh", format!("{cred:?}"));

    // Paging: the untrusted link ends the stream.
    let mut stream = engine.stream(&ctx, "users.list_users", Arguments::new());
    let mut records = Vec::new();
    let err = loop {
        match stream.next().await.unwrap() {
            Ok(r) => {
                show("record stream", format!("{stream:?}"));
                records.push(r)
            }
            Err(err) => break err,
        }
    };
    assert_eq!(records.len(), 2);
    assert_eq!(err.kind(), ErrorKind::UntrustedLink);
    show("untrusted", format!("{err} {err:?}"));
    show("stream after error", format!("{stream:?}"));
    if let Some(c) = stream.continuation() {
        show("continuation", format!("{c:?}"));
    }

    // Delta: the continuation is a secret; its Debug redacts it.
    let mut pages = engine
        .stream(&ctx, "users.delta_users", Arguments::new())
        .into_pages();
    let page = pages.try_next().await.unwrap().unwrap();
    show("page", format!("{page:?}"));
    let delta = pages.continuation().unwrap();
    show("delta continuation", format!("{delta:?}"));
    show("page stream", format!("{pages:?}"));
    assert!(
        delta.expose_link().contains("DELTA-SECRET"),
        "serde/expose still carry it"
    );

    // Download through a pre-authenticated URL.
    let response = engine
        .call(
            &ctx,
            "onedrive.download_file",
            Arguments::new().set("item_id", "f1"),
        )
        .await
        .unwrap();
    show("download", format!("{response:?}"));
    let stream = engine
        .call_stream(
            &ctx,
            "onedrive.download_file",
            Arguments::new().set("item_id", "f1"),
        )
        .await
        .unwrap();
    show("download stream", format!("{stream:?}"));
    let chunks: Vec<bytes::Bytes> = stream.try_collect().await.unwrap();
    assert_eq!(chunks.concat(), b"data");

    // A token request after a refusal carries the refused token: redacted.
    let request = TokenRequest::new(INST_1, vec!["User.Read".into()])
        .with_rejected(AccessToken::new("ACCESS-SECRET-X", None));
    show("token request", format!("{request:?}"));

    drop(_guard);
    let logs = captured.text();
    assert!(
        logs.contains("switchboard.call"),
        "tracing was captured:\n{logs}"
    );
    assert!(logs.contains("retrying after a wait"), "{logs}");
    assert_clean("tracing output", &logs);
    for (what, text) in &shown {
        assert_clean(what, text);
    }
    let _: Vec<Value> = records;
}

#[tokio::test]
async fn continuation_json_is_the_only_place_the_link_is_visible() {
    let server = server().await;
    Mock::given(path("/v1.0/users/delta"))
        .respond_with(json(200, json!({"value": [],
            "@odata.deltaLink": format!("{}/v1.0/users/delta?$deltatoken=DELTA-SECRET", server.uri())})))
        .expect(1)
        .mount(&server)
        .await;
    let ctx: InstallationContext = ctx(&server, credential());
    let mut stream = engine().stream(&ctx, "users.delta_users", Arguments::new());
    assert!(stream.next().await.is_none());
    let c = stream.continuation().unwrap();
    assert_clean("continuation debug", &format!("{c:?}"));
    assert!(serde_json::to_string(&c).unwrap().contains("DELTA-SECRET"));
}
