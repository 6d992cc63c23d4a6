//! Fault injection: deterministic per seed, Graph's bodies and headers,
//! never on identity endpoints, and a faulted POST changes nothing.

mod common;

use common::*;
use serde_json::json;
use switchboard_microsoft365_sandbox::{Sandbox, SandboxConfig, SandboxHandle};

async fn statuses(sb: &SandboxHandle, token: &str, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(get(sb, token, "/me").await.status);
    }
    out
}

/// A token from a sandbox with faults: identity endpoints never fault.
async fn token_for(sb: &SandboxHandle) -> String {
    user_token(sb).await
}

#[tokio::test]
async fn the_same_seed_gives_the_same_faults() {
    let a = Sandbox::start(SandboxConfig::new(70).with_faults(0.3, 0.1))
        .await
        .unwrap();
    let b = Sandbox::start(SandboxConfig::new(70).with_faults(0.3, 0.1))
        .await
        .unwrap();
    let c = Sandbox::start(SandboxConfig::new(71).with_faults(0.3, 0.1))
        .await
        .unwrap();
    let (ta, tb, tc) = (
        token_for(&a).await,
        token_for(&b).await,
        token_for(&c).await,
    );
    let sa = statuses(&a, &ta, 60).await;
    let sb_ = statuses(&b, &tb, 60).await;
    let sc = statuses(&c, &tc, 60).await;
    assert_eq!(sa, sb_);
    assert_ne!(sa, sc);
    assert!(sa.iter().all(|s| [200, 429, 503, 504].contains(s)));
    let throttled = sa.iter().filter(|s| **s == 429).count() as u64;
    let counts = a.fault_counts();
    assert_eq!(counts.throttled, throttled);
    assert!(
        throttled > 5 && counts.unavailable + counts.gateway_timeouts > 0,
        "{counts:?}"
    );
    assert_eq!(a.request_log().len(), 60);
    for s in [a, b, c] {
        s.shutdown().await;
    }
}

#[tokio::test]
async fn faults_carry_graphs_bodies_and_retry_after() {
    let sb = Sandbox::start(SandboxConfig::new(72).with_faults(0.5, 0.5))
        .await
        .unwrap();
    let token = token_for(&sb).await;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..40 {
        let r = get(&sb, &token, "/me").await;
        match r.status {
            429 => {
                assert_eq!(r.body["error"]["code"], "TooManyRequests");
                assert_eq!(r.headers["retry-after"], "1");
            }
            503 => {
                assert_eq!(r.body["error"]["code"], "serviceNotAvailable");
                assert!(r.headers.contains_key("retry-after"));
            }
            504 => assert_eq!(r.body["error"]["code"], "GatewayTimeout"),
            other => panic!("unexpected status {other}"),
        }
        assert!(r.body["error"]["innerError"]["request-id"].is_string());
        seen.insert(r.status);
    }
    assert_eq!(seen.len(), 3);
    sb.shutdown().await;
}

#[tokio::test]
async fn a_faulted_post_is_not_applied() {
    let sb = Sandbox::start(SandboxConfig::new(73).with_faults(0.0, 0.6))
        .await
        .unwrap();
    let token = token_for(&sb).await;
    let me = sb.users()[0].mail.clone();
    let mut accepted = 0;
    let mut failed = 0;
    for i in 0..20 {
        let r = post(&sb, &token, "/me/sendMail", json!({"message": {"subject": format!("fault probe {i}"), "toRecipients": [{"emailAddress": {"address": me}}]}})).await;
        match r.status {
            202 => accepted += 1,
            503 | 504 => failed += 1,
            s => panic!("unexpected {s}"),
        }
    }
    assert!(accepted > 0 && failed > 0);
    // Count what was stored, retrying reads until they get through.
    let mut stored = None;
    for _ in 0..50 {
        let r = get(
            &sb,
            &token,
            "/me/mailFolders/sentitems/messages?$filter=startswith(subject,'fault probe')&$top=100",
        )
        .await;
        if r.status == 200 {
            stored = Some(r.body["value"].as_array().unwrap().len());
            break;
        }
    }
    assert_eq!(stored, Some(accepted));
    let log = sb.request_log();
    let posts_applied = log
        .iter()
        .filter(|r| r.method == "POST" && r.status == 202)
        .count();
    assert_eq!(posts_applied, accepted);
    sb.shutdown().await;
}
