//! `switchboard sandbox`: the base URL first, a working identity and Graph
//! behind it, the certificate path with `--tls`, a clean stop on Ctrl-C.

use crate::harness::SandboxChild;

#[tokio::test]
async fn prints_its_base_url_first_and_serves_identity_and_graph_until_ctrl_c() {
    let sandbox = SandboxChild::spawn(&["--seed", "5"]).await;
    let base = sandbox.base_url().to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{:?}", sandbox.lines);
    let tenant = sandbox.value("tenant_id");
    let client_id = sandbox.value("client_id");
    let secret = sandbox.value("client_secret");

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
    let consent = http
        .get(format!(
            "{base}/{tenant}/v2.0/adminconsent?client_id={client_id}&redirect_uri=http://localhost/callback&state=s1"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(consent.status().as_u16(), 302);
    let token: serde_json::Value = http
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
    let access = token["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{token}"));
    let users = http
        .get(format!("{base}/v1.0/users?$top=2"))
        .bearer_auth(access)
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
