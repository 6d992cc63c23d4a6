//! `switchboard sandbox`: the base URL first, a working identity and Graph
//! behind it, the certificate path with `--tls`, a clean stop on Ctrl-C,
//! and Graph's throttling limits as the flags set them.

use serde_json::{Value, json};

use crate::harness::SandboxChild;

/// Consents as an administrator with the printed registration, then takes
/// an app-only token with client credentials.
async fn app_token(http: &reqwest::Client, sandbox: &SandboxChild) -> String {
    let base = sandbox.base_url();
    let tenant = sandbox.value("tenant_id");
    let client_id = sandbox.value("client_id");
    let secret = sandbox.value("client_secret");
    let consent = http
        .get(format!(
            "{base}/{tenant}/v2.0/adminconsent?client_id={client_id}&redirect_uri=http://localhost/callback&state=s1"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(consent.status().as_u16(), 302);
    let token: Value = http
        .post(format!("{base}/{tenant}/oauth2/v2.0/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "client_credentials")
                .append_pair("client_id", &client_id)
                .append_pair("client_secret", &secret)
                .append_pair("scope", &format!("{base}/.default"))
                .finish(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    token["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{token}"))
        .to_string()
}

#[tokio::test]
async fn prints_its_base_url_first_and_serves_identity_and_graph_until_ctrl_c() {
    let sandbox = SandboxChild::spawn(&["--seed", "5"]).await;
    let base = sandbox.base_url().to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{:?}", sandbox.lines);
    let tenant = sandbox.value("tenant_id");

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let discovery: serde_json::Value = http
        .get(format!(
            "{base}/{tenant}/v2.0/.well-known/openid-configuration"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["token_endpoint"],
        format!("{base}/{tenant}/oauth2/v2.0/token")
    );

    // the printed registration works: an administrator consents, then
    // client credentials give an app-only token that reads users
    let access = app_token(&http, &sandbox).await;
    let users = http
        .get(format!("{base}/v1.0/users?$top=2"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(users.status().as_u16(), 200);

    assert_eq!(sandbox.interrupt().await, 0);
    assert!(
        http.get(format!("{base}/v1.0/users")).send().await.is_err(),
        "the port is closed after Ctrl-C"
    );
}

#[tokio::test]
async fn tls_prints_the_certificate_path_second() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("sandbox.pem");
    let sandbox = SandboxChild::spawn(&["--tls", "--cert-path", cert.to_str().unwrap()]).await;
    assert!(sandbox.base_url().starts_with("https://127.0.0.1:"));
    assert_eq!(sandbox.lines[1], cert.display().to_string());
    let pem = std::fs::read_to_string(&cert).unwrap();
    assert!(pem.contains("BEGIN CERTIFICATE"));

    // trusting that certificate, https works
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let tenant = sandbox.value("tenant_id");
    let r = http
        .get(format!(
            "{}/{tenant}/v2.0/.well-known/openid-configuration",
            sandbox.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(sandbox.interrupt().await, 0);
}

#[tokio::test]
async fn bad_rates_are_bad_input() {
    let run = crate::harness::Cli::new()
        .run(&["sandbox", "--throttle-rate", "1.5"])
        .await;
    assert_eq!(run.code(), 1, "{run}");
    assert!(run.stderr().contains("throttle_rate"), "{run}");
}

#[tokio::test]
async fn throttling_flags_set_graphs_limits_and_the_counters_show_them() {
    let help = crate::harness::Cli::new()
        .ok(&["sandbox", "--help"])
        .await
        .stdout();
    for flag in [
        "--latency-ms",
        "--outlook-concurrency",
        "--outlook-window-requests",
        "--outlook-window-secs",
        "--outlook-upload-bytes",
        "--outlook-upload-window-secs",
        "--global-requests",
        "--global-window-secs",
        "--batch-throttled-status",
        "--no-limits",
    ] {
        assert!(help.contains(flag), "{flag} in:\n{help}");
    }
    assert!(help.contains(
        "switchboard sandbox --no-state --outlook-window-requests 100 --outlook-window-secs 2"
    ));

    let sandbox = SandboxChild::spawn(&[
        "--no-state",
        "--outlook-window-requests",
        "2",
        "--batch-throttled-status",
        "424",
    ])
    .await;
    let throttling = sandbox.value("throttling");
    assert!(
        throttling.contains("4 in flight, 2 requests/600 s")
            && throttling.contains("130000 requests/10 s per app")
            && throttling.ends_with(&format!("{}/_sandbox/stats", sandbox.base_url())),
        "{throttling}"
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let token = app_token(&http, &sandbox).await;
    let base = sandbox.base_url().to_string();
    let graph = |path: String| {
        let http = http.clone();
        let token = token.clone();
        async move {
            let r = http.get(path).bearer_auth(token).send().await.unwrap();
            r.status().as_u16()
        }
    };
    let users: Value = http
        .get(format!("{base}/v1.0/users?$top=1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user = users["value"][0]["id"].as_str().unwrap().to_string();
    let messages = format!("{base}/v1.0/users/{user}/messages?$top=1");
    assert_eq!(graph(messages.clone()).await, 200);
    assert_eq!(graph(messages.clone()).await, 200);
    assert_eq!(graph(messages.clone()).await, 429);
    let batch = http
        .post(format!("{base}/v1.0/$batch"))
        .bearer_auth(&token)
        .json(&json!({"requests": [{"id": "1", "method": "GET", "url": format!("/users/{user}/events")}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(batch.status().as_u16(), 424);
    let stats: Value = http
        .get(format!("{base}/_sandbox/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["throttled"]["requests"], 2, "{stats}");
    let clock = http
        .post(format!("{base}/_sandbox/clock"))
        .json(&json!({"advance_secs": 600}))
        .send()
        .await
        .unwrap();
    assert_eq!(clock.status().as_u16(), 200);
    assert_eq!(graph(messages).await, 200);
    assert_eq!(sandbox.interrupt().await, 0);

    let run = crate::harness::Cli::new()
        .run(&["sandbox", "--no-state", "--outlook-window-secs", "0"])
        .await;
    assert_eq!(run.code(), 1, "{run}");
    assert!(run.stderr().contains("outlook_window"), "{run}");
}
