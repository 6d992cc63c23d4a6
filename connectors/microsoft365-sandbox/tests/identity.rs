//! Identity endpoints: authorization code with PKCE, refresh rotation,
//! client credentials after admin consent, discovery, and Microsoft's error
//! bodies with AADSTS codes.

mod common;

use base64::Engine as _;
use common::*;
use serde_json::Value;
use switchboard_microsoft365_sandbox::SandboxHandle;

#[tokio::test]
async fn authorization_code_with_pkce_issues_user_tokens() {
    let sb = start(1).await;
    let user = &sb.users()[2];
    let body = delegated(
        &sb,
        "https://graph.microsoft.com/Mail.Read https://graph.microsoft.com/User.Read offline_access openid",
        Some(&user.user_principal_name),
    )
    .await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["ext_expires_in"], 3599);
    assert!(body["refresh_token"].is_string());
    assert!(body["id_token"].is_string());
    assert_eq!(
        body["scope"],
        "https://graph.microsoft.com/Mail.Read https://graph.microsoft.com/User.Read openid"
    );
    let c = claims(body["access_token"].as_str().unwrap());
    assert_eq!(c["tid"], sb.tenant_id());
    assert_eq!(c["oid"], user.id.as_str());
    assert_eq!(c["scp"], "Mail.Read User.Read");
    assert_eq!(c["aud"], "00000003-0000-0000-c000-000000000000");
    assert!(c["exp"].as_i64().unwrap() > c["iat"].as_i64().unwrap());
    assert!(c.get("roles").is_none());
    // The token works on Graph as that user.
    let me = get(&sb, body["access_token"].as_str().unwrap(), "/me").await;
    assert_eq!(me.status, 200);
    assert_eq!(
        me.body["userPrincipalName"],
        user.user_principal_name.as_str()
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn authorize_redirects_with_state_and_validates_the_client() {
    let sb = start(2).await;
    let loc = authorize(&sb, "User.Read", &pkce_challenge("v"), None).await;
    assert!(loc.starts_with(REDIRECT), "{loc}");
    let q = query_of(&loc);
    assert_eq!(q["state"], "st-123");
    assert!(q["code"].len() > 20);
    // An unknown client or a redirect URI that is not registered gets an
    // error page, never a redirect.
    let url = format!(
        "{}/{}/oauth2/v2.0/authorize?client_id=00000000-0000-0000-0000-000000000001&response_type=code&redirect_uri={}&scope=User.Read",
        sb.login_url(),
        sb.tenant_id(),
        REDIRECT
    );
    let r = client().get(url).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("AADSTS700016"));
    let url = format!(
        "{}/{}/oauth2/v2.0/authorize?client_id={}&response_type=code&redirect_uri=https://evil.example/cb&scope=User.Read",
        sb.login_url(),
        sb.tenant_id(),
        sb.client().client_id
    );
    let r = client().get(url).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("AADSTS50011"));
    sb.shutdown().await;
}

#[tokio::test]
async fn wrong_verifier_and_reused_code_are_invalid_grant() {
    let sb = start(3).await;
    let loc = authorize(
        &sb,
        "User.Read offline_access",
        &pkce_challenge("right-verifier"),
        None,
    )
    .await;
    let code = query_of(&loc)["code"].clone();
    let secret = sb.client().client_secret.expose().to_string();
    let id = sb.client().client_id.clone();
    let redeem = |verifier: &'static str| {
        let (code, secret, id) = (code.clone(), secret.clone(), id.clone());
        let sb = &sb;
        async move {
            token_request(
                sb,
                &[
                    ("grant_type", "authorization_code"),
                    ("client_id", &id),
                    ("client_secret", &secret),
                    ("code", &code),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", verifier),
                ],
            )
            .await
        }
    };
    let (status, body) = redeem("wrong-verifier").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["error_codes"][0], 501481);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS501481:")
    );
    for key in ["timestamp", "trace_id", "correlation_id"] {
        assert!(body[key].is_string(), "missing {key}: {body}");
    }
    let (status, _) = redeem("right-verifier").await;
    assert_eq!(status, 200);
    let (status, body) = redeem("right-verifier").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["error_codes"][0], 54005);
    // A code nobody issued.
    let (status, body) = token_request(
        &sb,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("code", "nope"),
            ("redirect_uri", REDIRECT),
            ("code_verifier", "x"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error_codes"][0], 70008);
    sb.shutdown().await;
}

#[tokio::test]
async fn refresh_tokens_rotate_and_the_old_one_stops_working() {
    let sb = start(4).await;
    let first = delegated(&sb, "User.Read offline_access", None).await;
    let secret = sb.client().client_secret.expose().to_string();
    let id = sb.client().client_id.clone();
    let refresh = |rt: String| {
        let (secret, id) = (secret.clone(), id.clone());
        let sb = &sb;
        async move {
            token_request(
                sb,
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", &id),
                    ("client_secret", &secret),
                    ("refresh_token", &rt),
                ],
            )
            .await
        }
    };
    let rt1 = first["refresh_token"].as_str().unwrap().to_string();
    let (status, second) = refresh(rt1.clone()).await;
    assert_eq!(status, 200, "{second}");
    let rt2 = second["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2);
    assert_eq!(
        claims(second["access_token"].as_str().unwrap())["scp"],
        "User.Read"
    );
    let (status, body) = refresh(rt1).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["error_codes"][0], 70008);
    // Expired refresh tokens: AADSTS700082.
    sb.expire_refresh_tokens();
    let (status, body) = refresh(rt2).await;
    assert_eq!(status, 400);
    assert_eq!(body["error_codes"][0], 700082);
    sb.shutdown().await;
}

#[tokio::test]
async fn client_credentials_need_admin_consent_and_carry_roles() {
    let sb = start(5).await;
    let secret = sb.client().client_secret.expose().to_string();
    let id = sb.client().client_id.clone();
    let scope = format!("{}/.default", sb.graph_url());
    let cc = |secret: String| {
        let (id, scope) = (id.clone(), scope.clone());
        let sb = &sb;
        async move {
            token_request(
                sb,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &id),
                    ("client_secret", &secret),
                    ("scope", &scope),
                ],
            )
            .await
        }
    };
    let (status, body) = cc(secret.clone()).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "unauthorized_client");
    assert_eq!(body["error_codes"][0], 700016);
    let loc = admin_consent(&sb).await;
    let q = query_of(&loc);
    assert_eq!(q["admin_consent"], "True");
    assert_eq!(q["tenant"], sb.tenant_id());
    assert_eq!(q["state"], "admin-state");
    let (status, body) = cc(secret.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("refresh_token").is_none());
    let c = claims(body["access_token"].as_str().unwrap());
    assert_eq!(c["idtyp"], "app");
    assert!(
        c["roles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "Mail.ReadWrite")
    );
    assert!(c.get("scp").is_none());
    // A wrong secret: 401 invalid_client, AADSTS7000215.
    let (status, body) = cc("wrong".into()).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["error_codes"][0], 7000215);
    // An unknown client: AADSTS700016.
    let (status, body) = token_request(
        &sb,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "11111111-2222-3333-4444-555555555555"),
            ("client_secret", "x"),
            ("scope", &scope),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "unauthorized_client");
    assert_eq!(body["error_codes"][0], 700016);
    // A scope without /.default.
    let (status, body) = token_request(
        &sb,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("scope", "https://graph.microsoft.com/Mail.Read"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_scope");
    // Client credentials on /common cannot tell the tenant.
    let r = client()
        .post(format!("{}/common/oauth2/v2.0/token", sb.login_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("scope", &scope),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error_codes"][0], 50059);
    sb.shutdown().await;
}

#[tokio::test]
async fn discovery_document_points_at_the_sandbox() {
    let sb = start(6).await;
    let r = client()
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
    assert_eq!(
        d["token_endpoint"],
        format!("{}/{}/oauth2/v2.0/token", sb.login_url(), sb.tenant_id())
    );
    assert_eq!(
        d["authorization_endpoint"],
        format!(
            "{}/{}/oauth2/v2.0/authorize",
            sb.login_url(),
            sb.tenant_id()
        )
    );
    assert_eq!(
        d["issuer"],
        format!("{}/{}/v2.0", sb.login_url(), sb.tenant_id())
    );
    assert!(d["jwks_uri"].as_str().unwrap().starts_with(sb.login_url()));
    let r = client()
        .get(format!(
            "{}/no-such-tenant.example/v2.0/.well-known/openid-configuration",
            sb.login_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error_codes"][0], 90002);
    sb.shutdown().await;
}

/// GET the authorize URL for `scope` with `extra` parameters; returns the raw response.
async fn authorize_for(
    sb: &SandboxHandle,
    scope: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut url = url::Url::parse(&format!(
        "{}/{}/oauth2/v2.0/authorize",
        sb.login_url(),
        sb.tenant_id()
    ))
    .unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", &sb.client().client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", scope)
        .append_pair("state", "st-9")
        .append_pair(
            "code_challenge",
            &pkce_challenge("verifier-for-modes-0123456789abcdef"),
        )
        .append_pair("code_challenge_method", "S256")
        .extend_pairs(extra);
    client().get(url).send().await.unwrap()
}

/// GET the authorize URL for a sign-in with `extra` parameters.
async fn authorize_with(sb: &SandboxHandle, extra: &[(&str, &str)]) -> reqwest::Response {
    authorize_for(sb, "User.Read openid profile offline_access", extra).await
}

async fn redeem(sb: &SandboxHandle, code: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let secret = sb.client().client_secret.expose().to_string();
    let mut pairs = vec![
        ("grant_type", "authorization_code"),
        ("client_id", sb.client().client_id.as_str()),
        ("client_secret", secret.as_str()),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", "verifier-for-modes-0123456789abcdef"),
    ];
    pairs.extend_from_slice(extra);
    token_request(sb, &pairs).await
}

/// MSAL's checks: the id_token repeats the authorize request's nonce, and
/// `client_info=1` gets base64url JSON with `uid` (the user's object id)
/// and `utid` (the tenant), MSAL's `uid.utid` account id.
#[tokio::test]
async fn the_id_token_carries_the_nonce_and_client_info_names_the_account() {
    let sb = start(30).await;
    let user = &sb.users()[1];
    let r = authorize_with(
        &sb,
        &[
            ("nonce", "n-0S6_WzA2Mj"),
            ("login_hint", &user.user_principal_name),
        ],
    )
    .await;
    assert_eq!(r.status(), 302);
    let q = query_of(r.headers()["location"].to_str().unwrap());
    let (status, body) = redeem(&sb, &q["code"], &[("client_info", "1")]).await;
    assert_eq!(status, 200, "{body}");
    let id = claims(body["id_token"].as_str().unwrap());
    assert_eq!(id["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(id["aud"], sb.client().client_id.as_str());
    assert_eq!(id["oid"], user.id.as_str());
    let info = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(body["client_info"].as_str().unwrap())
        .unwrap();
    let info: Value = serde_json::from_slice(&info).unwrap();
    assert_eq!(
        info,
        serde_json::json!({"uid": user.id, "utid": sb.tenant_id()})
    );

    // Without a nonce and without client_info=1, neither appears; a
    // refreshed id_token has no nonce.
    let r = authorize_with(&sb, &[]).await;
    let q = query_of(r.headers()["location"].to_str().unwrap());
    let (_, body) = redeem(&sb, &q["code"], &[]).await;
    assert!(
        claims(body["id_token"].as_str().unwrap())
            .get("nonce")
            .is_none()
    );
    assert!(body.get("client_info").is_none());
    let secret = sb.client().client_secret.expose().to_string();
    let (status, refreshed) = token_request(
        &sb,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &sb.client().client_id),
            ("client_secret", &secret),
            ("refresh_token", body["refresh_token"].as_str().unwrap()),
            ("client_info", "1"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    assert!(
        claims(refreshed["id_token"].as_str().unwrap())
            .get("nonce")
            .is_none()
    );
    assert!(refreshed["client_info"].is_string());
    sb.shutdown().await;
}

/// `response_mode=form_post` answers with a page whose form POSTs code and
/// state to the redirect URI; `fragment` puts them after `#`; `query` (the
/// default) in the query; anything else is refused with an error page.
#[tokio::test]
async fn response_modes_form_post_fragment_and_query() {
    let sb = start(31).await;
    let r = authorize_with(&sb, &[("response_mode", "form_post")]).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = r.text().await.unwrap();
    assert!(
        page.contains(&format!(
            "<form method=\"POST\" name=\"hiddenform\" action=\"{REDIRECT}\">"
        )),
        "{page}"
    );
    assert!(page.contains("document.forms[0].submit()"));
    let field = |name: &str| -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = page.find(&marker).unwrap() + marker.len();
        page[start..start + page[start..].find('"').unwrap()].to_string()
    };
    assert_eq!(field("state"), "st-9");
    // The posted code redeems like a redirected one.
    let (status, body) = redeem(&sb, &field("code"), &[]).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].is_string());

    let r = authorize_with(&sb, &[("response_mode", "fragment")]).await;
    assert_eq!(r.status(), 302);
    let location = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.query().is_none());
    let fragment: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(location.fragment().unwrap().as_bytes())
            .into_owned()
            .collect();
    assert_eq!(fragment["state"], "st-9");
    assert_eq!(redeem(&sb, &fragment["code"], &[]).await.0, 200);

    let r = authorize_with(&sb, &[("response_mode", "query")]).await;
    assert_eq!(r.status(), 302);
    assert!(query_of(r.headers()["location"].to_str().unwrap()).contains_key("code"));

    // Errors go back the same way: an unknown scope, posted.
    let page = authorize_for(&sb, "No.Such.Permission", &[("response_mode", "form_post")])
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("name=\"error\" value=\"invalid_client\""),
        "{page}"
    );
    assert!(page.contains("name=\"state\" value=\"st-9\""));

    let r = authorize_with(&sb, &[("response_mode", "web_message")]).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("AADSTS90023"));
    sb.shutdown().await;
}
