//! Helpers shared by the sandbox's tests: start a sandbox, sign in through
//! the real identity endpoints, and call Graph with reqwest.
#![allow(dead_code)]

pub mod receiver;

use base64::Engine as _;
use reqwest::header::HeaderMap;
use serde_json::Value;
use sha2::{Digest, Sha256};
use switchboard_microsoft365_sandbox::{Sandbox, SandboxConfig, SandboxHandle};

/// The redirect URI the seeded app registration allows (any port).
pub const REDIRECT: &str = "http://127.0.0.1:8400/callback";

pub async fn start(seed: u64) -> SandboxHandle {
    Sandbox::start(SandboxConfig::new(seed)).await.unwrap()
}

/// A client that never follows redirects (tests look at them).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

pub fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Query parameters of a URL, as a map.
pub fn query_of(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// Runs the authorize step and returns the `Location` it redirects to.
pub async fn authorize(
    sb: &SandboxHandle,
    scope: &str,
    challenge: &str,
    login_hint: Option<&str>,
) -> String {
    let mut url = url::Url::parse(&format!(
        "{}/{}/oauth2/v2.0/authorize",
        sb.login_url(),
        sb.tenant_id()
    ))
    .unwrap();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("client_id", &sb.client().client_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("scope", scope)
            .append_pair("state", "st-123")
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        if let Some(h) = login_hint {
            q.append_pair("login_hint", h);
        }
    }
    let resp = client().get(url).send().await.unwrap();
    assert_eq!(resp.status(), 302, "authorize should redirect");
    resp.headers()["location"].to_str().unwrap().to_string()
}

pub async fn token_request(sb: &SandboxHandle, pairs: &[(&str, &str)]) -> (u16, Value) {
    let resp = client()
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            sb.login_url(),
            sb.tenant_id()
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(pairs))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// Delegated sign-in (authorization code + PKCE) for `login_hint`; returns
/// the token response.
pub async fn delegated(sb: &SandboxHandle, scopes: &str, login_hint: Option<&str>) -> Value {
    let verifier = "a-very-long-verifier-with-enough-entropy-0123456789abcdef";
    let location = authorize(sb, scopes, &pkce_challenge(verifier), login_hint).await;
    let q = query_of(&location);
    let secret = sb.client().client_secret.expose().to_string();
    let (status, body) = token_request(
        sb,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &sb.client().client_id),
            ("client_secret", &secret),
            ("code", &q["code"]),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// A delegated access token with the scopes the tests need.
pub async fn user_token(sb: &SandboxHandle) -> String {
    let scopes = "https://graph.microsoft.com/User.Read https://graph.microsoft.com/User.Read.All https://graph.microsoft.com/Mail.ReadWrite https://graph.microsoft.com/Mail.Send https://graph.microsoft.com/Calendars.ReadWrite https://graph.microsoft.com/Files.ReadWrite.All https://graph.microsoft.com/MailboxSettings.ReadWrite https://graph.microsoft.com/Calendars.Read.Shared https://graph.microsoft.com/Contacts.ReadWrite offline_access";
    delegated(sb, scopes, None).await["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Grants admin consent and returns an app-only access token.
pub async fn app_token(sb: &SandboxHandle) -> String {
    admin_consent(sb).await;
    let secret = sb.client().client_secret.expose().to_string();
    let scope = format!("{}/.default", sb.graph_url());
    let (status, body) = token_request(
        sb,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &sb.client().client_id),
            ("client_secret", &secret),
            ("scope", &scope),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

pub async fn admin_consent(sb: &SandboxHandle) -> String {
    let mut url = url::Url::parse(&format!(
        "{}/{}/v2.0/adminconsent",
        sb.login_url(),
        sb.tenant_id()
    ))
    .unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", &sb.client().client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("state", "admin-state");
    let resp = client().get(url).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    resp.headers()["location"].to_str().unwrap().to_string()
}

/// The claims of a JWT (no verification).
pub fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub bytes: Vec<u8>,
}

/// Sends a Graph request: `path` is either absolute or relative to `/v1.0`.
pub async fn call(
    sb: &SandboxHandle,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Resp {
    let url = if path.starts_with("http") {
        path.to_string()
    } else {
        format!("{}/v1.0{path}", sb.graph_url())
    };
    let mut req = client().request(method, url).bearer_auth(token);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.unwrap().to_vec();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        body,
        bytes,
    }
}

pub async fn get(sb: &SandboxHandle, token: &str, path: &str) -> Resp {
    call(sb, token, reqwest::Method::GET, path, None, &[]).await
}

pub async fn post(sb: &SandboxHandle, token: &str, path: &str, body: Value) -> Resp {
    call(sb, token, reqwest::Method::POST, path, Some(body), &[]).await
}

/// Follows `@odata.nextLink` to the end and returns every record.
pub async fn all_pages(
    sb: &SandboxHandle,
    token: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (Vec<Value>, usize) {
    let mut out = Vec::new();
    let mut next = Some(path.to_string());
    let mut pages = 0;
    while let Some(link) = next {
        let r = call(sb, token, reqwest::Method::GET, &link, None, headers).await;
        assert_eq!(r.status, 200, "{}", r.body);
        pages += 1;
        out.extend(r.body["value"].as_array().unwrap().iter().cloned());
        next = r.body["@odata.nextLink"].as_str().map(str::to_string);
        assert!(pages < 1000, "paging did not end");
    }
    (out, pages)
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a Unix time.
pub fn iso(ts: i64) -> String {
    let days = ts.div_euclid(86_400);
    let secs = ts.rem_euclid(86_400);
    // civil from days (Howard Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Midnight UTC today, as a Unix time.
pub fn today() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    now - now % 86_400
}
