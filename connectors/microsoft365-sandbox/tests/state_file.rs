//! The state file: what a restarted sandbox keeps (consents, refresh
//! tokens, access tokens, data, uploaded content, the port, delta links),
//! what `reset_state` forgets, and how a damaged, foreign or oversized file
//! is refused.

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;
use switchboard_microsoft365_sandbox::{Sandbox, SandboxConfig};

fn config(path: &std::path::Path) -> SandboxConfig {
    SandboxConfig::new(7).with_state_file(path, false)
}

#[tokio::test]
async fn a_restarted_sandbox_keeps_grants_tokens_data_and_its_port() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("state.json");
    let sb = Sandbox::start(config(&path)).await.unwrap();
    assert!(!sb.restored());
    assert_eq!(sb.state_file(), Some(path.as_path()));
    assert!(path.exists(), "the state is written at start");
    let base = sb.base_url().to_string();
    let (tenant, client) = (sb.tenant_id().to_string(), sb.client().clone());

    let delegated = delegated(
        &sb,
        "https://graph.microsoft.com/Files.ReadWrite offline_access",
        None,
    )
    .await;
    let refresh = delegated["refresh_token"].as_str().unwrap().to_string();
    let access = delegated["access_token"].as_str().unwrap().to_string();
    let app = app_token(&sb).await;
    let upload = reqwest::Client::new()
        .put(format!("{base}/v1.0/me/drive/root:/kept.txt:/content"))
        .bearer_auth(&access)
        .header("content-type", "text/plain")
        .body("kept across restarts")
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status().as_u16(), 201);
    let item: serde_json::Value = upload.json().await.unwrap();
    let mut delta_link = None;
    let mut next = Some("/users/delta".to_string());
    while let Some(link) = next {
        let page = call(&sb, &app, Method::GET, &link, None, &[]).await;
        assert_eq!(page.status, 200, "{}", page.body);
        next = page.body["@odata.nextLink"].as_str().map(str::to_string);
        delta_link = page.body["@odata.deltaLink"].as_str().map(str::to_string);
    }
    let delta_link = delta_link.expect("a delta round ends with a delta link");
    sb.shutdown().await;

    let sb = Sandbox::start(config(&path)).await.unwrap();
    assert!(sb.restored());
    assert_eq!(sb.base_url(), base, "the port is the saved one");
    assert_eq!(sb.tenant_id(), tenant);
    assert_eq!(sb.client().client_id, client.client_id);
    assert_eq!(sb.client().client_secret, client.client_secret);
    // the access tokens issued before still work, app-only and delegated
    assert_eq!(get(&sb, &app, "/users?$top=1").await.status, 200);
    let content = get(
        &sb,
        &access,
        &format!("/me/drive/items/{}/content", item["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(
        content.status, 302,
        "a download redirects to its pre-authenticated URL"
    );
    let download = reqwest::get(content.headers["location"].to_str().unwrap())
        .await
        .unwrap();
    assert_eq!(download.text().await.unwrap(), "kept across restarts");
    // the delta link from before the restart reports no change
    let changes = call(&sb, &app, Method::GET, &delta_link, None, &[]).await;
    assert_eq!(changes.status, 200, "{}", changes.body);
    assert_eq!(changes.body["value"], json!([]));
    // the refresh token from before the restart redeems once, and rotates
    let secret = client.client_secret.expose().to_string();
    let refresh_with = |token: String| {
        let secret = secret.clone();
        let client_id = client.client_id.clone();
        let sb = &sb;
        async move {
            token_request(
                sb,
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", &client_id),
                    ("client_secret", &secret),
                    ("refresh_token", &token),
                ],
            )
            .await
        }
    };
    let (status, body) = refresh_with(refresh.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_ne!(body["refresh_token"], json!(refresh));
    let (status, _) = refresh_with(refresh.clone()).await;
    assert_eq!(status, 400, "a redeemed refresh token stays redeemed");
    sb.shutdown().await;

    // reset: the seed's tenant again, with nothing granted
    let sb = Sandbox::start(SandboxConfig::new(7).with_state_file(&path, true))
        .await
        .unwrap();
    assert!(!sb.restored());
    assert_eq!(
        sb.tenant_id(),
        tenant,
        "the same seed makes the same tenant"
    );
    assert_eq!(get(&sb, &app, "/users?$top=1").await.status, 401);
    let (status, body) = token_request(
        &sb,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client.client_id),
            ("client_secret", &secret),
            ("scope", &format!("{}/.default", sb.graph_url())),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS700016"),
        "{body}"
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn damaged_foreign_and_oversized_files_are_refused_naming_the_file_and_reset() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "damaged.json",
            "{\"format\": \"switchboard-microsoft365-sandbox-state\", \"vers".to_string(),
            "is damaged",
        ),
        (
            "foreign.json",
            "{\"hello\": 1}".to_string(),
            "is not a sandbox state file",
        ),
        (
            "future.json",
            json!({"format": "switchboard-microsoft365-sandbox-state", "version": 99}).to_string(),
            "has format version 99",
        ),
        (
            "big.json",
            format!("{{\"pad\": \"{}\"}}", "x".repeat(1024 * 1024 + 1)),
            "is larger than the limit of 1048576 bytes",
        ),
    ];
    for (name, text, why) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, &text).unwrap();
        let mut limited = config(&path);
        limited.state_max_bytes = 1024 * 1024;
        let err = Sandbox::start(limited).await.unwrap_err();
        let message = err.to_string();
        assert_eq!(err.field(), Some("state_file"), "{message}");
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains(why), "{name}: {message}");
        assert!(message.contains("--reset"), "{message}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            text,
            "a refused file is left alone"
        );
    }
    // a reset replaces a refused file with a good one
    let path = dir.path().join("damaged.json");
    let sb = Sandbox::start(SandboxConfig::new(7).with_state_file(&path, true))
        .await
        .unwrap();
    sb.shutdown().await;
    let restored = Sandbox::start(config(&path)).await.unwrap();
    assert!(restored.restored());
    restored.shutdown().await;
}

#[tokio::test]
async fn one_sandbox_at_a_time_per_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let first = Sandbox::start(config(&path)).await.unwrap();
    let mut second = config(&path);
    second.port = Some(0);
    let err = Sandbox::start(second).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("another sandbox is using the state file"),
        "{err}"
    );
    first.shutdown().await;
    let again = Sandbox::start(config(&path)).await.unwrap();
    assert!(again.restored());
    again.shutdown().await;
}

#[tokio::test]
async fn save_state_writes_changes_at_once_and_only_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let sb = Sandbox::start(config(&path)).await.unwrap();
    let written = std::fs::metadata(&path).unwrap().modified().unwrap();
    // nothing changed: nothing is written
    sb.save_state().await.unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        written
    );
    let first = sb.users()[0].id.clone();
    sb.rename_user(&first, "Renamed Before Crash").unwrap();
    sb.save_state().await.unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["version"], 1);
    assert!(text.contains("Renamed Before Crash"));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary files are renamed, not left: {leftovers:?}"
    );
    sb.shutdown().await;
}
