//! `tls: true` serves https with a self-signed certificate written as PEM.

mod common;

use switchboard_microsoft365_sandbox::{Sandbox, SandboxConfig};

#[tokio::test]
async fn tls_serves_https_with_the_generated_certificate() {
    let dir = std::env::temp_dir().join(format!("sbx-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = SandboxConfig::new(90);
    config.tls = true;
    config.tls_cert_path = Some(dir.join("sandbox.pem"));
    let sb = Sandbox::start(config).await.unwrap();
    assert!(sb.base_url().starts_with("https://127.0.0.1:"));
    let pem = std::fs::read(sb.cert_pem_path().unwrap()).unwrap();
    assert!(String::from_utf8_lossy(&pem).contains("BEGIN CERTIFICATE"));
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let r = client
        .get(format!(
            "{}/{}/v2.0/.well-known/openid-configuration",
            sb.login_url(),
            sb.tenant_id()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let d: serde_json::Value = r.json().await.unwrap();
    assert!(
        d["token_endpoint"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
    // Without trusting the certificate, the connection is refused.
    assert!(
        reqwest::Client::new()
            .get(sb.base_url())
            .send()
            .await
            .is_err()
    );
    sb.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}
